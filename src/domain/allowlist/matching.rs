//! Deciding a request: the origin its `Origin` or `Referer` header claims,
//! compared with each entry as scheme, host and port, never as a substring.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::Ipv6Addr;

use super::syntax::{Scheme, is_plain_host, parse_port, split_authority, split_host_port};
use super::{Entry, HostPattern};

impl Entry {
    pub(super) fn matches(&self, seen: &SeenOrigin<'_>) -> bool {
        self.scheme == seen.scheme
            && self.port == seen.port
            && match (&self.host, &seen.host) {
                (HostPattern::Exact(host), SeenHost::Name(name)) => name.eq_ignore_ascii_case(host),
                (HostPattern::Subdomains(suffix), SeenHost::Name(name)) => {
                    is_subdomain(name, suffix)
                }
                (HostPattern::Ipv6(host), SeenHost::Ipv6(address)) => host == address,
                _ => false,
            }
    }
}

/// The header's value, unless it is absent or blank.
pub(super) fn non_empty(header: Option<&str>) -> Option<&str> {
    header.map(str::trim).filter(|value| !value.is_empty())
}

/// `name` is a strict subdomain of `suffix`. `name` is ASCII (checked by `is_plain_host`).
fn is_subdomain(name: &str, suffix: &str) -> bool {
    if name.len() <= suffix.len() + 1 {
        return false;
    }
    let (head, tail) = name.split_at(name.len() - suffix.len());
    head.ends_with('.') && tail.eq_ignore_ascii_case(suffix)
}

/// The origin a request claims, borrowed from its header.
pub(super) struct SeenOrigin<'a> {
    scheme: Scheme,
    host: SeenHost<'a>,
    /// The host exactly as sent (brackets and any trailing dot included), for the echo.
    host_text: &'a str,
    port: u16,
    /// `scheme://authority` exactly as sent.
    spelled: &'a str,
    /// The port exactly as sent, if one was.
    port_text: Option<&'a str>,
}

enum SeenHost<'a> {
    /// ASCII, no trailing dot, no empty label.
    Name(&'a str),
    Ipv6(Ipv6Addr),
}

impl<'a> SeenOrigin<'a> {
    /// Parses an `Origin` value (`url` false: nothing may follow the port) or a `Referer` URL.
    /// Browsers send both in serialised ASCII form; anything else (user info, raw Unicode,
    /// `null`, other schemes) is not a listed site and gives `None`.
    pub(super) fn parse(value: &'a str, url: bool) -> Option<SeenOrigin<'a>> {
        let (scheme_text, rest) = value.split_once("://")?;
        let scheme = Scheme::parse(scheme_text)?;
        let (authority, tail) = split_authority(rest);
        if !url && !tail.is_empty() {
            return None;
        }
        let spelled = &value[..value.len() - tail.len()];
        let (host_text, port_text) = split_host_port(authority)?;
        let port = parse_port(port_text, scheme)?;
        let host = match host_text.strip_prefix('[') {
            Some(v6) => SeenHost::Ipv6(v6.strip_suffix(']')?.parse().ok()?),
            None => {
                let name = host_text.strip_suffix('.').unwrap_or(host_text);
                if !is_plain_host(name) {
                    return None;
                }
                SeenHost::Name(name)
            }
        };
        Some(SeenOrigin {
            scheme,
            host,
            host_text,
            port,
            spelled,
            port_text,
        })
    }

    /// [`SeenOrigin::serialize`], borrowed from the header when the header
    /// already spells the origin that way (as browsers do), else made.
    pub(super) fn echo(&self) -> Cow<'a, str> {
        let port_as_serialized = match self.port_text {
            None => self.port == self.scheme.default_port(),
            Some(digits) => {
                self.port != self.scheme.default_port()
                    && !digits.starts_with('0')
                    && digits.bytes().all(|b| b.is_ascii_digit())
            }
        };
        let canonical = port_as_serialized
            && self.spelled.starts_with(self.scheme.as_str())
            && self.spelled[self.scheme.as_str().len()..].starts_with("://")
            && !self.host_text.bytes().any(|b| b.is_ascii_uppercase());
        if canonical {
            Cow::Borrowed(self.spelled)
        } else {
            Cow::Owned(self.serialize())
        }
    }

    /// `scheme://host[:port]`, lowercased, default port left out: what a browser sends.
    pub(super) fn serialize(&self) -> String {
        let scheme = self.scheme.as_str();
        let mut origin = String::with_capacity(scheme.len() + 3 + self.host_text.len() + 6);
        origin.push_str(scheme);
        origin.push_str("://");
        origin.extend(self.host_text.chars().map(|c| c.to_ascii_lowercase()));
        if self.port != self.scheme.default_port() {
            let _ = write!(origin, ":{}", self.port);
        }
        origin
    }
}
