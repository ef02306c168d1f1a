//! The feed and hashtag proxy: pages of media fetched with the account's
//! token (which never leaves the server), cached, and shared.
//!
//! Per cache key: fresh for FEED_CACHE_TTL; concurrent misses wait for one
//! upstream call; when upstream fails, or its usage is above 80%, the last
//! good copy is served (with its age) for up to FEED_STALE_TTL, but never
//! once the signed media URLs inside it have expired.
//!
//! * `page.rs` — a cached page and its byte form.
//! * `flights.rs` — one upstream call per key at a time.
//! * `usage.rs` — backing off while Instagram reports high usage.

mod flights;
mod page;
mod usage;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use bytes::Bytes;
use chrono::Duration;
use url::Url;

use crate::board::Board;
use crate::cache::Cache;
use crate::clock::Clock;
use crate::domain::Cursor;
use crate::metrics::Metrics;
use crate::store::{Account, AccountKind, Store, StoreError};
use crate::upstream::{
    HashtagEdge, MediaOwner, MediaPage, PageRequest, Upstream, UpstreamError, Usage,
};

pub use flights::Flights;
pub use page::{Answer, Page};
use usage::UsageGate;

/// Instagram's budget of distinct hashtags per account and window.
pub const HASHTAG_LIMIT: i64 = 30;
pub const HASHTAG_WINDOW: Duration = Duration::days(7);

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("no account named {0:?}")]
    UnknownAccount(String),
    #[error("{0}")]
    NeedsFacebookAccount(String),
    #[error(
        "this account has used its {HASHTAG_LIMIT} hashtags for the last 7 days; Instagram allows no more until one of them is a week old"
    )]
    HashtagBudget,
    #[error("Instagram has no hashtag #{0}")]
    NoSuchHashtag(String),
    #[error(
        "#{0} is not one of the owner's hashtags: add it to HASHTAGS or allow it on the admin page"
    )]
    HashtagNotAllowed(String),
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
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashtagQuery {
    pub tag: String,
    pub edge: HashtagEdge,
    pub account: Option<String>,
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

/// How long pages live, and where paging links point.
#[derive(Debug, Clone)]
pub struct FeedSettings {
    /// FEED_CACHE_TTL.
    pub ttl: Duration,
    /// FEED_STALE_TTL.
    pub stale_ttl: Duration,
    /// APP_URL: `paging.next` and `previous` point here.
    pub app_url: Url,
    /// HASHTAGS: the tags that may cost hashtag budget.
    pub hashtags: Vec<String>,
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
}

/// Proxy state shared by all requests.
pub struct Feeds {
    handles: FeedHandles,
    settings: FeedSettings,
    flights: Flights,
    usage: UsageGate,
    /// Tags allowed on the admin page, besides HASHTAGS.
    approved: ArcSwap<BTreeSet<String>>,
    /// The cache keys written for each account, so that removing an
    /// account (or Meta's data deletion callback) can delete its pages.
    keys: Mutex<HashMap<String, HashSet<String>>>,
}

impl Feeds {
    pub fn new(handles: FeedHandles, settings: FeedSettings) -> Feeds {
        Feeds {
            handles,
            settings,
            flights: Flights::default(),
            usage: UsageGate::default(),
            approved: ArcSwap::default(),
            keys: Mutex::new(HashMap::new()),
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
            self.handles.cache.delete(&key).await;
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

    fn note_usage(&self, usage: Usage) {
        self.usage.note(usage, self.handles.clock.now());
    }

    /// Answers from the cache when fresh; otherwise one caller per key goes
    /// upstream (`fetch`) while the rest wait for its result.
    async fn serve<F, Fut>(&self, account: &str, key: &str, fetch: F) -> Result<Answer, FeedError>
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
        let ttl = self.settings.ttl;
        let stale_ttl = self.settings.stale_ttl;
        let cached = |now| async move {
            let page = cache.get(key).await.as_ref().and_then(Page::decode);
            page.filter(|p| p.is_servable_stale(now, stale_ttl))
        };
        let fresh = |page: Page, now| Answer {
            max_age: (ttl - page.age(now)).num_seconds().max(0),
            page,
            stale: false,
        };
        let stale = |page: Page| Answer {
            page,
            max_age: 0,
            stale: true,
        };

        let now = clock.now();
        let first = cached(now).await;
        if let Some(page) = first.clone() {
            if page.is_fresh(now, ttl) {
                metrics.record_cache(true, false);
                return Ok(fresh(page, now));
            }
            if self.usage.is_high(now) {
                metrics.record_cache(false, true);
                return Ok(stale(page));
            }
        }
        self.flights
            .run(key, async move {
                // Someone may have fetched it while we waited our turn.
                let now = clock.now();
                let latest = cached(now).await.or(first);
                if let Some(page) = latest.as_ref().filter(|p| p.is_fresh(now, ttl)) {
                    metrics.record_cache(true, false);
                    return Ok(fresh(page.clone(), now));
                }
                metrics.record_cache(false, false);
                match fetch().await {
                    Ok(media) => {
                        let now = clock.now();
                        let page = Page {
                            body: Bytes::from(
                                serde_json::to_vec(&media).map_err(|e| FeedError::Encode(e.to_string()))?,
                            ),
                            fetched_at: now,
                            media_expires_at: media.media_expiry(),
                        };
                        self.remember_key(account, key);
                        let keep = self.settings.stale_ttl.to_std().unwrap_or_default();
                        cache.set(key, page.encode(), keep).await;
                        Ok(fresh(page, now))
                    }
                    Err(error) => match latest.filter(|p| p.is_servable_stale(clock.now(), stale_ttl)) {
                        Some(page) => {
                            metrics.record_cache(false, true);
                            tracing::warn!(error = %error, age_s = page.age(clock.now()).num_seconds(), "upstream failed; serving the last good copy");
                            Ok(stale(page))
                        }
                        None => Err(error),
                    },
                }
            })
            .await
    }

    /// `GET /feed.json`: the account's own media.
    pub async fn feed(&self, query: &FeedQuery) -> Result<Answer, FeedError> {
        // The accounts in memory decide what exists, so that a cache hit
        // costs no database round trip.
        if self.handles.board.get(&query.account).is_none() {
            return Err(FeedError::UnknownAccount(query.account.clone()));
        }
        let key = format!(
            "feed:v1:{}:{}:{}",
            query.account,
            query.limit,
            Cursor::key(&query.cursor)
        );
        self.serve(&query.account, &key, || async {
            let account = self.load_account(&query.account).await?;
            let ig_user;
            let owner = match account.kind {
                AccountKind::Instagram => MediaOwner::InstagramLogin,
                AccountKind::Facebook => {
                    ig_user = self.instagram_business_id(&account).await?;
                    MediaOwner::FacebookLogin { ig_user: &ig_user }
                }
            };
            let request = PageRequest {
                limit: query.limit,
                cursor: &query.cursor,
            };
            let (mut page, usage) = self
                .handles
                .upstream
                .media_page(owner, &account.token, request)
                .await?;
            self.note_usage(usage);
            self.link_paging_to(&mut page, "feed.json", &account.name, query.limit);
            Ok(page)
        })
        .await
    }

    /// `GET /hashtags/{tag}/recent.json|top.json`: public media for a tag,
    /// through a Facebook-Login account.
    pub async fn hashtag(&self, query: &HashtagQuery) -> Result<Answer, FeedError> {
        if !self.allows_hashtag(&query.tag) {
            return Err(FeedError::HashtagNotAllowed(query.tag.clone()));
        }
        let name = self.facebook_account(query.account.as_deref())?;
        let key = format!(
            "tag:v1:{}:{}:{}:{}:{}",
            name,
            query.tag,
            query.edge.as_str(),
            query.limit,
            Cursor::key(&query.cursor)
        );
        self.serve(&name, &key, || async {
            let account = self.load_account(&name).await?;
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
                            &query.tag,
                            clock.now(),
                            HASHTAG_WINDOW,
                            HASHTAG_LIMIT,
                        )
                        .await
                })
                .await?;
            if !counted {
                return Err(FeedError::HashtagBudget);
            }
            let hashtag_id = self.hashtag_id(&account, &ig_user, &query.tag).await?;
            let request = PageRequest {
                limit: query.limit,
                cursor: &query.cursor,
            };
            let (mut page, usage) = self
                .handles
                .upstream
                .hashtag_media(&hashtag_id, query.edge, &ig_user, &account.token, request)
                .await?;
            self.note_usage(usage);
            let path = format!(
                "hashtags/{}/{}.json",
                percent_encoding::utf8_percent_encode(
                    &query.tag,
                    percent_encoding::NON_ALPHANUMERIC
                ),
                query.edge.as_str()
            );
            self.link_paging_to(&mut page, &path, &account.name, query.limit);
            Ok(page)
        })
        .await
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
        self.note_usage(usage);
        let id = id.ok_or_else(|| FeedError::NoSuchHashtag(tag.to_string()))?;
        store
            .save_hashtag_id(tag, &id, self.handles.clock.now())
            .await?;
        Ok(id)
    }

    pub fn flights_in_progress(&self) -> usize {
        self.flights.in_flight()
    }

    /// Points a page's `next`/`previous` at the agent's own `path` (relative
    /// to APP_URL), keeping the account and page size.
    fn link_paging_to(&self, page: &mut MediaPage, path: &str, account: &str, limit: u32) {
        let base = self
            .settings
            .app_url
            .join(path)
            .expect("a path joins a URL");
        page.point_paging_at(|param, cursor| {
            let mut link = base.clone();
            link.query_pairs_mut()
                .append_pair("account", account)
                .append_pair("limit", &limit.to_string())
                .append_pair(param, cursor);
            link.to_string()
        });
    }

    /// The Facebook-Login account a hashtag request uses: the one named, or
    /// the first there is. Decided from the accounts in memory.
    fn facebook_account(&self, name: Option<&str>) -> Result<String, FeedError> {
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
                Some(_) => Ok(name.to_string()),
            },
            None => board.first_of_kind(AccountKind::Facebook).ok_or_else(|| {
                FeedError::NeedsFacebookAccount(format!(
                    "There is no Facebook-Login account. {why}"
                ))
            }),
        }
    }
}
