//! The `token-agent` binary as a user runs it: sub-commands, start-up
//! errors, logs, graceful shutdown, and a refresh killed mid-call.

use std::process::{Child, Command, Output};

use crate::common::{Backend, World, agent_command as agent, run, text};
use chrono::Duration;
use fake_graph::{Fault, TokenStatus};
use token_agent::refresher::{self, Outcome};

const REFRESH: &str = "/refresh_access_token";

async fn finish(child: Child) -> Output {
    tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap()
}

async fn wait_for(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..1500 {
        if condition() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("waited 30 s for {what}");
}

async fn a_refresh_killed_mid_call_loses_nothing(backend: Backend) {
    let world = World::at_wall_clock(backend).await;
    let app = world.spawn(&[]).await;
    let old = world.give_token(&app, "default", Duration::days(8)).await;
    world
        .fake
        .inject(REFRESH, Fault::Delay(std::time::Duration::from_secs(30)), 1);

    let mut child = agent(&world, &["refresh", "--force"], &[]).spawn().unwrap();
    wait_for("the refresh call to reach upstream", || {
        world.fake.calls(REFRESH) == 1
    })
    .await;
    child.kill().unwrap(); // SIGKILL, mid-call
    let output = finish(child).await;
    assert!(!output.status.success());

    let account = app.store.account("default").await.unwrap().unwrap();
    assert_eq!(account.token, old, "the old token is still stored");
    assert!(matches!(
        world.fake.token_status(&old),
        TokenStatus::Valid { .. }
    ));
    app.reload().await.unwrap();
    assert_eq!(app.board.get("default").unwrap().token, old);

    // Once the dead process's lease lapses, the next refresh goes through.
    world.clock.advance(Duration::minutes(3));
    let outcome = refresher::refresh_account(&app, "default", true)
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Refreshed { .. }), "{outcome:?}");
    let new = app.board.get("default").unwrap().token.clone();
    assert!(matches!(
        world.fake.token_status(&new),
        TokenStatus::Valid { .. }
    ));
}

