//! What became of the sends, judged from the history alone for the Then steps that name one
//! guarantee: every send acknowledged, or every one refused with one error; every acknowledged
//! record read unchanged at its offset (`altered-record`); a partition's acknowledged offsets
//! contiguous.

use std::collections::HashMap;

use super::Finding;
use crate::history::{Event, Op, Outcome, Record};

/// Every send was acknowledged: none failed, none has an unknown outcome.
pub fn all_acknowledged(events: &[Event]) -> Result<(), Finding> {
    let failed: Vec<String> = events
        .iter()
        .filter_map(|e| match (&e.op, &e.outcome) {
            (Op::Send { record, .. }, Outcome::Fail { error } | Outcome::Unknown { error }) => {
                Some(format!("{:?}: {error}", record.value))
            }
            _ => None,
        })
        .collect();
    if !failed.is_empty() {
        let shown: Vec<_> = failed.iter().take(10).cloned().collect();
        return Err(Finding::Violation(format!(
            "{} of the sends were not acknowledged, e.g. {}",
            failed.len(),
            shown.join("; ")
        )));
    }
    if !events.iter().any(|e| matches!(e.op, Op::Send { .. })) {
        return Err(Finding::NothingToJudge("no record was sent before this step".into()));
    }
    Ok(())
}

/// Every send failed with `expected` (none acknowledged, none unknown).
pub fn all_fail_with(events: &[Event], expected: &str) -> Result<(), Finding> {
    let sends: Vec<(&Record, &Outcome)> = events
        .iter()
        .filter_map(|e| match &e.op {
            Op::Send { record, .. } => Some((record, &e.outcome)),
            _ => None,
        })
        .collect();
    if sends.is_empty() {
        return Err(Finding::NothingToJudge("no record was sent before this step".into()));
    }
    let other: Vec<String> = sends
        .iter()
        .filter(|(_, o)| !matches!(o, Outcome::Fail { error } if error == expected))
        .map(|(r, o)| format!("{:?}: {o:?}", r.value))
        .collect();
    if !other.is_empty() {
        let n = other.len();
        return Err(Finding::Violation(format!(
            "{n} of {} sends did not fail with {expected}, e.g. {}",
            sends.len(),
            other.into_iter().take(5).collect::<Vec<_>>().join("; ")
        )));
    }
    Ok(())
}

/// `altered-record`: an acknowledged send whose read at its offset differs, or was never read.
/// Key, value and headers must be what the client sent (null values included, which the
/// value-identified checks cannot see).
pub fn unchanged(events: &[Event]) -> Result<(), Finding> {
    let mut reads = HashMap::new();
    for e in events {
        if let (Op::Poll { reads: rs }, Outcome::Ok) = (&e.op, &e.outcome) {
            for r in rs {
                reads.insert((r.topic.clone(), r.partition, r.offset), r.record.clone());
            }
        }
    }
    let mut altered = Vec::new();
    let mut sends = 0;
    for e in events {
        if let (Op::Send { topic, partition, record, offset: Some(o), .. }, Outcome::Ok) = (&e.op, &e.outcome) {
            sends += 1;
            match reads.get(&(topic.clone(), *partition, *o)) {
                None => altered.push(format!("offset {o}: sent {}, never read", show_record(record))),
                Some(got) if got != record => {
                    altered.push(format!("offset {o}: sent {}, read {}", show_record(record), show_record(got)))
                }
                Some(_) => {}
            }
        }
    }
    if sends == 0 {
        return Err(Finding::NothingToJudge("no record was acknowledged before this step".into()));
    }
    if !altered.is_empty() {
        let n = altered.len();
        altered.truncate(10);
        return Err(Finding::Violation(format!(
            "altered-record: {n} of {sends} records differ from what was sent:\n  {}",
            altered.join("\n  ")
        )));
    }
    Ok(())
}

fn show_record(r: &Record) -> String {
    let bytes =
        |b: &Option<Vec<u8>>| b.as_ref().map_or("null".to_string(), |b| format!("{:?}", String::from_utf8_lossy(b)));
    let headers: Vec<String> = r.headers.iter().map(|h| format!("{}={}", h.key, bytes(&h.value))).collect();
    format!(
        "key={} value={} headers=[{}]",
        bytes(&r.key),
        r.value.as_deref().map_or("null".into(), |v| format!("{v:?}")),
        headers.join(", ")
    )
}

