//! The picture a health worker and the hospital look at: the field of view, each
//! white cell boxed in its class colour with its label, and the verdict in a
//! banner. Sized for a phone screen (longer side at most 1280 px), thick lines,
//! large text.
use super::analyze::Analyzed;
use font8x8::UnicodeFonts;
use image::{Rgb, RgbImage};

const MAX_SIDE: u32 = 1280;

/// One colour per class, distinguishable for common colour-vision deficiencies
/// (Okabe-Ito palette), and repeated in order for further labels.
const PALETTE: [[u8; 3]; 8] = [
    [0, 114, 178],   // blue
    [230, 159, 0],   // orange
    [0, 158, 115],   // green
    [204, 121, 167], // purple
    [86, 180, 233],  // sky
    [213, 94, 0],    // vermilion
    [240, 228, 66],  // yellow
    [40, 40, 40],    // black
];

/// A cell beyond the cell pack's familiarity line: boxed in grey whatever its
/// label, since a session does not count it.
const UNFAMILIAR: [u8; 3] = [150, 150, 150];

pub fn class_colour(labels: &[String], label: &str) -> [u8; 3] {
    let i = labels.iter().position(|l| l == label).unwrap_or(labels.len());
    PALETTE[i % PALETTE.len()]
}

/// Draws the overlay. `cell_labels` fixes the colour of each class.
pub fn render(a: &Analyzed, cell_labels: &[String]) -> RgbImage {
    let (w, h) = a.photo.displayed();
    let long = f64::from(w.max(h));
    let k = (f64::from(MAX_SIDE) / long).min(1.0);
    let (ow, oh) = (((f64::from(w) * k).round() as u32).max(1), ((f64::from(h) * k).round() as u32).max(1));
    // The whole photo as one square window, cropped back to its own shape.
    let n = ow.max(oh);
    let mut img = match a.photo.window(f64::from(w) / 2.0, f64::from(h) / 2.0, long, n, [20, 20, 20]) {
        Ok(sq) => image::imageops::crop_imm(&sq, (n - ow) / 2, (n - oh) / 2, ow, oh).to_image(),
        Err(_) => image::imageops::resize(a.photo.view(), ow, oh, image::imageops::FilterType::Triangle),
    };
    // Displayed-photo pixels to overlay pixels.
    let z = f64::from(ow) / f64::from(w);
    let unit = (img.width().max(img.height()) / 400).max(2);
    let r = &a.report;
    if let Some(f) = r.quality.fov {
        circle(&mut img, f.cx * z, f.cy * z, f.r * z, [255, 215, 0], unit);
    }
    for c in &r.cells {
        let far = c.unfamiliar();
        let col = if far { UNFAMILIAR } else { class_colour(cell_labels, &c.label) };
        let [x, y, w, h] = <[u32; 4]>::from(c.bbox).map(|v| (f64::from(v) * z).round() as i64);
        rect(&mut img, x, y, w, h, col, unit);
        let text = if far {
            format!("{}? unfamiliar", c.label)
        } else {
            format!("{} {:.0}%", c.label, c.confidence * 100.0)
        };
        let ty = if y - (8 * unit as i64 + 6) >= 0 { y - (8 * unit as i64 + 6) } else { y + h + 2 };
        label(&mut img, x, ty, &text, col, unit);
    }
    banner(&img, a, unit)
}

fn banner(img: &RgbImage, a: &Analyzed, unit: u32) -> RgbImage {
    let lines = banner_lines(&a.report);
    // Long lines (the cell counts, a health-worker sentence) wrap at the width.
    let per_line = ((img.width().saturating_sub(unit * 4)) / (8 * unit)).max(10) as usize;
    let lines: Vec<(String, [u8; 3])> =
        lines.into_iter().flat_map(|(t, c)| wrap(&t, per_line).into_iter().map(move |l| (l, c))).collect();
    let line_h = 8 * unit + unit * 2;
    let bh = line_h * lines.len() as u32 + unit * 2;
    let (w, h) = img.dimensions();
    let mut out = RgbImage::from_pixel(w, h + bh, Rgb([20, 20, 20]));
    image::imageops::overlay(&mut out, img, 0, i64::from(bh));
    for (i, (t, col)) in lines.iter().enumerate() {
        text(&mut out, i64::from(unit * 2), i64::from(unit + line_h * i as u32), t, *col, unit);
    }
    out
}

