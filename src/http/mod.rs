//! The HTTP surface: one file per URL family, wired together here.
//!
//! * `token.rs` — `/token.json`, `/token.js`, `/token`, `/accounts/{name}/token…`
//! * `feed.rs` — `/feed.json`, `/hashtags/{tag}/recent.json|top.json`
//! * `embed.rs` — `/embed.js`, `/embed.css`, `/feed.html`
//! * `media.rs` — `/media/{account}/{media id}/{width}.jpg`, the mirrored images
//! * `guard.rs` — the allow-list and CORS in front of those two
//! * `pages.rs` — `/`, `/status`, `/static/…`
//! * `admin.rs` — the admin sign-in gate, `/admin` and its actions
//! * `signin.rs` — failed sign-ins slow their client down
//! * `connect.rs` — `/connect/{provider}` and its callback
//! * `callbacks.rs` — Meta's `/callbacks/…` and `/hooks/refresh/{signature}`
//! * `health.rs` — `/healthz`, `/metrics`
//! * `client.rs` — who a request comes from (TRUST_PROXY)
//! * `error.rs` — every error answer, and the one `recover`
//! * `request_url.rs` — the URL a request came to (Host, X-Forwarded-*)
//! * `server.rs` — the HTTP/1.1 server under the routes, and the
//!   shortcut ahead of them (for the token URLs, the feeds and the images)
//! * `limits.rs` — header and idle timeouts, the connection bound

pub mod admin;
pub mod callbacks;
pub mod client;
pub mod connect;
pub mod embed;
pub mod error;
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

fn optional_query() -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Clone {
    warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify()
}

fn form() -> impl Filter<Extract = (HashMap<String, String>,), Error = warp::Rejection> + Clone {
    warp::body::content_length_limit(16 * 1024).and(warp::body::form())
}

/// Every route of the agent.
pub fn routes(
    app: Arc<App>,
) -> impl Filter<Extract = (impl warp::Reply,), Error = Infallible> + Clone {
    // Wrong admin passwords and wrong METRICS_TOKENs are slowed together.
    let sign_ins = Arc::new(signin::SignIns::new(app.config.guard.admin_failure_delay));
    let gate = admin::gate(app.clone(), sign_ins.clone());
    let app_for_log = app.clone();
    // Boxed, so that each route's future is a separate allocation and the
    // combined future stays small (deeply nested ones overflow the stack
    // of a debug build).
    token::routes(app.clone())
        .or(feed::routes(app.clone()))
        .unify()
        .or(embed::routes(app.clone()))
        .unify()
        .or(media::routes(app.clone()))
        .unify()
        .or(health::routes(app.clone(), gate.clone(), sign_ins))
        .unify()
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
                .record_request(info.path(), info.status().as_u16())
        }))
}

/// Serves `app` on `listener` under `limits` until `shutdown` completes.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    limits: Arc<Limits>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let shortcut = Arc::new(Shortcuts {
        token: token::Shortcut::new(app.clone()),
        feed: feed::Shortcut::new(app.clone()),
        media: media::Shortcut::new(app.clone()),
    });
    server::serve_with_shortcut(routes(app), shortcut, listener, limits, shutdown).await;
}

/// The URLs answered ahead of the router: the token URLs at once, from
/// memory; the feeds and the mirrored images by their own handlers.
struct Shortcuts {
    token: token::Shortcut,
    feed: feed::Shortcut,
    media: media::Shortcut,
}

impl server::Shortcut for Shortcuts {
    fn answer(
        &self,
        request: &warp::http::Request<hyper::body::Incoming>,
        peer: server::Peer,
    ) -> Option<server::Taken> {
        if let Some(answer) = self.token.answer(request) {
            return Some(server::Taken::Now(answer));
        }
        if let Some(later) = self.feed.answer(request, Some(peer)) {
            return Some(server::Taken::Later(Box::pin(later)));
        }
        let later = self.media.answer(request)?;
        Some(server::Taken::Later(Box::pin(later)))
    }
}
