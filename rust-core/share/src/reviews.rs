//! The hospital's reviews of this device's sessions, back to the device
//! (docs/wire-format.md, "Reviews back to the device"): `GET /api/v1/reviews`
//! and `POST /api/v1/reviews/ack`, both signed with the device key, on the
//! origin of the hospital's tus endpoint. This module talks and parses; the
//! façade (`hemalens-screener`) applies each review to the records store and
//! decides what to acknowledge.
//!
//! A review this version cannot use (an unknown `kind`, a member missing or
//! out of range) is not a failure: it comes back as [`Entry::Unusable`], to be
//! skipped and still acknowledged, so that it does not block the ones behind
//! it. Errors and logs name codes and counts only, never a reviewer, a note
//! or a session.

use hemalens_core::session::Decision;
use serde_json::Value;

use crate::upload::{target_of, transport_code, Signer};

/// The review pull, on the hospital's origin.
pub const REVIEWS_PATH: &str = "/api/v1/reviews";
/// The acknowledgement, on the hospital's origin.
pub const ACK_PATH: &str = "/api/v1/reviews/ack";
/// The largest answer read (a page holds at most 200 reviews).
pub const MAX_ANSWER_BYTES: u64 = 4 << 20;
/// The longest note taken (bytes); a longer one makes the review unusable.
pub const MAX_NOTE_BYTES: usize = 16 * 1024;

/// What the reviewer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A label for one cell: `field` is the field's `seq`, `cell` the cell's
    /// index in that field's report, `label` a class label of the pack.
    RelabelCell { field: i64, cell: i64, label: String },
    /// Agrees with the session's outcome.
    Confirm,
    /// An outcome of the reviewer's own.
    OverrideOutcome(Decision),
}

/// One review as the hospital sent it.
#[derive(Clone, PartialEq, Eq)]
pub struct Review {
    /// The hospital's id for it (what is acknowledged, and taken once).
    pub id: String,
    /// `<device id>-<session number>`.
    pub session_uid: String,
    pub action: Action,
    /// The reviewer's display name at the hospital.
    pub reviewer: String,
    /// When it was made (ms since the Unix epoch, UTC, the hospital's clock).
    pub at: i64,
    pub note: Option<String>,
}

/// `Debug` leaves out the reviewer and the note.
impl std::fmt::Debug for Review {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Review")
            .field("id", &self.id)
            .field("session_uid", &self.session_uid)
            .field("action", &self.action)
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

/// Why a review cannot be used by this version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    /// A `kind` this version does not know (a newer hospital).
    UnknownKind,
    /// A member missing, of the wrong type or out of range.
    Malformed,
}

/// One entry of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Review(Review),
    /// Skipped; acknowledged when it has a readable `id`.
    Unusable {
        id: Option<String>,
        why: Unusable,
    },
}

impl Entry {
    /// The id to acknowledge, when readable.
    pub fn id(&self) -> Option<&str> {
        match self {
            Self::Review(r) => Some(&r.id),
            Self::Unusable { id, .. } => id.as_deref(),
        }
    }
}

/// One answer of `GET /api/v1/reviews`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Oldest first.
    pub entries: Vec<Entry>,
    /// Further reviews wait: ask again after acknowledging these.
    pub more: bool,
}

/// Why talking to the hospital's review API failed. `Display` names no
/// patient, reviewer or note.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The hospital's address is not an http(s) URL.
    #[error("the hospital's address is not an http(s) URL")]
    BadUrl,
    /// No answer: `timeout`, `no_connection`, `link_dropped` or `network`.
    #[error("the hospital cannot be reached ({0})")]
    Network(&'static str),
    /// `401` or `403`: the device is not enrolled (or revoked), or its clock
    /// is more than 5 minutes off.
    #[error("the hospital did not accept this device's signature (HTTP {0}): is the device enrolled and its clock right?")]
    NotAccepted(u16),
    /// Any other unexpected status.
    #[error("the hospital answered HTTP {0}")]
    Status(u16),
    /// The answer is not the JSON the contract describes (or too large).
    #[error("the hospital's answer cannot be read")]
    BadAnswer,
}

