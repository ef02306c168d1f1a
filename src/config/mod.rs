//! Configuration, read once from the environment at start-up.
//!
//! Every variable is read as text and parsed here, so that a bad value stops
//! the agent with one line naming the variable and what is wrong with it.
//! Nothing else in the crate reads the environment.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

mod smtp;

pub use smtp::{EmailConfig, SmtpConfig, SmtpSecurity};

use crate::cache::CacheConfig;
use crate::domain::CdnHosts;
use crate::domain::allowlist::AllowedDomains;
use crate::domain::cdn_hosts::DEFAULT_CDN_HOSTS;
use crate::domain::jsident::JsIdentifier;

/// A value that must never reach a log line, an error or a page.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frequency {
    Daily,
    Weekly,
    Monthly,
}

impl Frequency {
    pub fn period(self) -> chrono::Duration {
        match self {
            Frequency::Daily => chrono::Duration::days(1),
            Frequency::Weekly => chrono::Duration::days(7),
            Frequency::Monthly => chrono::Duration::days(30),
        }
    }
}

/// When the refresher renews a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshMode {
    /// Every period, counted from the last successful refresh.
    Cron(Frequency),
    /// Shortly before the token expires.
    Scheduled,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(Secret),
}

impl DatabaseUrl {
    pub fn describe(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("SQLite at {}", path.display()),
            DatabaseUrl::Postgres(_) => "PostgreSQL".to_string(),
        }
    }
}

/// Where upstream calls go, and how: the real hosts unless overridden for
/// tests or the demo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// INSTAGRAM_GRAPH_URL, default <https://graph.instagram.com>.
    pub instagram_graph_url: String,
    /// INSTAGRAM_OAUTH_URL, default <https://api.instagram.com>.
    pub instagram_oauth_url: String,
    /// INSTAGRAM_AUTHORIZE_URL: the Instagram Login window.
    pub instagram_authorize_url: String,
    /// FACEBOOK_GRAPH_URL, default <https://graph.facebook.com>.
    pub facebook_graph_url: String,
    /// FACEBOOK_DIALOG_URL: the Facebook Login window.
    pub facebook_dialog_url: String,
    /// GRAPH_API_VERSION: used by every versioned call (graph.facebook.com,
    /// media reads, the Facebook Login window); the token endpoints of
    /// graph.instagram.com are unversioned.
    pub graph_version: String,
    /// FACEBOOK_APP_SECRET, when set: every graph.facebook.com call carries
    /// `appsecret_proof`, which Meta requires with "Require App Secret" on.
    pub facebook_app_secret: Option<Secret>,
    /// `token-agent/VERSION (+PUBLIC URL)`, sent with every upstream call.
    pub user_agent: String,
    /// Upper bound on one upstream call (UPSTREAM_TIMEOUT_MS).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// A larger answer is an error; bodies are never buffered past it.
    pub max_body_bytes: usize,
}

/// Meta's Graph API version for every versioned call (available until
/// 2028-07-29 per Meta's changelog).
pub const DEFAULT_GRAPH_VERSION: &str = "v25.0";

/// The Facebook Login window of a Graph API version.
fn facebook_dialog_url(version: &str) -> String {
    format!("https://www.facebook.com/{version}/dialog/oauth")
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            instagram_graph_url: "https://graph.instagram.com".into(),
            instagram_oauth_url: "https://api.instagram.com".into(),
            instagram_authorize_url: "https://www.instagram.com/oauth/authorize".into(),
            facebook_graph_url: "https://graph.facebook.com".into(),
            facebook_dialog_url: facebook_dialog_url(DEFAULT_GRAPH_VERSION),
            graph_version: DEFAULT_GRAPH_VERSION.into(),
            facebook_app_secret: None,
            user_agent: concat!("token-agent/", env!("CARGO_PKG_VERSION")).into(),
            timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(5),
            max_body_bytes: 2 * 1024 * 1024,
        }
    }
}

/// How the HTTP server bounds its clients (see `http/limits.rs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// HTTP_HEADER_TIMEOUT_SECONDS: from a request's first byte to its last
    /// header line.
    pub header_timeout: Duration,
    /// HTTP_IDLE_TIMEOUT_SECONDS: a kept-alive connection between requests.
    pub idle_timeout: Duration,
    /// HTTP_MAX_HEADER_BYTES: a larger request head is answered 431.
    pub max_header_bytes: usize,
    /// HTTP_MAX_CONNECTIONS: more are answered 503 and closed.
    pub max_connections: usize,
    /// How often the deadlines are checked; tests make it short.
    pub sweep_every: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            header_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(75),
            max_header_bytes: 16 * 1024,
            max_connections: 512,
            sweep_every: Duration::from_secs(1),
        }
    }
}

