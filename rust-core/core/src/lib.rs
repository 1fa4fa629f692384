#![doc = include_str!("../README.md")]

// libjpeg's fatal errors unwind out of the C code to a Rust handler and become
// typed errors (`photo/libjpeg.rs`). With `panic = "abort"` that unwinding is
// impossible and one corrupt JPEG would kill the app: refuse to build so.
#[cfg(panic = "abort")]
compile_error!("hemalens-core needs panic = \"unwind\": libjpeg's errors unwind to a Rust handler");

#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!("hemalens_core");

pub mod classify;
pub mod decode;
pub mod engine;
mod error;
pub mod familiar;
pub mod field;
mod helper;
pub mod pack;
pub mod photo;
pub mod preprocess;
pub mod probs;
pub mod session;
pub mod site;

pub use classify::{Classifier, Prediction};
pub use decode::{decode_file, decode_image, DecodeLimits};
#[cfg(feature = "litert")]
pub use engine::LiteRt;
pub use engine::{EngineProvider, Runner, TensorSpec};
pub use error::{Error, ErrorKind};
pub use pack::{Manifest, Pack};
pub use photo::Photo;

/// The version of this core, carried into every result's provenance.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
