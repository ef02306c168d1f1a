//! TOKEN_ENCRYPTION_KEY: access tokens encrypted at rest.
//!
//! A stored token is either plain text (no key configured) or
//! `enc:v1:` followed by base64url (no padding) of `nonce (24 bytes) || ciphertext+tag`,
//! sealed with XChaCha20-Poly1305. The 24-byte nonce is random for every encryption, which
//! is safe with XChaCha (unlike the 12-byte nonce of plain ChaCha20 or AES-GCM), so no
//! counter has to be kept in the database.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::config::Secret;

const PREFIX: &str = "enc:v1:";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Authenticated but not encrypted: ties every ciphertext to this format version, so a
/// future `v2` can never be fed a `v1` blob by mistake.
const AAD: &[u8] = b"token-agent enc:v1";
const KEY_CHECK_MESSAGE: &[u8] = b"token-agent key check";

/// Encrypts and decrypts stored access tokens with the key from TOKEN_ENCRYPTION_KEY.
#[derive(Clone)]
pub struct TokenCipher {
    cipher: XChaCha20Poly1305,
    fingerprint: String,
}

/// Why a stored value could not be decrypted. Never carries the value or the key.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CryptoError {
    /// The value does not start with `enc:v1:`: it is plain text or another format.
    #[error("the stored token is not encrypted (no \"enc:v1:\" prefix)")]
    NotEncrypted,
    /// The prefix is there but what follows is not base64url or is too short.
    #[error("the stored token is not a well-formed enc:v1 value")]
    Malformed,
    /// Authentication failed: a different TOKEN_ENCRYPTION_KEY, or the value was altered.
    #[error(
        "the stored token cannot be decrypted: TOKEN_ENCRYPTION_KEY differs from the key it was encrypted with, or the value was altered"
    )]
    WrongKeyOrTampered,
}

impl TokenCipher {
    /// The 32-byte key is the SHA-256 of the variable's text, not the text decoded as hex or
    /// base64. Heroku's `generator: secret` output format is undocumented and people also
    /// paste their own values, so any text is accepted and always yields a full-size key.
    /// Hashing does not stretch a weak passphrase: the variable should hold a long random
    /// value. Surrounding whitespace is ignored, because a dashboard paste that picked up a
    /// trailing newline would otherwise silently become a different key.
    pub fn from_secret(key: &Secret) -> TokenCipher {
        let digest: [u8; 32] = Sha256::digest(key.expose().trim().as_bytes()).into();
        let key = Key::from(digest);
        TokenCipher {
            cipher: XChaCha20Poly1305::new(&key),
            fingerprint: key_check_value(&digest),
        }
    }

    /// Seals `plaintext` under a fresh random nonce, so two calls never give the same output.
    pub fn encrypt(&self, plaintext: &str) -> String {
        let nonce = XNonce::generate();
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: AAD,
                },
            )
            // Only fails for messages near 256 GiB; a token is a few hundred bytes.
            .expect("XChaCha20-Poly1305 encrypts any token-sized message");
        let mut blob = Vec::with_capacity(NONCE_LEN + sealed.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(blob))
    }

    /// Opens a value made by [`encrypt`](Self::encrypt). A wrong key, an altered byte or a
    /// cut-off value is an error, never garbage.
    pub fn decrypt(&self, stored: &str) -> Result<String, CryptoError> {
        let encoded = stored
            .strip_prefix(PREFIX)
            .ok_or(CryptoError::NotEncrypted)?;
        let blob = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| CryptoError::Malformed)?;
        if blob.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Malformed);
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| CryptoError::Malformed)?;
        let plain = self
            .cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: sealed,
                    aad: AAD,
                },
            )
            .map_err(|_| CryptoError::WrongKeyOrTampered)?;
        // Authenticated bytes came from `encrypt(&str)`, so they are UTF-8 unless the key
        // itself was used to forge them.
        String::from_utf8(plain).map_err(|_| CryptoError::Malformed)
    }

    /// Whether a stored value is in the encrypted format (it may still fail to decrypt).
    pub fn is_encrypted(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }

    /// 16 hex characters identifying the key without revealing it: the start of
    /// HMAC-SHA256(key, "token-agent key check"). Store it next to encrypted tokens and
    /// compare at start-up to report a changed TOKEN_ENCRYPTION_KEY before any decryption
    /// fails; it is also safe to log.
    pub fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }
}

impl fmt::Debug for TokenCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCipher")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

