//! `hemalens bench`: speed and memory figures, each next to a baseline measured
//! in the same run, with the target it is held to. Medians throughout.
use crate::quiet::quietly;
use hemalens_litert::{Engine, Options};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Timed inferences per block (three blocks each for Rust and Python, interleaved).
    #[arg(long, default_value_t = 30)]
    runs: usize,
    /// Cold-start process runs.
    #[arg(long, default_value_t = 15)]
    starts: usize,
    /// MobileNetV2 1.0 224x224 model for the engine figures.
    #[arg(long)]
    mobilenet: Option<PathBuf>,
    /// Pack for the cold-start and memory figures (default: the first embedded pack).
    #[arg(long)]
    model: Option<String>,
    /// Python with ai_edge_litert 2.1.4 for the baseline (default: $HEMALENS_PYTHON, ./.venv/bin/python, python3).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Exit 1 when a figure misses its target.
    #[arg(long)]
    check: bool,
    /// Skip the field-pipeline figures (12 MP eyepiece photos).
    #[arg(long)]
    skip_analyze: bool,
    /// JPEG photos for the field-pipeline figures (default: simulated from ../shared/data).
    #[arg(long)]
    photos: Option<PathBuf>,
    /// Skip the camera-preview figure (1080p YUV frames).
    #[arg(long)]
    skip_preview: bool,
    /// Only the camera-preview figure.
    #[arg(long)]
    preview_only: bool,
}

struct Figure {
    name: &'static str,
    value: String,
    baseline: String,
    target: &'static str,
    pass: Option<bool>,
}

