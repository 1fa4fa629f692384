#![doc = include_str!("../README.md")]

mod error;
pub mod fhir;
pub mod identity;
pub mod record;
pub mod report;
pub mod sms;

pub use error::{Error, Kind};
pub use identity::DeviceIdentity;
pub use record::{Device, Record};
