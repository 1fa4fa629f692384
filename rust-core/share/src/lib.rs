#![doc = include_str!("../README.md")]

pub mod bundle;
pub mod card;
pub mod contents;
mod error;
pub mod fhir;
pub mod identity;
pub mod record;
pub mod report;
pub mod request;
pub mod reviews;
pub mod sms;
#[doc(hidden)]
pub mod testing;
pub mod time;
pub mod upload;

pub use error::{Error, Kind};
pub use identity::DeviceIdentity;
pub use record::{Device, Record};
