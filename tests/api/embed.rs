//! `/embed.js`, `/embed.css` and `/feed.html`: headers, escaping, the
//! allow-list and its frame policy, and `/feed.json`'s 400s.

use std::collections::BTreeSet;

use crate::common::{Backend, Rig, World};
use chrono::Duration;
use fake_graph::{Fault, MediaType};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

const SITE: &str = "https://example.com/";
const CAPTION: &str = "<script>alert(\"x\")</script> & 'quotes' #bakery";

async fn setup(backend: Backend) -> Rig {
    let world = World::new(backend).await;
    world
        .fake
        .add_post(&world.user, MediaType::Image, Some(CAPTION));
    let app = world.spawn(&[]).await;
    let token = world.give_token(&app, "default", Duration::days(2)).await;
    Rig { world, app, token }
}

/// GET `path` as a frame on `referer` would ask for it.
async fn get(s: &Rig, path: &str, referer: Option<&str>) -> reqwest::Response {
    let mut request = s.app.http.get(s.app.url(path));
    if let Some(referer) = referer {
        request = request.header("Referer", referer);
    }
    request.send().await.unwrap()
}

/// Status, headers and body of [`get`], with no token in it.
async fn text(s: &Rig, path: &str, referer: Option<&str>) -> (StatusCode, HeaderMap, String) {
    let res = get(s, path, referer).await;
    let (status, headers) = (res.status(), res.headers().clone());
    let text = res.text().await.unwrap();
    assert!(!text.contains(&s.token), "a body has the token: {text}");
    assert!(!text.contains("access_token"), "{text}");
    (status, headers, text)
}

/// The attributes of every `<tag …>` in `html`, in order, as written.
fn tags(html: &str, tag: &str) -> Vec<String> {
    html.split(&format!("<{tag} "))
        .skip(1)
        .map(|rest| rest.split('>').next().unwrap_or_default().to_string())
        .collect()
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].replace("&#38;", "&"))
}

