//! The quality gate: every reason a photo cannot be trusted, each with a stable
//! code and one sentence a health worker can act on. Thresholds live in
//! [`QualityOptions`]; scripts/evaluate_pipeline.py shows on degraded real
//! fields that they reject what the models get wrong.
use super::raster::{box_luma, luma};
use super::scale::CellLayer;
use crate::field::report::{Fov, QualityIssue};
use image::RgbImage;

#[derive(Debug, Clone, PartialEq)]
pub struct QualityOptions {
    /// Minimum focus measure (normalised Laplacian energy at red-cell scale 10 px).
    pub focus_min: f64,
    /// Median brightness (0..1) below which the photo is too dark.
    pub dark_max: f64,
    /// Fraction of clipped pixels above which the photo is burnt out.
    pub clipped_max: f64,
    /// Smallest share of the frame the aperture may cover.
    pub fov_min_fraction: f64,
    /// Largest share of the aperture that may lie outside the frame.
    pub fov_cut_max: f64,
    /// Cell coverage of the field below which it is too sparse, above which too crowded.
    pub coverage_min: f64,
    pub coverage_max: f64,
    /// Share of cell pixels with a stain-like colour below which it is not a smear.
    pub stain_min: f64,
}

impl Default for QualityOptions {
    fn default() -> Self {
        Self {
            focus_min: 0.30,
            dark_max: 0.22,
            clipped_max: 0.35,
            fov_min_fraction: 0.12,
            fov_cut_max: 0.4,
            coverage_min: 0.04,
            coverage_max: 0.88,
            stain_min: 0.5,
        }
    }
}

/// Measurements the gate decides on.
#[derive(Debug, Clone, PartialEq)]
pub struct Measures {
    pub focus: f64,
    pub exposure: f64,
    pub clipped: f64,
    /// Share of the frame inside the aperture (1 without one).
    pub fov_fraction: f64,
    /// Share of the aperture outside the frame (0 without one).
    pub fov_cut: f64,
}

pub fn issue(code: &str) -> QualityIssue {
    let message = match code {
        "not_a_smear" => {
            "This does not look like a stained blood smear: photograph the slide through the eyepiece."
        }
        "no_cells" => {
            "No cells found: check that the slide is on the stage and the lamp is on, then refocus."
        }
        "too_dark" => "Too dark: turn up the microscope lamp or open the condenser diaphragm.",
        "burnt_out" => "Too bright, the cells are washed out: turn the lamp down.",
        "out_of_focus" => "Out of focus: turn the fine focus knob slowly until the cell edges are sharp.",
        "fov_too_small" => "The bright circle is too small: hold the phone closer to the eyepiece.",
        "fov_off_centre" => "The bright circle is cut off: centre the phone over the eyepiece.",
        "too_sparse" => "Too few cells here: move to a part of the smear where the cells lie close together.",
        "too_crowded" => "The cells overlap too much: move towards the thin, feathered end of the smear.",
        "scale_unknown" => {
            "The red cells could not be measured: move to a thinner part of the smear and refocus."
        }
        _ => "This photo cannot be used: take another one.",
    };
    QualityIssue { code: code.to_string(), message: message.to_string() }
}

/// Brightness and clipping of the raw (not normalised) photo inside the field.
pub fn exposure(raw: &RgbImage, fov: Option<&Fov>) -> (f64, f64) {
    let mut hist = [0u64; 256];
    let (mut n, mut clipped) = (0u64, 0u64);
    let step = ((raw.width() as usize * raw.height() as usize) / 250_000).max(1);
    for (i, (x, y, p)) in raw.enumerate_pixels().enumerate() {
        if i % step != 0 {
            continue;
        }
        if let Some(f) = fov {
            if (f64::from(x) - f.cx).powi(2) + (f64::from(y) - f.cy).powi(2) > (f.r * 0.95).powi(2) {
                continue;
            }
        }
        hist[luma(p.0) as usize] += 1;
        n += 1;
        if p.0.iter().all(|&c| c >= 250) {
            clipped += 1;
        }
    }
    if n == 0 {
        return (0.0, 0.0);
    }
    let mut acc = 0;
    let mut median = 0;
    for (v, c) in hist.iter().enumerate() {
        acc += c;
        if acc * 2 >= n {
            median = v;
            break;
        }
    }
    (median as f64 / 255.0, clipped as f64 / n as f64)
}

