//! Meta's answers, as recorded, and the kind, code and clean message each
//! one gives.

use serde_json::{Value, json};

use super::scrub::MAX_MESSAGE_CHARS;
use super::*;

fn graph(status: u16, body: Value) -> UpstreamError {
    graph_with_usage(status, body, Usage::default())
}

fn graph_with_usage(status: u16, body: Value, usage: Usage) -> UpstreamError {
    interpret(status, usage, body.to_string().as_bytes(), &[]).unwrap_err()
}

fn raw(status: u16, body: &str) -> UpstreamError {
    interpret(status, Usage::default(), body.as_bytes(), &[]).unwrap_err()
}

#[test]
fn unsupported_get_on_graph_instagram_means_the_account_may_not_use_the_app() {
    // The body of instafeed.js#654 and of the 2026 deployment notes.
    let error = graph(
        400,
        json!({"error":{"message":"Unsupported request - method type: get","type":"IGApiException","code":100,"fbtrace_id":"AbC"}}),
    );
    assert!(error.is_app_not_permitted());
    assert_eq!(error.label(), "app_not_permitted");
    assert!(!error.is_retryable() && !error.needs_reconnect());
    assert!(error.advice().unwrap().contains("Instagram Testers"));
    let other = graph(
        400,
        json!({"error":{"message":"(#100) Tried accessing nonexisting field (x) on node type (User)","type":"OAuthException","code":100}}),
    );
    assert!(!other.is_app_not_permitted());
    assert_eq!(other.label(), "rejected");
    assert!(other.advice().is_none());
}

#[test]
fn appsecret_proof_and_redirect_uri_refusals_come_with_advice() {
    let proof = graph(
        400,
        json!({"error":{"message":"Invalid appsecret_proof provided in the API argument","type":"GraphMethodException","code":100}}),
    );
    assert!(proof.advice().unwrap().contains("FACEBOOK_APP_SECRET"));
    let redirect = graph(
        400,
        json!({"error_type":"OAuthException","code":400,"error_message":"Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request"}),
    );
    assert!(redirect.advice().unwrap().contains("redirect URI"));
}

#[test]
fn code_190_without_subcode_means_the_token_is_dead() {
    let error = graph(
        400,
        json!({"error":{"message":"Error validating access token: Session has expired on Tuesday, 28-Sep-21 03:00:00 PDT.","type":"OAuthException","code":190,"fbtrace_id":"AbC"}}),
    );
    assert_eq!(error.kind, ErrorKind::TokenDead);
    assert_eq!(
        (error.status, error.code, error.subcode),
        (Some(400), Some(190), None)
    );
    assert!(error.needs_reconnect());
    assert!(!error.is_retryable());
    assert_eq!(
        error.to_string(),
        "upstream said (#190): Error validating access token: Session has expired on Tuesday, 28-Sep-21 03:00:00 PDT."
    );
}

#[test]
fn a_password_change_190_460_is_dead_and_displays_code_and_subcode() {
    let error = graph(
        400,
        json!({"error":{"message":"Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.","type":"OAuthException","code":190,"error_subcode":460}}),
    );
    assert_eq!(error.kind, ErrorKind::TokenDead);
    assert_eq!(error.subcode, Some(460));
    assert!(
        error
            .to_string()
            .starts_with("upstream said (#190/460): Error validating access token: The session")
    );
}

#[test]
fn an_expired_190_463_is_dead() {
    let error = graph(
        400,
        json!({"error":{"message":"Error validating access token: Session has expired","type":"OAuthException","code":190,"error_subcode":463}}),
    );
    assert_eq!(error.kind, ErrorKind::TokenDead);
    assert_eq!(error.subcode, Some(463));
}

#[test]
fn code_102_is_dead() {
    let error = graph(
        400,
        json!({"error":{"message":"Session key invalid","code":102}}),
    );
    assert_eq!(error.kind, ErrorKind::TokenDead);
}

#[test]
fn a_dead_subcode_under_another_code_is_dead() {
    for subcode in [458, 459, 460, 463, 464, 467, 492] {
        let error = graph(
            400,
            json!({"error":{"message":"x","code":2500,"error_subcode":subcode}}),
        );
        assert_eq!(error.kind, ErrorKind::TokenDead, "subcode {subcode}");
    }
}