pub fn run(args: Args) -> u8 {
    let mobilenet = args
        .mobilenet
        .clone()
        .unwrap_or_else(|| crate::repo_root().join("tests/fixtures/models/mobilenetv2_224_int8.tflite"));
    let mut figures = Vec::new();
    let tmp = std::env::temp_dir().join(format!("hemalens-bench-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&tmp) {
        eprintln!("hemalens: cannot create {}: {e}", tmp.display());
        return crate::EXIT_USAGE;
    }
    if !args.preview_only {
        match engine_figures(&args, &mobilenet, &tmp) {
            Ok(f) => figures.extend(f),
            Err(e) => eprintln!("hemalens bench: engine figures skipped: {e}"),
        }
        match process_figures(&args, &tmp) {
            Ok(f) => figures.extend(f),
            Err(e) => eprintln!("hemalens bench: process figures skipped: {e}"),
        }
    }
    if !args.skip_preview {
        match preview_figures(&args) {
            Ok(f) => figures.extend(f),
            Err(e) => eprintln!("hemalens bench: preview figures skipped: {e}"),
        }
    }
    if !args.skip_analyze && !args.preview_only {
        match analyze_figures(&args, &tmp) {
            Ok(f) => figures.extend(f),
            Err(e) => eprintln!("hemalens bench: analyze figures skipped: {e}"),
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    report(&figures, args.json);
    if args.check && figures.iter().any(|f| f.pass == Some(false)) {
        return crate::EXIT_INPUT_FAILED;
    }
    0
}

fn report(figures: &[Figure], as_json: bool) {
    if as_json {
        let v: Vec<Value> = figures
            .iter()
            .map(|f| json!({"name": f.name, "value": f.value, "baseline": f.baseline, "target": f.target, "pass": f.pass}))
            .collect();
        crate::output::line(&json!({ "figures": v }));
        return;
    }
    println!(
        "{:<44} {:>22} {:>34} {:<18} result",
        "figure (median)", "value", "baseline (same run)", "target"
    );
    for f in figures {
        let result = match f.pass {
            Some(true) => "PASS",
            Some(false) => "FAIL",
            None => "n/a",
        };
        println!("{:<44} {:>22} {:>34} {:<18} {result}", f.name, f.value, f.baseline, f.target);
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn time_engine(engine: &mut Engine, input: &[u8], runs: usize) -> Result<Vec<f64>, String> {
    let mut out = vec![0u8; engine.output(0).byte_len()];
    for _ in 0..5 {
        engine.run(&[input], &mut [&mut out]).map_err(|e| e.to_string())?;
    }
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        engine.run(&[input], &mut [&mut out]).map_err(|e| e.to_string())?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(ms)
}

const PY_TIMER: &str = r#"
import sys, time, numpy as np
from ai_edge_litert.interpreter import Interpreter
model, threads, runs, inp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
it = Interpreter(model_path=model, num_threads=threads)
it.allocate_tensors()
d, o = it.get_input_details()[0], it.get_output_details()[0]
x = np.frombuffer(open(inp, "rb").read(), dtype=d["dtype"]).reshape(d["shape"])
def once():
    it.set_tensor(d["index"], x); it.invoke(); return it.get_tensor(o["index"])
for _ in range(5): once()
ts = []
for _ in range(runs):
    t = time.perf_counter(); once(); ts.append((time.perf_counter() - t) * 1e3)
print(" ".join(f"{v:.6f}" for v in ts))
"#;

fn python(args: &Args) -> PathBuf {
    if let Some(p) = &args.python {
        return p.clone();
    }
    if let Some(p) = std::env::var_os("HEMALENS_PYTHON") {
        return p.into();
    }
    let venv = crate::repo_root().join(".venv/bin/python");
    if venv.exists() {
        return venv;
    }
    "python3".into()
}

fn time_python(
    py: &Path,
    model: &Path,
    threads: usize,
    runs: usize,
    input: &Path,
) -> Result<Vec<f64>, String> {
    let out = Command::new(py)
        .args(["-c", PY_TIMER])
        .arg(model)
        .arg(threads.to_string())
        .arg(runs.to_string())
        .arg(input)
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", py.display()))?;
    if !out.status.success() {
        return Err(format!("{} has no working ai_edge_litert ({})", py.display(), out.status));
    }
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|s| s.parse::<f64>().map_err(|e| e.to_string()))
        .collect()
}

fn engine_figures(args: &Args, model: &Path, tmp: &Path) -> Result<Vec<Figure>, String> {
    let bytes = std::fs::read(model).map_err(|e| format!("cannot read {}: {e}", model.display()))?;
    let mut one =
        quietly(|| Engine::from_bytes(&bytes, &Options { num_threads: 1 })).map_err(|e| e.to_string())?;
    let mut two =
        quietly(|| Engine::from_bytes(&bytes, &Options { num_threads: 2 })).map_err(|e| e.to_string())?;
    // A fixed, non-trivial input (the same bytes for Rust and Python).
    let input: Vec<u8> = (0..one.input(0).byte_len()).map(|i| ((i * 7919) % 251) as u8).collect();
    let input_path = tmp.join("input.bin");
    std::fs::write(&input_path, &input).map_err(|e| e.to_string())?;
    let py = python(args);
    let (mut r1, mut r2, mut p2) = (Vec::new(), Vec::new(), Vec::new());
    let mut py_err = None;
    for _ in 0..3 {
        r1.extend(time_engine(&mut one, &input, args.runs)?);
        r2.extend(time_engine(&mut two, &input, args.runs)?);
        if py_err.is_none() {
            match time_python(&py, model, 2, args.runs, &input_path) {
                Ok(v) => p2.extend(v),
                Err(e) => py_err = Some(e),
            }
        }
    }
    quietly(|| drop((one, two)));
    let (m1, m2) = (median(r1), median(r2));
    let mut figs = Vec::new();
    if let Some(e) = py_err {
        eprintln!("hemalens bench: Python baseline unavailable: {e}");
        figs.push(Figure {
            name: "engine per inference, 2 threads",
            value: format!("{m2:.2} ms"),
            baseline: "Python unavailable".into(),
            target: "within 5% of Python",
            pass: None,
        });
    } else {
        let mp = median(p2);
        let ratio = m2 / mp;
        figs.push(Figure {
            name: "engine per inference, 2 threads",
            value: format!("{m2:.2} ms ({:+.1}%)", (ratio - 1.0) * 100.0),
            baseline: format!("Python ai_edge_litert {mp:.2} ms"),
            target: "<= +5% vs Python",
            pass: Some(ratio <= 1.05),
        });
    }
    let speedup = m1 / m2;
    figs.push(Figure {
        name: "MobileNetV2 1.0 224 int8, 2 vs 1 thread",
        value: format!("{m2:.2} ms ({speedup:.2}x)"),
        baseline: format!("1 thread {m1:.2} ms"),
        target: ">= 1.6x",
        pass: Some(speedup >= 1.6),
    });
    Ok(figs)
}

const PEAK_ENV: &str = "HEMALENS_PEAK_MEMORY_FILE";

/// When the bench asks for it, a child writes its own peak resident memory
/// (VmHWM, kB) on exit. `ru_maxrss` from wait4 cannot be used: a child spawned
/// with vfork inherits the bench process's high-water mark.
pub fn report_peak_memory() {
    let Some(path) = std::env::var_os(PEAK_ENV) else { return };
    let hwm = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| {
        s.lines().find_map(|l| {
            l.strip_prefix("VmHWM:").map(|v| v.trim().trim_end_matches("kB").trim().to_string())
        })
    });
    if let Some(kb) = hwm {
        let _ = std::fs::write(path, kb);
    }
}

/// Child process wall time (ms), peak resident memory (kB) and success.
fn run_child(cmd: &mut Command, tmp: &Path) -> Result<(f64, f64, bool), String> {
    let peak = tmp.join("peak.txt");
    let _ = std::fs::remove_file(&peak);
    let t = Instant::now();
    let status = cmd
        .env(PEAK_ENV, &peak)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let kb =
        std::fs::read_to_string(&peak).ok().and_then(|s| s.trim().parse::<f64>().ok()).unwrap_or(f64::NAN);
    Ok((ms, kb, status.success()))
}

fn process_figures(args: &Args, tmp: &Path) -> Result<Vec<Figure>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let model = match &args.model {
        Some(m) => m.clone(),
        None => hemalens_packs::ids().first().map(|s| s.to_string()).unwrap_or_else(|| {
            crate::repo_root().join("tests/fixtures/models/tiny-pack").display().to_string()
        }),
    };
    let sample = crate::repo_root().join("tests/fixtures/samples/smear_field.jpg");
    let img = hemalens_core::decode_file(&sample, &hemalens_core::DecodeLimits::default())
        .map_err(|e| e.to_string())?;
    let small = image::imageops::resize(&img, 224, 224, image::imageops::FilterType::Triangle);
    let one = tmp.join("field_224.jpg");
    small.save(&one).map_err(|e| e.to_string())?;
    let (mut cold, mut base) = (Vec::new(), Vec::new());
    for _ in 0..args.starts {
        let (ms, _, ok) =
            run_child(Command::new(&exe).args(["classify", "--json", "--model", &model]).arg(&one), tmp)?;
        if !ok {
            return Err(format!("`hemalens classify --model {model}` failed"));
        }
        cold.push(ms);
        base.push(run_child(Command::new(&exe).arg("--version"), tmp)?.0);
    }
    let mut hundred = Vec::new();
    for i in 0..100 {
        let p = tmp.join(format!("field_{i:03}.jpg"));
        std::fs::copy(&sample, &p).map_err(|e| e.to_string())?;
        hundred.push(p);
    }
    let (_, rss, ok) =
        run_child(Command::new(&exe).args(["classify", "--json", "--model", &model]).args(&hundred), tmp)?;
    if !ok {
        return Err("classify over 100 images failed".into());
    }
    let (_, base_rss, _) = run_child(Command::new(&exe).args(["models", "--json"]), tmp)?;
    let cold_ms = median(cold);
    Ok(vec![
        Figure {
            name: "cold start to first result, 224x224 image",
            value: format!("{cold_ms:.1} ms"),
            baseline: format!("process start alone {:.1} ms", median(base)),
            target: "<= 150 ms",
            pass: Some(cold_ms <= 150.0),
        },
        Figure {
            name: "peak memory, classify 100 images (640x480)",
            value: format!("{:.1} MB", rss / 1024.0),
            baseline: format!("`hemalens models` {:.1} MB", base_rss / 1024.0),
            target: "<= 60 MB",
            pass: Some(rss / 1024.0 <= 60.0),
        },
    ])
}

/// A 12 MP eyepiece-like photo: the sample smear tiled at phone scale inside a
/// round aperture with a dark surround, JPEG quality 85 (the fallback when the
/// real-data simulator cannot run).
fn eyepiece_photo(path: &Path, shift: u32) -> Result<(), String> {
    let sample = crate::repo_root().join("tests/fixtures/samples/smear_field.jpg");
    let tile = hemalens_core::decode_file(&sample, &hemalens_core::DecodeLimits::default())
        .map_err(|e| e.to_string())?;
    let (tw, th) = tile.dimensions();
    let (w, h) = (4000u32, 3000u32);
    let (cx, cy, r) = (2000.0 + f64::from(shift) * 40.0, 1500.0, 1300.0);
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let d = ((f64::from(x) - cx).powi(2) + (f64::from(y) - cy).powi(2)).sqrt();
        if d > r {
            return image::Rgb([6, 5, 5]);
        }
        let p = tile.get_pixel((x + shift * 97) % tw, (y + shift * 53) % th).0;
        let v = 1.0 - 0.3 * (d / r).powi(2);
        image::Rgb(p.map(|c| (f64::from(c) * v) as u8))
    });
    let f = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(std::io::BufWriter::new(f), 85);
    enc.encode_image(&img).map_err(|e| e.to_string())
}

