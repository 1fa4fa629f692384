//! The screening façade as an object the app holds.
use crate::engine::{Platform, PlatformEngine};
use crate::error::{guard, HemalensError};
use hemalens_core::engine::EngineProvider;
#[cfg(feature = "litert")]
use hemalens_core::engine::LiteRt;
use hemalens_core::field::{AnalyzeOptions, FieldReport, ModelRef};
use hemalens_core::pack::Pack;
use hemalens_core::session::{Decision, Summary};
use hemalens_screener::{Network, SendOptions};
use hemalens_store::{Hospital, Key, OutboxItem, SessionRow};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// How a [`Screener`] is set up. Every field has a sensible default.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ScreenerConfig {
    /// CPU threads for the models and the pipeline (1 or 2 on a phone).
    #[uniffi(default = 2)]
    pub threads: u32,
    /// A folder with the packs (`all-screen/` and `wbc-type/`, each a
    /// `manifest.json` and `model.tflite`), e.g. unpacked app assets; `None`
    /// uses the packs built into the library.
    #[uniffi(default = None)]
    pub pack_dir: Option<String>,
    /// The device's 32-byte signing seed, when the app keeps it in the
    /// platform's key store (Android Keystore-wrapped, iOS Keychain); `None`
    /// keeps it in the encrypted records store (made on first use).
    #[uniffi(default = None)]
    pub device_seed: Option<Vec<u8>>,
}

impl Default for ScreenerConfig {
    fn default() -> Self {
        Self { threads: 2, pack_dir: None, device_seed: None }
    }
}

/// How much evidence a new session collects before it decides.
#[derive(Debug, Clone, Copy, uniffi::Record)]
pub struct Evidence {
    /// Confident white cells to collect (100 by default).
    pub target_cells: u32,
    /// Stop asking for photos after this many (30 by default).
    pub max_fields: u32,
}

/// Filters for [`Screener::list`]; every one optional. Newest first.
#[derive(Debug, Clone, uniffi::Record)]
pub struct SessionQuery {
    /// One session by its id (reopening it from the history).
    #[uniffi(default = None)]
    pub session: Option<i64>,
    #[uniffi(default = None)]
    pub patient: Option<String>,
    /// Started at or after (Unix milliseconds).
    #[uniffi(default = None)]
    pub from_ms: Option<i64>,
    /// Started before (Unix milliseconds).
    #[uniffi(default = None)]
    pub to_ms: Option<i64>,
    /// The effective outcome (after any override).
    #[uniffi(default = None)]
    pub outcome: Option<Decision>,
    /// Only closed sessions waiting for a reviewer.
    #[uniffi(default = false)]
    pub pending_review: bool,
    #[uniffi(default = 50)]
    pub limit: u32,
}

/// This device's signing identity, for enrolment at a hospital.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeviceKey {
    pub device_id: String,
    pub public_key: String,
}

/// What one hospital's review sync did ([`Screener::sync_reviews`]).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ReviewSync {
    pub hospital: String,
    /// Reviews stored now.
    pub applied: u32,
    /// Reviews taken before (sent again because an acknowledgement was lost).
    pub already_had: u32,
    /// Reviews this device cannot apply (another device's session, a session
    /// or cell it does not have, an unknown label or kind), acknowledged all the same.
    pub skipped: u32,
    /// Why this hospital's sync stopped early, as a code (`no_connection`,
    /// `timeout`, `http_403`, `bad_answer`, ...); `None` when it went through.
    /// What it applied is kept; the rest comes next time.
    pub error: Option<String>,
}

/// How an outbox item stands, in words: `queued`, `sending 42%`,
/// `delivered`, `refused: <reason>`.
#[uniffi::export]
pub fn outbox_status(item: OutboxItem) -> String {
    item.status()
}

/// An accepted field's picture (cut to its eyepiece circle) and where its
/// cells lie on it, to draw their boxes over it ([`Screener::field_view`]).
#[derive(Debug, Clone, uniffi::Record)]
pub struct FieldView {
    /// The field's number in the session (0, 1, ...).
    pub field: i64,
    /// A baseline JPEG.
    pub jpeg: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub marks: Vec<CellMark>,
}