#[derive(Clone, Debug)]
pub struct AppCredentials {
    pub id: String,
    pub secret: Secret,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub port: u16,
    /// The HTTP server's timeouts and bounds.
    pub server: ServerConfig,
    pub database: DatabaseUrl,
    /// MEMCACHIER_SERVERS or MEMCACHE_SERVERS and MemCachier's credentials;
    /// no servers: the in-process cache only.
    pub cache: CacheConfig,
    pub starting_token: Option<Secret>,
    /// `None` while ALLOWED_DOMAINS is unset: no token is served until it is.
    pub allowed_domains: Option<AllowedDomains>,
    /// HASHTAGS: the tags the hashtag URLs may look up (more can be approved
    /// on the admin page); any other tag is a 404 that costs no budget.
    pub hashtags: Vec<String>,
    /// Who strangers are, and what they may see and spend.
    pub guard: GuardConfig,
    pub refresh_mode: RefreshMode,
    pub js_constant_name: JsIdentifier,
    pub hide_help_pages: bool,
    /// APP_URL: the public URL, when the owner set it. Requests then use it
    /// for every link they make; without it they use their own URL.
    pub app_url: Option<Url>,
    /// The public URL the platform tells (HEROKU_APP_DEFAULT_DOMAIN_NAME,
    /// RENDER_EXTERNAL_URL or FLY_APP_NAME), and that variable's name: for
    /// links made outside a request when APP_URL is unset.
    pub platform_url: Option<(Url, &'static str)>,
    /// APP_NAME was set: accepted from older installs, never used for URLs
    /// (Heroku apps made since 2023 do not live at APP_NAME.herokuapp.com).
    pub app_name_ignored: bool,
    pub admin_password: Option<Secret>,
    pub webhook_secret: Option<Secret>,
    pub instagram_app: Option<AppCredentials>,
    pub facebook_app: Option<AppCredentials>,
    /// FACEBOOK_CONFIG_ID: a Facebook Login for Business configuration,
    /// sent as `config_id` instead of `scope`.
    pub facebook_config_id: Option<String>,
    pub token_encryption_key: Option<Secret>,
    pub feed_cache_ttl: Duration,
    pub feed_stale_ttl: Duration,
    /// The agent's own copies of the newest posts' images.
    pub mirror: MirrorConfig,
    /// NOTIFY_EMAIL through SMTP_URL.
    pub email: Option<EmailConfig>,
    pub notify_webhook_url: Option<Url>,
    pub allow_empty_referer: bool,
    pub upstream: UpstreamConfig,
    /// How often the refresher looks for due work; REFRESH_CHECK_SECONDS.
    pub refresh_check_interval: Duration,
    /// The least time between two refresh runs that requests set off.
    pub refresh_wake_gap: Duration,
    /// WORKER_THREADS: the runtime's threads, which serve requests and run
    /// the refresher. Read again, alone, before the runtime starts
    /// ([`worker_threads_from_env`]).
    pub worker_threads: usize,
}

/// WORKER_THREADS when unset. Not the number of cores: on Heroku `nproc`
/// counts the host's cores, not the dyno's share of them. Two, because on
/// two cores a bare hyper server answered 1.26-1.36 times nginx's requests
/// with two threads and 1.09 times with one; `bash bench/run.sh workers`
/// measures the agent with one and with two.
pub const DEFAULT_WORKER_THREADS: usize = 2;

/// WORKER_THREADS from the process environment, for building the runtime
/// before the rest of the configuration is read.
pub fn worker_threads_from_env() -> Result<usize, ConfigError> {
    parse_worker_threads(std::env::var("WORKER_THREADS").ok())
}

fn parse_worker_threads(raw: Option<String>) -> Result<usize, ConfigError> {
    let threads = parse_number("WORKER_THREADS", raw, DEFAULT_WORKER_THREADS as u64)?;
    if (1..=64).contains(&threads) {
        Ok(threads as usize)
    } else {
        Err(bad(
            "WORKER_THREADS",
            format!("must be from 1 to 64, got {threads}"),
        ))
    }
}

/// The rules for requests from anyone: which proxies to believe about the
/// client's address, how many feed cache misses one client may cause, and
/// how failed sign-ins are slowed.
#[derive(Clone, Debug)]
pub struct GuardConfig {
    /// TRUST_PROXY (on a Heroku dyno, the router by default).
    pub trust_proxy: crate::domain::TrustProxy,
    /// FEED_MISSES_PER_MINUTE: cache misses (upstream calls) one client
    /// address may cause per minute; 0 for no bound.
    pub feed_misses_per_minute: u32,
    /// ADMIN_FAILURE_DELAY_MS: how long a failed sign-in's answer is held;
    /// each further failure from the client doubles it (up to 128 times).
    pub admin_failure_delay: Duration,
    /// METRICS_TOKEN: `/metrics` answers a request bearing it, as well as
    /// the signed-in admin.
    pub metrics_token: Option<Secret>,
    /// PUBLIC_STATUS: `/status` shows strangers a summary (how many
    /// accounts, whether all is well); the details are the admin's alone.
    pub public_status: bool,
}

/// What the image mirror keeps, and where it may download from (see
/// `mirror/`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorConfig {
    /// MIRROR_POSTS: how many of each account's newest posts have their
    /// images copied; 0 turns the mirror off.
    pub posts: usize,
    /// MIRROR_MAX_MB, in bytes: all copies together; the oldest posts go first.
    pub max_bytes: u64,
    /// MEDIA_CDN_HOSTS.
    pub cdn_hosts: CdnHosts,
    /// A larger download is refused (Instagram's largest images, 1440
    /// pixels wide, weigh well under 2 MB).
    pub max_download_bytes: usize,
    /// An image with more pixels is refused before it is decoded (twice
    /// Instagram's largest, 1440×1800).
    pub max_pixels: u64,
    /// Downloads at a time (they are decoded one at a time).
    pub concurrency: usize,
    /// One download's deadline, connecting included: longer than a Graph
    /// call's, as an image weighs a hundred times a page of JSON.
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

/// MIRROR_POSTS when unset: a grid of 24 is what most sites show.
pub const DEFAULT_MIRROR_POSTS: usize = 24;
/// The most MIRROR_POSTS may be: the mirror reads the first upstream page
/// only, which holds `feed::UPSTREAM_PAGE` items (`app.rs` checks they agree).
pub const MAX_MIRROR_POSTS: usize = 50;
/// MIRROR_MAX_MB when unset: a small share of a free Postgres plan.
pub const DEFAULT_MIRROR_MAX_MB: u64 = 100;

impl Default for MirrorConfig {
    fn default() -> Self {
        MirrorConfig {
            posts: DEFAULT_MIRROR_POSTS,
            max_bytes: DEFAULT_MIRROR_MAX_MB * 1024 * 1024,
            cdn_hosts: CdnHosts::parse(DEFAULT_CDN_HOSTS).expect("the default list parses"),
            max_download_bytes: 8 * 1024 * 1024,
            max_pixels: 2 * 1440 * 1800,
            concurrency: 2,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

fn parse_mirror(
    posts: Option<String>,
    max_mb: Option<String>,
    hosts: Option<String>,
) -> Result<MirrorConfig, ConfigError> {
    let defaults = MirrorConfig::default();
    let most = MAX_MIRROR_POSTS as u64;
    let posts = parse_number("MIRROR_POSTS", posts, DEFAULT_MIRROR_POSTS as u64)?;
    if posts > most {
        return Err(bad(
            "MIRROR_POSTS",
            format!("must be from 0 to {most} (one upstream page), got {posts}"),
        ));
    }
    let max_mb = parse_number("MIRROR_MAX_MB", max_mb, DEFAULT_MIRROR_MAX_MB)?;
    if !(1..=1024 * 1024).contains(&max_mb) {
        return Err(bad(
            "MIRROR_MAX_MB",
            format!("must be from 1 to 1048576 megabytes, got {max_mb}"),
        ));
    }
    let cdn_hosts = match present(hosts) {
        None => defaults.cdn_hosts.clone(),
        Some(raw) => CdnHosts::parse(&raw).map_err(|e| bad("MEDIA_CDN_HOSTS", e))?,
    };
    Ok(MirrorConfig {
        posts: posts as usize,
        max_bytes: max_mb * 1024 * 1024,
        cdn_hosts,
        ..defaults
    })
}

/// One bad variable: its name and what is wrong, never its secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var} {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

fn bad(var: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        problem: problem.into(),
    }
}

/// The environment as text. Empty values count as unset, as Heroku's
/// dashboard leaves them.
#[derive(Deserialize, Default)]
struct RawEnv {
    port: Option<String>,
    database_url: Option<String>,
    memcachier_servers: Option<String>,
    memcachier_username: Option<String>,
    memcachier_password: Option<String>,
    memcache_servers: Option<String>,
    starting_token: Option<String>,
    allowed_domains: Option<String>,
    hashtags: Option<String>,
    trust_proxy: Option<String>,
    dyno: Option<String>,
    feed_misses_per_minute: Option<String>,
    admin_failure_delay_ms: Option<String>,
    metrics_token: Option<String>,
    public_status: Option<String>,
    refresh_mode: Option<String>,
    refresh_frequency: Option<String>,
    js_constant_name: Option<String>,
    hide_help_pages: Option<String>,
    app_url: Option<String>,
    app_name: Option<String>,
    heroku_app_default_domain_name: Option<String>,
    render_external_url: Option<String>,
    fly_app_name: Option<String>,
    admin_password: Option<String>,
    webhook_secret: Option<String>,
    instagram_app_id: Option<String>,
    instagram_app_secret: Option<String>,
    facebook_app_id: Option<String>,
    facebook_app_secret: Option<String>,
    facebook_config_id: Option<String>,
    graph_api_version: Option<String>,
    token_encryption_key: Option<String>,
    feed_cache_ttl: Option<String>,
    feed_stale_ttl: Option<String>,
    mirror_posts: Option<String>,
    mirror_max_mb: Option<String>,
    media_cdn_hosts: Option<String>,
    notify_email: Option<String>,
    smtp_url: Option<String>,
    notify_webhook_url: Option<String>,
    allow_empty_referer: Option<String>,
    instagram_graph_url: Option<String>,
    instagram_oauth_url: Option<String>,
    instagram_authorize_url: Option<String>,
    facebook_graph_url: Option<String>,
    facebook_dialog_url: Option<String>,
    upstream_timeout_ms: Option<String>,
    refresh_check_seconds: Option<String>,
    http_header_timeout_seconds: Option<String>,
    http_idle_timeout_seconds: Option<String>,
    http_max_header_bytes: Option<String>,
    http_max_connections: Option<String>,
    worker_threads: Option<String>,
}

fn present(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_vars(std::env::vars())
    }

    /// Reads the given variables, as if they were the environment.
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars.into_iter().collect();
        let raw: RawEnv = envy::from_iter(vars).map_err(|e| bad("environment", e.to_string()))?;
        Config::parse(raw)
    }

