//! Expiry warnings: NOTIFY_EMAIL + SMTP_URL and NOTIFY_WEBHOOK_URL.
//!
//! The refresher decides *when* to warn (10 days before expiry and on expiry, once each);
//! this module only delivers a [`Warning`] to every configured channel. Neither channel ever
//! carries a token: a [`Warning`] has no field that could hold one.
//!
//! This file holds what both channels share; each channel has its own file: `email.rs`
//! (SMTP_URL, the transport, the message text) and `webhook.rs` (the signed JSON POST).

mod email;
#[cfg(test)]
mod testing;
mod webhook;

pub use webhook::SIGNATURE_HEADER;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use thiserror::Error;
use url::Url;

use crate::clock::Clock;
use crate::config::{EmailConfig, Secret};
use email::EmailChannel;
use webhook::WebhookChannel;

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

/// Failed sign-ins (wrong admin passwords or METRICS_TOKENs, from any
/// client) passed ADMIN_FAILURE_WARN_AFTER within an hour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignInAlert {
    pub failures: u32,
    /// ADMIN_FAILURE_WARN_AFTER.
    pub threshold: u32,
    /// The admin page, where the owner can look.
    pub admin_url: String,
}

/// The Graph API version the agent is set to (GRAPH_API_VERSION) ends soon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionNotice {
    pub version: String,
    pub ends_at: DateTime<Utc>,
    /// The newest version the agent knows, to move to.
    pub newest: String,
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

#[derive(Debug, Error)]
pub enum NotifyError {
    #[error("the HTTP client for NOTIFY_WEBHOOK_URL could not be built: {0}")]
    HttpClient(String),
    /// At least one channel failed; the others may have delivered.
    #[error("{what} not delivered: {}", join(.failures))]
    Undelivered {
        /// Which warning, e.g. `expiry warning for "default"`.
        what: String,
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
    /// - `email`: NOTIFY_EMAIL and SMTP_URL, parsed (see `config/smtp.rs`).
    /// - `webhook_url`, `webhook_secret`: NOTIFY_WEBHOOK_URL, and the secret that signs its
    ///   bodies (unsigned without one).
    /// - `user_agent`: sent with webhook calls.
    /// - `app_name`: the `[…]` tag in e-mail subjects and the sender's display name.
    pub fn new(
        email: Option<&EmailConfig>,
        webhook_url: Option<Url>,
        webhook_secret: Option<Secret>,
        user_agent: impl Into<String>,
        app_name: impl Into<String>,
        clock: Clock,
    ) -> Result<Notifier, NotifyError> {
        let app_name = app_name.into();
        let email = email.map(|config| EmailChannel::new(config, &app_name));
        let user_agent = user_agent.into();
        let webhook = webhook_url
            .map(|url| WebhookChannel::new(url, webhook_secret, user_agent))
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
        let now = self.clock.now();
        let mail = || {
            (
                email::email_subject(&self.app_name, warning, now),
                email::email_body(&self.app_name, warning, now),
            )
        };
        let what = format!("expiry warning for {:?}", warning.account);
        self.deliver(what, mail, || webhook::webhook_body(warning))
            .await
    }

    /// Tells the owner that failed sign-ins passed ADMIN_FAILURE_WARN_AFTER,
    /// on every configured channel.
    pub async fn send_sign_in_alert(&self, alert: &SignInAlert) -> Result<(), NotifyError> {
        let mail = || email::sign_in_mail(&self.app_name, alert);
        let hook = || webhook::sign_in_body(alert);
        self.deliver("sign-in warning".to_string(), mail, hook)
            .await
    }

    /// Tells the owner that the configured Graph API version ends soon.
    pub async fn send_version_notice(&self, notice: &VersionNotice) -> Result<(), NotifyError> {
        let mail = || email::version_mail(&self.app_name, notice);
        let hook = || webhook::version_body(notice);
        self.deliver("Graph API version notice".to_string(), mail, hook)
            .await
    }

    /// One message on each channel, concurrently: `mail` its subject and
    /// body, `hook` the webhook's JSON.
    async fn deliver(
        &self,
        what: String,
        mail: impl FnOnce() -> (String, String),
        hook: impl FnOnce() -> Vec<u8>,
    ) -> Result<(), NotifyError> {
        let email = async {
            match &self.email {
                Some(channel) => {
                    let (subject, body) = mail();
                    channel.send(subject, body).await.err()
                }
                None => None,
            }
        };
        let webhook = async {
            match &self.webhook {
                Some(channel) => channel.send(hook()).await.err(),
                None => None,
            }
        };
        let (email, webhook) = tokio::join!(email, webhook);
        let failures: Vec<ChannelFailure> = [email, webhook].into_iter().flatten().collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(NotifyError::Undelivered { what, failures })
        }
    }
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field(
                "email_to",
                &self.email.as_ref().map(EmailChannel::recipient),
            )
            .field(
                "webhook_host",
                &self.webhook.as_ref().and_then(WebhookChannel::host),
            )
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

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
}
