//! Meta as it is, not as a kind fake would be: each test turns on the
//! fake's mode for one documented (or observed) behaviour of Meta's API and
//! checks that the agent copes: appsecret_proof, the "not allowed to use the
//! app" answer, Instagram's own usage header keys, pasted tokens, young
//! tokens, redirect_uri mismatches, the Graph API version, media without
//! media_url or permalink, business-owned and several Pages, Facebook Login
//! for Business.

use crate::common::{Backend, TestApp, World};
use crate::connect::{self as flows, APP_URL, location};
use chrono::Duration;
use fake_graph::{FakeUser, MediaType, YoungRefresh};
use reqwest::StatusCode;
use serde_json::{Value, json};
use token_agent::accounts::paste_token;
use token_agent::domain::AccountName;
use token_agent::refresher::{self, Outcome};
use token_agent::store::AccountKind;

const ORIGIN: (&str, &str) = ("Origin", "https://example.com");
const OWNER_PASSWORD: &str = "meta-test-pw";

struct Setup {
    world: World,
    app: TestApp,
}

/// The agent with the fake's Facebook app configured, and no account yet.
async fn setup(backend: Backend, extra: &[(&str, &str)]) -> Setup {
    let world = World::new(backend).await;
    let fb = world.fake.options().app;
    let mut env = vec![
        ("FACEBOOK_APP_ID", fb.fb_app_id.as_str()),
        ("FACEBOOK_APP_SECRET", fb.fb_app_secret.as_str()),
        ("HASHTAGS", "coffee"),
        ("ADMIN_PASSWORD", OWNER_PASSWORD),
    ];
    env.extend_from_slice(extra);
    let app = world.spawn(&env).await;
    Setup { world, app }
}

impl Setup {
    async fn json(&self, path: &str) -> (StatusCode, Value) {
        let res = self
            .app
            .http
            .get(self.app.url(path))
            .header(ORIGIN.0, ORIGIN.1)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        assert!(!text.contains("access_token"), "{text}");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A page as the signed-in owner sees it.
    async fn page(&self, path: &str) -> String {
        let page = self.app.page(path, Some(OWNER_PASSWORD)).await;
        page.text().await.unwrap()
    }

    /// A Facebook-Login account for `user`, stored as a connect would.
    async fn add_facebook_account(&self, name: &str, user: &FakeUser) -> String {
        let now = self.world.clock.now();
        let token = self.world.fake.issue_facebook_user_token(user, now, true);
        self.put(name, AccountKind::Facebook, &token, Some(&user.ig_user_id))
            .await;
        token
    }

    async fn put(&self, name: &str, kind: AccountKind, token: &str, user_id: Option<&str>) {
        self.world
            .put_account(&self.app, name, kind, token, user_id)
            .await;
    }
}

// ---- 3. appsecret_proof ---------------------------------------------------------

async fn with_require_app_secret_on_facebook_feeds_and_hashtags_still_work(backend: Backend) {
    let s = setup(backend, &[]).await;
    s.world.fake.set_options(|o| o.require_app_secret = true);
    let user = s.world.fake.add_instagram_user("harbour_cafe", 4);
    s.add_facebook_account("brand", &user).await;

    let (status, feed) = s.json("/feed.json?account=brand").await;
    assert_eq!(status, StatusCode::OK, "{feed}");
    assert_eq!(feed["data"].as_array().unwrap().len(), 4);
    let (status, tags) = s.json("/hashtags/coffee/recent.json?account=brand").await;
    assert_eq!(status, StatusCode::OK, "{tags}");
    assert_eq!(s.world.fake.calls("/ig_hashtag_search"), 1);
}

// ---- 7. Instagram's usage header keys -------------------------------------------

async fn an_instagram_login_feed_backs_off_when_call_volume_is_high(backend: Backend) {
    let s = setup(backend, &[]).await;
    // Only graph.instagram.com's X-App-Usage speaks, with its own keys; one
    // call an hour is the whole budget, so the first answer says 100%.
    s.world.fake.set_options(|o| {
        o.instagram_business_usage_header = false;
        o.hourly_call_budget = 1;
    });
    s.world
        .give_token(&s.app, "default", Duration::days(2))
        .await;
    let (status, first) = s.json("/feed.json").await;
    assert_eq!(status, StatusCode::OK);
    s.world.clock.advance(Duration::minutes(6));
    let res = s
        .app
        .http
        .get(s.app.url("/feed.json"))
        .header(ORIGIN.0, ORIGIN.1)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["age"], "360", "the cached copy");
    assert_eq!(res.json::<Value>().await.unwrap(), first);
    assert_eq!(
        s.world.fake.calls_on("graph.instagram.com", "/me/media"),
        1,
        "no upstream call while call_volume is high"
    );
}

