//! Connect flows, the admin gate and actions, Meta's callbacks, the refresh
//! hook, expiry warnings and metrics, end to end against the fake.

use std::sync::{Arc, Mutex};

use crate::common::{Backend, TestApp, World, client, webhook_sink};
use base64::Engine;
use chrono::Duration;
use fake_graph::{CodeExchangeShape, FakeApp, TokenStatus};
use reqwest::StatusCode;
use serde_json::{Value, json};
use token_agent::connect::{ConnectNotice, LAST_CONNECT};
use token_agent::store::{AccountKind, NewToken};

pub(crate) const PASSWORD: &str = "let-me-in-42";
pub(crate) const APP_URL: &str = "https://agent.example.com";

/// The owner's browser at a started agent: its own client and cookie jar.
pub(crate) struct Setup {
    pub(crate) world: World,
    pub(crate) app: TestApp,
    /// Does not follow redirects: each hop is checked.
    pub(crate) http: reqwest::Client,
    /// The cookie the last connect start set, as the owner's browser keeps it.
    cookie: Mutex<Option<String>>,
}

pub(crate) fn fake_app() -> FakeApp {
    FakeApp {
        redirect_uris: vec![
            format!("{APP_URL}/connect/instagram/callback"),
            format!("{APP_URL}/connect/facebook/callback"),
        ],
        ..FakeApp::default()
    }
}

pub(crate) async fn setup(backend: Backend, extra: &[(&str, &str)]) -> Setup {
    let world = World::new(backend).await;
    world.fake.set_options(|o| o.app = fake_app());
    let app_config = fake_app();
    let mut env: Vec<(&str, &str)> = vec![
        ("ADMIN_PASSWORD", PASSWORD),
        ("INSTAGRAM_APP_ID", &app_config.ig_app_id),
        ("INSTAGRAM_APP_SECRET", &app_config.ig_app_secret),
        ("FACEBOOK_APP_ID", &app_config.fb_app_id),
        ("FACEBOOK_APP_SECRET", &app_config.fb_app_secret),
    ];
    let authorize = world.fake.instagram_authorize_url();
    let dialog = world.fake.facebook_dialog_url();
    env.push(("INSTAGRAM_AUTHORIZE_URL", &authorize));
    env.push(("FACEBOOK_DIALOG_URL", &dialog));
    for (k, v) in extra {
        env.retain(|(key, _)| key != k);
        env.push((k, v));
    }
    let app = world.spawn(&env).await;
    Setup {
        world,
        app,
        http: client(),
        cookie: Mutex::new(None),
    }
}

fn basic(password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("owner:{password}"))
    )
}

pub(crate) fn location(res: &reqwest::Response) -> String {
    res.headers()["location"].to_str().unwrap().to_string()
}

impl Setup {
    pub(crate) async fn admin_get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.app.url(path))
            .header("Authorization", basic(PASSWORD))
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn admin_post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.app.url(path))
            .header("Authorization", basic(PASSWORD))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    pub(crate) fn csrf(&self) -> String {
        token_agent::http::admin::csrf_token(&self.app)
    }

    /// Starts a connect flow and walks it through the fake's login window;
    /// returns the callback URL the window sent the browser to (on APP_URL).
    pub(crate) async fn login_window(&self, provider: &str, account: &str) -> String {
        let csrf = self.csrf();
        let res = self
            .admin_post(
                &format!("/connect/{provider}"),
                &[("csrf", &csrf), ("account", account)],
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let cookie = res.headers()["set-cookie"].to_str().unwrap();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        let pair = cookie.split(';').next().unwrap().to_string();
        *self.cookie.lock().unwrap() = Some(pair);
        let window = location(&res);
        let res = self.http.get(&window).send().await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::FOUND,
            "{}",
            res.text().await.unwrap()
        );
        location(&res)
    }

    /// Follows a callback URL (on APP_URL) on the test server, as the
    /// owner's browser, with the cookie the start set.
    pub(crate) async fn callback(&self, url: &str) -> reqwest::Response {
        let cookie = self.cookie.lock().unwrap().clone();
        self.callback_with(url, cookie.as_deref()).await
    }

    /// Follows a callback URL with the given cookie (none: a stranger).
    async fn callback_with(&self, url: &str, cookie: Option<&str>) -> reqwest::Response {
        let path = url
            .strip_prefix(APP_URL)
            .expect("the window returns to APP_URL");
        let path = path.split('#').next().unwrap();
        let mut request = self.http.get(self.app.url(path));
        if let Some(cookie) = cookie {
            request = request.header("Cookie", cookie);
        }
        request.send().await.unwrap()
    }

    pub(crate) async fn notice(&self) -> ConnectNotice {
        let raw = self
            .app
            .store
            .setting(LAST_CONNECT)
            .await
            .unwrap()
            .expect("a connect result");
        serde_json::from_str(&raw).unwrap()
    }
}

