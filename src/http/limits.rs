//! What a client may hold of the server: a request's headers must arrive
//! within HTTP_HEADER_TIMEOUT_SECONDS of its first byte and its whole body
//! within HTTP_BODY_TIMEOUT_SECONDS of its head, an answer waits at most
//! HTTP_SEND_TIMEOUT_SECONDS for a client that has stopped reading it, a
//! kept-alive connection may sit idle HTTP_IDLE_TIMEOUT_SECONDS, at most
//! HTTP_MAX_CONNECTIONS connections are open at once, and at most
//! HTTP_MAX_CONNECTIONS_PER_CLIENT of them from one address (the proxies
//! TRUST_PROXY names exempt; no bound when a hop count or a platform's
//! router says every peer is a proxy).
//!
//! No timer is armed per request (one per request cost a tenth of the token
//! URLs' throughput): each connection keeps its state and since when in two
//! atomics, and one sweeper task, once a tick, closes the connections that
//! have overstayed. Time is the agent's clock, read by the sweeper only.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::clock::Clock;
use crate::config::{ClientBound, ServerConfig};
use crate::domain::ClientKey;
use crate::metrics::ServerStats;

/// Between requests: waiting for the first byte of the next one.
const IDLE: u8 = 0;
/// The first bytes of a request arrived; its headers are not complete.
const READING: u8 = 1;
/// The headers are in and a handler runs (bounded by its own timeouts).
const BUSY: u8 = 2;
/// The headers are in and the handler waits for the request's body.
const BODY: u8 = 3;

/// `write_stalled_ms` of a connection whose writes are not waiting.
const NOT_STALLED: i64 = i64::MIN;

/// One connection's state, shared by its IO, its service and the sweeper.
#[derive(Debug)]
pub struct Tracked {
    state: AtomicU8,
    /// When `state` last changed, in ms of the sweeper's clock.
    since_ms: AtomicI64,
    /// Since when a write has waited for the client to read, or
    /// [`NOT_STALLED`].
    write_stalled_ms: AtomicI64,
    expired: AtomicBool,
    waker: AtomicWaker,
    /// The sweeper's latest reading of the clock.
    now_ms: Arc<AtomicI64>,
    stats: Arc<ServerStats>,
}

impl Tracked {
    fn enter(&self, state: u8) {
        self.since_ms
            .store(self.now_ms.load(Ordering::Relaxed), Ordering::Relaxed);
        self.state.store(state, Ordering::Relaxed);
    }

    /// The service got a whole request head.
    pub fn request_started(&self) {
        self.state.store(BUSY, Ordering::Relaxed);
    }

    /// The handler answered; the connection waits for the next request.
    pub fn request_done(&self) {
        self.enter(IDLE);
    }

    /// The handler waits for a body; the body timeout runs from now.
    fn body_started(&self) {
        self.enter(BODY);
    }