/// Every record acknowledged to the partition holds one offset of `from..from + n` (n the
/// acknowledged records), each a different one. Records acknowledged at an unknown offset (a
/// client that could not say where, e.g. librdkafka after DUPLICATE_SEQUENCE_NUMBER) count
/// towards `n` and may fill any offset the others leave. A partition that acknowledged nothing
/// fails too: the scenario sent it records.
pub fn contiguous(events: &[Event], topic: &str, partition: i32, from: i64) -> Result<(), Finding> {
    let acked: Vec<Option<i64>> = events
        .iter()
        .filter_map(|e| match (&e.op, &e.outcome) {
            (Op::Send { topic: t, partition: p, offset, .. }, Outcome::Ok) if t == topic && *p == partition => {
                Some(*offset)
            }
            _ => None,
        })
        .collect();
    if acked.is_empty() {
        return Err(Finding::Violation(format!(
            "no record sent to {topic}-{partition} was acknowledged, so no offset can be judged"
        )));
    }
    let unknown = acked.iter().filter(|o| o.is_none()).count();
    let mut offsets: Vec<i64> = acked.iter().flatten().copied().collect();
    offsets.sort_unstable();
    let total = acked.len() as i64;
    let range = from..from + total;
    let outside: Vec<i64> = offsets.iter().copied().filter(|o| !range.contains(o)).take(5).collect();
    let twice: Vec<i64> = offsets.windows(2).filter(|p| p[0] == p[1]).map(|p| p[0]).take(5).collect();
    // n distinct offsets inside a range of n are the whole range.
    if outside.is_empty() && twice.is_empty() {
        return Ok(());
    }
    let gaps: Vec<String> =
        offsets.windows(2).filter(|p| p[1] > p[0] + 1).take(5).map(|p| format!("{} -> {}", p[0], p[1])).collect();
    let mut why = Vec::new();
    if !outside.is_empty() {
        why.push(format!("offsets outside it: {outside:?}"));
    }
    if !twice.is_empty() {
        why.push(format!("offsets acknowledged twice: {twice:?}"));
    }
    if !gaps.is_empty() {
        why.push(format!("gaps at {}", gaps.join(", ")));
    }
    Err(Finding::Violation(format!(
        "{total} acknowledged records ({unknown} at an unknown offset) do not hold the contiguous range {from}..{}: {}",
        from + total,
        why.join("; ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{History, Read};

    fn send(h: &History, value: &str, offset: Option<i64>, outcome: Outcome) {
        let op = Op::Send { topic: "t".into(), partition: 0, record: Record::value(value), offset, timestamp: None };
        h.record("p", op, outcome);
    }

    fn poll(h: &History, reads: &[(i64, Record)]) {
        let reads = reads
            .iter()
            .map(|(o, r)| Read { topic: "t".into(), partition: 0, offset: *o, record: r.clone() })
            .collect();
        h.record("c", Op::Poll { reads }, Outcome::Ok);
    }

    #[test]
    fn a_record_read_as_sent_is_unchanged() {
        let h = History::new();
        send(&h, "a", Some(0), Outcome::Ok);
        poll(&h, &[(0, Record::value("a"))]);
        assert_eq!(unchanged(&h.events()), Ok(()));
    }

    #[test]
    fn a_record_read_with_another_key_is_altered() {
        let h = History::new();
        send(&h, "a", Some(0), Outcome::Ok);
        poll(&h, &[(0, Record { key: Some(b"k".to_vec()), ..Record::value("a") })]);
        let Err(Finding::Violation(m)) = unchanged(&h.events()) else { panic!("not a violation") };
        assert!(m.starts_with("altered-record: 1 of 1 records differ"), "{m}");
    }

    #[test]
    fn nothing_acknowledged_leaves_nothing_to_judge() {
        let h = History::new();
        send(&h, "a", None, Outcome::Fail { error: "NOT_ENOUGH_REPLICAS".into() });
        assert!(matches!(unchanged(&h.events()), Err(Finding::NothingToJudge(_))));
        assert!(matches!(all_acknowledged(&h.events()), Err(Finding::Violation(_))));
        assert_eq!(all_fail_with(&h.events(), "NOT_ENOUGH_REPLICAS"), Ok(()));
        assert!(matches!(all_fail_with(&History::new().events(), "NONE"), Err(Finding::NothingToJudge(_))));
    }

    #[test]
    fn offsets_are_contiguous_with_unknown_ones_filling_the_gaps() {
        let h = History::new();
        send(&h, "a", Some(5), Outcome::Ok);
        send(&h, "b", None, Outcome::Ok);
        send(&h, "c", Some(7), Outcome::Ok);
        assert_eq!(contiguous(&h.events(), "t", 0, 5), Ok(()));
        let Err(Finding::Violation(m)) = contiguous(&h.events(), "t", 0, 4) else { panic!("not a violation") };
        assert!(m.contains("offsets outside it: [7]"), "{m}");
        assert!(matches!(contiguous(&h.events(), "t", 1, 0), Err(Finding::Violation(_))));
    }
}
