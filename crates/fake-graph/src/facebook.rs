//! Instagram API with Facebook Login: the `www.facebook.com/{v}/dialog/oauth`
//! window and `graph.facebook.com` (code and `fb_exchange_token` exchanges,
//! `debug_token`, `/me/accounts`, IG users and media, hashtag search with
//! its 30-per-7-days rule).

use chrono::Duration;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use warp::http::Method;

use super::error::{ApiError, GraphError};
use super::fields::Field;
use super::graph::{self, Caller, Metering};
use super::instagram::{page_query, token_reply, unknown_path};
use super::model::{Dialog, LONG_LIVED, SHORT_LIVED, Standing, State, TokenKind, TokenRecord};
use super::oauth::{self, CodeProblem};
use super::render::{View, requested_fields};
use super::reply::Reply;
use super::request::Request;

/// `/me/accounts` pages at 25 (Graph reference; AceDataCloud/Skills#548).
const ACCOUNTS_PAGE: usize = 25;

/// Hashtag edges serve at most this many items per page.
const HASHTAG_PAGE_MAX: usize = 50;

// ---- www.facebook.com -------------------------------------------------------

/// `GET www.facebook.com/{v}/dialog/oauth`; bad app or redirect → an HTML error page.
pub(crate) fn dialog(state: &mut State, request: &Request) -> Result<Reply, ApiError> {
    if request.path != "/dialog/oauth" {
        return Ok(Reply::html(404, facebook_page("This page isn't available")));
    }
    let app = state.options.app.clone();
    if request.param("client_id") != Some(app.fb_app_id.as_str()) {
        return Ok(Reply::html(400, facebook_page("Invalid App ID")));
    }
    let Some(redirect_uri) = request
        .param("redirect_uri")
        .filter(|uri| app.redirect_uris.iter().any(|allowed| allowed == uri))
    else {
        return Ok(Reply::html(
            400,
            facebook_page(
                "URL blocked: This redirect failed because the redirect URI is not \
                 whitelisted in the app's Client OAuth Settings.",
            ),
        ));
    };
    let state_param = request.param("state");
    if std::mem::take(&mut state.dialog.deny_next) {
        let location = oauth::denied_location(redirect_uri, state_param, "Permissions error.");
        return Ok(Reply::redirect(&location));
    }
    let Some(user) = state
        .dialog
        .login_as
        .or((!state.users.is_empty()).then_some(0))
    else {
        return Ok(Reply::html(
            400,
            facebook_page("The fake has no user to log in with"),
        ));
    };
    // Facebook Login for Business: a dashboard configuration stands for the
    // permissions (Meta's IG-with-Facebook-Login get-started; Nango's guide).
    let scopes = match request.param("config_id") {
        Some(id) if *id == *app.fb_login_config.0 => app.fb_login_config.1.clone(),
        Some(_) => return Ok(Reply::html(400, facebook_page("Invalid configuration ID"))),
        None => oauth::split_scopes(request.param("scope").unwrap_or("public_profile")),
    };
    let code = oauth::issue_code(state, Dialog::Facebook, user, redirect_uri, scopes);
    let location = oauth::granted_location(redirect_uri, &code, state_param, Some("_=_"));
    Ok(Reply::redirect(&location))
}

fn facebook_page(message: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><title>Facebook</title></head>\
         <body><div class=\"error\">{message}</div></body></html>"
    )
}

// ---- graph.facebook.com: routing ---------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route<'a> {
    OauthAccessToken,
    DebugToken,
    HashtagSearch,
    Node(&'a str),
    Edge(&'a str, &'a str),
    Unknown,
}

