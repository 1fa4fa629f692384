//! The model packs that ship inside the binary: every `models/<id>/` at build time.
//!
//! Phones bundle the same files as app assets and load them with
//! [`hemalens_core::Pack::from_parts`]; this crate is for the command line.
use hemalens_core::pack::Origin;
use hemalens_core::{Error, Pack};
use std::path::Path;

struct Embedded {
    id: &'static str,
    manifest: &'static str,
    model: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// Ids of the embedded packs, sorted.
pub fn ids() -> Vec<&'static str> {
    EMBEDDED.iter().map(|e| e.id).collect()
}

/// An embedded pack by id (checksum verified).
pub fn builtin(id: &str) -> Result<Pack, Error> {
    let e = EMBEDDED.iter().find(|e| e.id == id).ok_or_else(|| Error::PackNotFound(id.to_string()))?;
    Pack::from_parts(e.manifest, e.model, Origin::Builtin)
}

/// Resolves `--model`: an embedded pack id, or a path to a pack directory (or
/// to its manifest.json).
pub fn resolve(spec: &str) -> Result<Pack, Error> {
    if EMBEDDED.iter().any(|e| e.id == spec) {
        return builtin(spec);
    }
    let path = Path::new(spec);
    if path.is_dir() {
        return Pack::from_dir(path);
    }
    if path.file_name().is_some_and(|n| n == "manifest.json") {
        if let Some(dir) = path.parent() {
            return Pack::from_dir(if dir.as_os_str().is_empty() { Path::new(".") } else { dir });
        }
    }
    Err(Error::PackNotFound(spec.to_string()))
}

/// Every embedded pack, in id order.
pub fn all() -> Vec<Result<Pack, Error>> {
    EMBEDDED.iter().map(|e| builtin(e.id)).collect()
}