/// Focus: RMS of the Laplacian over RMS contrast, at a scale where red cells are
/// about 10 px across (so the number means the same at any resolution).
pub fn focus(norm: &RgbImage, fov: Option<&Fov>, rbc: Option<f64>) -> f64 {
    let k = rbc.map(|d| (d / 10.0).floor().max(1.0) as u32).unwrap_or(1);
    if norm.width() / k < 3 || norm.height() / k < 3 {
        return 0.0;
    }
    let (g, w, h) = box_luma(norm, k);
    let kf = f64::from(k);
    let (mut s, mut s2, mut l2, mut n) = (0f64, 0f64, 0f64, 0f64);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            if let Some(f) = fov {
                let (px, py) = ((x as f64 + 0.5) * kf, (y as f64 + 0.5) * kf);
                if (px - f.cx).powi(2) + (py - f.cy).powi(2) > (f.r * 0.9).powi(2) {
                    continue;
                }
            }
            let c = g[y * w + x];
            let lap = 4.0 * c - g[y * w + x - 1] - g[y * w + x + 1] - g[(y - 1) * w + x] - g[(y + 1) * w + x];
            s += f64::from(c);
            s2 += f64::from(c) * f64::from(c);
            l2 += f64::from(lap) * f64::from(lap);
            n += 1.0;
        }
    }
    if n < 10.0 {
        return 0.0;
    }
    let var = (s2 / n - (s / n).powi(2)).max(0.0);
    if var < 1.0 {
        return 0.0;
    }
    (l2 / n).sqrt() / var.sqrt()
}

/// Share of the frame inside the aperture, and share of the aperture outside the frame.
pub fn fov_coverage(fov: Option<&Fov>, w: u32, h: u32) -> (f64, f64) {
    let Some(f) = fov else { return (1.0, 0.0) };
    // Sample the circle on a grid.
    let (mut inside_frame, mut total) = (0u32, 0u32);
    let n = 64;
    for i in 0..n {
        for j in 0..n {
            let x = f.cx - f.r + (2.0 * f.r) * (f64::from(i) + 0.5) / f64::from(n);
            let y = f.cy - f.r + (2.0 * f.r) * (f64::from(j) + 0.5) / f64::from(n);
            if (x - f.cx).powi(2) + (y - f.cy).powi(2) > f.r * f.r {
                continue;
            }
            total += 1;
            if x >= 0.0 && y >= 0.0 && x < f64::from(w) && y < f64::from(h) {
                inside_frame += 1;
            }
        }
    }
    let area_in = std::f64::consts::PI * f.r * f.r * f64::from(inside_frame) / f64::from(total.max(1));
    (area_in / (f64::from(w) * f64::from(h)), 1.0 - f64::from(inside_frame) / f64::from(total.max(1)))
}

/// Decides. Order matters only for reading: the most basic reasons first.
pub fn gate(m: &Measures, cells: &CellLayer, o: &QualityOptions) -> Vec<QualityIssue> {
    let mut codes: Vec<&str> = Vec::new();
    if m.exposure < o.dark_max {
        codes.push("too_dark");
    }
    if m.clipped > o.clipped_max {
        codes.push("burnt_out");
    }
    if codes.is_empty() {
        if cells.coverage < 0.01
            || (cells.rbc_diameter.is_none() && cells.measured_cells == 0 && cells.coverage < o.coverage_min)
        {
            codes.push("no_cells");
        } else if cells.stain_like < o.stain_min
            || (cells.rbc_diameter.is_none() && cells.measured_cells == 0)
        {
            codes.push("not_a_smear");
        }
    }
    if m.fov_fraction < o.fov_min_fraction {
        codes.push("fov_too_small");
    }
    if m.fov_cut > o.fov_cut_max {
        codes.push("fov_off_centre");
    }
    let usable = !codes.iter().any(|c| matches!(*c, "too_dark" | "burnt_out" | "no_cells" | "not_a_smear"));
    if usable {
        // Focus is measured at red-cell scale; without a scale it means little.
        if cells.rbc_diameter.is_some() && m.focus < o.focus_min {
            codes.push("out_of_focus");
        }
        if cells.coverage < o.coverage_min {
            codes.push("too_sparse");
        } else if cells.coverage > o.coverage_max {
            codes.push("too_crowded");
        } else if cells.rbc_diameter.is_none() {
            codes.push(if m.focus < o.focus_min { "out_of_focus" } else { "scale_unknown" });
        }
    }
    codes.into_iter().map(issue).collect()
}
