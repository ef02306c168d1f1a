//! The warp side: one catch-all filter hands every request to `dispatch`,
//! which picks the emulated host from the first path segment; `spawn`
//! serves a filter with warp's own server, so the fake shares no code with
//! the agent it stands in front of.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use serde_json::json;
use warp::Filter;
use warp::http::{HeaderMap, Method, Response};
use warp::path::FullPath;

use super::error::ApiError;
use super::facebook;
use super::faults::{self, Effect};
use super::instagram;
use super::model::State;
use super::oauth;
use super::reply::Reply;
use super::request::{Host, Request};

/// State shared by the server task and the `FakeGraph` handle.
pub(crate) struct Shared {
    state: Mutex<State>,
    pub base_url: String,
}

impl Shared {
    pub(crate) fn new(state: State, base_url: String) -> Self {
        Shared {
            state: Mutex::new(state),
            base_url,
        }
    }

    /// A panicking test thread must not wedge the fake for the others.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Serves `filter` on `listener`, HTTP/1.1 with plain hyper, until the
/// returned sender fires (or is dropped); the task ends once open
/// connections have finished. (warp's own server would add its `server`
/// feature to the agent's warp, and to the agent's release binary.)
pub(crate) fn spawn<F, R>(
    filter: F,
    listener: tokio::net::TcpListener,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
)
where
    F: Filter<Extract = (R,), Error = Infallible> + Clone + Send + Sync + 'static,
    R: warp::Reply,
{
    use tower_service::Service as _;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut stopped = std::pin::pin!(stopped);
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        // Out of descriptors, say: let some close first.
                        tracing::debug!(%error, "the fake could not accept");
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                },
                _ = &mut stopped => break,
            };
            let routes = warp::service(filter.clone());
            let service = hyper::service::service_fn(move |request| routes.clone().call(request));
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                let _ = connection.await;
            });
        }
        drop(listener);
        graceful.shutdown().await;
    });
    (stop, task)
}

pub(crate) fn routes(
    shared: Arc<Shared>,
) -> impl Filter<Extract = (impl warp::Reply,), Error = Infallible> + Clone {
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::any()
        .map(move || shared.clone())
        .and(warp::method())
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .then(serve)
        .recover(|_| async {
            let body = json!({ "error": { "message": "Could not read the request body" } });
            Ok::<_, Infallible>(Reply::json(400, &body).into_response())
        })
}

async fn serve(
    shared: Arc<Shared>,
    method: Method,
    path: FullPath,
    query: String,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Bytes> {
    let base_url = shared.base_url.clone();
    let Some(request) = Request::parse(method, path.as_str(), &query, headers, &body, base_url)
    else {
        return not_found(path.as_str()).into_response();
    };
    tracing::debug!(
        method = %request.method,
        host = request.host.prefix(),
        path = %request.path,
        "fake graph request"
    );
    let fault = {
        let mut state = shared.lock();
        if let Some(version) = &request.version {
            *state.versions.entry(version.clone()).or_default() += 1;
        }
        state.record_call(request.host, &request.path)
    };
    match fault.map(|f| faults::effect(&shared.lock(), &request, f)) {
        Some(Effect::Replace(reply)) => return reply.into_response(),
        Some(Effect::Wait(wait)) => tokio::time::sleep(wait).await,
        None => {}
    }
    let reply = dispatch(&mut shared.lock(), &request);
    reply.into_response()
}

fn not_found(path: &str) -> Reply {
    let hosts: Vec<&str> = Host::ALL.iter().map(|h| h.prefix()).collect();
    let message = format!(
        "The fake Graph API serves {path:?} under no host; paths start with one of {hosts:?}"
    );
    Reply::json(404, &json!({ "error": { "message": message } }))
}

fn dispatch(state: &mut State, request: &Request) -> Reply {
    let result = match request.host {
        Host::InstagramGraph => instagram::handle(state, request),
        Host::InstagramApi => oauth::handle_api(state, request),
        Host::InstagramWww => oauth::handle_www(state, request),
        Host::FacebookGraph => facebook::handle(state, request),
        Host::FacebookWww => facebook::dialog(state, request),
    };
    result.unwrap_or_else(ApiError::into_reply)
}
