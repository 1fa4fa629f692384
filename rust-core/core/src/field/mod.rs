//! The field pipeline: one photo through the eyepiece to a [`FieldReport`].
//!
//! Stages, in the order a photo goes through them: [`crate::photo`] →
//! [`fov`] → [`scale`] → work image → [`colour`] → [`quality`] → [`detect`] →
//! classification (crops and tiles, in [`analyze`]) → [`overlay`] for people.
//! See docs/field-pipeline.md.
pub mod analyze;
pub mod colour;
pub mod detect;
pub mod fov;
pub mod overlay;
pub(crate) mod parallel;
pub mod preview;
pub mod quality;
pub(crate) mod raster;
pub mod report;
pub mod scale;

pub use analyze::{AnalyzeOptions, Analyzed, Analyzer, GATE_LOG};
pub use report::{
    beyond_familiarity_line, Bbox, Cell, FieldReport, Fov, IssueCode, LabelProb, ModelRef, Probs, Quality,
    QualityIssue, Scale, Screen,
};
