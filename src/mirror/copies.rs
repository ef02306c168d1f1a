//! The most requested copies' bytes in memory, bounded in bytes, so that a
//! busy page's images cost no database round trip. Keyed by ETag, a hash
//! of the bytes: a copy stored anew under the same URL is another entry,
//! and the index decides what exists. Concurrent misses on one copy wait
//! for one database read.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::store::{Store, StoreError};

/// Bytes the in-memory copies hold at most.
pub const COPIES_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// Why a copy could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Gone from the database since the index was read.
    #[error("the copy is no longer stored")]
    Gone,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Copies {
    cache: moka::future::Cache<String, Bytes>,
    /// Database reads of copies' bytes since start.
    reads: AtomicU64,
}

impl Copies {
    pub fn new() -> Copies {
        Copies {
            cache: moka::future::Cache::builder()
                .max_capacity(COPIES_MAX_BYTES)
                .weigher(|key: &String, value: &Bytes| {
                    u32::try_from(key.len() + value.len()).unwrap_or(u32::MAX)
                })
                .build(),
            reads: AtomicU64::new(0),
        }
    }

    /// The bytes of the copy tagged `etag`, from memory or else the database.
    pub async fn get(
        &self,
        store: &Store,
        etag: &str,
        account: &str,
        media_id: &str,
        width: u32,
    ) -> Result<Bytes, Arc<ReadError>> {
        self.cache
            .try_get_with(etag.to_string(), async {
                self.reads.fetch_add(1, Ordering::Relaxed);
                store
                    .mirror_bytes(account, media_id, width)
                    .await?
                    .ok_or(ReadError::Gone)
            })
            .await
    }

    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }
}
