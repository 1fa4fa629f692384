use crate::output;
use crate::quiet::quietly;
use hemalens_core::field::{beyond_familiarity_line, overlay, AnalyzeOptions, Analyzer};
use hemalens_core::Error;
use serde_json::{json, Value};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// One JSON object per line per photo, in input order.
    #[arg(long)]
    json: bool,
    /// Write one PNG per photo here: field of view, boxed cells, verdict.
    #[arg(long)]
    overlay: Option<PathBuf>,
    /// Whole-field screening pack (id or directory).
    #[arg(long, default_value = "all-screen")]
    screen_model: String,
    /// White-cell type pack (id or directory).
    #[arg(long, default_value = "wbc-type")]
    cell_model: String,
    /// A site profile (JSON from `hemalens site calibrate --out`, or `site show`) to read the photos with.
    #[arg(long)]
    site: Option<PathBuf>,
    /// CPU threads (up to 2 are used: decoding, the scale search and the models; the same result on 1).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Developer: JSON overriding the field options ({"detect": {..}, "quality": {..}, "max_tiles": N}).
    #[arg(long, hide = true)]
    tune: Option<String>,
    /// Developer: detection and quality only, no models.
    #[arg(long, hide = true)]
    detect_only: bool,
    /// Developer: run detection and the models on rejected photos too (to evaluate the gate).
    #[arg(long, hide = true)]
    ignore_gate: bool,
    /// Developer: write every model input (cell crops, screening tiles) as PNG into this folder.
    #[arg(long, hide = true)]
    dump_windows: Option<PathBuf>,
    /// Photos: JPEG (8-50 MP phone photos through the eyepiece, or camera frames), PNG, WebP, BMP, TIFF.
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

pub fn load(screen: &str, cells: &str, threads: usize) -> Result<Analyzer, String> {
    load_with(screen, cells, threads, AnalyzeOptions::default())
}

fn load_with(screen: &str, cells: &str, threads: usize, opts: AnalyzeOptions) -> Result<Analyzer, String> {
    let s = hemalens_packs::resolve(screen).map_err(|e| format!("model `{screen}`: {e}"))?;
    let c = hemalens_packs::resolve(cells).map_err(|e| format!("model `{cells}`: {e}"))?;
    quietly(|| Analyzer::with_options(&s, &c, threads, opts)).map_err(|e| e.to_string())
}

