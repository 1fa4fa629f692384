//! One closed session as everything downstream reads it: the typed view of
//! the records store's export (`Store::export`), plus the identity that makes
//! the session unique outside this phone (`uid`: the device id and the
//! store's session number).

use hemalens_core::field::FieldReport;
use hemalens_core::session::Summary;
use serde::{Deserialize, Serialize};

use crate::Error;

/// Who produced the record: the device (its id is the first 16 hex digits of
/// the SHA-256 of its Ed25519 public key) and the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub id: String,
    pub app_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: i64,
    /// The pseudonymous patient code typed by the health worker.
    pub patient: String,
    /// Milliseconds since the Unix epoch (UTC).
    pub started_at: i64,
    pub closed_at: Option<i64>,
    pub app_version: String,
    /// The effective outcome (a reviewer's override replaces the machine's).
    pub outcome: Option<String>,
    /// `machine`, `reviewed`, ...
    pub review_state: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldRecord {
    pub seq: i64,
    /// The photo's name in the store (its SHA-256).
    pub photo: String,
    pub added_at: i64,
    pub report: FieldReport,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineResult {
    pub decided_at: i64,
    pub summary: Summary,
}

/// A human review: a relabelled cell, a confirmed or overridden outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    /// `relabel_cell`, `confirm` or `override_outcome`.
    pub kind: String,
    pub field: Option<i64>,
    pub cell: Option<i64>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub reviewer: String,
    pub at: i64,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: i64,
    pub who: String,
    pub action: String,
    #[serde(default)]
    pub detail: serde_json::Value,
}

/// A closed session, ready to be shared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Unique beyond this phone: `<device id>-<session number>`.
    pub uid: String,
    pub device: Device,
    pub session: SessionInfo,
    pub fields: Vec<FieldRecord>,
    pub result: MachineResult,
    pub reviews: Vec<Review>,
    pub audit: Vec<AuditEntry>,
}

#[derive(Deserialize)]
struct Export {
    session: SessionInfo,
    fields: Vec<FieldRecord>,
    result: Option<MachineResult>,
    #[serde(default)]
    reviews: Vec<Review>,
    #[serde(default)]
    audit: Vec<AuditEntry>,
}

impl Record {
    /// Reads the store's export of one session. An open session (no machine
    /// result yet) is refused: what leaves the phone is final.
    pub fn from_export(export: &serde_json::Value, device: Device) -> Result<Self, Error> {
        let e = Export::deserialize(export).map_err(|e| Error::Record(shape_problem(&e)))?;
        let result = e.result.ok_or(Error::SessionOpen)?;
        Ok(Self {
            uid: format!("{}-{}", device.id, e.session.id),
            device,
            session: e.session,
            fields: e.fields,
            result,
            reviews: e.reviews,
            audit: e.audit,
        })
    }

    /// The machine's summary at closing (counts, intervals, screen, outcome, provenance).
    pub fn summary(&self) -> &Summary {
        &self.result.summary
    }

    /// The outcome that stands: a reviewer's override, else the machine's.
    pub fn outcome(&self) -> &str {
        self.session.outcome.as_deref().unwrap_or(self.result.summary.outcome.decision.as_str())
    }

    /// Whether a reviewer has confirmed or overridden the outcome.
    pub fn reviewed(&self) -> bool {
        self.reviews.iter().any(|r| r.kind == "confirm" || r.kind == "override_outcome")
    }

    /// Who started the session (the operator), from the audit trail.
    pub fn operator(&self) -> Option<&str> {
        self.audit.iter().find(|a| a.action == "start_session").map(|a| a.who.as_str())
    }

    /// Whether the machine counted `cell` of `field` in the differential, by
    /// the session's own rule (`session::counts_as_typed`) with the thresholds
    /// its provenance records (a record from before a threshold existed is
    /// judged without it, as it was). The rest are "uncertain" and shown apart
    /// for review.
    pub fn machine_counted(&self, field: &FieldRecord, cell: &hemalens_core::field::Cell) -> bool {
        let th = &self.summary().provenance.thresholds;
        let min_conf = th.get("wbc-type.min_confidence").copied().unwrap_or(0.0);
        let field_line = th.get("all-screen.cells_field_malignant_prob").copied();
        hemalens_core::session::counts_as_typed(&field.report, cell, min_conf, field_line)
    }

    /// The site profile the fields were read with, if any.
    pub fn site(&self) -> Option<&hemalens_core::site::SiteRef> {
        self.result.summary.provenance.site.as_ref()
    }
}

/// What is wrong with a record's shape, in words that repeat none of its
/// values: serde's own text quotes them (`invalid type: string "P-0042"`),
/// and a record holds a patient's code. Member names are the format's own.
pub(crate) fn shape_problem(e: &serde_json::Error) -> String {
    let text = e.to_string();
    if let Some(rest) = text.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or_default();
        let known = name.chars().all(|c| c.is_ascii_lowercase() || c == '_') && name.len() <= 40;
        return if known { format!("the member `{name}` is missing") } else { shape::MISSING.into() };
    }
    let what = [
        ("invalid type", shape::WRONG_TYPE),
        ("invalid value", shape::OUT_OF_RANGE),
        ("unknown variant", shape::UNKNOWN_VALUE),
        ("invalid length", shape::WRONG_LENGTH),
        ("duplicate field", shape::TWICE),
    ]
    .into_iter()
    .find_map(|(serde_says, we_say)| text.starts_with(serde_says).then_some(we_say))
    .unwrap_or(shape::OTHER);
    what.to_string()
}

