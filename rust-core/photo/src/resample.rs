//! Triangle-filter resampling of interleaved RGB, the same arithmetic as
//! `image::imageops::resize(.., FilterType::Triangle)` (a vertical pass into
//! f32, then a horizontal pass rounded to u8, with the same taps and the same
//! summation order), specialised for 8-bit RGB: the vertical pass runs over
//! whole rows (vectorised), one output row at a time, and no generic pixel
//! access is involved.
//!
//! The arithmetic is the same (weights, f32 sums in the same order), so the
//! results equal image's; the tests allow 1 level of difference, as the two
//! could part where a sum lies within a rounding error of a half.

// Fixed-size index loops over lanes read like the maths and vectorise.
#![allow(clippy::needless_range_loop)]

/// For each output position: the first input sample and its weights (the
/// triangle filter widened by the reduction ratio, normalised to sum 1).
struct Axis {
    left: Vec<usize>,
    /// Weights of output `o` are `weights[o * width..][..count[o]]`.
    count: Vec<usize>,
    weights: Vec<f32>,
    width: usize,
}

impl Axis {
    /// Taps from `src` samples to `dst`, computed as image's `vertical_sample`
    /// and `horizontal_sample` do.
    fn new(src: u32, dst: u32) -> Self {
        let ratio = src as f32 / dst as f32;
        let sratio = if ratio < 1.0 { 1.0 } else { ratio };
        let support = sratio; // the triangle's support (1) times the ratio
        let width = (2.0 * support).ceil() as usize + 2;
        let mut axis = Axis {
            left: Vec::with_capacity(dst as usize),
            count: Vec::with_capacity(dst as usize),
            weights: vec![0.0; width * dst as usize],
            width,
        };
        for o in 0..dst {
            let input = (o as f32 + 0.5) * ratio;
            let left = ((input - support).floor() as i64).clamp(0, i64::from(src) - 1);
            let right = ((input + support).ceil() as i64).clamp(left + 1, i64::from(src));
            let input = input - 0.5;
            let ws = &mut axis.weights[o as usize * width..][..width];
            let n = ((right - left) as usize).min(width);
            let mut sum = 0.0;
            for (i, w) in ws.iter_mut().enumerate().take(n) {
                let x = ((left + i as i64) as f32 - input) / sratio;
                *w = if x.abs() < 1.0 { 1.0 - x.abs() } else { 0.0 };
                sum += *w;
            }
            for w in ws.iter_mut().take(n) {
                *w /= sum;
            }
            axis.left.push(left as usize);
            axis.count.push(n);
        }
        axis
    }

    fn taps(&self, o: usize) -> (usize, &[f32]) {
        (self.left[o], &self.weights[o * self.width..][..self.count[o]])
    }
}

/// `f32::round` (halves away from zero) of `v` clamped to 0..=255, without a
/// libm call: the fraction left after truncation is exact.
#[inline(always)]
fn round_u8(v: f32) -> u8 {
    let v = if v > 0.0 { v } else { 0.0 };
    let v = if v < 255.0 { v } else { 255.0 };
    // SAFETY: v is in 0..=255 (a NaN became 0 above), so its truncation
    // fits an i32.
    let t = unsafe { v.to_int_unchecked::<i32>() };
    (t + i32::from(v - t as f32 >= 0.5)) as u8
}

/// Resamples interleaved RGB `src` (`w` x `h`) to `nw` x `nh`.
///
/// # Panics
/// If `src` is not `w * h * 3` bytes.
pub fn resize_rgb(src: &[u8], w: u32, h: u32, nw: u32, nh: u32) -> Vec<u8> {
    #[cfg(target_arch = "x86_64")]
    if super::avx2() {
        // SAFETY: the CPU has AVX2 (checked just now).
        return unsafe { resize_rgb_avx2(src, w, h, nw, nh) };
    }
    resize_rgb_body(src, w, h, nw, nh)
}

/// [`resize_rgb`] compiled for AVX2.
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn resize_rgb_avx2(src: &[u8], w: u32, h: u32, nw: u32, nh: u32) -> Vec<u8> {
    resize_rgb_body(src, w, h, nw, nh)
}

