//! Sharing a closed session with a hospital: seal its bundles (results first,
//! photos after), queue them in the store, and deliver them with resumable
//! uploads when a link exists; and take the hospital's reviews back
//! ([`Screener::sync_reviews`]). Everything an app does to share goes through
//! here; the command line and the bindings only call it.
use crate::{Error, Screener};
use hemalens_share::bundle::{self, Kind};
use hemalens_share::reviews::{self, Action, Entry};
use hemalens_share::upload::{self, Attempt, Item, LinkOptions, Progress, Signer};
use hemalens_store::{Applied, ErrorKind, Hospital, OutboxItem, OutboxState, RemoteReview, ReviewAction};
use std::time::{Duration, Instant};

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

/// What one hospital's review sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewSync {
    pub hospital: String,
    /// Reviews stored now.
    pub applied: u32,
    /// Reviews taken before (sent again because an acknowledgement was lost).
    pub already_had: u32,
    /// Reviews this device cannot apply, acknowledged all the same: another
    /// device's session, a session or cell it does not have, a label the pack
    /// does not know, a kind this version does not know, a malformed entry.
    pub skipped: u32,
    /// Why the sync with this hospital stopped early (what it applied is
    /// kept; the rest comes next time): the network, or the hospital's answer.
    pub error: Option<reviews::Error>,
}

/// Pages asked for per hospital and sync at most (up to 200 reviews each).
const MAX_REVIEW_PAGES: u32 = 100;

/// What became of one entry of a page.
enum Taken {
    Applied,
    AlreadyHad,
    Skipped,
}

/// The local session number of `uid` (`<device id>-<n>`) when it is this device's.
fn local_session(uid: &str, device_id: &str) -> Option<i64> {
    let (device, n) = uid.rsplit_once('-')?;
    let n: i64 = n.parse().ok().filter(|n| *n > 0)?;
    (device == device_id && uid == format!("{device_id}-{n}")).then_some(n)
}

/// What one entry of `hospital`'s review page asks of this device's store,
/// or `None` for an entry to skip (and acknowledge): not a review, for a
/// session of another device, or relabelling a cell to a label the cell pack
/// (`labels`) does not know (it would mislead the site calibration).
pub fn remote_review(
    hospital: &str,
    device_id: &str,
    labels: &[String],
    entry: &Entry,
) -> Option<RemoteReview> {
    let Entry::Review(r) = entry else { return None };
    let session = local_session(&r.session_uid, device_id)?;
    let action = match &r.action {
        Action::RelabelCell { field, cell, label } => {
            if !labels.contains(label) {
                return None;
            }
            ReviewAction::RelabelCell { field: *field, cell: *cell, label: label.clone() }
        }
        Action::Confirm => ReviewAction::Confirm,
        Action::OverrideOutcome(d) => ReviewAction::OverrideOutcome(*d),
    };
    Some(RemoteReview {
        hospital: hospital.to_string(),
        id: r.id.clone(),
        session,
        action,
        reviewer: r.reviewer.clone(),
        at: r.at,
        note: r.note.clone(),
    })
}

