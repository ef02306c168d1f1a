//! Nobody but the owner's visitors spends the owner's Instagram budget: a
//! script calling /feed.json in a loop, with any Origin, made-up cursors,
//! every `limit`, at once, or while Instagram throttles the account, costs
//! no more upstream calls than the cache design allows.

use chrono::Duration;
use fake_graph::Fault;
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{Backend, Rig, local, retry_after, spawn_app};

const MEDIA: &str = "/me/media";
const ORIGIN: &str = "https://example.com";

async fn rig(extra: &[(&str, &str)]) -> Rig {
    spawn_app(Backend::Sqlite, extra).await
}

async fn get_from(r: &Rig, path: &str, client: Option<&str>) -> reqwest::Response {
    let mut request = r.app.http.get(r.app.url(path)).header("Origin", ORIGIN);
    if let Some(client) = client {
        request = request.header("X-Forwarded-For", client);
    }
    request.send().await.unwrap()
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

fn ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn made_up_and_foreign_cursors_are_refused_without_a_call() {
    let r = rig(&[]).await;
    r.world.add_instagram_account(&r.app, "other", 80).await;
    for i in 0..20 {
        let (status, body) = r.app.json(&format!("/feed.json?after=BOGUS{i}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(code(&body), "invalid_cursor");
    }
    assert_eq!(
        r.world.fake.total_calls(),
        0,
        "no made-up cursor reached upstream"
    );

    // A real cursor of one feed is no cursor for another.
    let (_, first) = r.app.json("/feed.json?account=other&limit=5").await;
    let next = local(first["paging"]["next"].as_str().unwrap());
    let calls = r.world.fake.total_calls();
    let cursor = next.split("after=").nth(1).unwrap();
    let (status, body) = r.app.json(&format!("/feed.json?after={cursor}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(code(&body), "invalid_cursor");
    assert_eq!(r.world.fake.total_calls(), calls);
    // Nor does altering it help.
    let altered = format!("{}A", cursor);
    let (status, _) = r
        .app
        .json(&format!("/feed.json?account=other&after={altered}"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // It works where it belongs.
    let (status, body) = r.app.json(&next).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn fifty_at_once_on_a_failing_key_cost_one_call() {
    let r = rig(&[]).await;
    r.world.fake.inject(MEDIA, Fault::Html(502), 1000);
    let answers = join_all((0..50).map(|_| r.app.json("/feed.json"))).await;
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::BAD_GATEWAY, "{body}");
        assert_eq!(code(body), "upstream_unavailable");
    }
    assert_eq!(r.world.fake.calls(MEDIA), 1, "waiters got the same failure");
    // And those arriving just after.
    r.world.clock.advance(Duration::seconds(20));
    for _ in 0..20 {
        r.app.json("/feed.json?limit=3").await;
    }
    assert_eq!(r.world.fake.calls(MEDIA), 1);
    // Once the failure has stood its time, one caller tries again.
    r.world.clock.advance(Duration::seconds(11));
    r.app.json("/feed.json").await;
    assert_eq!(r.world.fake.calls(MEDIA), 2);
}

#[tokio::test]
async fn a_throttled_account_is_left_alone_until_it_regains_access() {
    let r = rig(&[]).await;
    r.world.add_instagram_account(&r.app, "other", 10).await;
    let (status, good) = r.app.json("/feed.json").await;
    assert_eq!(status, StatusCode::OK);
    // Instagram's own limit, as the fake keeps it: one call an hour.
    r.world.fake.set_options(|o| o.hourly_call_budget = 1);
    r.world.clock.advance(Duration::minutes(6));
    let calls = r.world.fake.calls(MEDIA);
    let (status, body) = r.app.json("/feed.json").await;
    assert_eq!(status, StatusCode::OK, "the cached copy answers");
    assert_eq!(ids(&body), ids(&good));
    assert_eq!(
        r.world.fake.calls(MEDIA),
        calls + 1,
        "the call that was throttled"
    );

    // A script keeps calling, past every cache and failure lifetime.
    for _ in 0..100 {
        r.world.clock.advance(Duration::seconds(31));
        let (status, _) = r.app.json("/feed.json").await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(
        r.world.fake.calls(MEDIA),
        calls + 1,
        "no call while the account is throttled"
    );
    let (status, first) = r.app.json("/feed.json?account=other").await;
    assert_eq!(status, StatusCode::OK, "another account calls on: {first}");
    assert_eq!(r.world.fake.calls(MEDIA), calls + 2);

    // Past the regain time the fake gave, one call again.
    r.world.fake.set_options(|o| o.hourly_call_budget = 200);
    r.world.clock.advance(Duration::minutes(60));
    let res = get_from(&r, "/feed.json", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("warning").is_none(), "a fresh copy");
    assert_eq!(r.world.fake.calls(MEDIA), calls + 3);
}

#[tokio::test]
async fn without_a_copy_a_throttled_account_answers_503_with_retry_after() {
    let r = rig(&[]).await;
    r.world
        .fake
        .inject(MEDIA, Fault::Throttle { code: 80002 }, 1);
    let first = get_from(&r, "/feed.json", None).await;
    assert_eq!(first.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry = retry_after(&first);
    assert!(
        (1..=1800).contains(&retry),
        "the first answer's Retry-After {retry}"
    );
    for _ in 0..30 {
        r.world.clock.advance(Duration::seconds(40));
        let res = get_from(&r, "/feed.json", None).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        let retry = retry_after(&res);
        assert!(retry >= 1, "Retry-After {retry}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(code(&body), "upstream_throttled");
    }
    assert_eq!(r.world.fake.calls(MEDIA), 1);
}

#[tokio::test]
async fn every_limit_is_a_slice_of_one_upstream_fetch() {
    let r = rig(&[]).await;
    let (_, whole) = r.app.json("/feed.json?limit=50").await;
    let all = ids(&whole);
    assert_eq!(all.len(), 30, "the account's 30 posts in one page");
    for limit in 1..=100 {
        let (status, body) = r.app.json(&format!("/feed.json?limit={limit}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ids(&body), all[..all.len().min(limit)], "limit={limit}");
    }
    assert_eq!(
        r.world.fake.calls(MEDIA),
        1,
        "one upstream fetch for every limit"
    );
    // Paging through slices visits each post once.
    let mut seen = Vec::new();
    let mut path = "/feed.json?limit=7".to_string();
    loop {
        let (_, body) = r.app.json(&path).await;
        seen.extend(ids(&body));
        match body["paging"]["next"].as_str() {
            Some(next) => path = local(next),
            None => break,
        }
    }
    assert_eq!(seen, all);
    assert_eq!(r.world.fake.calls(MEDIA), 1);
}

#[tokio::test]
async fn pages_span_upstream_pages_and_come_back() {
    let r = rig(&[]).await;
    r.world.add_instagram_account(&r.app, "big", 120).await;
    let mut seen = Vec::new();
    let mut path = "/feed.json?account=big&limit=40".to_string();
    let mut paths = Vec::new();
    loop {
        let (status, body) = r.app.json(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page = ids(&body);
        assert!(
            page.len() == 40 || body["paging"]["next"].is_null(),
            "{path}"
        );
        seen.extend(page);
        paths.push(path.clone());
        match body["paging"]["next"].as_str() {
            Some(next) => path = local(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 120);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 120, "no post twice");
    // Three upstream pages of 50, each fetched once.
    assert_eq!(r.world.fake.calls(MEDIA), 3);
    // `previous` leads back to where the page before started.
    let (_, second) = r.app.json(&paths[1]).await;
    let (_, back) = r
        .app
        .json(&local(second["paging"]["previous"].as_str().unwrap()))
        .await;
    assert_eq!(ids(&back), seen[..40]);
}

#[tokio::test]
async fn one_client_may_cause_only_so_many_misses_a_minute() {
    let r = rig(&[("FEED_MISSES_PER_MINUTE", "3"), ("TRUST_PROXY", "1")]).await;
    r.world.add_instagram_account(&r.app, "big", 400).await;
    // A script walks the pages: each upstream page is a miss.
    let mut path = "/feed.json?account=big&limit=50".to_string();
    for _ in 0..3 {
        let res = get_from(&r, &path, Some("198.51.100.7")).await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        path = local(body["paging"]["next"].as_str().unwrap());
    }
    let calls = r.world.fake.calls(MEDIA);
    let res = get_from(&r, &path, Some("198.51.100.7")).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry = retry_after(&res);
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(code(&body), "too_many_requests");
    assert_eq!(r.world.fake.calls(MEDIA), calls, "no call for it");
    // Pages already cached cost nothing and are still served to it.
    let res = get_from(&r, "/feed.json?account=big&limit=5", Some("198.51.100.7")).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Another address (the router's entry is the last one) has its own
    // share; an entry the script writes before it changes nothing.
    let res = get_from(&r, &path, Some("198.51.100.7, 203.0.113.5")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = get_from(
        &r,
        "/feed.json?account=big&limit=49",
        Some("203.0.113.5, 198.51.100.7"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK, "a hit is never counted");
    // A minute later, the first client may miss again.
    r.world.clock.advance(Duration::seconds(61));
    let mut again = path.clone();
    let (_, body) = r.app.json(&again).await;
    again = local(body["paging"]["next"].as_str().unwrap());
    let res = get_from(&r, &again, Some("198.51.100.7")).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn on_fly_each_fly_client_ip_is_its_own_client() {
    // Fly's proxy names the client in Fly-Client-IP; the last entry of its
    // X-Forwarded-For is the app's own address, the same for everyone.
    let r = rig(&[
        ("FLY_APP_NAME", "sunny-tokens"),
        ("FEED_MISSES_PER_MINUTE", "1"),
    ])
    .await;
    r.world.add_instagram_account(&r.app, "big", 120).await;
    let from = async |fly_client: &str, path: &str| {
        let headers = [
            ("Origin", ORIGIN),
            ("Fly-Client-IP", fly_client),
            ("X-Forwarded-For", "66.241.124.1"),
        ];
        r.app.get_with(path, &headers).await
    };
    let res = from("198.51.100.7", "/feed.json?account=big&limit=50").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let next = local(body["paging"]["next"].as_str().unwrap());
    // The first client has spent its miss; another has its own.
    let res = from("198.51.100.7", &next).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let res = from("203.0.113.5", &next).await;
    assert_eq!(res.status(), StatusCode::OK);
}
