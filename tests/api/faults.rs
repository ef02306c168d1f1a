//! Faults and bad input, end to end: refreshes killed at random points,
//! PostgreSQL going away and coming back, memcached dead or silent, every
//! kind of broken upstream answer, and a minute of mixed load on the binary.
//! Everything runs on loopback with random ports; time moves by the injected
//! clock except where a real process, socket or timeout is the point.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration as StdDuration, Instant};

use crate::common::memcached::{self, Memcached};
use crate::common::{Backend, Server, World, bring_database_back, pg_name, take_database_down};
use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::Value;
use token_agent::app::App;
use token_agent::fake::{Fault, TokenStatus};
use token_agent::refresher::{self, Outcome};
use token_agent::store::{AccountKind, NewToken};

const REFRESH: &str = "/refresh_access_token";
const MEDIA: &str = "/me/media";
const ORIGIN: &str = "https://example.com";

// ---------------------------------------------------------------------------
// Helpers

fn http() -> reqwest::Client {
    token_agent::tls::http_client()
        .timeout(StdDuration::from_secs(20))
        .build()
        .unwrap()
}

async fn get(http: &reqwest::Client, url: &str) -> (StatusCode, String) {
    let res = http
        .get(url)
        .header("Origin", ORIGIN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = res.status();
    (status, res.text().await.unwrap())
}

async fn get_json(http: &reqwest::Client, url: &str) -> (StatusCode, Value) {
    let (status, text) = get(http, url).await;
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("GET {url} answered {status} with non-JSON ({e}): {text}"));
    (status, value)
}

/// Polls a condition of the outside world (a process, a socket, a server
/// coming back); never used to let the agent's own time pass.
async fn wait_for(what: &str, limit: StdDuration, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition().await {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    panic!("waited {limit:?} for {what}");
}

fn is_valid(world: &World, token: &str) -> bool {
    matches!(world.fake.token_status(token), TokenStatus::Valid { .. })
}

/// The binary with its output discarded: killed or long-running children
/// here are never read from, and a full pipe would stall them.
fn agent_command(world: &World, args: &[&str], extra: &[(&str, &str)]) -> Command {
    let mut cmd = crate::common::agent_command(world, args, extra);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Resident memory of a process, from /proc.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// Kills and reaps a child when dropped, so a failing test leaves no process.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn random_below(limit: u64) -> u64 {
    if limit == 0 {
        0
    } else {
        rand::random::<u64>() % limit
    }
}

// ---------------------------------------------------------------------------
// Crash safety: `refresh --force` killed with SIGKILL at random points

/// Makes the stored token refreshable again: a day older at the fake and in
/// the database, and the lease a killed process left behind released (as its
/// two minutes would lapse).
async fn age_the_token(world: &World, app: &App) {
    world.clock.advance(Duration::hours(25));
    let account = app.store.account("default").await.unwrap().unwrap();
    if let Some(owner) = &account.lease_owner {
        app.store.release_lease("default", owner).await.unwrap();
    }
    #[allow(clippy::disallowed_methods)]
    let now = Utc::now();
    app.store
        .put_token(
            &NewToken {
                name: "default".into(),
                kind: AccountKind::Instagram,
                token: account.token.clone(),
                user_id: account.user_id.clone(),
                username: account.username.clone(),
                issued_at: Some(now - Duration::days(2)),
                expires_at: account.expires_at,
                next_refresh_at: Some(now),
            },
            now,
        )
        .await
        .unwrap();
}

async fn refreshes_killed_at_random_points_never_lose_the_token(backend: Backend) {
    let iterations: usize = std::env::var("TOKEN_AGENT_KILL_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let world = World::at_wall_clock(backend).await;
    let app = world.app(&[]).await;
    world.give_token(&app, "default", Duration::days(8)).await;

    // One uninterrupted run, to spread the kills over a whole refresh.
    let started = Instant::now();
    let status = agent_command(&world, &["refresh", "--force"], &[])
        .status()
        .unwrap();
    let whole = started.elapsed();
    assert!(status.success(), "an uninterrupted refresh works");

    let (mut killed, mut finished, mut rotated) = (0, 0, 0);
    for i in 0..iterations {
        age_the_token(&world, &app).await;
        let before = app.store.account("default").await.unwrap().unwrap().token;
        assert!(is_valid(&world, &before));
        // Every other run, hold the upstream answer back a little so that
        // some kills land while the refresh call is in flight.
        let extra_ms = if i % 2 == 1 {
            let ms = 5 + random_below(40);
            world
                .fake
                .inject(REFRESH, Fault::Delay(StdDuration::from_millis(ms)), 1);
            ms
        } else {
            0
        };
        let window = whole.as_micros() as u64 + extra_ms * 1000;
        let delay = StdDuration::from_micros(random_below(window * 5 / 4));
        let mut child = Reaped(
            agent_command(&world, &["refresh", "--force"], &[])
                .spawn()
                .unwrap(),
        );
        tokio::time::sleep(delay).await;
        match child.0.try_wait().unwrap() {
            Some(_) => finished += 1,
            None => {
                child.0.kill().unwrap(); // SIGKILL
                killed += 1;
            }
        }
        let _ = child.0.wait();

        let account = app.store.account("default").await.unwrap().unwrap();
        assert!(
            is_valid(&world, &account.token),
            "run {i} (killed after {delay:?}): the stored token is not valid at the fake: {:?}",
            world.fake.token_status(&account.token)
        );
        if account.token != before {
            rotated += 1;
        }
        app.reload().await.unwrap();
        let served = app.board.get("default").unwrap();
        assert_eq!(served.token, account.token);
        assert!(is_valid(&world, &served.token));
    }
    eprintln!(
        "{backend:?}: {iterations} runs, {killed} killed, {finished} finished first, {rotated} rotated (a whole refresh takes {whole:?})"
    );

    // Whatever the kills left, the next refresh goes through.
    age_the_token(&world, &app).await;
    let outcome = refresher::refresh_account(&app, "default", true)
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Refreshed { .. }), "{outcome:?}");
    assert!(is_valid(&world, &app.board.get("default").unwrap().token));
}

