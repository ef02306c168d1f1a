//! The feed and hashtag proxy against the fake Graph API: shape, paging,
//! no token in any body, one upstream call per key, stale copies, limits.

use std::sync::Arc;

use crate::common::{Backend, Rig, local, retry_after, spawn_app};
use chrono::Duration;
use fake_graph::{FakeUser, Fault, MediaType};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;

const MEDIA: &str = "/me/media";
const ORIGIN: (&str, &str) = ("Origin", "https://example.com");

async fn setup(backend: Backend, extra: &[(&str, &str)]) -> Rig {
    spawn_app(backend, extra).await
}

async fn json(s: &Rig, path: &str) -> (StatusCode, Value, String) {
    let res = s.app.get(path).await;
    let status = res.status();
    let text = res.text().await.unwrap();
    assert!(
        !text.contains("access_token"),
        "a body mentions access_token: {text}"
    );
    assert!(
        !text.contains(&s.token),
        "a body contains the token: {text}"
    );
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

/// A Facebook-Login account that can search hashtags.
async fn add_facebook_account(s: &Rig, name: &str) -> FakeUser {
    s.world
        .add_facebook_account(&s.app, name, "harbour_cafe", 4)
        .await
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

async fn the_feed_has_the_graph_shape_and_no_token(backend: Backend) {
    let s = setup(backend, &[]).await;
    let (status, body, _) = json(&s, "/feed.json").await;
    assert_eq!(status, StatusCode::OK);
    let data = body["data"].as_array().unwrap();
    let expected = s.world.fake.media_of(&s.world.user);
    assert_eq!(data.len(), expected.len().min(25));
    for (item, media) in data.iter().zip(&expected) {
        assert_eq!(item["id"], media.id.as_str());
        for field in [
            "media_type",
            "media_url",
            "permalink",
            "timestamp",
            "username",
        ] {
            assert!(item[field].is_string(), "{field} missing in {item}");
        }
        assert_eq!(item["caption"].as_str(), media.caption.as_deref());
        if item["media_type"] == "CAROUSEL_ALBUM" {
            assert!(!item["children"]["data"].as_array().unwrap().is_empty());
        }
        if item["media_type"] == "VIDEO" {
            assert!(item["thumbnail_url"].is_string());
        }
    }
}

async fn paging_goes_through_the_agent_and_visits_every_item_once(backend: Backend) {
    let s = setup(backend, &[]).await;
    let mut seen = Vec::new();
    let mut path = "/feed.json?limit=7".to_string();
    loop {
        let (status, body, _) = json(&s, &path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        seen.extend(
            body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_string()),
        );
        match body["paging"]["next"].as_str() {
            Some(next) => path = local(next),
            None => break,
        }
    }
    let expected: Vec<String> = s
        .world
        .fake
        .media_of(&s.world.user)
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(seen, expected);
    // And back: `previous` from the second page leads to the first.
    let (_, first, _) = json(&s, "/feed.json?limit=7").await;
    let second_path = local(first["paging"]["next"].as_str().unwrap());
    let (_, second, _) = json(&s, &second_path).await;
    let (_, back, _) = json(&s, &local(second["paging"]["previous"].as_str().unwrap())).await;
    assert_eq!(back["data"], first["data"]);
}

async fn a_burst_of_cold_requests_costs_one_upstream_call(backend: Backend) {
    let s = setup(backend, &[]).await;
    // A slow upstream, so that the whole burst arrives while the first call is out.
    s.world.fake.inject(
        MEDIA,
        Fault::Delay(std::time::Duration::from_millis(300)),
        1,
    );
    let limit = Arc::new(tokio::sync::Semaphore::new(100));
    let requests = (0..1000).map(|_| {
        let limit = limit.clone();
        let (http, url) = (s.app.http.clone(), s.app.url("/feed.json?limit=10"));
        async move {
            let _permit = limit.acquire().await.unwrap();
            let res = http
                .get(url)
                .header(ORIGIN.0, ORIGIN.1)
                .send()
                .await
                .unwrap();
            let status = res.status();
            // Read to the end, as a browser does, so the connection goes
            // back to the pool: a response dropped unread closes it, and
            // the burst would then also test the per-client bound.
            res.bytes().await.unwrap();
            status
        }
    });
    let statuses = join_all(requests).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(s.world.fake.calls(MEDIA), 1);
    assert_eq!(s.app.feeds.flights_in_progress(), 0);

    // Fresh for FEED_CACHE_TTL (300 s), then one more call.
    s.world.clock.advance(Duration::seconds(299));
    json(&s, "/feed.json?limit=10").await;
    assert_eq!(s.world.fake.calls(MEDIA), 1);
    s.world.clock.advance(Duration::seconds(2));
    json(&s, "/feed.json?limit=10").await;
    assert_eq!(s.world.fake.calls(MEDIA), 2);
}

async fn an_upstream_failure_serves_the_last_good_copy_with_its_age(backend: Backend) {
    let s = setup(backend, &[]).await;
    let (_, good, _) = json(&s, "/feed.json").await;
    s.world.clock.advance(Duration::minutes(30));
    let mut age = 30 * 60;
    for fault in [
        Fault::Html(502),
        Fault::Truncated,
        Fault::Status(200, "[]".into()),
        Fault::Throttle { code: 80002 },
    ] {
        s.world.fake.inject(MEDIA, fault, 1);
        let res = s.app.get("/feed.json").await;
        assert_eq!(res.status(), StatusCode::OK);
        let served: i64 = res.headers()["age"].to_str().unwrap().parse().unwrap();
        assert_eq!(served, age);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body, good, "garbage never replaces good data");
        // A failure stands for its key for 30 s.
        s.world.clock.advance(Duration::seconds(31));
        age += 31;
    }
    // Upstream back, once the throttled account has regained access (the
    // fake estimates 30 minutes): a fresh copy, no Age to speak of.
    s.world.clock.advance(Duration::minutes(30));
    let res = s.app.get("/feed.json").await;
    assert_eq!(res.headers()["age"], "0");
}

async fn a_stale_copy_is_never_served_past_its_media_expiry(backend: Backend) {
    // Media URLs are signed for 3 days in the fake; stale copies may live 7.
    let s = setup(backend, &[("FEED_STALE_TTL", "604800")]).await;
    json(&s, "/feed.json").await;
    s.world.clock.advance(Duration::days(2));
    s.world.fake.inject(MEDIA, Fault::Html(503), 1);
    assert_eq!(
        s.app.get("/feed.json").await.status(),
        StatusCode::OK,
        "within the signed life"
    );
    s.world
        .clock
        .advance(Duration::days(1) + Duration::hours(1));
    s.world.fake.inject(MEDIA, Fault::Html(503), 1);
    let (status, body, _) = json(&s, "/feed.json").await;
    assert_eq!(
        status,
        StatusCode::BAD_GATEWAY,
        "its images would 403: {body}"
    );
    assert_eq!(error_code(&body), "upstream_unavailable");

    // Without any copy, a throttled answer is a JSON error that says when
    // to retry, and upstream is left alone until then.
    s.world.clock.advance(Duration::minutes(1));
    s.world
        .fake
        .inject(MEDIA, Fault::Throttle { code: 80002 }, 1);
    let (status, body, _) = json(&s, "/feed.json").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(&body), "upstream_throttled");
    let calls = s.world.fake.calls(MEDIA);
    let res = s.app.get("/feed.json?limit=4").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry = retry_after(&res);
    assert!((1..=1800).contains(&retry), "Retry-After {retry}");
    assert_eq!(s.world.fake.calls(MEDIA), calls, "no call while throttled");
}