/// The device's clock for signed requests: `now_ms` at the call, moving on
/// with the monotonic clock (a long run stays inside the hospital's tolerance).
fn clock_from(now_ms: i64) -> impl Fn() -> i64 {
    let started = Instant::now();
    move || now_ms + started.elapsed().as_millis() as i64
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
        for (kind, parts) in [
            (Kind::Results, hemalens_share::contents::results(&record)?),
            (Kind::Photos, hemalens_share::contents::photos(&record, &self.photos())?),
        ] {
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
            Kind::Results => hemalens_share::contents::results(&record)?,
            Kind::Photos => hemalens_share::contents::photos(&record, &self.photos())?,
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
        if due.is_empty() {
            return self.outbox();
        }
        let agent = upload::agent(&opts.link);
        let device = self.device()?;
        let clock = clock_from(now_ms);
        let signer = Signer { identity: &device, clock: &clock };
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
                match upload::send(&agent, &h.url, &item, &opts.link, &signer, &mut progress) {
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

    /// Takes each hospital's reviews of this device's sessions (docs/wire-format.md,
    /// "Reviews back to the device"): pulls a page, applies each review to its
    /// session (once per review id, as `<reviewer> (<hospital>)` at the
    /// hospital's time; the machine's result untouched), acknowledges every
    /// id it applied, had already or skipped, and goes on while the hospital
    /// has more. Any link will do (a page is a few kilobytes). A hospital that
    /// cannot be reached, or answers wrong, is reported in its
    /// [`ReviewSync::error`] and the others go on; only a records failure (a
    /// full disk) stops the sync, as an error.
    pub fn sync_reviews(&self, link: &LinkOptions, now_ms: i64) -> Result<Vec<ReviewSync>, Error> {
        let hospitals = self.store().hospitals()?;
        if hospitals.is_empty() {
            return Ok(Vec::new());
        }
        let device = self.device()?;
        let device_id = device.id();
        let clock = clock_from(now_ms);
        let signer = Signer { identity: &device, clock: &clock };
        let agent = upload::agent(link);
        let mut out = Vec::new();
        for h in hospitals {
            let mut sync = ReviewSync { hospital: h.name.clone(), ..ReviewSync::default() };
            for _ in 0..MAX_REVIEW_PAGES {
                let page = match reviews::pull(&agent, &h.url, &signer) {
                    Ok(p) => p,
                    Err(e) => {
                        sync.error = Some(e);
                        break;
                    }
                };
                let mut ack = Vec::new();
                for entry in &page.entries {
                    match self.take_review(&h.name, &device_id, entry)? {
                        Taken::Applied => sync.applied += 1,
                        Taken::AlreadyHad => sync.already_had += 1,
                        Taken::Skipped => sync.skipped += 1,
                    }
                    ack.extend(entry.id());
                }
                if !ack.is_empty() {
                    if let Err(e) = reviews::ack(&agent, &h.url, &signer, &ack) {
                        sync.error = Some(e);
                        break;
                    }
                }
                // Nothing to acknowledge: asking again would bring the same page.
                if !page.more || ack.is_empty() {
                    break;
                }
            }
            out.push(sync);
        }
        Ok(out)
    }

    /// Applies one entry of a hospital's page, or says why not.
    fn take_review(&self, hospital: &str, device_id: &str, entry: &Entry) -> Result<Taken, Error> {
        let labels = &self.analyzer().cells_manifest().labels;
        let Some(remote) = remote_review(hospital, device_id, labels, entry) else {
            return Ok(Taken::Skipped);
        };
        match self.store().apply_remote_review(&remote) {
            Ok(Applied::Applied) => Ok(Taken::Applied),
            Ok(Applied::AlreadyApplied) => Ok(Taken::AlreadyHad),
            // No such session or cell here, an open session, a reviewer name
            // the store does not take: skipped (and acknowledged).
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::NotFound | ErrorKind::InvalidState | ErrorKind::InvalidArgument
                ) =>
            {
                Ok(Taken::Skipped)
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_devices_uids_name_a_local_session() {
        let me = "19ce9d10e703a8bd";
        assert_eq!(local_session("19ce9d10e703a8bd-1", me), Some(1));
        assert_eq!(local_session("19ce9d10e703a8bd-420", me), Some(420));
        for other in [
            "0000000000000000-1",
            "19ce9d10e703a8bd-0",
            "19ce9d10e703a8bd--1",
            "19ce9d10e703a8bd-01",
            "19ce9d10e703a8bd-+1",
            "19ce9d10e703a8bd-x",
            "19ce9d10e703a8bd",
            "x-19ce9d10e703a8bd-1",
            "",
        ] {
            assert_eq!(local_session(other, me), None, "{other}");
        }
    }

    #[test]
    fn a_review_entry_becomes_this_devices_remote_review_or_is_skipped() {
        use hemalens_core::session::Decision;
        use hemalens_share::reviews::{Review, Unusable};
        let me = "19ce9d10e703a8bd";
        let labels = vec!["lymphocyte".to_string(), "blast".to_string()];
        let review = |uid: &str, action: Action| {
            Entry::Review(Review {
                id: "r1".into(),
                session_uid: uid.into(),
                action,
                reviewer: "Dr A".into(),
                at: 1_765_000_000_000,
                note: Some("seen".into()),
            })
        };
        let relabel = |label: &str| Action::RelabelCell { field: 2, cell: 5, label: label.into() };
        let got = remote_review("H", me, &labels, &review("19ce9d10e703a8bd-7", relabel("blast"))).unwrap();
        assert_eq!(
            got,
            RemoteReview {
                hospital: "H".into(),
                id: "r1".into(),
                session: 7,
                action: ReviewAction::RelabelCell { field: 2, cell: 5, label: "blast".into() },
                reviewer: "Dr A".into(),
                at: 1_765_000_000_000,
                note: Some("seen".into()),
            }
        );
        let action = |a| remote_review("H", me, &labels, &review("19ce9d10e703a8bd-7", a)).map(|r| r.action);
        assert_eq!(action(Action::Confirm), Some(ReviewAction::Confirm));
        assert_eq!(
            action(Action::OverrideOutcome(Decision::Refer)),
            Some(ReviewAction::OverrideOutcome(Decision::Refer))
        );
        // A label the pack does not know, another device's session, an unusable entry: skipped.
        assert_eq!(action(relabel("monocyte")), None);
        assert_eq!(remote_review("H", me, &labels, &review("0000000000000000-7", Action::Confirm)), None);
        let unusable = Entry::Unusable { id: Some("r2".into()), why: Unusable::Malformed };
        assert_eq!(remote_review("H", me, &labels, &unusable), None);
    }
}
