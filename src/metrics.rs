//! `/metrics` in Prometheus text format: requests by route and status,
//! refreshes by outcome, upstream calls by endpoint and outcome, feed cache
//! hits and misses, and seconds until each account's token expires.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::board::Board;
use crate::upstream::Upstream;

/// The `route` labels: the front door's (`http/door.rs`), then the router's.
pub const ROUTES: [&str; 14] = [
    "token",
    "feed",
    "hashtags",
    "media",
    "embed",
    "healthz",
    "metrics",
    "pages",
    "static",
    "admin",
    "connect",
    "callbacks",
    "hooks",
    "other",
];
const STATUSES: [u16; 18] = [
    200, 204, 302, 303, 304, 400, 401, 403, 404, 405, 409, 413, 429, 500, 502, 503, 504, 0,
];

/// Connections closed by the limits since start, for /metrics and the soak.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Closed because headers took too long.
    pub header_timeouts: AtomicU64,
    /// Closed because they sat idle too long.
    pub idle_timeouts: AtomicU64,
    /// Closed because a request's body took too long.
    pub body_timeouts: AtomicU64,
    /// Closed because the client stopped reading its answer.
    pub send_timeouts: AtomicU64,
    /// Refused because HTTP_MAX_CONNECTIONS were open.
    pub refused: AtomicU64,
    /// Refused because their client held HTTP_MAX_CONNECTIONS_PER_CLIENT.
    pub client_refused: AtomicU64,
    /// Open right now.
    pub open: AtomicU64,
}

/// Counters kept in memory since start.
pub struct Metrics {
    /// [route][status] request counts; lock-free for the token URLs.
    requests: Vec<AtomicU64>,
    refreshes: Mutex<BTreeMap<&'static str, u64>>,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    cache_stale: AtomicU64,
    /// Connections open and closed by the server's limits.
    pub server: Arc<ServerStats>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: (0..ROUTES.len() * STATUSES.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            refreshes: Mutex::new(BTreeMap::new()),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
            cache_stale: AtomicU64::new(0),
            server: Arc::default(),
        }
    }
}

/// The route family of a path, for labels that stay few.
impl Metrics {
    /// One request answered, under its `route` label (one of [`ROUTES`];
    /// an unknown one counts as "other").
    pub fn record_request(&self, route: &str, status: u16) {
        let column = STATUSES
            .iter()
            .position(|s| *s == status)
            .unwrap_or(STATUSES.len() - 1);
        let row = ROUTES
            .iter()
            .position(|r| *r == route)
            .unwrap_or(ROUTES.len() - 1);
        self.requests[row * STATUSES.len() + column].fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_refresh(&self, outcome: &'static str) {
        *self
            .refreshes
            .lock()
            .expect("metrics")
            .entry(outcome)
            .or_insert(0) += 1;
    }

    pub fn record_cache(&self, hit: bool, stale: bool) {
        let counter = match (hit, stale) {
            (_, true) => &self.cache_stale,
            (true, false) => &self.cache_hits,
            (false, false) => &self.cache_misses,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition, with upstream call counts and the
    /// tokens' expiry read from the client and the board.
    pub fn render(&self, upstream: &Upstream, board: &Board, now: DateTime<Utc>) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP token_agent_http_requests_total Requests answered, by route and status."
        );
        let _ = writeln!(out, "# TYPE token_agent_http_requests_total counter");
        for (r, route) in ROUTES.iter().enumerate() {
            for (c, status) in STATUSES.iter().enumerate() {
                let n = self.requests[r * STATUSES.len() + c].load(Ordering::Relaxed);
                if n > 0 {
                    let status = if *status == 0 {
                        "other".to_string()
                    } else {
                        status.to_string()
                    };
                    let _ = writeln!(
                        out,
                        "token_agent_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP token_agent_refreshes_total Refresh attempts, by outcome."
        );
        let _ = writeln!(out, "# TYPE token_agent_refreshes_total counter");
        for (outcome, n) in self.refreshes.lock().expect("metrics").iter() {
            let _ = writeln!(
                out,
                "token_agent_refreshes_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP token_agent_upstream_calls_total Calls to Instagram and Facebook, by endpoint and outcome."
        );
        let _ = writeln!(out, "# TYPE token_agent_upstream_calls_total counter");
        for (endpoint, outcome, n) in upstream.call_counts() {
            let _ = writeln!(
                out,
                "token_agent_upstream_calls_total{{endpoint=\"{}\",outcome=\"{outcome}\"}} {n}",
                label(&endpoint)
            );
        }
        let _ = writeln!(
            out,
            "# HELP token_agent_feed_cache_total Feed and hashtag requests by cache result."
        );
        let _ = writeln!(out, "# TYPE token_agent_feed_cache_total counter");
        for (result, counter) in [
            ("hit", &self.cache_hits),
            ("miss", &self.cache_misses),
            ("stale", &self.cache_stale),
        ] {
            let _ = writeln!(
                out,
                "token_agent_feed_cache_total{{result=\"{result}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let server = &self.server;
        let _ = writeln!(
            out,
            "# HELP token_agent_connections_open Client connections open now."
        );
        let _ = writeln!(out, "# TYPE token_agent_connections_open gauge");
        let _ = writeln!(
            out,
            "token_agent_connections_open {}",
            server.open.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP token_agent_connections_closed_total Client connections the server's limits closed or refused, by reason."
        );
        let _ = writeln!(out, "# TYPE token_agent_connections_closed_total counter");
        for (reason, counter) in [
            ("header_timeout", &server.header_timeouts),
            ("idle_timeout", &server.idle_timeouts),
            ("body_timeout", &server.body_timeouts),
            ("send_timeout", &server.send_timeouts),
            ("too_many_connections", &server.refused),
            ("too_many_from_client", &server.client_refused),
        ] {
            let _ = writeln!(
                out,
                "token_agent_connections_closed_total{{reason=\"{reason}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP token_agent_token_expires_in_seconds Seconds until each account's token expires (negative once expired)."
        );
        let _ = writeln!(out, "# TYPE token_agent_token_expires_in_seconds gauge");
        for name in board.names() {
            if let Some(expires_at) = board.get(&name).and_then(|s| s.expires_at) {
                let _ = writeln!(
                    out,
                    "token_agent_token_expires_in_seconds{{account=\"{}\"}} {}",
                    label(&name),
                    (expires_at - now).num_seconds()
                );
            }
        }
        out
    }
}

/// A label value with the characters Prometheus escapes escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
