//! Meta's `signed_request`, posted to the deauthorize and data-deletion callbacks.
//!
//! Format: `base64url(signature) "." base64url(payload JSON)`, where the signature is
//! HMAC-SHA256 over the *encoded* payload text, keyed with the app secret
//! (instagram-api.md §7.1). The signature is checked, in constant time, before the payload
//! is even decoded, so nothing in an unsigned request is looked at.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer};
use thiserror::Error;

use crate::signing::{hmac_sha256, verify_hmac_sha256};

/// The only algorithm Meta uses, spelled as Meta writes it.
pub const ALGORITHM: &str = "HMAC-SHA256";

/// A verified payload. Unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SignedRequest {
    /// The app-scoped user id. Meta sends a string; a number is accepted and kept as text.
    #[serde(deserialize_with = "string_or_integer")]
    pub user_id: String,
    pub algorithm: String,
    /// Unix seconds.
    #[serde(default)]
    pub issued_at: Option<i64>,
    /// Unix seconds; only data-deletion requests carry it.
    #[serde(default)]
    pub expires: Option<i64>,
}

/// Why a `signed_request` was refused. Never contains the app secret or the signature.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignedRequestError {
    /// Empty, no `.`, an empty part, or a part that is not base64url.
    #[error("signed_request is malformed: {0}")]
    Malformed(&'static str),
    /// The signature was not made with (any of) the configured app secret(s).
    #[error("signed_request signature does not match the app secret")]
    BadSignature,
    /// Correctly signed, but the payload names another algorithm.
    #[error("signed_request algorithm is {0:?}, expected \"HMAC-SHA256\"")]
    WrongAlgorithm(String),
    /// Correctly signed, but the payload is not a JSON object with a usable `user_id`.
    #[error("signed_request payload is invalid: {0}")]
    InvalidPayload(String),
    /// Correctly signed, but issued too long ago (or in the future), or past
    /// its own `expires`: a replay of an old request.
    #[error("signed_request is stale: {0}")]
    Stale(&'static str),
}

/// How old a `signed_request` may be: Meta posts its callbacks as they
/// happen, so an hour leaves room for retries and nothing for replays.
pub const MAX_AGE_SECONDS: i64 = 60 * 60;
/// How far the issuer's clock may run ahead of ours.
pub const CLOCK_SKEW_SECONDS: i64 = 5 * 60;

impl SignedRequest {
    /// Refuses a request without `issued_at`, issued more than
    /// [`MAX_AGE_SECONDS`] before `now` (Unix seconds) or more than
    /// [`CLOCK_SKEW_SECONDS`] after it, or past its `expires`.
    pub fn check_fresh(&self, now: i64) -> Result<(), SignedRequestError> {
        let issued = self
            .issued_at
            .ok_or(SignedRequestError::Stale("it has no issued_at"))?;
        if issued < now.saturating_sub(MAX_AGE_SECONDS) {
            return Err(SignedRequestError::Stale("it was issued over an hour ago"));
        }
        if issued > now.saturating_add(CLOCK_SKEW_SECONDS) {
            return Err(SignedRequestError::Stale("it was issued in the future"));
        }
        if self.expires.is_some_and(|expires| expires <= now) {
            return Err(SignedRequestError::Stale("it has expired"));
        }
        Ok(())
    }
}

/// Verifies `signed_request` with one app secret and returns its payload.
///
/// An empty secret never verifies anything: HMAC accepts an empty key, and a missing
/// secret must not turn into one anybody can sign with.
pub fn verify(
    signed_request: &str,
    app_secret: &[u8],
) -> Result<SignedRequest, SignedRequestError> {
    let (signature, payload) = split(signed_request)?;
    check_signature(signature, payload, app_secret)?;
    parse_payload(payload)
}

/// Verifies with each secret in turn (the Instagram app's and the Facebook app's, since
/// both products post to the same callback URLs) and returns the first match.
///
/// A request that is malformed, or that one secret verifies but whose payload is wrong,
/// fails with that error; one that no secret verifies fails with `BadSignature`.
pub fn verify_any(
    signed_request: &str,
    secrets: &[&[u8]],
) -> Result<SignedRequest, SignedRequestError> {
    let (signature, payload) = split(signed_request)?;
    for secret in secrets {
        match check_signature(signature, payload, secret) {
            Ok(()) => return parse_payload(payload),
            Err(SignedRequestError::BadSignature) => continue,
            Err(other) => return Err(other),
        }
    }
    Err(SignedRequestError::BadSignature)
}

/// Builds a `signed_request` the way Meta does: unpadded base64url on both sides. For tests
/// and the fake Graph API's callback simulator.
pub fn sign(payload: &serde_json::Value, app_secret: &[u8]) -> String {
    let payload = URL_SAFE_NO_PAD.encode(payload.to_string());
    let signature = URL_SAFE_NO_PAD.encode(hmac_sha256(app_secret, payload.as_bytes()));
    format!("{signature}.{payload}")
}

fn split(signed_request: &str) -> Result<(&str, &str), SignedRequestError> {
    let signed_request = signed_request.trim();
    if signed_request.is_empty() {
        return Err(SignedRequestError::Malformed("it is empty"));
    }
    let (signature, payload) =
        signed_request
            .split_once('.')
            .ok_or(SignedRequestError::Malformed(
                "no '.' between signature and payload",
            ))?;
    if signature.is_empty() {
        return Err(SignedRequestError::Malformed("the signature is empty"));
    }
    if payload.is_empty() {
        return Err(SignedRequestError::Malformed("the payload is empty"));
    }
    Ok((signature, payload))
}

fn check_signature(
    signature: &str,
    payload: &str,
    app_secret: &[u8],
) -> Result<(), SignedRequestError> {
    let signature = decode_lenient(signature).ok_or(SignedRequestError::Malformed(
        "the signature is not base64url",
    ))?;
    if app_secret.is_empty() {
        return Err(SignedRequestError::BadSignature);
    }
    // Over the payload exactly as received, not a re-encoding of the decoded JSON.
    if verify_hmac_sha256(app_secret, payload.as_bytes(), &signature) {
        Ok(())
    } else {
        Err(SignedRequestError::BadSignature)
    }
}

fn parse_payload(payload: &str) -> Result<SignedRequest, SignedRequestError> {
    let json = decode_lenient(payload).ok_or(SignedRequestError::Malformed(
        "the payload is not base64url",
    ))?;
    let value: serde_json::Value = serde_json::from_slice(&json)
        .map_err(|_| SignedRequestError::InvalidPayload("not JSON".to_string()))?;
    if !value.is_object() {
        return Err(SignedRequestError::InvalidPayload(
            "not a JSON object".to_string(),
        ));
    }
    let request = SignedRequest::deserialize(&value)
        .map_err(|e| SignedRequestError::InvalidPayload(e.to_string()))?;
    if request.algorithm != ALGORITHM {
        let mut shown = request.algorithm;
        shown.truncate(shown.floor_char_boundary(40));
        return Err(SignedRequestError::WrongAlgorithm(shown));
    }
    if request.user_id.is_empty() {
        return Err(SignedRequestError::InvalidPayload(
            "user_id is empty".to_string(),
        ));
    }
    Ok(request)
}

/// Base64url with or without `=` padding; the standard alphabet's `+` and `/` are accepted
/// too, as Meta's own PHP sample does. Leniency here cannot weaken the check: the HMAC
/// covers the payload text as received, and the signature must still be the exact 32 bytes.
fn decode_lenient(part: &str) -> Option<Vec<u8>> {
    let unpadded = part.trim_end_matches('=');
    let normalised: String = unpadded
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    URL_SAFE_NO_PAD.decode(normalised).ok()
}

fn string_or_integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    use serde::de::Error as _;
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) if n.is_u64() || n.is_i64() => Ok(n.to_string()),
        _ => Err(D::Error::custom("user_id must be a string or an integer")),
    }
}

