//! The report's pictures one at a time, for an app's result screens: a
//! field's photo (cut to its eyepiece circle) with its cells' boxes as
//! coordinates to draw over it, and a square crop of each cell for a review
//! gallery. Made by the same code as the report's, so the labels, the
//! uncertain cells and the relabels read the same on the phone, in the PDF
//! and at the hospital.

use hemalens_core::{DecodeLimits, Photo};

use super::{doc, images, Photos};
use crate::{Error, Record};

/// An app's largest picture: a field at most this long on its longer side.
pub const MAX_FIELD_LONG: u32 = 2048;
/// An app's largest cell crop.
pub const MAX_CELL_SIDE: u32 = 512;
const FIELD_QUALITY_BUDGET: usize = usize::MAX;

/// One accepted field's picture and where its cells lie on it.
#[derive(Debug, Clone)]
pub struct FieldPicture {
    /// The field's number in the session (0, 1, ...).
    pub field: i64,
    pub jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub marks: Vec<CellMark>,
}

/// One cell's box on a [`FieldPicture`], in its pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct CellMark {
    /// The cell's index in its field.
    pub cell: i64,
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
    /// The label that stands: a reviewer's, else the machine's.
    pub label: String,
    pub machine_label: String,
    /// The machine's confidence in its label, 0..1.
    pub confidence: f64,
    /// Counted in the differential (solid box); false: uncertain (dashed).
    pub counted: bool,
    pub relabelled: bool,
}

/// One cell's square crop with its labels, for a review gallery.
#[derive(Debug, Clone)]
pub struct CellPicture {
    pub field: i64,
    pub cell: i64,
    pub jpeg: Vec<u8>,
    pub label: String,
    pub machine_label: String,
    pub confidence: f64,
    pub counted: bool,
    pub relabelled: bool,
}

fn open(record: &Record, photos: &dyn Photos, index: usize) -> Result<Photo, Error> {
    let bytes = photos.photo(&record.fields[index].photo)?;
    Photo::open(&bytes, &DecodeLimits::default(), 256)
        .map_err(|e| Error::Photo(e.kind().as_str().to_string()))
}

/// Field `field` of a closed session (an accepted one: a rejected photo has no
/// cells to show), at most `long_side` pixels long (64 to [`MAX_FIELD_LONG`]).
pub fn field(
    record: &Record,
    photos: &dyn Photos,
    field: i64,
    long_side: u32,
) -> Result<FieldPicture, Error> {
    if !(64..=MAX_FIELD_LONG).contains(&long_side) {
        return Err(Error::Invalid(format!("a field picture is 64 to {MAX_FIELD_LONG} pixels long")));
    }
    let index = record
        .fields
        .iter()
        .position(|f| f.seq == field && f.report.quality.ok)
        .ok_or_else(|| Error::Invalid(format!("the session has no accepted field {field}")))?;
    let photo = open(record, photos, index)?;
    let cells = doc::cells(record).swap_remove(index);
    let report = &record.fields[index].report;
    let o = images::overlay(&photo, report, &cells, &doc::colour_labels(), long_side, FIELD_QUALITY_BUDGET)?
        .ok_or_else(|| Error::Report("the field's picture could not be made".into()))?;
    let marks = o
        .marks
        .iter()
        .zip(&cells)
        .map(|(m, c)| CellMark {
            cell: c.cell as i64,
            x: m.x,
            y: m.y,
            w: m.w,
            h: m.h,
            label: c.label.clone(),
            machine_label: c.machine.clone(),
            confidence: c.confidence,
            counted: c.counted,
            relabelled: c.relabelled_by.is_some(),
        })
        .collect();
    Ok(FieldPicture { field, jpeg: o.image.bytes, width: o.image.width, height: o.image.height, marks })
}

/// Every cell of every accepted field of a closed session, in field and cell
/// order, each a square of `side` pixels (32 to [`MAX_CELL_SIDE`]). Each
/// photo is read once.
pub fn cells(record: &Record, photos: &dyn Photos, side: u32) -> Result<Vec<CellPicture>, Error> {
    if !(32..=MAX_CELL_SIDE).contains(&side) {
        return Err(Error::Invalid(format!("a cell picture is 32 to {MAX_CELL_SIDE} pixels a side")));
    }
    let mut out = Vec::new();
    for (index, cells) in doc::cells(record).into_iter().enumerate() {
        if cells.is_empty() {
            continue;
        }
        let photo = open(record, photos, index)?;
        let f = &record.fields[index];
        for c in cells {
            let jpeg = images::crop(&photo, &f.report, &c, side)?;
            out.push(CellPicture {
                field: f.seq,
                cell: c.cell as i64,
                jpeg: jpeg.bytes,
                relabelled: c.relabelled_by.is_some(),
                label: c.label,
                machine_label: c.machine,
                confidence: c.confidence,
                counted: c.counted,
            });
        }
    }
    Ok(out)
}
