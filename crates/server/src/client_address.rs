//! Where a request came from: the peer of its connection, or, behind a reverse proxy, the
//! address the proxy names (`http.client_ip_header`, believed from `http.trusted_proxies`
//! only). Sign-in counts guesses by it.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderName;
use axum::middleware::Next;
use axum::response::Response;

/// The client's address as counted: an IPv6 client by its /64, the block one subscriber is
/// given (one address each would give a guesser 2^64 tries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(Option<IpAddr>);

impl ClientAddress {
    /// How the address is stored: `"unknown"` when the request carried none.
    pub fn as_source(&self) -> String {
        match self.0 {
            None => "unknown".to_owned(),
            Some(IpAddr::V4(v4)) => v4.to_string(),
            Some(IpAddr::V6(v6)) => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                format!("{}/64", Ipv6Addr::from(network))
            }
        }
    }

    fn of(request: &Request, rule: &ClientAddressRule) -> Self {
        let peer =
            request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| peer.ip().to_canonical());
        let named = match (&rule.header, peer) {
            (Some(header), Some(peer)) if rule.trusts(peer) => rule.named_in(request, header),
            // A client that reaches the server past the proxy could write any address there.
            _ => None,
        };
        ClientAddress(named.or(peer))
    }
}

/// Where to read a client's address: the header a reverse proxy names it in, believed only
/// from the proxies' own addresses.
#[derive(Debug, Clone, Default)]
pub struct ClientAddressRule {
    pub header: Option<HeaderName>,
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl ClientAddressRule {
    fn trusts(&self, address: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&address))
    }

    /// The last address in the header that is not a trusted proxy's: each proxy appends the
    /// address it saw (`X-Forwarded-For: client, proxy1, …`); what comes before the first
    /// proxy's is the client's to write, and so to forge.
    fn named_in(&self, request: &Request, header: &HeaderName) -> Option<IpAddr> {
        let values: Vec<&str> = request.headers().get_all(header).iter().filter_map(|v| v.to_str().ok()).collect();
        let addresses = values.iter().flat_map(|v| v.split(',')).rev().map(parse_address);
        for address in addresses {
            match address {
                Some(address) if self.trusts(address) => continue,
                found => return found,
            }
        }
        None
    }
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:443`, `2001:db8::1`.
fn parse_address(written: &str) -> Option<IpAddr> {
    let written = written.trim();
    let address = written.parse::<IpAddr>().ok().or_else(|| written.parse::<SocketAddr>().ok().map(|s| s.ip()));
    address.map(|a| a.to_canonical())
}

/// Notes the [`ClientAddress`] of each request for the handlers to extract.
pub async fn note(State(rule): State<Arc<ClientAddressRule>>, mut request: Request, next: Next) -> Response {
    let address = ClientAddress::of(&request, &rule);
    request.extensions_mut().insert(address);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address_of(peer: &str, header: Option<(&str, &str)>, trusted: Option<&str>) -> String {
        let mut request = Request::new(axum::body::Body::empty());
        request.extensions_mut().insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        if let Some((name, value)) = header {
            request.headers_mut().insert(HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        let rule = ClientAddressRule {
            header: trusted.map(|name| HeaderName::from_bytes(name.as_bytes()).unwrap()),
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
        };
        ClientAddress::of(&request, &rule).as_source()
    }

    #[test]
    fn the_peer_unless_a_trusted_proxy_names_an_address_in_the_configured_header() {
        assert_eq!(address_of("10.0.0.7:5000", None, None), "10.0.0.7");
        assert_eq!(address_of("10.0.0.7:5000", Some(("x-real-ip", "1.2.3.4")), None), "10.0.0.7", "not configured");
        assert_eq!(address_of("10.0.0.7:5000", Some(("x-real-ip", "1.2.3.4")), Some("x-real-ip")), "1.2.3.4");
        assert_eq!(
            address_of("192.0.2.9:5000", Some(("x-real-ip", "1.2.3.4")), Some("x-real-ip")),
            "192.0.2.9",
            "a client that reached the server past the proxy chooses no address"
        );
        assert_eq!(
            address_of(
                "10.0.0.7:5000",
                Some(("x-forwarded-for", "6.6.6.6, 1.2.3.4, 10.0.0.3")),
                Some("x-forwarded-for")
            ),
            "1.2.3.4",
            "the address the first proxy saw, not what the client wrote before it"
        );
        assert_eq!(address_of("10.0.0.7:5000", Some(("x-real-ip", "1.2.3.4:5678")), Some("x-real-ip")), "1.2.3.4");
        assert_eq!(
            address_of("10.0.0.7:5000", Some(("x-real-ip", "[2001:db8::1]:443")), Some("x-real-ip")),
            "2001:db8::/64"
        );
        assert_eq!(address_of("10.0.0.7:5000", Some(("x-real-ip", "garbage")), Some("x-real-ip")), "10.0.0.7");
        assert_eq!(address_of("10.0.0.7:5000", None, Some("x-real-ip")), "10.0.0.7", "the header missing");
    }

    #[test]
    fn an_ipv6_client_counts_by_its_64_and_a_mapped_ipv4_as_ipv4() {
        assert_eq!(address_of("[2001:db8:1:2:aaaa::1]:5000", None, None), "2001:db8:1:2::/64");
        assert_eq!(address_of("[2001:db8:1:2:bbbb::9]:5000", None, None), "2001:db8:1:2::/64");
        assert_eq!(address_of("[::ffff:10.0.0.7]:5000", None, None), "10.0.0.7");
        let request = Request::new(axum::body::Body::empty());
        assert_eq!(ClientAddress::of(&request, &ClientAddressRule::default()).as_source(), "unknown");
    }
}
