//! Configuration, read once from the environment at start-up.
//!
//! Every variable is read as text and parsed here, so that a bad value stops
//! the agent with one line naming the variable and what is wrong with it.
//! Nothing else in the crate reads the environment.
//!
//! This file holds [`Config`] and reads the sections in turn; each section's
//! variables are parsed in the file of that name: `server` (PORT, HTTP_*,
//! WORKER_THREADS), `database`, `cache` (memcache), `guard` (ALLOWED_DOMAINS
//! and the rules for strangers), `feed` (HASHTAGS), `mirror`, `refresh`,
//! `apps` (the Meta apps), `upstream` (Meta's hosts and the User-Agent),
//! `platform` (the public URL a host announces), `smtp` (e-mail) and `vars`
//! (one number, flag or URL).

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

mod apps;
mod build_hook;
mod cache;
mod database;
mod feed;
mod guard;
mod mirror;
mod platform;
mod refresh;
mod server;
mod smtp;
mod upstream;
mod vars;

pub use apps::AppCredentials;
pub use build_hook::{BuildHookConfig, HookOn};
pub use database::DatabaseUrl;
pub use guard::GuardConfig;
pub use mirror::{DEFAULT_MIRROR_MAX_MB, DEFAULT_MIRROR_POSTS, MAX_MIRROR_POSTS, MirrorConfig};
pub use refresh::{Frequency, RefreshMode};
pub use server::{ClientBound, DEFAULT_WORKER_THREADS, ServerConfig, worker_threads_from_env};
pub use smtp::{EmailConfig, SmtpConfig, SmtpSecurity};
pub use upstream::{DEFAULT_GRAPH_VERSION, UpstreamConfig, user_agent};

use crate::cache::CacheConfig;
use crate::domain::allowlist::AllowedDomains;
use crate::domain::jsident::JsIdentifier;
use vars::{parse_bool, parse_http_url, parse_number, parse_seconds, present};

