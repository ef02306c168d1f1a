//! The `token-agent` command line: `serve` (the default) and the
//! maintenance sub-commands. The binary only parses arguments and calls in.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use clap::{Parser, Subcommand};

use crate::app::App;
use crate::clock::Clock;
use crate::config::Config;
use crate::refresher::{self, Outcome};
use crate::store::{Account, AccountKind, NewToken};

#[derive(Parser, Debug)]
#[command(
    name = "token-agent",
    version,
    about = "Keeps Instagram access tokens alive and serves them to your own sites.",
    long_about = "Keeps Instagram access tokens alive and serves them to your own sites.\n\n\
                  Configuration comes from the environment (PORT, DATABASE_URL, ALLOWED_DOMAINS, …); see the README."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the token URLs and keep tokens fresh (the default).
    Serve,
    /// Apply database migrations and exit (Heroku's release phase).
    Migrate,
    /// Refresh tokens that are due now, or one account with --force.
    Refresh {
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
        /// Refresh even if not due (never a token younger than 24 hours).
        #[arg(long)]
        force: bool,
    },
    /// Show every account, its expiry and its last refresh. Never prints a token.
    Status,
    /// Print the signed external refresh URL (for Heroku Scheduler and other
    /// cron-like services: `curl -X POST URL`). Needs WEBHOOK_SECRET.
    HookUrl,
    /// Serve the agent wired to a built-in fake Instagram, with a sample
    /// account and posts, to see everything work offline.
    Demo,
    /// Add, replace or remove accounts.
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum AccountsCommand {
    /// Add an account, or replace its token.
    Add {
        name: String,
        #[arg(long)]
        token: String,
        #[arg(long, default_value = "instagram", value_parser = ["instagram", "facebook"])]
        kind: String,
    },
    /// Remove an account and its token.
    Remove { name: String },
}

