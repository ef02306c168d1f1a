//! ALLOWED_DOMAINS: which websites may use the token and feed URLs.
//!
//! CORS headers cannot stop a `<script src>` include, so every token and feed request is
//! checked here against its `Origin` header, or failing that its `Referer`. Both sides are
//! compared as parsed origins (scheme, host, port), never as substrings, so
//! `https://example.com.evil.net` is not `example.com`.

use std::fmt::{self, Write as _};
use std::net::Ipv6Addr;

use thiserror::Error;
use url::Host;

/// The parsed ALLOWED_DOMAINS list. Never empty.
///
/// Entries, separated by spaces and/or commas:
/// - `example.com`: the origin `https://example.com` (a bare domain always means https, port 443);
/// - `https://example.com:8443`, `http://localhost:8080`, `http://[::1]:3000`: exactly that
///   origin; without a port, the scheme's default port;
/// - `*.example.com`, `http://*.localhost:3000`: every subdomain of that domain, at any depth
///   (`www.example.com`, `a.b.example.com`), but **not** `example.com` itself; list the apex
///   as well if it should be allowed. A wildcard over a public suffix (`*.com`, `*.github.io`)
///   is refused, because it would let strangers' sites in.
///
/// Hosts are lowercased, international names converted to punycode and one trailing dot
/// dropped, so `Bücher.Example.` and `xn--bcher-kva.example` are the same entry.
#[derive(Clone, Debug)]
pub struct AllowedDomains {
    entries: Vec<Entry>,
}

/// Whether a request may have the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// The request comes from a listed site.
    Allowed {
        /// The request's origin, lowercased and without a default port (for example
        /// `https://www.example.com` or `http://localhost:8080`), to echo in
        /// `Access-Control-Allow-Origin`.
        origin: String,
    },
    /// The request names a site that is not listed, an opaque origin (`Origin: null`), or a
    /// header that is not a valid http(s) origin or URL.
    Denied,
    /// Neither `Origin` nor `Referer` was sent (or both were empty).
    Missing,
}

/// Why ALLOWED_DOMAINS was refused. The message does not name the variable; the caller does.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AllowListError {
    /// Nothing but separators.
    #[error("no domains are listed; list your domains, e.g. \"example.com www.example.com\"")]
    Empty,
    /// A bare `*`.
    #[error(
        "\"*\" would allow every site; list your domains, e.g. \"example.com www.example.com\""
    )]
    EverySite,
    /// `*.` over a public suffix such as `com`, `co.uk` or `github.io`.
    #[error(
        "{entry:?} would allow every site under the public suffix \"{suffix}\"; \
         list your own domain instead, e.g. \"*.yoursite.{suffix}\""
    )]
    PublicSuffix {
        /// The entry as written.
        entry: String,
        /// The public suffix it covers.
        suffix: String,
    },
    /// An entry that is not a domain or origin.
    #[error("{entry:?}: {problem}")]
    Entry {
        /// The entry as written.
        entry: String,
        /// What is wrong with it.
        problem: EntryProblem,
    },
}

/// What is wrong with one ALLOWED_DOMAINS entry.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EntryProblem {
    /// Not `http://` or `https://`.
    #[error("only http:// and https:// origins can be listed")]
    Scheme,
    /// `https://example.com/blog`.
    #[error("a path is not allowed; list the origin only, e.g. \"https://example.com\"")]
    Path,
    /// `https://example.com?x`.
    #[error("a query (?...) is not allowed; list the origin only, e.g. \"https://example.com\"")]
    Query,
    /// `https://example.com#x`.
    #[error("a fragment (#...) is not allowed; list the origin only, e.g. \"https://example.com\"")]
    Fragment,
    /// `https://user@example.com`.
    #[error("a user name or password (...@) is not allowed")]
    UserInfo,
    /// `https://` or `:8080`.
    #[error("the host name is missing")]
    NoHost,
    /// `example.com:http`, `example.com:0`, `example.com:70000`.
    #[error("the port must be a number from 1 to 65535")]
    Port,
    /// `::1` instead of `[::1]`.
    #[error("an IPv6 address needs brackets, e.g. \"http://[::1]:3000\"")]
    Ipv6Brackets,
    /// `foo.*.com`, `*example.com`.
    #[error("a wildcard must be the whole first label, e.g. \"*.example.com\"")]
    Wildcard,
    /// `*.127.0.0.1`.
    #[error("a wildcard cannot cover an IP address")]
    WildcardIp,
    /// `example..com`.
    #[error("the host name has an empty label (\"..\")")]
    EmptyLabel,
    /// Rejected by the URL host parser (bad characters, bad IP address, bad IDN).
    #[error("not a valid host name or IP address ({0})")]
    Host(url::ParseError),
}

