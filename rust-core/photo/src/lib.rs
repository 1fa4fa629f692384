//! A photo opened once for analysis: a reduced upright view for the whole-field
//! stages, and square windows cut at whatever resolution each one needs.
//!
//! JPEGs (what phones write) are read once into their DCT coefficients (a
//! plain baseline scan by [`huffman`], in Rust and on two threads; any other
//! by libjpeg-turbo, [`libjpeg`] streaming them into the same compact Rust
//! memory as they are decoded; [`dct`] makes pixels from them): the view comes from
//! reduced-size IDCTs, and a window inverse-transforms only the blocks it
//! covers, at the coarsest of 1/8, 1/4, 1/2 and 1/1 that still gives it
//! enough pixels, then is shrunk by [`resample`] (image's triangle filter,
//! specialised for RGB). A JPEG too large for the
//! coefficient budget is decoded once, streamed, by libjpeg's own scaled
//! decompression into one reduced image that serves the view and the windows.
//! Other formats (and JPEGs libjpeg cannot read) are decoded by
//! [`decode_image`] and kept.
//!
//! See this crate's README for its surface, its features and its fuzz targets.
#![doc = include_str!("../README.md")]

// libjpeg's fatal errors unwind out of the C code to a Rust handler and become
// typed errors (`libjpeg.rs`). With `panic = "abort"` that unwinding is
// impossible and one corrupt JPEG would kill the app: refuse to build so.
#[cfg(panic = "abort")]
compile_error!("hemalens-photo needs panic = \"unwind\": libjpeg's errors unwind to a Rust handler");

mod dct;
mod decode;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "rust-entropy")]
mod huffman;
mod libjpeg;
pub mod parallel;
pub mod resample;
#[cfg(test)]
mod tests;

pub use decode::{decode_file, decode_image, DecodeLimits};
pub use error::{Error, ErrorKind};

use dct::{scaled, Coefficients};
use decode::has_jpeg_end;
use image::metadata::Orientation;
use image::{ImageFormat, RgbImage};
use libjpeg::{Failed, Header};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

/// Largest whole-image coefficient buffer (libjpeg's 128 bytes a block) a JPEG
/// may need to be read as coefficients; larger ones take the scaled path.
/// 44 MP at 4:2:0, 22 MP at 4:4:4.
pub const COEFFICIENT_BUDGET: u64 = 128 << 20;

/// Largest reduced image kept for a JPEG over the coefficient budget (RGB bytes).
const KEPT_BUDGET: u64 = 48 << 20;

/// Largest window canvas (pixels) before resampling.
const MAX_CANVAS: u64 = 16 << 20;

/// Largest window side `n`.
const MAX_WINDOW: u32 = 4096;

/// Set: the hot loops run their portable build even where an AVX2 one exists.
static PORTABLE_ONLY: AtomicBool = AtomicBool::new(false);

/// Benchmarks and tests: run only the portable builds of the pixel loops
/// (what a CPU without AVX2, or an ARM phone's NEON, gets), or allow the
/// x86-64 AVX2 builds again. Both give identical pixels.
#[doc(hidden)]
pub fn set_portable_only(on: bool) {
    PORTABLE_ONLY.store(on, Ordering::Relaxed);
}

/// Whether the x86-64 AVX2 builds of the pixel loops may run: the same code
/// compiled for 8-lane vectors (no FMA: the same roundings, so the same
/// pixels).
#[inline]
fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        !PORTABLE_ONLY.load(Ordering::Relaxed) && std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A photo opened for analysis. `Send + Sync`: windows may be cut from several
/// threads at once.
pub struct Photo {
    displayed: (u32, u32),
    view_scale: f64,
    source: Source,
}

enum Source {
    /// A JPEG as coefficients, stored orientation; the view made from them.
    Dct { coefs: Box<Coefficients>, orientation: Orientation, view: RgbImage },
    /// Upright pixels at `scale` pixels per displayed pixel; the view when it
    /// is a reduction of them (None: the image is the view).
    Pixels { image: RgbImage, scale: f64, view: Option<RgbImage> },
}

