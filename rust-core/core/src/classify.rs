//! A compiled pack: images in, calibrated predictions out, in batches.
#[cfg(feature = "litert")]
use crate::engine::LiteRt;
use crate::engine::{EngineProvider, Runner};
use crate::error::Error;
use crate::pack::{Manifest, Pack};
use crate::preprocess;
use crate::probs;
use crate::site::Adjustment;
use image::RgbImage;
use std::sync::Mutex;

/// One image's answer. `probs` follows the manifest's label order.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub index: usize,
    pub label: String,
    pub confidence: f64,
    pub probs: Vec<f64>,
}

/// A pack loaded into an engine. `Send + Sync`: inferences from several
/// threads take turns on the one engine.
#[derive(Debug)]
pub struct Classifier {
    manifest: Manifest,
    item_in: usize,
    /// Bytes of one item's logits, of its embedding and of its style
    /// statistics (0 without them).
    item_out: usize,
    item_emb: usize,
    item_style: usize,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    runner: Box<dyn Runner>,
    input: Vec<u8>,
    /// The logits, then the embedding and the style statistics if the pack has them.
    outputs: Vec<Vec<u8>>,
    /// Bytes of each whole output tensor, as checked against the manifest.
    output_lens: Vec<usize>,
}

impl Classifier {
    /// Compiles the pack for the CPU with the linked LiteRT ([`LiteRt`]) on
    /// `threads` threads and checks the model's real tensors against the manifest.
    #[cfg(feature = "litert")]
    pub fn new(pack: &Pack, threads: usize) -> Result<Self, Error> {
        Self::with_engine(pack, threads, &LiteRt)
    }

    /// The same with the engine `provider` loads (an app's own interpreter).
    pub fn with_engine(pack: &Pack, threads: usize, provider: &dyn EngineProvider) -> Result<Self, Error> {
        let runner = provider.load(pack.model_bytes(), threads)?;
        pack.check_engine(runner.inputs(), runner.outputs())?;
        let manifest = pack.manifest().clone();
        // The check above fixed every shape and type to the manifest's: the
        // sizes below divide evenly, and an output of zero bytes cannot pass.
        let batch = manifest.input.batch as usize;
        let item_in = preprocess::item_bytes(&manifest.input);
        let output_lens: Vec<usize> = runner.outputs().iter().map(|t| t.byte_len()).collect();
        let item_out = output_lens[0] / batch;
        let item_emb = output_lens.get(1).map_or(0, |n| n / batch);
        let item_style = output_lens.get(2).map_or(0, |n| n / batch);
        let state = State {
            input: vec![0; runner.inputs()[0].byte_len()],
            outputs: output_lens.iter().map(|&n| vec![0; n]).collect(),
            output_lens,
            runner,
        };
        Ok(Self { manifest, item_in, item_out, item_emb, item_style, state: Mutex::new(state) })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Bytes of one item's input tensor.
    pub fn item_input_bytes(&self) -> usize {
        self.item_in
    }

    /// The input tensor for one image (resized, masked, normalised, quantised).
    pub fn prepare(&self, img: &RgbImage) -> Result<Vec<u8>, Error> {
        let view = preprocess::model_view(img, &self.manifest.input);
        let mut t = vec![0u8; self.item_in];
        preprocess::write_tensor(&view, &self.manifest.input, &mut t)?;
        Ok(t)
    }

    /// Runs prepared tensors through the model in batches of the model's fixed
    /// batch size; returns each item's raw output bytes (its logits, then its
    /// embedding and style statistics where the pack has them).
    pub fn run_tensors(&self, items: &[&[u8]]) -> Result<Vec<Vec<u8>>, Error> {
        if let Some(bad) = items.iter().find(|t| t.len() != self.item_in) {
            return Err(Error::InvalidArgument(format!(
                "input tensor has {} bytes, the model takes {}",
                bad.len(),
                self.item_in
            )));
        }
        let batch = self.manifest.input.batch as usize;
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let st = &mut *guard;
        let mut out = Vec::with_capacity(items.len());
        for chunk in items.chunks(batch) {
            st.input.fill(0);
            for (k, t) in chunk.iter().enumerate() {
                st.input[k * self.item_in..(k + 1) * self.item_in].copy_from_slice(t);
            }
            for (o, &n) in st.outputs.iter_mut().zip(&st.output_lens) {
                o.resize(n, 0);
            }
            st.runner.run(&st.input, &mut st.outputs)?;
            check_outputs(&st.outputs, &st.output_lens)?;
            for k in 0..chunk.len() {
                let mut raw = st.outputs[0][k * self.item_out..(k + 1) * self.item_out].to_vec();
                for (o, n) in st.outputs.iter().zip([self.item_out, self.item_emb, self.item_style]).skip(1) {
                    raw.extend_from_slice(&o[k * n..(k + 1) * n]);
                }
                out.push(raw);
            }
        }
        Ok(out)
    }

    /// Bytes of one item's raw output (its logits, embedding and style statistics).
    pub fn item_output_bytes(&self) -> usize {
        self.item_out + self.item_emb + self.item_style
    }

    /// Turns one item's raw output into a calibrated prediction.
    pub fn interpret(&self, raw: &[u8]) -> Prediction {
        self.interpret_at(raw, None)
    }

    /// The prediction with a site's adjustment of this pack applied
    /// ([`crate::site`]); `None` is the pack as shipped.
    pub fn interpret_at(&self, raw: &[u8], site: Option<&Adjustment>) -> Prediction {
        let z = self.logits(raw);
        let p = match site {
            Some(a) => {
                let e = if a.refit.is_some() { self.embedding(raw) } else { Vec::new() };
                a.probs(&self.manifest, &z, &e)
            }
            None => probs::calibrated(&z, self.manifest.output.kind, self.manifest.calibration.temperature),
        };
        let index = probs::argmax(&p);
        Prediction { index, label: self.manifest.labels[index].clone(), confidence: p[index], probs: p }
    }

    /// One item's dequantised logits.
    pub fn logits(&self, raw: &[u8]) -> Vec<f64> {
        probs::dequantize(self.split(raw).0, &self.manifest.output)
    }

    /// One item's dequantised embedding (empty for a pack without one).
    pub fn embedding(&self, raw: &[u8]) -> Vec<f64> {
        self.dequantized(self.manifest.familiarity.as_ref(), self.split(raw).1, self.item_emb)
    }

    /// One item's dequantised style statistics (empty for a pack without them).
    pub fn style(&self, raw: &[u8]) -> Vec<f64> {
        let f = self.manifest.familiarity.as_ref().and_then(|f| f.style.as_deref());
        self.dequantized(f, self.split(raw).2, self.item_style)
    }

    /// `bytes` of one extra output as values, where the pack describes that
    /// output and the bytes are one item's whole (else empty).
    fn dequantized(&self, f: Option<&crate::familiar::Familiarity>, bytes: &[u8], len: usize) -> Vec<f64> {
        match f {
            Some(f) if bytes.len() == len && !bytes.is_empty() => {
                f.dequantize(bytes, self.manifest.output.dtype)
            }
            _ => Vec::new(),
        }
    }

    /// One item's raw output split into its logits, its embedding and its
    /// style statistics (empty for a pack without them): the model's output
    /// tensors, byte for byte.
    pub fn split<'a>(&self, raw: &'a [u8]) -> (&'a [u8], &'a [u8], &'a [u8]) {
        let (logits, rest) = raw.split_at(self.item_out.min(raw.len()));
        let (embedding, style) = rest.split_at(self.item_emb.min(rest.len()));
        (logits, embedding, style)
    }

