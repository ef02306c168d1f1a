//! graph.instagram.com: refresh, exchange, /me, media, fields, paging.

use std::collections::HashSet;

use chrono::Duration;
use serde_json::Value;

use super::*;
use crate::{MediaType, TokenStatus, YoungRefresh};

async fn refresh(w: &World, token: &str) -> Answer {
    let url = format!("{}/refresh_access_token", w.fake.instagram_graph_url());
    get(
        &url,
        &[("grant_type", "ig_refresh_token"), ("access_token", token)],
    )
    .await
}

#[tokio::test]
async fn a_refresh_rotates_the_token_and_extends_its_expiry() {
    let w = world().await;
    let old_expiry = start_time() - Duration::days(2) + Duration::days(60);

    let reply = refresh(&w, &w.token).await;

    assert_eq!(reply.status, 200);
    let body = reply.json();
    let new = body["access_token"].as_str().unwrap();
    assert_ne!(new, w.token);
    assert!(new.starts_with("IGAA"));
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 5_184_000);
    let expected = TokenStatus::Valid {
        expires_at: start_time() + Duration::days(60),
    };
    assert_eq!(w.fake.token_status(new), expected);
    let old = TokenStatus::Valid {
        expires_at: old_expiry,
    };
    assert_eq!(w.fake.token_status(&w.token), old);
    assert_eq!(w.fake.calls("/refresh_access_token"), 1);
}

#[tokio::test]
async fn without_rotation_a_refresh_returns_the_same_string_with_a_new_expiry() {
    let w = world().await;
    w.fake.set_options(|o| o.rotate_on_refresh = false);

    let body = refresh(&w, &w.token).await.json();

    assert_eq!(body["access_token"], w.token.as_str());
    let expected = TokenStatus::Valid {
        expires_at: start_time() + Duration::days(60),
    };
    assert_eq!(w.fake.token_status(&w.token), expected);
}

#[tokio::test]
async fn the_old_token_dies_on_refresh_when_asked() {
    let w = world().await;
    w.fake.set_options(|o| o.invalidate_old_on_refresh = true);

    let body = refresh(&w, &w.token).await.json();

    assert_eq!(
        w.fake.token_status(&w.token),
        TokenStatus::Invalidated { subcode: Some(467) }
    );
    let new = body["access_token"].as_str().unwrap();
    assert!(matches!(
        w.fake.token_status(new),
        TokenStatus::Valid { .. }
    ));
}

#[tokio::test]
async fn a_token_younger_than_24_hours_cannot_be_refreshed() {
    let w = world().await;
    let young = w
        .fake
        .issue_long_lived_token(&w.user, start_time() - Duration::hours(23));

    let reply = refresh(&w, &young).await;

    assert_eq!(reply.status, 400);
    let error = &reply.json()["error"];
    assert_eq!(error["code"], 100);
    assert_eq!(error["type"], "OAuthException");
    assert!(error["message"].as_str().unwrap().contains("24 hours"));
}

#[tokio::test]
async fn a_young_refresh_can_be_a_no_op() {
    let w = world().await;
    w.fake.set_options(|o| o.young_refresh = YoungRefresh::NoOp);
    let young = w
        .fake
        .issue_long_lived_token(&w.user, start_time() - Duration::hours(1));

    let body = refresh(&w, &young).await.json();

    assert_eq!(body["access_token"], young.as_str());
    assert_eq!(
        body["expires_in"],
        (Duration::days(60) - Duration::hours(1)).num_seconds()
    );
}

#[tokio::test]
async fn an_expired_token_gets_190_without_a_subcode() {
    let w = world().await;
    w.clock.advance(Duration::days(61));

    let reply = refresh(&w, &w.token).await;

    assert_eq!(reply.status, 400);
    let error = &reply.json()["error"];
    assert_eq!(error["code"], 190);
    assert!(error.get("error_subcode").is_none());
    let message = error["message"].as_str().unwrap();
    assert!(message.starts_with("Error validating access token: Session has expired on "));
    assert_eq!(w.fake.token_status(&w.token), TokenStatus::Expired);
}

