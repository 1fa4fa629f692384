//! Sharing a closed session with a hospital: seal its bundles (results first,
//! photos after), queue them in the store, and deliver them with resumable
//! uploads when a link exists. Everything an app does to share goes through
//! here; the command line and the bindings only call it.
use crate::{Error, Screener};
use hemalens_share::bundle::{self, Kind, Part};
use hemalens_share::upload::{self, Attempt, Item, LinkOptions, Progress};
use hemalens_share::Record;
use hemalens_store::{Hospital, OutboxItem, OutboxState};
use std::time::Duration;

/// What link the device has now (photos may wait for Wi-Fi).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Wifi,
    Cellular,
}

/// How the outbox retries: exponential backoff with jitter.
#[derive(Debug, Clone)]
pub struct SendOptions {
    pub link: LinkOptions,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Attempts per item in this run before it waits for its next turn.
    pub attempts_per_run: u32,
}

impl Default for SendOptions {
    fn default() -> Self {
        Self {
            link: LinkOptions::default(),
            backoff_base: Duration::from_secs(5),
            backoff_cap: Duration::from_secs(30 * 60),
            attempts_per_run: 3,
        }
    }
}

fn share_err(e: impl std::fmt::Display) -> Error {
    Error::Share(hemalens_share::Error::Bundle(e.to_string()))
}

/// The store's side of an upload: chunks read in place, progress written
/// after every confirmed chunk (one small transaction each).
struct StoreProgress<'a> {
    screener: &'a Screener,
    id: i64,
}

impl Progress for StoreProgress<'_> {
    fn chunk(&mut self, offset: u64, len: usize) -> Result<Vec<u8>, String> {
        self.screener.store().outbox_chunk(self.id, offset, len).map_err(|e| e.kind().as_str().to_string())
    }
    fn confirmed(&mut self, url: &str, sent: u64) -> Result<(), String> {
        self.screener
            .store()
            .outbox_progress(self.id, Some(url), sent)
            .map_err(|e| e.kind().as_str().to_string())
    }
    fn forget_upload(&mut self) -> Result<(), String> {
        self.screener.store().outbox_forget_upload(self.id).map_err(|e| e.kind().as_str().to_string())
    }
}

