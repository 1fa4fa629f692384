//! What the field pipeline says about one photo: the `hemalens analyze` JSON
//! object (minus `path`), as plain data that crosses every boundary unchanged.
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
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
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
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
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct QualityIssue {
    /// Stable machine code, e.g. `out_of_focus`.
    pub code: IssueCode,
    /// One sentence a health worker can act on.
    pub message: String,
}

/// The round eyepiece aperture, in displayed-photo pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Fov {
    pub cx: f64,
    pub cy: f64,
    pub r: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Scale {
    /// Red-cell diameter in displayed-photo pixels, measured from the photo.
    pub rbc_diameter_px: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Cell {
    /// In the photo as displayed (after EXIF orientation); `[x, y, w, h]` in JSON.
    pub bbox: Bbox,
    pub label: String,
    pub confidence: f64,
    pub probs: Probs,
    /// How far the crop lies from what the cell pack was trained on (1.0 is
    /// the line; beyond it the cell is unfamiliar and kept out of the
    /// differential). Null for a pack without an embedding.
    #[serde(default)]
    pub distance: Option<f64>,
}

/// The familiarity line: a `distance` (score over the pack's fitted line) above
/// it lies beyond what the pack was trained and calibrated on.
pub const FAMILIARITY_LINE: f64 = 1.0;

/// Whether a pack's `distance` lies beyond the familiarity line (none, from a
/// pack without an embedding, never does).
pub fn beyond_familiarity_line(distance: Option<f64>) -> bool {
    distance.is_some_and(|d| d > FAMILIARITY_LINE)
}

impl Cell {
    /// Beyond the cell pack's familiarity line: no evidence either way.
    pub fn unfamiliar(&self) -> bool {
        beyond_familiarity_line(self.distance)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
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
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ModelRef {
    pub id: String,
    pub version: String,
    pub sha256: String,
}

/// A box in photo pixels; `[x, y, w, h]` in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "[u32; 4]", into = "[u32; 4]")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Bbox {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl From<[u32; 4]> for Bbox {
    fn from([x, y, w, h]: [u32; 4]) -> Self {
        Self { x, y, w, h }
    }
}

impl From<Bbox> for [u32; 4] {
    fn from(b: Bbox) -> Self {
        [b.x, b.y, b.w, b.h]
    }
}

/// Why a photo cannot be used: the quality gate's stable codes (snake_case in
/// JSON, e.g. `out_of_focus`), each with a sentence a health worker can act on
/// ([`crate::field::quality::issue`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum IssueCode {
    NotASmear,
    NoCells,
    TooDark,
    BurntOut,
    OutOfFocus,
    FovTooSmall,
    FovOffCentre,
    TooSparse,
    TooCrowded,
    ScaleUnknown,
    UnfamiliarImage,
}

impl IssueCode {
    pub const ALL: [IssueCode; 11] = [
        Self::NotASmear,
        Self::NoCells,
        Self::TooDark,
        Self::BurntOut,
        Self::OutOfFocus,
        Self::FovTooSmall,
        Self::FovOffCentre,
        Self::TooSparse,
        Self::TooCrowded,
        Self::ScaleUnknown,
        Self::UnfamiliarImage,
    ];

    /// The code of a JSON name, e.g. `out_of_focus`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The JSON name, e.g. `out_of_focus`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotASmear => "not_a_smear",
            Self::NoCells => "no_cells",
            Self::TooDark => "too_dark",
            Self::BurntOut => "burnt_out",
            Self::OutOfFocus => "out_of_focus",
            Self::FovTooSmall => "fov_too_small",
            Self::FovOffCentre => "fov_off_centre",
            Self::TooSparse => "too_sparse",
            Self::TooCrowded => "too_crowded",
            Self::ScaleUnknown => "scale_unknown",
            Self::UnfamiliarImage => "unfamiliar_image",
        }
    }
}

impl fmt::Display for IssueCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One label and its probability.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct LabelProb {
    pub label: String,
    pub prob: f64,
}

impl LabelProb {
    pub fn new(label: impl Into<String>, prob: f64) -> Self {
        Self { label: label.into(), prob }
    }
}

/// Label → probability, in the model's label order (a JSON object whose key order
/// is kept both ways; a list of [`LabelProb`] across the bindings).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Probs(pub Vec<LabelProb>);

#[cfg(feature = "uniffi")]
uniffi::custom_newtype!(Probs, Vec<LabelProb>);

impl Probs {
    pub fn get(&self, label: &str) -> Option<f64> {
        self.0.iter().find(|l| l.label == label).map(|l| l.prob)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.0.iter().map(|l| (l.label.as_str(), l.prob))
    }
}

impl FromIterator<(String, f64)> for Probs {
    fn from_iter<I: IntoIterator<Item = (String, f64)>>(it: I) -> Self {
        Probs(it.into_iter().map(|(label, prob)| LabelProb { label, prob }).collect())
    }
}

impl Serialize for Probs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for l in &self.0 {
            m.serialize_entry(&l.label, &l.prob)?;
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
                while let Some((label, prob)) = map.next_entry::<String, f64>()? {
                    v.push(LabelProb { label, prob });
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
        let p: Probs = [("z".into(), 0.5), ("a".into(), 0.25), ("m".into(), 0.25)].into_iter().collect();
        let s = serde_json::to_string(&p).unwrap();
        assert_eq!(s, r#"{"z":0.5,"a":0.25,"m":0.25}"#);
        assert_eq!(serde_json::from_str::<Probs>(&s).unwrap(), p);
    }

    #[test]
    fn boxes_and_codes_keep_their_json_shape() {
        let b = Bbox { x: 1, y: 2, w: 3, h: 4 };
        assert_eq!(serde_json::to_string(&b).unwrap(), "[1,2,3,4]");
        assert_eq!(serde_json::from_str::<Bbox>("[1,2,3,4]").unwrap(), b);
        for c in IssueCode::ALL {
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{}\"", c.as_str()));
        }
    }
}
