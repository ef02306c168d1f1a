//! Meta as it is, not as a kind fake would be: each test turns on the
//! fake's mode for one documented (or observed) behaviour of Meta's API and
//! checks that the agent copes: appsecret_proof, the "not allowed to use the
//! app" answer, Instagram's own usage header keys, pasted tokens, young
//! tokens, redirect_uri mismatches, the Graph API version, media without
//! media_url or permalink, business-owned and several Pages, Facebook Login
//! for Business.

use std::sync::Arc;

use crate::common::{Backend, Server, World};
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::Value;
use token_agent::app::App;
use token_agent::fake::FakeUser;
use token_agent::store::{AccountKind, NewToken};

const ORIGIN: (&str, &str) = ("Origin", "https://example.com");

struct Setup {
    world: World,
    app: Arc<App>,
    server: Server,
    http: reqwest::Client,
}

/// The agent with the fake's Facebook app configured, and no account yet.
async fn setup(backend: Backend, extra: &[(&str, &str)]) -> Setup {
    let world = World::new(backend).await;
    let fb = world.fake.options().app;
    let mut env = vec![
        ("FACEBOOK_APP_ID", fb.fb_app_id.as_str()),
        ("FACEBOOK_APP_SECRET", fb.fb_app_secret.as_str()),
        ("HASHTAGS", "coffee"),
    ];
    env.extend_from_slice(extra);
    let app = world.app(&env).await;
    let server = Server::start(app.clone()).await;
    Setup {
        world,
        app,
        server,
        http: token_agent::tls::http_client().build().unwrap(),
    }
}

impl Setup {
    async fn json(&self, path: &str) -> (StatusCode, Value) {
        let res = self
            .http
            .get(self.server.url(path))
            .header(ORIGIN.0, ORIGIN.1)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        assert!(!text.contains("access_token"), "{text}");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    #[allow(dead_code)]
    async fn page(&self, path: &str) -> String {
        self.http
            .get(self.server.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
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
        let now = self.world.clock.now();
        self.app
            .store
            .put_token(
                &NewToken {
                    name: name.into(),
                    kind,
                    token: token.into(),
                    user_id: user_id.map(str::to_string),
                    username: None,
                    issued_at: Some(now),
                    expires_at: Some(now + Duration::days(60)),
                    next_refresh_at: None,
                },
                now,
            )
            .await
            .unwrap();
        self.app.reload().await.unwrap();
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
        .http
        .get(s.server.url("/feed.json"))
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

on_both_backends!(
    with_require_app_secret_on_facebook_feeds_and_hashtags_still_work,
    an_instagram_login_feed_backs_off_when_call_volume_is_high,
    every_versioned_call_uses_graph_api_version,
);
