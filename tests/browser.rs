//! The real-browser test: Debian's Chromium, driven by playwright-core
//! (tests/browser/run.mjs), loads an owner's pages from two local origins and
//! checks what a visitor would see.
//!
//! [`Harness`] starts the fake Graph API, a front for its image host (the CDN,
//! which a test can stop), the agent with ALLOWED_DOMAINS = one of the two
//! page origins and APP_URL = its own address (which a restart keeps), and two
//! static servers for tests/browser/pages/ (plus instafeed.js from npm); then
//! `node tests/browser/run.mjs` runs the named scenarios, and the test fails
//! with its output unless every check passed. Screenshots land in
//! target/browser-artifacts/.
//!
//! Needs Node.js with npm, `/usr/bin/chromium` (`apt-get install -y chromium`)
//! and `npm ci` in tests/browser; ./scripts/test installs them. A missing piece is a
//! failure that says what to install, never a silent skip.

#[path = "api/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use common::{Backend, TestApp, World};
use fake_graph::{CdnImage, MediaType};
use tokio::sync::oneshot;
use warp::Filter;
use warp::http::{Response, StatusCode};

/// Posts each page asks for (instafeed.js `limit`, feed.json `limit`, the
/// embed's `data-limit`).
const POSTS: usize = 12;
/// Hard limit for one browser run; run.mjs gives up a little earlier.
const NODE_DEADLINE: StdDuration = StdDuration::from_secs(150);

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
        "the browser test cannot run; install what is missing (./scripts/test does):\n  - {}",
        missing.join("\n  - ")
    );
}

/// Serves tests/browser/pages/ with `{{AGENT_URL}}` and `{{CDN_URL}}` filled
/// in, and `/instafeed.min.js` from the npm package, on a random loopback
/// port. A page's `<!-- CSP: … -->` line, filled in the same way, is sent
/// as its Content-Security-Policy header.
async fn start_pages(agent_url: String, cdn_url: String) -> String {
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
            let Ok(body) = std::fs::read(&file) else {
                return not_found();
            };
            let mut response = Response::builder()
                .header("content-type", kind)
                .header("cache-control", "no-store");
            if !kind.starts_with("text/html") {
                return response.body(body).unwrap();
            }
            let html = String::from_utf8_lossy(&body)
                .replace("{{AGENT_URL}}", &agent_url)
                .replace("{{CDN_URL}}", &cdn_url);
            let policy = html
                .lines()
                .find_map(|line| line.trim().strip_prefix("<!-- CSP: "))
                .and_then(|rest| rest.strip_suffix(" -->"));
            if let Some(policy) = policy {
                response = response.header("content-security-policy", policy);
            }
            response.body(html.into_bytes()).unwrap()
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(routes).incoming(listener).run());
    url
}

