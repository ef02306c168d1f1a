//! `GET /` (setup help), `GET /status` and `GET /static/…`: the pages
//! themselves are rendered by `src/pages/`.

use std::sync::Arc;

use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::error::ApiError;
use super::with_app;
use crate::app::App;
use crate::pages;

pub fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    // HEAD is GET without the body (hyper leaves the body out).
    let get = || warp::get().or(warp::head()).unify();
    let home = warp::path::end()
        .and(get())
        .and(with_app(app.clone()))
        .then(|app: Arc<App>| async move { pages::home(&app).await });
    let status = warp::path!("status")
        .and(get())
        .and(with_app(app))
        .then(|app: Arc<App>| async move { pages::status(&app).await });
    let assets =
        warp::path("static")
            .and(warp::path::tail())
            .and(get())
            .map(|tail: warp::path::Tail| {
                pages::asset(tail.as_str()).unwrap_or_else(|| ApiError::not_found().into_response())
            });
    home.or(status).unify().or(assets).unify().boxed()
}