#[test]
fn code_4_with_http_403_is_throttled_not_rejected() {
    let error = graph(
        403,
        json!({"error":{"message":"(#4) Application request limit reached","type":"OAuthException","is_transient":true,"code":4,"fbtrace_id":"FlQgl+5U8pF"}}),
    );
    assert_eq!(
        error.kind,
        ErrorKind::Throttled {
            retry_after_minutes: None
        }
    );
    assert!(error.is_retryable());
    assert_eq!(
        error.to_string(),
        "upstream said (#4): Application request limit reached"
    );
}

#[test]
fn codes_17_32_341_and_613_are_throttled() {
    for code in [17, 32, 341, 613, 80001] {
        let error = graph(
            400,
            json!({"error":{"message":"(#17) User request limit reached","code":code}}),
        );
        assert!(
            matches!(error.kind, ErrorKind::Throttled { .. }),
            "code {code}"
        );
    }
}

#[test]
fn code_80002_takes_its_wait_from_the_business_use_case_header() {
    let usage = Usage::parse(
        None,
        Some(
            r#"{"17841405822304914":[{"type":"instagram","call_count":100,"total_cputime":20,"total_time":30,"estimated_time_to_regain_access":17}]}"#,
        ),
        None,
    );
    let error = graph_with_usage(
        400,
        json!({"error":{"message":"(#80002) There have been too many calls to this Instagram account. Wait a bit and try again.","type":"OAuthException","code":80002,"fbtrace_id":"x"}}),
        usage,
    );
    assert_eq!(
        error.kind,
        ErrorKind::Throttled {
            retry_after_minutes: Some(17)
        }
    );
}

#[test]
fn a_zero_regain_estimate_is_no_estimate() {
    let usage = Usage {
        max_percent: Some(100),
        regain_access_minutes: Some(0),
    };
    let error = graph_with_usage(400, json!({"error":{"message":"x","code":80002}}), usage);
    assert_eq!(
        error.kind,
        ErrorKind::Throttled {
            retry_after_minutes: None
        }
    );
}

#[test]
fn is_transient_with_a_throttle_code_is_throttled_and_otherwise_transient() {
    let throttle = graph(
        400,
        json!({"error":{"message":"x","code":613,"is_transient":true}}),
    );
    assert!(matches!(throttle.kind, ErrorKind::Throttled { .. }));
    let other = graph(
        400,
        json!({"error":{"message":"x","code":12345,"is_transient":true}}),
    );
    assert_eq!(other.kind, ErrorKind::Transient);
}

#[test]
fn codes_1_and_2_with_http_500_are_transient() {
    for code in [1, 2] {
        let error = graph(
            500,
            json!({"error":{"message":"An unexpected error has occurred. Please retry your request later.","type":"OAuthException","is_transient":true,"code":code}}),
        );
        assert_eq!(error.kind, ErrorKind::Transient, "code {code}");
    }
    let without_flag = graph(
        200,
        json!({"error":{"message":"An unknown error occurred","code":1}}),
    );
    assert_eq!(without_flag.kind, ErrorKind::Transient);
}

#[test]
fn code_100_10_and_200_are_rejected() {
    for (status, code) in [(400, 100), (400, 10), (403, 200), (400, 299), (500, 100)] {
        let error = graph(
            status,
            json!({"error":{"message":"Unsupported request - method type: get","type":"IGApiException","code":code}}),
        );
        assert_eq!(error.kind, ErrorKind::Rejected, "code {code}");
        assert!(!error.is_retryable());
    }
}

#[test]
fn an_unknown_code_is_rejected_on_4xx_and_transient_on_5xx() {
    let body = json!({"error":{"message":"Something","code":-3}});
    assert_eq!(graph(400, body.clone()).kind, ErrorKind::Rejected);
    assert_eq!(graph(503, body).kind, ErrorKind::Transient);
}

#[test]
fn an_exhausted_usage_header_turns_an_error_into_throttling() {
    let usage = Usage {
        max_percent: Some(100),
        regain_access_minutes: Some(9),
    };
    let error = graph_with_usage(400, json!({"error":{"message":"x","code":12345}}), usage);
    assert_eq!(
        error.kind,
        ErrorKind::Throttled {
            retry_after_minutes: Some(9)
        }
    );
    let dead = graph_with_usage(400, json!({"error":{"message":"x","code":190}}), usage);
    assert_eq!(dead.kind, ErrorKind::TokenDead);
}

