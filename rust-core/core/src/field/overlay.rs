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

pub fn class_colour(labels: &[String], label: &str) -> [u8; 3] {
    let i = labels.iter().position(|l| l == label).unwrap_or(labels.len());
    PALETTE[i % PALETTE.len()]
}

/// Draws the overlay. `cell_labels` fixes the colour of each class.
pub fn render(a: &Analyzed, cell_labels: &[String]) -> RgbImage {
    let (vw, vh) = a.view.dimensions();
    let k = (f64::from(MAX_SIDE) / f64::from(vw.max(vh))).min(1.0);
    let mut img = if k < 1.0 {
        image::imageops::resize(
            &a.view,
            ((f64::from(vw) * k) as u32).max(1),
            ((f64::from(vh) * k) as u32).max(1),
            image::imageops::FilterType::Triangle,
        )
    } else {
        a.view.clone()
    };
    // Displayed-photo pixels to overlay pixels.
    let z = a.view_scale * k;
    let unit = (img.width().max(img.height()) / 400).max(2);
    let r = &a.report;
    if let Some(f) = r.quality.fov {
        circle(&mut img, f.cx * z, f.cy * z, f.r * z, [255, 215, 0], unit);
    }
    for c in &r.cells {
        let col = class_colour(cell_labels, &c.label);
        let [x, y, w, h] = c.bbox.map(|v| (f64::from(v) * z).round() as i64);
        rect(&mut img, x, y, w, h, col, unit);
        let text = format!("{} {:.0}%", c.label, c.confidence * 100.0);
        let ty = if y - (8 * unit as i64 + 6) >= 0 { y - (8 * unit as i64 + 6) } else { y + h + 2 };
        label(&mut img, x, ty, &text, col, unit);
    }
    banner(&img, a, unit)
}

fn banner(img: &RgbImage, a: &Analyzed, unit: u32) -> RgbImage {
    let r = &a.report;
    let mut lines: Vec<(String, [u8; 3])> = Vec::new();
    if r.quality.ok {
        if let Some(s) = &r.screen {
            let bad = s.label != "benign";
            let col = if bad { [255, 120, 100] } else { [140, 230, 140] };
            lines.push((
                format!("Screen: {} ({:.0}%, {} tiles)", s.label, s.confidence * 100.0, s.tiles),
                col,
            ));
        }
        let mut counts: Vec<(String, usize)> = Vec::new();
        for c in &r.cells {
            match counts.iter_mut().find(|(l, _)| *l == c.label) {
                Some(e) => e.1 += 1,
                None => counts.push((c.label.clone(), 1)),
            }
        }
        counts.sort_by_key(|c| std::cmp::Reverse(c.1));
        let parts: Vec<String> = counts.iter().map(|(l, n)| format!("{l} {n}")).collect();
        lines.push((format!("{} white cells: {}", r.cells.len(), parts.join(", ")), [255, 255, 255]));
    } else {
        lines.push(("Photo rejected".into(), [255, 120, 100]));
        for i in &r.quality.issues {
            lines.push((i.message.clone(), [255, 255, 255]));
        }
    }
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
