//! The session as a FHIR R4 (4.0.1) `Bundle` of type `collection`: one
//! `DiagnosticReport` (status `preliminary` until a reviewer confirms or
//! overrides the outcome, then `final`), a pseudonymous `Patient`, the
//! `Specimen`, one `Observation` per white-cell class of the differential
//! (LOINC automated-count codes, the value in percent, the Wilson 95%
//! interval and the counts as components), one for the leukaemia screen
//! (local code: LOINC has none for it), one for the evidence collected
//! (fields, cells, platelets seen), a `Media` per overlay when any are given,
//! a `Device` for the app and one per model pack, and a `Provenance`.
//!
//! Every `fullUrl` is a `urn:uuid:` made from the record's `uid` (UUID v8 over
//! SHA-256), so exporting the same session twice gives the same ids. The
//! mapping, each code and where it was checked: `docs/fhir.md`.

use crate::Record;
use base64::Engine;
use hemalens_core::session::{ClassCount, Decision};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// An image that travels as a FHIR `Media` (an overlay of one field).
#[derive(Debug, Clone)]
pub struct Media {
    pub field_seq: i64,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// The project's namespace for what no standard code system names.
pub const BASE: &str = "https://hemalens.org/fhir";
/// Local codes of the observations and their components (the screen, the
/// evidence, counts, the 95% interval).
pub const CS_OBSERVATION: &str = "https://hemalens.org/fhir/CodeSystem/observation";
/// The session's outcome (`DiagnosticReport.conclusionCode`).
pub const CS_OUTCOME: &str = "https://hemalens.org/fhir/CodeSystem/outcome";
/// The classes of the `all-screen` pack.
pub const CS_SCREEN_CLASS: &str = "https://hemalens.org/fhir/CodeSystem/screen-class";
/// Identifier systems: the session (`<device id>-<n>`), the device, a model
/// pack's SHA-256.
pub const SID_SESSION: &str = "https://hemalens.org/fhir/sid/session";
pub const SID_DEVICE: &str = "https://hemalens.org/fhir/sid/device";
pub const SID_MODEL_SHA256: &str = "https://hemalens.org/fhir/sid/model-sha256";

const LOINC: &str = "http://loinc.org";
const UCUM: &str = "http://unitsofmeasure.org";
const SNOMED: &str = "http://snomed.info/sct";
const V2_0074: &str = "http://terminology.hl7.org/CodeSystem/v2-0074";
const OBS_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const DATA_ABSENT: &str = "http://terminology.hl7.org/CodeSystem/data-absent-reason";
const MEDIA_TYPE: &str = "http://terminology.hl7.org/CodeSystem/media-type";
const PROV_TYPE: &str = "http://terminology.hl7.org/CodeSystem/provenance-participant-type";

/// The report's code: LOINC 57023-4.
pub const PANEL: (&str, &str) = ("57023-4", "Auto Differential panel - Blood");

/// One white-cell class of the differential and its LOINC code.
#[derive(Debug, Clone, Copy)]
pub struct ClassCode {
    /// The `wbc-type` pack's label.
    pub label: &'static str,
    pub loinc: &'static str,
    /// LOINC's long common name.
    pub display: &'static str,
    /// What people read.
    pub text: &'static str,
    /// UCUM code of the value (LOINC's example unit for the term).
    pub unit: &'static str,
}

/// The classes in the order a differential is usually read (neutrophils
/// first); a label a newer pack adds gets a local code after these.
pub const CLASSES: [ClassCode; 7] = [
    ClassCode {
        label: "neutrophil",
        loinc: "770-8",
        display: "Neutrophils/Leukocytes in Blood by Automated count",
        text: "Neutrophils",
        unit: "%",
    },
    ClassCode {
        label: "lymphocyte",
        loinc: "736-9",
        display: "Lymphocytes/Leukocytes in Blood by Automated count",
        text: "Lymphocytes",
        unit: "%",
    },
    ClassCode {
        label: "monocyte",
        loinc: "5905-5",
        display: "Monocytes/Leukocytes in Blood by Automated count",
        text: "Monocytes",
        unit: "%",
    },
    ClassCode {
        label: "eosinophil",
        loinc: "713-8",
        display: "Eosinophils/Leukocytes in Blood by Automated count",
        text: "Eosinophils",
        unit: "%",
    },
    ClassCode {
        label: "basophil",
        loinc: "706-2",
        display: "Basophils/Leukocytes in Blood by Automated count",
        text: "Basophils",
        unit: "%",
    },
    ClassCode {
        label: "ig",
        loinc: "71695-1",
        display: "Immature granulocytes/Leukocytes in Blood by Automated count",
        text: "Immature granulocytes",
        unit: "%",
    },
    ClassCode {
        label: "erythroblast",
        loinc: "58413-6",
        display: "Nucleated erythrocytes/Leukocytes [Ratio] in Blood by Automated count",
        text: "Nucleated red cells (erythroblasts) per 100 white cells",
        unit: "/100{WBCs}",
    },
];

/// A deterministic UUID (version 8, RFC 9562) for one resource of one
/// session: the first 128 bits of SHA-256("hemalens-fhir/1\n" uid "\n" key)
/// with the version and variant bits set.
pub fn resource_uuid(uid: &str, key: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"hemalens-fhir/1\n");
    h.update(uid.as_bytes());
    h.update(b"\n");
    h.update(key.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &x[..8], &x[8..12], &x[12..16], &x[16..20], &x[20..])
}

