//! Slow, idle and surplus clients: half-sent requests are closed after the
//! header timeout, idle kept-alive connections after the idle timeout, heads
//! over the cap get 431, connections over the bound get 503, and a panic in
//! a handler is one 500, not a dead server. The limits are judged by a
//! manual clock and swept by the test itself, so nothing waits for time.

use std::time::Duration as StdDuration;

use chrono::Duration;
use token_agent::clock::Clock;
use token_agent::config::{ClientBound, ServerConfig};
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
    rig_with(max_connections, &[]).await
}

async fn rig_with(max_connections: usize, extra: &[(&str, &str)]) -> Rig {
    let world = World::new(Backend::Sqlite).await;
    let clock = Clock::manual(start_time());
    let config = ServerConfig {
        header_timeout: StdDuration::from_secs(30),
        idle_timeout: StdDuration::from_secs(75),
        body_timeout: StdDuration::from_secs(15),
        send_timeout: StdDuration::from_secs(60),
        max_header_bytes: 8192,
        max_connections,
        // One address may take them all here; the bound has tests of its own.
        per_client: ClientBound::At {
            max: max_connections,
            exempt: Vec::new(),
        },
        // The test sweeps by itself.
        sweep_every: StdDuration::from_secs(3600),
    };
    let app = world
        .spawner(extra)
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
        ..Census::default()
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
async fn a_client_that_sends_but_never_reads_is_closed_at_the_send_timeout_and_not_before() {
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
    while r.app.limits.census().stalled == 0 {
        assert!(started.elapsed() < DEADLINE, "the writes never stalled");
        tokio::time::sleep(StdDuration::from_millis(2)).await;
    }

    // A stalled answer is not an idle connection: the idle timeout passes…
    r.advance(59);
    assert_eq!(r.app.limits.census().stalled, 1);
    assert_eq!(r.app.limits.stats.idle_timeouts.load(Relaxed), 0);
    // …and the send timeout closes it.
    r.advance(1);
    assert_eq!(r.app.limits.stats.send_timeouts.load(Relaxed), 1);
    while r.app.limits.stats.open.load(Relaxed) > 0 {
        assert!(
            started.elapsed() < DEADLINE,
            "the connection is still held after its send timeout"
        );
        tokio::time::sleep(StdDuration::from_millis(2)).await;
    }
    drop(asking.await.unwrap());
}

/// A form POST whose body is announced and never sent.
const UNFINISHED_POST: &[u8] = b"POST /callbacks/deauthorize HTTP/1.1\r\nHost: agent\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 16000\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_that_never_come_hold_the_server_only_until_the_body_timeout() {
    use std::sync::atomic::Ordering::Relaxed;
    // Every connection the agent may open is a POST to a public form that
    // reads its body, and the body never comes, or trickles.
    let r = rig_with(
        3,
        &[
            ("INSTAGRAM_APP_ID", "1234567890"),
            ("INSTAGRAM_APP_SECRET", "meta-app-secret"),
        ],
    )
    .await;
    let mut stalled = Vec::new();
    for _ in 0..3 {
        let mut stream = r.connect().await;
        stream.write_all(UNFINISHED_POST).await.unwrap();
        stalled.push(stream);
    }
    let waiting = Census {
        busy: 3,
        body: 3,
        ..Census::default()
    };
    r.census(waiting).await;
    // While they hold every place, the token URLs are refused…
    let mut refused = r.connect().await;
    refused.write_all(REQUEST).await.unwrap();
    assert!(response(&mut refused).await.starts_with("HTTP/1.1 503"));

    // …however the bodies trickle: the timeout is for the whole body.
    r.advance(10);
    stalled[0].write_all(&[b'a'; 100]).await.unwrap();
    stalled[1].write_all(b"s").await.unwrap();
    r.advance(4);
    r.census(waiting).await;
    r.advance(1);
    for stream in &mut stalled {
        assert!(closed(stream).await, "a body past its timeout");
    }
    assert_eq!(r.app.limits.stats.body_timeouts.load(Relaxed), 3);

    // Then the places are free again.
    r.census(Census::default()).await;
    let mut fresh = r.connect().await;
    fresh.write_all(REQUEST).await.unwrap();
    assert!(response(&mut fresh).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_that_is_off_answers_before_reading_its_body() {
    // No app secret: Meta's callbacks are off.
    let r = rig(64).await;
    let mut stream = r.connect().await;
    stream.write_all(UNFINISHED_POST).await.unwrap();
    let answer = response(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(answer.contains("callbacks_disabled"), "{answer}");
    assert_eq!(
        r.app
            .limits
            .stats
            .body_timeouts
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

/// A connection to `addr` from the loopback address `from` (127.0.0.2 is
/// another client than 127.0.0.1).
async fn connect_from(from: &str, addr: std::net::SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(addr).await.unwrap()
}

/// `count` connections from `from`, each holding a request head half sent.
async fn half_heads(from: &str, addr: std::net::SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..count {
        let mut conn = connect_from(from, addr).await;
        conn.write_all(b"GET /token.json HTTP/1.1\r\nHost: a")
            .await
            .unwrap();
        held.push(conn);
    }
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    use std::sync::atomic::Ordering::Relaxed;
    // Measured before: 20 half-sent heads from one address, replaced as
    // they were dropped, left another client 0 answers of 74.
    let world = World::new(Backend::Sqlite).await;
    let app = world
        .spawn(&[
            ("HTTP_MAX_CONNECTIONS", "8"),
            ("HTTP_MAX_CONNECTIONS_PER_CLIENT", "2"),
        ])
        .await;
    world.give_token(&app, "default", Duration::days(3)).await;
    let _held = half_heads("127.0.0.1", app.addr, 2).await;
    let started = std::time::Instant::now();
    while app.limits.census().reading < 2 {
        assert!(started.elapsed() < DEADLINE, "the heads never arrived");
        tokio::time::sleep(StdDuration::from_millis(2)).await;
    }

    // A third from the same address is refused at once…
    let mut third = connect_from("127.0.0.1", app.addr).await;
    let refusal = response(&mut third).await;
    assert!(refusal.starts_with("HTTP/1.1 503"), "{refusal}");
    assert!(refusal.contains("Retry-After: 1"), "{refusal}");
    assert!(closed(&mut third).await);
    assert_eq!(app.limits.stats.client_refused.load(Relaxed), 1);

    // …while another address is served.
    let mut other = connect_from("127.0.0.2", app.addr).await;
    other.write_all(REQUEST).await.unwrap();
    assert!(response(&mut other).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_named_in_trust_proxy_may_hold_more_than_one_clients_share() {
    // A local reverse proxy: everyone comes from its address.
    let world = World::new(Backend::Sqlite).await;
    let app = world
        .spawn(&[
            ("HTTP_MAX_CONNECTIONS", "8"),
            ("HTTP_MAX_CONNECTIONS_PER_CLIENT", "2"),
            ("TRUST_PROXY", "127.0.0.1"),
        ])
        .await;
    world.give_token(&app, "default", Duration::days(3)).await;
    let _through_the_proxy = half_heads("127.0.0.1", app.addr, 5).await;
    let _direct = half_heads("127.0.0.2", app.addr, 2).await;
    let started = std::time::Instant::now();
    while app.limits.census().reading < 7 {
        assert!(started.elapsed() < DEADLINE, "the heads never arrived");
        tokio::time::sleep(StdDuration::from_millis(2)).await;
    }
    // The proxy holds five; an address that is not a proxy still only two.
    let mut third = connect_from("127.0.0.2", app.addr).await;
    assert!(response(&mut third).await.starts_with("HTTP/1.1 503"));
    let mut proxied = connect_from("127.0.0.1", app.addr).await;
    proxied.write_all(REQUEST).await.unwrap();
    assert!(response(&mut proxied).await.starts_with("HTTP/1.1 200"));
}
