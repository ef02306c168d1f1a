//! The token URLs over real HTTP: allow-list, formats, CORS, caching.

use crate::common::{Backend, Rig, World};
use chrono::Duration;
use reqwest::StatusCode;

async fn setup(backend: Backend, extra: &[(&str, &str)]) -> Rig {
    let world = World::new(backend).await;
    let app = world.spawn(extra).await;
    let token = world.give_token(&app, "default", Duration::days(2)).await;
    world.give_token(&app, "shop", Duration::days(3)).await;
    Rig { world, app, token }
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn error_code(res: reqwest::Response) -> String {
    let body: serde_json::Value = res.json().await.unwrap();
    body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn an_allowed_origin_gets_the_token_as_json_with_cors(backend: Backend) {
    let s = setup(backend, &[]).await;
    let res = s
        .app
        .get_with("/token.json", &[("Origin", "https://example.com")])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        header(&res, "access-control-allow-origin"),
        Some("https://example.com")
    );
    assert_eq!(header(&res, "vary"), Some("Origin"));
    assert!(
        header(&res, "content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["token"], s.token.as_str());
    let expires =
        chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        expires,
        s.world.clock.now() - Duration::days(2) + Duration::days(60)
    );
}

async fn every_listed_domain_works_and_others_are_refused(backend: Backend) {
    let s = setup(backend, &[]).await;
    for origin in [
        "https://example.com",
        "https://www.example.com",
        "http://localhost:8080",
        "https://photos.blog.net",
    ] {
        let res = s.app.get_with("/token.json", &[("Origin", origin)]).await;
        assert_eq!(res.status(), StatusCode::OK, "{origin}");
        assert_eq!(header(&res, "access-control-allow-origin"), Some(origin));
    }
    for origin in [
        "https://example.com.evil.net",
        "http://example.com",
        "https://evil.com",
        "http://localhost:8081",
        "https://blog.net",
        "null",
    ] {
        let res = s.app.get_with("/token.json", &[("Origin", origin)]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{origin}");
        assert_eq!(header(&res, "access-control-allow-origin"), None);
        assert_eq!(header(&res, "vary"), None.or(header(&res, "vary")));
        let body = res.text().await.unwrap();
        assert!(!body.contains(&s.token), "{origin} got the token");
    }
}

async fn a_script_include_is_checked_by_its_referer(backend: Backend) {
    let s = setup(backend, &[]).await;
    let res = s
        .app
        .get_with(
            "/token.js",
            &[("Referer", "https://www.example.com/blog/post?x=1")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        header(&res, "content-type")
            .unwrap()
            .starts_with("application/javascript")
    );
    assert_eq!(
        res.text().await.unwrap(),
        format!("const InstagramToken = \"{}\";\n", s.token)
    );

    let res = s
        .app
        .get_with(
            "/token.js",
            &[("Referer", "https://evil.com/?https://example.com")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "origin_not_allowed");
}

async fn requests_naming_no_site_are_refused_unless_allowed(backend: Backend) {
    let s = setup(backend, &[]).await;
    let res = s.app.get_with("/token.json", &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "origin_required");

    let s = setup(backend, &[("ALLOW_EMPTY_REFERER", "true")]).await;
    let res = s.app.get_with("/token", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "access-control-allow-origin"), None);
    assert_eq!(res.text().await.unwrap(), s.token);
}

async fn no_token_is_served_before_allowed_domains_is_set(backend: Backend) {
    let world = World::new(backend).await;
    let app = world
        .spawner(&[])
        .config(|config| config.allowed_domains = None)
        .start()
        .await;
    let token = world.give_token(&app, "default", Duration::days(2)).await;
    let res = app.token_json().await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body = res.text().await.unwrap();
    assert!(body.contains("allowed_domains_unset") && body.contains("ALLOWED_DOMAINS"));
    assert!(!body.contains(&token));
}

async fn token_js_takes_a_safe_constant_name_and_never_echoes_a_bad_one(backend: Backend) {
    let s = setup(backend, &[]).await;
    let origin = [("Origin", "https://example.com")];
    let res = s.app.get_with("/token.js?const=IG_TOKEN$2", &origin).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.text()
            .await
            .unwrap()
            .starts_with("const IG_TOKEN$2 = \"")
    );

    for bad in [
        "alert(1)",
        "%3C%2Fscript%3E",
        "class",
        "9lives",
        "",
        "a%20b",
        "x".repeat(65).as_str(),
    ] {
        let res = s
            .app
            .get_with(&format!("/token.js?const={bad}"), &origin)
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        assert!(
            header(&res, "content-type")
                .unwrap()
                .starts_with("application/json")
        );
        let body = res.text().await.unwrap();
        assert!(!body.contains(&s.token));
        if bad.len() > 3 {
            assert!(!body.contains(bad), "{bad} was echoed: {body}");
        }
        assert!(body.contains("invalid_const"));
    }
}

async fn named_accounts_have_their_own_urls(backend: Backend) {
    let s = setup(backend, &[]).await;
    let origin = [("Origin", "https://example.com")];
    let shop: serde_json::Value = s
        .app
        .get_with("/accounts/shop/token.json", &origin)
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(shop["token"], s.token.as_str());
    let text = s
        .app
        .get_with("/accounts/shop/token", &origin)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(shop["token"], text.as_str());
    let js = s
        .app
        .get_with("/accounts/shop/token.js?const=Shop", &origin)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(js, format!("const Shop = \"{text}\";\n"));
    let default = s
        .app
        .get_with("/accounts/default/token", &origin)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(default, s.token);

    let res = s.app.get_with("/accounts/nobody/token.json", &origin).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(res).await, "unknown_account");
    let res = s.app.get_with("/nothing-here", &origin).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(res).await, "not_found");
}

async fn an_unchanged_token_answers_304_and_caching_is_bounded(backend: Backend) {
    let s = setup(backend, &[]).await;
    let origin = ("Origin", "https://example.com");
    let res = s.app.get_with("/token.json", &[origin]).await;
    let etag = header(&res, "etag").unwrap().to_string();
    let cache = header(&res, "cache-control").unwrap().to_string();
    let max_age: i64 = cache
        .strip_prefix("private, max-age=")
        .unwrap()
        .parse()
        .unwrap();
    assert!((0..=86_400).contains(&max_age), "{cache}");

    let res = s
        .app
        .get_with("/token.json", &[origin, ("If-None-Match", &etag)])
        .await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&res, "etag"), Some(etag.as_str()));
    assert_eq!(
        header(&res, "access-control-allow-origin"),
        Some("https://example.com")
    );
    assert!(res.bytes().await.unwrap().is_empty());

    let res = s
        .app
        .get_with("/token.json", &[origin, ("If-None-Match", "\"other\"")])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

