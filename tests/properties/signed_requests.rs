//! Meta's `signed_request`: only a well-signed, fresh one is read.

use super::*;

fn payload() -> impl Strategy<Value = (String, Value)> {
    (
        "[0-9]{1,20}",
        any::<i64>(),
        prop::option::of(any::<i64>()),
        "\\PC{0,20}",
    )
        .prop_map(|(user_id, issued_at, expires, extra)| {
            let mut value = json!({
                "user_id": user_id,
                "algorithm": "HMAC-SHA256",
                "issued_at": issued_at,
                "extra": extra,
            });
            if let Some(expires) = expires {
                value["expires"] = json!(expires);
            }
            (user_id, value)
        })
}

fn secret() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..48)
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn verifying_any_string_never_panics_and_never_passes(
        raw in prop_oneof![
            "\\PC{0,120}",
            "[A-Za-z0-9_=.-]{0,120}",
            ("[A-Za-z0-9_-]{0,60}", "[A-Za-z0-9_=-]{0,120}").prop_map(|(a, b)| format!("{a}.{b}")),
        ],
        key in secret(),
    ) {
        let result = signed_request::verify(&raw, &key);
        prop_assert!(result.is_err(), "an unsigned string passed: {:?}", raw);
        let _ = signed_request::verify_any(&raw, &[&key, b"other"]);
    }

    #[test]
    fn a_correct_hmac_passes_and_any_other_fails(
        (user_id, body) in payload(),
        key in secret(),
        other_key in secret(),
        flip in any::<prop::sample::Index>(),
        forged in prop::collection::vec(any::<u8>(), 32),
    ) {
        let signed = signed_request::sign(&body, &key);
        let verified = signed_request::verify(&signed, &key)
            .unwrap_or_else(|e| panic!("a correctly signed request failed: {e}"));
        prop_assert_eq!(&verified.user_id, &user_id);
        prop_assert_eq!(verified.algorithm.as_str(), "HMAC-SHA256");

        if other_key != key {
            prop_assert_eq!(
                signed_request::verify(&signed, &other_key),
                Err(SignedRequestError::BadSignature)
            );
        }
        let (signature, encoded) = signed.split_once('.').unwrap();
        // One changed character of the signature.
        let mut bytes = signature.as_bytes().to_vec();
        let at = flip.index(bytes.len());
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let tampered = format!("{}.{encoded}", String::from_utf8(bytes).unwrap());
        prop_assert!(signed_request::verify(&tampered, &key).is_err());
        // A made-up signature over the real payload.
        let made_up = format!("{}.{encoded}", URL_SAFE_NO_PAD.encode(&forged));
        prop_assert!(signed_request::verify(&made_up, &key).is_err());
        // The payload of another request under this signature.
        let other_payload = URL_SAFE_NO_PAD.encode(json!({"user_id": "1", "algorithm": "HMAC-SHA256"}).to_string());
        prop_assume!(other_payload != encoded);
        let swapped = format!("{signature}.{other_payload}");
        prop_assert!(signed_request::verify(&swapped, &key).is_err());
        // An empty secret verifies nothing, not even what it signed.
        let empty_signed = signed_request::sign(&body, b"");
        prop_assert!(signed_request::verify(&empty_signed, b"").is_err());
    }

    #[test]
    fn a_signed_payload_of_any_shape_never_panics(
        body in json_value(),
        key in secret(),
    ) {
        let signed = signed_request::sign(&body, &key);
        if let Ok(request) = signed_request::verify(&signed, &key) {
            prop_assert_eq!(request.algorithm.as_str(), "HMAC-SHA256");
            prop_assert!(!request.user_id.is_empty());
        }
    }
}
