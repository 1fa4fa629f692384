//! Making a site profile from a site's own photos and reviewed cells.
use super::refit::{self, Sample};
use super::{
    Adjustment, ColourReference, Evidence, ScaleCheck, SiteProfile, NORMAL_LABEL, SCALE_SPREAD_MAX, SCHEMA,
};
use crate::classify::Classifier;
use crate::error::Error;
use crate::field::{Analyzer, FieldReport, IssueCode, ModelRef};
use std::collections::BTreeMap;

/// Fewest photos of normal slides, accepted by the quality gate, a profile is made from.
pub const MIN_PHOTOS: usize = 5;

/// Fewest reviewed cells a profile is made from without photos.
pub const MIN_REVIEWED_ALONE: usize = 20;

/// Calibration photos whose screening tiles lie, on the median, this far
/// beyond the pack's familiarity line are too unlike any smear the packs know
/// for calibration to bridge (not blood, or a very different preparation).
pub const MAX_SITE_DISTANCE: f64 = 4.0;

/// One photo of a normal slide as the pipeline saw it *without* a site
/// profile: its report and the packs' raw outputs for its tiles and cells
/// ([`crate::field::Analyzed::for_calibration`]).
#[derive(Debug, Clone)]
pub struct CalibrationPhoto {
    pub report: FieldReport,
    pub tiles: Vec<Vec<u8>>,
    pub cells: Vec<Vec<u8>>,
    /// The light behind the slide (raw RGB).
    pub background: [f64; 3],
}

/// A white cell with the label a reviewer gave it: the cell pack's raw
/// output for its crop, and the label (one of the pack's).
#[derive(Debug, Clone)]
pub struct Reviewed {
    pub raw: Vec<u8>,
    pub label: String,
}

