//! Times `Photo` against libjpeg-turbo's own decodes of the same bytes, or
//! reports peak memory. Developer tool; not part of any contract.
//!
//! ```sh
//! # 12 MP eyepiece photos (JPEG q85, 4:2:0) made from ../shared/data, outside the repo:
//! .venv/bin/python scripts/simulate_eyepiece.py --source bccd --split val --n 3 --out /tmp/sims
//! cargo run --release -p hemalens-photo --example photo_bench -- /tmp/sims/*.jpg
//! # peak RSS of open + view + ten 450 px windows, one photo per process:
//! /usr/bin/time -v target/release/examples/photo_bench --mem /tmp/sims/<photo>.jpg
//! ```
//!
//! Environment: `PHOTO_BENCH_REPS` (runs per row, median reported; 9),
//! `PHOTO_BENCH_ONLY` (only rows whose name contains it), `PHOTO_BENCH_PORTABLE`
//! (set: no AVX2 builds of the pixel loops, as a CPU without AVX2 or an ARM
//! phone runs). Freed memory is kept in the process as the `hemalens` binary
//! keeps it (glibc `mallopt`), so repeated opens do not measure page faults.
use hemalens_photo::libjpeg_decode;
use hemalens_photo::{DecodeLimits, Photo};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median milliseconds of `reps` runs, or the error of the first.
fn time<T>(reps: usize, mut f: impl FnMut() -> Result<T, hemalens_photo::Error>) -> Result<f64, String> {
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

fn windows(p: &Photo) -> Result<usize, hemalens_photo::Error> {
    let mut n = 0;
    for (x, y) in centres(p) {
        n += p.window(x, y, 450.0, 128, [0, 0, 0])?.len();
    }
    Ok(n)
}

/// `count` windows of `side` displayed pixels -> `n`, each cut from a
/// resolution with >= `source` pixels across (as the field pipeline's crops and tiles).
fn windows_from(
    p: &Photo,
    count: usize,
    side: f64,
    n: u32,
    source: u32,
) -> Result<usize, hemalens_photo::Error> {
    let mut total = 0;
    for (x, y) in centres(p).into_iter().take(count) {
        total += p.window_from(x, y, side, n, source, [0, 0, 0])?.len();
    }
    Ok(total)
}

/// The field pipeline's photo work: open (view >= 500), then 10 crops (side 620)
/// and 9 tiles (side 1300) -> 128 from 1/2 and 1/4, on two threads.
fn pipeline(bytes: &[u8], limits: &DecodeLimits) -> Result<usize, hemalens_photo::Error> {
    let p = Photo::open(bytes, limits, 500)?;
    std::thread::scope(|s| {
        let a = s.spawn(|| windows_from(&p, 10, 620.0, 128, 192));
        let b = windows_from(&p, 9, 1300.0, 128, 192)?;
        let a = a.join().map_err(|_| hemalens_photo::Error::InvalidArgument("thread panicked".into()))??;
        Ok(a + b)
    })
}

fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // As the `hemalens` binary does: keep freed decode buffers in the process,
    // so repeated opens do not pay a page fault per 4 KiB of coefficients.
    // SAFETY: mallopt only sets allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mem = args.first().is_some_and(|a| a == "--mem");
    if mem {
        args.remove(0);
    } else {
        // Timing: give the heap room up front. glibc maps a request over the
        // mmap threshold afresh (page faults every time) unless the heap
        // already has a free chunk that size, so a full decode's 36 MB output
        // would be timed with or without its page faults depending on what
        // ran before it.
        let room: Vec<Vec<u8>> = (0..4).map(|_| vec![1u8; 30 << 20]).collect();
        drop(std::hint::black_box(room));
    }
    let reps: usize = std::env::var("PHOTO_BENCH_REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(9);
    if std::env::var_os("PHOTO_BENCH_PORTABLE").is_some() {
        // What a CPU without AVX2 (or an ARM phone) runs.
        hemalens_photo::set_portable_only(true);
    }
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
        let only = std::env::var("PHOTO_BENCH_ONLY").unwrap_or_default();
        let row = |name: &str, f: &mut dyn FnMut() -> Result<usize, hemalens_photo::Error>| {
            if !name.contains(only.as_str()) {
                return;
            }
            match time(reps, f) {
                Ok(ms) => println!("  {name:<44} {ms:8.2} ms"),
                Err(e) => println!("  {name:<44} refused: {e}"),
            }
        };
        row("libjpeg jpeg_read_coefficients only", &mut || {
            hemalens_photo::libjpeg_read_coefficients(&bytes, &limits).map(|()| 0)
        });
        row("Photo::open, view long side >= 500", &mut || {
            Photo::open(&bytes, &limits, 500).map(|p| p.heap_bytes())
        });
        row("Photo::open, view >= 500, on 2 threads", &mut || {
            Photo::open_on(&bytes, &limits, 500, 2).map(|p| p.heap_bytes())
        });
        row("Photo::open, view long side >= 1000", &mut || {
            Photo::open(&bytes, &limits, 1000).map(|p| p.heap_bytes())
        });
        row("10 windows, side 450 -> 128", &mut || windows(&p));
        row("10 windows, side 620 -> 128 (source 192)", &mut || windows_from(&p, 10, 620.0, 128, 192));
        row("9 windows, side 1300 -> 128 (source 192)", &mut || windows_from(&p, 9, 1300.0, 128, 192));
        row("pipeline: open + 10 + 9 windows, 2 threads", &mut || pipeline(&bytes, &limits));
        row("libjpeg full decode (1/1)", &mut || libjpeg_decode(&bytes, &limits, 1).map(|i| i.len()));
        for d in [2, 4, 8] {
            row(&format!("libjpeg scaled decode 1/{d}"), &mut || {
                libjpeg_decode(&bytes, &limits, d).map(|i| i.len())
            });
        }
    }
    Ok(())
}
