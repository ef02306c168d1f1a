//! The allow-list guard and CORS, for every URL a website calls: token,
//! feed and hashtags.
//!
//! CORS headers alone cannot stop a `<script src>` include, so the request
//! itself is checked: its `Origin`, or failing that its `Referer`, must be in
//! ALLOWED_DOMAINS (see `domain/allowlist/`), else 403.

use std::future::Future;
use std::sync::Arc;

use futures_util::future;
use warp::http::{self, HeaderMap, HeaderValue, Method, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::error::ApiError;
use crate::app::App;
use crate::domain::allowlist::Access;

/// A request the allow-list let in: how it asked, and the origin to echo
/// in CORS headers (`None` for an allowed request without Origin/Referer).
#[derive(Debug)]
pub struct Site {
    method: Method,
    cors_origin: Option<HeaderValue>,
    /// No Origin header came, so the Referer decided: caches must key on it.
    by_referer: bool,
}

/// Extracts the calling [`Site`], or rejects with the 403 that says why.
pub fn site(app: Arc<App>) -> impl Filter<Extract = (Site,), Error = Rejection> + Clone {
    warp::method()
        .and(warp::header::optional::<String>("origin"))
        .and(warp::header::optional::<String>("referer"))
        .and_then(
            move |method: Method, origin: Option<String>, referer: Option<String>| {
                let by_referer = origin.is_none() && referer.is_some();
                let checked = check_origin(&app, origin.as_deref(), referer.as_deref())
                    .map(|cors_origin| Site {
                        method,
                        cors_origin: cors_origin.and_then(|o| HeaderValue::from_str(&o).ok()),
                        by_referer,
                    })
                    .map_err(warp::reject::custom);
                future::ready(checked)
            },
        )
}

/// [`site`] for a page of the agent's own that links to its next page
/// (`/feed.html`'s "Load more"): a request that the agent's own `path`
/// refers to passes too. That page was framed by an allowed site (its
/// `frame-ancestors` says so), and its link sends the agent's own URL as
/// the Referer, not the site's. Any client can send that Referer, as it can
/// send an allowed one: the allow-list keeps other sites' pages out, and the
/// cache bounds what anyone's calls cost.
pub fn site_or_own_page(
    app: Arc<App>,
    path: &'static str,
) -> impl Filter<Extract = (Site,), Error = Rejection> + Clone {
    let own_page = warp::method()
        .and(warp::header::optional::<String>("origin"))
        .and(warp::header::optional::<String>("referer"))
        .and(super::request_url::detected())
        .and_then(
            move |method: Method,
                  origin: Option<String>,
                  referer: Option<String>,
                  here: Option<url::Url>| {
                let from_itself = origin.is_none()
                    && referer
                        .as_deref()
                        .and_then(|r| url::Url::parse(r).ok())
                        .zip(here)
                        .is_some_and(|(from, here)| {
                            from.path() == path && from.origin() == here.origin()
                        });
                future::ready(if from_itself {
                    Ok(Site {
                        method,
                        cors_origin: None,
                        by_referer: true,
                    })
                } else {
                    Err(warp::reject::not_found())
                })
            },
        );
    own_page.or(site(app)).unify()
}

/// The allow-list check: `Ok(Some(origin))` to echo in CORS headers,
/// `Ok(None)` for an allowed request without Origin/Referer, or the 403.
fn check_origin(
    app: &App,
    origin: Option<&str>,
    referer: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let Some(domains) = &app.config.allowed_domains else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "allowed_domains_unset",
            "No site may use this agent yet: set ALLOWED_DOMAINS to the domains of your sites, e.g. \"example.com www.example.com\".",
        ));
    };
    match domains.check(origin, referer) {
        Access::Allowed { origin } => Ok(Some(origin)),
        Access::Missing if app.config.allow_empty_referer => Ok(None),
        Access::Missing => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_required",
            "This request names no site (no Origin or Referer header). Browsers send one; set ALLOW_EMPTY_REFERER=true to serve clients that do not.",
        )),
        Access::Denied => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "This site is not in ALLOWED_DOMAINS.",
        )),
    }
}

impl Site {
    /// Answers with `handler`: CORS preflight for OPTIONS, the handler's
    /// answer for GET and HEAD, 405 otherwise; CORS headers on all of them.
    pub fn answer_now(self, handler: impl FnOnce() -> Result<Response, ApiError>) -> Response {
        let mut response = match self.method {
            Method::OPTIONS => preflight(),
            Method::GET | Method::HEAD => handler().unwrap_or_else(Reply::into_response),
            _ => ApiError::method_not_allowed("This URL answers GET only.").into_response(),
        };
        cors_headers(response.headers_mut(), self.cors_origin, self.by_referer);
        response
    }

