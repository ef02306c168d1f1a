//! Changes made by another process (the command line, a second instance)
//! are served by a running server within a second, and several processes
//! can start together on a new SQLite file.

use std::time::{Duration, Instant};

use crate::common::{
    ALLOWED_ORIGIN, Backend, TestApp, World, agent_command as agent, pg_admin, pg_name, run, text,
};
use fake_graph::Fault;
use reqwest::StatusCode;

/// How soon every instance must serve a change.
const WITHIN: Duration = Duration::from_secs(1);

const SHOP: &str = "/accounts/shop/token.json";

/// The status of `path` and the token it served, if any.
async fn get(app: &TestApp, path: &str) -> (StatusCode, Option<String>) {
    let res = app.get(path).await;
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    (status, body["token"].as_str().map(str::to_string))
}

/// Polls `path` until it answers `status` (with `token`, if given), and
/// returns how long that took; fails after [`WITHIN`].
async fn serves_within(
    app: &TestApp,
    path: &str,
    status: StatusCode,
    token: Option<&str>,
) -> Duration {
    let start = Instant::now();
    loop {
        let (now, served) = get(app, path).await;
        if now == status && (token.is_none() || served.as_deref() == token) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < WITHIN,
            "{path} still answers {now} after {WITHIN:?}, not {status}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn an_account_added_or_removed_from_the_command_line_is_served_within_a_second(
    backend: Backend,
) {
    // Arrange: a running app, and a token the command line will add.
    let world = World::at_wall_clock(backend).await;
    let app = world.spawn(&[]).await;
    assert_eq!(get(&app, SHOP).await.0, StatusCode::NOT_FOUND);
    let token = world
        .fake
        .issue_long_lived_token(&world.user, world.clock.now() - chrono::Duration::days(5));

    // Act: another process adds the account.
    add_from_the_command_line(&world, "shop", &token).await;

    // Assert: the app serves the account's current (refreshed) token.
    let stored = app.store.account("shop").await.unwrap().unwrap().token;
    let took = serves_within(&app, SHOP, StatusCode::OK, Some(&stored)).await;
    eprintln!("{backend:?}: an account added from the command line was served after {took:?}");

    let out = run(agent(&world, &["accounts", "remove", "shop"], &[])).await;
    assert!(out.status.success(), "{}", text(&out));
    let took = serves_within(&app, SHOP, StatusCode::NOT_FOUND, None).await;
    eprintln!("{backend:?}: an account removed from the command line was gone after {took:?}");
    app.stop().await;
}

async fn two_instances_on_one_database_serve_each_others_changes(backend: Backend) {
    // Arrange: two instances on one database, the second serving.
    let world = World::new(backend).await;
    let one = world.spawn(&[]).await;
    let other = world.spawn(&[]).await;
    assert_eq!(get(&other, SHOP).await.0, StatusCode::NOT_FOUND);

    // Act: the first stores an account (and reloads only itself).
    let token = world
        .give_token(&one, "shop", chrono::Duration::days(2))
        .await;

    // Assert: the second serves it, then serves its removal.
    let took = serves_within(&other, SHOP, StatusCode::OK, Some(&token)).await;
    eprintln!("{backend:?}: an account added by another instance was served after {took:?}");
    assert!(one.remove_account("shop").await.unwrap());
    let took = serves_within(&other, SHOP, StatusCode::NOT_FOUND, None).await;
    eprintln!("{backend:?}: an account removed by another instance was gone after {took:?}");
    other.stop().await;
}

/// `token-agent accounts add NAME --token TOKEN`, as another process.
async fn add_from_the_command_line(world: &World, name: &str, token: &str) {
    let out = run(agent(
        world,
        &["accounts", "add", name, "--token", token],
        &[],
    ))
    .await;
    assert!(out.status.success(), "{}", text(&out));
}

/// `/feed.json`'s status, the usernames of its items, and the path of its
/// first mirrored image, if any.
async fn feed(app: &TestApp) -> (StatusCode, Vec<String>, Option<String>) {
    let res = app.get_from("/feed.json", Some(ALLOWED_ORIGIN)).await;
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap_or_default();
    let items = body["data"].as_array().cloned().unwrap_or_default();
    let users = items
        .iter()
        .filter_map(|item| item["username"].as_str().map(str::to_string))
        .collect();
    let image = items
        .iter()
        .find_map(|item| item["mirror"]["src"].as_str())
        .map(|src| url::Url::parse(src).unwrap().path().to_string());
    (status, users, image)
}

/// Polls `/feed.json` until its items are all `user`'s, and returns how
/// long that took and the path of a mirrored image when `mirrored`; fails
/// after `within`.
async fn feed_of(
    app: &TestApp,
    user: &str,
    within: Duration,
    mirrored: bool,
) -> (Duration, String) {
    let start = Instant::now();
    loop {
        let (status, users, image) = feed(app).await;
        let only_user = !users.is_empty() && users.iter().all(|u| u == user);
        if status == StatusCode::OK && only_user && (image.is_some() || !mirrored) {
            return (start.elapsed(), image.unwrap_or_default());
        }
        assert!(
            start.elapsed() < within,
            "after {within:?} the feed answers {status} with {users:?}, not {user}'s posts"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn a_replaced_account_is_served_by_every_process_within_a_second(backend: Backend) {
    // Arrange: two instances on one database, each with the first user's
    // feed cached and its images mirrored.
    let world = World::at_wall_clock(backend).await;
    let cdn = world.fake.cdn_url();
    world.fake.set_options(|o| o.media_base_url = Some(cdn));
    let mirrored = [("MIRROR_POSTS", "2")];
    let one = world.spawn(&mirrored).await;
    let other = world.spawn(&mirrored).await;
    world
        .give_token(&one, "default", chrono::Duration::days(2))
        .await;
    let first = world.user.username.clone();
    // The first to fetch mirrors the images (the other may serve the page
    // it kept in the database, with Instagram's links).
    let (_, image) = feed_of(&one, &first, Duration::from_secs(30), true).await;
    feed_of(&other, &first, WITHIN, false).await;
    let stranger = world.fake.add_instagram_user("someone_else", 3);
    let token = world
        .fake
        .issue_long_lived_token(&stranger, world.clock.now());

    // Act: the command line puts another user's token in place.
    add_from_the_command_line(&world, "default", &token).await;

    // Assert: every process serves the new user's posts within a second,
    // and none serves the former user's images.
    for app in [&one, &other] {
        let (took, _) = feed_of(app, &stranger.username, WITHIN, false).await;
        eprintln!("{backend:?}: a replaced account's feed was served after {took:?}");
        let gone = app.get_from(&image, Some(ALLOWED_ORIGIN)).await.status();
        assert_eq!(gone, StatusCode::NOT_FOUND, "{image}");
    }

    // Act: the first user's token again, while Instagram is down.
    world
        .fake
        .inject("/me/media", Fault::Status(500, "down".into()), 1000);
    let back = world
        .fake
        .issue_long_lived_token(&world.user, world.clock.now());
    add_from_the_command_line(&world, "default", &back).await;

    // Assert: no process serves the other user's copy as this account's
    // feed: it has none of its own yet.
    for app in [&one, &other] {
        let start = Instant::now();
        loop {
            let (status, users, _) = feed(app).await;
            if status != StatusCode::OK {
                break;
            }
            assert!(start.elapsed() < WITHIN, "still {users:?} after {WITHIN:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for _ in 0..5 {
            let (status, users, _) = feed(app).await;
            assert_eq!(status, StatusCode::BAD_GATEWAY, "{users:?}");
        }
    }
    one.stop().await;
    other.stop().await;
}

on_both_backends!(
    an_account_added_or_removed_from_the_command_line_is_served_within_a_second,
    two_instances_on_one_database_serve_each_others_changes,
    a_replaced_account_is_served_by_every_process_within_a_second,
);

/// The pid of the backend LISTENing for account changes in `database`,
/// other than `not`, once there is one (waits at most 10 s).
async fn listening_backend(database: &str, not: Option<i32>) -> i32 {
    let mut admin = pg_admin().await;
    let start = Instant::now();
    loop {
        let pid: Option<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND state = 'idle' \
             AND query ILIKE 'LISTEN%' AND pid IS DISTINCT FROM $2",
        )
        .bind(database)
        .bind(not)
        .fetch_optional(&mut admin)
        .await
        .unwrap();
        if let Some(pid) = pid {
            return pid;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no connection LISTENs for account changes"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_postgresql_listener_survives_its_connection_being_killed() {
    // Arrange: a following app whose listening connection is killed.
    let world = World::new(Backend::Postgres).await;
    let app = world.spawn(&[]).await;
    let writer = world.spawn(&[]).await;
    let database = pg_name(&world);
    let killed = listening_backend(&database, None).await;
    let mut admin = pg_admin().await;
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(killed)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(ended);
    listening_backend(&database, Some(killed)).await;

    // Act: another instance adds an account.
    let token = world
        .give_token(&writer, "shop", chrono::Duration::days(2))
        .await;

    // Assert: it still arrives, and so does the next change.
    let took = serves_within(&app, SHOP, StatusCode::OK, Some(&token)).await;
    eprintln!("a change after the listener's connection was killed was served after {took:?}");
    assert!(writer.remove_account("shop").await.unwrap());
    serves_within(&app, SHOP, StatusCode::NOT_FOUND, None).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_processes_starting_together_on_a_new_sqlite_file_all_come_up() {
    // Arrange: a SQLite file that does not exist yet.
    let world = World::new(Backend::Sqlite).await;

    // Act: eight processes migrate it at once.
    let children: Vec<_> = (0..8)
        .map(|_| agent(&world, &["migrate"], &[]).spawn().unwrap())
        .collect();
    let outputs = tokio::task::spawn_blocking(move || {
        children
            .into_iter()
            .map(|child| child.wait_with_output().unwrap())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();

    // Assert: every one succeeded, and the database works.
    for out in &outputs {
        assert!(out.status.success(), "{}", text(out));
    }
    let out = run(agent(&world, &["status"], &[])).await;
    assert!(out.status.success(), "{}", text(&out));
}
