//! `/feed.rss` for feed readers, and conditional requests on every feed
//! URL. A reader sends neither Origin nor Referer: `/feed.rss` and the
//! images it names answer such a request, from the same cache as
//! `/feed.json`, while a site not in ALLOWED_DOMAINS still gets 403. Each
//! feed answer carries an `ETag` per form (JSON, HTML, RSS) and a repeat
//! visitor's `If-None-Match` gets a 304 without the body.

use chrono::Duration;
use fake_graph::{FakeUser, MediaType};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, ETAG};

use crate::common::{Backend, TestApp, World, local};

/// The agent with an account of `posts` posts whose images the mirror
/// has copied.
async fn with_posts(backend: Backend, posts: usize) -> (World, TestApp, FakeUser) {
    let world = World::new(backend).await;
    let cdn = world.fake.cdn_url();
    world.fake.set_options(|o| o.media_base_url = Some(cdn));
    let app = world.spawn(&[("MIRROR_POSTS", "12")]).await;
    let user = world.add_instagram_account(&app, "studio", posts).await;
    (world, app, user)
}

/// The RSS document at `path`, as a reader fetches it: no Origin, no Referer.
async fn read_as_a_reader(app: &TestApp, path: &str) -> String {
    let res = app.get_with(path, &[]).await;
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    assert_eq!(
        res.headers()[CONTENT_TYPE],
        "application/rss+xml; charset=utf-8"
    );
    res.text().await.unwrap()
}

async fn a_feed_reader_gets_the_posts_and_their_copies(backend: Backend) {
    // Arrange: the feed read once, its images copied.
    let (world, app, _) = with_posts(backend, 6).await;
    let (status, feed) = app.json("/feed.json?account=studio").await;
    assert_eq!(status, StatusCode::OK);
    app.mirror_settled().await;
    let calls = world.fake.calls("/me/media");

    // Act
    let xml = read_as_a_reader(&app, "/feed.rss?account=studio").await;

    // Assert: one item per post, in order, each with its permalink, a
    // stable guid, its date and the agent's copy of its picture.
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let items: Vec<roxmltree::Node> = doc
        .descendants()
        .filter(|n| n.has_tag_name("item"))
        .collect();
    let posts = feed["data"].as_array().unwrap();
    assert_eq!(items.len(), posts.len());
    for (item, post) in items.iter().zip(posts) {
        let child = |name: &str| {
            item.children()
                .find(|n| n.has_tag_name(name))
                .and_then(|n| n.text())
                .map(str::to_string)
        };
        assert_eq!(child("link").as_deref(), post["permalink"].as_str());
        assert_eq!(
            child("guid"),
            Some(format!("instagram-media-{}", post["id"].as_str().unwrap()))
        );
        assert!(
            child("pubDate").is_some_and(|d| d.ends_with("+0000")),
            "{xml}"
        );
        let media = "http://search.yahoo.com/mrss/";
        let content = item
            .children()
            .find(|n| n.has_tag_name((media, "content")))
            .expect("media:content");
        let url = content.attribute("url").unwrap();
        assert!(
            url.starts_with("https://agent.example.com/media/studio/"),
            "{url}"
        );
        // The image answers a reader too.
        let image = app.get_with(&local(url), &[]).await;
        assert_eq!(image.status(), StatusCode::OK, "{url}");
        assert_eq!(image.headers()[CONTENT_TYPE], "image/jpeg");
    }
    assert_eq!(
        world.fake.calls("/me/media"),
        calls,
        "the RSS is the cached feed: no call upstream"
    );
}

async fn a_site_not_in_the_list_is_refused_even_for_rss(backend: Backend) {
    let (_world, app, _) = with_posts(backend, 3).await;
    app.json("/feed.json?account=studio").await;
    app.mirror_settled().await;
    let (_, feed) = app.json("/feed.json?account=studio").await;
    let image = local(feed["data"][0]["mirror"]["src"].as_str().unwrap());

    for headers in [
        [("Origin", "https://elsewhere.example")],
        [("Referer", "https://elsewhere.example/page")],
    ] {
        let rss = app.get_with("/feed.rss?account=studio", &headers).await;
        assert_eq!(rss.status(), StatusCode::FORBIDDEN, "{headers:?}");
        let copy = app.get_with(&image, &headers).await;
        assert_eq!(copy.status(), StatusCode::FORBIDDEN, "{headers:?}");
    }
    // And /feed.json still wants a site.
    let json = app.get_with("/feed.json?account=studio", &[]).await;
    assert_eq!(json.status(), StatusCode::FORBIDDEN);
}

async fn a_repeat_visitor_gets_304_for_each_form_until_the_feed_changes(backend: Backend) {
    // Arrange
    let (world, app, user) = with_posts(backend, 4).await;
    let mut tags = Vec::new();

    for path in [
        "/feed.json?account=studio",
        "/feed.html?account=studio",
        "/feed.rss?account=studio",
    ] {
        // Act: the first visit, then the same with its ETag.
        let first = app.get(path).await;
        assert_eq!(first.status(), StatusCode::OK, "{path}");
        let etag = first.headers()[ETAG].to_str().unwrap().to_string();
        let again = app
            .get_with(
                path,
                &[("Origin", "https://example.com"), ("If-None-Match", &etag)],
            )
            .await;

        // Assert: a 304 without a body, naming the same version.
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(again.headers()[ETAG], etag.as_str(), "{path}");
        assert!(again.headers().contains_key("cache-control"), "{path}");
        assert!(again.bytes().await.unwrap().is_empty(), "{path}");
        let other = app
            .get_with(
                path,
                &[
                    ("Origin", "https://example.com"),
                    ("If-None-Match", "\"older\""),
                ],
            )
            .await;
        assert_eq!(other.status(), StatusCode::OK, "{path}");
        tags.push(etag);
    }
    tags.sort();
    tags.dedup();
    assert_eq!(tags.len(), 3, "each form its own version: {tags:?}");

    // A new post, once the cache has expired: a new version.
    let before = app.get("/feed.json?account=studio").await.headers()[ETAG].clone();
    world.fake.add_post(&user, MediaType::Image, Some("new"));
    world.clock.advance(Duration::minutes(10));
    let after = app
        .get_with(
            "/feed.json?account=studio",
            &[
                ("Origin", "https://example.com"),
                ("If-None-Match", before.to_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(after.status(), StatusCode::OK);
    assert_ne!(after.headers()[ETAG], before);
}

async fn hashtag_feeds_answer_304_too(backend: Backend) {
    let world = World::new(backend).await;
    let app = world.spawn(&[("HASHTAGS", "coffee")]).await;
    world.add_facebook_account(&app, "default", "cafe", 4).await;

    let first = app.get("/hashtags/coffee/recent.json").await;
    assert_eq!(first.status(), StatusCode::OK);
    let etag = first.headers()[ETAG].to_str().unwrap().to_string();
    let again = app
        .get_with(
            "/hashtags/coffee/recent.json",
            &[("Origin", "https://example.com"), ("If-None-Match", &etag)],
        )
        .await;

    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(world.fake.calls("/ig_hashtag_search"), 1);
}

on_both_backends!(
    a_feed_reader_gets_the_posts_and_their_copies,
    a_site_not_in_the_list_is_refused_even_for_rss,
    a_repeat_visitor_gets_304_for_each_form_until_the_feed_changes,
    hashtag_feeds_answer_304_too,
);
