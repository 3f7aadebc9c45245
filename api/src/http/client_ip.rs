//! The client's IP address, for login throttling and audit records.
//!
//! By default the TCP peer is the client. Behind a proxy that appends the real address to
//! `X-Forwarded-For` (`http.trust_forwarded_for`), the *last* entry is used: it is the one our
//! own proxy wrote, whereas earlier entries come from the client and can say anything.

use std::net::{IpAddr, Ipv4Addr};

use actix_web::HttpRequest;

/// The client address of `req`; the unspecified address when none is known (tests without a
/// peer), which throttles such requests together rather than not at all.
pub fn client_ip(req: &HttpRequest, trust_forwarded_for: bool) -> IpAddr {
    let forwarded = trust_forwarded_for
        .then(|| {
            req.headers()
                .get_all("x-forwarded-for")
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .next_back()
                .and_then(|last| last.trim().parse::<IpAddr>().ok())
        })
        .flatten();
    forwarded
        .or_else(|| req.peer_addr().map(|peer| peer.ip()))
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn request(forwarded: &[&str]) -> HttpRequest {
        let mut req = TestRequest::default().peer_addr("198.51.100.7:5000".parse().unwrap());
        for value in forwarded {
            req = req.append_header(("x-forwarded-for", *value));
        }
        req.to_http_request()
    }

    #[test]
    fn the_peer_is_the_client_unless_the_proxy_is_trusted() {
        let req = request(&["203.0.113.1"]);
        assert_eq!(
            client_ip(&req, false),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_ip(&req, true),
            "203.0.113.1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn only_the_entry_our_proxy_appended_is_believed() {
        let req = request(&["6.6.6.6, 203.0.113.1", "203.0.113.2"]);
        assert_eq!(
            client_ip(&req, true),
            "203.0.113.2".parse::<IpAddr>().unwrap()
        );
        let garbage = request(&["not-an-ip"]);
        assert_eq!(
            client_ip(&garbage, true),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
    }
}