#[inline(always)]
fn resize_rgb_body(src: &[u8], w: u32, h: u32, nw: u32, nh: u32) -> Vec<u8> {
    let (wu, nwu) = (w as usize, nw as usize);
    let len = nwu * nh as usize * 3;
    if w == 0 || h == 0 || nw == 0 || nh == 0 || src.len() < wu * h as usize * 3 {
        return vec![0u8; len];
    }
    // One spare byte: each pixel is written as 4 (the next one overwrites the 4th).
    let mut out = vec![0u8; len + 1];
    let ay = Axis::new(h, nh);
    let ax_own = ((w, nw) != (h, nh)).then(|| Axis::new(w, nw));
    let ax = ax_own.as_ref().unwrap_or(&ay);
    // The horizontal weights once per lane, for whole-pixel SIMD steps.
    let wx: Vec<[f32; 4]> = ax.weights.iter().map(|&w| [w; 4]).collect();
    // One spare float: each pixel is read as 4 (R, G, B and the next R).
    // Every output pixel takes the same number of taps (the most any has;
    // the others' extra weights are 0 and read zeros past the row's end):
    // a fixed-length loop.
    let taps_x = ax.count.iter().copied().max().unwrap_or(1);
    let mut col = vec![0f32; (wu + taps_x) * 3 + 1];
    for oy in 0..nh as usize {
        // Vertical: this output row over the whole input width, the taps in
        // order (up to three a pass, summed as one at a time; the first pass
        // starts from 0 without reading, 0 + x being x).
        let (top, ws) = ay.taps(oy);
        let c = &mut col[..wu * 3];
        let row = |i: usize| &src[(top + i) * wu * 3..][..wu * 3];
        for (pass, i) in (0..ws.len()).step_by(3).enumerate() {
            let first = pass == 0;
            match ws.len() - i {
                1 => {
                    let (r0, w0) = (row(i), ws[i]);
                    for (c, &p) in c.iter_mut().zip(r0) {
                        let base = if first { 0.0 } else { *c };
                        *c = base + f32::from(p) * w0;
                    }
                }
                2 => {
                    let (r0, r1, w0, w1) = (row(i), row(i + 1), ws[i], ws[i + 1]);
                    for ((c, &p), &q) in c.iter_mut().zip(r0).zip(r1) {
                        let base = if first { 0.0 } else { *c };
                        *c = (base + f32::from(p) * w0) + f32::from(q) * w1;
                    }
                }
                _ => {
                    let (r0, r1, r2) = (row(i), row(i + 1), row(i + 2));
                    let (w0, w1, w2) = (ws[i], ws[i + 1], ws[i + 2]);
                    for (((c, &p), &q), &r) in c.iter_mut().zip(r0).zip(r1).zip(r2) {
                        let base = if first { 0.0 } else { *c };
                        *c = ((base + f32::from(p) * w0) + f32::from(q) * w1) + f32::from(r) * w2;
                    }
                }
            }
        }
        // Horizontal: R, G, B (and an ignored fourth lane) together.
        let dst = &mut out[oy * nwu * 3..];
        for ox in 0..nwu {
            let (left, n) = (ax.left[ox], taps_x);
            let ws = &wx[ox * ax.width..][..n];
            let px = &col[left * 3..][..n * 3 + 1];
            let mut t = [0f32; 4];
            for (i, wt) in ws.iter().enumerate() {
                let p = &px[i * 3..i * 3 + 4];
                for l in 0..4 {
                    t[l] += p[l] * wt[l];
                }
            }
            let o = &mut dst[ox * 3..ox * 3 + 4];
            for l in 0..4 {
                o[l] = round_u8(t[l]);
            }
        }
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::imageops::{self, FilterType};
    use image::RgbImage;

    fn noise(w: u32, h: u32, seed: u64) -> RgbImage {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        RgbImage::from_fn(w, h, |_, _| {
            let mut c = [0u8; 3];
            for v in &mut c {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                *v = (s >> 24) as u8;
            }
            image::Rgb(c)
        })
    }

    /// Max abs difference against image's resize, and how many values differ.
    fn against_image(img: &RgbImage, n: (u32, u32)) -> (u8, usize) {
        let theirs = imageops::resize(img, n.0, n.1, FilterType::Triangle);
        let ours = resize_rgb(img.as_raw(), img.width(), img.height(), n.0, n.1);
        let mut max = 0;
        let mut count = 0;
        for (a, b) in ours.iter().zip(theirs.as_raw()) {
            max = max.max(a.abs_diff(*b));
            count += usize::from(a != b);
        }
        (max, count)
    }

    #[test]
    fn matches_image_resize_on_random_images() {
        let cases = [
            ((310, 310), (128, 128)),
            ((325, 325), (128, 128)),
            ((450, 450), (128, 128)),
            ((77, 53), (32, 20)),
            ((20, 20), (40, 40)),
            ((7, 5), (3, 9)),
            ((1, 1), (4, 4)),
            ((128, 128), (127, 129)),
        ];
        for (i, (src, n)) in cases.into_iter().enumerate() {
            let img = noise(src.0, src.1, i as u64 + 1);
            let (max, count) = against_image(&img, n);
            assert!(max <= 1, "{src:?} -> {n:?}: max {max}");
            assert!(count * 1000 <= (n.0 * n.1 * 3) as usize, "{src:?} -> {n:?}: {count} values differ");
        }
    }

    #[test]
    fn matches_image_resize_on_real_crops() {
        let bytes = crate::tests::photo_like_jpeg(640, 480, 21);
        let p = crate::Photo::open(&bytes, &crate::DecodeLimits::default(), 10_000).unwrap();
        let view = p.view();
        for (x, y, side) in [(0u32, 0u32, 310u32), (100, 50, 325), (300, 100, 339), (10, 200, 256)] {
            let crop = imageops::crop_imm(view, x, y, side, side).to_image();
            let (max, count) = against_image(&crop, (128, 128));
            assert!(max <= 1, "crop {x},{y},{side}: max {max}");
            assert!(count <= 50, "crop {x},{y},{side}: {count} values differ");
        }
    }

    #[test]
    fn rounding_is_halves_away_from_zero() {
        for v in [0.0f32, 0.49, 0.5, 1.5, 2.5, 254.5, 254.49, 255.0, 300.0, -3.0] {
            assert_eq!(round_u8(v), v.clamp(0.0, 255.0).round() as u8, "{v}");
        }
    }
}