    /// [`Site::answer_now`] for a handler that has to wait.
    pub async fn answer(
        self,
        handler: impl Future<Output = Result<Response, ApiError>>,
    ) -> Response {
        // Only GET and HEAD run the handler; answer_now never calls this
        // closure for the other methods.
        let response = match self.method {
            Method::GET | Method::HEAD => Some(handler.await),
            _ => None,
        };
        self.answer_now(|| response.unwrap_or_else(|| Err(ApiError::not_found())))
    }
}

fn preflight() -> Response {
    let mut response = Response::default();
    *response.status_mut() = StatusCode::NO_CONTENT;
    preflight_headers(response.headers_mut());
    response
}

/// The CORS preflight answer's headers.
pub(super) fn preflight_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("If-None-Match, Content-Type"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
}

/// Adds the CORS answer for an allowed origin, and a `Vary` naming every
/// header that decided: `Origin`, and `Referer` when it stood in for one.
pub(super) fn cors_headers(headers: &mut HeaderMap, origin: Option<HeaderValue>, by_referer: bool) {
    let vary = if by_referer {
        "Origin, Referer"
    } else {
        "Origin"
    };
    headers.insert(header::VARY, HeaderValue::from_static(vary));
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
}

/// The allow-list's exact origins (`https://example.com`,
/// `http://localhost:8080`), each with its CORS header value made once, for
/// answering without the allow-list's parsing or an allocation.
///
/// An origin is kept only if the allow-list lets it in as itself, so that
/// a request naming it, by Origin or by a Referer under it, is decided and
/// echoed exactly as [`site`] would. Wildcard entries have no one origin:
/// their requests take [`site`].
pub struct KnownOrigins(Vec<(String, HeaderValue)>);

impl KnownOrigins {
    pub fn new(app: &App) -> KnownOrigins {
        let Some(domains) = &app.config.allowed_domains else {
            return KnownOrigins(Vec::new());
        };
        let known = domains
            .entries()
            .filter(|entry| {
                domains.check(Some(entry), None)
                    == Access::Allowed {
                        origin: entry.clone(),
                    }
            })
            .filter_map(|entry| Some((HeaderValue::from_str(&entry).ok()?, entry)))
            .map(|(value, entry)| (entry, value))
            .collect();
        KnownOrigins(known)
    }

    /// How [`site`] would let in a request with these headers, if it names
    /// a known origin; `None` when the allow-list has to decide, or a
    /// header is not text (the router's 400).
    pub fn known<'a>(&'a self, headers: &'a HeaderMap) -> Option<Known<'a>> {
        let origin = header_text(headers, header::ORIGIN)?;
        let referer = header_text(headers, header::REFERER)?;
        Some(Known {
            cors_origin: self.find(origin, referer)?,
            by_referer: origin.is_none() && referer.is_some(),
        })
    }

    /// The [`Site`] that [`site`] would extract for a GET or HEAD of
    /// `request`, if it names a known origin; `None` for anything else.
    pub fn site_for_read<B>(&self, request: &http::Request<B>) -> Option<Site> {
        let method = request.method();
        if !matches!(*method, Method::GET | Method::HEAD) {
            return None;
        }
        Some(self.known(request.headers())?.site(method.clone()))
    }

    /// The CORS origin to echo for a request with these headers, if the
    /// allow-list would let it in under a known origin; `None` when the
    /// allow-list has to decide.
    pub fn find(&self, origin: Option<&str>, referer: Option<&str>) -> Option<&HeaderValue> {
        fn given(value: Option<&str>) -> Option<&str> {
            value.map(str::trim).filter(|v| !v.is_empty())
        }
        // As the allow-list reads them: a non-empty Origin decides alone,
        // else the Referer's origin (what precedes its path, query or
        // fragment).
        let known = match (given(origin), given(referer)) {
            (Some(origin), _) => self.0.iter().find(|(o, _)| o == origin),
            (None, Some(referer)) => self.0.iter().find(|(o, _)| {
                referer
                    .strip_prefix(o.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?', '#']))
            }),
            (None, None) => None,
        };
        known.map(|(_, value)| value)
    }
}

/// A request [`KnownOrigins`] lets in: the origin to echo, and whether the
/// Referer stood in for a missing Origin.
pub struct Known<'a> {
    pub cors_origin: &'a HeaderValue,
    pub by_referer: bool,
}

impl Known<'_> {
    /// The [`Site`] that [`site`] would have extracted.
    pub fn site(&self, method: Method) -> Site {
        Site {
            method,
            cors_origin: Some(self.cors_origin.clone()),
            by_referer: self.by_referer,
        }
    }
}

/// A header as warp's `header::optional::<String>` reads it: `Some(None)`
/// when absent, `None` when it is not text (which warp refuses).
pub fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<Option<&str>> {
    match headers.get(name) {
        None => Some(None),
        Some(value) => value.to_str().ok().map(Some),
    }
}
