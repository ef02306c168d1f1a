//! A fake of Meta's Graph API that tests, the `demo` command and the
//! benchmarks run the real HTTP client against.
//!
//! One server on a random loopback port emulates several hosts under path
//! prefixes, so each upstream base URL is `{base}/{host}`:
//!
//! | prefix | what |
//! |---|---|
//! | `/graph.instagram.com` | Instagram Login Graph: `refresh_access_token`, `access_token`, `/me`, media, children (`instagram.rs`) |
//! | `/api.instagram.com` | `POST /oauth/access_token` code exchange (`oauth.rs`) |
//! | `/www.instagram.com` | `GET /oauth/authorize` window (`oauth.rs`) |
//! | `/graph.facebook.com` | Facebook Login Graph: token exchanges, `debug_token`, accounts, media, hashtags (`facebook.rs`) |
//! | `/www.facebook.com` | `GET /{v}/dialog/oauth` window (`facebook.rs`) |
//!
//! The CDN that serves media images (`cdn.rs`) runs on a listener of its
//! own, started with the Graph API, so that a test can stop it alone.
//!
//! Every Graph path also works behind a `/vNN.N` prefix. Time comes only from
//! the injected clock ([`Now`]), so a test moves 61 days with one `advance`.
//! Behaviour that Meta leaves undocumented is switchable in [`FakeOptions`].
//!
//! Where Meta is silent and no option exists, the fake chooses:
//! * refreshing a short-lived IG token, or exchanging a long-lived one: 400, code 100;
//! * `ig_exchange_token` with a wrong secret: 400, code 101 "Error validating client secret.";
//! * the 31st distinct hashtag in 7 days: 400, code 24, subcode 2207034;
//! * the Facebook code exchange returns a one-hour user token (`expires_in` 3600);
//! * throttled calls still count, so calling on while blocked extends the block.

pub mod cdn;
mod clock;
mod error;
mod facebook;
mod faults;
mod fields;
mod graph;
mod ids;
mod instagram;
mod model;
mod oauth;
mod options;
mod paging;
mod render;
mod reply;
mod request;
mod seed;
mod server;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::MutexGuard;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use cdn::{CdnImage, FakeCdn};
pub use faults::Fault;
pub use model::{FakeMedia, FakeUser, MediaType, TokenStatus};
pub use options::{CodeExchangeShape, FakeApp, FakeOptions, YoungRefresh};

pub use clock::{ManualClock, Now};
use model::{Dialog, Invalidation, PendingFault, State, TokenKind};
use request::Host;
use server::Shared;

/// How long `shutdown` lets in-flight requests (say, a `Fault::Delay`) finish.
const SHUTDOWN_GRACE: StdDuration = StdDuration::from_secs(2);

