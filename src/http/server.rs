//! The HTTP/1.1 server under the agent's routes (and the fake Graph API's):
//! accepts connections, hands each request to a warp filter, and on shutdown
//! stops accepting and lets open requests finish.
//!
//! HTTP/1.1 only. Heroku's router, a reverse proxy or a browser talks
//! HTTP/1.1 to the agent; leaving HTTP/2 out keeps the process small.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tower_service::Service as _;
use warp::http::Request;
use warp::{Filter, Reply};

use super::limits::{Limits, REFUSAL, REFUSAL_WRITE, TrackedIo};

/// The address of the client at the other end of the connection, kept in
/// each request's extensions (`warp::ext::optional::<Peer>()`).
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

/// Serves `filter` on `listener` until `shutdown` completes, then waits for
/// the requests in progress. `limits` bounds slow, idle and surplus clients
/// (see `limits.rs`); its sweeper runs as long as the server does.
pub async fn serve<F, R>(
    filter: F,
    listener: TcpListener,
    limits: Arc<Limits>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    F: Filter<Extract = (R,), Error = Infallible> + Clone + Send + Sync + 'static,
    R: Reply,
{
    let graceful = GracefulShutdown::new();
    let (stop_sweeper, sweeper_stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(limits.clone().run_sweeper(async {
        let _ = sweeper_stopped.await;
    }));
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1.max_header_size(limits.config().max_header_bytes);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(permit) = limits.admit() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let tracked = limits.track();
        let routes = warp::service(filter.clone());
        let on_request = tracked.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(Peer(peer));
            on_request.request_started();
            let answer = routes.clone().call(request);
            let done = on_request.clone();
            async move {
                // A handler that panics costs its own request a 500, never the
                // connection or the server.
                let response = match AssertUnwindSafe(answer).catch_unwind().await {
                    Ok(response) => response,
                    Err(_) => Ok(panicked()),
                };
                done.request_done();
                response
            }
        });
        let io = TokioIo::new(TrackedIo::new(stream, tracked));
        let connection = graceful.watch(http1.serve_connection(io, service));
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(error) = connection.await {
                // Most often a client that hung up mid-request, or one the
                // limits closed.
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    let _ = stop_sweeper.send(());
}

/// The answer to a request whose handler panicked.
fn panicked() -> warp::reply::Response {
    let id = crate::telemetry::log_internal("a request handler panicked", "see the panic above");
    let body = serde_json::json!({
        "error": { "code": "internal", "message": crate::telemetry::internal_message(&id) }
    });
    let mut response = warp::reply::Response::new(body.to_string().into());
    *response.status_mut() = warp::http::StatusCode::INTERNAL_SERVER_ERROR;
    response.headers_mut().insert(
        warp::http::header::CONTENT_TYPE,
        warp::http::HeaderValue::from_static("application/json"),
    );
    response
}

/// Answers a connection over HTTP_MAX_CONNECTIONS with a 503 and closes it,
/// giving the client a moment to read the answer.
async fn refuse(mut stream: TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tokio::time::timeout(REFUSAL_WRITE, async {
        stream.write_all(REFUSAL).await?;
        stream.shutdown().await?;
        // Read what the client sent, so closing does not reset the
        // connection before the 503 is read.
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// A failed accept: the client's own trouble is skipped; anything else (such
/// as running out of file descriptors) is logged and waited out briefly so
/// the loop does not spin.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "could not accept a connection");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::config::ServerConfig;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_the_server_keeps_serving() {
        let routes = warp::path("boom")
            .map(|| -> &'static str { panic!("a handler bug") })
            .or(warp::path("fine").map(|| "fine"))
            .unify()
            .recover(|_| async { Ok::<_, Infallible>("not found") })
            .unify();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limits = Limits::new(ServerConfig::default(), Clock::System, Arc::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(routes, listener, limits, async {
            let _ = stopped.await;
        }));

        let mut conn = TcpStream::connect(addr).await.unwrap();
        let mut ask = async |path: &str| {
            let request = format!("GET /{path} HTTP/1.1\r\nHost: x\r\n\r\n");
            conn.write_all(request.as_bytes()).await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = conn.read(&mut buf).await.unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        };
        let answer = ask("boom").await;
        assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
        assert!(answer.contains("request id"), "{answer}");
        assert!(!answer.contains("a handler bug"), "{answer}");
        // The same connection, and the server, go on.
        let answer = ask("fine").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let _ = stop.send(());
        server.await.unwrap();
    }
}
