//! The refresher against the fake Graph API, on both databases.

use crate::common::{Backend, World};
use chrono::Duration;
use fake_graph::{Fault, TokenStatus};
use token_agent::cli::status_table;
use token_agent::refresher::{self, Outcome};

const REFRESH: &str = "/refresh_access_token";

async fn a_due_refresh_rotates_the_token_and_a_restart_serves_the_new_one(backend: Backend) {
    let world = World::new(backend).await;
    let app = world.spawn(&[]).await;
    let old = world.give_token(&app, "default", Duration::days(8)).await;

    let outcome = refresher::refresh_account(&app, "default", false)
        .await
        .unwrap();
    let Outcome::Refreshed { expires_at } = outcome else {
        panic!("expected a refresh, got {outcome:?}");
    };
    assert_eq!(expires_at, world.clock.now() + Duration::days(60));
    assert_eq!(world.fake.calls(REFRESH), 1);

    let served = app.board.get("default").unwrap();
    assert_ne!(
        served.token, old,
        "the fake rotates tokens; the new one must be served"
    );
    assert!(matches!(
        world.fake.token_status(&served.token),
        TokenStatus::Valid { .. }
    ));

    let stored = app.store.account("default").await.unwrap().unwrap();
    assert_eq!(stored.token, served.token);
    assert_eq!(stored.last_result.as_deref(), Some("ok"));
    assert_eq!(stored.username.as_deref(), Some("sunny_bakery"));
    // Weekly by default: next refresh a week from now.
    assert_eq!(
        stored.next_refresh_at,
        Some(world.clock.now() + Duration::days(7))
    );

    // A restart reads the new token from the database.
    app.store.close().await;
    let restarted = world.spawn(&[]).await;
    assert_eq!(restarted.board.get("default").unwrap().token, served.token);
}

async fn nothing_happens_before_the_token_is_due(backend: Backend) {
    let world = World::new(backend).await;
    let app = world.spawn(&[]).await;
    world.give_token(&app, "default", Duration::days(2)).await;
    let outcome = refresher::refresh_account(&app, "default", false)
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::NotDue { .. }), "{outcome:?}");
    assert!(refresher::refresh_due(&app).await.is_empty());
    assert_eq!(world.fake.calls(REFRESH), 0);

    // Five days later (a week after issue) it is due.
    world.clock.advance(Duration::days(5));
    let results = refresher::refresh_due(&app).await;
    assert_eq!(results.len(), 1);
    assert!(
        matches!(results[0].1, Ok(Outcome::Refreshed { .. })),
        "{results:?}"
    );
}

async fn a_token_younger_than_a_day_is_never_refreshed_even_by_force(backend: Backend) {
    let world = World::new(backend).await;
    let app = world.spawn(&[]).await;
    world.give_token(&app, "default", Duration::hours(23)).await;
    let outcome = refresher::refresh_account(&app, "default", true)
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::TooYoung { .. }), "{outcome:?}");
    assert_eq!(world.fake.calls(REFRESH), 0);
    world.clock.advance(Duration::hours(2));
    let outcome = refresher::refresh_account(&app, "default", true)
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Refreshed { .. }), "{outcome:?}");
}

/// Each failing answer keeps the old token, records the error and backs off.
async fn failed_refreshes_keep_the_old_token_and_show_the_error(backend: Backend) {
    let faults: Vec<(Fault, &str, bool)> = vec![
        (Fault::Status(500, "{\"error\":{\"message\":\"An unknown error occurred\",\"type\":\"OAuthException\",\"code\":1}}".into()), "transient", false),
        (Fault::Html(502), "transient", false),
        (Fault::Status(200, "<html>maintenance</html>".into()), "garbage", false),
        (Fault::Status(200, "{\"access_token\":\"\",\"expires_in\":5184000}".into()), "garbage", false),
        (Fault::Status(200, "{\"access_token\":\"IGAAnew\",\"expires_in\":-5}".into()), "garbage", false),
        (Fault::Truncated, "garbage", false),
        (Fault::Throttle { code: 4 }, "throttled", false),
        (
            Fault::GraphError {
                status: 400,
                code: 190,
                subcode: Some(460),
                message: "Error validating access token: The session has been invalidated because the user changed their password.".into(),
                kind: "OAuthException".into(),
            },
            "token_dead",
            true,
        ),
    ];
    let world = World::new(backend).await;
    let app = world.spawn(&[]).await;
    for (fault, kind, dead) in faults {
        let old = world.give_token(&app, "default", Duration::days(8)).await;
        world.fake.inject(REFRESH, fault, 1);
        let outcome = refresher::refresh_account(&app, "default", false)
            .await
            .unwrap();
        let account = app.store.account("default").await.unwrap().unwrap();
        assert_eq!(account.token, old, "{kind}: the old token must be kept");
        assert_eq!(app.board.get("default").unwrap().token, old);
        assert_eq!(account.last_result.as_deref(), Some("failed"));
        assert_eq!(account.last_error_kind.as_deref(), Some(kind));
        assert!(account.last_error.as_deref().is_some_and(|e| !e.is_empty()));
        assert!(
            !account.last_error.unwrap().contains(&old),
            "{kind}: the error names the token"
        );
        assert_eq!(account.needs_reconnect, dead);
        if dead {
            assert_eq!(outcome, Outcome::NeedsReconnect);
            assert_eq!(account.next_refresh_at, None, "a dead token is not retried");
        } else {
            let Outcome::Failed {
                retry_at: Some(retry),
                ..
            } = outcome
            else {
                panic!("{kind}: expected a retry, got {outcome:?}");
            };
            assert!(retry > world.clock.now() && retry <= world.clock.now() + Duration::hours(6));
            assert_eq!(account.next_refresh_at, Some(retry));
        }
        let table = status_table(&app.store.accounts().await.unwrap(), world.clock.now());
        assert!(
            table.contains(if dead { "needs reconnect" } else { "failed" }),
            "{table}"
        );
        assert!(!table.contains(&old));
    }
    let history = app.store.history("default").await.unwrap();
    assert_eq!(history.len(), 8);
    assert!(history.iter().all(|h| h.outcome == "failed"));
}

