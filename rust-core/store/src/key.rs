//! The app's key and the photo encryption. The key never appears in `Debug`.
use crate::Error;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A 256-bit key the app supplies (Android Keystore, iOS Keychain, or
/// `HEMALENS_KEY` for the command line).
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(b)
    }

    /// 64 hex digits.
    pub fn from_hex(s: &str) -> Result<Self, Error> {
        let v = hex::decode(s.trim()).map_err(|_| Error::InvalidArgument("key must be 64 hex digits"))?;
        let b: [u8; 32] = v.try_into().map_err(|_| Error::InvalidArgument("key must be 64 hex digits"))?;
        Ok(Self(b))
    }

    /// A fresh random key from the operating system.
    pub fn generate() -> Result<Self, Error> {
        Ok(Self(random32()?))
    }

    /// The raw 32 bytes (for the app to keep in its key store).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The SQLCipher raw-key literal (no key derivation: the key is already random).
    pub(crate) fn sqlcipher_literal(&self) -> String {
        format!("x'{}'", hex::encode(self.0))
    }
}

pub(crate) fn random32() -> Result<[u8; 32], Error> {
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b).map_err(|_| Error::InvalidState("no operating-system randomness"))?;
    Ok(b)
}

const MAGIC: &[u8; 4] = b"HLP1";
const HEADER: usize = 4 + 4 + 24;

/// The content name of a photo: HMAC-SHA256 under the store's name key, so the
/// name identifies the content without revealing anything about it.
pub(crate) fn photo_name(name_key: &[u8; 32], plain: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(name_key).unwrap_or_else(|_| unreachable!());
    mac.update(plain);
    hex::encode(mac.finalize().into_bytes())
}

/// `HLP1 | key id (u32 LE) | nonce (24) | XChaCha20-Poly1305(photo)`, the header
/// and the name as associated data (a file cannot be swapped for another).
pub(crate) fn seal(key: &[u8; 32], key_id: u32, name: &str, plain: &[u8]) -> Result<Vec<u8>, Error> {
    let mut nonce = [0u8; 24];
    getrandom::getrandom(&mut nonce).map_err(|_| Error::InvalidState("no operating-system randomness"))?;
    let mut out = Vec::with_capacity(HEADER + plain.len() + 16);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&key_id.to_le_bytes());
    out.extend_from_slice(&nonce);
    let aad = [&out[..], name.as_bytes()].concat();
    let cipher = XChaCha20Poly1305::new(key.into());
    let ct = cipher
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad: &aad })
        .map_err(|_| Error::Decrypt)?;
    out.extend_from_slice(&ct);
    Ok(out)
}

/// The key id a sealed photo was written under.
pub(crate) fn sealed_key_id(sealed: &[u8]) -> Result<u32, Error> {
    if sealed.len() < HEADER + 16 || &sealed[..4] != MAGIC {
        return Err(Error::Decrypt);
    }
    let mut id = [0u8; 4];
    id.copy_from_slice(&sealed[4..8]);
    Ok(u32::from_le_bytes(id))
}

pub(crate) fn open(key: &[u8; 32], name: &str, sealed: &[u8]) -> Result<Vec<u8>, Error> {
    sealed_key_id(sealed)?;
    let aad = [&sealed[..HEADER], name.as_bytes()].concat();
    let cipher = XChaCha20Poly1305::new(key.into());
    cipher
        .decrypt(XNonce::from_slice(&sealed[8..HEADER]), Payload { msg: &sealed[HEADER..], aad: &aad })
        .map_err(|_| Error::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_tamper() {
        let k = [7u8; 32];
        let s = seal(&k, 3, "name", b"photo bytes").unwrap();
        assert_eq!(sealed_key_id(&s).unwrap(), 3);
        assert_eq!(open(&k, "name", &s).unwrap(), b"photo bytes");
        assert!(matches!(open(&k, "other", &s), Err(Error::Decrypt)));
        assert!(matches!(open(&[8u8; 32], "name", &s), Err(Error::Decrypt)));
        let mut t = s.clone();
        let last = t.len() - 1;
        t[last] ^= 1;
        assert!(matches!(open(&k, "name", &t), Err(Error::Decrypt)));
    }

    #[test]
    fn key_hex_and_debug() {
        let k = Key::generate().unwrap();
        assert_eq!(Key::from_hex(&k.to_hex()).unwrap(), k);
        assert_eq!(format!("{k:?}"), "Key(..)");
        assert!(Key::from_hex("abcd").is_err());
        assert!(Key::from_hex(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn names_depend_on_the_name_key() {
        assert_ne!(photo_name(&[1; 32], b"x"), photo_name(&[2; 32], b"x"));
        assert_eq!(photo_name(&[1; 32], b"x").len(), 64);
    }
}
