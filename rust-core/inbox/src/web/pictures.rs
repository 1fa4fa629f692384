//! The case page's pictures, made from the photos bundle on first view and
//! kept with the case: each field downscaled (the boxes are drawn over it in
//! the page, clickable), and a large square crop of every cell for the gallery.

use hemalens_core::{DecodeLimits, Photo};
use hemalens_share::record::Record;
use image::codecs::jpeg::JpegEncoder;

use crate::db::Db;
use crate::Error;

/// Longer side of a field's picture on the page.
const FIELD_LONG: u32 = 1400;
/// Side of a cell's crop (shown at up to this size: big enough to judge).
pub const CROP_PX: u32 = 224;

pub fn field_name(seq: i64) -> String {
    format!("view/field-{seq}.jpg")
}

pub fn cell_name(seq: i64, idx: usize) -> String {
    format!("view/cell-{seq}-{idx}.jpg")
}

fn jpeg(img: &image::RgbImage, quality: u8) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(img)
        .map_err(|_| Error::Internal("JPEG encoding failed"))?;
    Ok(out)
}

/// A named JPEG.
type Named = (String, Vec<u8>);

/// Every picture of one field: (name, JPEG bytes). A photo that cannot be
/// decoded gives none (the page says the picture is missing).
fn pictures_of(
    photo_bytes: &[u8],
    seq: i64,
    cells: &[hemalens_core::field::Cell],
) -> (Vec<Named>, Option<(u32, u32)>) {
    let Ok(photo) = Photo::open(photo_bytes, &DecodeLimits::default(), 256) else {
        log::warn!("a field's photo could not be decoded for the page");
        return (Vec::new(), None);
    };
    let mut out = Vec::new();
    let (w, h) = photo.displayed();
    let long = f64::from(w.max(h));
    let n = (w.max(h)).min(FIELD_LONG);
    if let Ok(square) = photo.window(f64::from(w) / 2.0, f64::from(h) / 2.0, long, n, [20, 20, 20]) {
        let z = f64::from(n) / long;
        let (ow, oh) = (
            ((f64::from(w) * z).round() as u32).clamp(1, n),
            ((f64::from(h) * z).round() as u32).clamp(1, n),
        );
        let img = image::imageops::crop_imm(&square, (n - ow) / 2, (n - oh) / 2, ow, oh).to_image();
        if let Ok(j) = jpeg(&img, 82) {
            out.push((field_name(seq), j));
        }
    }
    for (i, c) in cells.iter().enumerate() {
        let b = c.bbox;
        let side = (f64::from(b.w.max(b.h)) * 1.4).max(32.0);
        let (cx, cy) = (f64::from(b.x) + f64::from(b.w) / 2.0, f64::from(b.y) + f64::from(b.h) / 2.0);
        if let Ok(img) = photo.window(cx, cy, side, CROP_PX, [226, 226, 230]) {
            if let Ok(j) = jpeg(&img, 85) {
                out.push((cell_name(seq, i), j));
            }
        }
    }
    (out, Some((w, h)))
}

const SIZES: &str = "view/sizes.json";

/// Each field's photo size (displayed pixels), by field seq: the frame the
/// page draws the boxes in.
pub async fn sizes(db: &Db, case_id: i64) -> Result<std::collections::BTreeMap<i64, (u32, u32)>, Error> {
    Ok(file(db, case_id, SIZES)
        .await?
        .and_then(|(_, data)| serde_json::from_slice::<Vec<(i64, u32, u32)>>(&data).ok())
        .unwrap_or_default()
        .into_iter()
        .map(|(s, w, h)| (s, (w, h)))
        .collect())
}

/// Makes the pictures of a case that has its photos and has none yet.
pub async fn ensure(db: &Db, case_id: i64, record: &Record) -> Result<(), Error> {
    if file(db, case_id, SIZES).await?.is_some() {
        return Ok(());
    }
    let mut sizes: Vec<(i64, u32, u32)> = Vec::new();
    for f in &record.fields {
        if !f.report.quality.ok {
            continue;
        }
        let name = format!("photos/{}.jpg", f.seq);
        let photo: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT data FROM case_files WHERE case_id = $1 AND name = $2")
                .bind(case_id)
                .bind(&name)
                .fetch_optional(&db.pool)
                .await?;
        let Some((bytes,)) = photo else { continue };
        let (seq, cells) = (f.seq, f.report.cells.clone());
        let (pics, size) = tokio::task::spawn_blocking(move || pictures_of(&bytes, seq, &cells))
            .await
            .map_err(|_| Error::Internal("picture task failed"))?;
        if let Some((w, h)) = size {
            sizes.push((seq, w, h));
        }
        let mut tx = db.pool.begin().await?;
        for (name, data) in pics {
            sqlx::query(
                "INSERT INTO case_files (case_id, name, content_type, data) VALUES ($1, $2, 'image/jpeg', $3) \
                 ON CONFLICT (case_id, name) DO NOTHING",
            )
            .bind(case_id)
            .bind(name)
            .bind(data)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    }
    // Written last: its presence says the pictures are all made.
    sqlx::query(
        "INSERT INTO case_files (case_id, name, content_type, data) VALUES ($1, $2, 'application/json', $3) \
         ON CONFLICT (case_id, name) DO NOTHING",
    )
    .bind(case_id)
    .bind(SIZES)
    .bind(serde_json::to_vec(&sizes).unwrap_or_default())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// One stored file of a case.
pub async fn file(db: &Db, case_id: i64, name: &str) -> Result<Option<(String, Vec<u8>)>, Error> {
    Ok(sqlx::query_as("SELECT content_type, data FROM case_files WHERE case_id = $1 AND name = $2")
        .bind(case_id)
        .bind(name)
        .fetch_optional(&db.pool)
        .await?)
}
