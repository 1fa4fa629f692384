//! A session record as the inbox reads it out of a bundle (the store's
//! export, `Record::from_export`), then everything made from it: the HTML
//! and PDF reports, the FHIR Bundle, the SMS. Typed errors only; no error
//! text repeats a value of the record (it may be a patient's code); the
//! phone's own SMS of any record reads back, with the same session.
#![no_main]
use hemalens_share::{fhir, record, report, sms, Device, Record};

/// Every string value (and object key) of the JSON, at least 4 characters long.
fn strings<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match v {
        serde_json::Value::String(s) if s.chars().count() >= 4 => out.push(s),
        serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        serde_json::Value::Object(m) => m.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// The words `Record::from_export`'s errors are made of: the error's own
/// (`share/src/error.rs`) and the shape problems' (`record::shape`). A value
/// of the record found inside them is a coincidence (the input `"sessi"` in
/// "the session record..."), not a leak; what is left of an error once they
/// are taken out must repeat no value.
const ERROR_WORDS: &[&str] = &[
    "the session record cannot be read: ",
    "the session is still open; close it before sharing",
    "the member  is missing",
];

fn no_photos(_: &str) -> Result<Vec<u8>, hemalens_share::Error> {
    Err(hemalens_share::Error::Photo("no photos in this test".into()))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(export) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let device = Device { id: "0123456789abcdef".into(), app_version: "fuzz".into() };
    let record = match Record::from_export(&export, device) {
        Ok(r) => r,
        Err(e) => {
            // A missing member is named from the format itself, never from the input.
            let text = e.to_string();
            let text = match (text.find('`'), text.rfind('`')) {
                (Some(a), Some(b)) if b > a && text.contains("is missing") => {
                    format!("{}{}", &text[..a], &text[b + 1..])
                }
                _ => text,
            };
            let text = ERROR_WORDS.iter().chain(&record::shape::ALL).fold(text, |t, w| t.replace(w, "\u{0}"));
            let mut values = Vec::new();
            strings(&export, &mut values);
            for v in values {
                assert!(!text.contains(v), "an error repeats a value of the record: {text}");
            }
            return;
        }
    };
    let _ = report::html(&record, &no_photos);
    let _ = report::pdf(&record, &no_photos);
    let _ = fhir::bundle(&record, &[]);
    let text = sms::encode(&record);
    let back = sms::decode(&text).unwrap_or_else(|e| panic!("the phone's own SMS does not read back: {e}"));
    assert_eq!(back.reviewed, record.reviewed());
});
