//! The report's pictures: each accepted field downscaled (cut to its eyepiece
//! circle) with its cells' boxes, and a small square crop of every cell for
//! the gallery. JPEG-compressed within one byte budget, so a 20-30 field
//! session's PDF stays under 2 MB: crops are small and come first; each
//! overlay gets an even share of what is left and is shrunk until it fits.
//! The boxes and labels are not burnt into the pixels: the writers draw them
//! as vector shapes and text over the photo, sharp at any zoom.

use hemalens_core::field::overlay::class_colour;
use hemalens_core::field::FieldReport;
use hemalens_core::{DecodeLimits, Photo};
use image::codecs::jpeg::JpegEncoder;
use image::RgbImage;

use super::doc::{CellView, Doc};
use super::Photos;
use crate::{Error, Record};

/// Bytes of JPEG the report may carry in all (the PDF's text and structure
/// add well under 100 kB).
pub(crate) const IMAGE_BUDGET: usize = 1_700_000;
/// Fields shown as overlays at most (two a page); the rest are listed.
pub(crate) const MAX_OVERLAYS: usize = 30;
/// Longer side of an overlay, at most (about 140 dpi across an A4 page).
const OVERLAY_LONG: u32 = 1000;
/// An overlay that would have to be smaller than this is left out.
const MIN_OVERLAY_LONG: u32 = 360;
const OVERLAY_QUALITY: u8 = 72;
/// Side of a gallery crop.
pub(crate) const CROP_PX: u32 = 96;
const CROP_QUALITY: u8 = 80;
/// Bytes kept back for each crop not yet made.
const CROP_RESERVE: usize = 4_000;

/// A baseline JPEG (RGB, 8 bits), for a PDF's DCTDecode or a data: URI.
#[derive(Clone)]
pub(crate) struct Jpeg {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

impl std::fmt::Debug for Jpeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Jpeg({}x{}, {} bytes)", self.width, self.height, self.bytes.len())
    }
}

/// One cell's box on an overlay, in the overlay's pixels.
#[derive(Debug, Clone)]
pub(crate) struct Mark {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
    pub colour: [u8; 3],
    pub text: String,
    /// Counted in the differential (solid box) or not (dashed).
    pub counted: bool,
}

#[derive(Debug)]
pub(crate) struct Overlay {
    pub image: Jpeg,
    pub marks: Vec<Mark>,
}

pub(crate) fn encode_jpeg(img: &RgbImage, quality: u8) -> Result<Jpeg, Error> {
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode_image(img)
        .map_err(|e| Error::Report(format!("JPEG encoding failed: {e}")))?;
    Ok(Jpeg { bytes, width: img.width(), height: img.height() })
}

/// The square crop of one cell, a little wider than its box (grey beyond
/// the photo's edge).
pub(crate) fn crop(
    photo: &Photo,
    report: &FieldReport,
    cell: &CellView,
    side_px: u32,
) -> Result<Jpeg, Error> {
    let b = report.cells[cell.cell].bbox;
    let side = (f64::from(b.w.max(b.h)) * 1.3).max(24.0);
    let (cx, cy) = (f64::from(b.x) + f64::from(b.w) / 2.0, f64::from(b.y) + f64::from(b.h) / 2.0);
    let img =
        photo.window(cx, cy, side, side_px, [226, 226, 230]).map_err(|e| Error::Photo(e.to_string()))?;
    encode_jpeg(&img, CROP_QUALITY)
}

/// The field's picture (cut to the eyepiece circle when there is one, at most
/// `max_long` pixels on its longer side) within `budget` bytes, or None when
/// it cannot be made that small and legible.
pub(crate) fn overlay(
    photo: &Photo,
    report: &FieldReport,
    cells: &[CellView],
    labels: &[String],
    max_long: u32,
    budget: usize,
) -> Result<Option<Overlay>, Error> {
    let (w, h) = photo.displayed();
    let (w, h) = (f64::from(w), f64::from(h));
    let (mut x0, mut y0, mut x1, mut y1) = (0.0, 0.0, w, h);
    if let Some(f) = report.quality.fov {
        let (a, b, c, d) =
            ((f.cx - f.r).max(0.0), (f.cy - f.r).max(0.0), (f.cx + f.r).min(w), (f.cy + f.r).min(h));
        if c - a >= 16.0 && d - b >= 16.0 {
            (x0, y0, x1, y1) = (a, b, c, d);
        }
    }
    let (rw, rh) = (x1 - x0, y1 - y0);
    let long = rw.max(rh);
    let mut target = (long.round() as u32).clamp(1, max_long);
    let mut quality = OVERLAY_QUALITY;
    for _ in 0..4 {
        let n = target;
        let z = f64::from(n) / long;
        let (ow, oh) = (((rw * z).round() as u32).clamp(1, n), ((rh * z).round() as u32).clamp(1, n));
        let square = photo
            .window(x0 + rw / 2.0, y0 + rh / 2.0, long, n, [20, 20, 20])
            .map_err(|e| Error::Photo(e.to_string()))?;
        let img = image::imageops::crop_imm(&square, (n - ow) / 2, (n - oh) / 2, ow, oh).to_image();
        let jpeg = encode_jpeg(&img, quality)?;
        if jpeg.bytes.len() <= budget {
            let marks = cells
                .iter()
                .map(|c| {
                    let b = report.cells[c.cell].bbox;
                    Mark {
                        x: ((f64::from(b.x) - x0) * z) as f32,
                        y: ((f64::from(b.y) - y0) * z) as f32,
                        w: (f64::from(b.w) * z) as f32,
                        h: (f64::from(b.h) * z) as f32,
                        colour: class_colour(labels, &c.label),
                        text: c.mark_text(),
                        counted: c.counted,
                    }
                })
                .collect();
            return Ok(Some(Overlay { image: jpeg, marks }));
        }
        // Bytes go roughly with pixels: shrink to fit, a little under.
        let k = (budget as f64 / jpeg.bytes.len() as f64).sqrt() * 0.95;
        target = (f64::from(target) * k) as u32;
        if target < MIN_OVERLAY_LONG {
            if quality <= 50 {
                return Ok(None);
            }
            target = MIN_OVERLAY_LONG;
            quality = 50;
        }
    }
    Ok(None)
}

