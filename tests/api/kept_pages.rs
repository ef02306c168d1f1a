//! The last good feed page kept in the database: a restart during an outage
//! (memcached absent, so the cache starts empty) still serves it, another
//! instance shares it, and removing the account deletes it.

use crate::common::{Backend, TestApp, World};
use chrono::Duration;
use fake_graph::Fault;
use reqwest::StatusCode;

const MEDIA: &str = "/me/media";
const ORIGIN: &str = "https://example.com";

fn http() -> reqwest::Client {
    token_agent::tls::http_client()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap()
}

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    http()
        .get(app.url(path))
        .header("Origin", ORIGIN)
        .send()
        .await
        .unwrap()
}

/// An instance of the agent on the world's database, with its own empty
/// in-process cache, as after a restart or on another dyno.
async fn instance(world: &World) -> TestApp {
    world.spawn(&[("UPSTREAM_TIMEOUT_MS", "300")]).await
}

async fn a_restart_during_an_outage_serves_the_last_good_page(backend: Backend) {
    let world = World::new(backend).await;
    let app = instance(&world).await;
    world.give_token(&app, "default", Duration::days(2)).await;
    let res = get(&app, "/feed.json?limit=5").await;
    assert_eq!(res.status(), StatusCode::OK);
    let good = res.text().await.unwrap();
    app.stop().await;

    // Instagram goes down, and the agent restarts with an empty cache.
    world
        .fake
        .inject(MEDIA, Fault::Status(500, "down".into()), 100);
    world.clock.advance(Duration::hours(2));
    let app = instance(&world).await;
    let calls = world.fake.calls(MEDIA);
    for _ in 0..5 {
        let res = get(&app, "/feed.json?limit=5").await;
        assert_eq!(res.status(), StatusCode::OK, "the kept copy is served");
        assert_eq!(res.headers()["cache-control"], "no-cache");
        let age: i64 = res.headers()["age"].to_str().unwrap().parse().unwrap();
        assert!(age >= 7200, "Age {age}");
        assert!(res.headers().contains_key("warning"));
        assert_eq!(res.text().await.unwrap(), good);
    }
    assert_eq!(
        world.fake.calls(MEDIA),
        calls + 1,
        "one try upstream; then the failure stands and the copy answers"
    );
    app.stop().await;
}

async fn a_fresh_page_kept_by_one_instance_costs_another_no_call(backend: Backend) {
    let world = World::new(backend).await;
    let app = instance(&world).await;
    world.give_token(&app, "default", Duration::days(2)).await;
    let res = get(&app, "/feed.json").await;
    assert_eq!(res.status(), StatusCode::OK);
    let good = res.text().await.unwrap();
    assert_eq!(world.fake.calls(MEDIA), 1);

    world.clock.advance(Duration::minutes(1));
    let other = instance(&world).await;
    let res = get(&other, "/feed.json").await;
    assert_eq!(res.status(), StatusCode::OK);
    let max_age = res.headers()["cache-control"].to_str().unwrap().to_string();
    assert!(max_age.starts_with("public, max-age="), "{max_age}");
    assert_eq!(res.text().await.unwrap(), good);
    assert_eq!(world.fake.calls(MEDIA), 1, "the kept copy was fresh");
    app.stop().await;
    other.stop().await;
}

async fn a_removed_account_leaves_no_page_behind(backend: Backend) {
    let world = World::new(backend).await;
    let app = instance(&world).await;
    world.give_token(&app, "default", Duration::days(2)).await;
    assert_eq!(get(&app, "/feed.json").await.status(), StatusCode::OK);
    assert!(app.remove_account("default").await.unwrap());
    app.stop().await;

    // The same name again, upstream down, a new instance: nothing of the
    // removed account's feed may come back.
    world
        .fake
        .inject(MEDIA, Fault::Status(500, "down".into()), 100);
    let app = instance(&world).await;
    world.give_token(&app, "default", Duration::days(2)).await;
    let res = get(&app, "/feed.json").await;
    assert!(res.status().is_server_error(), "{}", res.status());
    app.stop().await;
}

async fn each_account_keeps_only_its_newest_pages(backend: Backend) {
    let world = World::new(backend).await;
    let app = world.spawn(&[]).await;
    let store = &app.store;
    let start = world.clock.now();
    let total = token_agent::store::PAGES_PER_ACCOUNT + 8;
    for n in 0..total {
        let at = start + Duration::seconds(n);
        store
            .save_feed_page("one", &format!("feed:one:{n}"), b"page", at)
            .await
            .unwrap();
    }
    store
        .save_feed_page("two", "feed:two:", b"other", start)
        .await
        .unwrap();
    for n in 0..8 {
        let key = format!("feed:one:{n}");
        assert_eq!(store.feed_page(&key).await.unwrap(), None, "{key}");
    }
    for n in 8..total {
        let key = format!("feed:one:{n}");
        assert!(store.feed_page(&key).await.unwrap().is_some(), "{key}");
    }
    assert_eq!(
        store.feed_page("feed:two:").await.unwrap().as_deref(),
        Some(&b"other"[..]),
        "another account's pages are its own"
    );
    store.forget_feed_pages("one").await.unwrap();
    assert_eq!(
        store
            .feed_page(&format!("feed:one:{}", total - 1))
            .await
            .unwrap(),
        None
    );
    assert!(store.feed_page("feed:two:").await.unwrap().is_some());
}

on_both_backends!(
    a_restart_during_an_outage_serves_the_last_good_page,
    a_fresh_page_kept_by_one_instance_costs_another_no_call,
    a_removed_account_leaves_no_page_behind,
    each_account_keeps_only_its_newest_pages,
);
