//! Live camera preview: capture guidance for every preview frame, so the
//! health worker can centre, light and focus the field before taking the
//! photo the pipeline analyses.
//!
//! A frame comes as the camera delivers it (`YUV_420_888`: a luma plane and
//! two chroma planes at half resolution, each with its own row and pixel
//! strides; NV12/NV21 are the case of interleaved chroma, pixel stride 2). It
//! is reduced by a whole factor while it is converted to RGB (box averages,
//! like the 1/8-scale DCT view the pipeline analyses a photo on), and the
//! quality gate's own stages run on that: [`fov::find`], the red-cell scale,
//! the work image at [`WORK_RBC`], [`colour`], [`quality::exposure`],
//! [`quality::focus`], [`quality::cover`], [`quality::gate`] and
//! [`detect::white_cells`]. So the guidance speaks in the gate's codes and
//! units, and a frame the guidance calls ready is one the gate would pass
//! (up to the difference between a preview frame and the full photo).
use super::analyze::{Work, COUNT_WITHIN_FOV, WORK_RBC};
use super::colour;
use super::detect::{self, DetectOptions};
use super::fov;
use super::quality::{self, Measures, QualityOptions};
use super::report::{Fov, IssueCode, QualityIssue};
use super::scale;
use crate::error::Error;
use image::RgbImage;

/// Largest frame accepted, in pixels (a preview is 1 to 12 MP) ...
pub const MAX_FRAME_PX: u64 = 50_000_000;
/// ... and on either side.
pub const MAX_FRAME_SIDE: u32 = 16_384;

/// One plane of a frame: `data[y * row_stride + x * pixel_stride]` is sample (x, y).
#[derive(Debug, Clone, Copy)]
pub struct Plane<'a> {
    pub data: &'a [u8],
    pub row_stride: usize,
    pub pixel_stride: usize,
}

impl<'a> Plane<'a> {
    pub fn new(data: &'a [u8], row_stride: usize, pixel_stride: usize) -> Self {
        Self { data, row_stride, pixel_stride }
    }

    /// Refuses strides that make rows overlap and data too short for `w` x `h`
    /// samples. The last row need only reach its last sample (Android's
    /// interleaved chroma planes end one byte short of a full row).
    fn check(&self, name: &str, w: usize, h: usize) -> Result<(), Error> {
        let bad = |what: String| Err(Error::InvalidArgument(format!("{name} plane: {what}")));
        if self.pixel_stride == 0 || self.row_stride == 0 {
            return bad(format!(
                "row stride {} and pixel stride {} must be positive",
                self.row_stride, self.pixel_stride
            ));
        }
        let row = (w - 1).checked_mul(self.pixel_stride).and_then(|v| v.checked_add(1));
        let Some(row) = row.filter(|r| *r <= self.row_stride) else {
            return bad(format!(
                "row stride {} is shorter than a row of {w} samples {} bytes apart",
                self.row_stride, self.pixel_stride
            ));
        };
        let needed = (h - 1).checked_mul(self.row_stride).and_then(|v| v.checked_add(row));
        match needed {
            Some(n) if n <= self.data.len() => Ok(()),
            _ => bad(format!(
                "{} bytes, {} needed for {w}x{h} samples at row stride {}",
                self.data.len(),
                needed.map_or_else(|| "more than memory holds".to_string(), |n| n.to_string()),
                self.row_stride
            )),
        }
    }
}

/// A checked `YUV_420_888` frame (BT.601 full range, as Android's cameras and
/// iOS's full-range 420 formats deliver it): every sample it names lies inside
/// its planes.
#[derive(Debug, Clone, Copy)]
pub struct YuvFrame<'a> {
    width: usize,
    height: usize,
    y: Plane<'a>,
    u: Plane<'a>,
    v: Plane<'a>,
}

impl<'a> YuvFrame<'a> {
    /// The chroma planes are `ceil(width / 2)` x `ceil(height / 2)` samples.
    /// `InvalidArgument` for an empty or oversized frame, strides that make
    /// rows overlap, or planes too short for their strides.
    pub fn new(width: u32, height: u32, y: Plane<'a>, u: Plane<'a>, v: Plane<'a>) -> Result<Self, Error> {
        if width == 0 || height == 0 {
            return Err(Error::InvalidArgument(format!("frame has no pixels ({width}x{height})")));
        }
        if u64::from(width) * u64::from(height) > MAX_FRAME_PX || width.max(height) > MAX_FRAME_SIDE {
            return Err(Error::InvalidArgument(format!(
                "frame of {width}x{height} pixels exceeds the limits of {MAX_FRAME_PX} pixels and {MAX_FRAME_SIDE} a side"
            )));
        }
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        y.check("y", w, h)?;
        u.check("u", cw, ch)?;
        v.check("v", cw, ch)?;
        Ok(Self { width: w, height: h, y, u, v })
    }

