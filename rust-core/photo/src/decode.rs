//! Bytes to an upright RGB image, refusing what would be unsafe to decode.
use crate::Error;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};
use std::io::{Cursor, Read};
use std::path::Path;

/// Bounds on what will be decoded. The pixel limit is checked from the header,
/// before any pixel is decoded, so a decompression bomb costs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest width x height decoded at full resolution.
    pub max_pixels: u64,
    /// Largest width x height accepted by [`crate::Photo`] for a JPEG it decodes
    /// only at reduced scale (libjpeg's scaled decompression, streamed), so its
    /// memory does not grow with the full-resolution pixel count.
    pub max_pixels_scaled: u64,
    /// Largest file accepted, in bytes.
    pub max_file_bytes: u64,
}

impl DecodeLimits {
    /// The checks every decoder makes before looking at the bytes.
    pub(crate) fn check_bytes(&self, bytes: &[u8]) -> Result<(), Error> {
        if bytes.is_empty() {
            return Err(Error::EmptyInput);
        }
        if bytes.len() as u64 > self.max_file_bytes {
            return Err(Error::FileTooLarge { bytes: bytes.len() as u64, limit: self.max_file_bytes });
        }
        Ok(())
    }
}

impl Default for DecodeLimits {
    fn default() -> Self {
        // 64 MP covers every phone camera that matters here (8-50 MP) with room;
        // the RGB buffer of such an image is 192 MB, the decoder may need as much again.
        Self { max_pixels: 64_000_000, max_pixels_scaled: 120_000_000, max_file_bytes: 128 * 1024 * 1024 }
    }
}

/// Reads and decodes an image file. See [`decode_image`].
pub fn decode_file(path: &Path, limits: &DecodeLimits) -> Result<RgbImage, Error> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len > limits.max_file_bytes {
        return Err(Error::FileTooLarge { bytes: len, limit: limits.max_file_bytes });
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(limits.max_file_bytes + 1).read_to_end(&mut bytes)?;
    decode_image(&bytes, limits)
}

/// Decodes JPEG, PNG, WebP, BMP or TIFF bytes to 8-bit RGB, applies the EXIF
/// orientation (so the image is as a person sees it), composites alpha over
/// white, and converts grey, 16-bit and CMYK. Never panics.
pub fn decode_image(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, Error> {
    limits.check_bytes(bytes)?;
    // Decoders are third-party code fed untrusted bytes: contain any panic.
    match std::panic::catch_unwind(|| decode_inner(bytes, limits)) {
        Ok(r) => r,
        Err(_) => Err(Error::CorruptImage("the decoder failed on malformed data".into())),
    }
}

fn decode_inner(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, Error> {
    let format = image::guess_format(bytes).map_err(|_| Error::UnsupportedFormat)?;
    if !matches!(
        format,
        ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP | ImageFormat::Bmp | ImageFormat::Tiff
    ) {
        return Err(Error::UnsupportedFormat);
    }
    if format == ImageFormat::Jpeg && !has_jpeg_end(bytes) {
        // The JPEG decoder fills a cut-off photo with grey and calls it success;
        // a half-grey field would then be analysed as if it were real.
        return Err(Error::CorruptImage("truncated (no end-of-image marker)".into()));
    }
    if let Some((width, height)) = declared_bmp_size(format, bytes) {
        // The BMP decoder refuses sizes over its own limit as a decoding
        // error before we could see them: say what it is.
        if u64::from(width) * u64::from(height) > limits.max_pixels {
            return Err(Error::ImageTooLarge { width, height, limit: limits.max_pixels });
        }
    }
    let reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut decoder = reader.into_decoder().map_err(classify_image_error)?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(Error::ImageEmpty { width, height });
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(Error::ImageTooLarge { width, height, limit: limits.max_pixels });
    }
    let mut decoder_limits = Limits::default();
    decoder_limits.max_image_width = Some(width);
    decoder_limits.max_image_height = Some(height);
    // Room for a 16-bit RGBA decode of the declared size and nothing beyond.
    decoder_limits.max_alloc = Some(u64::from(width) * u64::from(height) * 8 + (1 << 20));
    decoder.set_limits(decoder_limits).map_err(classify_image_error)?;
    // A broken EXIF block must not sink an otherwise good photo.
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(classify_image_error)?;
    img.apply_orientation(orientation);
    Ok(to_rgb8(img))
}

/// A BMP's width and height as its info header declares them (a negative
/// height is a top-down image), before any decoder reads it.
fn declared_bmp_size(format: ImageFormat, bytes: &[u8]) -> Option<(u32, u32)> {
    if format != ImageFormat::Bmp {
        return None;
    }
    let header_len = u32::from_le_bytes(bytes.get(14..18)?.try_into().ok()?);
    if header_len == 12 {
        // OS/2 BITMAPCOREHEADER: 16-bit sizes.
        let w = u16::from_le_bytes(bytes.get(18..20)?.try_into().ok()?);
        let h = u16::from_le_bytes(bytes.get(20..22)?.try_into().ok()?);
        return Some((u32::from(w), u32::from(h)));
    }
    let w = i32::from_le_bytes(bytes.get(18..22)?.try_into().ok()?);
    let h = i32::from_le_bytes(bytes.get(22..26)?.try_into().ok()?);
    Some((w.unsigned_abs(), h.unsigned_abs()))
}

/// Entropy-coded JPEG data stuffs every 0xFF byte, so an end-of-image marker
/// (FF D9) after the first start-of-scan (FF DA) means the file was not cut off
/// (an EXIF thumbnail's own end marker comes before the first scan).
pub(crate) fn has_jpeg_end(bytes: &[u8]) -> bool {
    let eoi = bytes.windows(2).rposition(|w| w == [0xFF, 0xD9]);
    let sos = bytes.windows(2).position(|w| w == [0xFF, 0xDA]);
    matches!((eoi, sos), (Some(e), Some(s)) if e > s)
}

fn to_rgb8(img: DynamicImage) -> RgbImage {
    if img.color().has_alpha() {
        let rgba = img.to_rgba8();
        let mut out = RgbImage::new(rgba.width(), rgba.height());
        for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
            let a = u32::from(p[3]);
            for c in 0..3 {
                // Over white: what a transparent screenshot looks like on screen.
                o[c] = ((u32::from(p[c]) * a + 255 * (255 - a) + 127) / 255) as u8;
            }
        }
        out
    } else {
        match img {
            DynamicImage::ImageRgb8(rgb) => rgb,
            other => other.to_rgb8(),
        }
    }
}

fn classify_image_error(e: image::ImageError) -> Error {
    use image::ImageError as E;
    match e {
        E::Unsupported(u) => Error::UnsupportedImage(u.to_string()),
        E::Limits(_) => Error::CorruptImage("declared size inconsistent with its data".into()),
        E::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            Error::CorruptImage("truncated".into())
        }
        E::IoError(io) => Error::CorruptImage(io.kind().to_string()),
        E::Decoding(d) => Error::CorruptImage(d.to_string()),
        E::Parameter(p) => Error::CorruptImage(p.to_string()),
        E::Encoding(_) => Error::CorruptImage("encoding error".into()),
    }
}
