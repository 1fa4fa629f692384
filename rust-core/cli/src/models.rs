use serde_json::json;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// One JSON object per pack.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> u8 {
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
