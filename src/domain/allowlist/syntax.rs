//! The origin syntax the listed entries and the request headers share: the
//! scheme, `host[:port]` and what may follow it.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub(super) fn parse(s: &str) -> Option<Scheme> {
        if s.eq_ignore_ascii_case("https") {
            Some(Scheme::Https)
        } else if s.eq_ignore_ascii_case("http") {
            Some(Scheme::Http)
        } else {
            None
        }
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    pub(super) fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// Splits `host[:port]` from whatever follows it (path, query or fragment).
pub(super) fn split_authority(rest: &str) -> (&str, &str) {
    rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()))
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`. An unclosed `[` is left to the host
/// parser to reject.
pub(super) fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
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
pub(super) fn parse_port(port: Option<&str>, scheme: Scheme) -> Option<u16> {
    let Some(port) = port else {
        return Some(scheme.default_port());
    };
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    port.parse().ok().filter(|&port| port != 0)
}

/// Dot-separated, non-empty labels of ASCII letters, digits, `-` and `_`.
pub(super) fn is_plain_host(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}