/// Milliseconds since the Unix epoch as a FHIR `instant` (UTC, milliseconds).
pub fn instant(ms: i64) -> String {
    let t = crate::time::Utc::from_ms(ms);
    format!("{}T{:02}:{:02}:{:02}.{:03}Z", t.date(), t.hour, t.minute, t.second, t.milli)
}

/// A percentage from a fraction, to 0.01.
fn pct(x: f64) -> f64 {
    (x * 10_000.0).round() / 100.0
}

/// What people read for an outcome code.
pub fn outcome_display(code: &str) -> String {
    match Decision::parse(code) {
        Some(Decision::Refer) => "Refer".into(),
        Some(Decision::NoAbnormalityDetected) => "No abnormality detected".into(),
        Some(Decision::Inconclusive) => "Inconclusive".into(),
        None => code.to_string(),
    }
}

fn screen_class_display(label: &str) -> String {
    match label {
        "benign" => "Benign (no leukaemic blasts)".into(),
        "malignant_early_pre_b" => "Malignant: early pre-B acute lymphoblastic leukaemia blasts".into(),
        "malignant_pre_b" => "Malignant: pre-B acute lymphoblastic leukaemia blasts".into(),
        "malignant_pro_b" => "Malignant: pro-B acute lymphoblastic leukaemia blasts".into(),
        other => other.to_string(),
    }
}

/// The resource ids of one bundle, and references to them.
struct Ids<'a> {
    uid: &'a str,
}

impl Ids<'_> {
    fn id(&self, key: &str) -> String {
        resource_uuid(self.uid, key)
    }
    fn url(&self, key: &str) -> String {
        format!("urn:uuid:{}", self.id(key))
    }
    fn reference(&self, key: &str) -> Value {
        json!({ "reference": self.url(key) })
    }
}

fn coding(system: &str, code: &str, display: &str) -> Value {
    json!({ "system": system, "code": code, "display": display })
}

fn local(code: &str, display: &str) -> Value {
    json!({ "coding": [coding(CS_OBSERVATION, code, display)] })
}

fn quantity(value: f64, unit: &str) -> Value {
    let shown = if unit == "/100{WBCs}" { "/100 WBC" } else { unit };
    json!({ "value": value, "unit": shown, "system": UCUM, "code": unit })
}

fn int_component(code: &str, display: &str, value: u32) -> Value {
    json!({ "code": local(code, display), "valueInteger": value })
}

fn laboratory() -> Value {
    json!([{ "coding": [coding(OBS_CATEGORY, "laboratory", "Laboratory")] }])
}

/// Everything the observations share.
struct Common {
    status: &'static str,
    subject: Value,
    specimen: Value,
    effective: Value,
    issued: String,
}

impl Common {
    fn observation(&self, id: String, code: Value) -> Map<String, Value> {
        let mut o = Map::new();
        o.insert("resourceType".into(), json!("Observation"));
        o.insert("id".into(), json!(id));
        o.insert("status".into(), json!(self.status));
        o.insert("category".into(), laboratory());
        o.insert("code".into(), code);
        o.insert("subject".into(), self.subject.clone());
        o.insert("effectivePeriod".into(), self.effective.clone());
        o.insert("issued".into(), json!(self.issued));
        o.insert("specimen".into(), self.specimen.clone());
        o
    }
}

