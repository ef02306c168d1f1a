//! The deploy targets as this machine can play them: a Heroku dyno (the
//! Procfile's processes with what app.json generates, PostgreSQL over TLS,
//! a SASL memcached as MemCachier, requests as Heroku's router sends them),
//! docker-compose.yml's agent with its own environment, the Dockerfile's
//! user and volume rules, and the public URL every platform feeds. The
//! files themselves (the button, app.json, render.yaml, fly.toml, the
//! Dockerfile, docker-compose.yml) are checked against what the code does.
//!
//! `files.rs` (the deploy files), `public_url.rs` (the URL the agent tells,
//! in process), `processes.rs` (the platforms as processes); the helpers they
//! share are here.

mod files;
mod processes;
mod public_url;

use std::collections::BTreeMap;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

use crate::common::memcached::Memcached;
use crate::common::{Backend, TestDb, World, text};
use fake_graph::FakeApp;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BINARY: &str = env!("CARGO_BIN_EXE_token-agent");
/// A Heroku app made since June 2023 lives at NAME-<12 hex>.herokuapp.com.
const HEROKU_HOST: &str = "sunny-tokens-4f3c2a1b9e8d.herokuapp.com";

/// The README section under `heading`, up to the next heading.
fn readme_section(heading: &str) -> String {
    let readme = read("README.md");
    let start = readme
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("the README has no {heading} section"))
        + 1;
    let body = &readme[start + heading.len()..];
    let end = [body.find("\n## "), body.find("\n### ")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(body.len());
    body[..end].to_string()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Yaml {
    YamlLoader::load_from_str(&read(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .remove(0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http() -> reqwest::Client {
    token_agent::tls::http_client()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn basic(password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("owner:{password}"))
    )
}

/// Polls `check` until it holds, for at most `limit`.
async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("waited {limit:?} for {what}");
}

async fn healthy(port: u16) -> bool {
    let url = format!("http://127.0.0.1:{port}/healthz");
    matches!(http().get(url).send().await, Ok(r) if r.status() == StatusCode::OK)
}

/// Sends SIGTERM and waits (at most `limit`) for the process to exit.
async fn terminate(child: Child, limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let pid = child.id();
    let waiting = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap());
    match tokio::time::timeout(limit, waiting).await {
        Ok(output) => (output.unwrap(), started.elapsed()),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("the process did not exit within {limit:?} of SIGTERM");
        }
    }
}

/// A Procfile line as a command on the built binary.
fn procfile_command(kind: &str) -> Command {
    let procfile = read("Procfile");
    let line = procfile
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{kind}:")))
        .unwrap_or_else(|| panic!("no {kind} process in the Procfile"));
    let mut words = line.split_whitespace();
    assert_eq!(
        words.next(),
        Some("./target/release/token-agent"),
        "the buildpack leaves the binary there"
    );
    let mut cmd = Command::new(BINARY);
    cmd.args(words)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// What app.json makes of its `env` on a new app: generated secrets,
/// default values, and `required` ones as the user would fill them in.
fn app_json_environment() -> (BTreeMap<String, String>, Vec<String>) {
    let app: Value = serde_json::from_str(&read("app.json")).unwrap();
    let mut env = BTreeMap::new();
    let mut generated = Vec::new();
    for (name, spec) in app["env"].as_object().unwrap() {
        if spec["generator"] == "secret" {
            // Heroku's generator: 64 hex characters.
            let secret = hex::encode(rand::random::<[u8; 32]>());
            generated.push(secret.clone());
            env.insert(name.clone(), secret);
        } else if let Some(value) = spec["value"].as_str() {
            env.insert(name.clone(), value.to_string());
        } else if spec["required"] == true {
            assert_eq!(
                name, "ALLOWED_DOMAINS",
                "a new required variable: fill it here"
            );
            env.insert(name.clone(), "example.com www.example.com".into());
        }
    }
    (env, generated)
}
