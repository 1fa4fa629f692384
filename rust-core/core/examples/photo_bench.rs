//! Times `Photo` against libjpeg-turbo's own decodes of the same bytes, or
//! reports peak memory. Developer tool; not part of any contract.
//!
//! ```sh
//! # 12 MP eyepiece photos (JPEG q85, 4:2:0) made from ../shared/data, outside the repo:
//! .venv/bin/python scripts/simulate_eyepiece.py --source bccd --split val --n 3 --out /tmp/sims
//! cargo run --release -p hemalens-core --example photo_bench -- /tmp/sims/*.jpg
//! # peak RSS of open + view + ten 450 px windows, one photo per process:
//! /usr/bin/time -v target/release/examples/photo_bench --mem /tmp/sims/<photo>.jpg
//! ```
use hemalens_core::photo::libjpeg_decode;
use hemalens_core::{decode_scaled, DecodeLimits, Photo};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median milliseconds of `reps` runs, or the error of the first.
fn time<T>(reps: usize, mut f: impl FnMut() -> Result<T, hemalens_core::Error>) -> Result<f64, String> {
    let mut ms = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        std::hint::black_box(f().map_err(|e| e.to_string())?);
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(median(ms))
}

/// Ten window centres on a ring around the middle of the photo.
fn centres(p: &Photo) -> Vec<(f64, f64)> {
    let (w, h) = p.displayed();
    let (cx, cy, r) = (f64::from(w) / 2.0, f64::from(h) / 2.0, f64::from(w.min(h)) * 0.3);
    (0..10)
        .map(|i| {
            let a = f64::from(i) * std::f64::consts::TAU / 10.0;
            (cx + r * a.cos(), cy + r * a.sin())
        })
        .collect()
}

fn windows(p: &Photo) -> Result<usize, hemalens_core::Error> {
    let mut n = 0;
    for (x, y) in centres(p) {
        n += p.window(x, y, 450.0, 128, [0, 0, 0])?.len();
    }
    Ok(n)
}

fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mem = args.first().is_some_and(|a| a == "--mem");
    if mem {
        args.remove(0);
    }
    let reps: usize = std::env::var("PHOTO_BENCH_REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(9);
    if args.is_empty() {
        eprintln!("usage: photo_bench [--mem] <jpeg>...");
        std::process::exit(2);
    }
    let limits = DecodeLimits::default();
    for path in &args {
        let bytes = std::fs::read(path)?;
        if mem {
            let before = peak_rss_kib();
            let p = Photo::open(&bytes, &limits, 1000)?;
            let v = p.view().dimensions();
            windows(&p)?;
            println!(
                "{path}: {}x{} displayed, view {}x{}, photo holds {:.1} MB; peak RSS {} KiB (after reading the file: {} KiB)",
                p.displayed().0,
                p.displayed().1,
                v.0,
                v.1,
                p.heap_bytes() as f64 / 1e6,
                peak_rss_kib().unwrap_or(0),
                before.unwrap_or(0),
            );
            continue;
        }
        let p = Photo::open(&bytes, &limits, 1000)?;
        println!(
            "{path}: {} KB, {}x{} displayed; photo holds {:.1} MB; median of {reps}:",
            bytes.len() / 1000,
            p.displayed().0,
            p.displayed().1,
            p.heap_bytes() as f64 / 1e6
        );
        let row = |name: &str, ms: Result<f64, String>| match ms {
            Ok(ms) => println!("  {name:<42} {ms:8.2} ms"),
            Err(e) => println!("  {name:<42} refused: {e}"),
        };
        row("Photo::open, view long side >= 500", time(reps, || Photo::open(&bytes, &limits, 500)));
        row("Photo::open, view long side >= 1000", time(reps, || Photo::open(&bytes, &limits, 1000)));
        row("10 windows, side 450 -> 128", time(reps, || windows(&p)));
        row("libjpeg full decode (1/1)", time(reps, || libjpeg_decode(&bytes, &limits, 1)));
        for d in [2, 4, 8] {
            row(&format!("libjpeg scaled decode 1/{d}"), time(reps, || libjpeg_decode(&bytes, &limits, d)));
        }
        row("decode_scaled (jpeg-decoder), >= 1000", time(reps, || decode_scaled(&bytes, &limits, 1000)));
    }
    Ok(())
}
