//! `graph.instagram.com` (Instagram API with Instagram Login): token
//! exchange and refresh, `/me`, the media edge, media nodes and children.
//! Every path works with and without a `/vNN.N` prefix.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use warp::http::Method;

use super::error::{ApiError, GraphError};
use super::graph::{self, Caller, Metering};
use super::ids;
use super::model::{Invalidation, LONG_LIVED, MIN_REFRESH_AGE, State, TokenKind};
use super::options::YoungRefresh;
use super::paging::PageQuery;
use super::render::{View, requested_fields};
use super::reply::Reply;
use super::request::Request;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route<'a> {
    RefreshAccessToken,
    AccessToken,
    /// `/{id}`; `me` is the caller.
    Node(&'a str),
    /// `/{id}/{edge}`.
    Edge(&'a str, &'a str),
    Root,
    /// More segments than any Instagram endpoint has.
    Unknown,
}

impl<'a> Route<'a> {
    fn parse(segments: &[&'a str]) -> Route<'a> {
        match segments {
            [] => Route::Root,
            ["refresh_access_token"] => Route::RefreshAccessToken,
            ["access_token"] => Route::AccessToken,
            [id] => Route::Node(id),
            [id, edge] => Route::Edge(id, edge),
            _ => Route::Unknown,
        }
    }
}

pub(crate) fn handle(state: &mut State, request: &Request) -> Result<Reply, ApiError> {
    let segments = request.segments();
    let route = Route::parse(&segments);
    if request.method != Method::GET {
        return Err(wrong_method(route, request).into());
    }
    if state.options.account_not_permitted {
        // What Meta answers every GET with when the account may not use the
        // app (instagram-api.md §13; stevenschobert/instafeed.js#654).
        return Err(GraphError::unsupported_method("GET").into());
    }
    match route {
        Route::RefreshAccessToken => {
            graph::call(state, request, Metering::App, |s, c| refresh(s, request, c))
        }
        Route::AccessToken => graph::call(state, request, Metering::App, |s, c| {
            exchange(s, request, c)
        }),
        Route::Node(id) => graph::call(state, request, Metering::BusinessUseCase, |s, c| {
            node(s, request, c, id)
        }),
        Route::Edge(id, edge) => graph::call(state, request, Metering::BusinessUseCase, |s, c| {
            edge_of(s, request, c, id, edge)
        }),
        Route::Root | Route::Unknown => graph::call(state, request, Metering::App, |_, _| {
            Err(unknown_path(&request.path).into())
        }),
    }
}

fn wrong_method(route: Route<'_>, request: &Request) -> GraphError {
    match route {
        Route::Node(id) | Route::Edge(id, _) => {
            GraphError::nonexisting_object(id, request.method.as_str())
        }
        _ => GraphError::unsupported_method(request.method.as_str()),
    }
}

pub(super) fn unknown_path(path: &str) -> GraphError {
    GraphError::new(
        2500,
        "OAuthException",
        format!("Unknown path components: {path}"),
    )
}

pub(super) fn token_reply(token: &str, expires_in: i64) -> Reply {
    Reply::ok(&json!({ "access_token": token, "token_type": "bearer", "expires_in": expires_in }))
}

fn require_grant(request: &Request, expected: &str) -> Result<(), GraphError> {
    match request.param("grant_type") {
        None => Err(GraphError::missing_param("grant_type")),
        Some(grant) if grant == expected => Ok(()),
        Some(other) => Err(GraphError::param_not_one_of("grant_type", expected, other)),
    }
}

/// `GET /refresh_access_token?grant_type=ig_refresh_token`: the 24-hour rule.
fn refresh(state: &mut State, request: &Request, caller: &Caller) -> Result<Reply, ApiError> {
    require_grant(request, "ig_refresh_token")?;
    if caller.kind != TokenKind::InstagramLong {
        return Err(
            GraphError::param("(#100) Only long-lived access tokens can be refreshed").into(),
        );
    }
    let now = state.now();
    let Some(record) = state.tokens.get(&caller.token).cloned() else {
        return Err(GraphError::token_unparsable().into());
    };
    if now - record.issued_at < MIN_REFRESH_AGE {
        let remaining = record.expires_at.map_or(0, |at| seconds_until(at, now));
        return match state.options.young_refresh {
            YoungRefresh::NoOp => Ok(token_reply(&caller.token, remaining)),
            YoungRefresh::Error => Err(GraphError::param(
                "(#100) The access token must be at least 24 hours old to be refreshed",
            )
            .into()),
            YoungRefresh::InvalidToken => Err(GraphError::new(
                190,
                "OAuthException",
                "Error validating access token: the token is too new to be refreshed",
            )
            .into()),
        };
    }
    let token = if state.options.rotate_on_refresh {
        rotate(state, caller, record.scopes)
    } else {
        extend(state, &caller.token);
        caller.token.clone()
    };
    tracing::debug!(token = %ids::fingerprint(&token), "fake graph refreshed a token");
    Ok(token_reply(&token, LONG_LIVED.num_seconds()))
}

/// Seconds left until `expires_at`, never negative.
fn seconds_until(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (expires_at - now).max(Duration::zero()).num_seconds()
}

/// Issues a new long-lived token; the old one lives on unless the options say not.
fn rotate(state: &mut State, caller: &Caller, scopes: Vec<String>) -> String {
    let now = state.now();
    let token = state.issue_token(TokenKind::InstagramLong, caller.user, scopes, now);
    if state.options.invalidate_old_on_refresh
        && let Some(old) = state.tokens.get_mut(&caller.token)
    {
        old.invalidated = Some(Invalidation {
            subcode: Some(467),
            message: "Error validating access token: The session is invalid because a newer \
                      access token was issued."
                .into(),
        });
    }
    token
}

/// Same string, new 60-day expiry counted from now.
fn extend(state: &mut State, token: &str) {
    let now = state.now();
    if let Some(record) = state.tokens.get_mut(token) {
        record.issued_at = now;
        record.expires_at = Some(now + LONG_LIVED);
    }
}

/// `GET /access_token?grant_type=ig_exchange_token&client_secret=…`: short → long.
fn exchange(state: &mut State, request: &Request, caller: &Caller) -> Result<Reply, ApiError> {
    require_grant(request, "ig_exchange_token")?;
    let secret = request
        .param("client_secret")
        .ok_or_else(|| GraphError::missing_param("client_secret"))?;
    if secret != state.options.app.ig_app_secret {
        return Err(
            GraphError::new(101, "OAuthException", "Error validating client secret.").into(),
        );
    }
    if caller.kind != TokenKind::InstagramShort {
        return Err(GraphError::param(
            "(#100) Only short-lived access tokens can be exchanged for long-lived ones",
        )
        .into());
    }
    let scopes = state
        .tokens
        .get(&caller.token)
        .map(|r| r.scopes.clone())
        .unwrap_or_default();
    let now = state.now();
    let token = state.issue_token(TokenKind::InstagramLong, caller.user, scopes, now);
    Ok(token_reply(&token, LONG_LIVED.num_seconds()))
}

/// What an id in the path names, as far as the caller may see it.
enum Object {
    User(usize),
    Media(String),
}

fn resolve(state: &State, caller: &Caller, id: &str) -> Result<Object, GraphError> {
    if id == "me" {
        return Ok(Object::User(caller.user));
    }
    if state.user_by_id(id) == Some(caller.user) {
        return Ok(Object::User(caller.user));
    }
    let own_ig_id = state
        .users
        .get(caller.user)
        .map(|u| u.public.ig_user_id.as_str());
    match state.media.get(id) {
        Some(media) if Some(media.owner.as_str()) == own_ig_id => Ok(Object::Media(id.into())),
        _ => Err(GraphError::nonexisting_object(id, "get")),
    }
}

fn node(state: &State, request: &Request, caller: &Caller, id: &str) -> Result<Reply, ApiError> {
    let view = View {
        state,
        request,
        access_token: &caller.token,
    };
    let body = match resolve(state, caller, id)? {
        Object::User(user) => {
            let fields = requested_fields(request, &["id"])?;
            view.user(&state.users[user], &fields)?
        }
        Object::Media(media) => {
            let fields = requested_fields(request, &["id"])?;
            view.media(&state.media[&media], &fields)?
        }
    };
    Ok(Reply::ok(&body))
}

pub(crate) fn page_query(state: &State, request: &Request) -> Result<PageQuery, GraphError> {
    let mut query = PageQuery::new(request.param("limit"), state.options.page_size)?;
    query.after = request.param("after").map(str::to_string);
    query.before = request.param("before").map(str::to_string);
    Ok(query)
}

fn edge_of(
    state: &State,
    request: &Request,
    caller: &Caller,
    id: &str,
    edge: &str,
) -> Result<Reply, ApiError> {
    let object = resolve(state, caller, id)?;
    let view = View {
        state,
        request,
        access_token: &caller.token,
    };
    let fields = requested_fields(request, &["id"])?;
    let query = page_query(state, request)?;
    let body = match (object, edge) {
        (Object::User(user), "media") => {
            let user = &state.users[user];
            let path = format!("/{}/media", user.public.ig_user_id);
            view.media_page(&user.media, &fields, &query, &path)?
        }
        (Object::Media(media), "children") => {
            let children = &state.media[&media].children;
            view.media_page(children, &fields, &query, &format!("/{media}/children"))?
        }
        _ => return Err(unknown_path(&format!("/{edge}")).into()),
    };
    Ok(Reply::ok(&body))
}
