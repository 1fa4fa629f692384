//! The baseline of scripts/bench_bindings.py: the same `Screener::analyze`
//! the bindings call, called from Rust. Prints one line per analysis:
//! `<photo index> <milliseconds>`, after three warm-up passes.
use hemalens_ffi::{Screener, ScreenerConfig};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().ok_or("usage: analyze_direct ROUNDS PHOTO...")?.parse()?;
    let photos: Vec<Vec<u8>> = args.map(std::fs::read).collect::<Result<_, _>>()?;
    let dir = tempfile::tempdir()?;
    let key = hemalens_ffi::generate_key()?;
    let s = Screener::open(dir.path().display().to_string(), key, ScreenerConfig::default())?;
    for _ in 0..3 {
        for p in &photos {
            s.analyze(p)?;
        }
    }
    for _ in 0..rounds {
        for (i, p) in photos.iter().enumerate() {
            let t = Instant::now();
            s.analyze(p)?;
            println!("{i} {:.4}", t.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(())
}
