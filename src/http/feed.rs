//! `GET /feed.json` and `GET /hashtags/{tag}/recent.json|top.json`: media
//! through the agent's cache, filtered by `type`, `exclude`, `tag`, `q` and
//! `exclude_text` when asked. The token never leaves the server.

use std::sync::Arc;

use url::Url;
use warp::Filter as _;
use warp::filters::BoxedFilter;
use warp::http::{self, HeaderMap, HeaderValue, StatusCode, header};
use warp::reply::Response;

use super::client::{self, client};
use super::error::ApiError;
use super::guard::{self, KnownOrigins, Site};
use super::server::Peer;
use super::{optional_query, request_url, with_app};
use crate::app::App;
use crate::domain::{AccountName, ClientKey, is_valid_cursor, parse_hashtag};
use crate::feed::{Answer, FeedError, FeedQuery, Filter, FilterError, HashtagQuery};
use crate::upstream::{ErrorKind, HashtagEdge};

/// `/feed.json` and `/hashtags/{tag}/{recent,top}.json`, behind the allow-list.
pub fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let site = guard::site(app.clone())
        .and(optional_query())
        .and(client(app.clone()))
        .and(super::request_url::for_shared_answers(app.clone()))
        .and(with_app(app));
    let feed = warp::path!("feed.json").and(site.clone()).then(
        |site: Site, query: Option<String>, client: ClientKey, base: Url, app: Arc<App>| {
            site.answer(feed(app, query, client, base))
        },
    );
    let hashtags = warp::path!("hashtags" / String / String).and(site).then(
        |tag,
         file,
         site: Site,
         query: Option<String>,
         client: ClientKey,
         base: Url,
         app: Arc<App>| { site.answer(hashtag(app, tag, file, query, client, base)) },
    );
    feed.boxed().or(hashtags.boxed()).unify().boxed()
}

/// `/feed.json` and the hashtag feeds answered ahead of the router, by the
/// routes' own handlers ([`feed`], [`hashtag`] and [`Site::answer`]) with
/// what the router would have extracted, so that every answer (a hit, a
/// miss, a stale copy, a 400, 403 or 404) is the router's.
///
/// It takes GET and HEAD of those URLs, exactly as written, from a site
/// whose origin the allow-list already knows ([`KnownOrigins`]); anything
/// else goes on to the router. What it saves is the router's work before
/// the handler: trying the routes in turn, copying the headers twice.
pub struct Shortcut {
    app: Arc<App>,
    origins: KnownOrigins,
}

/// Which handler a path is for.
enum Handler<'a> {
    Feed,
    Hashtag { tag: &'a str, file: &'a str },
}

impl Handler<'_> {
    /// As `warp::path!("feed.json")` and `("hashtags" / String / String)`
    /// match: whole segments, none empty.
    fn of(path: &str) -> Option<Handler<'_>> {
        if path == "/feed.json" {
            return Some(Handler::Feed);
        }
        let (tag, file) = path.strip_prefix("/hashtags/")?.split_once('/')?;
        (!tag.is_empty() && !file.is_empty() && !file.contains('/'))
            .then_some(Handler::Hashtag { tag, file })
    }
}

impl Shortcut {
    pub fn new(app: Arc<App>) -> Shortcut {
        Shortcut {
            origins: KnownOrigins::new(&app),
            app,
        }
    }

    /// The answer to `request` from `peer`, to wait for; `None` to leave
    /// it to the router.
    pub fn answer<B>(
        &self,
        request: &http::Request<B>,
        peer: Option<Peer>,
    ) -> Option<impl Future<Output = Response> + Send + 'static> {
        let handler = Handler::of(request.uri().path())?;
        let site = self.origins.site_for_read(request)?;
        let headers = request.headers();
        let app = self.app.clone();
        let query = request.uri().query().map(str::to_string);
        let client = ClientKey::of(client::address(
            &app.config.guard.trust_proxy,
            peer,
            headers,
        ));
        let base = request_url::shared_answer_base(&app, headers);
        // Owned, for an answer that outlives the request.
        let handler = match handler {
            Handler::Feed => None,
            Handler::Hashtag { tag, file } => Some((tag.to_string(), file.to_string())),
        };
        Some(async move {
            let metrics = app.metrics.clone();
            let (answer, route) = match handler {
                None => (
                    site.answer(feed(app, query, client, base)).await,
                    "/feed.json",
                ),
                Some((tag, file)) => (
                    site.answer(hashtag(app, tag, file, query, client, base))
                        .await,
                    "/hashtags",
                ),
            };
            metrics.record_request(route, answer.status().as_u16());
            answer
        })
    }
}

const DEFAULT_LIMIT: u32 = 25;
const MAX_FEED_LIMIT: u32 = 100;
/// Instagram serves at most 50 hashtag media per page.
const MAX_HASHTAG_LIMIT: u32 = 50;

/// The query parameters both endpoints take, checked before anything else.
struct Params {
    account: Option<AccountName>,
    limit: u32,
    /// One of the agent's own cursors, from `after` or `before`.
    cursor: Option<String>,
    filter: Filter,
}

