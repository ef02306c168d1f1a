//! SMTP_URL and NOTIFY_EMAIL: where expiry warnings are mailed, parsed once
//! at start-up.

use lettre::Address;
use url::{Host, Url};

use super::{ConfigError, Secret};
use crate::domain::host::is_loopback_host;

/// NOTIFY_EMAIL and SMTP_URL together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailConfig {
    pub to: Address,
    pub smtp: SmtpConfig,
}

impl EmailConfig {
    /// `to` (NOTIFY_EMAIL) through `smtp_url` (SMTP_URL).
    pub fn parse(to: &str, smtp_url: &str) -> Result<EmailConfig, ConfigError> {
        Ok(EmailConfig {
            to: EmailConfig::address(to)?,
            smtp: SmtpConfig::parse(smtp_url)?,
        })
    }

    /// NOTIFY_EMAIL alone.
    pub fn address(to: &str) -> Result<Address, ConfigError> {
        to.trim().parse().map_err(|_| {
            super::bad(
                "NOTIFY_EMAIL",
                format!("must be an e-mail address, got {to:?}"),
            )
        })
    }
}

/// SMTP_URL, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub credentials: Option<(String, Secret)>,
    /// `?from=`: the sender, for providers that only relay mail from a verified address.
    pub from: Option<Address>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtps://`, port 465 by default.
    ImplicitTls,
    /// `smtp://`, port 587 by default; the upgrade is required, never optional.
    StartTls,
    /// `smtp://…?tls=none`: loopback hosts only (tests, a relay on the same machine).
    Plain,
}

impl SmtpConfig {
    pub fn parse(raw: &str) -> Result<SmtpConfig, ConfigError> {
        let bad = |what: &str| super::bad("SMTP_URL", what);
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
                    return Err(super::bad(
                        "SMTP_URL",
                        format!("has an unknown parameter {key:?} (known: tls, from)"),
                    ));
                }
            }
        }
        if security == SmtpSecurity::Plain && !is_loopback_host(&host) {
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
        Ok(SmtpConfig {
            host,
            port,
            security,
            credentials,
            from,
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    // ---- SMTP_URL -----------------------------------------------------------------------

    fn parse(url: &str) -> Result<SmtpConfig, ConfigError> {
        SmtpConfig::parse(url)
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
            assert!(parse(url).is_err_and(|e| e.var == "SMTP_URL"), "{url}");
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
