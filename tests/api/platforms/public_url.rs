//! The public URL, in process: pages and logins use the URL a request came
//! to, and a stranger's Host header changes nothing anyone else is shown.

use super::*;

fn heroku_fake_app() -> FakeApp {
    FakeApp {
        redirect_uris: vec![format!("https://{HEROKU_HOST}/connect/instagram/callback")],
        ..FakeApp::default()
    }
}

async fn without_app_url_pages_and_logins_use_the_url_the_request_came_to(backend: Backend) {
    // Arrange: no APP_URL, an Instagram app registered for the Heroku host.
    let world = World::new(backend).await;
    let meta = heroku_fake_app();
    world.fake.set_options(|o| o.app = heroku_fake_app());
    let authorize = world.fake.instagram_authorize_url();
    let app = world
        .spawn(&[
            ("APP_URL", ""),
            ("ADMIN_PASSWORD", "pw-1"),
            ("INSTAGRAM_APP_ID", &meta.ig_app_id),
            ("INSTAGRAM_APP_SECRET", &meta.ig_app_secret),
            ("INSTAGRAM_AUTHORIZE_URL", &authorize),
        ])
        .await;
    let http = http();
    let as_heroku = |request: reqwest::RequestBuilder| {
        request
            .header("Host", HEROKU_HOST)
            .header("X-Forwarded-Proto", "https")
            .header("X-Forwarded-Port", "443")
            .header("X-Forwarded-For", "203.0.113.7")
    };

    // Act + Assert: the setup page's snippets and the APP_URL to set.
    let home = as_heroku(http.get(app.url("/")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains(&format!(
            "&#60;script src=&#34;https://{HEROKU_HOST}/token.js&#34;&#62;"
        )) || home.contains(&format!("<script src=\"https://{HEROKU_HOST}/token.js\">")),
        "{home}"
    );
    assert!(
        home.contains(&format!("APP_URL=https://{HEROKU_HOST}")),
        "{home}"
    );

    // The admin page's redirect URIs, and the login itself.
    let admin = as_heroku(http.get(app.url("/admin")))
        .header("Authorization", basic("pw-1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        admin.contains(&format!("https://{HEROKU_HOST}/connect/instagram/callback")),
        "{admin}"
    );
    let csrf = token_agent::http::admin::csrf_token(&app);
    let res = as_heroku(http.post(app.url("/connect/instagram")))
        .header("Authorization", basic("pw-1"))
        .form(&[("csrf", csrf.as_str()), ("account", "shop")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("; Secure"), "{cookie}");
    let window = res.headers()["location"].to_str().unwrap().to_string();
    let sent = url::Url::parse(&window)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned());
    assert_eq!(
        sent,
        Some(format!("https://{HEROKU_HOST}/connect/instagram/callback"))
    );
    let res = http.get(&window).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let back = res.headers()["location"].to_str().unwrap().to_string();
    let path = back
        .strip_prefix(&format!("https://{HEROKU_HOST}"))
        .expect("Meta sends the browser back to the Heroku host");
    // The callback arrives with another Host (a custom domain, say): the
    // code is exchanged with the redirect_uri the login was started with.
    let res = http
        .get(app.url(path.split('#').next().unwrap()))
        .header("Host", "tokens.example.com")
        .header("Cookie", cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let account = app.store.account("shop").await.unwrap();
    assert!(
        account.is_some(),
        "the code exchange used the identical redirect_uri"
    );
    app.stop().await;
}

async fn a_strangers_host_header_changes_nothing_anyone_else_is_shown(backend: Backend) {
    let world = World::new(backend).await;
    let app = world
        .spawn(&[
            ("APP_URL", ""),
            ("ADMIN_PASSWORD", "pw-2"),
            ("WEBHOOK_SECRET", "s"),
        ])
        .await;
    let http = http();
    let evil = |request: reqwest::RequestBuilder| {
        request
            .header("Host", "evil.example")
            .header("X-Forwarded-Host", "evil.example")
    };

    // A stranger's own answer follows their headers…
    let home = evil(http.get(app.url("/"))).send().await.unwrap();
    assert!(home.text().await.unwrap().contains("evil.example"));
    // …but not a feed answer, which a shared cache may hand to others.
    world
        .give_token(&app, "default", chrono::Duration::days(2))
        .await;
    let feed = http
        .get(app.url("/feed.json?limit=2"))
        .header("Host", HEROKU_HOST)
        .header("X-Forwarded-Host", "evil.example")
        .header("X-Forwarded-Proto", "https")
        .header("Origin", "https://example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), StatusCode::OK);
    let body: Value = feed.json().await.unwrap();
    let next = body["paging"]["next"].as_str().unwrap();
    assert!(
        next.starts_with(&format!("http://{HEROKU_HOST}/feed.json?")),
        "Host only, and no proxy is trusted here to say https: {next}"
    );
    // …and a failed sign-in, or the pages anyone may see, keep nothing.
    let res = evil(http.get(app.url("/admin")))
        .header("Authorization", basic("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let _ = evil(http.get(app.url("/status"))).send().await.unwrap();
    let _ = evil(http.get(app.url("/healthz"))).send().await.unwrap();
    assert_eq!(
        app.public_url.known_now(&app.store).await,
        token_agent::public_url::Known::Unknown
    );
    assert!(app.public_url.link("admin").is_err(), "said plainly");

    // The owner's signed-in visit teaches the agent its URL…
    let res = http
        .get(app.url("/admin"))
        .header("Host", HEROKU_HOST)
        .header("X-Forwarded-Proto", "https")
        .header("Authorization", basic("pw-2"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let owner = format!("https://{HEROKU_HOST}/");
    // …which later strangers cannot replace.
    let _ = evil(http.get(app.url("/"))).send().await.unwrap();
    let _ = evil(http.get(app.url("/admin")))
        .header("Authorization", basic("wrong"))
        .send()
        .await
        .unwrap();
    let known = app.public_url.known_now(&app.store).await;
    assert_eq!(known.url().map(url::Url::as_str), Some(owner.as_str()));
    assert!(
        app.public_url
            .link("admin")
            .unwrap()
            .starts_with(&format!("https://{HEROKU_HOST}/"))
    );
    // Another process on the same database (the hook-url command) reads it.
    let out = crate::common::run(crate::common::agent_command(
        &world,
        &["hook-url"],
        &[("APP_URL", ""), ("WEBHOOK_SECRET", "s")],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with(&format!("https://{HEROKU_HOST}/hooks/refresh/")),
        "{}",
        text(&out)
    );
    app.stop().await;
}

on_both_backends!(
    without_app_url_pages_and_logins_use_the_url_the_request_came_to,
    a_strangers_host_header_changes_nothing_anyone_else_is_shown,
);

#[tokio::test]
async fn hook_url_says_plainly_when_the_public_url_is_not_known_yet() {
    let world = World::new(Backend::Sqlite).await;
    let out = crate::common::run(crate::common::agent_command(
        &world,
        &["hook-url"],
        &[("APP_URL", ""), ("WEBHOOK_SECRET", "s")],
    ))
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out).contains("does not know its public URL yet: set APP_URL"),
        "{}",
        text(&out)
    );
}
