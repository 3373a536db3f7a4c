//! Choosing a replica: the least-loaded available one, ties broken round-robin
//! so equal replicas share the work.

/// What the balancer knows of one replica.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    pub available: bool,
    pub in_flight: usize,
}

/// Index of the replica to use, starting the tie-break scan at `start`.
pub fn choose(candidates: &[Candidate], start: usize) -> Option<usize> {
    let n = candidates.len();
    (0..n)
        .map(|i| (start + i) % n)
        .filter(|&i| candidates[i].available)
        .min_by_key(|&i| candidates[i].in_flight)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(available: bool, in_flight: usize) -> Candidate {
        Candidate {
            available,
            in_flight,
        }
    }

    #[test]
    fn idle_replicas_take_turns() {
        let all = [c(true, 0), c(true, 0), c(true, 0)];
        let picks: Vec<_> = (0..6).map(|s| choose(&all, s).unwrap()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn the_least_loaded_available_replica_wins() {
        assert_eq!(choose(&[c(true, 5), c(true, 1), c(true, 3)], 0), Some(1));
        assert_eq!(choose(&[c(true, 5), c(false, 0), c(true, 3)], 0), Some(2));
        assert_eq!(choose(&[c(false, 0), c(false, 0)], 0), None);
        assert_eq!(choose(&[], 0), None);
    }
}
