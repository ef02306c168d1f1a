//! Who a request comes from: the client's address as the operator's proxies
//! report it (TRUST_PROXY), grouped the way addresses are handed out, so a
//! limit per client cannot be dodged by rotating a header or the low bits of
//! an IPv6 address.

use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;

/// A client, for limits: an IPv4 address, or an IPv6 /64 (one subscriber's
/// prefix: a host can pick any address inside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    pub fn of(ip: IpAddr) -> ClientKey {
        match ip {
            IpAddr::V4(v4) => ClientKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    ClientKey(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
        }
    }
}

impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// Which forwarding headers to believe (TRUST_PROXY).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TrustProxy {
    /// No proxy in front: the peer is the client, X-Forwarded-For is
    /// whatever the client chose to write and is ignored.
    #[default]
    Nobody,
    /// This many proxies in front, each appending the address it saw
    /// (Heroku's router is one): the client is the entry that many from
    /// the right, counting the peer as the last proxy.
    Hops(u8),
    /// Proxies at these addresses: walking from the peer leftwards through
    /// X-Forwarded-For, the first address outside them is the client.
    Ranges(Vec<IpNet>),
    /// Fly.io's proxy, which names the client it saw in `Fly-Client-IP`
    /// (fly.io docs, networking/request-headers). Its X-Forwarded-For ends
    /// with the app's own address (superfly/docs PR 1714), so a hop count
    /// would make every visitor one client.
    FlyProxy,
}

/// The hosting platform detected from its environment (DYNO, RENDER,
/// FLY_APP_NAME), whose router is in front of every connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    None,
    Heroku,
    Render,
    Fly,
}

impl TrustProxy {
    /// `TRUST_PROXY`: empty (nobody), a hop count (`1`), or a comma list of
    /// addresses and ranges (`10.0.0.0/8, 192.168.1.7`). When it is not
    /// set, the platform's router is believed where one is detected: on a
    /// Heroku dyno (`DYNO` set) one hop, on Render (`RENDER` set) two, on
    /// Fly.io (`FLY_APP_NAME` set) its `Fly-Client-IP`.
    pub fn parse(value: Option<&str>, platform: Platform) -> Result<TrustProxy, String> {
        let value = value.map(str::trim).unwrap_or_default();
        if value.is_empty() {
            return Ok(match platform {
                Platform::Heroku => TrustProxy::Hops(1),
                // Render puts Cloudflare in front of every service, then its
                // own proxy: X-Forwarded-For arrives as "client, edge" from
                // a private peer (rohitpaulk.com/articles/render-rails-remote-ip,
                // a move from Heroku to Render; Render's own pages say only
                // that X-Forwarded-For is set).
                Platform::Render => TrustProxy::Hops(2),
                Platform::Fly => TrustProxy::FlyProxy,
                Platform::None => TrustProxy::Nobody,
            });
        }
        if value.bytes().all(|b| b.is_ascii_digit()) {
            return match value.parse::<u8>() {
                Ok(0) => Ok(TrustProxy::Nobody),
                Ok(hops) if hops <= 10 => Ok(TrustProxy::Hops(hops)),
                _ => Err(format!("{value} hops: give 0 to 10")),
            };
        }
        let ranges = value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{s:?} is neither a hop count nor an address or range"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustProxy::Ranges(ranges))
    }

    /// The client's address, from the peer and the X-Forwarded-For headers
    /// (all of them, in order, as one comma list). Fly.io's client is read
    /// by the caller from `Fly-Client-IP`; without one it is the peer.
    pub fn client(&self, peer: IpAddr, forwarded: Option<&str>) -> IpAddr {
        // Right to left: the nearest proxy's report first.
        let reported = || {
            forwarded
                .unwrap_or_default()
                .rsplit(',')
                .map(|entry| parse_entry(entry.trim()))
        };
        match self {
            TrustProxy::Nobody | TrustProxy::FlyProxy => peer,
            TrustProxy::Hops(hops) => {
                // The peer is the nearest proxy; each hop's report is one
                // entry further left. A shorter list than the hops means
                // the client talked to a nearer proxy directly.
                let mut client = peer;
                for entry in reported().take(usize::from(*hops)) {
                    match entry {
                        Some(ip) => client = ip,
                        None => break,
                    }
                }
                client
            }
            TrustProxy::Ranges(ranges) => {
                let trusted = |ip: &IpAddr| ranges.iter().any(|net| net.contains(ip));
                let mut client = peer;
                if !trusted(&client) {
                    return client;
                }
                for entry in reported() {
                    match entry {
                        Some(ip) => {
                            client = ip;
                            if !trusted(&ip) {
                                break;
                            }
                        }
                        None => break,
                    }
                }
                client
            }
        }
    }
}

