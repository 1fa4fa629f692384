//! JSON shapes shared by the subcommands.
use hemalens_core::{Error, Manifest, Prediction};
use serde_json::{json, Map, Value};

pub fn probs(manifest: &Manifest, p: &Prediction) -> Value {
    let mut m = Map::new();
    for (label, v) in manifest.labels.iter().zip(&p.probs) {
        m.insert(label.clone(), json!(v));
    }
    Value::Object(m)
}

pub fn model(manifest: &Manifest) -> Value {
    json!({"id": manifest.id, "version": manifest.version})
}

pub fn error(path: &str, e: &Error) -> Value {
    json!({"path": path, "error": {"kind": e.kind().as_str(), "message": e.to_string()}})
}

/// Prints one JSON object as one line.
pub fn line(v: &Value) {
    println!("{}", serde_json::to_string(v).unwrap_or_else(|_| "{}".into()));
}