    pub fn width(&self) -> u32 {
        self.width as u32
    }

    pub fn height(&self) -> u32 {
        self.height as u32
    }

    /// The smallest whole factor that brings the longer side to at most
    /// `long_side` (but no more than 256, the most [`YuvFrame::reduced`] takes).
    pub fn factor_for(&self, long_side: u32) -> u32 {
        let long = self.width.max(self.height) as u32;
        long.div_ceil(long_side.max(1)).clamp(1, 256)
    }

    /// The whole frame in RGB, each pixel from its own luma and its 2x2
    /// block's chroma (the plain conversion; the benchmark's baseline).
    pub fn to_rgb(&self) -> RgbImage {
        let (w, h) = (self.width, self.height);
        let mut out = vec![0u8; w * h * 3];
        for (y, dst) in out.chunks_exact_mut(w * 3).enumerate() {
            let yr = &self.y.data[y * self.y.row_stride..];
            let (ur, vr) =
                (&self.u.data[(y / 2) * self.u.row_stride..], &self.v.data[(y / 2) * self.v.row_stride..]);
            for (x, px) in dst.chunks_exact_mut(3).enumerate() {
                let c = x / 2;
                px.copy_from_slice(&rgb(
                    i32::from(yr[x * self.y.pixel_stride]),
                    i32::from(ur[c * self.u.pixel_stride]),
                    i32::from(vr[c * self.v.pixel_stride]),
                ));
            }
        }
        RgbImage::from_raw(w as u32, h as u32, out).unwrap_or_default()
    }

    /// The frame reduced `k` times in each direction (`k` at most 256), in
    /// RGB: each pixel the mean luma of its `k` x `k` block and the mean
    /// chroma of the chroma samples whose centres lie in it. Rows and columns
    /// left over at the right and bottom edges are dropped (a frame narrower
    /// than `k` gives one pixel across).
    pub fn reduced(&self, k: u32) -> RgbImage {
        let k = k.clamp(1, 256) as usize;
        let (w, h) = (self.width, self.height);
        let cps = self.u.pixel_stride;
        let px = if k % 2 == 0 && w >= k && h >= k && self.y.pixel_stride == 1 && self.v.pixel_stride == cps {
            // Constant factors and strides for the common cases, so the
            // compiler unrolls the inner sums (about twice as fast).
            match (k, cps) {
                (2, 1) => self.reduced_even(2, 1),
                (2, 2) => self.reduced_even(2, 2),
                (4, 1) => self.reduced_even(4, 1),
                (4, 2) => self.reduced_even(4, 2),
                (6, 1) => self.reduced_even(6, 1),
                (6, 2) => self.reduced_even(6, 2),
                (8, 1) => self.reduced_even(8, 1),
                (8, 2) => self.reduced_even(8, 2),
                _ => self.reduced_even(k, cps),
            }
        } else {
            self.reduced_any(k)
        };
        let (ow, oh) = ((w / k).max(1), (h / k).max(1));
        RgbImage::from_raw(ow as u32, oh as u32, px).unwrap_or_default()
    }

    /// [`YuvFrame::reduced`] for an even `k` no larger than the frame, luma
    /// pixel stride 1 and both chroma planes at pixel stride `cps`: every
    /// output pixel has a whole block of `k` x `k` luma and `k/2` x `k/2`
    /// chroma samples. Rows are summed first (plain adds over whole rows,
    /// which the compiler vectorises), then each pixel sums its columns.
    #[inline(always)]
    fn reduced_even(&self, k: usize, cps: usize) -> Vec<u8> {
        let (ow, oh, half) = (self.width / k, self.height / k, k / 2);
        let clen = (ow * half - 1) * cps + 1;
        let (mut ya, mut ua, mut va) = (vec![0u16; ow * k], vec![0u16; clen], vec![0u16; clen]);
        let (ry, rc) = (recip((k * k) as u32), recip((half * half) as u32));
        let mut out = vec![0u8; ow * oh * 3];
        for (oy, dst) in out.chunks_exact_mut(ow * 3).enumerate() {
            ya.fill(0);
            ua.fill(0);
            va.fill(0);
            for y in oy * k..(oy + 1) * k {
                add_row(&mut ya, &self.y.data[y * self.y.row_stride..]);
            }
            for cy in oy * half..(oy + 1) * half {
                add_row(&mut ua, &self.u.data[cy * self.u.row_stride..]);
                add_row(&mut va, &self.v.data[cy * self.v.row_stride..]);
            }
            for (ox, px) in dst.chunks_exact_mut(3).enumerate() {
                let ys: u32 = ya[ox * k..(ox + 1) * k].iter().map(|&a| u32::from(a)).sum();
                let c = ox * half * cps;
                let sum =
                    |a: &[u16]| a[c..].iter().step_by(cps).take(half).map(|&a| u32::from(a)).sum::<u32>();
                px.copy_from_slice(&rgb(mean(ys, ry), mean(sum(&ua), rc), mean(sum(&va), rc)));
            }
        }
        out
    }

