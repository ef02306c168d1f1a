//! The real-browser test: Debian's Chromium, driven by playwright-core
//! (tests/browser/run.mjs), loads an owner's pages from two local origins and
//! checks what a visitor would see.
//!
//! This test starts the fake Graph API (images served by the fake itself), the
//! agent with ALLOWED_DOMAINS = one of the two page origins, and two static
//! servers for tests/browser/pages/ (plus instafeed.js from npm); then it runs
//! `node tests/browser/run.mjs` and fails with its output unless every check
//! passed. Screenshots land in target/browser-artifacts/.
//!
//! Needs Node.js with npm, `/usr/bin/chromium` (`apt-get install -y chromium`)
//! and `npm ci` in tests/browser; .ci/run installs them. A missing piece is a
//! failure that says what to install, never a silent skip.

#[path = "api/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use common::{Backend, Server, World};
use warp::Filter;
use warp::http::{Response, StatusCode};

/// Posts each page asks for (instafeed.js `limit`, feed.json `limit`).
const POSTS: usize = 12;
/// Hard limit for the whole browser run; run.mjs gives up a little earlier.
const NODE_DEADLINE: StdDuration = StdDuration::from_secs(60);

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("browser-artifacts")
}

fn chromium_path() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Everything the browser run needs, or a panic that says how to get it.
fn check_prerequisites() {
    let mut missing = Vec::new();
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        _ => missing
            .push("Node.js (`node` on PATH) with npm: apt-get install -y nodejs npm".to_string()),
    }
    let chromium = chromium_path();
    if !chromium.is_file() {
        missing.push(format!(
            "Chromium at {}: apt-get install -y chromium (or set CHROMIUM to its path)",
            chromium.display()
        ));
    }
    let modules = browser_dir().join("node_modules");
    for package in [
        "playwright-core/package.json",
        "instafeed.js/dist/instafeed.min.js",
    ] {
        if !modules.join(package).is_file() {
            missing.push(format!(
                "{}: run `npm ci` in tests/browser",
                modules.join(package).display()
            ));
        }
    }
    assert!(
        missing.is_empty(),
        "the browser test cannot run; install what is missing (.ci/run does):\n  - {}",
        missing.join("\n  - ")
    );
}

/// Serves tests/browser/pages/ with `{{AGENT_URL}}` filled in, and
/// `/instafeed.min.js` from the npm package, on a random loopback port.
/// The agent's URL is set once the agent is listening, before any page is asked for.
async fn start_pages(agent_url: Arc<OnceLock<String>>) -> String {
    let pages = browser_dir().join("pages");
    let instafeed = browser_dir().join("node_modules/instafeed.js/dist/instafeed.min.js");
    let routes = warp::get()
        .and(warp::path::tail())
        .map(move |tail: warp::path::Tail| {
            let name = tail.as_str();
            let (file, kind) = if name == "instafeed.min.js" {
                (instafeed.clone(), "application/javascript")
            } else if name.ends_with(".html")
                && !name.contains('/')
                && !name.contains("..")
                && !name.starts_with('.')
            {
                (pages.join(name), "text/html; charset=utf-8")
            } else {
                return not_found();
            };
            let Ok(mut body) = std::fs::read(&file) else {
                return not_found();
            };
            if kind.starts_with("text/html") {
                body = String::from_utf8_lossy(&body)
                    .replace("{{AGENT_URL}}", agent_url.get().expect("agent started"))
                    .into_bytes();
            }
            Response::builder()
                .header("content-type", kind)
                .header("cache-control", "no-store")
                .body(body)
                .unwrap()
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(routes).incoming(listener).run());
    url
}

fn not_found() -> Response<Vec<u8>> {
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .header("content-type", "text/plain")
        .body(b"Not found".to_vec())
        .unwrap()
}

/// Runs run.mjs to the end (or the deadline); returns whether it passed and its output.
fn run_node(env: Vec<(&'static str, String)>) -> (bool, String) {
    let artifacts = artifacts_dir();
    std::fs::create_dir_all(&artifacts).unwrap();
    let log_path = artifacts.join("run.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new("node")
        .arg("run.mjs")
        .current_dir(browser_dir())
        .envs(env)
        .env("SCREENSHOT_DIR", &artifacts)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start node (is Node.js installed?)");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > NODE_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(StdDuration::from_millis(100));
    };
    let mut output = std::fs::read_to_string(&log_path).unwrap_or_default();
    let passed = match status {
        Some(status) => {
            output.push_str(&format!("\n(node exited with {status})\n"));
            status.success()
        }
        None => {
            output.push_str(&format!(
                "\n(node killed after {} s)\n",
                NODE_DEADLINE.as_secs()
            ));
            false
        }
    };
    (passed, output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_renders_feeds_and_keeps_the_token_from_strangers() {
    check_prerequisites();

    let world = World::new(Backend::Sqlite).await;
    let cdn = world.fake.cdn_url();
    world.fake.set_options(|o| o.media_base_url = Some(cdn));

    // Two origins serving the same pages; only the first is in ALLOWED_DOMAINS.
    let agent_url = Arc::new(OnceLock::new());
    let allowed = start_pages(agent_url.clone()).await;
    let denied = start_pages(agent_url.clone()).await;

    let app = world.app(&[("ALLOWED_DOMAINS", &allowed)]).await;
    let token = world.give_token(&app, "default", Duration::days(2)).await;
    let server = Server::start(app).await;
    let agent_url = agent_url.get_or_init(|| server.url("")).clone();

    let node_env = vec![
        ("AGENT_URL", agent_url.clone()),
        ("ALLOWED_PAGE_URL", allowed.clone()),
        ("DENIED_PAGE_URL", denied.clone()),
        ("FAKE_GRAPH_URL", world.fake.instagram_graph_url()),
        ("TOKEN", token.clone()),
        ("EXPECTED_POSTS", POSTS.to_string()),
        ("CHROMIUM", chromium_path().display().to_string()),
    ];
    let (passed, output) = tokio::task::spawn_blocking(move || run_node(node_env))
        .await
        .unwrap();
    println!("{output}");
    assert!(
        passed,
        "the browser test failed: see its output above; screenshots and run.log are in {}",
        artifacts_dir().display()
    );

    server.stop().await;
}
