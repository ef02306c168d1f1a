//! Reading one variable: an empty value counts as unset, and a bad number,
//! flag, duration or URL fails with a line that names the variable.

use std::time::Duration;

use url::Url;

use super::{ConfigError, bad};

/// The value, trimmed; `None` when unset or blank, as Heroku's dashboard
/// leaves unused variables.
pub(super) fn present(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

pub(super) fn parse_bool(var: &'static str, raw: Option<String>) -> Result<bool, ConfigError> {
    match present(raw).map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("false" | "0" | "no" | "off") => Ok(false),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some(other) => Err(bad(var, format!("must be true or false, got {other:?}"))),
    }
}

pub(super) fn parse_number(
    var: &'static str,
    raw: Option<String>,
    default: u64,
) -> Result<u64, ConfigError> {
    match present(raw) {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| bad(var, format!("must be a whole number, got {v:?}"))),
    }
}

pub(super) fn parse_seconds(
    var: &'static str,
    raw: Option<String>,
    default: u64,
) -> Result<Duration, ConfigError> {
    parse_number(var, raw, default).map(Duration::from_secs)
}

pub(super) fn parse_http_url(var: &'static str, raw: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw).map_err(|e| bad(var, format!("must be an http(s) URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad(var, format!("must be an http(s) URL, got {raw:?}")));
    }
    Ok(url)
}
