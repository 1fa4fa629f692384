//! The model-pack manifest, `docs/model-pack.md` as types.
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub schema: u32,
    pub id: String,
    pub version: String,
    pub task: Task,
    #[serde(default)]
    pub description: String,
    pub labels: Vec<String>,
    pub model_file: String,
    pub sha256: String,
    pub input: InputSpec,
    pub output: OutputSpec,
    pub calibration: Calibration,
    #[serde(default)]
    pub thresholds: BTreeMap<String, f64>,
    #[serde(default)]
    pub provenance: serde_json::Value,
    #[serde(default)]
    pub metrics: serde_json::Value,
    /// How far an input lies from the pack's training data (a second output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub familiarity: Option<crate::familiar::Familiarity>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    FieldScreen,
    CellType,
    Test,
}

impl Task {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FieldScreen => "field_screen",
            Self::CellType => "cell_type",
            Self::Test => "test",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DType {
    Int8,
    Uint8,
    Float32,
}

impl DType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Int8 => "int8",
            Self::Uint8 => "uint8",
            Self::Float32 => "float32",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColorOrder {
    Rgb,
    Bgr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resize {
    /// Tent filter scaled to the reduction (PIL BILINEAR, image-rs Triangle).
    Triangle,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalization {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantParams {
    pub scale: f32,
    pub zero_point: i64,
}

/// A rectangle in relative coordinates of the resized input, filled before normalisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mask {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
    pub fill: [u8; 3],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub width: u32,
    pub height: u32,
    pub channels: u32,
    pub batch: u32,
    pub color_order: ColorOrder,
    pub dtype: DType,
    pub resize: Resize,
    pub normalization: Normalization,
    #[serde(default)]
    pub quantization: Option<QuantParams>,
    #[serde(default)]
    pub masks: Vec<Mask>,
    /// Red-cell diameter in input pixels: the physical scale the model expects.
    pub rbc_diameter_px: Option<f64>,
    /// White-cell diameter in input pixels, for crop models.
    #[serde(default)]
    pub cell_diameter_px: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    Logits,
    Probabilities,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    pub dtype: DType,
    pub kind: OutputKind,
    #[serde(default)]
    pub quantization: Option<QuantParams>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    pub temperature: f64,
}