impl<'a> Route<'a> {
    fn parse(segments: &[&'a str]) -> Route<'a> {
        match segments {
            ["oauth", "access_token"] => Route::OauthAccessToken,
            ["debug_token"] => Route::DebugToken,
            ["ig_hashtag_search"] => Route::HashtagSearch,
            [id] => Route::Node(id),
            [id, edge] => Route::Edge(id, edge),
            _ => Route::Unknown,
        }
    }
}

pub(crate) fn handle(state: &mut State, request: &Request) -> Result<Reply, ApiError> {
    let segments = request.segments();
    let route = Route::parse(&segments);
    if request.method != Method::GET && route != Route::OauthAccessToken {
        let id = segments.first().copied().unwrap_or("");
        return Err(GraphError::nonexisting_object(id, request.method.as_str()).into());
    }
    match route {
        Route::OauthAccessToken => access_token(state, request),
        Route::DebugToken => debug_token(state, request),
        Route::HashtagSearch => graph::call(state, request, Metering::App, |s, c| {
            hashtag_search(s, request, c)
        }),
        Route::Node(id) => graph::call(state, request, metering_of(state, id), |s, c| {
            node(s, request, c, id)
        }),
        Route::Edge(id, edge) => graph::call(state, request, metering_of(state, id), |s, c| {
            edge_of(s, request, c, id, edge)
        }),
        Route::Unknown => graph::call(state, request, Metering::App, |_, _| {
            Err(unknown_path(&request.path).into())
        }),
    }
}

/// Instagram objects are under Business Use Case limits; hashtags and Facebook objects are not.
fn metering_of(state: &State, id: &str) -> Metering {
    let instagram_user = state.users.iter().any(|u| u.public.ig_user_id == id);
    if instagram_user || state.media.contains_key(id) {
        Metering::BusinessUseCase
    } else {
        Metering::App
    }
}

// ---- graph.facebook.com: tokens ----------------------------------------------

fn check_app(state: &State, request: &Request) -> Result<(), GraphError> {
    let app = &state.options.app;
    if request.param("client_id") != Some(app.fb_app_id.as_str()) {
        return Err(GraphError::new(
            101,
            "OAuthException",
            "Error validating application. Invalid application ID.",
        ));
    }
    if request.param("client_secret") != Some(app.fb_app_secret.as_str()) {
        return Err(
            GraphError::new(1, "OAuthException", "Error validating client secret.")
                .with_status(400),
        );
    }
    Ok(())
}

/// `/oauth/access_token`: code exchange, `fb_exchange_token`, `client_credentials`.
fn access_token(state: &mut State, request: &Request) -> Result<Reply, ApiError> {
    check_app(state, request)?;
    match request.param("grant_type") {
        None | Some("authorization_code") => exchange_code(state, request),
        Some("fb_exchange_token") => exchange_token(state, request),
        Some("client_credentials") => {
            let app = &state.options.app;
            let token = format!("{}|{}", app.fb_app_id, app.fb_app_secret);
            Ok(Reply::ok(
                &json!({ "access_token": token, "token_type": "bearer" }),
            ))
        }
        Some(other) => Err(GraphError::param_not_one_of(
            "grant_type",
            "authorization_code, fb_exchange_token, client_credentials",
            other,
        )
        .into()),
    }
}

/// Issues a short-lived (1 h) user token, as the docs describe; clients must
/// follow with `fb_exchange_token`.
fn exchange_code(state: &mut State, request: &Request) -> Result<Reply, ApiError> {
    let code = request
        .param("code")
        .ok_or_else(|| GraphError::missing_param("code"))?;
    let redirect_uri = request.param("redirect_uri").unwrap_or("");
    let code = oauth::redeem(state, code, redirect_uri, Dialog::Facebook).map_err(code_error)?;
    let now = state.now();
    let token = state.issue_token(TokenKind::FacebookUserShort, code.user, code.scopes, now);
    Ok(token_reply(&token, SHORT_LIVED.num_seconds()))
}

fn code_error(problem: CodeProblem) -> GraphError {
    let (subcode, message) = match problem {
        CodeProblem::Unknown => (None, "Invalid verification code format."),
        CodeProblem::Used => (Some(36009), "This authorization code has been used."),
        CodeProblem::Expired => (Some(36007), "This authorization code has expired."),
        CodeProblem::RedirectMismatch => (
            Some(36008),
            "Error validating verification code. Please make sure your redirect_uri is \
             identical to the one you used in the OAuth dialog request",
        ),
    };
    GraphError::new(100, "OAuthException", message).with_subcode(subcode)
}

/// `grant_type=fb_exchange_token`: any live user token → a new 60-day token.
fn exchange_token(state: &mut State, request: &Request) -> Result<Reply, ApiError> {
    let old = request
        .param("fb_exchange_token")
        .ok_or_else(|| GraphError::missing_param("fb_exchange_token"))?;
    let now = state.now();
    let record = state
        .tokens
        .get(old)
        .filter(|r| {
            matches!(
                r.kind,
                TokenKind::FacebookUserShort | TokenKind::FacebookUserLong
            )
        })
        .ok_or_else(GraphError::token_unparsable)?;
    match record.standing(now) {
        Standing::Expired(at) => Err(GraphError::session_expired(at, now, Some(463)).into()),
        Standing::Invalidated(invalidation) => {
            Err(
                GraphError::new(190, "OAuthException", invalidation.message.clone())
                    .with_subcode(invalidation.subcode.map(i64::from))
                    .into(),
            )
        }
        Standing::Live => {
            let (user, scopes) = (record.user, record.scopes.clone());
            let token = state.issue_token(TokenKind::FacebookUserLong, user, scopes, now);
            Ok(token_reply(&token, LONG_LIVED.num_seconds()))
        }
    }
}

/// `GET /debug_token?input_token=…&access_token={app token}`: always 200 for a bad input token.
fn debug_token(state: &mut State, request: &Request) -> Result<Reply, ApiError> {
    let app = &state.options.app;
    let app_token = format!("{}|{}", app.fb_app_id, app.fb_app_secret);
    let caller = request.access_token().unwrap_or_default();
    let caller_is_user = state.tokens.get(&caller).is_some_and(|r| {
        !r.kind.is_instagram() && matches!(r.standing(state.now()), Standing::Live)
    });
    if caller != app_token && !caller_is_user {
        return Err(GraphError::param(
            "(#100) You must provide an app access token, or a user access token that is an \
             owner or developer of the app",
        )
        .into());
    }
    let input = request
        .param("input_token")
        .ok_or_else(|| GraphError::missing_param("input_token"))?;
    let data = match state.tokens.get(input).filter(|r| !r.kind.is_instagram()) {
        Some(record) => describe_token(state, record),
        None => json!({
            "error": { "code": 190, "message": "Invalid OAuth access token - Cannot parse access token" },
            "is_valid": false,
            "scopes": [],
        }),
    };
    Ok(Reply::ok(&json!({ "data": data })))
}

fn describe_token(state: &State, record: &TokenRecord) -> Value {
    let now = state.now();
    let app = &state.options.app;
    let user = &state.users[record.user].public;
    let mut data = json!({
        "app_id": app.fb_app_id,
        "type": match record.kind {
            TokenKind::FacebookPage => "PAGE",
            TokenKind::SystemUser => "SYSTEM_USER",
            _ => "USER",
        },
        "application": "token-agent fake app",
        // Meta's sample for a system user shows 0 here (WhatsApp
        // permissions page, 2026-07-01).
        "data_access_expires_at": if record.kind == TokenKind::SystemUser {
            0
        } else {
            (record.issued_at + Duration::days(90)).timestamp()
        },
        "expires_at": record.expires_at.map_or(0, |at| at.timestamp()),
        "is_valid": true,
        "issued_at": record.issued_at.timestamp(),
        "scopes": record.scopes,
        "user_id": user.fb_user_id,
    });
    if record.kind == TokenKind::FacebookPage {
        data["profile_id"] = json!(user.page_id);
    }
    let error = match record.standing(now) {
        Standing::Live => None,
        Standing::Expired(at) => Some(GraphError::session_expired(at, now, Some(463))),
        Standing::Invalidated(invalidation) => Some(
            GraphError::new(190, "OAuthException", invalidation.message.clone())
                .with_subcode(invalidation.subcode.map(i64::from)),
        ),
    };
    if let Some(error) = error {
        data["is_valid"] = json!(false);
        data["error"] =
            json!({ "code": error.code, "message": error.message, "subcode": error.subcode });
    }
    data
}

// ---- graph.facebook.com: objects ---------------------------------------------

/// What an id in the path names, as far as the caller may see it.
enum Object {
    FacebookUser(usize),
    Page(usize),
    InstagramUser(usize),
    Media(String),
    Hashtag(String),
}

fn resolve(state: &State, caller: &Caller, id: &str) -> Result<Object, GraphError> {
    let own = &state.users[caller.user].public;
    let pages = state.visible_pages(&caller.token);
    let reached_ig = |ig_id: &str| {
        state
            .users
            .iter()
            .position(|u| u.public.ig_user_id == ig_id)
            .filter(|&i| state.reaches(&caller.token, i))
    };
    let object = match id {
        "me" if caller.kind == TokenKind::FacebookPage => match pages.first() {
            Some(&page) => Object::Page(page),
            None => return Err(GraphError::nonexisting_object(id, "get")),
        },
        "me" => Object::FacebookUser(caller.user),
        _ if id == own.fb_user_id && caller.kind != TokenKind::FacebookPage => {
            Object::FacebookUser(caller.user)
        }
        _ if let Some(&page) = pages.iter().find(|&&p| state.pages[p].id == id) => {
            Object::Page(page)
        }
        _ if let Some(user) = reached_ig(id) => Object::InstagramUser(user),
        _ if state
            .media
            .get(id)
            .is_some_and(|m| reached_ig(&m.owner).is_some()) =>
        {
            Object::Media(id.to_string())
        }
        _ => match state.hashtags.ids.get(id) {
            Some(name) => Object::Hashtag(name.clone()),
            None => return Err(GraphError::nonexisting_object(id, "get")),
        },
    };
    Ok(object)
}

fn node(
    state: &mut State,
    request: &Request,
    caller: &Caller,
    id: &str,
) -> Result<Reply, ApiError> {
    let body = match resolve(state, caller, id)? {
        Object::FacebookUser(user) => {
            let fields = requested_fields(request, &["id", "name"])?;
            facebook_user(state, user, &fields)?
        }
        Object::Page(index) => {
            let fields = requested_fields(request, &["id", "name"])?;
            page(state, caller, index, &fields)?
        }
        Object::InstagramUser(user) => {
            let fields = requested_fields(request, &["id"])?;
            view(state, request, caller).user(&state.users[user], &fields)?
        }
        Object::Media(media) => {
            let fields = requested_fields(request, &["id"])?;
            view(state, request, caller).media(&state.media[&media], &fields)?
        }
        Object::Hashtag(name) => json!({ "id": id, "name": name }),
    };
    Ok(Reply::ok(&body))
}

fn view<'a>(state: &'a State, request: &'a Request, caller: &'a Caller) -> View<'a> {
    View {
        state,
        request,
        access_token: &caller.token,
    }
}