#[tokio::test]
async fn an_invalidated_token_gets_190_with_its_subcode() {
    let w = world().await;
    let message = "Error validating access token: The session has been invalidated because the user changed their password.";
    w.fake.invalidate_token(&w.token, Some(460), message);

    let reply = refresh(&w, &w.token).await;

    let error = &reply.json()["error"];
    assert_eq!(error["code"], 190);
    assert_eq!(error["error_subcode"], 460);
    assert_eq!(error["message"], message);
}

#[tokio::test]
async fn unknown_and_missing_tokens_get_190_and_104() {
    let w = world().await;
    let url = format!("{}/me", w.fake.instagram_graph_url());

    let garbled = get(&url, &[("access_token", "IGAAnot-a-token")]).await;
    let missing = get(&url, &[]).await;

    assert_eq!(garbled.error_code(), 190);
    assert_eq!(
        garbled.json()["error"]["message"],
        "Invalid OAuth access token - Cannot parse access token"
    );
    assert_eq!(missing.error_code(), 104);
    assert_eq!(
        missing.json()["error"]["message"],
        "An access token is required to request this resource."
    );
}

#[tokio::test]
async fn a_refresh_needs_the_right_grant_type() {
    let w = world().await;
    let url = format!("{}/refresh_access_token", w.fake.instagram_graph_url());

    let missing = get(&url, &[("access_token", &w.token)]).await;
    let wrong = get(
        &url,
        &[("access_token", &w.token), ("grant_type", "refresh_token")],
    )
    .await;

    assert_eq!(missing.error_code(), 100);
    assert_eq!(wrong.error_code(), 100);
}

#[tokio::test]
async fn a_post_to_refresh_is_an_unsupported_method() {
    let w = world().await;
    let url = format!("{}/refresh_access_token", w.fake.instagram_graph_url());

    let reply = post_form(
        &url,
        &[
            ("grant_type", "ig_refresh_token"),
            ("access_token", &w.token),
        ],
    )
    .await;

    assert_eq!(reply.status, 400);
    let error = &reply.json()["error"];
    assert_eq!(error["message"], "Unsupported request - method type: post");
    assert_eq!(error["type"], "IGApiException");
    assert_eq!(error["code"], 100);
    assert!(error["fbtrace_id"].is_string());
}

#[tokio::test]
async fn a_short_lived_token_is_exchanged_for_a_long_lived_one() {
    let w = world().await;
    let short = w.fake.issue_short_lived_token(&w.user);
    let url = format!("{}/access_token", w.fake.instagram_graph_url());
    let secret = w.fake.options().app.ig_app_secret;

    let good = get(
        &url,
        &[
            ("grant_type", "ig_exchange_token"),
            ("client_secret", &secret),
            ("access_token", &short),
        ],
    )
    .await;
    let bad_secret = get(
        &url,
        &[
            ("grant_type", "ig_exchange_token"),
            ("client_secret", "nope"),
            ("access_token", &short),
        ],
    )
    .await;
    w.clock.advance(Duration::minutes(61));
    let expired = get(
        &url,
        &[
            ("grant_type", "ig_exchange_token"),
            ("client_secret", &secret),
            ("access_token", &short),
        ],
    )
    .await;

    assert_eq!(good.status, 200);
    assert_eq!(good.json()["expires_in"], 5_184_000);
    assert_eq!(bad_secret.status, 400);
    assert!(bad_secret.json()["error"]["code"].is_i64());
    assert_eq!(expired.error_code(), 190);
}

#[tokio::test]
async fn every_path_works_with_and_without_a_version() {
    let w = world().await;
    let base = w.fake.instagram_graph_url();

    for url in [
        format!("{base}/me"),
        format!("{base}/v25.0/me"),
        format!("{base}/v19.0/me"),
    ] {
        let reply = get(
            &url,
            &[("access_token", &w.token), ("fields", "id,username")],
        )
        .await;
        assert_eq!(reply.status, 200, "{url}");
        assert_eq!(reply.json()["username"], "bakery_on_the_corner");
    }
    assert_eq!(w.fake.calls("/me"), 3);
}

