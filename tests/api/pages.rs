//! The HTML pages, called directly: headers, what each page shows, and
//! what it must never show (tokens, secrets, unescaped stored text).

use std::sync::{Arc, Mutex};

use crate::common::{Backend, TestApp, World};
use chrono::Duration;
use token_agent::app::App;
use token_agent::pages::{self, DeletionInfo};
use token_agent::store::Attempt;
use warp::Filter;
use warp::http::{HeaderMap, StatusCode, header};
use warp::reply::Response;

const ADMIN_PASSWORD: &str = "admin-pw-Zq7vX2";
const INSTAGRAM_SECRET: &str = "ig-secret-9f8e7d6c";
const FACEBOOK_SECRET: &str = "fb-secret-1a2b3c4d";
const SMTP_PASSWORD: &str = "smtp-pw-55aa66bb";
const WEBHOOK_SECRET: &str = "hook-secret-0c0ffee";
const ENCRYPTION_KEY: &str = "enc-key-7e57ab1e-long-random-value";
const NOTIFY_WEBHOOK_PATH: &str = "T000/B000/slack-secret-path";
const HOSTILE: &str = "<img src=x onerror=alert(1)>";

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    html: String,
}

/// Runs a response through warp's test client to read its body.
async fn read(response: Response) -> Page {
    let slot = Arc::new(Mutex::new(Some(response)));
    let filter = warp::any().map(move || slot.lock().unwrap().take().expect("read once"));
    let reply = warp::test::request().reply(&filter).await;
    Page {
        status: reply.status(),
        headers: reply.headers().clone(),
        html: String::from_utf8(reply.body().to_vec()).expect("UTF-8 page"),
    }
}

/// The page's text with askama's entity escapes undone, to look for
/// snippets as the reader sees them.
fn unescape(html: &str) -> String {
    html.replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#38;", "&")
}

