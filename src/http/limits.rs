//! What a client may hold of the server: a request's headers must arrive
//! within HTTP_HEADER_TIMEOUT_SECONDS of its first byte, a kept-alive
//! connection may sit idle HTTP_IDLE_TIMEOUT_SECONDS, and at most
//! HTTP_MAX_CONNECTIONS connections are open at once.
//!
//! No timer is armed per request (one per request cost a tenth of the token
//! URLs' throughput): each connection keeps its state and since when in two
//! atomics, and one sweeper task, once a tick, closes the connections that
//! have overstayed. Time is the agent's clock, read by the sweeper only.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::clock::Clock;
use crate::config::ServerConfig;
use crate::metrics::ServerStats;

/// Between requests: waiting for the first byte of the next one.
const IDLE: u8 = 0;
/// The first bytes of a request arrived; its headers are not complete.
const READING: u8 = 1;
/// The headers are in and a handler runs (bounded by its own timeouts).
const BUSY: u8 = 2;

/// One connection's state, shared by its IO, its service and the sweeper.
#[derive(Debug)]
pub struct Tracked {
    state: AtomicU8,
    /// When `state` last changed, in ms of the sweeper's clock.
    since_ms: AtomicI64,
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
}

/// Every open connection, and the clock they are judged by.
pub struct Limits {
    config: ServerConfig,
    clock: Clock,
    now_ms: Arc<AtomicI64>,
    open: Mutex<Vec<Weak<Tracked>>>,
    permits: Arc<tokio::sync::Semaphore>,
    pub stats: Arc<ServerStats>,
}

impl Limits {
    pub fn new(config: ServerConfig, clock: Clock, stats: Arc<ServerStats>) -> Arc<Limits> {
        let now_ms = Arc::new(AtomicI64::new(clock.now().timestamp_millis()));
        Arc::new(Limits {
            permits: Arc::new(tokio::sync::Semaphore::new(config.max_connections)),
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

    /// A place for one more connection, or `None` when all are taken.
    pub fn admit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let permit = self.permits.clone().try_acquire_owned().ok();
        if permit.is_none() {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
        }
        permit
    }

    /// Starts watching a new connection.
    pub fn track(&self) -> Arc<Tracked> {
        let tracked = Arc::new(Tracked {
            state: AtomicU8::new(IDLE),
            since_ms: AtomicI64::new(self.now_ms.load(Ordering::Relaxed)),
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
            match conn.upgrade().map(|c| c.state.load(Ordering::Relaxed)) {
                Some(IDLE) => census.idle += 1,
                Some(READING) => census.reading += 1,
                Some(_) => census.busy += 1,
                None => {}
            }
        }
        census
    }

    /// Reads the clock and closes every connection past its deadline.
    pub fn sweep(&self) {
        let now = self.clock.now().timestamp_millis();
        self.now_ms.store(now, Ordering::Relaxed);
        let header = self.config.header_timeout.as_millis() as i64;
        let idle = self.config.idle_timeout.as_millis() as i64;
        let mut open = self.open.lock().expect("connection list");
        open.retain(|weak| {
            let Some(conn) = weak.upgrade() else {
                return false;
            };
            let waited = now - conn.since_ms.load(Ordering::Relaxed);
            let over = match conn.state.load(Ordering::Relaxed) {
                READING => (waited >= header).then_some(&self.stats.header_timeouts),
                IDLE => (waited >= idle).then_some(&self.stats.idle_timeouts),
                _ => None,
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
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
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
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
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
    fn the_refusal_says_its_own_length() {
        let text = std::str::from_utf8(REFUSAL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        serde_json::from_str::<serde_json::Value>(body).unwrap();
    }
}
