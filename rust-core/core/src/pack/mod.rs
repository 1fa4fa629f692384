//! A model pack: manifest plus model bytes, checked against each other.
mod manifest;

pub use manifest::{
    Calibration, ColorOrder, DType, InputSpec, Manifest, Mask, Normalization, OutputKind, OutputSpec,
    QuantParams, Resize, Task, SCHEMA,
};

use crate::engine::TensorSpec;
use crate::error::Error;
use hemalens_litert::ElementType;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A pack whose manifest parsed, whose fields are consistent and whose model
/// bytes have the checksum the manifest names. Tensor checks happen when it is
/// compiled ([`crate::Classifier::new`]), against the real model.
#[derive(Debug, Clone)]
pub struct Pack {
    manifest: Manifest,
    model: Arc<[u8]>,
    origin: Origin,
}

/// Where a pack came from, for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Builtin,
    Directory(PathBuf),
}

impl Pack {
    /// Builds a pack from a manifest's JSON text and the model's bytes.
    pub fn from_parts(
        manifest_json: &str,
        model: impl Into<Arc<[u8]>>,
        origin: Origin,
    ) -> Result<Self, Error> {
        let manifest: Manifest =
            serde_json::from_str(manifest_json).map_err(|e| Error::Manifest(e.to_string()))?;
        let model = model.into();
        validate(&manifest)?;
        let got = hex::encode(Sha256::digest(&model));
        if !got.eq_ignore_ascii_case(&manifest.sha256) {
            return Err(Error::mismatch(
                "sha256",
                format!("model file has sha256 {got}, manifest says {}", manifest.sha256),
            ));
        }
        Ok(Self { manifest, model, origin })
    }

    /// Loads `dir/manifest.json` and the model file it names.
    pub fn from_dir(dir: &Path) -> Result<Self, Error> {
        let manifest_path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&manifest_path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::PackNotFound(dir.display().to_string()),
            _ => Error::Io(e),
        })?;
        let probe: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Error::Manifest(e.to_string()))?;
        let file = probe
            .get("model_file")
            .and_then(|v| v.as_str())
            .ok_or_else(|| Error::Manifest("missing field `model_file`".into()))?;
        if file.contains('/') || file.contains('\\') || file.starts_with('.') {
            return Err(Error::Manifest("`model_file` must be a plain file name in the pack".into()));
        }
        let model = std::fs::read(dir.join(file))?;
        Self::from_parts(&text, model, Origin::Directory(dir.to_path_buf()))
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn model_bytes(&self) -> &[u8] {
        &self.model
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// Checks a loaded model's real tensors, as its engine reports them
    /// ([`crate::engine::Runner`]), against the manifest.
    pub fn check_engine(&self, inputs: &[TensorSpec], outputs: &[TensorSpec]) -> Result<(), Error> {
        let m = &self.manifest;
        let [i] = inputs else {
            return Err(Error::mismatch("input", format!("model has {} inputs, expected 1", inputs.len())));
        };
        let style = m.familiarity.as_ref().and_then(|f| f.style.as_deref());
        let n_out = 1 + usize::from(m.familiarity.is_some()) + usize::from(style.is_some());
        if outputs.len() != n_out {
            return Err(Error::mismatch(
                "output",
                format!("model has {} outputs, the manifest describes {n_out}", outputs.len()),
            ));
        }
        let want = [
            m.input.batch as usize,
            m.input.height as usize,
            m.input.width as usize,
            m.input.channels as usize,
        ];
        if i.shape != want {
            let field =
                if i.shape.first() != Some(&want[0]) { "input.batch" } else { "input.width/height/channels" };
            return Err(Error::mismatch(
                field,
                format!("model input shape is {:?}, manifest says {want:?}", i.shape),
            ));
        }
        check_dtype("input.dtype", i, m.input.dtype)?;
        check_quant("input.quantization", i, m.input.quantization)?;
        let o = &outputs[0];
        let want_out = [m.input.batch as usize, m.labels.len()];
        if o.shape != want_out {
            return Err(Error::mismatch(
                "labels",
                format!("model output shape is {:?}, manifest has {} labels", o.shape, m.labels.len()),
            ));
        }
        check_dtype("output.dtype", o, m.output.dtype)?;
        check_quant("output.quantization", o, m.output.quantization)?;
        let gaussians =
            [("familiarity", "second", m.familiarity.as_ref()), ("familiarity.style", "third", style)];
        for (name, nth, f) in gaussians {
            let Some(f) = f else { continue };
            let Some(e) = outputs.get(f.output) else {
                return Err(Error::mismatch(
                    format!("{name}.output"),
                    format!("the model has no {nth} output"),
                ));
            };
            if e.shape != [m.input.batch as usize, f.dim] {
                return Err(Error::mismatch(
                    format!("{name}.dim"),
                    format!("model's {nth} output has shape {:?}, manifest says {} features", e.shape, f.dim),
                ));
            }
            check_dtype(&format!("{name}.dtype"), e, m.output.dtype)?;
            check_quant(&format!("{name}.quantization"), e, Some(f.quantization))?;
        }
        Ok(())
    }
}