fn facebook_user(state: &State, user: usize, fields: &[Field]) -> Result<Value, GraphError> {
    let user = &state.users[user];
    let mut out = Map::new();
    out.insert("id".into(), json!(user.public.fb_user_id));
    for field in fields {
        let value = match field.name.as_str() {
            "id" => json!(user.public.fb_user_id),
            "name" => json!(user.name),
            other => return Err(GraphError::nonexisting_field(other, "User")),
        };
        out.insert(field.name.clone(), value);
    }
    Ok(Value::Object(out))
}

fn page(
    state: &mut State,
    caller: &Caller,
    index: usize,
    fields: &[Field],
) -> Result<Value, GraphError> {
    let mut out = Map::new();
    let page = state.pages[index].clone();
    out.insert("id".into(), json!(page.id));
    for field in fields {
        let value = match field.name.as_str() {
            "id" => json!(page.id),
            "name" => json!(page.name),
            "category" => json!("Bakery"),
            "tasks" => json!([
                "ANALYZE",
                "ADVERTISE",
                "MESSAGING",
                "MODERATE",
                "CREATE_CONTENT",
                "MANAGE"
            ]),
            "access_token" => json!(page_token(state, caller, index)),
            // Absent, not null, when no Instagram account is linked.
            "instagram_business_account" => match page.ig_user {
                Some(ig) => json!({ "id": state.users[ig].public.ig_user_id }),
                None => continue,
            },
            other => return Err(GraphError::nonexisting_field(other, "Page")),
        };
        out.insert(field.name.clone(), value);
    }
    Ok(Value::Object(out))
}

