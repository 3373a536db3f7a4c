//! Which replicas an upstream URL stands for. An IP literal is one replica; a
//! DNS name (a Kubernetes headless Service) stands for every address it
//! resolves to, and the set is reconciled with each fresh answer: addresses
//! that appear join, addresses that are gone leave (and drain).

use std::net::IpAddr;

/// The host of an upstream URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `https://10.0.0.5:8083`, `http://[::1]:8083`: one fixed replica.
    Literal(IpAddr),
    /// `https://scheduling.carebook.svc:8083`: the replicas are its A/AAAA records.
    Name(String),
}

impl Target {
    /// Classify the host part of a URL's authority (IPv6 in brackets).
    pub fn of_host(host: &str) -> Self {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(ip) => Target::Literal(ip),
            Err(_) => Target::Name(host.to_owned()),
        }
    }
}

/// How the replicas of one name change with a fresh answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Change {
    pub joined: Vec<IpAddr>,
    pub left: Vec<IpAddr>,
}

impl Change {
    pub fn is_empty(&self) -> bool {
        self.joined.is_empty() && self.left.is_empty()
    }
}

/// Reconcile the replicas of a name (`current`) with its addresses now
/// (`resolved`). An empty answer changes nothing: a DNS blip or a moment
/// without ready endpoints must not drain a whole pool (failing replicas
/// are taken out by health checks instead).
pub fn reconcile(current: &[IpAddr], resolved: &[IpAddr]) -> Change {
    if resolved.is_empty() {
        return Change::default();
    }
    let mut joined: Vec<IpAddr> = resolved
        .iter()
        .filter(|ip| !current.contains(ip))
        .copied()
        .collect();
    joined.sort();
    joined.dedup();
    let left = current
        .iter()
        .filter(|ip| !resolved.contains(ip))
        .copied()
        .collect();
    Change { joined, left }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ips(s: &[&str]) -> Vec<IpAddr> {
        s.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn hosts_are_literals_or_names() {
        assert_eq!(
            Target::of_host("10.0.0.5"),
            Target::Literal("10.0.0.5".parse().unwrap())
        );
        assert_eq!(
            Target::of_host("[::1]"),
            Target::Literal("::1".parse().unwrap())
        );
        assert_eq!(
            Target::of_host("scheduling.carebook.svc"),
            Target::Name("scheduling.carebook.svc".into())
        );
        assert_eq!(
            Target::of_host("localhost"),
            Target::Name("localhost".into())
        );
    }

    #[test]
    fn new_addresses_join_and_missing_ones_leave() {
        let change = reconcile(
            &ips(&["10.0.0.1", "10.0.0.2"]),
            &ips(&["10.0.0.2", "10.0.0.3", "10.0.0.3"]),
        );
        assert_eq!(change.joined, ips(&["10.0.0.3"]));
        assert_eq!(change.left, ips(&["10.0.0.1"]));
        assert!(reconcile(&ips(&["10.0.0.1"]), &ips(&["10.0.0.1"])).is_empty());
    }

    #[test]
    fn an_empty_answer_keeps_the_pool() {
        assert!(reconcile(&ips(&["10.0.0.1"]), &[]).is_empty());
    }

    proptest! {
        /// Applying the change to the current set gives exactly the answer's set.
        #[test]
        fn applying_a_change_yields_the_answer(
            current in proptest::collection::btree_set(0u8..16, 0..8),
            resolved in proptest::collection::vec(0u8..16, 1..12),
        ) {
            let ip = |n: &u8| IpAddr::from([10, 0, 0, *n]);
            let current: Vec<IpAddr> = current.iter().map(ip).collect();
            let resolved: Vec<IpAddr> = resolved.iter().map(ip).collect();
            let change = reconcile(&current, &resolved);
            let mut after: Vec<IpAddr> = current.iter().filter(|ip| !change.left.contains(ip)).copied().collect();
            after.extend(&change.joined);
            after.sort();
            let mut want = resolved.clone();
            want.sort();
            want.dedup();
            prop_assert_eq!(after, want);
        }
    }
}
