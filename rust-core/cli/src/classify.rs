use crate::output;
use crate::quiet::quietly;
use hemalens_core::site::Adjustment;
use hemalens_core::{decode_file, Classifier, DecodeLimits, Error};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model pack: an embedded pack id (see `hemalens models`) or a pack directory.
    #[arg(long, short)]
    model: String,
    /// CPU threads for inference.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// A site profile: its adjustment of this pack is applied (`hemalens site calibrate --out`).
    #[arg(long)]
    site: Option<PathBuf>,
    /// One JSON object per line per input, in input order.
    #[arg(long)]
    json: bool,
    /// Write each input's tensor and raw output here (`NNNN.input.bin`, `NNNN.output.bin`).
    #[arg(long, hide = true)]
    dump_tensors: Option<PathBuf>,
    /// Images (JPEG, PNG, WebP, BMP, TIFF).
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

pub fn run(args: Args) -> u8 {
    let classifier = match load(&args.model, args.threads) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hemalens: model `{}`: {e}", args.model);
            return crate::EXIT_USAGE;
        }
    };
    let adjust = match args.site.as_deref().map(|p| site_adjustment(p, classifier.manifest())).transpose() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("hemalens: {e}");
            return crate::EXIT_USAGE;
        }
    };
    if let Some(dir) = &args.dump_tensors {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("hemalens: cannot create {}: {e}", dir.display());
            return crate::EXIT_USAGE;
        }
    }
    let bar = progress(&args);
    let limits = DecodeLimits::default();
    let manifest = classifier.manifest();
    let mut failed = 0usize;
    if !args.json {
        println!("{:<40} {:<24} {:>10}", "image", "label", "confidence");
    }
    for (i, path) in args.images.iter().enumerate() {
        let shown = path.display().to_string();
        let dump = args.dump_tensors.as_ref().map(|d| (d, i));
        let result = classify_one(&classifier, path, &limits, dump, adjust.as_ref());
        match result {
            Ok((p, distance)) => {
                if args.json {
                    output::line(&json!({
                        "path": shown,
                        "label": p.label,
                        "confidence": p.confidence,
                        "probs": output::probs(manifest, &p),
                        "distance": distance,
                        "model": output::model(manifest),
                    }));
                } else {
                    bar.suspend(|| println!("{:<40} {:<24} {:>10.3}", shown, p.label, p.confidence));
                }
            }
            Err(e) => {
                failed += 1;
                if args.json {
                    output::line(&output::error(&shown, &e));
                } else {
                    bar.suspend(|| println!("{:<40} error: {} ({})", shown, e, e.kind()));
                }
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    quietly(|| drop(classifier));
    if failed > 0 {
        crate::EXIT_INPUT_FAILED
    } else {
        0
    }
}

pub fn load(spec: &str, threads: usize) -> Result<Classifier, Error> {
    let pack = hemalens_packs::resolve(spec)?;
    quietly(|| Classifier::new(&pack, threads))
}

fn classify_one(
    c: &Classifier,
    path: &std::path::Path,
    limits: &DecodeLimits,
    dump: Option<(&PathBuf, usize)>,
    adjust: Option<&Adjustment>,
) -> Result<(hemalens_core::Prediction, Option<f64>), Error> {
    let img = decode_file(path, limits)?;
    let tensor = c.prepare(&img)?;
    drop(img);
    let raw = c.run_tensors(&[&tensor])?.into_iter().next().unwrap_or_default();
    if let Some((dir, i)) = dump {
        std::fs::write(dir.join(format!("{i:04}.input.bin")), &tensor)?;
        let (logits, embedding, style) = c.split(&raw);
        std::fs::write(dir.join(format!("{i:04}.output.bin")), logits)?;
        if !embedding.is_empty() {
            std::fs::write(dir.join(format!("{i:04}.embedding.bin")), embedding)?;
        }
        if !style.is_empty() {
            std::fs::write(dir.join(format!("{i:04}.style.bin")), style)?;
        }
    }
    Ok((c.interpret_at(&raw, adjust), c.distance_at(&raw, adjust)))
}

/// The profile's adjustment of the pack `m` (the profile names the packs it was fitted for).
fn site_adjustment(path: &std::path::Path, m: &hemalens_core::Manifest) -> Result<Adjustment, String> {
    let p = crate::site::read_profile(path)?;
    let i = p.packs.iter().position(|r| r.id == m.id && r.sha256 == m.sha256).ok_or_else(|| {
        "site profile: it was calibrated for other model packs: calibrate the site again".to_string()
    })?;
    Ok(if i == 0 { p.screen } else { p.cells })
}

fn progress(args: &Args) -> ProgressBar {
    if args.json || args.images.len() < 2 || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(args.images.len() as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} images, {eta} left") {
        bar.set_style(style);
    }
    bar
}
