//! Packs: loading, checksum, and manifest-vs-model checks that name the field.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use hemalens_core::pack::Origin;
use hemalens_core::{decode_file, Classifier, DecodeLimits, ErrorKind, Pack};
use serde_json::Value;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn parts() -> (Value, Vec<u8>) {
    let dir = fixtures().join("models/tiny-pack");
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    (m, std::fs::read(dir.join("model.tflite")).unwrap())
}

fn compile(m: &Value, model: &[u8]) -> Result<Classifier, hemalens_core::Error> {
    let pack = Pack::from_parts(&m.to_string(), model.to_vec(), Origin::Builtin)?;
    Classifier::new(&pack, 1)
}

#[test]
fn tiny_pack_loads_and_classifies() {
    let pack = Pack::from_dir(&fixtures().join("models/tiny-pack")).unwrap();
    let c = Classifier::new(&pack, 2).unwrap();
    let img = decode_file(&fixtures().join("samples/smear_field.jpg"), &DecodeLimits::default()).unwrap();
    let p = &c.classify(&[&img]).unwrap()[0];
    assert_eq!(p.probs.len(), 3);
    assert!((p.probs.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    assert_eq!(p.label, c.manifest().labels[p.index]);
    assert_eq!(p.confidence, p.probs[p.index]);
}

#[test]
fn temperature_changes_confidence_not_label() {
    let (mut m, model) = parts();
    let img = decode_file(&fixtures().join("samples/smear_field.jpg"), &DecodeLimits::default()).unwrap();
    m["calibration"]["temperature"] = 1.0.into();
    let a = compile(&m, &model).unwrap().classify(&[&img]).unwrap().remove(0);
    m["calibration"]["temperature"] = 3.0.into();
    let b = compile(&m, &model).unwrap().classify(&[&img]).unwrap().remove(0);
    assert_eq!(a.index, b.index);
    assert!(b.confidence < a.confidence);
}

#[test]
fn mismatches_name_the_field() {
    let (m, model) = parts();
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("sha256", Box::new(|m| m["sha256"] = "00".repeat(32).into())),
        ("labels", Box::new(|m| m["labels"].as_array_mut().unwrap().push("delta".into()))),
        ("labels", Box::new(|m| m["labels"][1] = m["labels"][0].clone())),
        ("input.width/height/channels", Box::new(|m| m["input"]["width"] = 64.into())),
        ("input.batch", Box::new(|m| m["input"]["batch"] = 4.into())),
        ("input.dtype", Box::new(|m| m["input"]["dtype"] = "uint8".into())),
        ("input.quantization", Box::new(|m| m["input"]["quantization"]["zero_point"] = 5.into())),
        ("output.quantization", Box::new(|m| m["output"]["quantization"]["scale"] = 0.5.into())),
        ("calibration.temperature", Box::new(|m| m["calibration"]["temperature"] = 0.0.into())),
        ("input.masks", Box::new(|m| m["input"]["masks"][0]["w"] = 0.9.into())),
    ];
    for (field, edit) in cases {
        let mut mm = m.clone();
        edit(&mut mm);
        let e = compile(&mm, &model).expect_err(field);
        assert_eq!(e.kind(), ErrorKind::PackMismatch, "{field}: {e}");
        assert!(e.to_string().contains(field), "{field}: {e}");
    }
}

#[test]
fn broken_manifests_and_models_are_errors() {
    let (m, model) = parts();
    let mut unknown = m.clone();
    unknown["surprise"] = 1.into();
    assert_eq!(compile(&unknown, &model).unwrap_err().kind(), ErrorKind::Manifest);
    assert_eq!(
        Pack::from_parts("{", model.clone(), Origin::Builtin).unwrap_err().kind(),
        ErrorKind::Manifest
    );
    // A truncated model with a manifest whose checksum matches it: the engine refuses it.
    let cut = &model[..model.len() / 2];
    let mut mm = m.clone();
    mm["sha256"] = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(cut)).into()
    };
    assert_eq!(compile(&mm, cut).unwrap_err().kind(), ErrorKind::Engine);
    let missing = Pack::from_dir(&fixtures().join("models/no-such-pack")).unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::PackNotFound);
}

