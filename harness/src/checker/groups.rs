//! Consumer-group checks: what the members of one group owned, generation by generation, and
//! which records a group read more than once.
//!
//! The classic protocol's promise (the consumer `ConsumerCoordinator` and the broker's group
//! coordinator together): in one generation every subscribed partition is owned by exactly one
//! member; a partition owned by two members is `double-assigned`, one owned by nobody once the
//! group is stable is `unassigned`. With commits after processing, a partition taken over
//! resumes at its committed offset, so the only records read twice are those a previous owner
//! processed after its last successful commit (its uncommitted tail when it crashed or gave the
//! partition up); any other re-read is `read-beyond-tail`.

use std::collections::{BTreeMap, BTreeSet};

use crate::history::{Event, Op};

/// A topic-partition.
pub type Tp = (String, i32);

/// Partitions as `topic-partition, …`, or `nothing`.
pub fn show(tps: &BTreeSet<Tp>) -> String {
    if tps.is_empty() {
        return "nothing".into();
    }
    tps.iter().map(|(t, p)| format!("{t}-{p}")).collect::<Vec<_>>().join(", ")
}

/// Partitions owned by more than one consumer in the same generation, from what each consumer
/// owned at the end of each generation's assignment: one line per generation and partition.
pub fn double_assigned(owned: &BTreeMap<String, BTreeMap<i32, BTreeSet<Tp>>>) -> Vec<String> {
    let mut by_generation: BTreeMap<i32, BTreeMap<Tp, Vec<&str>>> = BTreeMap::new();
    for (consumer, generations) in owned {
        for (generation, tps) in generations {
            for tp in tps {
                by_generation.entry(*generation).or_default().entry(tp.clone()).or_default().push(consumer);
            }
        }
    }
    let mut out = Vec::new();
    for (generation, tps) in by_generation {
        for ((t, p), owners) in tps {
            if owners.len() > 1 {
                out.push(format!(
                    "double-assigned: {t}-{p} is owned by {} in generation {generation}",
                    owners.join(" and ")
                ));
            }
        }
    }
    out
}

/// Whether the consumers' assignments split `all` exactly: `Ok` when each partition has one
/// owner, else every double-assigned and unassigned partition.
pub fn split(current: &BTreeMap<String, BTreeSet<Tp>>, all: &BTreeSet<Tp>) -> Result<(), String> {
    let mut owners: BTreeMap<&Tp, Vec<&str>> = BTreeMap::new();
    for (consumer, tps) in current {
        for tp in tps {
            owners.entry(tp).or_default().push(consumer);
        }
    }
    let mut problems = Vec::new();
    for (tp, who) in &owners {
        if who.len() > 1 {
            problems.push(format!("double-assigned: {}-{} is owned by {}", tp.0, tp.1, who.join(" and ")));
        }
        if !all.contains(*tp) {
            problems.push(format!("{}-{} is not a partition of the subscribed topics", tp.0, tp.1));
        }
    }
    let unassigned: BTreeSet<Tp> = all.iter().filter(|tp| !owners.contains_key(tp)).cloned().collect();
    if !unassigned.is_empty() {
        problems.push(format!("unassigned: {}", show(&unassigned)));
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
}

/// Renders each consumer's assignment, for verdicts.
pub fn render(current: &BTreeMap<String, (Option<i32>, BTreeSet<Tp>)>) -> String {
    current
        .iter()
        .map(|(c, (g, tps))| {
            let g = g.map_or("no generation yet".to_string(), |g| format!("generation {g}"));
            format!("{c} ({g}): {}", show(tps))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Offsets read more than once (by any consumers, counting every `ok` poll) in `topic`.
pub fn reread(events: &[Event], topic: &str) -> BTreeMap<(i32, i64), usize> {
    let mut count: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    for e in events {
        if let (Op::Poll { reads }, true) = (&e.op, e.outcome.is_ok()) {
            for r in reads.iter().filter(|r| r.topic == topic) {
                *count.entry((r.partition, r.offset)).or_default() += 1;
            }
        }
    }
    count.retain(|_, n| *n > 1);
    count
}

/// Re-read offsets outside `tails` (per partition, the inclusive offset ranges previous owners
/// processed after their last successful commit): one line each.
pub fn reread_beyond_tail(
    reread: &BTreeMap<(i32, i64), usize>,
    tails: &BTreeMap<i32, Vec<(i64, i64)>>,
    topic: &str,
) -> Vec<String> {
    let ranges = |p: &i32| tails.get(p).map(Vec::as_slice).unwrap_or_default();
    reread
        .iter()
        .filter(|((p, o), _)| !ranges(p).iter().any(|(from, to)| o >= from && o <= to))
        .map(|((p, o), n)| {
            let tail = if ranges(p).is_empty() {
                "no uncommitted tail".to_string()
            } else {
                let list: Vec<String> = ranges(p).iter().map(|(f, t)| format!("{f}..={t}")).collect();
                format!("uncommitted tails {}", list.join(", "))
            };
            format!("read-beyond-tail: {topic}-{p} offset {o} is read {n} times ({tail})")
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tps(list: &[i32]) -> BTreeSet<Tp> {
        list.iter().map(|p| ("t".to_string(), *p)).collect()
    }

    #[test]
    fn a_partition_owned_twice_in_one_generation_is_double_assigned() {
        let owned = BTreeMap::from([
            ("c1".to_string(), BTreeMap::from([(1, tps(&[0, 1, 2])), (2, tps(&[0, 1]))])),
            ("c2".to_string(), BTreeMap::from([(2, tps(&[1, 2]))])),
        ]);
        let found = double_assigned(&owned);
        assert_eq!(found, vec!["double-assigned: t-1 is owned by c1 and c2 in generation 2".to_string()]);
    }

    #[test]
    fn a_split_needs_every_partition_once() {
        let all = tps(&[0, 1, 2, 3]);
        let ok = BTreeMap::from([("c1".to_string(), tps(&[0, 1])), ("c2".to_string(), tps(&[2, 3]))]);
        assert!(split(&ok, &all).is_ok());
        let leader_copied = BTreeMap::from([("c1".to_string(), tps(&[0, 1])), ("c2".to_string(), tps(&[0, 1]))]);
        let err = split(&leader_copied, &all).unwrap_err();
        assert!(err.contains("double-assigned: t-0 is owned by c1 and c2"), "{err}");
        assert!(err.contains("unassigned: t-2, t-3"), "{err}");
    }

    #[test]
    fn only_the_uncommitted_tail_may_be_read_twice() {
        let reread = BTreeMap::from([((0, 7), 2), ((1, 3), 2)]);
        let tails = BTreeMap::from([(0, vec![(2, 1), (6, 8)])]);
        let found = reread_beyond_tail(&reread, &tails, "t");
        assert_eq!(found.len(), 1);
        assert!(found[0].contains("t-1 offset 3"), "{found:?}");
    }
}