async fn the_log_never_contains_a_token_or_a_secret(backend: Backend) {
    let world = World::at_wall_clock(backend).await;
    let pasted = world
        .fake
        .issue_long_lived_token(&world.user, world.clock.now() - Duration::days(20));
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let secrets = [
        ("ADMIN_PASSWORD", "admin-pass-7f3a"),
        ("WEBHOOK_SECRET", "hook-secret-91bc"),
        ("INSTAGRAM_APP_ID", "1234567890"),
        ("INSTAGRAM_APP_SECRET", "ig-app-secret-55e1"),
        ("TOKEN_ENCRYPTION_KEY", "enc-key-0c0ffee"),
    ];
    let port_text = port.to_string();
    let mut extra: Vec<(&str, &str)> = vec![
        ("STARTING_TOKEN", &pasted),
        ("PORT", &port_text),
        ("RUST_LOG", "debug"),
    ];
    extra.extend(secrets);
    // An upstream failure that echoes a token must not carry it into the log.
    world.fake.inject(
        "/me",
        Fault::Status(
            400,
            format!("{{\"error\":{{\"message\":\"Cannot parse access token {pasted}\",\"type\":\"OAuthException\",\"code\":100}}}}"),
        ),
        1,
    );
    let child = agent(&world, &["serve"], &extra).spawn().unwrap();

    wait_for("the boot-time refresh", || world.fake.calls(REFRESH) == 1).await;
    let http = token_agent::tls::http_client().build().unwrap();
    let mut served = String::new();
    for _ in 0..500 {
        if let Ok(res) = http
            .get(format!("http://127.0.0.1:{port}/token.json"))
            .header("Origin", "https://example.com")
            .send()
            .await
        {
            let body: serde_json::Value = res.json().await.unwrap();
            served = body["token"].as_str().unwrap_or_default().to_string();
            if served != pasted {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        !served.is_empty() && served != pasted,
        "the refreshed token is served"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = finish(child).await;
    assert!(
        output.status.success(),
        "SIGTERM shuts down cleanly: {:?}",
        output.status
    );
    let log = text(&output);
    assert!(
        log.contains("token refreshed"),
        "the log says what happened:\n{log}"
    );
    // The profile is asked for at start, and the injected failure says so.
    assert!(
        log.contains("could not learn whose STARTING_TOKEN is"),
        "{log}"
    );
    for secret in [pasted.as_str(), served.as_str()]
        .into_iter()
        .chain(secrets.iter().map(|(_, v)| *v).filter(|v| v.len() > 12))
    {
        assert!(!log.contains(secret), "the log contains a secret:\n{log}");
    }
}

async fn accounts_can_be_added_listed_and_removed_from_the_command_line(backend: Backend) {
    let world = World::at_wall_clock(backend).await;
    let token = world
        .fake
        .issue_long_lived_token(&world.user, world.clock.now() - Duration::days(5));
    let out = run(agent(
        &world,
        &["accounts", "add", "shop", "--token", &token],
        &[],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("shop: refreshed"), "{}", text(&out));

    let out = run(agent(&world, &["status"], &[])).await;
    assert!(out.status.success());
    let table = text(&out);
    assert!(
        table.contains("ACCOUNT") && table.contains("shop") && table.contains("sunny_bakery"),
        "{table}"
    );
    assert!(table.contains("in 59d"), "{table}");
    assert!(
        !table.contains(&token) && !table.contains("IGAA"),
        "status printed a token:\n{table}"
    );

    let out = run(agent(&world, &["refresh", "--account", "shop"], &[])).await;
    assert!(out.status.success());
    assert!(text(&out).contains("not due"), "{}", text(&out));

    let out = run(agent(&world, &["accounts", "remove", "shop"], &[])).await;
    assert!(out.status.success());
    let out = run(agent(&world, &["accounts", "remove", "shop"], &[])).await;
    assert!(!out.status.success(), "removing a missing account fails");
}

async fn a_failed_refresh_exits_non_zero_with_the_reason(backend: Backend) {
    let world = World::at_wall_clock(backend).await;
    let app = world.spawn(&[]).await;
    let token = world.give_token(&app, "default", Duration::days(8)).await;
    world.fake.invalidate_token(&token, Some(460), "Error validating access token: The session has been invalidated because the user changed their password.");
    let out = run(agent(&world, &["refresh", "--force"], &[])).await;
    assert!(!out.status.success());
    let log = text(&out);
    assert!(
        log.contains("default:") && log.contains("no longer valid"),
        "{log}"
    );
    let out = run(agent(&world, &["status"], &[])).await;
    let table = text(&out);
    assert!(
        table.contains("needs reconnect") && table.contains("changed their password"),
        "{table}"
    );
}

async fn migrate_applies_the_schema_and_can_run_twice(backend: Backend) {
    let world = World::at_wall_clock(backend).await;
    for _ in 0..2 {
        let out = run(agent(&world, &["migrate"], &[])).await;
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("migrations applied"));
    }
}

/// Heroku Postgres takes TLS connections only: the agent's TLS stack
/// (rustls with the ring provider) negotiates one with a real server.
#[tokio::test]
async fn postgres_connections_can_use_tls() {
    use sqlx::Connection;
    let world = World::at_wall_clock(Backend::Postgres).await;
    let url = format!("{}?sslmode=require", world.db.url);
    let out = run(agent(&world, &["migrate"], &[("DATABASE_URL", &url)])).await;
    assert!(out.status.success(), "{}", text(&out));

    let mut connection = sqlx::PgConnection::connect(&url).await.unwrap();
    let encrypted: bool =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&mut connection)
            .await
            .unwrap();
    assert!(encrypted, "the server must run with ssl = on for this test");
}

on_both_backends!(
    a_refresh_killed_mid_call_loses_nothing,
    the_log_never_contains_a_token_or_a_secret,
    accounts_can_be_added_listed_and_removed_from_the_command_line,
    a_failed_refresh_exits_non_zero_with_the_reason,
    migrate_applies_the_schema_and_can_run_twice,
);

#[tokio::test]
async fn hook_url_prints_the_signed_refresh_url() {
    let world = World::new(Backend::Sqlite).await;
    let out = run(agent(
        &world,
        &["hook-url"],
        &[("WEBHOOK_SECRET", "secret")],
    ))
    .await;
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "https://agent.example.com/hooks/refresh/7d7a82864f9f70481b57acb5165aca6d9dec3a8e4d33669154d43b7204fca6b2"
    );
    let out = run(agent(&world, &["hook-url"], &[])).await;
    assert!(!out.status.success());
    assert!(text(&out).contains("WEBHOOK_SECRET"));
}

#[tokio::test]
async fn a_bad_environment_value_stops_start_up_and_names_it() {
    let world = World::new(Backend::Sqlite).await;
    let out = run(agent(
        &world,
        &["serve"],
        &[("REFRESH_FREQUENCY", "hourly")],
    ))
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains(r#"REFRESH_FREQUENCY must be daily, weekly or monthly, got "hourly""#),
        "{}",
        text(&out)
    );
    let out = run(agent(&world, &["serve"], &[("ALLOWED_DOMAINS", "*")])).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("ALLOWED_DOMAINS"), "{}", text(&out));
}
