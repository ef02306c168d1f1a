//! Tokens encrypted at rest with TOKEN_ENCRYPTION_KEY.

use crate::common::{Backend, World};
use chrono::Duration;
use sqlx::Connection;

/// The token column exactly as stored.
async fn raw_tokens(world: &World) -> Vec<String> {
    let sql = "SELECT token FROM accounts ORDER BY name";
    if world.db.backend() == Backend::Postgres {
        let mut conn = sqlx::PgConnection::connect(&world.db.url).await.unwrap();
        sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&world.db.url)
            .await
            .unwrap();
        sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
    }
}

async fn tokens_are_sealed_at_rest_and_served_in_the_clear(backend: Backend) {
    let world = World::new(backend).await;
    let key = [("TOKEN_ENCRYPTION_KEY", "correct horse battery staple")];
    let app = world.spawn(&key).await;
    let token = world.give_token(&app, "default", Duration::days(8)).await;
    let raw = raw_tokens(&world).await;
    assert_eq!(raw.len(), 1);
    assert!(
        raw[0].starts_with("enc:v1:") && !raw[0].contains(&token),
        "{raw:?}"
    );
    assert_eq!(app.board.get("default").unwrap().token, token);

    // A refreshed token is sealed too, and survives a restart.
    token_agent::refresher::refresh_account(&app, "default", true)
        .await
        .unwrap();
    let refreshed = app.board.get("default").unwrap().token.clone();
    assert_ne!(refreshed, token);
    assert!(
        raw_tokens(&world)
            .await
            .iter()
            .all(|t| t.starts_with("enc:v1:") && !t.contains(&refreshed))
    );
    app.store.close().await;
    let again = world.spawn(&key).await;
    assert_eq!(again.board.get("default").unwrap().token, refreshed);
}

async fn plain_tokens_are_encrypted_when_a_key_is_first_set(backend: Backend) {
    let world = World::new(backend).await;
    let app = world.spawn(&[]).await;
    let token = world.give_token(&app, "default", Duration::days(8)).await;
    assert_eq!(raw_tokens(&world).await, vec![token.clone()]);
    app.store.close().await;

    let app = world.spawn(&[("TOKEN_ENCRYPTION_KEY", "k1")]).await;
    assert!(raw_tokens(&world).await[0].starts_with("enc:v1:"));
    assert_eq!(app.board.get("default").unwrap().token, token);
}

async fn a_wrong_or_missing_key_is_a_clear_start_up_error(backend: Backend) {
    let world = World::new(backend).await;
    let app = world.spawn(&[("TOKEN_ENCRYPTION_KEY", "k1")]).await;
    let token = world.give_token(&app, "default", Duration::days(8)).await;
    app.store.close().await;

    // Started as `serve` starts, on a free port.
    let start = |extra: &[(&str, &str)]| {
        let mut config = world.config(extra);
        config.port = 0;
        token_agent::startup::Application::build(config, world.clock.clone())
    };
    let wrong = start(&[("TOKEN_ENCRYPTION_KEY", "k2")]).await;
    let message = format!("{:#}", wrong.err().expect("a wrong key must not start"));
    assert!(
        message.contains("TOKEN_ENCRYPTION_KEY") && message.contains("does not match"),
        "{message}"
    );

    let missing = start(&[]).await;
    let message = format!("{:#}", missing.err().expect("a missing key must not start"));
    assert!(message.contains("TOKEN_ENCRYPTION_KEY"), "{message}");
    assert!(!message.contains(&token));

    // The right key still works: nothing was lost.
    let app = world.spawn(&[("TOKEN_ENCRYPTION_KEY", "k1")]).await;
    assert_eq!(app.board.get("default").unwrap().token, token);
}

on_both_backends!(
    tokens_are_sealed_at_rest_and_served_in_the_clear,
    plain_tokens_are_encrypted_when_a_key_is_first_set,
    a_wrong_or_missing_key_is_a_clear_start_up_error,
);
