//! Filters on /feed.json and the hashtag feeds (`type`, `exclude`, `tag`,
//! `q`, `exclude_text`): they choose among the cached upstream pages, so a
//! filtered walk costs the upstream calls of the unfiltered one, a filtered
//! request after an unfiltered one costs none, and every page's links keep
//! the filter. The expected posts come from the fake's own records.

use chrono::Duration;
use fake_graph::{FakeMedia, FakeUser, MediaType};
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::memcached::Memcached;
use crate::common::{Backend, Rig, TestApp, World, local, spawn_app};

const MEDIA: &str = "/me/media";

async fn rig(backend: Backend, extra: &[(&str, &str)]) -> Rig {
    spawn_app(backend, extra).await
}

/// One answer: its ids, and its next and previous links as local paths.
struct Served {
    ids: Vec<String>,
    next: Option<String>,
    previous: Option<String>,
}

/// One answer of `app` at `path`, which must be a 200.
async fn get(app: &TestApp, path: &str) -> Served {
    let (status, body) = app.json(path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    let link = |name: &str| body["paging"][name].as_str().map(local);
    Served {
        ids: ids(&body),
        next: link("next"),
        previous: link("previous"),
    }
}

/// Every answer of `app` from `path` on, following `next`.
async fn walk(app: &TestApp, path: &str) -> Vec<Served> {
    let mut answers = vec![get(app, path).await];
    while let Some(next) = answers.last().unwrap().next.clone() {
        answers.push(get(app, &next).await);
        assert!(answers.len() < 200, "the walk ends");
    }
    answers
}

/// The ids of `user`'s posts that `keep` keeps, newest first.
fn expected(world: &World, user: &FakeUser, keep: impl Fn(&FakeMedia) -> bool) -> Vec<String> {
    let media = world.fake.media_of(user);
    media.into_iter().filter(keep).map(|m| m.id).collect()
}

fn ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

fn all_ids(answers: &[Served]) -> Vec<String> {
    answers.iter().flat_map(|a| a.ids.clone()).collect()
}

fn tagged(media: &FakeMedia, tag: &str) -> bool {
    media.hashtags.iter().any(|t| t == tag)
}

fn caption_has(media: &FakeMedia, text: &str) -> bool {
    media
        .caption
        .as_deref()
        .is_some_and(|c| c.to_lowercase().contains(text))
}

async fn each_filter_keeps_its_posts_and_only_those(backend: Backend) {
    let r = rig(backend, &[]).await;
    let user = r.world.user.clone();
    type Keep = Box<dyn Fn(&FakeMedia) -> bool>;
    let cases: Vec<(&str, Keep)> = vec![
        (
            "type=IMAGE,CAROUSEL_ALBUM",
            Box::new(|m| m.media_type != MediaType::Video),
        ),
        (
            "exclude=VIDEO",
            Box::new(|m| m.media_type != MediaType::Video),
        ),
        ("type=video", Box::new(|m| m.media_type == MediaType::Video)),
        (
            "exclude=Image,carousel_album",
            Box::new(|m| m.media_type == MediaType::Video),
        ),
        ("tag=bakery", Box::new(|m| tagged(m, "bakery"))),
        ("tag=%23BAKERY", Box::new(|m| tagged(m, "bakery"))),
        (
            "tag=coffee,Market",
            Box::new(|m| tagged(m, "coffee") || tagged(m, "market")),
        ),
        ("q=OVEN", Box::new(|m| caption_has(m, "oven"))),
        ("q=%22quotes%22", Box::new(|m| caption_has(m, "\"quotes\""))),
        ("exclude_text=oven", Box::new(|m| !caption_has(m, "oven"))),
    ];
    let (_, all) = r.app.json("/feed.json?limit=100").await;
    for (query, keep) in cases {
        let expected = expected(&r.world, &user, keep);
        assert!(!expected.is_empty(), "{query} keeps something");
        let (status, body) = r.app.json(&format!("/feed.json?limit=100&{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(ids(&body), expected, "{query}");
        // The items are the unfiltered feed's, unchanged.
        for item in body["data"].as_array().unwrap() {
            let same = all["data"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["id"] == item["id"]);
            assert_eq!(Some(item), same);
        }
    }
    assert_eq!(r.world.fake.calls(MEDIA), 1, "one page served them all");
}

#[tokio::test]
async fn a_hashtag_is_matched_whole_in_any_case_and_script() {
    let r = rig(Backend::Sqlite, &[]).await;
    let user = r.world.user.clone();
    let fake = &r.world.fake;
    let mut added = Vec::new();
    for (caption, matches) in [
        ("Fresh rolls #Bakery!", true),
        ("Saturday queue #BakeryLife", false),
        ("mybakery#bakery#bread", true),
        ("#bakery_life", false),
        ("no tag, just bakery", false),
        ("सुबह की रोटी #नमस्ते", false),
    ] {
        let post = fake.add_post(&user, MediaType::Image, Some(caption));
        added.push((post.id, matches));
    }
    // The seeded captions' hashtags stand apart by spaces, as the fake reads them.
    let expected = expected(&r.world, &user, |m| {
        match added.iter().find(|(id, _)| *id == m.id) {
            Some((_, matches)) => *matches,
            None => tagged(m, "bakery"),
        }
    });
    let (_, body) = r.app.json("/feed.json?limit=100&tag=bakery").await;
    assert_eq!(ids(&body), expected);
    let tag: String = url::form_urlencoded::byte_serialize("नमस्ते".as_bytes()).collect();
    let (_, body) = r.app.json(&format!("/feed.json?limit=100&tag={tag}")).await;
    assert_eq!(ids(&body), [added[5].0.clone()], "a Devanagari hashtag");
}

#[tokio::test]
async fn combined_filters_must_all_hold() {
    let r = rig(Backend::Sqlite, &[]).await;
    let user = r.world.user.clone();
    let expected = expected(&r.world, &user, |m| {
        m.media_type != MediaType::Video
            && (tagged(m, "bakery") || tagged(m, "market"))
            && !caption_has(m, "oven")
    });
    assert!(!expected.is_empty());
    let (status, body) = r
        .app
        .json("/feed.json?limit=100&exclude=VIDEO&tag=bakery,market&exclude_text=Oven")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids(&body), expected);
    let (_, body) = r
        .app
        .json("/feed.json?type=VIDEO&q=bakery&exclude_text=bakery")
        .await;
    assert_eq!(
        ids(&body),
        Vec::<String>::new(),
        "contradictory filters keep nothing"
    );
}

async fn paging_a_filtered_feed_costs_the_calls_of_the_unfiltered_walk(backend: Backend) {
    let r = rig(backend, &[]).await;
    let user = r.world.add_instagram_account(&r.app, "big", 120).await;
    type Keep = fn(&FakeMedia) -> bool;
    let filters: [(&str, Keep); 4] = [
        ("tag=bakery", |m| tagged(m, "bakery")),
        ("type=VIDEO", |m| m.media_type == MediaType::Video),
        ("exclude=VIDEO&q=market", |m| {
            m.media_type != MediaType::Video && caption_has(m, "market")
        }),
        ("tag=nowhere", |_| false),
    ];
    for limit in [5, 25, 100] {
        // Cold, the unfiltered walk: its calls are the yardstick.
        r.world.clock.advance(Duration::minutes(6));
        let calls = r.world.fake.calls(MEDIA);
        let unfiltered = walk(&r.app, &format!("/feed.json?account=big&limit={limit}")).await;
        assert_eq!(all_ids(&unfiltered), expected(&r.world, &user, |_| true));
        let yardstick = r.world.fake.calls(MEDIA) - calls;
        assert_eq!(yardstick, 3, "120 posts are three upstream pages");

        for (query, keep) in &filters {
            r.world.clock.advance(Duration::minutes(6));
            let calls = r.world.fake.calls(MEDIA);
            let path = format!("/feed.json?account=big&limit={limit}&{query}");
            let answers = walk(&r.app, &path).await;
            assert_eq!(all_ids(&answers), expected(&r.world, &user, keep), "{path}");
            assert_eq!(r.world.fake.calls(MEDIA) - calls, yardstick, "{path}");
            assert!(answers.iter().all(|a| a.ids.len() <= limit));
            if *query == "tag=nowhere" {
                // Each answer reads the pages its unfiltered twin would
                // (one of 50 for a limit up to 50), finds nothing, and
                // links on; only the last has no next.
                assert_eq!(answers.len(), if limit <= 50 { 3 } else { 2 }, "{path}");
            }
        }
    }
}

#[tokio::test]
async fn previous_links_lead_back_through_a_filtered_feed() {
    let r = rig(Backend::Sqlite, &[]).await;
    let user = r.world.add_instagram_account(&r.app, "big", 120).await;
    let expected = expected(&r.world, &user, |m| m.media_type == MediaType::Video);
    let answers = walk(&r.app, "/feed.json?account=big&limit=4&type=VIDEO").await;
    assert_eq!(all_ids(&answers), expected);
    assert!(
        answers[0].previous.is_none(),
        "nothing before the first page"
    );
    // The second answer's previous is the first answer again.
    let back = get(&r.app, answers[1].previous.as_ref().unwrap()).await;
    assert_eq!(back.ids, answers[0].ids);
    // From the last answer back to the start: every video once.
    let mut seen: Vec<Vec<String>> = Vec::new();
    let mut link = answers.last().unwrap().previous.clone();
    while let Some(path) = link {
        assert!(
            path.contains("type=VIDEO") && path.contains("before="),
            "{path}"
        );
        let answer = get(&r.app, &path).await;
        assert!(
            answer.next.is_some(),
            "a page reached backwards links forward"
        );
        link = answer.previous.clone();
        seen.push(answer.ids);
        assert!(seen.len() < 100);
    }
    seen.reverse();
    seen.push(answers.last().unwrap().ids.clone());
    assert_eq!(seen.concat(), expected);
}

#[tokio::test]
async fn links_carry_the_filter_and_a_cursor_is_a_place_under_any_filter() {
    let r = rig(Backend::Sqlite, &[]).await;
    let user = r.world.add_instagram_account(&r.app, "big", 120).await;
    let first = get(
        &r.app,
        "/feed.json?account=big&limit=1&type=video&tag=%23Bakery&v=7",
    )
    .await;
    let next = first.next.expect("more videos");
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(next.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    let keys: Vec<&str> = query.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["account", "limit", "type", "tag", "after"], "{next}");
    assert_eq!(query[2].1, "VIDEO");
    assert_eq!(query[3].1, "bakery");

    // The cursor with another filter: the same place, without a call.
    let calls = r.world.fake.total_calls();
    let cursor = &query[4].1;
    let other = get(
        &r.app,
        &format!("/feed.json?account=big&limit=10&q=market&after={cursor}"),
    )
    .await;
    assert_eq!(r.world.fake.total_calls(), calls, "the page is cached");
    let last_seen = first.ids.last().unwrap();
    let media = r.world.fake.media_of(&user);
    let from = media.iter().position(|m| &m.id == last_seen).unwrap() + 1;
    let expected: Vec<String> = media[from..50]
        .iter()
        .filter(|m| caption_has(m, "market"))
        .take(10)
        .map(|m| m.id.clone())
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(other.ids, expected, "the rest of the first upstream page");
    // Nor is it a cursor for another feed.
    let (status, body) = r
        .app
        .json(&format!("/feed.json?type=VIDEO&after={cursor}"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_cursor");
}

#[tokio::test]
async fn every_bad_filter_value_is_a_400_that_costs_nothing() {
    let r = rig(Backend::Sqlite, &[("HASHTAGS", "coffee")]).await;
    let long = "x".repeat(101);
    let cases = [
        ("type=PHOTO", "invalid_type"),
        ("type=", "invalid_type"),
        ("type=IMAGE,,VIDEO", "invalid_type"),
        ("exclude=REEL", "invalid_type"),
        ("type=IMAGE&type=VIDEO", "invalid_type"),
        ("type=IMAGE&exclude=VIDEO", "invalid_type"),
        ("tag=", "invalid_tag"),
        ("tag=two%20words", "invalid_tag"),
        ("tag=bakery%21", "invalid_tag"),
        ("tag=a&tag=b", "invalid_tag"),
        ("q=", "invalid_text"),
        (&format!("q={long}"), "invalid_text"),
        ("q=a&q=b", "invalid_text"),
        ("exclude_text=", "invalid_text"),
        (&format!("exclude_text={long}"), "invalid_text"),
    ];
    for (query, code) in cases {
        for path in ["/feed.json", "/hashtags/coffee/recent.json"] {
            let (status, body) = r.app.json(&format!("{path}?{query}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}?{query}: {body}");
            assert_eq!(body["error"]["code"], code, "{path}?{query}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(!message.is_empty() && !message.contains(&long));
        }
    }
    let (_, body) = r.app.json("/feed.json?type=PHOTO").await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        ["IMAGE", "VIDEO", "CAROUSEL_ALBUM"]
            .iter()
            .all(|t| message.contains(t)),
        "{message}"
    );
    assert_eq!(r.world.fake.total_calls(), 0);
}

#[tokio::test]
async fn filters_change_no_cache_key_on_any_instance() {
    let memcached = Memcached::start();
    let addr = memcached.addr();
    let extra = [("MEMCACHE_SERVERS", addr.as_str())];
    let r = rig(Backend::Sqlite, &extra).await;
    r.world.add_instagram_account(&r.app, "big", 120).await;
    let unfiltered = walk(&r.app, "/feed.json?account=big&limit=100").await;
    assert_eq!(unfiltered.len(), 2);
    let calls = r.world.fake.calls(MEDIA);
    assert_eq!(calls, 3);

    // Another instance on the same cache and database.
    let other = r.world.spawn(&extra).await;
    for query in [
        "type=VIDEO",
        "tag=bakery&limit=7",
        "exclude=IMAGE&q=the",
        "exclude_text=a",
    ] {
        let path = format!("/feed.json?account=big&{query}");
        let here = all_ids(&walk(&r.app, &path).await);
        let there = all_ids(&walk(&other, &path).await);
        assert_eq!(here, there, "{query}");
    }
    assert_eq!(
        r.world.fake.calls(MEDIA),
        calls,
        "every filter read the cached pages"
    );
}

#[tokio::test]
async fn a_hashtag_feed_takes_the_same_filters() {
    let r = rig(Backend::Sqlite, &[("HASHTAGS", "latteart")]).await;
    let user = r
        .world
        .add_facebook_account(&r.app, "brand", "harbour_cafe", 0)
        .await;
    let mut videos = Vec::new();
    let mut oat = Vec::new();
    for i in 0..60 {
        let (media_type, caption) = if i % 3 == 0 {
            (MediaType::Video, format!("pour {i} #latteart #OatMilk"))
        } else {
            (MediaType::Image, format!("cup {i} #latteart"))
        };
        let post = r.world.fake.add_post(&user, media_type, Some(&caption));
        if i % 3 == 0 {
            videos.insert(0, post.id.clone());
            oat.insert(0, post.id);
        }
        r.world.clock.advance(Duration::seconds(10));
    }
    let answers = walk(&r.app, "/hashtags/latteart/recent.json?limit=10&type=VIDEO").await;
    let seen = all_ids(&answers);
    let mut sorted = seen.clone();
    sorted.sort();
    let mut want = videos.clone();
    want.sort();
    assert_eq!(sorted, want, "every video once");
    let calls = r.world.fake.total_calls();
    let answers = walk(
        &r.app,
        "/hashtags/latteart/recent.json?limit=50&tag=oatmilk",
    )
    .await;
    assert_eq!(
        all_ids(&answers),
        seen,
        "the same posts, from the same pages"
    );
    assert_eq!(r.world.fake.total_calls(), calls);
}

on_both_backends!(
    each_filter_keeps_its_posts_and_only_those,
    paging_a_filtered_feed_costs_the_calls_of_the_unfiltered_walk,
);
