//! Transactions (KIP-98), judged from the history alone: the reads against the transactions the
//! producers ended ([`Op::EndTxn`]). The anomaly names are Jepsen's (`jepsen.tests.kafka`):
//! - `G1a` (aborted read): a read returned a record of a transaction that aborted;
//! - `precommitted-read`: a read returned a record of a transaction before the transaction
//!   committed (it was still open when the read happened).
//!
//! Which of them a read may show depends on its isolation level: read_committed forbids both,
//! read_uncommitted allows both and must return the aborted records too
//! ([`aborted_records_read`]). The step layer knows which consumer it ran.

use std::collections::{HashMap, HashSet};

use super::Finding;
use crate::history::{Event, Op, Outcome};

/// Where each read value was read: (event index, topic, partition, offset), from ok polls.
fn reads(events: &[Event]) -> Vec<(u64, &str, i32, i64, &str)> {
    events
        .iter()
        .filter(|e| e.outcome.is_ok())
        .flat_map(|e| match &e.op {
            Op::Poll { reads } => reads
                .iter()
                .filter_map(|r| {
                    r.record.value.as_deref().map(|v| (e.index, r.topic.as_str(), r.partition, r.offset, v))
                })
                .collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// Transactions that ended as `commit` says, with the index of their end: value → end event.
fn ended(events: &[Event], commit: bool) -> HashMap<&str, u64> {
    events
        .iter()
        .filter(|e| e.outcome == Outcome::Ok)
        .flat_map(|e| match &e.op {
            Op::EndTxn { commit: c, values, .. } if *c == commit => {
                values.iter().map(|v| (v.as_str(), e.index)).collect()
            }
            _ => Vec::new(),
        })
        .collect()
}

fn shown(found: &[String]) -> String {
    let mut s: Vec<String> = found.iter().take(5).cloned().collect();
    if found.len() > 5 {
        s.push(format!("and {} more", found.len() - 5));
    }
    s.join("; ")
}

/// G1a: no read returned a record of an aborted transaction.
pub fn no_aborted_reads(events: &[Event]) -> Result<(), Finding> {
    let aborted = ended(events, false);
    if aborted.is_empty() {
        return Err(Finding::NothingToJudge("no transaction was aborted before this step".into()));
    }
    let reads = reads(events);
    if reads.is_empty() {
        return Err(Finding::NothingToJudge("nothing was read, so nothing shows aborted records stayed unread".into()));
    }
    let found: Vec<String> = reads
        .iter()
        .filter(|(_, _, _, _, v)| aborted.contains_key(v))
        .map(|(i, t, p, o, v)| {
            format!("{v} at {t}-{p} offset {o} (event {i}, its transaction aborted at event {})", aborted[v])
        })
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    Err(Finding::Violation(format!(
        "G1a (aborted read): {} records of aborted transactions were read by a read_committed consumer: {}",
        found.len(),
        shown(&found)
    )))
}

/// precommitted-read: no read returned a record of a transaction before it committed.
pub fn no_precommitted_reads(events: &[Event]) -> Result<(), Finding> {
    let committed = ended(events, true);
    if committed.is_empty() {
        return Err(Finding::NothingToJudge("no transaction was committed before this step".into()));
    }
    let reads = reads(events);
    if !reads.iter().any(|(_, _, _, _, v)| committed.contains_key(v)) {
        return Err(Finding::NothingToJudge(
            "no record of a committed transaction was read, so nothing shows when they became visible".into(),
        ));
    }
    let found: Vec<String> = reads
        .iter()
        .filter(|(i, _, _, _, v)| committed.get(v).is_some_and(|end| i < end))
        .map(|(i, t, p, o, v)| {
            format!(
                "{v} at {t}-{p} offset {o} (read at event {i}, its transaction committed at event {})",
                committed[v]
            )
        })
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    Err(Finding::Violation(format!(
        "precommitted-read: {} records were read by a read_committed consumer while their transaction was still open: {}",
        found.len(),
        shown(&found)
    )))
}

/// read_uncommitted returns every record, those of aborted transactions included.
pub fn aborted_records_read(events: &[Event]) -> Result<(), Finding> {
    let aborted = ended(events, false);
    if aborted.is_empty() {
        return Err(Finding::NothingToJudge("no transaction was aborted before this step".into()));
    }
    let read: HashSet<&str> = reads(events).into_iter().map(|(_, _, _, _, v)| v).collect();
    let mut missing: Vec<String> = aborted.keys().filter(|v| !read.contains(*v)).map(|v| v.to_string()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    missing.sort();
    Err(Finding::Violation(format!(
        "{} of {} records of aborted transactions were never read by a read_uncommitted consumer, which Kafka \
         serves them to (only read_committed drops them): {}",
        missing.len(),
        aborted.len(),
        shown(&missing)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{History, Read, Record};

    fn record(v: &str) -> Record {
        Record { key: None, value: Some(v.to_string()), headers: Vec::new() }
    }

    fn poll(h: &History, values: &[(&str, i64)]) {
        let reads = values
            .iter()
            .map(|(v, o)| Read { topic: "t".into(), partition: 0, offset: *o, record: record(v) })
            .collect();
        h.record("consumer", Op::Poll { reads }, Outcome::Ok);
    }

    fn end(h: &History, commit: bool, values: &[&str]) {
        let values = values.iter().map(|v| v.to_string()).collect();
        h.record("tx", Op::EndTxn { transactional_id: "tx".into(), commit, values }, Outcome::Ok);
    }

    #[test]
    fn an_aborted_record_read_is_g1a() {
        let h = History::new();
        end(&h, true, &["a"]);
        end(&h, false, &["b"]);
        poll(&h, &[("a", 0)]);
        assert_eq!(no_aborted_reads(&h.events()), Ok(()));
        poll(&h, &[("b", 2)]);
        let Err(Finding::Violation(m)) = no_aborted_reads(&h.events()) else { panic!("a violation") };
        assert!(m.starts_with("G1a") && m.contains("b at t-0 offset 2"), "{m}");
        assert_eq!(aborted_records_read(&h.events()), Ok(()));
    }

    #[test]
    fn a_read_before_the_commit_is_precommitted() {
        let h = History::new();
        poll(&h, &[("a", 0)]);
        end(&h, true, &["a"]);
        let Err(Finding::Violation(m)) = no_precommitted_reads(&h.events()) else { panic!("a violation") };
        assert!(m.contains("precommitted-read") && m.contains("committed at event 1"), "{m}");
        let h = History::new();
        end(&h, true, &["a"]);
        poll(&h, &[("a", 0)]);
        assert_eq!(no_precommitted_reads(&h.events()), Ok(()));
    }

    #[test]
    fn nothing_to_judge_is_not_a_pass() {
        let h = History::new();
        assert!(matches!(no_aborted_reads(&h.events()), Err(Finding::NothingToJudge(_))));
        end(&h, false, &["b"]);
        assert!(matches!(no_aborted_reads(&h.events()), Err(Finding::NothingToJudge(_))));
        assert!(matches!(aborted_records_read(&h.events()), Err(Finding::Violation(_))));
        end(&h, true, &["a"]);
        assert!(matches!(no_precommitted_reads(&h.events()), Err(Finding::NothingToJudge(_))));
    }
}
