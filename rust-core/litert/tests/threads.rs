//! LiteRT ignores a malformed thread option silently, so check its effect: a
//! two-thread engine starts a worker thread, a one-thread engine does not.
//! One test in this binary, so no other test's threads come and go meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use hemalens_litert::{Engine, Options};
use std::path::PathBuf;

fn threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn thread_option_takes_effect() {
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/models/mobilenetv2_224_int8.tflite");
    let run = |n: usize| {
        let before = threads();
        let mut e = Engine::from_file(&model, &Options { num_threads: n }).unwrap();
        let x = vec![0u8; e.input(0).byte_len()];
        let mut y = vec![0u8; e.output(0).byte_len()];
        e.run(&[&x], &mut [&mut y]).unwrap();
        let during = threads();
        drop(e);
        during - before
    };
    let one = run(1);
    let two = run(2);
    let four = run(4);
    assert!(two > one, "2 threads added {two} threads, 1 thread added {one}");
    assert!(four > two, "4 threads added {four} threads, 2 added {two}");
}
