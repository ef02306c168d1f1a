//! `GET /token.json`, `/token.js`, `/token` and their
//! `/accounts/{name}/…` forms, plus CORS preflight for them.
//!
//! Answers come from the in-memory board: no database or cache is touched.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::future;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{self, HeaderValue, Method, StatusCode, header};
use warp::path::FullPath;
use warp::reply::Response;

use super::error::ApiError;
use super::guard::{self, KnownOrigins, Site};
use super::{optional_query, with_app};
use crate::app::App;
use crate::board::Served;
use crate::domain::DEFAULT_ACCOUNT;
use crate::domain::jsident::JsIdentifier;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Js,
    Text,
}

/// Which account and format a path asks for, if it is a token URL.
pub fn parse_path(path: &str) -> Option<(&str, Format)> {
    let format = |file: &str| match file {
        "token.json" => Some(Format::Json),
        "token.js" => Some(Format::Js),
        "token" => Some(Format::Text),
        _ => None,
    };
    let rest = path.strip_prefix('/')?;
    match rest.split_once('/') {
        None => Some((DEFAULT_ACCOUNT, format(rest)?)),
        Some(("accounts", tail)) => match tail.split_once('/') {
            Some((name, file)) if !name.is_empty() => Some((name, format(file)?)),
            _ => None,
        },
        Some(_) => None,
    }
}

/// The token URLs, for GET, HEAD and OPTIONS, through the router. The
/// server answers most of these requests before the router sees them
/// ([`Shortcut`]); this route answers the rest (refusals, unusual headers)
/// and every request when the server runs without the shortcut.
pub fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    warp::method()
        .and(warp::path::full())
        .and_then(|method: Method, path: FullPath| {
            let is_token_method = matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
            future::ready(match parse_path(path.as_str()) {
                Some((account, format)) if is_token_method => {
                    Ok((method == Method::HEAD, account.to_string(), format))
                }
                _ => Err(warp::reject::not_found()),
            })
        })
        .untuple_one()
        .and(guard::site(app.clone()))
        .and(warp::header::optional::<String>("if-none-match"))
        .and(optional_query())
        .and(with_app(app))
        .then(
            |head: bool,
             account: String,
             format: Format,
             site: Site,
             if_none_match: Option<String>,
             query: Option<String>,
             app: Arc<App>| {
                let request = TokenRequest {
                    head,
                    account: &account,
                    format,
                    if_none_match: if_none_match.as_deref(),
                    query: query.as_deref(),
                };
                future::ready(site.answer_now(|| respond(&app, &request).map(into_warp)))
            },
        )
        .boxed()
}

/// A token answer as the router's response.
fn into_warp(answer: http::Response<Bytes>) -> Response {
    let (parts, body) = answer.into_parts();
    let body = if body.is_empty() {
        Default::default()
    } else {
        body.into()
    };
    Response::from_parts(parts, body)
}

/// The token URLs answered ahead of the router, with the same answers.
///
/// It takes the requests whose answer is a token, a 304 or a CORS
/// preflight: a token URL, GET, HEAD or OPTIONS, from a site whose origin
/// is already known to the allow-list ([`KnownOrigins`]), with readable
/// headers. Anything else (a refusal, an unknown account, a bad `const`, a
/// header that is not text) goes on to the router, which answers it as it
/// always has. Nothing is allocated here for a token answer: bodies and
/// header values come from the board, the CORS origin from the allow-list.
pub struct Shortcut {
    app: Arc<App>,
    origins: KnownOrigins,
}

impl Shortcut {
    pub fn new(app: Arc<App>) -> Shortcut {
        Shortcut {
            origins: KnownOrigins::new(&app),
            app,
        }
    }

    /// The answer to `request`, or `None` to leave it to the router.
    pub fn answer<B>(&self, request: &http::Request<B>) -> Option<http::Response<Bytes>> {
        let method = request.method();
        if !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return None;
        }
        let path = request.uri().path();
        let (account, format) = parse_path(path)?;
        let headers = request.headers();
        let known = self.origins.known(headers)?;
        let if_none_match = guard::header_text(headers, header::IF_NONE_MATCH)?;
        let mut answer = if method == Method::OPTIONS {
            let mut answer = http::Response::new(Bytes::new());
            *answer.status_mut() = StatusCode::NO_CONTENT;
            guard::preflight_headers(answer.headers_mut());
            answer
        } else {
            let request = TokenRequest {
                head: method == Method::HEAD,
                account,
                format,
                if_none_match,
                query: request.uri().query(),
            };
            respond(&self.app, &request).ok()?
        };
        guard::cors_headers(
            answer.headers_mut(),
            Some(known.cors_origin.clone()),
            known.by_referer,
        );
        self.app
            .metrics
            .record_request(path, answer.status().as_u16());
        Some(answer)
    }
}