/// The Page token for Page `index`: never expires when the caller's
/// user token is long-lived, one hour otherwise. Reused while valid.
fn page_token(state: &mut State, caller: &Caller, index: usize) -> String {
    if caller.kind == TokenKind::FacebookPage {
        return caller.token.clone();
    }
    let now = state.now();
    let lasts_forever = caller.kind != TokenKind::FacebookUserShort;
    let existing = state.tokens.iter().find(|(_, r)| {
        r.kind == TokenKind::FacebookPage
            && r.page == Some(index)
            && r.expires_at.is_none() == lasts_forever
            && matches!(r.standing(now), Standing::Live)
    });
    if let Some((token, _)) = existing {
        return token.clone();
    }
    let scopes = state
        .tokens
        .get(&caller.token)
        .map(|r| r.scopes.clone())
        .unwrap_or_default();
    let token = state.issue_token(TokenKind::FacebookPage, caller.user, scopes, now);
    if let Some(record) = state.tokens.get_mut(&token) {
        record.page = Some(index);
        if !lasts_forever {
            record.expires_at = Some(now + SHORT_LIVED);
        }
    }
    token
}

fn edge_of(
    state: &mut State,
    request: &Request,
    caller: &Caller,
    id: &str,
    edge: &str,
) -> Result<Reply, ApiError> {
    let object = resolve(state, caller, id)?;
    let body = match (object, edge) {
        (Object::FacebookUser(_), "accounts") => accounts(state, request, caller)?,
        // A Page token lists no Pages (AceDataCloud/Skills#548).
        (Object::Page(_), "accounts") => json!({ "data": [] }),
        (Object::InstagramUser(user), "media") => {
            let fields = requested_fields(request, &["id"])?;
            let query = page_query(state, request)?;
            let user = &state.users[user];
            let path = format!("/{}/media", user.public.ig_user_id);
            view(state, request, caller).media_page(&user.media, &fields, &query, &path)?
        }
        (Object::InstagramUser(user), "recently_searched_hashtags") => {
            recently_searched(state, user)
        }
        (Object::Media(media), "children") => {
            let fields = requested_fields(request, &["id"])?;
            let query = page_query(state, request)?;
            let children = &state.media[&media].children;
            let path = format!("/{media}/children");
            view(state, request, caller).media_page(children, &fields, &query, &path)?
        }
        (Object::Hashtag(name), "recent_media" | "top_media") => {
            hashtag_media(state, request, caller, id, &name, edge)?
        }
        _ => return Err(unknown_path(&format!("/{edge}")).into()),
    };
    Ok(Reply::ok(&body))
}

