//! Site profiles in the store: every calibration kept, one active, rollback by
//! pointing the active row at an older version. Each change is audited.
use crate::{audit, check_text, models_json, now_ms, Error, Store};
use hemalens_core::field::FieldReport;
use hemalens_core::site::SiteProfile;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use serde_json::json;

/// One stored profile, for listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SiteProfileRow {
    pub version: u32,
    pub site: String,
    pub created_at: i64,
    pub actor: String,
    pub active: bool,
    pub photos: u32,
    pub reviewed_cells: u32,
}

/// A white cell a reviewer relabelled: where to find it again (the sealed
/// photo's name and the cell's box in the stored report) and its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewedCell {
    pub photo: String,
    pub bbox: hemalens_core::field::Bbox,
    pub label: String,
}

impl Store {
    /// Stores a new profile as the next version and makes it the active one;
    /// returns the version (also written into the stored profile).
    pub fn save_site_profile(&mut self, profile: &SiteProfile, actor: &str) -> Result<u32, Error> {
        self.writable()?;
        check_text(actor, "user name must be 1 to 128 printable characters")?;
        check_text(&profile.site, "site name must be 1 to 128 printable characters")?;
        let now = now_ms();
        let tx = self.conn.transaction()?;
        let version: u32 =
            tx.query_row("SELECT coalesce(max(version), 0) + 1 FROM site_profiles", [], |r| r.get(0))?;
        let mut p = profile.clone();
        p.version = version;
        tx.execute(
            "INSERT INTO site_profiles(version, site, created_at, actor, profile) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![version, p.site, now, actor, serde_json::to_string(&p)?],
        )?;
        set_active(&tx, Some(version), now, actor)?;
        let detail = json!({ "version": version, "photos": p.evidence.accepted,
            "reviewed_cells": p.evidence.reviewed.values().sum::<u32>() });
        audit(&tx, now, actor, "site_calibrate", None, detail, &models_json(&p.packs))?;
        tx.commit()?;
        Ok(version)
    }

    /// The active profile, if any.
    pub fn active_site_profile(&self) -> Result<Option<SiteProfile>, Error> {
        let json: Option<String> = self
            .conn
            .query_row(
                "SELECT p.profile FROM site_active a JOIN site_profiles p ON p.version = a.version",
                [],
                |r| r.get(0),
            )
            .optional()?;
        json.map(|j| serde_json::from_str(&j).map_err(Error::from)).transpose()
    }

    /// One stored version.
    pub fn site_profile(&self, version: u32) -> Result<SiteProfile, Error> {
        let j: String = self
            .conn
            .query_row("SELECT profile FROM site_profiles WHERE version = ?1", [version], |r| r.get(0))
            .optional()?
            .ok_or(Error::NotFound("site profile"))?;
        Ok(serde_json::from_str(&j)?)
    }

    /// Every stored version, newest first.
    pub fn site_profiles(&self) -> Result<Vec<SiteProfileRow>, Error> {
        let active: Option<u32> =
            self.conn.query_row("SELECT version FROM site_active", [], |r| r.get(0)).optional()?.flatten();
        let mut st = self.conn.prepare(
            "SELECT version, site, created_at, actor, profile FROM site_profiles ORDER BY version DESC",
        )?;
        let rows = st.query_map([], |r| {
            Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?, r.get(2)?, r.get(3)?, r.get::<_, String>(4)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (version, site, created_at, actor, profile) = row?;
            let p: SiteProfile = serde_json::from_str(&profile)?;
            out.push(SiteProfileRow {
                version,
                site,
                created_at,
                actor,
                active: active == Some(version),
                photos: p.evidence.accepted,
                reviewed_cells: p.evidence.reviewed.values().sum(),
            });
        }
        Ok(out)
    }

    /// Makes an earlier version active again (`None`: no profile, the packs as
    /// shipped). Nothing is deleted.
    pub fn activate_site_profile(&mut self, version: Option<u32>, actor: &str) -> Result<(), Error> {
        self.writable()?;
        check_text(actor, "user name must be 1 to 128 printable characters")?;
        let now = now_ms();
        let tx = self.conn.transaction()?;
        let models = match version {
            Some(v) => {
                let p: Option<String> = tx
                    .query_row("SELECT profile FROM site_profiles WHERE version = ?1", [v], |r| r.get(0))
                    .optional()?;
                let p: SiteProfile = serde_json::from_str(&p.ok_or(Error::NotFound("site profile"))?)?;
                models_json(&p.packs)
            }
            None => "[]".into(),
        };
        set_active(&tx, version, now, actor)?;
        audit(&tx, now, actor, "site_activate", None, json!({ "version": version }), &models)?;
        tx.commit()?;
        Ok(())
    }

    /// Every cell a reviewer relabelled (the latest label of each), oldest first.
    pub fn reviewed_cells(&self) -> Result<Vec<ReviewedCell>, Error> {
        let mut st = self.conn.prepare(
            "SELECT f.photo, f.report, c.idx, v.new_value FROM reviews v \
             JOIN cells c ON c.id = v.cell_id JOIN fields f ON f.id = c.field_id \
             WHERE v.kind = 'relabel_cell' AND v.id = (SELECT max(id) FROM reviews w \
               WHERE w.cell_id = v.cell_id AND w.kind = 'relabel_cell') ORDER BY v.id",
        )?;
        let rows = st.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get::<_, String>(3)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (photo, report, idx, label) = row?;
            let report: FieldReport = serde_json::from_str(&report)?;
            let cell = usize::try_from(idx)
                .ok()
                .and_then(|i| report.cells.get(i))
                .ok_or_else(|| Error::Corrupt("a reviewed cell is missing from its field".into()))?;
            out.push(ReviewedCell { photo, bbox: cell.bbox, label });
        }
        Ok(out)
    }
}

fn set_active(
    tx: &rusqlite::Transaction<'_>,
    version: Option<u32>,
    at: i64,
    actor: &str,
) -> Result<(), Error> {
    tx.execute(
        "INSERT INTO site_active(id, version, at, actor) VALUES (1, ?1, ?2, ?3) \
         ON CONFLICT(id) DO UPDATE SET version = excluded.version, at = excluded.at, actor = excluded.actor",
        params![version, at, actor],
    )?;
    Ok(())
}
