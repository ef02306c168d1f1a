//! The agent's own copies of the images of each account's newest posts
//! (MIRROR_POSTS), kept in the database so that they survive restarts and
//! every instance shares them, and served at `/media/…`: Instagram's CDN
//! links expire after a few days, and a feed whose upstream has been down
//! longer than that would otherwise have no image it may show.
//!
//! After each successful fetch of an account's first feed page the feed
//! calls [`Mirror::note_page`]: posts no longer among the newest leave the
//! mirror, and each image not yet stored is downloaded once, in the
//! background, a few at a time, resized and stored, within MIRROR_MAX_MB
//! (oldest posts evicted first). A bad image is skipped and logged; the
//! feed keeps Instagram's URL for it.
//!
//! * `plan.rs` — which images a page's newest posts need.
//! * `fetch.rs` — downloading from MEDIA_CDN_HOSTS only, within a byte cap.
//! * `resize.rs` — decoding within a pixel budget, the widths, JPEG.
//! * `skip.rs` — why an image was not copied.
//! * `work.rs` — the background downloads, one per image, and eviction.
//! * `index.rs` — what is mirrored, in memory, with each post's JSON.
//! * `dress.rs` — the `mirror` object spliced into feed items.
//! * `copies.rs` — the most requested copies' bytes in memory.

mod copies;
mod dress;
mod fetch;
mod index;
mod plan;
mod resize;
mod skip;
mod work;

use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;

use crate::clock::Clock;
use crate::config::{MirrorConfig, UpstreamConfig};
use crate::store::{Store, StoreError};
use crate::upstream::MediaPage;

pub use copies::ReadError;
pub use dress::{Dressing, Version};
pub use plan::is_media_id;
pub use resize::WIDTHS;
pub use skip::Skip;

use copies::Copies;
use fetch::{FetchLimits, Fetcher};
use index::Index;
use work::Work;

/// The mirror; clones share it.
#[derive(Clone)]
pub struct Mirror {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: Clock,
    config: MirrorConfig,
    fetcher: Fetcher,
    index: ArcSwap<Index>,
    /// Held while the database's images and the index change together,
    /// so that a re-read never puts back what a write just changed.
    writing: tokio::sync::Mutex<()>,
    copies: Copies,
    work: Work,
}

/// A stored copy as `/media/…` serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub etag: String,
}

impl Mirror {
    /// The mirror, empty until [`Mirror::reload`] reads the database.
    pub fn new(
        store: Store,
        clock: Clock,
        config: &MirrorConfig,
        upstream: &UpstreamConfig,
    ) -> anyhow::Result<Mirror> {
        let fetcher = Fetcher::new(FetchLimits {
            hosts: config.cdn_hosts.clone(),
            max_bytes: config.max_download_bytes,
            timeout: config.timeout,
            connect_timeout: config.connect_timeout,
            user_agent: upstream.user_agent.clone(),
        })?;
        Ok(Mirror {
            inner: Arc::new(Inner {
                store,
                clock,
                fetcher,
                index: ArcSwap::default(),
                writing: tokio::sync::Mutex::new(()),
                copies: Copies::new(),
                work: Work::new(config.concurrency),
                config: config.clone(),
            }),
        })
    }

    /// Re-reads what is mirrored (another instance may have stored more).
    pub async fn reload(&self) -> Result<(), StoreError> {
        let _writing = self.inner.writing.lock().await;
        let entries = self.inner.store.mirror_index().await?;
        self.inner.index.store(Arc::new(Index::build(entries)));
        Ok(())
    }

    /// The hook after a successful fetch of `account`'s first feed page:
    /// returns at once; the work runs in the background.
    /// `epoch` is the account's placement the page was fetched for: its
    /// images are stored only while the account is still on it.
    pub fn note_page(&self, account: &str, epoch: i64, page: &MediaPage) {
        if self.inner.config.posts == 0 {
            return;
        }
        let plans = plan::newest(page, self.inner.config.posts);
        self.start(account, epoch, plans);
    }

    /// Whether `id` (a post, or an album child) of `account` has its image
    /// mirrored, so that its item still shows once Instagram's link expires.
    pub fn covers(&self, account: &str, id: &str) -> bool {
        self.inner
            .index
            .load()
            .account(account)
            .is_some_and(|a| a.covers(id))
    }

    /// What is mirrored of `account` now; [`Version::dressing`] makes what
    /// its feed items get.
    pub fn version(&self, account: &str) -> Version {
        Version::new(self.inner.index.load().account(account).cloned())
    }

    /// The stored copy of `media_id` at `width`, from memory alone.
    pub fn find(&self, account: &str, media_id: &str, width: u32) -> Option<Found> {
        let index = self.inner.index.load();
        let image = index.account(account)?.images.get(media_id)?;
        let copy = image.copies.iter().find(|c| c.width == width)?;
        Some(Found {
            etag: copy.etag.clone(),
        })
    }

    /// The bytes of a copy [`Mirror::find`] found.
    pub async fn read(
        &self,
        account: &str,
        media_id: &str,
        width: u32,
        found: &Found,
    ) -> Result<Bytes, Arc<ReadError>> {
        let inner = &self.inner;
        inner
            .copies
            .get(&inner.store, &found.etag, account, media_id, width)
            .await
    }

    /// Deletes every image of `account`, in the database and in memory.
    pub async fn forget_account(&self, account: &str) -> Result<(), StoreError> {
        let _writing = self.inner.writing.lock().await;
        self.inner.work.forget(account);
        let index = self.inner.index.load().with_account(account, Vec::new());
        self.inner.index.store(Arc::new(index));
        self.inner.store.delete_mirror_account(account).await
    }

    /// Whether downloads or their planning are still under way.
    pub fn busy(&self) -> bool {
        self.inner.work.busy()
    }

    /// Bytes of every stored copy, as this process knows them.
    pub fn stored_bytes(&self) -> u64 {
        self.inner.index.load().bytes()
    }

    /// Database reads of copies' bytes since start.
    pub fn database_reads(&self) -> u64 {
        self.inner.copies.reads()
    }
}
