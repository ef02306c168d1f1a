//! The background work after a first page: posts that left the newest
//! MIRROR_POSTS leave the database, and every image not yet stored is
//! downloaded once (one download per image however many fetches ask, a
//! few at a time, and decoded one at a time so that one decoded image at
//! most is in memory), resized, and stored with all its widths in one transaction;
//! then the oldest posts go until MIRROR_MAX_MB holds. An image that could
//! not be copied is left alone for an hour; one evicted to make room, for
//! as long as it stays among the newest posts, and so is every older one:
//! what is kept of an account is always a run of its newest posts.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::plan::PostPlan;
use super::resize::{self, Encoded};
use super::skip::Skip;
use super::{Inner, Mirror};
use crate::store::{MirrorCopy, MirrorPlace, StoreError};

/// How long an image that could not be copied is left alone.
const SKIP_FOR: Duration = Duration::hours(1);

/// Account and media id.
type Key = (String, String);

pub(super) struct Work {
    /// Images being downloaded or stored, each by one task.
    in_flight: Arc<Mutex<HashSet<Key>>>,
    /// Images not to try again before a time (`None`: while they stay
    /// among the newest posts).
    skipped: Mutex<HashMap<Key, Option<DateTime<Utc>>>>,
    /// Per account, the newest publication time (Unix ms) of a post
    /// evicted to make room: posts as old or older are not stored.
    evicted_up_to: Mutex<HashMap<String, i64>>,
    /// Downloads at a time.
    permits: Semaphore,
    /// Decodes at a time: one, as a decoded Instagram image and its
    /// resizes hold about 20 MB until they are encoded.
    decoding: Semaphore,
    /// Tasks not yet finished, for [`Mirror::busy`].
    pending: Arc<AtomicUsize>,
}

/// Counts a task as pending until dropped.
struct Pending(Arc<AtomicUsize>);

impl Drop for Pending {
    /// The last task to finish gives back what the resizing left free.
    fn drop(&mut self) {
        if self.0.fetch_sub(1, Ordering::SeqCst) == 1 {
            crate::memory::give_back();
        }
    }
}

/// One image's right to be downloaded, released when dropped.
struct Claim {
    in_flight: Arc<Mutex<HashSet<Key>>>,
    key: Key,
}

impl Claim {
    /// False once the account was forgotten meanwhile.
    fn holds(&self) -> bool {
        self.in_flight.lock().expect("claims").contains(&self.key)
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.in_flight.lock().expect("claims").remove(&self.key);
    }
}

fn key(account: &str, media_id: &str) -> Key {
    (account.to_string(), media_id.to_string())
}

impl Work {
    pub(super) fn new(concurrency: usize) -> Work {
        Work {
            in_flight: Arc::default(),
            skipped: Mutex::default(),
            evicted_up_to: Mutex::default(),
            permits: Semaphore::new(concurrency.max(1)),
            decoding: Semaphore::new(1),
            pending: Arc::default(),
        }
    }

    fn pending(&self) -> Pending {
        self.pending.fetch_add(1, Ordering::SeqCst);
        Pending(self.pending.clone())
    }

    pub(super) fn busy(&self) -> bool {
        self.pending.load(Ordering::SeqCst) > 0
    }

    /// The right to download `media_id`, unless another task has it or it
    /// is left alone for now.
    fn claim(&self, account: &str, media_id: &str, now: DateTime<Utc>) -> Option<Claim> {
        let key = key(account, media_id);
        {
            let mut skipped = self.skipped.lock().expect("skips");
            match skipped.get(&key) {
                Some(None) => return None,
                Some(Some(until)) if *until > now => return None,
                Some(Some(_)) => {
                    skipped.remove(&key);
                }
                None => {}
            }
        }
        let mut in_flight = self.in_flight.lock().expect("claims");
        in_flight.insert(key.clone()).then(|| Claim {
            in_flight: self.in_flight.clone(),
            key,
        })
    }

    fn skip(&self, account: &str, media_id: &str, until: Option<DateTime<Utc>>) {
        self.skipped
            .lock()
            .expect("skips")
            .insert(key(account, media_id), until);
    }

    /// Forgets what was skipped of `account` outside `wanted`.
    fn keep_skips(&self, account: &str, wanted: &HashSet<&str>) {
        self.skipped
            .lock()
            .expect("skips")
            .retain(|(a, id), _| a != account || wanted.contains(id.as_str()));
    }

    /// Whether a post of `account` published at `posted_at` is too old to keep.
    fn too_old(&self, account: &str, posted_at: i64) -> bool {
        let marks = self.evicted_up_to.lock().expect("marks");
        marks.get(account).is_some_and(|mark| posted_at <= *mark)
    }

    fn evicted(&self, account: &str, posted_at: i64) {
        let mut marks = self.evicted_up_to.lock().expect("marks");
        let mark = marks.entry(account.to_string()).or_insert(posted_at);
        *mark = (*mark).max(posted_at);
    }

