//! `account=a,b`: several accounts' posts in one feed, newest first, paged
//! with cursors as today's, each account costing what its own feed costs.

use std::collections::HashSet;

use fake_graph::MediaType;
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{Backend, TestApp, World, local};

/// The items' ids and timestamps of a merged page, and its next link.
fn page(body: &Value) -> (Vec<(String, String)>, Option<String>) {
    let items = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_string(),
                i["timestamp"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (items, body["paging"]["next"].as_str().map(local))
}

async fn get(app: &TestApp, path: &str) -> Value {
    let (status, body) = app.json(path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

async fn two_accounts_merge_newest_first_and_page_to_the_end(backend: Backend) {
    // Arrange: a shop of 7 posts and a brand of 5, their times interleaved.
    let world = World::new(backend).await;
    let app = world.spawn(&[]).await;
    let shop = world.add_instagram_account(&app, "shop", 7).await;
    let brand = world
        .add_facebook_account(&app, "brand", "brand_ig", 5)
        .await;
    let newest = world
        .fake
        .add_post(&brand, MediaType::Image, Some("newest"));
    let mut all: Vec<(String, String)> = world
        .fake
        .media_of(&shop)
        .into_iter()
        .chain(world.fake.media_of(&brand))
        .map(|m| {
            (
                m.id.clone(),
                m.timestamp.format("%Y-%m-%dT%H:%M:%S%z").to_string(),
            )
        })
        .collect();
    all.sort_by(|a, b| b.1.cmp(&a.1));

    // Act: pages of 5 to the end.
    let mut seen = Vec::new();
    let mut next = Some("/feed.json?account=shop,brand&limit=5".to_string());
    let mut pages = 0;
    while let Some(path) = next {
        let (items, link) = page(&get(&app, &path).await);
        assert!(items.len() <= 5);
        seen.extend(items);
        next = link;
        pages += 1;
        assert!(pages < 10, "the pages never end");
    }
    let media_calls =
        world.fake.calls("/me/media") + world.fake.calls(&format!("/{}/media", brand.ig_user_id));

    // Assert: every post once, newest first, the newest the brand's.
    assert_eq!(seen[0].0, newest.id);
    assert_eq!(seen.len(), 13);
    assert_eq!(seen.iter().map(|s| &s.0).collect::<HashSet<_>>().len(), 13);
    let ids: Vec<&String> = seen.iter().map(|s| &s.0).collect();
    let expected: Vec<&String> = all.iter().map(|s| &s.0).collect();
    assert_eq!(ids, expected);
    assert_eq!(pages, 3);
    // Each account's one upstream page, as its own feed would cost.
    assert_eq!(media_calls, 2);
}

async fn merged_feeds_reach_the_frame_and_the_rss_and_bad_lists_are_400(backend: Backend) {
    let world = World::new(backend).await;
    let app = world.spawn(&[]).await;
    world.add_instagram_account(&app, "shop", 3).await;
    world.add_instagram_account(&app, "team", 2).await;

    let html = app.get("/feed.html?account=shop,team&limit=5").await;
    assert_eq!(html.status(), StatusCode::OK);
    let html = html.text().await.unwrap();
    assert_eq!(html.matches("class=\"ta-feed__item\"").count(), 5, "{html}");
    let rss = app.get("/feed.rss?account=shop,team").await;
    assert_eq!(rss.status(), StatusCode::OK);
    let xml = rss.text().await.unwrap();
    assert_eq!(xml.matches("<item>").count(), 5);
    assert!(
        xml.contains("<title>@shop, @team on Instagram</title>")
            || xml.contains("<title>@team, @shop on Instagram</title>"),
        "{xml}"
    );

    let eleven: Vec<String> = (0..11).map(|i| format!("a{i}")).collect();
    for path in [
        format!("/feed.json?account={}", eleven.join(",")),
        "/feed.json?account=shop,../x".to_string(),
        "/hashtags/coffee/top.json?account=shop,team".to_string(),
    ] {
        let (status, body) = app.json(&path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"]["code"], "invalid_account");
    }
    // A cursor of the merged feed is refused by another list, and a
    // single account's cursor by the merged feed.
    let first = get(&app, "/feed.json?account=shop,team&limit=2").await;
    let cursor = first["paging"]["cursors"]["after"].as_str().unwrap();
    let (status, _) = app
        .json(&format!(
            "/feed.json?account=team,shop&limit=2&after={cursor}"
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let single = get(&app, "/feed.json?account=shop&limit=1").await;
    let own = single["paging"]["cursors"]["after"].as_str().unwrap();
    let (status, _) = app
        .json(&format!("/feed.json?account=shop,team&limit=2&after={own}"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn a_filter_that_leaves_an_account_empty_still_ends(backend: Backend) {
    // The team has no album at all; the shop has one.
    let world = World::new(backend).await;
    let app = world.spawn(&[]).await;
    world.add_instagram_account(&app, "shop", 7).await;
    world.add_instagram_account(&app, "team", 2).await;

    let mut next = Some("/feed.json?account=shop,team&type=CAROUSEL_ALBUM&limit=5".to_string());
    let (mut pages, mut seen) = (0, 0);
    while let Some(path) = next {
        let (items, link) = page(&get(&app, &path).await);
        seen += items.len();
        next = link;
        pages += 1;
        assert!(pages <= 3, "the pages never end");
    }

    assert_eq!(seen, 1);
}

on_both_backends!(
    a_filter_that_leaves_an_account_empty_still_ends,
    two_accounts_merge_newest_first_and_page_to_the_end,
    merged_feeds_reach_the_frame_and_the_rss_and_bad_lists_are_400,
);
