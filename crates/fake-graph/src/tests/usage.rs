//! Usage headers and the hourly call budget.

use chrono::Duration;
use serde_json::Value;

use super::*;

fn header_json(reply: &Answer, name: &str) -> Value {
    serde_json::from_str(reply.header(name).unwrap()).unwrap()
}

#[tokio::test]
async fn successes_carry_usage_headers_keyed_by_the_ig_user() {
    let w = world_with(
        FakeOptions {
            hourly_call_budget: 10,
            ..FakeOptions::default()
        },
        3,
    )
    .await;
    let url = format!("{}/me/media", w.fake.instagram_graph_url());

    let reply = get(&url, &[("access_token", &w.token)]).await;

    assert_eq!(
        header_json(&reply, "x-app-usage"),
        serde_json::json!({"call_volume":10,"cpu_time":10})
    );
    let buc = header_json(&reply, "x-business-use-case-usage");
    let entry = &buc[&w.user.ig_user_id][0];
    assert_eq!(entry["type"], "instagram");
    assert_eq!(entry["call_count"], 10);
    assert_eq!(entry["estimated_time_to_regain_access"], 0);
}

#[tokio::test]
async fn graph_facebook_keeps_its_own_app_usage_keys() {
    let w = world().await;
    let token = w
        .fake
        .issue_facebook_user_token(&w.user, w.clock.now(), true);
    let url = format!("{}/v25.0/me", w.fake.facebook_graph_url());

    let reply = get(&url, &[("access_token", &token)]).await;

    let app = header_json(&reply, "x-app-usage");
    assert!(
        app.get("call_count").is_some() && app.get("call_volume").is_none(),
        "{app}"
    );
}

#[tokio::test]
async fn graph_instagram_can_send_the_app_header_alone() {
    let w = world().await;
    w.fake
        .set_options(|o| o.instagram_business_usage_header = false);

    let reply = get(
        &format!("{}/me/media", w.fake.instagram_graph_url()),
        &[("access_token", &w.token)],
    )
    .await;

    assert!(reply.header("x-app-usage").is_some());
    assert!(reply.header("x-business-use-case-usage").is_none());
}

#[tokio::test]
async fn token_endpoints_carry_only_the_app_header() {
    let w = world().await;
    let url = format!("{}/refresh_access_token", w.fake.instagram_graph_url());

    let reply = get(
        &url,
        &[
            ("grant_type", "ig_refresh_token"),
            ("access_token", &w.token),
        ],
    )
    .await;

    assert!(reply.header("x-app-usage").is_some());
    assert!(reply.header("x-business-use-case-usage").is_none());
}

#[tokio::test]
async fn usage_headers_can_be_switched_off() {
    let w = world().await;
    w.fake.set_options(|o| o.usage_headers = false);

    let reply = get(
        &format!("{}/me/media", w.fake.instagram_graph_url()),
        &[("access_token", &w.token)],
    )
    .await;

    assert_eq!(reply.status, 200);
    assert!(reply.header("x-app-usage").is_none());
    assert!(reply.header("x-business-use-case-usage").is_none());
}

#[tokio::test]
async fn exceeding_the_hourly_budget_throttles_until_the_hour_passes() {
    let w = world_with(
        FakeOptions {
            hourly_call_budget: 3,
            ..FakeOptions::default()
        },
        3,
    )
    .await;
    let url = format!("{}/me", w.fake.instagram_graph_url());
    for _ in 0..3 {
        assert_eq!(get(&url, &[("access_token", &w.token)]).await.status, 200);
    }

    let throttled = get(&url, &[("access_token", &w.token)]).await;
    w.clock.advance(Duration::minutes(61));
    let later = get(&url, &[("access_token", &w.token)]).await;

    assert_eq!(throttled.status, 400);
    assert_eq!(throttled.error_code(), 80002);
    assert_eq!(throttled.json()["error"]["is_transient"], true);
    let buc = header_json(&throttled, "x-business-use-case-usage");
    assert!(
        buc[&w.user.ig_user_id][0]["estimated_time_to_regain_access"]
            .as_i64()
            .unwrap()
            > 0
    );
    assert_eq!(later.status, 200);
}

#[tokio::test]
async fn the_throttle_code_is_configurable() {
    let options = FakeOptions {
        hourly_call_budget: 1,
        instagram_throttle_code: 17,
        ..FakeOptions::default()
    };
    let w = world_with(options, 1).await;
    let url = format!("{}/me", w.fake.instagram_graph_url());
    get(&url, &[("access_token", &w.token)]).await;

    let throttled = get(&url, &[("access_token", &w.token)]).await;

    assert_eq!(throttled.error_code(), 17);
    assert_eq!(
        throttled.json()["error"]["message"],
        "(#17) User request limit reached"
    );
}

#[tokio::test]
async fn each_user_has_a_budget_of_its_own() {
    let w = world_with(
        FakeOptions {
            hourly_call_budget: 1,
            ..FakeOptions::default()
        },
        1,
    )
    .await;
    let other = w.fake.add_instagram_user("other", 1);
    let other_token = w.fake.issue_long_lived_token(&other, start_time());
    let url = format!("{}/me", w.fake.instagram_graph_url());

    get(&url, &[("access_token", &w.token)]).await;
    let second_user = get(&url, &[("access_token", &other_token)]).await;

    assert_eq!(second_user.status, 200);
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let w = world().await;
    let url = format!("{}/me", w.fake.instagram_graph_url());

    w.fake.shutdown().await;

    assert!(client().get(&url).send().await.is_err());
}
