//! The client behind a request, as TRUST_PROXY says to read it: the peer,
//! or the address the operator's proxies report in X-Forwarded-For (every
//! such header, in order, so a second header of the client's own cannot
//! stand in for the proxy's).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::HeaderMap;

use super::server::Peer;
use crate::app::App;
use crate::domain::{ClientKey, TrustProxy};

/// The client's address.
pub fn address(trust: &TrustProxy, peer: Option<Peer>, headers: &HeaderMap) -> IpAddr {
    let peer = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |Peer(p)| p.ip());
    match trust {
        TrustProxy::Nobody => return peer,
        // Fly's proxy sets it on every request it forwards.
        TrustProxy::FlyProxy => {
            return headers
                .get("fly-client-ip")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(peer);
        }
        TrustProxy::Hops(_) | TrustProxy::Ranges(_) => {}
    }
    let mut values = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    let first = values.next();
    match values.next() {
        None => trust.client(peer, first),
        Some(second) => {
            let joined = [first.unwrap_or_default(), second]
                .into_iter()
                .chain(values)
                .collect::<Vec<_>>()
                .join(",");
            trust.client(peer, Some(&joined))
        }
    }
}

/// The client of each request, grouped for limits. With no proxy named,
/// only the peer is read: the forwarded headers are copied out of the
/// request (warp offers them no other way) only where they are believed.
pub fn client(app: Arc<App>) -> BoxedFilter<(ClientKey,)> {
    let trust = app.config.guard.trust_proxy.clone();
    if trust == TrustProxy::Nobody {
        return warp::ext::optional::<Peer>()
            .map(move |peer: Option<Peer>| {
                ClientKey::of(address(&TrustProxy::Nobody, peer, &HeaderMap::new()))
            })
            .boxed();
    }
    warp::ext::optional::<Peer>()
        .and(warp::header::headers_cloned())
        .map(move |peer: Option<Peer>, headers: HeaderMap| {
            ClientKey::of(address(&trust, peer, &headers))
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append("x-forwarded-for", v.parse().unwrap());
        }
        map
    }

    #[test]
    fn on_fly_the_client_is_fly_client_ip_not_the_forwarded_list() {
        let peer = Some(Peer("[fdaa::3]:5000".parse().unwrap()));
        let mut map = headers(&["198.51.100.9, 203.0.113.7, 66.241.124.1"]);
        map.insert("fly-client-ip", "203.0.113.7".parse().unwrap());
        assert_eq!(
            address(&TrustProxy::FlyProxy, peer, &map),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        // Without Fly's header (a request that did not come through it),
        // or with one that is not an address, the peer.
        let peer_ip: IpAddr = "fdaa::3".parse().unwrap();
        assert_eq!(
            address(&TrustProxy::FlyProxy, peer, &headers(&["198.51.100.9"])),
            peer_ip
        );
        map.insert("fly-client-ip", "nobody".parse().unwrap());
        assert_eq!(address(&TrustProxy::FlyProxy, peer, &map), peer_ip);
    }

    #[test]
    fn every_forwarded_header_counts_in_order() {
        let peer = Some(Peer("10.0.0.1:5000".parse().unwrap()));
        let one_hop = TrustProxy::Hops(1);
        // The client's own header first, the router's appended as a second.
        assert_eq!(
            address(&one_hop, peer, &headers(&["::1", "198.51.100.7"])),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            address(&one_hop, peer, &headers(&["::1, 198.51.100.7"])),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            address(&TrustProxy::Nobody, peer, &headers(&["198.51.100.7"])),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
    }
}
