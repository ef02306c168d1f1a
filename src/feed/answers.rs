//! Answers already rendered, given again while everything they were made
//! of is unchanged: the very cache entries of their upstream pages (the
//! same bytes, not an equal copy, so a page replaced or deleted by any
//! path, in this process or through memcached, ends them), the same
//! snapshot of the account's mirrored images, and pages still fresh. A
//! cache hit then costs a lookup and one cache read per page instead of
//! decoding, filtering, dressing, signing cursors and writing the JSON
//! again. Answers from stale copies are never kept: what they hold depends
//! on the moment.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use lru::LruCache;

use super::{Answer, Filter, Served};
use crate::cache::Cache;
use crate::mirror::Version;

/// Answers kept at most; the least recently used go first.
const CAPACITY: usize = 1024;
/// Bytes of answers (and of the cache entries they hold on to) kept at most.
const MAX_BYTES: usize = 4 << 20;

/// What a request asks of a feed, borrowed from it.
#[derive(Hash)]
pub(super) struct Asked<'a> {
    /// The feed (`Source::scope`).
    pub scope: &'a str,
    /// The `after=` or `before=` cursor, as sent.
    pub cursor: Option<&'a str>,
    pub limit: u32,
    pub filter: &'a Filter,
    /// The agent's URL the links start at.
    pub base: &'a str,
}

impl Asked<'_> {
    fn digest(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        self.hash(&mut hasher);
        hasher.finish()
    }
}

/// An owned [`Asked`], to tell apart two requests of the same digest.
struct Request {
    scope: String,
    cursor: Option<String>,
    limit: u32,
    filter: Filter,
    base: String,
}

impl Request {
    fn of(asked: &Asked<'_>) -> Request {
        Request {
            scope: asked.scope.to_string(),
            cursor: asked.cursor.map(str::to_string),
            limit: asked.limit,
            filter: asked.filter.clone(),
            base: asked.base.to_string(),
        }
    }

    fn is(&self, asked: &Asked<'_>) -> bool {
        self.scope == asked.scope
            && self.cursor.as_deref() == asked.cursor
            && self.limit == asked.limit
            && self.filter == *asked.filter
            && self.base == asked.base
    }
}

/// A fresh answer and what it was made of.
pub(super) struct Rendered {
    request: Request,
    version: Version,
    /// The upstream pages in it, as the cache held them.
    pages: Vec<Served>,
    body: Bytes,
    body_version: super::page::Version,
    fetched_at: DateTime<Utc>,
}

impl Rendered {
    /// Whether it is still what rendering again would give: each page as
    /// fresh as a cache hit needs it, and still the entry in the cache.
    async fn is_current(
        &self,
        now: DateTime<Utc>,
        (ttl, stale_ttl): (Duration, Duration),
        cache: &Cache,
    ) -> bool {
        for served in &self.pages {
            let page = &served.page;
            if !page.is_fresh(now, ttl) || page.age(now) > stale_ttl {
                return false;
            }
            let same = |entry: &Bytes| {
                entry.as_ptr() == served.entry.as_ptr() && entry.len() == served.entry.len()
            };
            if !cache.get(&served.key).await.is_some_and(|e| same(&e)) {
                return false;
            }
        }
        true
    }

    /// How many upstream pages it holds: each counts as a cache hit.
    pub(super) fn pages(&self) -> usize {
        self.pages.len()
    }

    pub(super) fn answer(&self, now: DateTime<Utc>, ttl: Duration) -> Answer {
        Answer::kept(
            self.body.clone(),
            self.body_version.clone(),
            self.fetched_at,
            false,
            now,
            ttl,
        )
    }

    fn weight(&self) -> usize {
        self.body.len() + self.pages.iter().map(|s| s.entry.len()).sum::<usize>()
    }
}

pub(super) struct Answers {
    kept: Mutex<Kept>,
}

struct Kept {
    answers: LruCache<u64, Arc<Rendered>>,
    bytes: usize,
}

impl Default for Answers {
    fn default() -> Answers {
        Answers {
            kept: Mutex::new(Kept {
                answers: LruCache::new(NonZeroUsize::new(CAPACITY).expect("a positive capacity")),
                bytes: 0,
            }),
        }
    }
}

