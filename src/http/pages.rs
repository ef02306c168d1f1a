//! `GET /` (setup help), `GET /status` and `GET /static/…`: the pages
//! themselves are rendered by `src/pages/`.

use std::sync::Arc;

use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::error::ApiError;
use super::{request_url, with_app};
use crate::app::App;
use crate::pages;

/// `gate` passes the signed-in owner: `/status` in full is theirs alone.
pub fn routes(
    app: Arc<App>,
    gate: impl Filter<Extract = (), Error = Rejection> + Clone + Send + Sync + 'static,
) -> BoxedFilter<(Response,)> {
    // HEAD is GET without the body (hyper leaves the body out).
    let get = || warp::get().or(warp::head()).unify();
    let home = warp::path::end()
        .and(get())
        .and(request_url::detected())
        .and(with_app(app.clone()))
        .then(|detected: Option<url::Url>, app: Arc<App>| async move {
            pages::home(&app, detected.as_ref()).await
        });
    // With credentials: the owner's page, behind the gate. Without: the
    // summary where strangers may see one, else the sign-in challenge.
    let owners_status = warp::path!("status")
        .and(get())
        .and(credentials_given())
        .and(gate)
        .and(with_app(app.clone()))
        .then(|app: Arc<App>| async move { pages::status(&app).await });
    let public_status = warp::path!("status")
        .and(get())
        .and(with_app(app))
        .and_then(|app: Arc<App>| async move {
            if app.config.guard.public_status || app.config.admin_password.is_none() {
                Ok(pages::status_summary(&app).await)
            } else {
                Err(warp::reject::custom(ApiError::Unauthorized))
            }
        });
    let status = owners_status.or(public_status).unify();
    let assets =
        warp::path("static")
            .and(warp::path::tail())
            .and(get())
            .map(|tail: warp::path::Tail| {
                pages::asset(tail.as_str()).unwrap_or_else(|| ApiError::not_found().into_response())
            });
    home.or(status).unify().or(assets).unify().boxed()
}

/// Passes requests that carry an Authorization header (the owner's browser
/// once signed in), so that only those meet the gate.
fn credentials_given() -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and_then(|given: Option<String>| async move {
            match given {
                Some(_) => Ok(()),
                None => Err(warp::reject::not_found()),
            }
        })
        .untuple_one()
}
