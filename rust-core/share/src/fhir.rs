//! The session as a FHIR R4 `Bundle`. PLACEHOLDER: being built (issue 14);
//! the signature is the contract.

use crate::Record;

/// An image that travels as a FHIR `Media` (an overlay of one field).
#[derive(Debug, Clone)]
pub struct Media {
    pub field_seq: i64,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// The Bundle (type `collection`) as JSON. `media` may be empty (the
/// results-only bundle); then no `Media` resource carries image data.
pub fn bundle(record: &Record, media: &[Media]) -> serde_json::Value {
    let _ = media;
    serde_json::json!({ "resourceType": "Bundle", "type": "collection", "id": record.uid })
}
