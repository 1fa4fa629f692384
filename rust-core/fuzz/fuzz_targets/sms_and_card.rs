//! The short texts that come from outside: an SMS result (the inbox's
//! gateway webhook) and a hospital card (a QR code the phone scans). Typed
//! errors only; what decodes re-encodes to something that decodes the same.
#![no_main]
use hemalens_share::card::HospitalCard;
use hemalens_share::sms;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(m) = sms::decode(text) {
        // A decoded message's own fields are sane.
        let _ = m.uid();
        if let Some(p) = m.malignant_percent() {
            assert!(p.is_finite() && (0.0..=100.0).contains(&p), "a percentage");
        }
    }
    if let Ok(card) = HospitalCard::parse(text) {
        let again = HospitalCard::parse(&card.format()).expect("a card's own text reads back");
        assert_eq!(again, card, "a card reads back the same");
    }
});