async fn instagram_login_connects_an_account(backend: Backend) {
    for shape in [CodeExchangeShape::Flat, CodeExchangeShape::Wrapped] {
        let s = setup(backend, &[]).await;
        s.world.fake.set_options(|o| o.code_exchange_shape = shape);
        let callback = s.login_window("instagram", "shop").await;
        assert!(
            callback.contains("code=") && callback.contains("state="),
            "{callback}"
        );
        let res = s.callback(&callback).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&res), "/status");

        let notice = s.notice().await;
        assert_eq!(notice.outcome, "connected", "{notice:?}");
        let account = s.app.store.account("shop").await.unwrap().expect("stored");
        assert_eq!(account.kind, AccountKind::Instagram);
        assert_eq!(account.username.as_deref(), Some("sunny_bakery"));
        assert_eq!(
            account.user_id.as_deref(),
            Some(s.world.user.ig_user_id.as_str())
        );
        assert_eq!(
            account.expires_at,
            Some(s.world.clock.now() + Duration::days(60))
        );
        assert!(account.next_refresh_at.is_some());
        assert!(matches!(
            s.world.fake.token_status(&account.token),
            TokenStatus::Valid { .. }
        ));
        assert_eq!(s.app.board.get("shop").unwrap().token, account.token);
    }
}

