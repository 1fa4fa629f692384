//! The report people read: one closed session as a PDF or one self-contained
//! HTML page, made in Rust (no browser on the phone). Both say the same
//! things, decided once in `doc`: patient code, site, operator and dates;
//! the outcome with its reasons and next step (coloured: refer red, no
//! abnormality green, inconclusive amber); the differential with 95%
//! intervals; the leukaemia screen; rejected photos with their reasons;
//! reviews and overrides with who and when; provenance (packs and their
//! SHA-256, thresholds, versions, device); then a gallery of every cell's crop
//! grouped by class and each accepted field with its boxes (`images`).
//! Nothing here logs patient data.

mod doc;
mod font;
mod html;
mod images;
mod pdf;
pub mod pictures;

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

fn prepare(record: &Record, photos: &dyn Photos) -> Result<doc::Doc, Error> {
    let mut d = doc::build(record);
    images::attach(&mut d, record, photos)?;
    Ok(d)
}

/// The report as one self-contained HTML page (images inline).
pub fn html(record: &Record, photos: &dyn Photos) -> Result<String, Error> {
    Ok(html::write(&prepare(record, photos)?, &record.uid))
}

/// The report as a PDF (A4). A photo that cannot be read leaves its field
/// without a picture (the report says so); it does not fail the report.
pub fn pdf(record: &Record, photos: &dyn Photos) -> Result<Vec<u8>, Error> {
    Ok(pdf::write(&prepare(record, photos)?, &record.uid))
}

/// Each accepted field's overlay with its boxes drawn into the pixels (class
/// colour; uncertain cells in grey), as FHIR `Media` for the photos bundle.
/// The same pictures, size budget and cap as the report's.
pub fn overlay_media(record: &Record, photos: &dyn Photos) -> Result<Vec<crate::fhir::Media>, Error> {
    let d = prepare(record, photos)?;
    let mut out = Vec::new();
    for fv in &d.fields {
        let Some(o) = &fv.overlay else { continue };
        let jpeg = images::burn_in(o)?;
        out.push(crate::fhir::Media {
            field_seq: record.fields[fv.index].seq,
            content_type: "image/jpeg".into(),
            data: jpeg.bytes,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
