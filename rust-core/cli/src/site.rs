//! `hemalens site ...`: calibrate the packs to this site's microscope, camera
//! and stain, list the stored profiles, roll back. Errors name the kind of
//! failure, never a photo or a patient.
use crate::quiet::quietly;
use hemalens_core::field::Analyzer;
use hemalens_core::site::{self, CalibrationPhoto, Reviewed, SiteProfile};
use hemalens_core::{decode_file, DecodeLimits, Error};
use hemalens_store::Store;
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    store: crate::session::StoreArgs,
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// Learn this site from photos of its own normal slides (and the cells its
    /// reviewers relabelled): stored as the next profile version and made active.
    Calibrate {
        /// The site's name (a place or microscope, never a person).
        #[arg(long)]
        site: String,
        /// Also learn from every cell relabelled in this store's reviews.
        #[arg(long)]
        reviewed: bool,
        /// Reviewed cells sent as crops: a CSV of `image,label` lines (images
        /// cut as the pipeline cuts them; paths relative to the CSV).
        #[arg(long)]
        cells: Option<PathBuf>,
        /// Write the profile to this file instead of storing it.
        #[arg(long, short)]
        out: Option<PathBuf>,
        #[command(flatten)]
        models: crate::session::Models,
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Photos of normal slides from this site's microscope and camera.
        photos: Vec<PathBuf>,
    },
    /// Stored profiles, newest first (the active one marked).
    List,
    /// One stored profile as JSON (default: the active one).
    Show { version: Option<u32> },
    /// Make an earlier profile active again (or none: --none).
    Rollback {
        #[arg(required_unless_present = "none", conflicts_with = "none")]
        version: Option<u32>,
        /// Use the packs as shipped, with no site profile.
        #[arg(long)]
        none: bool,
    },
}

fn fail(e: impl std::fmt::Display) -> u8 {
    eprintln!("hemalens site: {e}");
    crate::EXIT_USAGE
}

pub fn run(args: Args) -> u8 {
    let json = args.store.json;
    // A profile written to a file needs the store only for its reviewed cells.
    let needs_store = !matches!(&args.command, Sub::Calibrate { out: Some(_), reviewed: false, .. });
    let opened = if needs_store {
        match args.store.open() {
            Ok(s) => Some(s),
            Err(code) => return code,
        }
    } else {
        None
    };
    let Sub::Calibrate { site, reviewed, cells, out, models, threads, photos } = args.command else {
        let Some((store, user)) = opened else { return crate::EXIT_USAGE };
        return manage(store, &user, args.command, json);
    };
    let from_store = opened.as_ref().filter(|_| reviewed).map(|(s, _)| s);
    let p = match calibrate(from_store, &site, cells.as_deref(), &models, threads, &photos) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    match (out, opened) {
        (Some(out), _) => {
            match std::fs::write(&out, serde_json::to_string_pretty(&p).unwrap_or_default() + "\n") {
                Ok(()) => {
                    print_profile(&p, json);
                    0
                }
                Err(e) => fail(format_args!("cannot write the profile: {}", e.kind())),
            }
        }
        (None, Some((mut store, user))) => match store.save_site_profile(&p, &user) {
            Ok(v) => {
                print_profile(&SiteProfile { version: v, ..p }, json);
                0
            }
            Err(e) => crate::session::store_err(e),
        },
        (None, None) => crate::EXIT_USAGE,
    }
}

/// `list`, `show` and `rollback`: the stored profiles.
fn manage(mut store: Store, user: &str, command: Sub, json: bool) -> u8 {
    match command {
        Sub::Calibrate { .. } => crate::EXIT_USAGE,
        Sub::List => match store.site_profiles() {
            Ok(rows) => {
                if json {
                    for r in &rows {
                        crate::output::line(&json!(r));
                    }
                } else if rows.is_empty() {
                    println!("no site profiles: the packs are used as shipped");
                } else {
                    println!("{:>7}  {:<24} {:>7} {:>9}  active", "version", "site", "photos", "reviewed");
                    for r in &rows {
                        let mark = if r.active { "*" } else { "" };
                        println!(
                            "{:>7}  {:<24} {:>7} {:>9}  {mark}",
                            r.version, r.site, r.photos, r.reviewed_cells
                        );
                    }
                }
                0
            }
            Err(e) => crate::session::store_err(e),
        },
        Sub::Show { version } => {
            let p = match version {
                Some(v) => store.site_profile(v).map(Some),
                None => store.active_site_profile(),
            };
            match p {
                Ok(Some(p)) => {
                    println!("{}", serde_json::to_string_pretty(&p).unwrap_or_default());
                    0
                }
                Ok(None) => fail("no active site profile"),
                Err(e) => crate::session::store_err(e),
            }
        }
        Sub::Rollback { version, none } => {
            match store.activate_site_profile(if none { None } else { version }, user) {
                Ok(()) => 0,
                Err(e) => crate::session::store_err(e),
            }
        }
    }
}

