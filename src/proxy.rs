//! The feed and hashtag proxy: pages of media fetched with the account's
//! token (which never leaves the server), cached, and shared.
//!
//! Per cache key: fresh for FEED_CACHE_TTL; concurrent misses wait for one
//! upstream call; when upstream fails, or its usage is above 80%, the last
//! good copy is served (with its age) for up to FEED_STALE_TTL, but never
//! once the signed media URLs inside it have expired.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};
use chrono::{DateTime, Duration, TimeZone, Utc};
use url::Url;

use crate::app::App;
use crate::media::{FEED_FIELDS, HASHTAG_FIELDS, MediaPage};
use crate::store::{Account, AccountKind, StoreError};
use crate::upstream::{UpstreamError, Usage};

/// Instagram's budget of distinct hashtags per account and window.
pub const HASHTAG_LIMIT: i64 = 30;
pub const HASHTAG_WINDOW: Duration = Duration::days(7);
/// Above this usage percentage the agent prefers its cached copies.
const USAGE_HIGH: u32 = 80;
/// How long a high-usage reading keeps the agent on cached copies.
const USAGE_COOL_DOWN: Duration = Duration::minutes(10);

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
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
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("upstream sent an unexpected answer: {0}")]
    Garbage(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One served page: the JSON body and how old it is.
#[derive(Debug, Clone)]
pub struct Page {
    pub body: Bytes,
    pub fetched_at: DateTime<Utc>,
    pub media_expires_at: Option<DateTime<Utc>>,
}

impl Page {
    /// Cached form: fetched-at and media expiry (ms, big-endian), then the body.
    fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(16 + self.body.len());
        out.put_i64(self.fetched_at.timestamp_millis());
        out.put_i64(
            self.media_expires_at
                .map_or(i64::MIN, |t| t.timestamp_millis()),
        );
        out.put_slice(&self.body);
        out.freeze()
    }

    fn decode(raw: &Bytes) -> Option<Page> {
        if raw.len() < 16 {
            return None;
        }
        let ms = |b: &[u8]| i64::from_be_bytes(b.try_into().expect("8 bytes"));
        let fetched_at = Utc.timestamp_millis_opt(ms(&raw[..8])).single()?;
        let expiry = ms(&raw[8..16]);
        let media_expires_at = if expiry == i64::MIN {
            None
        } else {
            Some(Utc.timestamp_millis_opt(expiry).single()?)
        };
        Some(Page {
            body: raw.slice(16..),
            fetched_at,
            media_expires_at,
        })
    }

    pub fn age(&self, now: DateTime<Utc>) -> Duration {
        (now - self.fetched_at).max(Duration::zero())
    }

    fn media_valid(&self, now: DateTime<Utc>) -> bool {
        self.media_expires_at.is_none_or(|t| now < t)
    }

    fn is_fresh(&self, now: DateTime<Utc>, ttl: Duration) -> bool {
        self.age(now) < ttl && self.media_valid(now)
    }

    fn is_servable_stale(&self, now: DateTime<Utc>, stale_ttl: Duration) -> bool {
        self.age(now) <= stale_ttl && self.media_valid(now)
    }
}

/// The answer to a proxied request.
#[derive(Debug, Clone)]
pub struct Answer {
    pub page: Page,
    /// Seconds a client may keep it.
    pub max_age: i64,
    /// Served from an older copy because upstream failed or is busy.
    pub stale: bool,
}

