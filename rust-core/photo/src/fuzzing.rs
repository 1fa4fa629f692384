//! Entry points for the fuzz targets (`rust-core/fuzz`), behind the
//! `fuzzing` feature: each panics on what must never happen, so libFuzzer
//! reports it as a crash.
#[cfg(feature = "rust-entropy")]
use crate::libjpeg::{self, Failed, Rows};
use crate::{DecodeLimits, Photo};

/// Largest frame (pixels) the differential target decodes: bigger headers
/// are valid fuzz inputs, but only slow the fuzzer down.
const MAX_PIXELS: u64 = 1 << 22;

/// The limits the photo targets decode under: smaller than the pipeline's,
/// for the same reason.
const LIMITS: DecodeLimits =
    DecodeLimits { max_pixels: MAX_PIXELS, max_pixels_scaled: 4 * MAX_PIXELS, max_file_bytes: 8 << 20 };

/// The Rust baseline entropy decoder against libjpeg's, on any bytes: where
/// the Rust decoder returns coefficients (on one thread or two), libjpeg must
/// accept the same file without complaint and give the same coefficients.
/// Where the Rust decoder leaves a file to libjpeg, nothing is compared.
///
/// # Panics
/// On any disagreement: that is the bug this target looks for.
pub fn entropy_differential(bytes: &[u8]) {
    #[cfg(feature = "rust-entropy")]
    for threads in [1, 2] {
        let ours = libjpeg::with_decompressor(bytes, 1 << 28, |d| {
            let hdr = d.read_header()?;
            if hdr.pixels() > MAX_PIXELS {
                return Ok(None);
            }
            d.read_baseline(bytes, &hdr, threads)
        });
        let Ok(Some(ours)) = ours else { continue };
        let theirs = libjpeg::with_decompressor(bytes, 1 << 28, |d| {
            let hdr = d.read_header()?;
            d.read_coefficients_with(&hdr, Rows::Arrays)
        });
        match theirs {
            Ok(theirs) => {
                if let Some(d) = ours.first_difference(&theirs) {
                    panic!("coefficients differ (threads {threads}): {d}");
                }
            }
            Err(Failed::Error(e)) => panic!("the Rust decoder accepted what libjpeg refuses: {e}"),
            Err(Failed::Unsupported(m)) => panic!("the Rust decoder accepted what libjpeg cannot read: {m}"),
        }
    }
    #[cfg(not(feature = "rust-entropy"))]
    let _ = bytes;
}

/// A photo opened as the pipeline opens it, then its view and windows at
/// every scale: typed errors only, never a panic; a photo that opens has
/// the size it says and windows of the size asked.
pub fn open_photo(bytes: &[u8]) {
    for threads in [1, 2] {
        let Ok(p) = Photo::open_on(bytes, &LIMITS, 300, threads) else { continue };
        let (w, h) = p.displayed();
        assert!(w > 0 && h > 0, "an opened photo has pixels");
        let v = p.view();
        assert!(v.width() > 0 && v.height() > 0, "the view has pixels");
        for (side, n) in [(f64::from(w.max(h)), 64u32), (40.0, 32), (7.5, 16)] {
            let win = p.window(f64::from(w) / 2.0, f64::from(h) / 3.0, side, n, [255, 255, 255]);
            if let Ok(win) = win {
                assert_eq!(win.dimensions(), (n, n), "a window is the size asked");
            }
        }
    }
}

/// The general decoder (every format `decode_image` takes): typed errors
/// only, never a panic; an image it returns is RGB of the size it reports.
pub fn decode_any(bytes: &[u8]) {
    if let Ok(img) = crate::decode_image(bytes, &LIMITS) {
        assert_eq!(img.as_raw().len(), img.width() as usize * img.height() as usize * 3);
        assert!(u64::from(img.width()) * u64::from(img.height()) <= MAX_PIXELS);
    }
}
