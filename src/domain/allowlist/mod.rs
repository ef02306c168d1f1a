//! ALLOWED_DOMAINS: which websites may use the token and feed URLs.
//!
//! CORS headers cannot stop a `<script src>` include, so every token and feed request is
//! checked here against its `Origin` header, or failing that its `Referer`. Both sides are
//! compared as parsed origins (scheme, host, port), never as substrings, so
//! `https://example.com.evil.net` is not `example.com`.
//!
//! This file holds the list and its answers; `parse.rs` reads the entries,
//! `matching.rs` decides a request, and `syntax.rs` holds the origin syntax
//! (scheme, host, port) both sides share.

use std::borrow::Cow;
use std::net::Ipv6Addr;

use thiserror::Error;

use matching::{SeenOrigin, non_empty};
use syntax::Scheme;

mod matching;
mod parse;
mod syntax;

#[cfg(test)]
mod tests;

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
pub enum Access<'a> {
    /// The request comes from a listed site.
    Allowed {
        /// The request's origin, lowercased and without a default port (for example
        /// `https://www.example.com` or `http://localhost:8080`), to echo in
        /// `Access-Control-Allow-Origin`: borrowed from the header that
        /// named it when the header spells it so already, as browsers do.
        origin: Cow<'a, str>,
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
    pub fn check<'a>(&self, origin: Option<&'a str>, referer: Option<&'a str>) -> Access<'a> {
        let seen = match (non_empty(origin), non_empty(referer)) {
            (Some(origin), _) => SeenOrigin::parse(origin, false),
            (None, Some(referer)) => SeenOrigin::parse(referer, true),
            (None, None) => return Access::Missing,
        };
        match seen {
            Some(seen) if self.entries.iter().any(|entry| entry.matches(&seen)) => {
                Access::Allowed {
                    origin: seen.echo(),
                }
            }
            _ => Access::Denied,
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
