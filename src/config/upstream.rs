//! Where upstream calls go and how: Meta's hosts (or a fake's),
//! GRAPH_API_VERSION, UPSTREAM_TIMEOUT_MS and the User-Agent.

use std::time::Duration;

use url::Url;

use super::vars::{parse_http_url, present};
use super::{ConfigError, Secret, bad};

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
pub(super) fn facebook_dialog_url(version: &str) -> String {
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

/// `v25.0` or `25.0` → `v25.0`.
pub(super) fn parse_graph_version(raw: Option<String>) -> Result<String, ConfigError> {
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

pub(super) fn upstream_url(
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
