//! Refreshes killed at random points, and broken refresh answers: the old
//! token is never lost.

use super::*;

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
    let app = world.spawn(&[]).await;
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

async fn assert_old_token_kept_and_served(world: &World, app: &TestApp, old: &str, what: &str) {
    let stored = app.store.account("default").await.unwrap().unwrap();
    assert_eq!(stored.token, old, "{what}: the stored token changed");
    assert!(is_valid(world, old), "{what}");
    assert_eq!(app.board.get("default").unwrap().token, old, "{what}");
    let (status, body) = get_json(&http(), &app.url("/token.json")).await;
    assert_eq!(status, StatusCode::OK, "{what}");
    assert_eq!(body["token"], old, "{what}");
}

async fn a_broken_refresh_answer_keeps_the_old_token(backend: Backend) {
    let world = World::new(backend).await;
    let app = world.spawn(&[("UPSTREAM_TIMEOUT_MS", "300")]).await;
    let old = world.give_token(&app, "default", Duration::days(8)).await;

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
        assert_old_token_kept_and_served(&world, &app, &old, what).await;
    }

    // With upstream well again, the next refresh goes through.
    let outcome = refresher::refresh_account(&app, "default", true)
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Refreshed { .. }), "{outcome:?}");
    let new = app.board.get("default").unwrap().token.clone();
    assert_ne!(new, old);
    assert!(is_valid(&world, &new));
    app.stop().await;
}

/// A token answer whose lifetime is absurd but a positive whole number:
/// the agent must neither panic nor store an expiry centuries away. It may
/// refuse the answer (keeping the old token) or cap the lifetime.
async fn an_absurd_token_lifetime_neither_panics_nor_is_stored(backend: Backend) {
    let world = World::new(backend).await;
    let app = world.spawn(&[]).await;
    let mut current = world.give_token(&app, "default", Duration::days(8)).await;
    for seconds in [i64::MAX, 100_000_000_000_000, 10_000_000_000] {
        let new = format!("IGAAnew{seconds}");
        let body = format!(r#"{{"access_token":"{new}","expires_in":{seconds}}}"#);
        world.fake.inject(REFRESH, Fault::Status(200, body), 1);
        let app2 = app.app.clone();
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
                assert_old_token_kept_and_served(&world, &app, &current, &what).await
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
    app.stop().await;
}

on_both_backends!(
    refreshes_killed_at_random_points_never_lose_the_token,
    a_broken_refresh_answer_keeps_the_old_token,
    an_absurd_token_lifetime_neither_panics_nor_is_stored,
);
