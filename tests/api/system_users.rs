//! A system user's token, as "Instagram API with Unified Login" hands out
//! (graph.facebook.com; the Instagram account named by its id; no Pages
//! listed): pasted as a Facebook-Login token with the account's id, it
//! serves the feed, is known at once for what it is, and is told apart by
//! its expiry: one that never expires gets no warning and says so on the
//! status page; one that lasts 60 days (which Meta documents no refresh for
//! on Unified Login) is warned about before it ends.

use std::sync::{Arc, Mutex};

use chrono::Duration;
use fake_graph::FakeUser;
use reqwest::StatusCode;
use serde_json::Value;
use token_agent::accounts::paste_token;
use token_agent::domain::AccountName;
use token_agent::store::AccountKind;

use crate::common::{Backend, TestApp, World, webhook_sink};

const PASSWORD: &str = "system-user-admin-pw";

struct Setup {
    world: World,
    app: TestApp,
    warnings: Arc<Mutex<Vec<Value>>>,
    user: FakeUser,
}

/// The agent with the Facebook app configured and a webhook for warnings,
/// and `shop`, pasted as a system user's token for a new Instagram account.
async fn pasted(backend: Backend, expires_in_60_days: bool) -> Setup {
    let world = World::new(backend).await;
    let fb = world.fake.options().app;
    let (hook, warnings) = webhook_sink(Arc::new(Mutex::new(200))).await;
    let app = world
        .spawn(&[
            ("FACEBOOK_APP_ID", fb.fb_app_id.as_str()),
            ("FACEBOOK_APP_SECRET", fb.fb_app_secret.as_str()),
            ("ADMIN_PASSWORD", PASSWORD),
            ("NOTIFY_WEBHOOK_URL", hook.as_str()),
        ])
        .await;
    let user = world.fake.add_instagram_user("unified_shop", 5);
    let token = world
        .fake
        .issue_system_user_token(&user, world.clock.now(), expires_in_60_days);
    let name = AccountName::parse("shop").unwrap();
    let pasted = paste_token(
        &app,
        &name,
        AccountKind::Facebook,
        &token,
        Some(&user.ig_user_id),
    )
    .await
    .unwrap();
    assert!(pasted.profile.is_ok(), "{:?}", pasted.profile);
    Setup {
        world,
        app,
        warnings,
        user,
    }
}

impl Setup {
    async fn status(&self) -> String {
        let page = self.app.page("/status", Some(PASSWORD)).await;
        assert_eq!(page.status(), StatusCode::OK);
        page.text().await.unwrap()
    }
}

async fn a_system_users_token_serves_the_feed_and_never_expires(backend: Backend) {
    // Arrange
    let s = pasted(backend, false).await;

    // Act
    let (status, feed) = s.app.json("/feed.json?account=shop").await;
    let account = s.app.store.account("shop").await.unwrap().unwrap();
    let page = s.status().await;
    s.world.clock.advance(Duration::days(400));
    let sent = token_agent::warnings::send_due(&s.app).await.unwrap();

    // Assert: the feed of the account it names, with its username.
    assert_eq!(status, StatusCode::OK, "{feed}");
    assert_eq!(feed["data"].as_array().unwrap().len(), 5);
    assert_eq!(account.user_id.as_deref(), Some(s.user.ig_user_id.as_str()));
    assert_eq!(account.username.as_deref(), Some("unified_shop"));
    // Known for what it is, at once.
    assert_eq!(account.token_type.as_deref(), Some("SYSTEM_USER"));
    assert!(account.never_expires);
    assert_eq!(account.expires_at, None);
    assert!(
        page.contains("Facebook Login (a system user token)"),
        "{page}"
    );
    assert!(
        page.contains("none needed: the token does not expire"),
        "{page}"
    );
    assert!(
        page.contains("never: Meta says this token does not expire"),
        "{page}"
    );
    assert!(!page.contains("Expiry not known yet"), "{page}");
    let table = token_agent::cli::status_table(std::slice::from_ref(&account), s.world.clock.now());
    assert!(table.contains("never"), "{table}");
    // Nothing to warn about, even a year on.
    assert!(sent.is_empty(), "{sent:?}");
    assert!(s.warnings.lock().unwrap().is_empty());
}

async fn an_expiring_system_users_token_is_warned_about_before_it_ends(backend: Backend) {
    // Arrange: a token made with set_token_expires_in_60_days.
    let s = pasted(backend, true).await;
    let issued = s.world.clock.now();

    // Act
    let account = s.app.store.account("shop").await.unwrap().unwrap();
    let early = token_agent::warnings::send_due(&s.app).await.unwrap();
    s.world.clock.advance(Duration::days(51));
    let late = token_agent::warnings::send_due(&s.app).await.unwrap();

    // Assert: its expiry from debug_token, and one warning ten days before.
    assert_eq!(account.token_type.as_deref(), Some("SYSTEM_USER"));
    assert!(!account.never_expires);
    assert_eq!(
        account.expires_at.map(|t| t.timestamp()),
        Some((issued + Duration::days(60)).timestamp())
    );
    assert!(early.is_empty(), "{early:?}");
    assert_eq!(late.len(), 1, "{late:?}");
    let sent = s.warnings.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let text = sent[0].to_string();
    assert!(text.contains("Business Settings"), "{text}");
    assert!(!text.contains(&account.token), "never the token: {text}");
}

async fn an_account_the_token_cannot_read_is_refused(backend: Backend) {
    // Arrange: a system user's token for one shop, pasted for another.
    let s = pasted(backend, false).await;
    let other = s.world.fake.add_instagram_user("someone_else", 2);
    let token = s
        .world
        .fake
        .issue_system_user_token(&s.user, s.world.clock.now(), false);

    // Act
    let name = AccountName::parse("other").unwrap();
    let pasted = paste_token(
        &s.app,
        &name,
        AccountKind::Facebook,
        &token,
        Some(&other.ig_user_id),
    )
    .await
    .unwrap();

    // Assert: the owner is told, in words, that this token cannot read it.
    let error = pasted.profile.unwrap_err();
    assert!(error.contains(&other.ig_user_id), "{error}");
    assert!(!error.contains(&token), "{error}");
}

on_both_backends!(
    a_system_users_token_serves_the_feed_and_never_expires,
    an_expiring_system_users_token_is_warned_about_before_it_ends,
    an_account_the_token_cannot_read_is_refused,
);