impl fmt::Debug for Photo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.source {
            Source::Dct { orientation, .. } => format!("jpeg coefficients, {orientation:?}"),
            Source::Pixels { scale, .. } => format!("pixels at scale {scale}"),
        };
        f.debug_struct("Photo")
            .field("displayed", &self.displayed)
            .field("view", &self.view().dimensions())
            .field("view_scale", &self.view_scale)
            .field("source", &source)
            .finish()
    }
}

/// Scales available from a JPEG's DCT: k / 8 for k in 1, 2, 4, 8.
const SCALES: [u32; 4] = [1, 2, 4, 8];

/// The coarsest k whose scaled `long` side is >= `want` (8 when none is).
fn coarsest_k(long: u32, want: u32) -> u32 {
    SCALES.into_iter().find(|&k| scaled(long, k) >= want).unwrap_or(8)
}

impl Photo {
    /// Opens `bytes` (JPEG, PNG, WebP, BMP, TIFF). The upright analysis image
    /// ([`Self::view`]) is the coarsest of 1/8, 1/4, 1/2 and 1/1 whose longer side
    /// is at least `view_long_side` (or the full image when it is smaller).
    /// Never panics; errors as [`decode_image`], and `limits.max_pixels`
    /// (or `max_pixels_scaled` for a JPEG decoded only at reduced scale) is
    /// checked from the header before anything is decoded.
    pub fn open(bytes: &[u8], limits: &DecodeLimits, view_long_side: u32) -> Result<Photo, Error> {
        Self::open_on(bytes, limits, view_long_side, 1)
    }

    /// As [`Self::open`], a JPEG's coefficient rows compacted on a second
    /// thread while libjpeg decodes when `threads` >= 2 (the same photo).
    pub fn open_on(
        bytes: &[u8],
        limits: &DecodeLimits,
        view_long_side: u32,
        threads: usize,
    ) -> Result<Photo, Error> {
        limits.check_bytes(bytes)?;
        if image::guess_format(bytes).ok() == Some(ImageFormat::Jpeg) {
            match open_jpeg(bytes, limits, view_long_side, threads) {
                Ok(p) => return Ok(p),
                Err(Failed::Error(e)) => return Err(e),
                // Arithmetic coding, 12-bit, CMYK, ...: the general decoder's turn.
                Err(Failed::Unsupported(_)) => {}
            }
        }
        let full = decode_image(bytes, limits)?;
        let displayed = full.dimensions();
        Ok(Self::from_pixels(full, 1.0, displayed, view_long_side))
    }

    /// Upright pixels at `scale` (a power of two <= 1): the view is a
    /// box-filtered power-of-two reduction of them.
    fn from_pixels(image: RgbImage, scale: f64, displayed: (u32, u32), view_long_side: u32) -> Photo {
        let k_view = f64::from(coarsest_k(displayed.0.max(displayed.1), view_long_side)) / 8.0;
        let factor = (scale / k_view).round().max(1.0) as u32;
        let (view, view_scale) = if factor <= 1 {
            (None, scale)
        } else {
            (Some(box_reduce(&image, factor)), scale / f64::from(factor))
        };
        Photo { displayed, view_scale, source: Source::Pixels { image, scale, view } }
    }

    /// Heap bytes this photo holds (coefficients or kept pixels, and the view).
    pub fn heap_bytes(&self) -> usize {
        let px = |i: &RgbImage| i.as_raw().capacity();
        match &self.source {
            Source::Dct { coefs, view, .. } => coefs.heap_bytes() + px(view),
            Source::Pixels { image, view, .. } => px(image) + view.as_ref().map_or(0, px),
        }
    }

