//! The HTTP surface. Each URL family lives in its own file; this one wires
//! them together, maps every failure to a JSON error, and runs the server.

pub mod admin;
pub mod callbacks;
pub mod feed;
pub mod server;
pub mod token;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, Method, StatusCode, header};
use warp::path::FullPath;
use warp::reply::Response;

use crate::allowlist::Access;
use crate::app::{App, DEFAULT_ACCOUNT};
use crate::connect::{self, Provider};
use crate::pages;

/// A request the agent refuses: mapped to a JSON error in one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: std::borrow::Cow<'static, str>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<std::borrow::Cow<'static, str>>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl warp::Reply for ApiError {
    fn into_response(self) -> Response {
        json_error(self.status, self.code, &self.message)
    }
}

/// `{"error": {"code": …, "message": …}}` with the given status.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } }).to_string();
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The allow-list check: `Ok(Some(origin))` to echo in CORS headers,
/// `Ok(None)` for an allowed request without Origin/Referer, or the 403.
pub fn check_origin(
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

pub fn preflight() -> Response {
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

/// Adds the CORS answer for an allowed origin; `Vary: Origin` always, as
/// the answer depends on it.
pub fn with_cors(mut response: Response, origin: Option<String>) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    response
}

fn with_app(app: Arc<App>) -> impl Filter<Extract = (Arc<App>,), Error = Infallible> + Clone {
    warp::any().map(move || app.clone())
}

fn optional_query() -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Clone {
    warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify()
}

/// Every route of the agent.
pub fn routes(
    app: Arc<App>,
) -> impl Filter<Extract = (impl warp::Reply,), Error = Infallible> + Clone {
    let token = warp::method()
        .and(warp::path::full())
        .and_then(|method: Method, path: FullPath| async move {
            let is_token_method = matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
            match token::parse_path(path.as_str()) {
                Some((account, format)) if is_token_method => {
                    Ok((method, account.to_string(), format))
                }
                _ => Err(warp::reject::not_found()),
            }
        })
        .untuple_one()
        .and(warp::header::optional::<String>("origin"))
        .and(warp::header::optional::<String>("referer"))
        .and(warp::header::optional::<String>("if-none-match"))
        .and(optional_query())
        .and(with_app(app.clone()))
        .map(
            |method: Method,
             account: String,
             format: token::Format,
             origin: Option<String>,
             referer: Option<String>,
             if_none_match: Option<String>,
             query: Option<String>,
             app: Arc<App>| {
                token::answer(
                    &app,
                    &token::TokenRequest {
                        method: &method,
                        account: &account,
                        format,
                        origin: origin.as_deref(),
                        referer: referer.as_deref(),
                        if_none_match: if_none_match.as_deref(),
                        query: query.as_deref(),
                    },
                )
            },
        );

    let site = warp::method()
        .and(warp::header::optional::<String>("origin"))
        .and(warp::header::optional::<String>("referer"))
        .and(optional_query())
        .and(with_app(app.clone()));
    let feed = warp::path!("feed.json").and(site.clone()).then(
        |method, origin, referer, query, app: Arc<App>| {
            guarded(method, origin, referer, app.clone(), feed::feed(app, query))
        },
    );
    let hashtags = warp::path!("hashtags" / String / String).and(site).then(
        |tag, file, method, origin, referer, query, app: Arc<App>| {
            guarded(
                method,
                origin,
                referer,
                app.clone(),
                feed::hashtag(app, tag, file, query),
            )
        },
    );

    let app_for_owner = app.clone();
    let app_for_log = app.clone();
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with_app(app.clone()))
        .map(|app: Arc<App>| {
            let mut response = Response::new(app.metrics.render(&app).into());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        });
    let health = warp::path!("healthz")
        .and(warp::get().or(warp::head()).unify())
        .and(with_app(app))
        .then(|app: Arc<App>| async move { healthz(&app).await });

    // Boxed, so that each route's future is a separate allocation and the
    // combined future stays small (deeply nested ones overflow the stack
    // of a debug build).
    token
        .boxed()
        .or(feed.boxed())
        .unify()
        .or(hashtags.boxed())
        .unify()
        .or(health.boxed())
        .unify()
        .or(metrics.boxed())
        .unify()
        .or(owner_routes(app_for_owner))
        .unify()
        .recover(recover)
        .unify()
        .with(warp::log::custom(move |info| {
            app_for_log
                .metrics
                .record_request(info.path(), info.status().as_u16())
        }))
}