fn validate(m: &Manifest) -> Result<(), Error> {
    let bad = |field: &str, problem: &str| Err(Error::mismatch(field, problem));
    if m.schema != SCHEMA {
        return bad("schema", "unsupported manifest schema version");
    }
    if m.id.is_empty() || !m.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return bad("id", "must be non-empty ASCII letters, digits, '-' or '_'");
    }
    if m.labels.len() < 2 {
        return bad("labels", "need at least two labels");
    }
    // Two classes of one name would be counted as one (the differential, the
    // referral rule, a reviewer's relabelling all go by name).
    let mut seen = std::collections::HashSet::new();
    if m.labels.iter().any(|l| l.trim().is_empty() || !seen.insert(l.as_str())) {
        return bad("labels", "labels must be non-empty and distinct");
    }
    let i = &m.input;
    if i.width == 0 || i.height == 0 || i.batch == 0 || i.channels != 3 {
        return bad("input", "width, height and batch must be positive and channels 3");
    }
    if i.normalization.std.iter().any(|s| !s.is_finite() || *s == 0.0) {
        return bad("input.normalization.std", "must be finite and non-zero");
    }
    if i.dtype != DType::Float32 && i.quantization.is_none() {
        return bad("input.quantization", "required for a quantised input");
    }
    if m.output.dtype != DType::Float32 && m.output.quantization.is_none() {
        return bad("output.quantization", "required for a quantised output");
    }
    for q in [i.quantization, m.output.quantization].into_iter().flatten() {
        if !(q.scale.is_finite() && q.scale > 0.0) {
            return bad("quantization.scale", "must be positive");
        }
    }
    for mask in &i.masks {
        let ok = [mask.x, mask.y, mask.w, mask.h].iter().all(|v| (0.0..=1.0).contains(v))
            && mask.x + mask.w <= 1.0 + 1e-6
            && mask.y + mask.h <= 1.0 + 1e-6;
        if !ok {
            return bad("input.masks", "rectangles must lie within 0..1");
        }
    }
    if !(m.calibration.temperature.is_finite() && m.calibration.temperature > 0.0) {
        return bad("calibration.temperature", "must be positive");
    }
    if let Some(f) = &m.familiarity {
        f.validate()?;
    }
    Ok(())
}

fn check_dtype(field: &str, t: &TensorSpec, want: DType) -> Result<(), Error> {
    let ok = matches!(
        (t.element_type, want),
        (ElementType::Int8, DType::Int8)
            | (ElementType::UInt8, DType::Uint8)
            | (ElementType::Float32, DType::Float32)
    );
    if ok {
        Ok(())
    } else {
        Err(Error::mismatch(
            field,
            format!("model has {}, manifest says {}", t.element_type.name(), want.as_str()),
        ))
    }
}

fn check_quant(field: &str, t: &TensorSpec, want: Option<QuantParams>) -> Result<(), Error> {
    match (t.quantization, want) {
        (None, None) => Ok(()),
        (Some(q), Some(w)) => {
            let rel = ((q.scale - w.scale) / q.scale).abs();
            // A NaN scale (from a foreign engine) is a mismatch too.
            if rel.is_nan() || rel > 1e-5 || q.zero_point != w.zero_point {
                Err(Error::mismatch(
                    field,
                    format!(
                        "model has scale {} zero point {}, manifest says scale {} zero point {}",
                        q.scale, q.zero_point, w.scale, w.zero_point
                    ),
                ))
            } else {
                Ok(())
            }
        }
        (Some(_), None) => Err(Error::mismatch(field, "model is quantised, manifest gives no parameters")),
        (None, Some(_)) => Err(Error::mismatch(field, "model is not quantised, manifest gives parameters")),
    }
}
