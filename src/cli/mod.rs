//! The `token-agent` command line: `serve` (the default) and the
//! maintenance sub-commands, parsed and dispatched to the code that does
//! the work. `table.rs` prints `status`.

mod table;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::accounts;
use crate::app::App;
use crate::clock::Clock;
use crate::config::Config;
use crate::domain::AccountName;
use crate::refresher::{self, Outcome};
use crate::startup::Application;
use crate::store::AccountKind;

pub use table::status_table;

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
    /// Ask the agent serving on PORT on this machine for /healthz; exits 0
    /// when it answers 200 (a container's HEALTHCHECK: no shell or curl needed).
    Healthcheck,
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
        /// For a Facebook-Login token whose Pages have several Instagram
        /// accounts: the one to use (its id, as `status` lists them).
        #[arg(long)]
        ig_user: Option<String>,
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
        Command::HookUrl => {
            let Some(secret) = config.webhook_secret.clone() else {
                eprintln!("token-agent: set WEBHOOK_SECRET to enable the refresh hook");
                return Ok(ExitCode::FAILURE);
            };
            let app = App::open(config, clock).await?;
            let path = crate::hook::hook_path(secret.expose());
            match app.public_url.link(&path) {
                Ok(url) => {
                    println!("{url}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(unknown) => {
                    eprintln!("token-agent: {unknown}; the hook's path is /{path}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Healthcheck => healthcheck(config.port).await,
        Command::Demo => {
            crate::demo::run(config).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve => {
            Application::build(config, clock)
                .await?
                .run_until_signalled()
                .await?;
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
            accounts_command(&app, command).await
        }
    }
}

/// `GET http://127.0.0.1:PORT/healthz` within a few seconds.
async fn healthcheck(port: u16) -> anyhow::Result<ExitCode> {
    let url = format!("http://127.0.0.1:{port}/healthz");
    let client = crate::tls::http_client()
        .timeout(std::time::Duration::from_secs(5))
        .build()?;
    match client.get(&url).send().await {
        Ok(response) if response.status().is_success() => {
            println!("healthy: {url} answered {}", response.status());
            Ok(ExitCode::SUCCESS)
        }
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            eprintln!(
                "unhealthy: {url} answered {status}: {}",
                body.chars().take(300).collect::<String>()
            );
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            eprintln!("unhealthy: {url}: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
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

async fn accounts_command(app: &App, command: AccountsCommand) -> anyhow::Result<ExitCode> {
    match command {
        AccountsCommand::Add {
            name,
            token,
            kind,
            ig_user,
        } => {
            let kind: AccountKind = kind.parse().map_err(anyhow::Error::msg)?;
            let name = AccountName::parse(&name)?;
            let token = token.trim();
            if token.is_empty() {
                anyhow::bail!("--token must not be empty");
            }
            let pasted = accounts::paste_token(app, &name, kind, token, ig_user.as_deref()).await?;
            println!("{name}: token stored");
            println!("{name}: {}", pasted.who());
            match &pasted.refresh {
                Some(outcome) => println!("{name}: {}", outcome.describe()),
                None => println!("{name}: {}", pasted.refresh_result()),
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
