//! What the field pipeline says about one photo: the `hemalens analyze` JSON
//! object (minus `path`), as plain data that crosses every boundary unchanged.
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldReport {
    pub quality: Quality,
    /// Null when the photo failed the gate before scale could be measured.
    pub scale: Option<Scale>,
    /// Empty when the photo failed the quality gate.
    pub cells: Vec<Cell>,
    /// Null when the photo failed the quality gate.
    pub screen: Option<Screen>,
    /// Which packs produced this (id, version, sha256).
    pub models: Vec<ModelRef>,
    /// The site profile applied, if any ([`crate::site`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<crate::site::SiteRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    pub ok: bool,
    pub issues: Vec<QualityIssue>,
    /// Focus measure (higher is sharper), in the units the gate's thresholds use.
    pub focus: f64,
    /// Median brightness of the field of view, 0..1.
    pub exposure: f64,
    pub fov: Option<Fov>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QualityIssue {
    /// Stable machine code, e.g. `out_of_focus`.
    pub code: String,
    /// One sentence a health worker can act on.
    pub message: String,
}

/// The round eyepiece aperture, in displayed-photo pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fov {
    pub cx: f64,
    pub cy: f64,
    pub r: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scale {
    /// Red-cell diameter in displayed-photo pixels, measured from the photo.
    pub rbc_diameter_px: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// `[x, y, w, h]` in the photo as displayed (after EXIF orientation).
    pub bbox: [u32; 4],
    pub label: String,
    pub confidence: f64,
    pub probs: Probs,
    /// How far the crop lies from what the cell pack was trained on (1.0 is
    /// the line; beyond it the cell is unfamiliar and kept out of the
    /// differential). Null for a pack without an embedding.
    #[serde(default)]
    pub distance: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Screen {
    pub label: String,
    pub confidence: f64,
    pub probs: Probs,
    /// How many field-of-view tiles were classified and averaged.
    pub tiles: u32,
    /// The tiles' mean distance from the screening pack's training data (1.0
    /// is the line; a field beyond it fails the gate as `unfamiliar_image`).
    #[serde(default)]
    pub distance: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRef {
    pub id: String,
    pub version: String,
    pub sha256: String,
}

/// Label → probability, in the model's label order (a JSON object whose key order
/// is kept both ways).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Probs(pub Vec<(String, f64)>);

impl Probs {
    pub fn get(&self, label: &str) -> Option<f64> {
        self.0.iter().find(|(l, _)| l == label).map(|(_, p)| *p)
    }
}

impl Serialize for Probs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Probs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Probs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of label to probability")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Probs, A::Error> {
                let mut v = Vec::new();
                while let Some((k, p)) = map.next_entry::<String, f64>()? {
                    v.push((k, p));
                }
                Ok(Probs(v))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probs_keep_their_order_through_json() {
        let p = Probs(vec![("z".into(), 0.5), ("a".into(), 0.25), ("m".into(), 0.25)]);
        let s = serde_json::to_string(&p).unwrap();
        assert_eq!(s, r#"{"z":0.5,"a":0.25,"m":0.25}"#);
        assert_eq!(serde_json::from_str::<Probs>(&s).unwrap(), p);
    }
}
