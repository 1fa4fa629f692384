//! Field of view: the round bright aperture of the eyepiece inside a dark
//! surround, or none (a plain microscope-camera frame).
use super::raster::{box_luma, components, otsu, Mask};
use crate::field::report::Fov;
use image::RgbImage;

/// Longer side of the image the aperture is searched on.
const SEARCH_SIDE: u32 = 256;

/// Finds the aperture in `img` (any resolution); the circle is returned in
/// `img` pixels. `None` when the frame has no dark surround.
pub fn find(img: &RgbImage) -> Option<Fov> {
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return None;
    }
    let k = w.max(h).div_ceil(SEARCH_SIDE).max(1);
    let (mean, sw, sh) = box_luma(img, k);
    let lum: Vec<u8> = mean.iter().map(|v| *v as u8).collect();
    let t = otsu(lum.iter().copied());
    // The surround is truly dark; a low Otsu split between two bright classes
    // (dark cells on bright glass) is not an aperture edge.
    let t = t.min(90);
    let bright = Mask::from_fn(sw, sh, |x, y| lum[y * sw + x] > t);
    let dark_fraction = 1.0 - bright.count() as f64 / (sw * sh) as f64;
    if dark_fraction < 0.04 {
        return None;
    }
    // The aperture is the largest bright region; close it so dark cells inside
    // do not punch holes in its outline.
    let bright = bright.fill_holes().dilate(3).erode(3);
    let (labels, comps) = components(&bright);
    let (best, comp) = comps.iter().enumerate().max_by_key(|(_, c)| c.area)?;
    if comp.area < (sw * sh) / 50 {
        return None;
    }
    let id = best as u32 + 1;
    // Outline points: region pixels with a 4-neighbour outside it, not on the frame edge
    // (where the circle is cut by the frame, the edge is not the circle).
    let mut pts = Vec::new();
    for y in 1..sh.saturating_sub(1) {
        for x in 1..sw.saturating_sub(1) {
            let i = y * sw + x;
            if labels[i] != id {
                continue;
            }
            if labels[i - 1] != id || labels[i + 1] != id || labels[i - sw] != id || labels[i + sw] != id {
                pts.push((x as f64 + 0.5, y as f64 + 0.5));
            }
        }
    }
    if pts.len() < 20 {
        return None;
    }
    // Dark cells touching the rim cut notches into the outline: refit on points
    // near the circle, twice.
    let (mut cx, mut cy, mut r) = fit_circle(&pts)?;
    for tol in [0.08, 0.03] {
        let near: Vec<(f64, f64)> = pts
            .iter()
            .copied()
            .filter(|(x, y)| (((x - cx).powi(2) + (y - cy).powi(2)).sqrt() - r).abs() < tol * r)
            .collect();
        if near.len() < 20 {
            break;
        }
        (cx, cy, r) = fit_circle(&near)?;
    }
    // Reject outlines that are not round: most points must lie near the circle.
    let near = pts
        .iter()
        .filter(|(x, y)| (((x - cx).powi(2) + (y - cy).powi(2)).sqrt() - r).abs() < 0.06 * r)
        .count();
    if (near as f64) < 0.7 * pts.len() as f64 || r < 0.1 * sw.min(sh) as f64 {
        return None;
    }
    let kf = f64::from(k);
    // Map back: search pixel centres are at (x + 0.5) * k.
    Some(Fov { cx: cx * kf, cy: cy * kf, r: r * kf })
}

/// Algebraic (Kåsa) least-squares circle through points.
pub fn fit_circle(pts: &[(f64, f64)]) -> Option<(f64, f64, f64)> {
    let n = pts.len() as f64;
    let (mx, my) = pts.iter().fold((0.0, 0.0), |a, p| (a.0 + p.0, a.1 + p.1));
    let (mx, my) = (mx / n, my / n);
    let (mut suu, mut svv, mut suv, mut suuu, mut svvv, mut suvv, mut svuu) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for &(x, y) in pts {
        let (u, v) = (x - mx, y - my);
        suu += u * u;
        svv += v * v;
        suv += u * v;
        suuu += u * u * u;
        svvv += v * v * v;
        suvv += u * v * v;
        svuu += v * u * u;
    }
    let det = suu * svv - suv * suv;
    if det.abs() < 1e-9 {
        return None;
    }
    let b1 = 0.5 * (suuu + suvv);
    let b2 = 0.5 * (svvv + svuu);
    let uc = (b1 * svv - b2 * suv) / det;
    let vc = (suu * b2 - suv * b1) / det;
    let r = (uc * uc + vc * vc + (suu + svv) / n).sqrt();
    Some((uc + mx, vc + my, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aperture(w: u32, h: u32, cx: f64, cy: f64, r: f64) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let d = ((x as f64 + 0.5 - cx).powi(2) + (y as f64 + 0.5 - cy).powi(2)).sqrt();
            if d < r {
                // Bright field with dark "cells".
                if (x / 23 + y / 17) % 5 == 0 {
                    image::Rgb([120, 60, 130])
                } else {
                    image::Rgb([230, 210, 215])
                }
            } else {
                image::Rgb([8, 6, 6])
            }
        })
    }

    #[test]
    fn finds_centred_and_cut_apertures() {
        for (w, h, cx, cy, r) in [(1200, 900, 600.0, 450.0, 380.0), (1200, 900, 760.0, 400.0, 520.0)] {
            let f = find(&aperture(w, h, cx, cy, r)).unwrap();
            assert!((f.cx - cx).abs() < 0.02 * r && (f.cy - cy).abs() < 0.02 * r, "{f:?}");
            assert!((f.r - r).abs() < 0.02 * r, "{f:?} vs {r}");
        }
    }

    #[test]
    fn plain_frames_have_none() {
        let img = RgbImage::from_fn(800, 600, |x, y| {
            if (x / 40 + y / 40) % 3 == 0 {
                image::Rgb([150, 80, 120])
            } else {
                image::Rgb([235, 220, 220])
            }
        });
        assert_eq!(find(&img), None);
        assert_eq!(find(&RgbImage::new(300, 200)), None);
        // Extreme aspect ratios and tiny frames must not read past the edge.
        assert_eq!(find(&RgbImage::new(10_000, 10)), None);
        assert_eq!(find(&RgbImage::new(1, 1)), None);
    }
}
