//! A small safe layer over [`litert_sys`]: the LiteRT 2.1.4 C API (the TensorFlow
//! Lite interpreter), CPU only, XNNPACK kernels.
//!
//! The shape reads like the data flow: bytes or a file become a [`Model`], a model
//! and [`Options`] compile into an [`Engine`], and an engine runs many times over
//! buffers it allocated once.
//!
//! ```no_run
//! use hemalens_litert::{Engine, Options};
//! let mut engine = Engine::from_file("model.tflite", &Options { num_threads: 2 })?;
//! let input = vec![0u8; engine.input(0).byte_len()];
//! let mut output = vec![0u8; engine.output(0).byte_len()];
//! engine.run(&[&input], &mut [&mut output])?;
//! # Ok::<(), hemalens_litert::Error>(())
//! ```

#[cfg(feature = "native")]
mod engine;
mod error;
#[cfg(feature = "native")]
mod ffi;
mod tensor;

#[cfg(feature = "native")]
pub use engine::{Engine, Model, Options};
pub use error::Error;
#[cfg(feature = "native")]
pub use tensor::TensorInfo;
pub use tensor::{ElementType, Quantization};

/// The path the library was linked against at build time (for diagnostics).
pub const LINKED_LIBRARY: Option<&str> = option_env!("HEMALENS_LITERT_LIB");