fn print_profile(p: &SiteProfile, json: bool) {
    if json {
        let reviewed: u32 = p.evidence.reviewed.values().sum();
        crate::output::line(&json!({
            "site": p.site, "version": p.version, "photos": p.evidence.accepted, "tiles": p.evidence.tiles,
            "cells": p.evidence.cells, "reviewed": p.evidence.reviewed, "reviewed_cells": reviewed,
            "scale": p.scale, "colour": p.colour,
            "refit": p.cells.refit.as_ref().map(|r| json!({"labels": r.labels.len(), "penalty": r.penalty,
                "temperature": r.temperature, "cv_log_loss": r.cv_log_loss})),
        }));
        return;
    }
    let reviewed: u32 = p.evidence.reviewed.values().sum();
    println!(
        "site `{}` profile v{}: {} of {} photos used ({} tiles, {} cells), {} reviewed cells",
        p.site,
        p.version,
        p.evidence.accepted,
        p.evidence.photos,
        p.evidence.tiles,
        p.evidence.cells,
        reviewed
    );
    if let Some(s) = &p.scale {
        let note =
            if s.consistent { "one magnification" } else { "varies: take every photo at one magnification" };
        println!("red cells {:.1} px across (spread {:.0}%: {note})", s.median_rbc_px, s.spread * 100.0);
    }
    match &p.cells.refit {
        Some(r) => println!(
            "cell types refitted among {} labels (penalty {}, temperature {:.2})",
            r.labels.len(),
            r.penalty,
            r.temperature
        ),
        None => println!("cell types as shipped (relabel cells of two or more types to refit them)"),
    }
}

/// Analyses the photos with the packs as shipped and fits a profile.
fn calibrate(
    store: Option<&Store>,
    site_name: &str,
    cells_csv: Option<&Path>,
    models: &crate::session::Models,
    threads: usize,
    photos: &[PathBuf],
) -> Result<SiteProfile, String> {
    let analyzer: Analyzer = crate::analyze::load(&models.screen_model, &models.cell_model, threads)?;
    let mut shots: Vec<CalibrationPhoto> = Vec::with_capacity(photos.len());
    let mut unreadable = 0;
    for p in photos {
        let r = std::fs::read(p).map_err(Error::from).and_then(|b| analyzer.analyze_full(&b));
        match r {
            Ok(a) => shots.push(a.for_calibration()),
            Err(_) => unreadable += 1,
        }
    }
    if unreadable > 0 {
        eprintln!("hemalens site: {unreadable} photos could not be read and were skipped");
    }
    let mut reviewed = Vec::new();
    if let Some(csv) = cells_csv {
        reviewed.extend(read_cells(&analyzer, csv)?);
    }
    if let Some(store) = store {
        reviewed.extend(store_cells(&analyzer, store)?);
    }
    let p =
        site::calibrate(&analyzer, site_name, &shots, &reviewed).map_err(|e| format!("{e} ({})", e.kind()));
    quietly(|| drop(analyzer));
    p
}

/// Reviewed crops from a CSV of `image,label` lines.
fn read_cells(analyzer: &Analyzer, csv: &Path) -> Result<Vec<Reviewed>, String> {
    let text = std::fs::read_to_string(csv).map_err(|e| format!("cannot read --cells: {}", e.kind()))?;
    let base = csv.parent().unwrap_or(Path::new("."));
    let limits = DecodeLimits::default();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || (i == 0 && line.eq_ignore_ascii_case("image,label")) {
            continue;
        }
        let (img, label) =
            line.rsplit_once(',').ok_or_else(|| format!("--cells line {}: expected image,label", i + 1))?;
        let crop = decode_file(&base.join(img.trim()), &limits)
            .map_err(|e| format!("--cells line {}: {e}", i + 1))?;
        let raw = analyzer.run_cell(&crop).map_err(|e| format!("--cells line {}: {e}", i + 1))?;
        out.push(Reviewed { raw, label: label.trim().to_string() });
    }
    Ok(out)
}

/// The cells relabelled in the store's reviews, found again in their sealed
/// photos (the detector is deterministic: the same box, the same crop).
fn store_cells(analyzer: &Analyzer, store: &Store) -> Result<Vec<Reviewed>, String> {
    let cells = store.reviewed_cells().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut lost = 0;
    let mut photo: Option<(String, hemalens_core::field::Analyzed)> = None;
    for c in cells {
        if photo.as_ref().is_none_or(|(name, _)| *name != c.photo) {
            let bytes = store.read_photo(&c.photo).map_err(|e| e.to_string())?;
            let a = analyzer.analyze_full(&bytes).map_err(|e| e.to_string())?;
            photo = Some((c.photo.clone(), a));
        }
        let Some((_, a)) = &photo else { continue };
        match a.cell_boxes.iter().position(|b| *b == c.bbox) {
            Some(i) => out.push(Reviewed { raw: a.cell_outputs[i].clone(), label: c.label }),
            None => lost += 1,
        }
    }
    if lost > 0 {
        eprintln!(
            "hemalens site: {lost} reviewed cells were not found again in their photos and were skipped"
        );
    }
    Ok(out)
}

/// Loads a profile file for `analyze --site` / `classify --site`.
pub fn read_profile(path: &Path) -> Result<SiteProfile, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the site profile: {}", e.kind()))?;
    SiteProfile::from_json(&bytes).map_err(|e| e.to_string())
}