#[test]
fn the_instagram_oauth_envelope_is_rejected_not_dead() {
    let error = graph(
        400,
        json!({"error_type":"OAuthException","code":400,"error_message":"Matching code was not found or was already used"}),
    );
    assert_eq!(error.kind, ErrorKind::Rejected);
    assert_eq!(error.code, Some(400));
    assert_eq!(
        error.to_string(),
        "upstream said (#400): Matching code was not found or was already used"
    );
}

#[test]
fn the_legacy_instagram_meta_envelope_is_read() {
    let error = graph(
        400,
        json!({"meta":{"error_type":"OAuthAccessTokenException","code":400,"error_message":"The access_token provided is invalid."}}),
    );
    assert_eq!(error.kind, ErrorKind::Rejected);
    assert_eq!(error.message, "The access_token provided is invalid.");
}

#[test]
fn an_oauth2_string_error_is_read() {
    let error = graph(
        400,
        json!({"error":"invalid_request","error_description":"Bad redirect"}),
    );
    assert_eq!(error.kind, ErrorKind::Rejected);
    assert_eq!(error.message, "Bad redirect");
}

#[test]
fn an_error_envelope_with_a_200_status_is_still_an_error() {
    let error = graph(
        200,
        json!({"error":{"message":"x","code":190,"error_subcode":"467"}}),
    );
    assert_eq!(error.kind, ErrorKind::TokenDead);
    assert_eq!(error.subcode, Some(467));
}

#[test]
fn an_html_502_is_transient() {
    let error = raw(502, "<html><body><h1>502 Bad Gateway</h1></body></html>");
    assert_eq!(error.kind, ErrorKind::Transient);
    assert_eq!(error.status, Some(502));
    assert_eq!(
        error.to_string(),
        "upstream HTTP 502: sent an HTML page without an error envelope"
    );
}

#[test]
fn an_html_4xx_is_rejected_and_an_html_429_throttled() {
    assert_eq!(
        raw(404, "<!doctype html><p>Not found</p>").kind,
        ErrorKind::Rejected
    );
    assert!(matches!(
        raw(429, "<p>slow down</p>").kind,
        ErrorKind::Throttled { .. }
    ));
}

#[test]
fn an_html_200_is_garbage() {
    let error = raw(
        200,
        "  <!DOCTYPE html><html>Sorry, something went wrong.</html>",
    );
    assert_eq!(error.kind, ErrorKind::Garbage);
    assert!(error.is_retryable());
    assert_eq!(
        error.to_string(),
        "upstream HTTP 200: sent an HTML page instead of JSON"
    );
}

