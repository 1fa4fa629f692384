//! Taking a complete upload: open the bundle (decrypt, verify the device's
//! signature against its enrolled key, check every part), check its content,
//! and file it as (part of) a case, all in the caller's transaction, so a
//! refused or failed bundle leaves nothing behind and an accepted one is
//! recorded exactly once (its bundle id is taken in the same transaction).

use ed25519_dalek::VerifyingKey;
use hemalens_share::bundle::{self, Kind, Opened, Refused};
use hemalens_share::record::{Device, MachineResult, Record, Review, SessionInfo};
use serde::Deserialize;
use sqlx::{Any, Transaction};

use crate::db::now_ms;
use crate::Error;

/// The results bundle's `summary.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Summary {
    pub uid: String,
    pub device: Device,
    pub session: SessionInfo,
    pub result: MachineResult,
    #[serde(default)]
    pub reviews: Vec<Review>,
}

/// Queue order: refer first, then inconclusive, then the rest.
pub fn urgency(outcome: Option<&str>) -> i64 {
    match outcome {
        Some("refer") => 0,
        Some("inconclusive") => 1,
        Some("no_abnormality_detected") => 2,
        _ => 3,
    }
}

/// A receiver that knows the one device that created the upload and whether
/// the upload's bundle id is taken (looked up before decrypting).
struct Known {
    device_id: String,
    key: Option<VerifyingKey>,
    bundle_id: String,
    taken: bool,
}

impl bundle::Receiver for Known {
    fn enrolled(&self, device_id: &str) -> Option<VerifyingKey> {
        (device_id == self.device_id).then_some(self.key).flatten()
    }
    fn seen(&self, bundle_id: &str) -> bool {
        bundle_id == self.bundle_id && self.taken
    }
}

async fn taken(tx: &mut Transaction<'_, Any>, bundle_id: &str) -> Result<bool, Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT bundle_id FROM bundles WHERE bundle_id = $1")
        .bind(bundle_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.is_some())
}

/// Opens and files `sealed`, uploaded by `device_id` under `bundle_id`.
/// `Ok(Err(_))` is a refusal (nothing filed); `Err(_)` a failure to retry.
pub async fn take(
    tx: &mut Transaction<'_, Any>,
    identity: &age::x25519::Identity,
    sealed: &[u8],
    bundle_id: &str,
    device_id: &str,
) -> Result<Result<String, Refused>, Error> {
    let key: Option<(String,)> =
        sqlx::query_as("SELECT public_key FROM devices WHERE id = $1 AND revoked_at IS NULL")
            .bind(device_id)
            .fetch_optional(&mut **tx)
            .await?;
    let known = Known {
        device_id: device_id.to_string(),
        key: key.and_then(|(k,)| crate::devices::parse_key(&k).ok()),
        bundle_id: bundle_id.to_string(),
        taken: taken(tx, bundle_id).await?,
    };
    let opened = match tokio::task::block_in_place(|| bundle::open(sealed, identity, &known)) {
        Ok(o) => o,
        Err(r) => return Ok(Err(r)),
    };
    if opened.header.bundle_id != bundle_id {
        // The bytes of another bundle under a new upload: a replay if taken.
        return Ok(Err(if taken(tx, &opened.header.bundle_id).await? {
            Refused::Replayed
        } else {
            Refused::Malformed("bundle id differs from the upload's")
        }));
    }
    let uid = opened.header.session_uid.clone();
    if uid.split_once('-').map(|(d, n)| d != device_id || n.parse::<u64>().is_err()).unwrap_or(true) {
        return Ok(Err(Refused::Malformed("session uid is not <device id>-<number>")));
    }
    let filed = match opened.header.kind {
        Kind::Results => file_results(tx, &opened, &uid, device_id).await?,
        Kind::Photos => file_photos(tx, &opened, &uid, device_id).await?,
    };
    if let Err(r) = filed {
        return Ok(Err(r));
    }
    let n = sqlx::query(
        "INSERT INTO bundles (bundle_id, kind, session_uid, device_id, received_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (bundle_id) DO NOTHING",
    )
    .bind(bundle_id)
    .bind(opened.header.kind.as_str())
    .bind(&uid)
    .bind(device_id)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if n != 1 {
        return Ok(Err(Refused::Replayed));
    }
    Ok(Ok(uid))
}

fn part<'a>(o: &'a Opened, name: &str) -> Result<&'a [u8], Refused> {
    o.part(name).map(|p| p.data.as_slice()).ok_or(Refused::Malformed("a required part is missing"))
}

/// The case for `uid`, made if it is not there yet (by a bundle or an SMS,
/// whichever comes first); an SMS that came first is matched to it.
pub(crate) async fn case_id(tx: &mut Transaction<'_, Any>, uid: &str, device_id: &str) -> Result<i64, Error> {
    sqlx::query(
        "INSERT INTO cases (session_uid, device_id, urgency, status, received_at) VALUES ($1, $2, 3, 'open', $3) \
         ON CONFLICT (session_uid) DO NOTHING",
    )
    .bind(uid)
    .bind(device_id)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    let (id,): (i64,) =
        sqlx::query_as("SELECT id FROM cases WHERE session_uid = $1").bind(uid).fetch_one(&mut **tx).await?;
    // An SMS that came first is matched now.
    sqlx::query("UPDATE sms_messages SET case_id = $1 WHERE session_uid = $2 AND case_id IS NULL")
        .bind(id)
        .bind(uid)
        .execute(&mut **tx)
        .await?;
    Ok(id)
}