/// The 12 MP photos the field pipeline is timed on: `--photos DIR`, else
/// simulated eyepiece photos built from real bccd_fields val fields by
/// scripts/simulate_eyepiece.py (red cells 140 px across: about ten white
/// cells per photo), else generated ones. Returns the photos and what they are.
fn bench_photos(args: &Args, tmp: &Path) -> Result<(Vec<PathBuf>, String), String> {
    if let Some(dir) = &args.photos {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|x| x.eq_ignore_ascii_case("jpg") || x.eq_ignore_ascii_case("jpeg"))
            })
            .collect();
        v.sort();
        if v.is_empty() {
            return Err(format!("no JPEGs in {}", dir.display()));
        }
        return Ok((v, format!("photos from {}", dir.display())));
    }
    let out = tmp.join("sims");
    let sim = Command::new(python(args))
        .arg(crate::repo_root().join("scripts/simulate_eyepiece.py"))
        .args(["--source", "bccd", "--split", "val", "--n", "3", "--rbc", "140", "--seed", "3", "--out"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if sim.is_ok_and(|s| s.success()) {
        let v: Vec<PathBuf> = (0..3).map(|i| out.join(format!("bccd_{i:03}.jpg"))).collect();
        if v.iter().all(|p| p.exists()) {
            return Ok((v, "simulated from bccd_fields val (scripts/simulate_eyepiece.py --rbc 140)".into()));
        }
    }
    eprintln!("hemalens bench: simulator unavailable (no ../shared/data or Python): timing generated photos");
    let v: Vec<PathBuf> = (0..3).map(|i| tmp.join(format!("eyepiece_{i}.jpg"))).collect();
    for (i, p) in v.iter().enumerate() {
        eyepiece_photo(p, i as u32)?;
    }
    Ok((v, "generated from the sample smear".into()))
}

fn analyze_figures(args: &Args, tmp: &Path) -> Result<Vec<Figure>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let (photos, what) = bench_photos(args, tmp)?;
    eprintln!("hemalens bench: analyze photos: {what}");
    let analyzer = crate::analyze::load("all-screen", "wbc-type", 2)?;
    let bytes: Vec<Vec<u8>> =
        photos.iter().map(std::fs::read).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    let (mut ours, mut stages): (Vec<f64>, std::collections::BTreeMap<String, Vec<f64>>) =
        (Vec::new(), Default::default());
    let mut cells = Vec::new();
    let mut djpeg = Vec::new();
    let have_djpeg =
        Command::new("djpeg").arg("-version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    for round in 0..(args.runs / 3).max(3) {
        for (b, p) in bytes.iter().zip(&photos) {
            let t = Instant::now();
            let a = analyzer.analyze_full(b).map_err(|e| e.to_string())?;
            ours.push(t.elapsed().as_secs_f64() * 1e3);
            if round == 0 {
                cells.push(a.report.cells.len());
            }
            for (k, v) in a.timing_ms {
                stages.entry(k).or_default().push(v);
            }
            if have_djpeg {
                let t = Instant::now();
                let ok = Command::new("djpeg")
                    .arg("-outfile")
                    .arg("/dev/null")
                    .arg(p)
                    .status()
                    .map_err(|e| e.to_string())?;
                if ok.success() {
                    djpeg.push(t.elapsed().as_secs_f64() * 1e3);
                }
            }
        }
    }
    quietly(|| drop(analyzer));
    let (mut fresh, mut peak) = (Vec::new(), 0f64);
    for _ in 0..args.starts.min(10) {
        let (ms, kb, ok) = run_child(Command::new(&exe).args(["analyze", "--json"]).arg(&photos[0]), tmp)?;
        if !ok {
            return Err("`hemalens analyze` on a 12 MP photo failed".into());
        }
        fresh.push(ms);
        peak = peak.max(kb);
    }
    let m = median(ours);
    let stage_text: Vec<String> = stages
        .into_iter()
        .filter(|(k, _)| k != "total")
        .map(|(k, v)| format!("{k} {:.1}", median(v)))
        .collect();
    eprintln!("hemalens bench: analyze stages (median ms): {}", stage_text.join(", "));
    eprintln!("hemalens bench: white cells found per photo: {cells:?}");
    let (dj, dj_text) = if djpeg.is_empty() {
        (f64::NAN, "djpeg not installed".to_string())
    } else {
        let d = median(djpeg);
        (d, format!("djpeg full decode {d:.1} ms"))
    };
    let fresh_ms = median(fresh);
    Ok(vec![
        Figure {
            name: "analyze 12 MP photo, packs loaded",
            value: format!("{m:.1} ms"),
            baseline: dj_text,
            target: "<= djpeg decode",
            pass: if dj.is_nan() { None } else { Some(m <= dj) },
        },
        Figure {
            name: "analyze 12 MP photo, fresh process",
            value: format!("{fresh_ms:.1} ms"),
            baseline: format!("in-process {m:.1} ms"),
            target: "<= 150 ms",
            pass: Some(fresh_ms <= 150.0),
        },
        Figure {
            name: "peak memory, analyze 12 MP photo",
            value: format!("{:.1} MB", peak / 1024.0),
            baseline: "-".into(),
            target: "<= 150 MB",
            pass: Some(peak / 1024.0 <= 150.0),
        },
    ])
}

