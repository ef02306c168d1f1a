//! The memcached level: keys, stored format, timeouts and outage handling.
//!
//! The `memcache` crate is blocking, so each operation runs on tokio's
//! blocking pool inside a timeout of `op_timeout`. Its r2d2 pool keeps dead
//! connections (`has_broken` is always false) and retries failed connects
//! for as long as the pool lives, so after any failure the whole client is
//! dropped and, after a cool-down, rebuilt. Before a rebuilt client is
//! used, a small probe connects with a timeout and authenticates (or sends
//! a no-op), which turns "port closed", "answers nothing" and
//! "wrong password" into one clear error instead of r2d2 retry noise.
//!
//! The crate does not check that a reply belongs to its request, and a
//! connection abandoned mid-reply goes back to the pool. Every stored value
//! therefore starts with a fingerprint of its key, and a value read for
//! another key is a miss that discards the client.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use memcache::{CommandError, MemcacheError};
use sha2::{Digest, Sha256};
use tracing::{debug, info, warn};
use url::Url;

use super::{CacheConfig, CacheError, MAX_TTL};

const KEY_PREFIX: &str = "ta1:";
/// Longer keys are hashed; with the prefix this stays under memcached's 250.
const MAX_PLAIN_KEY_LEN: usize = 200;
/// memcached's default item limit (and MemCachier's) is 1 MiB including
/// the key and item header; this leaves room for both.
pub(crate) const MAX_VALUE_LEN: usize = 1_000_000;
const DEFAULT_PORT: u16 = 11211;
const POOL_SIZE: u32 = 8;

/// Stored value: magic, expiry (Unix ms, big-endian), key fingerprint, payload.
const MAGIC: [u8; 4] = *b"ta1\x01";
const HEADER_LEN: usize = 4 + 8 + 8;

pub(super) struct Memcached {
    targets: Arc<[Target]>,
    /// `host:port` list for logs; never the URLs, which hold the password.
    servers: String,
    op_timeout: Duration,
    retry_after: Duration,
    state: Mutex<State>,
}

struct Target {
    addr: String,
    url: Url,
    authenticated: bool,
}

struct State {
    /// Some while memcached works; None means the next operation allowed
    /// by `retry_at` builds and probes a fresh client.
    client: Option<memcache::Client>,
    retry_at: Instant,
    /// A warning has been logged and `is_up` says false.
    reported_down: bool,
    /// Bumped for every new client so late results from an old one are
    /// ignored.
    generation: u64,
}

/// What one operation runs with.
struct Handle {
    client: memcache::Client,
    generation: u64,
    /// A fresh client: probe the servers before using it.
    probe: bool,
}

#[derive(Debug, thiserror::Error)]
enum RemoteError {
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: String, source: io::Error },
    #[error(
        "{addr} rejected the SASL credentials ({reply}); check MEMCACHIER_USERNAME and MEMCACHIER_PASSWORD \
         (new MemCachier credentials can take a few minutes to work)"
    )]
    Rejected { addr: String, reply: String },
    #[error(
        "{addr} requires SASL authentication but MEMCACHIER_USERNAME and MEMCACHIER_PASSWORD are not set"
    )]
    AuthRequired { addr: String },
    #[error("{addr} answered the probe with status {status:#06x} ({reply})")]
    Refused {
        addr: String,
        status: u16,
        reply: String,
    },
    #[error("{addr} sent a malformed reply to the probe: {detail}")]
    Malformed { addr: String, detail: String },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Memcache(#[from] MemcacheError),
    #[error("the memcached task failed: {0}")]
    Task(String),
    /// A reply carried the value of another key: the connection is out of step.
    #[error("a reply did not belong to its request")]
    OutOfStep,
}