#[tokio::test]
async fn the_embed_files_are_cacheable_and_revalidate() {
    let s = setup(Backend::Sqlite).await;
    // A script holds no data: any page may load it.
    let res = get(&s, "/embed.js", Some("https://stranger.example/")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let headers = res.headers().clone();
    assert_eq!(
        headers["content-type"],
        "application/javascript; charset=utf-8"
    );
    assert_eq!(headers["cache-control"], "public, max-age=3600");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let script = res.text().await.unwrap();
    for banned in [
        "eval(",
        "new Function",
        "innerHTML",
        ".style",
        "insertAdjacentHTML",
    ] {
        assert!(!script.contains(banned), "embed.js uses {banned}");
    }
    assert!(script.contains("document.currentScript"));
    let again = s
        .app
        .http
        .get(s.app.url("/embed.js"))
        .header("If-None-Match", headers["etag"].clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(again.bytes().await.unwrap().is_empty());

    let css = get(&s, "/embed.css", None).await;
    assert_eq!(css.status(), StatusCode::OK);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert!(css.headers().contains_key("etag"));
    assert!(css.text().await.unwrap().contains(".ta-feed__grid"));
    assert_eq!(s.world.fake.total_calls(), 0, "no upstream call for files");
}

async fn the_frame_renders_the_feed_escaped_and_framed_only_by_allowed_sites(backend: Backend) {
    let s = setup(backend).await;
    let (status, headers, html) = text(&s, "/feed.html?limit=4", Some(SITE)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains(
            "frame-ancestors https://example.com https://www.example.com http://localhost:8080 https://*.blog.net;"
        ),
        "{csp}"
    );
    assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"));
    assert!(!headers.contains_key("x-frame-options"));
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public, max-age=")
    );
    assert_eq!(headers["vary"], "Origin, Referer");

    // Escaped: the caption is an intact alt, and no markup of its own.
    assert!(!html.contains("<script"), "{html}");
    let images = tags(&html, "img");
    assert_eq!(images.len(), 4, "{html}");
    let first = &images[0];
    assert!(
        first.contains(
            r#"alt="&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; &#39;quotes&#39; #bakery""#
        ),
        "{first}"
    );
    for img in &images {
        for wanted in [
            "loading=\"lazy\"",
            "decoding=\"async\"",
            "width=\"1080\"",
            "height=\"1080\"",
        ] {
            assert!(img.contains(wanted), "{wanted} in {img}");
        }
    }
    let links = tags(&html, "a");
    let posts: Vec<&String> = links
        .iter()
        .filter(|a| a.contains("ta-feed__link"))
        .collect();
    assert_eq!(posts.len(), 4);
    assert!(
        posts
            .iter()
            .all(|a| a.contains(r#"rel="noopener" target="_top""#))
    );
    assert!(html.contains(r#"<link rel="stylesheet" href="/embed.css">"#));

    // The same posts as feed.json, in the same order.
    let (_, _, json) = text(&s, "/feed.json?limit=4", Some(SITE)).await;
    let json: Value = serde_json::from_str(&json).unwrap();
    let from_json: Vec<String> = json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["permalink"].as_str().unwrap().to_string())
        .collect();
    let from_html: Vec<String> = posts.iter().map(|a| attr(a, "href").unwrap()).collect();
    assert_eq!(from_html, from_json);

    // "Load more" is the next page of the frame: the frame asks for it
    // with its own URL as the Referer.
    let more = links
        .iter()
        .find(|a| a.contains("ta-feed__more"))
        .expect("a Load more link");
    let next = attr(more, "href").unwrap();
    assert!(next.starts_with("?limit=4&after="), "{next}");
    let own = s.app.url("/feed.html?limit=4");
    let (status, _, second) = text(&s, &format!("/feed.html{next}"), Some(&own)).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let seen: BTreeSet<String> = from_html.into_iter().collect();
    let later: Vec<String> = tags(&second, "a")
        .iter()
        .filter_map(|a| attr(a, "href"))
        .filter(|h| h.starts_with("http"))
        .collect();
    assert_eq!(later.len(), 4);
    assert!(later.iter().all(|h| !seen.contains(h)), "a later page");
}

async fn the_frame_obeys_the_allow_list(backend: Backend) {
    let s = setup(backend).await;
    let elsewhere = s.app.url("/");
    for referer in [
        Some("https://evil.example/"),
        Some("https://example.com.evil.net/feed.html"),
        // The agent's own pages other than the frame vouch for nothing.
        Some(elsewhere.as_str()),
        None,
    ] {
        let (status, _, body) = text(&s, "/feed.html", referer).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{referer:?}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert!(body["error"]["code"].is_string(), "{body}");
    }
    assert_eq!(s.world.fake.total_calls(), 0);
}

async fn bad_parameters_get_the_feeds_400_and_a_missing_feed_a_polite_page(backend: Backend) {
    let s = setup(backend).await;
    // The last, well formed but not signed by this agent, is found out
    // only by the feed itself.
    for query in [
        "limit=0",
        "limit=ten",
        "account=a%2Fb",
        "after=%3Cx%3E",
        "after=BOGUS1",
    ] {
        let (status, headers, html_body) =
            text(&s, &format!("/feed.html?{query}"), Some(SITE)).await;
        let (json_status, _, json_body) =
            text(&s, &format!("/feed.json?{query}"), Some(SITE)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(json_status, StatusCode::BAD_REQUEST);
        assert_eq!(html_body, json_body, "{query}");
    }
    assert_eq!(s.world.fake.total_calls(), 0);

    let (status, headers, html) = text(&s, "/feed.html?account=nobody", Some(SITE)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(html.contains("ta-feed--error") && html.contains("cannot be shown right now"));
    assert!(!html.contains("nobody"), "no details for a visitor: {html}");

    s.world.fake.inject("/me/media", Fault::Html(503), 1);
    let (status, _, html) = text(&s, "/feed.html", Some(SITE)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(html.contains("ta-feed--error"));
    assert!(!html.contains("<img"));
}

on_both_backends!(
    the_frame_renders_the_feed_escaped_and_framed_only_by_allowed_sites,
    the_frame_obeys_the_allow_list,
    bad_parameters_get_the_feeds_400_and_a_missing_feed_a_polite_page,
);
