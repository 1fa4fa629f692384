#![doc = include_str!("../README.md")]
//! The bridging layer is not API: the core crates know nothing of it.
uniffi::setup_scaffolding!("hemalens");

mod engine;
mod error;
mod logging;
mod preview;
mod screener;

pub use engine::{ModelTensors, PlatformEngine, TensorDesc, TensorElement};
pub use error::HemalensError;
pub use logging::{set_log_sink, LogLevel, LogSink};
pub use preview::FrameGuide;
pub use screener::{
    AddedPhoto, CellMark, CellTile, Evidence, FieldView, ReviewSync, Screener, ScreenerConfig, SessionQuery,
};

/// A fresh random 32-byte key for a new records store, from the operating
/// system (store it in the Android Keystore or iOS Keychain).
#[uniffi::export]
pub fn generate_key() -> Result<Vec<u8>, HemalensError> {
    error::guard(|| Ok(hemalens_store::Key::generate()?.as_bytes().to_vec()))
}

/// Reads a hospital's card (a scanned QR code or pasted text,
/// `hemalens:hospital?name=...&url=...&key=age1...&photos=wifi`): the
/// hospital to pass to `Screener.add_hospital`, or `InvalidInput` saying
/// which part is wrong.
#[uniffi::export]
pub fn hospital_card_parse(text: String) -> Result<hemalens_store::Hospital, HemalensError> {
    error::guard(|| {
        hemalens_screener::hospital_card::read(&text)
            .map_err(|e| HemalensError::InvalidInput { detail: e.to_string() })
    })
}

/// The card of a hospital, as `hospital_card_parse` reads it.
#[uniffi::export]
pub fn hospital_card(hospital: hemalens_store::Hospital) -> String {
    hemalens_screener::hospital_card::write(&hospital)
}

/// The core's version, as written into every result's provenance.
#[uniffi::export]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Test hook: panics inside the library, to show that a panic reaches the
/// app as `HemalensError.Internal` and never crashes the host.
#[doc(hidden)]
#[uniffi::export]
pub fn debug_panic() -> Result<(), HemalensError> {
    error::guard(|| panic!("debug_panic: a deliberate panic for the binding tests"))
}

#[cfg(feature = "jni")]
mod jni;
