//! Test helper for `tests/crash.rs`: writes into a store forever, printing an
//! acknowledgement after each committed change, until it is killed.
//!
//! - `fields`: sessions of fields; `F <session> <n> <seq>` after each field,
//!   `C <session>` after each close.
//! - `rotate`: first (once) three closed sessions of three fields, `READY`;
//!   then key rotations back and forth between two keys, every other one
//!   with a new photo key (every photo resealed); `R <i> <new key hex>`
//!   after each.
//! - `outbox`: closed sessions of one field, each queued for a hospital as
//!   a results and a photos bundle (payloads from `testing::payload`);
//!   `Q <session> <n> <kind>` after each.
//!
//! Usage: store-crash-writer <mode> <dir> <key-hex> [<other-key-hex>]
use hemalens_core::session::SessionPolicy;
use hemalens_store::{testing, Error, ErrorKind, Hospital, Key, Store};
use std::io::Write;
use std::process::ExitCode;

const FIELDS_PER_SESSION: u64 = 4;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: store-crash-writer <fields|rotate|outbox> <dir> <key-hex> [<other-key-hex>]");
        return ExitCode::from(2);
    }
    let dir = std::path::Path::new(&args[2]);
    let r = match args[1].as_str() {
        "fields" => fields(dir, &args[3]),
        "rotate" => rotate(dir, &args[3], args.get(4).map(String::as_str).unwrap_or_default()),
        "outbox" => outbox(dir, &args[3]),
        _ => Err(Error::InvalidArgument("unknown mode")),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("store-crash-writer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn ack(line: std::fmt::Arguments<'_>) {
    let out = std::io::stdout();
    let mut o = out.lock();
    let _ = o.write_fmt(line);
    let _ = o.write_all(b"\n");
    let _ = o.flush();
}

fn sessions(store: &mut Store) -> Result<u64, Error> {
    Ok(store.connection().query_row("SELECT count(*) FROM sessions", [], |r| r.get::<_, i64>(0))? as u64)
}

fn fields(dir: &std::path::Path, key: &str) -> Result<(), Error> {
    let mut store = Store::open(dir, &Key::from_hex(key)?)?;
    // Session numbers continue after the ones a previous (killed) run made.
    let mut n = sessions(&mut store)?;
    loop {
        let sid =
            store.start_session(&testing::patient(n), &SessionPolicy::default(), "crash-test", "writer")?;
        for seq in 0..FIELDS_PER_SESSION {
            store.add_field(sid, &testing::photo(n, seq), &testing::report(n, seq), "writer")?;
            ack(format_args!("F {sid} {n} {seq}"));
        }
        store.close_session(sid, "writer")?;
        ack(format_args!("C {sid}"));
        n += 1;
    }
}

fn rotate(dir: &std::path::Path, key: &str, other: &str) -> Result<(), Error> {
    let (a, b) = (Key::from_hex(key)?, Key::from_hex(other)?);
    // The key the store is under: the test's last acknowledged one, or the
    // other where the rotation in flight when the last writer died finished.
    let (mut store, mut current, mut next) = match Store::open(dir, &a) {
        Ok(s) => (s, a, b),
        Err(e) if e.kind() == ErrorKind::WrongKey => (Store::open(dir, &b)?, b, a),
        Err(e) => return Err(e),
    };
    if sessions(&mut store)? == 0 {
        for n in 0..3 {
            let sid =
                store.start_session(&testing::patient(n), &SessionPolicy::default(), "crash-test", "w")?;
            for seq in 0..3 {
                store.add_field(sid, &testing::photo(n, seq), &testing::report(n, seq), "w")?;
            }
            store.close_session(sid, "w")?;
        }
    }
    ack(format_args!("READY"));
    for i in 0u64.. {
        store.rotate_key(&next, i % 2 == 0, "writer")?;
        std::mem::swap(&mut current, &mut next);
        ack(format_args!("R {i} {}", current.to_hex()));
    }
    Ok(())
}

fn outbox(dir: &std::path::Path, key: &str) -> Result<(), Error> {
    let mut store = Store::open(dir, &Key::from_hex(key)?)?;
    if store.hospitals()?.is_empty() {
        let h = Hospital {
            name: "district".into(),
            url: "https://inbox.example/tus/".into(),
            recipient: "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p".into(),
            photos_on_wifi_only: true,
        };
        store.add_hospital(&h, "writer")?;
    }
    let mut n = sessions(&mut store)?;
    loop {
        let sid = store.start_session(&testing::patient(n), &SessionPolicy::default(), "crash-test", "w")?;
        store.add_field(sid, &testing::photo(n, 0), &testing::report(n, 0), "w")?;
        store.close_session(sid, "w")?;
        for kind in ["results", "photos"] {
            let id = format!("{:032x}", n * 2 + u64::from(kind == "photos"));
            store.enqueue(sid, "district", kind, &id, &testing::payload(n, kind), "writer")?;
            ack(format_args!("Q {sid} {n} {kind}"));
        }
        n += 1;
    }
}