    /// Size of the photo as displayed (after EXIF orientation).
    pub fn displayed(&self) -> (u32, u32) {
        self.displayed
    }

    /// The upright analysis image.
    pub fn view(&self) -> &RgbImage {
        match &self.source {
            Source::Dct { view, .. } | Source::Pixels { view: Some(view), .. } => view,
            Source::Pixels { image, view: None, .. } => image,
        }
    }

    /// [`Self::view`] pixels per displayed pixel: view pixel `i` covers
    /// displayed pixels `i / s .. (i + 1) / s`.
    pub fn view_scale(&self) -> f64 {
        self.view_scale
    }

    /// A square window of the photo as displayed: centre (`cx`, `cy`) and side
    /// `side` in displayed pixels, resampled to `n` x `n` (triangle filter) from
    /// the coarsest available resolution that still has at least `n` pixels
    /// across the window (never upsampled when a finer decode exists). Parts
    /// outside the photo are `fill`. The window's corner is rounded to a whole
    /// pixel of the resolution it is cut from, as `field::analyze::crop` does.
    pub fn window(&self, cx: f64, cy: f64, side: f64, n: u32, fill: [u8; 3]) -> Result<RgbImage, Error> {
        self.window_from(cx, cy, side, n, n, fill)
    }

    /// As [`Self::window`], cut from the coarsest resolution with at least
    /// `source` pixels across the window (`source >= n`: a model input made the
    /// way its training images were, by shrinking a finer picture).
    pub fn window_from(
        &self,
        cx: f64,
        cy: f64,
        side: f64,
        n: u32,
        source: u32,
        fill: [u8; 3],
    ) -> Result<RgbImage, Error> {
        let source = source.max(n);
        if !(cx.is_finite() && cy.is_finite() && side.is_finite() && side > 0.0) {
            return Err(Error::InvalidArgument("window centre and side must be finite, side > 0".into()));
        }
        if n == 0 || n > MAX_WINDOW {
            return Err(Error::InvalidArgument(format!("window size must be 1..={MAX_WINDOW}")));
        }
        match &self.source {
            Source::Dct { coefs, orientation, view } => {
                let k =
                    SCALES.into_iter().find(|&k| side * f64::from(k) / 8.0 >= f64::from(source)).unwrap_or(8);
                let f = f64::from(k) / 8.0;
                let m = canvas_side(side * f)?;
                let (sw, sh) = stored_size(self.displayed, *orientation);
                let a = to_stored(
                    *orientation,
                    (f64::from(sw), f64::from(sh)),
                    (cx - side / 2.0, cy - side / 2.0),
                );
                let b = to_stored(
                    *orientation,
                    (f64::from(sw), f64::from(sh)),
                    (cx + side / 2.0, cy + side / 2.0),
                );
                let (ox, oy) = ((a.0.min(b.0) * f).round(), (a.1.min(b.1) * f).round());
                let (ws, hs) = coefs.scaled_size(k);
                if f == self.view_scale {
                    // The view is this scale already rendered, upright: the
                    // same square cut from it, turned back to stored order,
                    // gives the same pixels without transforming again.
                    let (dx, dy) = displayed_corner(*orientation, (ws, hs), (ox as i64, oy as i64), m);
                    let canvas = canvas_from(view, (dx, dy), m, fill);
                    let canvas = RgbImage::from_raw(m, m, canvas)
                        .ok_or_else(|| Error::InvalidArgument("bad window buffer".into()))?;
                    let stored = orient(canvas, inverse(*orientation)).into_raw();
                    return Ok(orient(resized(stored, m, n)?, *orientation));
                }
                let inside = intersect(ox, oy, m, ws, hs);
                let mut canvas = new_canvas(m, fill, inside == Some((ox as u32, oy as u32, m, m)));
                if let Some((x0, y0, w, h)) = inside {
                    let at = ((y0 as i64 - oy as i64) as usize * m as usize
                        + (x0 as i64 - ox as i64) as usize)
                        * 3;
                    coefs.render_into(k, (x0, y0, w, h), &mut canvas[at..], m as usize * 3);
                }
                // Square in, square out, the same taps on both axes: resampled
                // first, the small result turned upright.
                Ok(orient(resized(canvas, m, n)?, *orientation))
            }
            Source::Pixels { image, scale, view } => {
                // The view when it has enough pixels, else the kept image.
                let (img, s) = match view {
                    Some(v) if side * self.view_scale >= f64::from(source) => (v, self.view_scale),
                    _ => (image, *scale),
                };
                let m = canvas_side(side * s)?;
                let (ox, oy) = (((cx - side / 2.0) * s).round(), ((cy - side / 2.0) * s).round());
                resized(canvas_from(img, (ox as i64, oy as i64), m, fill), m, n)
            }
        }
    }
}

