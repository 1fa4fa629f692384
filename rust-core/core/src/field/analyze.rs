//! The whole field pipeline over one photo, with the time each stage took.
//!
//! Coordinates: the *view* is the photo decoded at reduced resolution (upright);
//! the *work image* is the view resampled so red cells are [`WORK_RBC`] pixels
//! across, where every measurement and the detector run (so their thresholds
//! mean the same at any magnification and photo size); crops and tiles for the
//! models are cut from the photo itself at the scale each pack asks for.
//! Reports are in displayed-photo pixels.
use super::colour::{self, Illumination};
use super::detect::{self, DetectOptions, Detection};
use super::fov;
use super::parallel;
use super::quality::{self, Measures, QualityOptions};
use super::report::{Bbox, Cell, FieldReport, Fov, IssueCode, ModelRef, Probs, Quality, Scale, Screen};
use super::scale;
use crate::classify::{Classifier, Prediction};
use crate::engine::EngineProvider;
#[cfg(feature = "litert")]
use crate::engine::LiteRt;
use crate::error::Error;
use crate::pack::{Manifest, Pack, Task};
use crate::site::{CalibrationPhoto, SiteProfile};
use hemalens_photo::DecodeLimits;
use hemalens_photo::Photo;
use image::imageops::FilterType;
use image::RgbImage;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// The log target of each photo's quality-gate measures (debug level; numbers only).
pub const GATE_LOG: &str = "hemalens::gate";

/// Red-cell diameter in the work image, in pixels.
pub const WORK_RBC: f64 = 12.0;

/// White cells are counted when their centre lies within this share of the
/// aperture's radius.
pub const COUNT_WITHIN_FOV: f64 = 0.9;

/// A screening tile is used when at least this share of it shows the field
/// (the rest, outside the aperture, is filled with plasma grey).
pub const TILE_MIN_INSIDE: f64 = 0.7;

/// Deserialisable (missing fields keep their defaults) so tuning scripts can
/// override any of them (`hemalens analyze --tune JSON`); the decode limits and
/// the developer switches are not taken from JSON.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyzeOptions {
    #[serde(skip)]
    pub decode: DecodeLimits,
    pub quality: QualityOptions,
    pub detect: DetectOptions,
    /// The view is the coarsest decode whose longer side is at least this.
    pub view_long_side: u32,
    /// At most this many field-of-view tiles go to the screening model (nearest the centre).
    pub max_tiles: usize,
    /// Cell crops and screening tiles are shrunk to the model input from a
    /// picture at least this many times finer (the packs' training images were
    /// shrunk 2.8x and 1.75x; tiles from the 1/8-scale DCT image cost screening
    /// accuracy on simulated photos: scripts/evaluate_pipeline.py).
    pub cell_oversample: f64,
    pub tile_oversample: f64,
    /// Run the models (off: detection and quality only, for tuning them).
    #[serde(skip)]
    pub classify: bool,
    /// Run detection and the models on photos the gate rejects too (for
    /// showing what the models get wrong on them; never in use).
    #[serde(skip)]
    pub ignore_gate: bool,
    /// Developer aid for training on the pipeline's own inputs: write every
    /// model input (cell crops and screening tiles, exactly as the models see
    /// them) as PNG into this folder, named `<first 12 hex of the photo's
    /// sha256>-<cell|tile>-<index>.png`. Never set in the product.
    #[serde(skip)]
    pub dump_windows: Option<std::path::PathBuf>,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        Self {
            decode: DecodeLimits::default(),
            quality: QualityOptions::default(),
            detect: DetectOptions::default(),
            view_long_side: 500,
            max_tiles: 16,
            cell_oversample: 1.5,
            tile_oversample: 1.5,
            classify: true,
            ignore_gate: false,
            dump_windows: None,
        }
    }
}

/// A report plus the photo it was made from (for overlays).
#[derive(Debug)]
pub struct Analyzed {
    pub report: FieldReport,
    /// The decoded photo: pictures of it at any scale for people to look at.
    pub photo: Photo,
    /// The packs' raw outputs for each screening tile and each white cell, in
    /// report order (kept even where `unfamiliar_image` cleared the report).
    pub tile_outputs: Vec<Vec<u8>>,
    pub cell_outputs: Vec<Vec<u8>>,
    /// Each white cell's box (as in the report's cells).
    pub cell_boxes: Vec<Bbox>,
    /// The light behind the slide (raw RGB).
    pub background: [f64; 3],
    /// Milliseconds each stage took (for benchmarks and `analyze --json`; not
    /// part of the report that is stored).
    pub timing_ms: BTreeMap<String, f64>,
}