/// The fixed words an export's shape problems are told in (never a value of
/// the export; a missing member is named only when it is one of the format's
/// own names). Public so the fuzz target can tell these words from a leak.
pub mod shape {
    pub const MISSING: &str = "a member is missing";
    pub const WRONG_TYPE: &str = "a member has the wrong type";
    pub const OUT_OF_RANGE: &str = "a member has a value out of range";
    pub const UNKNOWN_VALUE: &str = "a member has a value this version does not know";
    pub const WRONG_LENGTH: &str = "a list has the wrong length";
    pub const TWICE: &str = "a member is given twice";
    pub const OTHER: &str = "it does not have the shape this version reads";
    /// All of them.
    pub const ALL: [&str; 7] = [MISSING, WRONG_TYPE, OUT_OF_RANGE, UNKNOWN_VALUE, WRONG_LENGTH, TWICE, OTHER];
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A real export (one closed session of the demo photo plus one review),
    /// written by `hemalens session export`.
    pub(crate) fn sample() -> Record {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../tests/fixtures/export.json")).expect("fixture");
        Record::from_export(&v, Device { id: "0123456789abcdef".into(), app_version: "0.1.0".into() })
            .expect("record")
    }

    #[test]
    fn reads_a_real_export() {
        let r = sample();
        assert_eq!(r.uid, format!("0123456789abcdef-{}", r.session.id));
        assert!(!r.fields.is_empty());
        assert_eq!(r.operator(), Some("hw-amina"));
    }

    #[test]
    fn a_cell_is_counted_by_the_session_rule_with_the_recorded_thresholds() {
        let mut r = sample();
        r.result.summary.provenance.thresholds.insert("wbc-type.min_confidence".into(), 0.0);
        let (fi, ci) = r
            .fields
            .iter()
            .enumerate()
            .find_map(|(fi, f)| {
                f.report.cells.iter().position(|c| r.machine_counted(f, c)).map(|ci| (fi, ci))
            })
            .expect("the demo session counts a cell");
        let counted = |r: &Record| r.machine_counted(&r.fields[fi], &r.fields[fi].report.cells[ci]);
        // This export predates the field line: judged without it, as it was.
        assert!(!r.summary().provenance.thresholds.contains_key("all-screen.cells_field_malignant_prob"));
        let th = &mut r.result.summary.provenance.thresholds;
        th.insert("all-screen.cells_field_malignant_prob".into(), 1.5);
        assert!(counted(&r));
        // A field at or above the recorded line: none of its cells is counted.
        let th = &mut r.result.summary.provenance.thresholds;
        th.insert("all-screen.cells_field_malignant_prob".into(), 0.0);
        assert!(!counted(&r));
    }

    #[test]
    fn an_open_session_is_refused() {
        let mut v: serde_json::Value =
            serde_json::from_str(include_str!("../tests/fixtures/export.json")).expect("fixture");
        v["result"] = serde_json::Value::Null;
        let e = Record::from_export(&v, Device { id: "x".into(), app_version: "0".into() });
        assert!(matches!(e, Err(Error::SessionOpen)));
    }

    #[test]
    fn a_misshapen_record_is_refused_without_repeating_its_values() {
        // Found by the record_import fuzz target: serde's text quoted the value.
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../tests/fixtures/export.json")).expect("fixture");
        let device = || Device { id: "x".into(), app_version: "0".into() };
        let mut cases = Vec::new();
        let mut v = fixture.clone();
        v["session"]["id"] = "PATIENT-SECRET-0042".into();
        cases.push(v);
        let mut v = fixture.clone();
        v["session"]["started_at"] = "PATIENT-SECRET-0042".into();
        cases.push(v);
        cases.push(serde_json::json!("PATIENT-SECRET-0042"));
        let mut v = fixture.clone();
        v["fields"] = serde_json::json!([{"seq": "PATIENT-SECRET-0042"}]);
        cases.push(v);
        for v in cases {
            let e = Record::from_export(&v, device()).expect_err("refused");
            assert!(matches!(e, Error::Record(_)), "{e}");
            assert!(!e.to_string().contains("SECRET"), "{e}");
        }
        let mut v = fixture;
        v.as_object_mut().expect("object").remove("session");
        let e = Record::from_export(&v, device()).expect_err("refused").to_string();
        assert!(e.contains("the member `session` is missing"), "{e}");
    }

    #[test]
    fn each_shape_problem_is_told_in_its_own_fixed_words() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct One {
            member_a: u8,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        enum Kind {
            Known,
        }
        let said = |e: serde_json::Error| shape_problem(&e);
        assert_eq!(said(serde_json::from_str::<u8>("\"SECRET\"").unwrap_err()), shape::WRONG_TYPE);
        assert_eq!(said(serde_json::from_str::<u8>("300").unwrap_err()), shape::OUT_OF_RANGE);
        assert_eq!(said(serde_json::from_str::<Kind>("\"SECRET\"").unwrap_err()), shape::UNKNOWN_VALUE);
        assert_eq!(said(serde_json::from_str::<(u8, u8)>("[1]").unwrap_err()), shape::WRONG_LENGTH);
        assert_eq!(
            said(serde_json::from_str::<One>(r#"{"member_a":1,"member_a":2}"#).unwrap_err()),
            shape::TWICE
        );
        assert_eq!(said(serde_json::from_str::<One>("{}").unwrap_err()), "the member `member_a` is missing");
        assert_eq!(said(serde_json::from_str::<One>(r#"{"SECRET":1}"#).unwrap_err()), shape::OTHER);
        assert_eq!(said(serde_json::from_str::<One>("{").unwrap_err()), shape::OTHER);
        // A name that is not one of the format's own is not repeated.
        let e = serde::de::Error::missing_field("SECRET");
        assert_eq!(said(e), shape::MISSING);
    }
}
