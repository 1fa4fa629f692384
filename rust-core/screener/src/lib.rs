#![doc = include_str!("../README.md")]
mod error;
pub mod hospital_card;
mod outbox;

pub use error::{Error, Kind};
pub use outbox::{remote_review, Network, ReviewSync, SendOptions};

use hemalens_core::engine::EngineProvider;
#[cfg(feature = "litert")]
use hemalens_core::engine::LiteRt;
use hemalens_core::field::{AnalyzeOptions, Analyzer, FieldReport, ModelRef};
use hemalens_core::pack::{Manifest, Pack};
use hemalens_core::session::{Decision, SessionPolicy, Summary, Thresholds};
use hemalens_share::{report::Photos, Device, DeviceIdentity, Record};
use hemalens_store::{Key, Query, SessionRow, Store};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

/// How much evidence a session collects (the rest of the policy, its
/// thresholds, comes from the packs' manifests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evidence {
    pub target_cells: u32,
    pub max_fields: u32,
}

impl Default for Evidence {
    fn default() -> Self {
        let d = SessionPolicy::default();
        Self { target_cells: d.target_cells, max_fields: d.max_fields }
    }
}

/// One photo added to a session.
#[derive(Debug, Clone, PartialEq)]
pub struct Added {
    /// The field's number in the session (0, 1, ...).
    pub field: i64,
    pub report: FieldReport,
    /// The session's running summary with this photo counted.
    pub summary: Summary,
}

/// Packs, pipeline, the site's active calibration and the records store.
/// `Send + Sync`: photos may be added from any thread; the store takes one
/// change at a time.
#[derive(Debug)]
pub struct Screener {
    analyzer: Analyzer,
    store: Mutex<Store>,
    packs: Vec<ModelRef>,
    thresholds: Thresholds,
    /// The device's signing seed when the platform keeps it (Keystore,
    /// Keychain); otherwise the store's.
    device_seed: Option<[u8; 32]>,
}

fn model_ref(m: &Manifest) -> ModelRef {
    ModelRef { id: m.id.clone(), version: m.version.clone(), sha256: m.sha256.clone() }
}

impl Screener {
    /// Opens the store in `dir` with `key`, compiles the packs and reads with
    /// the store's active site profile (refused when it was made for other packs).
    #[cfg(feature = "litert")]
    pub fn open(
        dir: &Path,
        key: &Key,
        screen: &Pack,
        cells: &Pack,
        threads: usize,
        options: AnalyzeOptions,
    ) -> Result<Self, Error> {
        Self::open_with_engine(dir, key, screen, cells, threads, options, &LiteRt)
    }

    /// The same with the packs run by the engines `provider` loads (an app's
    /// own interpreter); [`Screener::open`] uses the linked LiteRT.
    pub fn open_with_engine(
        dir: &Path,
        key: &Key,
        screen: &Pack,
        cells: &Pack,
        threads: usize,
        options: AnalyzeOptions,
        provider: &dyn EngineProvider,
    ) -> Result<Self, Error> {
        let store = Store::open(dir, key)?;
        Self::with_store_engine(store, screen, cells, threads, options, provider)
    }

    /// The same over a store already open.
    #[cfg(feature = "litert")]
    pub fn with_store(
        store: Store,
        screen: &Pack,
        cells: &Pack,
        threads: usize,
        options: AnalyzeOptions,
    ) -> Result<Self, Error> {
        Self::with_store_engine(store, screen, cells, threads, options, &LiteRt)
    }

    /// [`Screener::with_store`] with the packs run by the engines `provider` loads.
    pub fn with_store_engine(
        store: Store,
        screen: &Pack,
        cells: &Pack,
        threads: usize,
        options: AnalyzeOptions,
        provider: &dyn EngineProvider,
    ) -> Result<Self, Error> {
        let site = store.active_site_profile()?;
        let analyzer = Analyzer::with_engine(screen, cells, threads, options, provider)?.with_site(site)?;
        let packs = vec![model_ref(screen.manifest()), model_ref(cells.manifest())];
        let thresholds = Thresholds::from_manifests(screen.manifest(), cells.manifest());
        Ok(Self { analyzer, store: Mutex::new(store), packs, thresholds, device_seed: None })
    }

    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// The packs every session started here is bound to.
    pub fn packs(&self) -> &[ModelRef] {
        &self.packs
    }