impl Answers {
    /// The answer kept for `asked`, if it is still current.
    pub(super) async fn get(
        &self,
        asked: &Asked<'_>,
        version: &Version,
        now: DateTime<Utc>,
        ttls: (Duration, Duration),
        cache: &Cache,
    ) -> Option<Arc<Rendered>> {
        let digest = asked.digest();
        let rendered = self
            .kept
            .lock()
            .expect("answer memo")
            .answers
            .get(&digest)
            .cloned()?;
        if !rendered.request.is(asked) {
            return None;
        }
        if rendered.version == *version && rendered.is_current(now, ttls, cache).await {
            return Some(rendered);
        }
        let mut kept = self.kept.lock().expect("answer memo");
        if kept
            .answers
            .peek(&digest)
            .is_some_and(|k| Arc::ptr_eq(k, &rendered))
        {
            kept.answers.pop(&digest);
            kept.bytes -= rendered.weight();
        }
        None
    }

    /// Keeps a fresh answer made from `pages` with `version`.
    pub(super) fn put(
        &self,
        asked: &Asked<'_>,
        version: Version,
        pages: Vec<Served>,
        answer: &Answer,
    ) {
        let rendered = Rendered {
            request: Request::of(asked),
            version,
            pages,
            body: answer.body.clone(),
            body_version: answer.version.clone(),
            fetched_at: answer.fetched_at,
        };
        let weight = rendered.weight();
        if weight > MAX_BYTES / 8 {
            return;
        }
        let mut kept = self.kept.lock().expect("answer memo");
        if let Some((_, out)) = kept.answers.push(asked.digest(), Arc::new(rendered)) {
            kept.bytes -= out.weight();
        }
        kept.bytes += weight;
        while kept.bytes > MAX_BYTES {
            let Some((_, out)) = kept.answers.pop_lru() else {
                break;
            };
            kept.bytes -= out.weight();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Page, Paging};
    use super::*;
    use crate::cache::CacheConfig;
    use crate::upstream::MediaPage;
    use chrono::TimeZone;
    use serde_json::json;

    const BASE: &str = "https://agent.example.com/";

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap() + Duration::seconds(seconds)
    }

    fn ttls() -> (Duration, Duration) {
        (Duration::seconds(300), Duration::days(1))
    }

    fn asked<'a>(limit: u32, base: &'a str, filter: &'a Filter) -> Asked<'a> {
        Asked {
            scope: "feed\0shop",
            cursor: None,
            limit,
            filter,
            base,
        }
    }

    /// A page fetched at `at(0)`, as the cache holds it under `key`.
    async fn cached(cache: &Cache, key: &str) -> Served {
        let media = MediaPage::from_upstream(json!({
            "data": [{"id": "1", "media_type": "IMAGE", "caption": "bread"}]
        }))
        .unwrap();
        let page = Page::from_media(&media, at(0), Paging::Cursors).unwrap();
        let entry = page.encode();
        let hour = std::time::Duration::from_secs(3600);
        cache.set(key, entry.clone(), hour).await;
        Served {
            page,
            stale: false,
            key: key.to_string(),
            entry,
        }
    }

    fn answer(body: Vec<u8>) -> Answer {
        Answer::new(Bytes::from(body), at(0), false, at(0), ttls().0)
    }

    async fn body(answers: &Answers, asked: &Asked<'_>, now: i64, cache: &Cache) -> Option<Bytes> {
        let version = Version::default();
        let got = answers.get(asked, &version, at(now), ttls(), cache);
        Some(got.await?.answer(at(now), ttls().0).body)
    }

