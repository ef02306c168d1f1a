//! `hyper-ceiling PORT WORKERS BODY_FILE HEADERS_FILE`: answers every
//! request on 127.0.0.1:PORT with BODY_FILE's bytes and the headers listed
//! in HEADERS_FILE (`name: value` lines), with WORKERS runtime threads. What
//! a server on hyper can do at best for the agent's /token.json, for the
//! bench's table.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, port, workers, body, headers] = args.as_slice() else {
        eprintln!("usage: hyper-ceiling PORT WORKERS BODY_FILE HEADERS_FILE");
        std::process::exit(2);
    };
    let body = Bytes::from(std::fs::read(body).expect("body file"));
    let mut map = HeaderMap::new();
    for line in std::fs::read_to_string(headers).expect("headers file").lines() {
        if let Some((name, value)) = line.split_once(':') {
            map.append(
                HeaderName::from_bytes(name.trim().as_bytes()).expect("header name"),
                HeaderValue::from_str(value.trim()).expect("header value"),
            );
        }
    }
    let port: u16 = port.parse().expect("port");
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.parse().expect("workers"))
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(serve(port, body, map));
}

async fn serve(port: u16, body: Bytes, headers: HeaderMap) {
    let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (body, headers) = (body.clone(), headers.clone());
        tokio::spawn(async move {
            let service = service_fn(move |_: Request<hyper::body::Incoming>| {
                let mut response = Response::new(Full::new(body.clone()));
                *response.headers_mut() = headers.clone();
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
