//! PostgreSQL going away while serving, and the binary under a minute of
//! mixed token and feed traffic.

use super::*;

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

async fn health(http: &reqwest::Client, app: &TestApp) -> StatusCode {
    http.get(app.url("/healthz")).send().await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_urls_answer_from_memory_while_postgres_is_down_and_the_agent_recovers() {
    let world = World::new(Backend::Postgres).await;
    let app = world.spawn(&[]).await;
    let old = world.give_token(&app, "default", Duration::days(8)).await;
    let http = http();
    assert_eq!(health(&http, &app).await, StatusCode::OK);
    let (status, feed) = get(&http, &app.url("/feed.json")).await;
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
            let (status, body) = get(&http, &app.url(path)).await;
            assert_eq!(status, StatusCode::OK, "round {round} {path}: {body}");
            assert!(body.contains(&old), "{path}: {body}");
            assert!(started.elapsed() < StdDuration::from_secs(1), "{path}");
        }
    }
    assert_eq!(health(&http, &app).await, StatusCode::SERVICE_UNAVAILABLE);

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
    let (status, body) = get(&http, &app.url("/feed.json")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, feed.as_str()));
    let (status, body) = get_json(&http, &app.url("/token.json")).await;
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
        async || health(&http, &app).await == StatusCode::OK,
    )
    .await;
    let outcome = refresher::refresh_account(&app, "default", true)
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Refreshed { .. }), "{outcome:?}");
    let new = app.board.get("default").unwrap().token.clone();
    assert_ne!(new, old);
    let (status, body) = get_json(&http, &app.url("/token.json")).await;
    assert_eq!(
        (status, body["token"].as_str()),
        (StatusCode::OK, Some(new.as_str()))
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lost_during_the_refresh_call_keeps_the_old_token_and_retries_later() {
    let world = World::new(Backend::Postgres).await;
    let app = world.spawn(&[]).await;
    let old = world.give_token(&app, "default", Duration::days(8)).await;
    let http = http();
    let name = pg_name(&world);

    // The refresh call is held at the fake while the database goes away.
    world
        .fake
        .inject(REFRESH, Fault::Delay(StdDuration::from_millis(500)), 1);
    let refreshing = tokio::spawn({
        let app = app.app.clone();
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
    let (status, body) = get_json(&http, &app.url("/token.json")).await;
    assert_eq!(
        (status, body["token"].as_str()),
        (StatusCode::OK, Some(old.as_str()))
    );

    bring_database_back(&name).await;
    outage.0 = None;
    wait_for(
        "/healthz to be 200 again",
        StdDuration::from_secs(20),
        async || health(&http, &app).await == StatusCode::OK,
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
    app.stop().await;
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
        let app = world.spawn(&[]).await;
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
