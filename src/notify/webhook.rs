//! The webhook channel: the warning POSTed as JSON to NOTIFY_WEBHOOK_URL, signed
//! in the [`SIGNATURE_HEADER`] when a webhook secret is set.

use std::fmt;
use std::time::Duration;

use url::Url;

use super::{Channel, ChannelFailure, NotifyError, SignInAlert, VersionNotice, Warning};
use crate::config::Secret;

const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Header carrying `sha256=<hex HMAC-SHA256(WEBHOOK_SECRET, raw body)>`, named like
/// GitHub's and Meta's so receivers can reuse their verification code.
pub const SIGNATURE_HEADER: &str = "X-Signature-256";

#[derive(Clone)]
pub(super) struct WebhookChannel {
    url: Url,
    secret: Option<Secret>,
    /// Built only when a webhook is set: a client loads the system's CA
    /// certificates, which start-up need not pay for otherwise.
    http: reqwest::Client,
}

impl WebhookChannel {
    /// POSTs to `url` as `user_agent`, signing with `secret` when there is one.
    pub(super) fn new(
        url: Url,
        secret: Option<Secret>,
        user_agent: String,
    ) -> Result<WebhookChannel, NotifyError> {
        let http = crate::tls::http_client()
            .user_agent(user_agent)
            .timeout(WEBHOOK_TIMEOUT)
            // A redirected POST turns into a GET or lands on another host; neither is a
            // delivery, so a redirect counts as a failure like any non-2xx answer.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| NotifyError::HttpClient(e.without_url().to_string()))?;
        Ok(WebhookChannel { url, secret, http })
    }

    /// The URL's host, for debug output.
    pub(super) fn host(&self) -> Option<&str> {
        self.url.host_str()
    }

    /// POSTs one JSON body.
    pub(super) async fn send(&self, body: Vec<u8>) -> Result<(), ChannelFailure> {
        // Only the host is ever shown: webhook URLs (Slack, Discord, …) carry their
        // credential in the path.
        let host = self.url.host_str().unwrap_or("?").to_string();
        let failure = |detail: String| ChannelFailure {
            channel: Channel::Webhook,
            detail: format!("{host}: {detail}"),
        };
        let mut request = self
            .http
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(secret) = &self.secret {
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

impl fmt::Debug for WebhookChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookChannel")
            .field("host", &self.url.host_str())
            .finish_non_exhaustive()
    }
}

pub(super) fn webhook_body(warning: &Warning) -> Vec<u8> {
    let mut value = serde_json::to_value(warning).expect("a Warning serializes to JSON");
    if let serde_json::Value::Object(fields) = &mut value {
        fields.insert("event".to_string(), warning.kind.event().into());
    }
    serde_json::to_vec(&value).expect("a JSON value serializes")
}

/// The warning that failed sign-ins passed ADMIN_FAILURE_WARN_AFTER.
pub(super) fn sign_in_body(alert: &SignInAlert) -> Vec<u8> {
    let body = serde_json::json!({
        "event": "admin.sign_in_failures",
        "failures": alert.failures,
        "threshold": alert.threshold,
        "window_minutes": 60,
        "admin_url": alert.admin_url,
    });
    serde_json::to_vec(&body).expect("a JSON value serializes")
}

/// The notice that GRAPH_API_VERSION ends soon.
pub(super) fn version_body(notice: &VersionNotice) -> Vec<u8> {
    let body = serde_json::json!({
        "event": "graph_api.version_ends",
        "version": notice.version,
        "ends_at": notice.ends_at,
        "newest": notice.newest,
    });
    serde_json::to_vec(&body).expect("a JSON value serializes")
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`.
fn signature(secret: &Secret, body: &[u8]) -> String {
    format!(
        "sha256={}",
        crate::signing::hmac_sha256_hex(secret.expose().as_bytes(), body)
    )
}

/// The error and its causes, without the URL (reqwest puts the full URL in its messages).
fn describe_http_error(error: reqwest::Error) -> String {
    let timed_out = error.is_timeout();
    let error = error.without_url();
    let mut text = crate::telemetry::error_chain(&error);
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
    use tokio::net::TcpListener;

    use super::*;
    use crate::notify::testing::*;
    use crate::notify::{NotifyError, WarningKind};

    #[tokio::test]
    async fn the_version_notice_is_an_event_of_its_own() {
        let (url, seen) = webhook_receiver(200).await;
        let notifier = notifier(None, Some(url), Some(WEBHOOK_SECRET)).unwrap();
        let notice = crate::notify::VersionNotice {
            version: "v21.0".into(),
            ends_at: now(),
            newest: "v25.0".into(),
        };

        notifier.send_version_notice(&notice).await.unwrap();

        let seen = seen.lock().unwrap();
        let json: serde_json::Value = serde_json::from_slice(&seen[0].1).unwrap();
        assert_eq!(json["event"], "graph_api.version_ends");
        assert_eq!(json["version"], "v21.0");
        assert_eq!(json["ends_at"], "2026-03-01T12:00:00Z");
        assert_eq!(json["newest"], "v25.0");
    }

    #[tokio::test]
    async fn the_sign_in_warning_is_an_event_of_its_own() {
        let (url, seen) = webhook_receiver(200).await;
        let notifier = notifier(None, Some(url), Some(WEBHOOK_SECRET)).unwrap();
        let alert = SignInAlert {
            failures: 21,
            threshold: 20,
            admin_url: "https://tokens.example.com/admin".into(),
        };

        notifier.send_sign_in_alert(&alert).await.unwrap();

        let seen = seen.lock().unwrap();
        let (headers, body) = &seen[0];
        let json: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(json["event"], "admin.sign_in_failures");
        assert_eq!(json["failures"], 21);
        assert_eq!(json["threshold"], 20);
        assert_eq!(json["window_minutes"], 60);
        assert_eq!(json["admin_url"], "https://tokens.example.com/admin");
        assert!(headers.contains_key(SIGNATURE_HEADER));
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
        let mut mac =
            <hmac::Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(WEBHOOK_SECRET.as_bytes())
                .unwrap();
        hmac::Mac::update(&mut mac, body);
        hmac::Mac::verify_slice(mac, &hex::decode(hex_mac).unwrap()).unwrap();

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

            let NotifyError::Undelivered { what, failures } = &err else {
                panic!("unexpected {err:?}");
            };
            assert!(what.contains("\"default\""), "{what}");
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
}