/// The m x m square of `img` with its corner at `(ox, oy)`; `fill` outside.
fn canvas_from(img: &RgbImage, (ox, oy): (i64, i64), m: u32, fill: [u8; 3]) -> Vec<u8> {
    let inside = intersect(ox as f64, oy as f64, m, img.width(), img.height());
    let covered = inside == Some((ox as u32, oy as u32, m, m)) && ox >= 0 && oy >= 0;
    let mut canvas = new_canvas(m, fill, covered);
    if let Some((x0, y0, w, h)) = inside {
        let at = (x0 as i64 - ox, y0 as i64 - oy);
        paste(&mut canvas, m, img, (x0, y0, w, h), at);
    }
    canvas
}

/// Upper-left corner, in the upright picture, of the m x m square whose
/// corner is `(ox, oy)` in the stored one (`ws` x `hs`) under orientation `o`.
fn displayed_corner(o: Orientation, (ws, hs): (u32, u32), (ox, oy): (i64, i64), m: u32) -> (i64, i64) {
    let (ws, hs, m) = (i64::from(ws), i64::from(hs), i64::from(m));
    match o {
        Orientation::NoTransforms => (ox, oy),
        Orientation::FlipHorizontal => (ws - ox - m, oy),
        Orientation::Rotate180 => (ws - ox - m, hs - oy - m),
        Orientation::FlipVertical => (ox, hs - oy - m),
        Orientation::Rotate90 => (hs - oy - m, ox),
        Orientation::Rotate270 => (oy, ws - ox - m),
        Orientation::Rotate90FlipH => (oy, ox),
        Orientation::Rotate270FlipH => (hs - oy - m, ws - ox - m),
    }
}

/// The orientation that undoes `o`.
fn inverse(o: Orientation) -> Orientation {
    match o {
        Orientation::Rotate90 => Orientation::Rotate270,
        Orientation::Rotate270 => Orientation::Rotate90,
        other => other,
    }
}

fn canvas_side(pixels: f64) -> Result<u32, Error> {
    let m = pixels.round().max(1.0);
    if m * m > MAX_CANVAS as f64 {
        return Err(Error::InvalidArgument("window too large for the photo".into()));
    }
    Ok(m as u32)
}

/// The part of the canvas `ox.., oy..` (side m) inside `0..w, 0..h`.
fn intersect(ox: f64, oy: f64, m: u32, w: u32, h: u32) -> Option<(u32, u32, u32, u32)> {
    let (ox, oy, m) = (ox as i64, oy as i64, i64::from(m));
    let (x0, y0) = (ox.max(0), oy.max(0));
    let (x1, y1) = ((ox + m).min(i64::from(w)), (oy + m).min(i64::from(h)));
    (x1 > x0 && y1 > y0).then(|| (x0 as u32, y0 as u32, (x1 - x0) as u32, (y1 - y0) as u32))
}

/// An m x m RGB canvas: `fill` unless the photo will cover all of it.
fn new_canvas(m: u32, fill: [u8; 3], covered: bool) -> Vec<u8> {
    let n = m as usize * m as usize;
    if covered {
        vec![0; n * 3]
    } else {
        fill.repeat(n)
    }
}

