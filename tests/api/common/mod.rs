//! Shared set-up for the integration tests: a fresh database per test
//! (SQLite file or PostgreSQL database), the project's fake Graph API, and
//! the real agent served on a random port.

#![allow(dead_code)] // each test binary uses a different part of this

pub mod logs;
pub mod memcached;

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use fake_graph::{FakeGraph, FakeUser};
use token_agent::app::App;
use token_agent::clock::Clock;
use token_agent::config::Config;
use token_agent::config::ServerConfig;
use token_agent::http::limits::Limits;
use token_agent::refresher::Steps;
use token_agent::startup::Application;
use token_agent::store::{AccountKind, NewToken};

/// Where PostgreSQL tests create their databases.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test and is dropped with it.
pub struct TestDb {
    pub url: String,
    backend: Backend,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("agent.db").display());
                TestDb {
                    url,
                    backend,
                    _dir: Some(dir),
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                use sqlx::Connection;
                let name = format!("token_agent_test_{:016x}", rand::random::<u64>());
                let mut admin = sqlx::PgConnection::connect(&postgres_admin_url())
                    .await
                    .expect("PostgreSQL must be reachable at TEST_POSTGRES_URL (default 127.0.0.1:5432)");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .expect("create test database");
                let mut url = url::Url::parse(&postgres_admin_url()).unwrap();
                url.set_path(&name);
                TestDb {
                    url: url.to_string(),
                    backend,
                    _dir: None,
                    pg_name: Some(name),
                }
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs inside the test's runtime; use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                use sqlx::Connection;
                if let Ok(mut admin) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut admin)
                    .await;
                }
            });
        })
        .join();
    }
}

/// A test's world: one clock shared by the fake and the agent.
pub struct World {
    pub clock: Clock,
    pub fake: FakeGraph,
    pub db: TestDb,
    pub user: FakeUser,
}

pub fn start_time() -> DateTime<Utc> {
    // A fixed, realistic "now" so that tests never depend on the wall clock.
    chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 6, 1, 9, 0, 0).unwrap()
}

impl World {
    pub async fn new(backend: Backend) -> World {
        World::starting_at(backend, start_time()).await
    }

    pub async fn starting_at(backend: Backend, now: DateTime<Utc>) -> World {
        let clock = Clock::manual(now);
        let fake = FakeGraph::start(clock.clone()).await;
        let user = fake.add_instagram_user("sunny_bakery", 30);
        World {
            clock,
            fake,
            db: TestDb::new(backend).await,
            user,
        }
    }

    /// Environment for an agent wired to this world.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("DATABASE_URL", self.db.url.as_str()),
            (
                "ALLOWED_DOMAINS",
                "example.com, https://www.example.com http://localhost:8080 *.blog.net",
            ),
            ("INSTAGRAM_GRAPH_URL", &self.fake.instagram_graph_url()),
            ("INSTAGRAM_OAUTH_URL", &self.fake.instagram_oauth_url()),
            ("FACEBOOK_GRAPH_URL", &self.fake.facebook_graph_url()),
            ("UPSTREAM_TIMEOUT_MS", "2000"),
            // Nothing off this machine is ever fetched: the look-alike
            // cdninstagram.com URLs are refused, the fake CDN's allowed.
            ("MEDIA_CDN_HOSTS", &self.fake.cdn().host()),
            ("APP_URL", "https://agent.example.com"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    pub fn config(&self, extra: &[(&str, &str)]) -> Config {
        let mut env = self.env();
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push((k.to_string(), v.to_string()));
        }
        let mut config = Config::from_vars(env).expect("test configuration");
        config.refresh_wake_gap = std::time::Duration::ZERO;
        config
    }

    /// A long-lived token the fake issued `age` ago, stored as account `name`.
    pub async fn give_token(&self, app: &App, name: &str, age: Duration) -> String {
        let issued = self.clock.now() - age;
        let token = self.fake.issue_long_lived_token(&self.user, issued);
        app.store
            .put_token(
                &NewToken {
                    name: name.into(),
                    kind: AccountKind::Instagram,
                    token: token.clone(),
                    user_id: None,
                    username: None,
                    issued_at: Some(issued),
                    expires_at: Some(issued + Duration::days(60)),
                    next_refresh_at: Some(issued + Duration::days(7)),
                },
                self.clock.now(),
            )
            .await
            .unwrap();
        app.reload().await.unwrap();
        token
    }
}

impl World {
    /// Keeps `token` as the account `name`, issued now for 60 days (no
    /// refresh planned), and loads it into `app`.
    pub async fn put_account(
        &self,
        app: &App,
        name: &str,
        kind: AccountKind,
        token: &str,
        user_id: Option<&str>,
    ) {
        let now = self.clock.now();
        let token = NewToken {
            name: name.into(),
            kind,
            token: token.into(),
            user_id: user_id.map(str::to_string),
            username: None,
            issued_at: Some(now),
            expires_at: Some(now + Duration::days(60)),
            next_refresh_at: None,
        };
        app.store.put_token(&token, now).await.unwrap();
        app.reload().await.unwrap();
    }

