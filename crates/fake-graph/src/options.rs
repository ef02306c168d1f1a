//! The switches that make the fake behave like one or another reading of
//! Meta's (partly undocumented) behaviour. Every UNVERIFIED item of
//! instagram-api.md §11 that the fake touches is an option here.

/// How the fake answers a refresh of a long-lived token younger than 24 h.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YoungRefresh {
    /// 400, `OAuthException`, code 100, a message naming the 24-hour rule.
    Error,
    /// 200 with the same token and its remaining `expires_in`.
    NoOp,
    /// 400, `OAuthException`, code 190, as if the token were invalid: Meta
    /// does not document this answer (instagram-api.md §11.3), and a 190
    /// here must not make a live token look dead.
    InvalidToken,
}

/// The body shape of `POST api.instagram.com/oauth/access_token`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeExchangeShape {
    /// `{"access_token","user_id":<number>,"permissions":[…]}` (what live clients parse).
    Flat,
    /// `{"data":[{"access_token","user_id":"…","permissions":"a,b"}]}` (the documented sample).
    Wrapped,
    /// `{"access_token","user_id":<number>}` (the retired Basic Display API).
    BasicDisplay,
}

/// The one app the fake knows, with both its Instagram-Login and its
/// Facebook-Login credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeApp {
    pub ig_app_id: String,
    pub ig_app_secret: String,
    /// Exact-match list, as in the app dashboard.
    pub redirect_uris: Vec<String>,
    pub fb_app_id: String,
    pub fb_app_secret: String,
    /// The app's one Facebook Login for Business configuration: its id (sent
    /// as `config_id` instead of `scope`) and the permissions it grants.
    pub fb_login_config: (String, Vec<String>),
}

impl Default for FakeApp {
    fn default() -> Self {
        FakeApp {
            ig_app_id: "990602627938098".into(),
            ig_app_secret: "fake-ig-app-secret-0123456789abcdef".into(),
            redirect_uris: vec!["http://127.0.0.1/connect/callback".into()],
            fb_app_id: "1234567890123456".into(),
            fb_app_secret: "fake-fb-app-secret-0123456789abcdef".into(),
            fb_login_config: (
                "771122334455667".into(),
                [
                    "instagram_basic",
                    "pages_show_list",
                    "pages_read_engagement",
                    "business_management",
                ]
                .map(String::from)
                .to_vec(),
            ),
        }
    }
}

/// Behaviour switches; `FakeGraph::set_options` changes them while running.
#[derive(Clone, Debug)]
pub struct FakeOptions {
    /// Refresh returns a new token string (default) or the same string with a new expiry.
    pub rotate_on_refresh: bool,
    /// A rotated-away token dies at once (190/467) instead of living to its own expiry.
    pub invalidate_old_on_refresh: bool,
    pub young_refresh: YoungRefresh,
    /// Emit `X-App-Usage` (with graph.instagram.com's own keys there) and,
    /// on data calls, `X-Business-Use-Case-Usage`.
    pub usage_headers: bool,
    /// Whether graph.instagram.com also sends `X-Business-Use-Case-Usage`:
    /// UNVERIFIED (instagram-api.md §6.2); only its `X-App-Usage` has been
    /// seen (restfb/restfb#1571).
    pub instagram_business_usage_header: bool,
    /// Calls per user (token subject) in a rolling hour before throttling.
    pub hourly_call_budget: u32,
    /// Error code when graph.instagram.com throttles (80002 = Instagram BUC limit).
    pub instagram_throttle_code: i64,
    /// Error code when graph.facebook.com throttles (17 = user request limit).
    pub facebook_throttle_code: i64,
    /// Default page size of media edges (real maximum page is 100).
    pub page_size: usize,
    /// Days from "now" to the `oe=` expiry of CDN media URLs.
    pub media_url_expiry_days: i64,
    /// When set, `media_url`/`thumbnail_url` point at `{media_base_url}/{id}.jpg`
    /// instead of a cdninstagram.com look-alike (see `FakeGraph::cdn_url`).
    pub media_base_url: Option<String>,
    pub code_exchange_shape: CodeExchangeShape,
    /// Distinct hashtags one IG user may query in a rolling 7 days.
    pub hashtag_weekly_limit: usize,
    /// The app's "Require App Secret" switch (Meta recommends it): every
    /// graph.facebook.com call with a user or Page token must carry
    /// `appsecret_proof`. A wrong proof is refused either way.
    pub require_app_secret: bool,
    /// The Meta app is in Development mode and the account has no accepted
    /// Instagram Tester role: graph.instagram.com answers every GET with
    /// IGApiException 100 "Unsupported request - method type: get".
    pub account_not_permitted: bool,
    /// An Instagram without the `alt_text` read field: asking for it on
    /// media answers 400, code 100, "(#100) Tried accessing nonexisting
    /// field (alt_text) on node type (IGMedia)", as Meta answers any field a
    /// node lacks (instagram-api.md §5; the field left Meta's SDK schemas
    /// once before, 2021-01, facebook-python-business-sdk history).
    pub without_alt_text_field: bool,
    pub app: FakeApp,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            rotate_on_refresh: true,
            invalidate_old_on_refresh: false,
            young_refresh: YoungRefresh::Error,
            usage_headers: true,
            instagram_business_usage_header: true,
            hourly_call_budget: 200,
            instagram_throttle_code: 80002,
            facebook_throttle_code: 17,
            page_size: 25,
            media_url_expiry_days: 3,
            without_alt_text_field: false,
            media_base_url: None,
            code_exchange_shape: CodeExchangeShape::Flat,
            hashtag_weekly_limit: 30,
            require_app_secret: false,
            account_not_permitted: false,
            app: FakeApp::default(),
        }
    }
}
