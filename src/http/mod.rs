//! The HTTP surface. Each URL family lives in its own file; this one wires
//! them together, maps every failure to a JSON error, and runs the server.

pub mod token;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use warp::Filter;
use warp::http::{HeaderValue, Method, StatusCode, header};
use warp::path::FullPath;
use warp::reply::Response;

use crate::app::App;

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
pub fn routes(app: Arc<App>) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
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

    let health = warp::path!("healthz")
        .and(warp::get().or(warp::head()).unify())
        .and(with_app(app))
        .then(|app: Arc<App>| async move { healthz(&app).await });

    token.or(health).unify().recover(recover).unify()
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
    Ok(if rejection.is_not_found() {
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
    warp::serve(routes(app))
        .incoming(listener)
        .graceful(shutdown)
        .run()
        .await;
}