fn form() -> impl Filter<Extract = (HashMap<String, String>,), Error = warp::Rejection> + Clone {
    warp::body::content_length_limit(16 * 1024).and(warp::body::form())
}

/// Pages, admin, connect flows and callbacks: what the owner and Meta use.
fn owner_routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let with_app = with_app(app.clone());
    let admin_gate = admin::gate(app.clone());

    let home = warp::path::end()
        .and(warp::get())
        .and(with_app.clone())
        .then(|app: Arc<App>| async move { pages::home(&app).await });
    let status = warp::path!("status")
        .and(warp::get())
        .and(with_app.clone())
        .then(|app: Arc<App>| async move { pages::status(&app).await });
    let assets = warp::path("static")
        .and(warp::path::tail())
        .and(warp::get())
        .map(|tail: warp::path::Tail| {
            pages::asset(tail.as_str()).unwrap_or_else(|| {
                json_error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "There is nothing at this URL.",
                )
            })
        });

    let admin_page = warp::path!("admin")
        .and(warp::get())
        .and(admin_gate.clone())
        .and(with_app.clone())
        .then(|app: Arc<App>| async move {
            let hook = callbacks::hook_url(&app.config);
            pages::admin(&app, &admin::csrf_token(&app), hook.as_deref()).await
        });
    let put_token = warp::path!("admin" / "accounts")
        .and(warp::post())
        .and(admin_gate.clone())
        .and(with_app.clone())
        .and(form())
        .then(admin::put_token);
    let refresh = warp::path!("admin" / "accounts" / String / "refresh")
        .and(warp::post())
        .and(admin_gate.clone())
        .and(with_app.clone())
        .and(form())
        .then(|name, app, form| admin::refresh_now(app, name, form));
    let remove = warp::path!("admin" / "accounts" / String / "remove")
        .and(warp::post())
        .and(admin_gate.clone())
        .and(with_app.clone())
        .and(form())
        .then(|name, app, form| admin::remove(app, name, form));

    let provider = warp::path::param::<String>().and_then(|p: String| async move {
        match p.as_str() {
            "instagram" => Ok(Provider::Instagram),
            "facebook" => Ok(Provider::Facebook),
            _ => Err(warp::reject::not_found()),
        }
    });
    let connect = warp::path("connect")
        .and(provider)
        .and(warp::path::end())
        .and(warp::get())
        .and(admin_gate)
        .and(warp::query::<HashMap<String, String>>())
        .and(with_app.clone())
        .then(
            |provider: Provider, query: HashMap<String, String>, app: Arc<App>| async move {
                let account = query
                    .get("account")
                    .map(String::as_str)
                    .unwrap_or(DEFAULT_ACCOUNT);
                if !crate::cli::valid_account_name(account) {
                    return pages::message(
                        StatusCode::BAD_REQUEST,
                        "Not connected",
                        "Account names are 1 to 64 letters, digits, - or _.",
                    );
                }
                match connect::start(&app, provider, account).await {
                    Ok(url) => redirect(StatusCode::FOUND, &url),
                    Err(e) => {
                        pages::message(StatusCode::CONFLICT, "Cannot connect", &e.to_string())
                    }
                }
            },
        );
    let callback = warp::path("connect")
        .and(provider)
        .and(warp::path!("callback"))
        .and(warp::get())
        .and(warp::query::<connect::CallbackParams>())
        .and(with_app.clone())
        .then(|provider, params, app: Arc<App>| async move {
            connect::finish(&app, provider, &params).await;
            redirect(StatusCode::SEE_OTHER, "/status")
        });

    let deauthorize = warp::path!("callbacks" / "deauthorize")
        .and(warp::post())
        .and(with_app.clone())
        .and(form())
        .then(callbacks::deauthorize);
    let deletion = warp::path!("callbacks" / "data-deletion")
        .and(warp::post())
        .and(with_app.clone())
        .and(form())
        .then(callbacks::data_deletion);
    let deletion_status = warp::path!("callbacks" / "data-deletion" / String)
        .and(warp::get())
        .and(with_app.clone())
        .then(|code, app| callbacks::deletion_status(app, code));
    let hook = warp::path!("hooks" / "refresh" / String)
        .and(warp::post())
        .and(with_app)
        .then(|signature, app| callbacks::refresh_hook(app, signature));

    let pages = home.or(status).unify().or(assets).unify().boxed();
    let admin = admin_page
        .or(put_token)
        .unify()
        .or(refresh)
        .unify()
        .or(remove)
        .unify()
        .boxed();
    let connect = connect.or(callback).unify().boxed();
    let callbacks = deauthorize
        .or(deletion)
        .unify()
        .or(deletion_status)
        .unify()
        .or(hook)
        .unify()
        .boxed();
    pages
        .or(admin)
        .unify()
        .or(connect)
        .unify()
        .or(callbacks)
        .unify()
        .boxed()
}

