//! The engine against the committed test models (tests/fixtures/models, made by
//! scripts/make_test_models.py).
#![allow(clippy::unwrap_used, clippy::expect_used)]
use hemalens_litert::{ElementType, Engine, Error, Model, Options};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models").join(name)
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    // A fixed pseudo-random byte pattern (xorshift), so runs are comparable.
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

fn run_once(engine: &mut Engine, input: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; engine.output(0).byte_len()];
    engine.run(&[input], &mut [&mut out]).unwrap();
    out
}

#[test]
fn int8_model_reports_shapes_types_and_quantisation() {
    let engine = Engine::from_file(fixture("tiny_int8.tflite"), &Options::default()).unwrap();
    assert_eq!(engine.inputs().len(), 1);
    assert_eq!(engine.outputs().len(), 1);
    let i = engine.input(0);
    assert_eq!(i.shape, vec![1, 32, 32, 3]);
    assert_eq!(i.element_type, ElementType::Int8);
    let q = i.quantization.unwrap();
    assert!(q.scale > 0.0 && q.scale < 1.0, "{q:?}");
    let o = engine.output(0);
    assert_eq!(o.shape, vec![1, 3]);
    assert_eq!(o.element_type, ElementType::Int8);
    assert!(o.quantization.is_some());
    assert_eq!(i.byte_len(), 32 * 32 * 3);
}

#[test]
fn float_model_has_no_quantisation_and_runs() {
    let mut engine = Engine::from_file(fixture("tiny_float32.tflite"), &Options::default()).unwrap();
    assert_eq!(engine.input(0).element_type, ElementType::Float32);
    assert!(engine.input(0).quantization.is_none());
    let input: Vec<u8> = (0..32 * 32 * 3).flat_map(|i| ((i % 17) as f32 / 17.0).to_le_bytes()).collect();
    let out = run_once(&mut engine, &input);
    let logits: Vec<f32> = out.chunks(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    assert_eq!(logits.len(), 3);
    assert!(logits.iter().all(|v| v.is_finite()));
    assert!(logits.iter().any(|v| *v != 0.0));
}

#[test]
fn same_input_same_output_and_different_input_different_output() {
    let mut engine = Engine::from_file(fixture("tiny_int8.tflite"), &Options::default()).unwrap();
    let a = pattern(engine.input(0).byte_len(), 1);
    let b = pattern(engine.input(0).byte_len(), 2);
    let oa = run_once(&mut engine, &a);
    let ob = run_once(&mut engine, &b);
    assert_eq!(oa, run_once(&mut engine, &a));
    assert_ne!(oa, ob);
}

#[test]
fn bytes_and_file_load_the_same_model() {
    let bytes = std::fs::read(fixture("tiny_int8.tflite")).unwrap();
    let mut from_bytes = Engine::from_bytes(&bytes, &Options::default()).unwrap();
    let mut from_file = Engine::from_file(fixture("tiny_int8.tflite"), &Options::default()).unwrap();
    let x = pattern(from_file.input(0).byte_len(), 3);
    assert_eq!(run_once(&mut from_bytes, &x), run_once(&mut from_file, &x));
}

#[test]
fn fixed_batch_model_runs_whole_batches() {
    let mut engine = Engine::from_file(fixture("tiny_batch4_int8.tflite"), &Options::default()).unwrap();
    assert_eq!(engine.input(0).shape[0], 4);
    let one = 32 * 32 * 3;
    let mut x = Vec::new();
    for s in 0..4 {
        x.extend(pattern(one, 10 + s));
    }
    let out = run_once(&mut engine, &x);
    assert_eq!(out.len(), 4 * 3);
    // Reversing the images in the batch reverses the answers: slots are independent.
    let mut rev = Vec::new();
    for s in (0..4).rev() {
        rev.extend_from_slice(&x[s * one..(s + 1) * one]);
    }
    let out_rev = run_once(&mut engine, &rev);
    for s in 0..4 {
        assert_eq!(out[s * 3..s * 3 + 3], out_rev[(3 - s) * 3..(3 - s) * 3 + 3], "slot {s}");
    }
    assert_ne!(out[0..3], out[3..6]);
}

#[test]
fn one_and_two_threads_agree_bitwise() {
    let mut one = Engine::from_file(fixture("tiny_int8.tflite"), &Options { num_threads: 1 }).unwrap();
    let mut two = Engine::from_file(fixture("tiny_int8.tflite"), &Options { num_threads: 2 }).unwrap();
    for s in 0..5 {
        let x = pattern(one.input(0).byte_len(), 20 + s);
        assert_eq!(run_once(&mut one, &x), run_once(&mut two, &x));
    }
}

#[test]
fn wrong_sizes_are_typed_errors() {
    let mut engine = Engine::from_file(fixture("tiny_int8.tflite"), &Options::default()).unwrap();
    let mut out = vec![0u8; 3];
    let short = vec![0u8; 10];
    assert!(matches!(engine.run(&[&short], &mut [&mut out]), Err(Error::Shape { .. })));
    assert!(matches!(engine.run(&[], &mut [&mut out]), Err(Error::Shape { .. })));
    let x = vec![0u8; engine.input(0).byte_len()];
    let mut small = vec![0u8; 2];
    assert!(matches!(engine.run(&[&x], &mut [&mut small]), Err(Error::Shape { .. })));
}

#[test]
fn bad_model_bytes_are_typed_errors_not_crashes() {
    assert!(matches!(Model::from_bytes(b""), Err(Error::InvalidModel(_))));
    assert!(matches!(Model::from_bytes(b"hello, this is not a model at all"), Err(Error::InvalidModel(_))));
    let bytes = std::fs::read(fixture("tiny_int8.tflite")).unwrap();
    for cut in [8, 64, bytes.len() / 2, bytes.len() - 16] {
        let r = Engine::from_bytes(&bytes[..cut], &Options::default());
        assert!(r.is_err(), "truncated at {cut} loaded");
    }
    assert!(matches!(Model::from_file("/nonexistent/model.tflite"), Err(Error::Io(_))));
    assert!(matches!(Engine::from_bytes(&bytes, &Options { num_threads: 0 }), Err(Error::Option(_))));
}