impl Error {
    /// A stable code: `bad_url`, `timeout`, `no_connection`, `link_dropped`,
    /// `network`, `http_<status>`, `bad_answer`.
    pub fn code(&self) -> String {
        match self {
            Self::BadUrl => "bad_url".into(),
            Self::Network(c) => (*c).into(),
            Self::NotAccepted(s) | Self::Status(s) => format!("http_{s}"),
            Self::BadAnswer => "bad_answer".into(),
        }
    }
}

/// `scheme://host[:port]` of the hospital's tus endpoint, where its review API lives.
pub fn origin(endpoint: &str) -> Result<String, Error> {
    let uri: ureq::http::Uri = endpoint.parse().map_err(|_| Error::BadUrl)?;
    match (uri.scheme_str(), uri.authority()) {
        (Some(s @ ("http" | "https")), Some(a)) => Ok(format!("{s}://{a}")),
        _ => Err(Error::BadUrl),
    }
}

fn text(v: &Value, name: &str, max: usize) -> Option<String> {
    v.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty() && s.len() <= max && !s.chars().any(char::is_control))
        .map(str::to_string)
}

fn index(v: &Value, name: &str) -> Option<i64> {
    v.get(name).and_then(Value::as_i64).filter(|n| *n >= 0)
}

/// One entry of the `reviews` array.
fn entry(v: &Value) -> Entry {
    let id = v
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string);
    let Some(id) = id else { return Entry::Unusable { id: None, why: Unusable::Malformed } };
    let unusable = |why| Entry::Unusable { id: Some(id.clone()), why };
    let action = match v.get("kind").and_then(Value::as_str) {
        Some("relabel_cell") => match (index(v, "field"), index(v, "cell"), text(v, "label", 128)) {
            (Some(field), Some(cell), Some(label)) => Action::RelabelCell { field, cell, label },
            _ => return unusable(Unusable::Malformed),
        },
        Some("confirm") => Action::Confirm,
        Some("override_outcome") => {
            match v.get("outcome").and_then(Value::as_str).and_then(Decision::parse) {
                Some(d) => Action::OverrideOutcome(d),
                None => return unusable(Unusable::Malformed),
            }
        }
        Some(_) => return unusable(Unusable::UnknownKind),
        None => return unusable(Unusable::Malformed),
    };
    let note = match v.get("note") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.len() <= MAX_NOTE_BYTES => Some(s.clone()),
        Some(_) => return unusable(Unusable::Malformed),
    };
    match (text(v, "session_uid", 128), text(v, "reviewer", 128), v.get("at").and_then(Value::as_i64)) {
        (Some(session_uid), Some(reviewer), Some(at)) => {
            Entry::Review(Review { id, session_uid, action, reviewer, at, note })
        }
        _ => unusable(Unusable::Malformed),
    }
}

/// Parses an answer of `GET /api/v1/reviews`. Members this version does not
/// know are ignored; an entry it cannot use is [`Entry::Unusable`]; only an
/// answer without a `reviews` array is an error.
pub fn parse_page(bytes: &[u8]) -> Result<Page, Error> {
    let v: Value = serde_json::from_slice(bytes).map_err(|_| Error::BadAnswer)?;
    let reviews = v.get("reviews").and_then(Value::as_array).ok_or(Error::BadAnswer)?;
    let more = match v.get("more") {
        None | Some(Value::Null) => false,
        Some(m) => m.as_bool().ok_or(Error::BadAnswer)?,
    };
    Ok(Page { entries: reviews.iter().map(entry).collect(), more })
}

/// The body of `POST /api/v1/reviews/ack`.
pub fn ack_body(ids: &[&str]) -> Vec<u8> {
    serde_json::json!({ "ids": ids }).to_string().into_bytes()
}

