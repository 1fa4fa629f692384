//! A hospital's card: everything a phone needs to share with a hospital, in
//! one line a phone scans as a QR code or a health worker pastes:
//!
//! `hemalens:hospital?name=Central%20Hospital&url=https%3A%2F%2Finbox.example%2Ftus%2F&key=age1...&photos=wifi`
//!
//! `name` (1 to 60 characters) is how the phone lists it; `url` the tus
//! endpoint that creates uploads (http or https: the bundles are signed and
//! encrypted to `key` whatever the link); `key` the hospital's age X25519
//! key; `photos` is `wifi` (photos wait for Wi-Fi; the default) or `any`.
//! The inbox prints it (`hemalens-inbox card`, and a QR code on its admin
//! page); the phones read it through the core (`hospital_card_parse`).

use std::str::FromStr;

use crate::Error;

const PREFIX: &str = "hemalens:hospital?";
/// The longest card read (a QR code a phone camera reads well holds far less).
const MAX_LEN: usize = 1024;

/// What a card says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HospitalCard {
    pub name: String,
    pub url: String,
    /// The hospital's age X25519 public key (`age1...`).
    pub recipient: String,
    pub photos_on_wifi_only: bool,
}

impl HospitalCard {
    /// The card's one line.
    pub fn format(&self) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("name", &self.name)
            .append_pair("url", &self.url)
            .append_pair("key", &self.recipient)
            .append_pair("photos", if self.photos_on_wifi_only { "wifi" } else { "any" })
            .finish();
        format!("{PREFIX}{query}")
    }

    /// Reads a card; `Invalid` says which part is wrong (never echoing the text).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = |what: &str| Error::Invalid(format!("not a hospital card: {what}"));
        let t = text.trim();
        if t.len() > MAX_LEN {
            return Err(bad("too long"));
        }
        let query = t.strip_prefix(PREFIX).ok_or_else(|| bad("it does not start with hemalens:hospital?"))?;
        let (mut name, mut url, mut key, mut photos) = (None, None, None, None);
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot = match k.as_ref() {
                "name" => &mut name,
                "url" => &mut url,
                "key" => &mut key,
                "photos" => &mut photos,
                _ => continue, // a field a later version adds
            };
            if slot.replace(v.into_owned()).is_some() {
                return Err(bad("a field is given twice"));
            }
        }
        let name = name.map(|n| n.trim().to_string()).ok_or_else(|| bad("no name"))?;
        if name.is_empty() || name.chars().count() > 60 || name.chars().any(char::is_control) {
            return Err(bad("the name must be 1 to 60 printable characters"));
        }
        let url = url.ok_or_else(|| bad("no url"))?;
        let parsed = url::Url::parse(&url).map_err(|_| bad("the url cannot be read"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
            return Err(bad("the url must be http or https with a host"));
        }
        let recipient = key.ok_or_else(|| bad("no key"))?;
        age::x25519::Recipient::from_str(&recipient).map_err(|_| bad("the key is not an age X25519 key"))?;
        let photos_on_wifi_only = match photos.as_deref().unwrap_or("wifi") {
            "wifi" => true,
            "any" => false,
            _ => return Err(bad("photos must be wifi or any")),
        };
        let card = Self { name, url, recipient, photos_on_wifi_only };
        // What is accepted must write back within the limit (percent-encoding
        // can lengthen it): found by the sms_and_card fuzz target.
        if card.format().len() > MAX_LEN {
            return Err(bad("too long"));
        }
        Ok(card)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "age1wnf0ycdmv5vn9jczlzxuan0e96zxrm8e88cxleetzaqsr3lwwyuquca9jz";

    fn card() -> HospitalCard {
        HospitalCard {
            name: "Central & St. Mary's".into(),
            url: "https://inbox.example/tus/".into(),
            recipient: KEY.into(),
            photos_on_wifi_only: false,
        }
    }

    #[test]
    fn every_card_read_writes_back_within_the_limit() {
        // A name of raw multi-byte characters fits as read, but not once
        // percent-encoded: refused, so every accepted card reads back.
        let name = "\u{10348}".repeat(200);
        let text = format!("hemalens:hospital?name={name}&url=http%3A%2F%2F10.0.0.2%2Ftus%2F&key={KEY}");
        assert!(text.len() <= MAX_LEN);
        assert!(matches!(HospitalCard::parse(&text), Err(Error::Invalid(_))));
    }

    #[test]
    fn a_card_reads_back_as_written() {
        let text = card().format();
        assert!(
            text.starts_with("hemalens:hospital?name=Central+%26+St.+Mary%27s&url=https%3A%2F%2F"),
            "{text}"
        );
        assert_eq!(HospitalCard::parse(&text).expect("card"), card());
        assert_eq!(HospitalCard::parse(&format!("  {text}\n")).expect("trimmed"), card());
        // Photos wait for Wi-Fi unless the card says otherwise; unknown fields are passed over.
        let short =
            format!("hemalens:hospital?name=H&url=http%3A%2F%2F10.0.0.2%3A8080%2Ftus%2F&key={KEY}&v=2");
        assert!(HospitalCard::parse(&short).expect("card").photos_on_wifi_only);
    }

    #[test]
    fn anything_else_is_refused_with_its_reason() {
        let good = card().format();
        let cases = [
            ("", "start"),
            ("age1wnf0ycdmv5vn9jczlzxuan0e96zxrm8e88cxleetzaqsr3lwwyuquca9jz", "start"),
            (&good.replace("key=age1", "key=age2"), "age X25519"),
            (&good.replace("https%3A%2F%2F", "ftp%3A%2F%2F"), "http or https"),
            (&good.replace("photos=any", "photos=sometimes"), "wifi or any"),
            (&good.replace("name=Central+%26+St.+Mary%27s", "name=+"), "1 to 60"),
            (&good.replace("name=Central", &format!("name={}", "x".repeat(61))), "1 to 60"),
            (&format!("{good}&key={KEY}"), "twice"),
            (&format!("{good}{}", "x".repeat(1100)), "too long"),
            ("hemalens:hospital?url=https%3A%2F%2Fa%2F", "no name"),
        ];
        for (text, why) in cases {
            let e = HospitalCard::parse(text).expect_err(text);
            assert!(matches!(&e, Error::Invalid(m) if m.contains(why)), "{text}: {e}");
            assert!(!e.to_string().contains("Mary"), "the text is never echoed: {e}");
        }
    }
}
