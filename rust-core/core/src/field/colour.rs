//! Colour and illumination: flatten the lamp's vignetting and colour cast by
//! mapping the background (plasma and glass between cells) to one neutral
//! grey, so later stages and the models see every photo under the same light.
//!
//! The background level is a smooth surface: per channel a quadratic in x and
//! y (vignetting is close to radial-quadratic), fitted to the brightest pixels
//! of each cell of a 16 x 16 grid, refitted without the grid cells that cells
//! cover (their brightest pixels are still cells). A surface, unlike per-block
//! levels, also holds under crowded fields where some blocks show no plasma.
use super::raster::luma;
use crate::field::report::Fov;
use image::RgbImage;

/// The grey the background is mapped to.
pub const BACKGROUND: f32 = 235.0;
const GRID: usize = 16;
/// Share of each grid cell's pixels (the brightest) taken as its background.
const TOP: f64 = 0.15;

/// The fitted background level of the image it was estimated on.
#[derive(Debug, Clone)]
pub struct Illumination {
    /// Per channel, coefficients of 1, u, v, u², uv, v² (u, v in -1..1 over the image).
    coef: [[f64; 6]; 3],
    half_w: f64,
    half_h: f64,
    /// Median background colour (for reports and padding).
    pub background: [f32; 3],
}

fn inside(fov: Option<&Fov>, x: f64, y: f64, margin: f64) -> bool {
    fov.is_none_or(|f| (x - f.cx).powi(2) + (y - f.cy).powi(2) <= (f.r * margin).powi(2))
}

fn basis(u: f64, v: f64) -> [f64; 6] {
    [1.0, u, v, u * u, u * v, v * v]
}

/// Estimates the illumination of `img`; `fov` in `img` pixels.
pub fn estimate(img: &RgbImage, fov: Option<&Fov>) -> Illumination {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (half_w, half_h) = ((w as f64 / 2.0).max(0.5), (h as f64 / 2.0).max(0.5));
    // Grid cells of at least ~6 px on small work images.
    let grid = (w.min(h) / 6).clamp(3, GRID);
    let (cw, ch) = ((w as f64 / grid as f64).max(1.0), (h as f64 / grid as f64).max(1.0));
    let mut cells: Vec<Vec<(u8, [u8; 3])>> = vec![Vec::new(); grid * grid];
    let raw = img.as_raw();
    for y in 0..h {
        let gy = ((y as f64 / ch) as usize).min(grid - 1);
        for x in 0..w {
            if !inside(fov, x as f64 + 0.5, y as f64 + 0.5, 0.95) {
                continue;
            }
            let gx = ((x as f64 / cw) as usize).min(grid - 1);
            let i = (y * w + x) * 3;
            let p = [raw[i], raw[i + 1], raw[i + 2]];
            cells[gy * grid + gx].push((luma(p), p));
        }
    }
    // (u, v, colour, luma) of each usable grid cell's brightest pixels.
    let mut samples: Vec<(f64, f64, [f64; 3], f64)> = Vec::new();
    for (k, c) in cells.iter_mut().enumerate() {
        if c.len() < 16 {
            continue;
        }
        let n = ((c.len() as f64 * TOP).ceil() as usize).max(1);
        let at = c.len() - n;
        c.select_nth_unstable_by_key(at, |p| p.0);
        let top = &c[at..];
        let mut s = [0f64; 3];
        for (_, p) in top {
            for j in 0..3 {
                s[j] += f64::from(p[j]);
            }
        }
        let m = s.map(|v| v / top.len() as f64);
        let (gx, gy) = (k % grid, k / grid);
        let (cx, cy) = ((gx as f64 + 0.5) * cw, (gy as f64 + 0.5) * ch);
        samples.push((cx / half_w - 1.0, cy / half_h - 1.0, m, 0.299 * m[0] + 0.587 * m[1] + 0.114 * m[2]));
    }
    // Start from the bright end (a quarter of the grid cells brighter), so
    // cell-covered grid cells are dropped before the first fit, not after.
    let background = quantile_colour(&samples, 0.75);
    let mut coef = [[0.0; 6]; 3];
    for (j, c) in coef.iter_mut().enumerate() {
        c[0] = f64::from(background[j]);
    }
    let mut keep = vec![true; samples.len()];
    for k in keep.iter_mut().zip(&samples) {
        let b = 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2];
        *k.0 = k.1 .3 >= 0.92 * f64::from(b);
    }
    for _ in 0..3 {
        let used: Vec<_> = samples.iter().zip(&keep).filter(|(_, k)| **k).map(|(s, _)| *s).collect();
        if used.len() < 8 {
            break;
        }
        for (j, c) in coef.iter_mut().enumerate() {
            if let Some(fit) = least_squares(used.iter().map(|s| (basis(s.0, s.1), s.2[j]))) {
                *c = fit;
            }
        }
        // Grid cells whose brightest pixels sit well below the surface are covered by cells.
        for (k, s) in keep.iter_mut().zip(&samples) {
            let f = eval(&coef, s.0, s.1);
            let fl = 0.299 * f[0] + 0.587 * f[1] + 0.114 * f[2];
            *k = s.3 >= 0.92 * fl;
        }
    }
    Illumination { coef, half_w, half_h, background }
}