    /// The policy a new session gets: the evidence asked for and the packs' thresholds.
    pub fn policy(&self, evidence: Evidence) -> SessionPolicy {
        SessionPolicy {
            target_cells: evidence.target_cells,
            max_fields: evidence.max_fields,
            thresholds: self.thresholds.clone(),
            ..SessionPolicy::default()
        }
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock left no half-written change (each is
        // one transaction): the store is still good to use.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a session for a pseudonymous patient code, bound to this
    /// screener's packs and thresholds; returns its id.
    pub fn start_session(
        &self,
        patient: &str,
        evidence: Evidence,
        app_version: &str,
        actor: &str,
    ) -> Result<i64, Error> {
        let policy = self.policy(evidence);
        Ok(self.store().start_session_for(patient, &policy, &self.packs, app_version, actor)?)
    }

    /// Analyses one photo, stores it (encrypted) with its report, and returns
    /// the field and the session's running summary. A closed or unknown
    /// session is refused before the photo is analysed.
    pub fn add_photo(&self, session: i64, photo: &[u8], actor: &str) -> Result<Added, Error> {
        self.store().check_open(session)?;
        let report = self.analyzer.analyze(photo)?;
        let mut store = self.store();
        let field = store.add_field(session, photo, &report, actor)?;
        let summary = store.summary(session)?;
        Ok(Added { field, report, summary })
    }

    pub fn summary(&self, session: i64) -> Result<Summary, Error> {
        Ok(self.store().summary(session)?)
    }

    /// Every field report of a session, open or closed, in the order added
    /// (the report of field `n` is at index `n`).
    pub fn reports(&self, session: i64) -> Result<Vec<FieldReport>, Error> {
        Ok(self.store().reports(session)?)
    }

    /// Decides and stores the machine's result (never changed afterwards).
    pub fn close_session(&self, session: i64, actor: &str) -> Result<Summary, Error> {
        Ok(self.store().close_session(session, actor)?)
    }

    pub fn list(&self, query: &Query) -> Result<Vec<SessionRow>, Error> {
        Ok(self.store().list(query)?)
    }

    /// A reviewer's label for one cell; the machine's label is kept.
    pub fn relabel_cell(
        &self,
        session: i64,
        field: i64,
        cell: i64,
        label: &str,
        reviewer: &str,
        note: Option<&str>,
    ) -> Result<(), Error> {
        Ok(self.store().relabel_cell(session, field, cell, label, reviewer, note)?)
    }

    pub fn confirm(&self, session: i64, reviewer: &str, note: Option<&str>) -> Result<(), Error> {
        Ok(self.store().confirm(session, reviewer, note)?)
    }

    /// A reviewer's outcome for a closed session; the machine's result is kept.
    pub fn override_outcome(
        &self,
        session: i64,
        outcome: Decision,
        reviewer: &str,
        note: Option<&str>,
    ) -> Result<(), Error> {
        Ok(self.store().override_outcome(session, outcome, reviewer, note)?)
    }

    /// The whole session as JSON: reports, machine result, reviews, audit trail.
    pub fn export(&self, session: i64) -> Result<serde_json::Value, Error> {
        Ok(self.store().export(session)?)
    }

    /// Signs with a seed the platform keeps (Android Keystore, iOS Keychain)
    /// instead of the one in the records store.
    pub fn with_device_seed(mut self, seed: [u8; 32]) -> Self {
        self.device_seed = Some(seed);
        self
    }

    /// This device's signing identity (the platform's seed if given, else the
    /// store's, made on first use).
    pub fn device(&self) -> Result<DeviceIdentity, Error> {
        match &self.device_seed {
            Some(seed) => Ok(DeviceIdentity::from_seed(seed)),
            None => Ok(DeviceIdentity::from_seed(&self.store().device_seed()?)),
        }
    }

    /// A closed session as everything that leaves the phone reads it.
    pub fn record(&self, session: i64) -> Result<Record, Error> {
        let device = self.device()?;
        let export = self.store().export(session)?;
        let app_version = export["session"]["app_version"].as_str().unwrap_or_default().to_string();
        Ok(Record::from_export(&export, Device { id: device.id(), app_version })?)
    }

    /// The report of a closed session as a PDF.
    pub fn report_pdf(&self, session: i64) -> Result<Vec<u8>, Error> {
        let record = self.record(session)?;
        Ok(hemalens_share::report::pdf(&record, &self.photos())?)
    }

    /// The report of a closed session as one self-contained HTML page.
    pub fn report_html(&self, session: i64) -> Result<String, Error> {
        let record = self.record(session)?;
        Ok(hemalens_share::report::html(&record, &self.photos())?)
    }

    /// A closed session as a FHIR R4 Bundle (results only: no images).
    pub fn fhir_bundle(&self, session: i64) -> Result<serde_json::Value, Error> {
        Ok(hemalens_share::fhir::bundle(&self.record(session)?, &[]))
    }

    /// The same Bundle with each accepted field's annotated overlay as a `Media`.
    pub fn fhir_bundle_with_overlays(&self, session: i64) -> Result<serde_json::Value, Error> {
        let record = self.record(session)?;
        let media = hemalens_share::report::overlay_media(&record, &self.photos())?;
        Ok(hemalens_share::fhir::bundle(&record, &media))
    }

    /// Accepted field `field` of a closed session, at most `long_side` pixels
    /// long, with its cells' boxes to draw over it (as the report draws them).
    pub fn field_picture(
        &self,
        session: i64,
        field: i64,
        long_side: u32,
    ) -> Result<hemalens_share::report::pictures::FieldPicture, Error> {
        let record = self.record(session)?;
        Ok(hemalens_share::report::pictures::field(&record, &self.photos(), field, long_side)?)
    }

    /// Every cell of a closed session as a square crop of `side` pixels, with
    /// its standing and machine labels, for the review gallery.
    pub fn cell_pictures(
        &self,
        session: i64,
        side: u32,
    ) -> Result<Vec<hemalens_share::report::pictures::CellPicture>, Error> {
        let record = self.record(session)?;
        Ok(hemalens_share::report::pictures::cells(&record, &self.photos(), side)?)
    }

    /// A closed session as one SMS.
    pub fn sms(&self, session: i64) -> Result<String, Error> {
        Ok(hemalens_share::sms::encode(&self.record(session)?))
    }

    /// The session's photos, read from the store (decrypted) for the report.
    pub(crate) fn photos(&self) -> impl Photos + '_ {
        move |name: &str| {
            self.store()
                .read_photo(name)
                .map_err(|e| hemalens_share::Error::Photo(e.kind().as_str().to_string()))
        }
    }

    /// Re-encrypts the store under a new key.
    pub fn rotate_key(&self, new: &Key, new_photo_key: bool, actor: &str) -> Result<(), Error> {
        Ok(self.store().rotate_key(new, new_photo_key, actor)?)
    }
}
