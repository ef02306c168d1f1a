//! The answer to `/token.json`, `/token.js`, `/token` and their
//! `/accounts/{name}/…` forms (routed by `door.rs`).
//!
//! Answers come from the in-memory board: no database or cache is touched.

use std::borrow::Cow;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use warp::http::{self, HeaderValue, header};

use super::error::ApiError;
use crate::app::App;
use crate::board::Served;
use crate::domain::jsident::JsIdentifier;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Js,
    Text,
}

/// The request facts a token answer depends on, once the allow-list has
/// let the request in.
pub struct TokenRequest<'a> {
    pub head: bool,
    pub account: &'a str,
    pub format: Format,
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
/// empty body is no body (HEAD).
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
        return Err(ApiError::unknown_account());
    };
    let now = app.clock.now();
    if served.next_refresh_at.is_some_and(|t| t <= now) {
        // Overdue (a sleeping dyno, say): refresh in the background; this
        // request is served the current, still valid token.
        app.wake.notify_one();
    }

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
    let mut response = http::Response::new(if req.head { Bytes::new() } else { body });
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
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
