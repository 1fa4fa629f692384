//! Test helper for `tests/crash.rs`: writes sessions of fields into a store
//! forever, printing `F <session> <n> <seq>` after each committed field and
//! `C <session>` after each close, until it is killed.
//! Usage: store-crash-writer <dir> <key-hex>
use hemalens_core::session::SessionPolicy;
use hemalens_store::{testing, Key, Store};
use std::io::Write;
use std::process::ExitCode;

const FIELDS_PER_SESSION: u64 = 4;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: store-crash-writer <dir> <key-hex>");
        return ExitCode::from(2);
    }
    match run(&args[1], &args[2]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("store-crash-writer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(dir: &str, key: &str) -> Result<(), hemalens_store::Error> {
    let mut store = Store::open(std::path::Path::new(dir), &Key::from_hex(key)?)?;
    let out = std::io::stdout();
    // Session numbers continue after the ones a previous (killed) run made.
    let mut n: u64 =
        store.connection().query_row("SELECT count(*) FROM sessions", [], |r| r.get::<_, i64>(0))? as u64;
    loop {
        let sid =
            store.start_session(&testing::patient(n), &SessionPolicy::default(), "crash-test", "writer")?;
        for seq in 0..FIELDS_PER_SESSION {
            store.add_field(sid, &testing::photo(n, seq), &testing::report(n, seq), "writer")?;
            let mut o = out.lock();
            let _ = writeln!(o, "F {sid} {n} {seq}");
            let _ = o.flush();
        }
        store.close_session(sid, "writer")?;
        let mut o = out.lock();
        let _ = writeln!(o, "C {sid}");
        let _ = o.flush();
        n += 1;
    }
}