    /// How far one item lies from the pack's training data (1.0 = the line;
    /// see [`crate::familiar`]); `None` for a pack without an embedding.
    pub fn distance(&self, raw: &[u8]) -> Option<f64> {
        self.distance_at(raw, None)
    }

    /// The distance with a site's profile: for the embedding and for the
    /// style statistics each, the nearer of the pack's own Gaussian and the
    /// same Gaussian about the site's mean; the larger of the two.
    pub fn distance_at(&self, raw: &[u8], site: Option<&Adjustment>) -> Option<f64> {
        let f = self.manifest.familiarity.as_ref()?;
        let e = self.embedding(raw);
        if e.is_empty() {
            return None;
        }
        let mut d = f.distance_nearer(&e, site.map(|a| a.site_mean.as_slice()));
        if let Some(st) = f.style.as_deref() {
            let s = self.style(raw);
            if !s.is_empty() {
                d = d.max(st.distance_nearer(&s, site.map(|a| a.site_style_mean.as_slice())));
            }
        }
        Some(d)
    }

    /// Classifies whole images (each resized to the model input).
    pub fn classify(&self, images: &[&RgbImage]) -> Result<Vec<Prediction>, Error> {
        let tensors = images.iter().map(|im| self.prepare(im)).collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&[u8]> = tensors.iter().map(Vec::as_slice).collect();
        Ok(self.run_tensors(&refs)?.iter().map(|r| self.interpret(r)).collect())
    }
}

/// Every output the engine wrote has its tensor's size: what makes the slicing
/// of items out of them safe whatever engine ran.
fn check_outputs(outputs: &[Vec<u8>], lens: &[usize]) -> Result<(), Error> {
    if outputs.len() != lens.len() {
        return Err(Error::Engine(format!(
            "the engine gave {} outputs, the model has {}",
            outputs.len(),
            lens.len()
        )));
    }
    for (i, (o, &n)) in outputs.iter().zip(lens).enumerate() {
        if o.len() != n {
            return Err(Error::Engine(format!(
                "the engine wrote {} bytes for output {i}, its tensor has {n}",
                o.len()
            )));
        }
    }
    Ok(())
}