async fn facebook_login_connects_an_account_that_can_search_hashtags(backend: Backend) {
    let s = setup(backend, &[("HASHTAGS", "sunrise")]).await;
    let callback = s.login_window("facebook", "brand").await;
    let res = s.callback(&callback).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        s.notice().await.outcome,
        "connected",
        "{:?}",
        s.notice().await
    );
    let account = s.app.store.account("brand").await.unwrap().expect("stored");
    assert_eq!(account.kind, AccountKind::Facebook);
    assert_eq!(
        account.user_id.as_deref(),
        Some(s.world.user.ig_user_id.as_str())
    );
    assert_eq!(
        account.next_refresh_at, None,
        "Facebook tokens are not refreshed"
    );
    assert!(account.expires_at.is_some());
    let res = s
        .app
        .http
        .get(s.app.url("/hashtags/sunrise/top.json"))
        .header("Origin", "https://example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

async fn forged_reused_expired_and_denied_logins_change_nothing(backend: Backend) {
    let s = setup(backend, &[]).await;
    let no_notice = async || s.app.store.setting(LAST_CONNECT).await.unwrap().is_none();
    // Forged state: refused, and nothing recorded for it.
    let callback = s.login_window("instagram", "shop").await;
    let forged = regex_replace_state(&callback, "0123456789abcdef");
    assert_eq!(s.callback(&forged).await.status(), StatusCode::BAD_REQUEST);
    assert!(no_notice().await, "a made-up state wrote the notice");
    assert!(s.app.store.account("shop").await.unwrap().is_none());
    // The owner's own callback, finished from another browser (one that
    // saw the URL but has not the cookie): refused, the state kept.
    let res = s.callback_with(&callback, None).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = s
        .callback_with(&callback, Some("token_agent_connect=00ff"))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // Measured before: the cookie was SHA-256 of the state, which anyone
    // who saw the URL could compute and so finish the owner's connect.
    let state = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    use sha2::Digest;
    let computed = hex::encode(sha2::Sha256::digest(state.as_bytes()));
    let res = s
        .callback_with(&callback, Some(&format!("token_agent_connect={computed}")))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(no_notice().await);
    assert!(s.app.store.account("shop").await.unwrap().is_none());
    // The real one still works once, and only once.
    s.callback(&callback).await;
    assert_eq!(s.notice().await.outcome, "connected");
    s.app.remove_account("shop").await.unwrap();
    assert_eq!(
        s.callback(&callback).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        s.notice().await.outcome,
        "connected",
        "a used state records nothing"
    );
    assert!(
        s.app.store.account("shop").await.unwrap().is_none(),
        "a state works once"
    );
    // Expired: the owner took more than ten minutes.
    let callback = s.login_window("instagram", "shop").await;
    s.world.clock.advance(Duration::minutes(11));
    s.callback(&callback).await;
    let notice = s.notice().await;
    assert_eq!(notice.outcome, "failed");
    assert!(notice.message.contains("expired"), "{notice:?}");
    assert!(s.app.store.account("shop").await.unwrap().is_none());
    // Denied in the login window.
    s.world.fake.deny_next_authorize();
    let callback = s.login_window("instagram", "shop").await;
    assert!(callback.contains("error=access_denied"), "{callback}");
    s.callback(&callback).await;
    assert_eq!(s.notice().await.outcome, "denied");
    assert!(s.app.store.account("shop").await.unwrap().is_none());
}

fn regex_replace_state(url: &str, new_state: &str) -> String {
    let (head, query) = url.split_once('?').unwrap();
    let query: Vec<String> = query
        .split('&')
        .map(|pair| {
            if pair.starts_with("state=") {
                format!("state={new_state}")
            } else {
                pair.to_string()
            }
        })
        .collect();
    format!("{head}?{}", query.join("&"))
}

async fn admin_pages_need_the_password_and_failures_never_lock_it_out(backend: Backend) {
    let s = setup(backend, &[("ADMIN_FAILURE_DELAY_MS", "1")]).await;
    let res = s.app.http.get(s.app.url("/admin")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let res = s.admin_get("/admin").await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(
        !html.contains(PASSWORD)
            && !html.contains(&fake_app().ig_app_secret)
            && !html.contains(&fake_app().fb_app_secret)
    );

    for _ in 0..10 {
        let res = s
            .app
            .http
            .get(s.app.url("/admin"))
            .header("Authorization", basic("guess"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // Failures slow their client down; they never lock the password out.
    let res = s.admin_get("/admin").await;
    assert_eq!(res.status(), StatusCode::OK);
}

async fn without_a_password_admin_and_connect_do_not_exist(backend: Backend) {
    let world = World::new(backend).await;
    let app = world.spawn(&[]).await;
    for path in [
        "/admin",
        "/connect/instagram",
        "/connect/facebook?account=x",
    ] {
        let res = token_agent::tls::http_client()
            .build()
            .unwrap()
            .get(app.url(path))
            .header("Authorization", basic("x"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

async fn admin_actions_add_refresh_and_remove_accounts(backend: Backend) {
    let s = setup(backend, &[]).await;
    let token = s
        .world
        .fake
        .issue_long_lived_token(&s.world.user, s.world.clock.now() - Duration::days(5));
    let csrf = s.csrf();
    let res = s
        .admin_post(
            "/admin/accounts",
            &[("name", "pasted"), ("token", &token), ("kind", "instagram")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "no csrf field");
    assert!(s.app.store.account("pasted").await.unwrap().is_none());

    let res = s
        .admin_post(
            "/admin/accounts",
            &[
                ("csrf", &csrf),
                ("name", "pasted"),
                ("token", &token),
                ("kind", "instagram"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(!html.contains(&token), "the page shows the token");
    let stored = s.app.store.account("pasted").await.unwrap().unwrap();
    assert_eq!(
        stored.last_result.as_deref(),
        Some("ok"),
        "tried at once to learn its expiry"
    );

    s.world.clock.advance(Duration::days(2));
    // Two days on, the owner opens the admin page again: a new form.
    let csrf = s.csrf();
    let res = s
        .admin_post("/admin/accounts/pasted/refresh", &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(s.world.fake.calls("/refresh_access_token"), 2);

    let res = s
        .admin_post("/admin/accounts/pasted/remove", &[("csrf", &csrf)])
        .await;
    assert_eq!(
        res.status(),
        StatusCode::BAD_REQUEST,
        "needs the confirmation"
    );
    let res = s
        .admin_post(
            "/admin/accounts/pasted/remove",
            &[("csrf", &csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(s.app.store.account("pasted").await.unwrap().is_none());
    assert!(s.app.board.get("pasted").is_none());
}

/// Signs a callback payload as Meta does, issued at `issued_at` (Unix s).
fn signed(secret: &str, user_id: &str, issued_at: i64) -> String {
    token_agent::signed_request::sign(
        &json!({"algorithm": "HMAC-SHA256", "issued_at": issued_at, "user_id": user_id}),
        secret.as_bytes(),
    )
}

async fn meta_callbacks_delete_a_users_data_only_when_signed(backend: Backend) {
    let s = setup(backend, &[]).await;
    let callback = s.login_window("instagram", "shop").await;
    s.callback(&callback).await;
    let user_id = s.world.user.app_scoped_id.clone();
    let now = s.world.clock.now().timestamp();
    let post = |path: &'static str, body: String| {
        s.app
            .http
            .post(s.app.url(path))
            .form(&[("signed_request", body)])
            .send()
    };
    // Forged and malformed requests change nothing.
    let res = post(
        "/callbacks/data-deletion",
        signed("not-the-secret", &user_id, now),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = post("/callbacks/deauthorize", "no-dot-here".into())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = s
        .app
        .http
        .post(s.app.url("/callbacks/deauthorize"))
        .form(&[("other", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(s.app.store.account("shop").await.unwrap().is_some());

    // A correctly signed but old one is a replay: refused, nothing deleted
    // (Meta's own example was issued in 2010).
    for issued_at in [1_291_836_800, now - 3601] {
        let res = post(
            "/callbacks/data-deletion",
            signed(&fake_app().ig_app_secret, &user_id, issued_at),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "stale_signed_request");
    }
    assert!(s.app.store.account("shop").await.unwrap().is_some());

    // A real one deletes the account and answers with a status URL.
    let res = post(
        "/callbacks/data-deletion",
        signed(&fake_app().ig_app_secret, &user_id, now),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let code = body["confirmation_code"].as_str().unwrap().to_string();
    assert_eq!(
        body["url"],
        format!("{APP_URL}/callbacks/data-deletion/{code}")
    );
    assert!(s.app.store.account("shop").await.unwrap().is_none());
    assert!(s.app.board.get("shop").is_none());
    let page = s
        .app
        .http
        .get(s.app.url(&format!("/callbacks/data-deletion/{code}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains(&code));
    let page = s
        .app
        .http
        .get(s.app.url("/callbacks/data-deletion/unknown0"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
}

async fn a_signed_request_acts_once_however_often_it_comes(backend: Backend) {
    // Measured before: the same request posted again within its hour, after
    // the owner had added the account back, deleted it again.
    let s = setup(backend, &[]).await;
    let connect = async || {
        let callback = s.login_window("instagram", "shop").await;
        s.callback(&callback).await;
        assert!(s.app.store.account("shop").await.unwrap().is_some());
    };
    let user_id = s.world.user.app_scoped_id.clone();
    let request = signed(
        &fake_app().ig_app_secret,
        &user_id,
        s.world.clock.now().timestamp(),
    );
    let post = |app: &crate::common::TestApp, path: &str| {
        app.http
            .post(app.url(path))
            .form(&[("signed_request", request.clone())])
            .send()
    };
    connect().await;
    let first: Value = post(&s.app, "/callbacks/data-deletion")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(s.app.store.account("shop").await.unwrap().is_none());

    // The owner adds the account back; Meta sends the same request again,
    // to this process and to another on the same database.
    connect().await;
    s.world.clock.advance(Duration::minutes(30));
    let app = fake_app();
    let other = s
        .world
        .spawn(&[
            ("INSTAGRAM_APP_ID", &app.ig_app_id),
            ("INSTAGRAM_APP_SECRET", &app.ig_app_secret),
        ])
        .await;
    for process in [&s.app, &other] {
        let res = post(process, "/callbacks/data-deletion").await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let again: Value = res.json().await.unwrap();
        assert_eq!(again["confirmation_code"], first["confirmation_code"]);
        let res = post(process, "/callbacks/deauthorize").await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert!(
        s.app.store.account("shop").await.unwrap().is_some(),
        "a request acts once"
    );

    // A new request (Meta's next one) acts again.
    let next = signed(
        &fake_app().ig_app_secret,
        &user_id,
        s.world.clock.now().timestamp(),
    );
    let res = s
        .app
        .http
        .post(s.app.url("/callbacks/deauthorize"))
        .form(&[("signed_request", next)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(s.app.store.account("shop").await.unwrap().is_none());
}

async fn the_documented_signed_request_vector_is_accepted(backend: Backend) {
    // instagram-api.md §7.1: secret `key`, user "0".
    let s = setup(backend, &[("INSTAGRAM_APP_SECRET", "key")]).await;
    let vector = "Mf_s6nTb38UYqioBmPqu0Ewm9souPZB9I2fIGwV729U.eyJ1c2VyX2lkIjoiMCIsImFsZ29yaXRobSI6IkhNQUMtU0hBMjU2IiwiaXNzdWVkX2F0IjoxNjI0MjQ0MTU2fQ";
    // The vector was issued at 1624244156; it arrives a minute later.
    let issued = chrono::DateTime::from_timestamp(1_624_244_156, 0).unwrap();
    s.world.clock.set(issued + Duration::minutes(1));
    let res = s
        .app
        .http
        .post(s.app.url("/callbacks/deauthorize"))
        .form(&[("signed_request", vector)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let tampered = vector.replace("Mf_s", "Mf_t");
    let res = s
        .app
        .http
        .post(s.app.url("/callbacks/deauthorize"))
        .form(&[("signed_request", tampered)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

async fn the_refresh_hook_runs_only_with_the_right_signature(backend: Backend) {
    let s = setup(backend, &[("WEBHOOK_SECRET", "hook-secret")]).await;
    s.world
        .give_token(&s.app, "default", Duration::days(8))
        .await;
    let res = s
        .app
        .http
        .post(s.app.url("/hooks/refresh/deadbeef"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(s.world.fake.calls("/refresh_access_token"), 0);
    let secret = s.app.config.webhook_secret.as_ref().unwrap().expose();
    let url = s
        .app
        .public_url
        .link(&token_agent::hook::hook_path(secret))
        .unwrap();
    let path = url.strip_prefix(APP_URL).unwrap();
    let res = s.app.http.post(s.app.url(path)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["refreshed"]["default"]
            .as_str()
            .unwrap()
            .starts_with("refreshed"),
        "{body}"
    );
    assert_eq!(s.world.fake.calls("/refresh_access_token"), 1);
}

async fn expiry_warnings_go_out_once_each_and_reset_on_reconnect(backend: Backend) {
    let answer = Arc::new(Mutex::new(500));
    let (sink, seen) = webhook_sink(answer.clone()).await;
    let s = setup(
        backend,
        &[("NOTIFY_WEBHOOK_URL", &sink), ("WEBHOOK_SECRET", "sig")],
    )
    .await;
    let token = s
        .world
        .fake
        .issue_facebook_user_token(&s.world.user, s.world.clock.now(), true);
    let put = |token: String| NewToken {
        name: "brand".into(),
        kind: AccountKind::Facebook,
        token,
        user_id: None,
        username: None,
        issued_at: Some(s.world.clock.now()),
        expires_at: Some(s.world.clock.now() + Duration::days(60)),
        next_refresh_at: None,
    };
    s.app
        .store
        .put_token(&put(token.clone()), s.world.clock.now())
        .await
        .unwrap();
    let send = || token_agent::warnings::send_due(&s.app);

    assert!(
        send().await.unwrap().is_empty(),
        "nothing due with 60 days left"
    );
    s.world.clock.advance(Duration::days(51));
    // Delivery fails: recorded, shown, and tried again next time.
    let results = send().await.unwrap();
    assert!(results[0].1.is_err());
    let account = s.app.store.account("brand").await.unwrap().unwrap();
    assert!(account.notify_error.is_some() && account.warned_expiring_at.is_none());
    *answer.lock().unwrap() = 200;
    let results = send().await.unwrap();
    assert!(results[0].1.is_ok(), "{results:?}");
    assert!(send().await.unwrap().is_empty(), "sent once");
    let bodies = seen.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[1]["event"], "token.expires_soon");
    assert_eq!(bodies[1]["account"], "brand");
    assert!(
        !bodies.iter().any(|b| b.to_string().contains(&token)),
        "a warning carried the token"
    );

    s.world.clock.advance(Duration::days(10));
    assert_eq!(send().await.unwrap().len(), 1);
    assert!(send().await.unwrap().is_empty());
    assert_eq!(
        seen.lock().unwrap().last().unwrap()["event"],
        "token.expired"
    );

    // Reconnecting resets both warnings.
    let fresh = s
        .world
        .fake
        .issue_facebook_user_token(&s.world.user, s.world.clock.now(), true);
    s.app
        .store
        .put_token(&put(fresh), s.world.clock.now())
        .await
        .unwrap();
    let account = s.app.store.account("brand").await.unwrap().unwrap();
    assert!(account.warned_expiring_at.is_none() && account.warned_expired_at.is_none());
    s.world.clock.advance(Duration::days(51));
    assert_eq!(send().await.unwrap().len(), 1);
}

async fn facebook_tokens_are_checked_daily_and_a_revoked_one_needs_reconnect(backend: Backend) {
    let s = setup(backend, &[]).await;
    let callback = s.login_window("facebook", "brand").await;
    s.callback(&callback).await;
    let token = s.app.store.account("brand").await.unwrap().unwrap().token;
    let check = || token_agent::refresher::check_unrefreshable(&s.app);

    assert_eq!(check().await.unwrap(), 1);
    let account = s.app.store.account("brand").await.unwrap().unwrap();
    assert_eq!(account.last_result.as_deref(), Some("ok"));
    assert_eq!(check().await.unwrap(), 0, "once a day");

    s.world.fake.invalidate_token(&token, Some(460), "Error validating access token: The session has been invalidated because the user changed their password.");
    s.world.clock.advance(Duration::days(1));
    assert_eq!(check().await.unwrap(), 1);
    let account = s.app.store.account("brand").await.unwrap().unwrap();
    assert!(account.needs_reconnect, "{account:?}");
    assert!(
        account
            .last_error
            .unwrap()
            .contains("changed their password")
    );
    assert!(
        !account.token.is_empty(),
        "the token is kept, for the owner to see and replace"
    );
    // The status page shows it now; the warning waits for the ten-day mark.
    let sent = token_agent::warnings::send_due(&s.app).await.unwrap();
    assert!(sent.is_empty(), "{sent:?}");
    s.world.clock.advance(Duration::days(50));
    let sent = token_agent::warnings::send_due(&s.app).await.unwrap();
    assert_eq!(sent.len(), 1, "{sent:?}");
}

async fn metrics_count_requests_refreshes_upstream_calls_and_expiry(backend: Backend) {
    let s = setup(backend, &[]).await;
    s.world
        .give_token(&s.app, "default", Duration::days(8))
        .await;
    token_agent::refresher::refresh_account(&s.app, "default", false)
        .await
        .unwrap();
    for _ in 0..3 {
        s.app
            .http
            .get(s.app.url("/token.json"))
            .header("Origin", "https://example.com")
            .send()
            .await
            .unwrap();
    }
    s.app
        .http
        .get(s.app.url("/feed.json"))
        .header("Origin", "https://example.com")
        .send()
        .await
        .unwrap();
    s.app
        .http
        .get(s.app.url("/feed.json"))
        .header("Origin", "https://example.com")
        .send()
        .await
        .unwrap();
    let text = s.admin_get("/metrics").await.text().await.unwrap();
    for line in [
        "token_agent_http_requests_total{route=\"token\",status=\"200\"} 3",
        "token_agent_refreshes_total{outcome=\"refreshed\"} 1",
        "token_agent_upstream_calls_total{endpoint=\"refresh_access_token\",outcome=\"ok\"} 1",
        "token_agent_upstream_calls_total{endpoint=\"me/media\",outcome=\"ok\"} 1",
        "token_agent_feed_cache_total{result=\"hit\"} 1",
        "token_agent_token_expires_in_seconds{account=\"default\"} 5184000",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert!(!text.contains("IGAA"), "a token in the metrics");
}

on_both_backends!(
    instagram_login_connects_an_account,
    facebook_login_connects_an_account_that_can_search_hashtags,
    forged_reused_expired_and_denied_logins_change_nothing,
    admin_pages_need_the_password_and_failures_never_lock_it_out,
    without_a_password_admin_and_connect_do_not_exist,
    admin_actions_add_refresh_and_remove_accounts,
    meta_callbacks_delete_a_users_data_only_when_signed,
    the_documented_signed_request_vector_is_accepted,
    a_signed_request_acts_once_however_often_it_comes,
    the_refresh_hook_runs_only_with_the_right_signature,
    expiry_warnings_go_out_once_each_and_reset_on_reconnect,
    facebook_tokens_are_checked_daily_and_a_revoked_one_needs_reconnect,
    metrics_count_requests_refreshes_upstream_calls_and_expiry,
);
