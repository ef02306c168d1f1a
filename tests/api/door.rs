//! The front door: every public URL is answered by it alone, refusals
//! included, counted under its route's label, and none waits for a body.

use std::time::Duration as StdDuration;

use chrono::Duration;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{Backend, TestApp, World};

const ORIGIN: &str = "https://example.com";
const METRICS_TOKEN: &str = "door-metrics-0123";

async fn world() -> (World, TestApp) {
    let world = World::new(Backend::Sqlite).await;
    let cdn = world.fake.cdn_url();
    world.fake.set_options(|o| o.media_base_url = Some(cdn));
    let app = world
        .spawn(&[("MIRROR_POSTS", "2"), ("METRICS_TOKEN", METRICS_TOKEN)])
        .await;
    world.give_token(&app, "default", Duration::days(2)).await;
    (world, app)
}

/// The count of `route`'s answers with `status` on /metrics.
async fn counted(app: &TestApp, route: &str, status: u16) -> u64 {
    let text = app.metrics(METRICS_TOKEN).await.text().await.unwrap();
    let series =
        format!("token_agent_http_requests_total{{route=\"{route}\",status=\"{status}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0, |n| n.parse().unwrap())
}

#[tokio::test]
async fn every_public_url_is_counted_under_its_route_refusals_included() {
    let (_world, app) = world().await;
    let feed = app.get_from("/feed.json", Some(ORIGIN)).await;
    assert_eq!(feed.status(), StatusCode::OK);
    app.mirror_settled().await;
    let feed = app.get_from("/feed.json", Some(ORIGIN)).await;
    let body: serde_json::Value = feed.json().await.unwrap();
    let src = body["data"][0]["mirror"]["src"].as_str().expect("mirrored");
    let image = url::Url::parse(src).unwrap().path().to_string();

    for (path, origin, status) in [
        ("/token.json", Some(ORIGIN), 200),
        ("/accounts/default/token", Some(ORIGIN), 200),
        ("/token.json", Some("https://evil.net"), 403),
        ("/feed.json", None, 403),
        ("/feed.json?limit=0", Some(ORIGIN), 400),
        ("/hashtags/coffee/new.json", Some(ORIGIN), 404),
        (&image, Some(ORIGIN), 200),
        ("/media/default/1/0640.jpg", Some(ORIGIN), 400),
        ("/feed.html", Some(ORIGIN), 200),
        ("/embed.js", None, 200),
    ] {
        assert_eq!(
            app.get_from(path, origin).await.status().as_u16(),
            status,
            "{path}"
        );
    }
    for (route, status, n) in [
        ("token", 200, 2),
        ("token", 403, 1),
        ("feed", 200, 2),
        ("feed", 403, 1),
        ("feed", 400, 1),
        ("hashtags", 404, 1),
        ("media", 200, 1),
        ("media", 400, 1),
        ("embed", 200, 2),
        ("other", 200, 0),
    ] {
        assert_eq!(counted(&app, route, status).await, n, "{route} {status}");
    }
}

#[tokio::test]
async fn preflight_is_answered_for_the_allowed_sites_urls_and_other_methods_are_405() {
    let (_world, app) = world().await;
    for path in [
        "/token.json",
        "/feed.json",
        "/feed.html",
        "/hashtags/a/top.json",
    ] {
        let preflight = app
            .http
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("Origin", ORIGIN)
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), StatusCode::NO_CONTENT, "{path}");
        let headers = preflight.headers();
        assert_eq!(headers["access-control-allow-origin"], ORIGIN, "{path}");
        assert_eq!(
            headers["access-control-allow-methods"],
            "GET, HEAD, OPTIONS"
        );

        let post = app
            .http
            .post(app.url(path))
            .header("Origin", ORIGIN)
            .send()
            .await
            .unwrap();
        assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(post.headers()["access-control-allow-origin"], ORIGIN);
        let body: serde_json::Value = post.json().await.unwrap();
        assert_eq!(body["error"]["code"], "method_not_allowed");
    }
    // The embed's files are for any page, and only read.
    let options = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/embed.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(options.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        !options
            .headers()
            .contains_key("access-control-allow-origin")
    );
}

#[tokio::test]
async fn a_header_that_is_not_text_is_a_json_400_on_every_public_url() {
    let (_world, app) = world().await;
    for path in [
        "/token.json",
        "/feed.json",
        "/media/default/1/640.jpg",
        "/embed.js",
    ] {
        let answer = app
            .http
            .get(app.url(path))
            .header("Origin", ORIGIN)
            .header(
                "If-None-Match",
                reqwest::header::HeaderValue::from_bytes("\"é\"".as_bytes()).unwrap(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{path}");
        let body: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_header", "{path}");
    }
}

/// A public URL reads no body, so a body that never comes holds nothing:
/// the answer comes at once and the connection is not kept for the rest.
#[tokio::test]
async fn a_body_that_never_comes_holds_no_public_url() {
    let (_world, app) = world().await;
    for path in ["/token.json", "/feed.json", "/media/default/1/640.jpg"] {
        let mut conn = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nOrigin: {ORIGIN}\r\nContent-Length: 16000\r\n\r\n"
        );
        conn.write_all(head.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let read = tokio::time::timeout(StdDuration::from_secs(10), async {
            let mut buf = [0u8; 4096];
            loop {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        assert!(read.is_ok(), "{path}: the connection was held");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 405"), "{path}: {answer}");
    }
}
