//! White cells: nuclei are the most strongly stained objects (blue well above
//! green after colour normalisation). Seed on a high threshold, grow to a lower
//! one, merge the lobes of one nucleus, and size a box around the whole cell.
//! Thresholds were tuned on `bccd_fields` and `raabin_phone` boxes
//! (scripts/evaluate_pipeline.py reports the figures).
use super::raster::{components, Mask};
use image::RgbImage;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectOptions {
    /// Blue-minus-green score that seeds a nucleus.
    pub seed: f32,
    /// Grow the nucleus down to `seed * grow`.
    pub grow: f32,
    /// Smallest nucleus, as a fraction of a red cell's area (platelets are smaller).
    pub min_area_rbc: f64,
    /// ... and this for a nucleus cut by the edge of a frame without aperture.
    pub min_cut_area_rbc: f64,
    /// Nucleus parts closer than this (in red-cell diameters) are one cell ...
    pub merge_gap_rbc: f64,
    /// ... unless together they would span more than this.
    pub max_span_rbc: f64,
    /// Box: nucleus extent plus this margin (red-cell diameters) ...
    pub pad_rbc: f64,
    /// ... at least this size and at most `max_box_rbc`.
    pub min_box_rbc: f64,
    pub max_box_rbc: f64,
    /// Nucleus parts joined by faint stain (blue-minus-green above this: the
    /// cytoplasm and chromatin bridges of one cell, not the red cells between
    /// two) are one cell while together they span at most `link_span_rbc`.
    /// 0 turns the rule off.
    pub link: f32,
    pub link_span_rbc: f64,
}

impl Default for DetectOptions {
    /// Tuned on the train splits of bccd_fields and raabin_phone and on
    /// simulated photos from bccd train fields (scripts/tune_detection.py);
    /// the val splits report the figures.
    fn default() -> Self {
        Self {
            seed: 95.0,
            grow: 0.6,
            min_area_rbc: 0.5,
            min_cut_area_rbc: 0.15,
            merge_gap_rbc: 0.4,
            max_span_rbc: 2.4,
            pad_rbc: 0.4,
            min_box_rbc: 1.5,
            max_box_rbc: 2.8,
            link: 25.0,
            link_span_rbc: 2.8,
        }
    }
}

/// A white cell found in the analysed image: box `[x0, y0, x1, y1]` (may extend
/// past the image edge) and the nucleus centre.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Detection {
    pub fn cx(&self) -> f64 {
        (self.x0 + self.x1) / 2.0
    }
    pub fn cy(&self) -> f64 {
        (self.y0 + self.y1) / 2.0
    }
}

