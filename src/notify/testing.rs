//! What the notify tests share: a sample warning, a notifier on a manual clock, a local
//! webhook receiver and a fake SMTP server.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use url::Url;
use warp::Filter;
use warp::http::{HeaderMap, StatusCode};

use super::{Notifier, NotifyError, Warning, WarningKind};
use crate::clock::Clock;
use crate::config::{EmailConfig, Secret};

/// Never handed to the notifier; asserted absent from everything it sends.
pub(super) const TOKEN: &str = "IGQWRPa1ZAtokenvalue0123456789";
pub(super) const WEBHOOK_SECRET: &str = "whsec-do-not-leak";
pub(super) const OWNER: &str = "owner@example.com";
pub(super) const RECONNECT: &str = "https://agent.example.com/connect/facebook";
pub(super) const UA: &str = "token-agent/0.1.0 (+https://agent.example.com)";

pub(super) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

pub(super) fn warning(kind: WarningKind) -> Warning {
    Warning {
        account: "default".into(),
        kind,
        expires_at: Some(match kind {
            WarningKind::ExpiresSoon => now() + chrono::Duration::hours(9 * 24 + 3),
            WarningKind::Expired => now() - chrono::Duration::hours(1),
        }),
        reconnect_url: RECONNECT.into(),
        reason: "Facebook-Login tokens cannot be refreshed by API".into(),
    }
}

pub(super) fn notifier(
    smtp_url: Option<String>,
    webhook: Option<Url>,
    secret: Option<&str>,
) -> Result<Notifier, NotifyError> {
    let email = smtp_url.map(|url| EmailConfig::parse(OWNER, &url).expect("a valid SMTP_URL"));
    Notifier::new(
        email.as_ref(),
        webhook,
        secret.map(Secret::new),
        UA,
        "token-agent",
        Clock::manual(now()),
    )
}

pub(super) type Seen = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// A local webhook receiver answering `status`; its URL carries a credential-like path.
pub(super) async fn webhook_receiver(status: u16) -> (Url, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let route = warp::post()
        .and(warp::path("hook"))
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .map(move |headers: HeaderMap, body: bytes::Bytes| {
            log.lock().unwrap().push((headers, body.to_vec()));
            warp::reply::with_status("ok", StatusCode::from_u16(status).unwrap())
        });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    let url = Url::parse(&format!("http://{addr}/hook/T000/B000/PATHSECRET")).unwrap();
    (url, seen)
}

#[derive(Default)]
pub(super) struct Mailbag {
    pub(super) commands: Vec<String>,
    pub(super) messages: Vec<String>,
}

/// Just enough plain SMTP for lettre: greeting, EHLO, MAIL, RCPT, DATA, ".", QUIT.
pub(super) async fn fake_smtp() -> (u16, Arc<Mutex<Mailbag>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let bag: Arc<Mutex<Mailbag>> = Arc::default();
    let shared = bag.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(smtp_session(stream, shared.clone()));
        }
    });
    (port, bag)
}

pub(super) async fn smtp_session(
    stream: TcpStream,
    bag: Arc<Mutex<Mailbag>>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 fake.test ESMTP\r\n").await?;
    let mut data: Option<String> = None;
    while let Some(line) = lines.next_line().await? {
        if let Some(message) = data.as_mut() {
            if line == "." {
                bag.lock().unwrap().messages.push(std::mem::take(message));
                data = None;
                write.write_all(b"250 queued\r\n").await?;
            } else {
                // Dot-stuffing: a leading "." was doubled by the client.
                message.push_str(line.strip_prefix('.').unwrap_or(&line));
                message.push_str("\r\n");
            }
            continue;
        }
        bag.lock().unwrap().commands.push(line.clone());
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => b"250 fake.test\r\n",
            "DATA" => {
                data = Some(String::new());
                b"354 end with <CRLF>.<CRLF>\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"250 OK\r\n",
        };
        write.write_all(reply).await?;
    }
    Ok(())
}