#[tokio::test]
async fn the_token_may_come_in_a_bearer_header() {
    let w = world().await;
    let url = format!("{}/me", w.fake.instagram_graph_url());

    let response = client()
        .get(&url)
        .bearer_auth(&w.token)
        .send()
        .await
        .unwrap();

    assert_eq!(answer(response).await.status, 200);
}

#[tokio::test]
async fn me_returns_only_the_requested_fields_and_id() {
    let w = world().await;
    let url = format!("{}/v25.0/me", w.fake.instagram_graph_url());

    let fields = "user_id,username,account_type,media_count";
    let body = get(&url, &[("access_token", &w.token), ("fields", fields)])
        .await
        .json();

    assert_eq!(body["id"], w.user.app_scoped_id.as_str());
    assert_eq!(body["user_id"], w.user.ig_user_id.as_str());
    assert_eq!(body["account_type"], "BUSINESS");
    assert_eq!(body["media_count"], 12);
    assert_eq!(body.as_object().unwrap().len(), 5);
}

#[tokio::test]
async fn an_unknown_field_is_a_code_100_error() {
    let w = world().await;
    let url = format!("{}/me", w.fake.instagram_graph_url());

    let reply = get(
        &url,
        &[("access_token", &w.token), ("fields", "id,shoe_size")],
    )
    .await;

    assert_eq!(reply.error_code(), 100);
    assert!(reply.text.contains("shoe_size"));
}

/// Follows `next` links from the first page; returns every page body.
async fn walk(first_url: &str, query: &[(&str, &str)]) -> Vec<Value> {
    let mut pages = vec![get(first_url, query).await.json()];
    while let Some(next) = pages.last().unwrap()["paging"]["next"].as_str() {
        assert!(pages.len() < 50, "paging does not end");
        pages.push(get(next, &[]).await.json());
    }
    pages
}

#[tokio::test]
async fn paging_walks_every_item_exactly_once() {
    let w = world_with(FakeOptions::default(), 23).await;
    let url = format!("{}/me/media", w.fake.instagram_graph_url());

    let pages = walk(
        &url,
        &[
            ("access_token", &w.token),
            ("fields", "id,timestamp"),
            ("limit", "5"),
        ],
    )
    .await;

    let ids: Vec<&str> = pages
        .iter()
        .flat_map(|p| p["data"].as_array().unwrap())
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = w.fake.media_of(&w.user).into_iter().map(|m| m.id).collect();
    assert_eq!(ids, expected);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 23);
    assert_eq!(pages.len(), 5);
    let last = pages.last().unwrap();
    assert!(last["paging"].get("next").is_none());
    assert!(last["paging"]["cursors"]["after"].is_string());
    assert!(pages[0]["paging"].get("previous").is_none());
    assert!(pages[1]["paging"]["previous"].is_string());
}

#[tokio::test]
async fn next_links_carry_token_fields_limit_and_cursor() {
    let w = world().await;
    let url = format!("{}/me/media", w.fake.instagram_graph_url());

    let body = get(
        &url,
        &[
            ("access_token", &w.token),
            ("fields", "id,caption"),
            ("limit", "4"),
        ],
    )
    .await
    .json();

    let next = url::Url::parse(body["paging"]["next"].as_str().unwrap()).unwrap();
    assert!(
        next.path()
            .ends_with(&format!("/v25.0/{}/media", w.user.ig_user_id))
    );
    let query: std::collections::HashMap<_, _> = next.query_pairs().into_owned().collect();
    assert_eq!(query["access_token"], w.token);
    assert_eq!(query["fields"], "id,caption");
    assert_eq!(query["limit"], "4");
    assert_eq!(
        query["after"],
        body["paging"]["cursors"]["after"].as_str().unwrap()
    );
}