    fn parse(raw: RawEnv) -> Result<Config, ConfigError> {
        let port = match present(raw.port) {
            None => 3000,
            Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
                bad(
                    "PORT",
                    format!("must be a port number from 1 to 65535, got {p:?}"),
                )
            })?,
        };
        let database = parse_database_url(present(raw.database_url))?;
        let server = parse_server(
            raw.http_header_timeout_seconds,
            raw.http_idle_timeout_seconds,
            raw.http_max_header_bytes,
            raw.http_max_connections,
        )?;

        let (memcache_servers, memcache_var) = match (
            present(raw.memcachier_servers),
            present(raw.memcache_servers),
        ) {
            (Some(s), _) => (s, "MEMCACHIER_SERVERS"),
            (None, Some(s)) => (s, "MEMCACHE_SERVERS"),
            (None, None) => (String::new(), "MEMCACHE_SERVERS"),
        };
        let cache = CacheConfig {
            servers: parse_servers(memcache_var, &memcache_servers)?,
            username: present(raw.memcachier_username),
            password: present(raw.memcachier_password),
            ..CacheConfig::default()
        };
        cache.check().map_err(|e| {
            let var = match &e {
                crate::cache::CacheError::UnsendableCredential { var } => var,
                crate::cache::CacheError::HalfCredentials => "MEMCACHIER_PASSWORD",
                _ => memcache_var,
            };
            bad(var, e.to_string())
        })?;

        let allowed_domains = present(raw.allowed_domains)
            .map(|raw| {
                AllowedDomains::parse(&raw).map_err(|e| bad("ALLOWED_DOMAINS", e.to_string()))
            })
            .transpose()?;

