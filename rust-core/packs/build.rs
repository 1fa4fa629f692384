//! Embeds every pack under `models/<id>/` (manifest.json + the model it names).
use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("../../models");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut code = String::from("pub(crate) static EMBEDDED: &[Embedded] = &[\n");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("manifest.json").is_file())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    for dir in dirs {
        let manifest = dir.join("manifest.json");
        println!("cargo:rerun-if-changed={}", manifest.display());
        let text = std::fs::read_to_string(&manifest).unwrap_or_default();
        let v: serde_json::Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                println!("cargo:warning=skipping {}: {e}", manifest.display());
                continue;
            }
        };
        let (Some(id), Some(file)) = (v["id"].as_str(), v["model_file"].as_str()) else {
            println!("cargo:warning=skipping {}: no id or model_file", manifest.display());
            continue;
        };
        let model = dir.join(file);
        println!("cargo:rerun-if-changed={}", model.display());
        if !model.is_file() {
            println!("cargo:warning=skipping {}: {} missing", manifest.display(), model.display());
            continue;
        }
        let _ = writeln!(
            code,
            "    Embedded {{ id: {id:?}, manifest: include_str!({:?}), model: include_bytes!({:?}) }},",
            manifest.canonicalize().unwrap_or(manifest.clone()),
            model.canonicalize().unwrap_or(model.clone())
        );
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("embedded.rs");
    if let Err(e) = std::fs::write(&out, code) {
        println!("cargo:warning=cannot write {}: {e}", out.display());
    }
}
