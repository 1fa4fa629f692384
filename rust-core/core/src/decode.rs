//! Bytes to an upright RGB image: `hemalens-photo`'s decoders, their errors
//! as this layer's [`Error`].
use crate::error::Error;
use hemalens_photo::DecodeLimits;
use image::RgbImage;
use std::path::Path;

/// Reads and decodes an image file ([`hemalens_photo::decode_file`]).
pub fn decode_file(path: &Path, limits: &DecodeLimits) -> Result<RgbImage, Error> {
    Ok(hemalens_photo::decode_file(path, limits)?)
}

/// Decodes JPEG, PNG, WebP, BMP or TIFF bytes to upright 8-bit RGB
/// ([`hemalens_photo::decode_image`]). Never panics.
pub fn decode_image(bytes: &[u8], limits: &DecodeLimits) -> Result<RgbImage, Error> {
    Ok(hemalens_photo::decode_image(bytes, limits)?)
}
