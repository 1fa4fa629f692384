//! The hospital opening a bundle (hemalens_share::bundle::open). The first
//! byte picks how far into the bundle the fuzzer's bytes go:
//! 0: the sealed bytes as they arrive (age's framing, then everything);
//! 1: an envelope, encrypted to the hospital (the header, the signature);
//! 2: a header and parts, signed by the enrolled device and encrypted (the
//!    parts' sizes and checksums, past the signature).
//! Typed refusals only; a bundle that opens has parts exactly as its header
//! lists them.
#![no_main]
use ed25519_dalek::VerifyingKey;
use hemalens_share::bundle::{open, Receiver, MAGIC};
use hemalens_share::DeviceIdentity;
use std::io::Write;
use std::sync::OnceLock;

/// The hospital key of the fuzz corpus (its recipient:
/// age12r5ahfkzagykyre3ygufccd3qw78pa3t49j9utujsftmetvnda7spt2rxv). Not a secret of anyone's.
const FUZZ_HOSPITAL_KEY: &str = "AGE-SECRET-KEY-1A520JY90GQLUK9Q5WWQL7NL72LZL0FUPDXVN6TW2TSH6R28GQT0QPMY5VE";

struct Hospital(VerifyingKey, String);

impl Receiver for Hospital {
    fn enrolled(&self, device_id: &str) -> Option<VerifyingKey> {
        (device_id == self.1).then_some(self.0)
    }
    fn seen(&self, bundle_id: &str) -> bool {
        bundle_id == "00000000000000000000000000000000"
    }
}

struct Fixed {
    device: DeviceIdentity,
    identity: age::x25519::Identity,
    hospital: Hospital,
}

fn fixed() -> &'static Fixed {
    static F: OnceLock<Fixed> = OnceLock::new();
    F.get_or_init(|| {
        let device = DeviceIdentity::from_seed(&[7; 32]);
        let hospital = Hospital(device.public_key(), device.id());
        // A fixed hospital key, only for fuzzing: the committed corpus holds
        // bundles sealed to it (scripts/make_fuzz_corpus.py).
        let identity = FUZZ_HOSPITAL_KEY.parse().expect("the fuzz hospital key");
        Fixed { device, identity, hospital }
    })
}

fn encrypt(env: &[u8]) -> Vec<u8> {
    let r = fixed().identity.to_public();
    let enc = age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient)).expect("recipient");
    let mut out = Vec::new();
    let mut w = enc.wrap_output(&mut out).expect("age");
    w.write_all(env).expect("age");
    w.finish().expect("age");
    out
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let f = fixed();
    let sealed = match mode % 3 {
        0 => rest.to_vec(),
        1 => encrypt(rest),
        _ => {
            // header JSON, a zero byte, then the parts' bytes.
            let (head, parts) = match rest.iter().position(|&b| b == 0) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &[][..]),
            };
            let mut env = MAGIC.to_vec();
            env.extend_from_slice(&(head.len() as u32).to_be_bytes());
            env.extend_from_slice(head);
            env.extend_from_slice(parts);
            let sig = f.device.sign(&env);
            env.extend_from_slice(&sig.to_bytes());
            encrypt(&env)
        }
    };
    if let Ok(opened) = open(&sealed, &f.identity, &f.hospital) {
        assert_eq!(opened.parts.len(), opened.header.parts.len(), "every listed part is there");
        for (p, info) in opened.parts.iter().zip(&opened.header.parts) {
            assert_eq!(p.data.len() as u64, info.size, "a part is the size its header says");
            assert_eq!(p.name, info.name);
        }
        assert_eq!(opened.header.device_id, f.device.id(), "only the enrolled device's bundles open");
    }
});
