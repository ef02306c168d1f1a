//! The image mirror against the fake Graph API and the fake CDN: copies
//! made after a fetch and served at `/media/…`, once per image, within
//! MIRROR_MAX_MB, gone with their post or account, bad images skipped,
//! nothing fetched off MEDIA_CDN_HOSTS, and everything still served after
//! a restart with the CDN stopped.

use chrono::Duration;
use fake_graph::{CdnImage, FakeCdn, FakeMedia, Fault, MediaType};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::logs::Logs;
use crate::common::{Backend, TestApp, World};

const ORIGIN: (&str, &str) = ("Origin", "https://example.com");
const BASE: &str = "https://agent.example.com/";

struct Setup {
    world: World,
    app: TestApp,
}

/// A world whose media URLs point at the fake CDN, and an agent mirroring
/// its six newest posts unless `extra` says otherwise.
async fn setup(backend: Backend, extra: &[(&str, &str)]) -> Setup {
    let world = World::new(backend).await;
    let cdn = world.fake.cdn_url();
    world.fake.set_options(|o| o.media_base_url = Some(cdn));
    let mut env = vec![("MIRROR_POSTS", "6")];
    env.extend_from_slice(extra);
    let app = world.spawn(&env).await;
    world.give_token(&app, "default", Duration::days(2)).await;
    Setup { world, app }
}

impl Setup {
    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.app.http.get(self.app.url(path));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        request.send().await.unwrap()
    }

    async fn feed(&self) -> Vec<Value> {
        let res = self.get("/feed.json?limit=25", &[ORIGIN]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        body["data"].as_array().unwrap().clone()
    }

    /// The feed, once its images have been mirrored.
    async fn mirrored_feed(&self) -> Vec<Value> {
        self.feed().await;
        self.app.mirror_settled().await;
        self.feed().await
    }

    /// Lets the cached first page lapse, so that the next request fetches it.
    fn expire_page(&self) {
        self.world.clock.advance(Duration::minutes(6));
    }

    /// A path of `/media/…` from a URL in the feed.
    fn local(url: &Value) -> String {
        let url = url.as_str().expect("a URL");
        format!("/{}", url.strip_prefix(BASE).expect("on APP_URL"))
    }
}

/// The ids of the items that carry a `mirror` object.
fn dressed(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter(|i| i.get("mirror").is_some())
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

/// The image of an item the fake serves: a video's is its thumbnail.
fn image_name(item: &Value) -> String {
    let id = item["id"].as_str().unwrap();
    match item["media_type"].as_str() {
        Some("VIDEO") => format!("{id}_thumb"),
        _ => id.to_string(),
    }
}

/// The CDN name of a post's own image: an album's is its first child's.
fn own_image(fake: &fake_graph::FakeGraph, post: &FakeMedia) -> String {
    match post.media_type {
        MediaType::CarouselAlbum => {
            let child = fake.media(&post.children[0]).expect("the child");
            own_image(fake, &child)
        }
        MediaType::Video => format!("{}_thumb", post.id),
        _ => post.id.clone(),
    }
}

fn decoded_width(bytes: &[u8]) -> u32 {
    image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg)
        .expect("a JPEG")
        .width()
}

