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
