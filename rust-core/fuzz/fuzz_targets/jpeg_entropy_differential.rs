//! The Rust baseline entropy decoder against libjpeg-turbo's coefficients:
//! a file both accept must decode to the same coefficients, on one thread
//! and on two (hemalens_photo::fuzzing::entropy_differential).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| hemalens_photo::fuzzing::entropy_differential(data));
