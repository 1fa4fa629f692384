//! A hospital's card (`hemalens:hospital?...`, `hemalens_share::card`) as the
//! store's [`Hospital`]: the one mapping the apps and the command line use.
use hemalens_share::card::HospitalCard;
use hemalens_store::Hospital;

/// The hospital a card names; the error says which part is wrong (never
/// echoing the text).
pub fn read(text: &str) -> Result<Hospital, hemalens_share::Error> {
    let c = HospitalCard::parse(text)?;
    Ok(Hospital {
        name: c.name,
        url: c.url,
        recipient: c.recipient,
        photos_on_wifi_only: c.photos_on_wifi_only,
    })
}

/// The card of a hospital, as [`read`] reads it.
pub fn write(h: &Hospital) -> String {
    HospitalCard {
        name: h.name.clone(),
        url: h.url.clone(),
        recipient: h.recipient.clone(),
        photos_on_wifi_only: h.photos_on_wifi_only,
    }
    .format()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hospital_reads_back_from_its_card() {
        let key = age::x25519::Identity::generate().to_public().to_string();
        for wifi in [true, false] {
            let h = Hospital {
                name: "St. Mary's & Co".into(),
                url: "https://inbox.example/tus/".into(),
                recipient: key.clone(),
                photos_on_wifi_only: wifi,
            };
            assert_eq!(read(&write(&h)).unwrap(), h);
        }
        assert!(read("hemalens:hospital?name=x").is_err());
    }
}