/// One X-Forwarded-For entry: an address, maybe with a port or brackets.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    if let Ok(socket) = entry.parse::<std::net::SocketAddr>() {
        return Some(socket.ip());
    }
    entry
        .strip_prefix('[')
        .and_then(|e| e.strip_suffix(']'))
        .and_then(|e| e.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_clients_are_grouped_by_their_64_and_mapped_v4_is_v4() {
        let a = ClientKey::of(ip("2001:db8:1:2:aaaa::1"));
        let b = ClientKey::of(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        let c = ClientKey::of(ip("2001:db8:1:3::1"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.to_string(), "2001:db8:1:2::/64");
        assert_eq!(
            ClientKey::of(ip("::ffff:1.2.3.4")),
            ClientKey::of(ip("1.2.3.4"))
        );
        assert_ne!(ClientKey::of(ip("1.2.3.4")), ClientKey::of(ip("1.2.3.5")));
    }

    #[test]
    fn without_a_named_proxy_the_header_is_ignored() {
        let trust = TrustProxy::parse(None, Platform::None).unwrap();
        assert_eq!(trust, TrustProxy::Nobody);
        assert_eq!(
            trust.client(ip("203.0.113.9"), Some("::1")),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn on_a_dyno_the_routers_entry_is_the_client() {
        let trust = TrustProxy::parse(None, Platform::Heroku).unwrap();
        assert_eq!(trust, TrustProxy::Hops(1));
        // The client wrote "::1"; the router appended what it saw.
        let peer = ip("10.1.2.3");
        assert_eq!(
            trust.client(peer, Some("::1, 198.51.100.7")),
            ip("198.51.100.7")
        );
        assert_eq!(trust.client(peer, None), peer);
        assert_eq!(trust.client(peer, Some("garbage")), peer);
    }

    #[test]
    fn on_render_the_entry_before_cloudflares_edge_is_the_client() {
        let trust = TrustProxy::parse(None, Platform::Render).unwrap();
        assert_eq!(trust, TrustProxy::Hops(2));
        // The client wrote "6.6.6.6"; Cloudflare appended the client it
        // saw, then Render's proxy the edge it saw.
        let peer = ip("10.21.157.68");
        assert_eq!(
            trust.client(peer, Some("6.6.6.6, 198.51.100.7, 104.22.17.40")),
            ip("198.51.100.7")
        );
        assert_eq!(trust.client(peer, None), peer);
    }

    #[test]
    fn hops_count_from_the_right() {
        let trust = TrustProxy::parse(Some("2"), Platform::None).unwrap();
        let peer = ip("10.0.0.1");
        assert_eq!(
            trust.client(peer, Some("6.6.6.6, 198.51.100.7, 10.0.0.2")),
            ip("198.51.100.7")
        );
        assert_eq!(trust.client(peer, Some("198.51.100.7")), ip("198.51.100.7"));
        assert_eq!(
            TrustProxy::parse(Some("0"), Platform::Heroku).unwrap(),
            TrustProxy::Nobody
        );
    }

    #[test]
    fn ranges_skip_the_operators_proxies_only() {
        let trust = TrustProxy::parse(Some("10.0.0.0/8, 192.168.1.7"), Platform::None).unwrap();
        assert_eq!(
            trust.client(ip("10.0.0.1"), Some("6.6.6.6, 198.51.100.7, 192.168.1.7")),
            ip("198.51.100.7")
        );
        // A peer outside the ranges is the client, whatever it claims.
        assert_eq!(
            trust.client(ip("203.0.113.9"), Some("198.51.100.7")),
            ip("203.0.113.9")
        );
        assert_eq!(
            trust.client(ip("10.0.0.1"), Some("[2001:db8::5]:443")),
            ip("2001:db8::5")
        );
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        for bad in ["eleven", "99", "10.0.0.0/33", "10.0.0.0/8, x"] {
            assert!(
                TrustProxy::parse(Some(bad), Platform::None).is_err(),
                "{bad}"
            );
        }
    }
}
