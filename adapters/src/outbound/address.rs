//! Which IP addresses an outbound call to a user-given URL may reach: globally routable unicast
//! addresses, plus whatever the operator allowed (`outbound.allowed_networks`).
//!
//! The classification is hand-written because `Ipv4Addr::is_global` and `Ipv6Addr::is_global` are
//! still unstable in std (feature `ip`). It errs on the side of refusing: ranges std would call
//! global inside a special-purpose block (e.g. `192.0.0.9`, parts of `2001::/23`) are refused,
//! because no webhook receiver lives there.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Whether `ip` is a globally routable unicast address: not loopback, private, link-local
/// (including the cloud metadata address `169.254.169.254`), shared (CGNAT), unspecified,
/// broadcast, multicast, reserved, documentation or benchmarking, nor an IPv6 form of one of these.
pub fn is_globally_routable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

/// IANA's IPv4 special-purpose registry, as the blocks that are never a webhook receiver.
fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = a == 0 // "this network", 0.0.0.0/8 (Linux connects 0.0.0.0 to localhost)
        || a == 10 // private, RFC 1918
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT), 100.64.0.0/10
        || a == 127 // loopback
        || (a == 169 && b == 254) // link-local, incl. the metadata service 169.254.169.254
        || (a == 172 && (16..32).contains(&b)) // private, RFC 1918
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments, 192.0.0.0/24
        || (a == 192 && b == 0 && c == 2) // documentation, TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // deprecated 6to4 relay anycast
        || (a == 192 && b == 168) // private, RFC 1918
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, 198.18.0.0/15
        || (a == 198 && b == 51 && c == 100) // documentation, TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // documentation, TEST-NET-3
        || a >= 224; // multicast 224/4, reserved 240/4 and broadcast 255.255.255.255
    !special
}

/// Only global unicast (`2000::/3`) can be global; IPv6 forms that embed an IPv4 address
/// (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`) are
/// judged by that address, since the kernel or a NAT64 gateway connects to it.
fn is_global_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_global_v4(v4);
    }
    // IPv4-compatible (deprecated, ::/96). `::` and `::1` embed 0.0.0.0 and 0.0.0.1, which fall in
    // 0.0.0.0/8, so the unspecified and loopback addresses are refused by the same rule.
    if segments[..6] == [0; 6] {
        return is_global_v4(embedded_v4(ip));
    }
    // The well-known NAT64 prefix, 64:ff9b::/96.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_global_v4(embedded_v4(ip));
    }
    let first = segments[0];
    // Everything outside 2000::/3 is link-local, unique-local (fc00::/7), multicast, site-local,
    // discard-only, local NAT64 or unassigned.
    if first & 0xe000 != 0x2000 {
        return false;
    }
    // 2001::/23 is IETF protocol assignments (Teredo, ORCHID, …); 2001:db8::/32 documentation.
    let ietf_or_documentation = first == 0x2001 && (segments[1] < 0x0200 || segments[1] == 0x0db8);
    let special = ietf_or_documentation
        || first == 0x2002 // 6to4: reaches an IPv4 address we cannot check
        || first & 0xfff0 == 0x3ff0; // documentation, 3fff::/20 (RFC 9637)
    !special
}

/// The IPv4 address in the last 32 bits of `ip`.
fn embedded_v4(ip: Ipv6Addr) -> Ipv4Addr {
    let [.., a, b, c, d] = ip.octets();
    Ipv4Addr::new(a, b, c, d)
}

/// The addresses outbound calls may reach: global ones, and those in the operator's networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    allowed_networks: Vec<IpNet>,
}

impl AddressPolicy {
    /// Global addresses, plus every address inside `allowed_networks`.
    pub fn new(allowed_networks: Vec<IpNet>) -> Self {
        Self { allowed_networks }
    }

    /// The operator's exceptions to the guard.
    pub fn allowed_networks(&self) -> &[IpNet] {
        &self.allowed_networks
    }

    /// Whether a connection to `ip` is allowed.
    pub fn permits(&self, ip: IpAddr) -> bool {
        // `::ffff:127.0.0.1` is 127.0.0.1 on the wire, so an IPv4 network allows its mapped form.
        let canonical = ip.to_canonical();
        is_globally_routable(canonical)
            || self
                .allowed_networks
                .iter()
                .any(|net| net.contains(&canonical) || net.contains(&ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_purpose_addresses_are_refused_and_public_ones_allowed() {
        let table = [
            // IPv4
            ("8.8.8.8", true),
            ("1.1.1.1", true),
            ("93.184.216.34", true),
            ("100.63.255.255", true),
            ("100.128.0.0", true),
            ("172.15.255.255", true),
            ("172.32.0.0", true),
            ("223.255.255.255", true),
            ("0.0.0.0", false),
            ("0.1.2.3", false),
            ("10.0.0.1", false),
            ("100.64.0.1", false),
            ("100.127.255.255", false),
            ("127.0.0.1", false),
            ("127.255.255.254", false),
            ("169.254.169.254", false),
            ("172.16.0.1", false),
            ("172.31.255.255", false),
            ("192.0.0.8", false),
            ("192.0.2.1", false),
            ("192.88.99.1", false),
            ("192.168.1.1", false),
            ("198.18.0.1", false),
            ("198.19.255.255", false),
            ("198.51.100.7", false),
            ("203.0.113.9", false),
            ("224.0.0.1", false),
            ("239.255.255.250", false),
            ("240.0.0.1", false),
            ("255.255.255.255", false),
            // IPv6
            ("2001:4860::8888", true),
            ("2606:4700:4700::1111", true),
            ("2a00:1450:4001::1", true),
            ("::ffff:8.8.8.8", true),
            ("64:ff9b::808:808", true),
            ("::", false),
            ("::1", false),
            ("::ffff:127.0.0.1", false),
            ("::ffff:169.254.169.254", false),
            ("::ffff:10.0.0.1", false),
            ("::ffff:0.0.0.0", false),
            ("::127.0.0.1", false),
            ("::169.254.169.254", false),
            ("64:ff9b::a00:1", false),
            ("64:ff9b:1::1", false),
            ("100::1", false),
            ("2001::1", false),
            ("2001:db8::1", false),
            ("2002:7f00:1::1", false),
            ("3fff::1", false),
            ("fc00::1", false),
            ("fd00::1", false),
            ("fe80::1", false),
            ("fec0::1", false),
            ("ff02::1", false),
            ("ff0e::1", false),
        ];
        let wrong: Vec<_> = table
            .iter()
            .filter(|(ip, global)| is_globally_routable(ip.parse().unwrap()) != *global)
            .collect();
        assert!(wrong.is_empty(), "misclassified: {wrong:?}");
    }

    #[test]
    fn an_allowed_network_lets_its_addresses_through_and_nothing_else() {
        let policy = AddressPolicy::new(vec![
            "127.0.0.0/8".parse().unwrap(),
            "fd00:1::/32".parse().unwrap(),
        ]);
        for allowed in [
            "127.0.0.1",
            "127.9.9.9",
            "::ffff:127.0.0.1",
            "fd00:1::5",
            "8.8.8.8",
        ] {
            assert!(policy.permits(allowed.parse().unwrap()), "{allowed}");
        }
        for refused in ["10.0.0.1", "::1", "169.254.169.254", "fd00:2::5"] {
            assert!(!policy.permits(refused.parse().unwrap()), "{refused}");
        }
        assert!(!AddressPolicy::default().permits("127.0.0.1".parse().unwrap()));
    }
}