/// A 1920x1080 preview frame of `img` as the camera shows a 4:3 picture:
/// scaled to the frame's height, the sides dark.
fn preview_frame(img: &image::RgbImage) -> image::RgbImage {
    let (w, h) = (1920u32, 1080u32);
    let sw = (f64::from(img.width()) * f64::from(h) / f64::from(img.height())).round() as u32;
    let small = image::imageops::resize(img, sw, h, image::imageops::FilterType::Triangle);
    let x0 = w.saturating_sub(sw) / 2;
    image::RgbImage::from_fn(w, h, |x, y| {
        if x < x0 || x - x0 >= sw {
            return image::Rgb([5, 4, 4]);
        }
        *small.get_pixel(x - x0, y)
    })
}

/// A 1920x1080 preview frame through the eyepiece: real fields mosaicked
/// with red cells `rbc` px across (bccd_fields' are about 105), a round
/// aperture filling most of the frame's height, mild vignetting, a dark
/// surround.
fn mosaic_frame(fields: &[image::RgbImage], rbc: f64) -> image::RgbImage {
    let (w, h) = (1920u32, 1080u32);
    let s = rbc / 105.0;
    let tiles: Vec<image::RgbImage> = fields
        .iter()
        .map(|f| {
            let (tw, th) =
                ((f64::from(f.width()) * s).round() as u32, (f64::from(f.height()) * s).round() as u32);
            image::imageops::resize(f, tw.max(1), th.max(1), image::imageops::FilterType::Triangle)
        })
        .collect();
    let (cx, cy, r) = (f64::from(w) / 2.0, f64::from(h) / 2.0, 0.47 * f64::from(h));
    image::RgbImage::from_fn(w, h, |x, y| {
        let d = ((f64::from(x) - cx).powi(2) + (f64::from(y) - cy).powi(2)).sqrt();
        let Some(t0) = tiles.first() else { return image::Rgb([5, 4, 4]) };
        if d > r {
            return image::Rgb([5, 4, 4]);
        }
        let (i, j) = (x / t0.width(), y / t0.height());
        let t = &tiles[(i as usize + 3 * j as usize) % tiles.len()];
        let p = t.get_pixel((x % t0.width()).min(t.width() - 1), (y % t0.height()).min(t.height() - 1)).0;
        let v = 1.0 - 0.25 * (d / r).powi(2);
        image::Rgb(p.map(|c| (f64::from(c) * v) as u8))
    })
}

