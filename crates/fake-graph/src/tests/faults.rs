//! Injected faults: each kind, counted down, wildcard, and calls still counted.

use std::time::Duration as StdDuration;

use super::*;
use crate::Fault;

async fn me(w: &World) -> Answer {
    let url = format!("{}/me", w.fake.instagram_graph_url());
    get(&url, &[("access_token", &w.token)]).await
}

#[tokio::test]
async fn a_fault_hits_the_next_matching_requests_only() {
    let w = world().await;
    w.fake
        .inject("/me", Fault::Status(503, "upstream down".into()), 2);

    let first = me(&w).await;
    let second = me(&w).await;
    let third = me(&w).await;

    assert_eq!((first.status, first.text.as_str()), (503, "upstream down"));
    assert_eq!(second.status, 503);
    assert_eq!(third.status, 200);
    assert_eq!(w.fake.calls("/me"), 3);
    assert_eq!(w.fake.calls_on("graph.instagram.com", "/me"), 3);
    assert_eq!(w.fake.calls_on("graph.facebook.com", "/me"), 0);
    assert_eq!(w.fake.total_calls(), 3);
}

#[tokio::test]
async fn a_fault_for_another_endpoint_does_not_fire() {
    let w = world().await;
    w.fake.inject("/refresh_access_token", Fault::Html(502), 1);

    assert_eq!(me(&w).await.status, 200);
}

#[tokio::test]
async fn the_wildcard_matches_any_endpoint() {
    let w = world().await;
    w.fake.inject("*", Fault::Html(502), 1);

    let reply = me(&w).await;

    assert_eq!(reply.status, 502);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(reply.text.contains("<html"));
}

#[tokio::test]
async fn a_graph_error_fault_uses_the_real_envelope() {
    let w = world().await;
    let fault = Fault::GraphError {
        status: 500,
        code: 2,
        subcode: Some(1234),
        message: "An unexpected error has occurred. Please retry your request later.".into(),
        kind: "OAuthException".into(),
    };
    w.fake.inject("/me", fault, 1);

    let reply = me(&w).await;

    assert_eq!(reply.status, 500);
    let error = &reply.json()["error"];
    assert_eq!(error["code"], 2);
    assert_eq!(error["error_subcode"], 1234);
    assert_eq!(error["type"], "OAuthException");
}

#[tokio::test]
async fn a_truncated_body_is_not_valid_json() {
    let w = world().await;
    w.fake.inject("/me", Fault::Truncated, 1);

    let reply = me(&w).await;

    assert_eq!(reply.status, 200);
    assert!(reply.text.starts_with('{'));
    assert!(serde_json::from_str::<serde_json::Value>(&reply.text).is_err());
}

#[tokio::test]
async fn a_huge_body_has_the_asked_size() {
    let w = world().await;
    w.fake.inject("/me", Fault::Huge(3_000_000), 1);

    assert_eq!(me(&w).await.text.len(), 3_000_000);
}

#[tokio::test]
async fn a_throttle_fault_sends_a_transient_error_and_full_usage() {
    let w = world().await;
    w.fake.inject("/me/media", Fault::Throttle { code: 4 }, 1);
    let url = format!("{}/me/media", w.fake.instagram_graph_url());

    let reply = get(&url, &[("access_token", &w.token)]).await;

    assert_eq!(reply.status, 400);
    let error = &reply.json()["error"];
    assert_eq!(error["code"], 4);
    assert_eq!(error["is_transient"], true);
    assert_eq!(error["message"], "(#4) Application request limit reached");
    let app: serde_json::Value =
        serde_json::from_str(reply.header("x-app-usage").unwrap()).unwrap();
    assert_eq!(app["call_volume"], 100);
    let buc: serde_json::Value =
        serde_json::from_str(reply.header("x-business-use-case-usage").unwrap()).unwrap();
    assert!(
        buc[&w.user.ig_user_id][0]["estimated_time_to_regain_access"]
            .as_i64()
            .unwrap()
            > 0
    );
}

#[tokio::test]
async fn a_delay_then_answers_normally() {
    let w = world().await;
    w.fake
        .inject("/me", Fault::Delay(StdDuration::from_millis(20)), 1);

    assert_eq!(me(&w).await.status, 200);
}

#[tokio::test]
async fn a_long_delay_trips_a_client_timeout() {
    let w = world().await;
    w.fake
        .inject("/me", Fault::Delay(StdDuration::from_secs(30)), 1);
    let client = super::client_builder()
        .timeout(StdDuration::from_millis(200))
        .build()
        .unwrap();

    let url = format!("{}/me", w.fake.instagram_graph_url());
    let error = client
        .get(&url)
        .query(&[("access_token", &w.token)])
        .send()
        .await
        .unwrap_err();

    assert!(error.is_timeout());
}