    /// [`YuvFrame::reduced`] for any factor, strides and size.
    fn reduced_any(&self, k: usize) -> Vec<u8> {
        let (w, h) = (self.width, self.height);
        let (ow, oh) = ((w / k).max(1), (h / k).max(1));
        // Each output column's luma columns (half-open) and chroma columns (inclusive).
        let cols: Vec<[usize; 4]> = (0..ow)
            .map(|ox| {
                let (x0, x1) = (ox * k, ((ox + 1) * k).min(w));
                [x0, x1, x0 / 2, (x1 - 1) / 2]
            })
            .collect();
        let mut out = vec![0u8; ow * oh * 3];
        for (oy, dst) in out.chunks_exact_mut(ow * 3).enumerate() {
            let (y0, y1) = (oy * k, ((oy + 1) * k).min(h));
            let (c0, c1) = (y0 / 2, (y1 - 1) / 2);
            for (px, &[x0, x1, cx0, cx1]) in dst.chunks_exact_mut(3).zip(&cols) {
                let sum = |p: &Plane, rows: (usize, usize), cols: (usize, usize)| {
                    let mut s = 0u32;
                    for y in rows.0..rows.1 {
                        let row = &p.data[y * p.row_stride..];
                        for x in cols.0..cols.1 {
                            s += u32::from(row[x * p.pixel_stride]);
                        }
                    }
                    s
                };
                let n = ((y1 - y0) * (x1 - x0)) as u32;
                let cn = ((c1 + 1 - c0) * (cx1 + 1 - cx0)) as u32;
                let (cr, cc) = ((c0, c1 + 1), (cx0, cx1 + 1));
                px.copy_from_slice(&rgb(
                    mean(sum(&self.y, (y0, y1), (x0, x1)), recip(n)),
                    mean(sum(&self.u, cr, cc), recip(cn)),
                    mean(sum(&self.v, cr, cc), recip(cn)),
                ));
            }
        }
        out
    }
}

/// Adds the first `acc.len()` samples of `row` into `acc` (which the caller
/// keeps below 65536: at most 256 rows).
#[inline(always)]
fn add_row(acc: &mut [u16], row: &[u8]) {
    for (a, &b) in acc.iter_mut().zip(row) {
        *a += u16::from(b);
    }
}

/// 1/n in 16-bit fixed point.
#[inline(always)]
fn recip(n: u32) -> u32 {
    (65_536 + n / 2) / n.max(1)
}

/// The mean of `n` samples summing to `s`, given `r` = [`recip`]`(n)`.
#[inline(always)]
fn mean(s: u32, r: u32) -> i32 {
    ((u64::from(s) * u64::from(r) + 32_768) >> 16) as i32
}

/// BT.601 full range (JFIF) YCbCr to RGB, in 16-bit fixed point.
#[inline(always)]
fn rgb(y: i32, u: i32, v: i32) -> [u8; 3] {
    let (u, v) = (u - 128, v - 128);
    let r = y + ((91_881 * v + 32_768) >> 16);
    let g = y - ((22_554 * u + 46_802 * v - 32_768) >> 16);
    let b = y + ((116_130 * u + 32_768) >> 16);
    [r, g, b].map(|c| c.clamp(0, 255) as u8)
}

/// How a preview frame is judged.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewOptions {
    /// The frame is reduced by the smallest whole factor that brings its
    /// longer side to at most this (480: a 1080p frame is reduced 4 times, to
    /// about the size of the view the pipeline analyses a 12 MP photo on).
    pub long_side: u32,
    /// [`Preview`] measures the red-cell scale on the first frame and then on
    /// every this many frames (it changes only with the objective or the
    /// phone's zoom); 1 measures it on every frame.
    pub rescale_every: u32,
    /// The gate's thresholds.
    pub quality: QualityOptions,
    pub detect: DetectOptions,
}

impl Default for PreviewOptions {
    fn default() -> Self {
        Self {
            long_side: 480,
            rescale_every: 15,
            quality: QualityOptions::default(),
            detect: DetectOptions::default(),
        }
    }
}