impl Memcached {
    pub(super) fn new(cfg: &CacheConfig, retry_after: Duration) -> Result<Memcached, CacheError> {
        let credentials = credentials(cfg)?;
        let targets = cfg
            .servers
            .iter()
            .map(|entry| target(entry, credentials, cfg.op_timeout))
            .collect::<Result<Vec<_>, _>>()?;
        let servers = targets
            .iter()
            .map(|t| t.addr.as_str())
            .collect::<Vec<_>>()
            .join(",");
        Ok(Memcached {
            targets: targets.into(),
            servers,
            op_timeout: cfg.op_timeout,
            retry_after,
            state: Mutex::new(State {
                client: None,
                retry_at: Instant::now(),
                reported_down: false,
                generation: 0,
            }),
        })
    }

    pub(super) fn is_up(&self) -> bool {
        !self.lock().reported_down
    }

    /// The value and the life it has left, or None on a miss or any error.
    pub(super) async fn get(&self, key: &str) -> Option<(Bytes, Duration)> {
        let mkey = memcached_key(key);
        self.run(move |client| {
            let Some(stored) = client.get::<Vec<u8>>(&mkey)? else {
                return Ok(None);
            };
            match open(&mkey, stored, unix_ms_now()) {
                Opened::Fresh { value, ttl } => Ok(Some((value, ttl))),
                Opened::Expired => Ok(None),
                Opened::OtherKey => Err(RemoteError::OutOfStep),
            }
        })
        .await
        .flatten()
    }

    pub(super) async fn set(&self, key: &str, value: Bytes, ttl: Duration) {
        if value.len() > MAX_VALUE_LEN {
            debug!(
                key,
                len = value.len(),
                "value too large for memcached; kept in-process only"
            );
            return;
        }
        let mkey = memcached_key(key);
        let expires_at_ms = unix_ms_now().saturating_add(ttl.as_millis() as u64);
        let stored = seal(&mkey, expires_at_ms, &value);
        let expiry = expiry_secs(ttl);
        self.run(move |client| Ok(client.set(&mkey, stored.as_slice(), expiry)?))
            .await;
    }

    pub(super) async fn delete(&self, key: &str) {
        let mkey = memcached_key(key);
        self.run(move |client| Ok(client.delete(&mkey).map(|_| ())?))
            .await;
    }