async fn images_appear_after_a_fetch_and_media_serves_them(backend: Backend) {
    let s = setup(backend, &[]).await;
    let first = s.feed().await;
    let items = s.mirrored_feed().await;
    assert_eq!(
        first.iter().map(|i| &i["media_url"]).collect::<Vec<_>>(),
        items.iter().map(|i| &i["media_url"]).collect::<Vec<_>>(),
        "Instagram's fields are unchanged"
    );
    let expected: Vec<String> = items[..6]
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(dressed(&items), expected, "the six newest, no more");

    let image = items
        .iter()
        .find(|i| i["media_type"] == "IMAGE")
        .expect("an image among the newest");
    let id = image["id"].as_str().unwrap();
    let (width, height) = FakeCdn::size_of(id);
    let mirror = &image["mirror"];
    assert_eq!(mirror["width"], width);
    assert_eq!(mirror["height"], height);
    assert_eq!(
        mirror["src"],
        format!("{BASE}media/default/{id}/640.jpg").as_str()
    );
    assert_eq!(
        mirror["srcset"],
        format!(
            "{BASE}media/default/{id}/320.jpg 320w, {BASE}media/default/{id}/640.jpg 640w, {BASE}media/default/{id}/1080.jpg 1080w"
        )
        .as_str()
    );
    assert!(mirror.get("webp_srcset").is_none());

    let path = Setup::local(&mirror["src"]);
    let res = s.get(&path, &[ORIGIN]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(decoded_width(&res.bytes().await.unwrap()), 640);
    let again = s.get(&path, &[ORIGIN, ("If-None-Match", &etag)]).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(again.bytes().await.unwrap().is_empty());

    let refused = s.get(&path, &[("Origin", "https://evil.example")]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    // Feed readers name no site: they get the images /feed.rss names.
    let anonymous = s.get(&path, &[]).await;
    assert_eq!(anonymous.status(), StatusCode::OK);

    // Unknown ids, widths and accounts: answered from memory alone.
    let (reads, cdn_calls) = (s.app.mirror.database_reads(), s.world.fake.cdn().requests());
    for path in [
        "/media/default/17999999999999999/640.jpg".to_string(),
        format!("/media/default/{id}/500.jpg"),
        format!("/media/nobody/{id}/640.jpg"),
    ] {
        let res = s.get(&path, &[ORIGIN]).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_mirrored", "{path}");
    }
    for (path, code) in [
        (format!("/media/default/{id}/wide.jpg"), "invalid_width"),
        // One spelling per width: the same bytes under another name would
        // be another cache entry for one image.
        (format!("/media/default/{id}/0640.jpg"), "invalid_width"),
        (format!("/media/default/{id}/640.png"), "invalid_extension"),
    ] {
        let res = s.get(&path, &[ORIGIN]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], code);
    }
    assert_eq!(s.app.mirror.database_reads(), reads, "no database read");
    assert_eq!(s.world.fake.cdn().requests(), cdn_calls, "no CDN call");
    // A hit on a known copy comes from memory the second time.
    s.get(&format!("/media/default/{id}/320.jpg"), &[ORIGIN])
        .await;
    s.get(&format!("/media/default/{id}/320.jpg"), &[ORIGIN])
        .await;
    assert_eq!(s.app.mirror.database_reads(), reads + 1);
    assert!(s.app.mirror.covers("default", id));
    assert!(!s.app.mirror.covers("default", "17999999999999999"));
}

async fn each_image_is_fetched_once_however_many_requests_race(backend: Backend) {
    let s = setup(backend, &[]).await;
    let answers = join_all((0..20).map(|_| s.feed())).await;
    s.app.mirror_settled().await;
    let items = &answers[0];
    let images: usize = items[..6]
        .iter()
        .map(|i| match i["media_type"].as_str() {
            Some("CAROUSEL_ALBUM") => i["children"]["data"].as_array().unwrap().len(),
            _ => 1,
        })
        .sum();
    assert_eq!(s.world.fake.cdn().requests(), images);
    // Later fetches of the first page download nothing already stored.
    s.expire_page();
    join_all((0..5).map(|_| s.feed())).await;
    s.app.mirror_settled().await;
    assert_eq!(s.world.fake.cdn().requests(), images);
    assert_eq!(dressed(&s.feed().await).len(), 6);
}

async fn album_children_and_video_thumbnails_are_mirrored(backend: Backend) {
    let s = setup(backend, &[]).await;
    let items = s.mirrored_feed().await;
    let album = items[..6]
        .iter()
        .find(|i| i["media_type"] == "CAROUSEL_ALBUM")
        .expect("an album among the newest");
    let children: Vec<&str> = album["children"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    let mirrored: Vec<&str> = album["mirror"]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(mirrored, children, "every child, in album order");
    assert!(
        album["mirror"]["src"]
            .as_str()
            .unwrap()
            .contains(&format!("/{}/", children[0])),
        "an album shows its first child"
    );
    for child in album["mirror"]["children"].as_array().unwrap() {
        let res = s.get(&Setup::local(&child["src"]), &[ORIGIN]).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let video = items[..6]
        .iter()
        .find(|i| i["media_type"] == "VIDEO")
        .expect("a video among the newest");
    let (width, _) = FakeCdn::size_of(&image_name(video));
    assert_eq!(video["mirror"]["width"], width.min(1080));
    let res = s
        .get(&Setup::local(&video["mirror"]["src"]), &[ORIGIN])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(decoded_width(&res.bytes().await.unwrap()), 640);
}

async fn a_small_image_is_never_upscaled(backend: Backend) {
    let s = setup(backend, &[]).await;
    let newest = s.world.fake.media_of(&s.world.user).remove(0);
    let small = CdnImage::Jpeg {
        width: 240,
        height: 240,
    };
    s.world
        .fake
        .cdn()
        .answer(&own_image(&s.world.fake, &newest), small);
    let items = s.mirrored_feed().await;
    let own = &items[0]["mirror"];
    assert_eq!(own["width"], 240);
    assert_eq!(own["height"], 240);
    assert_eq!(own["srcset"].as_str().unwrap().matches(" 240w").count(), 1);
    assert!(!own["srcset"].as_str().unwrap().contains("320w"));
    let path = Setup::local(&own["src"]);
    assert!(path.ends_with("/240.jpg"), "{path}");
    let res = s.get(&path, &[ORIGIN]).await;
    assert_eq!(decoded_width(&res.bytes().await.unwrap()), 240);
    let wider = path.replace("/240.jpg", "/320.jpg");
    assert_eq!(
        s.get(&wider, &[ORIGIN]).await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(s.app.mirror.covers("default", &newest.id));
}

async fn the_oldest_posts_make_room_within_mirror_max_mb(backend: Backend) {
    let s = setup(backend, &[("MIRROR_POSTS", "12"), ("MIRROR_MAX_MB", "1")]).await;
    let items = s.mirrored_feed().await;
    assert!(s.app.mirror.stored_bytes() <= 1024 * 1024);
    let kept = dressed(&items);
    assert!(!kept.is_empty() && kept.len() < 12, "{kept:?}");
    let newest: Vec<String> = items[..kept.len()]
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kept, newest, "the newest kept, the oldest evicted");
    // The evicted are not downloaded again at every fetch.
    let calls = s.world.fake.cdn().requests();
    s.expire_page();
    s.feed().await;
    s.app.mirror_settled().await;
    assert_eq!(s.world.fake.cdn().requests(), calls);
}

async fn a_deleted_or_pushed_out_post_leaves_the_mirror_at_the_next_fetch(backend: Backend) {
    let s = setup(backend, &[]).await;
    let items = s.mirrored_feed().await;
    let deleted = items[1]["id"].as_str().unwrap().to_string();
    let sixth = items[5]["id"].as_str().unwrap().to_string();
    let deleted_src = Setup::local(&items[1]["mirror"]["src"]);
    let sixth_src = Setup::local(&items[5]["mirror"]["src"]);
    s.world.fake.delete_post(&s.world.user, &deleted);
    for caption in ["new", "newer"] {
        s.world
            .fake
            .add_post(&s.world.user, MediaType::Image, Some(caption));
    }
    s.expire_page();
    let items = s.feed().await;
    // At once, before any background work.
    assert!(!s.app.mirror.covers("default", &deleted));
    assert_eq!(
        s.get(&deleted_src, &[ORIGIN]).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get(&sixth_src, &[ORIGIN]).await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(items.iter().all(|i| i["id"] != deleted.as_str()));
    s.app.mirror_settled().await;
    let stored = s.app.store.mirror_index_of("default").await.unwrap();
    assert!(
        stored
            .iter()
            .all(|e| e.place.post_id != deleted && e.place.post_id != sixth)
    );
    let items = s.feed().await;
    assert_eq!(dressed(&items).len(), 6, "the new post is mirrored");
    assert!(
        s.app
            .mirror
            .covers("default", items[0]["id"].as_str().unwrap())
    );
}

async fn removing_the_account_or_metas_deletion_callback_deletes_its_images(backend: Backend) {
    let s = setup(
        backend,
        &[
            ("INSTAGRAM_APP_ID", "990602627938098"),
            (
                "INSTAGRAM_APP_SECRET",
                "fake-ig-app-secret-0123456789abcdef",
            ),
        ],
    )
    .await;
    let items = s.mirrored_feed().await;
    let src = Setup::local(&items[0]["mirror"]["src"]);
    assert_eq!(s.get(&src, &[ORIGIN]).await.status(), StatusCode::OK);

    // Meta's data deletion callback for the account's user.
    let user_id = s.world.user.app_scoped_id.clone();
    s.app
        .store
        .set_scoped_user_id("default", Some(&user_id))
        .await
        .unwrap();
    let signed = token_agent::signed_request::sign(
        &serde_json::json!({"algorithm": "HMAC-SHA256",
            "issued_at": s.world.clock.now().timestamp(), "user_id": user_id}),
        b"fake-ig-app-secret-0123456789abcdef",
    );
    let res = s
        .app
        .http
        .post(s.app.url("/callbacks/data-deletion"))
        .form(&[("signed_request", signed)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(s.get(&src, &[ORIGIN]).await.status(), StatusCode::NOT_FOUND);
    assert!(
        s.app
            .store
            .mirror_index_of("default")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.app.mirror.stored_bytes(), 0);

    // And `accounts remove` (the same removal) after a new mirror.
    s.world
        .give_token(&s.app, "default", Duration::days(2))
        .await;
    s.mirrored_feed().await;
    assert!(s.app.mirror.stored_bytes() > 0);
    assert!(s.app.remove_account("default").await.unwrap());
    assert_eq!(s.app.mirror.stored_bytes(), 0);
    assert!(s.app.store.mirror_index().await.unwrap().is_empty());
}

async fn nothing_is_fetched_from_a_host_outside_media_cdn_hosts(backend: Backend) {
    let s = setup(backend, &[]).await;
    let foreign = FakeCdn::start(s.world.clock.clone()).await;
    let base = foreign.base_url();
    s.world
        .fake
        .set_options(|o| o.media_base_url = Some(base.clone()));
    let items = s.mirrored_feed().await;
    assert_eq!(foreign.requests(), 0, "the foreign host saw no request");
    assert_eq!(s.world.fake.cdn().requests(), 0);
    assert!(dressed(&items).is_empty());
    assert!(items[0]["media_url"].as_str().unwrap().starts_with(&base));
}

async fn images_survive_a_restart_with_the_cdn_stopped(backend: Backend) {
    let s = setup(backend, &[]).await;
    let items = s.mirrored_feed().await;
    let src = Setup::local(&items[0]["mirror"]["src"]);
    s.world.fake.cdn().stop().await;
    let Setup { world, app } = s;
    app.stop().await;

    let app = world.spawn(&[("MIRROR_POSTS", "6")]).await;
    let s = Setup { world, app };
    let res = s.get(&src, &[ORIGIN]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(decoded_width(&res.bytes().await.unwrap()), 640);
    let items = s.feed().await;
    s.app.mirror_settled().await;
    assert_eq!(dressed(&items).len(), 6, "feed.json still carries mirror");
    let cdn = s
        .app
        .http
        .get(format!("{}/x.jpg", s.world.fake.cdn_url()))
        .send()
        .await;
    assert!(cdn.is_err(), "the CDN is stopped");
}

/// Instagram down for longer than its signed links live: the stale page
/// shows the posts whose images are mirrored (and only those), from the
/// agent's copies, up to FEED_STALE_TTL (30 days with the mirror on).
async fn a_stale_feed_outlives_the_cdn_links_with_its_mirrored_posts(backend: Backend) {
    let s = setup(backend, &[]).await;
    let items = s.mirrored_feed().await;
    assert!(items.len() > 6, "more posts than the mirror keeps");
    let kept = dressed(&items);
    assert_eq!(kept.len(), 6);
    s.world
        .fake
        .inject("/me/media", Fault::Status(500, "down".into()), 1000);
    let days = s.world.fake.options().media_url_expiry_days;

    // Past the links' expiry: the mirrored posts, from the agent's copies.
    s.world
        .clock
        .advance(Duration::days(days) + Duration::hours(1));
    let res = s.get("/feed.json?limit=25", &[ORIGIN]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-cache");
    assert!(res.headers().contains_key("warning"));
    let body: Value = res.json().await.unwrap();
    let shown = body["data"].as_array().unwrap().clone();
    assert_eq!(dressed(&shown), kept, "every post shown has its copies");
    assert_eq!(shown.len(), kept.len(), "no post whose links are dead");
    for item in &shown {
        let res = s
            .get(&Setup::local(&item["mirror"]["src"]), &[ORIGIN])
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }

    // Past FEED_STALE_TTL, nothing is served as the feed any more.
    s.world.clock.advance(Duration::days(30));
    let res = s.get("/feed.json?limit=25", &[ORIGIN]).await;
    assert!(res.status().is_server_error(), "{}", res.status());
}

/// The agent's own /feed.html (framed by an allowed site) shows the copies:
/// its Referer passes, another page of the agent's does not.
async fn the_agents_own_feed_page_may_show_the_copies(backend: Backend) {
    let s = setup(backend, &[]).await;
    let items = s.mirrored_feed().await;
    let src = Setup::local(&items[0]["mirror"]["src"]);
    let own = s.app.url("/feed.html?limit=12");
    let res = s.get(&src, &[("Referer", own.as_str())]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let other = s.app.url("/status");
    let res = s.get(&src, &[("Referer", other.as_str())]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = s
        .get(&src, &[("Referer", "https://evil.example.net/feed.html")])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

/// Without the mirror, a page whose links have expired is never served.
async fn without_the_mirror_an_expired_page_is_not_served(backend: Backend) {
    let s = setup(backend, &[("MIRROR_POSTS", "0")]).await;
    assert!(!s.feed().await.is_empty());
    s.world
        .fake
        .inject("/me/media", Fault::Status(500, "down".into()), 1000);
    let days = s.world.fake.options().media_url_expiry_days;
    s.world
        .clock
        .advance(Duration::days(days) + Duration::hours(1));
    let res = s.get("/feed.json?limit=25", &[ORIGIN]).await;
    assert!(res.status().is_server_error(), "{}", res.status());
}

on_both_backends!(
    a_stale_feed_outlives_the_cdn_links_with_its_mirrored_posts,
    without_the_mirror_an_expired_page_is_not_served,
    the_agents_own_feed_page_may_show_the_copies,
    images_appear_after_a_fetch_and_media_serves_them,
    each_image_is_fetched_once_however_many_requests_race,
    album_children_and_video_thumbnails_are_mirrored,
    a_small_image_is_never_upscaled,
    the_oldest_posts_make_room_within_mirror_max_mb,
    a_deleted_or_pushed_out_post_leaves_the_mirror_at_the_next_fetch,
    removing_the_account_or_metas_deletion_callback_deletes_its_images,
    nothing_is_fetched_from_a_host_outside_media_cdn_hosts,
    images_survive_a_restart_with_the_cdn_stopped,
);

/// Every way a download goes wrong, on one thread so that the background
/// work's log lines are captured.
async fn bad_images_are_skipped_and_the_feed_keeps_instagrams_urls(backend: Backend) {
    let logs = Logs::capture();
    let world = World::new(backend).await;
    let cdn = world.fake.cdn_url();
    world
        .fake
        .set_options(|o| o.media_base_url = Some(cdn.clone()));
    let other = FakeCdn::start(world.clock.clone()).await;
    let outside = FakeCdn::start(world.clock.clone()).await;
    let hosts = format!("{} {}", world.fake.cdn().host(), other.host());
    let app = world
        .spawner(&[("MIRROR_POSTS", "7"), ("MEDIA_CDN_HOSTS", &hosts)])
        .config(|config| config.mirror.max_download_bytes = 2_000_000)
        .start()
        .await;
    world.give_token(&app, "default", Duration::days(2)).await;
    let s = Setup { world, app };
    // What the seven newest posts' own images answer.
    let fake = s.world.fake.cdn();
    let posts = s.world.fake.media_of(&s.world.user);
    let names: Vec<String> = posts[..7]
        .iter()
        .map(|p| own_image(&s.world.fake, p))
        .collect();
    let to_other = format!("{}/{}.jpg", other.base_url(), names[4]);
    let to_outside = format!("{}/{}.jpg", outside.base_url(), names[5]);
    let bad = [
        CdnImage::NotAnImage,
        CdnImage::Truncated,
        CdnImage::Bomb,
        CdnImage::Oversized(2_000_001),
        CdnImage::Redirect(to_other),
        CdnImage::Redirect(to_outside),
    ];
    for (name, answer) in names.iter().zip(bad) {
        fake.answer(name, answer);
    }
    let before = s.feed().await;
    s.app.mirror_settled().await;
    let after = s.feed().await;

    let media_urls =
        |items: &[Value]| -> Vec<Value> { items.iter().map(|i| i["media_url"].clone()).collect() };
    assert_eq!(
        media_urls(&before),
        media_urls(&after),
        "Instagram's URLs kept"
    );
    assert!(after[0]["media_url"].as_str().unwrap().starts_with(&cdn));
    let mirrored = dressed(&after[..7]);
    let ids: Vec<String> = after[..7]
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    // An album lists only its mirrored children, and shows if its first is.
    assert_eq!(
        mirrored,
        [ids[4].clone(), ids[6].clone()],
        "only the image redirected within the list and the sound one"
    );
    assert_eq!(
        other.requests(),
        1,
        "a redirect within the list is followed"
    );
    assert_eq!(outside.requests(), 0, "a redirect off the list is not");

    let logged = logs.text();
    for (name, reason) in names.iter().zip([
        "not a JPEG or WebP image",
        "truncated",
        "60000×60000",
        "larger than 2000000 bytes",
    ]) {
        let line = logged
            .lines()
            .find(|l| {
                l.contains("image not mirrored") && l.contains(name.trim_end_matches("_thumb"))
            })
            .unwrap_or_else(|| panic!("no line for {name}: {logged}"));
        assert!(line.contains(reason), "{line}");
        assert!(line.contains("WARN"), "{line}");
    }
    assert!(logged.contains("redirected to a host outside MEDIA_CDN_HOSTS"));
    assert!(
        !logged.contains("oe="),
        "no signed URL in the log: {logged}"
    );
}

mod bad_images {
    #[tokio::test(flavor = "current_thread")]
    async fn sqlite() {
        super::bad_images_are_skipped_and_the_feed_keeps_instagrams_urls(
            crate::common::Backend::Sqlite,
        )
        .await
    }

    #[tokio::test(flavor = "current_thread")]
    async fn postgres() {
        super::bad_images_are_skipped_and_the_feed_keeps_instagrams_urls(
            crate::common::Backend::Postgres,
        )
        .await
    }
}
