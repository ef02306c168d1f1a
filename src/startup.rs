//! Start-up: the whole agent built from a `Config`, bound to its port, and
//! run until stopped, with the HTTP server, the refresher and the change
//! listener supervised together. `serve`, `demo` and the tests all start the
//! agent this way.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::app::App;
use crate::clock::Clock;
use crate::config::Config;
use crate::http;
use crate::http::limits::Limits;
use crate::refresher::{self, Pace, Steps};

/// The runtime the agent runs on, with WORKER_THREADS threads; the
/// allocator is tuned first, while this is the only thread.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    crate::memory::tune();
    let threads = crate::config::worker_threads_from_env()?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .context("cannot start the runtime")
}

/// The agent, bound to its port and ready to run.
pub struct Application {
    app: Arc<App>,
    listener: TcpListener,
    addr: SocketAddr,
    limits: Arc<Limits>,
    pace: Pace,
}

impl Application {
    /// Opens the database (migrations, STARTING_TOKEN, tokens into memory)
    /// and binds PORT (0 picks a free port; see [`Application::port`]).
    pub async fn build(config: Config, clock: Clock) -> anyhow::Result<Application> {
        Application::serving(App::open(config, clock).await?).await
    }

    /// Binds the port of an already opened app.
    pub async fn serving(app: Arc<App>) -> anyhow::Result<Application> {
        let port = app.config.port;
        let listener = match TcpListener::bind(("::", port)).await {
            Ok(listener) => listener,
            // A machine without IPv6 still serves on IPv4.
            Err(_) => TcpListener::bind(("0.0.0.0", port))
                .await
                .with_context(|| format!("cannot listen on port {port}"))?,
        };
        Application::on(app, listener)
    }

    /// Serves an already opened app on a listener bound beforehand (a test
    /// binds one to know the agent's URL before its configuration is made).
    /// Connection limits are judged by the wall clock; the refresher runs
    /// on its own.
    pub fn on(app: Arc<App>, listener: TcpListener) -> anyhow::Result<Application> {
        let addr = listener.local_addr()?;
        let limits = Limits::new(
            app.config.server.clone(),
            Clock::System,
            app.metrics.server.clone(),
        );
        Ok(Application {
            app,
            listener,
            addr,
            limits,
            pace: Pace::Free,
        })
    }

    /// Judges the connection limits by `clock` (a test's, which it moves
    /// and sweeps by itself) under `config`.
    pub fn with_limits(mut self, config: crate::config::ServerConfig, clock: Clock) -> Application {
        self.limits = Limits::new(config, clock, self.app.metrics.server.clone());
        self
    }

    /// Holds the refresher: no pass runs, not even the one at start, until
    /// the returned handle asks for one.
    pub fn stepped_refresher(&mut self) -> Steps {
        let (pace, steps) = Pace::stepped();
        self.pace = pace;
        steps
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The connection limits the server runs under.
    pub fn limits(&self) -> &Arc<Limits> {
        &self.limits
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Serves until SIGTERM (Heroku, Docker) or Ctrl-C.
    pub async fn run_until_signalled(self) -> anyhow::Result<()> {
        self.run_until_stopped(shutdown_signal()).await
    }

    /// Serves, refreshes and follows changes until `stop` completes, then
    /// lets open requests finish and closes the database. Should one of
    /// these tasks end before that, the others are stopped too and the error
    /// says which ended, so the process exits non-zero and the platform
    /// restarts it.
    pub async fn run_until_stopped(self, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Application {
            app,
            listener,
            addr,
            limits,
            pace,
        } = self;
        if app.config.allowed_domains.is_none() {
            tracing::warn!(
                "ALLOWED_DOMAINS is not set: token URLs answer 403 until it lists your sites"
            );
        }
        tracing::info!(
            port = addr.port(),
            database = app.store.backend(),
            accounts = app.board.names().len(),
            "token-agent listening"
        );
        let (stopping, stopped) = tokio::sync::watch::channel(false);
        let until_stopped = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            }
        };
        let tasks = vec![
            (
                "the refresher",
                tokio::spawn(refresher::run(app.clone(), pace, until_stopped())),
            ),
            (
                "the change listener",
                tokio::spawn(follow_changes(app.clone(), until_stopped())),
            ),
            (
                "the HTTP server",
                tokio::spawn(http::serve(app.clone(), listener, limits, until_stopped())),
            ),
        ];
        let outcome = supervise(tasks, stop, move || {
            let _ = stopping.send(true);
        })
        .await;
        app.store.close().await;
        outcome
    }
}

/// The first wait after the change listener loses the database; it doubles
/// up to [`LISTENER_RETRY_MAX`] while the database stays away.
const LISTENER_RETRY: Duration = Duration::from_millis(500);
const LISTENER_RETRY_MAX: Duration = Duration::from_secs(15);