impl Analyzed {
    /// What site calibration needs of it (the photo itself is dropped).
    pub fn for_calibration(self) -> CalibrationPhoto {
        CalibrationPhoto {
            report: self.report,
            tiles: self.tile_outputs,
            cells: self.cell_outputs,
            background: self.background,
        }
    }
}

/// The two packs compiled and ready; `Send + Sync`, reuse it for every photo.
#[derive(Debug)]
pub struct Analyzer {
    /// One pair of engines per worker thread: each crop is cut and classified
    /// by whichever worker takes it, on that worker's own engines.
    workers: Vec<Worker>,
    opts: AnalyzeOptions,
    /// The site's calibration, applied to every answer ([`crate::site`]).
    site: Option<SiteProfile>,
    /// The threads each photo is analysed on (one per worker; none for one).
    pool: Option<rayon::ThreadPool>,
}

#[derive(Debug)]
struct Worker {
    screen: Classifier,
    cells: Classifier,
}

fn scale_of(m: &Manifest) -> Result<f64, Error> {
    m.input.rbc_diameter_px.filter(|d| *d > 0.0).ok_or_else(|| Error::PackMismatch {
        field: "input.rbc_diameter_px".into(),
        problem: format!("pack `{}` does not say the red-cell scale it expects", m.id),
    })
}

impl Analyzer {
    /// `screen` is a `field_screen` pack (`all-screen`), `cells` a `cell_type` pack (`wbc-type`).
    #[cfg(feature = "litert")]
    pub fn new(screen: &Pack, cells: &Pack, threads: usize) -> Result<Self, Error> {
        Self::with_options(screen, cells, threads, AnalyzeOptions::default())
    }

    #[cfg(feature = "litert")]
    pub fn with_options(
        screen: &Pack,
        cells: &Pack,
        threads: usize,
        opts: AnalyzeOptions,
    ) -> Result<Self, Error> {
        Self::with_engine(screen, cells, threads, opts, &LiteRt)
    }