/// Runs the parsed command line; the exit code says whether it worked.
pub async fn run(cli: Cli) -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("token-agent: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    match dispatch(cli.command.unwrap_or(Command::Serve), config).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("token-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command, config: Config) -> anyhow::Result<ExitCode> {
    let clock = Clock::System;
    match command {
        Command::HookUrl => match crate::http::callbacks::hook_url(&config) {
            Some(url) => {
                println!("{url}");
                Ok(ExitCode::SUCCESS)
            }
            None => {
                eprintln!(
                    "token-agent: set WEBHOOK_SECRET (and APP_URL or APP_NAME) to enable the refresh hook"
                );
                Ok(ExitCode::FAILURE)
            }
        },
        Command::Demo => {
            crate::demo::run(config).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => {
            serve(App::open(config, clock).await?).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let store = crate::store::Store::connect(&config.database).await?;
            store.migrate().await?;
            println!("migrations applied ({})", config.database.describe());
            Ok(ExitCode::SUCCESS)
        }
        Command::Refresh { account, force } => {
            let app = App::open(config, clock).await?;
            refresh(&app, account, force).await
        }
        Command::Status => {
            let app = App::open(config, clock).await?;
            print!(
                "{}",
                status_table(&app.store.accounts().await?, app.clock.now())
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Accounts { command } => {
            let app = App::open(config, clock).await?;
            accounts(&app, command).await
        }
    }
}

pub(crate) async fn serve(app: Arc<App>) -> anyhow::Result<()> {
    let port = app.config.port;
    let listener = match tokio::net::TcpListener::bind(("::", port)).await {
        Ok(listener) => listener,
        // A machine without IPv6 still serves on IPv4.
        Err(_) => tokio::net::TcpListener::bind(("0.0.0.0", port))
            .await
            .with_context(|| format!("cannot listen on port {port}"))?,
    };
    if app.config.allowed_domains.is_none() {
        tracing::warn!(
            "ALLOWED_DOMAINS is not set: token URLs answer 403 until it lists your sites"
        );
    }
    tracing::info!(
        port,
        database = app.store.backend(),
        accounts = app.board.names().len(),
        "token-agent listening"
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let refresher = tokio::spawn(refresher::run(app.clone(), until_stopped()));
    let server = tokio::spawn(crate::http::serve(app.clone(), listener, until_stopped()));
    shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = stop.send(true);
    let _ = tokio::join!(server, refresher);
    app.store.close().await;
    Ok(())
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

async fn refresh(app: &App, account: Option<String>, force: bool) -> anyhow::Result<ExitCode> {
    let names = match account {
        Some(name) => vec![name],
        None => app
            .store
            .accounts()
            .await?
            .into_iter()
            .filter(|a| a.kind == AccountKind::Instagram)
            .map(|a| a.name)
            .collect(),
    };
    if names.is_empty() {
        println!("no Instagram accounts to refresh");
    }
    let mut failed = false;
    for name in names {
        let outcome = refresher::refresh_account(app, &name, force).await?;
        let failure = outcome.is_failure()
            || (force
                && matches!(
                    outcome,
                    Outcome::TooYoung { .. } | Outcome::Busy | Outcome::NotRefreshable
                ));
        failed |= failure;
        println!("{name}: {}", outcome.describe());
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn accounts(app: &App, command: AccountsCommand) -> anyhow::Result<ExitCode> {
    match command {
        AccountsCommand::Add { name, token, kind } => {
            let kind: AccountKind = kind.parse().map_err(anyhow::Error::msg)?;
            if !valid_account_name(&name) {
                anyhow::bail!("account names are 1 to 64 letters, digits, - or _");
            }
            let token = token.trim();
            if token.is_empty() {
                anyhow::bail!("--token must not be empty");
            }
            let now = app.clock.now();
            app.store
                .put_token(&NewToken::pasted(&name, kind, token, now), now)
                .await?;
            println!("{name}: token stored");
            if kind == AccountKind::Instagram {
                let outcome = refresher::refresh_account(app, &name, false).await?;
                println!("{name}: {}", outcome.describe());
            }
            Ok(ExitCode::SUCCESS)
        }
        AccountsCommand::Remove { name } => {
            if app.remove_account(&name).await? {
                println!("{name}: removed");
                Ok(ExitCode::SUCCESS)
            } else {
                println!("{name}: no such account");
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

pub fn valid_account_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// "in 3d 4h", "2h ago", "—" for unknown.
pub fn relative(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    let Some(t) = t else {
        return "—".into();
    };
    let span = |d: Duration| {
        let (days, hours, minutes) = (d.num_days(), d.num_hours() % 24, d.num_minutes() % 60);
        match (days, hours) {
            (0, 0) => format!("{minutes}m"),
            (0, _) => format!("{hours}h {minutes}m"),
            _ => format!("{days}d {hours}h"),
        }
    };
    if t >= now {
        format!("in {}", span(t - now))
    } else {
        format!("{} ago", span(now - t))
    }
}

pub fn status_table(accounts: &[Account], now: DateTime<Utc>) -> String {
    if accounts.is_empty() {
        return "no accounts yet: set STARTING_TOKEN or run `token-agent accounts add NAME --token …`\n".into();
    }
    let header = [
        "ACCOUNT",
        "KIND",
        "USER",
        "EXPIRES",
        "LAST REFRESH",
        "RESULT",
        "NEXT REFRESH",
        "LAST ERROR",
    ];
    let rows: Vec<[String; 8]> = accounts
        .iter()
        .map(|a| {
            [
                a.name.clone(),
                a.kind.as_str().into(),
                a.username.clone().unwrap_or_else(|| "—".into()),
                match a.expires_at {
                    Some(t) if t <= now => format!("EXPIRED {}", relative(Some(t), now)),
                    t => relative(t, now),
                },
                relative(a.last_attempt_at, now),
                if a.needs_reconnect {
                    "needs reconnect".into()
                } else {
                    a.last_result.clone().unwrap_or_else(|| "—".into())
                },
                relative(a.next_refresh_at, now),
                a.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let mut out = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut out = line(header.to_vec());
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn relative_times_read_naturally() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(relative(None, now), "—");
        assert_eq!(
            relative(Some(now + Duration::days(45) + Duration::hours(3)), now),
            "in 45d 3h"
        );
        assert_eq!(relative(Some(now - Duration::hours(2)), now), "2h 0m ago");
        assert_eq!(relative(Some(now + Duration::minutes(7)), now), "in 7m");
    }

    #[test]
    fn account_names_are_url_safe() {
        assert!(valid_account_name("default"));
        assert!(valid_account_name("shop_2-eu"));
        assert!(!valid_account_name(""));
        assert!(!valid_account_name("a/b"));
        assert!(!valid_account_name("été"));
        assert!(!valid_account_name(&"x".repeat(65)));
    }
}
