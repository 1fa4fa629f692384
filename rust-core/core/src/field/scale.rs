//! Scale: the red-cell diameter in pixels, measured from the photo itself, so
//! every later stage works at the physical scale each pack asks for.
use super::raster::{components, luma, otsu, Mask};
use crate::field::report::Fov;
use image::RgbImage;

/// The thresholded blob misses a red cell's pale rim: on simulated photos built
/// at a known scale (scripts/evaluate_pipeline.py) the equal-area diameter came
/// out at 0.84 of the truth.
const AREA_TO_DIAMETER: f64 = 1.19;

/// What the cell mask says about the field.
#[derive(Debug, Clone, PartialEq)]
pub struct CellLayer {
    /// Red-cell diameter in pixels of the analysed image; `None` when too few
    /// single round cells were found to measure it.
    pub rbc_diameter: Option<f64>,
    /// How many single round cells the measurement rests on.
    pub measured_cells: usize,
    /// Fraction of the field covered by cells (0..1).
    pub coverage: f64,
    /// Fraction of cell pixels with a stain-like colour (blue at least green).
    pub stain_like: f64,
}

/// Measures on the colour-normalised image `img`; `fov` in `img` pixels.
pub fn measure(img: &RgbImage, fov: Option<&Fov>) -> CellLayer {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let in_fov = |x: usize, y: usize, m: f64| {
        fov.is_none_or(|f| (x as f64 - f.cx).powi(2) + (y as f64 - f.cy).powi(2) <= (f.r * m).powi(2))
    };
    let mut lum = vec![0u8; w * h];
    for (i, p) in img.pixels().enumerate() {
        lum[i] = luma(p.0);
    }
    let field: Vec<u8> = (0..w * h).filter(|&i| in_fov(i % w, i / w, 0.95)).map(|i| lum[i]).collect();
    // Cells are darker than the (normalised, 235) background; keep the split in a sane band.
    let t = otsu(field.iter().copied()).clamp(150, 215);
    let cells = Mask::from_fn(w, h, |x, y| lum[y * w + x] <= t && in_fov(x, y, 0.95));
    let field_px = field.len().max(1);
    let coverage = cells.count() as f64 / field_px as f64;
    let mut stain = 0usize;
    for (i, p) in img.pixels().enumerate() {
        if cells.data[i] && i32::from(p[2]) >= i32::from(p[1]) - 3 {
            stain += 1;
        }
    }
    let stain_like = if cells.count() > 0 { stain as f64 / cells.count() as f64 } else { 0.0 };
    // Pale centres of red cells become holes; fill them so one cell is one blob.
    let blobs = cells.fill_holes().open(1);
    let (_, comps) = components(&blobs);
    let mut areas: Vec<f64> = comps
        .iter()
        .filter(|c| {
            let (bw, bh) = (c.width() as f64, c.height() as f64);
            let fill = c.area as f64 / (bw * bh);
            !c.touches_border
                && c.area >= 12
                && bw.max(bh) / bw.min(bh) <= 1.35
                && (0.6..=0.95).contains(&fill)
                && in_fov(c.cx as usize, c.cy as usize, 0.85)
        })
        .map(|c| c.area as f64)
        .collect();
    areas.sort_by(f64::total_cmp);
    let mut rbc_diameter = None;
    let mut measured_cells = areas.len();
    if areas.len() >= 5 {
        // Single red cells are the commonest round blob; drop clumps and fragments around them.
        let m0 = areas[areas.len() / 2];
        let core: Vec<f64> = areas.iter().copied().filter(|a| (0.4 * m0..=1.8 * m0).contains(a)).collect();
        if core.len() >= 5 {
            measured_cells = core.len();
            let m = core[core.len() / 2];
            rbc_diameter = Some(AREA_TO_DIAMETER * 2.0 * (m / std::f64::consts::PI).sqrt());
        }
    }
    CellLayer { rbc_diameter, measured_cells, coverage, stain_like }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_disc_diameter() {
        let d = 24.0;
        let img = RgbImage::from_fn(600, 400, |x, y| {
            let (cx, cy) = ((x / 40) * 40 + 20, (y / 40) * 40 + 20);
            let r = ((x as f64 - cx as f64).powi(2) + (y as f64 - cy as f64).powi(2)).sqrt();
            if r < d / 2.0 {
                image::Rgb([200, 130, 150])
            } else {
                image::Rgb([235, 235, 235])
            }
        });
        let layer = measure(&img, None);
        let got = layer.rbc_diameter.unwrap() / AREA_TO_DIAMETER;
        assert!((got - d).abs() < 2.0, "{got}");
        assert!(layer.coverage > 0.2 && layer.coverage < 0.4);
        assert!(layer.stain_like > 0.9);
    }

    #[test]
    fn blank_field_has_no_scale() {
        let img = RgbImage::from_pixel(300, 200, image::Rgb([235, 235, 235]));
        let layer = measure(&img, None);
        assert_eq!(layer.rbc_diameter, None);
        assert!(layer.coverage < 0.01);
    }
}