/// The banner's lines: the verdict and the cell counts, or why the photo was rejected.
fn banner_lines(r: &super::report::FieldReport) -> Vec<(String, [u8; 3])> {
    let mut lines: Vec<(String, [u8; 3])> = Vec::new();
    if r.quality.ok {
        if let Some(s) = &r.screen {
            let bad = s.label != "benign";
            let col = if bad { [255, 120, 100] } else { [140, 230, 140] };
            lines.push((
                format!(
                    "Screen: {} ({:.0}%, {} tile{})",
                    s.label,
                    s.confidence * 100.0,
                    s.tiles,
                    if s.tiles == 1 { "" } else { "s" }
                ),
                col,
            ));
        }
        let mut counts: Vec<(String, usize)> = Vec::new();
        for c in r.cells.iter().filter(|c| !c.unfamiliar()) {
            match counts.iter_mut().find(|(l, _)| *l == c.label) {
                Some(e) => e.1 += 1,
                None => counts.push((c.label.clone(), 1)),
            }
        }
        counts.sort_by_key(|c| std::cmp::Reverse(c.1));
        let mut parts: Vec<String> = counts.iter().map(|(l, n)| format!("{l} {n}")).collect();
        let far = r.cells.iter().filter(|c| c.unfamiliar()).count();
        if far > 0 {
            parts.push(format!("{far} unlike the training data (not counted)"));
        }
        let n = r.cells.len();
        let what = format!("{n} white cell{}", if n == 1 { "" } else { "s" });
        lines.push((format!("{what}: {}", parts.join(", ")), [255, 255, 255]));
    } else {
        lines.push(("Photo rejected".into(), [255, 120, 100]));
        for i in &r.quality.issues {
            lines.push((i.message.clone(), [255, 255, 255]));
        }
    }
    lines
}

/// Words into lines of at most `width` characters (a longer word gets a line).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in text.split(' ') {
        match out.last_mut() {
            Some(l) if l.chars().count() + 1 + word.chars().count() <= width => {
                l.push(' ');
                l.push_str(word);
            }
            _ => out.push(word.to_string()),
        }
    }
    out
}

fn put(img: &mut RgbImage, x: i64, y: i64, c: [u8; 3]) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, Rgb(c));
    }
}

fn rect(img: &mut RgbImage, x: i64, y: i64, w: i64, h: i64, c: [u8; 3], t: u32) {
    for k in 0..i64::from(t) {
        for xx in x..=x + w {
            put(img, xx, y + k, c);
            put(img, xx, y + h - k, c);
        }
        for yy in y..=y + h {
            put(img, x + k, yy, c);
            put(img, x + w - k, yy, c);
        }
    }
}

fn circle(img: &mut RgbImage, cx: f64, cy: f64, r: f64, c: [u8; 3], t: u32) {
    let steps = (r * 7.0).max(64.0) as usize;
    for i in 0..steps {
        let a = i as f64 / steps as f64 * std::f64::consts::TAU;
        for k in 0..t {
            let rr = r - f64::from(k);
            put(img, (cx + rr * a.cos()) as i64, (cy + rr * a.sin()) as i64, c);
        }
    }
}

/// Text on a white strip, for labels over the photo.
fn label(img: &mut RgbImage, x: i64, y: i64, s: &str, c: [u8; 3], unit: u32) {
    let w = s.chars().count() as i64 * 8 * i64::from(unit) + 4;
    for yy in y..y + 8 * i64::from(unit) + 4 {
        for xx in x..x + w {
            put(img, xx, yy, [255, 255, 255]);
        }
    }
    text(img, x + 2, y + 2, s, c, unit);
}

