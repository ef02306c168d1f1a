//! `GET /feed.json` and `GET /hashtags/{tag}/recent.json|top.json` (routed
//! by `door.rs`): media
//! through the agent's cache, filtered by `type`, `exclude`, `tag`, `q` and
//! `exclude_text` when asked. The token never leaves the server.

use std::sync::Arc;

use bytes::Bytes;
use url::Url;
use warp::http::{HeaderMap, HeaderValue, Response, header};

use super::error::ApiError;
use super::etag::{etag_matches, unless_held};
use crate::app::App;
use crate::domain::{AccountName, ClientKey, is_valid_cursor, parse_hashtag};
use crate::feed::{Answer, FeedQuery, Filter, HashtagQuery, MAX_ACCOUNTS};
use crate::upstream::HashtagEdge;

const DEFAULT_LIMIT: u32 = 25;
const MAX_FEED_LIMIT: u32 = 100;
/// Instagram serves at most 50 hashtag media per page.
const MAX_HASHTAG_LIMIT: u32 = 50;

/// The query parameters both endpoints take, checked before anything else.
struct Params {
    /// `account=a,b`: one, or several merged.
    accounts: Vec<AccountName>,
    limit: u32,
    /// One of the agent's own cursors, from `after` or `before`.
    cursor: Option<String>,
    filter: Filter,
}

fn parse_params(query: Option<&str>, max_limit: u32) -> Result<Params, ApiError> {
    let mut params = Params {
        accounts: Vec::new(),
        limit: DEFAULT_LIMIT,
        cursor: None,
        filter: Filter::default(),
    };
    let mut seen_cursor = false;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "account" => params.accounts = parse_accounts(&value)?,
            "limit" => {
                params.limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=max_limit).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "invalid_limit",
                            format!("limit must be a whole number from 1 to {max_limit}"),
                        )
                    })?;
            }
            "after" | "before" => {
                if seen_cursor {
                    return Err(ApiError::bad_request(
                        "invalid_cursor",
                        "give either after or before, once",
                    ));
                }
                seen_cursor = true;
                if !is_valid_cursor(&value) {
                    return Err(ApiError::bad_request(
                        "invalid_cursor",
                        "the cursor is not one this agent handed out",
                    ));
                }
                // The direction is inside the (signed) cursor.
                params.cursor = Some(value.into_owned());
            }
            // The filter's parameters choose items; unknown ones
            // (cache-busters, say) change nothing.
            key => params.filter.read(key, &value)?,
        }
    }
    Ok(params)
}

/// `account=`: a name, or up to [`MAX_ACCOUNTS`] names separated by commas.
fn parse_accounts(value: &str) -> Result<Vec<AccountName>, ApiError> {
    let mut names: Vec<AccountName> = Vec::new();
    for part in value.split(',') {
        let name = AccountName::parse(part.trim()).map_err(|_| {
            ApiError::bad_request(
                "invalid_account",
                "account must be 1 to 64 letters, digits, - or _ (several separated by commas)",
            )
        })?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.len() > MAX_ACCOUNTS {
        return Err(ApiError::bad_request(
            "invalid_account",
            format!("a feed merges at most {MAX_ACCOUNTS} accounts"),
        ));
    }
    Ok(names)
}

fn respond(
    answer: Answer,
    now: chrono::DateTime<chrono::Utc>,
    if_none_match: Option<&str>,
) -> Response<Bytes> {
    let mut response = Response::new(answer.body.clone());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    freshness_headers(&answer, Form::Json, now, headers);
    unless_held(response, if_none_match)
}

/// The forms an answer is served in, each with its own `ETag`.
#[derive(Clone, Copy)]
pub(super) enum Form {
    Json,
    Html,
    Rss,
}

impl Form {
    fn suffix(self) -> &'static str {
        match self {
            Form::Json => "",
            Form::Html => "html",
            Form::Rss => "rss",
        }
    }
}

