//! The whole field pipeline over one photo, with the time each stage took.
use super::colour;
use super::detect::{self, DetectOptions, Detection};
use super::fov;
use super::quality::{self, Measures, QualityOptions};
use super::report::{Cell, FieldReport, Fov, ModelRef, Probs, Quality, Scale, Screen};
use super::scale;
use crate::classify::{Classifier, Prediction};
use crate::decode::{decode_scaled, DecodeLimits};
use crate::error::Error;
use crate::pack::{Manifest, Pack, Task};
use image::RgbImage;
use std::collections::BTreeMap;
use std::time::Instant;

#[derive(Debug, Clone, PartialEq)]
pub struct AnalyzeOptions {
    pub decode: DecodeLimits,
    pub quality: QualityOptions,
    pub detect: DetectOptions,
    /// The photo is analysed at the smallest decode scale whose longer side is at least this.
    pub work_long_side: u32,
    /// At most this many field-of-view tiles go to the screening model (nearest the centre).
    pub max_tiles: usize,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        Self {
            decode: DecodeLimits::default(),
            quality: QualityOptions::default(),
            detect: DetectOptions::default(),
            work_long_side: 1000,
            max_tiles: 16,
        }
    }
}

/// A report plus the picture it was made from (for overlays).
#[derive(Debug, Clone)]
pub struct Analyzed {
    pub report: FieldReport,
    /// The photo as analysed (upright, possibly reduced).
    pub view: RgbImage,
    /// `view` pixels per displayed-photo pixel.
    pub view_scale: f64,
}

/// The two packs compiled and ready; `Send + Sync`, reuse it for every photo.
#[derive(Debug)]
pub struct Analyzer {
    screen: Classifier,
    cells: Classifier,
    opts: AnalyzeOptions,
}

fn scale_of(m: &Manifest) -> Result<f64, Error> {
    m.input.rbc_diameter_px.filter(|d| *d > 0.0).ok_or_else(|| Error::PackMismatch {
        field: "input.rbc_diameter_px".into(),
        problem: format!("pack `{}` does not say the red-cell scale it expects", m.id),
    })
}

impl Analyzer {
    /// `screen` is a `field_screen` pack (`all-screen`), `cells` a `cell_type` pack (`wbc-type`).
    pub fn new(screen: &Pack, cells: &Pack, threads: usize) -> Result<Self, Error> {
        Self::with_options(screen, cells, threads, AnalyzeOptions::default())
    }

    pub fn with_options(
        screen: &Pack,
        cells: &Pack,
        threads: usize,
        opts: AnalyzeOptions,
    ) -> Result<Self, Error> {
        for (p, task) in [(screen, Task::FieldScreen), (cells, Task::CellType)] {
            let m = p.manifest();
            if m.task != task && m.task != Task::Test {
                return Err(Error::PackMismatch {
                    field: "task".into(),
                    problem: format!(
                        "pack `{}` is a {} model, {} needed",
                        m.id,
                        m.task.as_str(),
                        task.as_str()
                    ),
                });
            }
            scale_of(m)?;
        }
        Ok(Self { screen: Classifier::new(screen, threads)?, cells: Classifier::new(cells, threads)?, opts })
    }

    pub fn options(&self) -> &AnalyzeOptions {
        &self.opts
    }

    pub fn screen_manifest(&self) -> &Manifest {
        self.screen.manifest()
    }

    pub fn cells_manifest(&self) -> &Manifest {
        self.cells.manifest()
    }

    /// Analyses one photo's bytes.
    pub fn analyze(&self, bytes: &[u8]) -> Result<FieldReport, Error> {
        Ok(self.analyze_full(bytes)?.report)
    }

