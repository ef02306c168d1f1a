//! Slow, idle and surplus clients: half-sent requests are closed after the
//! header timeout, idle kept-alive connections after the idle timeout, heads
//! over the cap get 431, connections over the bound get 503, and a panic in
//! a handler is one 500, not a dead server. The limits are judged by a
//! manual clock and swept by the test itself, so nothing waits for time.

use std::time::Duration as StdDuration;

use chrono::Duration;
use token_agent::clock::Clock;
use token_agent::config::ServerConfig;
use token_agent::http::limits::Census;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{Backend, TestApp, World, start_time};

const DEADLINE: StdDuration = StdDuration::from_secs(10);
const REQUEST: &[u8] =
    b"GET /token.json HTTP/1.1\r\nHost: agent\r\nOrigin: https://example.com\r\n\r\n";

/// The agent under limits judged by a clock of the test's own.
struct Rig {
    _world: World,
    app: TestApp,
    clock: Clock,
}

async fn rig(max_connections: usize) -> Rig {
    let world = World::new(Backend::Sqlite).await;
    let clock = Clock::manual(start_time());
    let config = ServerConfig {
        header_timeout: StdDuration::from_secs(30),
        idle_timeout: StdDuration::from_secs(75),
        max_header_bytes: 8192,
        max_connections,
        // The test sweeps by itself.
        sweep_every: StdDuration::from_secs(3600),
    };
    let app = world
        .spawner(&[])
        .limits(config, clock.clone())
        .start()
        .await;
    world.give_token(&app, "default", Duration::days(3)).await;
    Rig {
        _world: world,
        app,
        clock,
    }
}

impl Rig {
    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.app.addr).await.unwrap()
    }

    /// Token answers made so far, as /metrics counts them.
    fn answered(&self) -> u64 {
        let app = &self.app;
        let text = app
            .metrics
            .render(&app.upstream, &app.board, app.clock.now());
        text.lines()
            .find_map(|l| {
                l.strip_prefix("token_agent_http_requests_total{route=\"token\",status=\"200\"} ")
            })
            .map_or(0, |n| n.parse().unwrap())
    }

    fn advance(&self, seconds: i64) {
        self.clock.advance(Duration::seconds(seconds));
        self.app.limits.sweep();
    }

    /// Waits until the server sees its connections as `want`.
    async fn census(&self, want: Census) {
        let started = std::time::Instant::now();
        while self.app.limits.census() != want {
            assert!(
                started.elapsed() < DEADLINE,
                "connections are {:?}, not {want:?}",
                self.app.limits.census()
            );
            tokio::task::yield_now().await;
            tokio::time::sleep(StdDuration::from_millis(2)).await;
        }
    }
}

/// Reads one response head (and a small body) from a kept-alive connection.
async fn response(stream: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 16 * 1024];
    let n = tokio::time::timeout(DEADLINE, stream.read(&mut buf))
        .await
        .expect("an answer in time")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// True once the server has closed the connection (EOF or reset).
async fn closed(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 512];
    match tokio::time::timeout(DEADLINE, stream.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) => false,
        Err(_) => panic!("the connection is still open after {DEADLINE:?}"),
    }
}