    /// Runs one operation unless memcached is cooling down; None when it
    /// was skipped or failed.
    async fn run<T, F>(&self, op: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce(&memcache::Client) -> Result<T, RemoteError> + Send + 'static,
    {
        let handle = self.acquire()?;
        let targets = Arc::clone(&self.targets);
        let client = handle.client.clone();
        let (probe, timeout) = (handle.probe, self.op_timeout);
        let task = tokio::task::spawn_blocking(move || {
            if probe {
                for target in targets.iter() {
                    probe_server(target, timeout)?;
                }
            }
            op(&client)
        });
        let outcome = match tokio::time::timeout(self.op_timeout, task).await {
            Err(_) => Err(RemoteError::Timeout(self.op_timeout)),
            Ok(Err(join)) => Err(RemoteError::Task(join.to_string())),
            Ok(Ok(result)) => result,
        };
        match outcome {
            Ok(value) => {
                self.succeeded(handle);
                Some(value)
            }
            // The server understood and refused this one request: it is
            // reachable and the connection is in step.
            Err(RemoteError::Memcache(MemcacheError::CommandError(
                e @ (CommandError::ValueTooLarge
                | CommandError::KeyExists
                | CommandError::KeyNotFound
                | CommandError::InvalidArguments),
            ))) => {
                debug!(error = %e, "memcached refused an operation");
                self.succeeded(handle);
                None
            }
            Err(RemoteError::OutOfStep) => {
                debug!("memcached reply for another key; rebuilding the client");
                self.discard(&handle);
                None
            }
            Err(e) => {
                self.failed(handle.generation, &e);
                None
            }
        }
    }

    /// The client to use, a fresh one to probe when none is up and the
    /// cool-down is over, or None to skip memcached.
    fn acquire(&self) -> Option<Handle> {
        let mut state = self.lock();
        if let Some(client) = &state.client {
            return Some(Handle {
                client: client.clone(),
                generation: state.generation,
                probe: false,
            });
        }
        let now = Instant::now();
        if now < state.retry_at {
            return None;
        }
        // Requests arriving while this one probes skip memcached; if it is
        // cancelled, another may try once its timeout has passed.
        state.retry_at = now + self.op_timeout;
        state.generation += 1;
        let generation = state.generation;
        drop(state);
        match self.build_client() {
            Ok(client) => Some(Handle {
                client,
                generation,
                probe: true,
            }),
            Err(e) => {
                self.failed(generation, &RemoteError::Memcache(e));
                None
            }
        }
    }

    /// Pools that connect on demand: building one never blocks.
    fn build_client(&self) -> Result<memcache::Client, MemcacheError> {
        let pools = self
            .targets
            .iter()
            .map(|target| {
                memcache::Pool::builder()
                    .max_size(POOL_SIZE)
                    .min_idle(Some(0))
                    .connection_timeout(self.op_timeout)
                    .build_unchecked(memcache::ConnectionManager::new(target.url.clone()))
            })
            .collect();
        memcache::Client::with_pools(pools)
    }

    fn succeeded(&self, handle: Handle) {
        let mut state = self.lock();
        if !handle.probe || handle.generation != state.generation || state.client.is_some() {
            return;
        }
        state.client = Some(handle.client);
        if state.reported_down {
            state.reported_down = false;
            info!(servers = %self.servers, "memcached reachable again");
        }
    }

    /// Starts or extends an outage, unless the failure came from a client
    /// that has since been replaced.
    fn failed(&self, generation: u64, error: &RemoteError) {
        let mut state = self.lock();
        if generation != state.generation {
            return;
        }
        state.client = None;
        state.retry_at = Instant::now() + self.retry_after;
        if state.reported_down {
            debug!(servers = %self.servers, %error, "memcached still unreachable");
        } else {
            state.reported_down = true;
            warn!(
                servers = %self.servers,
                "memcached unreachable, serving from the in-process cache: {error}"
            );
        }
    }

    /// Drops a client whose connection got out of step; the next operation
    /// builds and probes a new one without waiting for a cool-down.
    fn discard(&self, handle: &Handle) {
        let mut state = self.lock();
        if handle.generation == state.generation && state.client.is_some() {
            state.client = None;
            state.retry_at = Instant::now();
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The memcached key for a cache key: `ta1:` and the key itself when it is
/// short printable ASCII without spaces, else `ta1:` and its SHA-256 in hex.
/// A plain key that looks like such a hash is hashed too, so the two forms
/// never meet.
pub(crate) fn memcached_key(key: &str) -> String {
    let looks_hashed =
        key.len() == 64 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let plain = key.len() <= MAX_PLAIN_KEY_LEN
        && !key.is_empty()
        && key.bytes().all(|b| b.is_ascii_graphic())
        && !looks_hashed;
    if plain {
        format!("{KEY_PREFIX}{key}")
    } else {
        format!(
            "{KEY_PREFIX}{}",
            hex::encode(Sha256::digest(key.as_bytes()))
        )
    }
}

/// memcached's expiry in whole seconds: sub-second ttls round up to one
/// second (0 would mean "never"), and anything over 30 days is clamped
/// because memcached reads larger numbers as an absolute Unix time.
pub(crate) fn expiry_secs(ttl: Duration) -> u32 {
    let secs = ttl
        .as_secs()
        .saturating_add(u64::from(ttl.subsec_nanos() > 0));
    secs.clamp(1, MAX_TTL.as_secs()) as u32
}

fn key_fingerprint(mkey: &str) -> [u8; 8] {
    let digest = Sha256::digest(mkey.as_bytes());
    let mut fingerprint = [0; 8];
    fingerprint.copy_from_slice(&digest[..8]);
    fingerprint
}

fn seal(mkey: &str, expires_at_ms: u64, value: &[u8]) -> Vec<u8> {
    let mut stored = Vec::with_capacity(HEADER_LEN + value.len());
    stored.extend_from_slice(&MAGIC);
    stored.extend_from_slice(&expires_at_ms.to_be_bytes());
    stored.extend_from_slice(&key_fingerprint(mkey));
    stored.extend_from_slice(value);
    stored
}

#[derive(Debug, PartialEq)]
enum Opened {
    Fresh {
        value: Bytes,
        ttl: Duration,
    },
    Expired,
    /// Not written by this version for this key.
    OtherKey,
}

fn open(mkey: &str, stored: Vec<u8>, now_ms: u64) -> Opened {
    if stored.len() < HEADER_LEN
        || stored[..4] != MAGIC
        || stored[12..HEADER_LEN] != key_fingerprint(mkey)
    {
        return Opened::OtherKey;
    }
    let mut expires = [0; 8];
    expires.copy_from_slice(&stored[4..12]);
    let expires_at_ms = u64::from_be_bytes(expires);
    if expires_at_ms <= now_ms {
        return Opened::Expired;
    }
    Opened::Fresh {
        value: Bytes::from(stored).slice(HEADER_LEN..),
        ttl: Duration::from_millis(expires_at_ms - now_ms),
    }
}

/// Wall-clock time, because the expiry stored in memcached is read by
/// other dynos.
fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Every server entry and the credentials, as [`Memcached::new`] reads them.
pub(super) fn check(cfg: &CacheConfig) -> Result<(), CacheError> {
    let credentials = credentials(cfg)?;
    for entry in &cfg.servers {
        target(entry, credentials, cfg.op_timeout)?;
    }
    Ok(())
}

fn credentials(cfg: &CacheConfig) -> Result<Option<(&str, &str)>, CacheError> {
    let username = cfg.username.as_deref().filter(|s| !s.is_empty());
    let password = cfg.password.as_deref().filter(|s| !s.is_empty());
    match (username, password) {
        (Some(username), Some(password)) => Ok(Some((username, password))),
        (None, None) => Ok(None),
        _ => Err(CacheError::HalfCredentials),
    }
}

fn target(
    entry: &str,
    credentials: Option<(&str, &str)>,
    op_timeout: Duration,
) -> Result<Target, CacheError> {
    let entry = entry.trim();
    let bad = |reason: &str| CacheError::Server {
        entry: entry.to_owned(),
        reason: reason.to_owned(),
    };
    if entry.is_empty() || entry.contains(['/', '@', '?', '#']) {
        return Err(bad(
            "expected host:port, without scheme, path or credentials",
        ));
    }
    let mut url = Url::parse(&format!("memcache://{entry}")).map_err(|e| bad(&e.to_string()))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if url.port().is_none() {
        url.set_port(Some(DEFAULT_PORT))
            .map_err(|()| bad("cannot set the default port"))?;
    }
    let addr = format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port().unwrap_or(DEFAULT_PORT)
    );
    // The crate reads `timeout` as the socket read/write timeout in seconds.
    url.set_query(Some(&format!("timeout={}", op_timeout.as_secs_f64())));
    if let Some((username, password)) = credentials {
        set_userinfo(&mut url, username, password)?;
    }
    Ok(Target {
        addr,
        url,
        authenticated: credentials.is_some(),
    })
}

/// The memcache crate sends `url.username()` and `url.password()` as they
/// are, still percent-encoded. A credential is usable only if putting it in
/// the URL leaves it unchanged.
fn set_userinfo(url: &mut Url, username: &str, password: &str) -> Result<(), CacheError> {
    let _ = url.set_username(username);
    if url.username() != username {
        return Err(CacheError::UnsendableCredential {
            var: "MEMCACHIER_USERNAME",
        });
    }
    let _ = url.set_password(Some(password));
    if url.password() != Some(password) {
        return Err(CacheError::UnsendableCredential {
            var: "MEMCACHIER_PASSWORD",
        });
    }
    Ok(())
}

// Binary protocol, enough for the probe.
const REQUEST: u8 = 0x80;
const RESPONSE: u8 = 0x81;
/// memcached answers VERSION without authentication, but not NOOP.
const OP_NOOP: u8 = 0x0a;
const OP_SASL_AUTH: u8 = 0x21;
const STATUS_AUTH_ERROR: u16 = 0x20;

/// Connects with a timeout and authenticates (or sends a no-op).
fn probe_server(target: &Target, timeout: Duration) -> Result<(), RemoteError> {
    let addr = &target.addr;
    let connect_error = |source| RemoteError::Connect {
        addr: addr.clone(),
        source,
    };
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "the name resolved to no address");
    let mut stream = None;
    for socket in target.url.socket_addrs(|| None).map_err(connect_error)? {
        match TcpStream::connect_timeout(&socket, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = e,
        }
    }
    let mut stream = stream.ok_or_else(|| connect_error(last_error))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(connect_error)?;

    let (opcode, key, body) = if target.authenticated {
        let (username, password) = (
            target.url.username(),
            target.url.password().unwrap_or_default(),
        );
        (
            OP_SASL_AUTH,
            &b"PLAIN"[..],
            format!("\0{username}\0{password}").into_bytes(),
        )
    } else {
        (OP_NOOP, &b""[..], Vec::new())
    };
    let mut request = Vec::with_capacity(24 + key.len() + body.len());
    request.extend_from_slice(&[REQUEST, opcode]);
    request.extend_from_slice(&(key.len() as u16).to_be_bytes());
    request.extend_from_slice(&[0, 0, 0, 0]); // extras length, data type, vbucket
    request.extend_from_slice(&((key.len() + body.len()) as u32).to_be_bytes());
    request.extend_from_slice(&[0; 12]); // opaque, cas
    request.extend_from_slice(key);
    request.extend_from_slice(&body);
    let io_error = |e: io::Error| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => RemoteError::Timeout(timeout),
        _ => connect_error(e),
    };
    stream.write_all(&request).map_err(io_error)?;

    let mut header = [0; 24];
    stream.read_exact(&mut header).map_err(io_error)?;
    let malformed = |detail: &str| RemoteError::Malformed {
        addr: addr.clone(),
        detail: detail.to_owned(),
    };
    if header[0] != RESPONSE {
        return Err(malformed("not a binary-protocol response"));
    }
    let status = u16::from_be_bytes([header[6], header[7]]);
    let body_len = u32::from_be_bytes([header[8], header[9], header[10], header[11]]) as usize;
    if body_len > 4096 {
        return Err(malformed("reply body too long"));
    }
    let mut reply = vec![0; body_len];
    stream.read_exact(&mut reply).map_err(io_error)?;
    let reply = String::from_utf8_lossy(&reply).into_owned();
    match status {
        0 => Ok(()),
        STATUS_AUTH_ERROR if target.authenticated => Err(RemoteError::Rejected {
            addr: addr.clone(),
            reply,
        }),
        STATUS_AUTH_ERROR => Err(RemoteError::AuthRequired { addr: addr.clone() }),
        status => Err(RemoteError::Refused {
            addr: addr.clone(),
            status,
            reply,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_printable_key_is_kept_after_the_prefix() {
        assert_eq!(memcached_key("feed:alice:12"), "ta1:feed:alice:12");
    }

    #[test]
    fn a_key_with_a_space_or_control_byte_is_hashed() {
        for key in ["feed alice", "tab\there", "new\nline", "caf\u{e9}"] {
            let mkey = memcached_key(key);
            assert_eq!(mkey.len(), 4 + 64, "{key:?}");
            assert!(mkey.starts_with("ta1:"));
        }
        assert_ne!(memcached_key("a b"), memcached_key("a  b"));
    }

    #[test]
    fn a_key_over_200_bytes_is_hashed_and_200_bytes_is_not() {
        let at_limit = "k".repeat(200);
        assert_eq!(memcached_key(&at_limit), format!("ta1:{at_limit}"));
        let over = "k".repeat(201);
        let expected = format!("ta1:{}", hex::encode(Sha256::digest(over.as_bytes())));
        assert_eq!(memcached_key(&over), expected);
    }

    #[test]
    fn a_plain_key_that_looks_like_a_hash_cannot_collide_with_a_hashed_key() {
        let long = "x".repeat(300);
        let hashed = memcached_key(&long);
        let lookalike = hashed.trim_start_matches("ta1:");
        assert_ne!(memcached_key(lookalike), hashed);
    }

    #[test]
    fn every_memcached_key_is_within_memcacheds_limits() {
        for key in ["", " ", "a", &"é".repeat(300), &"z".repeat(200)] {
            let mkey = memcached_key(key);
            assert!(mkey.len() <= 250);
            assert!(mkey.bytes().all(|b| b.is_ascii_graphic()), "{mkey:?}");
        }
    }

    #[test]
    fn expiry_rounds_sub_seconds_up_and_clamps_to_30_days() {
        assert_eq!(expiry_secs(Duration::ZERO), 1);
        assert_eq!(expiry_secs(Duration::from_millis(1)), 1);
        assert_eq!(expiry_secs(Duration::from_millis(1500)), 2);
        assert_eq!(expiry_secs(Duration::from_secs(60)), 60);
        assert_eq!(expiry_secs(Duration::from_secs(30 * 86_400)), 2_592_000);
        assert_eq!(expiry_secs(Duration::from_secs(31 * 86_400)), 2_592_000);
        assert_eq!(expiry_secs(Duration::MAX), 2_592_000);
    }

    #[test]
    fn a_sealed_value_opens_with_the_life_it_has_left() {
        let stored = seal("ta1:k", 10_000, b"hello");
        assert_eq!(
            open("ta1:k", stored.clone(), 7_500),
            Opened::Fresh {
                value: Bytes::from_static(b"hello"),
                ttl: Duration::from_millis(2_500)
            }
        );
        assert_eq!(open("ta1:k", stored, 10_000), Opened::Expired);
    }

    #[test]
    fn a_value_read_for_another_key_or_in_another_format_is_rejected() {
        let stored = seal("ta1:a", u64::MAX, b"for a");
        assert_eq!(open("ta1:b", stored, 0), Opened::OtherKey);
        assert_eq!(open("ta1:a", b"plain".to_vec(), 0), Opened::OtherKey);
        assert_eq!(open("ta1:a", Vec::new(), 0), Opened::OtherKey);
    }

    #[test]
    fn only_credentials_the_url_leaves_unchanged_are_accepted() {
        let sendable: String = (0x21u8..0x7f)
            .map(char::from)
            .filter(|c| {
                let mut url = Url::parse("memcache://h:1").unwrap();
                set_userinfo(&mut url, "user", &format!("a{c}b")).is_ok()
            })
            .collect();
        assert_eq!(
            sendable,
            "!$%&'()*+,-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~"
        );
        let mut url = Url::parse("memcache://h:1").unwrap();
        let err = set_userinfo(&mut url, "user", "p@ss word").unwrap_err();
        assert!(err.to_string().starts_with("MEMCACHIER_PASSWORD"), "{err}");
        let err = set_userinfo(&mut url, "us er", "pass").unwrap_err();
        assert!(err.to_string().starts_with("MEMCACHIER_USERNAME"), "{err}");
    }

    #[test]
    fn a_server_entry_becomes_a_url_with_the_socket_timeout_and_default_port() {
        let t = target(
            "mc1.example.com",
            Some(("u", "p")),
            Duration::from_millis(500),
        )
        .unwrap();
        assert_eq!(t.addr, "mc1.example.com:11211");
        assert_eq!(
            t.url.as_str(),
            "memcache://u:p@mc1.example.com:11211?timeout=0.5"
        );
        let t = target(" [::1]:2000 ", None, Duration::from_secs(1)).unwrap();
        assert_eq!(t.addr, "[::1]:2000");
        assert_eq!(t.url.as_str(), "memcache://[::1]:2000?timeout=1");
    }

    #[test]
    fn a_server_entry_with_a_scheme_or_credentials_is_refused() {
        for entry in ["", "memcache://h:1", "u:p@h:1", "h:1/x", "h:notaport"] {
            assert!(
                target(entry, None, Duration::from_secs(1)).is_err(),
                "{entry:?}"
            );
        }
    }
}
