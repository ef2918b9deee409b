//! The client's address: the one place that decides who sent a request, for rate limits, the
//! address recorded on sessions and events, and the request log.
//!
//! The TCP peer is the client unless it is a trusted proxy. Then the proxy's header is read
//! from the right (the hop nearest to us) to the left, and the first address that is not a
//! trusted proxy is the client. Everything left of it was written by that client and is
//! ignored. A hop that cannot be read (`unknown`, an obfuscated identifier, a malformed value)
//! ends the walk at the last trusted hop, so a broken or hidden chain never lets a client pick
//! its own address.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, Extensions, HeaderMap},
    middleware::Next,
    response::Response,
};
use ipnet::IpNet;

/// At most this many hops of a proxy header are looked at.
const MAX_HOPS: usize = 32;

/// Which header the trusted proxies set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, HAProxy, most load balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

impl ProxyHeader {
    /// `x-forwarded-for` or `forwarded`, in any case.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Some(Self::XForwardedFor),
            "forwarded" => Some(Self::Forwarded),
            _ => None,
        }
    }

    fn name(self) -> header::HeaderName {
        match self {
            Self::XForwardedFor => header::HeaderName::from_static("x-forwarded-for"),
            Self::Forwarded => header::FORWARDED,
        }
    }
}

/// The proxies whose forwarding header is believed, and which header that is. Only one header
/// is read: a proxy that sets one of them usually passes the other through from the client
/// untouched, so reading both would let a client choose its address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    pub trusted: Vec<IpNet>,
    pub header: ProxyHeader,
}

impl Proxies {
    /// Parses CIDRs like `10.0.0.0/8` or `2001:db8::/32`; a bare address is one host.
    pub fn parse_net(text: &str) -> Option<IpNet> {
        let text = text.trim();
        text.parse::<IpNet>()
            .ok()
            .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
            .map(|net| net.trunc())
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&ip))
    }
}

/// The client's address for a request that arrived from `peer` with `headers`.
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, proxies: &Proxies) -> IpAddr {
    let mut client = peer.to_canonical();
    if !proxies.trusts(client) {
        return client;
    }
    for hop in hops_right_to_left(headers, proxies.header) {
        match hop {
            Some(ip) => {
                client = ip.to_canonical();
                if !proxies.trusts(client) {
                    return client;
                }
            }
            // SECURITY: what the last trusted hop did not (or could not) tell is not guessed.
            None => return client,
        }
    }
    client
}

/// The hops of the proxy header, nearest first; `None` for a hop without a usable address.
fn hops_right_to_left(headers: &HeaderMap, which: ProxyHeader) -> Vec<Option<IpAddr>> {
    let mut hops = Vec::new();
    for value in headers.get_all(which.name()).iter().rev() {
        let Ok(text) = value.to_str() else {
            hops.push(None);
            return hops;
        };
        match which {
            ProxyHeader::XForwardedFor => {
                for item in text.rsplit(',') {
                    hops.push(forwarded_for_item(item.trim()));
                    if hops.len() >= MAX_HOPS {
                        return hops;
                    }
                }
            }
            ProxyHeader::Forwarded => {
                for element in rfc7239::parse(text).rev() {
                    let ip = element
                        .ok()
                        .and_then(|e| e.forwarded_for)
                        .and_then(|node| node.ip().copied());
                    hops.push(ip);
                    if hops.len() >= MAX_HOPS {
                        return hops;
                    }
                }
            }
        }
    }
    hops
}

/// One `X-Forwarded-For` item: an address, optionally with a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:4711`) or in brackets, as some proxies write them.
fn forwarded_for_item(item: &str) -> Option<IpAddr> {
    item.parse::<IpAddr>()
        .ok()
        .or_else(|| item.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            item.strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|inner| inner.parse::<Ipv6Addr>().ok())
                .map(IpAddr::V6)
        })
}

/// The decided address, stored in the request's extensions by [`record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The address [`record`] decided for this request, if it ran and the peer was known.
    pub fn of(extensions: &Extensions) -> Option<Self> {
        extensions.get::<Self>().copied()
    }

    /// The address as a rate limit counts it: IPv4 as is, IPv6 by its /64 (one subscriber
    /// usually holds a whole /64, so counting single addresses would give them 2^64 budgets).
    pub fn rate_key(self) -> String {
        rate_key(self.0)
    }
}

