//! The feed and hashtag proxy: pages of media fetched with the account's
//! token (which never leaves the server), cached, and shared.
//!
//! Per upstream page: fresh for FEED_CACHE_TTL; concurrent misses wait for
//! one upstream call; when upstream fails, or asks the agent to slow down,
//! the last good copy (from the cache, or the database after a restart) is
//! served with its age for up to FEED_STALE_TTL; once the signed media URLs
//! inside it have expired, with only the posts whose images are mirrored.
//!
//! Nothing a stranger sends can multiply upstream calls: one upstream page
//! size serves every `limit` and every filter (pages are sliced and
//! filtered here, within the pages an unfiltered answer reads), cursors
//! are the agent's own and signed, a failure stands for its key for a
//! while, a throttled account is left alone until it regains access, and
//! each client address may cause only so many misses a minute.
//!
//! * `page.rs` — a cached page, its byte form, and the served JSON.
//! * `answers.rs` — answers already rendered, while their pages stand.
//! * `cursor.rs` — the agent's signed cursors.
//! * `filter.rs` — `type=`, `exclude=`, `tag=`, `q=`, `exclude_text=`.
//! * `scan.rs` — which items of the cached pages an answer takes.
//! * `source.rs` — a feed's scope, cache keys and links.
//! * `flights.rs` — one upstream call per key at a time.
//! * `failures.rs` — failed fetches, remembered briefly.
//! * `usage.rs` — no calls while Instagram throttles an account.
//! * `misses.rs` — the bound on misses per client.
//! * `merged.rs` — several accounts in one feed.

mod answers;
mod cursor;
mod failures;
mod filter;
mod flights;
mod merged;
mod misses;
mod page;
mod scan;
mod source;
mod usage;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use url::Url;

use crate::board::Board;
use crate::build_hook::BuildHook;
use crate::cache::Cache;
use crate::clock::Clock;
use crate::domain::{ClientKey, Cursor};
use crate::metrics::Metrics;
use crate::mirror::{Mirror, Version};
use crate::store::{Account, AccountKind, Store, StoreError};
use crate::upstream::{
    ErrorKind, HashtagEdge, MediaOwner, MediaPage, PageRequest, Upstream, UpstreamError, Usage,
};

use answers::{Answers, Asked};
pub use cursor::{CursorKey, Position};
pub use failures::FAILURE_TTL;
use failures::Failures;
pub use filter::{Filter, FilterError};
pub use flights::Flights;
pub use merged::MAX_ACCOUNTS;
use misses::Misses;
pub use page::{Answer, Links, Page, Paging, render};
use scan::{Scan, Scanned};
use source::Source;
use usage::Quiet;
pub use usage::throttle_wait;

/// Instagram's budget of distinct hashtags per account and window.
pub const HASHTAG_LIMIT: i64 = 30;
pub const HASHTAG_WINDOW: Duration = Duration::days(7);