    /// An Instagram-Login account `name`, for a new fake user of that name
    /// with `media` posts.
    pub async fn add_instagram_account(&self, app: &App, name: &str, media: usize) -> FakeUser {
        let user = self.fake.add_instagram_user(name, media);
        let token = self.fake.issue_long_lived_token(&user, self.clock.now());
        self.put_account(app, name, AccountKind::Instagram, &token, None)
            .await;
        user
    }

    /// A Facebook-Login account `name` (one that can search hashtags), for
    /// a new fake user `username` with `media` posts.
    pub async fn add_facebook_account(
        &self,
        app: &App,
        name: &str,
        username: &str,
        media: usize,
    ) -> FakeUser {
        let user = self.fake.add_instagram_user(username, media);
        let token = self
            .fake
            .issue_facebook_user_token(&user, self.clock.now(), true);
        self.put_account(app, name, AccountKind::Facebook, &token, None)
            .await;
        user
    }
}

impl World {
    /// For tests that run the binary, which reads the wall clock: the fake
    /// starts at the same time.
    pub async fn at_wall_clock(backend: Backend) -> World {
        #[allow(clippy::disallowed_methods)]
        let now = Utc::now();
        World::starting_at(backend, now).await
    }
}

/// The `token-agent` binary with this world's environment (and nothing
/// else from the test's), output captured.
pub fn agent_command(
    world: &World,
    args: &[&str],
    extra: &[(&str, &str)],
) -> std::process::Command {
    use std::process::Stdio;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_token-agent"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(world.env())
        .envs(extra.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs the binary to the end, off the async runtime's threads.
pub async fn run(mut cmd: std::process::Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("the binary runs"))
        .await
        .unwrap()
}

/// What a finished run printed, stdout then stderr.
pub fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The agent as it ships, started through [`Application`] on a random
/// loopback port: the HTTP server, the change listener and the refresher,
/// supervised together as `token-agent serve` runs them. The refresher is
/// held (no pass runs, not even the one at start) until the test asks for a
/// pass with [`TestApp::refresher_pass`], so calls to the fake stay exact;
/// a test of the loop itself lets it run on its own with [`Spawn::free`].
pub struct TestApp {
    pub app: Arc<App>,
    pub addr: SocketAddr,
    /// The limits the server runs under (a test with its own clock sweeps them).
    pub limits: Arc<Limits>,
    /// A client as a browser uses the agent (redirects followed).
    pub http: reqwest::Client,
    steps: Option<Steps>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl std::ops::Deref for TestApp {
    type Target = App;

    fn deref(&self) -> &App {
        &self.app
    }
}

/// How a test starts its agent: the world's environment, then any changes.
pub struct Spawn<'w> {
    world: &'w World,
    config: Config,
    listener: Option<tokio::net::TcpListener>,
    limits: Option<(ServerConfig, Clock)>,
    free: bool,
}

impl<'w> Spawn<'w> {
    /// Changes the configuration made from the environment.
    pub fn config(mut self, change: impl FnOnce(&mut Config)) -> Self {
        change(&mut self.config);
        self
    }

    /// Serves on a listener bound beforehand (to put its URL in APP_URL).
    pub fn on(mut self, listener: tokio::net::TcpListener) -> Self {
        self.listener = Some(listener);
        self
    }

    /// Judges the connection limits by `clock` under `server`.
    pub fn limits(mut self, server: ServerConfig, clock: Clock) -> Self {
        self.limits = Some((server, clock));
        self
    }

    /// Lets the refresher run on its own, as it does when serving.
    pub fn free(mut self) -> Self {
        self.free = true;
        self
    }

    pub async fn start(self) -> TestApp {
        let app = App::open(self.config, self.world.clock.clone())
            .await
            .expect("app opens");
        let listener = match self.listener {
            Some(listener) => listener,
            None => tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        };
        TestApp::start(app, listener, self.limits, self.free)
    }
}

/// What most tests start from: a new world, the agent started on it, and
/// the world's user kept as the account `default` (a token issued two days
/// ago, so old enough to refresh and not yet due).
pub struct Rig {
    pub world: World,
    pub app: TestApp,
    pub token: String,
}

/// The agent on a new world of `backend` with `extra` environment, and the
/// world's user as the account `default`.
pub async fn spawn_app(backend: Backend, extra: &[(&str, &str)]) -> Rig {
    let world = World::new(backend).await;
    let app = world.spawn(extra).await;
    let token = world.give_token(&app, "default", Duration::days(2)).await;
    Rig { world, app, token }
}

impl World {
    /// The agent on this world's environment plus `extra`.
    pub async fn spawn(&self, extra: &[(&str, &str)]) -> TestApp {
        self.spawner(extra).start().await
    }

    /// A start to change before [`Spawn::start`].
    pub fn spawner(&self, extra: &[(&str, &str)]) -> Spawn<'_> {
        Spawn {
            world: self,
            config: self.config(extra),
            listener: None,
            limits: None,
            free: false,
        }
    }
}

