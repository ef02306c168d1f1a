//! The HTTP/1.1 server under the agent's routes: accepts connections,
//! hands each request to the [`Front`] door and, when the door does not take
//! it, to warp's router, and on shutdown stops accepting and lets open
//! requests finish.
//!
//! The front door (`door.rs`) answers the public URLs: the token URLs at
//! once, from memory, and the feeds and images when they are ready. The
//! router answers the owner's pages, forms and Meta's callbacks, whose
//! bodies it reads under the body timeout. Both kinds of answer go through
//! the same connection limits, panic guard and graceful shutdown.
//!
//! HTTP/1.1 only. Heroku's router, a reverse proxy or a browser talks
//! HTTP/1.1 to the agent; leaving HTTP/2 out keeps the process small.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::{self, Either};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tower_service::Service as _;
use warp::http::{Request, Response};
use warp::{Filter, Reply};

use super::limits::{Limits, REFUSAL, REFUSAL_WRITE, TimedBody, TrackedIo};

/// The address of the client at the other end of the connection, kept in
/// each request's extensions (`warp::ext::optional::<Peer>()`).
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

/// Takes the requests it answers ahead of the router.
pub trait Front: Send + Sync + 'static {
    /// The answer to `request` from `peer`, or `None` to hand it to the
    /// router. It runs on the connection's task, so it must not block:
    /// what has to wait is a [`Taken::Later`].
    fn answer(&self, request: &Request<Incoming>, peer: Peer) -> Option<Taken>;
}

/// A request the [`Front`] took.
pub enum Taken {
    /// The whole answer, made at once (an empty body is none).
    Now(Response<Bytes>),
    /// An answer to wait for.
    Later(Pin<Box<dyn Future<Output = Response<Bytes>> + Send>>),
}

