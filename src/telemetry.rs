//! Logging: one line per event on stderr, level from RUST_LOG (default
//! info). Tokens and secrets are never logged; see `config::Secret`.
//!
//! RUST_LOG takes a level (`debug`) and per-module levels
//! (`info,token_agent::refresher=debug`); a value that does not parse falls
//! back to the default.

use std::io::IsTerminal;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

const DEFAULT_FILTER: &str = "info,sqlx=warn,hyper=warn,warp=warn,r2d2=off";

pub fn init() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|value| value.parse::<Targets>().ok())
        .unwrap_or_else(|| DEFAULT_FILTER.parse().expect("the default filter parses"));
    let output = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in Heroku's log.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let _ = tracing_subscriber::registry()
        .with(output.with_filter(filter))
        .try_init();
}

/// "outer: cause: root cause", for diagnosing TLS and DNS failures.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Logs an internal failure (database, cache, I/O) under a new short
/// request id and returns the id, for answers that must name the failure
/// without showing its cause.
pub fn log_internal(what: &str, cause: impl std::fmt::Display) -> String {
    let id = format!("{:08x}", rand::random::<u32>());
    tracing::error!(request_id = %id, error = %cause, "{what}");
    id
}

/// What a client is told about an internal failure.
pub fn internal_message(id: &str) -> String {
    format!(
        "The agent could not complete this request; try again shortly. The owner finds the cause in the agent's log under request id {id}."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_filter_parses() {
        assert!(DEFAULT_FILTER.parse::<Targets>().is_ok());
    }
}