    /// The same with the packs run by the engines `provider` loads (an app's
    /// own interpreter, [`crate::engine`]); [`Analyzer::with_options`] uses [`LiteRt`].
    pub fn with_engine(
        screen: &Pack,
        cells: &Pack,
        threads: usize,
        opts: AnalyzeOptions,
        provider: &dyn EngineProvider,
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
        // Small models gain little from a second thread each: two workers with
        // an engine pair each keep both cores busy (measured: 0.30 ms per
        // wbc-type inference on one thread, 0.19 ms on two).
        let n = threads.clamp(1, 2);
        let each = (threads / n).max(1);
        let workers = (0..n)
            .map(|_| {
                Ok(Worker {
                    screen: Classifier::with_engine(screen, each, provider)?,
                    cells: Classifier::with_engine(cells, each, provider)?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let pool = crate::helper::pool(workers.len());
        Ok(Self { workers, opts, site: None, pool })
    }

    /// Applies a site profile to every later answer (`None`: the packs as
    /// shipped). Refused when it was calibrated for other packs.
    pub fn with_site(mut self, site: Option<SiteProfile>) -> Result<Self, Error> {
        if let Some(p) = &site {
            p.check(self.screen_manifest(), self.cells_manifest())?;
        }
        self.site = site;
        Ok(self)
    }

    pub fn site(&self) -> Option<&SiteProfile> {
        self.site.as_ref()
    }

    pub fn options(&self) -> &AnalyzeOptions {
        &self.opts
    }

    /// The cell pack's raw output for one crop already cut as the pipeline
    /// cuts them (a reviewed cell sent as an image).
    pub fn run_cell(&self, crop: &RgbImage) -> Result<Vec<u8>, Error> {
        let c = self.cells_classifier();
        let t = c.prepare(crop)?;
        Ok(c.run_tensors(&[&t])?.remove(0))
    }

    pub(crate) fn screen_classifier(&self) -> &Classifier {
        &self.workers[0].screen
    }

    pub(crate) fn cells_classifier(&self) -> &Classifier {
        &self.workers[0].cells
    }

    pub fn screen_manifest(&self) -> &Manifest {
        self.workers[0].screen.manifest()
    }

    pub fn cells_manifest(&self) -> &Manifest {
        self.workers[0].cells.manifest()
    }

    /// Analyses one photo's bytes.
    pub fn analyze(&self, bytes: &[u8]) -> Result<FieldReport, Error> {
        Ok(self.analyze_full(bytes)?.report)
    }

    /// Analyses one photo and keeps the analysed picture for an overlay.
    ///
    /// With two workers the screening tiles, which need only the aperture,
    /// the scale and the light, are classified on the second while the first
    /// measures quality and finds the white cells; then both cut and classify
    /// the cell crops. A photo the gate rejects has its tiles thrown away.
    pub fn analyze_full(&self, bytes: &[u8]) -> Result<Analyzed, Error> {
        match &self.pool {
            Some(p) => p.install(|| self.analyze_here(bytes)),
            None => self.analyze_here(bytes),
        }
    }

    /// [`Analyzer::analyze_full`] on this thread (inside the pool, or alone).
    fn analyze_here(&self, bytes: &[u8]) -> Result<Analyzed, Error> {
        let start = Instant::now();
        let mut timing = BTreeMap::new();
        let mut clock = Clock(Instant::now());
        let src = Photo::open_on(bytes, &self.opts.decode, self.opts.view_long_side, self.workers.len())?;
        clock.lap("decode", &mut timing);
        let vs = src.view_scale();
        let view = src.view();
        // The scale's pyramid needs no aperture: made on the second thread
        // while the first looks for the aperture.
        let (fov_view, pyramid) = if self.workers.len() >= 2 {
            let (p, f) = crate::helper::join(|| scale::Pyramid::of(view), || fov::find(view));
            (f, p.unwrap_or_else(|| scale::Pyramid::of(view)))
        } else {
            (fov::find(view), scale::Pyramid::of(view))
        };
        clock.lap("fov", &mut timing);
        let rbc = pyramid.measure(fov_view.as_ref(), self.workers.len());
        clock.lap("scale", &mut timing);
        let work = Work::new(view, fov_view.as_ref(), rbc.map(|s| s.diameter));
        clock.lap("resample", &mut timing);
        let ill = colour::estimate(&work.raw, work.fov.as_ref());
        let norm = ill.apply(&work.raw);
        clock.lap("colour", &mut timing);
        let to_display = |f: &Fov| Fov { cx: f.cx / vs, cy: f.cy / vs, r: f.r / vs };
        let fov_disp = fov_view.as_ref().map(to_display);
        let rbc_disp = rbc.map(|s| s.diameter / vs);
        // Work pixels per displayed pixel.
        let wd = work.scale * vs;
        let plan = match (self.opts.classify, rbc_disp) {
            (true, Some(d)) => Some(self.plan(&src, fov_disp.as_ref(), d)?),
            _ => None,
        };
        let tiles = plan.as_ref().map_or(&[][..], |p| &p.tiles[..]);
        let front = || {
            let (exposure, clipped) = quality::exposure(&work.raw, work.fov.as_ref());
            let focus = quality::focus(&norm, work.fov.as_ref());
            let cover = quality::cover(&norm, work.fov.as_ref());
            let flat = quality::flat_colour(view, fov_view.as_ref());
            let (fov_fraction, fov_cut) =
                quality::fov_coverage(fov_view.as_ref(), view.width(), view.height());
            let issues = quality::gate(
                &Measures { focus, exposure, clipped, fov_fraction, fov_cut, flat },
                &cover,
                rbc.as_ref(),
                &self.opts.quality,
            );
            clock.lap("quality", &mut timing);
            if log::log_enabled!(target: GATE_LOG, log::Level::Debug) {
                // Developer aid for tuning thresholds: measures only, never pixels or names.
                log::debug!(
                    target: GATE_LOG,
                    "{}",
                    serde_json::json!({"focus": focus, "exposure": exposure, "clipped": clipped,
                        "coverage": cover.coverage, "stain_like": cover.stain_like,
                        "rbc_contrast": rbc.map(|s| s.contrast), "fov_fraction": fov_fraction, "fov_cut": fov_cut, "flat": flat})
                );
            }
            let found = ((issues.is_empty() || self.opts.ignore_gate) && rbc.is_some()).then(|| {
                let inside = |x: usize, y: usize| {
                    work.fov.as_ref().is_none_or(|f| {
                        (x as f64 - f.cx).powi(2) + (y as f64 - f.cy).powi(2) <= (f.r * 0.97).powi(2)
                    })
                };
                let mut found = detect::white_cells(&norm, WORK_RBC, &self.opts.detect, inside);
                // Count only cells well inside the aperture: at its rim the
                // vignette and the edge cut them.
                if let Some(f) = &work.fov {
                    let lim = (f.r * COUNT_WITHIN_FOV).powi(2);
                    found.retain(|d| (d.cx() - f.cx).powi(2) + (d.cy() - f.cy).powi(2) <= lim);
                }
                clock.lap("detect", &mut timing);
                found
            });
            (issues, focus, exposure, found)
        };
        let crops = |front: &(Vec<_>, f64, f64, Option<Vec<Detection>>)| match (&plan, &front.3) {
            (Some(p), Some(found)) => p.crops(found, 1.0 / wd),
            _ => Vec::new(),
        };
        let light = Light { ill: &ill, wd };
        let dump = self.opts.dump_windows.as_ref().map(|dir| {
            use sha2::Digest;
            (dir, hex::encode(&sha2::Sha256::digest(bytes)[..6]))
        });
        let classify_one = |wk: &Worker, j: &Window| {
            let (x, y) = j.centre;
            let mut img = light.window(&src, x, y, j.side, j.n, j.over)?;
            if let (true, Some(f)) = (j.tile, fov_disp.as_ref()) {
                outside_to_background(
                    &mut img,
                    f,
                    x - j.side / 2.0,
                    y - j.side / 2.0,
                    j.side / f64::from(j.n),
                );
            }
            if let Some((dir, id)) = &dump {
                let kind = if j.tile { "tile" } else { "cell" };
                // A developer aid: a write that fails only loses the dump.
                let _ = img.save(dir.join(format!("{id}-{kind}-{:03}.png", j.index)));
            }
            let model = if j.tile { &wk.screen } else { &wk.cells };
            let tensor = model.prepare(&img)?;
            Ok::<_, Error>(model.run_tensors(&[&tensor])?.remove(0))
        };
        let ((issues, focus, exposure, found), tile_out, cell_out) =
            self.overlapped(tiles, front, crops, classify_one);
        if plan.is_some() && found.is_some() {
            timing.insert("classify".into(), ms(clock.0.elapsed()));
        }
        let quality = Quality {
            ok: issues.is_empty(),
            issues,
            focus: round3(focus),
            exposure: round3(exposure),
            fov: fov_disp.as_ref().map(|f| Fov { cx: round3(f.cx), cy: round3(f.cy), r: round3(f.r) }),
        };
        let models = [self.screen_manifest(), self.cells_manifest()]
            .iter()
            .map(|m| ModelRef { id: m.id.clone(), version: m.version.clone(), sha256: m.sha256.clone() })
            .collect();
        let mut report = FieldReport {
            scale: rbc_disp.map(|d| Scale { rbc_diameter_px: round3(d) }),
            quality,
            cells: Vec::new(),
            screen: None,
            models,
            site: self.site.as_ref().map(SiteProfile::reference),
        };
        let (site_cells, site_screen) =
            (self.site.as_ref().map(|s| &s.cells), self.site.as_ref().map(|s| &s.screen));
        let (mut tile_outputs, mut cell_outputs, mut cell_boxes) = (Vec::new(), Vec::new(), Vec::new());
        if let Some(found) = &found {
            let (w, h) = src.displayed();
            let box_of = |det: &Detection| {
                let k = 1.0 / wd;
                let (dw, dh) = (f64::from(w), f64::from(h));
                let (x0, y0) = ((det.x0 * k).clamp(0.0, dw), (det.y0 * k).clamp(0.0, dh));
                let (x1, y1) = ((det.x1 * k).clamp(0.0, dw), (det.y1 * k).clamp(0.0, dh));
                Bbox::from([x0.round(), y0.round(), (x1 - x0).round(), (y1 - y0).round()].map(|v| v as u32))
            };
            if plan.is_some() {
                let cell_out = cell_out.into_iter().collect::<Result<Vec<_>, _>>()?;
                let tile_out = tile_out.into_iter().collect::<Result<Vec<_>, _>>()?;
                let (cm, sm) = (self.cells_manifest(), self.screen_manifest());
                let (cells_model, screen_model) = (&self.workers[0].cells, &self.workers[0].screen);
                report.cells = found
                    .iter()
                    .zip(&cell_out)
                    .map(|(det, raw)| {
                        let p = cells_model.interpret_at(raw, site_cells);
                        Cell {
                            bbox: box_of(det),
                            label: p.label.clone(),
                            confidence: p.confidence,
                            probs: probs(cm, &p),
                            distance: cells_model.distance_at(raw, site_cells).map(round3),
                        }
                    })
                    .collect();
                let mut mean = vec![0.0; sm.labels.len()];
                let mut distance = None;
                for raw in &tile_out {
                    for (acc, p) in mean.iter_mut().zip(screen_model.interpret_at(raw, site_screen).probs) {
                        *acc += p / tile_out.len() as f64;
                    }
                    if let Some(d) = screen_model.distance_at(raw, site_screen) {
                        *distance.get_or_insert(0.0) += d / tile_out.len() as f64;
                    }
                }
                let index = crate::probs::argmax(&mean);
                let p = Prediction {
                    index,
                    label: sm.labels[index].clone(),
                    confidence: mean[index],
                    probs: mean,
                };
                report.screen = Some(Screen {
                    label: p.label.clone(),
                    confidence: p.confidence,
                    probs: probs(sm, &p),
                    tiles: tile_out.len() as u32,
                    distance: distance.map(round3),
                });
                tile_outputs = tile_out;
                cell_outputs = cell_out;
                cell_boxes = report.cells.iter().map(|c| c.bbox).collect();
                // A site calibrated from photos but whose cell types nobody has
                // reviewed: its fields are judged by their tiles; its cells stay
                // unfamiliar one by one (uncertain in a session).
                let judge_cells = site_cells.is_none_or(|a| !a.site_mean.is_empty());
                if unfamiliar(&report, judge_cells) {
                    // Evidence from a microscope, stain or picture the packs were
                    // never calibrated on: no verdict on it, whatever the models say.
                    report.quality.ok = false;
                    report.quality.issues.push(quality::issue(IssueCode::UnfamiliarImage));
                    report.cells.clear();
                    report.screen = None;
                }
            } else {
                report.cells = found
                    .iter()
                    .map(|det| Cell {
                        bbox: box_of(det),
                        label: String::new(),
                        confidence: 0.0,
                        probs: Probs::default(),
                        distance: None,
                    })
                    .collect();
            }
        }
        timing.insert("total".into(), ms(start.elapsed()));
        let timing_ms = timing.into_iter().map(|(k, v)| (k, round3(v))).collect();
        Ok(Analyzed {
            report,
            photo: src,
            tile_outputs,
            cell_outputs,
            cell_boxes,
            background: ill.background.map(f64::from),
            timing_ms,
        })
    }

    /// The screening tiles for a photo whose red cells are `d` displayed pixels across, and the crop geometry.
    fn plan(&self, src: &Photo, field: Option<&Fov>, d: f64) -> Result<Plan, Error> {
        let (cm, sm) = (self.cells_manifest(), self.screen_manifest());
        let (cn, sn) = (cm.input.width, sm.input.width);
        let tile_side = f64::from(sn) * d / scale_of(sm)?;
        let (w, h) = src.displayed();
        let tiles = tile_centres(w, h, field, tile_side, self.opts.max_tiles)
            .into_iter()
            .enumerate()
            .map(|(index, centre)| Window {
                index,
                centre,
                side: tile_side,
                n: sn,
                over: self.opts.tile_oversample,
                tile: true,
            })
            .collect();
        let cell = Window {
            index: 0,
            centre: (0.0, 0.0),
            side: f64::from(cn) * d / scale_of(cm)?,
            n: cn,
            over: self.opts.cell_oversample,
            tile: false,
        };
        Ok(Plan { tiles, cell })
    }

    /// Runs `front` on this thread while the second worker (if any) takes the
    /// `early` windows; then both take what is left of them and the windows
    /// `late` makes from front's result. Results in input order; a window a
    /// panicking helper left undone is redone here.
    fn overlapped<F: Send, R: Send>(
        &self,
        early: &[Window],
        front: impl FnOnce() -> F + Send,
        late: impl FnOnce(&F) -> Vec<Window> + Send,
        run: impl Fn(&Worker, &Window) -> R + Sync,
    ) -> (F, Vec<R>, Vec<R>) {
        let (tile_next, cell_next) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let take = |wk: &Worker, jobs: &[Window], next: &AtomicUsize, done: &mut Vec<(usize, R)>| loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(j) = jobs.get(i) else { break };
            done.push((i, run(wk, j)));
        };
        let first = &self.workers[0];
        // The late windows go to the helper once front has made them; a
        // front that panics drops the sender, and the helper stops.
        let (tx, rx) = std::sync::mpsc::channel::<Vec<Window>>();
        let (mut early_done, mut late_done) = (Vec::new(), Vec::new());
        let (take, tile_next, cell_next) = (&take, &tile_next, &cell_next);
        let (helped, (f, jobs)) = match self.workers.get(1) {
            Some(wk) => crate::helper::join(
                move || {
                    let (mut e, mut l) = (Vec::new(), Vec::new());
                    take(wk, early, tile_next, &mut e);
                    if let Ok(jobs) = rx.recv() {
                        take(wk, &jobs, cell_next, &mut l);
                    }
                    (e, l)
                },
                || {
                    // Moved in: dropped if front unwinds, which ends the helper's wait.
                    let tx = tx;
                    let f = front();
                    let jobs = late(&f);
                    let _ = tx.send(jobs.clone());
                    take(first, early, tile_next, &mut early_done);
                    take(first, &jobs, cell_next, &mut late_done);
                    (f, jobs)
                },
            ),
            None => {
                let f = front();
                let jobs = late(&f);
                take(first, early, tile_next, &mut early_done);
                take(first, &jobs, cell_next, &mut late_done);
                (None, (f, jobs))
            }
        };
        if let Some((he, hl)) = helped {
            early_done.extend(he);
            late_done.extend(hl);
        }
        let early_out = parallel::in_order(early, &mut early_done, |j| run(first, j));
        let late_out = parallel::in_order(&jobs, &mut late_done, |j| run(first, j));
        (f, early_out, late_out)
    }
}

/// Laps of the pipeline's stages.
struct Clock(Instant);

impl Clock {
    fn lap(&mut self, name: &str, timing: &mut BTreeMap<String, f64>) {
        let now = Instant::now();
        timing.insert(name.to_string(), ms(now - self.0));
        self.0 = now;
    }
}

/// What a photo's scale asks the models for.
struct Plan {
    /// Screening tiles, in displayed pixels.
    tiles: Vec<Window>,
    /// A cell crop's size and sampling (its centre is each cell's).
    cell: Window,
}

impl Plan {
    /// One crop per detection (work coordinates; `k` displayed pixels per work pixel).
    fn crops(&self, found: &[Detection], k: f64) -> Vec<Window> {
        found
            .iter()
            .enumerate()
            .map(|(index, det)| Window { index, centre: (det.cx() * k, det.cy() * k), ..self.cell })
            .collect()
    }
}

/// A square of the photo for one model input.
#[derive(Debug, Clone, Copy)]
struct Window {
    /// Its place among the photo's tiles or cells (report order).
    index: usize,
    /// Centre and side in displayed pixels.
    centre: (f64, f64),
    side: f64,
    /// Model input size and oversampling (see [`AnalyzeOptions::cell_oversample`]).
    n: u32,
    over: f64,
    /// A screening tile (else a white-cell crop).
    tile: bool,
}

/// The view resampled to the work scale.
/// The view resampled so red cells are [`WORK_RBC`] pixels across (unchanged
/// when the scale is unknown or the change small), with the aperture in it.
pub(crate) struct Work {
    pub(crate) raw: RgbImage,
    /// Work pixels per view pixel.
    pub(crate) scale: f64,
    pub(crate) fov: Option<Fov>,
}

impl Work {
    pub(crate) fn new(view: &RgbImage, fov: Option<&Fov>, rbc: Option<f64>) -> Self {
        let (w, h) = view.dimensions();
        let want = rbc.map_or(1.0, |d| WORK_RBC / d);
        let (ww, wh) =
            (((f64::from(w) * want).round() as u32).max(1), ((f64::from(h) * want).round() as u32).max(1));
        let raw = if (want - 1.0).abs() < 0.03 || ww < 8 || wh < 8 {
            view.clone()
        } else {
            let px = hemalens_photo::resample::resize_rgb(view.as_raw(), w, h, ww, wh);
            RgbImage::from_raw(ww, wh, px)
                .unwrap_or_else(|| image::imageops::resize(view, ww, wh, FilterType::Triangle))
        };
        let scale = f64::from(raw.width()) / f64::from(w);
        let fov = fov.map(|f| Fov { cx: f.cx * scale, cy: f.cy * scale, r: f.r * scale });
        Self { raw, scale, fov }
    }
}

/// The field's light, for crops cut at another resolution.
struct Light<'a> {
    ill: &'a Illumination,
    /// Work pixels per displayed pixel.
    wd: f64,
}

impl Light<'_> {
    /// A colour-normalised n x n window of the photo (displayed coordinates).
    /// `over`: see [`AnalyzeOptions::cell_oversample`].
    fn window(&self, src: &Photo, cx: f64, cy: f64, side: f64, n: u32, over: f64) -> Result<RgbImage, Error> {
        let fill = self.ill.background.map(|v| v.round().clamp(0.0, 255.0) as u8);
        let source = (f64::from(n) * over).ceil() as u32;
        let mut img = src.window_from(cx, cy, side, n, source, fill)?;
        let step = side / f64::from(n) * self.wd;
        let (x0, y0) = ((cx - side / 2.0) * self.wd, (cy - side / 2.0) * self.wd);
        self.ill.apply_mapped(&mut img, x0 as f32, y0 as f32, step as f32);
        Ok(img)
    }
}

/// Paints what lies outside the aperture (pixel (x, y) of `img` is at
/// (`x0 + x * step`, `y0 + y * step`) of the photo) in normalised plasma grey.
fn outside_to_background(img: &mut RgbImage, f: &Fov, x0: f64, y0: f64, step: f64) {
    let bg = colour::BACKGROUND as u8;
    let r2 = (0.98 * f.r).powi(2);
    for (x, y, p) in img.enumerate_pixels_mut() {
        let (px, py) = (x0 + (f64::from(x) + 0.5) * step, y0 + (f64::from(y) + 0.5) * step);
        if (px - f.cx).powi(2) + (py - f.cy).powi(2) > r2 {
            *p = image::Rgb([bg, bg, bg]);
        }
    }
}

/// A field is unfamiliar when its tiles lie beyond the screening pack's line
/// on average, or (with `judge_cells`) when most of its white cells, two at
/// least, lie beyond the cell pack's. One cell is one noisy distance: beyond the
/// line it is uncertain on its own (kept out of a session's differential), but
/// it does not throw away what the field's tiles say.
fn unfamiliar(r: &FieldReport, judge_cells: bool) -> bool {
    let tiles = super::report::beyond_familiarity_line(r.screen.as_ref().and_then(|s| s.distance));
    let judged = r.cells.iter().filter(|c| c.distance.is_some()).count();
    let far = r.cells.iter().filter(|c| c.unfamiliar()).count();
    tiles || (judge_cells && judged >= MIN_CELLS_JUDGING_A_FIELD && 2 * far > judged)
}

/// The fewest white cells with a distance that may call a field unfamiliar.
const MIN_CELLS_JUDGING_A_FIELD: usize = 2;

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn probs(m: &Manifest, p: &Prediction) -> Probs {
    m.labels.iter().cloned().zip(p.probs.iter().copied()).collect()
}

/// A square of side `side` centred at (cx, cy); outside the image is `fill`.
pub fn crop(img: &RgbImage, cx: f64, cy: f64, side: f64, fill: [u8; 3]) -> RgbImage {
    let n = side.round().max(1.0) as u32;
    let x0 = (cx - side / 2.0).round() as i64;
    let y0 = (cy - side / 2.0).round() as i64;
    let mut out = RgbImage::from_pixel(n, n, image::Rgb(fill));
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let (xa, xb) = (x0.max(0), (x0 + i64::from(n)).min(w));
    if xa >= xb {
        return out;
    }
    for y in 0..i64::from(n) {
        let sy = y0 + y;
        if sy < 0 || sy >= h {
            continue;
        }
        let src = &img.as_raw()[((sy * w + xa) * 3) as usize..((sy * w + xb) * 3) as usize];
        let o = ((y * i64::from(n) + (xa - x0)) * 3) as usize;
        let dst: &mut [u8] = &mut out;
        dst[o..o + src.len()].copy_from_slice(src);
    }
    out
}

/// Tile centres covering the field: a half-overlapping grid of squares of side
/// `side` around the field's centre, each at least [`TILE_MIN_INSIDE`] inside
/// the aperture (or the frame), the most inside first, at most `max`. A field
/// of view through the eyepiece holds only a few tiles at the screening
/// model's scale, and a square wholly inside a circle wastes most of it.
pub fn tile_centres(w: u32, h: u32, field: Option<&Fov>, side: f64, max: usize) -> Vec<(f64, f64)> {
    let (w, h) = (f64::from(w), f64::from(h));
    let (cx, cy) = field.map_or((w / 2.0, h / 2.0), |f| (f.cx, f.cy));
    let inside = |x: f64, y: f64| {
        let in_frame = x >= 0.0 && y >= 0.0 && x < w && y < h;
        in_frame && field.is_none_or(|f| (x - f.cx).powi(2) + (y - f.cy).powi(2) <= f.r * f.r)
    };
    // Share of a tile inside, sampled on an 8 x 8 grid.
    let share = |x: f64, y: f64| {
        let mut n = 0;
        for j in 0..8 {
            for i in 0..8 {
                let (dx, dy) = ((f64::from(i) + 0.5) / 8.0 - 0.5, (f64::from(j) + 0.5) / 8.0 - 0.5);
                n += u32::from(inside(x + dx * side, y + dy * side));
            }
        }
        f64::from(n) / 64.0
    };
    let mut out: Vec<(f64, f64, f64)> = Vec::new();
    let stride = side / 2.0;
    let n = ((w.max(h) / stride).ceil() as i64 + 2).min(400);
    for j in -n..=n {
        for i in -n..=n {
            let (x, y) = (cx + i as f64 * stride, cy + j as f64 * stride);
            let s = share(x, y);
            if s >= TILE_MIN_INSIDE {
                out.push((x, y, s));
            }
        }
    }
    let d2 = |p: &(f64, f64, f64)| (p.0 - cx).powi(2) + (p.1 - cy).powi(2);
    out.sort_by(|a, b| b.2.total_cmp(&a.2).then(d2(a).total_cmp(&d2(b))));
    out.truncate(max.max(1));
    if out.is_empty() {
        out.push((cx, cy, 1.0));
    }
    out.into_iter().map(|(x, y, _)| (x, y)).collect()
}

#[cfg(test)]
mod familiarity_tests {
    use super::*;