#[test]
fn truncated_json_is_garbage_on_200_and_transient_on_500() {
    let body = r#"{"access_token":"IGAAabc","token_type":"bea"#;
    assert_eq!(raw(200, body).kind, ErrorKind::Garbage);
    assert_eq!(
        raw(500, r#"{"error":{"message":"x","co"#).kind,
        ErrorKind::Transient
    );
    assert_eq!(raw(200, "").kind, ErrorKind::Garbage);
}

#[test]
fn a_success_body_is_returned() {
    let value = interpret(200, Usage::default(), br#"{"id":"1"}"#, &[]).unwrap();
    assert_eq!(value, json!({"id":"1"}));
}

#[test]
fn secrets_inside_an_upstream_message_are_scrubbed() {
    let error = graph(
        400,
        json!({"error":{"message":"Bad request GET /oauth/access_token?client_id=1&client_secret=s3cr3tValue&access_token=IGAAtok.en-1|x%7Cy and ACCESS_TOKEN%3DEAAsecond, {\"fb_exchange_token\":\"EAAthird\"}","code":100}}),
    );
    let shown = error.to_string();
    for secret in ["s3cr3tValue", "IGAAtok", "EAAsecond", "EAAthird"] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
    assert!(shown.contains("client_id=1&client_secret=[redacted]&access_token=[redacted]"));
    assert!(!format!("{error:?}").contains("s3cr3tValue"));
}

#[test]
fn known_secret_values_are_scrubbed_even_without_a_key() {
    let token = "IGAA-very-secret|token";
    let body = json!({"error":{"message":format!("token {token} or IGAA-very-secret%7Ctoken is bad"),"code":190}});
    let error =
        interpret(400, Usage::default(), body.to_string().as_bytes(), &[token]).unwrap_err();
    assert!(!error.to_string().contains("very-secret"), "{error}");
    assert_eq!(error.message, "token [redacted] or [redacted] is bad");
}

#[test]
fn long_messages_are_capped_and_flattened() {
    let long = format!("line one\n\tline two {}", "xx ".repeat(400));
    let error = graph(400, json!({"error":{"message":long,"code":100}}));
    assert!(error.message.starts_with("line one line two xx xx"));
    assert_eq!(error.message.chars().count(), MAX_MESSAGE_CHARS + 1);
    assert!(error.message.ends_with('…'));
}

#[test]
fn labels_and_retryability_follow_the_kinds() {
    let kinds = [
        (ErrorKind::TokenDead, "token_dead", false),
        (
            ErrorKind::Throttled {
                retry_after_minutes: None,
            },
            "throttled",
            true,
        ),
        (ErrorKind::Transient, "transient", true),
        (ErrorKind::Garbage, "garbage", true),
        (ErrorKind::Rejected, "rejected", false),
    ];
    for (kind, label, retryable) in kinds {
        assert_eq!(kind.label(), label);
        assert_eq!(kind.is_retryable(), retryable);
    }
}

#[test]
fn debug_token_for_a_valid_token_is_fine() {
    let body = json!({"data":{"app_id":"257422819769992","type":"USER","is_valid":true,"expires_at":1673934788,"scopes":["public_profile"],"user_id":"123"}});
    assert!(classify_debug_token(&body).is_none());
}

#[test]
fn debug_token_with_an_embedded_190_463_is_dead() {
    let body = json!({"data":{"app_id":"1","type":"USER","error":{"code":190,"message":"Error validating access token: Session has expired on Wednesday, 16-Nov-22 07:45:51 PST.","subcode":463},"is_valid":false,"scopes":["email"]}});
    let error = classify_debug_token(&body).unwrap();
    assert_eq!(error.kind, ErrorKind::TokenDead);
    assert_eq!((error.code, error.subcode), (Some(190), Some(463)));
}

#[test]
fn debug_token_for_an_unparseable_or_invalid_token_is_dead() {
    let unparseable = json!({"data":{"error":{"code":190,"message":"Invalid OAuth access token - Cannot parse access token"},"is_valid":false,"scopes":[]}});
    assert_eq!(
        classify_debug_token(&unparseable).unwrap().kind,
        ErrorKind::TokenDead
    );
    let bare = json!({"data":{"is_valid":false}});
    assert_eq!(
        classify_debug_token(&bare).unwrap().kind,
        ErrorKind::TokenDead
    );
    let other_code = json!({"data":{"error":{"code":1,"message":"x"},"is_valid":false}});
    assert_eq!(
        classify_debug_token(&other_code).unwrap().kind,
        ErrorKind::TokenDead
    );
}

#[test]
fn debug_token_called_with_a_wrong_app_token_is_rejected() {
    let body = json!({"error":{"message":"(#100) You must provide an app access token, or a user access token that is an owner or developer of the app","type":"OAuthException","code":100}});
    assert_eq!(
        classify_debug_token(&body).unwrap().kind,
        ErrorKind::Rejected
    );
    assert_eq!(
        classify_debug_token(&json!({"x":1})).unwrap().kind,
        ErrorKind::Garbage
    );
}

#[test]
fn token_shaped_words_are_redacted_even_when_not_sent() {
    let other = format!("IGAA{}", "x".repeat(150));
    let cleaned = clean_message(
        &format!("Cannot parse access token {other} (trace AbC12)"),
        &[],
    );
    assert!(!cleaned.contains(&other), "{cleaned}");
    assert!(
        cleaned.contains("[redacted]") && cleaned.contains("AbC12"),
        "{cleaned}"
    );
    let long = "a1".repeat(25);
    assert!(!clean_message(&format!("value {long}."), &[]).contains(&long));
    assert_eq!(
        clean_message("Session has expired on Tuesday", &[]),
        "Session has expired on Tuesday"
    );
}