/// One cell's box on a [`FieldView`], in its pixels.
#[derive(Debug, Clone, uniffi::Record)]
pub struct CellMark {
    /// The cell's index in its field (what `relabel_cell` takes).
    pub cell: i64,
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
    /// The label that stands: a reviewer's, else the machine's.
    pub label: String,
    pub machine_label: String,
    /// The machine's confidence in its label, 0..1.
    pub confidence: f32,
    /// Counted in the differential (draw solid); false: uncertain (draw dashed).
    pub counted: bool,
    /// A reviewer has relabelled it.
    pub relabelled: bool,
}

/// One cell's square crop for the review gallery ([`Screener::cell_tiles`]).
#[derive(Debug, Clone, uniffi::Record)]
pub struct CellTile {
    pub field: i64,
    pub cell: i64,
    /// A baseline JPEG.
    pub jpeg: Vec<u8>,
    /// The label that stands: a reviewer's, else the machine's.
    pub label: String,
    pub machine_label: String,
    /// The machine's confidence in its label, 0..1.
    pub confidence: f32,
    /// Counted in the differential; false: uncertain, shown apart for review.
    pub counted: bool,
    /// A reviewer has relabelled it.
    pub relabelled: bool,
}

/// One photo added to a session.
#[derive(Debug, Clone, uniffi::Record)]
pub struct AddedPhoto {
    /// The field's number in the session (0, 1, ...).
    pub field: i64,
    pub report: FieldReport,
    /// The session's running summary with this photo counted.
    pub summary: Summary,
}

/// Packs, pipeline, the site's calibration and the encrypted records store.
/// Safe to share between threads. After [`Screener::shutdown`] every call
/// answers `InvalidState`.
#[derive(Debug, uniffi::Object)]
pub struct Screener {
    inner: Mutex<Option<Arc<hemalens_screener::Screener>>>,
    /// The benchmark hooks' last report (never written otherwise).
    bench_last: Mutex<Option<FieldReport>>,
}

pub(crate) fn key_of(bytes: &[u8]) -> Result<Key, HemalensError> {
    let b: [u8; 32] = bytes
        .try_into()
        .map_err(|_| HemalensError::InvalidInput { detail: "a key must be 32 bytes".into() })?;
    Ok(Key::from_bytes(b))
}

fn packs(dir: Option<&str>) -> Result<(Pack, Pack), HemalensError> {
    Ok(match dir {
        None => (hemalens_packs::builtin("all-screen")?, hemalens_packs::builtin("wbc-type")?),
        Some(d) => {
            let d = Path::new(d);
            (Pack::from_dir(&d.join("all-screen"))?, Pack::from_dir(&d.join("wbc-type"))?)
        }
    })
}

impl Screener {
    pub(crate) fn from_inner(s: hemalens_screener::Screener) -> Self {
        Self { inner: Mutex::new(Some(Arc::new(s))), bench_last: Mutex::new(None) }
    }

    /// The façade, unless closed. The lock is held only to clone the handle:
    /// calls run side by side, and `close` waits for none of them.
    pub(crate) fn get(&self) -> Result<Arc<hemalens_screener::Screener>, HemalensError> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone().ok_or_else(HemalensError::closed)
    }

    fn open_on(
        dir: &str,
        key: &[u8],
        config: &ScreenerConfig,
        provider: &dyn EngineProvider,
    ) -> Result<Arc<Self>, HemalensError> {
        guard(|| {
            let key = key_of(key)?;
            let (screen, cells) = packs(config.pack_dir.as_deref())?;
            let threads = config.threads.clamp(1, 8) as usize;
            let s = hemalens_screener::Screener::open_with_engine(
                Path::new(dir),
                &key,
                &screen,
                &cells,
                threads,
                AnalyzeOptions::default(),
                provider,
            )?;
            let s = match &config.device_seed {
                None => s,
                Some(seed) => {
                    let seed: [u8; 32] = seed.as_slice().try_into().map_err(|_| {
                        HemalensError::InvalidInput { detail: "a device seed must be 32 bytes".into() }
                    })?;
                    s.with_device_seed(seed)
                }
            };
            Ok(Arc::new(Self::from_inner(s)))
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&hemalens_screener::Screener) -> Result<T, hemalens_screener::Error>,
    ) -> Result<T, HemalensError> {
        guard(|| {
            let s = self.get()?;
            Ok(f(&s)?)
        })
    }
}

