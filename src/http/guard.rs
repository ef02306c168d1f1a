//! The allow-list guard and CORS, for every URL a website calls: token,
//! feed and hashtags.
//!
//! CORS headers alone cannot stop a `<script src>` include, so the request
//! itself is checked: its `Origin`, or failing that its `Referer`, must be in
//! ALLOWED_DOMAINS (see `domain/allowlist.rs`), else 403.

use std::future::Future;
use std::sync::Arc;

use futures_util::future;
use warp::http::{HeaderValue, Method, StatusCode, header};
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
    cors_origin: Option<String>,
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
                        cors_origin,
                        by_referer,
                    })
                    .map_err(warp::reject::custom);
                future::ready(checked)
            },
        )
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
        let response = match self.method {
            Method::OPTIONS => preflight(),
            Method::GET | Method::HEAD => handler().unwrap_or_else(Reply::into_response),
            _ => ApiError::method_not_allowed("This URL answers GET only.").into_response(),
        };
        with_cors(response, self.cors_origin, self.by_referer)
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
    let headers = response.headers_mut();
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
    response
}

/// Adds the CORS answer for an allowed origin, and a `Vary` naming every
/// header that decided: `Origin`, and `Referer` when it stood in for one.
fn with_cors(mut response: Response, origin: Option<String>, by_referer: bool) -> Response {
    let headers = response.headers_mut();
    let vary = if by_referer {
        "Origin, Referer"
    } else {
        "Origin"
    };
    headers.insert(header::VARY, HeaderValue::from_static(vary));
    if let Some(origin) = origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    response
}
