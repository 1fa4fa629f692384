//! An inference engine the app provides: the platform's own TensorFlow Lite
//! (iOS) or LiteRT from its AAR (Android), driven through a foreign trait.
//!
//! The trait deals in handles and plain bytes so that any platform can
//! implement it in a few lines; the adapter below makes it the core's
//! [`EngineProvider`]. The core checks what the engine reports against each
//! pack's manifest and every answer against the tensors' sizes, so a wrong
//! engine gives `ModelProblem`, never a crash. Errors the app's engine raises
//! are replaced by our own sentences: its text never crosses back.
use crate::error::HemalensError;
use hemalens_core::engine::{ElementType, EngineProvider, Quantization, Runner, TensorSpec};
use hemalens_core::Error as CoreError;
use std::fmt;
use std::sync::Arc;

/// The element types a pack's tensors may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TensorElement {
    Float32,
    Int8,
    Uint8,
    Int32,
}

/// One input or output tensor of a loaded model.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TensorDesc {
    /// Every dimension fixed, batch first (e.g. `[1, 128, 128, 3]`).
    pub shape: Vec<u32>,
    pub element_type: TensorElement,
    /// Per-tensor quantisation, `real = (q - zero_point) * scale`: the tensor
    /// is quantised when `scale` is given (`zero_point` then defaults to 0).
    #[uniffi(default = None)]
    pub scale: Option<f32>,
    #[uniffi(default = None)]
    pub zero_point: Option<i64>,
}

/// A loaded model's tensors, each list in the model's own order (the
/// signature's, as TensorFlow Lite lists them).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ModelTensors {
    pub inputs: Vec<TensorDesc>,
    pub outputs: Vec<TensorDesc>,
}

/// A TensorFlow Lite interpreter provided by the app. Each model the core
/// loads gets a handle of the engine's choosing; the core calls `run` on one
/// handle from one thread at a time (different handles may run at once) and
/// `release` once when it no longer needs the handle.
#[uniffi::export(foreign)]
pub trait PlatformEngine: Send + Sync {
    /// Loads a `.tflite` model to run on `threads` CPU threads; returns its handle.
    fn load(&self, model: Vec<u8>, threads: u32) -> Result<u64, HemalensError>;
    /// The loaded model's input and output tensors.
    fn tensors(&self, model: u64) -> Result<ModelTensors, HemalensError>;
    /// Runs the model on its one input tensor's bytes; returns every output
    /// tensor's bytes, in the order `tensors` lists them.
    fn run(&self, model: u64, input: Vec<u8>) -> Result<Vec<Vec<u8>>, HemalensError>;
    /// Frees the model. An error here is ignored (the core has let go of it).
    fn release(&self, model: u64) -> Result<(), HemalensError>;
}

/// Something the foreign side did not declare (a stray exception, a value
/// of the wrong type): it reaches us as this, and counts as a bug.
impl From<uniffi::UnexpectedUniFFICallbackError> for HemalensError {
    fn from(_: uniffi::UnexpectedUniFFICallbackError) -> Self {
        HemalensError::internal("the app's inference engine failed unexpectedly")
    }
}

fn platform(what: &str) -> CoreError {
    CoreError::Engine(format!("platform engine: {what}"))
}

/// The app's engine as the core's [`EngineProvider`].
pub(crate) struct Platform(pub(crate) Arc<dyn PlatformEngine>);

impl fmt::Debug for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Platform").finish_non_exhaustive()
    }
}

impl EngineProvider for Platform {
    fn load(&self, model: &[u8], threads: usize) -> Result<Box<dyn Runner>, CoreError> {
        let threads = u32::try_from(threads).unwrap_or(u32::MAX);
        let handle =
            self.0.load(model.to_vec(), threads).map_err(|_| platform("the model could not be loaded"))?;
        // From here the handle is released on every path (Drop).
        let mut runner =
            PlatformRunner { engine: Arc::clone(&self.0), handle, inputs: Vec::new(), outputs: Vec::new() };
        let t = self.0.tensors(handle).map_err(|_| platform("the model's tensors could not be read"))?;
        runner.inputs = t.inputs.iter().map(spec).collect();
        runner.outputs = t.outputs.iter().map(spec).collect();
        Ok(Box::new(runner))
    }
}

fn spec(t: &TensorDesc) -> TensorSpec {
    TensorSpec {
        shape: t.shape.iter().map(|&d| d as usize).collect(),
        element_type: match t.element_type {
            TensorElement::Float32 => ElementType::Float32,
            TensorElement::Int8 => ElementType::Int8,
            TensorElement::Uint8 => ElementType::UInt8,
            TensorElement::Int32 => ElementType::Int32,
        },
        quantization: t.scale.map(|scale| Quantization { scale, zero_point: t.zero_point.unwrap_or(0) }),
    }
}