/// [`ClientAddr::rate_key`] of the request, or `unknown` when no address was decided.
pub fn rate_key_of(extensions: &Extensions) -> String {
    ClientAddr::of(extensions).map_or_else(|| "unknown".to_owned(), ClientAddr::rate_key)
}

/// The string a rate limit counts `ip` under (see [`ClientAddr::rate_key`]).
pub fn rate_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

/// Middleware: decides the client address once per request and stores it as [`ClientAddr`].
pub async fn record(State(proxies): State<Proxies>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(peer) = peer {
        let addr = client_addr(peer, request.headers(), &proxies);
        request.extensions_mut().insert(ClientAddr(addr));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(nets: &[&str], header: ProxyHeader) -> Proxies {
        Proxies {
            trusted: nets
                .iter()
                .map(|n| Proxies::parse_net(n).unwrap())
                .collect(),
            header,
        }
    }

    fn headers(name: &str, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn a_trusted_proxy_is_believed() {
        let p = proxies(&["10.0.0.0/8"], ProxyHeader::XForwardedFor);
        let h = headers("x-forwarded-for", &["203.0.113.7"]);
        assert_eq!(client_addr(ip("10.1.2.3"), &h, &p), ip("203.0.113.7"));
        let p = proxies(&["10.0.0.0/8"], ProxyHeader::Forwarded);
        let h = headers("forwarded", &["for=203.0.113.7;proto=https"]);
        assert_eq!(client_addr(ip("10.1.2.3"), &h, &p), ip("203.0.113.7"));
    }

    #[test]
    fn an_untrusted_peer_cannot_name_another_address() {
        let p = proxies(&["10.0.0.0/8"], ProxyHeader::XForwardedFor);
        let h = headers("x-forwarded-for", &["198.51.100.1"]);
        assert_eq!(client_addr(ip("192.0.2.9"), &h, &p), ip("192.0.2.9"));
        // No proxies configured: headers never count.
        let none = Proxies::default();
        assert_eq!(client_addr(ip("10.1.2.3"), &h, &none), ip("10.1.2.3"));
        // The other header is not read: a proxy that sets X-Forwarded-For passes a client's
        // Forwarded through untouched.
        let h = headers("forwarded", &["for=198.51.100.1"]);
        assert_eq!(client_addr(ip("10.1.2.3"), &h, &p), ip("10.1.2.3"));
    }

    #[test]
    fn the_right_most_untrusted_address_of_a_chain_wins() {
        let p = proxies(
            &["10.0.0.0/8", "2001:db8:ffff::/48"],
            ProxyHeader::XForwardedFor,
        );
        // The client wrote 1.1.1.1 itself; 203.0.113.7 is what the outer proxy saw.
        let h = headers("x-forwarded-for", &["1.1.1.1, 203.0.113.7, 10.0.0.2"]);
        assert_eq!(client_addr(ip("10.0.0.1"), &h, &p), ip("203.0.113.7"));
        // The same chain over two header lines, with ports and an IPv6 proxy.
        let h = headers(
            "x-forwarded-for",
            &["1.1.1.1", "203.0.113.7:4711, [2001:db8:ffff::5]:80"],
        );
        assert_eq!(client_addr(ip("10.0.0.1"), &h, &p), ip("203.0.113.7"));
        // All hops trusted: the left-most one is the client.
        let h = headers("x-forwarded-for", &["10.9.9.9, 10.0.0.2"]);
        assert_eq!(client_addr(ip("10.0.0.1"), &h, &p), ip("10.9.9.9"));

        let p = proxies(
            &["10.0.0.0/8", "2001:db8:ffff::/48"],
            ProxyHeader::Forwarded,
        );
        let h = headers(
            "forwarded",
            &[
                "for=1.1.1.1, for=\"[2001:db8::1]:4711\";proto=https",
                "For=\"[2001:db8:ffff::5]\";by=10.0.0.1",
            ],
        );
        assert_eq!(client_addr(ip("10.0.0.1"), &h, &p), ip("2001:db8::1"));
    }

    #[test]
    fn unreadable_hops_stop_at_the_last_trusted_one() {
        let p = proxies(&["10.0.0.0/8"], ProxyHeader::Forwarded);
        for value in [
            "for=1.1.1.1, for=unknown",
            "for=1.1.1.1, for=_hidden.node",
            "for=1.1.1.1, for=\"_SEVKISEK\"",
            "for=1.1.1.1, proto=https",
            "for=1.1.1.1, for=2001:db8::1",
            "for=1.1.1.1, for=not-an-address",
            "for=1.1.1.1, for=\"[2001:db8::1]:99999\"",
            "for=1.1.1.1, garbage",
            "for=1.1.1.1, ",
        ] {
            let h = headers("forwarded", &[value]);
            assert_eq!(
                client_addr(ip("10.0.0.1"), &h, &p),
                ip("10.0.0.1"),
                "{value}"
            );
        }
        // The hop behind a hidden one is not trusted either.
        let h = headers("forwarded", &["for=203.0.113.7, for=unknown, for=10.0.0.2"]);
        assert_eq!(client_addr(ip("10.0.0.1"), &h, &p), ip("10.0.0.2"));
        // Garbage the client wrote left of its own address does not matter.
        let h = headers("forwarded", &["for=\"[zz, ;;;, for=203.0.113.7"]);
        assert_eq!(client_addr(ip("10.0.0.1"), &h, &p), ip("203.0.113.7"));

        let p = proxies(&["10.0.0.0/8"], ProxyHeader::XForwardedFor);
        for value in [
            "1.1.1.1, unknown",
            "1.1.1.1,",
            "1.1.1.1, 300.1.1.1",
            "fe80::1%eth0",
        ] {
            let h = headers("x-forwarded-for", &[value]);
            assert_eq!(
                client_addr(ip("10.0.0.1"), &h, &p),
                ip("10.0.0.1"),
                "{value}"
            );
        }
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"203.0.113.7\xff").unwrap(),
        );
        assert_eq!(client_addr(ip("10.0.0.1"), &h, &p), ip("10.0.0.1"));
    }

    #[test]
    fn long_chains_are_cut() {
        let p = proxies(&["10.0.0.0/8"], ProxyHeader::XForwardedFor);
        let chain = vec!["10.0.0.9"; 100].join(", ");
        let h = headers("x-forwarded-for", &[&format!("203.0.113.7, {chain}")]);
        assert_eq!(client_addr(ip("10.0.0.1"), &h, &p), ip("10.0.0.9"));
    }

    #[test]
    fn mapped_ipv4_addresses_count_as_ipv4() {
        let p = proxies(&["10.0.0.0/8"], ProxyHeader::XForwardedFor);
        let h = headers("x-forwarded-for", &["::ffff:203.0.113.7"]);
        assert_eq!(
            client_addr(ip("::ffff:10.0.0.1"), &h, &p),
            ip("203.0.113.7")
        );
        assert_eq!(rate_key(ip("::ffff:203.0.113.7")), "203.0.113.7");
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        assert_eq!(rate_key(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(
            rate_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            rate_key(ip("2001:db8:1:2::7"))
        );
        assert_ne!(
            rate_key(ip("2001:db8:1:2::1")),
            rate_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(rate_key(ip("192.0.2.1")), "192.0.2.1");
        assert_ne!(rate_key(ip("192.0.2.1")), rate_key(ip("192.0.2.2")));
    }

    #[test]
    fn networks_parse_or_are_refused() {
        assert_eq!(
            Proxies::parse_net("10.1.2.3/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(Proxies::parse_net("::1").unwrap().to_string(), "::1/128");
        assert_eq!(
            Proxies::parse_net(" 192.0.2.1 ").unwrap().to_string(),
            "192.0.2.1/32"
        );
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0/8",
            "localhost",
            "::/129",
            "10.0.0.0/-1",
        ] {
            assert!(Proxies::parse_net(bad).is_none(), "{bad}");
        }
        assert_eq!(
            ProxyHeader::parse("Forwarded"),
            Some(ProxyHeader::Forwarded)
        );
        assert_eq!(
            ProxyHeader::parse("x-forwarded-for"),
            Some(ProxyHeader::XForwardedFor)
        );
        assert_eq!(ProxyHeader::parse("x-real-ip"), None);
    }
}