#[cfg(test)]
mod tests;

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
    /// FEED_TRIAL_REELS=include: trial reels (shown only to non-followers)
    /// are served too; by default they are left out, as Instagram's grid
    /// leaves them out for followers.
    pub feed_trial_reels: bool,
    /// The agent's own copies of the newest posts' images.
    pub mirror: MirrorConfig,
    /// NOTIFY_EMAIL through SMTP_URL.
    pub email: Option<EmailConfig>,
    pub notify_webhook_url: Option<Url>,
    /// BUILD_HOOK_URL and how it is used.
    pub build_hook: Option<BuildHookConfig>,
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
    admin_failure_warn_after: Option<String>,
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
    feed_trial_reels: Option<String>,
    mirror_posts: Option<String>,
    mirror_max_mb: Option<String>,
    media_cdn_hosts: Option<String>,
    notify_email: Option<String>,
    smtp_url: Option<String>,
    notify_webhook_url: Option<String>,
    build_hook_url: Option<String>,
    build_hook_on: Option<String>,
    build_hook_check_minutes: Option<String>,
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
    http_body_timeout_seconds: Option<String>,
    http_send_timeout_seconds: Option<String>,
    http_max_header_bytes: Option<String>,
    http_max_connections: Option<String>,
    http_max_connections_per_client: Option<String>,
    /// Set to `true` by Render in every service.
    render: Option<String>,
    worker_threads: Option<String>,
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
        let port = server::parse_port(raw.port)?;
        let database = database::parse_database_url(present(raw.database_url))?;

        let cache = cache::parse_cache(
            raw.memcachier_servers,
            raw.memcache_servers,
            raw.memcachier_username,
            raw.memcachier_password,
        )?;
        let allowed_domains = guard::parse_allowed_domains(raw.allowed_domains)?;
        let hashtags = feed::parse_hashtags(raw.hashtags)?;
        let set = |var: &Option<String>| var.as_deref().is_some_and(|v| !v.trim().is_empty());
        let platform = if set(&raw.dyno) {
            crate::domain::Platform::Heroku
        } else if set(&raw.render) {
            crate::domain::Platform::Render
        } else if set(&raw.fly_app_name) {
            crate::domain::Platform::Fly
        } else {
            crate::domain::Platform::None
        };
        let guard = guard::parse_guard(
            raw.trust_proxy,
            platform,
            raw.feed_misses_per_minute,
            raw.admin_failure_delay_ms,
            raw.admin_failure_warn_after,
            raw.metrics_token,
            raw.public_status,
        )?;

        let server = server::parse_server(
            server::RawServer {
                header_timeout: raw.http_header_timeout_seconds,
                idle_timeout: raw.http_idle_timeout_seconds,
                body_timeout: raw.http_body_timeout_seconds,
                send_timeout: raw.http_send_timeout_seconds,
                max_header_bytes: raw.http_max_header_bytes,
                max_connections: raw.http_max_connections,
                max_connections_per_client: raw.http_max_connections_per_client,
            },
            server::Front {
                trust: &guard.trust_proxy,
                // Heroku's router, Render's and Fly.io's proxies.
                platform_proxy: platform != crate::domain::Platform::None,
            },
        )?;

        let refresh_mode =
            refresh::parse_refresh_mode(present(raw.refresh_mode), present(raw.refresh_frequency))?;

        let js_constant_name = match present(raw.js_constant_name) {
            None => JsIdentifier::parse("InstagramToken").expect("the default is an identifier"),
            Some(name) => {
                JsIdentifier::parse(&name).map_err(|e| bad("JS_CONSTANT_NAME", e.to_string()))?
            }
        };

        let app_url = present(raw.app_url)
            .map(|u| parse_http_url("APP_URL", &u))
            .transpose()?;
        let platform_url = platform::platform_url(
            present(raw.heroku_app_default_domain_name),
            present(raw.render_external_url),
            present(raw.fly_app_name),
        )?;
        let app_name_ignored = present(raw.app_name).is_some();

        let instagram_app = apps::pair(
            ("INSTAGRAM_APP_ID", present(raw.instagram_app_id)),
            ("INSTAGRAM_APP_SECRET", present(raw.instagram_app_secret)),
        )?;
        let facebook_app = apps::pair(
            ("FACEBOOK_APP_ID", present(raw.facebook_app_id)),
            ("FACEBOOK_APP_SECRET", present(raw.facebook_app_secret)),
        )?;

        let facebook_config_id =
            apps::parse_facebook_config_id(raw.facebook_config_id, facebook_app.as_ref())?;
        let graph_version = upstream::parse_graph_version(present(raw.graph_api_version))?;

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
            instagram_graph_url: upstream::upstream_url(
                "INSTAGRAM_GRAPH_URL",
                raw.instagram_graph_url,
                defaults.instagram_graph_url,
            )?,
            instagram_oauth_url: upstream::upstream_url(
                "INSTAGRAM_OAUTH_URL",
                raw.instagram_oauth_url,
                defaults.instagram_oauth_url,
            )?,
            instagram_authorize_url: upstream::upstream_url(
                "INSTAGRAM_AUTHORIZE_URL",
                raw.instagram_authorize_url,
                defaults.instagram_authorize_url,
            )?,
            facebook_graph_url: upstream::upstream_url(
                "FACEBOOK_GRAPH_URL",
                raw.facebook_graph_url,
                defaults.facebook_graph_url,
            )?,
            facebook_dialog_url: upstream::upstream_url(
                "FACEBOOK_DIALOG_URL",
                raw.facebook_dialog_url,
                upstream::facebook_dialog_url(&graph_version),
            )?,
            facebook_app_secret: facebook_app.as_ref().map(|app| app.secret.clone()),
            graph_version,
            user_agent: user_agent(app_url.as_ref().or(platform_url.as_ref().map(|(u, _)| u))),
            timeout,
            connect_timeout: timeout.min(defaults.connect_timeout),
            ..defaults
        };

        let mirror =
            mirror::parse_mirror(raw.mirror_posts, raw.mirror_max_mb, raw.media_cdn_hosts)?;
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
                feed::default_stale_ttl(&mirror),
            )?,
            feed_trial_reels: feed::parse_trial_reels(raw.feed_trial_reels)?,
            mirror,
            email,
            notify_webhook_url: present(raw.notify_webhook_url)
                .map(|u| parse_http_url("NOTIFY_WEBHOOK_URL", &u))
                .transpose()?,
            build_hook: build_hook::parse(
                raw.build_hook_url,
                raw.build_hook_on,
                raw.build_hook_check_minutes,
            )?,
            allow_empty_referer: parse_bool("ALLOW_EMPTY_REFERER", raw.allow_empty_referer)?,
            upstream,
            refresh_check_interval: Duration::from_secs(parse_number(
                "REFRESH_CHECK_SECONDS",
                raw.refresh_check_seconds,
                300,
            )?),
            refresh_wake_gap: Duration::from_secs(10),
            worker_threads: server::parse_worker_threads(raw.worker_threads)?,
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
