//! MEDIA_CDN_HOSTS: the only hosts the agent downloads images from. The
//! URLs come from upstream bodies, so without this list anything that
//! could put a URL into a media item could make the agent fetch it.
//!
//! An entry is a host name (its subdomains included, HTTPS on the default
//! port only) or `host:port`; a loopback entry (`127.0.0.1:8080`) matches
//! that host and port exactly and may be plain HTTP, for tests and the demo.

use url::{Host, Url};

use super::host::is_loopback_host;

/// Instagram's and Facebook's image CDNs.
pub const DEFAULT_CDN_HOSTS: &str = "cdninstagram.com,fbcdn.net";

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    /// Lower case; an IP literal without brackets.
    host: String,
    port: Option<u16>,
    loopback: bool,
}

/// The parsed list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CdnHosts(Vec<Entry>);

impl CdnHosts {
    /// Comma- or space-separated entries; an empty list is refused.
    pub fn parse(raw: &str) -> Result<CdnHosts, String> {
        let entries = raw
            .split([',', ' '])
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(parse_entry)
            .collect::<Result<Vec<_>, _>>()?;
        if entries.is_empty() {
            return Err("must name at least one host".into());
        }
        Ok(CdnHosts(entries))
    }

    /// Adds `host:port` (the demo's own CDN).
    pub fn add(&mut self, entry: &str) -> Result<(), String> {
        self.0.push(parse_entry(entry)?);
        Ok(())
    }

    /// Whether the agent may download `url`: HTTPS (HTTP only for a
    /// loopback entry), no credentials, and a host and port on the list.
    pub fn allows(&self, url: &Url) -> bool {
        let plain = match url.scheme() {
            "https" => false,
            "http" => true,
            _ => return false,
        };
        if !url.username().is_empty() || url.password().is_some() {
            return false;
        }
        let Some(host) = url.host() else {
            return false;
        };
        let host = match host {
            Host::Domain(name) => name.to_ascii_lowercase(),
            Host::Ipv4(ip) => ip.to_string(),
            Host::Ipv6(ip) => ip.to_string(),
        };
        let port = url.port_or_known_default();
        self.0.iter().any(|entry| {
            if entry.loopback {
                return entry.host == host && entry.port == port;
            }
            let named = host == entry.host || host.ends_with(&format!(".{}", entry.host));
            named && !plain && entry.port.unwrap_or(443) == port.unwrap_or(0)
        })
    }
}

fn parse_entry(entry: &str) -> Result<Entry, String> {
    let refuse = || format!("entries are host names or host:port, got {entry:?}");
    if entry.contains(['/', '@', '?', '#', '*']) {
        return Err(refuse());
    }
    let url = Url::parse(&format!("http://{entry}/")).map_err(|_| refuse())?;
    let host = match url.host().ok_or_else(refuse)? {
        Host::Domain(name) if name.contains('.') || name == "localhost" => name.to_string(),
        Host::Domain(_) => return Err(refuse()),
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(ip) => ip.to_string(),
    };
    let loopback = is_loopback_host(&host);
    let is_ip = host.parse::<std::net::IpAddr>().is_ok();
    if is_ip && !loopback {
        return Err(format!(
            "{entry:?} is an IP address; only loopback addresses may be listed, other hosts by name"
        ));
    }
    // `url` leaves out a port that is the scheme's default.
    let port = url.port().or_else(|| entry.ends_with(":80").then_some(80));
    if loopback && port.is_none() {
        return Err(format!("{entry:?} is a loopback host: give its port"));
    }
    Ok(Entry {
        host,
        port,
        loopback,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(list: &str, url: &str) -> bool {
        CdnHosts::parse(list)
            .unwrap()
            .allows(&Url::parse(url).unwrap())
    }

    #[test]
    fn the_default_list_takes_instagrams_cdn_hosts_and_their_subdomains() {
        for url in [
            "https://scontent-lax3-1.cdninstagram.com/v/t51/1.jpg?oe=6A000000",
            "https://cdninstagram.com/1.jpg",
            "https://scontent.xx.fbcdn.net/v/1.jpg",
            "https://SCONTENT.CDNINSTAGRAM.COM:443/1.jpg",
        ] {
            assert!(allows(DEFAULT_CDN_HOSTS, url), "{url}");
        }
    }

    #[test]
    fn look_alike_hosts_plain_http_other_ports_and_credentials_are_refused() {
        for url in [
            "https://cdninstagram.com.evil.net/1.jpg",
            "https://evilcdninstagram.com/1.jpg",
            "http://scontent.cdninstagram.com/1.jpg",
            "https://scontent.cdninstagram.com:8443/1.jpg",
            "https://user:pw@scontent.cdninstagram.com/1.jpg",
            "ftp://scontent.cdninstagram.com/1.jpg",
            "https://169.254.169.254/latest/meta-data",
            "http://127.0.0.1:9000/1.jpg",
        ] {
            assert!(!allows(DEFAULT_CDN_HOSTS, url), "{url}");
        }
    }

    #[test]
    fn a_loopback_entry_matches_its_host_and_port_over_http() {
        let list = "cdninstagram.com, 127.0.0.1:4100";
        assert!(allows(list, "http://127.0.0.1:4100/cdn/1.jpg?oe=1"));
        assert!(!allows(list, "http://127.0.0.1:4101/cdn/1.jpg"));
        assert!(!allows(list, "http://localhost:4100/cdn/1.jpg"));
        assert!(allows("[::1]:4100", "http://[::1]:4100/1.jpg"));
        assert!(allows(
            "cdn.example.com:8443",
            "https://a.cdn.example.com:8443/1.jpg"
        ));
    }

    #[test]
    fn bad_entries_are_refused_with_what_was_wrong() {
        for bad in [
            "",
            " , ",
            "*",
            "*.cdninstagram.com",
            "https://cdninstagram.com",
            "cdninstagram.com/path",
            "cdn",
            "10.0.0.5",
            "127.0.0.1",
            "cdninstagram.com:99999",
        ] {
            assert!(CdnHosts::parse(bad).is_err(), "{bad:?}");
        }
        let e = CdnHosts::parse("10.0.0.5").unwrap_err();
        assert!(e.contains("loopback"), "{e}");
    }
}