/// Items asked of upstream per page, whatever `limit` a client asks for:
/// every `limit` is a slice of the same pages, so the query string cannot
/// multiply upstream calls. Hashtag edges serve at most 50.
pub const UPSTREAM_PAGE: u32 = 50;

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("no account named {0:?}")]
    UnknownAccount(String),
    #[error("{0}")]
    NeedsFacebookAccount(String),
    #[error(
        "this account has used its {HASHTAG_LIMIT} hashtags for the last 7 days; Instagram allows no more until one of them is a week old"
    )]
    HashtagBudget { retry_after: Duration },
    #[error("Instagram has no hashtag #{0}")]
    NoSuchHashtag(String),
    #[error(
        "#{0} is not one of the owner's hashtags: add it to HASHTAGS or allow it on the admin page"
    )]
    HashtagNotAllowed(String),
    #[error("the cursor is not one this agent handed out for this feed")]
    BadCursor,
    #[error(
        "Instagram asked the agent to slow down for this account and nothing is cached yet; try again later"
    )]
    Throttled { retry_after: Duration },
    #[error("too many uncached requests from this address; try again in a minute")]
    TooManyMisses { retry_after: Duration },
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("the page could not be stored: {0}")]
    Encode(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedQuery {
    pub account: String,
    /// More accounts merged into the feed (`account=a,b`), newest first.
    pub also: Vec<String>,
    pub limit: u32,
    /// `after=` or `before=`: one of the agent's own cursors.
    pub cursor: Option<String>,
    /// Which of the feed's items are served.
    pub filter: Filter,
    /// Who asks, for the bound on misses; `None` is not bounded.
    pub client: Option<ClientKey>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashtagQuery {
    pub tag: String,
    pub edge: HashtagEdge,
    pub account: Option<String>,
    pub limit: u32,
    pub cursor: Option<String>,
    pub filter: Filter,
    pub client: Option<ClientKey>,
}

/// How long pages live, and what bounds strangers.
#[derive(Debug, Clone)]
pub struct FeedSettings {
    /// FEED_CACHE_TTL.
    pub ttl: Duration,
    /// FEED_STALE_TTL.
    pub stale_ttl: Duration,
    /// HASHTAGS: the tags that may cost hashtag budget.
    pub hashtags: Vec<String>,
    /// FEED_TRIAL_REELS=include: trial reels are served too.
    pub trial_reels: bool,
    /// FEED_MISSES_PER_MINUTE; 0 for no bound.
    pub misses_per_minute: u32,
    /// Signs the cursors handed out.
    pub cursor_key: CursorKey,
}

/// The handles the proxy works with: the same ones the rest of the agent
/// holds (clones share their state).
pub struct FeedHandles {
    pub store: Store,
    pub cache: Cache,
    pub upstream: Upstream,
    pub board: Arc<Board>,
    pub clock: Clock,
    pub metrics: Arc<Metrics>,
    /// Told of each first page fetched; dresses the items it mirrors.
    pub mirror: Mirror,
    /// Told of each first page fetched, to notice new and removed posts.
    pub build_hook: Option<Arc<BuildHook>>,
}

/// Proxy state shared by all requests.
pub struct Feeds {
    handles: FeedHandles,
    settings: FeedSettings,
    flights: Flights,
    failures: Failures,
    quiet: Quiet,
    misses: Misses,
    /// Tags allowed on the admin page, besides HASHTAGS.
    approved: ArcSwap<BTreeSet<String>>,
    /// The cache keys written for each account, so that removing an
    /// account (or Meta's data deletion callback) can delete its pages.
    keys: Mutex<HashMap<String, HashSet<String>>>,
    answers: Answers,
}

/// Every upstream page is asked for at the one size, whatever `limit`.
fn upstream_page(cursor: &Option<Cursor>) -> PageRequest<'_> {
    PageRequest {
        limit: UPSTREAM_PAGE,
        cursor,
    }
}

/// An upstream page as a request gets it.
struct Served {
    page: Page,
    /// From an older copy: upstream failed, or is off limits for now.
    stale: bool,
    /// Its cache key, and the entry the cache holds for it (or was given).
    key: String,
    entry: Bytes,
}

/// A page and the cache entry it was read from or written as.
struct Entry {
    page: Page,
    bytes: Bytes,
}

impl Feeds {
    pub fn new(handles: FeedHandles, settings: FeedSettings) -> Feeds {
        Feeds {
            misses: Misses::new(settings.misses_per_minute),
            handles,
            settings,
            flights: Flights::default(),
            failures: Failures::default(),
            quiet: Quiet::default(),
            approved: ArcSwap::default(),
            keys: Mutex::new(HashMap::new()),
            answers: Answers::default(),
        }
    }

    /// Whether `tag` may cost hashtag budget: in HASHTAGS or allowed on the
    /// admin page. Anything else is refused before any call or database read,
    /// so no stranger can spend the 30 tags a week.
    pub fn allows_hashtag(&self, tag: &str) -> bool {
        self.settings.hashtags.iter().any(|t| t == tag) || self.approved.load().contains(tag)
    }

    /// Replaces the tags allowed on the admin page.
    pub fn set_approved_hashtags(&self, tags: BTreeSet<String>) {
        self.approved.store(Arc::new(tags));
    }

    /// The tags from HASHTAGS, and those allowed on the admin page.
    pub fn hashtags(&self) -> (Vec<String>, BTreeSet<String>) {
        (
            self.settings.hashtags.clone(),
            self.approved.load().as_ref().clone(),
        )
    }

    /// Deletes every page cached for `account` by this process (other
    /// processes' in-memory copies lapse with FEED_STALE_TTL and are no
    /// longer reachable once the account is gone).
    pub async fn forget_account(&self, account: &str) {
        let keys = self
            .keys
            .lock()
            .expect("key map")
            .remove(account)
            .unwrap_or_default();
        for key in keys {
            self.failures.clear(&key);
            self.handles.cache.delete(&key).await;
        }
        if let Err(error) = self.handles.store.forget_feed_pages(account).await {
            tracing::warn!(%error, account, "could not delete the stored feed pages");
        }
    }

    /// The copy of `key` kept in the database, if it may still be served;
    /// put back in the cache, so the requests after this one find it there.
    async fn stored(&self, account: &str, key: &str, now: DateTime<Utc>) -> Option<Entry> {
        let raw = match self.handles.store.feed_page(key).await {
            Ok(raw) => raw?,
            Err(error) => {
                tracing::warn!(%error, "could not read a stored feed page");
                return None;
            }
        };
        let page = Page::decode(&Bytes::from(raw)).filter(|p| {
            p.is_servable_stale(now, self.settings.stale_ttl, self.outlives(account))
        })?;
        let keep = (self.settings.stale_ttl - page.age(now))
            .to_std()
            .unwrap_or_default();
        let bytes = page.encode();
        self.handles.cache.set(key, bytes.clone(), keep).await;
        Some(Entry { page, bytes })
    }

    /// A freshly fetched page, in the cache and in the database. A database
    /// that cannot take it costs the copy only, never the answer. Returns
    /// the cache's entry.
    async fn keep(&self, account: &str, key: &str, page: &Page) -> Bytes {
        let bytes = page.encode();
        let keep = self.settings.stale_ttl.to_std().unwrap_or_default();
        self.handles.cache.set(key, bytes.clone(), keep).await;
        let store = &self.handles.store;
        if let Err(error) = store
            .save_feed_page(account, key, &bytes, page.fetched_at)
            .await
        {
            tracing::warn!(%error, "could not keep a copy of a feed page in the database");
        }
        bytes
    }

    /// Whether an item of `account` still shows once Instagram's signed
    /// links in it have expired: its images are mirrored.
    fn outlives<'a>(&'a self, account: &'a str) -> impl Fn(&Bytes) -> bool + 'a {
        #[derive(serde::Deserialize)]
        struct Item<'a> {
            #[serde(borrow)]
            id: std::borrow::Cow<'a, str>,
        }
        move |item: &Bytes| {
            serde_json::from_slice::<Item>(item)
                .is_ok_and(|item| self.handles.mirror.covers(account, &item.id))
        }
    }

    fn remember_key(&self, account: &str, key: &str) {
        let mut keys = self.keys.lock().expect("key map");
        let set = keys.entry(account.to_string()).or_default();
        // Bounded: an account's pages beyond this simply age out.
        if set.len() < 10_000 {
            set.insert(key.to_string());
        }
    }

    fn note_usage(&self, account: &str, usage: Usage) {
        self.quiet
            .note_usage(account, &usage, self.handles.clock.now());
    }

    /// A fetched page, its usage reading noted for the account.
    fn noting_usage(
        &self,
        account: &str,
        got: Result<(MediaPage, Usage), UpstreamError>,
    ) -> Result<MediaPage, FeedError> {
        let (page, usage) = got?;
        self.note_usage(account, usage);
        Ok(page)
    }

    /// One upstream page: from the cache when fresh; otherwise one caller
    /// per key goes upstream (`fetch`) while the rest wait for its result,
    /// unless upstream is off limits for the account, the key failed a
    /// moment ago, or `client` has caused its share of misses: then the last
    /// good copy, or the refusal.
    async fn serve<F, Fut>(
        &self,
        account: &str,
        key: &str,
        client: Option<ClientKey>,
        paging: Paging,
        fetch: F,
    ) -> Result<Served, FeedError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<MediaPage, FeedError>>,
    {
        let FeedHandles {
            cache,
            clock,
            metrics,
            ..
        } = &self.handles;
        let (ttl, stale_ttl) = (self.settings.ttl, self.settings.stale_ttl);
        let cached = |now| async move {
            let bytes = cache.get(key).await?;
            let page = Page::decode(&bytes)?;
            page.is_servable_stale(now, stale_ttl, self.outlives(account))
                .then_some(Entry { page, bytes })
        };
        let served = |entry: Entry, stale| Served {
            page: entry.page,
            stale,
            key: key.to_string(),
            entry: entry.bytes,
        };
        let fresh = |entry: Entry| {
            metrics.record_cache(true, false);
            Ok(served(entry, false))
        };
        // Without calling upstream: the last good copy, or `refusal`.
        let fallback = |copy: Option<Entry>, refusal: FeedError| match copy {
            Some(entry) => {
                metrics.record_cache(false, true);
                Ok(served(entry, true))
            }
            None => Err(refusal),
        };
        // What stops a call now, if anything.
        let held = |now| {
            if let Some(until) = self.quiet.until(account, now) {
                return Some(FeedError::Throttled {
                    retry_after: until - now,
                });
            }
            self.failures.get(key, now).map(FeedError::Upstream)
        };

        let now = clock.now();
        // A hit, without a copy of the page.
        let first = match cached(now).await {
            Some(entry) if entry.page.is_fresh(now, ttl) => return fresh(entry),
            first => first,
        };
        if let Some(refusal) = held(now) {
            return fallback(first, refusal);
        }
        self.flights
            .run(key, async move {
                // Someone may have fetched it, or failed, while we waited;
                // with nothing cached, the database may hold a copy.
                let now = clock.now();
                let latest = match cached(now).await.or(first) {
                    Some(entry) => Some(entry),
                    None => self.stored(account, key, now).await,
                };
                let latest = match latest {
                    Some(entry) if entry.page.is_fresh(now, ttl) => return fresh(entry),
                    latest => latest,
                };
                if let Some(refusal) = held(now) {
                    return fallback(latest, refusal);
                }
                if let Some(client) = client
                    && let Err(retry_after) = self.misses.spend(client, now)
                {
                    tracing::info!(%client, "a client passed its bound on feed cache misses");
                    return fallback(latest, FeedError::TooManyMisses { retry_after });
                }
                metrics.record_cache(false, false);
                let error = match fetch().await {
                    Ok(media) => {
                        let now = clock.now();
                        let page = Page::from_media(&media, now, paging).map_err(FeedError::Encode)?;
                        self.remember_key(account, key);
                        let bytes = self.keep(account, key, &page).await;
                        return Ok(served(Entry { page, bytes }, false));
                    }
                    Err(FeedError::Upstream(error)) => {
                        let now = clock.now();
                        if let ErrorKind::Throttled {
                            retry_after_minutes,
                        } = error.kind
                        {
                            self.quiet.note_throttled(account, retry_after_minutes, now);
                        }
                        self.failures.put(key, &error, now);
                        error
                    }
                    Err(other) => return Err(other),
                };
                let copy = latest.filter(|e| {
                    e.page.is_servable_stale(clock.now(), stale_ttl, self.outlives(account))
                });
                if let Some(entry) = &copy {
                    tracing::warn!(error = %error, age_s = entry.page.age(clock.now()).num_seconds(), "upstream failed; serving the last good copy");
                }
                // A throttle is answered as every request until the account
                // regains access is: with when to try again.
                let refusal = match held(clock.now()) {
                    Some(throttled @ FeedError::Throttled { .. })
                        if matches!(error.kind, ErrorKind::Throttled { .. }) =>
                    {
                        throttled
                    }
                    _ => FeedError::Upstream(error),
                };
                fallback(copy, refusal)
            })
            .await
    }

    /// Up to `limit` of the items `filter` keeps, from the cursor's
    /// position on (or before it, for a `previous` link), across upstream
    /// pages where a page ends first, with links to the pages before and
    /// after.
    async fn answer(
        &self,
        source: &Source<'_>,
        filter: &Filter,
        cursor: Option<&str>,
        limit: u32,
        client: Option<ClientKey>,
        base: &Url,
    ) -> Result<Answer, FeedError> {
        let scope = source.scope();
        let now = self.handles.clock.now();
        let (ttl, stale_ttl) = (self.settings.ttl, self.settings.stale_ttl);
        let asked = Asked {
            scope: &scope,
            cursor,
            limit,
            filter,
            base: base.as_str(),
        };
        let version = self.handles.mirror.version(source.account());
        let cache = &self.handles.cache;
        let memo = self
            .answers
            .get(&asked, &version, now, (ttl, stale_ttl), cache);
        if let Some(rendered) = memo.await {
            for _ in 0..rendered.pages() {
                self.handles.metrics.record_cache(true, false);
            }
            return Ok(rendered.answer(now, ttl));
        }
        // Boxed: a hit, above, then moves a small future, not this one.
        Box::pin(self.render(source, &asked, version, client, base, now)).await
    }

    /// The answer to `asked`, from the pages, kept for the next requests
    /// when it is fresh.
    async fn render(
        &self,
        source: &Source<'_>,
        asked: &Asked<'_>,
        version: Version,
        client: Option<ClientKey>,
        base: &Url,
        now: DateTime<Utc>,
    ) -> Result<Answer, FeedError> {
        let Asked {
            scope,
            cursor,
            limit,
            filter,
            ..
        } = *asked;
        let key = &self.settings.cursor_key;
        let start = match cursor {
            None => Position::default(),
            Some(text) => key.open(scope, text).ok_or(FeedError::BadCursor)?,
        };
        let outlives = self.outlives(source.account());
        let mut scan = Scan::new(&start, limit);
        let mut pages: Vec<Served> = Vec::new();
        while let Some(upstream) = scan.wants() {
            let served = self.page(source, upstream, client).await?;
            // The one place an item is chosen or passed over. Past the
            // expiry of its signed links, a (stale) page shows only the
            // posts whose images the agent keeps.
            let expired = !served.page.media_valid(now);
            let keeps = |item: &Bytes| filter.keeps(item) && (!expired || outlives(item));
            scan.read(&served.page, keeps);
            pages.push(served);
        }
        let Scanned {
            items,
            after,
            before,
        } = scan.finish();

        let seal = |p: &Position| key.seal(scope, p);
        let (after, before) = (after.as_ref().map(seal), before.as_ref().map(seal));
        let link = |param, cursor: &String| source.link(base, limit, filter, param, cursor);
        let links = Links {
            next: after.as_ref().map(|c| link("after", c)),
            previous: before.as_ref().map(|c| link("before", c)),
            after,
            before,
        };
        let items = items
            .iter()
            .map(|&(page, item)| &pages[page].page.items[item]);
        let body = page::render(items, &links, &version.dressing(base));
        let stale = pages.iter().any(|s| s.stale);
        let fetched_at = pages
            .iter()
            .map(|s| s.page.fetched_at)
            .min()
            .expect("at least one page");
        let answer = Answer::new(body, fetched_at, stale, now, self.settings.ttl);
        if !stale {
            self.answers.put(asked, version, pages, &answer);
        }
        Ok(answer)
    }

    /// The upstream page of `source` that starts at `upstream`.
    async fn page(
        &self,
        source: &Source<'_>,
        upstream: Option<&Cursor>,
        client: Option<ClientKey>,
    ) -> Result<Served, FeedError> {
        let key = source.key(upstream, self.settings.trial_reels);
        let cursor = upstream.cloned();
        match source {
            Source::Feed { account, .. } => {
                self.serve(account, &key, client, Paging::Cursors, || {
                    self.fetch_feed(account, cursor)
                })
                .await
            }
            Source::Hashtag {
                account, tag, edge, ..
            } => {
                self.serve(account, &key, client, Paging::NextLink, || {
                    self.fetch_hashtag(account, tag, *edge, cursor)
                })
                .await
            }
        }
    }

    /// `GET /feed.json`: the account's own media. Links point at `base`.
    pub async fn feed(&self, query: &FeedQuery, base: &Url) -> Result<Answer, FeedError> {
        if !query.also.is_empty() {
            return self.merged(query, base).await;
        }
        // The accounts in memory decide what exists, so that a cache hit
        // costs no database round trip.
        let Some(served) = self.handles.board.get(&query.account) else {
            return Err(FeedError::UnknownAccount(query.account.clone()));
        };
        let source = Source::Feed {
            account: &query.account,
            epoch: served.epoch,
        };
        self.answer(
            &source,
            &query.filter,
            query.cursor.as_deref(),
            query.limit,
            query.client,
            base,
        )
        .await
    }

    /// `GET /hashtags/{tag}/recent.json|top.json`: public media for a tag,
    /// through a Facebook-Login account. Links point at `base`.
    pub async fn hashtag(&self, query: &HashtagQuery, base: &Url) -> Result<Answer, FeedError> {
        if !self.allows_hashtag(&query.tag) {
            return Err(FeedError::HashtagNotAllowed(query.tag.clone()));
        }
        let (name, epoch) = self.facebook_account(query.account.as_deref())?;
        let source = Source::Hashtag {
            account: &name,
            epoch,
            tag: &query.tag,
            edge: query.edge,
        };
        self.answer(
            &source,
            &query.filter,
            query.cursor.as_deref(),
            query.limit,
            query.client,
            base,
        )
        .await
    }

    async fn fetch_feed(&self, name: &str, cursor: Option<Cursor>) -> Result<MediaPage, FeedError> {
        let account = self.load_account(name).await?;
        let ig_user;
        let owner = match account.kind {
            AccountKind::Instagram => MediaOwner::InstagramLogin,
            AccountKind::Facebook => {
                ig_user = self.instagram_business_id(&account).await?;
                MediaOwner::FacebookLogin { ig_user: &ig_user }
            }
        };
        let upstream = &self.handles.upstream;
        let got = upstream.media_page(owner, &account.token, upstream_page(&cursor));
        let mut media = self.noting_usage(&account.name, got.await)?;
        if !self.settings.trial_reels {
            // As Instagram's grid shows followers, in every output and in
            // the mirror; a page short of them is filled from the next.
            media = media.without_trial_reels();
        }
        if cursor.is_none() {
            self.handles
                .mirror
                .note_page(&account.name, account.epoch, &media);
            self.note_for_build_hook(&account, &media).await;
        }
        Ok(media)
    }

    /// Compares a first page just fetched with the posts the build hook
    /// saw last (two small database steps, beside the upstream call that
    /// fetched it), and delivers a change off the request's path.
    async fn note_for_build_hook(&self, account: &Account, media: &MediaPage) {
        let Some(hook) = self.handles.build_hook.clone() else {
            return;
        };
        let (store, now) = (self.handles.store.clone(), self.handles.clock.now());
        match hook
            .first_page(&store, &account.name, account.epoch, media, now)
            .await
        {
            Ok(false) => {}
            Ok(true) => {
                tokio::spawn(async move {
                    if let Err(e) = hook.deliver_due(&store, now).await {
                        tracing::warn!(error = %e, "the build hook could not deliver; the next pass will");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(account = %account.name, error = %e, "the build hook could not compare the posts; the next check will");
            }
        }
    }

    /// Reads `account`'s first page through the cache, as a visitor's
    /// first request would: from Instagram only when the copy is stale.
    pub async fn first_page(&self, account: &str) -> Result<(), FeedError> {
        let Some(served) = self.handles.board.get(account) else {
            return Err(FeedError::UnknownAccount(account.to_string()));
        };
        let source = Source::Feed {
            account,
            epoch: served.epoch,
        };
        self.page(&source, None, None).await.map(drop)
    }

    async fn fetch_hashtag(
        &self,
        name: &str,
        tag: &str,
        edge: HashtagEdge,
        cursor: Option<Cursor>,
    ) -> Result<MediaPage, FeedError> {
        let account = self.load_account(name).await?;
        let ig_user = self.instagram_business_id(&account).await?;
        // The weekly budget counts every upstream query of a tag; the
        // 31st distinct tag is refused here, before any call.
        let clock = &self.handles.clock;
        let counted = self
            .flights
            .run(&format!("budget:{}", account.name), async {
                self.handles
                    .store
                    .count_hashtag_query(
                        &account.name,
                        tag,
                        clock.now(),
                        HASHTAG_WINDOW,
                        HASHTAG_LIMIT,
                    )
                    .await
            })
            .await?;
        if !counted {
            // Answered with when the oldest search of the week lapses.
            let now = clock.now();
            let (_, frees) = self
                .handles
                .store
                .hashtag_budget(&account.name, now, HASHTAG_WINDOW)
                .await?;
            let retry_after = frees.map_or(HASHTAG_WINDOW, |at| at - now);
            return Err(FeedError::HashtagBudget { retry_after });
        }
        let hashtag_id = self.hashtag_id(&account, &ig_user, tag).await?;
        let upstream = &self.handles.upstream;
        let request = upstream_page(&cursor);
        let got = upstream.hashtag_media(&hashtag_id, edge, &ig_user, &account.token, request);
        self.noting_usage(&account.name, got.await)
    }

    /// The account's full row, read on a cache miss only.
    async fn load_account(&self, name: &str) -> Result<Account, FeedError> {
        self.handles
            .store
            .account(name)
            .await?
            .ok_or_else(|| FeedError::UnknownAccount(name.to_string()))
    }

    /// The Instagram business account behind a Facebook-Login token,
    /// discovered once through the user's Pages and stored.
    async fn instagram_business_id(&self, account: &Account) -> Result<String, FeedError> {
        if let Some(id) = &account.user_id {
            return Ok(id.clone());
        }
        let id = self
            .handles
            .upstream
            .instagram_business_account(&account.token)
            .await?
            .ok_or_else(|| {
                FeedError::NeedsFacebookAccount(
                    "None of this account's Facebook Pages has an Instagram professional account linked.".into(),
                )
            })?;
        self.handles
            .store
            .set_profile(&account.name, Some(&id), None)
            .await?;
        Ok(id)
    }

    /// A hashtag's id: from the database, or looked up once and kept for ever.
    async fn hashtag_id(
        &self,
        account: &Account,
        ig_user: &str,
        tag: &str,
    ) -> Result<String, FeedError> {
        let store = &self.handles.store;
        if let Some(id) = store.hashtag_id(tag).await? {
            return Ok(id);
        }
        let (id, usage) = self
            .handles
            .upstream
            .hashtag_search(ig_user, tag, &account.token)
            .await?;
        self.note_usage(&account.name, usage);
        let id = id.ok_or_else(|| FeedError::NoSuchHashtag(tag.to_string()))?;
        store
            .save_hashtag_id(tag, &id, self.handles.clock.now())
            .await?;
        Ok(id)
    }

    pub fn flights_in_progress(&self) -> usize {
        self.flights.in_flight()
    }

    /// The Facebook-Login account a hashtag request uses, with its epoch:
    /// the one named, or the first there is. Decided from the accounts in
    /// memory.
    fn facebook_account(&self, name: Option<&str>) -> Result<(String, i64), FeedError> {
        let why = "Hashtag search needs an account connected with Facebook Login (an Instagram professional account linked to a Facebook Page, with Instagram Public Content Access); Instagram-Login tokens cannot search hashtags.";
        let board = &self.handles.board;
        match name {
            Some(name) => match board.get(name) {
                None => Err(FeedError::UnknownAccount(name.to_string())),
                Some(served) if served.kind != AccountKind::Facebook => {
                    Err(FeedError::NeedsFacebookAccount(format!(
                        "{name:?} is an Instagram-Login account. {why}"
                    )))
                }
                Some(served) => Ok((name.to_string(), served.epoch)),
            },
            None => board
                .first_of_kind(AccountKind::Facebook)
                .and_then(|name| Some((board.get(&name)?.epoch, name)))
                .map(|(epoch, name)| (name, epoch))
                .ok_or_else(|| {
                    FeedError::NeedsFacebookAccount(format!(
                        "There is no Facebook-Login account. {why}"
                    ))
                }),
        }
    }
}
