//! Choosing a replica: the least-loaded available one, ties broken round-robin
//! so equal replicas share the work. When no replica of a pool is available
//! (all unready or ejected), every replica is a candidate again (panic mode):
//! a pool that is sick everywhere still answers some requests, rather than
//! none at all.

/// What the balancer knows of one replica.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    /// Ready and not ejected.
    pub available: bool,
    /// Already tried for this request.
    pub excluded: bool,
    pub in_flight: usize,
}

/// The replica to use, and whether the pool is in panic mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    Healthy(usize),
    /// No replica of the pool is available: this one is chosen among all.
    Panic(usize),
}

impl Pick {
    pub fn index(self) -> usize {
        match self {
            Pick::Healthy(i) | Pick::Panic(i) => i,
        }
    }
}

/// Index of the replica to use, starting the tie-break scan at `start`.
pub fn pick(candidates: &[Candidate], start: usize) -> Option<Pick> {
    if candidates.iter().any(|c| c.available) {
        choose(candidates, start, |c| c.available && !c.excluded).map(Pick::Healthy)
    } else {
        choose(candidates, start, |c| !c.excluded).map(Pick::Panic)
    }
}

fn choose(
    candidates: &[Candidate],
    start: usize,
    eligible: impl Fn(&Candidate) -> bool,
) -> Option<usize> {
    let n = candidates.len();
    (0..n)
        .map(|i| (start + i) % n)
        .filter(|&i| eligible(&candidates[i]))
        .min_by_key(|&i| candidates[i].in_flight)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(available: bool, in_flight: usize) -> Candidate {
        Candidate {
            available,
            excluded: false,
            in_flight,
        }
    }

    #[test]
    fn idle_replicas_take_turns() {
        let all = [c(true, 0), c(true, 0), c(true, 0)];
        let picks: Vec<_> = (0..6).map(|s| pick(&all, s).unwrap().index()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn the_least_loaded_available_replica_wins() {
        assert_eq!(
            pick(&[c(true, 5), c(true, 1), c(true, 3)], 0),
            Some(Pick::Healthy(1))
        );
        assert_eq!(
            pick(&[c(true, 5), c(false, 0), c(true, 3)], 0),
            Some(Pick::Healthy(2))
        );
        assert_eq!(pick(&[], 0), None);
    }

    #[test]
    fn tried_replicas_are_skipped() {
        let mut tried = c(true, 0);
        tried.excluded = true;
        assert_eq!(pick(&[tried, c(true, 9)], 0), Some(Pick::Healthy(1)));
        // The only available replica was tried: the unavailable one is not a fallback.
        assert_eq!(pick(&[tried, c(false, 0)], 0), None);
    }

    #[test]
    fn with_every_replica_out_all_of_them_are_candidates() {
        assert_eq!(pick(&[c(false, 3), c(false, 1)], 0), Some(Pick::Panic(1)));
        let mut tried = c(false, 0);
        tried.excluded = true;
        assert_eq!(pick(&[tried, c(false, 4)], 0), Some(Pick::Panic(1)));
        assert_eq!(pick(&[tried], 0), None);
    }
}