/// A 304 with the answer's headers, when the client already holds the
/// answer in `form`: checked before that form is rendered.
pub(super) fn held(
    answer: &Answer,
    form: Form,
    now: chrono::DateTime<chrono::Utc>,
    if_none_match: Option<&str>,
) -> Option<Response<Bytes>> {
    let given = if_none_match?;
    let etag = answer.etag(form.suffix());
    if !etag_matches(given, &String::from_utf8_lossy(&etag)) {
        return None;
    }
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = warp::http::StatusCode::NOT_MODIFIED;
    freshness_headers(answer, form, now, response.headers_mut());
    Some(response)
}

/// `ETag`, `Age`, `Cache-Control` and, for a stale copy, `Warning`: which
/// version an answer is and how long a client may keep it, in `form`.
pub(super) fn freshness_headers(
    answer: &Answer,
    form: Form,
    now: chrono::DateTime<chrono::Utc>,
    headers: &mut HeaderMap,
) {
    if let Ok(etag) = HeaderValue::from_maybe_shared(answer.etag(form.suffix())) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(
        header::AGE,
        HeaderValue::from(answer.age(now).num_seconds()),
    );
    let cache = if answer.stale {
        "no-cache".to_string()
    } else {
        format!("public, max-age={}", answer.max_age)
    };
    if let Ok(value) = HeaderValue::from_str(&cache) {
        headers.insert(header::CACHE_CONTROL, value);
    }
    if answer.stale {
        headers.insert(
            "warning",
            HeaderValue::from_static("110 - \"Response is Stale\""),
        );
    }
}

/// What a feed URL's handler is given of its request.
pub(super) struct FeedRequest {
    /// The query string, as sent.
    pub query: Option<String>,
    pub client: ClientKey,
    /// The agent's URL its links start at.
    pub base: Url,
    /// `If-None-Match`, when sent.
    pub if_none_match: Option<String>,
}

impl FeedRequest {
    fn held(&self) -> Option<&str> {
        self.if_none_match.as_deref()
    }

    /// The feed a `/feed.json`, `/feed.html` or `/feed.rss` query asks
    /// for, checked.
    pub(super) fn feed_query(&self) -> Result<FeedQuery, ApiError> {
        feed_query(self.query.as_deref(), self.client)
    }
}

fn feed_query(query: Option<&str>, client: ClientKey) -> Result<FeedQuery, ApiError> {
    let params = parse_params(query, MAX_FEED_LIMIT)?;
    let mut accounts = params.accounts.into_iter().map(AccountName::into_string);
    Ok(FeedQuery {
        account: accounts
            .next()
            .unwrap_or_else(|| AccountName::default_account().into_string()),
        also: accounts.collect(),
        limit: params.limit,
        cursor: params.cursor,
        filter: params.filter,
        client: Some(client),
    })
}

pub(super) async fn feed(app: Arc<App>, request: FeedRequest) -> Result<Response<Bytes>, ApiError> {
    let query = request.feed_query()?;
    let answer = app.feeds.feed(&query, &request.base).await?;
    Ok(respond(answer, app.clock.now(), request.held()))
}

/// `/feed.rss`: `/feed.json`'s answer as RSS, for feed readers; a client
/// that holds this version gets a 304 before anything is rendered.
pub(super) async fn rss(app: Arc<App>, request: FeedRequest) -> Result<Response<Bytes>, ApiError> {
    let asked = request.feed_query()?;
    let answer = app.feeds.feed(&asked, &request.base).await?;
    let now = app.clock.now();
    if let Some(held) = held(&answer, Form::Rss, now, request.held()) {
        return Ok(held);
    }
    let mut self_url = request.base.join("feed.rss").map_err(|_| {
        ApiError::unavailable("the feed's own URL could not be made", "bad base URL")
    })?;
    self_url.set_query(request.query.as_deref());
    let minutes = (answer.max_age / 60).max(1);
    let mut response =
        crate::pages::feed_rss(&answer.body, &accounts(&asked), self_url.as_str(), minutes)
            .ok_or_else(|| {
                ApiError::unavailable("a feed answer could not be read back", "not a feed")
            })?;
    freshness_headers(&answer, Form::Rss, now, response.headers_mut());
    Ok(response)
}