/// Serves `front`, then `filter`, on `listener` until `shutdown`
/// completes, then waits for the requests in progress. `limits` bounds
/// slow, idle and surplus clients (see `limits.rs`); its sweeper runs as
/// long as the server does.
pub async fn serve<F, R, D>(
    filter: F,
    front: Arc<D>,
    listener: TcpListener,
    limits: Arc<Limits>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    F: Filter<Extract = (R,), Error = Infallible> + Clone + Send + Sync + 'static,
    R: Reply,
    D: Front,
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
        let Some(admission) = limits.admit(peer.ip()) else {
            tokio::spawn(refuse(stream));
            continue;
        };
        // Answers go out as soon as they are written: without this, the
        // second of two pipelined answers waits for the first's ACK.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let tracked = limits.track();
        let routes = warp::service(filter.clone());
        let on_request = tracked.clone();
        let front = front.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            on_request.request_started();
            // A handler that panics costs its own request a 500, never the
            // connection or the server.
            let taken =
                std::panic::catch_unwind(AssertUnwindSafe(|| front.answer(&request, Peer(peer))));
            let answer = match taken {
                Ok(Some(Taken::Now(answer))) => {
                    on_request.request_done();
                    return Either::Left(future::ready(Ok(answer.map(Body::direct))));
                }
                Ok(Some(Taken::Later(answer))) => {
                    Either::Left(answer.map(|answer| answer.map(Body::direct)))
                }
                Ok(None) => {
                    // The router's handlers read bodies: timed from here.
                    let mut request = request.map(|body| TimedBody::new(body, &on_request));
                    request.extensions_mut().insert(Peer(peer));
                    Either::Right(
                        routes
                            .clone()
                            .call(request)
                            .map(|Ok(answer)| answer.map(Body::Routed)),
                    )
                }
                Err(_) => {
                    on_request.request_done();
                    return Either::Left(future::ready(Ok(panicked())));
                }
            };
            let done = on_request.clone();
            Either::Right(async move {
                let response = AssertUnwindSafe(answer)
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| panicked());
                done.request_done();
                Ok::<_, Infallible>(response)
            })
        });
        let io = TokioIo::new(TrackedIo::new(stream, tracked));
        let connection = graceful.watch(http1.serve_connection(io, service));
        tokio::spawn(async move {
            let _admission = admission;
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

/// A response body: the router's, or the front door's bytes (sent as they
/// are, with their length).
pub enum Body<B> {
    Routed(B),
    Direct(Option<Bytes>),
}

impl<B> Body<B> {
    fn direct(bytes: Bytes) -> Body<B> {
        Body::Direct((!bytes.is_empty()).then_some(bytes))
    }
}

impl<B> hyper::body::Body for Body<B>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.get_mut() {
            Body::Routed(body) => Pin::new(body).poll_frame(cx),
            Body::Direct(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Routed(body) => body.is_end_stream(),
            Body::Direct(bytes) => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Routed(body) => body.size_hint(),
            Body::Direct(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}

/// The answer to a request whose handler panicked.
fn panicked<B>() -> Response<Body<B>> {
    super::error::ApiError::bug().answer().map(Body::direct)
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
    use crate::http::limits::Census;
    use std::sync::atomic::Ordering;
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
        let server = tokio::spawn(serve(routes, Arc::new(Short), listener, limits, async {
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

    /// A front door that answers `/short` at once and `/later` after a wait, panics on
    /// `/short-boom` and while answering `/later-boom`, and sends `/big`
    /// (more than a socket's buffers hold); the router answers everything
    /// else.
    struct Short;

    /// `/big`'s body.
    const BIG: usize = 32 * 1024 * 1024;

    impl Front for Short {
        fn answer(&self, request: &Request<Incoming>, _: Peer) -> Option<Taken> {
            let later = |boom: bool| {
                Taken::Later(Box::pin(async move {
                    tokio::task::yield_now().await;
                    assert!(!boom, "a bug in a later answer");
                    Response::new(Bytes::from_static(b"later"))
                }))
            };
            match request.uri().path() {
                "/short" => Some(Taken::Now(Response::new(Bytes::from_static(b"short")))),
                "/short-boom" => panic!("a front door bug"),
                "/later" => Some(later(false)),
                "/later-boom" => Some(later(true)),
                "/big" => Some(Taken::Now(Response::new(vec![b'x'; BIG].into()))),
                _ => None,
            }
        }
    }

    struct Rig {
        addr: SocketAddr,
        clock: Clock,
        limits: Arc<Limits>,
        stop: tokio::sync::oneshot::Sender<()>,
        server: tokio::task::JoinHandle<()>,
    }

    async fn rig() -> Rig {
        let routes = warp::any().map(|| "routed");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let clock = Clock::manual(chrono::DateTime::UNIX_EPOCH);
        let config = ServerConfig {
            header_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(75),
            // The test sweeps by itself.
            sweep_every: Duration::from_secs(3600),
            ..ServerConfig::default()
        };
        let limits = Limits::new(config, clock.clone(), Arc::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            routes,
            Arc::new(Short),
            listener,
            limits.clone(),
            async {
                let _ = stopped.await;
            },
        ));
        Rig {
            addr,
            clock,
            limits,
            stop,
            server,
        }
    }

    impl Rig {
        fn advance(&self, seconds: i64) {
            self.clock.advance(chrono::Duration::seconds(seconds));
            self.limits.sweep();
        }

        /// Waits until the server has seen the connections as `want`.
        async fn census(&self, want: Census) {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while self.limits.census() != want {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{:?}",
                    self.limits.census()
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }

        async fn stop(self) {
            let _ = self.stop.send(());
            self.server.await.unwrap();
        }
    }

    async fn answer(conn: &mut TcpStream) -> String {
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf))
            .await
            .expect("an answer in time")
            .unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    async fn closed(conn: &mut TcpStream) -> bool {
        let mut buf = [0u8; 512];
        match tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => true,
            Ok(Ok(_)) => false,
            Err(_) => panic!("the connection is still open"),
        }
    }

    fn census(idle: usize, reading: usize, busy: usize) -> Census {
        Census {
            idle,
            reading,
            busy,
            ..Census::default()
        }
    }

    #[tokio::test]
    async fn the_front_door_answers_ahead_of_the_router_with_its_length() {
        let r = rig().await;
        let mut conn = TcpStream::connect(r.addr).await.unwrap();
        conn.write_all(b"GET /short HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let short = answer(&mut conn).await;
        assert!(short.starts_with("HTTP/1.1 200"), "{short}");
        assert!(short.contains("content-length: 5\r\n"), "{short}");
        assert!(short.ends_with("\r\n\r\nshort"), "{short}");
        conn.write_all(b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        assert!(answer(&mut conn).await.ends_with("routed"));
        r.stop().await;
    }

    #[tokio::test]
    async fn a_slow_client_of_the_front_door_is_dropped_at_the_header_timeout() {
        let r = rig().await;
        let mut slow = TcpStream::connect(r.addr).await.unwrap();
        slow.write_all(b"GET /short HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        r.census(census(0, 1, 0)).await;
        r.advance(29);
        r.census(census(0, 1, 0)).await;
        r.advance(1);
        assert!(closed(&mut slow).await);
        assert_eq!(r.limits.stats.header_timeouts.load(Ordering::Relaxed), 1);
        r.stop().await;
    }

    #[tokio::test]
    async fn a_client_idle_after_a_front_door_answer_is_dropped_at_the_idle_timeout() {
        let r = rig().await;
        let mut conn = TcpStream::connect(r.addr).await.unwrap();
        conn.write_all(b"GET /short HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        assert!(answer(&mut conn).await.ends_with("short"));
        r.census(census(1, 0, 0)).await;
        r.advance(74);
        r.census(census(1, 0, 0)).await;
        r.advance(1);
        assert!(closed(&mut conn).await);
        assert_eq!(r.limits.stats.idle_timeouts.load(Ordering::Relaxed), 1);
        r.stop().await;
    }

    #[tokio::test]
    async fn a_panicking_front_door_answers_500_and_the_connection_goes_on() {
        let r = rig().await;
        let mut conn = TcpStream::connect(r.addr).await.unwrap();
        conn.write_all(b"GET /short-boom HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let boom = answer(&mut conn).await;
        assert!(boom.starts_with("HTTP/1.1 500"), "{boom}");
        assert!(!boom.contains("a front door bug"), "{boom}");
        conn.write_all(b"GET /short HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        assert!(answer(&mut conn).await.ends_with("short"));
        r.stop().await;
    }

    #[tokio::test]
    async fn a_later_answer_is_sent_when_ready_and_its_panic_is_a_500() {
        let r = rig().await;
        let mut conn = TcpStream::connect(r.addr).await.unwrap();
        conn.write_all(b"GET /later HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let later = answer(&mut conn).await;
        assert!(later.starts_with("HTTP/1.1 200"), "{later}");
        assert!(later.ends_with("\r\n\r\nlater"), "{later}");
        conn.write_all(b"GET /later-boom HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let boom = answer(&mut conn).await;
        assert!(boom.starts_with("HTTP/1.1 500"), "{boom}");
        assert!(!boom.contains("a bug"), "{boom}");
        r.census(census(1, 0, 0)).await;
        conn.write_all(b"GET /short HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        assert!(answer(&mut conn).await.ends_with("short"));
        r.stop().await;
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_an_answer_is_dropped_at_the_send_timeout() {
        let r = rig().await;
        // A small receive window, so that the answer cannot all be sent.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut conn = socket.connect(r.addr).await.unwrap();
        // Two requests: the second, already read, is what hyper looks at
        // while the first answer is written, not the socket.
        let two = b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n".repeat(2);
        conn.write_all(&two).await.unwrap();
        // Answered: the answer waits for the client, who reads nothing.
        let stalled = Census {
            idle: 1,
            stalled: 1,
            ..Census::default()
        };
        r.census(stalled).await;
        r.advance(59);
        r.census(stalled).await;
        r.advance(1);
        // Let go of, though the client reads nothing.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while r.limits.stats.open.load(Ordering::Relaxed) > 0 {
            assert!(std::time::Instant::now() < deadline, "still held");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        drop(conn);
        assert_eq!(r.limits.stats.send_timeouts.load(Ordering::Relaxed), 1);
        assert_eq!(r.limits.stats.idle_timeouts.load(Ordering::Relaxed), 0);
        r.stop().await;
    }
}
