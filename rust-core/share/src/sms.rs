//! One SMS (at most 160 GSM-7 characters, with a check code) that lets the
//! hospital act before the photos arrive. Grammar, example and error cases:
//! `docs/sms.md`.
//!
//! ```text
//! HL1 0123456789ABCDEF-1 INC R W0 U2 NE0 LY0 MO0 EO0 BA0 IG0 EB0 F2/4 P0.4 *3B3NT2Z
//! ```
//!
//! The message uses only `A`-`Z`, `0`-`9`, space, `-`, `/`, `.` and `*`, all in
//! the GSM 03.38 basic table (one septet each). Its last token is `*` and seven
//! Crockford base-32 digits: the CRC-32 (the one zlib computes) of every byte
//! before the ` *`. A single changed character, two swapped neighbours or a
//! cut-off end is always refused; other damage is missed with a probability of
//! about 2^-32. [`decode`] folds lowercase to uppercase and ignores whitespace
//! around the message (what SMS apps and retyping do); nothing else is
//! forgiven.

use crate::Record;
use hemalens_core::session::Decision;
use sha2::{Digest, Sha256};

/// The format version this module writes and reads.
pub const VERSION: u32 = 1;
/// The longest message (one SMS of GSM-7 characters).
pub const MAX_LEN: usize = 160;
/// Counts are written with at most six digits: a larger count is written as
/// this value ("at least 999999"); real sessions count a few hundred cells.
pub const MAX_COUNT: u32 = 999_999;
/// The characters a message is made of (after folding lowercase).
pub const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -/.*";
/// Crockford's base 32 (no I, L, O, U), the digits of the check code.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const CHECK_LEN: usize = 7;

/// The white-cell counts the message carries (confident cells only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClassCounts {
    pub neutrophil: u32,
    pub lymphocyte: u32,
    pub monocyte: u32,
    pub eosinophil: u32,
    pub basophil: u32,
    pub ig: u32,
    pub erythroblast: u32,
}

/// Token tag and `wbc-type` label of each class, in message order.
const CLASS_TAGS: [(&str, &str); 7] = [
    ("NE", "neutrophil"),
    ("LY", "lymphocyte"),
    ("MO", "monocyte"),
    ("EO", "eosinophil"),
    ("BA", "basophil"),
    ("IG", "ig"),
    ("EB", "erythroblast"),
];

impl ClassCounts {
    /// The count of a `wbc-type` label.
    pub fn get(&self, label: &str) -> Option<u32> {
        Some(match label {
            "neutrophil" => self.neutrophil,
            "lymphocyte" => self.lymphocyte,
            "monocyte" => self.monocyte,
            "eosinophil" => self.eosinophil,
            "basophil" => self.basophil,
            "ig" => self.ig,
            "erythroblast" => self.erythroblast,
            _ => return None,
        })
    }

    fn slot(&mut self, label: &str) -> Option<&mut u32> {
        Some(match label {
            "neutrophil" => &mut self.neutrophil,
            "lymphocyte" => &mut self.lymphocyte,
            "monocyte" => &mut self.monocyte,
            "eosinophil" => &mut self.eosinophil,
            "basophil" => &mut self.basophil,
            "ig" => &mut self.ig,
            "erythroblast" => &mut self.erythroblast,
            _ => return None,
        })
    }
}

/// What one message says, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsResult {
    pub version: u32,
    /// The device id: 16 lowercase hex digits (see [`sms_device_id`]).
    pub device: String,
    /// The session number in the device's store.
    pub session: u64,
    /// The outcome that stands (a reviewer's override, else the machine's).
    pub outcome: Decision,
    /// Whether a reviewer confirmed or overrode the outcome.
    pub reviewed: bool,
    /// Confident white cells: the differential's denominator.
    pub white: u32,
    /// White cells the model was unsure about (not in the differential).
    pub uncertain: u32,
    pub counts: ClassCounts,
    pub fields_accepted: u32,
    pub fields_added: u32,
    /// The leukaemia screen's P(malignant) in tenths of a percent (0-1000);
    /// `None` when no field was screened.
    pub malignant_permille: Option<u16>,
}