async fn bad_parameters_are_refused_before_any_upstream_call(backend: Backend) {
    let s = setup(backend, &[]).await;
    for (path, code) in [
        ("/feed.json?limit=0", "invalid_limit"),
        ("/feed.json?limit=101", "invalid_limit"),
        ("/feed.json?limit=abc", "invalid_limit"),
        ("/feed.json?after=%3Cscript%3E", "invalid_cursor"),
        ("/feed.json?after=a&before=b", "invalid_cursor"),
        ("/feed.json?account=a%2Fb", "invalid_account"),
        ("/hashtags/two%20words/recent.json", "invalid_hashtag"),
        ("/hashtags/a-b/top.json", "invalid_hashtag"),
        ("/hashtags/ok/recent.json?limit=51", "invalid_limit"),
    ] {
        let (status, body, _) = json(&s, path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(error_code(&body), code, "{path}");
    }
    let (status, body, _) = json(&s, "/feed.json?account=nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "unknown_account");
    assert_eq!(s.world.fake.total_calls(), 0);
}

async fn the_feed_obeys_the_allow_list(backend: Backend) {
    let s = setup(backend, &[]).await;
    let res = s
        .app
        .http
        .get(s.app.url("/feed.json"))
        .header("Origin", "https://evil.com")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = s.app.get("/feed.json").await;
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://example.com"
    );
    assert_eq!(res.headers()["vary"], "Origin");
    assert_eq!(s.world.fake.calls(MEDIA), 1);
}

async fn only_the_owners_hashtags_may_spend_the_budget(backend: Backend) {
    let s = setup(
        backend,
        &[("HASHTAGS", "coffee"), ("ADMIN_PASSWORD", "feed-test-pw")],
    )
    .await;
    add_facebook_account(&s, "brand").await;
    // A script tries 29 made-up tags: each is a 404 that costs nothing.
    for i in 0..29 {
        let (status, body, _) = json(&s, &format!("/hashtags/madeup{i}/recent.json")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(error_code(&body), "hashtag_not_allowed");
    }
    assert_eq!(s.world.fake.total_calls(), 0, "no upstream call for them");
    let (used, _) = s
        .app
        .store
        .hashtag_budget("brand", s.world.clock.now(), Duration::days(7))
        .await
        .unwrap();
    assert_eq!(used, 0, "none of them counted against the week's 30");
    // The owner's own tag still works.
    let (status, body, _) = json(&s, "/hashtags/coffee/recent.json").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Allowed on the admin page, a tag works on every instance that reloads.
    let (status, _, _) = json(&s, "/hashtags/sourdough/top.json").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    token_agent::accounts::approve_hashtag(&s.app, "sourdough", true)
        .await
        .unwrap();
    let (status, body, _) = json(&s, "/hashtags/sourdough/top.json").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let other = s.world.spawn(&[]).await;
    assert!(other.feeds.allows_hashtag("sourdough"));
    token_agent::accounts::approve_hashtag(&s.app, "sourdough", false)
        .await
        .unwrap();
    let (status, _, _) = json(&s, "/hashtags/sourdough/top.json").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (used, frees) = s
        .app
        .store
        .hashtag_budget("brand", s.world.clock.now(), Duration::days(7))
        .await
        .unwrap();
    assert_eq!(used, 2, "coffee and sourdough");
    assert_eq!(frees, Some(s.world.clock.now() + Duration::days(7)));
    // The owner's status page shows the budget.
    let page = s
        .app
        .http
        .get(s.app.url("/status"))
        .basic_auth("owner", Some("feed-test-pw"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Hashtags of brand") && page.contains("2 of 30 used in the last 7 days"),
        "{page}"
    );
}

async fn walking_hashtag_pages_follows_upstreams_links_and_repeats_nothing(backend: Backend) {
    let s = setup(backend, &[("HASHTAGS", "latteart")]).await;
    let user = add_facebook_account(&s, "brand").await;
    for i in 0..130 {
        let caption = format!("cup {i} #latteart");
        s.world
            .fake
            .add_post(&user, fake_graph::MediaType::Image, Some(&caption));
        s.world.clock.advance(Duration::seconds(10));
    }
    let mut seen = Vec::new();
    let mut path = "/hashtags/latteart/recent.json?limit=50".to_string();
    let mut pages = 0;
    loop {
        let (status, body, text) = json(&s, &path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            !text.contains("__after_id"),
            "upstream's link shows: {text}"
        );
        seen.extend(
            body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_string()),
        );
        pages += 1;
        match body["paging"]["next"].as_str() {
            // A link rebuilt from the cursor would get the second page for
            // ever; four pages is already one too many.
            Some(next) if pages < 4 => path = local(next),
            _ => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 130);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 130, "an item came twice");
    // The second page, asked again, is the cached second page (its key is
    // the whole link, not the cursor that is the same on every page).
    let calls = s.world.fake.total_calls();
    let (_, first, _) = json(&s, "/hashtags/latteart/recent.json?limit=50").await;
    let (_, second, _) = json(&s, &local(first["paging"]["next"].as_str().unwrap())).await;
    assert_eq!(second["data"][0]["id"].as_str().unwrap(), seen[50]);
    assert_eq!(s.world.fake.total_calls(), calls, "all cached");
}

async fn hashtags_need_a_facebook_login_account(backend: Backend) {
    let s = setup(backend, &[("HASHTAGS", "coffee")]).await;
    let (status, body, _) = json(&s, "/hashtags/coffee/recent.json").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&body), "facebook_account_required");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Facebook Login")
    );
    let (status, _, _) = json(&s, "/hashtags/coffee/recent.json?account=default").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(s.world.fake.total_calls(), 0);
}