    /// The body is in (or the handler no longer wants it).
    fn body_done(&self) {
        let _ = self
            .state
            .compare_exchange(BODY, BUSY, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// A write could not go on: the client's window and our buffer are full.
    fn write_waits(&self) {
        if self.write_stalled_ms.load(Ordering::Relaxed) == NOT_STALLED {
            self.write_stalled_ms
                .store(self.now_ms.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }

    /// A write went through: the client reads. An answer being written
    /// counts as idle, so its idle time starts again too.
    fn write_went(&self) {
        // A plain load on the usual path: every answer's writes come here.
        if self.write_stalled_ms.load(Ordering::Relaxed) == NOT_STALLED {
            return;
        }
        self.write_stalled_ms.store(NOT_STALLED, Ordering::Relaxed);
        if self.state.load(Ordering::Relaxed) == IDLE {
            self.enter(IDLE);
        }
    }

    fn expire(&self) {
        self.expired.store(true, Ordering::Relaxed);
        self.waker.wake();
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Open connections by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Census {
    pub idle: usize,
    pub reading: usize,
    pub busy: usize,
    /// Waiting for a request's body (also counted as busy).
    pub body: usize,
    /// Writing an answer the client does not read (also counted by state).
    pub stalled: usize,
}

/// Every open connection, and the clock they are judged by.
pub struct Limits {
    config: ServerConfig,
    clock: Clock,
    now_ms: Arc<AtomicI64>,
    open: Mutex<Vec<Weak<Tracked>>>,
    permits: Arc<tokio::sync::Semaphore>,
    /// Open connections per client address, for HTTP_MAX_CONNECTIONS_PER_CLIENT.
    per_client: PerClient,
    pub stats: Arc<ServerStats>,
}

/// Open connections per client address.
type PerClient = Arc<Mutex<HashMap<ClientKey, usize>>>;

/// A connection's places: one of HTTP_MAX_CONNECTIONS and, where its client
/// is bounded, one of its client's. Both are given back when it is dropped.
pub struct Admission {
    _permit: tokio::sync::OwnedSemaphorePermit,
    client: Option<(ClientKey, PerClient)>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Some((client, open)) = self.client.take() {
            let mut open = open.lock().expect("per-client table");
            if let Some(count) = open.get_mut(&client) {
                *count -= 1;
                if *count == 0 {
                    open.remove(&client);
                }
            }
        }
    }
}

impl Limits {
    pub fn new(config: ServerConfig, clock: Clock, stats: Arc<ServerStats>) -> Arc<Limits> {
        let now_ms = Arc::new(AtomicI64::new(clock.now().timestamp_millis()));
        Arc::new(Limits {
            permits: Arc::new(tokio::sync::Semaphore::new(config.max_connections)),
            per_client: Arc::default(),
            config,
            clock,
            now_ms,
            open: Mutex::new(Vec::new()),
            stats,
        })
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// A place for one more connection from `peer`, or `None` when all
    /// are taken, or all of `peer`'s.
    pub fn admit(&self, peer: IpAddr) -> Option<Admission> {
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let client = match &self.config.per_client {
            ClientBound::At { max, exempt } if !exempt.iter().any(|net| net.contains(&peer)) => {
                let client = ClientKey::of(peer);
                let mut open = self.per_client.lock().expect("per-client table");
                let count = open.entry(client).or_insert(0);
                if *count >= *max {
                    // The permit goes back as it is dropped.
                    self.stats.client_refused.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
                *count += 1;
                Some((client, self.per_client.clone()))
            }
            _ => None,
        };
        Some(Admission {
            _permit: permit,
            client,
        })
    }

    /// Starts watching a new connection.
    pub fn track(&self) -> Arc<Tracked> {
        let tracked = Arc::new(Tracked {
            state: AtomicU8::new(IDLE),
            since_ms: AtomicI64::new(self.now_ms.load(Ordering::Relaxed)),
            write_stalled_ms: AtomicI64::new(NOT_STALLED),
            expired: AtomicBool::new(false),
            waker: AtomicWaker::new(),
            now_ms: self.now_ms.clone(),
            stats: self.stats.clone(),
        });
        self.stats.open.fetch_add(1, Ordering::Relaxed);
        self.open
            .lock()
            .expect("connection list")
            .push(Arc::downgrade(&tracked));
        tracked
    }

    /// How many open connections are idle, reading a request's headers, or
    /// busy in a handler (for tests and the soak).
    pub fn census(&self) -> Census {
        let mut census = Census::default();
        for conn in self.open.lock().expect("connection list").iter() {
            let Some(conn) = conn.upgrade() else {
                continue;
            };
            match conn.state.load(Ordering::Relaxed) {
                IDLE => census.idle += 1,
                READING => census.reading += 1,
                BODY => {
                    census.busy += 1;
                    census.body += 1;
                }
                _ => census.busy += 1,
            }
            if conn.write_stalled_ms.load(Ordering::Relaxed) != NOT_STALLED {
                census.stalled += 1;
            }
        }
        census
    }

    /// Reads the clock and closes every connection past its deadline.
    pub fn sweep(&self) {
        let now = self.clock.now().timestamp_millis();
        self.now_ms.store(now, Ordering::Relaxed);
        let ms = |d: Duration| d.as_millis() as i64;
        let header = ms(self.config.header_timeout);
        let idle = ms(self.config.idle_timeout);
        let body = ms(self.config.body_timeout);
        let send = ms(self.config.send_timeout);
        let mut open = self.open.lock().expect("connection list");
        open.retain(|weak| {
            let Some(conn) = weak.upgrade() else {
                return false;
            };
            let waited = now - conn.since_ms.load(Ordering::Relaxed);
            let stalled = conn.write_stalled_ms.load(Ordering::Relaxed);
            let over = if stalled != NOT_STALLED {
                // A client that does not read its answer, whatever else
                // the connection is doing.
                (now - stalled >= send).then_some(&self.stats.send_timeouts)
            } else {
                match conn.state.load(Ordering::Relaxed) {
                    READING => (waited >= header).then_some(&self.stats.header_timeouts),
                    BODY => (waited >= body).then_some(&self.stats.body_timeouts),
                    IDLE => (waited >= idle).then_some(&self.stats.idle_timeouts),
                    _ => None,
                }
            };
            match over {
                Some(counter) if !conn.expired.load(Ordering::Relaxed) => {
                    counter.fetch_add(1, Ordering::Relaxed);
                    conn.expire();
                    false
                }
                _ => true,
            }
        });
    }

    /// Sweeps every `sweep_every` until `stop` completes.
    pub async fn run_sweeper(self: Arc<Self>, stop: impl Future<Output = ()>) {
        let mut tick = tokio::time::interval(self.config.sweep_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = tick.tick() => self.sweep(),
            }
        }
    }
}

/// A connection's IO that notes when a request's first bytes arrive and
/// fails once the sweeper has expired the connection.
pub struct TrackedIo<T> {
    inner: T,
    conn: Arc<Tracked>,
}

impl<T> TrackedIo<T> {
    pub fn new(inner: T, conn: Arc<Tracked>) -> TrackedIo<T> {
        TrackedIo { inner, conn }
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the client took too long")
}

impl<T: AsyncRead + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check(cx)?;
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        // Bytes arrived between requests: a new one has begun.
        if buf.filled().len() > before && this.conn.state.load(Ordering::Relaxed) == IDLE {
            this.conn.enter(READING);
        }
        polled
    }
}

impl<T> TrackedIo<T> {
    /// Fails once the connection has expired; otherwise makes sure the
    /// sweeper's expiry wakes this task. An answer is written while the
    /// connection counts as idle (waiting for the client), so a client
    /// that stops reading is dropped at the idle timeout, like one that
    /// stops sending.
    fn check(&self, cx: &Context<'_>) -> io::Result<()> {
        if self.conn.expired.load(Ordering::Relaxed) {
            return Err(timed_out());
        }
        self.conn.waker.register(cx.waker());
        Ok(())
    }

    /// Whether the client took the bytes or left them waiting.
    fn note_write(&self, polled: &Poll<io::Result<usize>>) {
        match polled {
            Poll::Pending => self.conn.write_waits(),
            Poll::Ready(Ok(n)) if *n > 0 => self.conn.write_went(),
            Poll::Ready(_) => {}
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check(cx)?;
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.note_write(&polled);
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check(cx)?;
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.note_write(&polled);
        polled
    }
}

/// A request's body, timed: from when the handler first waits for it until
/// its last byte (or until the handler lets it go), the connection counts as
/// waiting for a body, which the sweeper closes at HTTP_BODY_TIMEOUT_SECONDS.
pub struct TimedBody<B> {
    inner: B,
    conn: Option<Arc<Tracked>>,
}

impl<B: hyper::body::Body> TimedBody<B> {
    /// A body with nothing to come is not timed.
    pub fn new(inner: B, conn: &Arc<Tracked>) -> TimedBody<B> {
        let conn = (!inner.is_end_stream()).then(|| {
            conn.body_started();
            conn.clone()
        });
        TimedBody { inner, conn }
    }
}

impl<B> TimedBody<B> {
    /// The body is in, failed, or is let go of: no longer timed.
    fn finish(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.body_done();
        }
    }
}

impl<B: hyper::body::Body + Unpin> hyper::body::Body for TimedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<B::Data>, B::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => true,
            Poll::Ready(Some(Ok(_))) => this.inner.is_end_stream(),
            Poll::Pending => false,
        };
        if ended {
            this.finish();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for TimedBody<B> {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The bytes a connection over HTTP_MAX_CONNECTIONS gets before it is closed.
pub const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 96\r\n\r\n{\"error\":{\"code\":\"too_many_connections\",\"message\":\"The agent is busy; try again in a moment.\"}}\n";

/// How long a refused client may take to read its 503.
pub const REFUSAL_WRITE: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clients_places_come_back_as_its_connections_close() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let config = ServerConfig {
            max_connections: 5,
            per_client: ClientBound::At {
                max: 2,
                exempt: vec!["10.0.0.1/32".parse().unwrap()],
            },
            ..ServerConfig::default()
        };
        let limits = Limits::new(config, Clock::System, Arc::default());
        let first = limits.admit(ip("192.0.2.1")).unwrap();
        let _second = limits.admit(ip("192.0.2.1")).unwrap();
        assert!(limits.admit(ip("192.0.2.1")).is_none());
        drop(first);
        let _third = limits.admit(ip("192.0.2.1")).expect("a place given back");
        // IPv6 addresses count by /64, as one household or server.
        let _v6 = limits.admit(ip("2001:db8::1")).unwrap();
        let _v6_again = limits.admit(ip("2001:db8::2")).unwrap();
        assert!(limits.admit(ip("2001:db8::3")).is_none());
        // A named proxy is bounded only by the whole: one place is left.
        let _proxied = limits.admit(ip("10.0.0.1")).unwrap();
        assert!(limits.admit(ip("10.0.0.1")).is_none());
        assert_eq!(limits.stats.client_refused.load(Ordering::Relaxed), 2);
        assert_eq!(limits.stats.refused.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn the_refusal_says_its_own_length() {
        let text = std::str::from_utf8(REFUSAL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        serde_json::from_str::<serde_json::Value>(body).unwrap();
    }
}
