//! HMAC-SHA256, the one keyed hash the agent uses: the refresh hook URL,
//! admin form tokens, the encryption key check, Meta's `signed_request`,
//! and webhook bodies.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

fn mac(key: &[u8], message: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts a key of any length");
    mac.update(message);
    mac
}

/// HMAC-SHA256(key, message).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    mac(key, message).finalize().into_bytes().into()
}

/// HMAC-SHA256(key, message) in lower-case hex.
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    hex::encode(hmac_sha256(key, message))
}

/// Whether `tag` is HMAC-SHA256(key, message), compared in constant time.
pub fn verify_hmac_sha256(key: &[u8], message: &[u8], tag: &[u8]) -> bool {
    mac(key, message).verify_slice(tag).is_ok()
}

/// Whether `tag` is the first `tag.len()` bytes (at least 16) of
/// HMAC-SHA256(key, message), compared in constant time.
pub fn verify_hmac_sha256_prefix(key: &[u8], message: &[u8], tag: &[u8]) -> bool {
    tag.len() >= 16 && mac(key, message).verify_truncated_left(tag).is_ok()
}

/// Whether two secrets are equal, compared in constant time whatever their
/// lengths (both are hashed first).
pub fn same_secret(given: &str, expected: &str) -> bool {
    Sha256::digest(given.as_bytes())
        .ct_eq(&Sha256::digest(expected.as_bytes()))
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_rfc_4231_test_vector() {
        // RFC 4231, test case 2.
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn only_the_right_tag_verifies() {
        let tag = hmac_sha256(b"key", b"message");
        assert!(verify_hmac_sha256(b"key", b"message", &tag));
        assert!(!verify_hmac_sha256(b"key", b"messagE", &tag));
        assert!(!verify_hmac_sha256(b"key", b"message", &tag[..31]));
    }
}
