//! Expiry warnings: NOTIFY_EMAIL + SMTP_URL and NOTIFY_WEBHOOK_URL.
//!
//! The refresher decides *when* to warn (10 days before expiry and on expiry, once each);
//! this module only delivers a [`Warning`] to every configured channel. Neither channel ever
//! carries a token: a [`Warning`] has no field that could hold one.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Serialize;
use sha2::Sha256;
use thiserror::Error;
use url::{Host, Url};

use crate::clock::Clock;
use crate::config::Secret;

const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);
/// Header carrying `sha256=<hex HMAC-SHA256(WEBHOOK_SECRET, raw body)>`, named like
/// GitHub's and Meta's so receivers can reuse their verification code.
pub const SIGNATURE_HEADER: &str = "X-Signature-256";

/// One warning about one account's token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub account: String,
    pub kind: WarningKind,
    pub expires_at: Option<DateTime<Utc>>,
    /// Where the owner reconnects the account (the admin connect page).
    pub reconnect_url: String,
    /// Why the agent cannot renew the token itself, e.g. "Facebook-Login tokens cannot be
    /// refreshed by API" or the last refresh error. Must not contain a token.
    pub reason: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    ExpiresSoon,
    Expired,
}

impl WarningKind {
    /// The webhook's `event` field.
    pub fn event(self) -> &'static str {
        match self {
            WarningKind::ExpiresSoon => "token.expires_soon",
            WarningKind::Expired => "token.expired",
        }
    }
}

/// Delivers warnings by e-mail and/or webhook. Build it once at start-up.
#[derive(Clone)]
pub struct Notifier {
    email: Option<EmailChannel>,
    webhook: Option<WebhookChannel>,
    app_name: String,
    clock: Clock,
}

#[derive(Clone, Debug)]
struct EmailChannel {
    to: Mailbox,
    from: Mailbox,
    smtp: SmtpSettings,
}

#[derive(Clone)]
struct WebhookChannel {
    url: Url,
    secret: Option<Secret>,
    /// Built only when a webhook is set: a client loads the system's CA
    /// certificates, which start-up need not pay for otherwise.
    http: reqwest::Client,
}

/// SMTP_URL, parsed. The transport itself is built per message: lettre's connection pool
/// spawns tasks on creation and on drop, which needs a running runtime, and two warnings
/// per account every 60 days do not need a pooled connection.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SmtpSettings {
    host: String,
    port: u16,
    security: SmtpSecurity,
    credentials: Option<(String, Secret)>,
    /// `?from=`: the sender, for providers that only relay mail from a verified address.
    from: Option<Address>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SmtpSecurity {
    /// `smtps://`, port 465 by default.
    ImplicitTls,
    /// `smtp://`, port 587 by default; the upgrade is required, never optional.
    StartTls,
    /// `smtp://…?tls=none`: loopback hosts only (tests, a relay on the same machine).
    Plain,
}

#[derive(Debug, Error)]
pub enum NotifyError {
    /// SMTP_URL cannot be used. The message never repeats the URL, which holds a password.
    #[error("SMTP_URL {0}")]
    SmtpUrl(String),
    #[error("NOTIFY_EMAIL {0}")]
    Email(String),
    #[error("the HTTP client for NOTIFY_WEBHOOK_URL could not be built: {0}")]
    HttpClient(String),
    /// At least one channel failed; the others may have delivered.
    #[error("expiry warning for {account:?} not delivered: {}", join(.failures))]
    Undelivered {
        account: String,
        failures: Vec<ChannelFailure>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelFailure {
    pub channel: Channel,
    /// What went wrong, without credentials, secrets or the webhook URL's path.
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Email,
    Webhook,
}

impl fmt::Display for ChannelFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let channel = match self.channel {
            Channel::Email => "e-mail",
            Channel::Webhook => "webhook",
        };
        write!(f, "{channel}: {}", self.detail)
    }
}