/// The accounts a feed query reads, as `account=` names them.
fn accounts(query: &FeedQuery) -> String {
    std::iter::once(query.account.as_str())
        .chain(query.also.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) async fn hashtag(
    app: Arc<App>,
    tag: String,
    file: String,
    request: FeedRequest,
) -> Result<Response<Bytes>, ApiError> {
    let edge = match file.as_str() {
        "recent.json" => HashtagEdge::Recent,
        "top.json" => HashtagEdge::Top,
        _ => return Err(ApiError::not_found()),
    };
    let decoded = percent_encoding::percent_decode_str(&tag).decode_utf8_lossy();
    let tag = parse_hashtag(&decoded).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_hashtag",
            "a hashtag is 1 to 100 letters, digits or underscores, without spaces or punctuation",
        )
    })?;
    let params = parse_params(request.query.as_deref(), MAX_HASHTAG_LIMIT)?;
    if params.accounts.len() > 1 {
        return Err(ApiError::bad_request(
            "invalid_account",
            "a hashtag feed is read through one account",
        ));
    }
    let query = HashtagQuery {
        tag,
        edge,
        account: params
            .accounts
            .into_iter()
            .next()
            .map(AccountName::into_string),
        limit: params.limit,
        cursor: params.cursor,
        filter: params.filter,
        client: Some(request.client),
    };
    let answer = app.feeds.hashtag(&query, &request.base).await?;
    Ok(respond(answer, app.clock.now(), request.held()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(query: &str) -> Option<&'static str> {
        parse_params(Some(query), MAX_FEED_LIMIT)
            .err()
            .map(|e| e.code())
    }

    #[test]
    fn query_parameters_are_checked_before_anything_else() {
        assert_eq!(code(""), None);
        assert_eq!(code("limit=100&after=QVFI&v=123"), None);
        assert_eq!(code("limit=0"), Some("invalid_limit"));
        assert_eq!(code("limit=101"), Some("invalid_limit"));
        assert_eq!(code("limit=ten"), Some("invalid_limit"));
        assert_eq!(code("account=../etc"), Some("invalid_account"));
        assert_eq!(code("after=a%20b"), Some("invalid_cursor"));
        assert_eq!(code("after=abc&before=def"), Some("invalid_cursor"));
        assert_eq!(code("after=abc&after=def"), Some("invalid_cursor"));
        let p = parse_params(Some("account=shop&limit=5&before=QVFI"), MAX_FEED_LIMIT)
            .ok()
            .unwrap();
        assert_eq!(
            p.accounts
                .iter()
                .map(AccountName::as_str)
                .collect::<Vec<_>>(),
            ["shop"]
        );
        assert_eq!(p.limit, 5);
        assert_eq!(p.cursor.as_deref(), Some("QVFI"));
        assert!(parse_params(Some("limit=51"), MAX_HASHTAG_LIMIT).is_err());
    }

    #[test]
    fn filter_parameters_are_checked_with_the_rest() {
        assert_eq!(code("type=IMAGE&tag=bakery&q=bread&exclude_text=x"), None);
        assert_eq!(code("type=PHOTO"), Some("invalid_type"));
        assert_eq!(code("tag=%23bakery%21"), Some("invalid_tag"));
        assert_eq!(code("exclude_text="), Some("invalid_text"));
        let p = parse_params(Some("exclude=video&tag=%23Bakery"), MAX_FEED_LIMIT)
            .ok()
            .unwrap();
        assert_eq!(
            p.filter.params(),
            [
                ("exclude", "VIDEO".to_string()),
                ("tag", "bakery".to_string())
            ]
        );
    }
}