/// The Bundle (type `collection`) as JSON. `media` may be empty (the
/// results-only bundle); then no `Media` resource carries image data.
pub fn bundle(record: &Record, media: &[Media]) -> Value {
    let ids = Ids { uid: &record.uid };
    let s = record.summary();
    let reviewed = record.reviewed();
    let status = if reviewed { "final" } else { "preliminary" };
    let closed = record.session.closed_at.unwrap_or(record.result.decided_at);
    // The version of the report: the machine's result, or the review that made it final.
    let issued_ms = record
        .reviews
        .iter()
        .filter(|r| r.kind == "confirm" || r.kind == "override_outcome")
        .map(|r| r.at)
        .max()
        .unwrap_or(record.result.decided_at);
    let common = Common {
        status,
        subject: ids.reference("patient"),
        specimen: ids.reference("specimen"),
        effective: json!({ "start": instant(record.session.started_at), "end": instant(closed) }),
        issued: instant(issued_ms),
    };
    let model_key = |id: &str| format!("device:model:{id}");
    let model_ref =
        |id: &str| s.provenance.models.iter().any(|m| m.id == id).then(|| ids.reference(&model_key(id)));

    let mut entries: Vec<(String, Value)> = Vec::new();
    let mut results: Vec<Value> = Vec::new();
    let mut targets: Vec<Value> = vec![ids.reference("report")];

    // The differential: one Observation per class.
    let mut ordered: Vec<(&ClassCount, Option<&ClassCode>)> = Vec::new();
    for code in &CLASSES {
        if let Some(c) = s.differential.iter().find(|c| c.label == code.label) {
            ordered.push((c, Some(code)));
        }
    }
    for c in &s.differential {
        if !CLASSES.iter().any(|k| k.label == c.label) {
            ordered.push((c, None));
        }
    }
    for (c, code) in ordered {
        let key = format!("obs:{}", c.label);
        let unit = code.map_or("%", |k| k.unit);
        let concept = match code {
            Some(k) => json!({ "coding": [coding(LOINC, k.loinc, k.display)], "text": k.text }),
            None => local(&format!("class-{}", c.label), &format!("{} per 100 white cells", c.label)),
        };
        let mut o = common.observation(ids.id(&key), concept);
        let p = &c.proportion;
        if p.n > 0 {
            o.insert("valueQuantity".into(), quantity(pct(p.p), unit));
        } else {
            o.insert(
                "dataAbsentReason".into(),
                json!({ "coding": [coding(DATA_ABSENT, "unknown", "Unknown")],
                        "text": "No confident white cells were counted: the proportion is undefined." }),
            );
        }
        let th = &s.provenance.thresholds;
        if let (Some(lo), Some(hi)) = (
            th.get(&format!("wbc-type.differential_{}_low", c.label)),
            th.get(&format!("wbc-type.differential_{}_high", c.label)),
        ) {
            o.insert(
                "referenceRange".into(),
                json!([{ "low": quantity(pct(*lo), unit), "high": quantity(pct(*hi), unit),
                         "text": "Expected by the screening rule (wbc-type pack)" }]),
            );
        }
        o.insert(
            "component".into(),
            json!([
                int_component("class-count", "Cells of this class counted", p.k),
                int_component("cells-counted", "Confident white cells counted (the denominator)", p.n),
                { "code": local("ci95", "95% confidence interval (Wilson score)"),
                  "valueRange": { "low": quantity(pct(p.low), unit), "high": quantity(pct(p.high), unit) } }
            ]),
        );
        o.insert(
            "note".into(),
            json!([{ "text": format!(
                "{} of {} confident white cells ({:.1}%, 95% CI {:.1}% to {:.1}%, Wilson score).",
                p.k, p.n, 100.0 * p.p, 100.0 * p.low, 100.0 * p.high
            ) }]),
        );
        o.insert(
            "method".into(),
            json!({ "text": "Image analysis of smear photos (Hemalens, wbc-type pack)" }),
        );
        if let Some(d) = model_ref("wbc-type") {
            o.insert("device".into(), d);
        }
        results.push(ids.reference(&key));
        targets.push(ids.reference(&key));
        entries.push((key, Value::Object(o)));
    }

    // The leukaemia screen: no LOINC code exists for it.
    {
        let key = "obs:screen";
        let mut o = common.observation(
            ids.id(key),
            local(
                "all-screen",
                "B-lineage acute lymphoblastic leukaemia image screen: probability of malignant blasts",
            ),
        );
        match &s.screen {
            Some(scr) => {
                o.insert("valueQuantity".into(), quantity(pct(scr.malignant_prob), "%"));
                let mut comps = vec![
                    json!({ "code": local("screen-class", "Most likely class over the screened fields"),
                            "valueCodeableConcept": { "coding": [coding(CS_SCREEN_CLASS, &scr.label, &screen_class_display(&scr.label))] } }),
                    json!({ "code": local("screen-confidence", "Probability of the most likely class"),
                            "valueQuantity": quantity(pct(scr.confidence), "%") }),
                ];
                for (label, prob) in scr.probs.iter() {
                    comps.push(json!({ "code": { "coding": [coding(CS_SCREEN_CLASS, label, &screen_class_display(label))] },
                                       "valueQuantity": quantity(pct(prob), "%") }));
                }
                comps.push(int_component("fields-screened", "Accepted fields screened", scr.fields));
                comps.push(int_component(
                    "fields-unsure",
                    "Fields the screen was unsure about",
                    scr.unsure_fields,
                ));
                comps.push(json!({ "code": local("tiles-screened", "Tiles screened"),
                                   "valueInteger": u32::try_from(scr.tiles).unwrap_or(u32::MAX) }));
                o.insert("component".into(), Value::Array(comps));
            }
            None => {
                o.insert(
                    "dataAbsentReason".into(),
                    json!({ "coding": [coding(DATA_ABSENT, "not-performed", "Not Performed")],
                            "text": "No accepted field was screened." }),
                );
            }
        }
        let th = &s.provenance.thresholds;
        if let (Some(r), Some(c)) =
            (th.get("all-screen.refer_malignant_prob"), th.get("all-screen.clear_malignant_prob"))
        {
            o.insert(
                "note".into(),
                json!([{ "text": format!(
                    "Not a diagnosis. The session refers at {:.2}% or more and is clear at {:.2}% or less (all-screen pack thresholds); between them it is inconclusive.",
                    100.0 * r, 100.0 * c
                ) }]),
            );
        }
        o.insert(
            "method".into(),
            json!({ "text": "Image classification of smear photos in tiles (Hemalens, all-screen pack)" }),
        );
        if let Some(d) = model_ref("all-screen") {
            o.insert("device".into(), d);
        }
        results.push(ids.reference(key));
        targets.push(ids.reference(key));
        entries.push((key.to_string(), Value::Object(o)));
    }

    // The evidence: fields and cells, platelets seen.
    {
        let key = "obs:evidence";
        let mut o =
            common.observation(ids.id(key), local("smear-evidence", "Evidence collected from the smear"));
        o.insert(
            "component".into(),
            json!([
                int_component("fields-added", "Fields photographed", s.fields.added),
                int_component("fields-accepted", "Fields accepted by the quality gate", s.fields.accepted),
                int_component("fields-rejected", "Fields rejected by the quality gate", s.fields.rejected),
                int_component("cells-detected", "Cells detected", s.cells.detected),
                int_component(
                    "white-cells-confident",
                    "White cells classified confidently (the differential's denominator)",
                    s.cells.white
                ),
                int_component(
                    "white-cells-uncertain",
                    "White cells the model was unsure about (not in the differential)",
                    s.cells.uncertain
                ),
                int_component(
                    "platelets-seen",
                    "Platelets seen in the fields (a count of objects, not a concentration)",
                    s.cells.platelets
                ),
            ]),
        );
        if !s.fields.rejected_by_issue.is_empty() {
            let why: Vec<String> =
                s.fields.rejected_by_issue.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            o.insert(
                "note".into(),
                json!([{ "text": format!("Fields rejected, by issue: {}.", why.join(", ")) }]),
            );
        }
        if let Some(d) = model_ref("wbc-type") {
            o.insert("device".into(), d);
        }
        results.push(ids.reference(key));
        targets.push(ids.reference(key));
        entries.push((key.to_string(), Value::Object(o)));
    }

    // Overlays.
    let mut media_links = Vec::new();
    for (i, m) in media.iter().enumerate() {
        let key = format!("media:{i}");
        let title = format!("Overlay of field {}", m.field_seq);
        let created = record.fields.iter().find(|f| f.seq == m.field_seq).map(|f| f.added_at);
        let mut r = Map::new();
        r.insert("resourceType".into(), json!("Media"));
        r.insert("id".into(), json!(ids.id(&key)));
        r.insert("status".into(), json!("completed"));
        r.insert("type".into(), json!({ "coding": [coding(MEDIA_TYPE, "image", "Image")] }));
        r.insert("subject".into(), ids.reference("patient"));
        if let Some(t) = created {
            r.insert("createdDateTime".into(), json!(instant(t)));
        }
        r.insert("device".into(), ids.reference("device:app"));
        r.insert(
            "content".into(),
            json!({ "contentType": m.content_type,
                    "data": base64::engine::general_purpose::STANDARD.encode(&m.data),
                    "title": title }),
        );
        media_links.push(json!({ "comment": title, "link": ids.reference(&key) }));
        entries.push((key, Value::Object(r)));
    }

    // The report.
    let effective = record.outcome().to_string();
    let mut report = Map::new();
    report.insert("resourceType".into(), json!("DiagnosticReport"));
    report.insert("id".into(), json!(ids.id("report")));
    report.insert("identifier".into(), json!([{ "system": SID_SESSION, "value": record.uid }]));
    report.insert("status".into(), json!(status));
    report.insert("category".into(), json!([{ "coding": [coding(V2_0074, "HM", "Hematology")] }]));
    report.insert(
        "code".into(),
        json!({ "coding": [coding(LOINC, PANEL.0, PANEL.1)],
                "text": "Blood smear screening: white-cell differential and leukaemia screen (Hemalens)" }),
    );
    report.insert("subject".into(), common.subject.clone());
    report.insert("effectivePeriod".into(), common.effective.clone());
    report.insert("issued".into(), json!(common.issued));
    if let Some(op) = record.operator() {
        report.insert("performer".into(), json!([{ "display": op }]));
    }
    let verifiers = reviewers(record);
    if !verifiers.is_empty() {
        let v: Vec<Value> = verifiers.iter().map(|r| json!({ "display": r })).collect();
        report.insert("resultsInterpreter".into(), Value::Array(v));
    }
    report.insert("specimen".into(), json!([common.specimen.clone()]));
    report.insert("result".into(), Value::Array(results));
    if !media_links.is_empty() {
        report.insert("media".into(), Value::Array(media_links));
    }
    report.insert("conclusion".into(), json!(conclusion(record)));
    report.insert(
        "conclusionCode".into(),
        json!([{ "coding": [coding(CS_OUTCOME, &effective, &outcome_display(&effective))] }]),
    );

    // Patient: a pseudonymous code and nothing else.
    let (ns_key, assigner) = match record.site() {
        Some(site) => (format!("site:{}", site.site), format!("Hemalens site {}", site.site)),
        None => (format!("device:{}", record.device.id), format!("Hemalens device {}", record.device.id)),
    };
    let patient = json!({
        "resourceType": "Patient",
        "id": ids.id("patient"),
        "identifier": [{
            "type": { "text": "Pseudonymous patient code" },
            "system": format!("urn:uuid:{}", resource_uuid("patient-codes", &ns_key)),
            "value": record.session.patient,
            "assigner": { "display": assigner }
        }]
    });

    let specimen = json!({
        "resourceType": "Specimen",
        "id": ids.id("specimen"),
        "type": { "coding": [coding(SNOMED, "258580003", "Whole blood specimen")], "text": "Peripheral blood smear" },
        "subject": common.subject,
        "processing": [{ "description": "Thin smear on a glass slide, stained; fields photographed through the microscope eyepiece with a phone" }]
    });

    // Devices: the app, then each model pack.
    let mut app_versions = vec![json!({ "type": { "text": "app" }, "value": record.device.app_version })];
    app_versions.push(json!({ "type": { "text": "core" }, "value": s.provenance.core_version }));
    let mut app = json!({
        "resourceType": "Device",
        "id": ids.id("device:app"),
        "identifier": [{ "system": SID_DEVICE, "value": record.device.id }],
        "deviceName": [{ "name": "Hemalens", "type": "user-friendly-name" }],
        "type": { "text": "Blood-smear screening app on a phone" },
        "version": app_versions
    });
    if let Some(site) = record.site() {
        app["note"] = json!([{ "text": format!(
            "Site profile {} version {} (cell types reviewed at the site: {}).",
            site.site, site.version, if site.cells_reviewed { "yes" } else { "no" }
        ) }]);
    }
    let mut devices = vec![("device:app".to_string(), app)];
    for m in &s.provenance.models {
        let key = model_key(&m.id);
        devices.push((
            key.clone(),
            json!({
                "resourceType": "Device",
                "id": ids.id(&key),
                "identifier": [{ "system": SID_MODEL_SHA256, "value": m.sha256 }],
                "deviceName": [{ "name": m.id, "type": "model-name" }],
                "type": { "text": "Model pack (TensorFlow Lite) run by the app" },
                "version": [{ "value": m.version }],
                "parent": ids.reference("device:app")
            }),
        ));
    }

    // Provenance: who made the result (the photos' hashes travel in the signed bundle, not here).
    let mut agents = vec![json!({
        "type": { "coding": [coding(PROV_TYPE, "author", "Author")] },
        "who": ids.reference("device:app")
    })];
    if let Some(op) = record.operator() {
        agents.push(json!({ "type": { "coding": [coding(PROV_TYPE, "performer", "Performer")] },
                            "who": { "display": op } }));
    }
    for r in &verifiers {
        agents.push(json!({ "type": { "coding": [coding(PROV_TYPE, "verifier", "Verifier")] },
                            "who": { "display": r } }));
    }
    let provenance = json!({
        "resourceType": "Provenance",
        "id": ids.id("provenance"),
        "target": targets,
        "occurredPeriod": common.effective,
        "recorded": instant(closed),
        "agent": agents
    });

    let mut all: Vec<(String, Value)> = vec![
        ("report".into(), Value::Object(report)),
        ("patient".into(), patient),
        ("specimen".into(), specimen),
    ];
    all.extend(entries);
    all.extend(devices);
    all.push(("provenance".into(), provenance));
    let entry: Vec<Value> = all
        .into_iter()
        .map(|(key, resource)| json!({ "fullUrl": ids.url(&key), "resource": resource }))
        .collect();
    json!({
        "resourceType": "Bundle",
        "id": ids.id("bundle"),
        "identifier": { "system": SID_SESSION, "value": record.uid },
        "type": "collection",
        "timestamp": instant(issued_ms),
        "entry": entry
    })
}

