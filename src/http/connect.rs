//! `GET /connect/{instagram,facebook}` (admin) sends the owner to Meta's
//! login window; `GET /connect/{provider}/callback` is where Meta sends them
//! back. The flow itself is in `src/connect.rs`.

use std::collections::HashMap;
use std::sync::Arc;

use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::with_app;
use crate::app::App;
use crate::connect::{self, CallbackParams, Provider};
use crate::domain::{AccountName, DEFAULT_ACCOUNT};
use crate::pages;

pub fn routes(
    app: Arc<App>,
    gate: impl Filter<Extract = (), Error = Rejection> + Clone + Send + Sync + 'static,
) -> BoxedFilter<(Response,)> {
    let provider = warp::path::param::<String>().and_then(|p: String| async move {
        match p.as_str() {
            "instagram" => Ok(Provider::Instagram),
            "facebook" => Ok(Provider::Facebook),
            _ => Err(warp::reject::not_found()),
        }
    });
    let start = warp::path("connect")
        .and(provider)
        .and(warp::path::end())
        .and(warp::get())
        .and(gate)
        .and(warp::query::<HashMap<String, String>>())
        .and(with_app(app.clone()))
        .then(start);
    let callback = warp::path("connect")
        .and(provider)
        .and(warp::path!("callback"))
        .and(warp::get())
        .and(warp::query::<CallbackParams>())
        .and(with_app(app))
        .then(|provider, params, app: Arc<App>| async move {
            connect::finish(&app, provider, &params).await;
            redirect(StatusCode::SEE_OTHER, "/status")
        });
    start.or(callback).unify().boxed()
}

async fn start(provider: Provider, query: HashMap<String, String>, app: Arc<App>) -> Response {
    let account = query
        .get("account")
        .map(String::as_str)
        .unwrap_or(DEFAULT_ACCOUNT);
    let Ok(account) = AccountName::parse(account) else {
        return pages::message(
            StatusCode::BAD_REQUEST,
            "Not connected",
            "Account names are 1 to 64 letters, digits, - or _.",
        );
    };
    match connect::start(&app, provider, &account).await {
        Ok(url) => redirect(StatusCode::FOUND, &url),
        Err(e) => pages::message(StatusCode::CONFLICT, "Cannot connect", &e.to_string()),
    }
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