// ---------------------------------------------------------------------------
// Upstream faults during a refresh

/// Answers a refresh may get instead of a token, each with a name.
fn broken_refresh_answers() -> Vec<(&'static str, Fault)> {
    let status = |code: u16, body: &str| Fault::Status(code, body.to_string());
    vec![
        ("timeout", Fault::Delay(StdDuration::from_millis(800))),
        ("500", status(500, "Internal Server Error")),
        ("503 empty", status(503, "")),
        ("502 html", Fault::Html(502)),
        ("200 html", Fault::Html(200)),
        ("truncated json", Fault::Truncated),
        ("huge body", Fault::Huge(3 * 1024 * 1024)),
        ("throttled", Fault::Throttle { code: 4 }),
        (
            "transient graph error",
            Fault::GraphError {
                status: 500,
                code: 2,
                subcode: None,
                message: "An unexpected error has occurred. Please retry your request later."
                    .into(),
                kind: "OAuthException".into(),
            },
        ),
        ("json array", status(200, "[]")),
        ("json null", status(200, "null")),
        ("json string", status(200, "\"IGAAnew\"")),
        (
            "token is a number",
            status(
                200,
                r#"{"access_token":12345,"token_type":"bearer","expires_in":5184000}"#,
            ),
        ),
        (
            "token is blank",
            status(
                200,
                r#"{"access_token":"   ","token_type":"bearer","expires_in":5184000}"#,
            ),
        ),
        (
            "token is an object",
            status(
                200,
                r#"{"access_token":{"v":"IGAAx"},"expires_in":5184000}"#,
            ),
        ),
        (
            "expires_in is text",
            status(200, r#"{"access_token":"IGAAnew","expires_in":"5184000"}"#),
        ),
        (
            "expires_in is negative",
            status(200, r#"{"access_token":"IGAAnew","expires_in":-5}"#),
        ),
        (
            "expires_in is a float",
            status(200, r#"{"access_token":"IGAAnew","expires_in":5.184e6}"#),
        ),
        (
            "expires_in is missing",
            status(200, r#"{"access_token":"IGAAnew","token_type":"bearer"}"#),
        ),
        (
            "expires_in is past 2^63",
            status(
                200,
                r#"{"access_token":"IGAAnew","expires_in":18446744073709551615}"#,
            ),
        ),
        (
            "an error envelope with status 200",
            status(
                200,
                r#"{"error":{"message":"Please retry","type":"OAuthException","code":1}}"#,
            ),
        ),
    ]
}

async fn assert_old_token_kept_and_served(
    world: &World,
    app: &App,
    server: &Server,
    old: &str,
    what: &str,
) {
    let stored = app.store.account("default").await.unwrap().unwrap();
    assert_eq!(stored.token, old, "{what}: the stored token changed");
    assert!(is_valid(world, old), "{what}");
    assert_eq!(app.board.get("default").unwrap().token, old, "{what}");
    let (status, body) = get_json(&http(), &server.url("/token.json")).await;
    assert_eq!(status, StatusCode::OK, "{what}");
    assert_eq!(body["token"], old, "{what}");
}

async fn a_broken_refresh_answer_keeps_the_old_token(backend: Backend) {
    let world = World::new(backend).await;
    let app = world.app(&[("UPSTREAM_TIMEOUT_MS", "300")]).await;
    let old = world.give_token(&app, "default", Duration::days(8)).await;
    let server = Server::start(app.clone()).await;

    for (what, fault) in broken_refresh_answers() {
        let calls = world.fake.calls(REFRESH);
        world.fake.inject(REFRESH, fault, 1);
        let outcome = refresher::refresh_account(&app, "default", true)
            .await
            .unwrap_or_else(|e| panic!("{what}: the refresh step failed: {e}"));
        assert_eq!(world.fake.calls(REFRESH), calls + 1, "{what}");
        let Outcome::Failed { message, .. } = &outcome else {
            panic!("{what}: expected a recorded failure, got {outcome:?}");
        };
        assert!(!message.contains(&old), "{what}: the error shows the token");
        let stored = app.store.account("default").await.unwrap().unwrap();
        assert_eq!(stored.last_result.as_deref(), Some("failed"), "{what}");
        assert!(stored.last_error.is_some(), "{what}: no error recorded");
        assert!(
            stored.next_refresh_at.is_some(),
            "{what}: no retry scheduled"
        );
        assert_old_token_kept_and_served(&world, &app, &server, &old, what).await;
    }

    // With upstream well again, the next refresh goes through.
    let outcome = refresher::refresh_account(&app, "default", true)
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Refreshed { .. }), "{outcome:?}");
    let new = app.board.get("default").unwrap().token.clone();
    assert_ne!(new, old);
    assert!(is_valid(&world, &new));
    server.stop().await;
}

/// A token answer whose lifetime is absurd but a positive whole number:
/// the agent must neither panic nor store an expiry centuries away. It may
/// refuse the answer (keeping the old token) or cap the lifetime.
async fn an_absurd_token_lifetime_neither_panics_nor_is_stored(backend: Backend) {
    let world = World::new(backend).await;
    let app = world.app(&[]).await;
    let mut current = world.give_token(&app, "default", Duration::days(8)).await;
    let server = Server::start(app.clone()).await;
    for seconds in [i64::MAX, 100_000_000_000_000, 10_000_000_000] {
        let new = format!("IGAAnew{seconds}");
        let body = format!(r#"{{"access_token":"{new}","expires_in":{seconds}}}"#);
        world.fake.inject(REFRESH, Fault::Status(200, body), 1);
        let app2 = app.clone();
        let outcome =
            tokio::spawn(async move { refresher::refresh_account(&app2, "default", true).await })
                .await;
        let outcome = match outcome {
            Ok(outcome) => outcome.unwrap(),
            Err(panic) => panic!("expires_in {seconds}: the refresh step panicked: {panic}"),
        };
        let what = format!("expires_in {seconds}");
        match outcome {
            Outcome::Failed { .. } => {
                assert_old_token_kept_and_served(&world, &app, &server, &current, &what).await
            }
            Outcome::Refreshed { expires_at } => {
                assert!(
                    expires_at <= world.clock.now() + Duration::days(90),
                    "{what}: stored expiry {expires_at}"
                );
                assert_eq!(app.board.get("default").unwrap().token, new, "{what}");
                // The injected token is not one the fake knows; put a real one back.
                current = world.give_token(&app, "default", Duration::days(8)).await;
            }
            other => panic!("{what}: {other:?}"),
        }
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------
// Upstream faults on the feed

struct FeedRig {
    world: World,
    app: Arc<App>,
    server: Server,
    http: reqwest::Client,
}

async fn feed_rig(backend: Backend, extra: &[(&str, &str)]) -> FeedRig {
    let world = World::new(backend).await;
    let app = world.app(extra).await;
    world.give_token(&app, "default", Duration::days(2)).await;
    let server = Server::start(app.clone()).await;
    FeedRig {
        world,
        app,
        server,
        http: http(),
    }
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
    let url = r.server.url("/feed.json");
    let (status, good) = get(&r.http, &url).await;
    assert_eq!(status, StatusCode::OK, "{good}");
    assert_eq!(r.world.fake.calls(MEDIA), 1);

    for (what, fault) in broken_feed_answers() {
        // Past the fresh life of the copy (5 min), well within its stale life.
        r.world.clock.advance(Duration::minutes(6));
        let calls = r.world.fake.calls(MEDIA);
        r.world.fake.inject(MEDIA, fault, 1);
        let res = r
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
    r.server.stop().await;
}

async fn a_broken_feed_answer_without_a_good_copy_is_a_json_error(backend: Backend) {
    let r = feed_rig(backend, &[("UPSTREAM_TIMEOUT_MS", "300")]).await;
    let url = r.server.url("/feed.json");
    for (what, fault) in broken_feed_answers() {
        // Past the time a failure stands for its key, and past a throttle's
        // quiet time (the fake estimates 30 minutes): each fault reaches
        // upstream.
        r.world.clock.advance(Duration::minutes(31));
        let calls = r.world.fake.calls(MEDIA);
        r.world.fake.inject(MEDIA, fault, 1);
        let (status, body) = get_json(&r.http, &url).await;
        assert!(status.is_server_error(), "{what}: {status} {body}");
        let code = body["error"]["code"].as_str().unwrap_or_default();
        assert!(code.starts_with("upstream_"), "{what}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.contains("IGAA"), "{what}: {message}");
        assert_eq!(r.world.fake.calls(MEDIA), calls + 1, "{what}");
    }
    r.server.stop().await;
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
    let (status, page) = get_json(&r.http, &r.server.url("/feed.json")).await;
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
    r.server.stop().await;
}

// ---------------------------------------------------------------------------
// memcached dead, silent or killed under load

async fn a_silent_memcached_costs_the_feed_at_most_its_timeout() {
    let blackhole = memcached::blackhole_server();
    let r = feed_rig(Backend::Sqlite, &[("MEMCACHE_SERVERS", &blackhole)]).await;
    let url = r.server.url("/feed.json");
    let started = Instant::now();
    let (status, first) = get(&r.http, &url).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert!(
        started.elapsed() < StdDuration::from_secs(4),
        "the first feed took {:?}",
        started.elapsed()
    );
    // From L1, without waiting on memcached again.
    for _ in 0..20 {
        let started = Instant::now();
        let (status, body) = get(&r.http, &url).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, first.as_str()));
        assert!(started.elapsed() < StdDuration::from_secs(2));
    }
    // Token URLs never touch the cache.
    let started = Instant::now();
    let (status, _) = get(&r.http, &r.server.url("/token.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() < StdDuration::from_secs(1));
    // Past the TTL: upstream again, still within the timeout.
    r.world.clock.advance(Duration::minutes(6));
    let started = Instant::now();
    let (status, _) = get(&r.http, &url).await;
    assert_eq!(status, StatusCode::OK);
    assert!(started.elapsed() < StdDuration::from_secs(4));
    assert_eq!(r.world.fake.calls(MEDIA), 2);
    r.server.stop().await;
}

async fn a_closed_memcached_port_changes_nothing_but_the_health_of_the_cache() {
    let closed = memcached::closed_port();
    let r = feed_rig(Backend::Sqlite, &[("MEMCACHE_SERVERS", &closed)]).await;
    let url = r.server.url("/feed.json");
    for _ in 0..10 {
        let started = Instant::now();
        let (status, _) = get(&r.http, &url).await;
        assert_eq!(status, StatusCode::OK);
        assert!(started.elapsed() < StdDuration::from_secs(3));
    }
    assert_eq!(r.world.fake.calls(MEDIA), 1);
    assert_eq!(r.app.cache.memcached_up(), Some(false));
    r.server.stop().await;
}

async fn memcached_killed_under_concurrent_load_keeps_the_feed_answering() {
    let mut memcached = Memcached::start();
    let servers = memcached.addr();
    let r = Arc::new(feed_rig(Backend::Sqlite, &[("MEMCACHE_SERVERS", &servers)]).await);
    let url = r.server.url("/feed.json");
    let (status, first) = get(&r.http, &url).await;
    assert_eq!(status, StatusCode::OK);

    let ok = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (r, url, first, ok) = (r.clone(), url.clone(), first.clone(), ok.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..60 {
                let (status, body) = get(&r.http, &url).await;
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
    let burst = futures_util::future::join_all((0..16).map(|_| get(&r.http, &url))).await;
    assert!(burst.iter().all(|(status, _)| *status == StatusCode::OK));
    assert_eq!(r.world.fake.calls(MEDIA), 2);
}

// ---------------------------------------------------------------------------
// PostgreSQL going away while serving

/// Brings the database back even when an assertion fails first, so that
/// the test database can be dropped.
struct Outage(Option<String>);

impl Drop for Outage {
    fn drop(&mut self) {
        if let Some(name) = self.0.take() {
            std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(bring_database_back(&name))
            })
            .join()
            .unwrap();
        }
    }
}

async fn health(http: &reqwest::Client, server: &Server) -> StatusCode {
    http.get(server.url("/healthz"))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_urls_answer_from_memory_while_postgres_is_down_and_the_agent_recovers() {
    let world = World::new(Backend::Postgres).await;
    let app = world.app(&[]).await;
    let old = world.give_token(&app, "default", Duration::days(8)).await;
    let server = Server::start(app.clone()).await;
    let http = http();
    assert_eq!(health(&http, &server).await, StatusCode::OK);
    let (status, feed) = get(&http, &server.url("/feed.json")).await;
    assert_eq!(status, StatusCode::OK);

    let name = pg_name(&world);
    take_database_down(&name).await;
    let mut outage = Outage(Some(name.clone()));

    for round in 0..50 {
        for path in [
            "/token.json",
            "/token.js",
            "/token",
            "/accounts/default/token",
        ] {
            let started = Instant::now();
            let (status, body) = get(&http, &server.url(path)).await;
            assert_eq!(status, StatusCode::OK, "round {round} {path}: {body}");
            assert!(body.contains(&old), "{path}: {body}");
            assert!(started.elapsed() < StdDuration::from_secs(1), "{path}");
        }
    }
    assert_eq!(
        health(&http, &server).await,
        StatusCode::SERVICE_UNAVAILABLE
    );

    // A refresh cannot run: the error comes back, upstream is not called,
    // and the token in memory is untouched.
    let started = Instant::now();
    let result = refresher::refresh_account(&app, "default", true).await;
    assert!(result.is_err(), "{result:?}");
    assert!(started.elapsed() < StdDuration::from_secs(15));
    assert_eq!(world.fake.calls(REFRESH), 0);
    assert_eq!(app.board.get("default").unwrap().token, old);
    // The feed copy in the cache is still served (a fresh page needs no
    // database), and the token URLs still answer after the failed refresh.
    let (status, body) = get(&http, &server.url("/feed.json")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, feed.as_str()));
    let (status, body) = get_json(&http, &server.url("/token.json")).await;
    assert_eq!(
        (status, body["token"].as_str()),
        (StatusCode::OK, Some(old.as_str()))
    );

    // The database returns; the agent notices by itself.
    bring_database_back(&name).await;
    outage.0 = None;
    wait_for(
        "/healthz to be 200 again",
        StdDuration::from_secs(20),
        async || health(&http, &server).await == StatusCode::OK,
    )
    .await;
    let outcome = refresher::refresh_account(&app, "default", true)
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Refreshed { .. }), "{outcome:?}");
    let new = app.board.get("default").unwrap().token.clone();
    assert_ne!(new, old);
    let (status, body) = get_json(&http, &server.url("/token.json")).await;
    assert_eq!(
        (status, body["token"].as_str()),
        (StatusCode::OK, Some(new.as_str()))
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lost_during_the_refresh_call_keeps_the_old_token_and_retries_later() {
    let world = World::new(Backend::Postgres).await;
    let app = world.app(&[]).await;
    let old = world.give_token(&app, "default", Duration::days(8)).await;
    let server = Server::start(app.clone()).await;
    let http = http();
    let name = pg_name(&world);

    // The refresh call is held at the fake while the database goes away.
    world
        .fake
        .inject(REFRESH, Fault::Delay(StdDuration::from_millis(500)), 1);
    let refreshing = tokio::spawn({
        let app = app.clone();
        async move { refresher::refresh_account(&app, "default", true).await }
    });
    wait_for("the refresh call", StdDuration::from_secs(10), async || {
        world.fake.calls(REFRESH) == 1
    })
    .await;
    take_database_down(&name).await;
    let mut outage = Outage(Some(name.clone()));
    let result = refreshing.await.expect("no panic");
    assert!(result.is_err(), "the new token cannot be saved: {result:?}");
    // Upstream's new token was not saved; the old one is still served and valid.
    assert_eq!(app.board.get("default").unwrap().token, old);
    assert!(is_valid(&world, &old));
    let (status, body) = get_json(&http, &server.url("/token.json")).await;
    assert_eq!(
        (status, body["token"].as_str()),
        (StatusCode::OK, Some(old.as_str()))
    );

    bring_database_back(&name).await;
    outage.0 = None;
    wait_for(
        "/healthz to be 200 again",
        StdDuration::from_secs(20),
        async || health(&http, &server).await == StatusCode::OK,
    )
    .await;
    let stored = app.store.account("default").await.unwrap().unwrap();
    assert_eq!(stored.token, old);
    // This process's own lease does not block it; a new refresh goes through.
    let outcome = refresher::refresh_account(&app, "default", true)
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Refreshed { .. }), "{outcome:?}");
    assert!(is_valid(&world, &app.board.get("default").unwrap().token));
    server.stop().await;
}

// ---------------------------------------------------------------------------
// Load: the binary under mixed token and feed traffic

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_load_on_token_and_feed_urls_gets_only_2xx_and_bounded_memory() {
    let seconds: u64 = std::env::var("TOKEN_AGENT_LOAD_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let max_rss_mb: u64 = std::env::var("TOKEN_AGENT_LOAD_MAX_RSS_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    const MAX_REQUESTS: u64 = 3_000_000;
    const CONNECTIONS: usize = 8;

    let world = World::at_wall_clock(Backend::Sqlite).await;
    {
        let app = world.app(&[]).await;
        world.give_token(&app, "default", Duration::days(2)).await;
        app.store.close().await;
    }
    let port = free_port();
    let port_text = port.to_string();
    let child = Reaped(
        agent_command(
            &world,
            &["serve"],
            &[("PORT", &port_text), ("RUST_LOG", "warn")],
        )
        .spawn()
        .unwrap(),
    );
    let pid = child.0.id();
    let base = format!("http://127.0.0.1:{port}");
    let client = token_agent::tls::http_client()
        .timeout(StdDuration::from_secs(10))
        .pool_max_idle_per_host(CONNECTIONS)
        .build()
        .unwrap();
    wait_for(
        "the agent to serve",
        StdDuration::from_secs(30),
        async || {
            client
                .get(format!("{base}/token.json"))
                .header("Origin", ORIGIN)
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK)
        },
    )
    .await;
    let rss_idle = rss_kb(pid);

    let paths = [
        "/token.json",
        "/token.js",
        "/token.js?const=MyToken",
        "/token",
        "/accounts/default/token.json",
        "/feed.json",
        "/feed.json?limit=6",
        "/feed.json?limit=12",
    ];
    let sent = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let deadline = Instant::now() + StdDuration::from_secs(seconds);
    let mut tasks = Vec::new();
    for worker in 0..CONNECTIONS {
        let (client, base, sent, failed) =
            (client.clone(), base.clone(), sent.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = worker;
            while Instant::now() < deadline && sent.fetch_add(1, Ordering::Relaxed) < MAX_REQUESTS {
                let path = paths[i % paths.len()];
                i += 1;
                match client
                    .get(format!("{base}{path}"))
                    .header("Origin", ORIGIN)
                    .send()
                    .await
                {
                    Ok(res) if res.status().is_success() => {
                        let _ = res.bytes().await;
                    }
                    Ok(res) => failed
                        .lock()
                        .unwrap()
                        .push(format!("{path}: {}", res.status())),
                    Err(e) => failed.lock().unwrap().push(format!("{path}: {e}")),
                }
            }
        }));
    }
    // Memory, once a second, while the load runs.
    let mut peak = rss_idle;
    while tasks.iter().any(|t| !t.is_finished()) {
        peak = peak.max(rss_kb(pid));
        tokio::time::sleep(StdDuration::from_millis(500)).await;
    }
    for task in tasks {
        task.await.unwrap();
    }
    let rss_loaded = rss_kb(pid);
    peak = peak.max(rss_loaded);
    let total = sent.load(Ordering::Relaxed).min(MAX_REQUESTS);
    let failed = failed.lock().unwrap().clone();
    eprintln!(
        "load: {total} requests in {seconds} s, {} failed; RSS idle {rss_idle} kB, peak {peak} kB, after {rss_loaded} kB",
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} requests failed, first: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(total > 0);
    assert!(
        peak <= max_rss_mb * 1024,
        "RSS peaked at {peak} kB (> {max_rss_mb} MB)"
    );
    // Three feed keys, fresh for 5 minutes: a handful of upstream calls.
    let allowed = 3 * (seconds / 300 + 1) as usize;
    assert!(
        world.fake.calls(MEDIA) <= allowed,
        "{} media calls for 3 keys in {seconds} s",
        world.fake.calls(MEDIA)
    );
    drop(child);
}

on_both_backends!(
    refreshes_killed_at_random_points_never_lose_the_token,
    a_broken_refresh_answer_keeps_the_old_token,
    an_absurd_token_lifetime_neither_panics_nor_is_stored,
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
