//! End-to-end tests: the fake on a random port, hit with reqwest. Time moves
//! only through the manual clock; nothing sleeps.

mod facebook;
mod faults;
mod graph_instagram;
mod oauth;
mod usage;

use chrono::{DateTime, Duration, TimeZone, Utc};
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::{FakeGraph, FakeOptions, FakeUser};
use crate::clock::ManualClock;

pub(super) fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

/// A fake on a manual clock with one seeded user and a long-lived token
/// issued two days ago (old enough to refresh).
pub(super) struct World {
    pub fake: FakeGraph,
    pub clock: ManualClock,
    pub user: FakeUser,
    pub token: String,
}

pub(super) async fn world_with(options: FakeOptions, media: usize) -> World {
    let clock = ManualClock::new(start_time());
    let fake = FakeGraph::start_with(clock.clone(), options).await;
    let user = fake.add_instagram_user("bakery_on_the_corner", media);
    let token = fake.issue_long_lived_token(&user, start_time() - Duration::days(2));
    World {
        fake,
        clock,
        user,
        token,
    }
}

pub(super) async fn world() -> World {
    world_with(FakeOptions::default(), 12).await
}

pub(super) struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }

    pub fn error_code(&self) -> i64 {
        self.json()["error"]["code"].as_i64().unwrap()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A client as the agent builds one: reqwest on rustls with ring.
pub(super) fn client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

pub(super) fn client() -> reqwest::Client {
    client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(super) async fn answer(response: reqwest::Response) -> Answer {
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap(),
    }
}

pub(super) async fn get(url: &str, query: &[(&str, &str)]) -> Answer {
    answer(client().get(url).query(query).send().await.unwrap()).await
}

pub(super) async fn post_form(url: &str, form: &[(&str, &str)]) -> Answer {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let response = client()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    answer(response).await
}