fn status(s: u16) -> Error {
    match s {
        401 | 403 => Error::NotAccepted(s),
        s => Error::Status(s),
    }
}

/// Asks the hospital whose tus endpoint is `endpoint` for the reviews this
/// device has not acknowledged yet (one page).
pub fn pull(agent: &ureq::Agent, endpoint: &str, signer: &Signer<'_>) -> Result<Page, Error> {
    let url = format!("{}{REVIEWS_PATH}", origin(endpoint)?);
    let target = target_of(&url).ok_or(Error::BadUrl)?;
    let mut req = agent.get(&url).header("Accept", "application/json");
    for (name, value) in signer.headers("GET", &target, b"", None, None) {
        req = req.header(name, value);
    }
    let mut r = req.call().map_err(|e| Error::Network(transport_code(&e)))?;
    if r.status() != 200 {
        return Err(status(r.status().as_u16()));
    }
    let body = r.body_mut().with_config().limit(MAX_ANSWER_BYTES).read_to_vec().map_err(|e| match e {
        ureq::Error::BodyExceedsLimit(_) => Error::BadAnswer,
        e => Error::Network(transport_code(&e)),
    })?;
    let page = parse_page(&body)?;
    log::debug!("reviews: {} entries, more: {}", page.entries.len(), page.more);
    Ok(page)
}