/// The m x m canvas as an n x n image (triangle filter, as
/// `imageops::resize`; a copy when m == n).
fn resized(canvas: Vec<u8>, m: u32, n: u32) -> Result<RgbImage, Error> {
    let px = if m == n { canvas } else { resample::resize_rgb(&canvas, m, m, n, n) };
    RgbImage::from_raw(n, n, px).ok_or_else(|| Error::InvalidArgument("bad window buffer".into()))
}

/// Copies the rectangle `x0, y0, w, h` of `img` into the m-wide `canvas` at `at`.
fn paste(canvas: &mut [u8], m: u32, img: &RgbImage, (x0, y0, w, h): (u32, u32, u32, u32), at: (i64, i64)) {
    let (cw, iw) = (m as usize, img.width() as usize);
    let (ax, ay) = (at.0 as usize, at.1 as usize);
    let src: &[u8] = img;
    let len = w as usize * 3;
    for y in 0..h as usize {
        let from = &src[((y0 as usize + y) * iw + x0 as usize) * 3..][..len];
        canvas[((ay + y) * cw + ax) * 3..][..len].copy_from_slice(from);
    }
}

/// Stored size from the displayed one.
fn stored_size(displayed: (u32, u32), o: Orientation) -> (u32, u32) {
    if swaps(o) {
        (displayed.1, displayed.0)
    } else {
        displayed
    }
}

