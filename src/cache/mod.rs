//! The response cache: an in-process L1 (moka) in front of an optional
//! memcached (MemCachier on Heroku), shared by every dyno.
//!
//! Values are opaque bytes with a maximum life; freshness is the caller's
//! business (callers keep their own timestamps inside the value). memcached
//! is a best-effort second level: every memcached failure is a miss or is
//! ignored, so an outage costs at most `op_timeout` per request and then,
//! during a short cool-down, nothing at all. See `memcached.rs`.

mod memcached;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::Expiry;
use tracing::debug;

use memcached::Memcached;

/// memcached reads an expiry above 30 days as an absolute Unix time, so no
/// value lives longer than this, in L1 or in memcached.
pub const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// After an outage is detected, memcached is left alone this long before
/// one request tries it again with a fresh connection pool.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct CacheConfig {
    /// `host:port` entries from MEMCACHIER_SERVERS or MEMCACHE_SERVERS
    /// (port 11211 when omitted). Empty: in-process cache only.
    pub servers: Vec<String>,
    /// MemCachier SASL credentials; both or neither.
    pub username: Option<String>,
    pub password: Option<String>,
    /// Most bytes (keys and values) the in-process L1 holds; older
    /// entries are evicted past it, so memory stays bounded whatever the
    /// size of the pages.
    pub l1_max_bytes: u64,
    /// Upper bound for one memcached operation, connecting included.
    pub op_timeout: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            servers: Vec::new(),
            username: None,
            password: None,
            l1_max_bytes: 16 * 1024 * 1024,
            op_timeout: Duration::from_secs(1),
        }
    }
}

impl CacheConfig {
    /// Checks the servers and credentials as memcached will use them, so a
    /// bad value stops start-up (naming its variable) rather than the first
    /// cache call.
    pub fn check(&self) -> Result<(), CacheError> {
        if self.op_timeout.is_zero() {
            return Err(CacheError::ZeroTimeout);
        }
        memcached::check(self)
    }
}

impl fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheConfig")
            .field("servers", &self.servers)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("l1_max_bytes", &self.l1_max_bytes)
            .field("op_timeout", &self.op_timeout)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error(
        "memcached server {entry:?} (from MEMCACHIER_SERVERS or MEMCACHE_SERVERS) is not host:port: {reason}"
    )]
    Server { entry: String, reason: String },
    #[error("MEMCACHIER_USERNAME and MEMCACHIER_PASSWORD must be set together")]
    HalfCredentials,
    /// The memcache crate hands the server the percent-encoded form of the
    /// URL's user and password, so any character that a URL must encode
    /// there cannot authenticate.
    #[error(
        "{var} contains a character the memcache client cannot send (only A-Z a-z 0-9 and ! $ % & ' ( ) * + , - . _ ~ work; \
         it would send the character percent-encoded and authentication would fail): use a credential without it"
    )]
    UnsendableCredential { var: &'static str },
    #[error("the cache operation timeout must be more than zero")]
    ZeroTimeout,
}

#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    l1: moka::future::Cache<String, L1Entry>,
    memcached: Option<Memcached>,
}

#[derive(Clone)]
struct L1Entry {
    value: Bytes,
    ttl: Duration,
}

/// Each L1 entry lives for the ttl it was stored with; an update restarts it.
struct PerEntryTtl;

impl Expiry<String, L1Entry> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, entry: &L1Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(
        &self,
        _: &String,
        entry: &L1Entry,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

impl Cache {
    /// Validates the configuration; never contacts memcached, which is
    /// connected to lazily by the first operation.
    pub fn new(cfg: CacheConfig) -> Result<Cache, CacheError> {
        Cache::with_retry_after(cfg, DEFAULT_RETRY_AFTER)
    }

    /// Like `new`, with a different cool-down after a memcached failure.
    pub fn with_retry_after(cfg: CacheConfig, retry_after: Duration) -> Result<Cache, CacheError> {
        cfg.check()?;
        let memcached = if cfg.servers.is_empty() {
            None
        } else {
            Some(Memcached::new(&cfg, retry_after)?)
        };
        let l1 = moka::future::Cache::builder()
            .max_capacity(cfg.l1_max_bytes)
            .weigher(|key: &String, entry: &L1Entry| {
                u32::try_from(key.len() + entry.value.len()).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        Ok(Cache {
            inner: Arc::new(Inner { l1, memcached }),
        })
    }

    pub fn backend(&self) -> &'static str {
        match self.inner.memcached {
            Some(_) => "memcached",
            None => "in-process",
        }
    }

    /// None when no memcached is configured. Otherwise false from the
    /// failure that started an outage until a retry succeeds; true before
    /// the first operation (memcached is not known to be down).
    pub fn memcached_up(&self) -> Option<bool> {
        self.inner.memcached.as_ref().map(Memcached::is_up)
    }

    pub async fn get(&self, key: &str) -> Option<Bytes> {
        if let Some(entry) = self.inner.l1.get(key).await {
            return Some(entry.value);
        }
        let (value, ttl) = self.inner.memcached.as_ref()?.get(key).await?;
        let entry = L1Entry {
            value: value.clone(),
            ttl,
        };
        self.inner.l1.insert(key.to_owned(), entry).await;
        Some(value)
    }

    /// Stores `value` for at most `ttl` (clamped to `MAX_TTL`). A zero ttl
    /// keeps nothing, so it removes any older value instead.
    pub async fn set(&self, key: &str, value: Bytes, ttl: Duration) {
        let ttl = ttl.min(MAX_TTL);
        if ttl.is_zero() {
            debug!(key, "cache set with a zero ttl: deleting instead");
            return self.delete(key).await;
        }
        let entry = L1Entry {
            value: value.clone(),
            ttl,
        };
        self.inner.l1.insert(key.to_owned(), entry).await;
        if let Some(memcached) = &self.inner.memcached {
            memcached.set(key, value, ttl).await;
        }
    }

    /// Removes the key here and in memcached. Other dynos' L1 copies live
    /// on until their ttl ends.
    pub async fn delete(&self, key: &str) {
        self.inner.l1.invalidate(key).await;
        if let Some(memcached) = &self.inner.memcached {
            memcached.delete(key).await;
        }
    }

    /// Entries in the in-process L1, after pending evictions have run.
    pub async fn l1_entry_count(&self) -> u64 {
        self.inner.l1.run_pending_tasks().await;
        self.inner.l1.entry_count()
    }
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("backend", &self.backend())
            .field("memcached_up", &self.memcached_up())
            .finish_non_exhaustive()
    }
}
