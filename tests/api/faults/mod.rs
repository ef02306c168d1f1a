//! Faults and bad input, end to end: refreshes killed at random points,
//! PostgreSQL going away and coming back, memcached dead or silent, every
//! kind of broken upstream answer, and a minute of mixed load on the binary.
//! Everything runs on loopback with random ports; time moves by the injected
//! clock except where a real process, socket or timeout is the point.
//!
//! `refresh.rs` (refreshes killed or answered badly), `feed.rs` (broken feed
//! answers, memcached faults), `outages.rs` (PostgreSQL going away, mixed
//! load on the binary); the helpers they share are here.

mod feed;
mod outages;
mod refresh;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration as StdDuration, Instant};

use crate::common::memcached::{self, Memcached};
use crate::common::{
    Backend, Rig, TestApp, World, bring_database_back, pg_name, spawn_app, take_database_down,
};
use chrono::{Duration, Utc};
use fake_graph::{Fault, TokenStatus};
use reqwest::StatusCode;
use serde_json::Value;
use token_agent::app::App;
use token_agent::refresher::{self, Outcome};
use token_agent::store::{AccountKind, NewToken};

const REFRESH: &str = "/refresh_access_token";
const MEDIA: &str = "/me/media";
const ORIGIN: &str = "https://example.com";

// ---------------------------------------------------------------------------
// Helpers

fn http() -> reqwest::Client {
    token_agent::tls::http_client()
        .timeout(StdDuration::from_secs(20))
        .build()
        .unwrap()
}

async fn get(http: &reqwest::Client, url: &str) -> (StatusCode, String) {
    let res = http
        .get(url)
        .header("Origin", ORIGIN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = res.status();
    (status, res.text().await.unwrap())
}

async fn get_json(http: &reqwest::Client, url: &str) -> (StatusCode, Value) {
    let (status, text) = get(http, url).await;
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("GET {url} answered {status} with non-JSON ({e}): {text}"));
    (status, value)
}

/// Polls a condition of the outside world (a process, a socket, a server
/// coming back); never used to let the agent's own time pass.
async fn wait_for(what: &str, limit: StdDuration, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition().await {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    panic!("waited {limit:?} for {what}");
}

fn is_valid(world: &World, token: &str) -> bool {
    matches!(world.fake.token_status(token), TokenStatus::Valid { .. })
}

/// The binary with its output discarded: killed or long-running children
/// here are never read from, and a full pipe would stall them.
fn agent_command(world: &World, args: &[&str], extra: &[(&str, &str)]) -> Command {
    let mut cmd = crate::common::agent_command(world, args, extra);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Resident memory of a process, from /proc.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// Kills and reaps a child when dropped, so a failing test leaves no process.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn random_below(limit: u64) -> u64 {
    if limit == 0 {
        0
    } else {
        rand::random::<u64>() % limit
    }
}