        let hashtags = present(raw.hashtags)
            .unwrap_or_default()
            .split([',', ' '])
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| {
                crate::domain::parse_hashtag(t).ok_or_else(|| {
                    bad(
                        "HASHTAGS",
                        format!("entries are hashtags (letters, digits, _), got {t:?}"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let guard = GuardConfig {
            trust_proxy: crate::domain::TrustProxy::parse(
                present(raw.trust_proxy).as_deref(),
                present(raw.dyno).is_some(),
            )
            .map_err(|e| bad("TRUST_PROXY", e))?,
            feed_misses_per_minute: u32::try_from(parse_number(
                "FEED_MISSES_PER_MINUTE",
                raw.feed_misses_per_minute,
                60,
            )?)
            .map_err(|_| bad("FEED_MISSES_PER_MINUTE", "is too large"))?,
            admin_failure_delay: Duration::from_millis(parse_number(
                "ADMIN_FAILURE_DELAY_MS",
                raw.admin_failure_delay_ms,
                250,
            )?),
            metrics_token: present(raw.metrics_token).map(Secret),
            public_status: parse_bool("PUBLIC_STATUS", raw.public_status)?,
        };

        let refresh_mode =
            parse_refresh_mode(present(raw.refresh_mode), present(raw.refresh_frequency))?;

        let js_constant_name = match present(raw.js_constant_name) {
            None => JsIdentifier::parse("InstagramToken").expect("the default is an identifier"),
            Some(name) => {
                JsIdentifier::parse(&name).map_err(|e| bad("JS_CONSTANT_NAME", e.to_string()))?
            }
        };

        let app_url = present(raw.app_url)
            .map(|u| parse_http_url("APP_URL", &u))
            .transpose()?;
        let platform_url = platform_url(
            present(raw.heroku_app_default_domain_name),
            present(raw.render_external_url),
            present(raw.fly_app_name),
        )?;
        let app_name_ignored = present(raw.app_name).is_some();

        let instagram_app = pair(
            ("INSTAGRAM_APP_ID", present(raw.instagram_app_id)),
            ("INSTAGRAM_APP_SECRET", present(raw.instagram_app_secret)),
        )?;
        let facebook_app = pair(
            ("FACEBOOK_APP_ID", present(raw.facebook_app_id)),
            ("FACEBOOK_APP_SECRET", present(raw.facebook_app_secret)),
        )?;

        let facebook_config_id = present(raw.facebook_config_id)
            .map(|id| {
                if facebook_app.is_none() {
                    return Err(bad(
                        "FACEBOOK_CONFIG_ID",
                        "must be set together with FACEBOOK_APP_ID and FACEBOOK_APP_SECRET",
                    ));
                }
                if id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    Ok(id)
                } else {
                    Err(bad(
                        "FACEBOOK_CONFIG_ID",
                        format!("must be the configuration's id (letters and digits), got {id:?}"),
                    ))
                }
            })
            .transpose()?;
        let graph_version = parse_graph_version(present(raw.graph_api_version))?;

        let notify_email = present(raw.notify_email);
        let smtp_url = present(raw.smtp_url);
        let email = match (&notify_email, &smtp_url) {
            (Some(to), Some(smtp)) => Some(EmailConfig::parse(to, smtp)?),
            (Some(to), None) => {
                EmailConfig::address(to)?;
                return Err(bad(
                    "SMTP_URL",
                    "must be set when NOTIFY_EMAIL is (e.g. smtps://user:pass@smtp.example.com)",
                ));
            }
            // Checked even without NOTIFY_EMAIL, so a typo shows before it is needed.
            (None, Some(smtp)) => SmtpConfig::parse(smtp).map(|_| None)?,
            (None, None) => None,
        };

        let defaults = UpstreamConfig::default();
        let timeout = Duration::from_millis(parse_number(
            "UPSTREAM_TIMEOUT_MS",
            raw.upstream_timeout_ms,
            15_000,
        )?);
        let upstream = UpstreamConfig {
            instagram_graph_url: upstream_url(
                "INSTAGRAM_GRAPH_URL",
                raw.instagram_graph_url,
                defaults.instagram_graph_url,
            )?,
            instagram_oauth_url: upstream_url(
                "INSTAGRAM_OAUTH_URL",
                raw.instagram_oauth_url,
                defaults.instagram_oauth_url,
            )?,
            instagram_authorize_url: upstream_url(
                "INSTAGRAM_AUTHORIZE_URL",
                raw.instagram_authorize_url,
                defaults.instagram_authorize_url,
            )?,
            facebook_graph_url: upstream_url(
                "FACEBOOK_GRAPH_URL",
                raw.facebook_graph_url,
                defaults.facebook_graph_url,
            )?,
            facebook_dialog_url: upstream_url(
                "FACEBOOK_DIALOG_URL",
                raw.facebook_dialog_url,
                facebook_dialog_url(&graph_version),
            )?,
            facebook_app_secret: facebook_app.as_ref().map(|app| app.secret.clone()),
            graph_version,
            user_agent: user_agent(app_url.as_ref().or(platform_url.as_ref().map(|(u, _)| u))),
            timeout,
            connect_timeout: timeout.min(defaults.connect_timeout),
            ..defaults
        };

        let mirror = parse_mirror(raw.mirror_posts, raw.mirror_max_mb, raw.media_cdn_hosts)?;
        Ok(Config {
            port,
            server,
            database,
            cache,
            starting_token: present(raw.starting_token).map(Secret),
            allowed_domains,
            hashtags,
            guard,
            refresh_mode,
            js_constant_name,
            hide_help_pages: parse_bool("HIDE_HELP_PAGES", raw.hide_help_pages)?,
            app_url,
            platform_url,
            app_name_ignored,
            admin_password: present(raw.admin_password).map(Secret),
            webhook_secret: present(raw.webhook_secret).map(Secret),
            instagram_app,
            facebook_app,
            facebook_config_id,
            token_encryption_key: present(raw.token_encryption_key).map(Secret),
            feed_cache_ttl: parse_seconds("FEED_CACHE_TTL", raw.feed_cache_ttl, 300)?,
            feed_stale_ttl: parse_seconds(
                "FEED_STALE_TTL",
                raw.feed_stale_ttl,
                default_stale_ttl(&mirror),
            )?,
            mirror,
            email,
            notify_webhook_url: present(raw.notify_webhook_url)
                .map(|u| parse_http_url("NOTIFY_WEBHOOK_URL", &u))
                .transpose()?,
            allow_empty_referer: parse_bool("ALLOW_EMPTY_REFERER", raw.allow_empty_referer)?,
            upstream,
            refresh_check_interval: Duration::from_secs(parse_number(
                "REFRESH_CHECK_SECONDS",
                raw.refresh_check_seconds,
                300,
            )?),
            refresh_wake_gap: Duration::from_secs(10),
            worker_threads: parse_worker_threads(raw.worker_threads)?,
        })
    }

    /// Sets APP_URL, and the User-Agent that names it.
    pub fn set_app_url(&mut self, url: Url) {
        self.upstream.user_agent = user_agent(Some(&url));
        self.app_url = Some(url);
    }

    /// The public URL for links made outside a request, as far as the
    /// environment tells it: APP_URL, else the platform's variable.
    pub fn configured_url(&self) -> Option<(&Url, &'static str)> {
        self.app_url
            .as_ref()
            .map(|u| (u, "APP_URL"))
            .or(self.platform_url.as_ref().map(|(u, var)| (u, *var)))
    }
}

/// `token-agent/VERSION (+PUBLIC URL)`, sent with every upstream call; it
/// says so when the public URL is not known yet.
pub fn user_agent(public_url: Option<&Url>) -> String {
    match public_url {
        Some(url) => format!(
            "token-agent/{} (+{})",
            env!("CARGO_PKG_VERSION"),
            url.as_str().trim_end_matches('/')
        ),
        None => format!(
            "token-agent/{} (public URL not known yet)",
            env!("CARGO_PKG_VERSION")
        ),
    }
}

/// The public URL a platform sets in the dyno's or machine's environment:
/// Heroku's HEROKU_APP_DEFAULT_DOMAIN_NAME (a host name, set once runtime
/// dyno metadata is enabled), Render's RENDER_EXTERNAL_URL (a URL) or
/// Fly.io's FLY_APP_NAME (served at NAME.fly.dev).
fn platform_url(
    heroku_domain: Option<String>,
    render_url: Option<String>,
    fly_app: Option<String>,
) -> Result<Option<(Url, &'static str)>, ConfigError> {
    const HEROKU: &str = "HEROKU_APP_DEFAULT_DOMAIN_NAME";
    const FLY: &str = "FLY_APP_NAME";
    if let Some(domain) = heroku_domain {
        let host_like = !domain.is_empty()
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if !host_like {
            return Err(bad(
                HEROKU,
                format!(
                    "must be a host name such as my-app-1a2b3c4d5e6f.herokuapp.com, got {domain:?}"
                ),
            ));
        }
        return Ok(Some((
            parse_http_url(HEROKU, &format!("https://{domain}"))?,
            HEROKU,
        )));
    }
    if let Some(url) = render_url {
        return Ok(Some((
            parse_http_url("RENDER_EXTERNAL_URL", &url)?,
            "RENDER_EXTERNAL_URL",
        )));
    }
    if let Some(name) = fly_app {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(bad(
                FLY,
                format!("must be a Fly.io app name (letters, digits, -), got {name:?}"),
            ));
        }
        return Ok(Some((
            parse_http_url(FLY, &format!("https://{name}.fly.dev"))?,
            FLY,
        )));
    }
    Ok(None)
}

/// `v25.0` or `25.0` → `v25.0`.
fn parse_graph_version(raw: Option<String>) -> Result<String, ConfigError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_GRAPH_VERSION.to_string());
    };
    let number = raw.strip_prefix('v').unwrap_or(&raw);
    let valid = number.split_once('.').is_some_and(|(major, minor)| {
        [major, minor]
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
    });
    if valid {
        Ok(format!("v{number}"))
    } else {
        Err(bad(
            "GRAPH_API_VERSION",
            format!("must look like v25.0, got {raw:?}"),
        ))
    }
}

