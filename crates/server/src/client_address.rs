//! Where a request came from: the peer of its connection, or, behind a reverse proxy that says
//! so, the address the proxy names (`http.client_ip_header`). Sign-in counts guesses by it.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

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

    fn of(request: &Request, header: Option<&HeaderName>) -> Self {
        // The proxy appends the address it saw last (X-Forwarded-For: client, proxy1, …); what
        // comes before it is the client's to write, and so to forge.
        let named = header
            .and_then(|name| request.headers().get_all(name).iter().next_back())
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.rsplit(',').next())
            .and_then(|last| last.trim().parse::<IpAddr>().ok());
        let peer = || request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(peer)| peer.ip());
        ClientAddress(named.or_else(peer).map(|ip| ip.to_canonical()))
    }
}

/// Notes the [`ClientAddress`] of each request for the handlers to extract.
pub async fn note(State(header): State<Option<HeaderName>>, mut request: Request, next: Next) -> Response {
    let address = ClientAddress::of(&request, header.as_ref());
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
        let trusted = trusted.map(|name| HeaderName::from_bytes(name.as_bytes()).unwrap());
        ClientAddress::of(&request, trusted.as_ref()).as_source()
    }

    #[test]
    fn the_peer_unless_the_configured_header_names_an_address() {
        assert_eq!(address_of("10.0.0.7:5000", None, None), "10.0.0.7");
        assert_eq!(address_of("10.0.0.7:5000", Some(("x-real-ip", "1.2.3.4")), None), "10.0.0.7", "not configured");
        assert_eq!(address_of("10.0.0.7:5000", Some(("x-real-ip", "1.2.3.4")), Some("x-real-ip")), "1.2.3.4");
        assert_eq!(
            address_of("10.0.0.7:5000", Some(("x-forwarded-for", "6.6.6.6, 1.2.3.4")), Some("x-forwarded-for")),
            "1.2.3.4",
            "the address the proxy appended, not what the client wrote before it"
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
        assert_eq!(ClientAddress::of(&request, None).as_source(), "unknown");
    }
}
