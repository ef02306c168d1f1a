//! The HTTP/1.1 server under the agent's routes (and the fake Graph API's):
//! accepts connections, hands each request to a warp filter, and on shutdown
//! stops accepting and lets open requests finish.
//!
//! HTTP/1.1 only. Heroku's router, a reverse proxy or a browser talks
//! HTTP/1.1 to the agent; leaving HTTP/2 out keeps the process small.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower_service::Service as _;
use warp::http::Request;
use warp::{Filter, Reply};

/// The address of the client at the other end of the connection, kept in
/// each request's extensions (`warp::ext::optional::<Peer>()`).
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

/// Serves `filter` on `listener` until `shutdown` completes, then waits for
/// the requests in progress.
///
/// There is no timer on reading request headers: arming one per request cost
/// about a tenth of the token URLs' throughput, and Heroku's router (or any
/// reverse proxy) in front already bounds slow clients.
pub async fn serve<F, R>(
    filter: F,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    F: Filter<Extract = (R,), Error = Infallible> + Clone + Send + Sync + 'static,
    R: Reply,
{
    let graceful = GracefulShutdown::new();
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
        let routes = warp::service(filter.clone());
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(Peer(peer));
            routes.clone().call(request)
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                // Most often a client that hung up mid-request.
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
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