    /// Analyses one photo and keeps the analysed picture for an overlay.
    pub fn analyze_full(&self, bytes: &[u8]) -> Result<Analyzed, Error> {
        let mut timing = BTreeMap::new();
        let mut clock = Instant::now();
        let mut lap = |name: &str, timing: &mut BTreeMap<String, f64>| {
            let now = Instant::now();
            timing.insert(name.to_string(), (now - clock).as_secs_f64() * 1e3);
            clock = now;
        };
        let start = Instant::now();
        let scaled = decode_scaled(bytes, &self.opts.decode, self.opts.work_long_side)?;
        lap("decode", &mut timing);
        let raw = scaled.image;
        let s = scaled.scale;
        let field = fov::find(&raw);
        lap("fov", &mut timing);
        let ill = colour::estimate(&raw, field.as_ref());
        let norm = ill.apply(&raw);
        lap("colour", &mut timing);
        let layer = scale::measure(&norm, field.as_ref());
        lap("scale", &mut timing);
        let (exposure, clipped) = quality::exposure(&raw, field.as_ref());
        let focus = quality::focus(&norm, field.as_ref(), layer.rbc_diameter);
        let (fov_fraction, fov_cut) = quality::fov_coverage(field.as_ref(), raw.width(), raw.height());
        let issues = quality::gate(
            &Measures { focus, exposure, clipped, fov_fraction, fov_cut },
            &layer,
            &self.opts.quality,
        );
        lap("quality", &mut timing);
        let to_display = |f: &Fov| Fov { cx: f.cx / s, cy: f.cy / s, r: f.r / s };
        let quality = Quality {
            ok: issues.is_empty(),
            issues,
            focus: round3(focus),
            exposure: round3(exposure),
            fov: field.as_ref().map(to_display),
        };
        let models = [self.screen.manifest(), self.cells.manifest()]
            .iter()
            .map(|m| ModelRef { id: m.id.clone(), version: m.version.clone(), sha256: m.sha256.clone() })
            .collect();
        let mut report = FieldReport {
            scale: layer.rbc_diameter.map(|d| Scale { rbc_diameter_px: round3(d / s) }),
            quality,
            cells: Vec::new(),
            screen: None,
            timing_ms: BTreeMap::new(),
            models,
        };
        if report.quality.ok {
            if let Some(d) = layer.rbc_diameter {
                let inside = |x: usize, y: usize| {
                    field.as_ref().is_none_or(|f| {
                        (x as f64 - f.cx).powi(2) + (y as f64 - f.cy).powi(2) <= (f.r * 0.97).powi(2)
                    })
                };
                let found = detect::white_cells(&norm, d, &self.opts.detect, inside);
                lap("detect", &mut timing);
                report.cells = self.classify_cells(&norm, &found, d, s, scaled.displayed)?;
                lap("classify_cells", &mut timing);
                report.screen = Some(self.screen_field(&norm, field.as_ref(), d)?);
                lap("screen", &mut timing);
            }
        }
        timing.insert("total".into(), start.elapsed().as_secs_f64() * 1e3);
        report.timing_ms = timing.into_iter().map(|(k, v)| (k, round3(v))).collect();
        Ok(Analyzed { report, view: raw, view_scale: s })
    }

    fn classify_cells(
        &self,
        norm: &RgbImage,
        found: &[Detection],
        d: f64,
        s: f64,
        displayed: (u32, u32),
    ) -> Result<Vec<Cell>, Error> {
        let m = self.cells.manifest();
        let side = f64::from(m.input.width) * d / scale_of(m)?;
        let tensors = found
            .iter()
            .map(|det| self.cells.prepare(&crop(norm, det.cx(), det.cy(), side)))
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&[u8]> = tensors.iter().map(Vec::as_slice).collect();
        let outs = self.cells.run_tensors(&refs)?;
        let (dw, dh) = (f64::from(displayed.0), f64::from(displayed.1));
        Ok(found
            .iter()
            .zip(outs)
            .map(|(det, raw)| {
                let p = self.cells.interpret(&raw);
                let x0 = (det.x0 / s).clamp(0.0, dw);
                let y0 = (det.y0 / s).clamp(0.0, dh);
                let x1 = (det.x1 / s).clamp(0.0, dw);
                let y1 = (det.y1 / s).clamp(0.0, dh);
                Cell {
                    bbox: [
                        x0.round() as u32,
                        y0.round() as u32,
                        (x1 - x0).round() as u32,
                        (y1 - y0).round() as u32,
                    ],
                    label: p.label.clone(),
                    confidence: p.confidence,
                    probs: probs(m, &p),
                }
            })
            .collect())
    }

