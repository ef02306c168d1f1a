//! What the fake remembers: users and their media, tokens, authorization
//! codes, call counters, pending faults. One `State` behind one mutex.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};

use super::Fault;
use super::ids;
use super::options::FakeOptions;
use super::request::Host;
use crate::clock::Now;

pub(crate) const LONG_LIVED: Duration = Duration::days(60);
pub(crate) const SHORT_LIVED: Duration = Duration::hours(1);
pub(crate) const CODE_LIFETIME: Duration = Duration::hours(1);
pub(crate) const MIN_REFRESH_AGE: Duration = Duration::hours(24);

/// A seeded Instagram professional account (with its Facebook user and Page).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeUser {
    /// The 17-digit Instagram professional-account id (`1784…`), `user_id` on `/me`.
    pub ig_user_id: String,
    /// The 16-digit app-scoped id, `id` on `/me`.
    pub app_scoped_id: String,
    pub username: String,
    /// The Facebook user who manages the linked Page (Facebook Login flow).
    pub fb_user_id: String,
    /// The Facebook Page linked to the account (`instagram_business_account`).
    pub page_id: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaType {
    Image,
    Video,
    CarouselAlbum,
}

impl MediaType {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Image => "IMAGE",
            MediaType::Video => "VIDEO",
            MediaType::CarouselAlbum => "CAROUSEL_ALBUM",
        }
    }
}

/// One media object as the fake stores it; album children are media too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeMedia {
    pub id: String,
    /// `ig_user_id` of the owner.
    pub owner: String,
    pub media_type: MediaType,
    /// Absent for some posts and always for album children.
    pub caption: Option<String>,
    /// `alt_text`: "Descriptive text for images, for accessibility" (IG
    /// Media reference, updated 2026-06-22). Authors write it for images
    /// only, album items included ("Reels and stories are not supported",
    /// changelog 2025-03-24); absent where they wrote none.
    pub alt_text: Option<String>,
    pub timestamp: DateTime<Utc>,
    pub shortcode: String,
    /// Absent when the owner hides like counts.
    pub like_count: Option<u64>,
    pub comments_count: u64,
    /// `is_shared_to_feed`: whether a reel shows on the profile grid.
    /// `Some(false)` is a trial reel, shown only to non-followers, which
    /// `/me/media` lists like any post (jsmrtn/craftagram issue 100,
    /// 2026-02; pdir/social-feed-bundle PR 186 filters them, 2026-06).
    /// `None` where Instagram leaves the field out: posts other than reels,
    /// and reels from before the field (instagram-api.md §14).
    pub shared_to_feed: Option<bool>,
    /// Ids of album children, in order; empty unless `CarouselAlbum`.
    pub children: Vec<String>,
    /// The album this is a child of.
    pub parent: Option<String>,
    /// Hashtags in the caption, lower-case, without `#`.
    pub hashtags: Vec<String>,
}

impl FakeMedia {
    pub fn permalink(&self) -> String {
        let kind = if self.media_type == MediaType::Video {
            "reel"
        } else {
            "p"
        };
        format!("https://www.instagram.com/{kind}/{}/", self.shortcode)
    }

    pub fn media_product_type(&self) -> &'static str {
        if self.media_type == MediaType::Video {
            "REELS"
        } else {
            "FEED"
        }
    }
}

/// What `FakeGraph::token_status` reports, judged by the fake clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenStatus {
    /// `expires_at` is `DateTime::<Utc>::MAX_UTC` for Page tokens, which never expire.
    Valid {
        expires_at: DateTime<Utc>,
    },
    Expired,
    Invalidated {
        subcode: Option<u32>,
    },
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    InstagramShort,
    InstagramLong,
    FacebookUserShort,
    FacebookUserLong,
    FacebookPage,
    /// A Business Integration System User's token, as "Instagram API with
    /// Unified Login" uses on graph.facebook.com (Meta's webhooks setup
    /// page, 2026-10-20): it names the Instagram account by id, lists no
    /// Pages, and either never expires or lasts 60 days
    /// (`set_token_expires_in_60_days`; Meta's system-users guide).
    SystemUser,
}

