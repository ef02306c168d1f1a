//! Facebook Login: dialog, code and token exchanges, debug_token, accounts,
//! media, hashtags.

use std::collections::HashMap;

use chrono::Duration;

use super::*;
use crate::{MediaType, TokenStatus};

const REDIRECT: &str = "http://127.0.0.1/connect/callback";

fn app_params(w: &World) -> (String, String) {
    let app = w.fake.options().app;
    (app.fb_app_id, app.fb_app_secret)
}

/// The whole Facebook Login flow to a long-lived user token.
async fn log_in(w: &World) -> String {
    let (app_id, secret) = app_params(w);
    let dialog = get(
        &w.fake.facebook_dialog_url(),
        &[
            ("client_id", &app_id),
            ("redirect_uri", REDIRECT),
            ("state", "s"),
            ("scope", "instagram_basic,pages_show_list"),
        ],
    )
    .await;
    assert_eq!(dialog.status, 302);
    let location = url::Url::parse(dialog.header("location").unwrap()).unwrap();
    assert_eq!(location.fragment(), Some("_=_"));
    let query: HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(query["state"], "s");

    let token_url = format!("{}/v25.0/oauth/access_token", w.fake.facebook_graph_url());
    let short = get(
        &token_url,
        &[
            ("client_id", &app_id),
            ("client_secret", &secret),
            ("redirect_uri", REDIRECT),
            ("code", &query["code"]),
        ],
    )
    .await
    .json();
    assert_eq!(short["expires_in"], 3600);
    let long = get(
        &token_url,
        &[
            ("grant_type", "fb_exchange_token"),
            ("client_id", &app_id),
            ("client_secret", &secret),
            ("fb_exchange_token", short["access_token"].as_str().unwrap()),
        ],
    )
    .await
    .json();
    assert_eq!(long["expires_in"], 5_184_000);
    long["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn the_login_flow_leads_to_the_instagram_account_and_its_media() {
    let w = world().await;
    let token = log_in(&w).await;
    assert!(token.starts_with("EAA"));
    let graph = format!("{}/v25.0", w.fake.facebook_graph_url());

    let accounts = get(
        &format!("{graph}/me/accounts"),
        &[
            ("access_token", &token),
            ("fields", "instagram_business_account,access_token"),
        ],
    )
    .await
    .json();
    let page = &accounts["data"][0];
    assert_eq!(
        page["instagram_business_account"]["id"],
        w.user.ig_user_id.as_str()
    );
    let page_token = page["access_token"].as_str().unwrap();
    assert!(matches!(
        w.fake.token_status(page_token),
        TokenStatus::Valid { .. }
    ));

    let media = get(
        &format!("{graph}/{}/media", w.user.ig_user_id),
        &[
            ("access_token", &token),
            ("fields", "id,caption,like_count,children{media_url}"),
        ],
    )
    .await;
    assert_eq!(media.status, 200);
    assert!(media.header("x-business-use-case-usage").is_some());
    assert_eq!(media.json()["data"].as_array().unwrap().len(), 12);

    let with_page_token = get(
        &format!("{graph}/{}/media", w.user.ig_user_id),
        &[("access_token", page_token)],
    )
    .await;
    assert_eq!(with_page_token.status, 200);
}

#[tokio::test]
async fn instagram_tokens_do_not_work_on_graph_facebook_com() {
    let w = world().await;

    let reply = get(
        &format!("{}/me", w.fake.facebook_graph_url()),
        &[("access_token", &w.token)],
    )
    .await;

    assert_eq!(reply.error_code(), 190);
}

#[tokio::test]
async fn an_expired_facebook_token_gets_190_with_subcode_463() {
    let w = world().await;
    let token = w
        .fake
        .issue_facebook_user_token(&w.user, start_time(), true);
    w.clock.advance(Duration::days(61));

    let reply = get(
        &format!("{}/me", w.fake.facebook_graph_url()),
        &[("access_token", &token)],
    )
    .await;

    assert_eq!(reply.error_code(), 190);
    assert_eq!(reply.json()["error"]["error_subcode"], 463);
}

#[tokio::test]
async fn a_used_code_gets_subcode_36009() {
    let w = world().await;
    let (app_id, secret) = app_params(&w);
    let dialog = get(
        &w.fake.facebook_dialog_url(),
        &[("client_id", &app_id), ("redirect_uri", REDIRECT)],
    )
    .await;
    let location = url::Url::parse(dialog.header("location").unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    let url = format!("{}/oauth/access_token", w.fake.facebook_graph_url());
    let query = [
        ("client_id", app_id.as_str()),
        ("client_secret", secret.as_str()),
        ("redirect_uri", REDIRECT),
        ("code", code.as_str()),
    ];

    assert_eq!(get(&url, &query).await.status, 200);
    let again = get(&url, &query).await;

    assert_eq!(again.error_code(), 100);
    assert_eq!(again.json()["error"]["error_subcode"], 36009);
}

#[tokio::test]
async fn debug_token_reports_valid_and_expired_tokens_with_http_200() {
    let w = world().await;
    let (app_id, secret) = app_params(&w);
    let app_token = format!("{app_id}|{secret}");
    let token = w
        .fake
        .issue_facebook_user_token(&w.user, start_time(), true);
    let url = format!("{}/debug_token", w.fake.facebook_graph_url());

    let valid = get(
        &url,
        &[("input_token", &token), ("access_token", &app_token)],
    )
    .await
    .json();
    w.clock.advance(Duration::days(61));
    let expired = get(
        &url,
        &[("input_token", &token), ("access_token", &app_token)],
    )
    .await;
    let garbled = get(
        &url,
        &[("input_token", "EAAnope"), ("access_token", &app_token)],
    )
    .await
    .json();
    let no_app = get(&url, &[("input_token", &token)]).await;

    assert_eq!(valid["data"]["is_valid"], true);
    assert_eq!(
        valid["data"]["expires_at"].as_i64().unwrap()
            - valid["data"]["issued_at"].as_i64().unwrap(),
        5_184_000
    );
    assert_eq!(expired.status, 200);
    assert_eq!(expired.json()["data"]["is_valid"], false);
    assert_eq!(expired.json()["data"]["error"]["subcode"], 463);
    assert_eq!(garbled["data"]["error"]["code"], 190);
    assert_eq!(no_app.error_code(), 100);
}

#[tokio::test]
async fn hashtag_search_allows_30_distinct_tags_in_7_days() {
    let w = world().await;
    let token = w
        .fake
        .issue_facebook_user_token(&w.user, start_time(), true);
    let url = format!("{}/ig_hashtag_search", w.fake.facebook_graph_url());
    let search = |tag: String| {
        let url = url.clone();
        let token = token.clone();
        let user_id = w.user.ig_user_id.clone();
        async move {
            get(
                &url,
                &[("user_id", &user_id), ("q", &tag), ("access_token", &token)],
            )
            .await
        }
    };
    for i in 0..30 {
        assert_eq!(search(format!("tag{i}")).await.status, 200);
    }

    let repeat = search("tag0".into()).await;
    let thirty_first = search("tag30".into()).await;
    w.clock.advance(Duration::days(7) + Duration::minutes(1));
    let next_week = search("tag30".into()).await;

    assert_eq!(repeat.status, 200);
    assert_eq!(thirty_first.status, 400);
    assert!(
        thirty_first.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("30")
    );
    assert_eq!(next_week.status, 200);
}

#[tokio::test]
async fn recent_media_finds_tagged_posts_of_the_last_day_without_usernames() {
    let w = world().await;
    let token = w
        .fake
        .issue_facebook_user_token(&w.user, start_time(), true);
    let graph = w.fake.facebook_graph_url();
    let post = w
        .fake
        .add_post(&w.user, MediaType::Image, Some("Crusty #sourdough today"));
    let user_id = w.user.ig_user_id.as_str();
    let found = get(
        &format!("{graph}/ig_hashtag_search"),
        &[
            ("user_id", user_id),
            ("q", "sourdough"),
            ("access_token", &token),
        ],
    )
    .await
    .json();
    let hashtag = found["data"][0]["id"].as_str().unwrap().to_string();

    let recent = get(
        &format!("{graph}/{hashtag}/recent_media"),
        &[
            ("user_id", user_id),
            ("fields", "id,caption,media_type"),
            ("access_token", &token),
        ],
    )
    .await
    .json();
    let with_username = get(
        &format!("{graph}/{hashtag}/recent_media"),
        &[
            ("user_id", user_id),
            ("fields", "id,username"),
            ("access_token", &token),
        ],
    )
    .await;
    let node = get(
        &format!("{graph}/{hashtag}"),
        &[("fields", "id,name"), ("access_token", &token)],
    )
    .await
    .json();

    let ids: Vec<&str> = recent["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&post.id.as_str()));
    assert_eq!(with_username.error_code(), 100);
    assert_eq!(node["name"], "sourdough");
}

#[tokio::test]
async fn the_facebook_dialog_rejects_an_unknown_redirect_with_an_html_page() {
    let w = world().await;
    let (app_id, _) = app_params(&w);

    let reply = get(
        &w.fake.facebook_dialog_url(),
        &[
            ("client_id", &app_id),
            ("redirect_uri", "https://evil.test/"),
        ],
    )
    .await;

    assert_eq!(reply.status, 400);
    assert!(reply.text.contains("URL blocked"));
}

#[tokio::test]
async fn with_require_app_secret_on_calls_need_a_right_appsecret_proof() {
    let w = world().await;
    let token = log_in(&w).await;
    let (_, secret) = app_params(&w);
    let me = format!("{}/v25.0/me", w.fake.facebook_graph_url());
    let proof = crate::graph::appsecret_proof(&secret, &token);

    let unsigned_while_optional = get(&me, &[("access_token", &token)]).await;
    w.fake.set_options(|o| o.require_app_secret = true);
    let unsigned = get(&me, &[("access_token", &token)]).await;
    let wrong = get(
        &me,
        &[("access_token", &token), ("appsecret_proof", "00ff")],
    )
    .await;
    let signed = get(
        &me,
        &[("access_token", &token), ("appsecret_proof", &proof)],
    )
    .await;

    assert_eq!(unsigned_while_optional.status, 200);
    for (reply, message) in [
        (
            &unsigned,
            "API calls from the server require an appsecret_proof argument",
        ),
        (
            &wrong,
            "Invalid appsecret_proof provided in the API argument",
        ),
    ] {
        assert_eq!(reply.status, 400);
        let error = &reply.json()["error"];
        assert_eq!(error["code"], 100);
        assert_eq!(error["type"], "GraphMethodException");
        assert_eq!(error["message"], message);
    }
    assert_eq!(signed.status, 200, "{}", signed.text);
}
