#![doc = include_str!("../README.md")]

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
pub mod preprocess;
pub mod probs;
pub mod session;
pub mod site;

pub use classify::{Classifier, Prediction};
/// Reading photos is its own crate (`hemalens-photo`): its decoders and their fuzz targets stand apart.
pub use decode::{decode_file, decode_image};
#[cfg(feature = "litert")]
pub use engine::LiteRt;
pub use engine::{EngineProvider, Runner, TensorSpec};
pub use error::{Error, ErrorKind};
pub use hemalens_photo as photo;
pub use hemalens_photo::{DecodeLimits, Photo};
pub use pack::{Manifest, Pack};

/// The version of this core, carried into every result's provenance.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
