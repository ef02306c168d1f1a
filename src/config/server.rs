//! PORT, the HTTP server's timeouts and bounds (HTTP_*), and WORKER_THREADS.

use std::time::Duration;

use ipnet::IpNet;

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
    /// HTTP_BODY_TIMEOUT_SECONDS: from a request's head to the last byte of
    /// its body, however it trickles in.
    pub body_timeout: Duration,
    /// HTTP_SEND_TIMEOUT_SECONDS: how long an answer may wait for a client
    /// that has stopped reading it (one that reads, however slowly, is
    /// never cut off).
    pub send_timeout: Duration,
    /// HTTP_MAX_HEADER_BYTES: a larger request head is answered 431.
    pub max_header_bytes: usize,
    /// HTTP_MAX_CONNECTIONS: more are answered 503 and closed.
    pub max_connections: usize,
    /// HTTP_MAX_CONNECTIONS_PER_CLIENT, and who is exempt.
    pub per_client: ClientBound,
    /// How often the deadlines are checked; tests make it short.
    pub sweep_every: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            header_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(75),
            body_timeout: Duration::from_secs(15),
            // A phone in a tunnel may stop reading for a while; a minute
            // without a byte taken is a client that has gone.
            send_timeout: Duration::from_secs(60),
            max_header_bytes: 16 * 1024,
            max_connections: 512,
            per_client: ClientBound::At {
                max: 128,
                exempt: Vec::new(),
            },
            sweep_every: Duration::from_secs(1),
        }
    }
}

/// How many connections one client address may hold at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientBound {
    /// Every connection comes through a proxy (TRUST_PROXY is a hop count,
    /// or a platform's router is in front): one address is everyone.
    Off,
    /// At most `max` per address (IPv6 by /64), but none for the proxies
    /// TRUST_PROXY names, through which everyone comes.
    At { max: usize, exempt: Vec<IpNet> },
}

impl ClientBound {
    /// The bound for `max` per client behind `trust`; `platform_proxy` says
    /// whether a hosting platform's router is in front (Heroku, Render,
    /// Fly.io), whose addresses are not known here.
    pub fn new(max: usize, trust: &crate::domain::TrustProxy, platform_proxy: bool) -> ClientBound {
        use crate::domain::TrustProxy;
        match trust {
            _ if platform_proxy => ClientBound::Off,
            TrustProxy::Hops(_) | TrustProxy::FlyProxy => ClientBound::Off,
            TrustProxy::Nobody => ClientBound::At {
                max,
                exempt: Vec::new(),
            },
            TrustProxy::Ranges(ranges) => ClientBound::At {
                max,
                exempt: ranges.clone(),
            },
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

/// The HTTP_* variables, as read from the environment.
pub(super) struct RawServer {
    pub header_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub body_timeout: Option<String>,
    pub send_timeout: Option<String>,
    pub max_header_bytes: Option<String>,
    pub max_connections: Option<String>,
    pub max_connections_per_client: Option<String>,
}

/// Who is in front of the agent, for the per-client bound.
pub(super) struct Front<'a> {
    pub trust: &'a crate::domain::TrustProxy,
    pub platform_proxy: bool,
}

pub(super) fn parse_server(raw: RawServer, front: Front<'_>) -> Result<ServerConfig, ConfigError> {
    let RawServer {
        header_timeout,
        idle_timeout,
        body_timeout,
        send_timeout,
        max_header_bytes,
        max_connections,
        max_connections_per_client,
    } = raw;
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
    let max_connections = within(
        "HTTP_MAX_CONNECTIONS",
        max_connections,
        defaults.max_connections as u64,
        (1, 100_000),
    )? as usize;
    let per_client = within(
        "HTTP_MAX_CONNECTIONS_PER_CLIENT",
        max_connections_per_client,
        (max_connections as u64 / 4).max(1),
        // At or above HTTP_MAX_CONNECTIONS: no bound of its own.
        (1, 100_000),
    )? as usize;
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
        body_timeout: Duration::from_secs(within(
            "HTTP_BODY_TIMEOUT_SECONDS",
            body_timeout,
            defaults.body_timeout.as_secs(),
            (1, 300),
        )?),
        send_timeout: Duration::from_secs(within(
            "HTTP_SEND_TIMEOUT_SECONDS",
            send_timeout,
            defaults.send_timeout.as_secs(),
            (1, 3600),
        )?),
        max_header_bytes: within(
            "HTTP_MAX_HEADER_BYTES",
            max_header_bytes,
            defaults.max_header_bytes as u64,
            (1024, 1024 * 1024),
        )? as usize,
        max_connections,
        per_client: ClientBound::new(per_client, front.trust, front.platform_proxy),
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
