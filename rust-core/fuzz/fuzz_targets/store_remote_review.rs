//! The records store's way in and way out. In: a page of the hospital's
//! review API (`share::reviews::parse_page`), each review applied to a real
//! store (SQLCipher, in a temporary folder) holding real closed sessions.
//! Out: the store's export of each session, read back as the hospital reads
//! it (`Record::from_export`) and made into an SMS that reads back. Typed
//! errors only; whatever reviews arrive, the store's own export always reads.
#![no_main]
use hemalens_core::session::SessionPolicy;
use hemalens_share::reviews::{parse_page, Action, Entry};
use hemalens_share::{sms, Device, Record};
use hemalens_store::{testing, Hospital, Key, RemoteReview, ReviewAction, Store};
use std::sync::{Mutex, OnceLock};

struct Fixed {
    store: Store,
    sessions: Vec<i64>,
    _dir: tempfile::TempDir,
}

fn fixed() -> &'static Mutex<Fixed> {
    static F: OnceLock<Mutex<Fixed>> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary folder");
        let mut store = Store::open(dir.path(), &Key::from_bytes([0x42; 32])).expect("store");
        let h = Hospital {
            name: "District Hospital".into(),
            url: "https://inbox.example/tus/".into(),
            recipient: age::x25519::Identity::generate().to_public().to_string(),
            photos_on_wifi_only: true,
        };
        store.add_hospital(&h, "fuzz").expect("hospital");
        let mut sessions = Vec::new();
        for n in 0..3u64 {
            let sid = store
                .start_session(&testing::patient(n), &SessionPolicy::default(), "fuzz", "fuzz")
                .expect("start");
            for seq in 0..=n {
                store
                    .add_field(sid, &testing::photo(n, seq), &testing::report(n, seq), "fuzz")
                    .expect("field");
            }
            if n < 2 {
                store.close_session(sid, "fuzz").expect("close");
            }
            sessions.push(sid);
        }
        Mutex::new(Fixed { store, sessions, _dir: dir })
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(page) = parse_page(data) else { return };
    let mut f = fixed().lock().unwrap_or_else(|p| p.into_inner());
    for entry in &page.entries {
        let Entry::Review(r) = entry else { continue };
        // `<device id>-<session number>`, as the screener reads it.
        let Some(session) = r.session_uid.rsplit_once('-').and_then(|(_, n)| n.parse::<i64>().ok()) else {
            continue;
        };
        let action = match &r.action {
            Action::RelabelCell { field, cell, label } => {
                ReviewAction::RelabelCell { field: *field, cell: *cell, label: label.clone() }
            }
            Action::Confirm => ReviewAction::Confirm,
            Action::OverrideOutcome(d) => ReviewAction::OverrideOutcome(*d),
        };
        let remote = RemoteReview {
            hospital: "District Hospital".into(),
            id: r.id.clone(),
            session,
            action,
            reviewer: r.reviewer.clone(),
            at: r.at,
            note: r.note.clone(),
        };
        let _ = f.store.apply_remote_review(&remote);
    }
    let sessions = f.sessions.clone();
    for sid in sessions {
        let export = f.store.export(sid).expect("the store exports each of its sessions");
        let device = Device { id: "0123456789abcdef".into(), app_version: "fuzz".into() };
        match Record::from_export(&export, device) {
            Ok(record) => {
                let text = sms::encode(&record);
                sms::decode(&text)
                    .unwrap_or_else(|e| panic!("the SMS of a stored session does not read: {e}"));
            }
            Err(hemalens_share::Error::SessionOpen) => {}
            Err(e) => panic!("the store's own export does not read: {e}"),
        }
    }
});