/// NV21 as Android's cameras deliver `YUV_420_888` (BT.601 full range): the
/// luma plane, and one buffer of interleaved V and U samples (row stride the
/// width, pixel stride 2).
fn nv21(img: &image::RgbImage) -> (Vec<u8>, Vec<u8>) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut y = vec![0u8; w * h];
    let mut vu = vec![0u8; w * h.div_ceil(2)];
    for (x, yy, p) in img.enumerate_pixels() {
        let [r, g, b] = p.0.map(f64::from);
        let (x, yy) = (x as usize, yy as usize);
        y[yy * w + x] = (0.299 * r + 0.587 * g + 0.114 * b).round() as u8;
        if x % 2 == 0 && yy % 2 == 0 {
            let i = (yy / 2) * w + x;
            vu[i] = (128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b).round().clamp(0.0, 255.0) as u8;
            vu[i + 1] = (128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b).round().clamp(0.0, 255.0) as u8;
        }
    }
    (y, vu)
}

/// Capture guidance per 1920x1080 preview frame on one thread (the preview
/// path runs no second thread), against converting the whole frame to RGB.
fn preview_figures(args: &Args) -> Result<Vec<Figure>, String> {
    use hemalens_core::field::preview::{self, Plane, PreviewOptions, YuvFrame};
    let limits = hemalens_core::DecodeLimits::default();
    let demo = crate::repo_root().join("tests/fixtures/demo/eyepiece_bccd_00339.jpg");
    let mut frames =
        vec![preview_frame(&hemalens_core::decode_file(&demo, &limits).map_err(|e| e.to_string())?)];
    let data = std::env::var_os("HEMALENS_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repo_root().join("../shared/data"))
        .join("bccd_fields");
    let what = match std::fs::read_to_string(data.join("labels.csv")) {
        Ok(csv) => {
            let mut fields = Vec::new();
            for line in csv.lines().filter(|l| l.ends_with(",val")).take(12) {
                let path = data.join(line.split(',').next().unwrap_or_default());
                fields.push(hemalens_core::decode_file(&path, &limits).map_err(|e| e.to_string())?);
            }
            // Red cells 50 px across: the 12 MP figures' 140 px, in 1080p;
            // 35 px: a weaker objective.
            for (k, rbc) in [(0, 50.0), (6, 50.0), (3, 35.0)] {
                frames.push(mosaic_frame(&fields[k..k + 6], rbc));
            }
            "the demo photo (red cells ~180 px) and mosaics of 12 bccd_fields val fields (red cells 50, 50, 35 px)"
        }
        Err(_) => "the demo photo only (no ../shared/data)",
    };
    eprintln!("hemalens bench: preview frames: 1920x1080 NV21 from {what}");
    let planes: Vec<(Vec<u8>, Vec<u8>)> = frames.iter().map(nv21).collect();
    fn yuv((y, vu): &(Vec<u8>, Vec<u8>)) -> Result<YuvFrame<'_>, String> {
        let n = vu.len();
        YuvFrame::new(
            1920,
            1080,
            Plane::new(y, 1920, 1),
            Plane::new(&vu[1..n], 1920, 2),
            Plane::new(&vu[..n - 1], 1920, 2),
        )
        .map_err(|e| e.to_string())
    }
    let opts = PreviewOptions::default();
    let (mut stream, mut single, mut base) = (Vec::new(), Vec::new(), Vec::new());
    let mut seen = Vec::new();
    for p in &planes {
        let f = yuv(p)?;
        let g = preview::guide(&f, &opts);
        seen.push(format!(
            "ready {} focus {:.2} exposure {:.2} red cells {:.0} px white cells {} issues {:?}",
            g.ready,
            g.focus,
            g.exposure,
            g.rbc_diameter_px.unwrap_or(f64::NAN),
            g.white_cells,
            g.issues.iter().map(|i| i.code.as_str()).collect::<Vec<_>>()
        ));
        std::hint::black_box(f.to_rgb());
    }
    // A camera session: the same scene frame after frame (the scale
    // measured on the first and on every `rescale_every`th); then each frame
    // judged on its own, and the plain conversion, interleaved.
    let runs = args.runs.max(5);
    let mut each = Vec::new();
    for p in &planes {
        let f = yuv(p)?;
        let mut session = preview::Preview::new(opts.clone());
        let mut ms = Vec::new();
        for _ in 0..runs * 3 {
            let t = Instant::now();
            std::hint::black_box(session.guide(&f));
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        stream.extend_from_slice(&ms);
        each.push(format!("{:.2}", median(ms)));
    }
    for _ in 0..runs {
        for p in &planes {
            let f = yuv(p)?;
            let t = Instant::now();
            std::hint::black_box(preview::guide(&f, &opts));
            single.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            std::hint::black_box(f.to_rgb());
            base.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    for s in seen {
        eprintln!("hemalens bench: preview guidance: {s}");
    }
    let mean = stream.iter().sum::<f64>() / stream.len().max(1) as f64;
    let mut sorted = stream.clone();
    sorted.sort_by(f64::total_cmp);
    let p90 = sorted.get(sorted.len() * 9 / 10).copied().unwrap_or(f64::NAN);
    eprintln!(
        "hemalens bench: preview per frame in a session (scale every {}th frame): mean {mean:.2} ms, p90 {p90:.2} ms; median per scene {} ms",
        opts.rescale_every,
        each.join(", ")
    );
    let (m, b) = (median(stream), median(base));
    let s = median(single);
    Ok(vec![
        Figure {
            name: "preview guidance, 1920x1080 YUV, 1 thread",
            value: format!("{m:.2} ms"),
            baseline: format!("full-frame YUV->RGB {b:.2} ms"),
            target: "<= 5 ms",
            pass: Some(m <= 5.0),
        },
        Figure {
            name: "preview guidance, scale on every frame",
            value: format!("{s:.2} ms"),
            baseline: format!("full-frame YUV->RGB {b:.2} ms"),
            target: "-",
            pass: None,
        },
    ])
}