/// The reviewers who confirmed or overrode the outcome, in order, once each.
fn reviewers(record: &Record) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in &record.reviews {
        if (r.kind == "confirm" || r.kind == "override_outcome") && !out.contains(&r.reviewer) {
            out.push(r.reviewer.clone());
        }
    }
    out
}

/// The report's conclusion: the outcome that stands and what to do next.
pub fn conclusion(record: &Record) -> String {
    let s = record.summary();
    let effective = record.outcome();
    let machine = s.outcome.decision.as_str();
    let mut text = format!("Outcome: {}.", outcome_display(effective));
    let last_override = record.reviews.iter().rev().find(|r| r.kind == "override_outcome");
    if effective != machine {
        let who = last_override.map_or("a reviewer", |r| r.reviewer.as_str());
        text.push_str(&format!(
            " Set by {who}, replacing the machine's outcome ({}).",
            outcome_display(machine).to_lowercase()
        ));
        if let Some(note) = last_override.and_then(|r| r.note.as_deref()) {
            text.push_str(&format!(" Reviewer's note: {note}"));
        }
        if !s.outcome.next_step.is_empty() {
            text.push_str(&format!(" The machine's next step was: {}", s.outcome.next_step));
        }
    } else {
        if record.reviewed() {
            text.push_str(" Confirmed by a reviewer.");
        }
        if !s.outcome.next_step.is_empty() {
            text.push_str(&format!(" Next step: {}", s.outcome.next_step));
        }
    }
    if !s.outcome.reasons.is_empty() {
        let why: Vec<&str> = s.outcome.reasons.iter().map(|r| r.message.as_str()).collect();
        text.push_str(&format!(" Reasons: {}", why.join(" ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::sample;

    fn resources<'a>(b: &'a Value, kind: &str) -> Vec<&'a Value> {
        b["entry"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| &e["resource"])
            .filter(|r| r["resourceType"] == kind)
            .collect()
    }

    #[test]
    fn instants_are_utc_with_milliseconds() {
        assert_eq!(instant(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(instant(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(instant(1_796_526_442_603), "2026-12-06T03:07:22.603Z");
        assert_eq!(instant(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn uuids_are_v8_and_deterministic() {
        let a = resource_uuid("dev-1", "report");
        assert_eq!(a, resource_uuid("dev-1", "report"));
        assert_ne!(a, resource_uuid("dev-2", "report"));
        assert_ne!(a, resource_uuid("dev-1", "patient"));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "8");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn ids_are_deterministic_and_unique() {
        let r = sample();
        let a = bundle(&r, &[]);
        let b = bundle(&r, &[]);
        assert_eq!(a, b, "the same session gives the same bundle");
        let urls: Vec<&str> = a["entry"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| e["fullUrl"].as_str().expect("url"))
            .collect();
        let mut dedup = urls.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(dedup.len(), urls.len(), "fullUrls are unique");
        for e in a["entry"].as_array().expect("entries") {
            let url = e["fullUrl"].as_str().expect("url");
            assert_eq!(url, format!("urn:uuid:{}", e["resource"]["id"].as_str().expect("id")));
        }
        // Every reference resolves inside the bundle.
        let text = a.to_string();
        for piece in text.split("\"reference\":\"").skip(1) {
            let target = &piece[..piece.find('"').expect("end")];
            assert!(urls.contains(&target), "{target} resolves");
        }
        let mut other = r.clone();
        other.uid = "ffffffffffffffff-9".into();
        assert_ne!(bundle(&other, &[])["entry"][0]["fullUrl"], a["entry"][0]["fullUrl"]);
    }

    #[test]
    fn the_fixture_maps_to_the_expected_resources() {
        let r = sample();
        let b = bundle(&r, &[]);
        assert_eq!(b["type"], "collection");
        let report = resources(&b, "DiagnosticReport");
        assert_eq!(report.len(), 1);
        let report = report[0];
        assert_eq!(report["status"], "final", "the fixture has a confirm review");
        assert_eq!(report["code"]["coding"][0]["code"], "57023-4");
        assert_eq!(report["conclusionCode"][0]["coding"][0]["code"], "inconclusive");
        assert!(report["conclusion"].as_str().expect("text").contains("Capture 10 more fields."));
        assert!(report.get("media").is_none());
        let obs = resources(&b, "Observation");
        assert_eq!(obs.len(), 7 + 2, "one per class, the screen, the evidence");
        let codes: Vec<&str> = obs.iter().filter_map(|o| o["code"]["coding"][0]["code"].as_str()).collect();
        for c in &CLASSES {
            assert!(codes.contains(&c.loinc), "{}", c.loinc);
        }
        // n = 0 in the fixture: no value, a reason instead.
        let neut = obs.iter().find(|o| o["code"]["coding"][0]["code"] == "770-8").expect("neutrophils");
        assert!(neut.get("valueQuantity").is_none());
        assert_eq!(neut["dataAbsentReason"]["coding"][0]["code"], "unknown");
        assert_eq!(neut["component"][1]["valueInteger"], 0);
        let screen = obs.iter().find(|o| o["code"]["coding"][0]["code"] == "all-screen").expect("screen");
        let p = r.summary().screen.as_ref().expect("screen").malignant_prob;
        assert_eq!(screen["valueQuantity"]["value"].as_f64(), Some(pct(p)));
        assert_eq!(resources(&b, "Device").len(), 3, "the app and two packs");
        let patient = resources(&b, "Patient")[0];
        assert_eq!(patient["identifier"][0]["value"], "P-0001");
        assert!(patient.get("name").is_none() && patient.get("birthDate").is_none());
        let prov = resources(&b, "Provenance")[0];
        assert_eq!(prov["target"].as_array().expect("targets").len(), 1 + 9);
        assert_eq!(prov["recorded"], instant(r.session.closed_at.expect("closed")));
    }

    #[test]
    fn status_is_preliminary_until_reviewed() {
        let mut r = sample();
        r.reviews.retain(|x| x.kind == "relabel_cell");
        let b = bundle(&r, &[]);
        assert!(!r.reviewed());
        for o in resources(&b, "DiagnosticReport").into_iter().chain(resources(&b, "Observation")) {
            assert_eq!(o["status"], "preliminary");
        }
        assert_eq!(resources(&b, "DiagnosticReport")[0]["issued"], instant(r.result.decided_at));
    }

    #[test]
    fn an_override_is_the_conclusion() {
        let mut r = sample();
        r.session.outcome = Some("refer".into());
        r.reviews.push(crate::record::Review {
            kind: "override_outcome".into(),
            field: None,
            cell: None,
            from: Some("inconclusive".into()),
            to: Some("refer".into()),
            reviewer: "dr-b".into(),
            at: r.reviews.iter().map(|x| x.at).max().expect("reviews") + 5,
            note: Some("blasts seen".into()),
        });
        let b = bundle(&r, &[]);
        let report = resources(&b, "DiagnosticReport")[0];
        assert_eq!(report["status"], "final");
        assert_eq!(report["conclusionCode"][0]["coding"][0]["code"], "refer");
        let text = report["conclusion"].as_str().expect("text");
        assert!(text.starts_with("Outcome: Refer. Set by dr-b"), "{text}");
        assert!(text.contains("blasts seen"));
        assert_eq!(report["issued"], instant(r.reviews.last().expect("review").at));
    }

    #[test]
    fn counts_become_percentages_with_their_interval() {
        let mut r = sample();
        let s = &mut r.result.summary;
        s.cells.white = 50;
        for c in &mut s.differential {
            let k = if c.label == "neutrophil" { 30 } else { 2 };
            c.count = k;
            c.proportion = hemalens_core::session::Proportion::new(k, 50);
        }
        let b = bundle(&r, &[]);
        let neut = resources(&b, "Observation")
            .into_iter()
            .find(|o| o["code"]["coding"][0]["code"] == "770-8")
            .expect("neutrophils");
        assert_eq!(neut["valueQuantity"]["value"].as_f64(), Some(60.0));
        assert_eq!(neut["valueQuantity"]["code"], "%");
        let p = hemalens_core::session::Proportion::new(30, 50);
        assert_eq!(neut["component"][2]["valueRange"]["low"]["value"].as_f64(), Some(pct(p.low)));
        assert_eq!(neut["component"][2]["valueRange"]["high"]["value"].as_f64(), Some(pct(p.high)));
        assert_eq!(neut["referenceRange"][0]["low"]["value"].as_f64(), Some(30.0));
        assert_eq!(neut["referenceRange"][0]["high"]["value"].as_f64(), Some(85.0));
        let nrbc = resources(&b, "Observation")
            .into_iter()
            .find(|o| o["code"]["coding"][0]["code"] == "58413-6")
            .expect("nrbc");
        assert_eq!(nrbc["valueQuantity"]["code"], "/100{WBCs}");
        assert_eq!(nrbc["valueQuantity"]["value"].as_f64(), Some(4.0));
    }

    #[test]
    fn media_only_when_given() {
        let r = sample();
        let m = Media { field_seq: 0, content_type: "image/jpeg".into(), data: vec![0xff, 0xd8, 0xff, 0xd9] };
        let b = bundle(&r, std::slice::from_ref(&m));
        let media = resources(&b, "Media");
        assert_eq!(media.len(), 1);
        assert_eq!(media[0]["content"]["data"], "/9j/2Q==");
        assert_eq!(media[0]["content"]["contentType"], "image/jpeg");
        let report = resources(&b, "DiagnosticReport")[0];
        assert_eq!(
            report["media"][0]["link"]["reference"],
            b["entry"]
                .as_array()
                .expect("e")
                .iter()
                .find(|e| e["resource"]["resourceType"] == "Media")
                .expect("m")["fullUrl"]
        );
    }

    #[test]
    fn a_twenty_field_results_only_bundle_is_small() {
        let mut r = sample();
        let template = r.fields.clone();
        r.fields = (0..20)
            .map(|i| {
                let mut f = template[i % template.len()].clone();
                f.seq = i as i64;
                f
            })
            .collect();
        let s = &mut r.result.summary;
        s.fields.added = 20;
        s.fields.accepted = 20;
        s.cells.white = 104;
        for (i, c) in s.differential.iter_mut().enumerate() {
            c.count = [1, 3, 1, 2, 30, 7, 60][i];
            c.proportion = hemalens_core::session::Proportion::new(c.count, 104);
        }
        let b = bundle(&r, &[]);
        assert!(
            resources(&b, "Observation").iter().filter(|o| o.get("valueQuantity").is_some()).count() == 8
        );
        let text = serde_json::to_string_pretty(&b).expect("json");
        eprintln!("20 fields: {} bytes pretty, {} compact", text.len(), b.to_string().len());
        assert!(text.len() < 50_000, "{} bytes", text.len());
    }
}
