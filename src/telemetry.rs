//! Logging: one line per event on stderr, level from RUST_LOG (default
//! info). Tokens and secrets are never logged; see `config::Secret`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn,warp=warn,r2d2=off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in Heroku's log.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