#[uniffi::export]
impl Screener {
    /// Opens (creating if needed) the records store in `dir` with a 32-byte
    /// `key` (keep it in the Android Keystore or iOS Keychain), compiles the
    /// packs, and reads with the store's active site profile.
    #[uniffi::constructor]
    /// A library built without LiteRT (iOS) answers `InvalidState`: open it
    /// with [`Screener::open_with_engine`].
    pub fn open(dir: String, key: Vec<u8>, config: ScreenerConfig) -> Result<Arc<Self>, HemalensError> {
        #[cfg(feature = "litert")]
        {
            Self::open_on(&dir, &key, &config, &LiteRt)
        }
        #[cfg(not(feature = "litert"))]
        {
            let _ = (dir, key, config);
            Err(HemalensError::InvalidState {
                detail: "this library has no built-in interpreter: open it with open_with_engine".into(),
            })
        }
    }

    /// [`Screener::open`] with the packs run by the app's own inference
    /// engine (the platform's TensorFlow Lite) instead of the linked LiteRT.
    /// The engine's models are checked against the packs as LiteRT's are.
    #[uniffi::constructor]
    pub fn open_with_engine(
        dir: String,
        key: Vec<u8>,
        config: ScreenerConfig,
        engine: Arc<dyn PlatformEngine>,
    ) -> Result<Arc<Self>, HemalensError> {
        Self::open_on(&dir, &key, &config, &Platform(engine))
    }

    /// The packs (id, version, sha256) every session started here is bound to.
    pub fn packs(&self) -> Result<Vec<ModelRef>, HemalensError> {
        self.with(|s| Ok(s.packs().to_vec()))
    }

    /// The evidence a session collects unless told otherwise.
    pub fn default_evidence(&self) -> Evidence {
        let d = hemalens_screener::Evidence::default();
        Evidence { target_cells: d.target_cells, max_fields: d.max_fields }
    }

    /// Starts a session for a pseudonymous patient code; returns its id.
    pub fn start_session(
        &self,
        patient: String,
        evidence: Option<Evidence>,
        app_version: String,
        actor: String,
    ) -> Result<i64, HemalensError> {
        let evidence = evidence.map_or_else(hemalens_screener::Evidence::default, |e| {
            hemalens_screener::Evidence { target_cells: e.target_cells, max_fields: e.max_fields }
        });
        self.with(|s| s.start_session(&patient, evidence, &app_version, &actor))
    }

    /// Analyses one photo (JPEG bytes as the camera wrote them; read in place,
    /// not copied across the boundary), stores it
    /// encrypted with its report, and returns the field and the running
    /// summary. A closed or unknown session is refused before any analysis;
    /// a photo that cannot be read stores nothing.
    pub fn add_photo(&self, session: i64, photo: &[u8], actor: String) -> Result<AddedPhoto, HemalensError> {
        self.with(|s| {
            let a = s.add_photo(session, photo, &actor)?;
            Ok(AddedPhoto { field: a.field, report: a.report, summary: a.summary })
        })
    }

    /// Analyses one photo without storing anything (a preview of a still).
    pub fn analyze(&self, photo: &[u8]) -> Result<FieldReport, HemalensError> {
        self.with(|s| Ok(s.analyzer().analyze(photo)?))
    }

    /// Benchmark hook (scripts/bench_bindings.py): analyses like [`Self::analyze`]
    /// and returns the milliseconds the analysis took inside the library, so a
    /// caller can compare them with what it measures around its own call in
    /// the same process: the difference is what the bindings cost.
    #[doc(hidden)]
    pub fn analyze_timed_ms(&self, photo: &[u8]) -> Result<f64, HemalensError> {
        let t = std::time::Instant::now();
        let report = self.analyze(photo)?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        *self.bench_last.lock().unwrap_or_else(|p| p.into_inner()) = Some(report);
        Ok(ms)
    }

