//! The token URLs' shortcut ahead of the router answers exactly as the
//! router does: same status, headers and body for every request it takes,
//! and it leaves every refusal to the router.

use std::sync::Arc;

use bytes::Bytes;
use chrono::Duration;
use token_agent::app::App;
use token_agent::http::token::Shortcut;
use warp::http::{HeaderMap, Request, Response};

use crate::common::{Backend, World};

/// A request as (method, path, headers).
type Asked = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const TAKEN: &[Asked] = &[
    ("GET", "/token.json", &[("Origin", "https://example.com")]),
    (
        "GET",
        "/token.json",
        &[("Origin", " http://localhost:8080 ")],
    ),
    (
        "GET",
        "/token.json",
        &[
            ("Origin", "https://www.example.com"),
            ("Referer", "https://evil.net/"),
        ],
    ),
    (
        "GET",
        "/token.json",
        &[("Origin", ""), ("Referer", "https://example.com/blog?x=1")],
    ),
    ("GET", "/token.json", &[("Referer", "https://example.com")]),
    (
        "GET",
        "/token.js",
        &[("Referer", "https://example.com/page.html")],
    ),
    (
        "GET",
        "/token.js?const=Ig",
        &[("Referer", "https://example.com#top")],
    ),
    (
        "GET",
        "/token.js?const=Ig",
        &[("Origin", "https://example.com")],
    ),
    (
        "GET",
        "/token.js?other=1&const=Other_2",
        &[("Origin", "https://example.com")],
    ),
    ("GET", "/token.js?", &[("Origin", "https://example.com")]),
    ("GET", "/token", &[("Origin", "https://example.com")]),
    ("HEAD", "/token.json", &[("Origin", "https://example.com")]),
    (
        "HEAD",
        "/accounts/shop/token.js",
        &[("Origin", "https://example.com")],
    ),
    (
        "GET",
        "/accounts/shop/token",
        &[("Origin", "https://example.com")],
    ),
    (
        "OPTIONS",
        "/token.json",
        &[("Origin", "https://example.com")],
    ),
    (
        "OPTIONS",
        "/accounts/nobody/token",
        &[("Origin", "https://example.com")],
    ),
    (
        "GET",
        "/token.json",
        &[
            ("Origin", "https://example.com"),
            ("If-None-Match", "W/\"x\", *"),
        ],
    ),
    (
        "GET",
        "/token.js",
        &[
            ("Origin", "https://example.com"),
            ("If-None-Match", "\"stale\""),
        ],
    ),
];

const LEFT_TO_THE_ROUTER: &[Asked] = &[
    // Refusals by the allow-list.
    ("GET", "/token.json", &[]),
    ("GET", "/token.json", &[("Origin", "https://evil.net")]),
    (
        "GET",
        "/token.json",
        &[("Origin", "null"), ("Referer", "https://example.com/")],
    ),
    (
        "GET",
        "/token.json",
        &[("Origin", "https://example.com.evil.net")],
    ),
    (
        "GET",
        "/token.json",
        &[("Referer", "https://example.com.evil.net/")],
    ),
    (
        "GET",
        "/token.json",
        &[("Referer", "https://example.com@evil.net/")],
    ),
    ("GET", "/token.json", &[("Origin", "HTTPS://EXAMPLE.COM")]),
    // Allowed, but not by a known origin: the allow-list decides.
    ("GET", "/token.json", &[("Origin", "https://a.blog.net")]),
    // Bad const, unknown account, other methods and paths.
    (
        "GET",
        "/token.js?const=window",
        &[("Origin", "https://example.com")],
    ),
    (
        "GET",
        "/token.js?const=%3Cscript%3E",
        &[("Origin", "https://example.com")],
    ),
    (
        "GET",
        "/accounts/nobody/token.json",
        &[("Origin", "https://example.com")],
    ),
    ("POST", "/token.json", &[("Origin", "https://example.com")]),
    ("GET", "/token.json/x", &[("Origin", "https://example.com")]),
    ("GET", "/feed.json", &[("Origin", "https://example.com")]),
];

async fn world() -> (World, Arc<App>) {
    let world = World::new(Backend::Sqlite).await;
    let app = world.app(&[]).await;
    world.give_token(&app, "default", Duration::days(2)).await;
    world.give_token(&app, "shop", Duration::days(3)).await;
    (world, app)
}

fn request((method, path, headers): &Asked) -> Request<()> {
    let mut request = Request::builder().method(*method).uri(*path);
    for (name, value) in *headers {
        request = request.header(*name, *value);
    }
    request.body(()).unwrap()
}

async fn routed(app: &Arc<App>, (method, path, headers): &Asked) -> Response<Bytes> {
    let mut request = warp::test::request().method(method).path(path);
    for (name, value) in *headers {
        request = request.header(*name, *value);
    }
    request.reply(&token_agent::http::routes(app.clone())).await
}

fn sorted(headers: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    let mut all: Vec<_> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect();
    all.sort();
    all
}

#[tokio::test]
async fn the_shortcut_answers_exactly_as_the_router() {
    let (_world, app) = world().await;
    let shortcut = Shortcut::new(app.clone());
    for asked in TAKEN {
        // Twice: the second answer comes from what the first one made.
        for _ in 0..2 {
            let short = shortcut
                .answer(&request(asked))
                .unwrap_or_else(|| panic!("{asked:?} was not taken"));
            let routed = routed(&app, asked).await;
            assert_eq!(short.status(), routed.status(), "{asked:?}");
            assert_eq!(
                sorted(short.headers()),
                sorted(routed.headers()),
                "{asked:?}"
            );
            assert_eq!(short.body(), routed.body(), "{asked:?}");
        }
    }
}

#[tokio::test]
async fn the_shortcut_leaves_refusals_and_other_urls_to_the_router() {
    let (_world, app) = world().await;
    let shortcut = Shortcut::new(app.clone());
    for asked in LEFT_TO_THE_ROUTER {
        assert!(shortcut.answer(&request(asked)).is_none(), "{asked:?}");
    }
    // A header that is not text is the router's 400, not a guess.
    let mut odd = request(&("GET", "/token.json", &[("Origin", "https://example.com")]));
    odd.headers_mut().insert(
        "if-none-match",
        warp::http::HeaderValue::from_bytes("\"é\"".as_bytes()).unwrap(),
    );
    assert!(shortcut.answer(&odd).is_none());
}

#[tokio::test]
async fn without_allowed_domains_nothing_is_taken() {
    let world = World::new(Backend::Sqlite).await;
    let mut config = world.config(&[]);
    config.allowed_domains = None;
    let app = App::open(config, world.clock.clone()).await.unwrap();
    world.give_token(&app, "default", Duration::days(2)).await;
    let shortcut = Shortcut::new(app);
    let asked = (
        "GET",
        "/token.json",
        &[("Origin", "https://example.com")][..],
    );
    assert!(shortcut.answer(&request(&asked)).is_none());
}

#[tokio::test]
async fn a_token_served_by_the_shortcut_is_counted_in_the_metrics() {
    let (_world, app) = world().await;
    let shortcut = Shortcut::new(app.clone());
    let asked = (
        "GET",
        "/token.json",
        &[("Origin", "https://example.com")][..],
    );
    shortcut.answer(&request(&asked)).unwrap();
    let text = app
        .metrics
        .render(&app.upstream, &app.board, app.clock.now());
    assert!(
        text.contains("token_agent_http_requests_total{route=\"token\",status=\"200\"} 1"),
        "{text}"
    );
}
