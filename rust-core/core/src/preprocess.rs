//! An RGB image to a model's input tensor, exactly as its manifest says.
//!
//! The same steps run in training (`scripts/hemalens_data.py`) and on every
//! platform: resize with a triangle filter, fill the mask rectangles, normalise,
//! quantise. See `docs/model-pack.md`.
use crate::error::Error;
use crate::pack::{ColorOrder, DType, InputSpec};
use image::imageops::{self, FilterType};
use image::RgbImage;

/// Resizes to the input size and fills the masks: the picture the model sees.
pub fn model_view(img: &RgbImage, spec: &InputSpec) -> RgbImage {
    let mut out = if img.dimensions() == (spec.width, spec.height) {
        img.clone()
    } else {
        imageops::resize(img, spec.width, spec.height, FilterType::Triangle)
    };
    apply_masks(&mut out, spec);
    out
}

/// Mask rectangle `[x0, x1) x [y0, y1)` in pixels: `x0 = floor(x * W + 0.5)`,
/// `x1 = floor((x + w) * W + 0.5)`, likewise for y.
pub fn mask_pixels(x: f32, y: f32, w: f32, h: f32, width: u32, height: u32) -> (u32, u32, u32, u32) {
    let px = |v: f32, n: u32| ((f64::from(v) * f64::from(n) + 0.5).floor().max(0.0) as u32).min(n);
    (px(x, width), px(y, height), px(x + w, width), px(y + h, height))
}

fn apply_masks(img: &mut RgbImage, spec: &InputSpec) {
    let (w, h) = img.dimensions();
    for m in &spec.masks {
        let (x0, y0, x1, y1) = mask_pixels(m.x, m.y, m.w, m.h, w, h);
        for y in y0..y1 {
            for x in x0..x1 {
                img.put_pixel(x, y, image::Rgb(m.fill));
            }
        }
    }
}

/// Writes the tensor for one image (already at input size, masks applied) into
/// `out`, which must be exactly one batch item long.
pub fn write_tensor(view: &RgbImage, spec: &InputSpec, out: &mut [u8]) -> Result<(), Error> {
    if view.dimensions() != (spec.width, spec.height) {
        return Err(Error::InvalidArgument("image is not at the model's input size".into()));
    }
    let n = (spec.width * spec.height * 3) as usize;
    let elem = if spec.dtype == DType::Float32 { 4 } else { 1 };
    if out.len() != n * elem {
        return Err(Error::InvalidArgument("tensor buffer has the wrong size".into()));
    }
    let order: [usize; 3] = match spec.color_order {
        ColorOrder::Rgb => [0, 1, 2],
        ColorOrder::Bgr => [2, 1, 0],
    };
    let mean = spec.normalization.mean;
    let std = spec.normalization.std;
    let (scale, zp) = spec.quantization.map(|q| (q.scale, q.zero_point as f32)).unwrap_or((1.0, 0.0));
    // Divisions, in f32, in this order: what numpy does with float32 arrays.
    let norm = |c: usize, v: u8| (f32::from(v) - mean[c]) / std[c];
    if spec.dtype == DType::Float32 {
        for (i, px) in view.pixels().enumerate() {
            for (c, &src) in order.iter().enumerate() {
                let k = (i * 3 + c) * 4;
                out[k..k + 4].copy_from_slice(&norm(c, px[src]).to_le_bytes());
            }
        }
        return Ok(());
    }
    // A quantised value depends on the byte and the channel alone: a table per
    // channel computes each of the 256 once, by the same formula.
    let q = |c: usize, v: u8| match spec.dtype {
        DType::Uint8 => ((norm(c, v) / scale).round() + zp).clamp(0.0, 255.0) as u8,
        _ => ((norm(c, v) / scale).round() + zp).clamp(-128.0, 127.0) as i8 as u8,
    };
    let lut: [[u8; 256]; 3] = std::array::from_fn(|c| std::array::from_fn(|v| q(c, v as u8)));
    for (px, o) in view.as_raw().chunks_exact(3).zip(out.chunks_exact_mut(3)) {
        for (c, &src) in order.iter().enumerate() {
            o[c] = lut[c][usize::from(px[src])];
        }
    }
    Ok(())
}

/// Bytes of one batch item's input tensor.
pub fn item_bytes(spec: &InputSpec) -> usize {
    let elem = if spec.dtype == DType::Float32 { 4 } else { 1 };
    (spec.width * spec.height * 3) as usize * elem
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::{Mask, Normalization, QuantParams, Resize};

    fn spec(dtype: DType) -> InputSpec {
        InputSpec {
            width: 4,
            height: 4,
            channels: 3,
            batch: 1,
            color_order: ColorOrder::Rgb,
            dtype,
            resize: Resize::Triangle,
            normalization: Normalization { mean: [127.5; 3], std: [127.5; 3] },
            quantization: Some(QuantParams { scale: 0.0078125, zero_point: -1 }),
            masks: vec![Mask { x: 0.5, y: 0.5, w: 0.5, h: 0.5, fill: [0, 0, 0] }],
            rbc_diameter_px: None,
            cell_diameter_px: None,
        }
    }

    #[test]
    fn int8_extremes_and_masks() {
        let s = spec(DType::Int8);
        let img = RgbImage::from_pixel(8, 8, image::Rgb([255, 128, 0]));
        let view = model_view(&img, &s);
        assert_eq!(view.dimensions(), (4, 4));
        assert_eq!(view.get_pixel(0, 0).0, [255, 128, 0]);
        assert_eq!(view.get_pixel(3, 3).0, [0, 0, 0]);
        assert_eq!(view.get_pixel(1, 3).0, [255, 128, 0]);
        let mut t = vec![0u8; item_bytes(&s)];
        write_tensor(&view, &s, &mut t).unwrap();
        // 255 -> 1.0 -> 128 + (-1) = 127.
        assert_eq!(t[0] as i8, 127);
        // 0 -> -1.0 -> -128 - 1 -> clamped to -128.
        assert_eq!(t[2] as i8, -128);
        assert_eq!(t[(3 * 4 + 3) * 3] as i8, -128);
    }

    #[test]
    fn float_tensor_is_normalised_little_endian() {
        let s = spec(DType::Float32);
        let view = RgbImage::from_pixel(4, 4, image::Rgb([0, 255, 127]));
        let mut t = vec![0u8; item_bytes(&s)];
        write_tensor(&view, &s, &mut t).unwrap();
        let f = |k: usize| f32::from_le_bytes([t[k * 4], t[k * 4 + 1], t[k * 4 + 2], t[k * 4 + 3]]);
        assert_eq!(f(0), -1.0);
        assert_eq!(f(1), 1.0);
        assert!(f(2).abs() < 0.01);
    }

    #[test]
    fn wrong_sizes_are_errors() {
        let s = spec(DType::Int8);
        let view = RgbImage::new(5, 4);
        let mut t = vec![0u8; item_bytes(&s)];
        assert!(write_tensor(&view, &s, &mut t).is_err());
        let view = RgbImage::new(4, 4);
        assert!(write_tensor(&view, &s, &mut t[1..]).is_err());
    }

    #[test]
    fn mask_rounding() {
        assert_eq!(mask_pixels(0.866, 0.866, 0.134, 0.134, 224, 224), (194, 194, 224, 224));
        assert_eq!(mask_pixels(0.0, 0.0, 1.0, 1.0, 10, 10), (0, 0, 10, 10));
    }
}
