//! The shortcuts ahead of the router answer exactly as the router does:
//! the token URLs' with the same status, headers and body for every
//! request it takes, leaving every refusal to the router; the feeds' with
//! the router's answer to every request it takes (hits, misses, refusals
//! by the handler), leaving the allow-list's refusals and other methods
//! and paths to the router.

use bytes::Bytes;
use chrono::Duration;
use fake_graph::Fault;
use http_body_util::BodyExt;
use token_agent::app::App;
use token_agent::http::{feed, media, token::Shortcut};
use warp::http::{HeaderMap, Request, Response};

use crate::common::{Backend, TestApp, World};

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

async fn world() -> (World, TestApp) {
    let world = World::new(Backend::Sqlite).await;
    let app = world.spawn(&[]).await;
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

async fn routed(app: &TestApp, (method, path, headers): &Asked) -> Response<Bytes> {
    let mut request = warp::test::request().method(method).path(path);
    for (name, value) in *headers {
        request = request.header(*name, *value);
    }
    request
        .reply(&token_agent::http::routes(app.app.clone()))
        .await
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
    let shortcut = Shortcut::new(app.app.clone());
    for asked in TAKEN {
        // Twice: the second answer comes from what the first one made.
        for _ in 0..2 {
            let short = shortcut
                .answer(&request(asked))
                .unwrap_or_else(|| panic!("{asked:?} was not taken"));
            assert_same(&short, &routed(&app, asked).await, asked);
        }
    }
}

#[tokio::test]
async fn the_shortcut_leaves_refusals_and_other_urls_to_the_router() {
    let (_world, app) = world().await;
    let shortcut = Shortcut::new(app.app.clone());
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
    let shortcut = Shortcut::new(app.app.clone());
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

const FEEDS_TAKEN: &[Asked] = &[
    ("GET", "/feed.json", &[("Origin", "https://example.com")]),
    ("HEAD", "/feed.json", &[("Origin", "https://example.com")]),
    (
        "GET",
        "/feed.json?limit=5&v=2",
        &[("Referer", "https://example.com/blog")],
    ),
    (
        "GET",
        "/feed.json?account=shop&limit=30",
        &[("Origin", "https://www.example.com")],
    ),
    (
        "GET",
        "/feed.json?type=IMAGE,VIDEO&q=a",
        &[("Origin", "https://example.com")],
    ),
    // The handler's refusals.
    (
        "GET",
        "/feed.json?type=REEL",
        &[("Origin", "https://example.com")],
    ),
    (
        "GET",
        "/feed.json?limit=0",
        &[("Origin", "https://example.com")],
    ),
    (
        "GET",
        "/feed.json?account=nobody",
        &[("Origin", "https://example.com")],
    ),
    (
        "GET",
        "/feed.json?after=forged",
        &[("Origin", "https://example.com")],
    ),
    (
        "GET",
        "/hashtags/coffee/recent.json?limit=3",
        &[("Origin", "https://example.com")],
    ),
    (
        "GET",
        "/hashtags/coffee/top.json",
        &[("Origin", "https://example.com")],
    ),
    (
        "GET",
        "/hashtags/tea/recent.json",
        &[("Origin", "https://example.com")],
    ),
    (
        "GET",
        "/hashtags/coffee/new.json",
        &[("Origin", "https://example.com")],
    ),
    (
        "GET",
        "/hashtags/caf%C3%A9%20au/recent.json",
        &[("Origin", "https://example.com")],
    ),
];

const FEEDS_LEFT_TO_THE_ROUTER: &[Asked] = &[
    ("GET", "/feed.json", &[]),
    ("GET", "/feed.json", &[("Origin", "https://evil.net")]),
    ("GET", "/feed.json", &[("Origin", "https://a.blog.net")]),
    (
        "OPTIONS",
        "/feed.json",
        &[("Origin", "https://example.com")],
    ),
    ("POST", "/feed.json", &[("Origin", "https://example.com")]),
    ("GET", "/feed.json/", &[("Origin", "https://example.com")]),
    (
        "GET",
        "/hashtags//recent.json",
        &[("Origin", "https://example.com")],
    ),
    (
        "GET",
        "/hashtags/coffee/recent.json/x",
        &[("Origin", "https://example.com")],
    ),
    (
        "GET",
        "/hashtags/coffee",
        &[("Origin", "https://example.com")],
    ),
];

/// Feeds for `default` and `shop`, and a Facebook-Login account for the
/// hashtag `coffee`.
async fn feed_world() -> (World, TestApp) {
    let world = World::new(Backend::Sqlite).await;
    let app = world.spawn(&[("HASHTAGS", "coffee")]).await;
    world.give_token(&app, "default", Duration::days(2)).await;
    world.give_token(&app, "shop", Duration::days(3)).await;
    world
        .add_facebook_account(&app, "cafe", "harbour_cafe", 4)
        .await;
    (world, app)
}

/// A shortcut's answer, its body read.
async fn collected(answer: warp::reply::Response) -> Response<Bytes> {
    let (parts, body) = answer.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Response::from_parts(parts, body)
}

/// The feed shortcut's answer to `asked`, if it takes it.
async fn feed_shortcut(shortcut: &feed::Shortcut, asked: &Asked) -> Option<Response<Bytes>> {
    Some(collected(shortcut.answer(&request(asked), None)?.await).await)
}

/// The same status, headers and body.
fn assert_same(short: &Response<Bytes>, routed: &Response<Bytes>, asked: &Asked) {
    assert_eq!(short.status(), routed.status(), "{asked:?}");
    assert_eq!(
        sorted(short.headers()),
        sorted(routed.headers()),
        "{asked:?}"
    );
    assert_eq!(short.body(), routed.body(), "{asked:?}");
}

#[tokio::test]
async fn the_feed_shortcut_answers_exactly_as_the_router() {
    let (world, app) = feed_world().await;
    let shortcut = feed::Shortcut::new(app.app.clone());
    let first = routed(&app, &FEEDS_TAKEN[0]).await;
    let body: serde_json::Value = serde_json::from_slice(first.body()).unwrap();
    let after = body["paging"]["cursors"]["after"].as_str().unwrap();
    let next_page = format!("/feed.json?after={after}");
    let next_page: Asked = (
        "GET",
        next_page.leak(),
        &[("Origin", "https://example.com")],
    );
    for asked in FEEDS_TAKEN.iter().chain([&next_page]) {
        // The first answer may be a miss; the next ones are hits, then
        // hits of a page a minute older.
        for round in 0..3 {
            let short = feed_shortcut(&shortcut, asked)
                .await
                .unwrap_or_else(|| panic!("{asked:?} was not taken"));
            assert_same(&short, &routed(&app, asked).await, asked);
            if round == 1 {
                world.clock.advance(Duration::minutes(1));
            }
        }
    }
}

#[tokio::test]
async fn feeds_served_by_the_shortcut_are_counted_in_the_metrics() {
    let (_world, app) = feed_world().await;
    let shortcut = feed::Shortcut::new(app.app.clone());
    for asked in [&FEEDS_TAKEN[0], &FEEDS_TAKEN[9], &FEEDS_TAKEN[11]] {
        feed_shortcut(&shortcut, asked).await.unwrap();
    }
    let text = app
        .metrics
        .render(&app.upstream, &app.board, app.clock.now());
    for counted in [
        "{route=\"feed\",status=\"200\"} 1",
        "{route=\"hashtags\",status=\"200\"} 1",
        "{route=\"hashtags\",status=\"404\"} 1",
    ] {
        assert!(
            text.contains(&format!("token_agent_http_requests_total{counted}")),
            "{counted}: {text}"
        );
    }
}

#[tokio::test]
async fn a_stale_copy_comes_from_the_feed_shortcut_as_from_the_router() {
    let (world, app) = feed_world().await;
    let shortcut = feed::Shortcut::new(app.app.clone());
    let asked = &FEEDS_TAKEN[0];
    assert!(routed(&app, asked).await.status().is_success());
    world.clock.advance(Duration::minutes(10));
    // One failure: it then stands for its key, for the router's request too.
    world.fake.inject("/me/media", Fault::Html(502), 1);
    let short = feed_shortcut(&shortcut, asked).await.unwrap();
    let routed = routed(&app, asked).await;
    assert_eq!(
        short.headers().get("warning"),
        routed.headers().get("warning")
    );
    assert!(short.headers().contains_key("warning"));
    assert_eq!(sorted(short.headers()), sorted(routed.headers()));
    assert_eq!(short.body(), routed.body());
}

#[tokio::test]
async fn the_feed_shortcut_leaves_the_allow_lists_refusals_and_other_urls_to_the_router() {
    let (_world, app) = feed_world().await;
    let shortcut = feed::Shortcut::new(app.app.clone());
    for asked in FEEDS_LEFT_TO_THE_ROUTER.iter().chain(TAKEN) {
        assert!(
            shortcut.answer(&request(asked), None).is_none(),
            "{asked:?}"
        );
    }
}

/// An agent whose six newest posts are mirrored, and the path of one copy.
async fn media_world() -> (World, TestApp, String) {
    let world = World::new(Backend::Sqlite).await;
    let cdn = world.fake.cdn_url();
    world.fake.set_options(|o| o.media_base_url = Some(cdn));
    let app = world.spawn(&[("MIRROR_POSTS", "6")]).await;
    world.give_token(&app, "default", Duration::days(2)).await;
    let feed: Asked = ("GET", "/feed.json", &[("Origin", "https://example.com")]);
    assert!(routed(&app, &feed).await.status().is_success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while app.mirror.busy() {
        assert!(std::time::Instant::now() < deadline, "never mirrored");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let body: serde_json::Value = serde_json::from_slice(routed(&app, &feed).await.body()).unwrap();
    let src = body["data"][0]["mirror"]["src"].as_str().expect("mirrored");
    let path = url::Url::parse(src).unwrap().path().to_string();
    (world, app, path)
}

/// The media shortcut's answer to `asked`, if it takes it.
async fn media_shortcut(shortcut: &media::Shortcut, asked: &Asked) -> Option<Response<Bytes>> {
    Some(collected(shortcut.answer(&request(asked))?.await).await)
}

#[tokio::test]
async fn the_media_shortcut_answers_exactly_as_the_router() {
    let (_world, app, path) = media_world().await;
    let shortcut = media::Shortcut::new(app.app.clone());
    let copy: &'static str = path.clone().leak();
    let first = routed(&app, &("GET", copy, &[("Origin", "https://example.com")])).await;
    assert_eq!(first.status(), 200);
    let etag: &'static str = first.headers()["etag"].to_str().unwrap().to_string().leak();
    let (dir, _) = path.rsplit_once('/').unwrap();
    let other_width: &'static str = format!("{dir}/641.jpg").leak();
    let not_jpeg: &'static str = format!("{dir}/640.png").leak();
    let held: &'static [(&str, &str)] =
        vec![("Origin", "https://example.com"), ("If-None-Match", etag)].leak();
    let taken: &[Asked] = &[
        ("GET", copy, &[("Origin", "https://example.com")]),
        ("HEAD", copy, &[("Origin", "https://example.com")]),
        ("GET", copy, &[("Referer", "https://www.example.com/blog")]),
        ("GET", copy, held),
        ("GET", other_width, &[("Origin", "https://example.com")]),
        ("GET", not_jpeg, &[("Origin", "https://example.com")]),
        (
            "GET",
            "/media/default/17999999999999999/640.jpg",
            &[("Origin", "https://example.com")],
        ),
        (
            "GET",
            "/media/nobody/1/640.jpg",
            &[("Origin", "https://example.com")],
        ),
    ];
    for asked in taken {
        let short = media_shortcut(&shortcut, asked)
            .await
            .unwrap_or_else(|| panic!("{asked:?} was not taken"));
        assert_same(&short, &routed(&app, asked).await, asked);
    }
    let served = || {
        let text = app
            .metrics
            .render(&app.upstream, &app.board, app.clock.now());
        let line = "token_agent_http_requests_total{route=\"media\",status=\"200\"} ";
        text.lines()
            .find_map(|l| l.strip_prefix(line))
            .map_or(0, |n| n.parse::<u64>().unwrap())
    };
    let before = served();
    let answers = taken.iter().map(|asked| media_shortcut(&shortcut, asked));
    let statuses: Vec<u16> = futures_util::future::join_all(answers)
        .await
        .into_iter()
        .map(|answer| answer.unwrap().status().as_u16())
        .collect();
    assert_eq!(statuses, [200, 200, 200, 304, 404, 400, 404, 404]);
    assert_eq!(served() - before, 3, "the shortcut's answers are counted");
}

#[tokio::test]
async fn the_media_shortcut_leaves_refusals_and_the_agents_own_page_to_the_router() {
    let (_world, app, path) = media_world().await;
    let shortcut = media::Shortcut::new(app.app.clone());
    let copy: &'static str = path.leak();
    let left: &[Asked] = &[
        ("GET", copy, &[]),
        ("GET", copy, &[("Origin", "https://evil.net")]),
        (
            "GET",
            copy,
            &[("Referer", "http://localhost/feed.html?limit=3")],
        ),
        ("POST", copy, &[("Origin", "https://example.com")]),
        (
            "GET",
            "/media/default/1",
            &[("Origin", "https://example.com")],
        ),
        (
            "GET",
            "/media/default/1/640.jpg/x",
            &[("Origin", "https://example.com")],
        ),
    ];
    for asked in left.iter().chain(TAKEN) {
        assert!(shortcut.answer(&request(asked)).is_none(), "{asked:?}");
    }
}
