//! Signed, encrypted bundles: what the outbox uploads (docs/wire-format.md).
//!
//! Sign, then encrypt. The envelope (a header naming each part with its
//! SHA-256, the parts, and the device's Ed25519 signature over both) is
//! encrypted to the hospital's X25519 key with age. The receiver decrypts,
//! verifies the signature against the key it enrolled for that device, checks
//! every part and refuses a bundle id it has already taken.

use std::io::{Read, Write};

use ed25519_dalek::{Signature, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::identity::{device_id, DeviceIdentity};

/// The first bytes of every envelope (inside the encryption).
pub const MAGIC: &[u8; 10] = b"HLBUNDLE1\n";
/// A header larger than this is refused before it is parsed.
const MAX_HEADER: usize = 1 << 20;
/// Bundles larger than this are refused by the receiver (and never made).
pub const MAX_BUNDLE: u64 = 512 << 20;

/// What a bundle carries: the results (small, sent first) or the photos.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Results,
    Photos,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Results => "results",
            Self::Photos => "photos",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "results" => Some(Self::Results),
            "photos" => Some(Self::Photos),
            _ => None,
        }
    }
}

/// One named file inside a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartInfo {
    pub name: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
}

/// The signed header of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub format: u32,
    /// 32 hex digits, random: a receiver takes each id once.
    pub bundle_id: String,
    pub kind: Kind,
    pub session_uid: String,
    pub device_id: String,
    /// The signer's Ed25519 public key (64 hex digits).
    pub device_key: String,
    /// Milliseconds since the Unix epoch (UTC).
    pub created_at: i64,
    pub parts: Vec<PartInfo>,
}

/// Why a receiver refused a bundle. `Display` is a reason for the sender's
/// outbox (`refused: <reason>`); it never holds patient data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refused {
    /// Not encrypted to this hospital, tampered with or truncated (age's
    /// authenticated encryption fails on any change).
    #[error("cannot be decrypted: not for this hospital, tampered with or truncated")]
    Undecryptable,
    #[error("malformed bundle: {0}")]
    Malformed(&'static str),
    #[error("bundle too large")]
    TooLarge,
    /// The signature does not match the header and parts.
    #[error("bad signature")]
    BadSignature,
    /// Signed by a key the hospital has not enrolled for this device
    /// (including a bundle re-signed by another key).
    #[error("unknown device or key not enrolled")]
    UnknownDevice,
    /// A bundle id already taken.
    #[error("replayed bundle (already received)")]
    Replayed,
}

impl Refused {
    /// A stable, machine-readable name.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Undecryptable => "undecryptable",
            Self::Malformed(_) => "malformed",
            Self::TooLarge => "too_large",
            Self::BadSignature => "bad_signature",
            Self::UnknownDevice => "unknown_device",
            Self::Replayed => "replayed",
        }
    }
}

/// Errors while making a bundle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    #[error("the hospital key is not an age X25519 recipient (age1...)")]
    BadRecipient,
    #[error("the bundle is larger than the format allows")]
    TooLarge,
    #[error("encryption failed")]
    Encrypt,
}

/// Parses a hospital's public key (`age1...`).
pub fn parse_recipient(s: &str) -> Result<age::x25519::Recipient, SealError> {
    s.trim().parse().map_err(|_| SealError::BadRecipient)
}

/// A fresh random bundle id (32 hex digits).
pub fn new_bundle_id() -> String {
    let mut b = [0u8; 16];
    // An id collision only makes the receiver refuse the second bundle as a
    // replay; with 128 random bits it does not happen.
    getrandom_fill(&mut b);
    hex::encode(b)
}

fn getrandom_fill(b: &mut [u8]) {
    if getrandom::getrandom(b).is_err() {
        // No OS randomness: fall back to the clock and a hash (ids need
        // uniqueness, not secrecy).
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let h = Sha256::digest(format!("{t:?}{:p}", b.as_ptr()).as_bytes());
        let n = b.len().min(32);
        b[..n].copy_from_slice(&h[..n]);
    }
}