fn parse_server(
    header_timeout: Option<String>,
    idle_timeout: Option<String>,
    max_header_bytes: Option<String>,
    max_connections: Option<String>,
) -> Result<ServerConfig, ConfigError> {
    let defaults = ServerConfig::default();
    let within = |var: &'static str, raw: Option<String>, default: u64, range: (u64, u64)| {
        let value = parse_number(var, raw, default)?;
        if (range.0..=range.1).contains(&value) {
            Ok(value)
        } else {
            Err(bad(
                var,
                format!("must be from {} to {}, got {value}", range.0, range.1),
            ))
        }
    };
    Ok(ServerConfig {
        header_timeout: Duration::from_secs(within(
            "HTTP_HEADER_TIMEOUT_SECONDS",
            header_timeout,
            defaults.header_timeout.as_secs(),
            (1, 300),
        )?),
        idle_timeout: Duration::from_secs(within(
            "HTTP_IDLE_TIMEOUT_SECONDS",
            idle_timeout,
            defaults.idle_timeout.as_secs(),
            (1, 3600),
        )?),
        max_header_bytes: within(
            "HTTP_MAX_HEADER_BYTES",
            max_header_bytes,
            defaults.max_header_bytes as u64,
            (1024, 1024 * 1024),
        )? as usize,
        max_connections: within(
            "HTTP_MAX_CONNECTIONS",
            max_connections,
            defaults.max_connections as u64,
            (1, 100_000),
        )? as usize,
        sweep_every: defaults.sweep_every,
    })
}

fn parse_database_url(raw: Option<String>) -> Result<DatabaseUrl, ConfigError> {
    let Some(url) = raw else {
        return Ok(DatabaseUrl::Sqlite(PathBuf::from("data/token-agent.db")));
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Url::parse(&url).map_err(|e| {
            bad(
                "DATABASE_URL",
                format!("is not a valid postgres:// URL ({e})"),
            )
        })?;
        return Ok(DatabaseUrl::Postgres(Secret(url)));
    }
    if let Some(rest) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let path = rest.split('?').next().unwrap_or_default();
        if path.is_empty() || path == ":memory:" {
            return Err(bad(
                "DATABASE_URL",
                "must name a SQLite file (sqlite://data/token-agent.db); an in-memory database would lose the token on restart",
            ));
        }
        return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
    }
    let scheme = url.split(':').next().unwrap_or_default();
    Err(bad(
        "DATABASE_URL",
        format!("must start with postgres:// or sqlite://, got a {scheme:?} URL"),
    ))
}

fn parse_servers(var: &'static str, raw: &str) -> Result<Vec<String>, ConfigError> {
    raw.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|server| {
            let (host, port) = server
                .rsplit_once(':')
                .ok_or_else(|| bad(var, format!("entries must be host:port, got {server:?}")))?;
            if host.is_empty() || port.parse::<u16>().is_err() {
                return Err(bad(
                    var,
                    format!("entries must be host:port, got {server:?}"),
                ));
            }
            Ok(server.to_string())
        })
        .collect()
}

fn parse_refresh_mode(
    mode: Option<String>,
    frequency: Option<String>,
) -> Result<RefreshMode, ConfigError> {
    let frequency = match frequency.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("weekly") => Frequency::Weekly,
        Some("daily") => Frequency::Daily,
        Some("monthly") => Frequency::Monthly,
        Some(_) => {
            return Err(bad(
                "REFRESH_FREQUENCY",
                format!(
                    "must be daily, weekly or monthly, got {:?}",
                    frequency.unwrap_or_default()
                ),
            ));
        }
    };
    match mode.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("cron") => Ok(RefreshMode::Cron(frequency)),
        Some("scheduled") => Ok(RefreshMode::Scheduled),
        Some(_) => Err(bad(
            "REFRESH_MODE",
            format!(
                "must be cron or scheduled, got {:?}",
                mode.unwrap_or_default()
            ),
        )),
    }
}

fn parse_bool(var: &'static str, raw: Option<String>) -> Result<bool, ConfigError> {
    match present(raw).map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("false" | "0" | "no" | "off") => Ok(false),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some(other) => Err(bad(var, format!("must be true or false, got {other:?}"))),
    }
}

fn parse_number(var: &'static str, raw: Option<String>, default: u64) -> Result<u64, ConfigError> {
    match present(raw) {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| bad(var, format!("must be a whole number, got {v:?}"))),
    }
}

/// FEED_STALE_TTL when unset, in seconds: a day, since Instagram's signed
/// image links last a few days; 30 days when the newest posts' images are
/// mirrored, since a stale page then shows its posts from the agent's own
/// copies once those links have expired.
fn default_stale_ttl(mirror: &MirrorConfig) -> u64 {
    if mirror.posts > 0 {
        30 * 86_400
    } else {
        86_400
    }
}

