//! Bytes to an upright RGB image, refusing what would be unsafe to decode.
use crate::error::Error;
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

impl Default for DecodeLimits {
    fn default() -> Self {
        // 64 MP covers every phone camera that matters here (8-50 MP) with room;
        // the RGB buffer of such an image is 192 MB, the decoder may need as much again.
        Self { max_pixels: 64_000_000, max_pixels_scaled: 120_000_000, max_file_bytes: 128 * 1024 * 1024 }
    }
}

/// A photo decoded for analysis, possibly at reduced resolution.
#[derive(Debug, Clone)]
pub struct Scaled {
    /// Upright RGB pixels.
    pub image: RgbImage,
    /// `image` pixels per pixel of the photo as displayed (1.0 = full resolution).
    pub scale: f64,
    /// Size of the photo as displayed (after EXIF orientation), in pixels.
    pub displayed: (u32, u32),
}

/// Decodes for analysis: the smallest resolution whose longer side is at least
/// `min_long_side`. JPEGs are decoded at 1/8, 1/4 or 1/2 scale directly in the
/// DCT (much cheaper than a full decode and a resize); other formats are decoded
/// in full and reduced. Same checks and errors as [`decode_image`].
pub fn decode_scaled(bytes: &[u8], limits: &DecodeLimits, min_long_side: u32) -> Result<Scaled, Error> {
    if bytes.is_empty() {
        return Err(Error::EmptyInput);
    }
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(Error::FileTooLarge { bytes: bytes.len() as u64, limit: limits.max_file_bytes });
    }
    if image::guess_format(bytes).ok() == Some(ImageFormat::Jpeg) {
        return match std::panic::catch_unwind(|| decode_jpeg_scaled(bytes, limits, min_long_side)) {
            Ok(r) => r,
            Err(_) => Err(Error::CorruptImage("the decoder failed on malformed data".into())),
        };
    }
    let full = decode_image(bytes, limits)?;
    let (w, h) = full.dimensions();
    let long = w.max(h);
    let mut k = 1u32;
    while long / (k * 2) >= min_long_side.max(1) {
        k *= 2;
    }
    if k == 1 {
        return Ok(Scaled { image: full, scale: 1.0, displayed: (w, h) });
    }
    let image =
        image::imageops::resize(&full, (w / k).max(1), (h / k).max(1), image::imageops::FilterType::Triangle);
    Ok(Scaled { scale: f64::from(image.width()) / f64::from(w), image, displayed: (w, h) })
}

fn decode_jpeg_scaled(bytes: &[u8], limits: &DecodeLimits, min_long_side: u32) -> Result<Scaled, Error> {
    if !has_jpeg_end(bytes) {
        return Err(Error::CorruptImage("truncated (no end-of-image marker)".into()));
    }
    let mut dec = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    dec.read_info().map_err(|e| Error::CorruptImage(jpeg_error(&e)))?;
    let info = dec.info().ok_or_else(|| Error::CorruptImage("no frame header".into()))?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    if w == 0 || h == 0 {
        return Err(Error::ImageEmpty { width: w, height: h });
    }
    if u64::from(w) * u64::from(h) > limits.max_pixels {
        return Err(Error::ImageTooLarge { width: w, height: h, limit: limits.max_pixels });
    }
    // The decoder picks the smallest of 1/8, 1/4, 1/2, 1 that is at least the request.
    let long = w.max(h);
    let mut k = 1u32;
    while k < 8 && long / (k * 2) >= min_long_side.max(1) {
        k *= 2;
    }
    let (sw, sh) = dec
        .scale(w.div_ceil(k).min(65535) as u16, h.div_ceil(k).min(65535) as u16)
        .map_err(|e| Error::CorruptImage(jpeg_error(&e)))?;
    let pixels = dec.decode().map_err(|e| Error::CorruptImage(jpeg_error(&e)))?;
    let info = dec.info().ok_or_else(|| Error::CorruptImage("no frame header".into()))?;
    let (sw, sh) = (u32::from(sw), u32::from(sh));
    let n = (sw * sh) as usize;
    use jpeg_decoder::PixelFormat as P;
    let rgb: Vec<u8> = match info.pixel_format {
        P::RGB24 if pixels.len() >= n * 3 => pixels[..n * 3].to_vec(),
        P::L8 if pixels.len() >= n => pixels[..n].iter().flat_map(|&v| [v, v, v]).collect(),
        P::L16 if pixels.len() >= n * 2 => {
            pixels[..n * 2].chunks_exact(2).flat_map(|c| [c[0], c[0], c[0]]).collect()
        }
        P::CMYK32 if pixels.len() >= n * 4 => pixels[..n * 4]
            .chunks_exact(4)
            .flat_map(|c| {
                // Adobe CMYK JPEGs store inverted values: channel * K / 255 is the RGB.
                let k = u32::from(c[3]);
                [0, 1, 2].map(|i| ((u32::from(c[i]) * k + 127) / 255) as u8)
            })
            .collect(),
        _ => return Err(Error::CorruptImage("decoded size does not match the header".into())),
    };
    let img = RgbImage::from_raw(sw, sh, rgb).ok_or_else(|| Error::CorruptImage("bad buffer".into()))?;
    let orientation = dec
        .exif_data()
        .and_then(image::metadata::Orientation::from_exif_chunk)
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut dynimg = DynamicImage::ImageRgb8(img);
    dynimg.apply_orientation(orientation);
    let image = match dynimg {
        DynamicImage::ImageRgb8(i) => i,
        other => other.to_rgb8(),
    };
    let swapped = image.width() != sw;
    let displayed = if swapped { (h, w) } else { (w, h) };
    Ok(Scaled { scale: f64::from(sw) / f64::from(w), image, displayed })
}

fn jpeg_error(e: &jpeg_decoder::Error) -> String {
    match e {
        jpeg_decoder::Error::Format(s) => s.clone(),
        jpeg_decoder::Error::Unsupported(_) => "unsupported JPEG feature".into(),
        jpeg_decoder::Error::Io(io) => io.kind().to_string(),
        jpeg_decoder::Error::Internal(_) => "internal decoder error".into(),
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
    if bytes.is_empty() {
        return Err(Error::EmptyInput);
    }
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(Error::FileTooLarge { bytes: bytes.len() as u64, limit: limits.max_file_bytes });
    }
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
