//! `carebook events dlq`: which consumer queues an operator may mean, and which
//! service owns each one. The broker work is `platform::events::dlq`'s; each
//! queue is read and replayed as its owning service (its broker user), the
//! one whose copies the consumer believes.

use crate::{consumer_specs, WITH_DATABASE};

/// A consumer queue and the service that consumes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedQueue {
    pub service: &'static str,
    pub queue: String,
}

/// Every consumer queue of the deployment (queue names under `queue_prefix`).
pub fn consumer_queues(queue_prefix: &str) -> Vec<OwnedQueue> {
    WITH_DATABASE
        .iter()
        .flat_map(|service| {
            consumer_specs(service, queue_prefix)
                .into_iter()
                .map(|spec| OwnedQueue {
                    service,
                    queue: spec.queue,
                })
        })
        .collect()
}

/// The queues `wanted` names: all of them without a name; else the one whose
/// name is `wanted`, with or without the prefix (`billing.appointments`) or
/// its `.dlq` suffix. An unknown name is an error listing the known ones.
pub fn select(
    queues: Vec<OwnedQueue>,
    queue_prefix: &str,
    wanted: Option<&str>,
) -> Result<Vec<OwnedQueue>, String> {
    let Some(wanted) = wanted else {
        return Ok(queues);
    };
    let wanted = wanted.strip_suffix(".dlq").unwrap_or(wanted);
    let full = format!("{queue_prefix}.{wanted}");
    let found: Vec<OwnedQueue> = queues
        .iter()
        .filter(|q| q.queue == wanted || q.queue == full)
        .cloned()
        .collect();
    if found.is_empty() {
        let known: Vec<&str> = queues.iter().map(|q| q.queue.as_str()).collect();
        return Err(format!(
            "no consumer queue {wanted}; the queues are: {}",
            known.join(", ")
        ));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_consumer_queue_is_listed_with_its_owner() {
        let queues = consumer_queues("carebook");
        assert!(queues.contains(&OwnedQueue {
            service: "billing",
            queue: "carebook.billing.appointments".into()
        }));
        assert!(queues.iter().all(|q| q.queue.starts_with("carebook.")));
        assert!(queues.iter().all(|q| q.queue.contains(q.service)));
        assert!(!queues.iter().any(|q| q.service == "identity"));
    }

    #[test]
    fn a_queue_is_named_in_full_without_its_prefix_or_by_its_dead_letter_queue() {
        let all = consumer_queues("cb");
        for name in [
            "cb.billing.appointments",
            "billing.appointments",
            "cb.billing.appointments.dlq",
        ] {
            let found = select(all.clone(), "cb", Some(name)).unwrap();
            assert_eq!(
                found,
                vec![OwnedQueue {
                    service: "billing",
                    queue: "cb.billing.appointments".into()
                }],
                "{name}"
            );
        }
        assert_eq!(select(all.clone(), "cb", None).unwrap(), all);
    }

    #[test]
    fn an_unknown_queue_is_refused_with_the_known_ones() {
        let err = select(consumer_queues("cb"), "cb", Some("billing.invoices")).unwrap_err();
        assert!(err.contains("no consumer queue billing.invoices"), "{err}");
        assert!(err.contains("cb.billing.appointments"), "{err}");
    }
}