/// Finds white cells in the colour-normalised image, given the red-cell diameter
/// `rbc` in its pixels. `inside` says whether a pixel is in the field of view.
pub fn white_cells(
    img: &RgbImage,
    rbc: f64,
    opts: &DetectOptions,
    inside: impl Fn(usize, usize) -> bool,
) -> Vec<Detection> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut score = vec![0f32; w * h];
    for (i, p) in img.pixels().enumerate() {
        score[i] = f32::from(p[2]) - f32::from(p[1]);
    }
    let lo = Mask::from_fn(w, h, |x, y| score[y * w + x] > opts.seed * opts.grow && inside(x, y));
    let lo = lo.open(((rbc * 0.04).round() as usize).max(1));
    let (labels, comps) = components(&lo);
    let mut seeded = vec![false; comps.len()];
    for (i, &l) in labels.iter().enumerate() {
        if l != 0 && score[i] > opts.seed {
            seeded[l as usize - 1] = true;
        }
    }
    let rbc_area = std::f64::consts::PI * (rbc / 2.0).powi(2);
    // The faint-stain group each part lies in (0: none).
    let mut group = vec![0u32; comps.len()];
    if opts.link > 0.0 {
        let linked = Mask::from_fn(w, h, |x, y| score[y * w + x] > opts.link && inside(x, y)).open(1);
        let (glabels, _) = components(&linked);
        for (i, &l) in labels.iter().enumerate() {
            if l != 0 && group[l as usize - 1] == 0 {
                group[l as usize - 1] = glabels[i];
            }
        }
    }
    // Boxes with their stained area and group; lobes are judged by size only once merged.
    let mut boxes: Vec<([f64; 4], f64, u32)> = comps
        .iter()
        .zip(&seeded)
        .zip(&group)
        .filter(|((c, s), _)| **s && c.area as f64 >= 0.05 * rbc_area)
        .map(|((c, _), g)| ([c.x0 as f64, c.y0 as f64, c.x1 as f64, c.y1 as f64], c.area as f64, *g))
        .collect();
    let link_span = opts.link_span_rbc * rbc;
    // Merge the lobes of one nucleus (closest pairs first, while the union stays cell-sized).
    let gap = opts.merge_gap_rbc * rbc;
    let max_span = opts.max_span_rbc * rbc;
    loop {
        let mut best: Option<(usize, usize, f64)> = None;
        for i in 0..boxes.len() {
            for j in i + 1..boxes.len() {
                let (a, b) = (boxes[i].0, boxes[j].0);
                let dx = (a[0].max(b[0]) - a[2].min(b[2])).max(0.0);
                let dy = (a[1].max(b[1]) - a[3].min(b[3])).max(0.0);
                let span = (a[2].max(b[2]) - a[0].min(b[0])).max(a[3].max(b[3]) - a[1].min(b[1]));
                let d = dx.max(dy);
                let near = dx <= gap && dy <= gap && span <= max_span;
                let linked = boxes[i].2 != 0 && boxes[i].2 == boxes[j].2 && span <= link_span;
                if (near || linked) && best.is_none_or(|(_, _, bd)| d < bd) {
                    best = Some((i, j, d));
                }
            }
        }
        let Some((i, j, _)) = best else { break };
        let (b, area_b, gb) = boxes.swap_remove(j);
        let (a, area_a, ga) = &mut boxes[i];
        *a = [a[0].min(b[0]), a[1].min(b[1]), a[2].max(b[2]), a[3].max(b[3])];
        *area_a += area_b;
        if *ga != gb {
            *ga = 0;
        }
    }
    let (fw, fh) = (w as f64, h as f64);
    boxes
        .into_iter()
        .filter_map(|(b, area, _)| {
            // A cell cut by the frame edge shows only part of its nucleus: it
            // is kept on less stain, and boxed as far as it is seen.
            let cut = [b[0] <= 1.0, b[1] <= 1.0, b[2] >= fw - 1.0, b[3] >= fh - 1.0];
            let min_area = if cut.contains(&true) { opts.min_cut_area_rbc } else { opts.min_area_rbc };
            if area < min_area * rbc_area {
                return None;
            }
            let (cx, cy) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
            let size =
                |ext: f64| (ext + opts.pad_rbc * rbc).max(opts.min_box_rbc * rbc).min(opts.max_box_rbc * rbc);
            let (bw, bh) = (size(b[2] - b[0]), size(b[3] - b[1]));
            let mut d =
                Detection { x0: cx - bw / 2.0, y0: cy - bh / 2.0, x1: cx + bw / 2.0, y1: cy + bh / 2.0 };
            let pad = opts.pad_rbc * rbc / 2.0;
            if cut[0] {
                (d.x0, d.x1) = (0.0, (b[2] + pad).min(fw));
            }
            if cut[1] {
                (d.y0, d.y1) = (0.0, (b[3] + pad).min(fh));
            }
            if cut[2] {
                (d.x0, d.x1) = ((b[0] - pad).max(0.0), fw);
            }
            if cut[3] {
                (d.y0, d.y1) = ((b[1] - pad).max(0.0), fh);
            }
            Some(d)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_lobed_and_round_nuclei_not_platelets() {
        let rbc = 30.0;
        let mut img = RgbImage::from_pixel(400, 300, image::Rgb([235, 235, 235]));
        let mut disc = |cx: f64, cy: f64, r: f64, c: [u8; 3]| {
            for y in 0..300u32 {
                for x in 0..400u32 {
                    if (x as f64 - cx).powi(2) + (y as f64 - cy).powi(2) < r * r {
                        img.put_pixel(x, y, image::Rgb(c));
                    }
                }
            }
        };
        let nucleus = [90, 40, 160];
        // A three-lobed neutrophil at (100, 100).
        disc(100.0, 100.0, 28.0, [220, 200, 215]);
        for (dx, dy) in [(-10.0, -6.0), (10.0, -6.0), (0.0, 10.0)] {
            disc(100.0 + dx, 100.0 + dy, 7.0, nucleus);
        }
        // A lymphocyte at (300, 200).
        disc(300.0, 200.0, 20.0, nucleus);
        // A platelet and a red cell.
        disc(250.0, 60.0, 4.0, nucleus);
        disc(60.0, 230.0, 15.0, [210, 140, 150]);
        let d = white_cells(&img, rbc, &DetectOptions::default(), |_, _| true);
        assert_eq!(d.len(), 2, "{d:?}");
        let mut centres: Vec<(f64, f64)> = d.iter().map(|d| (d.cx(), d.cy())).collect();
        centres.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!((centres[0].0 - 100.0).abs() < 5.0 && (centres[0].1 - 101.0).abs() < 6.0);
        assert!((centres[1].0 - 300.0).abs() < 3.0 && (centres[1].1 - 200.0).abs() < 3.0);
    }
}
