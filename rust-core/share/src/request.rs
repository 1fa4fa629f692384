//! Signed requests from a device to its hospital (docs/wire-format.md,
//! "Signed requests"): the tus creation and the review pull carry the device
//! id, its clock and an Ed25519 signature over the method, path, body digest
//! and the tus headers. Both ends use this module: the phone signs, the inbox
//! verifies against the key it enrolled.

use base64::Engine;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::identity::DeviceIdentity;

pub const DEVICE_HEADER: &str = "Hemalens-Device";
pub const DATE_HEADER: &str = "Hemalens-Date";
pub const SIGNATURE_HEADER: &str = "Hemalens-Signature";
/// How far the device's clock may be from the hospital's.
pub const MAX_SKEW_MS: i64 = 5 * 60 * 1000;

/// What a signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub method: &'a str,
    /// The path and query exactly as sent (`/tus/`, `/api/v1/reviews`).
    pub path: &'a str,
    pub device_id: &'a str,
    pub date_ms: i64,
    pub body: &'a [u8],
    pub upload_length: Option<&'a str>,
    pub upload_metadata: Option<&'a str>,
}

impl Signed<'_> {
    /// The string the signature is made over.
    pub fn message(&self) -> String {
        [
            "hemalens-request-v1",
            &self.method.to_ascii_uppercase(),
            self.path,
            self.device_id,
            &self.date_ms.to_string(),
            &hex::encode(Sha256::digest(self.body)),
            self.upload_length.unwrap_or(""),
            self.upload_metadata.unwrap_or(""),
        ]
        .join("\n")
    }

    /// The three headers (name, value) for this request.
    pub fn headers(&self, identity: &DeviceIdentity) -> [(&'static str, String); 3] {
        let sig = identity.sign(self.message().as_bytes());
        [
            (DEVICE_HEADER, self.device_id.to_string()),
            (DATE_HEADER, self.date_ms.to_string()),
            (SIGNATURE_HEADER, base64::engine::general_purpose::STANDARD.encode(sig.to_bytes())),
        ]
    }
}

/// Why a signed request was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// A header is missing or unreadable (HTTP 401).
    #[error("missing or unreadable signature headers")]
    Missing,
    /// The date is too far from the receiver's clock (HTTP 401).
    #[error("the request's date is too far from the hospital's clock")]
    Stale,
    /// The signature does not verify with the enrolled key (HTTP 403).
    #[error("bad request signature")]
    BadSignature,
}

/// Parses the `Hemalens-Date` and `Hemalens-Signature` values.
pub fn parse(date: Option<&str>, signature: Option<&str>) -> Result<(i64, Signature), Rejected> {
    let date: i64 = date.and_then(|d| d.trim().parse().ok()).ok_or(Rejected::Missing)?;
    let sig = signature
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s.trim()).ok())
        .and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok())
        .ok_or(Rejected::Missing)?;
    Ok((date, Signature::from_bytes(&sig)))
}

/// Checks the date against `now_ms` and the signature (strict) against `key`.
pub fn verify(req: &Signed<'_>, sig: &Signature, key: &VerifyingKey, now_ms: i64) -> Result<(), Rejected> {
    // abs_diff: a date near i64::MIN would overflow a subtraction into a
    // negative "distance" that passes (found by tests/python/test_bad_inputs_inbox.py).
    if req.date_ms.abs_diff(now_ms) > MAX_SKEW_MS.unsigned_abs() {
        return Err(Rejected::Stale);
    }
    key.verify_strict(req.message().as_bytes(), sig).map_err(|_| Rejected::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(body: &[u8]) -> Signed<'_> {
        Signed {
            method: "post",
            path: "/tus/",
            device_id: "0123456789abcdef",
            date_ms: 1_000_000,
            body,
            upload_length: Some("42"),
            upload_metadata: Some("bundle_id YWJj,kind cmVzdWx0cw=="),
        }
    }

    #[test]
    fn signature_covers_every_line() {
        let id = DeviceIdentity::from_seed(&[3; 32]);
        let r = req(b"");
        let h = r.headers(&id);
        let (date, sig) = parse(Some(&h[1].1), Some(&h[2].1)).expect("parse");
        assert_eq!(date, 1_000_000);
        assert_eq!(verify(&r, &sig, &id.public_key(), 1_000_000 + 1000), Ok(()));
        // Another key, another path, another length, another body, a stale date.
        let other = DeviceIdentity::from_seed(&[4; 32]);
        assert_eq!(verify(&r, &sig, &other.public_key(), 1_000_000), Err(Rejected::BadSignature));
        for changed in [
            Signed { path: "/tus/x", ..r },
            Signed { upload_length: Some("43"), ..r },
            Signed { upload_metadata: None, ..r },
            Signed { method: "GET", ..r },
            Signed { body: b"x", ..r },
        ] {
            assert_eq!(verify(&changed, &sig, &id.public_key(), 1_000_000), Err(Rejected::BadSignature));
        }
        assert_eq!(verify(&r, &sig, &id.public_key(), 1_000_000 + MAX_SKEW_MS + 1), Err(Rejected::Stale));
        // Dates at the ends of the range are stale, not a wrapped-around "now".
        for date_ms in [i64::MIN, i64::MIN + 1_000_000, i64::MAX] {
            let far = Signed { date_ms, ..r };
            let sig = id.sign(far.message().as_bytes());
            assert_eq!(verify(&far, &sig, &id.public_key(), 1_000_000), Err(Rejected::Stale));
        }
        assert_eq!(parse(None, Some(&h[2].1)), Err(Rejected::Missing));
        assert_eq!(parse(Some("1"), Some("AAAA")), Err(Rejected::Missing));
    }
}
