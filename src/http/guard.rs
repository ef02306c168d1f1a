//! The allow-list's decision and CORS, for every public URL a website
//! calls (see `door.rs`).
//!
//! CORS headers alone cannot stop a `<script src>` include, so the request
//! itself is checked: its `Origin`, or failing that its `Referer`, must be in
//! ALLOWED_DOMAINS (see `domain/allowlist/`), else 403.

use std::borrow::Cow;

use bytes::Bytes;
use warp::http::{HeaderMap, HeaderValue, Response, header};

use super::error::ApiError;
use super::request_url;
use crate::app::App;
use crate::config::Config;
use crate::domain::allowlist::{Access, AllowedDomains};

/// A request the allow-list let in: the origin to echo in CORS headers
/// (`None` for an allowed request without Origin/Referer), and whether the
/// Referer decided.
#[derive(Debug)]
pub struct Site {
    cors_origin: Option<HeaderValue>,
    /// No Origin header came, so the Referer decided: caches must key on it.
    by_referer: bool,
    /// The route is open to anyone: no CORS answer at all.
    open: bool,
}

impl Site {
    /// The caller of a route open to anyone.
    pub fn anyone() -> Site {
        Site {
            cors_origin: None,
            by_referer: false,
            open: true,
        }
    }

    /// `response` with the CORS answer for this caller, and a `Vary`
    /// naming every header that decided: `Origin`, and `Referer` when it
    /// stood in for one.
    pub fn cors(&self, mut response: Response<Bytes>) -> Response<Bytes> {
        if self.open {
            return response;
        }
        let headers = response.headers_mut();
        let vary = if self.by_referer {
            "Origin, Referer"
        } else {
            "Origin"
        };
        headers.insert(header::VARY, HeaderValue::from_static(vary));
        if let Some(origin) = &self.cors_origin {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        }
        response
    }
}

/// The allow-list's decision for a request, with the CORS header values of
/// its exact origins made once: an allowed browser request, whose Origin
/// the allow-list echoes as sent, is let in without an allocation.
pub struct Gate {
    allow_empty_referer: bool,
    domains: Option<AllowedDomains>,
    /// Header values of the allow-list's exact origins, by origin.
    echoes: Vec<(String, HeaderValue)>,
}

impl Gate {
    pub fn new(app: &App) -> Gate {
        Gate::of(&app.config)
    }

    fn of(config: &Config) -> Gate {
        Gate::with(config.allowed_domains.clone(), config.allow_empty_referer)
    }

    fn with(domains: Option<AllowedDomains>, allow_empty_referer: bool) -> Gate {
        // Entries that are one origin, let in as themselves; not wildcards.
        let echoes = domains
            .iter()
            .flat_map(|d| d.entries().map(move |entry| (d, entry)))
            .filter(|(d, entry)| {
                matches!(d.check(Some(entry), None), Access::Allowed { origin } if origin == *entry)
            })
            .filter_map(|(_, entry)| Some((entry.clone(), HeaderValue::from_str(&entry).ok()?)))
            .collect();
        Gate {
            allow_empty_referer,
            domains,
            echoes,
        }
    }

