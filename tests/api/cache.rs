//! The cache against real memcached processes, each test with its own
//! servers on free loopback ports (`memcached` from Debian's package; the
//! SASL tests also need `saslpasswd2` from `sasl2-bin`).

use std::time::{Duration, Instant};

use bytes::Bytes;
use token_agent::cache::{Cache, CacheConfig, CacheError};

use crate::common::logs::Logs;
use crate::common::memcached::{Memcached, blackhole_server, closed_port};

const OP_TIMEOUT: Duration = Duration::from_millis(500);
/// Scheduling slack on a busy CI machine.
const MARGIN: Duration = Duration::from_millis(300);
const RETRY_AFTER: Duration = Duration::from_millis(300);

fn in_process(max_bytes: u64) -> Cache {
    Cache::new(CacheConfig {
        l1_max_bytes: max_bytes,
        ..CacheConfig::default()
    })
    .unwrap()
}

fn config_for(server: &str) -> CacheConfig {
    CacheConfig {
        servers: vec![server.to_owned()],
        op_timeout: OP_TIMEOUT,
        ..CacheConfig::default()
    }
}

fn cache_for(server: &str) -> Cache {
    Cache::with_retry_after(config_for(server), RETRY_AFTER).unwrap()
}

fn sasl_cache_for(server: &str, username: &str, password: &str) -> Cache {
    let cfg = CacheConfig {
        username: Some(username.to_owned()),
        password: Some(password.to_owned()),
        ..config_for(server)
    };
    Cache::with_retry_after(cfg, RETRY_AFTER).unwrap()
}