/// Fits a site profile (version 0: the store numbers it) for the analyzer's
/// packs. `photos` must be of normal slides; `reviewed` may be empty.
pub fn calibrate(
    analyzer: &Analyzer,
    site: &str,
    photos: &[CalibrationPhoto],
    reviewed: &[Reviewed],
) -> Result<SiteProfile, Error> {
    let name_ok = (1..=64).contains(&site.chars().count()) && site.chars().all(|c| !c.is_control());
    if !name_ok {
        return Err(Error::InvalidArgument("site name must be 1 to 64 printable characters".into()));
    }
    let (screen, cells) = (analyzer.screen_classifier(), analyzer.cells_classifier());
    let usable: Vec<&CalibrationPhoto> = photos
        .iter()
        .filter(|p| {
            p.report.scale.is_some()
                && !p.tiles.is_empty()
                && p.report.quality.issues.iter().all(|i| i.code == IssueCode::UnfamiliarImage)
        })
        .collect();
    let cells_only = photos.is_empty() && reviewed.len() >= MIN_REVIEWED_ALONE;
    if usable.len() < MIN_PHOTOS && !cells_only {
        return Err(Error::Site(format!(
            "site calibration needs at least {MIN_PHOTOS} photos of normal slides that pass the quality gate \
             (or {MIN_REVIEWED_ALONE} reviewed cells and no photos); {} photos did",
            usable.len()
        )));
    }
    // Screen: familiarity about the site's tiles, logits aligned to the pack's normal fields.
    let tiles: Vec<&Vec<u8>> = usable.iter().flat_map(|p| &p.tiles).collect();
    let far: Vec<f64> = usable
        .iter()
        .filter_map(|p| {
            let d: Vec<f64> = p.tiles.iter().filter_map(|t| screen.distance(t)).collect();
            (!d.is_empty()).then(|| d.iter().sum::<f64>() / d.len() as f64)
        })
        .collect();
    if !far.is_empty() && median(far) > MAX_SITE_DISTANCE {
        return Err(Error::Site(
            "these photos are too unlike any blood smear the packs know: site calibration cannot bridge them"
                .into(),
        ));
    }
    let screen_adj = Adjustment {
        site_mean: mean_of(tiles.iter().map(|t| screen.embedding(t))),
        site_style_mean: mean_of(tiles.iter().map(|t| screen.style(t))),
        logit_offset: screen_offset(screen, &tiles),
        refit: None,
    };
    // Cells: familiarity about every cell seen there; boundaries refitted on the reviewed ones.
    let labels = &cells.manifest().labels;
    let mut by_label: BTreeMap<String, u32> = BTreeMap::new();
    let mut ys = Vec::with_capacity(reviewed.len());
    for r in reviewed {
        let y = labels.iter().position(|l| *l == r.label).ok_or_else(|| {
            Error::InvalidArgument("a reviewed cell's label is not one of the cell pack's".into())
        })?;
        if r.raw.len() != cells.item_output_bytes() {
            return Err(Error::InvalidArgument("a reviewed cell's model output is malformed".into()));
        }
        *by_label.entry(r.label.clone()).or_default() += 1;
        ys.push(y);
    }
    let site_cells: Vec<&Vec<u8>> =
        usable.iter().flat_map(|p| &p.cells).chain(reviewed.iter().map(|r| &r.raw)).collect();
    let refit = refit_cells(cells, reviewed, &ys)?;
    // The site's cells become familiar only once reviewers have checked their
    // types there: photos alone say nothing about whether the pack types this
    // site's cells right, so until then they stay uncertain.
    let (site_mean, site_style_mean) = if refit.is_some() {
        (
            mean_of(site_cells.iter().map(|c| cells.embedding(c))),
            mean_of(site_cells.iter().map(|c| cells.style(c))),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let cells_adj = Adjustment { site_mean, site_style_mean, logit_offset: Vec::new(), refit };
    let (scale, colour) = if usable.is_empty() { (None, None) } else { scale_and_colour(&usable) };
    let model_ref = |c: &Classifier| ModelRef {
        id: c.manifest().id.clone(),
        version: c.manifest().version.clone(),
        sha256: c.manifest().sha256.clone(),
    };
    Ok(SiteProfile {
        schema: SCHEMA,
        site: site.to_string(),
        version: 0,
        packs: vec![model_ref(screen), model_ref(cells)],
        evidence: Evidence {
            photos: photos.len() as u32,
            accepted: usable.len() as u32,
            tiles: tiles.len() as u32,
            cells: usable.iter().map(|p| p.cells.len() as u32).sum(),
            reviewed: by_label,
        },
        scale,
        colour,
        screen: screen_adj,
        cells: cells_adj,
    })
}

fn scale_and_colour(usable: &[&CalibrationPhoto]) -> (Option<ScaleCheck>, Option<ColourReference>) {
    let mut rbc: Vec<f64> = usable.iter().filter_map(|p| p.report.scale.map(|s| s.rbc_diameter_px)).collect();
    rbc.sort_by(f64::total_cmp);
    let mid = quantile(&rbc, 0.5);
    let spread = (quantile(&rbc, 0.75) - quantile(&rbc, 0.25)) / mid;
    let background = [0, 1, 2].map(|c| median(usable.iter().map(|p| p.background[c]).collect()));
    let colour_spread = median(
        usable
            .iter()
            .map(|p| (0..3).map(|c| (p.background[c] - background[c]).powi(2)).sum::<f64>().sqrt())
            .collect(),
    );
    (
        Some(ScaleCheck {
            median_rbc_px: round6(mid),
            spread: round6(spread),
            consistent: spread <= SCALE_SPREAD_MAX,
        }),
        Some(ColourReference { background: background.map(round6), spread: round6(colour_spread) }),
    )
}

/// The shift that brings the mean logits of the site's normal tiles to the
/// pack's own normal calibration fields' (none when the pack does not record them).
fn screen_offset(screen: &Classifier, tiles: &[&Vec<u8>]) -> Vec<f64> {
    let Some(target) = screen.manifest().familiarity.as_ref().and_then(|f| f.logit_means.get(NORMAL_LABEL))
    else {
        return Vec::new();
    };
    let mean = mean_of(tiles.iter().map(|t| screen.logits(t)));
    if mean.len() != target.len() {
        return Vec::new();
    }
    target.iter().zip(&mean).map(|(t, m)| t - m).collect()
}

fn refit_cells(
    cells: &Classifier,
    reviewed: &[Reviewed],
    ys: &[usize],
) -> Result<Option<super::Refit>, Error> {
    let mut present: Vec<usize> = ys.to_vec();
    present.sort_unstable();
    present.dedup();
    if present.len() < 2 || cells.manifest().familiarity.is_none() {
        return Ok(None);
    }
    let t = cells.manifest().calibration.temperature;
    let samples: Vec<Sample> = reviewed
        .iter()
        .zip(ys)
        .map(|(r, &y)| {
            let z = cells.logits(&r.raw);
            Sample {
                e: cells.embedding(&r.raw),
                u: present.iter().map(|&c| z[c] / t).collect(),
                y: present.iter().position(|&c| c == y).unwrap_or(0),
            }
        })
        .collect();
    Ok(Some(refit::fit(present, &samples)))
}

fn mean_of(rows: impl Iterator<Item = Vec<f64>>) -> Vec<f64> {
    let mut sum: Vec<f64> = Vec::new();
    let mut n = 0usize;
    for r in rows {
        if r.is_empty() {
            continue;
        }
        if sum.is_empty() {
            sum = vec![0.0; r.len()];
        }
        for (s, v) in sum.iter_mut().zip(&r) {
            *s += v;
        }
        n += 1;
    }
    sum.iter().map(|s| s / n.max(1) as f64).collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    quantile(&v, 0.5)
}

/// Linear-interpolated quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}