    fn screen_field(&self, norm: &RgbImage, field: Option<&Fov>, d: f64) -> Result<Screen, Error> {
        let m = self.screen.manifest();
        let side = f64::from(m.input.width) * d / scale_of(m)?;
        let centres = tile_centres(norm.width(), norm.height(), field, side, self.opts.max_tiles);
        let tensors = centres
            .iter()
            .map(|&(x, y)| self.screen.prepare(&crop(norm, x, y, side)))
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&[u8]> = tensors.iter().map(Vec::as_slice).collect();
        let outs = self.screen.run_tensors(&refs)?;
        let mut mean = vec![0.0; m.labels.len()];
        for raw in &outs {
            for (acc, p) in mean.iter_mut().zip(self.screen.interpret(raw).probs) {
                *acc += p / outs.len() as f64;
            }
        }
        let index = crate::probs::argmax(&mean);
        let p = Prediction { index, label: m.labels[index].clone(), confidence: mean[index], probs: mean };
        Ok(Screen {
            label: p.label.clone(),
            confidence: p.confidence,
            probs: probs(m, &p),
            tiles: outs.len() as u32,
        })
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn probs(m: &Manifest, p: &Prediction) -> Probs {
    Probs(m.labels.iter().cloned().zip(p.probs.iter().copied()).collect())
}

/// A square of side `side` centred at (cx, cy); outside the image is background grey.
pub fn crop(img: &RgbImage, cx: f64, cy: f64, side: f64) -> RgbImage {
    let n = side.round().max(1.0) as u32;
    let x0 = (cx - side / 2.0).round() as i64;
    let y0 = (cy - side / 2.0).round() as i64;
    let bg = colour::BACKGROUND as u8;
    let mut out = RgbImage::from_pixel(n, n, image::Rgb([bg, bg, bg]));
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    for y in 0..i64::from(n) {
        let sy = y0 + y;
        if sy < 0 || sy >= h {
            continue;
        }
        for x in 0..i64::from(n) {
            let sx = x0 + x;
            if sx < 0 || sx >= w {
                continue;
            }
            out.put_pixel(x as u32, y as u32, *img.get_pixel(sx as u32, sy as u32));
        }
    }
    out
}

/// Tile centres covering the field: a half-overlapping grid of squares of side
/// `side` lying inside the aperture (or the frame), nearest the centre first, at
/// most `max`.
pub fn tile_centres(w: u32, h: u32, field: Option<&Fov>, side: f64, max: usize) -> Vec<(f64, f64)> {
    let (w, h) = (f64::from(w), f64::from(h));
    let hs = side / 2.0;
    let (cx, cy) = field.map_or((w / 2.0, h / 2.0), |f| (f.cx, f.cy));
    let half_diag_ok = |x: f64, y: f64| {
        let in_frame = x - hs >= -0.5 && y - hs >= -0.5 && x + hs <= w + 0.5 && y + hs <= h + 0.5;
        let in_fov = field.is_none_or(|f| {
            [(-hs, -hs), (hs, -hs), (-hs, hs), (hs, hs)]
                .iter()
                .all(|(dx, dy)| (x + dx - f.cx).powi(2) + (y + dy - f.cy).powi(2) <= f.r * f.r)
        });
        in_frame && in_fov
    };
    let mut out = Vec::new();
    let stride = side / 2.0;
    let n = ((w.max(h) / stride).ceil() as i64 + 2).min(400);
    for j in -n..=n {
        for i in -n..=n {
            let (x, y) = (cx + i as f64 * stride, cy + j as f64 * stride);
            if half_diag_ok(x, y) {
                out.push((x, y));
            }
        }
    }
    out.sort_by(|a, b| {
        ((a.0 - cx).powi(2) + (a.1 - cy).powi(2)).total_cmp(&((b.0 - cx).powi(2) + (b.1 - cy).powi(2)))
    });
    out.truncate(max.max(1));
    if out.is_empty() {
        out.push((cx, cy));
    }
    out
}