/// One model loaded by the app's engine.
struct PlatformRunner {
    engine: Arc<dyn PlatformEngine>,
    handle: u64,
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
}

impl fmt::Debug for PlatformRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformRunner")
            .field("handle", &self.handle)
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

impl Runner for PlatformRunner {
    fn inputs(&self) -> &[TensorSpec] {
        &self.inputs
    }

    fn outputs(&self) -> &[TensorSpec] {
        &self.outputs
    }

    fn run(&mut self, input: &[u8], outputs: &mut [Vec<u8>]) -> Result<(), CoreError> {
        if outputs.len() != self.outputs.len() {
            return Err(platform("asked for a different number of outputs than the model has"));
        }
        let got =
            self.engine.run(self.handle, input.to_vec()).map_err(|_| platform("the model failed to run"))?;
        if got.len() != self.outputs.len() {
            return Err(CoreError::Engine(format!(
                "platform engine: returned {} outputs, the model has {}",
                got.len(),
                self.outputs.len()
            )));
        }
        for (i, (g, t)) in got.iter().zip(&self.outputs).enumerate() {
            if g.len() != t.byte_len() {
                return Err(CoreError::Engine(format!(
                    "platform engine: returned {} bytes for output {i}, its tensor has {}",
                    g.len(),
                    t.byte_len()
                )));
            }
        }
        for (o, g) in outputs.iter_mut().zip(got) {
            *o = g;
        }
        Ok(())
    }
}

impl Drop for PlatformRunner {
    fn drop(&mut self) {
        if self.engine.release(self.handle).is_err() {
            log::warn!("platform engine: releasing a model failed");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Mutex;

    /// A toy engine: one model of one int8 input and one int8 output of the
    /// input's length; `run` echoes the input, cut short when told to.
    #[derive(Default)]
    struct Echo {
        live: Mutex<HashSet<u64>>,
        next: Mutex<u64>,
        short: bool,
        fail_tensors: bool,
    }

    impl PlatformEngine for Echo {
        fn load(&self, _model: Vec<u8>, _threads: u32) -> Result<u64, HemalensError> {
            let mut n = self.next.lock().unwrap();
            *n += 1;
            self.live.lock().unwrap().insert(*n);
            Ok(*n)
        }

        fn tensors(&self, _model: u64) -> Result<ModelTensors, HemalensError> {
            if self.fail_tensors {
                return Err(HemalensError::internal("secret engine text"));
            }
            let t = TensorDesc {
                shape: vec![1, 4],
                element_type: TensorElement::Int8,
                scale: None,
                zero_point: None,
            };
            Ok(ModelTensors { inputs: vec![t.clone()], outputs: vec![t] })
        }

        fn run(&self, _model: u64, mut input: Vec<u8>) -> Result<Vec<Vec<u8>>, HemalensError> {
            if self.short {
                input.pop();
            }
            Ok(vec![input])
        }

        fn release(&self, model: u64) -> Result<(), HemalensError> {
            self.live.lock().unwrap().remove(&model);
            Err(HemalensError::internal("ignored"))
        }
    }

    #[test]
    fn runs_and_releases_its_handle() {
        let echo = Arc::new(Echo::default());
        let provider = Platform(echo.clone());
        let mut r = provider.load(b"model", 2).unwrap();
        assert_eq!(r.outputs()[0].byte_len(), 4);
        let mut outs = vec![Vec::new()];
        r.run(&[1, 2, 3, 4], &mut outs).unwrap();
        assert_eq!(outs, vec![vec![1, 2, 3, 4]]);
        assert_eq!(echo.live.lock().unwrap().len(), 1);
        drop(r);
        assert!(echo.live.lock().unwrap().is_empty());
    }

    #[test]
    fn short_outputs_and_failures_are_engine_errors_in_our_words() {
        let provider = Platform(Arc::new(Echo { short: true, ..Echo::default() }));
        let mut r = provider.load(b"model", 1).unwrap();
        let e = r.run(&[1, 2, 3, 4], &mut [Vec::new()]).unwrap_err();
        assert!(matches!(e, CoreError::Engine(ref m) if m.starts_with("platform engine: ")), "{e}");
        let e = r.run(&[1, 2, 3, 4], &mut [Vec::new(), Vec::new()]).unwrap_err();
        assert!(matches!(e, CoreError::Engine(_)), "{e}");

        let echo = Arc::new(Echo { fail_tensors: true, ..Echo::default() });
        let e = Platform(echo.clone()).load(b"model", 1).unwrap_err();
        assert!(matches!(e, CoreError::Engine(_)));
        assert!(!e.to_string().contains("secret"), "{e}");
        assert!(echo.live.lock().unwrap().is_empty(), "a failed load releases its handle");
    }
}