/// `/me/accounts`: the Pages the caller sees, 25 a page as Meta pages them.
fn accounts(state: &mut State, request: &Request, caller: &Caller) -> Result<Value, GraphError> {
    let fields = requested_fields(request, &["name", "access_token", "category", "tasks"])?;
    let visible = state.visible_pages(&caller.token);
    let ids: Vec<String> = visible.iter().map(|&p| state.pages[p].id.clone()).collect();
    let mut query = page_query(state, request)?;
    if request.param("limit").is_none() {
        query.limit = ACCOUNTS_PAGE;
    }
    let range = super::paging::select(&ids, &query)?;
    let items = visible[range.clone()]
        .iter()
        .map(|&p| page(state, caller, p, &fields))
        .collect::<Result<Vec<_>, _>>()?;
    let links = super::paging::Links {
        endpoint: request.link_base("/me/accounts"),
        access_token: Some(caller.token.clone()),
        fields: request.param("fields").map(str::to_string),
    };
    Ok(super::paging::envelope(items, &ids, range, &query, &links))
}

// ---- graph.facebook.com: hashtags --------------------------------------------

/// Hashtag ids are global and stable: derived from the name.
fn hashtag_id(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    format!("178{:014}", u64::from_be_bytes(bytes) % 100_000_000_000_000)
}

/// The caller must search on behalf of an IG account it reaches
/// (`user_id`); returns that account's index.
fn check_searcher(state: &State, request: &Request, caller: &Caller) -> Result<usize, GraphError> {
    let user_id = request
        .param("user_id")
        .ok_or_else(|| GraphError::missing_param("user_id"))?;
    state
        .users
        .iter()
        .position(|u| u.public.ig_user_id == user_id)
        .filter(|&i| state.reaches(&caller.token, i))
        .ok_or_else(|| GraphError::nonexisting_object(user_id, "get"))
}

/// Counts `tag` against the rolling 7-day limit of distinct hashtags.
fn count_hashtag(state: &mut State, user: usize, tag: &str) -> Result<(), GraphError> {
    let now = state.now();
    let limit = state.options.hashtag_weekly_limit;
    let log = state.hashtags.searched.entry(user).or_default();
    log.retain(|_, first| *first > now - Duration::days(7));
    if log.contains_key(tag) {
        return Ok(());
    }
    if log.len() >= limit {
        return Err(GraphError::new(
            24,
            "OAuthException",
            format!(
                "(#24) The Instagram account has searched the maximum of {limit} unique \
                 hashtags within 7 days."
            ),
        )
        .with_subcode(Some(2207034)));
    }
    log.insert(tag.to_string(), now);
    Ok(())
}