async fn cors_preflight_is_answered_for_allowed_origins_only(backend: Backend) {
    let s = setup(backend, &[]).await;
    let preflight = |origin: &'static str| {
        s.app
            .http
            .request(reqwest::Method::OPTIONS, s.app.url("/token.json"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .send()
    };
    let res = preflight("https://www.example.com").await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        header(&res, "access-control-allow-origin"),
        Some("https://www.example.com")
    );
    assert!(
        header(&res, "access-control-allow-methods")
            .unwrap()
            .contains("GET")
    );
    assert_eq!(header(&res, "vary"), Some("Origin"));
    let res = preflight("https://evil.com").await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

async fn healthz_reports_the_database(backend: Backend) {
    let s = setup(backend, &[]).await;
    let res = s.app.get_with("/healthz", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["accounts"], 2);
}

async fn token_urls_keep_answering_when_the_database_is_gone(backend: Backend) {
    let s = setup(backend, &[]).await;
    let app = s.world.spawn(&[]).await;
    app.store.close().await;
    let res = s.app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert!(!body["database"].as_str().unwrap().is_empty());
    for _ in 0..20 {
        let res = s
            .app
            .http
            .get(app.url("/token.json"))
            .header("Origin", "https://example.com")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["token"], s.token.as_str());
    }
}

on_both_backends!(
    token_urls_keep_answering_when_the_database_is_gone,
    an_allowed_origin_gets_the_token_as_json_with_cors,
    every_listed_domain_works_and_others_are_refused,
    a_script_include_is_checked_by_its_referer,
    requests_naming_no_site_are_refused_unless_allowed,
    no_token_is_served_before_allowed_domains_is_set,
    token_js_takes_a_safe_constant_name_and_never_echoes_a_bad_one,
    named_accounts_have_their_own_urls,
    an_unchanged_token_answers_304_and_caching_is_bounded,
    cors_preflight_is_answered_for_allowed_origins_only,
    healthz_reports_the_database,
);
