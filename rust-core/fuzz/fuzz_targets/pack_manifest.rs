//! A model pack's manifest, whatever it claims, against the real model it
//! names (the committed tiny test model, its real checksum imposed so the
//! fuzzer gets past it): a manifest that lies about the model's tensors,
//! labels, quantisation or masks is refused with a typed error when the
//! pack is loaded, and a pack that loads classifies an image without a
//! panic, giving finite probabilities, one per label.
#![no_main]
use hemalens_core::pack::Origin;
use hemalens_core::{Classifier, Pack};
use std::sync::OnceLock;

const MODEL: &[u8] = include_bytes!("../../../tests/fixtures/models/tiny-pack/model.tflite");

fn model_sha() -> &'static str {
    static S: OnceLock<String> = OnceLock::new();
    S.get_or_init(|| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(MODEL))
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // Where the text is a JSON object, its checksum is made right (the
    // checksum check itself is the catalogue's); otherwise it goes as it is.
    let text = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(mut m)) => {
            m.insert("sha256".into(), model_sha().into());
            serde_json::Value::Object(m).to_string()
        }
        _ => text.to_string(),
    };
    let Ok(pack) = Pack::from_parts(&text, MODEL.to_vec(), Origin::Builtin) else { return };
    let Ok(c) = Classifier::new(&pack, 1) else { return };
    let img = image::RgbImage::from_fn(40, 30, |x, y| image::Rgb([(x * 6) as u8, (y * 8) as u8, 128]));
    if let Ok(preds) = c.classify(&[&img, &img]) {
        assert_eq!(preds.len(), 2);
        for p in preds {
            assert_eq!(p.probs.len(), pack.manifest().labels.len(), "one probability per label");
            assert!(p.probs.iter().all(|q| q.is_finite()), "finite probabilities");
            assert!(p.index < p.probs.len());
        }
    }
});