fn census(idle: usize, reading: usize, busy: usize) -> Census {
    Census {
        idle,
        reading,
        busy,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_request_is_closed_at_the_header_timeout_and_not_before() {
    let r = rig(64).await;
    let mut early = r.connect().await;
    early
        .write_all(b"GET /token.json HTTP/1.1\r\nHost: agent\r\n")
        .await
        .unwrap();
    r.census(census(0, 1, 0)).await;

    r.advance(29);
    // Still open: finishing the request gets its answer.
    early
        .write_all(b"Origin: https://example.com\r\n\r\n")
        .await
        .unwrap();
    assert!(response(&mut early).await.starts_with("HTTP/1.1 200"));
    r.census(census(1, 0, 0)).await;

    let mut slow = r.connect().await;
    slow.write_all(b"GET /token.json HTTP/1.1\r\nHost: agent\r\n")
        .await
        .unwrap();
    r.census(census(1, 1, 0)).await;
    r.advance(30);
    assert!(closed(&mut slow).await);
    assert_eq!(
        r.app
            .limits
            .stats
            .header_timeouts
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_connection_is_closed_at_the_idle_timeout_and_not_before() {
    let r = rig(64).await;
    let mut conn = r.connect().await;
    conn.write_all(REQUEST).await.unwrap();
    assert!(response(&mut conn).await.starts_with("HTTP/1.1 200"));
    r.census(census(1, 0, 0)).await;

    r.advance(74);
    conn.write_all(REQUEST).await.unwrap();
    assert!(
        response(&mut conn).await.starts_with("HTTP/1.1 200"),
        "kept alive"
    );
    r.census(census(1, 0, 0)).await;

    // Idle counts from the last answer, not from the connection's start.
    r.advance(74);
    r.census(census(1, 0, 0)).await;
    r.advance(1);
    assert!(closed(&mut conn).await);
    assert_eq!(
        r.app
            .limits
            .stats
            .idle_timeouts
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_over_the_cap_is_answered_431() {
    let r = rig(64).await;
    let mut conn = r.connect().await;
    let big = format!(
        "GET /token.json HTTP/1.1\r\nHost: agent\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(9000)
    );
    conn.write_all(big.as_bytes()).await.unwrap();
    let answer = response(&mut conn).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_bound_get_503_and_the_others_are_served() {
    let r = rig(4).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(r.connect().await);
    }
    r.census(census(4, 0, 0)).await;

    let mut extra = r.connect().await;
    extra.write_all(REQUEST).await.unwrap();
    let answer = response(&mut extra).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("too_many_connections"), "{answer}");
    assert!(closed(&mut extra).await);

    held[0].write_all(REQUEST).await.unwrap();
    assert!(response(&mut held[0]).await.starts_with("HTTP/1.1 200"));

    // One leaves; a newcomer is served.
    drop(held.pop());
    r.census(census(3, 0, 0)).await;
    let mut next = r.connect().await;
    next.write_all(REQUEST).await.unwrap();
    let answer = response(&mut next).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_half_open_connections_neither_block_the_token_urls_nor_stay() {
    let r = rig(512).await;
    let mut slow = Vec::new();
    for _ in 0..100 {
        let mut conn = r.connect().await;
        conn.write_all(b"GET /token.json HTTP/1.1\r\nHost: a")
            .await
            .unwrap();
        slow.push(conn);
    }
    r.census(census(0, 100, 0)).await;

    let mut fast = r.connect().await;
    fast.write_all(REQUEST).await.unwrap();
    assert!(response(&mut fast).await.starts_with("HTTP/1.1 200"));

    r.advance(30);
    for conn in &mut slow {
        assert!(closed(conn).await);
    }
    r.census(census(1, 0, 0)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_but_never_reads_is_closed_at_the_idle_timeout() {
    use std::sync::atomic::Ordering::Relaxed;
    let r = rig(64).await;
    // Far more answers than the sockets' buffers hold (4 MB at most on
    // Linux), asked for in one go with a small receive window, and never
    // read: the server's writes stall with requests still unread.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let conn = socket.connect(r.app.addr).await.unwrap();
    let (_reader, mut writer) = conn.into_split();
    let asking = tokio::spawn(async move {
        let _ = writer.write_all(&REQUEST.repeat(20_000)).await;
        writer
    });
    let started = std::time::Instant::now();
    while r.answered() < 1_000 {
        assert!(started.elapsed() < DEADLINE, "the answers never started");
        tokio::time::sleep(StdDuration::from_millis(2)).await;
    }

    // An answer being written waits for the client, as an idle connection
    // does. (A sweep that finds it between two requests misses it; the
    // next one does not.)
    while r.app.limits.stats.idle_timeouts.load(Relaxed) == 0 {
        assert!(started.elapsed() < DEADLINE, "never swept as idle");
        r.advance(75);
        tokio::time::sleep(StdDuration::from_millis(2)).await;
    }
    // The server lets go of the connection, though nothing is read.
    while r.app.limits.stats.open.load(Relaxed) > 0 {
        assert!(
            started.elapsed() < DEADLINE,
            "the connection is still held after its idle timeout"
        );
        tokio::time::sleep(StdDuration::from_millis(2)).await;
    }
    drop(asking.await.unwrap());
}