fn key_check_value(key: &[u8; 32]) -> String {
    hex::encode(&crate::signing::hmac_sha256(key, KEY_CHECK_MESSAGE)[..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cipher(key: &str) -> TokenCipher {
        TokenCipher::from_secret(&Secret::new(key))
    }

    const TOKEN: &str = "IGQWRPa1ZAabcdefghijklmnopqrstuvwxyz0123456789";

    #[test]
    fn a_token_survives_a_round_trip() {
        let c = cipher("correct horse battery staple");
        let stored = c.encrypt(TOKEN);
        assert!(TokenCipher::is_encrypted(&stored));
        assert!(!stored.contains(TOKEN));
        assert_eq!(c.decrypt(&stored).unwrap(), TOKEN);
    }

    #[test]
    fn an_empty_token_survives_a_round_trip() {
        let c = cipher("k");
        assert_eq!(c.decrypt(&c.encrypt("")).unwrap(), "");
    }

    #[test]
    fn two_encryptions_of_the_same_token_differ() {
        let c = cipher("k");
        assert_ne!(c.encrypt(TOKEN), c.encrypt(TOKEN));
    }

    #[test]
    fn a_different_key_cannot_decrypt() {
        let stored = cipher("key one").encrypt(TOKEN);
        assert_eq!(
            cipher("key two").decrypt(&stored),
            Err(CryptoError::WrongKeyOrTampered)
        );
    }

    #[test]
    fn surrounding_whitespace_in_the_key_is_ignored() {
        let stored = cipher("key one").encrypt(TOKEN);
        assert_eq!(cipher(" key one\n").decrypt(&stored).unwrap(), TOKEN);
    }

    #[test]
    fn every_altered_byte_is_detected() {
        let c = cipher("k");
        let stored = c.encrypt(TOKEN);
        let blob = URL_SAFE_NO_PAD.decode(&stored[PREFIX.len()..]).unwrap();
        for i in 0..blob.len() {
            let mut altered = blob.clone();
            altered[i] ^= 0x01;
            let altered = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(altered));
            assert_eq!(
                c.decrypt(&altered),
                Err(CryptoError::WrongKeyOrTampered),
                "byte {i}"
            );
        }
    }

    #[test]
    fn a_truncated_value_is_refused() {
        let c = cipher("k");
        let stored = c.encrypt(TOKEN);
        for len in PREFIX.len()..stored.len() {
            assert!(c.decrypt(&stored[..len]).is_err(), "length {len}");
        }
    }

    #[test]
    fn a_value_without_the_prefix_is_refused() {
        let c = cipher("k");
        let stored = c.encrypt(TOKEN);
        assert_eq!(c.decrypt(TOKEN), Err(CryptoError::NotEncrypted));
        assert_eq!(
            c.decrypt(&stored["enc:".len()..]),
            Err(CryptoError::NotEncrypted)
        );
        assert!(!TokenCipher::is_encrypted(TOKEN));
    }

    #[test]
    fn a_prefixed_value_that_is_not_base64url_is_malformed() {
        let c = cipher("k");
        assert_eq!(c.decrypt("enc:v1:"), Err(CryptoError::Malformed));
        assert_eq!(c.decrypt("enc:v1:!!!!"), Err(CryptoError::Malformed));
        assert_eq!(c.decrypt("enc:v1:AAAA"), Err(CryptoError::Malformed));
    }

    #[test]
    fn the_fingerprint_is_short_stable_and_depends_on_the_key() {
        let a = cipher("key one").fingerprint();
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a, cipher("key one").fingerprint());
        assert_ne!(a, cipher("key two").fingerprint());
    }

    #[test]
    fn debug_output_shows_the_fingerprint_and_not_the_key() {
        let c = cipher("super-secret-key");
        let debug = format!("{c:?}");
        assert!(debug.contains(&c.fingerprint()));
        assert!(!debug.contains("super-secret-key"));
    }

    #[test]
    fn errors_never_echo_the_value() {
        let c = cipher("k");
        let err = c.decrypt("enc:v1:SECRETTOKENVALUE").unwrap_err();
        assert!(!err.to_string().contains("SECRETTOKENVALUE"));
    }

    proptest! {
        #[test]
        fn decrypting_any_string_never_panics(s in any::<String>()) {
            let _ = cipher("k").decrypt(&s);
        }

        #[test]
        fn decrypting_any_prefixed_base64url_never_panics(s in "[A-Za-z0-9_-]{0,120}") {
            let c = cipher("k");
            let stored = format!("{PREFIX}{s}");
            prop_assert!(c.decrypt(&stored).is_err());
        }

        #[test]
        fn any_text_round_trips(plain in any::<String>(), key in any::<String>()) {
            let c = cipher(&key);
            prop_assert_eq!(c.decrypt(&c.encrypt(&plain)).unwrap(), plain);
        }
    }
}
