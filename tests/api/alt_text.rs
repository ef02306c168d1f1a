//! Authors' alt text: `/feed.json` items carry Instagram's `alt_text` where
//! the author wrote one, `/feed.html` describes each image with it before
//! the caption, and an Instagram that does not know the field is asked once
//! more without it, then never again by this process.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{Backend, TestApp, World};

async fn feed(app: &TestApp, path: &str) -> Value {
    let (status, body) = app.json(path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

async fn items_carry_the_authors_alt_text_and_the_frame_uses_it(backend: Backend) {
    // Arrange: the fake's authors wrote alt text for every other image.
    let world = World::new(backend).await;
    let app = world.spawn(&[]).await;
    let user = world.add_instagram_account(&app, "studio", 10).await;
    let written: HashMap<String, Option<String>> = world
        .fake
        .media_of(&user)
        .into_iter()
        .map(|m| (m.id, m.alt_text))
        .collect();

    // Act
    let body = feed(&app, "/feed.json?account=studio&limit=10").await;
    let frame = app.get("/feed.html?account=studio&limit=10").await;
    let html = frame.text().await.unwrap();

    // Assert: each item has exactly the author's text, or none.
    let items = body["data"].as_array().unwrap();
    assert_eq!(items.len(), 10);
    for item in items {
        let id = item["id"].as_str().unwrap();
        assert_eq!(item["alt_text"].as_str(), written[id].as_deref(), "{item}");
    }
    let described: Vec<&Value> = items.iter().filter(|i| i["alt_text"].is_string()).collect();
    assert!(!described.is_empty(), "some images have alt text");
    assert!(
        items
            .iter()
            .any(|i| i["alt_text"].is_null() && i["caption"].is_string()),
        "and some only a caption"
    );
    assert!(
        items
            .iter()
            .filter(|i| i["media_type"] == "VIDEO")
            .all(|i| i["alt_text"].is_null()),
        "no video has alt text"
    );
    let album_child_text = items
        .iter()
        .filter_map(|i| i["children"]["data"].as_array())
        .flatten()
        .any(|child| child["alt_text"].is_string());
    assert!(album_child_text, "an album's image carries its own text");
    for item in described {
        let alt = item["alt_text"].as_str().unwrap();
        assert!(html.contains(&format!("alt=\"{alt}\"")), "{alt} in {html}");
    }
}

async fn an_instagram_without_the_field_is_asked_once_more_then_never(backend: Backend) {
    // Arrange: Instagram answers code 100 "nonexisting field (alt_text)".
    let world = World::new(backend).await;
    world.fake.set_options(|o| o.without_alt_text_field = true);
    let app = world.spawn(&[]).await;
    let user = world.add_instagram_account(&app, "studio", 8).await;
    let first_caption = world.fake.media_of(&user)[0].caption.clone();

    // Act: a first page, refused then asked without the field.
    let first = feed(&app, "/feed.json?account=studio&limit=4").await;
    let after_first = world.fake.calls("/me/media");
    // Another account on the same host: this process no longer asks for it.
    world.add_instagram_account(&app, "other", 4).await;
    let second = feed(&app, "/feed.json?account=other&limit=4").await;

    // Assert: both pages served in full, described by their captions.
    assert_eq!(after_first, 2, "the refused request and its retry");
    assert_eq!(
        world.fake.calls("/me/media"),
        3,
        "one call for the next page"
    );
    assert_eq!(first["data"].as_array().unwrap().len(), 4);
    assert_eq!(second["data"].as_array().unwrap().len(), 4);
    assert!(first["data"][0]["alt_text"].is_null());
    assert_eq!(
        first["data"][0]["caption"].as_str(),
        first_caption.as_deref()
    );
}

async fn a_facebook_login_account_gets_alt_text_too(backend: Backend) {
    let world = World::new(backend).await;
    let app = world.spawn(&[]).await;
    let user = world.add_facebook_account(&app, "shop", "shop_ig", 6).await;
    let written: Vec<Option<String>> = world
        .fake
        .media_of(&user)
        .into_iter()
        .map(|m| m.alt_text)
        .collect();

    let body = feed(&app, "/feed.json?account=shop&limit=6").await;

    let served: Vec<Option<String>> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["alt_text"].as_str().map(str::to_string))
        .collect();
    assert_eq!(served, written);
    assert!(served.iter().any(Option::is_some));
}

on_both_backends!(
    items_carry_the_authors_alt_text_and_the_frame_uses_it,
    an_instagram_without_the_field_is_asked_once_more_then_never,
    a_facebook_login_account_gets_alt_text_too,
);