/// A running fake; stops on `shutdown` or when dropped.
pub struct FakeGraph {
    shared: Arc<Shared>,
    cdn: FakeCdn,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl FakeGraph {
    /// Starts with default options on `127.0.0.1:0`.
    pub async fn start(clock: impl Into<Now>) -> FakeGraph {
        FakeGraph::start_with(clock, FakeOptions::default()).await
    }

    /// Starts on `127.0.0.1:0`. Panics only if the loopback cannot be bound.
    pub async fn start_with(clock: impl Into<Now>, options: FakeOptions) -> FakeGraph {
        let clock = clock.into();
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("the fake Graph API binds a loopback port");
        let addr: SocketAddr = listener
            .local_addr()
            .expect("a bound listener has a local address");
        let cdn = FakeCdn::start(clock.clone()).await;
        let shared = Arc::new(Shared::new(
            State::new(clock, options),
            format!("http://{addr}"),
        ));
        let (stop, task) = server::spawn(server::routes(shared.clone()), listener);
        tracing::debug!(%addr, "fake Graph API listening");
        FakeGraph {
            shared,
            cdn,
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.lock()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    fn host_url(&self, host: Host) -> String {
        format!("{}/{}", self.shared.base_url, host.prefix())
    }

    pub fn instagram_graph_url(&self) -> String {
        self.host_url(Host::InstagramGraph)
    }

    pub fn instagram_oauth_url(&self) -> String {
        self.host_url(Host::InstagramApi)
    }

    pub fn instagram_authorize_url(&self) -> String {
        format!("{}/oauth/authorize", self.host_url(Host::InstagramWww))
    }

    pub fn facebook_graph_url(&self) -> String {
        self.host_url(Host::FacebookGraph)
    }

    pub fn facebook_dialog_url(&self) -> String {
        format!("{}/v25.0/dialog/oauth", self.host_url(Host::FacebookWww))
    }

    /// Where generated images live; set `FakeOptions::media_base_url` to this
    /// to make `media_url`s point at the fake CDN.
    pub fn cdn_url(&self) -> String {
        self.cdn.base_url()
    }

    /// The fake CDN: its host, its answers, its request count, its stop.
    pub fn cdn(&self) -> &FakeCdn {
        &self.cdn
    }

    pub fn options(&self) -> FakeOptions {
        self.state().options.clone()
    }

    pub fn set_options(&self, f: impl FnOnce(&mut FakeOptions)) {
        f(&mut self.state().options);
    }

    /// Seeds an Instagram professional account (with its Facebook user and
    /// Page) and `media_count` posts: images, videos, 2–3 item albums, some
    /// without caption, newest an hour before now.
    pub fn add_instagram_user(&self, username: &str, media_count: usize) -> FakeUser {
        seed::add_user(&mut self.state(), username, media_count)
    }

    /// Another Facebook Page that `manager` manages, linked to `linked`'s
    /// Instagram account (or to none); `business_owned` Pages belong to a
    /// business portfolio. Returns the Page id.
    pub fn add_page(
        &self,
        manager: &FakeUser,
        linked: Option<&FakeUser>,
        business_owned: bool,
    ) -> String {
        let mut state = self.state();
        let manager = user_index(&state, manager);
        let ig_user = linked.map(|u| user_index(&state, u));
        let id = state.unique_id("1", 14);
        let name = format!("Page {}", state.pages.len() + 1);
        state.pages.push(model::Page {
            id: id.clone(),
            name,
            manager,
            ig_user,
            business_owned,
        });
        id
    }

    /// Moves `user`'s own Page into a business portfolio: since Graph v17
    /// `/me/accounts` lists it only to tokens granted `business_management`.
    pub fn make_page_business_owned(&self, user: &FakeUser) {
        let mut state = self.state();
        if let Some(page) = state.pages.iter_mut().find(|p| p.id == user.page_id) {
            page.business_owned = true;
        }
    }

    /// A Page access token for Page `page_id` (one of `manager`'s), as
    /// `/me/accounts` hands it to a long-lived user token: it never expires.
    pub fn issue_page_token(&self, manager: &FakeUser, page_id: &str) -> String {
        let mut state = self.state();
        let user = user_index(&state, manager);
        let page = state
            .pages
            .iter()
            .position(|p| p.id == page_id && p.manager == user)
            .expect("a Page of this manager");
        let now = state.now();
        let scopes = default_scopes(TokenKind::FacebookPage);
        let token = state.issue_token(TokenKind::FacebookPage, user, scopes, now);
        if let Some(record) = state.tokens.get_mut(&token) {
            record.page = Some(page);
        }
        token
    }

    /// Publishes a new post at the fake's now; it becomes the newest.
    pub fn add_post(
        &self,
        user: &FakeUser,
        media_type: MediaType,
        caption: Option<&str>,
    ) -> FakeMedia {
        let mut state = self.state();
        let index = user_index(&state, user);
        seed::add_post_now(&mut state, index, media_type, caption, false)
    }

    /// Publishes a trial reel at the fake's now: a video Instagram shows only
    /// to non-followers, listed by `/me/media` like any post with
    /// `is_shared_to_feed: false` (see `FakeMedia::shared_to_feed`).
    pub fn add_trial_reel(&self, user: &FakeUser, caption: Option<&str>) -> FakeMedia {
        let mut state = self.state();
        let index = user_index(&state, user);
        seed::add_post_now(&mut state, index, MediaType::Video, caption, true)
    }

    /// Makes Instagram leave `is_shared_to_feed` out of a post, as it does
    /// for reels from before the field.
    pub fn without_shared_to_feed(&self, media_id: &str) {
        if let Some(media) = self.state().media.get_mut(media_id) {
            media.shared_to_feed = None;
        }
    }

    /// Deletes a post, as its owner does on Instagram: it leaves their media.
    pub fn delete_post(&self, user: &FakeUser, media_id: &str) {
        let mut state = self.state();
        let index = user_index(&state, user);
        state.users[index].media.retain(|id| id != media_id);
    }

    /// Meta leaves out `media_url` for a video or reel with copyrighted or
    /// licensed audio, and `permalink` for copyrighted or flagged media
    /// (IG Media and Business Discovery references, instagram-api.md §1.5,
    /// §2.5); album children can lack `media_url` the same way.
    pub fn withhold(&self, media_id: &str, media_url: bool, permalink: bool) {
        let mut state = self.state();
        if media_url {
            state.without_media_url.insert(media_id.to_string());
        }
        if permalink {
            state.without_permalink.insert(media_id.to_string());
        }
    }

    /// Leaves `thumbnail_url` out of a video as well: Meta documents only
    /// `media_url`'s omission (IG Media reference), so this is not a
    /// behaviour of Meta's but a test's post with no picture at all, which
    /// a site must still show as something other than a blank box.
    pub fn withhold_thumbnail(&self, media_id: &str) {
        self.state()
            .without_thumbnail_url
            .insert(media_id.to_string());
    }

    /// The user's top-level media, newest first, as the fake serves them.
    pub fn media_of(&self, user: &FakeUser) -> Vec<FakeMedia> {
        let state = self.state();
        let index = user_index(&state, user);
        state.users[index]
            .media
            .iter()
            .filter_map(|id| state.media.get(id).cloned())
            .collect()
    }

    /// Any media object, album children included.
    pub fn media(&self, id: &str) -> Option<FakeMedia> {
        self.state().media.get(id).cloned()
    }

    /// A long-lived Instagram token issued at `issued_at`; expires 60 days later.
    pub fn issue_long_lived_token(&self, user: &FakeUser, issued_at: DateTime<Utc>) -> String {
        self.issue(user, TokenKind::InstagramLong, issued_at)
    }

    /// A short-lived Instagram token issued now; expires in one hour.
    pub fn issue_short_lived_token(&self, user: &FakeUser) -> String {
        let now = self.state().now();
        self.issue(user, TokenKind::InstagramShort, now)
    }

    /// A Facebook user token (`EAA…`) issued at `issued_at`: 60 days if
    /// `long_lived`, else one hour.
    pub fn issue_facebook_user_token(
        &self,
        user: &FakeUser,
        issued_at: DateTime<Utc>,
        long_lived: bool,
    ) -> String {
        let kind = if long_lived {
            TokenKind::FacebookUserLong
        } else {
            TokenKind::FacebookUserShort
        };
        self.issue(user, kind, issued_at)
    }

    /// A system user's token for `user`'s Instagram account, as Instagram
    /// API with Unified Login hands out: never expiring, or valid 60 days
    /// from `issued_at` when `expires_in_60_days` (Meta's system-users guide:
    /// "Some businesses must use expiring tokens").
    pub fn issue_system_user_token(
        &self,
        user: &FakeUser,
        issued_at: DateTime<Utc>,
        expires_in_60_days: bool,
    ) -> String {
        let token = self.issue(user, TokenKind::SystemUser, issued_at);
        if expires_in_60_days && let Some(record) = self.state().tokens.get_mut(&token) {
            record.expires_at = Some(issued_at + chrono::Duration::days(60));
        }
        token
    }

    fn issue(&self, user: &FakeUser, kind: TokenKind, issued_at: DateTime<Utc>) -> String {
        let mut state = self.state();
        let index = user_index(&state, user);
        let scopes = default_scopes(kind);
        state.issue_token(kind, index, scopes, issued_at)
    }

    pub fn token_status(&self, token: &str) -> TokenStatus {
        self.state().token_status(token)
    }

    /// Kills a token the way a password change (460) or logout (467) does;
    /// later calls get 190 with this subcode and message.
    pub fn invalidate_token(&self, token: &str, subcode: Option<u32>, message: &str) {
        if let Some(record) = self.state().tokens.get_mut(token) {
            record.invalidated = Some(Invalidation {
                subcode,
                message: message.to_string(),
            });
        }
    }

    /// Requests whose path, after the host prefix and optional version,
    /// equals `endpoint` (e.g. `/refresh_access_token`, `/me/media`), on any host.
    pub fn calls(&self, endpoint: &str) -> usize {
        self.state().calls.get(endpoint).copied().unwrap_or(0)
    }

    /// Like `calls`, on one host only: `calls_on("api.instagram.com", "/oauth/access_token")`.
    pub fn calls_on(&self, host: &str, endpoint: &str) -> usize {
        let Some(host) = Host::from_prefix(host) else {
            return 0;
        };
        let state = self.state();
        state
            .host_calls
            .get(&(host, endpoint.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Requests by the Graph API version in their path, e.g. `{"v25.0": 3}`;
    /// unversioned requests are not counted.
    pub fn calls_by_version(&self) -> std::collections::BTreeMap<String, usize> {
        self.state().versions.clone().into_iter().collect()
    }

    pub fn total_calls(&self) -> usize {
        self.state().total_calls
    }

    /// The next `times` requests to `endpoint` (`"*"` for any) get `fault`.
    pub fn inject(&self, endpoint: &str, fault: Fault, times: usize) {
        if times == 0 {
            return;
        }
        self.state().faults.push(PendingFault {
            endpoint: endpoint.to_string(),
            fault,
            remaining: times,
        });
    }

    /// The next authorization window (Instagram or Facebook) is refused by the user.
    pub fn deny_next_authorize(&self) {
        self.state().dialog.deny_next = true;
    }

    /// Who logs in at the authorization windows (default: the first user added).
    pub fn authorize_as(&self, user: &FakeUser) {
        let mut state = self.state();
        let index = user_index(&state, user);
        state.dialog.login_as = Some(index);
    }

    /// Every code the authorization windows handed out, oldest first.
    pub fn issued_codes(&self) -> Vec<String> {
        self.state().issued_codes.clone()
    }

    /// An Instagram Login code as if `user` had just agreed in the window.
    pub fn issue_auth_code(&self, user: &FakeUser, redirect_uri: &str, scopes: &[&str]) -> String {
        let mut state = self.state();
        let index = user_index(&state, user);
        let scopes = scopes.iter().map(|s| (*s).to_string()).collect();
        oauth::issue_code(&mut state, Dialog::Instagram, index, redirect_uri, scopes)
    }

    /// Stops accepting, lets in-flight requests finish (briefly), and returns.
    pub async fn shutdown(mut self) {
        self.cdn.stop().await;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

impl Drop for FakeGraph {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Users come from `add_instagram_user` on this same fake.
fn user_index(state: &State, user: &FakeUser) -> usize {
    state
        .user_index(user)
        .expect("the FakeUser was created by this FakeGraph")
}

fn default_scopes(kind: TokenKind) -> Vec<String> {
    let scopes: &[&str] = if kind.is_instagram() {
        &["instagram_business_basic"]
    } else {
        &["instagram_basic", "pages_show_list", "public_profile"]
    };
    scopes.iter().map(|s| (*s).to_string()).collect()
}