/// The request facts a token answer depends on, once the allow-list has
/// let the request in.
pub struct TokenRequest<'a> {
    pub head: bool,
    pub account: &'a str,
    pub format: Format,
    pub if_none_match: Option<&'a str>,
    pub query: Option<&'a str>,
}

/// The `const` query parameter of token.js, as given.
fn const_param(query: Option<&str>) -> Option<Cow<'_, str>> {
    query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "const")
            .map(|(_, v)| v)
    })
}

/// The token answer: from the board in memory, never the database. An
/// empty body is no body (HEAD, 304).
pub fn respond(app: &App, req: &TokenRequest<'_>) -> Result<http::Response<Bytes>, ApiError> {
    let served = app.board.get(req.account);
    // token.js's `const`, validated (before the account is looked for);
    // the configured JS_CONSTANT_NAME when absent.
    let js_name = match (req.format, const_param(req.query)) {
        (Format::Json | Format::Text, _) => None,
        (Format::Js, None) => Some(Cow::Borrowed(app.config.js_constant_name.as_str())),
        (Format::Js, Some(name)) => {
            // A name token.js was made for was valid then.
            if !served.as_ref().is_some_and(|s| s.js_made_for(&name)) {
                JsIdentifier::parse(&name)
                    .map_err(|e| ApiError::bad_request("invalid_const", e.to_string()))?;
            }
            Some(name)
        }
    };
    let Some(served) = served else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_account",
            "There is no token for this account yet. Add one with STARTING_TOKEN, `token-agent accounts add`, or the admin page.",
        ));
    };
    let now = app.clock.now();
    if served.next_refresh_at.is_some_and(|t| t <= now) {
        // Overdue (a sleeping dyno, say): refresh in the background; this
        // request is served the current, still valid token.
        app.wake.notify_one();
    }

    let mut response = if req
        .if_none_match
        .is_some_and(|tags| etag_matches(tags, &served.etag))
    {
        let mut r = http::Response::new(Bytes::new());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let (content_type, body) = match (req.format, js_name) {
            (Format::Json, _) => ("application/json", served.json.clone()),
            (Format::Js, Some(name)) => (
                "application/javascript; charset=utf-8",
                served.js_body(&name),
            ),
            (Format::Js, None) | (Format::Text, _) => {
                ("text/plain; charset=utf-8", served.text.clone())
            }
        };
        let mut r = http::Response::new(if req.head { Bytes::new() } else { body });
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        r
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, served.etag_header.clone());
    headers.insert(
        header::CACHE_CONTROL,
        served.cache_control(max_age(&served, now)),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

/// Seconds a browser or CDN may keep the answer: at most a day, never
/// past the token's expiry or its next refresh, never negative.
pub fn max_age(served: &Served, now: DateTime<Utc>) -> i64 {
    let until = |t: Option<DateTime<Utc>>| t.map(|t| (t - now).num_seconds());
    [
        Some(86_400),
        until(served.expires_at),
        until(served.next_refresh_at).filter(|s| *s > 0),
    ]
    .into_iter()
    .flatten()
    .min()
    .unwrap_or(0)
    .max(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn token_paths_name_an_account_and_a_format() {
        assert_eq!(parse_path("/token.json"), Some(("default", Format::Json)));
        assert_eq!(parse_path("/token.js"), Some(("default", Format::Js)));
        assert_eq!(parse_path("/token"), Some(("default", Format::Text)));
        assert_eq!(
            parse_path("/accounts/shop/token.js"),
            Some(("shop", Format::Js))
        );
        for other in [
            "/",
            "/tokens",
            "/token.json/x",
            "/accounts//token",
            "/accounts/a/b/token",
            "/accounts/token",
            "/accounts",
            "/feed.json",
        ] {
            assert_eq!(parse_path(other), None, "{other}");
        }
    }

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_star() {
        assert!(etag_matches("\"abc\"", "\"abc\""));
        assert!(etag_matches("\"x\", W/\"abc\"", "\"abc\""));
        assert!(etag_matches("*", "\"abc\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
    }

    #[test]
    fn max_age_is_bounded_by_a_day_the_expiry_and_the_next_refresh() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let served = |expires: Option<Duration>, next: Option<Duration>| {
            Served::new("t", expires.map(|d| now + d), next.map(|d| now + d))
        };
        assert_eq!(
            max_age(
                &served(Some(Duration::days(50)), Some(Duration::days(7))),
                now
            ),
            86_400
        );
        assert_eq!(max_age(&served(Some(Duration::hours(2)), None), now), 7_200);
        assert_eq!(
            max_age(
                &served(Some(Duration::days(50)), Some(Duration::minutes(3))),
                now
            ),
            180
        );
        // Overdue refresh does not make it zero; an expired token does.
        assert_eq!(
            max_age(
                &served(Some(Duration::days(50)), Some(Duration::minutes(-3))),
                now
            ),
            86_400
        );
        assert_eq!(max_age(&served(Some(Duration::hours(-1)), None), now), 0);
        assert_eq!(max_age(&served(None, None), now), 86_400);
    }
}
