//! The report made from the real export fixture, with the demo photo standing
//! in for every field's photo (the store names photos by a keyed hash, so the
//! fixture's names do not lead back to files).

use super::*;
use crate::record::tests::sample;
use image::{Rgb, RgbImage};

const DEMO: &[u8] = include_bytes!("../../../../tests/fixtures/demo/eyepiece_bccd_00339.jpg");

fn demo(_: &str) -> Result<Vec<u8>, Error> {
    Ok(DEMO.to_vec())
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

/// Whether a page shows `needle`: pdf-writer writes an ASCII string as a
/// literal and any other as hex, so look for both.
fn has(hay: &[u8], needle: &str) -> bool {
    let bytes = font::encode(needle);
    let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
    count(hay, &bytes) > 0 || count(hay, hex.as_bytes()) > 0
}

/// The record with its first accepted field repeated to `n` fields.
fn long_session(n: usize) -> Record {
    let mut r = sample();
    let first = r.fields.iter().find(|f| f.report.quality.ok).cloned().expect("an accepted field");
    r.fields = (0..n)
        .map(|i| {
            let mut f = first.clone();
            f.seq = i as i64;
            f.photo = format!("photo-{i}");
            f
        })
        .collect();
    r.reviews.clear();
    r
}

#[test]
fn the_pdf_holds_what_a_reader_needs() {
    let r = sample();
    let pdf = pdf(&r, &demo).expect("pdf");
    assert!(pdf.starts_with(b"%PDF-"), "a PDF header");
    assert!(pdf.ends_with(b"%%EOF\n") || pdf.ends_with(b"%%EOF"), "a PDF trailer");
    // The page streams are not compressed: their text can be read here.
    for text in [
        "P-0001",
        "hw-amina",
        "dr-okafor",
        "INCONCLUSIVE",
        "Capture 10 more fields.",
        "The leukaemia screen needs 3 accepted fields; it has 2.",
        "unfamiliar_image",
        "818dc35503cd3d0c7f40b3306eeadfc83fe4c343dc9dcae6adb7544951fd3c17",
        "851ea28f85be28ef09b16a6a111c4e9b408fb71949449a0aef4d92de8ef44fd5",
        "Decision support, not a diagnosis.",
        "2026-12-06T03:07:22Z",
        "0123456789abcdef",
        "wbc-type.min_confidence",
        "Neutrophil",
        "0.0–100.0%",
    ] {
        assert!(has(&pdf, text), "the PDF says {text:?}");
    }
    // Two accepted fields, one cell each: two overlays and two crops.
    assert_eq!(count(&pdf, b"/DCTDecode"), 4);
    // The standard fonts, not embedded.
    assert!(count(&pdf, b"/BaseFont /Helvetica") >= 1 && count(&pdf, b"/FontFile") == 0);
    let pages = count(&pdf, b"/Type /Page\n") + count(&pdf, b"/Type /Page ");
    assert!((3..=6).contains(&pages), "{pages} pages");
    assert!(has(&pdf, &format!("Page {pages} of {pages}")));
}

#[test]
fn the_outcome_box_takes_the_tone_of_the_outcome() {
    // Amber for inconclusive; red once a reviewer refers.
    let amber = b"0.72 0.42 0 rg";
    let red = b"0.76 0.11 0.11 rg";
    let r = sample();
    let pdf1 = pdf(&r, &demo).expect("pdf");
    assert!(count(&pdf1, amber) > 0 && count(&pdf1, red) == 0);
    let mut r = sample();
    r.session.outcome = Some("refer".into());
    let pdf2 = pdf(&r, &demo).expect("pdf");
    assert!(count(&pdf2, red) > 0);
    assert!(has(&pdf2, "REFER") && has(&pdf2, "The machine's reasons"));
}

#[test]
fn the_html_page_is_self_contained_and_escaped() {
    let mut r = sample();
    r.session.patient = "<b>P&1".into();
    r.reviews[0].reviewer = "Dr. <script>alert(1)</script>".into();
    let page = html(&r, &demo).expect("html");
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("&lt;b&gt;P&amp;1"), "the patient code escaped");
    assert!(!page.contains("<b>P&1"), "never raw");
    assert!(!page.contains("<script>"), "a reviewer name is text, not markup");
    assert!(page.contains("Dr. &lt;script&gt;"));
    assert!(!page.contains("src=\"http") && !page.contains("href=\"http"), "nothing fetched");
    assert_eq!(page.matches("data:image/jpeg;base64,").count(), 4);
    for text in [
        "Inconclusive",
        "Capture 10 more fields.",
        "decision support, not a diagnosis",
        "0.0–100.0%",
        "818dc355",
    ] {
        assert!(page.contains(text), "the page says {text:?}");
    }
}

