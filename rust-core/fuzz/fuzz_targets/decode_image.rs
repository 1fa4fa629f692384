//! The general decoder behind `classify` (JPEG, PNG, WebP, BMP, TIFF): typed
//! errors only, never a panic, never more pixels than the limit.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| hemalens_photo::fuzzing::decode_any(data));
