//! The e-mail channel: one SMTP transport per message (NOTIFY_EMAIL and
//! SMTP_URL are parsed in `config/smtp.rs`), and the warning's subject and
//! body text.

use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Channel, ChannelFailure, SignInAlert, VersionNotice, Warning, WarningKind};
use crate::config::{EmailConfig, SmtpConfig, SmtpSecurity};

const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, Debug)]
pub(super) struct EmailChannel {
    to: Mailbox,
    from: Mailbox,
    smtp: SmtpConfig,
}

impl EmailChannel {
    /// Mail to NOTIFY_EMAIL `to` through SMTP_URL, sent as `app_name`.
    pub(super) fn new(config: &EmailConfig, app_name: &str) -> EmailChannel {
        let to = config.to.clone();
        let from = config.smtp.from.clone().unwrap_or_else(|| to.clone());
        EmailChannel {
            to: Mailbox::new(None, to),
            from: Mailbox::new(Some(app_name.to_string()), from),
            smtp: config.smtp.clone(),
        }
    }

    /// The NOTIFY_EMAIL address, for debug output.
    pub(super) fn recipient(&self) -> String {
        self.to.email.to_string()
    }

    /// Sends one plain-text message.
    pub(super) async fn send(&self, subject: String, body: String) -> Result<(), ChannelFailure> {
        let failure = |detail: String| ChannelFailure {
            channel: Channel::Email,
            detail,
        };
        let message = Message::builder()
            .from(self.from.clone())
            .to(self.to.clone())
            .subject(subject)
            // Mail without a Message-ID scores as spam with most filters.
            .message_id(None)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| failure(format!("the message could not be built: {e}")))?;
        let smtp = &self.smtp;
        let transport = transport(smtp).map_err(|e| {
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
}

/// The SMTP transport for `smtp`, built per message: lettre's connection pool
/// spawns tasks on creation and on drop, which needs a running runtime, and two
/// warnings per account every 60 days do not need a pooled connection.
fn transport(
    smtp: &SmtpConfig,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, lettre::transport::smtp::Error> {
    type Smtp = AsyncSmtpTransport<Tokio1Executor>;
    let builder = match smtp.security {
        SmtpSecurity::ImplicitTls => Smtp::relay(&smtp.host)?,
        SmtpSecurity::StartTls => Smtp::starttls_relay(&smtp.host)?,
        SmtpSecurity::Plain => Smtp::builder_dangerous(&smtp.host),
    };
    let mut builder = builder.port(smtp.port).timeout(Some(SMTP_TIMEOUT));
    if let Some((user, password)) = &smtp.credentials {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            password.expose().to_string(),
        ));
    }
    Ok(builder.build())
}

pub(super) fn email_subject(app_name: &str, warning: &Warning, now: DateTime<Utc>) -> String {
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

/// Who the mail is from, as its signature names it.
fn sender(app_name: &str) -> String {
    if app_name == "token-agent" {
        "token-agent".to_string()
    } else {
        format!("token-agent ({app_name})")
    }
}

/// The warning that failed sign-ins passed ADMIN_FAILURE_WARN_AFTER.
pub(super) fn sign_in_mail(app_name: &str, alert: &SignInAlert) -> (String, String) {
    let subject = format!(
        "[{app_name}] {} failed sign-ins in the last hour",
        alert.failures
    );
    let body = format!(
        "Someone has tried {} wrong admin passwords or METRICS_TOKENs in the\n\
         last hour (ADMIN_FAILURE_WARN_AFTER is {}). Each wrong attempt is\n\
         answered slowly, and your own sign-in still gets in at once.\n\n\
         If it was not you, choose a longer ADMIN_PASSWORD (and METRICS_TOKEN),\n\
         and check who can reach the admin page:\n{}\n\n\
         You are told at most once an hour.\n\n\
         -- \n\
         Sent by {} because NOTIFY_EMAIL is set.\n",
        alert.failures,
        alert.threshold,
        alert.admin_url,
        sender(app_name),
    );
    (subject, body)
}

/// The notice that GRAPH_API_VERSION ends soon.
pub(super) fn version_mail(app_name: &str, notice: &VersionNotice) -> (String, String) {
    let subject = format!(
        "[{app_name}] Graph API {} ends on {}",
        notice.version,
        notice.ends_at.format("%Y-%m-%d")
    );
    let body = format!(
        "GRAPH_API_VERSION is {}, which Meta ends on {}. From then on Meta\n\
         answers the agent's calls as the oldest version it still offers, whose\n\
         answers the agent was not checked against.\n\n\
         Your tokens are not affected. Set GRAPH_API_VERSION to {} (or remove\n\
         it: that is the default) before then.\n\n\
         -- \n\
         Sent by {} because NOTIFY_EMAIL is set.\n",
        notice.version,
        utc(notice.ends_at),
        notice.newest,
        sender(app_name),
    );
    (subject, body)
}

pub(super) fn email_body(app_name: &str, warning: &Warning, now: DateTime<Utc>) -> String {
    let account = &warning.account;
    let sender = sender(app_name);
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

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;

    use super::*;
    use crate::notify::NotifyError;
    use crate::notify::testing::*;

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

    /// The one message `send` mails through a fake SMTP server, readable.
    async fn mailed(send: impl AsyncFnOnce(&crate::notify::Notifier)) -> String {
        let (port, bag) = fake_smtp().await;
        let notifier = notifier(
            Some(format!("smtp://127.0.0.1:{port}?tls=none")),
            None,
            None,
        )
        .unwrap();
        send(&notifier).await;
        let bag = bag.lock().unwrap();
        assert_eq!(bag.messages.len(), 1);
        readable(&bag.messages[0])
    }

    #[tokio::test]
    async fn the_version_notice_says_which_version_ends_when_and_what_to_set() {
        let notice = crate::notify::VersionNotice {
            version: "v21.0".into(),
            ends_at: now(),
            newest: "v25.0".into(),
        };

        let mail = mailed(async |n| n.send_version_notice(&notice).await.unwrap()).await;

        assert!(
            mail.contains("Subject: [token-agent] Graph API v21.0 ends on 2026-03-01\r\n"),
            "{mail}"
        );
        assert!(mail.contains("Set GRAPH_API_VERSION to v25.0"), "{mail}");
        assert!(mail.contains("Your tokens are not affected"), "{mail}");
    }

    #[tokio::test]
    async fn the_sign_in_warning_says_how_many_failed_and_where_to_look() {
        let alert = crate::notify::SignInAlert {
            failures: 25,
            threshold: 20,
            admin_url: "https://tokens.example.com/admin".into(),
        };

        let mail = mailed(async |n| n.send_sign_in_alert(&alert).await.unwrap()).await;

        assert!(
            mail.contains("Subject: [token-agent] 25 failed sign-ins in the last hour\r\n"),
            "{mail}"
        );
        assert!(mail.contains("ADMIN_FAILURE_WARN_AFTER is 20"), "{mail}");
        assert!(mail.contains("https://tokens.example.com/admin"), "{mail}");
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
}