impl SmsResult {
    /// The session's id beyond the phone, `<device id>-<session number>`
    /// (the record's `uid` for any device id made by `DeviceIdentity`).
    pub fn uid(&self) -> String {
        format!("{}-{}", self.device, self.session)
    }

    /// P(malignant) in percent.
    pub fn malignant_percent(&self) -> Option<f64> {
        self.malignant_permille.map(|m| f64::from(m) / 10.0)
    }
}

/// Why a message was refused. Positions count characters from 1, in the
/// message after the whitespace around it is removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SmsError {
    #[error("the message is empty")]
    Empty,
    #[error("character {ch:?} at position {position} is not used by Hemalens messages")]
    Charset { position: usize, ch: char },
    #[error("the message has {0} characters; a Hemalens message has at most 160")]
    TooLong(usize),
    #[error("not a Hemalens message: it does not start with HL and a version")]
    NotHemalens,
    #[error("format version {0} is not read by this decoder")]
    UnsupportedVersion(u32),
    #[error("the check code at the end is missing or cut off (was the message truncated?)")]
    MissingCheck,
    #[error("the check code is not seven base-32 digits of a CRC-32")]
    BadCheck,
    #[error("the check code does not match: the message was changed or mistyped")]
    Mismatch,
    #[error("the {0} field is malformed")]
    Malformed(&'static str),
}

/// CRC-32 (IEEE 802.3, reflected, as zlib's `crc32`).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn check_code(crc: u32) -> String {
    (0..CHECK_LEN).rev().map(|i| char::from(CROCKFORD[((u64::from(crc) >> (5 * i)) & 31) as usize])).collect()
}

fn parse_check(s: &str) -> Result<u32, SmsError> {
    let mut v: u64 = 0;
    for c in s.bytes() {
        let d = CROCKFORD.iter().position(|&x| x == c).ok_or(SmsError::BadCheck)?;
        v = (v << 5) | d as u64;
    }
    u32::try_from(v).map_err(|_| SmsError::BadCheck)
}

/// The device id as the message carries it: the id itself when it is 16 hex
/// digits (as every id `DeviceIdentity` makes), else the first 16 hex digits
/// of the SHA-256 of the id, so the message stays short and in its alphabet.
pub fn sms_device_id(id: &str) -> String {
    if id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        id.to_ascii_lowercase()
    } else {
        hex::encode(&Sha256::digest(id.as_bytes())[..8])
    }
}

fn outcome_token(d: Decision) -> &'static str {
    match d {
        Decision::Refer => "REF",
        Decision::NoAbnormalityDetected => "NAD",
        Decision::Inconclusive => "INC",
    }
}

/// The message text.
pub fn encode(record: &Record) -> String {
    let s = record.summary();
    let count = |n: u32| n.min(MAX_COUNT);
    // The effective outcome; one this version does not know falls back to the machine's.
    let outcome = Decision::parse(record.outcome()).unwrap_or(s.outcome.decision);
    let session = u64::try_from(record.session.id).unwrap_or(0);
    let mut body = format!(
        "HL{VERSION} {}-{session} {} {} W{} U{}",
        sms_device_id(&record.device.id).to_ascii_uppercase(),
        outcome_token(outcome),
        if record.reviewed() { "R" } else { "M" },
        count(s.cells.white),
        count(s.cells.uncertain),
    );
    for (tag, label) in CLASS_TAGS {
        let n = s.differential.iter().find(|c| c.label == label).map_or(0, |c| c.count);
        body.push_str(&format!(" {tag}{}", count(n)));
    }
    body.push_str(&format!(" F{}/{}", count(s.fields.accepted), count(s.fields.added)));
    match &s.screen {
        Some(scr) => {
            let permille = (scr.malignant_prob * 1000.0).round().clamp(0.0, 1000.0) as u32;
            body.push_str(&format!(" P{}.{}", permille / 10, permille % 10));
        }
        None => body.push_str(" P-"),
    }
    let check = check_code(crc32(body.as_bytes()));
    format!("{body} *{check}")
}

