//! What runs a model: the seam between the core and an inference engine.
//!
//! The core hands a pack's model bytes to an [`EngineProvider`] and gets back a
//! [`Runner`]: the model loaded, its tensors described as [`TensorSpec`]s, and
//! a way to run it on one input tensor's bytes. [`LiteRt`], the LiteRT
//! interpreter linked into this library, is the default; an app may bring its
//! own (the platform's TensorFlow Lite on iOS, LiteRT from its AAR on Android)
//! through the bindings. Whatever the engine, the pack is checked against the
//! tensors it reports ([`crate::Pack::check_engine`]) and every run's outputs
//! against those tensors' sizes ([`crate::Classifier`]).
use crate::error::Error;
#[cfg(feature = "litert")]
use hemalens_litert::{Engine, Options, TensorInfo};
use std::fmt::Debug;

pub use hemalens_litert::{ElementType, Quantization};

/// One input or output tensor of a loaded model, as its engine reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    pub shape: Vec<usize>,
    pub element_type: ElementType,
    /// `None` when the tensor is not per-tensor quantised.
    pub quantization: Option<Quantization>,
}

impl TensorSpec {
    pub fn element_count(&self) -> usize {
        self.shape.iter().fold(1usize, |n, &d| n.saturating_mul(d))
    }

    /// Size of the tensor in bytes (0 for an element type without a size;
    /// saturates rather than overflows for absurd shapes from a foreign engine).
    pub fn byte_len(&self) -> usize {
        self.element_count().saturating_mul(self.element_type.size().unwrap_or(0))
    }
}

#[cfg(feature = "litert")]
impl From<&TensorInfo> for TensorSpec {
    fn from(t: &TensorInfo) -> Self {
        Self { shape: t.shape.clone(), element_type: t.element_type, quantization: t.quantization }
    }
}

/// One model loaded by an engine, ready to run many times. Used by one thread
/// at a time (the [`crate::Classifier`] holding it takes a lock).
pub trait Runner: Send + Debug {
    /// The model's input tensors (the core feeds models with exactly one).
    fn inputs(&self) -> &[TensorSpec];
    /// The model's output tensors, in the model's order: for a pack, the
    /// logits, then the embedding where the pack has one.
    fn outputs(&self) -> &[TensorSpec];
    /// Runs the model once on the first input tensor's bytes. `outputs` has
    /// one buffer per output tensor; the runner overwrites or replaces each
    /// with that tensor's bytes. The caller checks every length afterwards.
    fn run(&mut self, input: &[u8], outputs: &mut [Vec<u8>]) -> Result<(), Error>;
}

/// Loads models into [`Runner`]s. Shared by every classifier built from it.
pub trait EngineProvider: Send + Sync + Debug {
    /// Loads `model` (the `.tflite` bytes of a pack) to run on `threads` CPU threads.
    fn load(&self, model: &[u8], threads: usize) -> Result<Box<dyn Runner>, Error>;
}

/// The LiteRT interpreter linked into this library (XNNPACK on the CPU): the default engine.
#[cfg(feature = "litert")]
#[derive(Debug, Clone, Copy, Default)]
pub struct LiteRt;

#[cfg(feature = "litert")]
impl EngineProvider for LiteRt {
    fn load(&self, model: &[u8], threads: usize) -> Result<Box<dyn Runner>, Error> {
        let engine = Engine::from_bytes(model, &Options { num_threads: threads })?;
        let inputs = engine.inputs().iter().map(TensorSpec::from).collect();
        let outputs = engine.outputs().iter().map(TensorSpec::from).collect();
        Ok(Box::new(LiteRtRunner { engine, inputs, outputs }))
    }
}

#[cfg(feature = "litert")]
#[derive(Debug)]
struct LiteRtRunner {
    engine: Engine,
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
}

#[cfg(feature = "litert")]
impl Runner for LiteRtRunner {
    fn inputs(&self) -> &[TensorSpec] {
        &self.inputs
    }

    fn outputs(&self) -> &[TensorSpec] {
        &self.outputs
    }