#[tokio::test]
async fn previous_links_walk_back() {
    let w = world().await;
    let url = format!("{}/me/media", w.fake.instagram_graph_url());
    let first = get(&url, &[("access_token", &w.token), ("limit", "4")])
        .await
        .json();
    let second = get(first["paging"]["next"].as_str().unwrap(), &[])
        .await
        .json();

    let back = get(second["paging"]["previous"].as_str().unwrap(), &[])
        .await
        .json();

    assert_eq!(back["data"], first["data"]);
}

#[tokio::test]
async fn the_default_page_size_is_configurable() {
    let w = world_with(FakeOptions::default(), 30).await;
    let url = format!("{}/me/media", w.fake.instagram_graph_url());

    let default = get(&url, &[("access_token", &w.token)]).await.json();
    w.fake.set_options(|o| o.page_size = 7);
    let small = get(&url, &[("access_token", &w.token)]).await.json();

    assert_eq!(default["data"].as_array().unwrap().len(), 25);
    assert_eq!(small["data"].as_array().unwrap().len(), 7);
    assert_eq!(default["data"][0].as_object().unwrap().len(), 1);
}

#[tokio::test]
async fn fields_select_media_and_children_in_both_syntaxes() {
    let w = world().await;
    let base = w.fake.instagram_graph_url();
    let url = format!("{base}/{}/media", w.user.ig_user_id);

    let braces = get(
        &url,
        &[
            ("access_token", &w.token),
            ("fields", "id,media_type,children{media_type,media_url}"),
        ],
    )
    .await
    .json();
    let dotted = get(
        &url,
        &[
            ("access_token", &w.token),
            (
                "fields",
                "id,media_type,children.fields(media_type,media_url)",
            ),
        ],
    )
    .await
    .json();

    let album = |body: &Value| -> Value {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["media_type"] == "CAROUSEL_ALBUM")
            .cloned()
            .unwrap()
    };
    let children = album(&braces)["children"]["data"]
        .as_array()
        .unwrap()
        .clone();
    assert!((2..=3).contains(&children.len()));
    for child in &children {
        let keys: HashSet<&str> = child
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, HashSet::from(["id", "media_type", "media_url"]));
    }
    assert_eq!(album(&braces)["children"], album(&dotted)["children"]);
    let image = braces["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["media_type"] == "IMAGE")
        .unwrap();
    assert!(image.get("children").is_none());
}

#[tokio::test]
async fn absent_optional_fields_are_omitted_not_null() {
    let w = world().await;
    let url = format!("{}/me/media", w.fake.instagram_graph_url());
    let fields = "id,caption,media_type,media_url,thumbnail_url,permalink,timestamp,username";

    let body = get(&url, &[("access_token", &w.token), ("fields", fields)]).await;

    assert!(!body.text.contains("null"));
    let items = body.json()["data"].as_array().unwrap().clone();
    assert!(items.iter().any(|m| m.get("caption").is_none()));
    for item in &items {
        let is_video = item["media_type"] == "VIDEO";
        assert_eq!(item.get("thumbnail_url").is_some(), is_video);
        let timestamp = item["timestamp"].as_str().unwrap();
        assert!(timestamp.ends_with("+0000"));
        assert!(chrono::DateTime::parse_from_str(timestamp, "%Y-%m-%dT%H:%M:%S%z").is_ok());
        assert_eq!(item["username"], "bakery_on_the_corner");
    }
}

#[tokio::test]
async fn media_urls_carry_a_hex_expiry_days_ahead() {
    let w = world().await;
    let url = format!("{}/me/media", w.fake.instagram_graph_url());

    let body = get(&url, &[("access_token", &w.token), ("fields", "media_url")])
        .await
        .json();

    let media_url = url::Url::parse(body["data"][0]["media_url"].as_str().unwrap()).unwrap();
    assert!(media_url.host_str().unwrap().ends_with("cdninstagram.com"));
    let oe = media_url
        .query_pairs()
        .find(|(k, _)| k == "oe")
        .unwrap()
        .1
        .to_string();
    assert_eq!(oe.len(), 8);
    let expiry = i64::from_str_radix(&oe, 16).unwrap();
    assert_eq!(expiry, (start_time() + Duration::days(3)).timestamp());
}