/// Signs `parts` as `device` and encrypts the envelope to `recipient`.
pub fn seal(
    device: &DeviceIdentity,
    recipient: &age::x25519::Recipient,
    kind: Kind,
    session_uid: &str,
    created_at: i64,
    bundle_id: &str,
    parts: &[Part],
) -> Result<Vec<u8>, SealError> {
    let header = Header {
        format: 1,
        bundle_id: bundle_id.to_string(),
        kind,
        session_uid: session_uid.to_string(),
        device_id: device.id(),
        device_key: device.public_key_hex(),
        created_at,
        parts: parts
            .iter()
            .map(|p| PartInfo {
                name: p.name.clone(),
                content_type: p.content_type.clone(),
                size: p.data.len() as u64,
                sha256: hex::encode(Sha256::digest(&p.data)),
            })
            .collect(),
    };
    let head = serde_json::to_vec(&header).map_err(|_| SealError::Encrypt)?;
    let total: usize = MAGIC.len() + 4 + head.len() + parts.iter().map(|p| p.data.len()).sum::<usize>() + 64;
    if total as u64 > MAX_BUNDLE || head.len() > MAX_HEADER {
        return Err(SealError::TooLarge);
    }
    let mut env = Vec::with_capacity(total);
    env.extend_from_slice(MAGIC);
    env.extend_from_slice(&(head.len() as u32).to_be_bytes());
    env.extend_from_slice(&head);
    for p in parts {
        env.extend_from_slice(&p.data);
    }
    let sig = device.sign(&env);
    env.extend_from_slice(&sig.to_bytes());
    let enc = age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
        .map_err(|_| SealError::Encrypt)?;
    let mut out = Vec::with_capacity(env.len() + 512);
    let mut w = enc.wrap_output(&mut out).map_err(|_| SealError::Encrypt)?;
    w.write_all(&env).map_err(|_| SealError::Encrypt)?;
    w.finish().map_err(|_| SealError::Encrypt)?;
    Ok(out)
}

/// A bundle that passed every check.
#[derive(Debug, Clone)]
pub struct Opened {
    pub header: Header,
    pub parts: Vec<Part>,
}

impl Opened {
    pub fn part(&self, name: &str) -> Option<&Part> {
        self.parts.iter().find(|p| p.name == name)
    }
}

/// What the receiver knows: the devices it enrolled and the bundles it took.
pub trait Receiver {
    /// The public key enrolled for `device_id`, if any.
    fn enrolled(&self, device_id: &str) -> Option<VerifyingKey>;
    /// Whether `bundle_id` was already taken.
    fn seen(&self, bundle_id: &str) -> bool;
}