/// Re-reads the accounts into memory whenever any process changes them in
/// the database, until `stop` completes, so that every instance serves a
/// change within a second. A failed re-read keeps the tokens in memory and
/// waits for the next change (the refresher's passes re-read too); a lost
/// database is retried with back-off, and re-read in full once it is back.
pub async fn follow_changes(app: Arc<App>, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let mut retry = LISTENER_RETRY;
    loop {
        let error = tokio::select! {
            () = &mut stop => return,
            error = reload_on_changes(&app, &mut retry) => error,
        };
        tracing::warn!(%error, retry_in = ?retry, "lost the database's change notices; retrying");
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(retry) => {}
        }
        retry = (retry * 2).min(LISTENER_RETRY_MAX);
    }
}

/// Reloads on every change until the store's change notices fail.
async fn reload_on_changes(app: &App, retry: &mut Duration) -> crate::store::StoreError {
    let mut changes = match app.store.changes().await {
        Ok(changes) => changes,
        Err(error) => return error,
    };
    loop {
        if let Err(error) = changes.next().await {
            return error;
        }
        *retry = LISTENER_RETRY;
        if let Err(error) = app.reload().await {
            tracing::warn!(%error, "cannot re-read the accounts after a change; serving the tokens in memory");
        }
    }
}

/// Runs `tasks` until `stop` completes, then calls `stopping` and waits for
/// them all. A task that ends first (returning or panicking) is an error
/// naming it; the others are stopped the same way.
pub async fn supervise(
    tasks: Vec<(&'static str, JoinHandle<()>)>,
    stop: impl Future<Output = ()>,
    stopping: impl FnOnce(),
) -> anyhow::Result<()> {
    let mut tasks: Vec<_> = tasks
        .into_iter()
        .map(|(name, task)| (name, Some(task)))
        .collect();
    let ended = tokio::select! {
        () = stop => None,
        ended = first_to_end(&mut tasks) => Some(ended),
    };
    if ended.is_none() {
        tracing::info!("shutting down");
    }
    stopping();
    for (_, task) in &mut tasks {
        if let Some(task) = task.take() {
            let _ = task.await;
        }
    }
    match ended {
        None => Ok(()),
        Some((which, Ok(()))) => {
            tracing::error!("{which} stopped unexpectedly");
            anyhow::bail!("{which} stopped unexpectedly")
        }
        Some((which, Err(error))) => {
            tracing::error!(%error, "{which} failed");
            anyhow::bail!("{which} failed: {error}")
        }
    }
}

/// Waits for the first task to end, and takes it out of the list.
async fn first_to_end(
    tasks: &mut [(&'static str, Option<JoinHandle<()>>)],
) -> (&'static str, Result<(), tokio::task::JoinError>) {
    let (index, outcome) = std::future::poll_fn(|cx| {
        for (i, (_, task)) in tasks.iter_mut().enumerate() {
            if let Some(task) = task
                && let std::task::Poll::Ready(outcome) = std::pin::Pin::new(task).poll(cx)
            {
                return std::task::Poll::Ready((i, outcome));
            }
        }
        std::task::Poll::Pending
    })
    .await;
    tasks[index].1 = None;
    (tasks[index].0, outcome)
}

/// SIGTERM (Heroku, Docker) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waits_for(mut stop: tokio::sync::watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
    }

    #[tokio::test]
    async fn a_task_that_ends_early_stops_the_others_and_is_an_error_naming_it() {
        let (stopping, stopped) = tokio::sync::watch::channel(false);
        let tasks = vec![
            ("the refresher", waits_for(stopped.clone())),
            ("the HTTP server", tokio::spawn(async {})),
        ];
        let outcome = supervise(tasks, std::future::pending(), move || {
            let _ = stopping.send(true);
        })
        .await;
        let error = outcome.unwrap_err().to_string();
        assert_eq!(error, "the HTTP server stopped unexpectedly");
    }

    #[tokio::test]
    async fn a_task_that_panics_is_an_error_naming_it() {
        let (stopping, stopped) = tokio::sync::watch::channel(false);
        let tasks = vec![
            (
                "the change listener",
                tokio::spawn(async { panic!("boom") }),
            ),
            ("the HTTP server", waits_for(stopped.clone())),
        ];
        let outcome = supervise(tasks, std::future::pending(), move || {
            let _ = stopping.send(true);
        })
        .await;
        let error = outcome.unwrap_err().to_string();
        assert!(error.starts_with("the change listener failed"), "{error}");
    }

    #[tokio::test]
    async fn a_stop_ends_every_task_and_is_no_error() {
        let (stopping, stopped) = tokio::sync::watch::channel(false);
        let tasks = vec![
            ("the refresher", waits_for(stopped.clone())),
            ("the HTTP server", waits_for(stopped.clone())),
        ];
        supervise(tasks, async {}, move || {
            let _ = stopping.send(true);
        })
        .await
        .unwrap();
    }
}