#[test]
fn pdf_text_with_brackets_and_non_latin_characters_stays_valid() {
    let mut r = sample();
    r.session.patient = "P(1)\\x ☃ é".into();
    let doc = pdf(&r, &demo).expect("pdf");
    // é is WinAnsi 0xE9 (so the string is written as hex); the snowman has
    // no WinAnsi code and becomes '?'.
    assert!(has(&doc, "P(1)\\x ? é"));
    // An ASCII one with brackets is a literal with its brackets escaped.
    let mut r = sample();
    r.session.patient = "P)1(\\".into();
    let doc = pdf(&r, &demo).expect("pdf");
    assert!(count(&doc, b"(P\\)1\\(\\\\)") > 0);
}

#[test]
fn a_photo_that_cannot_be_read_leaves_its_field_without_pictures() {
    let r = sample();
    let broken = |_: &str| -> Result<Vec<u8>, Error> { Err(Error::Photo("not_found".into())) };
    let pdf = pdf(&r, &broken).expect("the report is still made");
    assert_eq!(count(&pdf, b"/DCTDecode"), 0);
    assert!(has(&pdf, "The photo could not be read from the store."));
    let garbage = |_: &str| -> Result<Vec<u8>, Error> { Ok(b"not an image".to_vec()) };
    let page = html(&r, &garbage).expect("html");
    assert!(page.contains("could not be read"));
}

#[test]
fn thirty_fields_of_the_demo_photo_fit_in_two_megabytes_with_every_overlay() {
    let r = long_session(30);
    let pdf = pdf(&r, &demo).expect("pdf");
    assert!(pdf.len() <= 2_000_000, "{} bytes", pdf.len());
    assert_eq!(count(&pdf, b"/DCTDecode"), 60, "30 overlays and 30 crops");
    assert!(has(&pdf, "Field 30"));
}

/// Noise compresses worst: the overlays must shrink (or drop out, said so) to
/// keep the file under 2 MB.
#[test]
fn incompressible_photos_are_shrunk_to_the_budget() {
    let mut img = RgbImage::new(1600, 1200);
    let mut s: u32 = 12345;
    for p in img.pixels_mut() {
        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let v = s.to_be_bytes();
        *p = Rgb([v[0], v[1], v[2]]);
    }
    let noise = images::encode_jpeg(&img, 95).expect("jpeg").bytes;
    let r = long_session(30);
    let photos = |_: &str| -> Result<Vec<u8>, Error> { Ok(noise.clone()) };
    let pdf = pdf(&r, &photos).expect("pdf");
    assert!(pdf.len() <= 2_000_000, "{} bytes", pdf.len());
    let shown = count(&pdf, b"/DCTDecode") - 30;
    if shown < 30 {
        assert!(has(&pdf, "left out to keep the report under 2 MB"), "{shown} overlays and no note");
    }
    assert!(shown >= 15, "only {shown} overlays");
}

#[test]
fn more_fields_than_the_overlay_cap_are_listed_and_said() {
    let r = long_session(images::MAX_OVERLAYS + 2);
    let pdf = pdf(&r, &demo).expect("pdf");
    assert!(has(
        &pdf,
        &format!("Overlays are shown for the first {} of {}", images::MAX_OVERLAYS, images::MAX_OVERLAYS + 2)
    ));
    assert!(has(&pdf, "Not shown: the report shows the first"));
    assert!(pdf.len() <= 2_000_000, "{} bytes", pdf.len());
}

#[test]
fn the_report_is_the_same_each_time() {
    let r = sample();
    assert_eq!(pdf(&r, &demo).expect("pdf"), pdf(&r, &demo).expect("pdf"));
}