impl TestApp {
    fn start(
        app: Arc<App>,
        listener: tokio::net::TcpListener,
        limits: Option<(ServerConfig, Clock)>,
        free: bool,
    ) -> TestApp {
        let mut application =
            Application::on(app.clone(), listener).expect("the listener has an address");
        if let Some((server, clock)) = limits {
            application = application.with_limits(server, clock);
        }
        let steps = (!free).then(|| application.stepped_refresher());
        let addr = application.addr();
        let limits = application.limits().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(application.run_until_stopped(async {
            let _ = stopped.await;
        }));
        TestApp {
            app,
            addr,
            limits,
            http: token_agent::tls::http_client().build().unwrap(),
            steps,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Waits, within a deadline, until the mirror has copied every image it
    /// has been asked to.
    pub async fn mirror_settled(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while self.mirror.busy() {
            assert!(
                std::time::Instant::now() < deadline,
                "the mirror never settled"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Runs one pass of the refresher's loop (reload, due refreshes,
    /// Facebook checks, warnings) and waits for it.
    pub async fn refresher_pass(&self) {
        let steps = self.steps.as_ref().expect("the refresher is held");
        assert!(steps.pass().await, "the refresher has stopped");
    }

    /// GET `path` as a page of `origin` would (None: no Origin header).
    pub async fn get_from(&self, path: &str, origin: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(self.url(path));
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        request.send().await.unwrap()
    }

    /// GET `path` with these headers and no others of the test's.
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.http.get(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    /// GET `path` from an allowed site, https://example.com.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.get_from(path, Some(ALLOWED_ORIGIN)).await
    }

    /// GET `path` from an allowed site: the status and the JSON body (null
    /// if the body is not JSON).
    pub async fn json(&self, path: &str) -> (reqwest::StatusCode, serde_json::Value) {
        let res = self.get(path).await;
        let status = res.status();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// `/token.json` from an allowed site.
    pub async fn token_json(&self) -> reqwest::Response {
        self.get("/token.json").await
    }

    /// A page of the agent's own (`/`, `/status`, `/admin`…) signed in with
    /// `password` when given.
    pub async fn page(&self, path: &str, password: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(self.url(path));
        if let Some(password) = password {
            request = request.basic_auth("admin", Some(password));
        }
        request.send().await.unwrap()
    }

    /// `/metrics` with `token` as its bearer.
    pub async fn metrics(&self, token: &str) -> reqwest::Response {
        self.http
            .get(self.url("/metrics"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// Stops the agent as SIGTERM does, and waits until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().expect("the agent stops cleanly");
        }
    }
}

/// Turns an agent link (on the world's APP_URL) into a path on the test server.
pub fn local(link: &str) -> String {
    link.strip_prefix("https://agent.example.com")
        .expect("links point at APP_URL")
        .to_string()
}

/// The seconds an answer's `Retry-After` asks a client to wait.
pub fn retry_after(res: &reqwest::Response) -> i64 {
    res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The Origin the world's ALLOWED_DOMAINS lets in.
pub const ALLOWED_ORIGIN: &str = "https://example.com";

/// A client that follows no redirects, on the agent's TLS set-up.
pub fn client() -> reqwest::Client {
    token_agent::tls::http_client()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

// PostgreSQL going away while serving.

pub async fn pg_admin() -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(&postgres_admin_url())
        .await
        .expect("PostgreSQL admin connection")
}

pub fn pg_name(world: &World) -> String {
    url::Url::parse(&world.db.url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_string()
}

/// Refuses new connections to the test database and ends the open ones.
pub async fn take_database_down(name: &str) {
    let mut admin = pg_admin().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {name} ALLOW_CONNECTIONS false"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(name)
    .execute(&mut admin)
    .await
    .unwrap();
}

pub async fn bring_database_back(name: &str) {
    let mut admin = pg_admin().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {name} ALLOW_CONNECTIONS true"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
}

/// Declares one async test body and runs it once per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

/// A local webhook sink that records what it receives.
pub async fn webhook_sink(
    status: std::sync::Arc<std::sync::Mutex<u16>>,
) -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    use warp::Filter;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let route = warp::post()
        .and(warp::body::json())
        .map(move |body: serde_json::Value| {
            record.lock().unwrap().push(body);
            let code = *status.lock().unwrap();
            warp::reply::with_status("ok", warp::http::StatusCode::from_u16(code).unwrap())
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(route).incoming(listener).run());
    (url, seen)
}