fn parse_params(query: Option<&str>, max_limit: u32) -> Result<Params, ApiError> {
    let mut params = Params {
        account: None,
        limit: DEFAULT_LIMIT,
        cursor: None,
        filter: Filter::default(),
    };
    let mut seen_cursor = false;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "account" => {
                let name = AccountName::parse(&value).map_err(|_| {
                    ApiError::bad_request(
                        "invalid_account",
                        "account must be 1 to 64 letters, digits, - or _",
                    )
                })?;
                params.account = Some(name);
            }
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

impl From<FilterError> for ApiError {
    fn from(error: FilterError) -> ApiError {
        ApiError::bad_request(error.code(), error.to_string())
    }
}

impl From<FeedError> for ApiError {
    fn from(error: FeedError) -> ApiError {
        let (status, code) = match &error {
            FeedError::UnknownAccount(_) => (StatusCode::NOT_FOUND, "unknown_account"),
            FeedError::NeedsFacebookAccount(_) => {
                (StatusCode::CONFLICT, "facebook_account_required")
            }
            FeedError::HashtagBudget { retry_after } => {
                return ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "hashtag_limit",
                    error.to_string(),
                )
                .retry_after(*retry_after);
            }
            FeedError::NoSuchHashtag(_) => (StatusCode::NOT_FOUND, "unknown_hashtag"),
            FeedError::HashtagNotAllowed(_) => (StatusCode::NOT_FOUND, "hashtag_not_allowed"),
            FeedError::BadCursor => (StatusCode::BAD_REQUEST, "invalid_cursor"),
            FeedError::Throttled { retry_after } | FeedError::TooManyMisses { retry_after } => {
                let (status, code) = match &error {
                    FeedError::Throttled { .. } => {
                        (StatusCode::SERVICE_UNAVAILABLE, "upstream_throttled")
                    }
                    _ => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
                };
                return ApiError::new(status, code, error.to_string()).retry_after(*retry_after);
            }
            FeedError::Store(_) | FeedError::Encode(_) => {
                return ApiError::unavailable("a feed request failed inside the agent", &error);
            }
            FeedError::Upstream(e) => {
                let (status, code) = match e.kind {
                    ErrorKind::TokenDead => (StatusCode::BAD_GATEWAY, "upstream_token_invalid"),
                    ErrorKind::Throttled { .. } => {
                        (StatusCode::SERVICE_UNAVAILABLE, "upstream_throttled")
                    }
                    ErrorKind::Transient => (StatusCode::BAD_GATEWAY, "upstream_unavailable"),
                    ErrorKind::Garbage => (StatusCode::BAD_GATEWAY, "upstream_garbage"),
                    ErrorKind::Rejected => (StatusCode::BAD_GATEWAY, "upstream_rejected"),
                };
                tracing::warn!(code, error = %e, "feed request failed upstream");
                // What Meta said is the owner's to read (in the log; the
                // refresher shows token verdicts on /status), never a
                // stranger's: the answer says only what kind of failure it was.
                let message = match e.kind {
                    ErrorKind::Transient => "Instagram did not answer; try again shortly.",
                    ErrorKind::Garbage => {
                        "Instagram sent an answer the agent could not read; try again shortly."
                    }
                    ErrorKind::TokenDead => {
                        "Instagram no longer accepts this account's token; the owner can reconnect it on the admin page."
                    }
                    ErrorKind::Throttled { .. } => {
                        "Instagram asked the agent to slow down; try again later."
                    }
                    ErrorKind::Rejected => {
                        "Instagram refused the request; the agent's log says why."
                    }
                };
                return ApiError::new(status, code, message);
            }
        };
        ApiError::new(status, code, error.to_string())
    }
}

fn respond(answer: Answer, now: chrono::DateTime<chrono::Utc>) -> Response {
    let mut response = Response::new(answer.body.clone().into());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    freshness_headers(&answer, now, headers);
    response
}

/// `Age`, `Cache-Control` and, for a stale copy, `Warning`: how long a
/// client may keep an answer, whichever form (JSON or HTML) it takes.
pub(super) fn freshness_headers(
    answer: &Answer,
    now: chrono::DateTime<chrono::Utc>,
    headers: &mut HeaderMap,
) {
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

/// The feed a `/feed.json` or `/feed.html` query asks for, checked.
pub(super) fn feed_query(query: Option<&str>, client: ClientKey) -> Result<FeedQuery, ApiError> {
    let params = parse_params(query, MAX_FEED_LIMIT)?;
    Ok(FeedQuery {
        account: params
            .account
            .unwrap_or_else(AccountName::default_account)
            .into_string(),
        limit: params.limit,
        cursor: params.cursor,
        filter: params.filter,
        client: Some(client),
    })
}

async fn feed(
    app: Arc<App>,
    query: Option<String>,
    client: ClientKey,
    base: Url,
) -> Result<Response, ApiError> {
    let query = feed_query(query.as_deref(), client)?;
    let answer = app.feeds.feed(&query, &base).await?;
    Ok(respond(answer, app.clock.now()))
}

async fn hashtag(
    app: Arc<App>,
    tag: String,
    file: String,
    query: Option<String>,
    client: ClientKey,
    base: Url,
) -> Result<Response, ApiError> {
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
    let params = parse_params(query.as_deref(), MAX_HASHTAG_LIMIT)?;
    let query = HashtagQuery {
        tag,
        edge,
        account: params.account.map(AccountName::into_string),
        limit: params.limit,
        cursor: params.cursor,
        filter: params.filter,
        client: Some(client),
    };
    let answer = app.feeds.hashtag(&query, &base).await?;
    Ok(respond(answer, app.clock.now()))
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
        assert_eq!(p.account.as_ref().map(AccountName::as_str), Some("shop"));
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