impl TokenKind {
    pub(crate) fn is_instagram(self) -> bool {
        matches!(self, TokenKind::InstagramShort | TokenKind::InstagramLong)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Invalidation {
    pub subcode: Option<u32>,
    pub message: String,
}

#[derive(Clone, Debug)]
pub(crate) struct TokenRecord {
    pub kind: TokenKind,
    /// Index into `State::users`.
    pub user: usize,
    pub scopes: Vec<String>,
    /// Issue or last refresh; the 24-hour rule counts from here.
    pub issued_at: DateTime<Utc>,
    /// `None` never expires (Page tokens from long-lived user tokens).
    pub expires_at: Option<DateTime<Utc>>,
    pub invalidated: Option<Invalidation>,
    /// For a Page token: index into `State::pages`.
    pub page: Option<usize>,
}

/// How a known token stands right now.
pub(crate) enum Standing<'a> {
    Live,
    Expired(DateTime<Utc>),
    Invalidated(&'a Invalidation),
}

impl TokenRecord {
    pub(crate) fn standing(&self, now: DateTime<Utc>) -> Standing<'_> {
        match (&self.invalidated, self.expires_at) {
            (_, Some(at)) if at <= now => Standing::Expired(at),
            (Some(invalidation), _) => Standing::Invalidated(invalidation),
            _ => Standing::Live,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialog {
    Instagram,
    Facebook,
}

#[derive(Clone, Debug)]
pub(crate) struct AuthCode {
    pub dialog: Dialog,
    pub user: usize,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub issued_at: DateTime<Utc>,
    pub used: bool,
}

pub(crate) struct PendingFault {
    pub endpoint: String,
    pub fault: Fault,
    pub remaining: usize,
}

/// Who logs in at the next authorization dialog, and whether they agree.
#[derive(Default)]
pub(crate) struct DialogScript {
    pub deny_next: bool,
    pub login_as: Option<usize>,
}

/// Calls per user in a rolling hour.
#[derive(Default)]
pub(crate) struct Usage {
    calls: HashMap<usize, VecDeque<DateTime<Utc>>>,
}

impl Usage {
    /// Records one call and returns the calls in the last hour, this one included.
    pub(crate) fn record(&mut self, user: usize, now: DateTime<Utc>) -> usize {
        let window = self.calls.entry(user).or_default();
        while window
            .front()
            .is_some_and(|at| *at <= now - Duration::hours(1))
        {
            window.pop_front();
        }
        window.push_back(now);
        window.len()
    }

    /// Calls in the hour before `now`, without recording one.
    pub(crate) fn count(&self, user: usize, now: DateTime<Utc>) -> usize {
        self.calls.get(&user).map_or(0, |window| {
            window
                .iter()
                .filter(|at| **at > now - Duration::hours(1))
                .count()
        })
    }

    /// Minutes until enough calls leave the window to be under `budget` again.
    pub(crate) fn minutes_to_regain(&self, user: usize, now: DateTime<Utc>, budget: usize) -> i64 {
        let Some(window) = self.calls.get(&user) else {
            return 0;
        };
        let excess = (window.len() + 1).saturating_sub(budget);
        match excess.checked_sub(1).and_then(|i| window.get(i)) {
            Some(oldest_blocking) => {
                let wait = *oldest_blocking + Duration::hours(1) - now;
                (wait.num_seconds() + 59) / 60
            }
            None => 0,
        }
    }
}

/// A Facebook Page: every seeded user manages one linked to its own
/// Instagram account; `FakeGraph::add_page` adds more.
#[derive(Clone, Debug)]
pub(crate) struct Page {
    pub id: String,
    pub name: String,
    /// Index into `State::users` of the Facebook user who manages it.
    pub manager: usize,
    /// Index into `State::users` of the linked Instagram account.
    pub ig_user: Option<usize>,
    /// Owned through a business portfolio: since Graph v17 `/me/accounts`
    /// lists it only to tokens granted `business_management`.
    pub business_owned: bool,
}

/// Hashtag searches per IG user: tag → first query time (rolling 7 days).
#[derive(Default)]
pub(crate) struct HashtagLog {
    pub ids: HashMap<String, String>,
    pub searched: HashMap<usize, HashMap<String, DateTime<Utc>>>,
}

pub(crate) struct State {
    pub clock: Now,
    pub options: FakeOptions,
    pub users: Vec<User>,
    pub pages: Vec<Page>,
    pub media: HashMap<String, FakeMedia>,
    pub tokens: HashMap<String, TokenRecord>,
    pub codes: HashMap<String, AuthCode>,
    pub issued_codes: Vec<String>,
    /// Requests per endpoint path, on whichever host.
    pub calls: HashMap<String, usize>,
    /// Requests per host and endpoint path.
    pub host_calls: HashMap<(Host, String), usize>,
    pub total_calls: usize,
    /// Requests per Graph API version in the path (`v25.0`).
    pub versions: HashMap<String, usize>,
    pub faults: Vec<PendingFault>,
    pub usage: Usage,
    pub dialog: DialogScript,
    pub hashtags: HashtagLog,
    /// Media whose `media_url` Meta leaves out.
    pub without_media_url: std::collections::HashSet<String>,
    pub without_thumbnail_url: std::collections::HashSet<String>,
    /// Media whose `permalink` Meta leaves out.
    pub without_permalink: std::collections::HashSet<String>,
}

/// A user as stored: the public identity plus profile numbers and media order.
#[derive(Clone, Debug)]
pub(crate) struct User {
    pub public: FakeUser,
    pub name: String,
    pub followers_count: u64,
    pub follows_count: u64,
    pub page_name: String,
    /// Top-level media ids, newest first.
    pub media: Vec<String>,
}

impl State {
    pub(crate) fn new(clock: Now, options: FakeOptions) -> Self {
        State {
            clock,
            options,
            users: Vec::new(),
            pages: Vec::new(),
            media: HashMap::new(),
            tokens: HashMap::new(),
            codes: HashMap::new(),
            issued_codes: Vec::new(),
            calls: HashMap::new(),
            host_calls: HashMap::new(),
            total_calls: 0,
            versions: HashMap::new(),
            faults: Vec::new(),
            usage: Usage::default(),
            dialog: DialogScript::default(),
            hashtags: HashtagLog::default(),
            without_media_url: Default::default(),
            without_thumbnail_url: Default::default(),
            without_permalink: Default::default(),
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub(crate) fn user_index(&self, user: &FakeUser) -> Option<usize> {
        self.users
            .iter()
            .position(|u| u.public.ig_user_id == user.ig_user_id)
    }

    /// A user by any of its ids: IG user id, app-scoped id, Facebook user id.
    pub(crate) fn user_by_id(&self, id: &str) -> Option<usize> {
        self.users.iter().position(|u| {
            u.public.ig_user_id == id || u.public.app_scoped_id == id || u.public.fb_user_id == id
        })
    }

    /// The Pages `token` shows: its own Page for a Page token; for a user
    /// token those its user manages, business-owned ones only with
    /// `business_management`.
    pub(crate) fn visible_pages(&self, token: &str) -> Vec<usize> {
        let Some(record) = self.tokens.get(token) else {
            return Vec::new();
        };
        if let Some(page) = record.page {
            return vec![page];
        }
        if record.kind == TokenKind::SystemUser {
            // Unified Login addresses the Instagram account by its id; how a
            // system user's `/me/accounts` reads is not documented, so it
            // lists nothing here and the agent must not depend on it.
            return Vec::new();
        }
        let business = record.scopes.iter().any(|s| s == "business_management");
        (0..self.pages.len())
            .filter(|&i| {
                let page = &self.pages[i];
                page.manager == record.user && (business || !page.business_owned)
            })
            .collect()
    }

    /// Whether `token` may read Instagram account `ig_user`: its own, or
    /// one linked to a Page it sees.
    pub(crate) fn reaches(&self, token: &str, ig_user: usize) -> bool {
        let Some(record) = self.tokens.get(token) else {
            return false;
        };
        (record.page.is_none() && record.user == ig_user)
            || self
                .visible_pages(token)
                .into_iter()
                .any(|p| self.pages[p].ig_user == Some(ig_user))
    }

    /// A fresh random id of `digits` digits after `prefix`, unused so far.
    pub(crate) fn unique_id(&self, prefix: &str, digits: usize) -> String {
        loop {
            let id = ids::numeric(prefix, digits);
            let taken = self.media.contains_key(&id)
                || self.user_by_id(&id).is_some()
                || self.pages.iter().any(|p| p.id == id);
            if !taken {
                return id;
            }
        }
    }

    pub(crate) fn issue_token(
        &mut self,
        kind: TokenKind,
        user: usize,
        scopes: Vec<String>,
        issued_at: DateTime<Utc>,
    ) -> String {
        let (value, lifetime) = match kind {
            TokenKind::InstagramShort => (ids::instagram_token(), Some(SHORT_LIVED)),
            TokenKind::InstagramLong => (ids::instagram_token(), Some(LONG_LIVED)),
            TokenKind::FacebookUserShort => (ids::facebook_token(), Some(SHORT_LIVED)),
            TokenKind::FacebookUserLong => (ids::facebook_token(), Some(LONG_LIVED)),
            TokenKind::FacebookPage | TokenKind::SystemUser => (ids::facebook_token(), None),
        };
        let record = TokenRecord {
            kind,
            user,
            scopes,
            issued_at,
            expires_at: lifetime.map(|l| issued_at + l),
            invalidated: None,
            page: None,
        };
        self.tokens.insert(value.clone(), record);
        value
    }

    pub(crate) fn token_status(&self, token: &str) -> TokenStatus {
        let Some(record) = self.tokens.get(token) else {
            return TokenStatus::Unknown;
        };
        match record.standing(self.now()) {
            Standing::Expired(_) => TokenStatus::Expired,
            Standing::Invalidated(invalidation) => TokenStatus::Invalidated {
                subcode: invalidation.subcode,
            },
            Standing::Live => TokenStatus::Valid {
                expires_at: record.expires_at.unwrap_or(DateTime::<Utc>::MAX_UTC),
            },
        }
    }

    /// Counts the call and takes the first pending fault that matches it.
    pub(crate) fn record_call(&mut self, host: Host, endpoint: &str) -> Option<Fault> {
        self.total_calls += 1;
        *self.calls.entry(endpoint.to_string()).or_default() += 1;
        *self
            .host_calls
            .entry((host, endpoint.to_string()))
            .or_default() += 1;
        let index = self
            .faults
            .iter()
            .position(|f| f.endpoint == "*" || f.endpoint == endpoint)?;
        let pending = &mut self.faults[index];
        pending.remaining -= 1;
        let fault = pending.fault.clone();
        if pending.remaining == 0 {
            self.faults.remove(index);
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn usage_forgets_calls_older_than_an_hour() {
        let mut usage = Usage::default();
        assert_eq!(usage.record(0, start()), 1);
        assert_eq!(usage.record(0, start() + Duration::minutes(30)), 2);
        assert_eq!(usage.record(1, start() + Duration::minutes(30)), 1);
        assert_eq!(usage.record(0, start() + Duration::minutes(61)), 2);
    }

    #[test]
    fn regaining_access_waits_for_the_oldest_blocking_call() {
        let mut usage = Usage::default();
        usage.record(0, start());
        usage.record(0, start() + Duration::minutes(10));
        let now = start() + Duration::minutes(20);
        assert_eq!(usage.minutes_to_regain(0, now, 2), 40);
        assert_eq!(usage.minutes_to_regain(0, now, 3), 0);
    }
}
