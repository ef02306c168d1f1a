//! `GET /healthz` (the process and the database, for anyone) and
//! `GET /metrics` (Prometheus text, for a scraper bearing METRICS_TOKEN or
//! the signed-in owner: it names the accounts).

use std::sync::Arc;
use std::time::Duration;

use warp::filters::BoxedFilter;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::client;
use super::error::{ApiError, log_internal};
use super::signin::SignIns;
use super::with_app;
use crate::app::App;
use crate::domain::ClientKey;

pub fn routes(
    app: Arc<App>,
    gate: impl Filter<Extract = (), Error = Rejection> + Clone + Send + Sync + 'static,
    sign_ins: Arc<SignIns>,
) -> BoxedFilter<(Response,)> {
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(bearer(app.clone(), sign_ins).or(gate).unify())
        .and(with_app(app.clone()))
        .map(|app: Arc<App>| {
            let text = app
                .metrics
                .render(&app.upstream, &app.board, app.clock.now());
            let mut response = Response::new(text.into());
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
    health.or(metrics).unify().boxed()
}

/// Passes `Authorization: Bearer METRICS_TOKEN` (the scheme in any case).
/// A wrong token is a failed sign-in: answered after its client's delay.
fn bearer(
    app: Arc<App>,
    sign_ins: Arc<SignIns>,
) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and(client::client(app.clone()))
        .and_then(move |given: Option<String>, client: ClientKey| {
            let app = app.clone();
            let sign_ins = sign_ins.clone();
            async move {
                let expected = app.config.guard.metrics_token.as_ref();
                let presented = given.as_deref().and_then(|value| {
                    let (scheme, token) = value.trim().split_once(' ')?;
                    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
                });
                let (Some(expected), Some(presented)) = (expected, presented) else {
                    return Err(warp::reject::custom(ApiError::Unauthorized));
                };
                if sign_ins.check(client, presented, expected.expose()).await {
                    Ok(())
                } else {
                    tracing::warn!(%client, "wrong METRICS_TOKEN");
                    Err(warp::reject::custom(ApiError::Unauthorized))
                }
            }
        })
        .untuple_one()
}

/// 200 when the process and the database answer, 503 otherwise; the cause
/// goes to the log under the request id the answer names.
async fn healthz(app: &App) -> Response {
    let database = tokio::time::timeout(Duration::from_secs(3), app.store.ping()).await;
    let (status, database) = match database {
        Ok(Ok(())) => (StatusCode::OK, "ok".to_string()),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the database is not answering (request id {} in the agent's log)",
                log_internal("the health check could not reach the database", e)
            ),
        ),
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
    let mut response = warp::reply::json(&body).into_response();
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
