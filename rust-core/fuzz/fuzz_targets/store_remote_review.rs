//! The records store's way in and way out. In: a page of the hospital's
//! review API (`share::reviews::parse_page`), each review applied to a real
//! store (SQLCipher, in a temporary folder) holding real closed sessions.
//! Out: the store's export of each session, read back as the hospital reads
//! it (`Record::from_export`) and made into an SMS that reads back. Typed
//! errors only; whatever reviews arrive, the store's own export always reads.
#![no_main]
use hemalens_core::session::SessionPolicy;
use hemalens_screener::remote_review;
use hemalens_share::reviews::parse_page;
use hemalens_share::{sms, Device, Record};
use hemalens_store::{testing, Hospital, Key, Store};
use std::sync::{Mutex, OnceLock};

/// The device the seed corpus's review pages name.
const DEVICE: &str = "0123456789abcdef";

struct Fixed {
    store: Store,
    labels: Vec<String>,
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
        let cells = hemalens_packs::builtin("wbc-type").expect("the built-in cell pack");
        let labels = cells.manifest().labels.clone();
        Mutex::new(Fixed { store, labels, sessions, _dir: dir })
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(page) = parse_page(data) else { return };
    let mut f = fixed().lock().unwrap_or_else(|p| p.into_inner());
    for entry in &page.entries {
        // As the screener reads a review page for this device.
        if let Some(remote) = remote_review("District Hospital", DEVICE, &f.labels, entry) {
            let _ = f.store.apply_remote_review(&remote);
        }
    }
    let sessions = f.sessions.clone();
    for sid in sessions {
        let export = f.store.export(sid).expect("the store exports each of its sessions");
        let device = Device { id: DEVICE.into(), app_version: "fuzz".into() };
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