    /// Lets a request in, or refuses it with the 403 that says why (a
    /// header that is not text: 400). `own_page` is the agent's page whose
    /// requests pass too (`/feed.html`, framed by an allowed site: its
    /// links and images name the agent's own URL as Referer, not the
    /// site's). Any client can send that Referer, as it can send an allowed
    /// one: the allow-list keeps other sites' pages out, and the cache
    /// bounds what anyone's calls cost. With `readers`, a request that names
    /// no site (a feed reader's) passes too, as with ALLOW_EMPTY_REFERER:
    /// what it reads is the owner's public posts, from the cache.
    pub fn check(
        &self,
        headers: &HeaderMap,
        own_page: Option<&str>,
        readers: bool,
    ) -> Result<Site, ApiError> {
        let origin = header_text(headers, header::ORIGIN)?;
        let referer = header_text(headers, header::REFERER)?;
        let by_referer = origin.is_none() && referer.is_some();
        if let (Some(page), None, Some(referer)) = (own_page, origin, referer)
            && from_own_page(headers, page, referer)
        {
            return Ok(Site {
                cors_origin: None,
                by_referer: true,
                open: false,
            });
        }
        // An Origin that is one of the allow-list's own origins, as
        // browsers send it, is let in by a lookup: the allow-list would
        // decide the same.
        if let Some(known) = origin.and_then(|origin| self.echo_of(origin)) {
            return Ok(Site {
                cors_origin: Some(known.clone()),
                by_referer: false,
                open: false,
            });
        }
        let Some(domains) = &self.domains else {
            return Err(ApiError::forbidden(
                "allowed_domains_unset",
                "No site may use this agent yet: set ALLOWED_DOMAINS to the domains of your sites, e.g. \"example.com www.example.com\".",
            ));
        };
        let cors_origin = match domains.check(origin, referer) {
            Access::Allowed { origin } => Some(self.echo(origin)?),
            Access::Missing if self.allow_empty_referer || readers => None,
            Access::Missing => {
                return Err(ApiError::forbidden(
                    "origin_required",
                    "This request names no site (no Origin or Referer header). Browsers send one; set ALLOW_EMPTY_REFERER=true to serve clients that do not.",
                ));
            }
            Access::Denied => {
                return Err(ApiError::forbidden(
                    "origin_not_allowed",
                    "This site is not in ALLOWED_DOMAINS.",
                ));
            }
        };
        Ok(Site {
            cors_origin,
            by_referer,
            open: false,
        })
    }

    /// The header value made ahead for an exact entry of the allow-list.
    fn echo_of(&self, origin: &str) -> Option<&HeaderValue> {
        self.echoes
            .iter()
            .find(|(o, _)| o == origin)
            .map(|(_, value)| value)
    }

    /// The header value for an allowed origin: the one made ahead for an
    /// exact entry, else a new one.
    fn echo(&self, origin: Cow<'_, str>) -> Result<HeaderValue, ApiError> {
        match self.echo_of(&origin) {
            Some(value) => Ok(value.clone()),
            None => HeaderValue::from_str(&origin).map_err(|_| ApiError::invalid_header()),
        }
    }
}

/// A header as text: `Ok(None)` when absent, the 400 when it is not text.
pub fn header_text(
    headers: &HeaderMap,
    name: header::HeaderName,
) -> Result<Option<&str>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(Some)
            .map_err(|_| ApiError::invalid_header()),
    }
}

/// Whether `referer` is the agent's own `page`, on the URL this request
/// came to.
fn from_own_page(headers: &HeaderMap, page: &str, referer: &str) -> bool {
    // Most requests name another site: no URL parsing for them.
    if !referer.contains(page) {
        return false;
    }
    url::Url::parse(referer)
        .ok()
        .zip(request_url::of_headers(headers))
        .is_some_and(|(from, here)| from.path() == page && from.origin() == here.origin())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(gate: &Gate, origin: &str) -> Result<Option<HeaderValue>, &'static str> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        gate.check(&headers, None, false)
            .map(|site| site.cors_origin)
            .map_err(|e| e.code())
    }

    #[test]
    fn the_allow_lists_own_origins_are_known_and_its_wildcards_are_not_origins() {
        let domains = AllowedDomains::parse("example.com *.example.org").unwrap();
        let gate = Gate::with(Some(domains), false);
        assert_eq!(gate.echoes.len(), 1);
        assert_eq!(
            check(&gate, "https://example.com").unwrap().unwrap(),
            "https://example.com"
        );
        assert_eq!(
            check(&gate, "https://a.example.org").unwrap().unwrap(),
            "https://a.example.org"
        );
        // An entry's text is not an origin a browser can send.
        assert_eq!(
            check(&gate, "https://*.example.org"),
            Err("origin_not_allowed")
        );
        assert_eq!(check(&gate, "https://evil.net"), Err("origin_not_allowed"));
    }
}