async fn a_hashtag_id_is_looked_up_once_across_restarts(backend: Backend) {
    let s = setup(
        backend,
        &[("HASHTAGS", "coffee"), ("ADMIN_PASSWORD", "feed-test-pw")],
    )
    .await;
    add_facebook_account(&s, "brand").await;
    let (status, body, text) = json(&s, "/hashtags/coffee/recent.json").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["data"].is_array());
    assert!(!text.contains("username"));
    let (status, _, _) = json(&s, "/hashtags/Coffee/top.json?account=brand").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.world.fake.calls("/ig_hashtag_search"), 1);

    // A new process (empty in-process cache) on the same database, once
    // the page kept there is no longer fresh.
    s.world.clock.advance(Duration::minutes(6));
    let app = s.world.spawn(&[("HASHTAGS", "coffee")]).await;
    let before = s.world.fake.total_calls();
    let res = s
        .app
        .http
        .get(app.url("/hashtags/coffee/recent.json?limit=5"))
        .header(ORIGIN.0, ORIGIN.1)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        s.world.fake.calls("/ig_hashtag_search"),
        1,
        "the id comes from the database"
    );
    assert_eq!(
        s.world.fake.total_calls(),
        before + 1,
        "only the media page was fetched"
    );
}

async fn the_thirty_first_hashtag_in_a_week_is_refused_before_any_call(backend: Backend) {
    let tags = (0..30)
        .map(|i| format!("tag{i}"))
        .chain(["onemore".to_string()])
        .collect::<Vec<_>>()
        .join(" ");
    let s = setup(backend, &[("HASHTAGS", &tags)]).await;
    add_facebook_account(&s, "brand").await;
    for i in 0..30 {
        let (status, body, _) = json(&s, &format!("/hashtags/tag{i}/recent.json")).await;
        assert_eq!(status, StatusCode::OK, "tag{i}: {body}");
    }
    let before = s.world.fake.total_calls();
    let res = s.app.get("/hashtags/onemore/recent.json").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // The first tag of the week lapses in 7 days (less the seconds spent).
    let retry = retry_after(&res);
    assert!(
        (7 * 86_400 - 60..=7 * 86_400).contains(&retry),
        "Retry-After {retry}"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(error_code(&body), "hashtag_limit");
    assert_eq!(
        s.world.fake.total_calls(),
        before,
        "refused before any upstream call"
    );
    // A tag already counted this week still works.
    s.world.clock.advance(Duration::minutes(10));
    let (status, _, _) = json(&s, "/hashtags/tag3/recent.json").await;
    assert_eq!(status, StatusCode::OK);
    // A week after the first ones, there is room again.
    s.world.clock.advance(Duration::days(7));
    let (status, body, _) = json(&s, "/hashtags/onemore/recent.json").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn a_facebook_account_feed_reads_its_instagram_business_account(backend: Backend) {
    let s = setup(backend, &[]).await;
    let user = add_facebook_account(&s, "brand").await;
    let (status, body, _) = json(&s, "/feed.json?account=brand").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = s
        .world
        .fake
        .media_of(&user)
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, expected);
    let stored = s.app.store.account("brand").await.unwrap().unwrap();
    assert_eq!(stored.user_id.as_deref(), Some(user.ig_user_id.as_str()));
    assert_eq!(
        s.world.fake.calls_on("graph.facebook.com", "/me/accounts"),
        1
    );
}

async fn high_upstream_usage_keeps_the_agent_on_its_cached_copy(backend: Backend) {
    let s = setup(backend, &[]).await;
    // One call per hour is the whole budget: the first answer reports 100%.
    s.world.fake.set_options(|o| o.hourly_call_budget = 1);
    let (status, first, _) = json(&s, "/feed.json").await;
    assert_eq!(status, StatusCode::OK);
    s.world.clock.advance(Duration::minutes(6));
    let res = s.app.get("/feed.json").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["age"], "360");
    assert_eq!(res.json::<Value>().await.unwrap(), first);
    assert_eq!(s.world.fake.calls(MEDIA), 1, "no call while usage is high");
}