fn bytes(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

const HOUR: Duration = Duration::from_secs(3600);

/// Awaits `f` and fails the test if it took longer than `limit`.
async fn within<T>(limit: Duration, what: &str, f: impl Future<Output = T>) -> T {
    let start = Instant::now();
    let out = f.await;
    let took = start.elapsed();
    assert!(took <= limit, "{what} took {took:?}, limit {limit:?}");
    out
}

// In-process only.

#[tokio::test]
async fn an_in_process_cache_returns_what_was_set_and_forgets_what_was_deleted() {
    let cache = in_process(100);
    assert_eq!(cache.backend(), "in-process");
    assert_eq!(cache.memcached_up(), None);

    assert_eq!(cache.get("feed:alice").await, None);
    cache.set("feed:alice", bytes("v1"), HOUR).await;
    assert_eq!(cache.get("feed:alice").await, Some(bytes("v1")));
    cache.set("feed:alice", bytes("v2"), HOUR).await;
    assert_eq!(cache.get("feed:alice").await, Some(bytes("v2")));

    cache.delete("feed:alice").await;
    assert_eq!(cache.get("feed:alice").await, None);
}

#[tokio::test]
async fn an_in_process_entry_expires_after_its_own_ttl_and_not_before() {
    let cache = in_process(100);
    cache
        .set("short", bytes("s"), Duration::from_millis(200))
        .await;
    cache.set("long", bytes("l"), HOUR).await;
    assert_eq!(cache.get("short").await, Some(bytes("s")));

    // moka's clock is real time: wait, boundedly, for the short entry to go.
    let deadline = Instant::now() + Duration::from_millis(900);
    while cache.get("short").await.is_some() {
        assert!(
            Instant::now() < deadline,
            "the 200 ms entry outlived 900 ms"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(cache.get("long").await, Some(bytes("l")));
}

#[tokio::test]
async fn an_update_restarts_the_entry_with_the_new_ttl() {
    let cache = in_process(100);
    cache.set("k", bytes("old"), HOUR).await;
    cache
        .set("k", bytes("new"), Duration::from_millis(150))
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(cache.get("k").await, None);
}

#[tokio::test]
async fn the_in_process_cache_holds_at_most_its_byte_budget() {
    // Keys of 4 bytes ("k100") and values of 96: 100 bytes an entry.
    let cache = in_process(1_000);
    let value = Bytes::from(vec![b'v'; 96]);
    for i in 100..300 {
        cache.set(&format!("k{i}"), value.clone(), HOUR).await;
    }
    let count = cache.l1_entry_count().await;
    assert!(
        count <= 10,
        "{count} entries of 100 bytes in a 1,000-byte cache"
    );
    assert!(count > 0);
}

#[tokio::test]
async fn a_set_with_a_zero_ttl_removes_the_older_value() {
    let cache = in_process(10);
    cache.set("k", bytes("v"), HOUR).await;
    cache.set("k", bytes("w"), Duration::ZERO).await;
    assert_eq!(cache.get("k").await, None);
}

#[test]
fn construction_refuses_bad_configuration_naming_the_variable() {
    let err = |cfg: CacheConfig| Cache::new(cfg).map(|_| ()).unwrap_err();

    let half = CacheConfig {
        username: Some("u".into()),
        ..config_for("127.0.0.1:1")
    };
    assert!(matches!(err(half), CacheError::HalfCredentials));

    let at_sign = CacheConfig {
        username: Some("u".into()),
        password: Some("p@ss word".into()),
        ..config_for("127.0.0.1:1")
    };
    let message = err(at_sign).to_string();
    assert!(message.contains("MEMCACHIER_PASSWORD"), "{message}");
    assert!(!message.contains("p@ss"), "the message leaks the password");

    let with_scheme = config_for("memcache://127.0.0.1:1");
    assert!(err(with_scheme).to_string().contains("MEMCACHIER_SERVERS"));

    let zero = CacheConfig {
        op_timeout: Duration::ZERO,
        ..CacheConfig::default()
    };
    assert!(matches!(err(zero), CacheError::ZeroTimeout));
}

#[test]
fn the_config_debug_output_hides_the_password() {
    let cfg = CacheConfig {
        username: Some("user".into()),
        password: Some("hunter2".into()),
        ..CacheConfig::default()
    };
    let shown = format!("{cfg:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("[redacted]"));
}

// memcached.

#[tokio::test]
async fn a_value_set_by_one_instance_is_read_by_another() {
    let server = Memcached::start();
    let (dyno1, dyno2) = (cache_for(&server.addr()), cache_for(&server.addr()));
    assert_eq!(dyno1.backend(), "memcached");
    let long_key = format!("feed with spaces {}", "x".repeat(300));

    dyno1.set("feed:alice", bytes("from dyno 1"), HOUR).await;
    dyno1.set(&long_key, bytes("long"), HOUR).await;

    assert_eq!(dyno2.get("feed:alice").await, Some(bytes("from dyno 1")));
    assert_eq!(dyno2.get(&long_key).await, Some(bytes("long")));
    assert_eq!(dyno2.get("feed:bob").await, None);
    assert_eq!(dyno1.memcached_up(), Some(true));
    assert_eq!(dyno2.memcached_up(), Some(true));
}

#[tokio::test]
async fn a_memcached_hit_fills_the_l1() {
    let server = Memcached::start();
    let (dyno1, dyno2) = (cache_for(&server.addr()), cache_for(&server.addr()));
    dyno1.set("feed:alice", bytes("v"), HOUR).await;
    assert_eq!(dyno2.l1_entry_count().await, 0);

    assert_eq!(dyno2.get("feed:alice").await, Some(bytes("v")));
    assert_eq!(dyno2.l1_entry_count().await, 1);

    // Gone from memcached, still served from dyno 2's L1.
    server.raw_client().delete("ta1:feed:alice").unwrap();
    assert_eq!(dyno2.get("feed:alice").await, Some(bytes("v")));
}

#[tokio::test]
async fn the_l1_copy_of_a_memcached_value_keeps_only_the_life_it_had_left() {
    let server = Memcached::start();
    let (dyno1, dyno2) = (cache_for(&server.addr()), cache_for(&server.addr()));
    dyno1.set("k", bytes("v"), Duration::from_millis(300)).await;
    assert_eq!(dyno2.get("k").await, Some(bytes("v")));

    // memcached keeps it for a whole second; the stored expiry does not.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(dyno2.get("k").await, None);
    assert_eq!(cache_for(&server.addr()).get("k").await, None);
}

#[tokio::test]
async fn a_delete_through_one_instance_removes_the_value_from_memcached() {
    let server = Memcached::start();
    let (dyno1, dyno2) = (cache_for(&server.addr()), cache_for(&server.addr()));
    dyno1.set("k", bytes("v"), HOUR).await;
    dyno1.delete("k").await;
    assert_eq!(dyno2.get("k").await, None);
    assert_eq!(dyno1.memcached_up(), Some(true));
}

#[tokio::test]
async fn a_1_mb_value_is_shared_and_a_larger_one_stays_in_process() {
    let server = Memcached::start();
    let (dyno1, dyno2) = (cache_for(&server.addr()), cache_for(&server.addr()));
    let megabyte = Bytes::from(vec![7u8; 1_000_000]);
    let too_large = Bytes::from(vec![8u8; 1_100_000]);

    dyno1.set("mb", megabyte.clone(), HOUR).await;
    dyno1.set("big", too_large.clone(), HOUR).await;

    assert_eq!(dyno2.get("mb").await, Some(megabyte));
    assert_eq!(dyno2.get("big").await, None);
    assert_eq!(dyno1.get("big").await, Some(too_large));
    assert_eq!(
        dyno1.memcached_up(),
        Some(true),
        "a skipped set is no outage"
    );
}

// SASL, as MemCachier does it.

#[tokio::test]
async fn sasl_with_the_right_credentials_shares_values() {
    let server = Memcached::start_sasl(&[("alice", "s3cret"), ("punct", "pa$$-w0rd!~*(x)")]);
    let dyno1 = sasl_cache_for(&server.addr(), "alice", "s3cret");
    let dyno2 = sasl_cache_for(&server.addr(), "alice", "s3cret");
    dyno1.set("k", bytes("v"), HOUR).await;
    assert_eq!(dyno2.get("k").await, Some(bytes("v")));
    assert_eq!(dyno1.memcached_up(), Some(true));

    // URL-safe punctuation passes through the crate unchanged.
    let punct = sasl_cache_for(&server.addr(), "punct", "pa$$-w0rd!~*(x)");
    punct.set("p", bytes("q"), HOUR).await;
    assert_eq!(dyno2.get("p").await, Some(bytes("q")));
    assert_eq!(punct.memcached_up(), Some(true));
}

#[tokio::test]
async fn a_wrong_sasl_password_misses_within_the_op_timeout_and_logs_no_secret() {
    let server = Memcached::start_sasl(&[("alice", "s3cret")]);
    let good = sasl_cache_for(&server.addr(), "alice", "s3cret");
    good.set("shared", bytes("v"), HOUR).await;
    let logs = Logs::capture();

    let wrong = sasl_cache_for(&server.addr(), "alice", "WrongPassword");
    let limit = OP_TIMEOUT + MARGIN;
    assert_eq!(within(limit, "get", wrong.get("shared")).await, None);
    within(limit, "set", wrong.set("mine", bytes("w"), HOUR)).await;
    assert_eq!(within(limit, "get", wrong.get("shared")).await, None);
    assert_eq!(wrong.memcached_up(), Some(false));

    assert_eq!(good.get("mine").await, None, "the set reached memcached");
    let logged = logs.text();
    assert!(logged.contains("rejected the SASL credentials"), "{logged}");
    assert!(!logged.contains("WrongPassword"), "{logged}");
}

#[tokio::test]
async fn no_credentials_against_a_sasl_server_is_an_outage_that_says_why() {
    let server = Memcached::start_sasl(&[("alice", "s3cret")]);
    let logs = Logs::capture();
    let anonymous = cache_for(&server.addr());
    assert_eq!(anonymous.get("k").await, None);
    assert_eq!(anonymous.memcached_up(), Some(false));
    assert!(logs.text().contains("requires SASL authentication"));
}

/// The gotcha behind `CacheError::UnsendableCredential`: the memcache crate
/// sends the URL's password still percent-encoded.
#[tokio::test]
async fn the_memcache_crate_sends_a_percent_encoded_password_verbatim() {
    let server = Memcached::start_sasl(&[("bob", "p@ss w"), ("carol", "p%40ss%20w")]);
    let url = |user: &str| format!("memcache://{user}:p%40ss%20w@{}", server.addr());
    let works = |url: String| {
        memcache::Client::builder()
            .add_server(url)
            .unwrap()
            .with_connection_timeout(Duration::from_millis(500))
            .build()
            .and_then(|client| client.version())
            .is_ok()
    };
    let (bob, carol) = (url("bob"), url("carol"));
    let (bob_works, carol_works) = tokio::task::spawn_blocking(move || (works(bob), works(carol)))
        .await
        .unwrap();
    assert!(!bob_works, "the real password, correctly encoded, fails");
    assert!(
        carol_works,
        "the encoded text itself is what the server sees"
    );

    let cfg = CacheConfig {
        username: Some("bob".into()),
        password: Some("p@ss w".into()),
        ..config_for(&server.addr())
    };
    let err = Cache::new(cfg).map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("MEMCACHIER_PASSWORD"), "{err}");
}

// Outages.

#[tokio::test]
async fn killing_memcached_leaves_the_cache_serving_from_l1_and_a_restart_brings_it_back() {
    let mut server = Memcached::start();
    let dyno1 = cache_for(&server.addr());
    dyno1.set("before", bytes("b"), HOUR).await;
    assert_eq!(
        cache_for(&server.addr()).get("before").await,
        Some(bytes("b"))
    );
    let logs = Logs::capture();

    server.kill();
    let limit = OP_TIMEOUT + MARGIN;
    assert_eq!(
        within(limit, "get", dyno1.get("before")).await,
        Some(bytes("b"))
    );
    assert_eq!(within(limit, "get", dyno1.get("never set")).await, None);
    assert_eq!(dyno1.memcached_up(), Some(false));
    within(limit, "set", dyno1.set("during", bytes("d"), HOUR)).await;
    assert_eq!(
        within(limit, "get", dyno1.get("during")).await,
        Some(bytes("d"))
    );
    // Cooling down: memcached is not even tried.
    let quick = Duration::from_millis(100);
    assert_eq!(within(quick, "get", dyno1.get("other")).await, None);

    // Retries after the cool-down still fail while it is down.
    tokio::time::sleep(RETRY_AFTER + Duration::from_millis(100)).await;
    assert_eq!(within(limit, "get", dyno1.get("other")).await, None);
    assert_eq!(dyno1.memcached_up(), Some(false));

    server.restart();
    let deadline = Instant::now() + RETRY_AFTER + Duration::from_secs(3);
    while dyno1.memcached_up() != Some(true) {
        assert!(Instant::now() < deadline, "memcached never came back");
        within(limit, "set", dyno1.set("after", bytes("a"), HOUR)).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    dyno1.set("after", bytes("a2"), HOUR).await;
    assert_eq!(
        cache_for(&server.addr()).get("after").await,
        Some(bytes("a2"))
    );

    let logged = logs.text();
    assert_eq!(
        logged
            .matches("memcached unreachable, serving from the in-process cache")
            .count(),
        1,
        "{logged}"
    );
    assert_eq!(
        logged.matches("memcached reachable again").count(),
        1,
        "{logged}"
    );
}

#[tokio::test]
async fn a_server_that_accepts_and_never_answers_costs_at_most_the_op_timeout() {
    let addr = blackhole_server();
    let cache = cache_for(&addr);
    let limit = OP_TIMEOUT + MARGIN;
    assert_eq!(within(limit, "get", cache.get("k")).await, None);
    assert_eq!(cache.memcached_up(), Some(false));
    within(limit, "set", cache.set("k", bytes("v"), HOUR)).await;
    assert_eq!(cache.get("k").await, Some(bytes("v")));
}

#[tokio::test]
async fn memcached_down_at_start_neither_blocks_construction_nor_requests() {
    let addr = closed_port();
    let start = Instant::now();
    let cache = cache_for(&addr);
    assert!(start.elapsed() < Duration::from_millis(50));
    assert_eq!(cache.memcached_up(), Some(true), "not known to be down yet");

    let limit = OP_TIMEOUT + MARGIN;
    assert_eq!(within(limit, "get", cache.get("k")).await, None);
    assert_eq!(cache.memcached_up(), Some(false));
    within(limit, "set", cache.set("k", bytes("v"), HOUR)).await;
    assert_eq!(cache.get("k").await, Some(bytes("v")));
}
