//! PORT, the HTTP server's timeouts and bounds (HTTP_*), and WORKER_THREADS.

use std::time::Duration;

use super::vars::{parse_number, present};
use super::{ConfigError, bad};

/// How the HTTP server bounds its clients (see `http/limits.rs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// HTTP_HEADER_TIMEOUT_SECONDS: from a request's first byte to its last
    /// header line.
    pub header_timeout: Duration,
    /// HTTP_IDLE_TIMEOUT_SECONDS: a kept-alive connection between requests.
    pub idle_timeout: Duration,
    /// HTTP_MAX_HEADER_BYTES: a larger request head is answered 431.
    pub max_header_bytes: usize,
    /// HTTP_MAX_CONNECTIONS: more are answered 503 and closed.
    pub max_connections: usize,
    /// How often the deadlines are checked; tests make it short.
    pub sweep_every: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            header_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(75),
            max_header_bytes: 16 * 1024,
            max_connections: 512,
            sweep_every: Duration::from_secs(1),
        }
    }
}

/// PORT, 3000 when unset.
pub(super) fn parse_port(raw: Option<String>) -> Result<u16, ConfigError> {
    Ok(match present(raw) {
        None => 3000,
        Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
            bad(
                "PORT",
                format!("must be a port number from 1 to 65535, got {p:?}"),
            )
        })?,
    })
}

pub(super) fn parse_server(
    header_timeout: Option<String>,
    idle_timeout: Option<String>,
    max_header_bytes: Option<String>,
    max_connections: Option<String>,
) -> Result<ServerConfig, ConfigError> {
    let defaults = ServerConfig::default();
    let within = |var: &'static str, raw: Option<String>, default: u64, range: (u64, u64)| {
        let value = parse_number(var, raw, default)?;
        if (range.0..=range.1).contains(&value) {
            Ok(value)
        } else {
            Err(bad(
                var,
                format!("must be from {} to {}, got {value}", range.0, range.1),
            ))
        }
    };
    Ok(ServerConfig {
        header_timeout: Duration::from_secs(within(
            "HTTP_HEADER_TIMEOUT_SECONDS",
            header_timeout,
            defaults.header_timeout.as_secs(),
            (1, 300),
        )?),
        idle_timeout: Duration::from_secs(within(
            "HTTP_IDLE_TIMEOUT_SECONDS",
            idle_timeout,
            defaults.idle_timeout.as_secs(),
            (1, 3600),
        )?),
        max_header_bytes: within(
            "HTTP_MAX_HEADER_BYTES",
            max_header_bytes,
            defaults.max_header_bytes as u64,
            (1024, 1024 * 1024),
        )? as usize,
        max_connections: within(
            "HTTP_MAX_CONNECTIONS",
            max_connections,
            defaults.max_connections as u64,
            (1, 100_000),
        )? as usize,
        sweep_every: defaults.sweep_every,
    })
}

/// WORKER_THREADS when unset. Not the number of cores: on Heroku `nproc`
/// counts the host's cores, not the dyno's share of them. Two, because on
/// two cores a bare hyper server answered 1.26-1.36 times nginx's requests
/// with two threads and 1.09 times with one; `bash bench/run.sh workers`
/// measures the agent with one and with two.
pub const DEFAULT_WORKER_THREADS: usize = 2;

/// WORKER_THREADS from the process environment, for building the runtime
/// before the rest of the configuration is read.
pub fn worker_threads_from_env() -> Result<usize, ConfigError> {
    parse_worker_threads(std::env::var("WORKER_THREADS").ok())
}

pub(super) fn parse_worker_threads(raw: Option<String>) -> Result<usize, ConfigError> {
    let threads = parse_number("WORKER_THREADS", raw, DEFAULT_WORKER_THREADS as u64)?;
    if (1..=64).contains(&threads) {
        Ok(threads as usize)
    } else {
        Err(bad(
            "WORKER_THREADS",
            format!("must be from 1 to 64, got {threads}"),
        ))
    }
}