    /// Drops everything known of `account`: its downloads under way store nothing.
    pub(super) fn forget(&self, account: &str) {
        self.evicted_up_to.lock().expect("marks").remove(account);
        self.skipped
            .lock()
            .expect("skips")
            .retain(|(a, _), _| a != account);
        self.in_flight
            .lock()
            .expect("claims")
            .retain(|(a, _)| a != account);
    }
}

/// A strong ETag: a hash of the bytes.
fn etag(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(bytes)[..16]))
}

impl Mirror {
    /// Drops, at once, the posts of `account` that left `plans`, and plans
    /// the rest in the background.
    pub(super) fn start(&self, account: &str, epoch: i64, plans: Vec<PostPlan>) {
        let inner = &self.inner;
        let wanted: HashSet<&str> = plans.iter().map(|p| p.post_id.as_str()).collect();
        let index = inner.index.load();
        let gone = index.account(account).is_some_and(|a| {
            a.images
                .values()
                .any(|i| !wanted.contains(i.post_id.as_str()))
        });
        if gone {
            let kept = index.keeping(account, |post| wanted.contains(post));
            inner.index.store(Arc::new(kept));
        }
        let pending = inner.work.pending();
        let mirror = self.clone();
        let account = account.to_string();
        tokio::spawn(async move {
            let _pending = pending;
            mirror.reconcile(&account, epoch, plans).await;
        });
    }

    /// Brings the database in line with `plans` and starts the downloads.
    async fn reconcile(&self, account: &str, epoch: i64, plans: Vec<PostPlan>) {
        let inner = &self.inner;
        let wanted: HashSet<&str> = plans.iter().map(|p| p.post_id.as_str()).collect();
        if let Err(error) = self.drop_unwanted(account, &wanted).await {
            tracing::warn!(account, %error, "cannot update the mirrored images");
            return;
        }
        let wanted_images: HashSet<&str> = plans
            .iter()
            .flat_map(|p| &p.images)
            .map(|i| i.media_id.as_str())
            .collect();
        inner.work.keep_skips(account, &wanted_images);
        let now = inner.clock.now();
        let index = inner.index.load();
        let stored = index.account(account);
        for plan in &plans {
            for image in &plan.images {
                if stored.is_some_and(|a| a.images.contains_key(&image.media_id)) {
                    continue;
                }
                let Some(claim) = inner.work.claim(account, &image.media_id, now) else {
                    continue;
                };
                let place = MirrorPlace {
                    account: account.to_string(),
                    post_id: plan.post_id.clone(),
                    media_id: image.media_id.clone(),
                    child: image.child,
                    posted_at: plan.posted_at,
                };
                let (mirror, url) = (self.clone(), image.url.clone());
                let pending = inner.work.pending();
                tokio::spawn(async move {
                    let _pending = pending;
                    mirror.copy(claim, place, epoch, url).await;
                });
            }
        }
    }

    /// Deletes the posts of `account` outside `wanted`, and reads what it
    /// has stored (another instance may have stored some) into the index.
    async fn drop_unwanted(&self, account: &str, wanted: &HashSet<&str>) -> Result<(), StoreError> {
        let inner = &self.inner;
        let _writing = inner.writing.lock().await;
        let stored = inner.store.mirror_index_of(account).await?;
        let mut gone: Vec<String> = stored
            .iter()
            .map(|e| &e.place.post_id)
            .filter(|post| !wanted.contains(post.as_str()))
            .cloned()
            .collect();
        gone.sort();
        gone.dedup();
        inner.store.delete_mirror_posts(account, &gone).await?;
        let kept = stored
            .into_iter()
            .filter(|e| wanted.contains(e.place.post_id.as_str()))
            .collect();
        let index = inner.index.load().with_account(account, kept);
        inner.index.store(Arc::new(index));
        Ok(())
    }

    /// Downloads, resizes and stores one image.
    async fn copy(&self, claim: Claim, place: MirrorPlace, epoch: i64, url: String) {
        let inner = &self.inner;
        match made(inner, &url).await {
            Err(skip) => {
                // The media id and the reason; never the URL, whose query
                // is Instagram's signature.
                tracing::warn!(
                    account = %place.account,
                    media_id = %place.media_id,
                    reason = %skip,
                    "image not mirrored; the feed keeps Instagram's URL for it"
                );
                let until = inner.clock.now() + SKIP_FOR;
                inner
                    .work
                    .skip(&place.account, &place.media_id, Some(until));
            }
            Ok(encoded) => {
                if let Err(error) = self.store(&claim, &place, epoch, encoded).await {
                    tracing::warn!(account = %place.account, media_id = %place.media_id, %error, "cannot store a mirrored image");
                }
            }
        }
    }