/// The fake's image host behind a server of the test's own, which
/// [`Cdn::stop`] shuts: from then on every image URL upstream handed out
/// fails to connect, as when Instagram's CDN links no longer work.
struct Cdn {
    url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Cdn {
    async fn start(fake_cdn: String) -> Cdn {
        let http = token_agent::tls::http_client().build().unwrap();
        let routes = warp::get()
            .and(warp::path::full())
            .and(warp::query::raw().or(warp::any().map(String::new)).unify())
            .then(move |path: warp::path::FullPath, query: String| {
                let (http, fake_cdn) = (http.clone(), fake_cdn.clone());
                async move {
                    let url = format!("{fake_cdn}{}?{query}", path.as_str());
                    let Ok(res) = http.get(url).send().await else {
                        return not_found();
                    };
                    let status = res.status().as_u16();
                    let kind = res.headers().get("content-type").cloned();
                    let body = res.bytes().await.unwrap_or_default().to_vec();
                    let mut response = Response::builder().status(status);
                    if let Some(kind) = kind {
                        response = response.header("content-type", kind);
                    }
                    response.body(body).unwrap()
                }
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = warp::serve(routes).incoming(listener).graceful(async {
            let _ = stopped.await;
        });
        let task = tokio::spawn(server.run());
        Cdn {
            url,
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// Everything a browser run talks to, each part replaceable between runs.
struct Harness {
    world: World,
    /// The agent's address, kept across restarts.
    addr: SocketAddr,
    /// The running agent.
    app: Option<TestApp>,
    cdn: Cdn,
    allowed: String,
    denied: String,
    token: String,
}

impl Harness {
    async fn start() -> Harness {
        check_prerequisites();
        let world = World::new(Backend::Sqlite).await;
        let cdn = Cdn::start(world.fake.cdn_url()).await;
        let media_base = cdn.url.clone();
        world
            .fake
            .set_options(|o| o.media_base_url = Some(media_base));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let agent_url = format!("http://{addr}");
        // Two origins serving the same pages; only the first is in ALLOWED_DOMAINS.
        let allowed = start_pages(agent_url.clone(), cdn.url.clone()).await;
        let denied = start_pages(agent_url, cdn.url.clone()).await;
        let mut harness = Harness {
            world,
            addr,
            app: None,
            cdn,
            allowed,
            denied,
            token: String::new(),
        };
        let app = harness.agent(listener).await;
        harness.token = harness
            .world
            .give_token(&app, "default", Duration::days(2))
            .await;
        harness.withheld_account(&app).await;
        harness.app = Some(app);
        harness
    }

    /// The account `withheld`: an image, a reel whose media and thumbnail
    /// Instagram leaves out, and an image whose link answers a web page.
    async fn withheld_account(&self, app: &TestApp) {
        let user = self.world.add_instagram_account(app, "withheld", 3).await;
        let media = self.world.fake.media_of(&user);
        let kinds: Vec<MediaType> = media.iter().map(|m| m.media_type).collect();
        assert_eq!(
            kinds,
            [MediaType::Image, MediaType::Video, MediaType::Image]
        );
        self.world.fake.withhold(&media[1].id, true, false);
        self.world.fake.withhold_thumbnail(&media[1].id);
        self.world
            .fake
            .cdn()
            .answer(&media[2].id, CdnImage::NotAnImage);
    }

    fn agent_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The agent as a fresh process starts it on `listener`: the same
    /// database and settings, nothing in memory.
    /// It copies every post's images (the fake's account has fewer than
    /// MIRROR_POSTS' most) from the image host.
    async fn agent(&self, listener: tokio::net::TcpListener) -> TestApp {
        let agent_url = self.agent_url();
        let cdn_host = self.cdn.url.trim_start_matches("http://").to_string();
        self.world
            .spawner(&[
                ("ALLOWED_DOMAINS", &self.allowed),
                ("APP_URL", &agent_url),
                ("MIRROR_POSTS", "50"),
                ("MEDIA_CDN_HOSTS", &cdn_host),
            ])
            .on(listener)
            .start()
            .await
    }

    /// Waits, within a deadline, until the agent has copied every image it
    /// has been asked to.
    async fn mirror_settled(&self) {
        let app = self.app.as_ref().expect("the agent runs");
        app.mirror_settled().await;
    }

    /// Stops the agent and starts it again on the same database and address.
    async fn restart_agent(&mut self) {
        if let Some(app) = self.app.take() {
            app.stop().await;
        }
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.app = Some(self.agent(listener).await);
    }

    /// Shuts the image host: every media URL upstream handed out fails.
    async fn stop_cdn(&mut self) {
        self.cdn.stop().await;
    }

    /// Runs run.mjs's `scenarios` in one browser; panics with its output
    /// unless every check passed.
    async fn run(&self, scenarios: &[&str]) {
        let node_env = vec![
            ("SCENARIOS", scenarios.join(",")),
            ("AGENT_URL", self.agent_url()),
            ("ALLOWED_PAGE_URL", self.allowed.clone()),
            ("DENIED_PAGE_URL", self.denied.clone()),
            ("FAKE_GRAPH_URL", self.world.fake.instagram_graph_url()),
            ("TOKEN", self.token.clone()),
            ("EXPECTED_POSTS", POSTS.to_string()),
            (
                "TOTAL_POSTS",
                self.world.fake.media_of(&self.world.user).len().to_string(),
            ),
            ("CHROMIUM", chromium_path().display().to_string()),
        ];
        let log = format!("{}.log", scenarios.join("+"));
        let (passed, output) = tokio::task::spawn_blocking(move || run_node(node_env, &log))
            .await
            .unwrap();
        println!("{output}");
        assert!(
            passed,
            "the browser test failed: see its output above; screenshots and logs are in {}",
            artifacts_dir().display()
        );
    }

    async fn stop(mut self) {
        if let Some(app) = self.app.take() {
            app.stop().await;
        }
        self.cdn.stop().await;
    }
}

fn not_found() -> Response<Vec<u8>> {
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .header("content-type", "text/plain")
        .body(b"Not found".to_vec())
        .unwrap()
}

/// Runs run.mjs to the end (or the deadline); returns whether it passed and its output.
fn run_node(env: Vec<(&'static str, String)>, log: &str) -> (bool, String) {
    let artifacts = artifacts_dir();
    std::fs::create_dir_all(&artifacts).unwrap();
    let log_path = artifacts.join(log);
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
    let mut harness = Harness::start().await;
    harness
        .run(&[
            "instafeed-allowed",
            "instafeed-denied",
            "feed-allowed",
            "feed-denied",
            "embed-allowed",
            "embed-denied",
            "embed-layout",
            "embed-load-more",
            "frame-allowed",
            "frame-denied",
            "embed-placeholder",
        ])
        .await;
    // A new process on the same database, and no image host: every image
    // still renders from the agent's copies, the boxes are still sized from
    // the feed alone, and strangers still get nothing.
    harness.mirror_settled().await;
    harness.stop_cdn().await;
    harness.restart_agent().await;
    harness
        .run(&["embed-offline", "embed-layout", "embed-denied"])
        .await;
    harness.stop().await;
}
