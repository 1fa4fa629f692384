use serde_json::json;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// One JSON object per pack.
    #[arg(long)]
    json: bool,
    /// Check these packs (directories or embedded ids) instead of listing the
    /// embedded ones: each is loaded, compiled, checked against its model's
    /// real tensors and run once; one line each (the error's kind where it
    /// fails), and the others go on.
    #[arg(long, num_args = 1.., value_name = "PACK")]
    check: Vec<String>,
}

pub fn run(args: Args) -> u8 {
    if !args.check.is_empty() {
        return check(&args.check, args.json);
    }
    let packs = hemalens_packs::all();
    if packs.is_empty() {
        eprintln!("hemalens: no model packs were embedded in this build (models/ was empty)");
        return 0;
    }
    if !args.json {
        println!(
            "{:<12} {:<8} {:<13} {:>9} {:>7} {:>9}  {:<16} labels",
            "id", "version", "task", "input", "batch", "rbc px", "sha256"
        );
    }
    let mut code = 0;
    for p in packs {
        let pack = match p {
            Ok(p) => p,
            Err(e) => {
                eprintln!("hemalens: an embedded pack is broken: {e}");
                code = crate::EXIT_USAGE;
                continue;
            }
        };
        let m = pack.manifest();
        if args.json {
            crate::output::line(&json!({
                "id": m.id, "version": m.version, "task": m.task.as_str(), "labels": m.labels,
                "input": {"width": m.input.width, "height": m.input.height, "batch": m.input.batch,
                          "dtype": m.input.dtype.as_str(), "rbc_diameter_px": m.input.rbc_diameter_px},
                "temperature": m.calibration.temperature, "sha256": m.sha256, "bytes": pack.model_bytes().len(),
                "metrics": m.metrics,
            }));
        } else {
            println!(
                "{:<12} {:<8} {:<13} {:>9} {:>7} {:>9}  {:<16} {}",
                m.id,
                m.version,
                m.task.as_str(),
                format!("{}x{}", m.input.width, m.input.height),
                m.input.batch,
                m.input.rbc_diameter_px.map(|d| format!("{d:.1}")).unwrap_or_else(|| "-".into()),
                &m.sha256[..16.min(m.sha256.len())],
                m.labels.join(", ")
            );
        }
    }
    code
}

/// Loads, compiles and runs each pack once; 0 when all pass, 1 otherwise.
fn check(specs: &[String], json: bool) -> u8 {
    let mut code = 0;
    for spec in specs {
        match check_one(spec) {
            Ok((id, labels)) => {
                if json {
                    crate::output::line(&json!({"path": spec, "ok": true, "id": id, "labels": labels}));
                } else {
                    println!("{spec}: ok ({id}, {labels} labels)");
                }
            }
            Err(e) => {
                code = 1;
                if json {
                    crate::output::line(&crate::output::error(spec, &e));
                } else {
                    println!("{spec}: {} ({e})", e.kind());
                }
            }
        }
    }
    code
}

fn check_one(spec: &str) -> Result<(String, usize), hemalens_core::Error> {
    let pack = hemalens_packs::resolve(spec)?;
    let classifier = hemalens_core::Classifier::new(&pack, 1)?;
    let grey = image::RgbImage::from_pixel(64, 64, image::Rgb([128, 128, 128]));
    classifier.classify(&[&grey])?;
    let m = classifier.manifest();
    Ok((m.id.clone(), m.labels.len()))
}