    /// Stores an image's copies and makes room within MIRROR_MAX_MB.
    async fn store(
        &self,
        claim: &Claim,
        place: &MirrorPlace,
        epoch: i64,
        encoded: Vec<Encoded>,
    ) -> Result<(), StoreError> {
        let inner = &self.inner;
        let copies: Vec<(MirrorCopy, Bytes)> = encoded
            .into_iter()
            .map(|e| {
                let copy = MirrorCopy {
                    width: e.width,
                    height: e.height,
                    size: e.jpeg.len() as u64,
                    etag: etag(&e.jpeg),
                };
                (copy, Bytes::from(e.jpeg))
            })
            .collect();
        let _writing = inner.writing.lock().await;
        if !claim.holds() {
            return Ok(());
        }
        if inner.work.too_old(&place.account, place.posted_at) {
            inner.work.skip(&place.account, &place.media_id, None);
            return Ok(());
        }
        let stored = inner
            .store
            .put_mirror_image(place, epoch, &copies, inner.clock.now())
            .await?;
        if !stored {
            // The account was removed, or is on another token (perhaps
            // another user's) since the page was fetched.
            inner.work.skip(&place.account, &place.media_id, None);
            return Ok(());
        }
        let metadata = copies.into_iter().map(|(copy, _)| copy).collect();
        let index = inner.index.load().with_image(place, metadata);
        inner.index.store(Arc::new(index));
        tracing::debug!(account = %place.account, media_id = %place.media_id, "image mirrored");
        self.evict().await
    }

    /// Deletes the oldest posts until all copies fit MIRROR_MAX_MB, and
    /// any as old as one evicted before. The caller holds `writing`.
    async fn evict(&self) -> Result<(), StoreError> {
        let inner = &self.inner;
        let posts = inner.store.mirror_posts_oldest_first().await?;
        let mut total: u64 = posts.iter().map(|p| p.size).sum();
        let mut evicted: HashMap<String, Vec<String>> = HashMap::new();
        for post in posts {
            let over = total > inner.config.max_bytes;
            if !over && !inner.work.too_old(&post.account, post.posted_at) {
                continue;
            }
            total -= post.size;
            inner.work.evicted(&post.account, post.posted_at);
            evicted.entry(post.account).or_default().push(post.post_id);
        }
        for (account, posts) in evicted {
            inner.store.delete_mirror_posts(&account, &posts).await?;
            let index = inner.index.load();
            if let Some(images) = index.account(&account).map(|a| &a.images) {
                for (id, image) in images {
                    if posts.contains(&image.post_id) {
                        inner.work.skip(&account, id, None);
                    }
                }
            }
            let kept = index.keeping(&account, |post| !posts.iter().any(|p| p == post));
            inner.index.store(Arc::new(kept));
            tracing::info!(
                account,
                posts = posts.len(),
                "removed the oldest posts' images to stay within MIRROR_MAX_MB"
            );
        }
        Ok(())
    }
}

/// The copies of the image at `url`, downloaded and decoded under permits.
async fn made(inner: &Inner, url: &str) -> Result<Vec<Encoded>, Skip> {
    let _download = inner.work.permits.acquire().await.expect("never closed");
    let body = inner.fetcher.get(url).await?;
    let _decode = inner.work.decoding.acquire().await.expect("never closed");
    let max_pixels = inner.config.max_pixels;
    tokio::task::spawn_blocking(move || resize::copies(&body, max_pixels))
        .await
        .unwrap_or_else(|_| Err(Skip::Corrupt("the decoder failed".into())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_claim_per_image_and_skips_until_their_time() {
        let work = Work::new(2);
        let t0 = chrono::TimeZone::timestamp_opt(&Utc, 1_780_000_000, 0).unwrap();
        let claim = work.claim("shop", "1", t0).unwrap();
        assert!(work.claim("shop", "1", t0).is_none(), "already claimed");
        assert!(work.claim("other", "1", t0).is_some(), "per account");
        drop(claim);
        assert!(work.claim("shop", "1", t0).is_some(), "released");
        work.skip("shop", "2", Some(t0 + SKIP_FOR));
        assert!(work.claim("shop", "2", t0).is_none());
        assert!(work.claim("shop", "2", t0 + SKIP_FOR).is_some());
        work.evicted("shop", 100);
        assert!(work.too_old("shop", 100) && work.too_old("shop", 99));
        assert!(!work.too_old("shop", 101) && !work.too_old("other", 1));
        work.skip("shop", "3", None);
        assert!(work.claim("shop", "3", t0 + Duration::days(9)).is_none());
        work.keep_skips("shop", &HashSet::new());
        assert!(
            work.claim("shop", "3", t0).is_some(),
            "left the newest posts"
        );
        let held = work.claim("shop", "4", t0).unwrap();
        assert!(held.holds());
        work.forget("shop");
        assert!(!held.holds());
        assert!(!work.too_old("shop", 1));
    }
}