    #[tokio::test]
    async fn an_answer_is_given_again_while_its_page_is_fresh_and_in_the_cache() {
        let cache = Cache::new(CacheConfig::default()).unwrap();
        let answers = Answers::default();
        let filter = Filter::default();
        let asked = asked(5, BASE, &filter);
        let page = cached(&cache, "feed:v2:shop:").await;
        answers.put(
            &asked,
            Version::default(),
            vec![page],
            &answer(b"{}".to_vec()),
        );

        assert_eq!(
            body(&answers, &asked, 0, &cache).await.as_deref(),
            Some(&b"{}"[..])
        );
        let version = Version::default();
        let later = answers.get(&asked, &version, at(299), ttls(), &cache);
        let later = later.await.expect("still fresh").answer(at(299), ttls().0);
        assert_eq!((later.max_age, later.stale), (1, false));
        assert!(
            body(&answers, &asked, 300, &cache).await.is_none(),
            "past FEED_CACHE_TTL"
        );
        assert!(
            body(&answers, &asked, 0, &cache).await.is_none(),
            "and let go"
        );
    }

    #[tokio::test]
    async fn a_page_written_again_or_deleted_ends_the_answers_made_of_it() {
        let cache = Cache::new(CacheConfig::default()).unwrap();
        let answers = Answers::default();
        let filter = Filter::default();
        let asked = asked(5, BASE, &filter);
        let key = "feed:v2:shop:";

        let page = cached(&cache, key).await;
        let copy = Bytes::copy_from_slice(&page.entry);
        answers.put(
            &asked,
            Version::default(),
            vec![page],
            &answer(b"{}".to_vec()),
        );
        cache
            .set(key, copy, std::time::Duration::from_secs(3600))
            .await;
        assert!(
            body(&answers, &asked, 0, &cache).await.is_none(),
            "an equal copy is another entry"
        );

        let page = cached(&cache, key).await;
        answers.put(
            &asked,
            Version::default(),
            vec![page],
            &answer(b"{}".to_vec()),
        );
        cache.delete(key).await;
        assert!(body(&answers, &asked, 0, &cache).await.is_none());
    }

    #[tokio::test]
    async fn only_the_same_request_gets_the_answer() {
        let cache = Cache::new(CacheConfig::default()).unwrap();
        let answers = Answers::default();
        let filter = Filter::default();
        let page = cached(&cache, "feed:v2:shop:").await;
        answers.put(
            &asked(5, BASE, &filter),
            Version::default(),
            vec![page],
            &answer(b"{}".to_vec()),
        );

        let mut tagged = Filter::default();
        tagged.read("tag", "bakery").unwrap();
        let other_host = "https://shop.example.com/";
        for other in [
            asked(6, BASE, &filter),
            asked(5, other_host, &filter),
            asked(5, BASE, &tagged),
        ] {
            assert!(body(&answers, &other, 0, &cache).await.is_none());
        }
        let paged = Asked {
            cursor: Some("abc.def"),
            ..asked(5, BASE, &filter)
        };
        assert!(body(&answers, &paged, 0, &cache).await.is_none());
        assert!(
            body(&answers, &asked(5, BASE, &filter), 0, &cache)
                .await
                .is_some()
        );
    }

    #[tokio::test]
    async fn the_kept_answers_stay_within_their_byte_budget() {
        let cache = Cache::new(CacheConfig::default()).unwrap();
        let answers = Answers::default();
        let filter = Filter::default();
        let limits: Vec<u32> = (1..=40).collect();
        for &limit in &limits {
            let page = cached(&cache, "feed:v2:shop:").await;
            let big = answer(vec![b' '; MAX_BYTES / 16]);
            answers.put(
                &asked(limit, BASE, &filter),
                Version::default(),
                vec![page],
                &big,
            );
        }
        let bytes = answers.kept.lock().unwrap().bytes;
        assert!(bytes <= MAX_BYTES, "{bytes}");
        // Each put wrote the page again, so only the last answer is current;
        // the budget let the oldest go first.
        assert!(
            answers
                .kept
                .lock()
                .unwrap()
                .answers
                .peek(&asked(1, BASE, &filter).digest())
                .is_none()
        );
        assert!(
            body(&answers, &asked(40, BASE, &filter), 0, &cache)
                .await
                .is_some()
        );

        let page = cached(&cache, "feed:v2:shop:").await;
        let huge = answer(vec![b' '; MAX_BYTES / 4]);
        answers.put(
            &asked(41, BASE, &filter),
            Version::default(),
            vec![page],
            &huge,
        );
        assert!(
            body(&answers, &asked(41, BASE, &filter), 0, &cache)
                .await
                .is_none(),
            "too big to keep"
        );
    }
}