/// One upstream call per key at a time; later callers wait for it, then
/// find its result in the cache.
#[derive(Default)]
pub struct Flights {
    keys: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Flights {
    pub async fn run<T>(&self, key: &str, work: impl Future<Output = T>) -> T {
        let lock = {
            let mut keys = self.keys.lock().expect("flight map");
            keys.entry(key.to_string()).or_default().clone()
        };
        let out = {
            let _turn = lock.lock().await;
            work.await
        };
        let mut keys = self.keys.lock().expect("flight map");
        // Only the map and this caller hold it: nobody is waiting.
        if Arc::strong_count(&lock) == 2 {
            keys.remove(key);
        }
        out
    }

    pub fn in_flight(&self) -> usize {
        self.keys.lock().expect("flight map").len()
    }
}

/// Proxy state shared by all requests.
#[derive(Default)]
pub struct Proxy {
    flights: Flights,
    /// Until when (ms) upstream usage counts as high.
    usage_high_until: AtomicI64,
    /// The cache keys written for each account, so that removing an
    /// account (or Meta's data deletion callback) can delete its pages.
    keys: Mutex<HashMap<String, std::collections::HashSet<String>>>,
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edge {
    Recent,
    Top,
}

impl Edge {
    pub fn path(&self) -> &'static str {
        match self {
            Edge::Recent => "recent_media",
            Edge::Top => "top_media",
        }
    }