fn every_secret_config() -> Vec<(&'static str, String)> {
    vec![
        ("ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
        ("INSTAGRAM_APP_ID", "1111".into()),
        ("INSTAGRAM_APP_SECRET", INSTAGRAM_SECRET.into()),
        ("FACEBOOK_APP_ID", "2222".into()),
        ("FACEBOOK_APP_SECRET", FACEBOOK_SECRET.into()),
        ("NOTIFY_EMAIL", "owner@example.com".into()),
        (
            "SMTP_URL",
            format!("smtps://mailer:{SMTP_PASSWORD}@smtp.example.com:465"),
        ),
        (
            "NOTIFY_WEBHOOK_URL",
            format!("https://hooks.example.com/services/{NOTIFY_WEBHOOK_PATH}"),
        ),
        ("WEBHOOK_SECRET", WEBHOOK_SECRET.into()),
        ("TOKEN_ENCRYPTION_KEY", ENCRYPTION_KEY.into()),
    ]
}

async fn app_with(world: &World, extra: &[(&str, String)]) -> TestApp {
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    world.spawn(&extra).await
}

/// Records a failed refresh for `name` the way the refresher does.
async fn fail_refresh(app: &App, name: &str, message: &str, needs_reconnect: bool) {
    let now = app.clock.now();
    assert!(
        app.store
            .try_lease(name, "test", now, now + Duration::minutes(1))
            .await
            .unwrap()
    );
    let written = app
        .store
        .finish_attempt(
            name,
            "test",
            Attempt::Failed {
                kind: "invalid_token",
                message,
                needs_reconnect,
                next_refresh_at: None,
            },
            now,
        )
        .await
        .unwrap();
    assert!(written);
}

async fn every_page_is_html_with_the_security_headers(backend: Backend) {
    // Arrange
    let world = World::new(backend).await;
    let app = world.spawn(&[("ADMIN_PASSWORD", ADMIN_PASSWORD)]).await;
    world.give_token(&app, "default", Duration::days(2)).await;

    // Act
    let pages = vec![
        ("home", read(pages::home(&app, None).await).await),
        ("status", read(pages::status(&app).await).await),
        (
            "admin",
            read(pages::admin(&app, "csrf-value", None, None).await).await,
        ),
        (
            "message",
            read(pages::message(
                StatusCode::OK,
                "Done",
                "It worked.",
                pages::Onward::Nowhere,
            ))
            .await,
        ),
        (
            "deletion",
            read(pages::deletion_status(
                "code1",
                DeletionInfo {
                    requested_at: world.clock.now(),
                    accounts_deleted: 1,
                },
            ))
            .await,
        ),
    ];

    // Assert
    for (name, page) in pages {
        assert_eq!(page.status, StatusCode::OK, "{name}");
        let h = &page.headers;
        assert_eq!(
            h[header::CONTENT_TYPE],
            "text/html; charset=utf-8",
            "{name}"
        );
        assert_eq!(h[header::CACHE_CONTROL], "no-store", "{name}");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{name}");
        assert_eq!(h[header::REFERRER_POLICY], "same-origin", "{name}");
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        for directive in [
            "default-src 'self'",
            "img-src 'self' https: data:",
            "style-src 'self'",
            "script-src 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{name}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{name}: {csp}");
        // Nothing inline for the policy to block.
        assert!(!page.html.contains("style="), "{name}");
        assert!(!page.html.contains("<script>"), "{name}");
        assert!(page.html.starts_with("<!doctype html>"), "{name}");
    }
}

async fn help_pages_answer_204_when_hidden_but_admin_still_works(backend: Backend) {
    let world = World::new(backend).await;
    let app = world
        .spawn(&[
            ("HIDE_HELP_PAGES", "true"),
            ("ADMIN_PASSWORD", ADMIN_PASSWORD),
        ])
        .await;

    let home = read(pages::home(&app, None).await).await;
    let status = read(pages::status(&app).await).await;
    let admin = read(pages::admin(&app, "c", None, None).await).await;

    assert_eq!(home.status, StatusCode::NO_CONTENT);
    assert!(home.html.is_empty());
    assert_eq!(status.status, StatusCode::NO_CONTENT);
    assert!(status.html.is_empty());
    assert_eq!(admin.status, StatusCode::OK);
    // The admin page does not link to the hidden pages.
    assert!(!admin.html.contains("href=\"/status\""));
}

async fn no_page_shows_a_token_or_a_secret(backend: Backend) {
    // Arrange: every secret set, two accounts with real tokens from the fake.
    let world = World::new(backend).await;
    let app = app_with(&world, &every_secret_config()).await;
    let default = world.give_token(&app, "default", Duration::days(2)).await;
    let shop = world.give_token(&app, "shop", Duration::days(3)).await;

    // Act
    let hook = "https://agent.example.com/hooks/refresh/0123abcd";
    let pages = [
        ("home", read(pages::home(&app, None).await).await),
        ("status", read(pages::status(&app).await).await),
        (
            "admin",
            read(pages::admin(&app, "csrf", Some(hook), None).await).await,
        ),
    ];

    // Assert: not the tokens, not even a part of them, and no secret.
    for (name, page) in &pages {
        assert_eq!(page.status, StatusCode::OK);
        for token in [&default, &shop] {
            assert!(!page.html.contains(token.as_str()), "{name} shows a token");
            assert!(
                !page.html.contains(&token[..12]),
                "{name} shows part of a token"
            );
        }
        for secret in [
            ADMIN_PASSWORD,
            INSTAGRAM_SECRET,
            FACEBOOK_SECRET,
            SMTP_PASSWORD,
            WEBHOOK_SECRET,
            ENCRYPTION_KEY,
            NOTIFY_WEBHOOK_PATH,
            "owner@example.com",
        ] {
            assert!(!page.html.contains(secret), "{name} shows {secret}");
        }
    }
    // The admin page shows the hook URL it was given, for the owner only.
    assert!(pages[2].1.html.contains(hook));
}

async fn stored_upstream_errors_are_escaped(backend: Backend) {
    // Arrange: Instagram's message is stored as text and may contain markup.
    let world = World::new(backend).await;
    let app = world.spawn(&[("ADMIN_PASSWORD", ADMIN_PASSWORD)]).await;
    world.give_token(&app, "default", Duration::days(2)).await;
    fail_refresh(&app, "default", HOSTILE, false).await;
    app.store
        .record_warning("default", false, world.clock.now(), Some(HOSTILE))
        .await
        .unwrap();

    // Act
    let status = read(pages::status(&app).await).await;
    let admin = read(pages::admin(&app, "c", None, None).await).await;

    // Assert
    assert!(!status.html.contains(HOSTILE), "{}", status.html);
    assert!(!status.html.contains("<img src=x"));
    assert!(!admin.html.contains(HOSTILE));
    assert!(
        status.html.contains("&#60;img src=x onerror=alert(1)&#62;"),
        "the error text is shown, escaped"
    );
    assert!(status.html.contains("Last refresh failed"));
    assert!(status.html.contains("Could not send a warning"));
}

async fn the_home_page_gives_snippets_with_the_agents_own_url(backend: Backend) {
    let world = World::new(backend).await;
    let app = world.spawn(&[("JS_CONSTANT_NAME", "ShopToken")]).await;
    world.give_token(&app, "default", Duration::days(2)).await;
    world.give_token(&app, "shop", Duration::days(2)).await;

    let page = read(pages::home(&app, None).await).await;
    let text = unescape(&page.html);

    assert!(
        text.contains(r#"<script src="https://agent.example.com/token.js"></script>"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"<script src="https://agent.example.com/accounts/shop/token.js"></script>"#
        )
    );
    assert!(text.contains("accessToken: ShopToken"));
    assert!(text.contains("target: 'instafeed'"));
    assert!(text.contains("fetch('https://agent.example.com/feed.json?limit=12')"));
    assert!(text.contains(r#"<script src="https://agent.example.com/embed.js" async></script>"#));
    assert!(text.contains(r#"<div data-token-agent data-limit="12"></div>"#));
    assert!(text.contains(r#"<iframe src="https://agent.example.com/feed.html?limit=12""#));
    for id in ["snippet-embed", "snippet-frame"] {
        assert!(page.html.contains(&format!(r#"data-copy="{id}""#)), "{id}");
    }
    assert!(text.contains("https://agent.example.com/feed.json?tag=bakery"));
    assert!(text.contains("https://agent.example.com/feed.json?exclude=VIDEO"));
    // The snippets are shown as code, not run.
    assert!(
        !page
            .html
            .contains("<script src=\"https://agent.example.com")
    );
    // The allowed sites are listed, normalised.
    for entry in [
        "https://example.com",
        "https://www.example.com",
        "http://localhost:8080",
        "https://*.blog.net",
    ] {
        assert!(text.contains(&format!("<code>{entry}</code>")), "{entry}");
    }
}

async fn the_home_page_says_what_is_missing(backend: Backend) {
    let world = World::new(backend).await;
    let app = world.spawn(&[("ALLOWED_DOMAINS", "")]).await;

    let page = read(pages::home(&app, None).await).await;
    let text = unescape(&page.html);

    assert!(text.contains("No site gets a token or a feed until you set it."));
    assert!(text.contains(r#"ALLOWED_DOMAINS="example.com www.example.com""#));
    assert!(text.contains("STARTING_TOKEN"));
    assert!(text.contains("token-agent accounts add default --token"));
    assert!(text.contains("The admin page and the Connect buttons are off"));
    assert!(text.contains("Tokens are stored unencrypted"));
    assert!(text.contains("the only warning is a line in the log"));
    assert!(text.contains("SQLite") || text.contains("PostgreSQL"));
    assert!(text.contains("in-process"));
    // No admin link while the admin page is disabled.
    assert!(!page.html.contains("href=\"/admin\""));
}

async fn the_status_page_lists_every_account_with_its_expiry(backend: Backend) {
    let world = World::new(backend).await;
    let app = world.spawn(&[]).await;
    world.give_token(&app, "default", Duration::days(2)).await;
    world.give_token(&app, "shop", Duration::days(3)).await;

    let page = read(pages::status(&app).await).await;

    assert!(page.html.contains("<h2>default</h2>"));
    assert!(page.html.contains("<h2>shop</h2>"));
    // Issued 2 and 3 days before 1 June 2026 09:00, for 60 days.
    assert!(
        page.html.contains("29 July 2026, 09:00 UTC"),
        "{}",
        page.html
    );
    assert!(page.html.contains("expires in 58 days"));
    assert!(page.html.contains("28 July 2026, 09:00 UTC"));
    assert!(page.html.contains("expires in 57 days"));
    assert!(page.html.contains("Instagram Login"));
    assert!(page.html.contains("2 accounts."));
    assert!(page.html.contains("Tokens are stored unencrypted"));
}

async fn the_status_page_makes_a_needed_reconnect_prominent(backend: Backend) {
    let world = World::new(backend).await;
    let app = world
        .spawn(&[("TOKEN_ENCRYPTION_KEY", ENCRYPTION_KEY)])
        .await;
    world.give_token(&app, "default", Duration::days(2)).await;
    fail_refresh(
        &app,
        "default",
        "Error validating access token: The session has been invalidated.",
        true,
    )
    .await;

    let page = read(pages::status(&app).await).await;

    assert!(page.html.contains("badge bad\">Needs reconnect"));
    assert!(page.html.contains("Instagram no longer accepts this token"));
    assert!(page.html.contains("The session has been invalidated."));
    assert!(!page.html.contains("Tokens are stored unencrypted"));
}

async fn the_status_page_shows_a_recent_connect_result_only(backend: Backend) {
    let world = World::new(backend).await;
    let app = world.spawn(&[]).await;
    let at = (world.clock.now() - Duration::minutes(2)).timestamp_millis();
    let json = format!(
        r#"{{"at": {at}, "account": "shop", "outcome": "failed", "message": "The code has expired"}}"#
    );
    app.store.set_setting("last_connect", &json).await.unwrap();

    let recent = read(pages::status(&app).await).await;
    world.clock.advance(Duration::minutes(20));
    let later = read(pages::status(&app).await).await;

    assert!(recent.html.contains("Connecting “shop” failed."));
    assert!(recent.html.contains("The code has expired"));
    assert!(!later.html.contains("Connecting “shop”"));
}

async fn the_status_page_renders_from_memory_when_the_database_is_down(backend: Backend) {
    let world = World::new(backend).await;
    let app = world.spawn(&[]).await;
    world.give_token(&app, "default", Duration::days(2)).await;
    world.give_token(&app, "shop", Duration::days(3)).await;
    app.store.close().await;

    let page = read(pages::status(&app).await).await;
    let home = read(pages::home(&app, None).await).await;

    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("The database is not answering."));
    assert!(page.html.contains("<h2>default</h2>"));
    assert!(page.html.contains("<h2>shop</h2>"));
    assert!(page.html.contains("expires in 58 days"));
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.html.contains("<code>shop</code>"));
}

async fn the_admin_page_has_an_action_form_per_account_with_csrf(backend: Backend) {
    let world = World::new(backend).await;
    let app = world.spawn(&[("ADMIN_PASSWORD", ADMIN_PASSWORD)]).await;
    world.give_token(&app, "default", Duration::days(2)).await;
    world.give_token(&app, "shop", Duration::days(2)).await;

    let page = read(pages::admin(&app, "csrf-4f2a", None, None).await).await;
    let html = &page.html;

    for name in ["default", "shop"] {
        assert!(html.contains(&format!(
            "<form method=\"post\" action=\"/admin/accounts/{name}/refresh\">"
        )));
        assert!(html.contains(&format!("action=\"/admin/accounts/{name}/remove\"")));
    }
    assert!(html.contains("name=\"confirm\" value=\"yes\" required"));
    assert!(html.contains("<form method=\"post\" action=\"/admin/accounts\""));
    assert!(html.contains("name=\"token\" type=\"password\" required autocomplete=\"off\""));
    assert!(html.contains("<option value=\"instagram\" selected>"));
    assert!(html.contains("<option value=\"facebook\">"));
    // Every POST form carries the CSRF value.
    let posts = html.matches("method=\"post\"").count();
    // Refresh and remove per account, paste a token, allow a hashtag.
    assert_eq!(posts, 6);
    assert_eq!(
        html.matches("<input type=\"hidden\" name=\"csrf\" value=\"csrf-4f2a\">")
            .count(),
        posts
    );
    // Connect is off without app credentials, and says what to set.
    assert!(!html.contains("action=\"/connect/"));
    assert!(html.contains("INSTAGRAM_APP_ID"));
    assert!(html.contains("FACEBOOK_APP_SECRET"));
    for url in [
        "https://agent.example.com/connect/instagram/callback",
        "https://agent.example.com/connect/facebook/callback",
        "https://agent.example.com/callbacks/deauthorize",
        "https://agent.example.com/callbacks/data-deletion",
    ] {
        assert!(html.contains(&format!("<code>{url}</code>")), "{url}");
    }
    assert!(html.contains("Set <code>WEBHOOK_SECRET</code>"));
}

async fn the_admin_page_offers_connect_when_an_app_is_configured(backend: Backend) {
    let world = World::new(backend).await;
    let app = world
        .spawn(&[
            ("ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("INSTAGRAM_APP_ID", "1111"),
            ("INSTAGRAM_APP_SECRET", INSTAGRAM_SECRET),
        ])
        .await;
    world.give_token(&app, "shop", Duration::days(2)).await;
    let hook = "https://agent.example.com/hooks/refresh/abc123";

    let page = read(pages::admin(&app, "c", Some(hook), None).await).await;

    assert!(
        page.html
            .contains("<form method=\"post\" action=\"/connect/instagram\"")
    );
    assert!(!page.html.contains("action=\"/connect/facebook\""));
    assert!(
        page.html
            .contains("href=\"/connect/instagram?account=shop\"")
    );
    assert!(page.html.contains(&format!("curl -X POST {hook}")));
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("form-action 'self' https://www.instagram.com"),
        "{csp}"
    );
}

async fn the_deletion_status_page_reports_a_known_request_only(backend: Backend) {
    let world = World::new(backend).await;

    let known = read(pages::deletion_status(
        "f00d",
        DeletionInfo {
            requested_at: world.clock.now(),
            accounts_deleted: 2,
        },
    ))
    .await;
    let app = world.spawn(&[]).await;
    let unknown = app.get("/callbacks/data-deletion/bad").await;

    assert_eq!(known.status, StatusCode::OK);
    assert!(known.html.contains("<code>f00d</code>"));
    assert!(known.html.contains("1 June 2026, 09:00 UTC"));
    assert!(
        known
            .html
            .contains("2 accounts and their cached data were deleted")
    );
    assert_eq!(unknown.status().as_u16(), 404);
    assert_eq!(
        unknown.headers()[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    assert!(
        unknown
            .text()
            .await
            .unwrap()
            .contains("Unknown deletion request")
    );
}

on_both_backends!(
    every_page_is_html_with_the_security_headers,
    help_pages_answer_204_when_hidden_but_admin_still_works,
    no_page_shows_a_token_or_a_secret,
    stored_upstream_errors_are_escaped,
    the_home_page_gives_snippets_with_the_agents_own_url,
    the_home_page_says_what_is_missing,
    the_status_page_lists_every_account_with_its_expiry,
    the_status_page_makes_a_needed_reconnect_prominent,
    the_status_page_shows_a_recent_connect_result_only,
    the_status_page_renders_from_memory_when_the_database_is_down,
    the_admin_page_has_an_action_form_per_account_with_csrf,
    the_admin_page_offers_connect_when_an_app_is_configured,
    the_deletion_status_page_reports_a_known_request_only,
);

#[test]
fn static_files_are_served_with_their_type_and_nothing_else_is() {
    let css = pages::asset("style.css").expect("the stylesheet");
    assert_eq!(css.status(), StatusCode::OK);
    assert_eq!(
        css.headers()[header::CONTENT_TYPE],
        "text/css; charset=utf-8"
    );
    assert_eq!(
        css.headers()[header::CACHE_CONTROL],
        "public, max-age=86400"
    );
    assert!(css.headers().contains_key(header::ETAG));
    assert!(pages::asset("favicon.svg").is_some());
    for path in [
        "missing.css",
        "../Cargo.toml",
        "../src/lib.rs",
        "/etc/passwd",
    ] {
        assert!(pages::asset(path).is_none(), "{path}");
    }
}