#[cfg(test)]
mod freshness {
    use super::*;

    fn request(issued_at: Option<i64>, expires: Option<i64>) -> SignedRequest {
        SignedRequest {
            user_id: "1".into(),
            algorithm: ALGORITHM.into(),
            issued_at,
            expires,
        }
    }

    #[test]
    fn an_old_or_future_or_expired_request_is_stale() {
        let now = 1_780_000_000;
        assert!(request(Some(now), None).check_fresh(now).is_ok());
        assert!(request(Some(now - 3600), None).check_fresh(now).is_ok());
        assert!(request(Some(now + 300), None).check_fresh(now).is_ok());
        assert!(request(Some(now - 3601), None).check_fresh(now).is_err());
        assert!(request(Some(1_291_836_800), None).check_fresh(now).is_err());
        assert!(request(Some(now + 301), None).check_fresh(now).is_err());
        assert!(request(None, None).check_fresh(now).is_err());
        assert!(request(Some(now), Some(now)).check_fresh(now).is_err());
        assert!(request(Some(now), Some(now + 60)).check_fresh(now).is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const BK_VECTOR: &str = "Mf_s6nTb38UYqioBmPqu0Ewm9souPZB9I2fIGwV729U.eyJ1c2VyX2lkIjoiMCIsImFsZ29yaXRobSI6IkhNQUMtU0hBMjU2IiwiaXNzdWVkX2F0IjoxNjI0MjQ0MTU2fQ";
    const DOC_VECTOR: &str = "jrp12ZijqTy2-9NDSsFcrvW7Yz9HUqinb-TuSFEekhs.eyJhbGdvcml0aG0iOiJITUFDLVNIQTI1NiIsImV4cGlyZXMiOjEyOTE4NDA0MDAsImlzc3VlZF9hdCI6MTI5MTgzNjgwMCwidXNlcl9pZCI6IjIxODQ3MSJ9";

    #[test]
    fn the_deauthorize_test_vector_verifies() {
        let request = verify(BK_VECTOR, b"key").unwrap();
        assert_eq!(
            request,
            SignedRequest {
                user_id: "0".into(),
                algorithm: "HMAC-SHA256".into(),
                issued_at: Some(1624244156),
                expires: None,
            }
        );
    }

    #[test]
    fn the_data_deletion_test_vector_verifies() {
        let request = verify(DOC_VECTOR, b"app-secret").unwrap();
        assert_eq!(
            request,
            SignedRequest {
                user_id: "218471".into(),
                algorithm: "HMAC-SHA256".into(),
                issued_at: Some(1291836800),
                expires: Some(1291840400),
            }
        );
    }

    #[test]
    fn padding_on_either_part_is_accepted() {
        let (sig, payload) = BK_VECTOR.split_once('.').unwrap();
        // The signature is 32 bytes: one '=' of padding. The payload's own padding is not
        // part of what was signed, so only the signature may carry it here.
        let padded = format!("{sig}=.{payload}");
        assert_eq!(verify(&padded, b"key").unwrap().user_id, "0");

        let payload_json = json!({"user_id": "1", "algorithm": "HMAC-SHA256", "x": "y"});
        let encoded = base64::engine::general_purpose::URL_SAFE.encode(payload_json.to_string());
        assert!(encoded.ends_with('='), "test needs a padded payload");
        let sig =
            base64::engine::general_purpose::URL_SAFE.encode(hmac_sha256(b"s", encoded.as_bytes()));
        assert_eq!(
            verify(&format!("{sig}.{encoded}"), b"s").unwrap().user_id,
            "1"
        );
    }

    #[test]
    fn a_wrong_secret_is_refused() {
        assert_eq!(
            verify(BK_VECTOR, b"other"),
            Err(SignedRequestError::BadSignature)
        );
        assert_eq!(
            verify(DOC_VECTOR, b"key"),
            Err(SignedRequestError::BadSignature)
        );
    }

    #[test]
    fn an_empty_secret_verifies_nothing() {
        let forged = sign(&json!({"user_id": "1", "algorithm": "HMAC-SHA256"}), b"");
        assert_eq!(verify(&forged, b""), Err(SignedRequestError::BadSignature));
        assert_eq!(
            verify_any(&forged, &[b""]),
            Err(SignedRequestError::BadSignature)
        );
    }

    #[test]
    fn a_flipped_signature_byte_is_refused() {
        let (sig, payload) = BK_VECTOR.split_once('.').unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
        for i in 0..raw.len() {
            raw[i] ^= 0x80;
            let altered = format!("{}.{payload}", URL_SAFE_NO_PAD.encode(&raw));
            assert_eq!(
                verify(&altered, b"key"),
                Err(SignedRequestError::BadSignature)
            );
            raw[i] ^= 0x80;
        }
    }

    #[test]
    fn a_truncated_signature_is_refused() {
        let (sig, payload) = BK_VECTOR.split_once('.').unwrap();
        let raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
        let short = format!("{}.{payload}", URL_SAFE_NO_PAD.encode(&raw[..16]));
        assert_eq!(
            verify(&short, b"key"),
            Err(SignedRequestError::BadSignature)
        );
    }

    #[test]
    fn a_payload_swapped_under_a_valid_signature_is_refused() {
        let (sig, _) = BK_VECTOR.split_once('.').unwrap();
        let (_, other_payload) = DOC_VECTOR.split_once('.').unwrap();
        let swapped = format!("{sig}.{other_payload}");
        assert_eq!(
            verify(&swapped, b"key"),
            Err(SignedRequestError::BadSignature)
        );
    }

    #[test]
    fn another_algorithm_is_refused_even_when_correctly_signed() {
        for algorithm in ["HMAC-SHA1", "hmac-sha256", ""] {
            let request = sign(&json!({"user_id": "1", "algorithm": algorithm}), b"s");
            assert_eq!(
                verify(&request, b"s"),
                Err(SignedRequestError::WrongAlgorithm(algorithm.to_string()))
            );
        }
    }

    #[test]
    fn a_request_without_a_dot_is_malformed() {
        let no_dot = BK_VECTOR.replace('.', "");
        assert!(matches!(
            verify(&no_dot, b"key"),
            Err(SignedRequestError::Malformed(_))
        ));
    }

    #[test]
    fn empty_requests_and_empty_parts_are_malformed() {
        for input in ["", "   ", ".", "abc.", ".abc"] {
            assert!(
                matches!(verify(input, b"key"), Err(SignedRequestError::Malformed(_))),
                "{input:?}"
            );
        }
    }

    #[test]
    fn a_signature_that_is_not_base64url_is_malformed() {
        let (_, payload) = BK_VECTOR.split_once('.').unwrap();
        assert!(matches!(
            verify(&format!("not*base64.{payload}"), b"key"),
            Err(SignedRequestError::Malformed(_))
        ));
    }

    #[test]
    fn a_correctly_signed_payload_that_is_not_a_json_object_is_refused() {
        for body in [
            "not json",
            "[1,2]",
            "\"user_id\"",
            "{\"algorithm\":\"HMAC-SHA256\"}",
        ] {
            let payload = URL_SAFE_NO_PAD.encode(body);
            let sig = URL_SAFE_NO_PAD.encode(hmac_sha256(b"s", payload.as_bytes()));
            assert!(
                matches!(
                    verify(&format!("{sig}.{payload}"), b"s"),
                    Err(SignedRequestError::InvalidPayload(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn a_numeric_user_id_is_kept_as_text() {
        let request = sign(
            &json!({"user_id": 17841400000000000_u64, "algorithm": "HMAC-SHA256", "issued_at": 1}),
            b"s",
        );
        assert_eq!(verify(&request, b"s").unwrap().user_id, "17841400000000000");
    }

    #[test]
    fn a_fractional_or_empty_user_id_is_refused() {
        for user_id in [json!(1.5), json!(""), json!(null), json!(["1"])] {
            let request = sign(
                &json!({"user_id": user_id, "algorithm": "HMAC-SHA256"}),
                b"s",
            );
            assert!(
                matches!(
                    verify(&request, b"s"),
                    Err(SignedRequestError::InvalidPayload(_))
                ),
                "{user_id}"
            );
        }
    }

    #[test]
    fn verify_any_accepts_whichever_secret_signed() {
        let secrets: [&[u8]; 2] = [b"instagram-secret", b"key"];
        assert_eq!(verify_any(BK_VECTOR, &secrets).unwrap().user_id, "0");
        let secrets: [&[u8]; 2] = [b"app-secret", b"key"];
        assert_eq!(verify_any(DOC_VECTOR, &secrets).unwrap().user_id, "218471");
    }

    #[test]
    fn verify_any_refuses_when_no_secret_matches() {
        let secrets: [&[u8]; 2] = [b"a", b"b"];
        assert_eq!(
            verify_any(BK_VECTOR, &secrets),
            Err(SignedRequestError::BadSignature)
        );
        assert_eq!(
            verify_any(BK_VECTOR, &[]),
            Err(SignedRequestError::BadSignature)
        );
        assert!(matches!(
            verify_any("garbage", &secrets),
            Err(SignedRequestError::Malformed(_))
        ));
    }

    #[test]
    fn sign_round_trips_through_verify() {
        let request = sign(
            &json!({"user_id": "42", "algorithm": "HMAC-SHA256", "issued_at": 5, "expires": 6}),
            b"s",
        );
        assert!(!request.contains('='));
        assert_eq!(
            verify(&request, b"s").unwrap(),
            SignedRequest {
                user_id: "42".into(),
                algorithm: ALGORITHM.into(),
                issued_at: Some(5),
                expires: Some(6),
            }
        );
    }

    #[test]
    fn errors_never_show_the_secret() {
        let secret = b"my-very-secret-app-secret";
        let inputs = [
            sign(&json!({"user_id": "1", "algorithm": "HS1"}), secret),
            sign(&json!({"algorithm": "HMAC-SHA256"}), secret),
            BK_VECTOR.to_string(),
            "x".to_string(),
        ];
        for input in inputs {
            let err = verify(&input, secret).unwrap_err();
            assert!(!err.to_string().contains("my-very-secret"), "{err}");
            assert!(!format!("{err:?}").contains("my-very-secret"), "{err:?}");
        }
    }

    proptest! {
        #[test]
        fn verify_never_panics_on_any_string(s in any::<String>(), key in any::<Vec<u8>>()) {
            let _ = verify(&s, &key);
        }

        #[test]
        fn verify_never_panics_on_dotted_base64_lookalikes(
            s in "[A-Za-z0-9_+/=-]{0,60}\\.[A-Za-z0-9_+/=.-]{0,200}",
        ) {
            prop_assert!(verify(&s, b"key").is_err());
        }

        #[test]
        fn only_the_signing_secret_verifies(
            user_id in "[0-9]{1,20}",
            issued_at in any::<i64>(),
            key_a in proptest::collection::vec(any::<u8>(), 1..64),
            key_b in proptest::collection::vec(any::<u8>(), 1..64),
        ) {
            // HMAC pads short keys with zeros, so keys that differ only in trailing zero
            // bytes are the same key.
            let trimmed = |k: &[u8]| k.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            prop_assume!(key_a[..trimmed(&key_a)] != key_b[..trimmed(&key_b)]);
            let request = sign(
                &json!({"user_id": user_id, "algorithm": "HMAC-SHA256", "issued_at": issued_at}),
                &key_a,
            );
            prop_assert_eq!(verify(&request, &key_b), Err(SignedRequestError::BadSignature));
            let verified = verify(&request, &key_a).unwrap();
            prop_assert_eq!(verified.user_id, user_id);
            prop_assert_eq!(verified.issued_at, Some(issued_at));
        }
    }
}