#[test]
fn classifier_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Classifier>();
    assert_send_sync::<Pack>();
}

fn style_parts() -> (Value, Vec<u8>) {
    let dir = fixtures().join("models/tiny-style-pack");
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    (m, std::fs::read(dir.join("model.tflite")).unwrap())
}

#[test]
fn style_statistics_are_a_third_output_and_the_farther_score_is_the_distance() {
    let (m, model) = style_parts();
    let c = compile(&m, &model).unwrap();
    assert_eq!(c.item_output_bytes(), 3 + 16 + 12);
    let f = c.manifest().familiarity.clone().unwrap();
    let style = f.style.as_deref().unwrap();
    let sample = decode_file(&fixtures().join("samples/smear_field.jpg"), &DecodeLimits::default()).unwrap();
    let flat = image::RgbImage::from_pixel(40, 40, image::Rgb([250, 20, 200]));
    let stripes = image::RgbImage::from_fn(40, 40, |x, _| {
        if x % 2 == 0 {
            image::Rgb([255, 255, 255])
        } else {
            image::Rgb([0, 0, 0])
        }
    });
    let (mut by_style, mut by_embedding) = (false, false);
    for img in [&sample, &flat, &stripes] {
        let raw = c.run_tensors(&[&c.prepare(img).unwrap()]).unwrap().remove(0);
        let (logits, e, s) = c.split(&raw);
        assert_eq!((logits.len(), e.len(), s.len()), (3, 16, 12));
        let (de, ds) =
            (f.distance(e, c.manifest().output.dtype), style.distance(s, c.manifest().output.dtype));
        assert_eq!(c.distance(&raw), Some(de.max(ds)));
        by_style |= ds > de;
        by_embedding |= de > ds;
    }
    assert!(by_style && by_embedding, "each score is the larger on one of the pictures");

    // A site's profile moves each Gaussian to the site's mean: about the
    // sample's own statistics both distances are 0; with the embedding's mean
    // alone (a profile made before packs had style statistics) the style's
    // own distance remains.
    let raw = c.run_tensors(&[&c.prepare(&sample).unwrap()]).unwrap().remove(0);
    let here = hemalens_core::site::Adjustment {
        site_mean: c.embedding(&raw),
        site_style_mean: c.style(&raw),
        ..Default::default()
    };
    assert_eq!(c.distance_at(&raw, Some(&here)), Some(0.0));
    let old = hemalens_core::site::Adjustment { site_style_mean: Vec::new(), ..here };
    let own_style = style.distance(c.split(&raw).2, c.manifest().output.dtype);
    assert_eq!(c.distance_at(&raw, Some(&old)), Some(own_style));

    // The manifest and the model must agree on the third output.
    let mut no_style = m.clone();
    no_style["familiarity"].as_object_mut().unwrap().remove("style");
    let e = compile(&no_style, &model).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PackMismatch, "{e}");
    assert!(e.to_string().contains("output"), "{e}");
    let mut wrong_dim = m.clone();
    wrong_dim["familiarity"]["style"]["dim"] = 11.into();
    wrong_dim["familiarity"]["style"]["mean"].as_array_mut().unwrap().pop();
    for row in wrong_dim["familiarity"]["style"]["components"].as_array_mut().unwrap() {
        row.as_array_mut().unwrap().pop();
    }
    let e = compile(&wrong_dim, &model).unwrap_err();
    assert!(e.to_string().contains("familiarity.style.dim"), "{e}");
    let mut wrong_output = m.clone();
    wrong_output["familiarity"]["style"]["output"] = 1.into();
    let e = compile(&wrong_output, &model).unwrap_err();
    assert!(e.to_string().contains("familiarity.style.output"), "{e}");
    // A pack without a style output has no style statistics.
    let (m0, model0) = parts();
    let c0 = compile(&m0, &model0).unwrap();
    let raw = c0.run_tensors(&[&c0.prepare(&sample).unwrap()]).unwrap().remove(0);
    assert!(c0.style(&raw).is_empty());
}