/// Reads each field's photo once and makes its crops and its overlay.
pub(crate) fn attach(doc: &mut Doc, record: &Record, photos: &dyn Photos) -> Result<(), Error> {
    // Which crops each field's photo must give: (group, crop) indices.
    let mut wanted: Vec<Vec<(usize, usize)>> = vec![Vec::new(); record.fields.len()];
    for (g, group) in doc.gallery.iter().enumerate() {
        for (k, c) in group.crops.iter().enumerate() {
            wanted[c.cell.field].push((g, k));
        }
    }
    let mut reserve = wanted.iter().map(Vec::len).sum::<usize>() * CROP_RESERVE;
    let shown = doc.fields.len().min(MAX_OVERLAYS);
    let mut used = 0usize;
    let mut left_out = 0usize;
    let limits = DecodeLimits::default();
    for (j, fv) in doc.fields.iter_mut().enumerate() {
        let i = fv.index;
        let report = &record.fields[i].report;
        let photo = photos.photo(&record.fields[i].photo).and_then(|bytes| {
            Photo::open(&bytes, &limits, 256).map_err(|e| Error::Photo(e.kind().as_str().to_string()))
        });
        let photo = match photo {
            Ok(p) => p,
            Err(e) => {
                log::warn!("report: a field's photo could not be used ({})", e.kind());
                fv.missing = Some("The photo could not be read from the store.".into());
                reserve = reserve.saturating_sub(wanted[i].len() * CROP_RESERVE);
                continue;
            }
        };
        for &(g, k) in &wanted[i] {
            let c = &mut doc.gallery[g].crops[k];
            let jpeg = crop(&photo, report, &c.cell, CROP_PX)?;
            used += jpeg.bytes.len();
            c.image = Some(jpeg);
            reserve = reserve.saturating_sub(CROP_RESERVE);
        }
        if j >= shown {
            fv.missing = Some(format!("Not shown: the report shows the first {MAX_OVERLAYS} fields."));
            continue;
        }
        let budget = IMAGE_BUDGET.saturating_sub(used + reserve) / (shown - j);
        match overlay(&photo, report, &fv.cells, &doc.colour_labels, OVERLAY_LONG, budget)? {
            Some(o) => {
                used += o.image.bytes.len();
                fv.overlay = Some(o);
            }
            None => {
                left_out += 1;
                fv.missing = Some("Not shown: the picture would not fit the report's size limit.".into());
            }
        }
    }
    if doc.fields.len() > shown {
        doc.notes.push(format!(
            "Overlays are shown for the first {shown} of {} accepted fields; every field is listed and every cell is in the gallery.",
            doc.fields.len()
        ));
    }
    if left_out > 0 {
        doc.notes.push(format!(
            "{left_out} field overlays are left out to keep the report under 2 MB; their cells are in the gallery."
        ));
    }
    log::debug!("report: {} overlays, {} image bytes", shown - left_out, used);
    Ok(())
}

/// The overlay with its marks drawn into the pixels (3 px boxes in the
/// class colour; uncertain cells grey), re-encoded: for viewers that show a
/// plain image (FHIR `Media`), where the report draws vector boxes instead.
pub(crate) fn burn_in(o: &Overlay) -> Result<Jpeg, Error> {
    let mut img = image::load_from_memory_with_format(&o.image.bytes, image::ImageFormat::Jpeg)
        .map_err(|_| Error::Report("an overlay could not be redrawn".into()))?
        .to_rgb8();
    let (w, h) = (img.width() as i64, img.height() as i64);
    for m in &o.marks {
        let colour = if m.counted { image::Rgb(m.colour) } else { image::Rgb([128, 128, 128]) };
        let (x0, y0) = (m.x.round() as i64, m.y.round() as i64);
        let (x1, y1) = ((m.x + m.w).round() as i64, (m.y + m.h).round() as i64);
        for t in 0..3 {
            for x in x0..=x1 {
                for y in [y0 + t, y1 - t] {
                    if (0..w).contains(&x) && (0..h).contains(&y) {
                        img.put_pixel(x as u32, y as u32, colour);
                    }
                }
            }
            for y in y0..=y1 {
                for x in [x0 + t, x1 - t] {
                    if (0..w).contains(&x) && (0..h).contains(&y) {
                        img.put_pixel(x as u32, y as u32, colour);
                    }
                }
            }
        }
    }
    encode_jpeg(&img, 85)
}
