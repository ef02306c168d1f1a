//! Broken feed answers never reach a client or the cache; memcached dead,
//! silent or killed under load leaves the feed answering.

use super::*;

// ---------------------------------------------------------------------------
// Upstream faults on the feed

async fn feed_rig(backend: Backend, extra: &[(&str, &str)]) -> Rig {
    spawn_app(backend, extra).await
}

/// Feed answers that must never reach a client or the cache.
fn broken_feed_answers() -> Vec<(&'static str, Fault)> {
    let status = |code: u16, body: &str| Fault::Status(code, body.to_string());
    vec![
        ("timeout", Fault::Delay(StdDuration::from_millis(800))),
        ("500", status(500, "oops")),
        ("502 html", Fault::Html(502)),
        ("200 html", Fault::Html(200)),
        ("truncated json", Fault::Truncated),
        ("huge body", Fault::Huge(3 * 1024 * 1024)),
        ("throttled", Fault::Throttle { code: 80002 }),
        ("data is text", status(200, r#"{"data":"nope"}"#)),
        ("no data", status(200, r#"{"items":[]}"#)),
        ("json array", status(200, "[1,2]")),
        (
            "id is a float",
            status(200, r#"{"data":[{"id":1.7e16,"media_type":"IMAGE"}]}"#),
        ),
        (
            "id past 2^64",
            status(
                200,
                r#"{"data":[{"id":123456789012345678901234,"media_type":"IMAGE"}]}"#,
            ),
        ),
        (
            "id is an object",
            status(200, r#"{"data":[{"id":{"x":1},"media_type":"IMAGE"}]}"#),
        ),
        (
            "media_type missing",
            status(200, r#"{"data":[{"id":"1"}]}"#),
        ),
        (
            "caption is a number",
            status(
                200,
                r#"{"data":[{"id":"1","media_type":"IMAGE","caption":5}]}"#,
            ),
        ),
        (
            "a cursor with a space",
            status(
                200,
                r#"{"data":[],"paging":{"cursors":{"after":"a b"},"next":"https://x/?after=a%20b"}}"#,
            ),
        ),
        (
            "an error envelope with status 200",
            status(
                200,
                r#"{"error":{"message":"Please retry","type":"OAuthException","code":2}}"#,
            ),
        ),
    ]
}

async fn a_broken_feed_answer_serves_the_last_good_copy(backend: Backend) {
    let r = feed_rig(backend, &[("UPSTREAM_TIMEOUT_MS", "300")]).await;
    let url = r.app.url("/feed.json");
    let (status, good) = get(&r.app.http, &url).await;
    assert_eq!(status, StatusCode::OK, "{good}");
    assert_eq!(r.world.fake.calls(MEDIA), 1);

    for (what, fault) in broken_feed_answers() {
        // Past the fresh life of the copy (5 min), well within its stale life.
        r.world.clock.advance(Duration::minutes(6));
        let calls = r.world.fake.calls(MEDIA);
        r.world.fake.inject(MEDIA, fault, 1);
        let res = r
            .app
            .http
            .get(&url)
            .header("Origin", ORIGIN)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{what}");
        assert_eq!(
            res.headers()["cache-control"],
            "no-cache",
            "{what}: a stale copy is marked so"
        );
        let age: i64 = res.headers()["age"].to_str().unwrap().parse().unwrap();
        assert!(age >= 360, "{what}: Age {age}");
        assert_eq!(res.text().await.unwrap(), good, "{what}: not the good copy");
        assert_eq!(r.world.fake.calls(MEDIA), calls + 1, "{what}");
        if matches!(what, "throttled") {
            // Upstream is left alone until the account regains access (the
            // fake estimates 30 minutes).
            r.world.clock.advance(Duration::minutes(31));
        }
    }

    // The bad answers were never cached: with upstream well again, a fresh
    // page comes back and is the same media.
    r.world.clock.advance(Duration::minutes(6));
    let res = r
        .app
        .http
        .get(&url)
        .header("Origin", ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public, max-age=")
    );
    let ids = |page: &str| -> Vec<String> {
        let page: Value = serde_json::from_str(page).unwrap();
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&res.text().await.unwrap()), ids(&good));
    r.app.stop().await;
}

async fn a_broken_feed_answer_without_a_good_copy_is_a_json_error(backend: Backend) {
    let r = feed_rig(backend, &[("UPSTREAM_TIMEOUT_MS", "300")]).await;
    let url = r.app.url("/feed.json");
    for (what, fault) in broken_feed_answers() {
        // Past the time a failure stands for its key, and past a throttle's
        // quiet time (the fake estimates 30 minutes): each fault reaches
        // upstream.
        r.world.clock.advance(Duration::minutes(31));
        let calls = r.world.fake.calls(MEDIA);
        r.world.fake.inject(MEDIA, fault, 1);
        let (status, body) = get_json(&r.app.http, &url).await;
        assert!(status.is_server_error(), "{what}: {status} {body}");
        let code = body["error"]["code"].as_str().unwrap_or_default();
        assert!(code.starts_with("upstream_"), "{what}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.contains("IGAA"), "{what}: {message}");
        assert_eq!(r.world.fake.calls(MEDIA), calls + 1, "{what}");
    }
    r.app.stop().await;
}

async fn big_ids_and_offset_timestamps_are_served_exactly(backend: Backend) {
    let r = feed_rig(backend, &[]).await;
    let body = r#"{"data":[
        {"id":18446744073709551615,"media_type":"IMAGE","timestamp":"2026-05-01T10:00:00+0000",
         "media_url":"https://scontent.cdninstagram.com/v/1.jpg?oe=7A000000"},
        {"id":9007199254740993,"media_type":"CAROUSEL_ALBUM","timestamp":"2026-04-30T23:59:59+0000",
         "children":{"data":[{"id":9007199254740995,"media_type":"VIDEO","timestamp":"2026-04-30T23:59:59+0000"}]}},
        {"id":"17895695668004550","media_type":"VIDEO","timestamp":"2026-04-29T08:00:00+0000"}
    ],"paging":{"cursors":{"before":"QVFI","after":"QVFJ"}}}"#;
    r.world
        .fake
        .inject(MEDIA, Fault::Status(200, body.to_string()), 1);
    let (status, page) = get_json(&r.app.http, &r.app.url("/feed.json")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let ids: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().expect("ids are strings"))
        .collect();
    assert_eq!(
        ids,
        [
            "18446744073709551615",
            "9007199254740993",
            "17895695668004550"
        ]
    );
    assert_eq!(
        page["data"][1]["children"]["data"][0]["id"],
        "9007199254740995"
    );
    assert_eq!(page["data"][0]["timestamp"], "2026-05-01T10:00:00+0000");
    assert_eq!(page["data"][1]["timestamp"], "2026-04-30T23:59:59+0000");
    r.app.stop().await;
}

// ---------------------------------------------------------------------------
// memcached dead, silent or killed under load

async fn a_silent_memcached_costs_the_feed_at_most_its_timeout() {
    let blackhole = memcached::blackhole_server();
    let r = feed_rig(Backend::Sqlite, &[("MEMCACHE_SERVERS", &blackhole)]).await;
    let url = r.app.url("/feed.json");
    let started = Instant::now();
    let (status, first) = get(&r.app.http, &url).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert!(
        started.elapsed() < StdDuration::from_secs(4),
        "the first feed took {:?}",
        started.elapsed()
    );
    // From L1, without waiting on memcached again.
    for _ in 0..20 {
        let started = Instant::now();
        let (status, body) = get(&r.app.http, &url).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, first.as_str()));
        assert!(started.elapsed() < StdDuration::from_secs(2));
    }
    // Token URLs never touch the cache.
    let started = Instant::now();
    let (status, _) = get(&r.app.http, &r.app.url("/token.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() < StdDuration::from_secs(1));
    // Past the TTL: upstream again, still within the timeout.
    r.world.clock.advance(Duration::minutes(6));
    let started = Instant::now();
    let (status, _) = get(&r.app.http, &url).await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() < StdDuration::from_secs(4));
    assert_eq!(r.world.fake.calls(MEDIA), 2);
    r.app.stop().await;
}

async fn a_closed_memcached_port_changes_nothing_but_the_health_of_the_cache() {
    let closed = memcached::closed_port();
    let r = feed_rig(Backend::Sqlite, &[("MEMCACHE_SERVERS", &closed)]).await;
    let url = r.app.url("/feed.json");
    for _ in 0..10 {
        let started = Instant::now();
        let (status, _) = get(&r.app.http, &url).await;
        assert_eq!(status, StatusCode::OK);
        assert!(started.elapsed() < StdDuration::from_secs(3));
    }
    assert_eq!(r.world.fake.calls(MEDIA), 1);
    assert_eq!(r.app.cache.memcached_up(), Some(false));
    r.app.stop().await;
}

async fn memcached_killed_under_concurrent_load_keeps_the_feed_answering() {
    let mut memcached = Memcached::start();
    let servers = memcached.addr();
    let r = Arc::new(feed_rig(Backend::Sqlite, &[("MEMCACHE_SERVERS", &servers)]).await);
    let url = r.app.url("/feed.json");
    let (status, first) = get(&r.app.http, &url).await;
    assert_eq!(status, StatusCode::OK);

    let ok = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (r, url, first, ok) = (r.clone(), url.clone(), first.clone(), ok.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..60 {
                let (status, body) = get(&r.app.http, &url).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                assert_eq!(body, first);
                ok.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    wait_for(
        "some requests before the kill",
        StdDuration::from_secs(20),
        async || ok.load(Ordering::Relaxed) >= 100,
    )
    .await;
    memcached.kill();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(r.world.fake.calls(MEDIA), 1, "all served from the cache");

    // A burst after the TTL with memcached still dead: one upstream call.
    r.world.clock.advance(Duration::minutes(6));
    let burst = futures_util::future::join_all((0..16).map(|_| get(&r.app.http, &url))).await;
    assert!(burst.iter().all(|(status, _)| *status == StatusCode::OK));
    assert_eq!(r.world.fake.calls(MEDIA), 2);
}

on_both_backends!(
    a_broken_feed_answer_serves_the_last_good_copy,
    a_broken_feed_answer_without_a_good_copy_is_a_json_error,
    big_ids_and_offset_timestamps_are_served_exactly,
);

mod memcached_faults {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_silent_memcached_costs_the_feed_at_most_its_timeout() {
        super::a_silent_memcached_costs_the_feed_at_most_its_timeout().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_closed_memcached_port_changes_nothing_but_the_health_of_the_cache() {
        super::a_closed_memcached_port_changes_nothing_but_the_health_of_the_cache().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memcached_killed_under_concurrent_load_keeps_the_feed_answering() {
        super::memcached_killed_under_concurrent_load_keeps_the_feed_answering().await
    }
}
