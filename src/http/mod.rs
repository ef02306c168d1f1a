//! The HTTP surface: one file per URL family, wired together here.
//!
//! * `door.rs` — the front door: the one table of public URLs, and what is
//!   done once for all of them (allow-list, CORS, ETags, metrics)
//! * `token.rs` — `/token.json`, `/token.js`, `/token`, `/accounts/{name}/token…`
//! * `feed.rs` — `/feed.json`, `/hashtags/{tag}/recent.json|top.json`
//! * `embed.rs` — `/feed.html`
//! * `media.rs` — `/media/{account}/{media id}/{width}.jpg`, the mirrored images
//! * `guard.rs` — the allow-list's decision and CORS, for the door
//! * `etag.rs` — `If-None-Match`, read one way
//! * `pages.rs` — `/`, `/status`, `/static/…`
//! * `admin.rs` — the admin sign-in gate, `/admin` and its actions
//! * `signin.rs` — failed sign-ins slow their client down
//! * `connect.rs` — `/connect/{provider}` and its callback
//! * `callbacks.rs` — Meta's `/callbacks/…` and `/hooks/refresh/{signature}`
//! * `health.rs` — `/healthz`, `/metrics`
//! * `client.rs` — who a request comes from (TRUST_PROXY)
//! * `error.rs` — every error answer and its status, and the one `recover`
//! * `request_url.rs` — the URL a request came to (Host, X-Forwarded-*)
//! * `server.rs` — the HTTP/1.1 server: the front door, then warp's router
//!   for the owner's pages, forms and Meta's callbacks
//! * `limits.rs` — header and idle timeouts, the connection bound

pub mod admin;
pub mod callbacks;
pub mod client;
pub mod connect;
pub mod door;
pub mod embed;
pub mod error;
pub mod etag;
pub mod feed;
pub mod guard;
pub mod health;
pub mod limits;
pub mod media;
pub mod pages;
pub mod request_url;
pub mod server;
pub mod signin;
pub mod token;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use warp::Filter;

use crate::app::App;
pub use error::ApiError;
use limits::Limits;

fn with_app(app: Arc<App>) -> impl Filter<Extract = (Arc<App>,), Error = Infallible> + Clone {
    warp::any().map(move || app.clone())
}

fn form() -> impl Filter<Extract = (HashMap<String, String>,), Error = warp::Rejection> + Clone {
    warp::body::content_length_limit(16 * 1024).and(warp::body::form())
}

/// The routes behind the front door: the owner's pages and forms, health,
/// metrics and Meta's callbacks.
pub fn routes(
    app: Arc<App>,
) -> impl Filter<Extract = (impl warp::Reply,), Error = Infallible> + Clone {
    // Wrong admin passwords and wrong METRICS_TOKENs are slowed together,
    // and the owner is told when there are many.
    let warn = app.clone();
    let sign_ins = Arc::new(
        signin::SignIns::new(app.config.guard.admin_failure_delay).warning_owner(
            app.config.guard.admin_failure_warn_after,
            app.clock.clone(),
            move |failures| {
                let app = warn.clone();
                async move { crate::warnings::sign_ins(&app, failures).await }
            },
        ),
    );
    let gate = admin::gate(app.clone(), sign_ins.clone());
    let app_for_log = app.clone();
    // Boxed, so that each route's future is a separate allocation and the
    // combined future stays small (deeply nested ones overflow the stack
    // of a debug build).
    health::routes(app.clone(), gate.clone(), sign_ins)
        .or(pages::routes(app.clone(), gate.clone()))
        .unify()
        .or(admin::routes(app.clone(), gate.clone()))
        .unify()
        .or(connect::routes(app.clone(), gate))
        .unify()
        .or(callbacks::routes(app))
        .unify()
        .recover(error::recover)
        .unify()
        .with(warp::log::custom(move |info| {
            app_for_log
                .metrics
                .record_request(label(info.path()), info.status().as_u16())
        }))
}

/// The `route` label of a URL behind the front door (the door labels its
/// own).
fn label(path: &str) -> &'static str {
    let first = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    match first {
        "healthz" => "healthz",
        "metrics" => "metrics",
        "" | "status" => "pages",
        "static" => "static",
        "admin" => "admin",
        "connect" => "connect",
        "callbacks" => "callbacks",
        "hooks" => "hooks",
        _ => "other",
    }
}

/// Serves `app` on `listener` under `limits` until `shutdown` completes.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    limits: Arc<Limits>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let door = Arc::new(door::Door::new(app.clone()));
    server::serve(routes(app), door, listener, limits, shutdown).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routers_paths_fold_into_a_few_labels() {
        for (path, want) in [
            ("/", "pages"),
            ("/status", "pages"),
            ("/connect/instagram/callback", "connect"),
            ("/admin/accounts", "admin"),
            ("/wp-login.php", "other"),
        ] {
            assert_eq!(label(path), want, "{path}");
            assert!(crate::metrics::ROUTES.contains(&want));
        }
    }
}
