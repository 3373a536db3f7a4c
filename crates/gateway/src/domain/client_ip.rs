//! Which address a request counts against. `X-Forwarded-For` is believed only
//! from configured trusted proxies, so a client cannot pick its own identity.

use std::net::IpAddr;

use ipnet::IpNet;

/// The client address: the socket peer, unless the peer is a trusted proxy, in
/// which case the right-most untrusted address of `X-Forwarded-For`.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    // Walk from the nearest hop outwards; the first address not ours is the client.
    let hops: Vec<IpAddr> = header
        .split(',')
        .filter_map(|h| h.trim().parse().ok())
        .collect();
    hops.iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .or(hops.first())
        .copied()
        .unwrap_or(peer)
}

/// What a client's address counts as for rate limits: an IPv4 address itself
/// (also when it reaches us IPv4-mapped), an IPv6 address by its /64, the
/// smallest network one subscriber usually gets, so rotating through the
/// 2^64 addresses of one's own network earns no extra allowance.
pub fn limit_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{prefix}/64")
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusted() -> Vec<IpNet> {
        vec!["10.0.0.0/8".parse().unwrap()]
    }

    #[test]
    fn untrusted_peers_cannot_spoof_forwarded_for() {
        assert_eq!(
            client_ip(ip("203.0.113.7"), Some("1.2.3.4"), &trusted()),
            ip("203.0.113.7")
        );
        assert_eq!(
            client_ip(ip("203.0.113.7"), Some("1.2.3.4"), &[]),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn trusted_proxies_pass_on_the_nearest_untrusted_hop() {
        let t = trusted();
        assert_eq!(
            client_ip(ip("10.0.0.2"), Some("198.51.100.9"), &t),
            ip("198.51.100.9")
        );
        // A client-supplied fake first hop is ignored: the proxy appended the real one.
        assert_eq!(
            client_ip(ip("10.0.0.2"), Some("1.2.3.4, 198.51.100.9, 10.0.0.5"), &t),
            ip("198.51.100.9")
        );
        assert_eq!(client_ip(ip("10.0.0.2"), None, &t), ip("10.0.0.2"));
        assert_eq!(
            client_ip(ip("10.0.0.2"), Some("garbage"), &t),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn ipv6_clients_are_limited_per_64_and_ipv4_per_address() {
        assert_eq!(limit_key(ip("203.0.113.7")), "203.0.113.7");
        assert_eq!(limit_key(ip("::ffff:203.0.113.7")), "203.0.113.7");
        assert_eq!(limit_key(ip("2001:db8:1:2:3:4:5:6")), "2001:db8:1:2::/64");
        assert_eq!(
            limit_key(ip("2001:db8:1:2:ffff::1")),
            limit_key(ip("2001:db8:1:2::9")),
            "one /64, one allowance"
        );
        assert_ne!(
            limit_key(ip("2001:db8:1:3::1")),
            limit_key(ip("2001:db8:1:2::1"))
        );
    }
}