fn hashtag_search(
    state: &mut State,
    request: &Request,
    caller: &Caller,
) -> Result<Reply, ApiError> {
    let searcher = check_searcher(state, request, caller)?;
    let name = request
        .param("q")
        .ok_or_else(|| GraphError::missing_param("q"))?
        .trim_start_matches('#')
        .to_lowercase();
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Err(GraphError::param("(#100) Invalid hashtag name").into());
    }
    count_hashtag(state, searcher, &name)?;
    let id = hashtag_id(&name);
    state.hashtags.ids.insert(id.clone(), name);
    Ok(Reply::ok(&json!({ "data": [{ "id": id }] })))
}

fn recently_searched(state: &State, user: usize) -> Value {
    let now = state.now();
    let data: Vec<Value> = state
        .hashtags
        .searched
        .get(&user)
        .into_iter()
        .flatten()
        .filter(|(_, first)| **first > now - Duration::days(7))
        .map(|(name, _)| json!({ "id": hashtag_id(name) }))
        .collect();
    json!({ "data": data })
}

/// `recent_media`: tagged media of the last 24 h, newest first; `top_media`:
/// all tagged media by likes. Public media of every seeded account counts.
fn hashtag_media(
    state: &mut State,
    request: &Request,
    caller: &Caller,
    hashtag_id: &str,
    name: &str,
    edge: &str,
) -> Result<Value, GraphError> {
    let searcher = check_searcher(state, request, caller)?;
    count_hashtag(state, searcher, name)?;
    let fields = requested_fields(request, &["id"])?;
    if fields.iter().any(|f| f.name == "username") {
        return Err(GraphError::nonexisting_field(
            "username",
            "ShadowIGHashtagMedia",
        ));
    }
    let now = state.now();
    let mut tagged: Vec<_> = state
        .media
        .values()
        .filter(|m| m.hashtags.iter().any(|t| t == name))
        .filter(|m| edge == "top_media" || m.timestamp > now - Duration::hours(24))
        .collect();
    if edge == "top_media" {
        tagged.sort_by_key(|m| (std::cmp::Reverse(m.like_count.unwrap_or(0)), m.id.clone()));
    } else {
        tagged.sort_by_key(|m| (std::cmp::Reverse(m.timestamp), m.id.clone()));
    }
    let ids: Vec<String> = tagged.into_iter().map(|m| m.id.clone()).collect();
    let limit = page_query(state, request)?.limit.min(HASHTAG_PAGE_MAX);
    // "A before cursor will not be included … the after cursor value will
    // always be the same for each page, but can still be used to get the
    // next page" (IG Hashtag Recent Media / Top Media reference,
    // https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-hashtag/recent-media).
    // How the next link tells the pages apart is not documented: the fake
    // keeps the position in `__after_id` (Graph's name for it on other
    // edges; UNVERIFIED here). The bare `after` cursor gets the second page
    // whatever page it came from, as a client that rebuilds links from the
    // cursor would see.
    let invalid = || GraphError::param("(#100) The after cursor is invalid");
    let start = match (request.param("__after_id"), request.param("after")) {
        (Some(position), _) => position.parse::<usize>().map_err(|_| invalid())?,
        (None, Some(after)) if after == HASHTAG_AFTER => limit,
        (None, Some(_)) => return Err(invalid()),
        (None, None) => 0,
    }
    .min(ids.len());
    let end = (start + limit).min(ids.len());
    let view = view(state, request, caller);
    let items = ids[start..end]
        .iter()
        .filter_map(|id| state.media.get(id))
        .map(|media| view.media(media, &fields))
        .collect::<Result<Vec<_>, _>>()?;
    let mut body = json!({ "data": items });
    if start < end {
        let mut paging = json!({ "cursors": { "after": HASHTAG_AFTER } });
        if end < ids.len() {
            let mut next = url::Url::parse(&request.link_base(&format!("/{hashtag_id}/{edge}")))
                .map_err(|_| invalid())?;
            next.query_pairs_mut()
                .append_pair("access_token", &caller.token)
                .append_pair("user_id", request.param("user_id").unwrap_or_default())
                .append_pair("fields", &super::fields::render(&fields))
                .append_pair("limit", &limit.to_string())
                .append_pair("after", HASHTAG_AFTER)
                .append_pair("__after_id", &end.to_string());
            paging["next"] = json!(next.to_string());
        }
        body["paging"] = paging;
    }
    Ok(body)
}

/// The one `after` cursor of every hashtag page.
const HASHTAG_AFTER: &str = "QVFIUkhhc2h0YWdQYWdlQ3Vyc29y";
