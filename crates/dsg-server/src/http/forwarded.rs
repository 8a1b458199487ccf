//! Who is on the other end: the TCP peer, or — only when the peer is a
//! trusted reverse proxy (`server.trusted_proxies`) — what the proxy says in
//! `X-Forwarded-For` / `-Proto` / `-Host`. From any other peer those headers
//! are dropped on arrival, so no handler can be fooled by them (the original
//! believed them from anyone).

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderName};
use ipnet::IpNet;

/// The client's address as far as it can be known (a request extension).
/// Handlers take it as `Option<ClientIp>`: `None` when the server was
/// reached without a socket address (router-level tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl<S: Sync> axum::extract::OptionalFromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Self>().copied())
    }
}

const FORWARDED: [HeaderName; 4] = [
    HeaderName::from_static("x-forwarded-for"),
    HeaderName::from_static("x-forwarded-proto"),
    HeaderName::from_static("x-forwarded-host"),
    HeaderName::from_static("forwarded"),
];

fn trusted(nets: &[IpNet], ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    };
    nets.iter().any(|n| n.contains(&ip))
}

/// Applies the trust rule to a request's headers and returns the client
/// address: the peer's, or, behind trusted proxies, the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy.
/// `trust_all` is the legacy `login.trust_forwarded_headers` switch.
pub fn settle(
    headers: &mut HeaderMap,
    peer: Option<&ConnectInfo<SocketAddr>>,
    nets: &[IpNet],
    trust_all: bool,
) -> Option<ClientIp> {
    let peer = peer.map(|c| c.0.ip());
    let believed = trust_all || peer.is_some_and(|p| trusted(nets, p));
    if !believed {
        if FORWARDED.iter().any(|h| headers.contains_key(h)) {
            for h in &FORWARDED {
                headers.remove(h);
            }
        }
        return peer.map(ClientIp);
    }
    let chain: Vec<IpAddr> = headers
        .get_all(&FORWARDED[0])
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|e| e.trim().parse().ok())
        .collect();
    let client = chain
        .iter()
        .rev()
        .find(|ip| !trusted(nets, **ip))
        .or(chain.first())
        .copied()
        .or(peer);
    client.map(ClientIp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn peer(ip: &str) -> ConnectInfo<SocketAddr> {
        ConnectInfo(SocketAddr::new(ip.parse().unwrap(), 1))
    }

    fn with_xff(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static(v));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        h
    }

    #[test]
    fn untrusted_peers_lose_their_forwarded_headers() {
        let mut h = with_xff("6.6.6.6");
        let got = settle(
            &mut h,
            Some(&peer("203.0.113.9")),
            &nets(&["10.0.0.0/8"]),
            false,
        );
        assert_eq!(got, Some(ClientIp("203.0.113.9".parse().unwrap())));
        assert!(h.get("x-forwarded-for").is_none() && h.get("x-forwarded-proto").is_none());
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let n = nets(&["10.0.0.0/8", "127.0.0.1/32"]);
        let mut h = with_xff("6.6.6.6, 198.51.100.7, 10.1.2.3");
        let got = settle(&mut h, Some(&peer("127.0.0.1")), &n, false);
        assert_eq!(
            got.map(|c| c.0.to_string()).as_deref(),
            Some("198.51.100.7")
        );
        assert!(h.get("x-forwarded-proto").is_some());
        // IPv4-mapped IPv6 peers match IPv4 ranges.
        let mut h = with_xff("198.51.100.8");
        let got = settle(&mut h, Some(&peer("::ffff:10.9.9.9")), &n, false);
        assert_eq!(
            got.map(|c| c.0.to_string()).as_deref(),
            Some("198.51.100.8")
        );
    }
}
