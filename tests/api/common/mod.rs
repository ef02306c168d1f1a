//! Shared set-up for the integration tests: a fresh database per test
//! (SQLite file or PostgreSQL database), the project's fake Graph API, and
//! the real agent served on a random port.

#![allow(dead_code)] // each test binary uses a different part of this

pub mod logs;
pub mod memcached;

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use token_agent::app::App;
use token_agent::clock::Clock;
use token_agent::config::Config;
use token_agent::fake::{FakeGraph, FakeUser};
use token_agent::http::limits::Limits;
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

    pub async fn app(&self, extra: &[(&str, &str)]) -> Arc<App> {
        App::open(self.config(extra), self.clock.clone())
            .await
            .expect("app opens")
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

/// The agent's HTTP server on a random port.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    pub async fn start(app: Arc<App>) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Server::start_on(app, listener)
    }

    /// The server with the given limits (a manual clock's, say).
    pub async fn start_with(app: Arc<App>, limits: Arc<Limits>) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Server::spawn(app, limits, listener)
    }

    /// The server on a listener bound beforehand, so that the agent's URL
    /// can be in its own configuration (APP_URL).
    pub fn start_on(app: Arc<App>, listener: tokio::net::TcpListener) -> Server {
        let limits = Limits::new(
            app.config.server.clone(),
            Clock::System,
            app.metrics.server.clone(),
        );
        Server::spawn(app, limits, listener)
    }

    /// The server at `addr`, where a stopped one was: a restart keeps its URL.
    pub async fn start_at(app: Arc<App>, addr: SocketAddr) -> Server {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        Server::start_on(app, listener)
    }

    fn spawn(app: Arc<App>, limits: Arc<Limits>, listener: tokio::net::TcpListener) -> Server {
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(token_agent::http::serve_with(
            app,
            listener,
            limits,
            async {
                let _ = stopped.await;
            },
        ));
        Server {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
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
