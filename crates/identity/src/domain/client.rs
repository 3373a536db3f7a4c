//! Who is signing in from where: the client's address as the throttle keys it,
//! and the coarse network a session remembers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// The client's address: the last `X-Forwarded-For` value (the one the gateway
/// appended) when the TCP peer is a trusted proxy, else the peer itself. A
/// missing or unparsable header falls back to the peer.
pub fn client_address(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    if !trusted.iter().any(|net| net.contains(&peer)) {
        return peer;
    }
    forwarded_for
        .and_then(|chain| chain.rsplit(',').next())
        .and_then(|last| last.trim().parse::<IpAddr>().ok())
        .map(canonical)
        .unwrap_or(peer)
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) as the IPv4 address they are.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// What the throttle counts an address as: an IPv4 address itself, an IPv6
/// address by its /64 (one subscriber holds a whole /64).
pub fn throttle_network(addr: IpAddr) -> String {
    match canonical(addr) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("{}/64", mask_v6(v6, 64)),
    }
}

/// What a session remembers of where it was opened: an IPv4 /24 or an IPv6
/// /48 — enough to tell "home" from "abroad", too coarse to find anyone.
pub fn coarse_network(addr: IpAddr) -> String {
    match canonical(addr) {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{}/24", Ipv4Addr::new(a, b, c, 0))
        }
        IpAddr::V6(v6) => format!("{}/48", mask_v6(v6, 48)),
    }
}

fn mask_v6(addr: Ipv6Addr, prefix: u32) -> Ipv6Addr {
    let bits = u128::from(addr);
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    Ipv6Addr::from(bits & mask)
}

/// `raw` as a list of CIDRs (comma-separated); the entries that are not CIDRs.
pub fn parse_networks(raw: &str) -> (Vec<IpNet>, Vec<String>) {
    let mut nets = Vec::new();
    let mut bad = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match part
            .parse::<IpNet>()
            .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
        {
            Ok(net) => nets.push(net),
            Err(_) => bad.push(part.to_owned()),
        }
    }
    (nets, bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn local() -> Vec<IpNet> {
        parse_networks("127.0.0.0/8, ::1").0
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_trusted_proxy_names_the_client_in_the_last_forwarded_value() {
        assert_eq!(
            client_address(ip("127.0.0.1"), Some("203.0.113.9, 198.51.100.7"), &local()),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_address(ip("::1"), Some("2001:db8::1"), &local()),
            ip("2001:db8::1")
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), None, &local()),
            ip("127.0.0.1")
        );
        assert_eq!(
            client_address(ip("127.0.0.1"), Some("garbage"), &local()),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn anyone_else_is_their_own_address_whatever_they_claim() {
        assert_eq!(
            client_address(ip("203.0.113.5"), Some("127.0.0.1"), &local()),
            ip("203.0.113.5")
        );
        assert_eq!(
            client_address(ip("::ffff:203.0.113.5"), Some("1.2.3.4"), &local()),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn ipv6_is_counted_per_64_and_ipv4_per_address() {
        assert_eq!(throttle_network(ip("198.51.100.7")), "198.51.100.7");
        assert_eq!(
            throttle_network(ip("2001:db8:1:2:aaaa::1")),
            throttle_network(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            throttle_network(ip("2001:db8:1:2::1")),
            throttle_network(ip("2001:db8:1:3::1"))
        );
        assert_eq!(throttle_network(ip("2001:db8:1:2::1")), "2001:db8:1:2::/64");
        assert_eq!(throttle_network(ip("::ffff:10.0.0.1")), "10.0.0.1");
    }

    #[test]
    fn sessions_keep_only_a_coarse_network() {
        assert_eq!(coarse_network(ip("198.51.100.7")), "198.51.100.0/24");
        assert_eq!(coarse_network(ip("2001:db8:1:2::1")), "2001:db8:1::/48");
    }

    #[test]
    fn networks_parse_as_cidrs_or_single_addresses() {
        let (nets, bad) = parse_networks("10.0.0.0/8, ::1,, nope");
        assert_eq!(nets.len(), 2);
        assert_eq!(bad, ["nope"]);
    }

    proptest! {
        #[test]
        fn an_untrusted_peer_is_never_replaced(a in any::<u32>(), header in ".{0,60}") {
            let peer = IpAddr::V4(Ipv4Addr::from(a));
            prop_assume!(!peer.is_loopback());
            prop_assert_eq!(client_address(peer, Some(&header), &local()), peer);
        }

        #[test]
        fn every_address_of_a_64_is_one_key(prefix in any::<u64>(), a in any::<u64>(), b in any::<u64>()) {
            let x = Ipv6Addr::from((u128::from(prefix) << 64) | u128::from(a));
            let y = Ipv6Addr::from((u128::from(prefix) << 64) | u128::from(b));
            prop_assume!(x.to_ipv4_mapped().is_none() && y.to_ipv4_mapped().is_none());
            prop_assert_eq!(throttle_network(IpAddr::V6(x)), throttle_network(IpAddr::V6(y)));
        }
    }
}
