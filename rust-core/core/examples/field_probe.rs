//! Developer probe: prints the field pipeline's intermediate measures for each
//! image as one JSON line (used to tune thresholds; not part of the contract).
//! `cargo run --release -p hemalens-core --example field_probe -- <image>...`
use hemalens_core::field::{fov, scale};
use hemalens_core::{DecodeLimits, Photo};
use std::time::Instant;

fn main() {
    for path in std::env::args().skip(1) {
        let Ok(bytes) = std::fs::read(&path) else {
            println!("{{\"path\": {path:?}, \"error\": \"unreadable\"}}");
            continue;
        };
        let t = Instant::now();
        let Ok(s) = Photo::open(&bytes, &DecodeLimits::default(), 500) else {
            println!("{{\"path\": {path:?}, \"error\": \"decode\"}}");
            continue;
        };
        let t_dec = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let f = fov::find(s.view());
        let t_fov = t.elapsed().as_secs_f64() * 1e3;
        // The fastest of a few runs: the machine may be busy.
        let reps: usize = std::env::var("FIELD_PROBE_REPEAT").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
        let mut t_scale = f64::INFINITY;
        let mut sc = None;
        for _ in 0..reps.max(1) {
            let t = Instant::now();
            sc = scale::measure(s.view(), f.as_ref(), 1);
            t_scale = t_scale.min(t.elapsed().as_secs_f64() * 1e3);
        }
        println!(
            "{}",
            serde_json::json!({
                "path": path, "view": [s.view().width(), s.view().height()], "view_scale": s.view_scale(),
                "fov": f.map(|f| [f.cx / s.view_scale(), f.cy / s.view_scale(), f.r / s.view_scale()]),
                "rbc": sc.map(|x| x.diameter / s.view_scale()), "contrast": sc.map(|x| x.contrast),
                "ms": {"decode": t_dec, "fov": t_fov, "scale": t_scale},
            })
        );
    }
}
