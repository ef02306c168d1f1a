//! Start-up: the whole agent built from a `Config`, bound to its port, and
//! run until stopped, with the HTTP server and the refresher supervised
//! together. `serve`, `demo` and the tests all start the agent this way.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::app::App;
use crate::clock::Clock;
use crate::config::Config;
use crate::{http, refresher};

/// The agent, bound to its port and ready to run.
pub struct Application {
    app: Arc<App>,
    listener: TcpListener,
    addr: SocketAddr,
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
        let addr = listener.local_addr()?;
        Ok(Application {
            app,
            listener,
            addr,
        })
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

    /// Serves and refreshes until `stop` completes, then lets open requests
    /// finish and closes the database. Should the server or the refresher
    /// end before that, the other is stopped too and the error says which
    /// ended, so the process exits non-zero and the platform restarts it.
    pub async fn run_until_stopped(self, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Application {
            app,
            listener,
            addr,
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
                tokio::spawn(refresher::run(app.clone(), until_stopped())),
            ),
            (
                "the HTTP server",
                tokio::spawn(http::serve(app.clone(), listener, until_stopped())),
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