fn jitter() -> f64 {
    let mut b = [0u8; 8];
    let _ = getrandom::getrandom(&mut b);
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

impl Screener {
    /// Adds (or updates) a hospital to share with.
    pub fn add_hospital(&self, hospital: &Hospital, actor: &str) -> Result<(), Error> {
        bundle::parse_recipient(&hospital.recipient).map_err(|_| {
            Error::Store(hemalens_store::Error::InvalidArgument(
                "the hospital key must be an age public key (age1...)",
            ))
        })?;
        Ok(self.store().add_hospital(hospital, actor)?)
    }

    pub fn hospitals(&self) -> Result<Vec<Hospital>, Error> {
        Ok(self.store().hospitals()?)
    }

    /// The sealed results bundle of a closed session: the FHIR Bundle, the
    /// SMS text and the summary (no images; a few kilobytes).
    fn results_parts(&self, record: &Record) -> Result<Vec<Part>, Error> {
        let fhir = hemalens_share::fhir::bundle(record, &[]);
        let summary = serde_json::json!({
            "uid": record.uid,
            "device": record.device,
            "session": record.session,
            "result": record.result,
            "reviews": record.reviews,
        });
        Ok(vec![
            Part {
                name: "fhir.json".into(),
                content_type: "application/fhir+json".into(),
                data: serde_json::to_vec(&fhir).map_err(share_err)?,
            },
            Part {
                name: "sms.txt".into(),
                content_type: "text/plain; charset=utf-8".into(),
                data: hemalens_share::sms::encode(record).into_bytes(),
            },
            Part {
                name: "summary.json".into(),
                content_type: "application/json".into(),
                data: serde_json::to_vec(&summary).map_err(share_err)?,
            },
        ])
    }

    /// The photos bundle: the whole record (every field's report), the PDF
    /// report, the FHIR Bundle with each field's annotated overlay as a
    /// `Media`, and each photo as taken.
    fn photos_parts(&self, record: &Record) -> Result<Vec<Part>, Error> {
        let pdf = hemalens_share::report::pdf(record, &self.photos())?;
        let media = hemalens_share::report::overlay_media(record, &self.photos())?;
        let fhir = hemalens_share::fhir::bundle(record, &media);
        let mut parts = vec![
            Part {
                name: "fhir-overlays.json".into(),
                content_type: "application/fhir+json".into(),
                data: serde_json::to_vec(&fhir).map_err(share_err)?,
            },
            Part {
                name: "record.json".into(),
                content_type: "application/json".into(),
                data: serde_json::to_vec(record).map_err(share_err)?,
            },
            Part { name: "report.pdf".into(), content_type: "application/pdf".into(), data: pdf },
        ];
        for f in &record.fields {
            let data = self.store().read_photo(&f.photo)?;
            parts.push(Part {
                name: format!("photos/{}.jpg", f.seq),
                content_type: "image/jpeg".into(),
                data,
            });
        }
        Ok(parts)
    }

    /// Seals a closed session's bundles for `hospital` and queues them:
    /// results, then photos. Returns the queued items. A missing hospital, an
    /// open or unknown session, or a full disk is an error and queues nothing
    /// new (what was queued before stays).
    pub fn share(&self, session: i64, hospital: &str, actor: &str) -> Result<Vec<OutboxItem>, Error> {
        let h = self.store().hospital(hospital)?;
        let recipient = bundle::parse_recipient(&h.recipient).map_err(share_err)?;
        let device = self.device()?;
        let record = self.record(session)?;
        let now = record.session.closed_at.unwrap_or_default();
        let mut out = Vec::new();
        for (kind, parts) in
            [(Kind::Results, self.results_parts(&record)?), (Kind::Photos, self.photos_parts(&record)?)]
        {
            let id = bundle::new_bundle_id();
            let sealed =
                bundle::seal(&device, &recipient, kind, &record.uid, now, &id, &parts).map_err(share_err)?;
            let item = self.store().enqueue(session, hospital, kind.as_str(), &id, &sealed, actor)?;
            out.push(self.store().outbox_item(item)?);
        }
        Ok(out)
    }

    /// Every outbox item, oldest first.
    pub fn outbox(&self) -> Result<Vec<OutboxItem>, Error> {
        Ok(self.store().outbox()?)
    }

    /// Seals a refused item's session again (a new bundle id) and puts it
    /// back in the queue: for a refusal the hospital has since fixed (a
    /// device enrolled late, a key changed).
    pub fn outbox_retry(&self, item: i64, actor: &str) -> Result<(), Error> {
        let it = self.store().outbox_item(item)?;
        let h = self.store().hospital(&it.hospital)?;
        let recipient = bundle::parse_recipient(&h.recipient).map_err(share_err)?;
        let kind = Kind::parse(&it.kind).unwrap_or(Kind::Results);
        let record = self.record(it.session_id)?;
        let parts = match kind {
            Kind::Results => self.results_parts(&record)?,
            Kind::Photos => self.photos_parts(&record)?,
        };
        let id = bundle::new_bundle_id();
        let now = record.session.closed_at.unwrap_or_default();
        let sealed = bundle::seal(&self.device()?, &recipient, kind, &record.uid, now, &id, &parts)
            .map_err(share_err)?;
        Ok(self.store().outbox_requeue(item, &id, &sealed, actor)?)
    }

    /// One pass over the outbox: every item that is due (results before
    /// photos; photos only on Wi-Fi for hospitals that ask so), a few attempts
    /// each. Returns the items as they stand afterwards.
    pub fn outbox_send(
        &self,
        network: Network,
        opts: &SendOptions,
        now_ms: i64,
    ) -> Result<Vec<OutboxItem>, Error> {
        let hospitals = self.store().hospitals()?;
        let mut due: Vec<OutboxItem> = self
            .store()
            .outbox()?
            .into_iter()
            .filter(|i| {
                matches!(i.state, OutboxState::Queued | OutboxState::Sending) && i.next_attempt_at <= now_ms
            })
            .collect();
        due.sort_by_key(|i| (i.kind != "results", i.id));
        let agent = upload::agent(&opts.link);
        for it in due {
            let Some(h) = hospitals.iter().find(|h| h.name == it.hospital) else { continue };
            if it.kind == "photos" && h.photos_on_wifi_only && network != Network::Wifi {
                continue;
            }
            // Attempts that move the upload forward go on at once (a flaky link
            // drops often); only attempts that gain nothing count, and after
            // `attempts_per_run` of them the item waits out its backoff.
            let mut fruitless = 0;
            loop {
                let cur = self.store().outbox_item(it.id)?;
                let item = Item {
                    bundle_id: cur.bundle_id.clone(),
                    kind: cur.kind.clone(),
                    size: cur.size,
                    upload_url: cur.upload_url.clone(),
                };
                let mut progress = StoreProgress { screener: self, id: it.id };
                match upload::send(&agent, &h.url, &item, &opts.link, &mut progress) {
                    Attempt::Delivered => {
                        self.store().outbox_delivered(it.id)?;
                        break;
                    }
                    Attempt::Refused(code) => {
                        self.store().outbox_refused(it.id, &code)?;
                        break;
                    }
                    Attempt::Retry(reason) => {
                        let after = self.store().outbox_item(it.id)?;
                        if after.sent > cur.sent {
                            continue;
                        }
                        fruitless += 1;
                        let wait =
                            upload::backoff(after.attempts, opts.backoff_base, opts.backoff_cap, jitter());
                        self.store().outbox_retry_later(it.id, now_ms + wait.as_millis() as i64, &reason)?;
                        if fruitless >= opts.attempts_per_run.max(1) {
                            break;
                        }
                    }
                }
            }
        }
        self.outbox()
    }
}
