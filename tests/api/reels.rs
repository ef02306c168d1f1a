//! Reels and trial reels: what Instagram's own grid shows followers. Trial
//! reels (`is_shared_to_feed: false`, shown only to non-followers) are left
//! out of the feed and the image copies unless FEED_TRIAL_REELS=include,
//! without costing a visitor posts; reels carry `media_product_type` and
//! are chosen by `type=REELS`.

use fake_graph::MediaType;
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{Backend, TestApp, World};

/// The ids in `/feed.json` at `path`, and the body.
async fn feed(app: &TestApp, path: &str) -> (Vec<String>, Value) {
    let (status, body) = app.json(path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    let ids = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_string())
        .collect();
    (ids, body)
}

async fn trial_reels_are_left_out_without_costing_a_visitor_posts(backend: Backend) {
    // Arrange: 50 posts, then three trial reels, the newest: Instagram's
    // first page of 50 holds the three and 47 posts.
    let world = World::new(backend).await;
    let cdn = world.fake.cdn_url();
    world.fake.set_options(|o| o.media_base_url = Some(cdn));
    let app = world.spawn(&[("MIRROR_POSTS", "6")]).await;
    let user = world.add_instagram_account(&app, "studio", 50).await;
    let trials: Vec<String> = (0..3)
        .map(|i| {
            let caption = format!("trial {i}");
            world.fake.add_trial_reel(&user, Some(&caption)).id
        })
        .collect();
    let grid: Vec<String> = world
        .fake
        .media_of(&user)
        .into_iter()
        .filter(|m| m.shared_to_feed != Some(false))
        .map(|m| m.id)
        .collect();
    assert_eq!(grid.len(), 50);

    // Act
    let (ids, body) = feed(&app, "/feed.json?account=studio&limit=50").await;

    // Assert: the grid's fifty, in order, the last three from the next page.
    assert_eq!(ids, grid);
    assert!(body["data"].as_array().unwrap().iter().all(|item| {
        item["media_product_type"] == "FEED" || item["media_product_type"] == "REELS"
    }));
    assert!(ids.iter().all(|id| !trials.contains(id)));
    // Nor are their images copied.
    app.mirror_settled().await;
    assert!(app.mirror.covers("studio", &grid[0]));
    for trial in &trials {
        assert!(!app.mirror.covers("studio", trial), "{trial}");
    }
}

async fn an_owner_may_serve_trial_reels_too(backend: Backend) {
    let world = World::new(backend).await;
    let app = world.spawn(&[("FEED_TRIAL_REELS", "include")]).await;
    let user = world.add_instagram_account(&app, "studio", 4).await;
    let trial = world.fake.add_trial_reel(&user, Some("for new eyes")).id;

    let (ids, body) = feed(&app, "/feed.json?account=studio").await;

    assert_eq!(ids.len(), 5);
    assert_eq!(ids[0], trial);
    assert_eq!(body["data"][0]["is_shared_to_feed"], false);
    assert_eq!(body["data"][0]["media_product_type"], "REELS");
}

async fn reels_are_told_apart_and_a_missing_field_means_shared(backend: Backend) {
    let world = World::new(backend).await;
    let app = world.spawn(&[]).await;
    let user = world.add_instagram_account(&app, "studio", 5).await;
    // A reel from before Instagram sent `is_shared_to_feed` stays.
    let old_reel = world
        .fake
        .add_post(&user, MediaType::Video, Some("old reel"));
    world.fake.without_shared_to_feed(&old_reel.id);
    let reels: Vec<String> = world
        .fake
        .media_of(&user)
        .into_iter()
        .filter(|m| m.media_product_type() == "REELS")
        .map(|m| m.id)
        .collect();
    assert!(reels.len() >= 2, "{reels:?}");

    let (all, _) = feed(&app, "/feed.json?account=studio").await;
    let (only, _) = feed(&app, "/feed.json?account=studio&type=REELS").await;
    let (videos, _) = feed(&app, "/feed.json?account=studio&type=VIDEO").await;
    let (others, _) = feed(&app, "/feed.json?account=studio&exclude=reels").await;

    assert_eq!(all.len(), 6);
    assert!(all.contains(&old_reel.id));
    assert_eq!(only, reels);
    assert_eq!(videos, reels, "every fake video is a reel");
    assert_eq!(others.len() + only.len(), all.len());
    assert!(others.iter().all(|id| !reels.contains(id)));
}

on_both_backends!(
    trial_reels_are_left_out_without_costing_a_visitor_posts,
    an_owner_may_serve_trial_reels_too,
    reels_are_told_apart_and_a_missing_field_means_shared,
);