    fn report(tile: Option<f64>, cells: &[Option<f64>]) -> FieldReport {
        FieldReport {
            quality: Quality { ok: true, issues: vec![], focus: 1.0, exposure: 0.5, fov: None },
            scale: None,
            cells: cells
                .iter()
                .map(|d| Cell {
                    bbox: [0, 0, 1, 1].into(),
                    label: "neutrophil".into(),
                    confidence: 0.9,
                    probs: Probs::default(),
                    distance: *d,
                })
                .collect(),
            screen: Some(Screen {
                label: "benign".into(),
                confidence: 0.9,
                probs: Probs::default(),
                tiles: 1,
                distance: tile,
            }),
            models: vec![],
            site: None,
        }
    }

    #[test]
    fn a_field_is_unfamiliar_by_its_tiles_or_by_most_of_its_cells() {
        assert!(!unfamiliar(&report(Some(0.9), &[Some(0.5), Some(1.2)]), true));
        assert!(unfamiliar(&report(Some(1.1), &[Some(0.5)]), true));
        assert!(unfamiliar(&report(Some(0.9), &[Some(1.5), Some(1.2), Some(0.3)]), true));
        assert!(unfamiliar(&report(Some(0.9), &[Some(1.5), Some(1.2)]), true), "two far cells refuse");
        assert!(!unfamiliar(&report(Some(0.9), &[Some(1.5)]), true), "one far cell alone does not");
        assert!(!unfamiliar(&report(Some(0.9), &[Some(1.5), None]), true), "nor one judged beside one not");
        assert!(!unfamiliar(&report(Some(0.9), &[Some(1.5), Some(1.2), Some(0.3)]), false), "tiles alone");
        assert!(unfamiliar(&report(Some(1.1), &[Some(0.5)]), false));
        assert!(!unfamiliar(&report(None, &[None, None]), true), "packs without an embedding never refuse");
    }
}