// ---- 11. one Graph API version ---------------------------------------------------

async fn every_versioned_call_uses_graph_api_version(backend: Backend) {
    let s = setup(backend, &[("GRAPH_API_VERSION", "v24.0")]).await;
    s.world
        .give_token(&s.app, "default", Duration::days(2))
        .await;
    let user = s.world.fake.add_instagram_user("harbour_cafe", 4);
    s.add_facebook_account("brand", &user).await;

    for path in [
        "/feed.json",
        "/feed.json?account=brand",
        "/hashtags/coffee/top.json?account=brand",
    ] {
        let (status, body) = s.json(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let versions = s.world.fake.calls_by_version();
    assert_eq!(
        versions.keys().collect::<Vec<_>>(),
        ["v24.0"],
        "{versions:?}"
    );
    assert!(versions["v24.0"] >= 4, "{versions:?}");
}

// ---- 1. business-owned Pages ------------------------------------------------------

async fn a_page_of_a_business_portfolio_connects_with_facebook_login(backend: Backend) {
    let s = flows::setup(backend, &[]).await;
    s.world.fake.make_page_business_owned(&s.world.user);
    let callback = s.login_window("facebook", "brand").await;
    s.callback(&callback).await;
    let notice = s.notice().await;
    assert_eq!(notice.outcome, "connected", "{notice:?}");
    let account = s.app.store.account("brand").await.unwrap().unwrap();
    assert_eq!(
        account.user_id.as_deref(),
        Some(s.world.user.ig_user_id.as_str())
    );
}

async fn without_business_management_a_business_owned_page_is_not_listed(backend: Backend) {
    let s = setup(backend, &[]).await;
    s.world.fake.make_page_business_owned(&s.world.user);
    // A token granted the old permissions only, as before v17 sufficed.
    let token = s.add_facebook_account("brand", &s.world.user).await;
    let linked = s
        .app
        .upstream
        .linked_instagram_accounts(&token)
        .await
        .unwrap();
    assert!(linked.is_empty(), "{linked:?}");
}

// ---- 2. several Pages, Page tokens ------------------------------------------------

async fn with_several_instagram_accounts_the_owner_chooses_after_the_callback(backend: Backend) {
    let s = flows::setup(backend, &[]).await;
    let other = s.world.fake.add_instagram_user("harbour_cafe", 3);
    s.world.fake.add_page(&s.world.user, Some(&other), false);
    let callback = s.login_window("facebook", "brand").await;
    s.callback(&callback).await;
    let notice = s.notice().await;
    assert_eq!(notice.outcome, "choose", "{notice:?}");
    let account = s.app.store.account("brand").await.unwrap().unwrap();
    assert_eq!(account.user_id, None, "never the first one silently");

    let admin = s.admin_get("/admin").await.text().await.unwrap();
    assert!(
        admin.contains(&s.world.user.ig_user_id) && admin.contains(&other.ig_user_id),
        "{admin}"
    );
    let csrf = s.csrf();
    let res = s
        .admin_post(
            "/admin/accounts/brand/instagram",
            &[("csrf", &csrf), ("ig_user", "17841400000000000")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "not one of them");
    let res = s
        .admin_post(
            "/admin/accounts/brand/instagram",
            &[("csrf", &csrf), ("ig_user", &other.ig_user_id)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let account = s.app.store.account("brand").await.unwrap().unwrap();
    assert_eq!(account.user_id.as_deref(), Some(other.ig_user_id.as_str()));
    let feed = s
        .app
        .http
        .get(s.app.url("/feed.json?account=brand"))
        .header(ORIGIN.0, ORIGIN.1)
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), StatusCode::OK);
    let ids: Vec<String> = feed.json::<Value>().await.unwrap()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    let expected: Vec<String> = s
        .world
        .fake
        .media_of(&other)
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, expected);
}

async fn every_page_of_me_accounts_is_read_and_ig_user_chooses(backend: Backend) {
    let s = setup(backend, &[]).await;
    let manager = s.world.fake.add_instagram_user("agency", 1);
    // 30 Pages without Instagram first: the linked ones are on page two.
    for _ in 0..30 {
        s.world.fake.add_page(&manager, None, false);
    }
    let client = s.world.fake.add_instagram_user("client_shop", 2);
    s.world.fake.add_page(&manager, Some(&client), false);
    // An account that served another Instagram account before this token.
    s.add_facebook_account("agency", &manager).await;
    let token = s
        .world
        .fake
        .issue_facebook_user_token(&manager, s.world.clock.now(), true);
    let name = AccountName::parse("agency").unwrap();

    let pasted = paste_token(&s.app, &name, AccountKind::Facebook, &token, None)
        .await
        .unwrap();
    let choices = &pasted.profile.as_ref().unwrap().choices;
    assert_eq!(choices.len(), 2, "{pasted:?}");
    assert!(
        s.world.fake.calls_on("graph.facebook.com", "/me/accounts") >= 2,
        "followed paging.next"
    );
    assert!(
        pasted.describe().contains("--ig-user"),
        "{}",
        pasted.describe()
    );
    let account = s.app.store.account("agency").await.unwrap().unwrap();
    assert_eq!(account.user_id, None);

    // `accounts add agency --kind facebook --token T --ig-user ID`
    let pasted = paste_token(
        &s.app,
        &name,
        AccountKind::Facebook,
        &token,
        Some(&client.ig_user_id),
    )
    .await
    .unwrap();
    assert!(pasted.profile.is_ok(), "{pasted:?}");
    let account = s.app.store.account("agency").await.unwrap().unwrap();
    assert_eq!(account.user_id.as_deref(), Some(client.ig_user_id.as_str()));
    assert_eq!(account.username.as_deref(), Some("client_shop"));
}

async fn a_pasted_page_token_serves_its_pages_instagram_account(backend: Backend) {
    let s = setup(backend, &[]).await;
    let user = s.world.fake.add_instagram_user("harbour_cafe", 4);
    let page_token = s.world.fake.issue_page_token(&user, &user.page_id);
    let name = AccountName::parse("cafe").unwrap();
    let pasted = paste_token(&s.app, &name, AccountKind::Facebook, &page_token, None)
        .await
        .unwrap();
    assert!(pasted.profile.is_ok(), "{pasted:?}");
    let account = s.app.store.account("cafe").await.unwrap().unwrap();
    assert_eq!(account.user_id.as_deref(), Some(user.ig_user_id.as_str()));
    let (status, feed) = s.json("/feed.json?account=cafe").await;
    assert_eq!(status, StatusCode::OK, "{feed}");
    assert_eq!(feed["data"].as_array().unwrap().len(), 4);
}

// ---- 4. the account may not use the app ------------------------------------------

async fn an_account_that_may_not_use_the_app_is_told_what_to_do_and_retried_daily(
    backend: Backend,
) {
    let s = setup(backend, &[]).await;
    s.world.fake.set_options(|o| o.account_not_permitted = true);
    // Five days left, so a failing refresh is owed a warning.
    s.world
        .give_token(&s.app, "default", Duration::days(55))
        .await;
    let now = s.world.clock.now();

    let outcome = refresher::refresh_account(&s.app, "default", true)
        .await
        .unwrap();
    let Outcome::Failed {
        kind,
        message,
        retry_at,
    } = outcome
    else {
        panic!("{outcome:?}");
    };
    assert_eq!(kind, "app_not_permitted");
    assert!(message.contains("Instagram Testers"), "{message}");
    assert_eq!(retry_at, Some(now + Duration::days(1)));
    let account = s.app.store.account("default").await.unwrap().unwrap();
    assert!(!account.needs_reconnect);
    assert_eq!(account.next_refresh_at, Some(now + Duration::days(1)));

    let status = s.page("/status").await;
    assert!(
        status.contains("app_not_permitted") && status.contains("Instagram Testers"),
        "{status}"
    );
    let table = token_agent::cli::status_table(&s.app.store.accounts().await.unwrap(), now);
    assert!(table.contains("Live mode"), "{table}");
    let warned = token_agent::warnings::send_due(&s.app).await.unwrap();
    assert_eq!(
        warned.len(),
        1,
        "warned as for a failing refresh: {warned:?}"
    );
    assert!(
        refresher::refresh_due(&s.app).await.is_empty(),
        "not before a day"
    );
}

// ---- 8. pasted tokens are known at once -------------------------------------------

async fn a_deletion_request_finds_a_freshly_pasted_account(backend: Backend) {
    let ig = fake_graph::FakeApp::default();
    let s = setup(
        backend,
        &[
            ("INSTAGRAM_APP_ID", ig.ig_app_id.as_str()),
            ("INSTAGRAM_APP_SECRET", ig.ig_app_secret.as_str()),
        ],
    )
    .await;
    // Pasted today: too young to refresh, so only the paste learns whose it is.
    let token = s
        .world
        .fake
        .issue_long_lived_token(&s.world.user, s.world.clock.now());
    let name = AccountName::parse("shop").unwrap();
    paste_token(&s.app, &name, AccountKind::Instagram, &token, None)
        .await
        .unwrap();
    let account = s.app.store.account("shop").await.unwrap().unwrap();
    assert_eq!(
        account.user_id.as_deref(),
        Some(s.world.user.ig_user_id.as_str())
    );
    assert_eq!(account.username.as_deref(), Some("sunny_bakery"));

    let signed = token_agent::signed_request::sign(
        &json!({"algorithm": "HMAC-SHA256", "issued_at": s.world.clock.now().timestamp(), "user_id": s.world.user.app_scoped_id}),
        ig.ig_app_secret.as_bytes(),
    );
    let res = s
        .app
        .http
        .post(s.app.url("/callbacks/data-deletion"))
        .form(&[("signed_request", signed)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(s.app.store.account("shop").await.unwrap().is_none());
    assert!(
        s.app.board.get("shop").is_none(),
        "its token is no longer served"
    );
}

async fn starting_token_is_known_at_start(backend: Backend) {
    let world = World::new(backend).await;
    let token = world
        .fake
        .issue_long_lived_token(&world.user, world.clock.now());
    let app = world.spawn(&[("STARTING_TOKEN", &token)]).await;
    let account = app.store.account("default").await.unwrap().unwrap();
    assert_eq!(
        account.user_id.as_deref(),
        Some(world.user.ig_user_id.as_str())
    );
    let owned = app
        .store
        .accounts_of_user(&world.user.app_scoped_id)
        .await
        .unwrap();
    assert_eq!(owned, ["default"]);
}

// ---- 9. young tokens --------------------------------------------------------------

async fn neither_answer_to_a_young_refresh_marks_a_pasted_token_dead(backend: Backend) {
    for mode in [YoungRefresh::Error, YoungRefresh::InvalidToken] {
        let s = setup(backend, &[]).await;
        s.world.fake.set_options(|o| o.young_refresh = mode);
        let token = s
            .world
            .fake
            .issue_long_lived_token(&s.world.user, s.world.clock.now());
        let name = AccountName::parse("default").unwrap();
        let pasted = paste_token(&s.app, &name, AccountKind::Instagram, &token, None)
            .await
            .unwrap();
        assert!(
            !matches!(pasted.refresh, Some(Outcome::NeedsReconnect)),
            "{mode:?}: {pasted:?}"
        );
        let account = s.app.store.account("default").await.unwrap().unwrap();
        assert!(!account.needs_reconnect, "{mode:?}");
        assert!(
            account.next_refresh_at >= Some(s.world.clock.now() + Duration::hours(24)),
            "{mode:?}: {:?}",
            account.next_refresh_at
        );
        assert_eq!(s.app.board.get("default").unwrap().token, token);
        s.world.clock.advance(Duration::hours(25));
        let done = refresher::refresh_due(&s.app).await;
        assert!(
            matches!(done[..], [(_, Ok(Outcome::Refreshed { .. }))]),
            "{mode:?}: {done:?}"
        );
    }
}

// ---- 10. redirect_uri mismatch ----------------------------------------------------

async fn a_redirect_uri_mismatch_shows_the_hint_on_status(backend: Backend) {
    let s = flows::setup(backend, &[]).await;
    let callback = s.login_window("instagram", "shop").await;
    // The code was issued for another redirect URI than the agent's.
    let code = s.world.fake.issue_auth_code(
        &s.world.user,
        "https://old-name.herokuapp.com/connect/instagram/callback",
        &["instagram_business_basic"],
    );
    let mut url = url::Url::parse(&callback).unwrap();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "code")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair("code", &code);
    s.callback(url.as_str()).await;
    let notice = s.notice().await;
    assert_eq!(notice.outcome, "failed");
    assert!(
        notice.message.contains("redirect_uri is identical")
            && notice.message.contains("valid OAuth redirect URIs"),
        "{notice:?}"
    );
    let status = s.admin_get("/status").await.text().await.unwrap();
    assert!(status.contains("valid OAuth redirect URIs"), "{status}");
}

// ---- 5. Facebook Login for Business -----------------------------------------------

async fn facebook_config_id_is_sent_instead_of_scope(backend: Backend) {
    let config_id = fake_graph::FakeApp::default().fb_login_config.0;
    let s = flows::setup(backend, &[("FACEBOOK_CONFIG_ID", &config_id)]).await;
    let csrf = s.csrf();
    let res = s
        .admin_post(
            "/connect/facebook",
            &[("csrf", &csrf), ("account", "brand")],
        )
        .await;
    let window = url::Url::parse(&location(&res)).unwrap();
    let params: std::collections::HashMap<_, _> = window.query_pairs().into_owned().collect();
    assert_eq!(params.get("config_id"), Some(&config_id));
    assert!(!params.contains_key("scope"), "{window}");

    let callback = s.login_window("facebook", "brand").await;
    assert!(callback.starts_with(APP_URL));
    s.callback(&callback).await;
    let notice = s.notice().await;
    assert_eq!(notice.outcome, "connected", "{notice:?}");
}

// ---- 12. media without media_url or permalink -------------------------------------

async fn media_without_media_url_or_permalink_is_kept_and_served(backend: Backend) {
    let s = setup(backend, &[]).await;
    let fake = &s.world.fake;
    let reel = fake.add_post(&s.world.user, MediaType::Video, Some("licensed song"));
    let flagged = fake.add_post(&s.world.user, MediaType::Image, None);
    let album = fake.add_post(&s.world.user, MediaType::CarouselAlbum, Some("album"));
    fake.withhold(&reel.id, true, false);
    fake.withhold(&flagged.id, false, true);
    for child in &album.children {
        fake.withhold(child, true, false);
    }
    s.world
        .give_token(&s.app, "default", Duration::days(2))
        .await;

    let (status, feed) = s.json("/feed.json?limit=5").await;
    assert_eq!(status, StatusCode::OK, "{feed}");
    let item = |id: &str| {
        feed["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} missing from {feed}"))
    };
    let reel = item(&reel.id);
    assert!(
        reel.get("media_url").is_none() && reel["thumbnail_url"].is_string(),
        "{reel}"
    );
    let flagged = item(&flagged.id);
    assert!(flagged.get("permalink").is_none() && flagged["media_url"].is_string());
    let album = item(&album.id);
    let children = album["children"]["data"].as_array().unwrap();
    assert_eq!(children.len(), 2);
    assert!(
        children.iter().all(|c| c.get("media_url").is_none()),
        "{album}"
    );
}

on_both_backends!(
    a_page_of_a_business_portfolio_connects_with_facebook_login,
    without_business_management_a_business_owned_page_is_not_listed,
    with_several_instagram_accounts_the_owner_chooses_after_the_callback,
    every_page_of_me_accounts_is_read_and_ig_user_chooses,
    a_pasted_page_token_serves_its_pages_instagram_account,
    an_account_that_may_not_use_the_app_is_told_what_to_do_and_retried_daily,
    a_deletion_request_finds_a_freshly_pasted_account,
    starting_token_is_known_at_start,
    neither_answer_to_a_young_refresh_marks_a_pasted_token_dead,
    a_redirect_uri_mismatch_shows_the_hint_on_status,
    facebook_config_id_is_sent_instead_of_scope,
    media_without_media_url_or_permalink_is_kept_and_served,
    with_require_app_secret_on_facebook_feeds_and_hashtags_still_work,
    an_instagram_login_feed_backs_off_when_call_volume_is_high,
    every_versioned_call_uses_graph_api_version,
);
