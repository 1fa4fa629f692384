//! Colour and illumination: flatten the lamp's vignetting and colour cast by
//! mapping the local background (plasma and glass between cells) to one neutral
//! grey, so later stages and the models see every photo under the same light.
use super::raster::luma;
use crate::field::report::Fov;
use image::RgbImage;

/// The grey the background is mapped to.
pub const BACKGROUND: f32 = 235.0;
const GRID: usize = 8;

/// Per-channel background level estimated on a coarse grid inside the field.
#[derive(Debug, Clone)]
pub struct Illumination {
    grid_w: usize,
    grid_h: usize,
    cell_w: f32,
    cell_h: f32,
    /// Per grid cell, per channel gain that maps its background to BACKGROUND.
    gains: Vec<[f32; 3]>,
    /// Median background colour (for reports and padding).
    pub background: [f32; 3],
}

fn inside(fov: Option<&Fov>, x: f64, y: f64, margin: f64) -> bool {
    fov.is_none_or(|f| (x - f.cx).powi(2) + (y - f.cy).powi(2) <= (f.r * margin).powi(2))
}

/// Estimates the illumination of `img`; `fov` in `img` pixels.
pub fn estimate(img: &RgbImage, fov: Option<&Fov>) -> Illumination {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (gw, gh) = (GRID, GRID);
    let (cw, ch) = (w as f32 / gw as f32, h as f32 / gh as f32);
    // Background pixels: the brightest quarter (by luminance) of each cell.
    let step = ((w * h) / 400_000).max(1); // sample at most ~400k pixels
    let mut cells: Vec<Vec<[u8; 3]>> = vec![Vec::new(); gw * gh];
    let mut i = 0usize;
    for y in 0..h {
        for x in 0..w {
            i += 1;
            if i % step != 0 || !inside(fov, x as f64, y as f64, 0.95) {
                continue;
            }
            let gx = ((x as f32 / cw) as usize).min(gw - 1);
            let gy = ((y as f32 / ch) as usize).min(gh - 1);
            cells[gy * gw + gx].push(img.get_pixel(x as u32, y as u32).0);
        }
    }
    let mut levels: Vec<Option<[f32; 3]>> = Vec::with_capacity(gw * gh);
    let mut all = Vec::new();
    for c in &mut cells {
        if c.len() < 50 {
            levels.push(None);
            continue;
        }
        c.sort_unstable_by_key(|p| luma(*p));
        let top = &c[c.len() * 3 / 4..];
        let mut s = [0f32; 3];
        for p in top {
            for k in 0..3 {
                s[k] += f32::from(p[k]);
            }
        }
        let m = s.map(|v| (v / top.len() as f32).max(1.0));
        all.push(m);
        levels.push(Some(m));
    }
    let background = if all.is_empty() {
        [BACKGROUND; 3]
    } else {
        let mut med = [0f32; 3];
        for (k, slot) in med.iter_mut().enumerate() {
            let mut v: Vec<f32> = all.iter().map(|m| m[k]).collect();
            v.sort_by(f32::total_cmp);
            *slot = v[v.len() / 2];
        }
        med
    };
    // Cells without enough field pixels borrow the median; a cell much darker than
    // the median is mostly cells, not background, and borrows too.
    let gains = levels
        .iter()
        .map(|l| {
            let l = match l {
                Some(l) if luma_f(*l) > 0.6 * luma_f(background) => *l,
                _ => background,
            };
            l.map(|v| BACKGROUND / v)
        })
        .collect();
    Illumination { grid_w: gw, grid_h: gh, cell_w: cw, cell_h: ch, gains, background }
}

fn luma_f(p: [f32; 3]) -> f32 {
    0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]
}

impl Illumination {
    /// Gain at a pixel, bilinear between grid-cell centres.
    fn gain(&self, x: f32, y: f32) -> [f32; 3] {
        let gx = (x / self.cell_w - 0.5).clamp(0.0, (self.grid_w - 1) as f32);
        let gy = (y / self.cell_h - 0.5).clamp(0.0, (self.grid_h - 1) as f32);
        let (x0, y0) = (gx.floor() as usize, gy.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(self.grid_w - 1), (y0 + 1).min(self.grid_h - 1));
        let (fx, fy) = (gx - x0 as f32, gy - y0 as f32);
        let g = |xx: usize, yy: usize| self.gains[yy * self.grid_w + xx];
        let (a, b, c, d) = (g(x0, y0), g(x1, y0), g(x0, y1), g(x1, y1));
        [0, 1, 2].map(|k| (a[k] * (1.0 - fx) + b[k] * fx) * (1.0 - fy) + (c[k] * (1.0 - fx) + d[k] * fx) * fy)
    }

    /// The normalised image: background mapped to neutral [`BACKGROUND`] grey.
    pub fn apply(&self, img: &RgbImage) -> RgbImage {
        let (w, h) = img.dimensions();
        let mut out = RgbImage::new(w, h);
        // Gains vary slowly: evaluate once per 8x8 block.
        for by in (0..h).step_by(8) {
            for bx in (0..w).step_by(8) {
                let g = self.gain(bx as f32 + 4.0, by as f32 + 4.0);
                for y in by..(by + 8).min(h) {
                    for x in bx..(bx + 8).min(w) {
                        let p = img.get_pixel(x, y).0;
                        out.put_pixel(
                            x,
                            y,
                            image::Rgb(
                                [0, 1, 2].map(|k| (f32::from(p[k]) * g[k]).round().clamp(0.0, 255.0) as u8),
                            ),
                        );
                    }
                }
            }
        }
        out
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