/// What the preview tells the health worker about one frame.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Guidance {
    /// The eyepiece's round bright field was found.
    pub aperture_found: bool,
    /// ... and no more than the gate allows of it lies outside the frame
    /// (false without an aperture; `fov_off_centre` is the gate's code).
    pub aperture_centred: bool,
    /// ... and it covers enough of the frame (false without an aperture;
    /// `fov_too_small` is the gate's code).
    pub aperture_big_enough: bool,
    /// The aperture in frame pixels (as delivered: before any display rotation).
    pub fov: Option<Fov>,
    /// Median brightness of the field, 0..1 (the gate's `exposure`).
    pub exposure: f64,
    /// The gate's focus measure, in its units (see [`quality::focus`]).
    pub focus: f64,
    /// Red-cell diameter in frame pixels; null when it could not be measured.
    pub rbc_diameter_px: Option<f64>,
    /// White cells in view, roughly (the pipeline's detector on the reduced
    /// frame; 0 while the red-cell scale is unknown).
    pub white_cells: u32,
    /// The gate's issues, with its codes and sentences.
    pub issues: Vec<QualityIssue>,
    /// No issue: the gate would take a photo of this.
    pub ready: bool,
}

/// Guidance for one frame on its own (the red-cell scale measured on it).
pub fn guide(frame: &YuvFrame, opts: &PreviewOptions) -> Guidance {
    let k = frame.factor_for(opts.long_side);
    guide_view(&frame.reduced(k), f64::from(k), opts)
}

/// Guidance for a frame already reduced to RGB (`k` frame pixels per pixel of
/// `view`), e.g. from a platform that delivers BGRA.
pub fn guide_view(view: &RgbImage, k: f64, opts: &PreviewOptions) -> Guidance {
    judge(view, k, opts, None).0
}

/// A stream of preview frames: [`guide`] for each, but the red-cell scale is
/// measured only on the first frame, on every [`PreviewOptions::rescale_every`]th
/// after it, and on every frame while it is unknown (or the frame size
/// changed); the frames between reuse it. One per camera session.
#[derive(Debug, Clone)]
pub struct Preview {
    opts: PreviewOptions,
    /// The last scale measured, for frames of this size reduced by this factor.
    scale: Option<(scale::RbcScale, (u32, u32, u32))>,
    since: u32,
}

impl Preview {
    pub fn new(opts: PreviewOptions) -> Self {
        Self { opts, scale: None, since: 0 }
    }

    pub fn guide(&mut self, frame: &YuvFrame) -> Guidance {
        let k = frame.factor_for(self.opts.long_side);
        let key = (frame.width(), frame.height(), k);
        let reuse = self
            .scale
            .filter(|(_, at)| *at == key && self.since + 1 < self.opts.rescale_every.max(1))
            .map(|(s, _)| s);
        let (g, rbc) = judge(&frame.reduced(k), f64::from(k), &self.opts, reuse);
        if reuse.is_some() {
            self.since += 1;
        } else {
            self.scale = rbc.map(|s| (s, key));
            self.since = 0;
        }
        g
    }
}