fn join(failures: &[ChannelFailure]) -> String {
    failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Notifier {
    /// - `email`: NOTIFY_EMAIL and SMTP_URL. SMTP_URL is `smtps://user:pass@host[:465]`
    ///   (implicit TLS) or `smtp://user:pass@host[:587]` (STARTTLS, required), with
    ///   percent-encoded credentials; `?from=sender@example.com` sets the sender (default:
    ///   NOTIFY_EMAIL itself); `?tls=none` is accepted for loopback hosts only.
    /// - `webhook_url`, `webhook_secret`: NOTIFY_WEBHOOK_URL, and the secret that signs its
    ///   bodies (unsigned without one).
    /// - `user_agent`: sent with webhook calls.
    /// - `app_name`: the `[…]` tag in e-mail subjects and the sender's display name.
    pub fn new(
        email: Option<(String, Secret)>,
        webhook_url: Option<Url>,
        webhook_secret: Option<Secret>,
        user_agent: impl Into<String>,
        app_name: impl Into<String>,
        clock: Clock,
    ) -> Result<Notifier, NotifyError> {
        let app_name = app_name.into();
        let email = email
            .map(|(to, smtp_url)| {
                let smtp = SmtpSettings::parse(smtp_url.expose())?;
                let to: Address = to.trim().parse().map_err(|_| {
                    NotifyError::Email(format!("is not a valid e-mail address: {to:?}"))
                })?;
                let from = smtp.from.clone().unwrap_or_else(|| to.clone());
                Ok::<_, NotifyError>(EmailChannel {
                    to: Mailbox::new(None, to),
                    from: Mailbox::new(Some(app_name.clone()), from),
                    smtp,
                })
            })
            .transpose()?;
        let user_agent = user_agent.into();
        let webhook = webhook_url
            .map(|url| {
                let http = crate::tls::http_client()
                    .user_agent(user_agent)
                    .timeout(WEBHOOK_TIMEOUT)
                    // A redirected POST turns into a GET or lands on another host; neither is a
                    // delivery, so a redirect counts as a failure like any non-2xx answer.
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| NotifyError::HttpClient(e.without_url().to_string()))?;
                Ok::<_, NotifyError>(WebhookChannel {
                    url,
                    secret: webhook_secret,
                    http,
                })
            })
            .transpose()?;
        Ok(Notifier {
            email,
            webhook,
            app_name,
            clock,
        })
    }

    /// Whether any channel is set up; when not, warnings only go to the log.
    pub fn is_configured(&self) -> bool {
        self.email.is_some() || self.webhook.is_some()
    }

    /// Sends `warning` to every configured channel (concurrently) and fails if any of them
    /// failed, naming which. Does nothing when no channel is configured.
    pub async fn send(&self, warning: &Warning) -> Result<(), NotifyError> {
        let email = async {
            match &self.email {
                Some(channel) => self.send_email(channel, warning).await.err(),
                None => None,
            }
        };
        let webhook = async {
            match &self.webhook {
                Some(channel) => self.send_webhook(channel, warning).await.err(),
                None => None,
            }
        };
        let (email, webhook) = tokio::join!(email, webhook);
        let failures: Vec<ChannelFailure> = [email, webhook].into_iter().flatten().collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(NotifyError::Undelivered {
                account: warning.account.clone(),
                failures,
            })
        }
    }

    async fn send_email(
        &self,
        channel: &EmailChannel,
        warning: &Warning,
    ) -> Result<(), ChannelFailure> {
        let failure = |detail: String| ChannelFailure {
            channel: Channel::Email,
            detail,
        };
        let now = self.clock.now();
        let message = Message::builder()
            .from(channel.from.clone())
            .to(channel.to.clone())
            .subject(email_subject(&self.app_name, warning, now))
            // Mail without a Message-ID scores as spam with most filters.
            .message_id(None)
            .header(ContentType::TEXT_PLAIN)
            .body(email_body(&self.app_name, warning, now))
            .map_err(|e| failure(format!("the message could not be built: {e}")))?;
        let smtp = &channel.smtp;
        let transport = smtp.transport().map_err(|e| {
            failure(format!(
                "SMTP server {}:{} unusable: {e}",
                smtp.host, smtp.port
            ))
        })?;
        transport
            .send(message)
            .await
            .map_err(|e| failure(format!("SMTP server {}:{}: {e}", smtp.host, smtp.port)))?;
        Ok(())
    }

    async fn send_webhook(
        &self,
        channel: &WebhookChannel,
        warning: &Warning,
    ) -> Result<(), ChannelFailure> {
        // Only the host is ever shown: webhook URLs (Slack, Discord, …) carry their
        // credential in the path.
        let host = channel.url.host_str().unwrap_or("?").to_string();
        let failure = |detail: String| ChannelFailure {
            channel: Channel::Webhook,
            detail: format!("{host}: {detail}"),
        };
        let body = webhook_body(warning);
        let mut request = channel
            .http
            .post(channel.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(secret) = &channel.secret {
            request = request.header(SIGNATURE_HEADER, signature(secret, &body));
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| failure(describe_http_error(e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(failure(format!("answered HTTP {status}")));
        }
        Ok(())
    }
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field(
                "email_to",
                &self.email.as_ref().map(|e| e.to.email.to_string()),
            )
            .field(
                "webhook_host",
                &self.webhook.as_ref().and_then(|w| w.url.host_str()),
            )
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for WebhookChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookChannel")
            .field("host", &self.url.host_str())
            .finish_non_exhaustive()
    }
}

impl SmtpSettings {
    fn parse(raw: &str) -> Result<SmtpSettings, NotifyError> {
        let bad = |what: &str| NotifyError::SmtpUrl(what.to_string());
        let example = "must look like smtps://user:password@smtp.example.com (port 465) \
                       or smtp://user:password@smtp.example.com:587";
        let url = Url::parse(raw.trim()).map_err(|_| bad(example))?;
        let mut security = match url.scheme() {
            "smtps" => SmtpSecurity::ImplicitTls,
            "smtp" => SmtpSecurity::StartTls,
            _ => return Err(bad(example)),
        };
        let host = match url.host() {
            Some(Host::Domain(domain)) => {
                let valid = !domain.is_empty()
                    && domain
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
                if !valid {
                    return Err(bad("has an invalid host name"));
                }
                domain.to_ascii_lowercase()
            }
            Some(Host::Ipv4(ip)) => ip.to_string(),
            Some(Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(bad(example)),
        };
        if !matches!(url.path(), "" | "/") || url.fragment().is_some() {
            return Err(bad("must not have a path or #fragment"));
        }
        if url.port() == Some(0) {
            return Err(bad("has port 0"));
        }

        let mut from = None;
        for (key, value) in url.query_pairs() {
            match &*key {
                "tls" if value == "none" => {
                    if security != SmtpSecurity::StartTls {
                        return Err(bad("may only use tls=none with smtp://, not smtps://"));
                    }
                    security = SmtpSecurity::Plain;
                }
                "tls" => return Err(bad("supports only tls=none (for a loopback host)")),
                "from" => {
                    let address = value
                        .parse::<Address>()
                        .map_err(|_| bad("has a from= parameter that is not an e-mail address"))?;
                    from = Some(address);
                }
                _ => {
                    return Err(NotifyError::SmtpUrl(format!(
                        "has an unknown parameter {key:?} (known: tls, from)"
                    )));
                }
            }
        }
        if security == SmtpSecurity::Plain && !is_loopback(&host) {
            return Err(bad(
                "may only use tls=none for localhost or a loopback address: \
                 mail and password would cross the network unencrypted",
            ));
        }

        let user = percent_decode(url.username())
            .ok_or_else(|| bad("has a user name that is not valid percent-encoding"))?;
        let password = url
            .password()
            .map(|p| {
                percent_decode(p)
                    .ok_or_else(|| bad("has a password that is not valid percent-encoding"))
            })
            .transpose()?;
        let credentials = match (user.is_empty(), password) {
            (true, None) => None,
            (false, Some(password)) => Some((user, Secret::new(password))),
            (false, None) => return Err(bad("has a user name but no password")),
            (true, Some(_)) => return Err(bad("has a password but no user name")),
        };

        let port = url.port().unwrap_or(match security {
            SmtpSecurity::ImplicitTls => 465,
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Plain => 25,
        });
        Ok(SmtpSettings {
            host,
            port,
            security,
            credentials,
            from,
        })
    }

    fn transport(
        &self,
    ) -> Result<AsyncSmtpTransport<Tokio1Executor>, lettre::transport::smtp::Error> {
        type Smtp = AsyncSmtpTransport<Tokio1Executor>;
        let builder = match self.security {
            SmtpSecurity::ImplicitTls => Smtp::relay(&self.host)?,
            SmtpSecurity::StartTls => Smtp::starttls_relay(&self.host)?,
            SmtpSecurity::Plain => Smtp::builder_dangerous(&self.host),
        };
        let mut builder = builder.port(self.port).timeout(Some(SMTP_TIMEOUT));
        if let Some((user, password)) = &self.credentials {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            ));
        }
        Ok(builder.build())
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// RFC 3986 percent-decoding (`+` stays `+`, unlike form decoding). `None` for a broken
/// escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let escape = bytes.get(i + 1..i + 3)?;
            out.push(hex::decode(escape).ok()?[0]);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn email_subject(app_name: &str, warning: &Warning, now: DateTime<Utc>) -> String {
    // Control characters could fold or break the header; account names never need them.
    let account: String = warning
        .account
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let what = match (warning.kind, warning.expires_at) {
        (WarningKind::Expired, _) => "has expired".to_string(),
        (WarningKind::ExpiresSoon, Some(at)) => format!("expires {}", time_left(at, now)),
        (WarningKind::ExpiresSoon, None) => "expires soon".to_string(),
    };
    format!("[{app_name}] Instagram token for \"{account}\" {what}")
}

fn email_body(app_name: &str, warning: &Warning, now: DateTime<Utc>) -> String {
    let account = &warning.account;
    let sender = if app_name == "token-agent" {
        "token-agent".to_string()
    } else {
        format!("token-agent ({app_name})")
    };
    let mut body = String::new();
    match (warning.kind, warning.expires_at) {
        (WarningKind::ExpiresSoon, Some(at)) => body.push_str(&format!(
            "The Instagram access token for the account \"{account}\" expires {},\n\
             on {}.\n\n\
             Your sites keep working until then. After that, their Instagram\n\
             feed stops until the account is reconnected.\n",
            time_left(at, now),
            utc(at),
        )),
        (WarningKind::ExpiresSoon, None) => body.push_str(&format!(
            "The Instagram access token for the account \"{account}\" expires soon.\n\n\
             Your sites keep working until then. After that, their Instagram\n\
             feed stops until the account is reconnected.\n",
        )),
        (WarningKind::Expired, Some(at)) => body.push_str(&format!(
            "The Instagram access token for the account \"{account}\" expired\n\
             on {}.\n\n\
             Sites that use it can no longer show the Instagram feed.\n",
            utc(at),
        )),
        (WarningKind::Expired, None) => body.push_str(&format!(
            "The Instagram access token for the account \"{account}\" has expired.\n\n\
             Sites that use it can no longer show the Instagram feed.\n",
        )),
    }
    body.push_str(&format!(
        "\nWhy it could not be renewed automatically:\n{}\n\n\
         To fix it, reconnect the account (it takes a minute):\n{}\n\n\
         -- \n\
         Sent by {sender} because NOTIFY_EMAIL is set.\n",
        warning.reason.trim(),
        warning.reconnect_url,
    ));
    body
}

fn utc(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// "in 9 days", rounded down so the warning never promises more time than there is.
fn time_left(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let left = expires_at - now;
    match left.num_days() {
        days if days >= 2 => format!("in {days} days"),
        1 => "in 1 day".to_string(),
        _ if left > chrono::Duration::zero() => "in less than a day".to_string(),
        _ => "now".to_string(),
    }
}

fn webhook_body(warning: &Warning) -> Vec<u8> {
    let mut value = serde_json::to_value(warning).expect("a Warning serializes to JSON");
    if let serde_json::Value::Object(fields) = &mut value {
        fields.insert("event".to_string(), warning.kind.event().into());
    }
    serde_json::to_vec(&value).expect("a JSON value serializes")
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`.
fn signature(secret: &Secret, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC accepts a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The error and its causes, without the URL (reqwest puts the full URL in its messages).
fn describe_http_error(error: reqwest::Error) -> String {
    let timed_out = error.is_timeout();
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if timed_out {
        text.push_str(&format!(
            " (no answer within {}s)",
            WEBHOOK_TIMEOUT.as_secs()
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    use chrono::TimeZone;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{TcpListener, TcpStream};
    use warp::Filter;
    use warp::http::{HeaderMap, StatusCode};

    /// Never handed to the notifier; asserted absent from everything it sends.
    const TOKEN: &str = "IGQWRPa1ZAtokenvalue0123456789";
    const WEBHOOK_SECRET: &str = "whsec-do-not-leak";
    const OWNER: &str = "owner@example.com";
    const RECONNECT: &str = "https://agent.example.com/connect/facebook";
    const UA: &str = "token-agent/0.1.0 (+https://agent.example.com)";

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    fn warning(kind: WarningKind) -> Warning {
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

    fn notifier(
        smtp_url: Option<String>,
        webhook: Option<Url>,
        secret: Option<&str>,
    ) -> Result<Notifier, NotifyError> {
        Notifier::new(
            smtp_url.map(|url| (OWNER.to_string(), Secret::new(url))),
            webhook,
            secret.map(Secret::new),
            UA,
            "token-agent",
            Clock::manual(now()),
        )
    }

    // ---- webhook ------------------------------------------------------------------------

    type Seen = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

    /// A local webhook receiver answering `status`; its URL carries a credential-like path.
    async fn webhook_receiver(status: u16) -> (Url, Seen) {
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

    #[tokio::test]
    async fn the_webhook_receives_the_warning_as_signed_json() {
        let (url, seen) = webhook_receiver(200).await;
        let notifier = notifier(None, Some(url), Some(WEBHOOK_SECRET)).unwrap();

        notifier
            .send(&warning(WarningKind::ExpiresSoon))
            .await
            .unwrap();

        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let (headers, body) = &seen[0];
        let json: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(json["event"], "token.expires_soon");
        assert_eq!(json["kind"], "expires_soon");
        assert_eq!(json["account"], "default");
        assert_eq!(json["expires_at"], "2026-03-10T15:00:00Z");
        assert_eq!(json["reconnect_url"], RECONNECT);
        assert_eq!(
            json["reason"],
            "Facebook-Login tokens cannot be refreshed by API"
        );
        assert_eq!(headers["user-agent"], UA);
        assert_eq!(headers["content-type"], "application/json");

        let header = headers[SIGNATURE_HEADER].to_str().unwrap();
        let hex_mac = header.strip_prefix("sha256=").unwrap();
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
        mac.update(body);
        mac.verify_slice(&hex::decode(hex_mac).unwrap()).unwrap();

        let text = String::from_utf8_lossy(body);
        assert!(!text.contains(TOKEN) && !text.contains(WEBHOOK_SECRET));
        for value in headers.values() {
            let value = value.to_str().unwrap();
            assert!(!value.contains(TOKEN) && !value.contains(WEBHOOK_SECRET));
        }
    }

    #[tokio::test]
    async fn an_expired_token_is_a_token_expired_event() {
        let (url, seen) = webhook_receiver(204).await;
        let notifier = notifier(None, Some(url), Some(WEBHOOK_SECRET)).unwrap();

        notifier.send(&warning(WarningKind::Expired)).await.unwrap();

        let json: serde_json::Value = serde_json::from_slice(&seen.lock().unwrap()[0].1).unwrap();
        assert_eq!(json["event"], "token.expired");
        assert_eq!(json["kind"], "expired");
    }

    #[tokio::test]
    async fn without_a_secret_the_webhook_is_sent_unsigned() {
        let (url, seen) = webhook_receiver(200).await;
        let notifier = notifier(None, Some(url), None).unwrap();

        notifier
            .send(&warning(WarningKind::ExpiresSoon))
            .await
            .unwrap();

        assert!(!seen.lock().unwrap()[0].0.contains_key(SIGNATURE_HEADER));
    }

    #[tokio::test]
    async fn a_non_2xx_answer_is_a_webhook_failure_that_hides_the_url_path() {
        for status in [500, 404, 302] {
            let (url, _) = webhook_receiver(status).await;
            let notifier = notifier(None, Some(url), Some(WEBHOOK_SECRET)).unwrap();

            let err = notifier
                .send(&warning(WarningKind::ExpiresSoon))
                .await
                .unwrap_err();

            let NotifyError::Undelivered { account, failures } = &err else {
                panic!("unexpected {err:?}");
            };
            assert_eq!(account, "default");
            assert_eq!(failures.len(), 1);
            assert_eq!(failures[0].channel, Channel::Webhook);
            let message = err.to_string();
            assert!(message.contains("webhook: 127.0.0.1"), "{message}");
            assert!(message.contains(&status.to_string()), "{message}");
            assert!(!message.contains("PATHSECRET"), "{message}");
            assert!(!message.contains(WEBHOOK_SECRET), "{message}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_webhook_is_a_failure_that_hides_the_url_path() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let url = Url::parse(&format!("http://{addr}/hook/PATHSECRET")).unwrap();
        let notifier = notifier(None, Some(url), None).unwrap();

        let err = notifier
            .send(&warning(WarningKind::ExpiresSoon))
            .await
            .unwrap_err();

        let message = err.to_string();
        assert!(message.contains("webhook: 127.0.0.1"), "{message}");
        assert!(!message.contains("PATHSECRET"), "{message}");
    }

    // ---- e-mail -------------------------------------------------------------------------

    #[derive(Default)]
    struct Mailbag {
        commands: Vec<String>,
        messages: Vec<String>,
    }

    /// Just enough plain SMTP for lettre: greeting, EHLO, MAIL, RCPT, DATA, ".", QUIT.
    async fn fake_smtp() -> (u16, Arc<Mutex<Mailbag>>) {
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

    async fn smtp_session(stream: TcpStream, bag: Arc<Mutex<Mailbag>>) -> std::io::Result<()> {
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

    /// Unfolds headers and undoes quoted-printable, so assertions see the text as written.
    fn readable(raw: &str) -> String {
        let unfolded = raw.replace("\r\n ", " ").replace("\r\n\t", " ");
        if !unfolded.contains("Content-Transfer-Encoding: quoted-printable") {
            return unfolded;
        }
        let joined = unfolded.replace("=\r\n", "");
        let mut out = Vec::new();
        let bytes = joined.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes.get(i + 1..i + 3).map(hex::decode) {
                Some(Ok(b)) if bytes[i] == b'=' => {
                    out.push(b[0]);
                    i += 3;
                }
                _ => {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[tokio::test]
    async fn the_email_tells_the_owner_what_expires_when_and_how_to_fix_it() {
        let (port, bag) = fake_smtp().await;
        let notifier = notifier(
            Some(format!("smtp://127.0.0.1:{port}?tls=none")),
            None,
            None,
        )
        .unwrap();

        notifier
            .send(&warning(WarningKind::ExpiresSoon))
            .await
            .unwrap();

        let bag = bag.lock().unwrap();
        assert_eq!(bag.messages.len(), 1);
        let mail = readable(&bag.messages[0]);
        assert!(
            mail.contains(
                "Subject: [token-agent] Instagram token for \"default\" expires in 9 days\r\n"
            ),
            "{mail}"
        );
        assert!(mail.contains(&format!("To: {OWNER}")), "{mail}");
        assert!(mail.contains("Message-ID: <"), "{mail}");
        assert!(mail.contains("account \"default\""), "{mail}");
        assert!(mail.contains("on 2026-03-10 15:00 UTC"), "{mail}");
        assert!(mail.contains("Facebook-Login tokens cannot be refreshed by API"));
        assert!(mail.contains(RECONNECT), "{mail}");
        assert!(!mail.contains(TOKEN));
        assert!(
            bag.commands
                .iter()
                .any(|c| c.eq_ignore_ascii_case(&format!("RCPT TO:<{OWNER}>"))),
            "{:?}",
            bag.commands
        );
    }

    #[tokio::test]
    async fn an_expired_token_email_says_so_in_the_subject() {
        let (port, bag) = fake_smtp().await;
        let notifier = notifier(
            Some(format!(
                "smtp://127.0.0.1:{port}?tls=none&from=agent%40example.com"
            )),
            None,
            None,
        )
        .unwrap();

        notifier.send(&warning(WarningKind::Expired)).await.unwrap();

        let bag = bag.lock().unwrap();
        let mail = readable(&bag.messages[0]);
        assert!(
            mail.contains("Subject: [token-agent] Instagram token for \"default\" has expired"),
            "{mail}"
        );
        assert!(mail.contains("agent@example.com"), "{mail}");
        assert!(mail.contains(RECONNECT), "{mail}");
        assert!(
            bag.commands
                .iter()
                .any(|c| c.eq_ignore_ascii_case("MAIL FROM:<agent@example.com>")),
            "{:?}",
            bag.commands
        );
    }

    #[tokio::test]
    async fn an_unreachable_smtp_server_is_an_email_failure_without_the_password() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let notifier = notifier(
            Some(format!("smtp://user:hunter2pass@127.0.0.1:{port}?tls=none")),
            None,
            None,
        )
        .unwrap();

        let err = notifier
            .send(&warning(WarningKind::ExpiresSoon))
            .await
            .unwrap_err();

        let NotifyError::Undelivered { failures, .. } = &err else {
            panic!("unexpected {err:?}");
        };
        assert_eq!(failures[0].channel, Channel::Email);
        let message = err.to_string();
        assert!(
            message.contains("e-mail: SMTP server 127.0.0.1"),
            "{message}"
        );
        assert!(!message.contains("hunter2pass"), "{message}");
    }

    #[tokio::test]
    async fn one_failing_channel_does_not_stop_the_other() {
        let (port, bag) = fake_smtp().await;
        let (url, _) = webhook_receiver(503).await;
        let notifier = notifier(
            Some(format!("smtp://localhost:{port}?tls=none")),
            Some(url),
            None,
        )
        .unwrap();

        let err = notifier
            .send(&warning(WarningKind::ExpiresSoon))
            .await
            .unwrap_err();

        assert_eq!(bag.lock().unwrap().messages.len(), 1);
        let NotifyError::Undelivered { failures, .. } = &err else {
            panic!("unexpected {err:?}");
        };
        let channels: Vec<Channel> = failures.iter().map(|f| f.channel).collect();
        assert_eq!(channels, [Channel::Webhook]);
    }

    #[tokio::test]
    async fn with_no_channel_sending_is_a_no_op() {
        let notifier = notifier(None, None, Some(WEBHOOK_SECRET)).unwrap();
        assert!(!notifier.is_configured());
        notifier.send(&warning(WarningKind::Expired)).await.unwrap();
    }

    #[test]
    fn either_channel_counts_as_configured() {
        let url = Url::parse("https://hooks.example.com/x").unwrap();
        assert!(notifier(None, Some(url), None).unwrap().is_configured());
        let smtp = "smtps://u:p@smtp.example.com".to_string();
        assert!(notifier(Some(smtp), None, None).unwrap().is_configured());
    }

    #[test]
    fn an_invalid_notify_email_is_refused() {
        let err = Notifier::new(
            Some((
                "not-an-address".into(),
                Secret::new("smtps://u:p@smtp.example.com"),
            )),
            None,
            None,
            UA,
            "token-agent",
            Clock::manual(now()),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("NOTIFY_EMAIL"), "{err}");
    }

    #[test]
    fn debug_output_shows_neither_password_nor_webhook_path() {
        let notifier = notifier(
            Some("smtps://user:hunter2pass@smtp.example.com".into()),
            Some(Url::parse("https://hooks.example.com/services/PATHSECRET").unwrap()),
            Some(WEBHOOK_SECRET),
        )
        .unwrap();
        let debug = format!("{notifier:?}");
        assert!(debug.contains("hooks.example.com"), "{debug}");
        for secret in ["hunter2pass", "PATHSECRET", WEBHOOK_SECRET] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }

    // ---- wording ------------------------------------------------------------------------

    #[test]
    fn time_left_rounds_down_to_whole_days() {
        let days = |h: i64| time_left(now() + chrono::Duration::hours(h), now());
        assert_eq!(days(9 * 24 + 23), "in 9 days");
        assert_eq!(days(2 * 24), "in 2 days");
        assert_eq!(days(47), "in 1 day");
        assert_eq!(days(23), "in less than a day");
        assert_eq!(days(0), "now");
        assert_eq!(days(-5), "now");
    }

    #[test]
    fn subjects_name_the_account_and_the_state() {
        let soon = warning(WarningKind::ExpiresSoon);
        assert_eq!(
            email_subject("token-agent", &soon, now()),
            "[token-agent] Instagram token for \"default\" expires in 9 days"
        );
        let unknown = Warning {
            expires_at: None,
            ..soon.clone()
        };
        assert_eq!(
            email_subject("my-app", &unknown, now()),
            "[my-app] Instagram token for \"default\" expires soon"
        );
        let sneaky = Warning {
            account: "a\r\nBcc: x@evil.test".into(),
            ..soon
        };
        assert!(!email_subject("t", &sneaky, now()).contains('\n'));
    }

    // ---- SMTP_URL -----------------------------------------------------------------------

    fn parse(url: &str) -> Result<SmtpSettings, NotifyError> {
        SmtpSettings::parse(url)
    }

    #[test]
    fn smtps_is_implicit_tls_on_port_465_by_default() {
        let s = parse("smtps://user:pass@smtp.example.com").unwrap();
        assert_eq!(s.security, SmtpSecurity::ImplicitTls);
        assert_eq!((s.host.as_str(), s.port), ("smtp.example.com", 465));
        let (user, password) = s.credentials.unwrap();
        assert_eq!((user.as_str(), password.expose()), ("user", "pass"));
        assert_eq!(
            parse("smtps://u:p@smtp.example.com:2465").unwrap().port,
            2465
        );
    }

    #[test]
    fn smtp_is_required_starttls_on_port_587_by_default() {
        let s = parse("smtp://user:pass@SMTP.Example.com").unwrap();
        assert_eq!(s.security, SmtpSecurity::StartTls);
        assert_eq!((s.host.as_str(), s.port), ("smtp.example.com", 587));
        assert_eq!(
            parse("smtp://u:p@smtp.example.com:2525").unwrap().port,
            2525
        );
    }

    #[test]
    fn credentials_are_percent_decoded_and_plus_stays_plus() {
        let s = parse("smtps://me%40example.com:p%40ss+w%3Ard%2F%25@smtp.example.com").unwrap();
        let (user, password) = s.credentials.unwrap();
        assert_eq!(user, "me@example.com");
        assert_eq!(password.expose(), "p@ss+w:rd/%");
    }

    #[test]
    fn no_credentials_is_allowed_but_half_of_them_is_not() {
        assert_eq!(parse("smtp://relay.example.com").unwrap().credentials, None);
        assert!(parse("smtp://user@relay.example.com").is_err());
        assert!(parse("smtp://:pass@relay.example.com").is_err());
    }

    #[test]
    fn tls_none_is_allowed_for_loopback_hosts_only() {
        for url in [
            "smtp://127.0.0.1:2525?tls=none",
            "smtp://localhost:2525?tls=none",
            "smtp://[::1]:2525?tls=none",
        ] {
            let s = parse(url).unwrap();
            assert_eq!((s.security, s.port), (SmtpSecurity::Plain, 2525), "{url}");
        }
        assert_eq!(parse("smtp://127.0.0.1?tls=none").unwrap().port, 25);
        assert_eq!(parse("smtp://[::1]:2525?tls=none").unwrap().host, "::1");
        for url in [
            "smtp://smtp.example.com?tls=none",
            "smtp://10.0.0.5:25?tls=none",
            "smtp://localhost.evil.test?tls=none",
            "smtps://127.0.0.1?tls=none",
            "smtp://127.0.0.1?tls=required",
        ] {
            assert!(matches!(parse(url), Err(NotifyError::SmtpUrl(_))), "{url}");
        }
    }

    #[test]
    fn a_from_parameter_sets_the_sender() {
        let s = parse("smtps://apikey:k@smtp.example.com?from=agent%40example.com").unwrap();
        assert_eq!(s.from.unwrap().to_string(), "agent@example.com");
        assert!(parse("smtps://apikey:k@smtp.example.com?from=nope").is_err());
    }

    #[test]
    fn garbage_is_refused_without_echoing_the_url() {
        for url in [
            "",
            "not a url",
            "smtp.example.com:587",
            "http://user:hunter2pass@smtp.example.com",
            "smtp://",
            "smtps://user:hunter2pass@",
            "smtp://user:hunter2pass@smtp.example.com/path",
            "smtp://user:hunter2pass@smtp.example.com?tsl=none",
            "smtp://user:hunter2pass@smtp.example.com:0",
            "smtp://user:hunter2pass@smtp.exa_mple.com",
            "smtp://user:hunter2%ZZpass@smtp.example.com",
            "smtp://user:%FF@smtp.example.com",
        ] {
            let err = parse(url).expect_err(url);
            let message = err.to_string();
            assert!(message.starts_with("SMTP_URL "), "{message}");
            assert!(!message.contains("hunter2"), "{url}: {message}");
        }
    }

    #[test]
    fn percent_decode_handles_edge_cases() {
        assert_eq!(percent_decode("a%20b").as_deref(), Some("a b"));
        assert_eq!(percent_decode("%C3%A9").as_deref(), Some("é"));
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%+1"), None);
        assert_eq!(percent_decode("%FF"), None);
    }
}