/// Decrypts and checks a bundle. Taking it (recording its id) is the
/// caller's, after it has stored the content.
pub fn open(
    sealed: &[u8],
    identity: &age::x25519::Identity,
    receiver: &dyn Receiver,
) -> Result<Opened, Refused> {
    if sealed.len() as u64 > MAX_BUNDLE + (1 << 20) {
        return Err(Refused::TooLarge);
    }
    let dec = age::Decryptor::new(sealed).map_err(|_| Refused::Undecryptable)?;
    let mut r =
        dec.decrypt(std::iter::once(identity as &dyn age::Identity)).map_err(|_| Refused::Undecryptable)?;
    let mut env = Vec::new();
    r.by_ref().take(MAX_BUNDLE + 1).read_to_end(&mut env).map_err(|_| Refused::Undecryptable)?;
    if env.len() as u64 > MAX_BUNDLE {
        return Err(Refused::TooLarge);
    }
    let min = MAGIC.len() + 4 + 64;
    if env.len() < min || &env[..MAGIC.len()] != MAGIC {
        return Err(Refused::Malformed("not a Hemalens bundle"));
    }
    let (signed, sig) = env.split_at(env.len() - 64);
    let hl = u32::from_be_bytes([signed[10], signed[11], signed[12], signed[13]]) as usize;
    if hl > MAX_HEADER || MAGIC.len() + 4 + hl > signed.len() {
        return Err(Refused::Malformed("header length"));
    }
    let header: Header =
        serde_json::from_slice(&signed[14..14 + hl]).map_err(|_| Refused::Malformed("header"))?;
    if header.format != 1 {
        return Err(Refused::Malformed("unknown format version"));
    }
    let key_bytes: [u8; 32] = hex::decode(&header.device_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(Refused::Malformed("device key"))?;
    let key = VerifyingKey::from_bytes(&key_bytes).map_err(|_| Refused::Malformed("device key"))?;
    let sig = Signature::from_bytes(sig.try_into().map_err(|_| Refused::Malformed("signature"))?);
    key.verify_strict(signed, &sig).map_err(|_| Refused::BadSignature)?;
    if device_id(&key) != header.device_id {
        return Err(Refused::UnknownDevice);
    }
    match receiver.enrolled(&header.device_id) {
        Some(k) if k == key => {}
        _ => return Err(Refused::UnknownDevice),
    }
    let mut at = 14 + hl;
    let mut parts = Vec::with_capacity(header.parts.len());
    for p in &header.parts {
        let end = usize::try_from(p.size).ok().and_then(|s| at.checked_add(s)).filter(|&e| e <= signed.len());
        let end = end.ok_or(Refused::Malformed("part sizes"))?;
        let data = &signed[at..end];
        if hex::encode(Sha256::digest(data)) != p.sha256 {
            return Err(Refused::Malformed("part checksum"));
        }
        parts.push(Part { name: p.name.clone(), content_type: p.content_type.clone(), data: data.to_vec() });
        at = end;
    }
    if at != signed.len() {
        return Err(Refused::Malformed("trailing bytes"));
    }
    if receiver.seen(&header.bundle_id) {
        return Err(Refused::Replayed);
    }
    Ok(Opened { header, parts })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    struct Hospital {
        keys: HashMap<String, VerifyingKey>,
        seen: HashSet<String>,
    }

    impl Receiver for Hospital {
        fn enrolled(&self, device_id: &str) -> Option<VerifyingKey> {
            self.keys.get(device_id).copied()
        }
        fn seen(&self, bundle_id: &str) -> bool {
            self.seen.contains(bundle_id)
        }
    }

    fn setup() -> (DeviceIdentity, age::x25519::Identity, Hospital) {
        let dev = DeviceIdentity::from_seed(&[3; 32]);
        let id = age::x25519::Identity::generate();
        let h = Hospital { keys: HashMap::from([(dev.id(), dev.public_key())]), seen: HashSet::new() };
        (dev, id, h)
    }

    fn parts() -> Vec<Part> {
        vec![
            Part {
                name: "fhir.json".into(),
                content_type: "application/fhir+json".into(),
                data: b"{}".to_vec(),
            },
            Part { name: "sms.txt".into(), content_type: "text/plain".into(), data: b"HL1 X".to_vec() },
        ]
    }

    fn sealed(dev: &DeviceIdentity, id: &age::x25519::Identity, bundle: &str) -> Vec<u8> {
        seal(dev, &id.to_public(), Kind::Results, "dev-1", 1, bundle, &parts()).expect("seal")
    }

    #[test]
    fn round_trip() {
        let (dev, id, mut h) = setup();
        let b = sealed(&dev, &id, &new_bundle_id());
        let o = open(&b, &id, &h).expect("open");
        assert_eq!(o.parts, parts());
        assert_eq!(o.header.device_id, dev.id());
        h.seen.insert(o.header.bundle_id.clone());
        assert_eq!(open(&b, &id, &h).err(), Some(Refused::Replayed));
    }

    #[test]
    fn every_flipped_byte_and_every_truncation_is_refused() {
        let (dev, id, h) = setup();
        let b = sealed(&dev, &id, "00");
        for i in (0..b.len()).step_by(7) {
            let mut t = b.clone();
            t[i] ^= 0x20;
            assert!(open(&t, &id, &h).is_err(), "flip at {i}");
        }
        for n in (0..b.len()).step_by(11) {
            assert_eq!(open(&b[..n], &id, &h).err(), Some(Refused::Undecryptable), "cut at {n}");
        }
    }

    #[test]
    fn another_hospital_cannot_read_it() {
        let (dev, _, h) = setup();
        let other = age::x25519::Identity::generate();
        let b = sealed(&dev, &age::x25519::Identity::generate(), "00");
        assert_eq!(open(&b, &other, &h).err(), Some(Refused::Undecryptable));
    }

    #[test]
    fn a_bundle_signed_by_another_key_is_refused() {
        let (dev, id, h) = setup();
        // An attacker who knows the hospital's public key re-signs a bundle
        // with their own key and claims the enrolled device's id.
        let evil = DeviceIdentity::from_seed(&[9; 32]);
        let b = sealed(&evil, &id, "00");
        assert_eq!(open(&b, &id, &h).err(), Some(Refused::UnknownDevice));
        // ... or leaves the enrolled device's key in the header and signs with theirs.
        let mut env = Vec::new();
        let hdr = Header {
            format: 1,
            bundle_id: "01".into(),
            kind: Kind::Results,
            session_uid: "x".into(),
            device_id: dev.id(),
            device_key: dev.public_key_hex(),
            created_at: 0,
            parts: vec![],
        };
        let head = serde_json::to_vec(&hdr).expect("json");
        env.extend_from_slice(MAGIC);
        env.extend_from_slice(&(head.len() as u32).to_be_bytes());
        env.extend_from_slice(&head);
        let sig = evil.sign(&env);
        env.extend_from_slice(&sig.to_bytes());
        let b = age::encrypt(&id.to_public(), &env).expect("encrypt");
        assert_eq!(open(&b, &id, &h).err(), Some(Refused::BadSignature));
    }

    #[test]
    fn unenrolled_device_is_refused() {
        let (_, id, h) = setup();
        let stranger = DeviceIdentity::from_seed(&[5; 32]);
        assert_eq!(open(&sealed(&stranger, &id, "00"), &id, &h).err(), Some(Refused::UnknownDevice));
    }
}