#[test]
fn a_long_patient_code_is_shown_whole_on_the_first_page() {
    let mut r = sample();
    let code: String = (0..128).map(|i| char::from(b'A' + (i % 26) as u8)).collect();
    r.session.patient = code.clone();
    let doc = pdf(&r, &demo).expect("pdf");
    // Wrapped across lines in the patient block (the running header cuts it).
    let lines = font::wrap(font::Font::Bold, 15.0, &code, 595.28 - 84.0 - 20.0);
    assert!(lines.len() > 1 && lines.concat() == code);
    for l in &lines {
        assert!(has(&doc, &format!("({l})")), "{l}");
    }
    assert!(has(&doc, &format!("Patient {}", &code[..20])));
}

#[test]
fn an_apps_field_picture_has_every_cell_of_its_field_where_the_report_puts_it() {
    let mut r = sample();
    // One cell below the cell model's confidence threshold: uncertain, drawn dashed.
    let i = r.fields.iter().position(|f| f.report.quality.ok).expect("a field");
    let cell = r.fields[i].report.cells[0].clone();
    r.fields[i].report.cells.push(cell);
    r.fields[i].report.cells[0].confidence = 0.01;
    let f = &r.fields[i];
    let p = pictures::field(&r, &demo, f.seq, 800).expect("picture");
    assert!(p.jpeg.starts_with(&[0xFF, 0xD8]), "a JPEG");
    assert!(p.width.max(p.height) <= 800 && p.width.max(p.height) >= 600, "{}x{}", p.width, p.height);
    assert_eq!(p.marks.len(), f.report.cells.len(), "one mark per cell");
    let cells = doc::cells(&r);
    let index = r.fields.iter().position(|x| x.seq == f.seq).expect("index");
    for (m, c) in p.marks.iter().zip(&cells[index]) {
        assert_eq!(
            (m.cell as usize, &m.label, m.counted),
            (c.cell, &c.label, c.counted),
            "as the report says"
        );
        assert!(m.x >= -1.0 && m.y >= -1.0 && m.x + m.w <= p.width as f32 + 1.0, "on the picture: {m:?}");
    }
    // Twice the size: the marks scale with it.
    let big = pictures::field(&r, &demo, f.seq, 1600).expect("picture");
    let (a, b) = (&p.marks[0], &big.marks[0]);
    let k = big.width as f32 / p.width as f32;
    assert!((b.x - a.x * k).abs() < 2.0 && (b.w - a.w * k).abs() < 2.0, "{a:?} {b:?}");
}

#[test]
fn an_apps_cell_pictures_follow_the_relabels_and_sizes_asked() {
    let r = sample();
    let tiles = pictures::cells(&r, &demo, 128).expect("tiles");
    let all: usize = doc::cells(&r).iter().map(Vec::len).sum();
    assert_eq!(tiles.len(), all, "every cell of every accepted field");
    for t in &tiles {
        let img = image::load_from_memory(&t.jpeg).expect("a JPEG");
        assert_eq!((img.width(), img.height()), (128, 128));
    }
    let relabelled: Vec<_> = r.reviews.iter().filter(|v| v.kind == "relabel_cell").collect();
    assert!(!relabelled.is_empty(), "the fixture has a relabel");
    for v in relabelled {
        let t = tiles.iter().find(|t| Some(t.field) == v.field && Some(t.cell) == v.cell).expect("its tile");
        assert!(t.relabelled && Some(&t.label) == v.to.as_ref() && t.counted, "{t:?}");
    }
}

#[test]
fn an_apps_pictures_refuse_sizes_and_fields_out_of_range() {
    let r = sample();
    for side in [0, 31, 513] {
        assert!(matches!(pictures::cells(&r, &demo, side), Err(Error::Invalid(_))), "side {side}");
    }
    let seq = r.fields.iter().find(|f| f.report.quality.ok).expect("accepted").seq;
    for long in [0, 63, 2049] {
        assert!(matches!(pictures::field(&r, &demo, seq, long), Err(Error::Invalid(_))), "long {long}");
    }
    assert!(matches!(pictures::field(&r, &demo, 999, 800), Err(Error::Invalid(_))), "no such field");
    if let Some(rejected) = r.fields.iter().find(|f| !f.report.quality.ok) {
        assert!(
            matches!(pictures::field(&r, &demo, rejected.seq, 800), Err(Error::Invalid(_))),
            "a rejected field"
        );
    }
    let broken = |_: &str| -> Result<Vec<u8>, Error> { Ok(b"not a jpeg".to_vec()) };
    assert!(matches!(pictures::field(&r, &broken, seq, 800), Err(Error::Photo(_))), "an unreadable photo");
}