/// Checks that `fhir.json` is a FHIR R4 collection Bundle about this session
/// (docs/fhir.md): its DiagnosticReport carries the session uid.
pub fn check_fhir(bytes: &[u8], uid: &str) -> Result<(), Refused> {
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|_| Refused::Malformed("fhir.json is not JSON"))?;
    if v["resourceType"] != "Bundle" || v["type"] != "collection" {
        return Err(Refused::Malformed("fhir.json is not a FHIR collection Bundle"));
    }
    let entries = v["entry"].as_array().ok_or(Refused::Malformed("fhir.json has no entries"))?;
    let mut report = false;
    for e in entries {
        let r = &e["resource"];
        let kind =
            r["resourceType"].as_str().ok_or(Refused::Malformed("a FHIR entry has no resourceType"))?;
        if e["fullUrl"].as_str().is_none_or(|u| !u.starts_with("urn:uuid:")) {
            return Err(Refused::Malformed("a FHIR entry has no urn:uuid fullUrl"));
        }
        if kind == "DiagnosticReport" {
            let ids = r["identifier"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            if !ids.iter().any(|i| i["value"] == uid) {
                return Err(Refused::Malformed("the FHIR DiagnosticReport is about another session"));
            }
            if r["status"].as_str().is_none() || r["code"]["coding"].as_array().is_none() {
                return Err(Refused::Malformed("the FHIR DiagnosticReport lacks status or code"));
            }
            report = true;
        }
    }
    if !report {
        return Err(Refused::Malformed("fhir.json has no DiagnosticReport"));
    }
    Ok(())
}

async fn file_results(
    tx: &mut Transaction<'_, Any>,
    o: &Opened,
    uid: &str,
    device_id: &str,
) -> Result<Result<(), Refused>, Error> {
    let checked = (|| {
        let fhir = part(o, "fhir.json")?;
        check_fhir(fhir, uid)?;
        let summary: Summary = serde_json::from_slice(part(o, "summary.json")?)
            .map_err(|_| Refused::Malformed("summary.json"))?;
        if summary.uid != uid || summary.device.id != device_id {
            return Err(Refused::Malformed("summary.json is about another session"));
        }
        std::str::from_utf8(part(o, "sms.txt")?).map_err(|_| Refused::Malformed("sms.txt is not UTF-8"))?;
        let fhir = std::str::from_utf8(fhir).map_err(|_| Refused::Malformed("fhir.json is not UTF-8"))?;
        Ok((fhir.to_string(), summary))
    })();
    let (fhir, summary) = match checked {
        Ok(c) => c,
        Err(r) => return Ok(Err(r)),
    };
    let id = case_id(tx, uid, device_id).await?;
    let outcome = summary.result.summary.outcome.decision.as_str();
    let summary_json = String::from_utf8_lossy(part(o, "summary.json").unwrap_or_default()).into_owned();
    sqlx::query(
        "UPDATE cases SET patient = $2, machine_outcome = $3, \
         urgency = CASE WHEN status = 'open' THEN $4 ELSE urgency END, \
         closed_at = $5, summary = $6, fhir = $7, results_at = $8 WHERE id = $1",
    )
    .bind(id)
    .bind(&summary.session.patient)
    .bind(outcome)
    .bind(urgency(Some(summary.session.outcome.as_deref().unwrap_or(outcome))))
    .bind(summary.session.closed_at.unwrap_or(summary.result.decided_at))
    .bind(summary_json)
    .bind(fhir)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(Ok(()))
}

async fn file_photos(
    tx: &mut Transaction<'_, Any>,
    o: &Opened,
    uid: &str,
    device_id: &str,
) -> Result<Result<(), Refused>, Error> {
    let checked = (|| {
        let record: Record =
            serde_json::from_slice(part(o, "record.json")?).map_err(|_| Refused::Malformed("record.json"))?;
        if record.uid != uid || record.device.id != device_id {
            return Err(Refused::Malformed("record.json is about another session"));
        }
        if !part(o, "report.pdf")?.starts_with(b"%PDF-") {
            return Err(Refused::Malformed("report.pdf is not a PDF"));
        }
        for p in &o.parts {
            if p.name.starts_with("photos/") && !p.data.starts_with(&[0xFF, 0xD8]) {
                return Err(Refused::Malformed("a photo is not a JPEG"));
            }
        }
        Ok(record)
    })();
    let record = match checked {
        Ok(r) => r,
        Err(r) => return Ok(Err(r)),
    };
    let id = case_id(tx, uid, device_id).await?;
    let outcome = record.result.summary.outcome.decision.as_str();
    let record_json = String::from_utf8_lossy(part(o, "record.json").unwrap_or_default()).into_owned();
    // The results bundle, when it came, already set these; the photos
    // bundle fills them when it comes first.
    sqlx::query(
        "UPDATE cases SET record = $2, photos_at = $3, patient = COALESCE(patient, $4), \
         machine_outcome = COALESCE(machine_outcome, $5), \
         urgency = CASE WHEN status = 'open' AND machine_outcome IS NULL THEN $6 ELSE urgency END, \
         closed_at = COALESCE(closed_at, $7) WHERE id = $1",
    )
    .bind(id)
    .bind(record_json)
    .bind(now_ms())
    .bind(&record.session.patient)
    .bind(outcome)
    .bind(urgency(Some(record.session.outcome.as_deref().unwrap_or(outcome))))
    .bind(record.session.closed_at.unwrap_or(record.result.decided_at))
    .execute(&mut **tx)
    .await?;
    for p in &o.parts {
        if p.name == "report.pdf" || p.name.starts_with("photos/") {
            sqlx::query(
                "INSERT INTO case_files (case_id, name, content_type, data) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (case_id, name) DO NOTHING",
            )
            .bind(id)
            .bind(&p.name)
            .bind(&p.content_type)
            .bind(&p.data)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(Ok(()))
}
