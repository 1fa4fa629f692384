//! The device's identity: an Ed25519 key pair derived from the 32-byte seed the
//! records store keeps (on phones the seed may come from the Keystore /
//! Keychain instead). Its id, the first 16 hex digits of the SHA-256 of the
//! public key, names the device in every record it shares.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The device's signing key. `Debug` shows the id only.
pub struct DeviceIdentity {
    key: SigningKey,
}

impl std::fmt::Debug for DeviceIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceIdentity").field("id", &self.id()).finish_non_exhaustive()
    }
}

impl DeviceIdentity {
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self { key: SigningKey::from_bytes(seed) }
    }

    /// The public key a hospital enrols (32 bytes).
    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The public key as 64 hex digits (what `hemalens device key` prints).
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.public_key().as_bytes())
    }

    /// The device id: the first 16 hex digits of SHA-256(public key).
    pub fn id(&self) -> String {
        device_id(&self.public_key())
    }

    pub fn sign(&self, msg: &[u8]) -> Signature {
        self.key.sign(msg)
    }
}

/// The id of the device that holds `key`.
pub fn device_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Verifier;

    #[test]
    fn id_and_signature_follow_the_seed() {
        let a = DeviceIdentity::from_seed(&[7; 32]);
        let b = DeviceIdentity::from_seed(&[8; 32]);
        assert_eq!(a.id().len(), 16);
        assert_ne!(a.id(), b.id());
        let sig = a.sign(b"result");
        assert!(a.public_key().verify(b"result", &sig).is_ok());
        assert!(b.public_key().verify(b"result", &sig).is_err());
        assert!(!format!("{a:?}").contains(&hex::encode([7u8; 32])));
    }
}