    fn run(&mut self, input: &[u8], outputs: &mut [Vec<u8>]) -> Result<(), Error> {
        // The engine checks every count and size before it touches a buffer.
        for (o, spec) in outputs.iter_mut().zip(&self.outputs) {
            o.resize(spec.byte_len(), 0);
        }
        let mut outs: Vec<&mut [u8]> = outputs.iter_mut().map(Vec::as_mut_slice).collect();
        Ok(self.engine.run(&[input], &mut outs)?)
    }
}

#[cfg(all(test, feature = "litert"))]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::pack::Pack;
    use crate::{Classifier, ErrorKind};
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn tiny() -> Pack {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models/tiny-pack");
        Pack::from_dir(&dir).unwrap()
    }

    /// Inputs that differ from item to item, and more items than one batch.
    fn tensors(c: &Classifier, n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|k| (0..c.item_input_bytes()).map(|i| ((i * 7 + k * 31) % 251) as u8).collect()).collect()
    }

    #[test]
    fn litert_provider_gives_the_same_outputs_as_the_engine_itself() {
        let pack = tiny();
        let c = Classifier::with_engine(&pack, 1, &LiteRt).unwrap();
        let items = tensors(&c, 3);
        let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
        let got = c.run_tensors(&refs).unwrap();

        // The engine run by hand, one item at a time, as before the seam.
        let mut engine = Engine::from_bytes(pack.model_bytes(), &Options { num_threads: 1 }).unwrap();
        let batch = pack.manifest().input.batch as usize;
        let item_out = engine.output(0).byte_len() / batch;
        for (t, g) in items.iter().zip(&got) {
            let mut input = vec![0u8; engine.input(0).byte_len()];
            input[..t.len()].copy_from_slice(t);
            let mut outs: Vec<Vec<u8>> = engine.outputs().iter().map(|o| vec![0; o.byte_len()]).collect();
            let mut slices: Vec<&mut [u8]> = outs.iter_mut().map(Vec::as_mut_slice).collect();
            engine.run(&[&input], &mut slices).unwrap();
            assert_eq!(g, &outs[0][..item_out]);
        }
        assert_eq!(Classifier::new(&pack, 1).unwrap().run_tensors(&refs).unwrap(), got);
    }

    #[test]
    fn specs_come_from_the_engine_tensors() {
        let pack = tiny();
        let engine = Engine::from_bytes(pack.model_bytes(), &Options::default()).unwrap();
        let runner = LiteRt.load(pack.model_bytes(), 1).unwrap();
        let want: Vec<TensorSpec> = engine.outputs().iter().map(TensorSpec::from).collect();
        assert_eq!(runner.outputs(), &want[..]);
        assert_eq!(runner.inputs()[0].byte_len(), engine.input(0).byte_len());
        pack.check_engine(runner.inputs(), runner.outputs()).unwrap();
    }

    /// How a fake engine misbehaves.
    #[derive(Debug, Clone, Copy)]
    enum Fault {
        None,
        /// Writes one byte too few into the first output.
        ShortOutput,
        /// Writes one byte too many into the first output.
        LongOutput,
        /// Leaves an output empty.
        EmptyOutput,
        Fails,
    }

    /// A runner that reports the real model's tensors and runs the real model,
    /// then spoils its answer as told.
    #[derive(Debug)]
    struct Faulty {
        inner: Box<dyn Runner>,
        fault: Fault,
        runs: Arc<AtomicUsize>,
    }

    impl Runner for Faulty {
        fn inputs(&self) -> &[TensorSpec] {
            self.inner.inputs()
        }

        fn outputs(&self) -> &[TensorSpec] {
            self.inner.outputs()
        }

        fn run(&mut self, input: &[u8], outputs: &mut [Vec<u8>]) -> Result<(), Error> {
            self.runs.fetch_add(1, Ordering::SeqCst);
            self.inner.run(input, outputs)?;
            match self.fault {
                Fault::None => {}
                Fault::ShortOutput => {
                    outputs[0].pop();
                }
                Fault::LongOutput => outputs[0].push(0),
                Fault::EmptyOutput => outputs[0] = Vec::new(),
                Fault::Fails => return Err(Error::Engine("fake engine: refused".into())),
            }
            Ok(())
        }
    }

    #[derive(Debug)]
    struct FaultyProvider(Fault, Arc<AtomicUsize>);

    impl EngineProvider for FaultyProvider {
        fn load(&self, model: &[u8], threads: usize) -> Result<Box<dyn Runner>, Error> {
            Ok(Box::new(Faulty { inner: LiteRt.load(model, threads)?, fault: self.0, runs: self.1.clone() }))
        }
    }

    #[test]
    fn a_runner_writing_the_wrong_sizes_gives_an_engine_error_not_a_panic() {
        let pack = tiny();
        for fault in [Fault::ShortOutput, Fault::LongOutput, Fault::EmptyOutput, Fault::Fails] {
            let runs = Arc::new(AtomicUsize::new(0));
            let c = Classifier::with_engine(&pack, 1, &FaultyProvider(fault, runs.clone())).unwrap();
            let items = tensors(&c, 2);
            let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
            let e = c.run_tensors(&refs).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Engine, "{fault:?}: {e}");
            assert_eq!(runs.load(Ordering::SeqCst), 1, "{fault:?}: stops at the first bad run");
            // The classifier is still good for a well-behaved call afterwards.
            assert!(c.run_tensors(&[]).unwrap().is_empty());
        }
        let runs = Arc::new(AtomicUsize::new(0));
        let c = Classifier::with_engine(&pack, 1, &FaultyProvider(Fault::None, runs)).unwrap();
        let items = tensors(&c, 2);
        let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
        assert_eq!(
            c.run_tensors(&refs).unwrap(),
            Classifier::new(&pack, 1).unwrap().run_tensors(&refs).unwrap()
        );
    }

    /// A runner that reports tensors of its own choosing (and is never run).
    #[derive(Debug)]
    struct Reports(Vec<TensorSpec>, Vec<TensorSpec>);

    impl Runner for Reports {
        fn inputs(&self) -> &[TensorSpec] {
            &self.0
        }

        fn outputs(&self) -> &[TensorSpec] {
            &self.1
        }

        fn run(&mut self, _: &[u8], _: &mut [Vec<u8>]) -> Result<(), Error> {
            Err(Error::Engine("never run".into()))
        }
    }

    #[derive(Debug)]
    struct ReportsProvider(Vec<TensorSpec>, Vec<TensorSpec>);

    impl EngineProvider for ReportsProvider {
        fn load(&self, _: &[u8], _: usize) -> Result<Box<dyn Runner>, Error> {
            Ok(Box::new(Reports(self.0.clone(), self.1.clone())))
        }
    }

    #[test]
    fn reported_tensors_are_checked_against_the_manifest() {
        let pack = tiny();
        let real = LiteRt.load(pack.model_bytes(), 1).unwrap();
        let (ins, outs) = (real.inputs().to_vec(), real.outputs().to_vec());
        let huge = TensorSpec { shape: vec![usize::MAX, usize::MAX], ..outs[0].clone() };
        let other = TensorSpec { element_type: ElementType::Other(99), ..outs[0].clone() };
        let cases: Vec<(&str, Vec<TensorSpec>, Vec<TensorSpec>)> = vec![
            ("input", Vec::new(), outs.clone()),
            ("output", ins.clone(), Vec::new()),
            ("output", ins.clone(), [outs.clone(), outs.clone()].concat()),
            ("labels", ins.clone(), vec![huge]),
            ("output.dtype", ins.clone(), vec![other]),
        ];
        for (field, i, o) in cases {
            match Classifier::with_engine(&pack, 1, &ReportsProvider(i, o)) {
                Err(Error::PackMismatch { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected a mismatch, got {other:?}"),
            }
        }
        assert!(Classifier::with_engine(&pack, 1, &ReportsProvider(ins, outs)).is_ok());
    }

    #[test]
    fn huge_shapes_saturate() {
        let t =
            TensorSpec { shape: vec![usize::MAX, 3], element_type: ElementType::Int32, quantization: None };
        assert_eq!(t.byte_len(), usize::MAX);
        let t = TensorSpec { shape: vec![2, 3], element_type: ElementType::Other(7), quantization: None };
        assert_eq!(t.byte_len(), 0);
    }
}