    /// Benchmark hook (scripts/bench_bindings.py): what `analyze` costs to
    /// cross the boundary, on its own: the photo in, and out the report that
    /// [`Self::analyze_timed_ms`] made last, without analysing anything.
    #[doc(hidden)]
    pub fn bench_crossing(&self, photo: &[u8]) -> Result<FieldReport, HemalensError> {
        let _ = photo;
        self.bench_last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| HemalensError::InvalidState { detail: "no analysis timed yet".into() })
    }

    pub fn summary(&self, session: i64) -> Result<Summary, HemalensError> {
        self.with(|s| s.summary(session))
    }

    /// Every field report of a session, open or closed, in the order added
    /// (field `n` at index `n`): what an app shows when it reopens a
    /// screening, after a restart or from the history.
    pub fn reports(&self, session: i64) -> Result<Vec<FieldReport>, HemalensError> {
        self.with(|s| s.reports(session))
    }

    /// Decides and stores the machine's result (never changed afterwards).
    pub fn close_session(&self, session: i64, actor: String) -> Result<Summary, HemalensError> {
        self.with(|s| s.close_session(session, &actor))
    }

    pub fn list(&self, query: SessionQuery) -> Result<Vec<SessionRow>, HemalensError> {
        let q = hemalens_store::Query {
            session: query.session,
            patient: query.patient,
            from_ms: query.from_ms,
            to_ms: query.to_ms,
            outcome: query.outcome,
            pending_review: query.pending_review,
            limit: query.limit,
            ..hemalens_store::Query::default()
        };
        self.with(|s| s.list(&q))
    }

    /// A reviewer's label for one cell; the machine's label is kept.
    pub fn relabel_cell(
        &self,
        session: i64,
        field: i64,
        cell: i64,
        label: String,
        reviewer: String,
        note: Option<String>,
    ) -> Result<(), HemalensError> {
        self.with(|s| s.relabel_cell(session, field, cell, &label, &reviewer, note.as_deref()))
    }

    /// A reviewer agrees with the machine's result of a closed session.
    pub fn confirm(&self, session: i64, reviewer: String, note: Option<String>) -> Result<(), HemalensError> {
        self.with(|s| s.confirm(session, &reviewer, note.as_deref()))
    }

    /// A reviewer's outcome for a closed session; the machine's result is kept.
    pub fn override_outcome(
        &self,
        session: i64,
        outcome: Decision,
        reviewer: String,
        note: Option<String>,
    ) -> Result<(), HemalensError> {
        self.with(|s| s.override_outcome(session, outcome, &reviewer, note.as_deref()))
    }

    /// The whole session as JSON: reports, machine result, reviews, audit trail.
    pub fn export_json(&self, session: i64) -> Result<String, HemalensError> {
        self.with(|s| Ok(s.export(session)?.to_string()))
    }

    /// Re-encrypts the store under a new 32-byte key (and, if asked, new
    /// photos under a new photo key).
    pub fn rotate_key(
        &self,
        new_key: Vec<u8>,
        new_photo_key: bool,
        actor: String,
    ) -> Result<(), HemalensError> {
        let key = key_of(&new_key)?;
        self.with(|s| s.rotate_key(&key, new_photo_key, &actor))
    }

    /// This device's id (16 hex digits) and Ed25519 public key (64 hex
    /// digits), for the hospital to enrol the device.
    pub fn device_key(&self) -> Result<DeviceKey, HemalensError> {
        self.with(|s| {
            let d = s.device()?;
            Ok(DeviceKey { device_id: d.id(), public_key: d.public_key_hex() })
        })
    }

    /// Adds a hospital to share with (or changes its address or key).
    pub fn add_hospital(&self, hospital: Hospital, actor: String) -> Result<(), HemalensError> {
        self.with(|s| s.add_hospital(&hospital, &actor))
    }

    pub fn hospitals(&self) -> Result<Vec<Hospital>, HemalensError> {
        self.with(|s| s.hospitals())
    }

    /// Seals a closed session's bundles (results, then photos) for a hospital
    /// and queues them; [`Screener::outbox_send`] delivers them.
    pub fn share(
        &self,
        session: i64,
        hospital: String,
        actor: String,
    ) -> Result<Vec<OutboxItem>, HemalensError> {
        self.with(|s| s.share(session, &hospital, &actor))
    }

    /// Every outbox item, oldest first (`outbox_status` words each one).
    pub fn outbox(&self) -> Result<Vec<OutboxItem>, HemalensError> {
        self.with(|s| s.outbox())
    }

    /// One delivery pass (blocking: call it from a background worker when a
    /// link exists). Photos go only `on_wifi` for hospitals that ask so.
    pub fn outbox_send(&self, on_wifi: bool) -> Result<Vec<OutboxItem>, HemalensError> {
        let network = if on_wifi { Network::Wifi } else { Network::Cellular };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        self.with(|s| s.outbox_send(network, &SendOptions::default(), now))
    }

    /// Takes each hospital's reviews of this device's sessions (blocking:
    /// call it from a background worker when a link exists; any link will
    /// do). Each review is stored once, as `<reviewer> (<hospital>)` at the
    /// hospital's time, the machine's result untouched, and acknowledged.
    /// One record per hospital; a hospital that cannot be reached is reported
    /// in its `error` and the others go on.
    pub fn sync_reviews(&self) -> Result<Vec<ReviewSync>, HemalensError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        self.with(|s| {
            let syncs = s.sync_reviews(&SendOptions::default().link, now)?;
            Ok(syncs
                .into_iter()
                .map(|r| ReviewSync {
                    hospital: r.hospital,
                    applied: r.applied,
                    already_had: r.already_had,
                    skipped: r.skipped,
                    error: r.error.map(|e| e.code()),
                })
                .collect())
        })
    }

    /// Puts a refused item back in the queue.
    pub fn outbox_retry(&self, item: i64, actor: String) -> Result<(), HemalensError> {
        self.with(|s| s.outbox_retry(item, &actor))
    }

    /// The report of a closed session as a PDF.
    pub fn report_pdf(&self, session: i64) -> Result<Vec<u8>, HemalensError> {
        self.with(|s| s.report_pdf(session))
    }

    /// The report of a closed session as one self-contained HTML page.
    pub fn report_html(&self, session: i64) -> Result<String, HemalensError> {
        self.with(|s| s.report_html(session))
    }

    /// A closed session as a FHIR R4 Bundle (JSON text), results only.
    pub fn fhir_json(&self, session: i64) -> Result<String, HemalensError> {
        self.with(|s| Ok(s.fhir_bundle(session)?.to_string()))
    }

    /// Accepted field `field` of a closed session as a picture at most
    /// `long_side` pixels long (64 to 2048), with its cells' boxes: the same
    /// labels, uncertain cells and relabels as the report.
    pub fn field_view(&self, session: i64, field: i64, long_side: u32) -> Result<FieldView, HemalensError> {
        self.with(|s| {
            let p = s.field_picture(session, field, long_side)?;
            Ok(FieldView {
                field: p.field,
                jpeg: p.jpeg,
                width: p.width,
                height: p.height,
                marks: p
                    .marks
                    .into_iter()
                    .map(|m| CellMark {
                        cell: m.cell,
                        x: m.x,
                        y: m.y,
                        w: m.w,
                        h: m.h,
                        label: m.label,
                        machine_label: m.machine_label,
                        confidence: m.confidence as f32,
                        counted: m.counted,
                        relabelled: m.relabelled,
                    })
                    .collect(),
            })
        })
    }

    /// Every cell of a closed session's accepted fields as a square crop of
    /// `side` pixels (32 to 512), in field and cell order.
    pub fn cell_tiles(&self, session: i64, side: u32) -> Result<Vec<CellTile>, HemalensError> {
        self.with(|s| {
            Ok(s.cell_pictures(session, side)?
                .into_iter()
                .map(|c| CellTile {
                    field: c.field,
                    cell: c.cell,
                    jpeg: c.jpeg,
                    label: c.label,
                    machine_label: c.machine_label,
                    confidence: c.confidence as f32,
                    counted: c.counted,
                    relabelled: c.relabelled,
                })
                .collect())
        })
    }

    /// A closed session as one SMS (at most 160 GSM-7 characters).
    pub fn sms(&self, session: i64) -> Result<String, HemalensError> {
        self.with(|s| s.sms(session))
    }

    /// Closes the store. Calls under way finish; later calls answer
    /// `InvalidState`. (Not `close`: Kotlin's `AutoCloseable.close` frees the
    /// handle itself.)
    pub fn shutdown(&self) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}