async fn failures_back_off_and_then_recover(backend: Backend) {
    let world = World::new(backend).await;
    let app = world.spawn(&[]).await;
    world.give_token(&app, "default", Duration::days(8)).await;
    world.fake.inject(REFRESH, Fault::Html(503), 2);
    let first = refresher::refresh_account(&app, "default", false)
        .await
        .unwrap();
    let Outcome::Failed {
        retry_at: Some(first_retry),
        ..
    } = first
    else {
        panic!("{first:?}")
    };
    assert_eq!(first_retry, world.clock.now() + Duration::minutes(5));
    // Not due again until the retry time.
    assert!(refresher::refresh_due(&app).await.is_empty());
    world.clock.advance(Duration::minutes(5));
    let second = refresher::refresh_account(&app, "default", false)
        .await
        .unwrap();
    let Outcome::Failed {
        retry_at: Some(second_retry),
        ..
    } = second
    else {
        panic!("{second:?}")
    };
    assert_eq!(second_retry, world.clock.now() + Duration::minutes(15));
    world.clock.advance(Duration::minutes(15));
    let third = refresher::refresh_account(&app, "default", false)
        .await
        .unwrap();
    assert!(matches!(third, Outcome::Refreshed { .. }), "{third:?}");
    let account = app.store.account("default").await.unwrap().unwrap();
    assert_eq!(account.failures, 0);
    assert_eq!(account.last_error, None);
}

async fn two_instances_on_one_database_refresh_an_account_once(backend: Backend) {
    let world = World::new(backend).await;
    let first = world.spawn(&[]).await;
    let second = world.spawn(&[]).await;
    world.give_token(&first, "default", Duration::days(8)).await;
    // Slow upstream, so that both instances are inside the refresh at once.
    world.fake.inject(
        REFRESH,
        Fault::Delay(std::time::Duration::from_millis(300)),
        1,
    );
    let (a, b) = tokio::join!(
        refresher::refresh_account(&first, "default", false),
        refresher::refresh_account(&second, "default", false),
    );
    let outcomes = [a.unwrap(), b.unwrap()];
    assert_eq!(world.fake.calls(REFRESH), 1, "{outcomes:?}");
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Refreshed { .. }))
            .count(),
        1,
        "{outcomes:?}"
    );
    // Both then agree on the token, once each has re-read the database.
    first.reload().await.unwrap();
    second.reload().await.unwrap();
    assert_eq!(
        first.board.get("default").unwrap().token,
        second.board.get("default").unwrap().token
    );
}

async fn the_starting_token_seeds_default_once_and_a_new_one_replaces_it(backend: Backend) {
    let world = World::new(backend).await;
    let pasted = world
        .fake
        .issue_long_lived_token(&world.user, world.clock.now() - Duration::days(20));
    let app = world.spawn(&[("STARTING_TOKEN", &pasted)]).await;
    assert_eq!(app.board.get("default").unwrap().token, pasted);
    // Its age is unknown: the first run tries at once and learns the expiry.
    let results = refresher::refresh_due(&app).await;
    assert!(
        matches!(results[0].1, Ok(Outcome::Refreshed { .. })),
        "{results:?}"
    );
    let refreshed = app.board.get("default").unwrap().token.clone();
    assert_ne!(refreshed, pasted);

    // A restart with the same STARTING_TOKEN must not put the old one back.
    let again = world.spawn(&[("STARTING_TOKEN", &pasted)]).await;
    assert_eq!(again.board.get("default").unwrap().token, refreshed);

    // A different STARTING_TOKEN is an explicit replacement.
    let replacement = world
        .fake
        .issue_long_lived_token(&world.user, world.clock.now() - Duration::days(3));
    let replaced = world.spawn(&[("STARTING_TOKEN", &replacement)]).await;
    assert_eq!(replaced.board.get("default").unwrap().token, replacement);
}