    pub fn file(&self) -> &'static str {
        match self {
            Edge::Recent => "recent.json",
            Edge::Top => "top.json",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    After(String),
    Before(String),
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
    pub edge: Edge,
    pub account: Option<String>,
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

fn cursor_key(cursor: &Option<Cursor>) -> String {
    match cursor {
        None => String::new(),
        Some(Cursor::After(c)) => format!("a:{c}"),
        Some(Cursor::Before(c)) => format!("b:{c}"),
    }
}

fn add_cursor(url: &mut Url, cursor: &Option<Cursor>) {
    match cursor {
        Some(Cursor::After(c)) => {
            url.query_pairs_mut().append_pair("after", c);
        }
        Some(Cursor::Before(c)) => {
            url.query_pairs_mut().append_pair("before", c);
        }
        None => {}
    }
}

impl Proxy {
    /// Deletes every page cached for `account` by this process (other
    /// processes' in-memory copies lapse with FEED_STALE_TTL and are no
    /// longer reachable once the account is gone).
    pub async fn forget_account(&self, cache: &crate::cache::Cache, account: &str) {
        let keys = self
            .keys
            .lock()
            .expect("key map")
            .remove(account)
            .unwrap_or_default();
        for key in keys {
            cache.delete(&key).await;
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

    fn usage_is_high(&self, now: DateTime<Utc>) -> bool {
        now.timestamp_millis() < self.usage_high_until.load(Ordering::Relaxed)
    }

    fn note_usage(&self, usage: Usage, now: DateTime<Utc>) {
        if usage.max_percent.is_some_and(|p| p > USAGE_HIGH) {
            let wait = usage
                .regain_access_minutes
                .map(|m| Duration::minutes(i64::from(m)))
                .unwrap_or(USAGE_COOL_DOWN)
                .max(USAGE_COOL_DOWN);
            self.usage_high_until
                .store((now + wait).timestamp_millis(), Ordering::Relaxed);
            tracing::warn!(percent = ?usage.max_percent, "Instagram usage is high; serving cached pages where possible");
        }
    }

    /// Answers from the cache when fresh; otherwise one caller per key goes
    /// upstream (`fetch`) while the rest wait for its result.
    async fn serve<F, Fut>(
        &self,
        app: &App,
        account: &str,
        key: &str,
        fetch: F,
    ) -> Result<Answer, ProxyError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<MediaPage, ProxyError>>,
    {
        let ttl = Duration::from_std(app.config.feed_cache_ttl).unwrap_or(Duration::minutes(5));
        let stale_ttl = Duration::from_std(app.config.feed_stale_ttl).unwrap_or(Duration::days(1));
        let cached = |now| async move {
            let page = app.cache.get(key).await.as_ref().and_then(Page::decode);
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

        let now = app.clock.now();
        let first = cached(now).await;
        if let Some(page) = first.clone() {
            if page.is_fresh(now, ttl) {
                app.metrics.record_cache(true, false);
                return Ok(fresh(page, now));
            }
            if self.usage_is_high(now) {
                app.metrics.record_cache(false, true);
                return Ok(stale(page));
            }
        }
        self.flights
            .run(key, async move {
                // Someone may have fetched it while we waited our turn.
                let now = app.clock.now();
                let latest = cached(now).await.or(first);
                if let Some(page) = latest.as_ref().filter(|p| p.is_fresh(now, ttl)) {
                    app.metrics.record_cache(true, false);
                    return Ok(fresh(page.clone(), now));
                }
                app.metrics.record_cache(false, false);
                match fetch().await {
                    Ok(media) => {
                        let now = app.clock.now();
                        let page = Page {
                            body: Bytes::from(
                                serde_json::to_vec(&media).map_err(|e| ProxyError::Garbage(e.to_string()))?,
                            ),
                            fetched_at: now,
                            media_expires_at: media.media_expiry(),
                        };
                        self.remember_key(account, key);
                        app.cache.set(key, page.encode(), app.config.feed_stale_ttl).await;
                        Ok(fresh(page, now))
                    }
                    Err(error) => match latest.filter(|p| p.is_servable_stale(app.clock.now(), stale_ttl)) {
                        Some(page) => {
                            app.metrics.record_cache(false, true);
                            tracing::warn!(error = %error, age_s = page.age(app.clock.now()).num_seconds(), "upstream failed; serving the last good copy");
                            Ok(stale(page))
                        }
                        None => Err(error),
                    },
                }
            })
            .await
    }

    /// `GET /feed.json`: the account's own media.
    pub async fn feed(&self, app: &App, query: &FeedQuery) -> Result<Answer, ProxyError> {
        // The accounts in memory decide what exists, so that a cache hit
        // costs no database round trip.
        if app.board.get(&query.account).is_none() {
            return Err(ProxyError::UnknownAccount(query.account.clone()));
        }
        let key = format!(
            "feed:v1:{}:{}:{}",
            query.account,
            query.limit,
            cursor_key(&query.cursor)
        );
        self.serve(app, &query.account, &key, || async {
            let account = self.load_account(app, &query.account).await?;
            let mut url = match account.kind {
                AccountKind::Instagram => Url::parse(&app.upstream.instagram_graph_url("me/media")),
                AccountKind::Facebook => {
                    let ig_user = self.instagram_business_id(app, &account).await?;
                    Url::parse(&app.upstream.facebook_graph_url(&format!("{ig_user}/media")))
                }
            }
            .map_err(|e| ProxyError::Garbage(e.to_string()))?;
            url.query_pairs_mut()
                .append_pair("fields", FEED_FIELDS)
                .append_pair("limit", &query.limit.to_string());
            add_cursor(&mut url, &query.cursor);
            let mut page = self.get_page(app, url, &account.token).await?;
            link_paging_to(app, &mut page, "feed.json", &account.name, query.limit);
            Ok(page)
        })
        .await
    }

    /// `GET /hashtags/{tag}/recent.json|top.json`: public media for a tag,
    /// through a Facebook-Login account.
    pub async fn hashtag(&self, app: &App, query: &HashtagQuery) -> Result<Answer, ProxyError> {
        let name = facebook_account(app, query.account.as_deref())?;
        let key = format!(
            "tag:v1:{}:{}:{}:{}:{}",
            name,
            query.tag,
            query.edge.path(),
            query.limit,
            cursor_key(&query.cursor)
        );
        self.serve(app, &name, &key, || async {
            let account = self.load_account(app, &name).await?;
            let ig_user = self.instagram_business_id(app, &account).await?;
            // The weekly budget counts every upstream query of a tag; the
            // 31st distinct tag is refused here, before any call.
            let counted = self
                .flights
                .run(&format!("budget:{}", account.name), async {
                    app.store
                        .count_hashtag_query(
                            &account.name,
                            &query.tag,
                            app.clock.now(),
                            HASHTAG_WINDOW,
                            HASHTAG_LIMIT,
                        )
                        .await
                })
                .await?;
            if !counted {
                return Err(ProxyError::HashtagBudget);
            }
            let hashtag_id = self.hashtag_id(app, &account, &ig_user, &query.tag).await?;
            let mut url = Url::parse(
                &app.upstream
                    .facebook_graph_url(&format!("{hashtag_id}/{}", query.edge.path())),
            )
            .map_err(|e| ProxyError::Garbage(e.to_string()))?;
            url.query_pairs_mut()
                .append_pair("user_id", &ig_user)
                .append_pair("fields", HASHTAG_FIELDS)
                .append_pair("limit", &query.limit.to_string());
            add_cursor(&mut url, &query.cursor);
            let mut page = self.get_page(app, url, &account.token).await?;
            let path = format!(
                "hashtags/{}/{}",
                percent_encoding::utf8_percent_encode(
                    &query.tag,
                    percent_encoding::NON_ALPHANUMERIC
                ),
                query.edge.file()
            );
            link_paging_to(app, &mut page, &path, &account.name, query.limit);
            Ok(page)
        })
        .await
    }

    async fn get_page(&self, app: &App, url: Url, token: &str) -> Result<MediaPage, ProxyError> {
        let (body, usage) = app.upstream.get_json(url.as_str(), token).await?;
        self.note_usage(usage, app.clock.now());
        MediaPage::from_upstream(body).map_err(ProxyError::Garbage)
    }

    /// The account's full row, read on a cache miss only.
    async fn load_account(&self, app: &App, name: &str) -> Result<Account, ProxyError> {
        app.store
            .account(name)
            .await?
            .ok_or_else(|| ProxyError::UnknownAccount(name.to_string()))
    }

    /// The Instagram business account behind a Facebook-Login token,
    /// discovered once through the user's Pages and stored.
    async fn instagram_business_id(
        &self,
        app: &App,
        account: &Account,
    ) -> Result<String, ProxyError> {
        if let Some(id) = &account.user_id {
            return Ok(id.clone());
        }
        let mut url = Url::parse(&app.upstream.facebook_graph_url("me/accounts"))
            .map_err(|e| ProxyError::Garbage(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("fields", "instagram_business_account,name");
        let (body, _) = app.upstream.get_json(url.as_str(), &account.token).await?;
        let id = body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|page| page["instagram_business_account"]["id"].as_str())
            .ok_or_else(|| {
                ProxyError::NeedsFacebookAccount(
                    "None of this account's Facebook Pages has an Instagram professional account linked.".into(),
                )
            })?
            .to_string();
        app.store
            .set_profile(&account.name, Some(&id), None)
            .await?;
        Ok(id)
    }

    /// A hashtag's id: from the database, or looked up once and kept for ever.
    async fn hashtag_id(
        &self,
        app: &App,
        account: &Account,
        ig_user: &str,
        tag: &str,
    ) -> Result<String, ProxyError> {
        if let Some(id) = app.store.hashtag_id(tag).await? {
            return Ok(id);
        }
        let mut url = Url::parse(&app.upstream.facebook_graph_url("ig_hashtag_search"))
            .map_err(|e| ProxyError::Garbage(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("user_id", ig_user)
            .append_pair("q", tag);
        let (body, usage) = app.upstream.get_json(url.as_str(), &account.token).await?;
        self.note_usage(usage, app.clock.now());
        // Documented as {"data":[{"id":…}]}; an older guide shows {"id":…}.
        let id = body["data"][0]["id"]
            .as_str()
            .or_else(|| body["id"].as_str())
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| ProxyError::NoSuchHashtag(tag.to_string()))?
            .to_string();
        app.store.save_hashtag_id(tag, &id, app.clock.now()).await?;
        Ok(id)
    }

    pub fn flights_in_progress(&self) -> usize {
        self.flights.in_flight()
    }
}

/// Points a page's `next`/`previous` at the agent's own `path` (relative
/// to APP_URL), keeping the account and page size.
fn link_paging_to(app: &App, page: &mut MediaPage, path: &str, account: &str, limit: u32) {
    let base = app.config.app_url.join(path).expect("a path joins a URL");
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
fn facebook_account(app: &App, name: Option<&str>) -> Result<String, ProxyError> {
    let why = "Hashtag search needs an account connected with Facebook Login (an Instagram professional account linked to a Facebook Page, with Instagram Public Content Access); Instagram-Login tokens cannot search hashtags.";
    match name {
        Some(name) => match app.board.get(name) {
            None => Err(ProxyError::UnknownAccount(name.to_string())),
            Some(served) if served.kind != AccountKind::Facebook => {
                Err(ProxyError::NeedsFacebookAccount(format!(
                    "{name:?} is an Instagram-Login account. {why}"
                )))
            }
            Some(_) => Ok(name.to_string()),
        },
        None => app
            .board
            .first_of_kind(AccountKind::Facebook)
            .ok_or_else(|| {
                ProxyError::NeedsFacebookAccount(format!(
                    "There is no Facebook-Login account. {why}"
                ))
            }),
    }
}

/// A hashtag as Instagram accepts it: letters, digits and underscores, at
/// most 100 characters, without the `#`; compared in lower case.
pub fn parse_hashtag(raw: &str) -> Option<String> {
    let tag = raw.strip_prefix('#').unwrap_or(raw);
    let ok = !tag.is_empty()
        && tag.chars().count() <= 100
        && tag.chars().all(|c| c.is_alphanumeric() || c == '_');
    ok.then(|| tag.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_pages_round_trip() {
        let page = Page {
            body: Bytes::from_static(b"{\"data\":[]}"),
            fetched_at: Utc.timestamp_millis_opt(1_780_000_000_123).unwrap(),
            media_expires_at: Some(Utc.timestamp_opt(1_780_100_000, 0).unwrap()),
        };
        let back = Page::decode(&page.encode()).unwrap();
        assert_eq!(back.body, page.body);
        assert_eq!(back.fetched_at, page.fetched_at);
        assert_eq!(back.media_expires_at, page.media_expires_at);
        let none = Page {
            media_expires_at: None,
            ..page
        };
        assert_eq!(Page::decode(&none.encode()).unwrap().media_expires_at, None);
        assert!(Page::decode(&Bytes::from_static(b"short")).is_none());
    }

    #[test]
    fn freshness_and_staleness_respect_media_expiry() {
        let t0 = Utc.timestamp_opt(1_780_000_000, 0).unwrap();
        let page = Page {
            body: Bytes::new(),
            fetched_at: t0,
            media_expires_at: Some(t0 + Duration::hours(2)),
        };
        let ttl = Duration::minutes(5);
        let stale_ttl = Duration::days(1);
        assert!(page.is_fresh(t0 + Duration::minutes(4), ttl));
        assert!(!page.is_fresh(t0 + Duration::minutes(5), ttl));
        assert!(page.is_servable_stale(t0 + Duration::hours(1), stale_ttl));
        assert!(
            !page.is_servable_stale(t0 + Duration::hours(2), stale_ttl),
            "its images would 403"
        );
        let unsigned = Page {
            media_expires_at: None,
            ..page
        };
        assert!(unsigned.is_servable_stale(t0 + Duration::hours(24), stale_ttl));
        assert!(!unsigned.is_servable_stale(t0 + Duration::hours(25), stale_ttl));
    }

    #[test]
    fn hashtags_are_letters_digits_and_underscores() {
        assert_eq!(parse_hashtag("BlueBottle").as_deref(), Some("bluebottle"));
        assert_eq!(parse_hashtag("#café_2026").as_deref(), Some("café_2026"));
        for bad in [
            "",
            "#",
            "two words",
            "a-b",
            "<script>",
            "a/b",
            &"x".repeat(101),
        ] {
            assert_eq!(parse_hashtag(bad), None, "{bad}");
        }
        assert!(parse_hashtag(&"x".repeat(100)).is_some());
    }

    #[tokio::test]
    async fn one_flight_per_key_and_the_map_empties_after() {
        let flights = Arc::new(Flights::default());
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (flights, runs) = (flights.clone(), runs.clone());
            tasks.push(tokio::spawn(async move {
                flights
                    .run("k", async {
                        let concurrent = runs.fetch_add(1, Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        runs.fetch_sub(1, Ordering::SeqCst);
                        concurrent
                    })
                    .await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap(), 0, "two callers were inside at once");
        }
        assert_eq!(flights.in_flight(), 0);
    }
}
