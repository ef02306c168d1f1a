//! BUILD_HOOK_URL: the agent POSTs to a site's build hook when it notices a
//! change, once per change however many posts it holds, never for the
//! posts there when the hook was first set; deliveries are claimed so two
//! processes never both send one, retried, and kept across restarts.

use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use fake_graph::MediaType;
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{Backend, TestApp, World, webhook_sink};

/// What the hook received, and the status it answers with.
struct Hook {
    url: String,
    seen: Arc<Mutex<Vec<Value>>>,
    answer: Arc<Mutex<u16>>,
}

async fn hook() -> Hook {
    let answer = Arc::new(Mutex::new(200));
    let (url, seen) = webhook_sink(answer.clone()).await;
    Hook { url, seen, answer }
}

impl Hook {
    fn bodies(&self) -> Vec<Value> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits, within a deadline, until `n` bodies arrived.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + StdDuration::from_secs(10);
        loop {
            let bodies = self.bodies();
            if bodies.len() >= n {
                return bodies;
            }
            assert!(Instant::now() < deadline, "the hook got {bodies:?}");
            tokio::time::sleep(StdDuration::from_millis(10)).await;
        }
    }
}

/// Waits, within a deadline, until the hook has seen `account`'s posts
/// once (the comparison runs beside the request that read them).
async fn seen_once(app: &TestApp, account: &str) {
    let key = format!("build_hook_posts:{account}");
    let deadline = Instant::now() + StdDuration::from_secs(10);
    while app.store.setting(&key).await.unwrap().is_none() {
        assert!(Instant::now() < deadline, "the posts were never seen");
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
}

async fn spawn(world: &World, hook: &Hook, extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![
        ("BUILD_HOOK_URL", hook.url.as_str()),
        ("BUILD_HOOK_CHECK_MINUTES", "5"),
        ("WEBHOOK_SECRET", "build-hook-test-secret"),
    ];
    env.extend_from_slice(extra);
    world.spawn(&env).await
}

async fn new_posts_start_one_build_and_the_first_posts_none(backend: Backend) {
    // Arrange: the hook set, the first check sees the posts already there.
    let world = World::new(backend).await;
    let hook = hook().await;
    let app = spawn(&world, &hook, &[]).await;
    let user = world.add_instagram_account(&app, "studio", 5).await;
    app.refresher_pass().await;
    let calls = world.fake.calls("/me/media");
    assert_eq!(calls, 1, "the check read the first page");

    // Act: two posts, then the next check.
    let first = world
        .fake
        .add_post(&user, MediaType::Image, Some("fresh bread"));
    let second = world.fake.add_post(&user, MediaType::Video, Some("a reel"));
    world.clock.advance(Duration::minutes(6));
    app.refresher_pass().await;
    let bodies = hook.wait_for(1).await;
    world.clock.advance(Duration::minutes(6));
    app.refresher_pass().await;

    // Assert: one POST with both posts, nothing more, never a token.
    assert_eq!(hook.bodies().len(), 1, "{:?}", hook.bodies());
    let body = &bodies[0];
    assert_eq!(body["events"], serde_json::json!(["new_post"]));
    assert_eq!(body["account"], "studio");
    assert!(body["id"].as_str().unwrap().starts_with("evt_"));
    let posted: Vec<&str> = body["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(posted, [second.id.as_str(), first.id.as_str()]);
    assert_eq!(body["posts"][1]["permalink"], first.permalink());
    let token = app.store.account("studio").await.unwrap().unwrap().token;
    assert!(!body.to_string().contains(&token));
    // One read of Instagram per check.
    assert_eq!(world.fake.calls("/me/media"), 3);
    let status = app.page("/status", None).await;
    assert_eq!(status.status(), StatusCode::OK);
}

async fn a_visitors_refresh_notices_new_posts_too(backend: Backend) {
    let world = World::new(backend).await;
    let hook = hook().await;
    let app = spawn(&world, &hook, &[]).await;
    let user = world.add_instagram_account(&app, "studio", 3).await;
    let (status, _) = app.json("/feed.json?account=studio").await;
    assert_eq!(status, StatusCode::OK);
    seen_once(&app, "studio").await;

    let post = world.fake.add_post(&user, MediaType::Image, Some("new"));
    world.clock.advance(Duration::minutes(6));
    let (status, _) = app.json("/feed.json?account=studio").await;
    assert_eq!(status, StatusCode::OK);

    let bodies = hook.wait_for(1).await;
    assert_eq!(bodies[0]["posts"][0]["id"], post.id.as_str());
}

async fn removed_posts_and_token_changes_when_asked(backend: Backend) {
    let world = World::new(backend).await;
    let hook = hook().await;
    let app = spawn(&world, &hook, &[("BUILD_HOOK_ON", "removed_post,token")]).await;
    let user = world.add_instagram_account(&app, "studio", 3).await;
    app.refresher_pass().await;
    assert!(hook.bodies().is_empty(), "nothing changed yet");

    // A new post is not asked for; a deleted one is.
    world.fake.add_post(&user, MediaType::Image, Some("new"));
    let gone = world.fake.media_of(&user)[2].id.clone();
    world.fake.delete_post(&user, &gone);
    world.clock.advance(Duration::minutes(6));
    app.refresher_pass().await;
    let bodies = hook.wait_for(1).await;
    assert_eq!(bodies[0]["events"], serde_json::json!(["removed_post"]));
    assert_eq!(bodies[0]["removed"][0]["id"], gone.as_str());
    assert_eq!(bodies[0]["posts"], serde_json::json!([]));

    // A pasted token: the next pass tells, with the expiry, not the token.
    let token = world.fake.issue_long_lived_token(&user, world.clock.now());
    world
        .put_account(
            &app,
            "studio",
            token_agent::store::AccountKind::Instagram,
            &token,
            None,
        )
        .await;
    app.refresher_pass().await;
    let bodies = hook.wait_for(2).await;
    assert_eq!(bodies[1]["events"], serde_json::json!(["token"]));
    assert!(bodies[1]["expires_at"].is_string(), "{}", bodies[1]);
    assert!(!bodies[1].to_string().contains(&token));
}

async fn a_change_outlives_a_failing_hook_and_a_restart(backend: Backend) {
    // Arrange: the hook fails while the post is noticed.
    let world = World::new(backend).await;
    let hook = hook().await;
    let app = spawn(&world, &hook, &[]).await;
    let user = world.add_instagram_account(&app, "studio", 3).await;
    app.refresher_pass().await;
    *hook.answer.lock().unwrap() = 500;
    let post = world.fake.add_post(&user, MediaType::Image, Some("new"));
    world.clock.advance(Duration::minutes(6));
    app.refresher_pass().await;
    let failed = hook.wait_for(1).await;
    assert_eq!(failed[0]["posts"][0]["id"], post.id.as_str());

    // Act: the process stops; the hook recovers; a new process starts on
    // the same database, and passes a retry's wait.
    app.stop().await;
    *hook.answer.lock().unwrap() = 200;
    let again = spawn(&world, &hook, &[]).await;
    again.refresher_pass().await;
    let early = hook.bodies().len();
    world.clock.advance(Duration::minutes(2));
    again.refresher_pass().await;
    let bodies = hook.wait_for(2).await;
    world.clock.advance(Duration::hours(2));
    again.refresher_pass().await;

    // Assert: not before the backoff, then once, the same change.
    assert_eq!(early, 1, "the retry waits its backoff");
    assert_eq!(hook.bodies().len(), 2, "{:?}", hook.bodies());
    assert_eq!(bodies[1]["id"], failed[0]["id"]);
    let delivery = again.store.hook_delivery().await.unwrap().unwrap();
    assert!(delivery.last.is_some());
    assert_eq!(delivery.pending, 0);
}

async fn two_processes_send_a_change_once(backend: Backend) {
    let world = World::new(backend).await;
    let hook = hook().await;
    let one = spawn(&world, &hook, &[]).await;
    let two = spawn(&world, &hook, &[]).await;
    let user = world.add_instagram_account(&one, "studio", 3).await;
    two.reload().await.unwrap();
    one.refresher_pass().await;

    // Both read the new first page and notice the same post.
    world.fake.add_post(&user, MediaType::Image, Some("new"));
    world.clock.advance(Duration::minutes(6));
    seen_once(&one, "studio").await;
    let (a, b) = tokio::join!(
        one.json("/feed.json?account=studio"),
        two.json("/feed.json?account=studio")
    );
    assert_eq!((a.0, b.0), (StatusCode::OK, StatusCode::OK));
    hook.wait_for(1).await;
    tokio::join!(one.refresher_pass(), two.refresher_pass());

    assert_eq!(hook.bodies().len(), 1, "{:?}", hook.bodies());
    let delivery = one.store.hook_delivery().await.unwrap().unwrap();
    assert_eq!(delivery.pending, 0);
}

async fn one_process_takes_each_check(backend: Backend) {
    let world = World::new(backend).await;
    let hook = hook().await;
    let one = spawn(&world, &hook, &[]).await;
    let two = spawn(&world, &hook, &[]).await;
    world.add_instagram_account(&one, "studio", 3).await;
    two.reload().await.unwrap();

    // Two checks due at once, in two processes with caches of their own.
    tokio::join!(one.refresher_pass(), two.refresher_pass());
    world.clock.advance(Duration::minutes(6));
    tokio::join!(one.refresher_pass(), two.refresher_pass());

    assert_eq!(world.fake.calls("/me/media"), 2, "one read per check");
}

/// A body as the hook received it, with its `X-Signature-256`.
type Signed = (Option<String>, Vec<u8>);

async fn the_body_is_signed_with_the_webhook_secret(backend: Backend) {
    use hmac::{KeyInit, Mac};
    use warp::Filter;
    // A hook that keeps each body with its signature header.
    let seen: Arc<Mutex<Vec<Signed>>> = Arc::default();
    let record = seen.clone();
    let route = warp::post()
        .and(warp::header::optional::<String>("x-signature-256"))
        .and(warp::body::bytes())
        .map(move |signature: Option<String>, body: bytes::Bytes| {
            record.lock().unwrap().push((signature, body.to_vec()));
            "ok"
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/abc", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(route).incoming(listener).run());
    let world = World::new(backend).await;
    let sink = Hook {
        url,
        seen: Arc::default(),
        answer: Arc::new(Mutex::new(200)),
    };
    let app = spawn(&world, &sink, &[]).await;
    let user = world.add_instagram_account(&app, "studio", 3).await;
    app.refresher_pass().await;
    world.fake.add_post(&user, MediaType::Image, Some("new"));
    world.clock.advance(Duration::minutes(6));
    app.refresher_pass().await;

    let deadline = Instant::now() + StdDuration::from_secs(10);
    while seen.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "nothing was delivered");
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let (signature, body) = &got[0];
    let hex = signature
        .as_deref()
        .unwrap()
        .strip_prefix("sha256=")
        .unwrap();
    let mut mac = <hmac::Hmac<sha2::Sha256>>::new_from_slice(b"build-hook-test-secret").unwrap();
    mac.update(body);
    mac.verify_slice(&hex::decode(hex).unwrap()).unwrap();
}

on_both_backends!(
    one_process_takes_each_check,
    the_body_is_signed_with_the_webhook_secret,
    new_posts_start_one_build_and_the_first_posts_none,
    a_visitors_refresh_notices_new_posts_too,
    removed_posts_and_token_changes_when_asked,
    a_change_outlives_a_failing_hook_and_a_restart,
    two_processes_send_a_change_once,
);
