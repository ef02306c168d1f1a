//! A database that breaks while the agent serves: another process renames
//! every table away. Token URLs keep answering from memory; every other
//! answer says the agent could not complete the request and names a request
//! id, and no response body carries the driver's words.

use base64::Engine;
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::Connection;

use crate::common::{Backend, World, client};

const PASSWORD: &str = "db-fault-admin-pw";
const APP_SECRET: &str = "db-fault-app-secret";
const HOOK_SECRET: &str = "db-fault-hook-secret";
const TABLES: &[&str] = &[
    "accounts",
    "deletions",
    "hashtag_queries",
    "hashtags",
    "oauth_states",
    "refresh_history",
    "settings",
];

/// Words of SQLite's, PostgreSQL's or sqlx's own error texts, and the
/// renamed tables: none may reach a client.
const DRIVER_WORDS: &[&str] = &[
    "no such table",
    "does not exist",
    "relation ",
    "error returned from database",
    "sqlx",
    "42P01",
    "broken_",
    "pool timed out",
];

/// What another process does to the database under the agent's feet.
async fn rename_every_table(db_url: &str, backend: Backend) {
    for table in TABLES {
        let sql = format!("ALTER TABLE {table} RENAME TO broken_{table}");
        match backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(db_url).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(db_url).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
        }
    }
}

fn basic() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("owner:{PASSWORD}"))
    )
}

fn assert_no_driver_text(what: &str, body: &str) {
    let lower = body.to_lowercase();
    for word in DRIVER_WORDS {
        assert!(
            !lower.contains(&word.to_lowercase()),
            "{what} shows {word:?}: {body}"
        );
    }
}

async fn a_broken_database_shows_no_driver_text_in_any_response(backend: Backend) {
    // Arrange: a serving agent with an account, admin, callbacks and the hook on.
    let world = World::new(backend).await;
    let app = world
        .spawn(&[
            ("ADMIN_PASSWORD", PASSWORD),
            ("INSTAGRAM_APP_ID", "1234567890"),
            ("INSTAGRAM_APP_SECRET", APP_SECRET),
            ("WEBHOOK_SECRET", HOOK_SECRET),
        ])
        .await;
    world.give_token(&app, "default", Duration::days(3)).await;
    let http = client();
    let csrf = token_agent::http::admin::csrf_token(&app);
    let signed = token_agent::signed_request::sign(
        &json!({"algorithm": "HMAC-SHA256", "issued_at": world.clock.now().timestamp(), "user_id": "42"}),
        APP_SECRET.as_bytes(),
    );
    let secret = app.config.webhook_secret.as_ref().unwrap().expose();
    let hook_path = format!("/{}", token_agent::hook::hook_path(secret));

    // Act: the database breaks.
    rename_every_table(&world.db.url, backend).await;

    // Assert: token URLs still answer from memory.
    let token = http
        .get(app.url("/token.json"))
        .header("Origin", "https://example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::OK);

    let get = |path: &str| {
        http.get(app.url(path))
            .header("Origin", "https://example.com")
            .header("Authorization", basic())
    };
    let post = |path: &str, form: Vec<(&str, &str)>| {
        http.post(app.url(path))
            .header("Authorization", basic())
            .form(&form)
    };
    let requests = [
        // SELECT 1 needs no table: the database still answers.
        ("GET /healthz", get("/healthz"), false),
        (
            "GET /feed.json (a cache miss)",
            get("/feed.json?limit=7"),
            true,
        ),
        ("GET /status", get("/status"), false),
        ("GET /admin", get("/admin"), false),
        (
            "POST /admin/accounts",
            post(
                "/admin/accounts",
                vec![("csrf", &csrf), ("name", "shop"), ("token", "IGAApasted")],
            ),
            true,
        ),
        (
            "POST /admin/accounts/default/refresh",
            post("/admin/accounts/default/refresh", vec![("csrf", &csrf)]),
            true,
        ),
        (
            "POST /admin/accounts/default/remove",
            post(
                "/admin/accounts/default/remove",
                vec![("csrf", &csrf), ("confirm", "yes")],
            ),
            true,
        ),
        (
            "POST /connect/instagram",
            post(
                "/connect/instagram",
                vec![("csrf", &csrf), ("account", "shop")],
            ),
            true,
        ),
        (
            "GET /connect/instagram/callback",
            get("/connect/instagram/callback?code=AQx&state=0123abcd"),
            false,
        ),
        (
            "POST /callbacks/data-deletion",
            post(
                "/callbacks/data-deletion",
                vec![("signed_request", signed.as_str())],
            ),
            true,
        ),
        (
            "POST /callbacks/deauthorize",
            post(
                "/callbacks/deauthorize",
                vec![("signed_request", signed.as_str())],
            ),
            true,
        ),
        (
            "GET /callbacks/data-deletion/{code}",
            get("/callbacks/data-deletion/abc123"),
            true,
        ),
        ("POST /hooks/refresh/…", post(&hook_path, vec![]), true),
        ("GET /metrics", get("/metrics"), false),
    ];
    for (what, request, names_an_id) in requests {
        let res = request.send().await.unwrap();
        let status = res.status();
        let body = res.text().await.unwrap();
        assert_no_driver_text(what, &body);
        if names_an_id {
            assert!(
                body.contains("request id"),
                "{what} ({status}) names no request id: {body}"
            );
        }
    }
    // The connect callback lands on /status, which must not show the cause either.
    let status = get("/status").send().await.unwrap().text().await.unwrap();
    assert_no_driver_text("GET /status after the callback", &status);

    if backend == Backend::Postgres {
        // Now PostgreSQL refuses the agent altogether.
        // The test database is dropped WITH (FORCE) afterwards all the same.
        crate::common::take_database_down(&crate::common::pg_name(&world)).await;
        let res = get("/healthz").send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = res.text().await.unwrap();
        assert_no_driver_text("GET /healthz with PostgreSQL gone", &body);
        assert!(body.contains("request id"), "{body}");
    }
    app.stop().await;
}

on_both_backends!(a_broken_database_shows_no_driver_text_in_any_response);