/// Acknowledges `ids` (applied or skipped): the hospital does not send them again.
pub fn ack(agent: &ureq::Agent, endpoint: &str, signer: &Signer<'_>, ids: &[&str]) -> Result<(), Error> {
    let url = format!("{}{ACK_PATH}", origin(endpoint)?);
    let target = target_of(&url).ok_or(Error::BadUrl)?;
    let body = ack_body(ids);
    let mut req = agent.post(&url).header("Content-Type", "application/json");
    for (name, value) in signer.headers("POST", &target, &body, None, None) {
        req = req.header(name, value);
    }
    let r = req.send(&body[..]).map_err(|e| Error::Network(transport_code(&e)))?;
    match r.status().as_u16() {
        200..=299 => Ok(()),
        s => Err(status(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contracts_example_parses() {
        let page = parse_page(
            br#"{"reviews": [
              {"id": "9f0c0000000000000000000000000001", "session_uid": "19ce9d10e703a8bd-1", "kind": "relabel_cell",
               "field": 3, "cell": 1, "label": "lymphocyte",
               "reviewer": "Dr A. Mensah", "at": 1765000000000, "note": null},
              {"id": "a2", "session_uid": "19ce9d10e703a8bd-1", "kind": "confirm", "reviewer": "Dr B", "at": 0, "note": "agree"},
              {"id": "a3", "session_uid": "19ce9d10e703a8bd-2", "kind": "override_outcome", "outcome": "refer",
               "reviewer": "Dr B", "at": 0, "note": "blasts on field 4"}
            ], "more": false}"#,
        )
        .unwrap();
        assert!(!page.more);
        assert_eq!(
            page.entries[0],
            Entry::Review(Review {
                id: "9f0c0000000000000000000000000001".into(),
                session_uid: "19ce9d10e703a8bd-1".into(),
                action: Action::RelabelCell { field: 3, cell: 1, label: "lymphocyte".into() },
                reviewer: "Dr A. Mensah".into(),
                at: 1_765_000_000_000,
                note: None,
            })
        );
        let Entry::Review(confirm) = &page.entries[1] else { panic!("{:?}", page.entries[1]) };
        assert_eq!((&confirm.action, confirm.note.as_deref()), (&Action::Confirm, Some("agree")));
        let Entry::Review(over) = &page.entries[2] else { panic!("{:?}", page.entries[2]) };
        assert_eq!(over.action, Action::OverrideOutcome(Decision::Refer));
        assert!(!format!("{over:?}").contains("blasts"), "Debug leaves the note out");
        assert!(!format!("{over:?}").contains("Dr B"), "Debug leaves the reviewer out");
    }

    #[test]
    fn an_unknown_kind_or_a_bad_member_is_skipped_not_a_failure() {
        let page = parse_page(
            br#"{"reviews": [
              {"id": "k1", "session_uid": "d-1", "kind": "comment", "reviewer": "R", "at": 1, "text": "hi"},
              {"id": "k2", "session_uid": "d-1", "kind": "relabel_cell", "field": 0, "reviewer": "R", "at": 1},
              {"id": "k3", "session_uid": "d-1", "kind": "relabel_cell", "field": -1, "cell": 0, "label": "ig", "reviewer": "R", "at": 1},
              {"id": "k4", "session_uid": "d-1", "kind": "override_outcome", "outcome": "cured", "reviewer": "R", "at": 1},
              {"id": "k5", "session_uid": "d-1", "kind": "confirm", "reviewer": "", "at": 1},
              {"id": "k6", "session_uid": "d-1", "kind": "confirm", "reviewer": "R", "at": "yesterday"},
              {"id": "k7", "session_uid": "d-1", "kind": "confirm", "reviewer": "R", "at": 1, "note": 7},
              {"id": "k8", "kind": "confirm", "reviewer": "R", "at": 1},
              {"id": "k9", "session_uid": "d-1", "reviewer": "R", "at": 1},
              {"session_uid": "d-1", "kind": "confirm", "reviewer": "R", "at": 1},
              {"id": "has space", "session_uid": "d-1", "kind": "confirm", "reviewer": "R", "at": 1},
              "not an object",
              {"id": "ok", "session_uid": "d-1", "kind": "confirm", "reviewer": "R", "at": 1, "extra": {"new": true}}
            ], "more": true, "next": "ignored"}"#,
        )
        .unwrap();
        assert!(page.more);
        let got: Vec<(Option<&str>, Option<Unusable>)> = page
            .entries
            .iter()
            .map(|e| match e {
                Entry::Review(r) => (Some(r.id.as_str()), None),
                Entry::Unusable { id, why } => (id.as_deref(), Some(*why)),
            })
            .collect();
        use Unusable::{Malformed as M, UnknownKind as U};
        assert_eq!(
            got,
            [
                (Some("k1"), Some(U)),
                (Some("k2"), Some(M)),
                (Some("k3"), Some(M)),
                (Some("k4"), Some(M)),
                (Some("k5"), Some(M)),
                (Some("k6"), Some(M)),
                (Some("k7"), Some(M)),
                (Some("k8"), Some(M)),
                (Some("k9"), Some(M)),
                (None, Some(M)),
                (None, Some(M)),
                (None, Some(M)),
                (Some("ok"), None),
            ]
        );
        assert_eq!(page.entries[0].id(), Some("k1"));
    }

    #[test]
    fn an_answer_without_reviews_is_an_error() {
        for bad in [&b"<html>"[..], b"{}", br#"{"reviews": {}}"#, br#"{"reviews": [], "more": "yes"}"#] {
            assert_eq!(parse_page(bad), Err(Error::BadAnswer), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_page(br#"{"reviews": []}"#).unwrap(), Page { entries: vec![], more: false });
    }

    #[test]
    fn the_api_lives_on_the_endpoints_origin() {
        assert_eq!(origin("https://inbox.example.org/files/").unwrap(), "https://inbox.example.org");
        assert_eq!(origin("http://127.0.0.1:8080/tus/x?y=1").unwrap(), "http://127.0.0.1:8080");
        assert_eq!(origin("ftp://h/files/"), Err(Error::BadUrl));
        assert_eq!(origin("/files/"), Err(Error::BadUrl));
        assert_eq!(Error::NotAccepted(403).code(), "http_403");
        assert_eq!(Error::Network("timeout").code(), "timeout");
        assert_eq!(ack_body(&["a", "b"]), br#"{"ids":["a","b"]}"#.to_vec());
    }
}
