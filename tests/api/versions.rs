//! The Graph API version the agent calls: /status and the warning channels
//! say, from 90 days before GRAPH_API_VERSION ends, that it should move,
//! once per version on the channels; a version without a known end says
//! nothing.

use std::sync::{Arc, Mutex};

use chrono::{TimeZone, Utc};
use serde_json::Value;

use crate::common::{Backend, TestApp, World, webhook_sink};

const PASSWORD: &str = "version-test-admin-pw";

/// An agent on `version` on 2026-12-22, with an admin and a webhook sink,
/// and what the sink receives.
async fn spawn_on(backend: Backend, version: &str) -> (World, TestApp, Arc<Mutex<Vec<Value>>>) {
    let now = Utc.with_ymd_and_hms(2026, 12, 22, 12, 0, 0).unwrap();
    let world = World::starting_at(backend, now).await;
    let (hook, seen) = webhook_sink(Arc::new(Mutex::new(200))).await;
    let app = world
        .spawn(&[
            ("GRAPH_API_VERSION", version),
            ("ADMIN_PASSWORD", PASSWORD),
            ("NOTIFY_WEBHOOK_URL", hook.as_str()),
        ])
        .await;
    (world, app, seen)
}

async fn the_owner_is_told_before_the_graph_version_ends(backend: Backend) {
    // Arrange: v21.0 ends on 2027-01-21; it is 30 days before.
    let (_world, app, seen) = spawn_on(backend, "v21.0").await;

    // Act: two passes of the refresher.
    app.refresher_pass().await;
    app.refresher_pass().await;
    let status = app
        .page("/status", Some(PASSWORD))
        .await
        .text()
        .await
        .unwrap();

    // Assert: one notice on the channel, and the status page says it.
    let events = seen.lock().unwrap().clone();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event"], "graph_api.version_ends");
    assert_eq!(events[0]["version"], "v21.0");
    assert_eq!(events[0]["ends_at"], "2027-01-21T00:00:00Z");
    assert_eq!(events[0]["newest"], "v25.0");
    assert!(status.contains("Graph API v21.0 ends on"), "{status}");
    assert!(status.contains("not affected"), "{status}");
}

async fn a_version_far_from_its_end_or_without_one_says_nothing(backend: Backend) {
    for version in ["v25.0", "v26.0"] {
        let (_world, app, seen) = spawn_on(backend, version).await;
        app.refresher_pass().await;
        let status = app
            .page("/status", Some(PASSWORD))
            .await
            .text()
            .await
            .unwrap();
        assert!(seen.lock().unwrap().is_empty(), "{version}");
        assert!(!status.contains("Graph API v"), "{version}: {status}");
    }
}

on_both_backends!(
    the_owner_is_told_before_the_graph_version_ends,
    a_version_far_from_its_end_or_without_one_says_nothing,
);
