//! The Instagram Login window and code exchange.

use std::collections::HashMap;

use chrono::Duration;

use super::*;
use crate::CodeExchangeShape;

const REDIRECT: &str = "http://127.0.0.1/connect/callback";

async fn authorize(w: &World, redirect_uri: &str) -> Answer {
    let app_id = w.fake.options().app.ig_app_id;
    let query = [
        ("client_id", app_id.as_str()),
        ("redirect_uri", redirect_uri),
        ("response_type", "code"),
        ("scope", "instagram_business_basic"),
        ("state", "st4te"),
    ];
    get(&w.fake.instagram_authorize_url(), &query).await
}

fn location_query(reply: &Answer) -> (url::Url, HashMap<String, String>) {
    let location = url::Url::parse(reply.header("location").unwrap()).unwrap();
    let query = location.query_pairs().into_owned().collect();
    (location, query)
}

async fn exchange(w: &World, code: &str, redirect_uri: &str) -> Answer {
    let app = w.fake.options().app;
    let url = format!("{}/oauth/access_token", w.fake.instagram_oauth_url());
    let form = [
        ("client_id", app.ig_app_id.as_str()),
        ("client_secret", app.ig_app_secret.as_str()),
        ("grant_type", "authorization_code"),
        ("redirect_uri", redirect_uri),
        ("code", code),
    ];
    post_form(&url, &form).await
}

#[tokio::test]
async fn the_window_redirects_with_code_state_and_hash_underscore() {
    let w = world().await;

    let reply = authorize(&w, REDIRECT).await;

    assert_eq!(reply.status, 302);
    let (location, query) = location_query(&reply);
    assert!(location.as_str().starts_with(REDIRECT));
    assert_eq!(location.fragment(), Some("_"));
    assert_eq!(query["state"], "st4te");
    assert_eq!(w.fake.issued_codes(), vec![query["code"].clone()]);
}

#[tokio::test]
async fn a_user_who_denies_is_sent_back_with_the_documented_error() {
    let w = world().await;
    w.fake.deny_next_authorize();

    let (_, query) = location_query(&authorize(&w, REDIRECT).await);

    assert_eq!(query["error"], "access_denied");
    assert_eq!(query["error_reason"], "user_denied");
    assert_eq!(query["error_description"], "The user denied your request");
    assert!(!query.contains_key("code"));
}

#[tokio::test]
async fn the_window_rejects_an_unregistered_redirect_uri() {
    let w = world().await;

    let reply = authorize(&w, "http://127.0.0.1/connect/callback/").await;

    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error_message"], "Invalid redirect_uri");
}

#[tokio::test]
async fn a_code_is_exchanged_once_for_a_flat_body_with_a_numeric_user_id() {
    let w = world().await;
    let (_, query) = location_query(&authorize(&w, REDIRECT).await);

    let first = exchange(&w, &query["code"], REDIRECT).await;
    let second = exchange(&w, &query["code"], REDIRECT).await;

    assert_eq!(first.status, 200);
    assert!(
        first
            .text
            .contains(&format!("\"user_id\":{}", w.user.ig_user_id))
    );
    let body = first.json();
    assert_eq!(
        body["permissions"],
        serde_json::json!(["instagram_business_basic"])
    );
    let token = body["access_token"].as_str().unwrap();
    let status = w.fake.token_status(token);
    let expected = crate::TokenStatus::Valid {
        expires_at: start_time() + Duration::hours(1),
    };
    assert_eq!(status, expected);
    assert_eq!(second.status, 400);
    assert_eq!(
        second.json(),
        serde_json::json!({
            "error_type": "OAuthException",
            "code": 400,
            "error_message": "Matching code was not found or was already used",
        })
    );
}

#[tokio::test]
async fn expired_codes_and_mismatched_redirects_are_refused() {
    let w = world().await;
    let stale = w
        .fake
        .issue_auth_code(&w.user, REDIRECT, &["instagram_business_basic"]);
    let mismatched = w
        .fake
        .issue_auth_code(&w.user, REDIRECT, &["instagram_business_basic"]);

    let wrong_redirect = exchange(&w, &mismatched, "http://127.0.0.1/elsewhere").await;
    w.clock.advance(Duration::minutes(61));
    let expired = exchange(&w, &stale, REDIRECT).await;

    assert_eq!(wrong_redirect.status, 400);
    assert!(
        wrong_redirect.json()["error_message"]
            .as_str()
            .unwrap()
            .starts_with("Error validating verification code. Please make sure your redirect_uri is identical"),
        "{}",
        wrong_redirect.text
    );
    assert_eq!(expired.status, 400);
    assert_eq!(expired.json()["error_type"], "OAuthException");
    assert_eq!(
        expired.json()["error_message"],
        "Matching code was not found or was already used"
    );
}

#[tokio::test]
async fn the_wrapped_shape_is_available() {
    let w = world().await;
    w.fake
        .set_options(|o| o.code_exchange_shape = CodeExchangeShape::Wrapped);
    let code = w.fake.issue_auth_code(
        &w.user,
        REDIRECT,
        &[
            "instagram_business_basic",
            "instagram_business_manage_comments",
        ],
    );

    let body = exchange(&w, &code, REDIRECT).await.json();

    let item = &body["data"][0];
    assert_eq!(item["user_id"], w.user.ig_user_id.as_str());
    assert_eq!(
        item["permissions"],
        "instagram_business_basic,instagram_business_manage_comments"
    );
}

#[tokio::test]
async fn a_wrong_client_secret_is_refused() {
    let w = world().await;
    let code = w
        .fake
        .issue_auth_code(&w.user, REDIRECT, &["instagram_business_basic"]);
    let url = format!("{}/oauth/access_token", w.fake.instagram_oauth_url());
    let app_id = w.fake.options().app.ig_app_id;

    let form = [
        ("client_id", app_id.as_str()),
        ("client_secret", "wrong"),
        ("grant_type", "authorization_code"),
        ("redirect_uri", REDIRECT),
        ("code", code.as_str()),
    ];
    let reply = post_form(&url, &form).await;

    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["code"], 400);
    assert_eq!(exchange(&w, &code, REDIRECT).await.status, 200);
}
