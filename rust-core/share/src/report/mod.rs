//! The report people read: HTML and PDF made in Rust (no browser on the phone).
//! PLACEHOLDER: being built (issue 14); the signatures are the contract.

use crate::{Error, Record};

/// Where the report reads a session's photos from (the store's sealed photos
/// on the phone; files in tests). `name` is the photo's name in the record.
pub trait Photos {
    fn photo(&self, name: &str) -> Result<Vec<u8>, Error>;
}

impl<F: Fn(&str) -> Result<Vec<u8>, Error>> Photos for F {
    fn photo(&self, name: &str) -> Result<Vec<u8>, Error> {
        self(name)
    }
}

/// The report as one self-contained HTML page (images inline).
pub fn html(record: &Record, photos: &dyn Photos) -> Result<String, Error> {
    let _ = (record, photos);
    Err(Error::Report("not built yet".into()))
}

/// The report as a PDF.
pub fn pdf(record: &Record, photos: &dyn Photos) -> Result<Vec<u8>, Error> {
    let _ = (record, photos);
    Err(Error::Report("not built yet".into()))
}
