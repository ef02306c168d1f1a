//! Reading one ALLOWED_DOMAINS entry into an [`Entry`]: its scheme, host or
//! wildcard and port, refusing what could never match or would match strangers.

use std::fmt;

use url::Host;

use super::syntax::{Scheme, is_plain_host, parse_port, split_authority, split_host_port};
use super::{AllowListError, Entry, EntryProblem, HostPattern};

impl Entry {
    pub(super) fn parse(raw: &str) -> Result<Entry, AllowListError> {
        let problem = |problem| AllowListError::Entry {
            entry: raw.to_owned(),
            problem,
        };
        // A "://" inside a path or query ("example.com/?u=https://x") is not a scheme.
        let (scheme, rest) = match raw.split_once("://") {
            Some((scheme, rest)) if !scheme.contains(['/', '?', '#']) => (
                Scheme::parse(scheme).ok_or_else(|| problem(EntryProblem::Scheme))?,
                rest,
            ),
            _ => (Scheme::Https, raw),
        };
        let (authority, tail) = split_authority(rest);
        // A lone trailing slash, as copied from the address bar, is still just the origin.
        let tail = tail.strip_prefix('/').unwrap_or(tail);
        match tail.chars().next() {
            None => {}
            Some('?') => return Err(problem(EntryProblem::Query)),
            Some('#') => return Err(problem(EntryProblem::Fragment)),
            Some(_) => return Err(problem(EntryProblem::Path)),
        }
        if authority.contains('@') {
            return Err(problem(EntryProblem::UserInfo));
        }
        let (wildcard, authority) = match authority.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, authority),
        };
        if !authority.starts_with('[') && authority.matches(':').count() > 1 {
            return Err(problem(EntryProblem::Ipv6Brackets));
        }
        let (host, port) = split_host_port(authority).ok_or_else(|| problem(EntryProblem::Port))?;
        let port = parse_port(port, scheme).ok_or_else(|| problem(EntryProblem::Port))?;
        if host.is_empty() {
            return Err(problem(EntryProblem::NoHost));
        }
        if host == "*" && !wildcard {
            return Err(AllowListError::EverySite);
        }
        if host.contains('*') {
            return Err(problem(EntryProblem::Wildcard));
        }
        let host = match Host::parse(host).map_err(|e| problem(EntryProblem::Host(e)))? {
            Host::Domain(domain) => {
                let domain = match domain.strip_suffix('.') {
                    Some(stripped) => stripped.to_owned(),
                    None => domain,
                };
                if domain.split('.').any(str::is_empty) {
                    return Err(problem(EntryProblem::EmptyLabel));
                }
                // The URL parser lets through characters no request's host
                // can carry (and maps some symbols to them); such an entry
                // could never match, so it is a mistake to report.
                if !is_plain_host(&domain) {
                    return Err(problem(EntryProblem::Host(
                        url::ParseError::InvalidDomainCharacter,
                    )));
                }
                if !wildcard {
                    HostPattern::Exact(domain)
                } else if covers_public_suffix(&domain) {
                    return Err(AllowListError::PublicSuffix {
                        entry: raw.to_owned(),
                        suffix: domain,
                    });
                } else {
                    HostPattern::Subdomains(domain)
                }
            }
            Host::Ipv4(_) | Host::Ipv6(_) if wildcard => {
                return Err(problem(EntryProblem::WildcardIp));
            }
            Host::Ipv4(address) => HostPattern::Exact(address.to_string()),
            Host::Ipv6(address) => HostPattern::Ipv6(address),
        };
        Ok(Entry { scheme, host, port })
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme.as_str())?;
        match &self.host {
            HostPattern::Exact(host) => f.write_str(host)?,
            HostPattern::Ipv6(address) => write!(f, "{}", Host::<&str>::Ipv6(*address))?,
            HostPattern::Subdomains(suffix) => write!(f, "*.{suffix}")?,
        }
        if self.port != self.scheme.default_port() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// True if `*.domain` would span sites of different owners: `domain` is itself a known public
/// suffix (`com`, `co.uk`, `github.io`), or its children are (`kawasaki.jp` under the PSL rule
/// `*.kawasaki.jp`). Unlisted names such as `localhost` are not public suffixes.
fn covers_public_suffix(domain: &str) -> bool {
    let is_public_suffix = |name: &str| {
        psl::suffix(name.as_bytes())
            .is_some_and(|suffix| suffix.is_known() && suffix.as_bytes() == name.as_bytes())
    };
    is_public_suffix(domain) || is_public_suffix(&format!("x.{domain}"))
}