#[tokio::test]
async fn media_urls_can_point_at_the_fakes_own_cdn() {
    let w = world().await;
    let cdn = w.fake.cdn_url();
    w.fake.set_options(|o| o.media_base_url = Some(cdn.clone()));
    let url = format!("{}/me/media", w.fake.instagram_graph_url());
    let body = get(
        &url,
        &[
            ("access_token", &w.token),
            ("fields", "media_url"),
            ("limit", "1"),
        ],
    )
    .await
    .json();
    let image_url = body["data"][0]["media_url"].as_str().unwrap().to_string();
    assert!(image_url.starts_with(&cdn));

    let fresh = client().get(&image_url).send().await.unwrap();
    assert_eq!(fresh.headers()["content-type"], "image/jpeg");
    let image = fresh.bytes().await.unwrap();
    assert!(image.starts_with(&[0xFF, 0xD8]) && image.ends_with(&[0xFF, 0xD9]));
    w.clock.advance(Duration::days(4));
    let stale = get(&image_url, &[]).await;
    assert_eq!(stale.status, 403);
    assert_eq!(stale.text, "URL signature expired");
}

#[tokio::test]
async fn a_media_node_and_its_children_can_be_read() {
    let w = world().await;
    let base = w.fake.instagram_graph_url();
    let album = w
        .fake
        .media_of(&w.user)
        .into_iter()
        .find(|m| m.media_type == MediaType::CarouselAlbum)
        .unwrap();

    let node = get(
        &format!("{base}/v25.0/{}", album.id),
        &[
            ("access_token", &w.token),
            ("fields", "id,media_type,permalink"),
        ],
    )
    .await
    .json();
    let children = get(
        &format!("{base}/{}/children", album.id),
        &[("access_token", &w.token)],
    )
    .await
    .json();

    assert_eq!(node["media_type"], "CAROUSEL_ALBUM");
    assert_eq!(node["permalink"], album.permalink());
    let ids: Vec<&str> = children["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        album
            .children
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    assert_eq!(w.fake.calls(&format!("/{}/children", album.id)), 1);
}

#[tokio::test]
async fn another_accounts_media_does_not_exist_for_the_caller() {
    let w = world().await;
    let other = w.fake.add_instagram_user("someone_else", 2);
    let foreign = w.fake.media_of(&other)[0].id.clone();

    let reply = get(
        &format!("{}/{foreign}", w.fake.instagram_graph_url()),
        &[("access_token", &w.token)],
    )
    .await;

    assert_eq!(reply.error_code(), 100);
    assert_eq!(reply.json()["error"]["error_subcode"], 33);
}

#[tokio::test]
async fn a_new_post_appears_first() {
    let w = world().await;
    w.clock.advance(Duration::hours(2));
    let post = w
        .fake
        .add_post(&w.user, MediaType::Image, Some("Fresh #bread"));

    let body = get(
        &format!("{}/me/media", w.fake.instagram_graph_url()),
        &[("access_token", &w.token), ("fields", "caption")],
    )
    .await
    .json();

    assert_eq!(body["data"][0]["id"], post.id.as_str());
    assert_eq!(body["data"][0]["caption"], "Fresh #bread");
}

#[tokio::test]
async fn the_media_edge_can_be_expanded_inside_me() {
    let w = world().await;
    let url = format!("{}/me", w.fake.instagram_graph_url());

    let body = get(
        &url,
        &[
            ("access_token", &w.token),
            ("fields", "username,media.limit(2){id,timestamp}"),
        ],
    )
    .await
    .json();

    let media = &body["media"];
    assert_eq!(media["data"].as_array().unwrap().len(), 2);
    let next = media["paging"]["next"].as_str().unwrap();
    assert!(next.contains("limit=2"));
    let rest = get(next, &[]).await.json();
    assert_eq!(
        rest["data"][0]["id"],
        w.fake.media_of(&w.user)[2].id.as_str()
    );
}