fn options(args: &Args) -> Result<AnalyzeOptions, String> {
    let base = match &args.tune {
        Some(t) => serde_json::from_str(t).map_err(|e| format!("--tune: {e}"))?,
        None => AnalyzeOptions::default(),
    };
    if let Some(dir) = &args.dump_windows {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    Ok(AnalyzeOptions {
        classify: !args.detect_only,
        ignore_gate: args.ignore_gate,
        dump_windows: args.dump_windows.clone(),
        ..base
    })
}

pub fn run(args: Args) -> u8 {
    let site = match args.site.as_deref().map(crate::site::read_profile).transpose() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hemalens: {e}");
            return crate::EXIT_USAGE;
        }
    };
    let analyzer = match options(&args)
        .and_then(|o| load_with(&args.screen_model, &args.cell_model, args.threads, o))
        .and_then(|a| a.with_site(site).map_err(|e| e.to_string()))
    {
        Ok(a) => a,
        Err(e) => {
            eprintln!("hemalens: {e}");
            return crate::EXIT_USAGE;
        }
    };
    if let Some(dir) = &args.overlay {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("hemalens: cannot create {}: {e}", dir.display());
            return crate::EXIT_USAGE;
        }
    }
    let bar = if args.json || args.images.len() < 2 || !std::io::stderr().is_terminal() {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(args.images.len() as u64)
    };
    let mut failed = 0;
    for (i, path) in args.images.iter().enumerate() {
        let shown = path.display().to_string();
        match analyze_one(&analyzer, path, args.overlay.as_deref(), i) {
            Ok(v) => {
                if args.json {
                    output::line(&v);
                } else {
                    bar.suspend(|| println!("{}", summary(&shown, &v)));
                }
            }
            Err(e) => {
                failed += 1;
                if args.json {
                    output::line(&output::error(&shown, &e));
                } else {
                    bar.suspend(|| println!("{shown}: error: {e} ({})", e.kind()));
                }
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    quietly(|| drop(analyzer));
    if failed > 0 {
        crate::EXIT_INPUT_FAILED
    } else {
        0
    }
}

fn analyze_one(a: &Analyzer, path: &Path, overlay_dir: Option<&Path>, i: usize) -> Result<Value, Error> {
    let bytes = read_limited(path, a.options().decode.max_file_bytes)?;
    let analyzed = a.analyze_full(&bytes)?;
    drop(bytes);
    if let Some(dir) = overlay_dir {
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let png = overlay::render(&analyzed, &a.cells_manifest().labels);
        png.save(dir.join(format!("{i:04}-{stem}.png")))
            .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
    }
    let mut v = serde_json::to_value(&analyzed.report).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    if let Value::Object(m) = &mut v {
        let mut out = serde_json::Map::new();
        out.insert("path".into(), json!(path.display().to_string()));
        out.extend(std::mem::take(m));
        // The stages' times are for this command's reader, not for the records.
        out.insert("timing_ms".into(), json!(analyzed.timing_ms));
        v = Value::Object(out);
    }
    Ok(v)
}

fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, Error> {
    let len = std::fs::metadata(path)?.len();
    if len > limit {
        return Err(hemalens_core::photo::Error::FileTooLarge { bytes: len, limit }.into());
    }
    Ok(std::fs::read(path)?)
}

fn summary(path: &str, v: &Value) -> String {
    let q = &v["quality"];
    if q["ok"] != json!(true) {
        let codes: Vec<String> = q["issues"]
            .as_array()
            .map(|a| a.iter().filter_map(|i| i["code"].as_str().map(String::from)).collect())
            .unwrap_or_default();
        return format!("{path}: rejected ({})", codes.join(", "));
    }
    let cells = v["cells"].as_array().map(Vec::as_slice).unwrap_or_default();
    let far = cells.iter().filter(|c| beyond_familiarity_line(c["distance"].as_f64())).count();
    let n = cells.len();
    let far = if far > 0 { format!(" ({far} unfamiliar, not counted)") } else { String::new() };
    format!(
        "{path}: {n} white cell{}{far}; screen {} ({:.2}); rbc {:.1} px; {:.0} ms",
        if n == 1 { "" } else { "s" },
        v["screen"]["label"].as_str().unwrap_or("-"),
        v["screen"]["confidence"].as_f64().unwrap_or(0.0),
        v["scale"]["rbc_diameter_px"].as_f64().unwrap_or(0.0),
        v["timing_ms"]["total"].as_f64().unwrap_or(0.0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_cells_beyond_the_familiarity_line() {
        let v = |cells: Value| {
            json!({"quality": {"ok": true}, "cells": cells, "screen": {"label": "benign", "confidence": 0.99},
                   "scale": {"rbc_diameter_px": 90.0}, "timing_ms": {"total": 12.0}})
        };
        let both = v(json!([{"distance": 0.4}, {"distance": 1.04}, {"distance": null}]));
        assert_eq!(
            summary("p.jpg", &both),
            "p.jpg: 3 white cells (1 unfamiliar, not counted); screen benign (0.99); rbc 90.0 px; 12 ms"
        );
        assert_eq!(
            summary("p.jpg", &v(json!([{"distance": 1.0}]))),
            "p.jpg: 1 white cell; screen benign (0.99); rbc 90.0 px; 12 ms"
        );
        let rejected = json!({"quality": {"ok": false, "issues": [{"code": "unfamiliar_image"}]}});
        assert_eq!(summary("p.jpg", &rejected), "p.jpg: rejected (unfamiliar_image)");
    }
}
