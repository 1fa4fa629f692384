//! What each bundle carries (docs/wire-format.md): the parts of a session's
//! results bundle and of its photos bundle, made from the record. The phone's
//! outbox seals these; the hospital's tests and load tool make the same.

use crate::bundle::Part;
use crate::report::Photos;
use crate::{Error, Record};

fn json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(v).map_err(|e| Error::Bundle(format!("a part could not be written: {e}")))
}

/// The results bundle: the FHIR Bundle, the SMS text and the summary (no
/// images; a few kilobytes).
pub fn results(record: &Record) -> Result<Vec<Part>, Error> {
    let fhir = crate::fhir::bundle(record, &[]);
    let summary = serde_json::json!({
        "uid": record.uid,
        "device": record.device,
        "session": record.session,
        "result": record.result,
        "reviews": record.reviews,
    });
    Ok(vec![
        Part { name: "fhir.json".into(), content_type: "application/fhir+json".into(), data: json(&fhir)? },
        Part {
            name: "sms.txt".into(),
            content_type: "text/plain; charset=utf-8".into(),
            data: crate::sms::encode(record).into_bytes(),
        },
        Part { name: "summary.json".into(), content_type: "application/json".into(), data: json(&summary)? },
    ])
}

/// The photos bundle: the FHIR Bundle with each field's annotated overlay as
/// a `Media`, the whole record (every field's report), the PDF report, and
/// each photo as taken (`photos/<seq>.jpg`).
pub fn photos(record: &Record, photos: &dyn Photos) -> Result<Vec<Part>, Error> {
    let pdf = crate::report::pdf(record, photos)?;
    let media = crate::report::overlay_media(record, photos)?;
    let fhir = crate::fhir::bundle(record, &media);
    let mut parts = vec![
        Part {
            name: "fhir-overlays.json".into(),
            content_type: "application/fhir+json".into(),
            data: json(&fhir)?,
        },
        Part { name: "record.json".into(), content_type: "application/json".into(), data: json(record)? },
        Part { name: "report.pdf".into(), content_type: "application/pdf".into(), data: pdf },
    ];
    for f in &record.fields {
        parts.push(Part {
            name: format!("photos/{}.jpg", f.seq),
            content_type: "image/jpeg".into(),
            data: photos.photo(&f.photo)?,
        });
    }
    Ok(parts)
}
