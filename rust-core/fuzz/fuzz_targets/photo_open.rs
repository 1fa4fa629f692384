//! `Photo::open` as the pipeline opens a photo, then its view and windows:
//! typed errors only, sizes as asked.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| hemalens_photo::fuzzing::open_photo(data));