impl AllowedDomains {
    /// Parses the ALLOWED_DOMAINS value. Duplicate entries are kept once.
    pub fn parse(raw: &str) -> Result<AllowedDomains, AllowListError> {
        let mut entries: Vec<Entry> = Vec::new();
        for word in raw.split(|c: char| c == ',' || c.is_whitespace()) {
            if word.is_empty() {
                continue;
            }
            let entry = Entry::parse(word)?;
            if !entries.contains(&entry) {
                entries.push(entry);
            }
        }
        if entries.is_empty() {
            return Err(AllowListError::Empty);
        }
        Ok(AllowedDomains { entries })
    }

    /// The entries in normalised form (`https://example.com`, `https://*.example.com`,
    /// `http://localhost:8080`), in the order listed, for the help page.
    pub fn entries(&self) -> impl Iterator<Item = String> {
        self.entries.iter().map(Entry::to_string)
    }

    /// Decides a request from its `Origin` and `Referer` headers.
    ///
    /// A non-empty `Origin` decides alone; `Origin: null` (sandboxed frames, `file:` pages)
    /// is denied, not a reason to trust the `Referer`. Otherwise the `Referer` URL's origin
    /// decides.
    pub fn check(&self, origin: Option<&str>, referer: Option<&str>) -> Access {
        let seen = match (non_empty(origin), non_empty(referer)) {
            (Some(origin), _) => SeenOrigin::parse(origin, false),
            (None, Some(referer)) => SeenOrigin::parse(referer, true),
            (None, None) => return Access::Missing,
        };
        match seen {
            Some(seen) if self.entries.iter().any(|entry| entry.matches(&seen)) => {
                Access::Allowed {
                    origin: seen.serialize(),
                }
            }
            _ => Access::Denied,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn parse(s: &str) -> Option<Scheme> {
        if s.eq_ignore_ascii_case("https") {
            Some(Scheme::Https)
        } else if s.eq_ignore_ascii_case("http") {
            Some(Scheme::Http)
        } else {
            None
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// One allowed origin, or family of origins. The port is always filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    scheme: Scheme,
    host: HostPattern,
    port: u16,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum HostPattern {
    /// A lowercase ASCII domain without a trailing dot, or a dotted-decimal IPv4 address.
    Exact(String),
    Ipv6(Ipv6Addr),
    /// `*.suffix`: strict subdomains of `suffix`, at any depth.
    Subdomains(String),
}

impl Entry {
    fn parse(raw: &str) -> Result<Entry, AllowListError> {
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

    fn matches(&self, seen: &SeenOrigin<'_>) -> bool {
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

/// The header's value, unless it is absent or blank.
fn non_empty(header: Option<&str>) -> Option<&str> {
    header.map(str::trim).filter(|value| !value.is_empty())
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

/// `name` is a strict subdomain of `suffix`. `name` is ASCII (checked by `is_plain_host`).
fn is_subdomain(name: &str, suffix: &str) -> bool {
    if name.len() <= suffix.len() + 1 {
        return false;
    }
    let (head, tail) = name.split_at(name.len() - suffix.len());
    head.ends_with('.') && tail.eq_ignore_ascii_case(suffix)
}

/// Splits `host[:port]` from whatever follows it (path, query or fragment).
fn split_authority(rest: &str) -> (&str, &str) {
    rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()))
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`. An unclosed `[` is left to the host
/// parser to reject.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let Some(close) = authority.find(']') else {
            return Some((authority, None));
        };
        let (host, after) = authority.split_at(close + 1);
        if after.is_empty() {
            Some((host, None))
        } else {
            Some((host, Some(after.strip_prefix(':')?)))
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => Some((host, Some(port))),
            None => Some((authority, None)),
        }
    }
}

/// The port, or the scheme's default when none is given. Digits only, 1 to 65535.
fn parse_port(port: Option<&str>, scheme: Scheme) -> Option<u16> {
    let Some(port) = port else {
        return Some(scheme.default_port());
    };
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    port.parse().ok().filter(|&port| port != 0)
}

/// The origin a request claims, borrowed from its header.
struct SeenOrigin<'a> {
    scheme: Scheme,
    host: SeenHost<'a>,
    /// The host exactly as sent (brackets and any trailing dot included), for the echo.
    host_text: &'a str,
    port: u16,
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
    fn parse(value: &'a str, url: bool) -> Option<SeenOrigin<'a>> {
        let (scheme, rest) = value.split_once("://")?;
        let scheme = Scheme::parse(scheme)?;
        let (authority, tail) = split_authority(rest);
        if !url && !tail.is_empty() {
            return None;
        }
        let (host_text, port) = split_host_port(authority)?;
        let port = parse_port(port, scheme)?;
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
        })
    }

    /// `scheme://host[:port]`, lowercased, default port left out: what a browser sends.
    fn serialize(&self) -> String {
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

/// Dot-separated, non-empty labels of ASCII letters, digits, `-` and `_`.
fn is_plain_host(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(raw: &str) -> AllowedDomains {
        AllowedDomains::parse(raw).expect("valid ALLOWED_DOMAINS")
    }

    fn origin(list: &AllowedDomains, origin: &str) -> Access {
        list.check(Some(origin), None)
    }

    fn referer(list: &AllowedDomains, referer: &str) -> Access {
        list.check(None, Some(referer))
    }

    fn allowed(origin: &str) -> Access {
        Access::Allowed {
            origin: origin.to_owned(),
        }
    }

    fn problem(raw: &str) -> EntryProblem {
        match AllowedDomains::parse(raw) {
            Err(AllowListError::Entry { entry, problem }) => {
                assert_eq!(entry, raw);
                problem
            }
            other => panic!("{raw:?} gave {other:?}, expected an entry problem"),
        }
    }

    #[test]
    fn a_bare_domain_allows_its_https_origin() {
        let domains = list("example.com");

        assert_eq!(
            origin(&domains, "https://example.com"),
            allowed("https://example.com")
        );
        assert_eq!(
            origin(&domains, "https://example.com:443"),
            allowed("https://example.com")
        );
    }

    #[test]
    fn a_bare_domain_does_not_allow_http_or_another_port() {
        let domains = list("example.com");

        assert_eq!(origin(&domains, "http://example.com"), Access::Denied);
        assert_eq!(origin(&domains, "https://example.com:8443"), Access::Denied);
        assert_eq!(origin(&domains, "http://example.com:443"), Access::Denied);
    }

    #[test]
    fn a_bare_domain_with_a_port_means_https_on_that_port() {
        let domains = list("example.com:8443");

        assert_eq!(
            origin(&domains, "https://example.com:8443"),
            allowed("https://example.com:8443")
        );
        assert_eq!(origin(&domains, "https://example.com"), Access::Denied);
    }

    #[test]
    fn an_http_entry_with_a_port_allows_exactly_that_origin() {
        let domains = list("http://localhost:8080");

        assert_eq!(
            origin(&domains, "http://localhost:8080"),
            allowed("http://localhost:8080")
        );
        assert_eq!(origin(&domains, "http://localhost:8081"), Access::Denied);
        assert_eq!(origin(&domains, "http://localhost"), Access::Denied);
        assert_eq!(origin(&domains, "https://localhost:8080"), Access::Denied);
    }

    #[test]
    fn an_entry_without_a_port_means_the_default_port_of_its_scheme() {
        let domains = list("http://example.com https://secure.example.com:443");

        assert_eq!(
            origin(&domains, "http://example.com:80"),
            allowed("http://example.com")
        );
        assert_eq!(origin(&domains, "http://example.com:8080"), Access::Denied);
        assert_eq!(
            origin(&domains, "https://secure.example.com"),
            allowed("https://secure.example.com")
        );
    }

    #[test]
    fn a_longer_host_that_ends_with_a_listed_domain_is_denied() {
        let domains = list("example.com");

        assert_eq!(
            origin(&domains, "https://example.com.evil.net"),
            Access::Denied
        );
        assert_eq!(
            referer(&domains, "https://example.com.evil.net/page"),
            Access::Denied
        );
    }

    #[test]
    fn a_listed_domain_in_another_sites_query_is_denied() {
        let domains = list("example.com");

        assert_eq!(
            referer(&domains, "https://evil.com/?https://example.com"),
            Access::Denied
        );
        assert_eq!(
            referer(&domains, "https://evil.com/https://example.com"),
            Access::Denied
        );
        assert_eq!(
            referer(&domains, "https://evil.com#https://example.com"),
            Access::Denied
        );
    }

    #[test]
    fn a_host_that_merely_ends_with_the_same_letters_is_denied() {
        let domains = list("example.com *.example.com");

        assert_eq!(origin(&domains, "https://notexample.com"), Access::Denied);
        assert_eq!(
            origin(&domains, "https://www.notexample.com"),
            Access::Denied
        );
    }

    #[test]
    fn user_info_that_looks_like_a_listed_domain_is_denied() {
        let domains = list("example.com");

        assert_eq!(
            referer(&domains, "https://example.com@evil.com/"),
            Access::Denied
        );
        assert_eq!(
            origin(&domains, "https://example.com@evil.com"),
            Access::Denied
        );
        assert_eq!(
            referer(&domains, "https://example.com:443@evil.com/"),
            Access::Denied
        );
    }

    #[test]
    fn every_listed_entry_is_allowed_not_only_the_first() {
        let domains = list("one.example https://two.example http://localhost:8080 *.blog.net");

        for (request, echoed) in [
            ("https://one.example", "https://one.example"),
            ("https://two.example", "https://two.example"),
            ("http://localhost:8080", "http://localhost:8080"),
            ("https://me.blog.net", "https://me.blog.net"),
        ] {
            assert_eq!(origin(&domains, request), allowed(echoed), "{request}");
        }
        assert_eq!(origin(&domains, "https://three.example"), Access::Denied);
    }

    #[test]
    fn commas_spaces_and_mixed_separators_all_split_entries() {
        for raw in [
            "a.example,b.example",
            "a.example b.example",
            " a.example ,  b.example, ",
            "a.example,,b.example",
            "a.example\tb.example\n",
        ] {
            let domains = list(raw);

            assert_eq!(
                domains.entries().collect::<Vec<_>>(),
                ["https://a.example", "https://b.example"],
                "{raw:?}"
            );
            assert_eq!(
                origin(&domains, "https://b.example"),
                allowed("https://b.example")
            );
        }
    }

    #[test]
    fn a_wildcard_allows_subdomains_at_any_depth_but_not_the_apex() {
        let domains = list("*.example.com");

        assert_eq!(
            origin(&domains, "https://www.example.com"),
            allowed("https://www.example.com")
        );
        assert_eq!(
            origin(&domains, "https://a.b.example.com"),
            allowed("https://a.b.example.com")
        );
        assert_eq!(origin(&domains, "https://example.com"), Access::Denied);
        assert_eq!(origin(&domains, "https://.example.com"), Access::Denied);
        assert_eq!(origin(&domains, "http://www.example.com"), Access::Denied);
    }

    #[test]
    fn the_apex_is_allowed_when_listed_beside_its_wildcard() {
        let domains = list("example.com, *.example.com");

        assert_eq!(
            origin(&domains, "https://example.com"),
            allowed("https://example.com")
        );
        assert_eq!(
            origin(&domains, "https://www.example.com"),
            allowed("https://www.example.com")
        );
    }

    #[test]
    fn a_wildcard_with_a_scheme_and_port_keeps_them() {
        let domains = list("https://*.blog.net http://*.localhost:3000");

        assert_eq!(
            origin(&domains, "https://me.blog.net"),
            allowed("https://me.blog.net")
        );
        assert_eq!(origin(&domains, "http://me.blog.net"), Access::Denied);
        assert_eq!(
            origin(&domains, "http://app.localhost:3000"),
            allowed("http://app.localhost:3000")
        );
        assert_eq!(origin(&domains, "http://app.localhost"), Access::Denied);
    }

    #[test]
    fn hosts_and_schemes_are_compared_case_insensitively_and_echoed_lowercase() {
        let domains = list("WWW.Example.COM HTTP://LocalHost:8080");

        assert_eq!(
            origin(&domains, "HTTPS://www.EXAMPLE.com"),
            allowed("https://www.example.com")
        );
        assert_eq!(
            origin(&domains, "http://localhost:8080"),
            allowed("http://localhost:8080")
        );
    }

    #[test]
    fn international_domains_match_their_punycode_form() {
        let domains = list("bücher.example *.Münich.example");

        assert_eq!(
            domains.entries().collect::<Vec<_>>(),
            [
                "https://xn--bcher-kva.example",
                "https://*.xn--mnich-kva.example"
            ]
        );
        assert_eq!(
            origin(&domains, "https://xn--bcher-kva.example"),
            allowed("https://xn--bcher-kva.example")
        );
        assert_eq!(
            origin(&domains, "https://www.xn--mnich-kva.example"),
            allowed("https://www.xn--mnich-kva.example")
        );
    }

    #[test]
    fn a_trailing_dot_is_ignored_when_matching() {
        let domains = list("example.com. *.blog.net.");

        assert_eq!(
            domains.entries().collect::<Vec<_>>(),
            ["https://example.com", "https://*.blog.net"]
        );
        assert_eq!(
            origin(&domains, "https://example.com"),
            allowed("https://example.com")
        );
        // Browsers treat the dotted name as its own origin, so the echo keeps the dot.
        assert_eq!(
            origin(&domains, "https://example.com."),
            allowed("https://example.com.")
        );
        assert_eq!(
            origin(&domains, "https://me.blog.net."),
            allowed("https://me.blog.net.")
        );
    }

    #[test]
    fn ip_address_literals_are_allowed() {
        let domains = list("http://[::1]:3000 http://127.0.0.1:8080");

        assert_eq!(
            domains.entries().collect::<Vec<_>>(),
            ["http://[::1]:3000", "http://127.0.0.1:8080"]
        );
        assert_eq!(
            origin(&domains, "http://[::1]:3000"),
            allowed("http://[::1]:3000")
        );
        assert_eq!(
            origin(&domains, "http://[0:0::1]:3000"),
            allowed("http://[0:0::1]:3000")
        );
        assert_eq!(
            referer(&domains, "http://127.0.0.1:8080/x"),
            allowed("http://127.0.0.1:8080")
        );
        assert_eq!(origin(&domains, "http://[::2]:3000"), Access::Denied);
        assert_eq!(origin(&domains, "http://[::1]"), Access::Denied);
    }

    #[test]
    fn a_referer_with_a_path_and_query_is_reduced_to_its_origin() {
        let domains = list("example.com http://localhost:8080");

        assert_eq!(
            referer(
                &domains,
                "https://example.com/blog/post?id=3&x=https://evil.com#top"
            ),
            allowed("https://example.com")
        );
        assert_eq!(
            referer(&domains, "http://localhost:8080/index.html"),
            allowed("http://localhost:8080")
        );
        assert_eq!(
            referer(&domains, "https://example.com?q"),
            allowed("https://example.com")
        );
    }

    #[test]
    fn an_origin_with_a_path_is_denied() {
        let domains = list("example.com");

        assert_eq!(origin(&domains, "https://example.com/"), Access::Denied);
        assert_eq!(origin(&domains, "https://example.com/page"), Access::Denied);
    }

    #[test]
    fn the_origin_header_decides_before_the_referer() {
        let domains = list("example.com");

        assert_eq!(
            domains.check(Some("https://evil.com"), Some("https://example.com/")),
            Access::Denied
        );
        assert_eq!(
            domains.check(Some("https://example.com"), Some("https://evil.com/")),
            allowed("https://example.com")
        );
    }

    #[test]
    fn origin_null_is_denied_even_with_a_listed_referer() {
        let domains = list("example.com");

        assert_eq!(domains.check(Some("null"), None), Access::Denied);
        assert_eq!(
            domains.check(Some("null"), Some("https://example.com/")),
            Access::Denied
        );
    }

    #[test]
    fn an_empty_origin_falls_back_to_the_referer() {
        let domains = list("example.com");

        assert_eq!(
            domains.check(Some(""), Some("https://example.com/page")),
            allowed("https://example.com")
        );
        assert_eq!(
            domains.check(Some("  "), Some("https://evil.com/")),
            Access::Denied
        );
    }

    #[test]
    fn no_headers_or_only_empty_headers_are_missing() {
        let domains = list("example.com");

        assert_eq!(domains.check(None, None), Access::Missing);
        assert_eq!(domains.check(Some(""), None), Access::Missing);
        assert_eq!(domains.check(None, Some("")), Access::Missing);
        assert_eq!(domains.check(Some(" "), Some("")), Access::Missing);
    }

    #[test]
    fn malformed_or_non_web_headers_are_denied() {
        let domains = list("example.com http://localhost:8080");

        for value in [
            "example.com",
            "//example.com",
            "https:/example.com",
            "ftp://example.com",
            "file:///etc/passwd",
            "https://",
            "https://:443",
            "https://example.com:",
            "https://example.com:0443x",
            "https://example.com:99999",
            "https://exa mple.com",
            "https://exam%70le.com",
            "https://example..com",
            "https://bücher.example",
            "https://example.com\\@evil.com",
            "http://localhost:8080:8080",
            "http://[::1",
            "http://[::1]x",
        ] {
            assert_eq!(origin(&domains, value), Access::Denied, "Origin {value:?}");
            assert_eq!(
                referer(&domains, value),
                Access::Denied,
                "Referer {value:?}"
            );
        }
    }

    #[test]
    fn a_bare_star_is_refused() {
        for raw in ["*", "example.com *", "https://*", "*:8080"] {
            assert_eq!(
                AllowedDomains::parse(raw).unwrap_err(),
                AllowListError::EverySite,
                "{raw:?}"
            );
        }
        assert_eq!(
            AllowListError::EverySite.to_string(),
            "\"*\" would allow every site; list your domains, e.g. \"example.com www.example.com\""
        );
    }

    #[test]
    fn a_wildcard_over_a_public_suffix_is_refused() {
        for (raw, suffix) in [
            ("*.com", "com"),
            ("*.co.uk", "co.uk"),
            ("https://*.github.io", "github.io"),
            ("*.CO.UK.", "co.uk"),
            ("*.kawasaki.jp", "kawasaki.jp"),
        ] {
            assert_eq!(
                AllowedDomains::parse(raw).unwrap_err(),
                AllowListError::PublicSuffix {
                    entry: raw.to_owned(),
                    suffix: suffix.to_owned()
                },
                "{raw:?}"
            );
        }
    }

    #[test]
    fn a_wildcard_under_a_public_suffix_or_over_localhost_is_accepted() {
        for raw in [
            "*.example.com",
            "*.example.co.uk",
            "*.me.github.io",
            "*.blog.net",
            "http://*.localhost:3000",
        ] {
            assert!(AllowedDomains::parse(raw).is_ok(), "{raw:?}");
        }
    }

    #[test]
    fn an_empty_list_is_refused() {
        for raw in ["", "   ", " , ,\n"] {
            assert_eq!(
                AllowedDomains::parse(raw).unwrap_err(),
                AllowListError::Empty,
                "{raw:?}"
            );
        }
    }

    #[test]
    fn an_entry_with_a_path_query_fragment_or_user_info_is_refused() {
        assert_eq!(problem("https://example.com/blog"), EntryProblem::Path);
        assert_eq!(problem("example.com/blog"), EntryProblem::Path);
        assert_eq!(problem("https://example.com//"), EntryProblem::Path);
        assert_eq!(problem("example.com/?u=https://x.com"), EntryProblem::Query);
        assert_eq!(problem("https://example.com?x=1"), EntryProblem::Query);
        assert_eq!(problem("https://example.com#top"), EntryProblem::Fragment);
        assert_eq!(problem("https://me@example.com"), EntryProblem::UserInfo);
        assert_eq!(problem("https://me:pw@example.com"), EntryProblem::UserInfo);
    }

    #[test]
    fn a_trailing_slash_on_an_entry_is_accepted() {
        let domains = list("https://example.com/");

        assert_eq!(
            origin(&domains, "https://example.com"),
            allowed("https://example.com")
        );
    }

    #[test]
    fn an_unparsable_entry_is_refused_with_the_entry_and_the_reason() {
        assert_eq!(problem("ftp://example.com"), EntryProblem::Scheme);
        assert_eq!(problem("https://"), EntryProblem::NoHost);
        assert_eq!(problem(":8080"), EntryProblem::NoHost);
        assert_eq!(problem("example.com:http"), EntryProblem::Port);
        assert_eq!(problem("example.com:0"), EntryProblem::Port);
        assert_eq!(problem("example.com:70000"), EntryProblem::Port);
        assert_eq!(problem("http://::1:3000"), EntryProblem::Ipv6Brackets);
        assert_eq!(problem("foo.*.example.com"), EntryProblem::Wildcard);
        assert_eq!(problem("*example.com"), EntryProblem::Wildcard);
        assert_eq!(problem("*.*.example.com"), EntryProblem::Wildcard);
        assert_eq!(problem("*.*"), EntryProblem::Wildcard);
        assert_eq!(problem("*."), EntryProblem::NoHost);
        assert_eq!(problem("*.127.0.0.1"), EntryProblem::WildcardIp);
        assert_eq!(problem("http://*.[::1]"), EntryProblem::WildcardIp);
        assert_eq!(problem("example..com"), EntryProblem::EmptyLabel);
        assert!(matches!(problem("exa<mple.com"), EntryProblem::Host(_)));
        assert!(matches!(problem("http://[::1"), EntryProblem::Host(_)));
        assert!(matches!(problem("http://[nope]"), EntryProblem::Host(_)));

        let error = AllowedDomains::parse("example.com https://example.com/blog").unwrap_err();
        assert_eq!(
            error.to_string(),
            "\"https://example.com/blog\": a path is not allowed; \
             list the origin only, e.g. \"https://example.com\""
        );
    }

    #[test]
    fn error_messages_do_not_name_the_variable() {
        let errors = [
            AllowedDomains::parse("").unwrap_err(),
            AllowedDomains::parse("*").unwrap_err(),
            AllowedDomains::parse("*.com").unwrap_err(),
            AllowedDomains::parse("ftp://x.com").unwrap_err(),
        ];

        for error in errors {
            assert!(!error.to_string().contains("ALLOWED_DOMAINS"), "{error}");
        }
    }

    #[test]
    fn entries_are_listed_in_normalised_form_without_duplicates() {
        let domains = list(
            "Example.com https://example.com:443 https://example.com/ \
             http://localhost:8080 *.blog.net http://[::1]:3000 https://example.com:8443",
        );

        assert_eq!(
            domains.entries().collect::<Vec<_>>(),
            [
                "https://example.com",
                "http://localhost:8080",
                "https://*.blog.net",
                "http://[::1]:3000",
                "https://example.com:8443",
            ]
        );
    }
}