fn parse_seconds(
    var: &'static str,
    raw: Option<String>,
    default: u64,
) -> Result<Duration, ConfigError> {
    parse_number(var, raw, default).map(Duration::from_secs)
}

fn parse_http_url(var: &'static str, raw: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw).map_err(|e| bad(var, format!("must be an http(s) URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad(var, format!("must be an http(s) URL, got {raw:?}")));
    }
    Ok(url)
}

fn upstream_url(
    var: &'static str,
    raw: Option<String>,
    default: String,
) -> Result<String, ConfigError> {
    match present(raw) {
        None => Ok(default),
        Some(u) => {
            parse_http_url(var, &u)?;
            Ok(u.trim_end_matches('/').to_string())
        }
    }
}

fn pair(
    id: (&'static str, Option<String>),
    secret: (&'static str, Option<String>),
) -> Result<Option<AppCredentials>, ConfigError> {
    match (id.1, secret.1) {
        (None, None) => Ok(None),
        (Some(app_id), Some(app_secret)) => Ok(Some(AppCredentials {
            id: app_id,
            secret: Secret(app_secret),
        })),
        (Some(_), None) => Err(bad(secret.0, format!("must be set together with {}", id.0))),
        (None, Some(_)) => Err(bad(id.0, format!("must be set together with {}", secret.0))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    fn error(vars: &[(&str, &str)]) -> String {
        config(vars).unwrap_err().to_string()
    }

    #[test]
    fn stale_pages_live_a_day_without_the_mirror_and_a_month_with_it() {
        let day = Duration::from_secs(86_400);
        assert_eq!(config(&[]).unwrap().feed_stale_ttl, 30 * day);
        let off = config(&[("MIRROR_POSTS", "0")]).unwrap();
        assert_eq!(off.feed_stale_ttl, day);
        let set = config(&[("FEED_STALE_TTL", "7200")]).unwrap();
        assert_eq!(set.feed_stale_ttl, Duration::from_secs(7200));
    }

    #[test]
    fn an_empty_environment_gives_the_documented_defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.port, 3000);
        assert_eq!(
            c.database,
            DatabaseUrl::Sqlite(PathBuf::from("data/token-agent.db"))
        );
        assert_eq!(c.refresh_mode, RefreshMode::Cron(Frequency::Weekly));
        assert_eq!(c.js_constant_name.as_str(), "InstagramToken");
        assert!(c.allowed_domains.is_none());
        assert!(!c.hide_help_pages);
        assert!(!c.allow_empty_referer);
        assert_eq!(c.feed_cache_ttl, Duration::from_secs(300));
        assert_eq!(c.feed_stale_ttl, Duration::from_secs(30 * 86_400));
        assert!(c.app_url.is_none() && c.platform_url.is_none());
        assert_eq!(
            c.upstream.user_agent,
            format!(
                "token-agent/{} (public URL not known yet)",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert_eq!(
            c.upstream,
            UpstreamConfig {
                user_agent: c.upstream.user_agent.clone(),
                ..UpstreamConfig::default()
            }
        );
        assert!(c.cache.servers.is_empty());
    }

    #[test]
    fn the_mirror_takes_its_three_variables_and_names_a_bad_one() {
        let c = config(&[]).unwrap();
        assert_eq!(c.mirror, MirrorConfig::default());
        assert_eq!(c.mirror.posts, 24);
        assert_eq!(c.mirror.max_bytes, 100 * 1024 * 1024);
        let c = config(&[
            ("MIRROR_POSTS", "0"),
            ("MIRROR_MAX_MB", "5"),
            ("MEDIA_CDN_HOSTS", "cdninstagram.com 127.0.0.1:4100"),
        ])
        .unwrap();
        assert_eq!((c.mirror.posts, c.mirror.max_bytes), (0, 5 * 1024 * 1024));
        assert!(
            c.mirror
                .cdn_hosts
                .allows(&Url::parse("http://127.0.0.1:4100/cdn/1.jpg").unwrap())
        );
        assert_eq!(
            error(&[("MIRROR_POSTS", "51")]),
            "MIRROR_POSTS must be from 0 to 50 (one upstream page), got 51"
        );
        assert!(error(&[("MIRROR_POSTS", "many")]).starts_with("MIRROR_POSTS "));
        assert!(error(&[("MIRROR_MAX_MB", "0")]).starts_with("MIRROR_MAX_MB "));
        assert!(error(&[("MIRROR_MAX_MB", "-3")]).starts_with("MIRROR_MAX_MB "));
        assert!(error(&[("MEDIA_CDN_HOSTS", "*")]).starts_with("MEDIA_CDN_HOSTS "));
        assert!(
            error(&[("MEDIA_CDN_HOSTS", "https://evil.example/x")]).starts_with("MEDIA_CDN_HOSTS ")
        );
    }

    #[test]
    fn a_bad_refresh_frequency_names_the_variable_and_the_value() {
        assert_eq!(
            error(&[("REFRESH_FREQUENCY", "hourly")]),
            r#"REFRESH_FREQUENCY must be daily, weekly or monthly, got "hourly""#
        );
    }

    #[test]
    fn refresh_mode_and_frequency_combine() {
        let c = config(&[("REFRESH_MODE", "cron"), ("REFRESH_FREQUENCY", "Daily")]).unwrap();
        assert_eq!(c.refresh_mode, RefreshMode::Cron(Frequency::Daily));
        let c = config(&[("REFRESH_MODE", "scheduled")]).unwrap();
        assert_eq!(c.refresh_mode, RefreshMode::Scheduled);
        assert!(error(&[("REFRESH_MODE", "sometimes")]).starts_with("REFRESH_MODE "));
    }

    #[test]
    fn bad_numbers_and_booleans_name_their_variable() {
        assert!(error(&[("PORT", "http")]).starts_with("PORT "));
        assert!(error(&[("PORT", "0")]).starts_with("PORT "));
        assert!(error(&[("FEED_CACHE_TTL", "-1")]).starts_with("FEED_CACHE_TTL "));
        assert!(error(&[("HIDE_HELP_PAGES", "maybe")]).starts_with("HIDE_HELP_PAGES "));
        assert!(error(&[("ALLOW_EMPTY_REFERER", "2")]).starts_with("ALLOW_EMPTY_REFERER "));
    }

    #[test]
    fn empty_values_count_as_unset() {
        let c = config(&[
            ("PORT", ""),
            ("ALLOWED_DOMAINS", "  "),
            ("STARTING_TOKEN", ""),
        ])
        .unwrap();
        assert_eq!(c.port, 3000);
        assert!(c.allowed_domains.is_none());
        assert!(c.starting_token.is_none());
    }

    #[test]
    fn the_database_is_chosen_by_url_scheme() {
        let c = config(&[("DATABASE_URL", "postgres://u:p@db.example.com/app")]).unwrap();
        assert!(matches!(c.database, DatabaseUrl::Postgres(_)));
        let c = config(&[("DATABASE_URL", "sqlite://tmp/x.db")]).unwrap();
        assert_eq!(c.database, DatabaseUrl::Sqlite(PathBuf::from("tmp/x.db")));
        let e = error(&[("DATABASE_URL", "mysql://root:hunter2@db/app")]);
        assert!(e.starts_with("DATABASE_URL "), "{e}");
        assert!(!e.contains("hunter2"), "the password leaked: {e}");
        assert!(error(&[("DATABASE_URL", "sqlite::memory:")]).starts_with("DATABASE_URL "));
    }

    #[test]
    fn a_bare_star_in_allowed_domains_stops_start_up() {
        assert!(error(&[("ALLOWED_DOMAINS", "*")]).starts_with("ALLOWED_DOMAINS "));
        let c = config(&[("ALLOWED_DOMAINS", "example.com, www.example.com")]).unwrap();
        assert!(c.allowed_domains.is_some());
    }

    #[test]
    fn a_bad_js_constant_name_is_refused_without_echoing_it() {
        let e = error(&[("JS_CONSTANT_NAME", "</script><script>alert(1)")]);
        assert!(e.starts_with("JS_CONSTANT_NAME "));
        assert!(!e.contains("alert"));
    }

    #[test]
    fn app_name_is_accepted_and_never_made_into_a_url() {
        // Heroku apps made since 2023 live at NAME-<12 hex>.herokuapp.com.
        let c = config(&[("APP_NAME", "my-tokens")]).unwrap();
        assert!(c.app_name_ignored);
        assert_eq!(c.configured_url(), None);
        assert!(!c.upstream.user_agent.contains("herokuapp"));
    }

    #[test]
    fn app_url_names_the_public_url_and_the_user_agent() {
        let c = config(&[("APP_URL", "https://tokens.example.com")]).unwrap();
        assert_eq!(
            c.configured_url().map(|(u, var)| (u.as_str(), var)),
            Some(("https://tokens.example.com/", "APP_URL"))
        );
        assert_eq!(
            c.upstream.user_agent,
            format!(
                "token-agent/{} (+https://tokens.example.com)",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert!(error(&[("APP_URL", "not a url")]).starts_with("APP_URL "));
    }

    #[test]
    fn each_platform_variable_gives_the_public_url_and_app_url_wins() {
        let heroku = (
            "HEROKU_APP_DEFAULT_DOMAIN_NAME",
            "my-tokens-1a2b3c4d5e6f.herokuapp.com",
        );
        let render = ("RENDER_EXTERNAL_URL", "https://my-tokens.onrender.com");
        let fly = ("FLY_APP_NAME", "my-tokens");
        let url = |vars: &[(&str, &str)]| {
            let c = config(vars).unwrap();
            c.configured_url().map(|(u, var)| (u.to_string(), var))
        };
        assert_eq!(
            url(&[heroku]),
            Some((
                "https://my-tokens-1a2b3c4d5e6f.herokuapp.com/".into(),
                "HEROKU_APP_DEFAULT_DOMAIN_NAME"
            ))
        );
        assert_eq!(
            url(&[render]),
            Some((
                "https://my-tokens.onrender.com/".into(),
                "RENDER_EXTERNAL_URL"
            ))
        );
        assert_eq!(
            url(&[fly]),
            Some(("https://my-tokens.fly.dev/".into(), "FLY_APP_NAME"))
        );
        assert_eq!(
            url(&[heroku, ("APP_URL", "https://tokens.example.com")]),
            Some(("https://tokens.example.com/".into(), "APP_URL"))
        );
        assert!(
            error(&[("HEROKU_APP_DEFAULT_DOMAIN_NAME", "a b")])
                .starts_with("HEROKU_APP_DEFAULT_DOMAIN_NAME ")
        );
        assert!(error(&[("RENDER_EXTERNAL_URL", "x")]).starts_with("RENDER_EXTERNAL_URL "));
        assert!(error(&[("FLY_APP_NAME", "a.b")]).starts_with("FLY_APP_NAME "));
    }

    #[test]
    fn app_credentials_come_in_pairs() {
        assert_eq!(
            error(&[("INSTAGRAM_APP_ID", "123")]),
            "INSTAGRAM_APP_SECRET must be set together with INSTAGRAM_APP_ID"
        );
        let c = config(&[("FACEBOOK_APP_ID", "1"), ("FACEBOOK_APP_SECRET", "s3cret")]).unwrap();
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "a secret reached Debug output"
        );
    }

    #[test]
    fn memcachier_servers_win_over_memcache_servers() {
        let c = config(&[
            (
                "MEMCACHIER_SERVERS",
                "mc1.example.com:11211,mc2.example.com:11211",
            ),
            ("MEMCACHE_SERVERS", "localhost:11211"),
        ])
        .unwrap();
        assert_eq!(
            c.cache.servers,
            vec!["mc1.example.com:11211", "mc2.example.com:11211"]
        );
        assert!(error(&[("MEMCACHE_SERVERS", "localhost")]).starts_with("MEMCACHE_SERVERS "));
    }

    #[test]
    fn notify_email_needs_an_smtp_url() {
        assert!(error(&[("NOTIFY_EMAIL", "me@example.com")]).starts_with("SMTP_URL "));
        assert!(error(&[("NOTIFY_EMAIL", "nobody")]).starts_with("NOTIFY_EMAIL "));
        let smtp = ("SMTP_URL", "smtps://u:p@smtp.example.com");
        assert!(error(&[("NOTIFY_EMAIL", "not-an-address"), smtp]).starts_with("NOTIFY_EMAIL "));
        let c = config(&[("NOTIFY_EMAIL", "me@example.com"), smtp]).unwrap();
        assert_eq!(c.email.unwrap().smtp.port, 465);
    }

    #[test]
    fn trust_proxy_and_the_miss_bound_name_their_variable() {
        use crate::domain::TrustProxy;
        let c = config(&[]).unwrap();
        assert_eq!(c.guard.trust_proxy, TrustProxy::Nobody);
        assert_eq!(c.guard.feed_misses_per_minute, 60);
        let heroku = config(&[("DYNO", "web.1")]).unwrap();
        assert_eq!(heroku.guard.trust_proxy, TrustProxy::Hops(1));
        let named = config(&[("DYNO", "web.1"), ("TRUST_PROXY", "10.0.0.0/8")]).unwrap();
        assert!(matches!(named.guard.trust_proxy, TrustProxy::Ranges(_)));
        assert!(error(&[("TRUST_PROXY", "the router")]).starts_with("TRUST_PROXY "));
        assert!(error(&[("FEED_MISSES_PER_MINUTE", "-1")]).starts_with("FEED_MISSES_PER_MINUTE "));
        assert_eq!(
            config(&[("FEED_MISSES_PER_MINUTE", "0")])
                .unwrap()
                .guard
                .feed_misses_per_minute,
            0
        );
    }

    #[test]
    fn hashtags_are_a_list_of_valid_tags() {
        assert!(config(&[]).unwrap().hashtags.is_empty());
        let c = config(&[("HASHTAGS", "#Bakery, coffee  sourdough")]).unwrap();
        assert_eq!(c.hashtags, ["bakery", "coffee", "sourdough"]);
        assert!(error(&[("HASHTAGS", "ok, not-ok")]).starts_with("HASHTAGS "));
    }

    #[test]
    fn server_limits_have_defaults_and_bounds() {
        let c = config(&[]).unwrap();
        assert_eq!(c.server, ServerConfig::default());
        let c = config(&[
            ("HTTP_HEADER_TIMEOUT_SECONDS", "10"),
            ("HTTP_IDLE_TIMEOUT_SECONDS", "20"),
            ("HTTP_MAX_HEADER_BYTES", "8192"),
            ("HTTP_MAX_CONNECTIONS", "100"),
        ])
        .unwrap();
        assert_eq!(c.server.header_timeout, Duration::from_secs(10));
        assert_eq!(c.server.idle_timeout, Duration::from_secs(20));
        assert_eq!(c.server.max_header_bytes, 8192);
        assert_eq!(c.server.max_connections, 100);
        for (var, value) in [
            ("HTTP_HEADER_TIMEOUT_SECONDS", "0"),
            ("HTTP_IDLE_TIMEOUT_SECONDS", "soon"),
            ("HTTP_MAX_HEADER_BYTES", "100"),
            ("HTTP_MAX_CONNECTIONS", "0"),
        ] {
            let e = error(&[(var, value)]);
            assert!(e.starts_with(var), "{e}");
        }
    }

    #[test]
    fn worker_threads_default_to_two_whatever_the_cores_and_are_bounded() {
        assert_eq!(config(&[]).unwrap().worker_threads, 2);
        assert_eq!(
            config(&[("WORKER_THREADS", "1")]).unwrap().worker_threads,
            1
        );
        for value in ["0", "65", "many"] {
            let e = error(&[("WORKER_THREADS", value)]);
            assert!(e.starts_with("WORKER_THREADS "), "{e}");
        }
    }

    #[test]
    fn a_bad_smtp_url_stops_start_up_without_echoing_it() {
        let e = error(&[("SMTP_URL", "smtp://user:hunter2@smtp.example.com?tls=none")]);
        assert!(e.starts_with("SMTP_URL "), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn a_memcachier_password_the_client_cannot_send_stops_start_up() {
        let e = error(&[
            ("MEMCACHIER_SERVERS", "mc.example.com:11211"),
            ("MEMCACHIER_USERNAME", "user"),
            ("MEMCACHIER_PASSWORD", "p@ss word"),
        ]);
        assert!(e.starts_with("MEMCACHIER_PASSWORD "), "{e}");
        assert!(!e.contains("p@ss"), "{e}");
        let e = error(&[
            ("MEMCACHIER_SERVERS", "mc.example.com:11211"),
            ("MEMCACHIER_USERNAME", "user"),
        ]);
        assert!(e.starts_with("MEMCACHIER_PASSWORD "), "{e}");
    }

    #[test]
    fn the_graph_api_version_is_one_setting_for_every_versioned_call() {
        let c = config(&[]).unwrap();
        assert_eq!(c.upstream.graph_version, "v25.0");
        assert_eq!(
            c.upstream.facebook_dialog_url,
            "https://www.facebook.com/v25.0/dialog/oauth"
        );
        let c = config(&[("GRAPH_API_VERSION", "26.0")]).unwrap();
        assert_eq!(c.upstream.graph_version, "v26.0");
        assert_eq!(
            c.upstream.facebook_dialog_url,
            "https://www.facebook.com/v26.0/dialog/oauth"
        );
        for bad in ["latest", "v25", "v25.0.1", "v.0"] {
            assert!(
                error(&[("GRAPH_API_VERSION", bad)])
                    .starts_with("GRAPH_API_VERSION must look like v25.0"),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_facebook_login_configuration_needs_the_facebook_app() {
        let app = [("FACEBOOK_APP_ID", "1"), ("FACEBOOK_APP_SECRET", "s3cret")];
        let c = config(&[app[0], app[1], ("FACEBOOK_CONFIG_ID", "123456789")]).unwrap();
        assert_eq!(c.facebook_config_id.as_deref(), Some("123456789"));
        assert_eq!(
            c.upstream.facebook_app_secret.as_ref().map(Secret::expose),
            Some("s3cret")
        );
        assert!(
            error(&[("FACEBOOK_CONFIG_ID", "123")])
                .starts_with("FACEBOOK_CONFIG_ID must be set together with FACEBOOK_APP_ID")
        );
        assert!(
            error(&[app[0], app[1], ("FACEBOOK_CONFIG_ID", "12 3&x")])
                .starts_with("FACEBOOK_CONFIG_ID must be the configuration's id")
        );
        assert!(config(&[]).unwrap().upstream.facebook_app_secret.is_none());
    }

    #[test]
    fn upstream_urls_can_be_pointed_at_a_fake() {
        let c = config(&[(
            "INSTAGRAM_GRAPH_URL",
            "http://127.0.0.1:9/graph.instagram.com/",
        )])
        .unwrap();
        assert_eq!(
            c.upstream.instagram_graph_url,
            "http://127.0.0.1:9/graph.instagram.com"
        );
        assert!(error(&[("FACEBOOK_GRAPH_URL", "ftp://x")]).starts_with("FACEBOOK_GRAPH_URL "));
    }
}
