//! The e-mail channel: NOTIFY_EMAIL and SMTP_URL parsed into settings, one SMTP
//! transport per message, and the warning's subject and body text.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use url::{Host, Url};

use super::{Channel, ChannelFailure, NotifyError, Warning, WarningKind};
use crate::config::Secret;

const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, Debug)]
pub(super) struct EmailChannel {
    to: Mailbox,
    from: Mailbox,
    smtp: SmtpSettings,
}

impl EmailChannel {
    /// Mail to NOTIFY_EMAIL `to` through SMTP_URL, sent as `app_name`.
    pub(super) fn new(
        to: &str,
        smtp_url: &Secret,
        app_name: &str,
    ) -> Result<EmailChannel, NotifyError> {
        let smtp = SmtpSettings::parse(smtp_url.expose())?;
        let to: Address = to
            .trim()
            .parse()
            .map_err(|_| NotifyError::Email(format!("is not a valid e-mail address: {to:?}")))?;
        let from = smtp.from.clone().unwrap_or_else(|| to.clone());
        Ok(EmailChannel {
            to: Mailbox::new(None, to),
            from: Mailbox::new(Some(app_name.to_string()), from),
            smtp,
        })
    }

    /// The NOTIFY_EMAIL address, for debug output.
    pub(super) fn recipient(&self) -> String {
        self.to.email.to_string()
    }

    pub(super) async fn send(
        &self,
        app_name: &str,
        warning: &Warning,
        now: DateTime<Utc>,
    ) -> Result<(), ChannelFailure> {
        let failure = |detail: String| ChannelFailure {
            channel: Channel::Email,
            detail,
        };
        let message = Message::builder()
            .from(self.from.clone())
            .to(self.to.clone())
            .subject(email_subject(app_name, warning, now))
            // Mail without a Message-ID scores as spam with most filters.
            .message_id(None)
            .header(ContentType::TEXT_PLAIN)
            .body(email_body(app_name, warning, now))
            .map_err(|e| failure(format!("the message could not be built: {e}")))?;
        let smtp = &self.smtp;
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
    // percent_decode_str passes a malformed escape (`%`, `%2`, `%zz`) through unchanged;
    // here it is an error, so every `%` must start two hex digits.
    let bytes = s.as_bytes();
    let well_formed = bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return None;
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|text| text.into_owned())
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

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;

    use super::*;
    use crate::clock::Clock;
    use crate::notify::Notifier;
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
