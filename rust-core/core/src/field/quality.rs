//! The quality gate: every reason a photo cannot be trusted, each with a stable
//! code and one sentence a health worker can act on. Thresholds live in
//! [`QualityOptions`]; scripts/evaluate_pipeline.py shows on degraded real
//! fields that they reject what the models get wrong.
use super::raster::{luma, otsu, Gray};
use super::scale::RbcScale;
use crate::field::report::{Fov, IssueCode, QualityIssue};
use image::RgbImage;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QualityOptions {
    /// Minimum focus measure (edge steepness on the work image, see [`focus`]).
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
    /// Share of the field's mid-tone pixels in its few most frequent exact
    /// colours above which it is drawn, not photographed (see [`flat_colour`]).
    pub flat_max: f64,
}

impl Default for QualityOptions {
    fn default() -> Self {
        Self {
            focus_min: 0.58,
            dark_max: 0.15,
            clipped_max: 0.12,
            fov_min_fraction: 0.12,
            fov_cut_max: 0.4,
            coverage_min: 0.04,
            coverage_max: 0.88,
            stain_min: 0.25,
            flat_max: FLAT_MAX,
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
    /// How drawn the field looks (see [`flat_colour`]).
    pub flat: f64,
}

/// The gate's issue for `code`, with its sentence for the health worker.
pub fn issue(code: IssueCode) -> QualityIssue {
    let message = match code {
        IssueCode::NotASmear => {
            "This does not look like a stained blood smear: photograph the slide through the eyepiece."
        }
        IssueCode::NoCells => {
            "No cells found: check that the slide is on the stage and the lamp is on, then refocus."
        }
        IssueCode::TooDark => "Too dark: turn up the microscope lamp or open the condenser diaphragm.",
        IssueCode::BurntOut => "Too bright, the cells are washed out: turn the lamp down.",
        IssueCode::OutOfFocus => {
            "Out of focus: turn the fine focus knob slowly until the cell edges are sharp."
        }
        IssueCode::FovTooSmall => "The bright circle is too small: hold the phone closer to the eyepiece.",
        IssueCode::FovOffCentre => "The bright circle is cut off: centre the phone over the eyepiece.",
        IssueCode::TooSparse => {
            "Too few cells here: move to a part of the smear where the cells lie close together."
        }
        IssueCode::TooCrowded => {
            "The cells overlap too much: move towards the thin, feathered end of the smear."
        }
        IssueCode::ScaleUnknown => {
            "The red cells could not be measured: move to a thinner part of the smear and refocus."
        }
        IssueCode::UnfamiliarImage => {
            "This microscope, stain or picture is unlike anything the models were calibrated on: \
             run site calibration with this microscope's normal slides, or send the slide for expert review."
        }
    };
    QualityIssue { code, message: message.to_string() }
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

/// A photograph's pixels carry sensor noise, so in the cells and stain few of
/// them share an exact colour; a drawing, a cartoon smear or a screenshot is
/// made of flat fills that survive downscaling and most JPEG coding. The
/// measure: of the view's mid-tone pixels inside the field (neither
/// black nor the bright background), the share taken by its [`FLAT_COLOURS`]
/// most frequent exact colours (0 when there are too few mid-tone pixels to say).
pub fn flat_colour(view: &RgbImage, fov: Option<&Fov>) -> f64 {
    let w = view.width() as usize;
    let px = view.as_raw();
    let n = px.len() / 3;
    // Every `step`-th pixel in reading order; a step sharing no factor with
    // the width moves the sampled column along from row to row.
    let mut step = (n / FLAT_PX).max(1);
    while step > 1 && gcd(step, w) != 1 {
        step += 1;
    }
    let r2 = fov.map(|f| (f.r * 0.95).powi(2));
    let mut keys: Vec<u32> = Vec::with_capacity(n / step + 1);
    // The sampled pixel's column and row, kept along (no division per pixel).
    let (mut x, mut y) = (0, 0);
    for i in (0..n).step_by(step) {
        let outside = match (fov, r2) {
            (Some(f), Some(r2)) => (x as f64 - f.cx).powi(2) + (y as f64 - f.cy).powi(2) > r2,
            _ => false,
        };
        x += step;
        while x >= w {
            x -= w;
            y += 1;
        }
        if outside {
            continue;
        }
        let p = [px[3 * i], px[3 * i + 1], px[3 * i + 2]];
        if (FLAT_DARK..=FLAT_BRIGHT).contains(&luma(p)) {
            keys.push(u32::from(p[0]) << 16 | u32::from(p[1]) << 8 | u32::from(p[2]));
        }
    }
    if keys.len() < FLAT_MIN_PX {
        return 0.0;
    }
    radsort::sort(&mut keys);
    // The longest runs of one colour, kept as the sorted keys are walked.
    let (mut top, mut least) = ([0usize; FLAT_COLOURS], 0);
    for run in keys.chunk_by(|a, b| a == b).map(<[u32]>::len) {
        if run > top[least] {
            top[least] = run;
            least = (0..FLAT_COLOURS).min_by_key(|&k| top[k]).unwrap_or(0);
        }
    }
    top.iter().sum::<usize>() as f64 / keys.len() as f64
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// How many exact colours [`flat_colour`] counts.
pub const FLAT_COLOURS: usize = 8;
/// Mid-tone: luma from here to [`FLAT_BRIGHT`] (the background of a smear is brighter).
const FLAT_DARK: u8 = 32;
const FLAT_BRIGHT: u8 = 200;
/// Most pixels [`flat_colour`] looks at, and fewest mid-tone ones it decides on.
const FLAT_PX: usize = 60_000;
const FLAT_MIN_PX: usize = 500;
/// The line, from the training fields of every source (`scripts/fit_flat_colour.py`).
pub const FLAT_MAX: f64 = 0.55;

/// Focus: how steep the cells' edges are for their contrast. At the strongest
/// edges of the work image (red cells [`super::analyze::WORK_RBC`] px across,
/// so the number means the same at any magnification and photo size) the
/// gradient is taken twice, as it is and after a blur of about 1.2 px; for an
/// edge blurred by sigma the ratio is sqrt((s^2 + 1.5 + 0.5) / (s^2 + 0.5)),
/// whatever its contrast. Reported as that ratio minus one, the median over
/// edges (about 0.6 for a sharp photo, 0.2 for a badly blurred one).
pub fn focus(norm: &RgbImage, fov: Option<&Fov>) -> f64 {
    let (w, h) = (norm.width() as usize, norm.height() as usize);
    if w < 9 || h < 9 {
        return 0.0;
    }
    let mut g = Gray::channel(norm, 1);
    // A central square of at most FOCUS_PX is plenty of edges (the field is one
    // focal plane).
    let mut fov = fov.copied();
    let side = (FOCUS_PX as f64).sqrt() as usize;
    if w * h > FOCUS_PX * 4 / 3 && w > side && h > side {
        let (cx, cy) = fov.map_or((w as f64 / 2.0, h as f64 / 2.0), |f| (f.cx, f.cy));
        let x0 = ((cx - side as f64 / 2.0).max(0.0) as usize).min(w - side);
        let y0 = ((cy - side as f64 / 2.0).max(0.0) as usize).min(h - side);
        g = g.crop(x0, y0, side, side);
        fov = fov.map(|f| Fov { cx: f.cx - x0 as f64, cy: f.cy - y0 as f64, r: f.r });
    }
    let fov = fov.as_ref();
    let (w, h) = (g.w, g.h);
    let coarse = g.blur3().blur3().blur3();
    let grad = |img: &Gray, x: usize, y: usize| {
        let p = |dx: usize, dy: usize| img.at(x + dx - 1, y + dy - 1);
        let gx = (p(2, 0) + 2.0 * p(2, 1) + p(2, 2)) - (p(0, 0) + 2.0 * p(0, 1) + p(0, 2));
        let gy = (p(0, 2) + 2.0 * p(1, 2) + p(2, 2)) - (p(0, 0) + 2.0 * p(1, 0) + p(2, 0));
        (gx * gx + gy * gy).sqrt()
    };
    let mut edges: Vec<(f32, usize, usize)> = Vec::new();
    for y in 4..h - 4 {
        for x in 4..w - 4 {
            if let Some(f) = fov {
                let (px, py) = (x as f64 + 0.5, y as f64 + 0.5);
                if (px - f.cx).powi(2) + (py - f.cy).powi(2) > (f.r * 0.9).powi(2) {
                    continue;
                }
            }
            edges.push((grad(&coarse, x, y), x, y));
        }
    }
    if edges.len() < 100 {
        return 0.0;
    }
    // The strongest tenth of the coarse gradients, and never flat noise.
    let k = edges.len() - edges.len() / 10;
    edges.select_nth_unstable_by(k, |a, b| a.0.total_cmp(&b.0));
    let strong = &edges[k..];
    let mut ratios: Vec<f32> = strong
        .iter()
        .filter(|e| e.0 > 24.0)
        .map(|&(c, x, y)| {
            // The fine gradient peaks on the edge's centre line: take the
            // largest in the 3x3 around, as the coarse one is spread wider.
            let mut fine = 0f32;
            for dy in 0..3 {
                for dx in 0..3 {
                    fine = fine.max(grad(&g, x + dx - 1, y + dy - 1));
                }
            }
            fine / c
        })
        .collect();
    if ratios.len() < 20 {
        return 0.0;
    }
    let mid = ratios.len() / 2;
    let (_, m, _) = ratios.select_nth_unstable_by(mid, f32::total_cmp);
    f64::from(*m - 1.0).max(0.0)
}

/// Most work-image pixels the focus measure looks at.
const FOCUS_PX: usize = 60_000;

/// What the cell mask says about the field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cover {
    /// Fraction of the field covered by cells (0..1).
    pub coverage: f64,
    /// Fraction of cell pixels stained as smears are: after normalisation both
    /// eosin (red cells) and haematoxylin (nuclei) absorb green most, so green
    /// sits below the mean of red and blue, and neither of those far below green
    /// (which rules out the saturated blues and greens of screens and scenes).
    pub stain_like: f64,
}

/// Cells are darker than the normalised background; `norm` is the colour-
/// normalised work image, `fov` in its pixels.
pub fn cover(norm: &RgbImage, fov: Option<&Fov>) -> Cover {
    let w = norm.width() as usize;
    let in_fov = |i: usize| {
        fov.is_none_or(|f| {
            let (x, y) = ((i % w) as f64, (i / w) as f64);
            (x - f.cx).powi(2) + (y - f.cy).powi(2) <= (f.r * 0.95).powi(2)
        })
    };
    let px: Vec<(u8, [u8; 3])> = norm
        .as_raw()
        .chunks_exact(3)
        .enumerate()
        .filter(|(i, _)| in_fov(*i))
        .map(|(_, p)| {
            let p = [p[0], p[1], p[2]];
            (luma(p), p)
        })
        .collect();
    // Keep the split in a sane band around the background (235 after normalisation).
    let t = otsu(px.iter().map(|p| p.0)).clamp(150, 215);
    let (mut cells, mut stained) = (0usize, 0usize);
    for (l, p) in &px {
        if *l <= t {
            cells += 1;
            let (r, g, b) = (i32::from(p[0]), i32::from(p[1]), i32::from(p[2]));
            if 2 * g + 8 < r + b && r > g - 20 && b > g - 20 {
                stained += 1;
            }
        }
    }
    Cover {
        coverage: cells as f64 / px.len().max(1) as f64,
        stain_like: if cells > 0 { stained as f64 / cells as f64 } else { 0.0 },
    }
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
pub fn gate(m: &Measures, cover: &Cover, scale: Option<&RbcScale>, o: &QualityOptions) -> Vec<QualityIssue> {
    let mut codes: Vec<IssueCode> = Vec::new();
    if m.exposure < o.dark_max {
        codes.push(IssueCode::TooDark);
    }
    // Glare washes the stain out of a smear; a screenshot or a page is mostly
    // white too, but what little it shows is plainly not stained.
    let unstained = cover.coverage >= o.coverage_min && cover.stain_like < o.stain_min;
    if m.clipped > o.clipped_max && !unstained {
        codes.push(IssueCode::BurntOut);
    }
    if codes.is_empty() {
        if cover.coverage < 0.01 || (scale.is_none() && cover.coverage < o.coverage_min) {
            codes.push(IssueCode::NoCells);
        } else if cover.stain_like < o.stain_min || m.flat > o.flat_max {
            // Unstained, or drawn rather than photographed.
            codes.push(IssueCode::NotASmear);
        }
    }
    if m.fov_fraction < o.fov_min_fraction {
        codes.push(IssueCode::FovTooSmall);
    }
    if m.fov_cut > o.fov_cut_max {
        codes.push(IssueCode::FovOffCentre);
    }
    let usable = !codes.iter().any(|c| {
        matches!(c, IssueCode::TooDark | IssueCode::BurntOut | IssueCode::NoCells | IssueCode::NotASmear)
    });
    if usable {
        if m.focus < o.focus_min {
            codes.push(IssueCode::OutOfFocus);
        }
        if cover.coverage < o.coverage_min {
            codes.push(IssueCode::TooSparse);
        } else if cover.coverage > o.coverage_max {
            codes.push(IssueCode::TooCrowded);
        } else if scale.is_none() && m.focus >= o.focus_min {
            codes.push(IssueCode::ScaleUnknown);
        }
    }
    codes.into_iter().map(issue).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> (Measures, Cover, Option<RbcScale>) {
        (
            Measures { focus: 0.9, exposure: 0.6, clipped: 0.0, fov_fraction: 0.4, fov_cut: 0.0, flat: 0.05 },
            Cover { coverage: 0.4, stain_like: 0.9 },
            Some(RbcScale { diameter: 12.0, contrast: 2.0 }),
        )
    }

    fn codes(m: &Measures, c: &Cover, s: Option<&RbcScale>) -> Vec<String> {
        gate(m, c, s, &QualityOptions::default()).into_iter().map(|i| i.code.as_str().to_string()).collect()
    }

    #[test]
    fn each_reason_has_its_code_and_a_sentence() {
        let (m, c, s) = good();
        assert!(codes(&m, &c, s.as_ref()).is_empty());
        let cases: Vec<(&str, Measures, Cover, Option<RbcScale>)> = vec![
            ("too_dark", Measures { exposure: 0.05, ..m.clone() }, c, s),
            ("burnt_out", Measures { clipped: 0.6, ..m.clone() }, Cover { coverage: 0.02, ..c }, s),
            ("not_a_smear", Measures { clipped: 0.6, ..m.clone() }, Cover { stain_like: 0.01, ..c }, s),
            ("no_cells", m.clone(), Cover { coverage: 0.005, stain_like: 0.0 }, None),
            ("not_a_smear", m.clone(), Cover { stain_like: 0.05, ..c }, s),
            ("out_of_focus", Measures { focus: 0.3, ..m.clone() }, c, s),
            ("fov_too_small", Measures { fov_fraction: 0.05, ..m.clone() }, c, s),
            ("fov_off_centre", Measures { fov_cut: 0.6, ..m.clone() }, c, s),
            ("too_sparse", m.clone(), Cover { coverage: 0.02, ..c }, s),
            ("too_crowded", m.clone(), Cover { coverage: 0.95, ..c }, s),
            ("scale_unknown", m.clone(), c, None),
        ];
        for (want, m, c, s) in cases {
            let got = gate(&m, &c, s.as_ref(), &QualityOptions::default());
            assert!(got.iter().any(|i| i.code.as_str() == want), "{want}: {got:?}");
            assert!(got.iter().all(|i| i.message.ends_with('.') && i.message.len() > 20), "{got:?}");
        }
        for c in IssueCode::ALL {
            assert!(issue(c).message.ends_with('.'), "{c}");
        }
    }

    /// Each threshold exactly at its value is on the good side, a hair past it
    /// is not; and which code a borderline photo gets (cargo mutants found
    /// these untested).
    #[test]
    fn each_threshold_passes_at_its_value_and_fails_just_past_it() {
        let o = QualityOptions::default();
        let (m, c, s) = good();
        let e = 1e-9;
        let none: &[&str] = &[];
        /// What, the photo's measures, and the codes it must get (exactly).
        type Case<'a> = (&'a str, Measures, Cover, Option<RbcScale>, &'a [&'a str]);
        let cases: Vec<Case> = vec![
            ("dark at", Measures { exposure: o.dark_max, ..m.clone() }, c, s, none),
            ("dark past", Measures { exposure: o.dark_max - e, ..m.clone() }, c, s, &["too_dark"]),
            ("clipped at", Measures { clipped: o.clipped_max, ..m.clone() }, c, s, none),
            ("clipped past", Measures { clipped: o.clipped_max + e, ..m.clone() }, c, s, &["burnt_out"]),
            // Much white and little stain: a page or a screen, not glare on a smear.
            (
                "unstained at its coverage",
                Measures { clipped: 0.5, ..m.clone() },
                Cover { coverage: o.coverage_min, stain_like: o.stain_min - e },
                s,
                &["not_a_smear"],
            ),
            (
                "glare, too few cells to say",
                Measures { clipped: 0.5, ..m.clone() },
                Cover { coverage: o.coverage_min - e, stain_like: o.stain_min - e },
                s,
                &["burnt_out"],
            ),
            (
                "glare on a stained smear",
                Measures { clipped: 0.5, ..m.clone() },
                Cover { stain_like: o.stain_min, ..c },
                s,
                &["burnt_out"],
            ),
            ("stain at", m.clone(), Cover { stain_like: o.stain_min, ..c }, s, none),
            ("stain past", m.clone(), Cover { stain_like: o.stain_min - e, ..c }, s, &["not_a_smear"]),
            ("flat at", Measures { flat: o.flat_max, ..m.clone() }, c, s, none),
            ("flat past", Measures { flat: o.flat_max + e, ..m.clone() }, c, s, &["not_a_smear"]),
            ("drawn and dark", Measures { flat: 0.9, exposure: 0.05, ..m.clone() }, c, s, &["too_dark"]),
            // Under 1 % cells is no cells, even where red cells were measured.
            ("no cells, scale known", m.clone(), Cover { coverage: 0.01 - e, ..c }, s, &["no_cells"]),
            ("1 % cells, scale known", m.clone(), Cover { coverage: 0.01, ..c }, s, &["too_sparse"]),
            // Without a scale, sparse is no cells; at the coverage line it is a scale problem.
            ("sparse, no scale", m.clone(), Cover { coverage: o.coverage_min - e, ..c }, None, &["no_cells"]),
            (
                "coverage at, no scale",
                m.clone(),
                Cover { coverage: o.coverage_min, ..c },
                None,
                &["scale_unknown"],
            ),
            ("fov at", Measures { fov_fraction: o.fov_min_fraction, ..m.clone() }, c, s, none),
            (
                "fov past",
                Measures { fov_fraction: o.fov_min_fraction - e, ..m.clone() },
                c,
                s,
                &["fov_too_small"],
            ),
            ("cut at", Measures { fov_cut: o.fov_cut_max, ..m.clone() }, c, s, none),
            ("cut past", Measures { fov_cut: o.fov_cut_max + e, ..m.clone() }, c, s, &["fov_off_centre"]),
            ("focus at", Measures { focus: o.focus_min, ..m.clone() }, c, s, none),
            ("focus past", Measures { focus: o.focus_min - e, ..m.clone() }, c, s, &["out_of_focus"]),
            ("focus at, no scale", Measures { focus: o.focus_min, ..m.clone() }, c, None, &["scale_unknown"]),
            // Blur explains a missing scale: one code, not two.
            (
                "blurred, no scale",
                Measures { focus: o.focus_min - e, ..m.clone() },
                c,
                None,
                &["out_of_focus"],
            ),
            ("sparse at", m.clone(), Cover { coverage: o.coverage_min, ..c }, s, none),
            ("sparse past", m.clone(), Cover { coverage: o.coverage_min - e, ..c }, s, &["too_sparse"]),
            ("crowded at", m.clone(), Cover { coverage: o.coverage_max, ..c }, s, none),
            ("crowded past", m.clone(), Cover { coverage: o.coverage_max + e, ..c }, s, &["too_crowded"]),
        ];
        for (what, m, c, s, want) in cases {
            assert_eq!(codes(&m, &c, s.as_ref()), want, "{what}");
        }
    }

    fn picture(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| image::Rgb(f(x, y)))
    }

    /// A few generator steps of a fixed-seed noise, for pixels that vary as a
    /// sensor's do.
    fn noise(x: u32, y: u32) -> u8 {
        let mut v = (u64::from(x) << 32 | u64::from(y)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        v ^= v >> 29;
        (v.wrapping_mul(0xBF58_476D_1CE4_E5B9) >> 56) as u8
    }

    #[test]
    fn flat_fills_read_as_drawn_and_noisy_pixels_as_photographed() {
        // Red discs on a pink page, outlined: a cartoon smear.
        let drawn = picture(400, 300, |x, y| {
            let (dx, dy) = ((x % 40) as i32 - 20, (y % 40) as i32 - 20);
            match dx * dx + dy * dy {
                d if d < 14 * 14 => [200, 80, 100],
                d if d < 16 * 16 => [40, 20, 20],
                _ => [245, 215, 220],
            }
        });
        let flat = flat_colour(&drawn, None);
        assert!(flat > 0.95, "{flat}");
        // The same with sensor noise of a few levels on every channel.
        let shot = picture(400, 300, |x, y| {
            let p = drawn.get_pixel(x, y).0;
            let n = |c: u8, k: u32| c.saturating_add(noise(x * 3 + k, y) % 8).saturating_sub(4);
            [n(p[0], 0), n(p[1], 1), n(p[2], 2)]
        });
        let photographed = flat_colour(&shot, None);
        assert!(photographed < 0.05, "{photographed}");
        // Only the mid-tones count: a white page and a black frame say nothing.
        assert_eq!(
            flat_colour(&picture(400, 300, |x, _| if x < 200 { [255; 3] } else { [5; 3] }), None),
            0.0
        );
        // Only the field counts: drawn outside the aperture, photographed inside.
        let fov = Fov { cx: 200.0, cy: 150.0, r: 100.0 };
        let framed = picture(400, 300, |x, y| {
            let inside = (f64::from(x) - 200.0).powi(2) + (f64::from(y) - 150.0).powi(2) < 95.0f64.powi(2);
            if inside {
                shot.get_pixel(x, y).0
            } else {
                [120, 60, 90]
            }
        });
        assert!(flat_colour(&framed, Some(&fov)) < 0.05);
        assert!(flat_colour(&framed, None) > 0.5, "the frame alone is flat");
    }

    #[test]
    fn flat_colour_samples_every_column_whatever_the_width() {
        // 1600 x 1200 gives a step of 32, which divides the width: a sampler
        // that kept to the same columns in every row would see only the flat
        // stripes (one column in 32) and call a photograph drawn.
        let striped = picture(1600, 1200, |x, y| {
            if x % 32 == 0 {
                [150, 90, 120]
            } else {
                [60 + noise(x * 3, y) % 128, 40 + noise(x * 3 + 1, y) % 128, 60 + noise(x * 3 + 2, y) % 128]
            }
        });
        let flat = flat_colour(&striped, None);
        assert!(flat < 0.1, "{flat}");
        // Inside a field of view, too (the column and row are kept along).
        let fov = Fov { cx: 800.0, cy: 600.0, r: 500.0 };
        let flat = flat_colour(&striped, Some(&fov));
        assert!(flat < 0.1, "{flat}");
        let drawn = picture(1600, 1200, |x, y| if x > 700 && y > 500 { [150, 90, 120] } else { [255; 3] });
        let flat = flat_colour(&drawn, Some(&fov));
        assert!(flat > 0.95, "{flat}");
    }

    #[test]
    fn the_flat_colour_line_is_the_one_fitted_on_training_fields() {
        let fit: serde_json::Value =
            serde_json::from_str(include_str!("../../../../docs/flat-colour-fit.json")).expect("fit json");
        assert_eq!(fit["line"].as_f64(), Some(FLAT_MAX));
        assert_eq!(QualityOptions::default().flat_max, FLAT_MAX);
    }

    #[test]
    fn unusable_photos_are_not_also_judged_for_focus() {
        let (m, c, _) = good();
        let got = codes(&Measures { exposure: 0.05, focus: 0.1, ..m }, &c, None);
        assert_eq!(got, vec!["too_dark"]);
    }
}