/// The gate's stages on `view`, the scale measured unless `known`; the
/// guidance and the scale used.
fn judge(
    view: &RgbImage,
    k: f64,
    opts: &PreviewOptions,
    known: Option<scale::RbcScale>,
) -> (Guidance, Option<scale::RbcScale>) {
    let found = fov::find(view);
    // Outside the aperture is dark surround: every later stage looks only
    // inside its bounding box (half of a 16:9 frame).
    let (field, off) = match found {
        Some(f) => {
            let (x0, y0) = ((f.cx - f.r - 2.0).max(0.0) as u32, (f.cy - f.r - 2.0).max(0.0) as u32);
            let x1 = ((f.cx + f.r + 2.0).ceil().max(0.0) as u32).min(view.width());
            let y1 = ((f.cy + f.r + 2.0).ceil().max(0.0) as u32).min(view.height());
            if x1 > x0 + 8 && y1 > y0 + 8 {
                let crop = image::imageops::crop_imm(view, x0, y0, x1 - x0, y1 - y0).to_image();
                (std::borrow::Cow::Owned(crop), (f64::from(x0), f64::from(y0)))
            } else {
                (std::borrow::Cow::Borrowed(view), (0.0, 0.0))
            }
        }
        None => (std::borrow::Cow::Borrowed(view), (0.0, 0.0)),
    };
    let ffov = found.map(|f| Fov { cx: f.cx - off.0, cy: f.cy - off.1, r: f.r });
    // The scale on the whole view, as the gate measures it (its pyramid
    // searches coarser levels of larger pictures).
    let rbc = known.or_else(|| scale::measure(view, found.as_ref(), 1));
    let Work { raw, fov: wfov, .. } = Work::new(&field, ffov.as_ref(), rbc.map(|s| s.diameter));
    let ill = colour::estimate(&raw, wfov.as_ref());
    let norm = ill.apply(&raw);
    let (exposure, clipped) = quality::exposure(&raw, wfov.as_ref());
    let focus = quality::focus(&norm, wfov.as_ref());
    let cover = quality::cover(&norm, wfov.as_ref());
    let flat = quality::flat_colour(&field, ffov.as_ref());
    let (fov_fraction, fov_cut) = quality::fov_coverage(found.as_ref(), view.width(), view.height());
    let issues = quality::gate(
        &Measures { focus, exposure, clipped, fov_fraction, fov_cut, flat },
        &cover,
        rbc.as_ref(),
        &opts.quality,
    );
    let white_cells = if rbc.is_some() {
        let inside = |x: usize, y: usize| {
            wfov.as_ref()
                .is_none_or(|f| (x as f64 - f.cx).powi(2) + (y as f64 - f.cy).powi(2) <= (f.r * 0.97).powi(2))
        };
        let cells = detect::white_cells(&norm, WORK_RBC, &opts.detect, inside);
        let lim = wfov.map(|f| (f, (f.r * COUNT_WITHIN_FOV).powi(2)));
        cells
            .iter()
            .filter(|d| lim.is_none_or(|(f, l)| (d.cx() - f.cx).powi(2) + (d.cy() - f.cy).powi(2) <= l))
            .count() as u32
    } else {
        0
    };
    let has = |c: IssueCode| issues.iter().any(|i| i.code == c);
    let round = |v: f64| (v * 1000.0).round() / 1000.0;
    let g = Guidance {
        aperture_found: found.is_some(),
        aperture_centred: found.is_some() && !has(IssueCode::FovOffCentre),
        aperture_big_enough: found.is_some() && !has(IssueCode::FovTooSmall),
        fov: found.map(|f| Fov { cx: round(f.cx * k), cy: round(f.cy * k), r: round(f.r * k) }),
        exposure: round(exposure),
        focus: round(focus),
        rbc_diameter_px: rbc.map(|s| round(s.diameter * k)),
        white_cells,
        ready: issues.is_empty(),
        issues,
    };
    (g, rbc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::Instant;

    /// BT.601 full range RGB to YCbCr, the inverse of [`rgb`].
    fn ycc(p: [u8; 3]) -> [u8; 3] {
        let [r, g, b] = p.map(f64::from);
        let y = 0.299 * r + 0.587 * g + 0.114 * b;
        let u = 128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b;
        let v = 128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b;
        [y, u, v].map(|c| c.round().clamp(0.0, 255.0) as u8)
    }

    /// A camera-like frame in memory: planes with padded rows, chroma planar
    /// (pixel stride 1) or interleaved (2, NV12: U first, V one byte on, each
    /// plane ending at its last sample as Android's do).
    struct Owned {
        w: u32,
        h: u32,
        y: Vec<u8>,
        y_rs: usize,
        u: Vec<u8>,
        v: Vec<u8>,
        uv_rs: usize,
        ps: usize,
        pad: usize,
    }

    impl Owned {
        fn of(img: &RgbImage, ps: usize, pad: usize) -> Self {
            let (w, h) = img.dimensions();
            let (cw, ch) = (w.div_ceil(2) as usize, h.div_ceil(2) as usize);
            let y_rs = w as usize + pad;
            let uv_rs = cw * ps + pad;
            let mut y = vec![0u8; y_rs * h as usize];
            let (mut u, mut v) = (vec![0u8; uv_rs * ch], vec![0u8; uv_rs * ch]);
            let (mut usum, mut vsum) = (vec![0u32; cw * ch], vec![0u32; cw * ch]);
            let mut n = vec![0u32; cw * ch];
            for (x, yy, p) in img.enumerate_pixels() {
                let [l, cb, cr] = ycc(p.0);
                y[yy as usize * y_rs + x as usize] = l;
                let c = (yy / 2) as usize * cw + (x / 2) as usize;
                usum[c] += u32::from(cb);
                vsum[c] += u32::from(cr);
                n[c] += 1;
            }
            for cy in 0..ch {
                for cx in 0..cw {
                    let c = cy * cw + cx;
                    let at = cy * uv_rs + cx * ps;
                    u[at] = ((usum[c] + n[c] / 2) / n[c]) as u8;
                    let vv = ((vsum[c] + n[c] / 2) / n[c]) as u8;
                    if ps == 2 {
                        u[at + 1] = vv;
                    } else {
                        v[at] = vv;
                    }
                }
            }
            Self { w, h, y, y_rs, u, v, uv_rs, ps, pad }
        }

        fn frame(&self) -> Result<YuvFrame<'_>, Error> {
            let n = self.u.len() - self.pad;
            let (u, v) = if self.ps == 2 {
                (Plane::new(&self.u[..n - 1], self.uv_rs, 2), Plane::new(&self.u[1..n], self.uv_rs, 2))
            } else {
                (Plane::new(&self.u[..n], self.uv_rs, 1), Plane::new(&self.v[..n], self.uv_rs, 1))
            };
            YuvFrame::new(self.w, self.h, Plane::new(&self.y, self.y_rs, 1), u, v)
        }
    }

    /// Smooth gradients and soft discs of cell-like colours.
    fn photo_like(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let (fx, fy) = (f64::from(x) / f64::from(w), f64::from(y) / f64::from(h));
            let d = ((fx - 0.4).powi(2) + (fy - 0.6).powi(2)).sqrt();
            let p = if d < 0.25 {
                [110.0, 40.0 + 100.0 * d, 150.0]
            } else {
                [60.0 + 150.0 * fx, 70.0 + 120.0 * fy, 200.0 - 90.0 * (fx + fy) / 2.0]
            };
            let n = f64::from((x * 7919 + y * 104_729) % 13) - 6.0;
            image::Rgb(p.map(|v| (v + n).clamp(0.0, 255.0) as u8))
        })
    }

    /// The demo's expected white-cell count, from tests/fixtures/demo/expected.json.
    fn demo_white_cells() -> (u32, u32) {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/demo/expected.json");
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        let n = |k: &str| u32::try_from(v[k].as_u64().unwrap()).unwrap();
        (n("white_cells_min"), n("white_cells_max"))
    }

    fn demo() -> RgbImage {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/demo/eyepiece_bccd_00339.jpg");
        crate::decode_file(&p, &crate::DecodeLimits::default()).unwrap()
    }

    /// The demo photo (1600x1200, 4:3) as a 1920x1080 preview shows it: scaled
    /// to the frame's height, the sides dark.
    fn preview_of(img: &RgbImage, w: u32, h: u32) -> RgbImage {
        let s = f64::from(h) / f64::from(img.height());
        let sw = (f64::from(img.width()) * s).round() as u32;
        let small = image::imageops::resize(img, sw, h, image::imageops::FilterType::Triangle);
        let x0 = (w.saturating_sub(sw)) / 2;
        RgbImage::from_fn(w, h, |x, y| {
            if x >= x0 && x - x0 < sw {
                *small.get_pixel(x - x0, y)
            } else {
                image::Rgb([5, 4, 4])
            }
        })
    }

    fn max_diff(a: &RgbImage, b: &RgbImage) -> i32 {
        assert_eq!(a.dimensions(), b.dimensions());
        a.as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(x, y)| (i32::from(*x) - i32::from(*y)).abs())
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn conversion_round_trips_for_planar_and_interleaved_chroma() {
        // Flat 2x2 blocks: chroma subsampling loses nothing, only rounding.
        let img = RgbImage::from_fn(37, 23, |x, y| {
            let c = [(x / 2 * 13 % 256) as u8, (y / 2 * 29 % 256) as u8, ((x / 2 + y / 2) * 7 % 256) as u8];
            image::Rgb(c.map(|v| v / 2 + 60))
        });
        for ps in [1, 2] {
            for pad in [0, 5] {
                let o = Owned::of(&img, ps, pad);
                let f = o.frame().unwrap();
                assert!(max_diff(&f.to_rgb(), &img) <= 2, "ps {ps} pad {pad}");
                // Reduced once is the same conversion.
                assert_eq!(f.reduced(1), f.to_rgb());
            }
        }
    }

    #[test]
    fn reduction_is_the_box_mean_at_any_size() {
        let img = photo_like(101, 67);
        let o = Owned::of(&img, 2, 3);
        let f = o.frame().unwrap();
        for k in [2, 3, 4, 7] {
            let r = f.reduced(k);
            assert_eq!(r.dimensions(), (101 / k, 67 / k));
            // Against the box mean of the full conversion (chroma is averaged
            // over slightly different samples at odd factors).
            let full = f.to_rgb();
            let want = RgbImage::from_fn(r.width(), r.height(), |x, y| {
                let mut s = [0u32; 3];
                for dy in 0..k {
                    for dx in 0..k {
                        let p = full.get_pixel(x * k + dx, y * k + dy).0;
                        for c in 0..3 {
                            s[c] += u32::from(p[c]);
                        }
                    }
                }
                image::Rgb(s.map(|v| (v / (k * k)) as u8))
            });
            let mean: f64 = r
                .as_raw()
                .iter()
                .zip(want.as_raw())
                .map(|(a, b)| (f64::from(*a) - f64::from(*b)).abs())
                .sum::<f64>()
                / r.as_raw().len() as f64;
            assert!(mean < 3.0, "k {k}: mean difference {mean}");
        }
        // The fast path for even factors is the general one, to the bit.
        for (ps, pad) in [(1, 0), (2, 3), (2, 0)] {
            let o = Owned::of(&img, ps, pad);
            let f = o.frame().unwrap();
            for k in [2, 4, 6, 8, 10] {
                assert_eq!(f.reduced(k as u32).into_raw(), f.reduced_any(k), "k {k} ps {ps}");
            }
        }
        // Narrower than the factor: one pixel across.
        let thin = Owned::of(&RgbImage::from_pixel(3, 40, image::Rgb([200, 100, 50])), 1, 0);
        let r = thin.frame().unwrap().reduced(8);
        assert_eq!(r.dimensions(), (1, 5));
        assert!(max_diff(&r, &RgbImage::from_pixel(1, 5, image::Rgb([200, 100, 50]))) <= 2);
    }

    #[test]
    fn bad_frames_are_typed_errors() {
        let y = vec![0u8; 64 * 48];
        let c = vec![128u8; 32 * 24];
        #[allow(clippy::too_many_arguments)]
        fn ok<'a>(
            y: &'a [u8],
            ys: usize,
            u: &'a [u8],
            v: &'a [u8],
            cs: usize,
            ps: usize,
            w: u32,
            h: u32,
        ) -> Result<YuvFrame<'a>, Error> {
            YuvFrame::new(w, h, Plane::new(y, ys, 1), Plane::new(u, cs, ps), Plane::new(v, cs, ps))
        }
        assert!(ok(&y, 64, &c, &c, 32, 1, 64, 48).is_ok());
        let cases: Vec<(&str, Result<YuvFrame, Error>)> = vec![
            ("empty", ok(&y, 64, &c, &c, 32, 1, 0, 48)),
            ("huge", ok(&y, 64, &c, &c, 32, 1, 100_000, 100_000)),
            ("too long a side", ok(&y, 64, &c, &c, 32, 1, 20_000, 1)),
            ("short y", ok(&y[..64 * 47], 64, &c, &c, 32, 1, 64, 48)),
            ("y stride below width", ok(&y, 60, &c, &c, 32, 1, 64, 48)),
            ("y stride past the data", ok(&y, 65, &c, &c, 32, 1, 64, 48)),
            ("short u", ok(&y, 64, &c[..32 * 23], &c, 32, 1, 64, 48)),
            ("short v", ok(&y, 64, &c, &c[..100], 32, 1, 64, 48)),
            ("interleaved in planar rows", ok(&y, 64, &c, &c, 32, 2, 64, 48)),
            ("zero stride", ok(&y, 64, &c, &c, 0, 1, 64, 48)),
            ("zero pixel stride", ok(&y, 64, &c, &c, 32, 0, 64, 48)),
            ("overflowing stride", ok(&y, 64, &c, &c, usize::MAX, 1, 64, 48)),
            ("overflowing pixel stride", ok(&y, 64, &c, &c, 32, usize::MAX / 4, 64, 48)),
        ];
        for (what, r) in cases {
            let e = r.err().unwrap_or_else(|| panic!("{what}: accepted"));
            assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument, "{what}");
            let text = e.to_string();
            assert!(text.len() < 200, "{what}: {text}");
        }
        // Odd sizes: chroma is ceil(w/2) x ceil(h/2).
        let y = vec![0u8; 7 * 5];
        let c = vec![128u8; 4 * 3];
        assert!(ok(&y, 7, &c, &c, 4, 1, 7, 5).is_ok());
        assert!(ok(&y, 7, &c[..11], &c, 4, 1, 7, 5).is_err());
        // A 1x1 frame is a frame.
        let g = guide(&ok(&[9], 1, &[128], &[128], 1, 1, 1, 1).unwrap(), &PreviewOptions::default());
        assert!(!g.ready && !g.aperture_found);
    }

    #[test]
    fn a_real_field_reads_as_the_gate_reads_the_photo() {
        let photo = demo();
        // The gate's reading of the same picture, on the same stages.
        let still = guide_view(&photo, 1.0, &PreviewOptions { long_side: 2000, ..Default::default() });
        let frame = preview_of(&photo, 1920, 1080);
        for ps in [1, 2] {
            let o = Owned::of(&frame, ps, 64);
            let f = o.frame().unwrap();
            let g = guide(&f, &PreviewOptions::default());
            assert!(g.aperture_found && g.aperture_centred && g.aperture_big_enough, "{g:?}");
            assert!(g.ready, "{g:?}");
            // The demo's red cells are ~32 px in the preview frame, ~9 in the
            // guide's 480 px work image: under the gate's 12, so the guide
            // reads focus a little lower than the gate (0.73 and 0.89 here).
            assert!((g.focus - still.focus).abs() < 0.2, "focus {} vs still {}", g.focus, still.focus);
            assert!((g.exposure - still.exposure).abs() < 0.05, "{g:?} vs {still:?}");
            // The demo field's red cells, scaled as the frame is.
            let (d, ds) = (g.rbc_diameter_px.unwrap(), still.rbc_diameter_px.unwrap() * 1080.0 / 1200.0);
            assert!((d / ds - 1.0).abs() < 0.1, "rbc {d} vs {ds}");
            // The field's one neutrophil, mirrored 16 times (tests/fixtures/demo/expected.json).
            let (lo, hi) = demo_white_cells();
            assert!((lo..=hi).contains(&g.white_cells), "{g:?}");
            let f = g.fov.unwrap();
            assert!((f.cx - 960.0).abs() < 60.0 && (f.cy - 540.0).abs() < 60.0, "{f:?}");
            // JSON for the bindings.
            let j = serde_json::to_value(&g).unwrap();
            assert_eq!(j["ready"], true);
        }
    }

    #[test]
    fn dark_blurred_and_off_centre_frames_get_the_gates_codes() {
        let frame = preview_of(&demo(), 1920, 1080);
        let codes = |img: &RgbImage| {
            let o = Owned::of(img, 2, 0);
            guide(&o.frame().unwrap(), &PreviewOptions::default())
        };
        let dark = RgbImage::from_fn(1920, 1080, |x, y| image::Rgb(frame.get_pixel(x, y).0.map(|c| c / 8)));
        let g = codes(&dark);
        assert!(g.issues.iter().any(|i| i.code == IssueCode::TooDark), "{g:?}");
        assert!(!g.ready);
        let blank = RgbImage::from_pixel(1920, 1080, image::Rgb([0, 0, 0]));
        let g = codes(&blank);
        assert!(!g.ready && !g.aperture_found && g.white_cells == 0, "{g:?}");
        // Red cells are ~165 px across here: a blur of ~25 px is ~2 px in the
        // work image (blurred small and scaled back, which is quicker).
        let small = image::imageops::resize(&frame, 240, 135, image::imageops::FilterType::Triangle);
        let blurred = image::imageops::resize(
            &image::imageops::blur(&small, 3.0),
            1920,
            1080,
            image::imageops::FilterType::Triangle,
        );
        let g = codes(&blurred);
        assert!(g.issues.iter().any(|i| i.code == IssueCode::OutOfFocus), "{g:?}");
        // The aperture's centre pushed just past the left edge.
        let off = RgbImage::from_fn(1920, 1080, |x, y| {
            let sx = x + 1000;
            if sx < 1920 {
                *frame.get_pixel(sx, y)
            } else {
                image::Rgb([5, 4, 4])
            }
        });
        let g = codes(&off);
        assert!(g.aperture_found && !g.aperture_centred, "{g:?}");
        assert!(g.issues.iter().any(|i| i.code == IssueCode::FovOffCentre), "{g:?}");
        for i in &g.issues {
            assert_eq!(i, &quality::issue(i.code));
        }
    }

    #[test]
    fn a_session_measures_the_scale_now_and_then() {
        let o = Owned::of(&preview_of(&demo(), 1920, 1080), 2, 0);
        let f = o.frame().unwrap();
        let opts = PreviewOptions { rescale_every: 3, ..Default::default() };
        let alone = guide(&f, &opts);
        let mut s = Preview::new(opts.clone());
        let mut since = Vec::new();
        for i in 0..7 {
            assert_eq!(s.guide(&f), alone, "frame {i}");
            since.push(s.since);
        }
        assert_eq!(since, [0, 1, 2, 0, 1, 2, 0], "measured on every third frame");
        // Another frame size is measured at once.
        let o2 = Owned::of(&preview_of(&demo(), 1280, 720), 1, 0);
        let g = s.guide(&o2.frame().unwrap());
        assert_eq!(s.since, 0);
        assert_eq!(g, guide(&o2.frame().unwrap(), &opts));
        // A frame with nothing to measure forgets the scale: the next one measures.
        let dark = Owned::of(&RgbImage::new(1920, 1080), 2, 0);
        assert!(s.guide(&dark.frame().unwrap()).rbc_diameter_px.is_none());
        assert!(s.scale.is_none());
        assert_eq!(s.guide(&f), alone);
        assert_eq!(s.since, 0);
    }

    /// The timing the benchmark reports, here only as a tripwire (debug
    /// builds are slow: run `hemalens bench` for the figure).
    #[test]
    fn a_1080p_frame_is_cheap() {
        let o = Owned::of(&preview_of(&demo(), 1920, 1080), 2, 0);
        let f = o.frame().unwrap();
        let opts = PreviewOptions::default();
        let mut ms = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            std::hint::black_box(guide(&f, &opts));
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        ms.sort_by(f64::total_cmp);
        eprintln!("guide 1920x1080: median {:.2} ms", ms[2]);
        assert!(ms[2] < if cfg!(debug_assertions) { 2000.0 } else { 50.0 });
    }
}
