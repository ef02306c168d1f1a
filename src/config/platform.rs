//! The public URL a hosting platform announces (Heroku, Render, Fly.io),
//! for links made outside a request when APP_URL is unset.

use url::Url;

use super::vars::parse_http_url;
use super::{ConfigError, bad};

/// The public URL a platform sets in the dyno's or machine's environment:
/// Heroku's HEROKU_APP_DEFAULT_DOMAIN_NAME (a host name, set once runtime
/// dyno metadata is enabled), Render's RENDER_EXTERNAL_URL (a URL) or
/// Fly.io's FLY_APP_NAME (served at NAME.fly.dev).
pub(super) fn platform_url(
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