async fn a_fresh_pasted_token_is_tried_once_then_waits_a_day(backend: Backend) {
    let world = World::new(backend).await;
    let fresh = world
        .fake
        .issue_long_lived_token(&world.user, world.clock.now() - Duration::hours(1));
    let app = world.spawn(&[("STARTING_TOKEN", &fresh)]).await;
    let results = refresher::refresh_due(&app).await;
    let Ok(Outcome::Failed {
        retry_at: Some(retry),
        ..
    }) = &results[0].1
    else {
        panic!("{results:?}");
    };
    assert!(*retry >= world.clock.now() + Duration::hours(24), "{retry}");
    assert_eq!(world.fake.calls(REFRESH), 1);
    assert_eq!(
        app.board.get("default").unwrap().token,
        fresh,
        "the token is still served"
    );
    // Nothing more until a day has passed; then it refreshes.
    world.clock.advance(Duration::hours(12));
    assert!(refresher::refresh_due(&app).await.is_empty());
    world.clock.advance(Duration::hours(13));
    let results = refresher::refresh_due(&app).await;
    assert!(
        matches!(results[0].1, Ok(Outcome::Refreshed { .. })),
        "{results:?}"
    );
}

async fn an_overdue_token_request_wakes_the_refresher_without_waiting(backend: Backend) {
    let world = World::new(backend).await;
    // A token that is overdue before the agent starts.
    let old = world
        .fake
        .issue_long_lived_token(&world.user, world.clock.now() - Duration::days(10));
    let app = world
        .spawner(&[("ALLOW_EMPTY_REFERER", "true"), ("STARTING_TOKEN", &old)])
        .free()
        .start()
        .await;
    // The loop's own timer is five minutes away; only the request can wake it.
    // The loop's first run already refreshed it (it was overdue at start).
    wait_for(|| app.board.get("default").unwrap().token != old).await;
    let current = app.board.get("default").unwrap().token.clone();
    assert_eq!(world.fake.calls(REFRESH), 1);

    // A week later the next refresh is overdue; a request sets it off.
    world.clock.advance(Duration::days(8));
    let body = reqwest::get(app.url("/token"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        body, current,
        "the request is answered at once with the current token"
    );
    wait_for(|| world.fake.calls(REFRESH) == 2).await;
    wait_for(|| app.board.get("default").unwrap().token != current).await;
    app.stop().await;
}

/// How the tests hold the refresher: an agent started with an overdue token
/// calls Instagram only when a test asks for a pass of its loop.
async fn a_held_refresher_runs_only_the_passes_asked_for(backend: Backend) {
    let world = World::new(backend).await;
    let old = world
        .fake
        .issue_long_lived_token(&world.user, world.clock.now() - Duration::days(10));
    let app = world
        .spawn(&[("ALLOW_EMPTY_REFERER", "true"), ("STARTING_TOKEN", &old)])
        .await;
    // Neither the start nor a request for the overdue token sets it off.
    let res = app.get_from("/token", None).await;
    assert_eq!(res.text().await.unwrap(), old);
    assert_eq!(world.fake.calls(REFRESH), 0);

    app.refresher_pass().await;
    assert_eq!(world.fake.calls(REFRESH), 1);
    assert_ne!(app.board.get("default").unwrap().token, old);
    app.refresher_pass().await;
    assert_eq!(world.fake.calls(REFRESH), 1, "not due again for a week");
    app.stop().await;
}

/// Polls a condition set by background work, for at most ten seconds.
async fn wait_for(condition: impl Fn() -> bool) {
    for _ in 0..1000 {
        if condition() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("condition not met within 10 s");
}

on_both_backends!(
    a_due_refresh_rotates_the_token_and_a_restart_serves_the_new_one,
    nothing_happens_before_the_token_is_due,
    a_token_younger_than_a_day_is_never_refreshed_even_by_force,
    failed_refreshes_keep_the_old_token_and_show_the_error,
    failures_back_off_and_then_recover,
    two_instances_on_one_database_refresh_an_account_once,
    the_starting_token_seeds_default_once_and_a_new_one_replaces_it,
    a_fresh_pasted_token_is_tried_once_then_waits_a_day,
    an_overdue_token_request_wakes_the_refresher_without_waiting,
    a_held_refresher_runs_only_the_passes_asked_for,
);
