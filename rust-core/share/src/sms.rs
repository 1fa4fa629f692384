//! One SMS (at most 160 GSM-7 characters, with a check code) that lets the
//! hospital act before the photos arrive. PLACEHOLDER: being built (issue 14);
//! the signatures are the contract.

use crate::Record;

/// The message text.
pub fn encode(record: &Record) -> String {
    format!("HL1 {}", record.uid)
}