fn redirect(status: StatusCode, location: &str) -> Response {
    let mut response = Response::default();
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Runs a site-facing handler behind the allow-list, answering CORS
/// preflight and mapping its error to JSON.
async fn guarded(
    method: Method,
    origin: Option<String>,
    referer: Option<String>,
    app: Arc<App>,
    handler: impl Future<Output = Result<Response, ApiError>>,
) -> Response {
    let cors_origin = match check_origin(&app, origin.as_deref(), referer.as_deref()) {
        Ok(origin) => origin,
        Err(refusal) => return warp::Reply::into_response(refusal),
    };
    let response = match method {
        Method::OPTIONS => preflight(),
        Method::GET | Method::HEAD => handler.await.unwrap_or_else(warp::Reply::into_response),
        _ => json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "This URL answers GET only.",
        ),
    };
    with_cors(response, cors_origin)
}

/// 200 when the process and the database answer, 503 with the reason otherwise.
async fn healthz(app: &App) -> Response {
    let database = tokio::time::timeout(Duration::from_secs(3), app.store.ping()).await;
    let (status, database) = match database {
        Ok(Ok(())) => (StatusCode::OK, "ok".to_string()),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the database did not answer within 3 seconds".to_string(),
        ),
    };
    let body = serde_json::json!({
        "status": if status == StatusCode::OK { "ok" } else { "unavailable" },
        "database": database,
        "backend": app.store.backend(),
        "accounts": app.board.names().len(),
    });
    let mut response = warp::Reply::into_response(warp::reply::json(&body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn recover(rejection: warp::Rejection) -> Result<Response, Infallible> {
    Ok(if let Some(refusal) = rejection.find::<admin::Refusal>() {
        refusal.response()
    } else if rejection.is_not_found() {
        json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "There is nothing at this URL.",
        )
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "This URL does not answer that method.",
        )
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "The request body is too large.",
        )
    } else if rejection
        .find::<warp::filters::body::BodyDeserializeError>()
        .is_some()
        || rejection
            .find::<warp::reject::UnsupportedMediaType>()
            .is_some()
    {
        json_error(
            StatusCode::BAD_REQUEST,
            "invalid_form",
            "The form could not be read.",
        )
    } else if rejection.find::<warp::reject::InvalidQuery>().is_some() {
        json_error(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "The query string could not be read.",
        )
    } else {
        tracing::warn!(?rejection, "unhandled rejection");
        json_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "The request could not be handled.",
        )
    })
}

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    server::serve(routes(app), listener, shutdown).await;
}