fn swaps(o: Orientation) -> bool {
    matches!(
        o,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// A point of the displayed photo in stored coordinates (continuous, pixel
/// `i` spanning `i..i+1`), for a stored image of size `(w, h)` shown after `o`.
fn to_stored(o: Orientation, (w, h): (f64, f64), (u, v): (f64, f64)) -> (f64, f64) {
    match o {
        Orientation::NoTransforms => (u, v),
        Orientation::FlipHorizontal => (w - u, v),
        Orientation::Rotate180 => (w - u, h - v),
        Orientation::FlipVertical => (u, h - v),
        Orientation::Rotate90 => (v, h - u),
        Orientation::Rotate270 => (w - v, u),
        Orientation::Rotate90FlipH => (v, u),
        Orientation::Rotate270FlipH => (w - v, h - u),
    }
}

/// Applies the EXIF orientation (as [`image::DynamicImage::apply_orientation`]):
/// one pass, output pixel (u, v) read from stored pixel `base + u * du + v * dv`.
fn orient(img: RgbImage, o: Orientation) -> RgbImage {
    if o == Orientation::NoTransforms {
        return img;
    }
    let (w, h) = img.dimensions();
    let (ow, oh) = if swaps(o) { (h, w) } else { (w, h) };
    let (wi, hi) = (i64::from(w), i64::from(h));
    // Stored (x, y) of output (u, v): x = x0 + u * xu + v * xv, y likewise.
    let ((x0, xu, xv), (y0, yu, yv)) = match o {
        Orientation::NoTransforms => ((0, 1, 0), (0, 0, 1)),
        Orientation::FlipHorizontal => ((wi - 1, -1, 0), (0, 0, 1)),
        Orientation::Rotate180 => ((wi - 1, -1, 0), (hi - 1, 0, -1)),
        Orientation::FlipVertical => ((0, 1, 0), (hi - 1, 0, -1)),
        Orientation::Rotate90 => ((0, 0, 1), (hi - 1, -1, 0)),
        Orientation::Rotate270 => ((wi - 1, 0, -1), (0, 1, 0)),
        Orientation::Rotate90FlipH => ((0, 0, 1), (0, 1, 0)),
        Orientation::Rotate270FlipH => ((wi - 1, 0, -1), (hi - 1, -1, 0)),
    };
    let (base, du, dv) = (y0 * wi + x0, yu * wi + xu, yv * wi + xv);
    let src: &[u8] = &img;
    let mut out = vec![0u8; ow as usize * oh as usize * 3];
    for (v, row) in out.chunks_exact_mut(ow as usize * 3).enumerate() {
        let mut i = base + v as i64 * dv;
        for px in row.chunks_exact_mut(3) {
            let at = i as usize * 3;
            px.copy_from_slice(&src[at..at + 3]);
            i += du;
        }
    }
    RgbImage::from_raw(ow, oh, out).unwrap_or(img)
}

/// Mean of each `f` x `f` block (partial blocks at the right and bottom edges
/// averaged over the pixels they have): the same geometry as a 1/f DCT scale.
fn box_reduce(img: &RgbImage, f: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let (ow, oh) = (w.div_ceil(f), h.div_ceil(f));
    let mut out = RgbImage::new(ow, oh);
    let src: &[u8] = img;
    let mut acc = vec![0u32; ow as usize * 3];
    let mut cnt = vec![0u32; ow as usize];
    for oy in 0..oh {
        acc.fill(0);
        cnt.fill(0);
        for y in oy * f..((oy + 1) * f).min(h) {
            let row = &src[y as usize * w as usize * 3..][..w as usize * 3];
            for (x, p) in row.chunks_exact(3).enumerate() {
                let o = x / f as usize;
                acc[o * 3] += u32::from(p[0]);
                acc[o * 3 + 1] += u32::from(p[1]);
                acc[o * 3 + 2] += u32::from(p[2]);
                cnt[o] += 1;
            }
        }
        let dst: &mut [u8] = &mut out;
        let dst = &mut dst[oy as usize * ow as usize * 3..][..ow as usize * 3];
        for (o, d) in dst.chunks_exact_mut(3).enumerate() {
            let c = cnt[o].max(1);
            for i in 0..3 {
                d[i] = ((acc[o * 3 + i] + c / 2) / c) as u8;
            }
        }
    }
    out
}

/// libjpeg-turbo's own decode of a JPEG at 1/`denom` (1, 2, 4 or 8), in stored
/// orientation (EXIF not applied): ISLOW IDCT, fancy upsampling, RGB. The
/// reference the coefficient path is tested and benchmarked against.
/// `limits.max_pixels` applies to the full-resolution size for `denom` 1,
/// `limits.max_pixels_scaled` otherwise.
pub fn libjpeg_decode(bytes: &[u8], limits: &DecodeLimits, denom: u32) -> Result<RgbImage, Error> {
    if bytes.is_empty() {
        return Err(Error::EmptyInput);
    }
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(Error::FileTooLarge { bytes: bytes.len() as u64, limit: limits.max_file_bytes });
    }
    if ![1, 2, 4, 8].contains(&denom) {
        return Err(Error::InvalidArgument("scale denominator must be 1, 2, 4 or 8".into()));
    }
    if !has_jpeg_end(bytes) {
        return Err(Error::CorruptImage("truncated (no end-of-image marker)".into()));
    }
    let limit = if denom == 1 { limits.max_pixels } else { limits.max_pixels_scaled };
    libjpeg::with_decompressor(bytes, COEFFICIENT_BUDGET, |d| {
        let hdr = d.read_header()?;
        check_pixels(&hdr, limit)?;
        d.decompress_rgb(denom)
    })
    .map_err(|f| match f {
        Failed::Error(e) => e,
        Failed::Unsupported(m) => Error::UnsupportedImage(m),
    })
}

/// libjpeg-turbo's entropy decoding of a whole JPEG into its own coefficient
/// arrays, and nothing else: the floor under [`Photo::open`]'s time, for
/// benchmarks. Limits as [`Photo::open`]'s coefficient path.
pub fn libjpeg_read_coefficients(bytes: &[u8], limits: &DecodeLimits) -> Result<(), Error> {
    if bytes.is_empty() {
        return Err(Error::EmptyInput);
    }
    libjpeg::with_decompressor(bytes, COEFFICIENT_BUDGET + (8 << 20), |d| {
        let hdr = d.read_header()?;
        check_pixels(&hdr, limits.max_pixels)?;
        d.entropy_decode_only()
    })
    .map_err(|f| match f {
        Failed::Error(e) => e,
        Failed::Unsupported(m) => Error::UnsupportedImage(m),
    })
}

fn check_pixels(hdr: &Header, limit: u64) -> Result<(), Error> {
    if hdr.width == 0 || hdr.height == 0 {
        return Err(Error::ImageEmpty { width: hdr.width, height: hdr.height });
    }
    if hdr.pixels() > limit {
        return Err(Error::ImageTooLarge { width: hdr.width, height: hdr.height, limit });
    }
    Ok(())
}

fn open_jpeg(
    bytes: &[u8],
    limits: &DecodeLimits,
    view_long_side: u32,
    threads: usize,
) -> Result<Photo, Failed> {
    if !has_jpeg_end(bytes) {
        // libjpeg would pad a cut-off photo with grey; its own EOF warning
        // catches the rest (e.g. a cut after an EXIF thumbnail's end marker).
        return Err(Error::CorruptImage("truncated (no end-of-image marker)".into()).into());
    }
    // libjpeg's virtual arrays may hold the coefficient budget and no more.
    libjpeg::with_decompressor(bytes, COEFFICIENT_BUDGET + (8 << 20), |d| {
        let hdr = d.read_header()?;
        check_pixels(&hdr, limits.max_pixels_scaled)?;
        let displayed =
            if swaps(hdr.orientation) { (hdr.height, hdr.width) } else { (hdr.width, hdr.height) };
        if hdr.pixels() <= limits.max_pixels && hdr.coefficient_bytes <= COEFFICIENT_BUDGET {
            if !hdr.integral_sampling() {
                return Err(Failed::Unsupported("fractional sampling factors".into()));
            }
            let coefs = match d.read_baseline(bytes, &hdr, threads)? {
                Some(c) => c,
                None => d.read_coefficients(&hdr, threads)?,
            };
            let k = coarsest_k(displayed.0.max(displayed.1), view_long_side);
            let (w, h) = coefs.scaled_size(k);
            let px = coefs.render_all(k, threads);
            let stored =
                RgbImage::from_raw(w, h, px).ok_or_else(|| Error::CorruptImage("bad buffer".into()))?;
            return Ok(Photo {
                displayed,
                view_scale: f64::from(k) / 8.0,
                source: Source::Dct {
                    coefs: Box::new(coefs),
                    orientation: hdr.orientation,
                    view: orient(stored, hdr.orientation),
                },
            });
        }
        if hdr.multi_scan {
            // Progressive: libjpeg needs the whole coefficient buffer even to scale.
            let per_pixel = hdr.coefficient_bytes as f64 / hdr.pixels() as f64;
            let limit = ((COEFFICIENT_BUDGET as f64 / per_pixel) as u64).min(limits.max_pixels_scaled);
            return Err(Error::ImageTooLarge { width: hdr.width, height: hdr.height, limit }.into());
        }
        // Too large to hold as coefficients: one streamed libjpeg decode at the
        // finest scale whose RGB fits the kept budget.
        let k = [4u32, 2, 1]
            .into_iter()
            .find(|&k| u64::from(scaled(hdr.width, k)) * u64::from(scaled(hdr.height, k)) * 3 <= KEPT_BUDGET)
            .unwrap_or(1);
        let stored = d.decompress_rgb(8 / k).map_err(|f| match f {
            Failed::Unsupported(m) => Failed::Error(Error::UnsupportedImage(m)),
            e => e,
        })?;
        Ok(Photo::from_pixels(orient(stored, hdr.orientation), f64::from(k) / 8.0, displayed, view_long_side))
    })
}