/// A decimal number without sign or leading zeros, of at most `max_digits`.
fn number(s: &str, max_digits: usize, field: &'static str) -> Result<u64, SmsError> {
    let ok = !s.is_empty()
        && s.len() <= max_digits
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    if !ok {
        return Err(SmsError::Malformed(field));
    }
    s.parse().map_err(|_| SmsError::Malformed(field))
}

fn count(token: &str, tag: &str, field: &'static str) -> Result<u32, SmsError> {
    let digits = token.strip_prefix(tag).ok_or(SmsError::Malformed(field))?;
    let n = number(digits, 6, field)?;
    u32::try_from(n).map_err(|_| SmsError::Malformed(field))
}

/// Reads a message, refusing any that is damaged or not in this format.
pub fn decode(text: &str) -> Result<SmsResult, SmsError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(SmsError::Empty);
    }
    let mut msg = String::with_capacity(text.len());
    for (i, ch) in text.chars().enumerate() {
        let up = ch.to_ascii_uppercase();
        if !ALPHABET.contains(up) {
            return Err(SmsError::Charset { position: i + 1, ch });
        }
        msg.push(up);
    }
    if msg.len() > MAX_LEN {
        return Err(SmsError::TooLong(msg.len()));
    }
    let rest = msg.strip_prefix("HL").ok_or(SmsError::NotHemalens)?;
    let v = rest.split(' ').next().unwrap_or_default();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SmsError::NotHemalens);
    }
    let version = u32::try_from(number(v, 9, "version")?).map_err(|_| SmsError::Malformed("version"))?;
    if version != VERSION {
        return Err(SmsError::UnsupportedVersion(version));
    }
    // The check: the last nine characters are " *" and seven base-32 digits.
    let n = msg.len();
    if n < CHECK_LEN + 2 || &msg[n - CHECK_LEN - 2..n - CHECK_LEN] != " *" {
        return Err(SmsError::MissingCheck);
    }
    let body = &msg[..n - CHECK_LEN - 2];
    if parse_check(&msg[n - CHECK_LEN..])? != crc32(body.as_bytes()) {
        return Err(SmsError::Mismatch);
    }

    let tokens: Vec<&str> = body.split(' ').collect();
    let [_, uid, outcome, review, white, uncertain, classes @ .., fields, screen] = tokens.as_slice() else {
        return Err(SmsError::Malformed("message"));
    };
    if classes.len() != CLASS_TAGS.len() {
        return Err(SmsError::Malformed("message"));
    }
    let (device, session) = uid.split_once('-').ok_or(SmsError::Malformed("session id"))?;
    if device.len() != 16 || !device.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SmsError::Malformed("device id"));
    }
    let session = number(session, 19, "session number")?;
    let outcome = match *outcome {
        "REF" => Decision::Refer,
        "NAD" => Decision::NoAbnormalityDetected,
        "INC" => Decision::Inconclusive,
        _ => return Err(SmsError::Malformed("outcome")),
    };
    let reviewed = match *review {
        "R" => true,
        "M" => false,
        _ => return Err(SmsError::Malformed("review")),
    };
    let white = count(white, "W", "white cells")?;
    let uncertain = count(uncertain, "U", "uncertain cells")?;
    let mut counts = ClassCounts::default();
    for (token, (tag, label)) in classes.iter().zip(CLASS_TAGS) {
        let n = count(token, tag, "class count")?;
        *counts.slot(label).ok_or(SmsError::Malformed("class count"))? = n;
    }
    let (acc, add) =
        fields.strip_prefix('F').and_then(|f| f.split_once('/')).ok_or(SmsError::Malformed("fields"))?;
    let fields_accepted =
        u32::try_from(number(acc, 6, "fields")?).map_err(|_| SmsError::Malformed("fields"))?;
    let fields_added = u32::try_from(number(add, 6, "fields")?).map_err(|_| SmsError::Malformed("fields"))?;
    let p = screen.strip_prefix('P').ok_or(SmsError::Malformed("screen"))?;
    let malignant_permille = if p == "-" {
        None
    } else {
        let (whole, tenth) = p.split_once('.').ok_or(SmsError::Malformed("screen"))?;
        let whole = number(whole, 3, "screen")?;
        let tenth = number(tenth, 1, "screen")?;
        let m = whole * 10 + tenth;
        if m > 1000 {
            return Err(SmsError::Malformed("screen"));
        }
        Some(m as u16)
    };
    Ok(SmsResult {
        version,
        device: device.to_ascii_lowercase(),
        session,
        outcome,
        reviewed,
        white,
        uncertain,
        counts,
        fields_accepted,
        fields_added,
        malignant_permille,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::sample;

    /// The GSM 03.38 basic table (escape excluded), its extension table, and
    /// characters outside GSM-7 an SMS app might put in.
    fn charset() -> Vec<char> {
        let basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                     ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
        let ext = "^{}\\[~]|€\u{c}";
        let other = "\t\u{a0}\u{200b}`oOlI0";
        basic.chars().chain(ext.chars()).chain(other.chars()).collect()
    }

    fn normal(s: &str) -> String {
        s.trim().to_ascii_uppercase()
    }

    fn worst_case() -> Record {
        let mut r = sample();
        r.device.id = "a-very-long-device-identifier-that-is-not-sixteen-hex-digits-at-all".into();
        r.session.id = i64::MAX;
        r.session.outcome = Some("no_abnormality_detected".into());
        let s = &mut r.result.summary;
        for c in &mut s.differential {
            c.count = u32::MAX;
        }
        s.cells.white = u32::MAX;
        s.cells.uncertain = 1_000_000;
        s.fields.accepted = 999_999;
        s.fields.added = u32::MAX;
        s.screen.as_mut().expect("screen").malignant_prob = 1.0;
        r
    }

    #[test]
    fn crc_is_zlibs() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(parse_check(&check_code(0xcbf4_3926)), Ok(0xcbf4_3926));
        assert_eq!(parse_check(&check_code(u32::MAX)), Ok(u32::MAX));
        assert_eq!(parse_check("8000000"), Err(SmsError::BadCheck), "35 bits, 3 of them zero");
    }

    #[test]
    fn round_trip_on_the_fixture() {
        let r = sample();
        let m = encode(&r);
        eprintln!("fixture ({} characters): {m}", m.len());
        assert!(
            m.starts_with("HL1 0123456789ABCDEF-1 INC R W0 U2 NE0 LY0 MO0 EO0 BA0 IG0 EB0 F2/4 P0.4 *"),
            "{m}"
        );
        let d = decode(&m).expect("decodes");
        let s = r.summary();
        assert_eq!(d.uid(), r.uid);
        assert_eq!(d.outcome.as_str(), r.outcome());
        assert!(d.reviewed);
        assert_eq!((d.white, d.uncertain), (s.cells.white, s.cells.uncertain));
        for c in &s.differential {
            assert_eq!(d.counts.get(&c.label), Some(c.count), "{}", c.label);
        }
        assert_eq!((d.fields_accepted, d.fields_added), (s.fields.accepted, s.fields.added));
        let p = s.screen.as_ref().expect("screen").malignant_prob;
        assert!((d.malignant_percent().expect("p") - 100.0 * p).abs() <= 0.05);
    }

    #[test]
    fn what_sms_apps_do_is_forgiven() {
        let m = encode(&sample());
        let d = decode(&m).expect("decodes");
        assert_eq!(decode(&format!("{m}\n")), Ok(d.clone()));
        assert_eq!(decode(&format!("  {m} \r\n")), Ok(d.clone()));
        assert_eq!(decode(&m.to_lowercase()), Ok(d));
    }

    #[test]
    fn worst_case_fits_one_sms() {
        let r = worst_case();
        let m = encode(&r);
        eprintln!("worst case ({} characters): {m}", m.len());
        assert!(m.len() <= MAX_LEN, "{} characters: {m}", m.len());
        assert!(m.chars().all(|c| ALPHABET.contains(c)), "{m}");
        let d = decode(&m).expect("decodes");
        assert_eq!(d.device, sms_device_id(&r.device.id));
        assert_eq!(d.session, i64::MAX as u64);
        assert_eq!(d.outcome, Decision::NoAbnormalityDetected);
        assert_eq!(d.counts.neutrophil, MAX_COUNT);
        assert_eq!(d.white, MAX_COUNT);
        assert_eq!(d.fields_added, MAX_COUNT);
        assert_eq!(d.malignant_permille, Some(1000));
        // 999 of every class, a 16-hex id: what a big real session looks like.
        let mut r = sample();
        for c in &mut r.result.summary.differential {
            c.count = 999;
        }
        assert!(encode(&r).len() <= MAX_LEN);
    }

    #[test]
    fn no_screen_is_a_dash() {
        let mut r = sample();
        r.result.summary.screen = None;
        let m = encode(&r);
        assert!(m.contains(" P- *"), "{m}");
        assert_eq!(decode(&m).expect("decodes").malignant_permille, None);
    }

    #[test]
    fn every_single_substitution_is_refused_or_harmless() {
        let cs = charset();
        for m in [encode(&sample()), encode(&worst_case())] {
            let good = decode(&m).expect("decodes");
            let chars: Vec<char> = m.chars().collect();
            let mut refused = 0;
            for i in 0..chars.len() {
                for &c in &cs {
                    if c == chars[i] {
                        continue;
                    }
                    let mut v = chars.clone();
                    v[i] = c;
                    let t: String = v.into_iter().collect();
                    match decode(&t) {
                        Ok(d) => {
                            assert_eq!(normal(&t), m, "{t:?} was accepted");
                            assert_eq!(d, good);
                        }
                        Err(_) => {
                            assert_ne!(normal(&t), m, "{t:?} was refused");
                            refused += 1;
                        }
                    }
                }
            }
            assert!(refused > 10_000, "{refused}");
        }
    }

    #[test]
    fn every_adjacent_swap_is_refused() {
        for m in [encode(&sample()), encode(&worst_case())] {
            let chars: Vec<char> = m.chars().collect();
            for i in 0..chars.len() - 1 {
                if chars[i] == chars[i + 1] {
                    continue;
                }
                let mut v = chars.clone();
                v.swap(i, i + 1);
                let t: String = v.into_iter().collect();
                assert!(decode(&t).is_err(), "{t:?} was accepted");
            }
        }
    }

    #[test]
    fn every_truncation_is_refused() {
        let m = encode(&sample());
        for k in 1..m.len() {
            assert!(decode(&m[..m.len() - k]).is_err(), "cut to {}", m.len() - k);
            assert!(decode(&m[k..]).is_err(), "first {k} lost");
        }
        assert_eq!(decode(&m[..m.len() - 1]), Err(SmsError::MissingCheck));
        assert_eq!(decode(&m[..m.len() - 9]), Err(SmsError::MissingCheck));
        assert_eq!(decode(""), Err(SmsError::Empty));
    }

    #[test]
    fn errors_are_typed() {
        let m = encode(&sample());
        let changed = m.replacen("NE0", "NE8", 1);
        assert_eq!(decode(&changed), Err(SmsError::Mismatch));
        assert_eq!(decode(&m.replacen("HL1", "HL2", 1)), Err(SmsError::UnsupportedVersion(2)));
        assert_eq!(decode(&m.replacen("HL1", "XL1", 1)), Err(SmsError::NotHemalens));
        assert!(matches!(decode(&m.replacen(' ', "_", 1)), Err(SmsError::Charset { position: 4, ch: '_' })));
        let n = m.len();
        assert_eq!(
            decode(&format!("{}U", &m[..n - 1])),
            Err(SmsError::BadCheck),
            "U is not a Crockford digit"
        );
        assert_eq!(decode(&format!("{m} {m}")), Err(SmsError::TooLong(2 * n + 1)));
        // A message with a valid check but a broken grammar: refused, not misread.
        let body = "HL1 0123456789ABCDEF-1 XXX R W0 U0 NE0 LY0 MO0 EO0 BA0 IG0 EB0 F0/0 P-";
        let forged = format!("{body} *{}", check_code(crc32(body.as_bytes())));
        assert_eq!(decode(&forged), Err(SmsError::Malformed("outcome")));
    }
}