fn eval(coef: &[[f64; 6]; 3], u: f64, v: f64) -> [f64; 3] {
    let b = basis(u, v);
    coef.map(|c| c.iter().zip(&b).map(|(a, x)| a * x).sum())
}

/// The colour of the sample at quantile `q` of brightness.
fn quantile_colour(samples: &[(f64, f64, [f64; 3], f64)], q: f64) -> [f32; 3] {
    let mut by: Vec<_> = samples.iter().collect();
    by.sort_by(|a, b| a.3.total_cmp(&b.3));
    match by.get(((by.len() as f64 - 1.0) * q).round() as usize) {
        Some(s) => s.2.map(|v| v as f32),
        None => [BACKGROUND; 3],
    }
}

/// Least squares for six coefficients by the normal equations (Gaussian
/// elimination with partial pivoting); `None` when singular.
fn least_squares(rows: impl Iterator<Item = ([f64; 6], f64)>) -> Option<[f64; 6]> {
    let mut a = [[0f64; 7]; 6];
    for (x, y) in rows {
        for i in 0..6 {
            for j in 0..6 {
                a[i][j] += x[i] * x[j];
            }
            a[i][6] += x[i] * y;
        }
    }
    for col in 0..6 {
        let piv = (col..6).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() < 1e-9 {
            return None;
        }
        a.swap(col, piv);
        let pivot = a[col];
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot[col];
                for (x, p) in row.iter_mut().zip(&pivot).skip(col) {
                    *x -= f * p;
                }
            }
        }
    }
    Some(std::array::from_fn(|i| a[i][6] / a[i][i]))
}

impl Illumination {
    /// Per-channel gain at a pixel of the image this was estimated on.
    fn gain(&self, x: f32, y: f32) -> [f32; 3] {
        let (u, v) = (f64::from(x) / self.half_w - 1.0, f64::from(y) / self.half_h - 1.0);
        // Outside the fitted region a quadratic can run away: stay within a
        // sane band around the median background.
        let (u, v) = (u.clamp(-1.2, 1.2), v.clamp(-1.2, 1.2));
        let level = eval(&self.coef, u, v);
        std::array::from_fn(|k| {
            let b = f64::from(self.background[k]).max(1.0);
            (f64::from(BACKGROUND) / level[k].clamp(0.4 * b, 1.6 * b).max(1.0)) as f32
        })
    }

    /// The normalised image: background mapped to neutral [`BACKGROUND`] grey.
    pub fn apply(&self, img: &RgbImage) -> RgbImage {
        let mut out = img.clone();
        self.apply_mapped(&mut out, 0.0, 0.0, 1.0);
        out
    }

    /// Normalises `img` in place, where pixel (x, y) of `img` lies at
    /// (`x0 + x * step`, `y0 + y * step`) of the image this was estimated on
    /// (so a crop cut at another resolution gets the same light as the field).
    pub fn apply_mapped(&self, img: &mut RgbImage, x0: f32, y0: f32, step: f32) {
        let (w, h) = img.dimensions();
        let (w, h) = (w as usize, h as usize);
        let buf: &mut [u8] = img;
        // Gains vary slowly: evaluate once per 8x8 block.
        for by in (0..h).step_by(8) {
            for bx in (0..w).step_by(8) {
                let g = self.gain(x0 + (bx as f32 + 4.0) * step, y0 + (by as f32 + 4.0) * step);
                // Fixed-point gains (1/256) so the inner loop stays in integers.
                let gi = g.map(|v| (v * 256.0).round().clamp(0.0, 65535.0) as u32);
                for y in by..(by + 8).min(h) {
                    let row = &mut buf[(y * w + bx) * 3..(y * w + (bx + 8).min(w)) * 3];
                    for px in row.chunks_exact_mut(3) {
                        for k in 0..3 {
                            px[k] = ((u32::from(px[k]) * gi[k] + 128) >> 8).min(255) as u8;
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

    #[test]
    fn vignette_and_cast_are_flattened() {
        // Background with a strong left-to-right falloff and a yellow cast, dark dots on it.
        let img = RgbImage::from_fn(400, 300, |x, y| {
            let fall = 1.0 - 0.4 * (x as f32 / 400.0);
            if (x % 37) < 8 && (y % 29) < 8 {
                image::Rgb([90, 40, 110])
            } else {
                image::Rgb([(240.0 * fall) as u8, (225.0 * fall) as u8, (170.0 * fall) as u8])
            }
        });
        let ill = estimate(&img, None);
        let out = ill.apply(&img);
        for x in [20u32, 200, 380] {
            let p = out.get_pixel(x, 150 - 150 % 29 + 15).0;
            for c in p {
                assert!((i32::from(c) - 235).abs() <= 12, "x={x}: {p:?}");
            }
        }
    }
}