fn text(img: &mut RgbImage, x: i64, y: i64, s: &str, c: [u8; 3], unit: u32) {
    let u = i64::from(unit);
    for (i, ch) in s.chars().enumerate() {
        let glyph = font8x8::BASIC_FONTS.get(ch).or_else(|| font8x8::BASIC_FONTS.get('?')).unwrap_or([0; 8]);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) != 0 {
                    for dy in 0..u {
                        for dx in 0..u {
                            put(img, x + (i as i64 * 8 + col) * u + dx, y + row as i64 * u + dy, c);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::report::{Cell, FieldReport, Fov, Probs, Quality};
    use crate::{DecodeLimits, Photo};

    fn photo(w: u32, h: u32) -> Photo {
        let img = RgbImage::from_pixel(w, h, Rgb([230, 220, 220]));
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        Photo::open(&png, &DecodeLimits::default(), 500).unwrap()
    }

    fn analyzed_4000x3000(report: FieldReport) -> Analyzed {
        Analyzed {
            report,
            photo: photo(4000, 3000),
            tile_outputs: vec![],
            cell_outputs: vec![],
            cell_boxes: vec![],
            background: [235.0; 3],
            timing_ms: Default::default(),
        }
    }

    #[test]
    fn boxes_land_on_their_cells() {
        let labels: Vec<String> = ["neutrophil", "lymphocyte"].map(String::from).to_vec();
        let cell = |x, label: &str| Cell {
            bbox: [x, 1000, 300, 300].into(),
            label: label.into(),
            confidence: 0.9,
            probs: Probs::default(),
            distance: None,
        };
        let report = FieldReport {
            quality: Quality {
                ok: true,
                issues: vec![],
                focus: 0.9,
                exposure: 0.6,
                fov: Some(Fov { cx: 2000.0, cy: 1500.0, r: 1300.0 }),
            },
            scale: None,
            cells: (0..12)
                .map(|i| cell(200 + i * 300, if i % 2 == 0 { "neutrophil" } else { "lymphocyte" }))
                .collect(),
            screen: None,
            models: vec![],
            site: None,
        };
        let analyzed = analyzed_4000x3000(report);
        let img = render(&analyzed, &labels);
        assert_eq!(img.width(), 1280);
        // The photo is 960 px tall at this size; the banner (one line of
        // counts, 8 px glyphs at 3x) sits above it.
        let banner = img.height() - 960;
        assert_eq!(banner, 36);
        // The first cell's left edge, at 200 * 0.32 = 64 px.
        let y = banner + (1150.0 * 0.32) as u32;
        assert_eq!(img.get_pixel(64, y).0, class_colour(&labels, "neutrophil"));
        assert_ne!(class_colour(&labels, "neutrophil"), class_colour(&labels, "lymphocyte"));
    }

    #[test]
    fn cells_beyond_the_familiarity_line_are_grey_and_not_counted() {
        let labels: Vec<String> = ["neutrophil", "lymphocyte"].map(String::from).to_vec();
        let cell = |x, distance| Cell {
            bbox: [x, 1000, 300, 300].into(),
            label: "neutrophil".into(),
            confidence: 0.9,
            probs: Probs::default(),
            distance,
        };
        let report = FieldReport {
            quality: Quality { ok: true, issues: vec![], focus: 0.9, exposure: 0.6, fov: None },
            scale: None,
            cells: vec![cell(200, Some(0.6)), cell(1200, Some(1.3)), cell(2200, Some(1.0))],
            screen: None,
            models: vec![],
            site: None,
        };
        let analyzed = analyzed_4000x3000(report);
        let img = render(&analyzed, &labels);
        let banner = img.height() - 960;
        let y = banner + (1150.0 * 0.32) as u32;
        let edge = |x: f64| img.get_pixel((x * 0.32) as u32, y).0;
        assert_eq!(edge(200.0), class_colour(&labels, "neutrophil"));
        assert_eq!(edge(1200.0), UNFAMILIAR, "beyond the line");
        assert_eq!(edge(2200.0), class_colour(&labels, "neutrophil"), "on the line is familiar");
        let counts = &banner_lines(&analyzed.report)[0].0;
        assert_eq!(counts, "3 white cells: neutrophil 2, 1 unlike the training data (not counted)");
        let mut one = analyzed.report.clone();
        one.cells.truncate(1);
        assert_eq!(banner_lines(&one)[0].0, "1 white cell: neutrophil 1");
    }

    #[test]
    fn wrap_keeps_words_and_width() {
        let lines =
            wrap("Too few cells here: move to a part of the smear where the cells lie close together.", 20);
        assert!(lines.len() >= 4 && lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
        assert_eq!(
            lines.join(" "),
            "Too few cells here: move to a part of the smear where the cells lie close together."
        );
    }
}