/// Two agents (two dynos) on one memcached: the second is served what the
/// first fetched, without an upstream call of its own.
async fn feed_pages_are_shared_through_memcached(backend: Backend) {
    let memcached = crate::common::memcached::Memcached::start();
    let servers = memcached.addr();
    let s = setup(backend, &[("MEMCACHE_SERVERS", &servers)]).await;
    assert_eq!(s.app.cache.backend(), "memcached");
    let (_, first, _) = json(&s, "/feed.json?limit=5").await;
    let other = s.world.spawn(&[("MEMCACHE_SERVERS", &servers)]).await;
    let res = s
        .app
        .http
        .get(other.url("/feed.json?limit=5"))
        .header(ORIGIN.0, ORIGIN.1)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap(), first);
    assert_eq!(s.world.fake.calls(MEDIA), 1);
}

/// MemCachier's path: SASL PLAIN over the binary protocol.
async fn feed_pages_are_shared_through_a_sasl_memcached(backend: Backend) {
    let memcached = crate::common::memcached::Memcached::start_sasl(&[("agent", "s3cret-Pass")]);
    let env = [
        ("MEMCACHIER_SERVERS", memcached.addr()),
        ("MEMCACHIER_USERNAME", "agent".to_string()),
        ("MEMCACHIER_PASSWORD", "s3cret-Pass".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let s = setup(backend, &env).await;
    json(&s, "/feed.json?limit=5").await;
    let other = s.world.spawn(&env).await;
    let res = s
        .app
        .http
        .get(other.url("/feed.json?limit=5"))
        .header(ORIGIN.0, ORIGIN.1)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(s.world.fake.calls(MEDIA), 1);
    assert_eq!(s.app.cache.memcached_up(), Some(true));
}

async fn killing_memcached_keeps_the_feed_answering(backend: Backend) {
    let mut memcached = crate::common::memcached::Memcached::start();
    let servers = memcached.addr();
    let s = setup(backend, &[("MEMCACHE_SERVERS", &servers)]).await;
    let (_, first, _) = json(&s, "/feed.json").await;
    memcached.kill();
    for _ in 0..20 {
        let started = std::time::Instant::now();
        let (status, body, _) = json(&s, "/feed.json").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, first);
        assert!(started.elapsed() < std::time::Duration::from_secs(3));
    }
    // Past the TTL, with memcached still down: upstream, and still 200.
    s.world.clock.advance(Duration::minutes(6));
    let started = std::time::Instant::now();
    let (status, _, _) = json(&s, "/feed.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    assert_eq!(s.world.fake.calls(MEDIA), 2);
    assert_eq!(s.app.cache.memcached_up(), Some(false));
}

/// A hit may be answered from the answer rendered before: with the headers
/// of the moment, and never once its page is gone from the cache.
async fn an_answer_given_again_tells_its_age_and_ends_with_its_page(backend: Backend) {
    let s = setup(backend, &[]).await;
    let path = "/feed.json?limit=5";
    let first = s.app.get(path).await;
    assert_eq!(first.headers()["age"], "0");
    assert_eq!(first.headers()["cache-control"], "public, max-age=300");
    let first = first.text().await.unwrap();

    let user = s.world.user.clone();
    let newest = s.world.fake.add_post(&user, MediaType::Image, Some("new"));
    s.world.clock.advance(Duration::seconds(100));
    let again = s.app.get(path).await;
    assert_eq!(again.headers()["age"], "100");
    assert_eq!(again.headers()["cache-control"], "public, max-age=200");
    assert_eq!(
        again.text().await.unwrap(),
        first,
        "the cached page, as before"
    );
    assert_eq!(s.world.fake.calls(MEDIA), 1);

    // Removing the account deletes its pages: the account back, the next
    // answer is upstream's page of now, not the one rendered before.
    assert!(s.app.remove_account("default").await.unwrap());
    s.world
        .give_token(&s.app, "default", Duration::days(2))
        .await;
    let (status, body, _) = json(&s, path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"][0]["id"], newest.id.as_str());
    assert_eq!(s.world.fake.calls(MEDIA), 2);
}

on_both_backends!(
    feed_pages_are_shared_through_memcached,
    feed_pages_are_shared_through_a_sasl_memcached,
    killing_memcached_keeps_the_feed_answering,
    the_feed_has_the_graph_shape_and_no_token,
    paging_goes_through_the_agent_and_visits_every_item_once,
    a_burst_of_cold_requests_costs_one_upstream_call,
    an_upstream_failure_serves_the_last_good_copy_with_its_age,
    a_stale_copy_is_never_served_past_its_media_expiry,
    bad_parameters_are_refused_before_any_upstream_call,
    the_feed_obeys_the_allow_list,
    only_the_owners_hashtags_may_spend_the_budget,
    walking_hashtag_pages_follows_upstreams_links_and_repeats_nothing,
    hashtags_need_a_facebook_login_account,
    a_hashtag_id_is_looked_up_once_across_restarts,
    the_thirty_first_hashtag_in_a_week_is_refused_before_any_call,
    a_facebook_account_feed_reads_its_instagram_business_account,
    high_upstream_usage_keeps_the_agent_on_its_cached_copy,
    an_answer_given_again_tells_its_age_and_ends_with_its_page,
);
