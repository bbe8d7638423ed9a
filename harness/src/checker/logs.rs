//! The retention and compaction checks: what a partition's log may lose, and when.
//!
//! Jepsen's anomalies assume a log that only grows. Retention, DeleteRecords and compaction
//! remove records on purpose, so these checks judge the removals themselves, from the records
//! the history says were acknowledged (key, offset, CreateTime), the reads, the log start
//! offsets the broker reported, and what the scenario declared about each topic
//! ([`TopicClaim`], Kafka's topic configs). Their names follow the style of Jepsen's:
//!
//! - `retention-deleted-ineligible` — the log start offset passed a record that no rule allowed
//!   to be deleted. Kafka deletes whole segments from the oldest while the segment's largest
//!   timestamp is at least `retention.ms` old (`UnifiedLog.deleteRetentionMsBreachedSegments`),
//!   or while the partition is over `retention.bytes` by a whole segment, and moves the log
//!   start to a DeleteRecords offset (KIP-107). A segment's largest timestamp is at least that of
//!   each of its records, so a record younger than `retention.ms` when the log start passed it
//!   was not deleted by time retention, whatever segment it sat in.
//! - `compaction-lost-latest` — on a compacted topic, a key's latest acknowledged value is
//!   missing from reads that covered its offset. The cleaner keeps the last record of every
//!   key (Kafka's `cleanup.policy=compact`: "retain at least the last known value for each
//!   message key").
//! - `compaction-kept-superseded` — after the harness read the partition compacted below an
//!   offset ([`Op::Compacted`]), a later read below that offset returns a record of a key that
//!   has a later record below it: the cleaner does not undo its work.
//! - `tombstone-removed-early` — a tombstone that is its key's latest record is missing from
//!   reads that covered its offset before `delete.retention.ms` had passed since it was
//!   acknowledged. Kafka sets a tombstone's delete horizon to the time of the first cleaning
//!   pass that sees it plus `delete.retention.ms` (KIP-534), and that pass comes after the append.
//!
//! "Reads covered an offset" is precise: one process, in one partition, read offsets `a < o`
//! and then `b > o` with no repositioning between them, or was positioned at `s <= o` and
//! then first read `b > o`. A position at "the beginning" starts at the last log start offset
//! the history observed before it, or at 0 on a topic nothing but compaction cleans.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{Anomaly, AnomalyKind, Finding, LIST_LIMIT, Tp, anomaly, show, show_bytes};
use crate::history::{Event, Op, Outcome, Read, Record};

/// Slack for the clocks involved: the harness stamps records and observations with its own
/// clock, the broker judges with its own, and a request takes time between the two.
pub const CLOCK_SLACK_MS: i64 = 1000;
/// How much earlier than its acknowledgement a tombstone may have been appended.
pub const APPEND_SLACK_MS: u64 = 250;

/// What a scenario declares about one topic's log, from its configs with Kafka's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicClaim {
    /// `cleanup.policy` contains `compact`.
    pub compact: bool,
    /// `cleanup.policy` contains `delete`.
    pub delete: bool,
    /// `retention.ms` (-1: no time limit).
    pub retention_ms: i64,
    /// `retention.bytes` (-1: no size limit).
    pub retention_bytes: i64,
    /// `delete.retention.ms`.
    pub delete_retention_ms: i64,
}

impl TopicClaim {
    /// The claim a topic's configs make, with Kafka's defaults for what they leave out
    /// (`cleanup.policy=delete`, `retention.ms=604800000`, `retention.bytes=-1`,
    /// `delete.retention.ms=86400000`).
    pub fn from_configs(configs: &BTreeMap<String, String>) -> Result<TopicClaim, String> {
        let policy = configs.get("cleanup.policy").map_or("delete", String::as_str);
        let policies: Vec<&str> = policy.split(',').map(str::trim).collect();
        let num = |key: &str, default: i64| -> Result<i64, String> {
            configs.get(key).map_or(Ok(default), |v| v.parse().map_err(|_| format!("{key}={v:?} is not a number")))
        };
        Ok(TopicClaim {
            compact: policies.contains(&"compact"),
            delete: policies.contains(&"delete"),
            retention_ms: num("retention.ms", 604_800_000)?,
            retention_bytes: num("retention.bytes", -1)?,
            delete_retention_ms: num("delete.retention.ms", 86_400_000)?,
        })
    }
}

/// The claims of every topic a scenario declared, by (real) topic name.
#[derive(Clone, Debug, Default)]
pub struct LogClaims {
    pub topics: HashMap<String, TopicClaim>,
}

/// An acknowledged record, by offset.
struct Acked<'a> {
    key: Option<&'a [u8]>,
    value: Option<&'a str>,
    timestamp: Option<i64>,
    event: u64,
    time_ms: u64,
}

/// Offsets `[lo, hi)` one process's reads went past without reading, and the read that
/// ended the stretch.
struct Gap {
    lo: i64,
    hi: i64,
    event: u64,
    time_ms: u64,
    process: String,
}

#[derive(Default)]
struct Facts<'a> {
    acked: BTreeMap<i64, Acked<'a>>,
    /// Keys with a send whose outcome is unknown: it may have landed after the latest
    /// acknowledged one.
    unknown_keys: HashSet<Option<&'a [u8]>>,
    /// Records read, by offset: (key, value), from the first read of each offset.
    read: BTreeMap<i64, (Option<&'a [u8]>, Option<&'a str>)>,
    reads: Vec<(u64, &'a Read)>,
    gaps: Vec<Gap>,
    log_starts: Vec<(i64, i64, u64)>,
    /// DeleteRecords that may have taken effect: (every record below this may be gone, event).
    deletes: Vec<(i64, u64)>,
    compacted: Vec<(i64, u64)>,
}

/// A process's position in one partition: where it was put, and its last read.
#[derive(Clone, Copy)]
enum Position {
    Start(i64),
    Unknown,
    After(i64),
}

/// Runs the retention and compaction checks over events in index order.
pub(super) fn check(order: &[&Event], claims: &LogClaims, out: &mut Vec<Anomaly>) {
    let mut parts: HashMap<Tp, Facts> = HashMap::new();
    let mut positions: HashMap<(&str, Tp), Position> = HashMap::new();
    for e in order {
        match &e.op {
            Op::Send { topic, partition, record, offset, timestamp } => {
                let facts = parts.entry((topic.as_str(), *partition)).or_default();
                let key = record.key.as_deref();
                match (&e.outcome, offset) {
                    (Outcome::Ok, Some(o)) => {
                        facts.acked.insert(
                            *o,
                            Acked {
                                key,
                                value: record.value.as_deref(),
                                timestamp: *timestamp,
                                event: e.index,
                                time_ms: e.time_ms,
                            },
                        );
                    }
                    (Outcome::Unknown { .. }, _) | (Outcome::Ok, None) => {
                        facts.unknown_keys.insert(key);
                    }
                    (Outcome::Fail { .. }, _) => {}
                }
            }
            Op::LogStart { topic, partition, offset, at_ms } if e.outcome.is_ok() => {
                parts.entry((topic.as_str(), *partition)).or_default().log_starts.push((*offset, *at_ms, e.index));
            }
            Op::DeleteRecords { topic, partition, offset, low_watermark } => {
                let upto = match (&e.outcome, low_watermark) {
                    (Outcome::Ok, Some(lw)) => Some(*lw),
                    (Outcome::Fail { .. }, _) => None,
                    // -1 asks for the high watermark, which the harness does not know.
                    _ if *offset < 0 => Some(i64::MAX),
                    _ => Some(*offset),
                };
                if let Some(upto) = upto {
                    parts.entry((topic.as_str(), *partition)).or_default().deletes.push((upto, e.index));
                }
            }
            Op::Compacted { topic, partition, below } if e.outcome.is_ok() => {
                parts.entry((topic.as_str(), *partition)).or_default().compacted.push((*below, e.index));
            }
            Op::Seek { topic, partition, offset } => {
                if matches!(e.outcome, Outcome::Fail { .. }) {
                    continue;
                }
                let tp = (topic.as_str(), *partition);
                let start = match offset {
                    Some(o) if e.outcome.is_ok() => Position::Start(*o),
                    Some(_) => Position::Unknown,
                    None => beginning(parts.get(&tp), claims.topics.get(topic.as_str())),
                };
                positions.insert((e.process.as_str(), tp), start);
            }
            Op::Poll { reads } if e.outcome.is_ok() => {
                for r in reads {
                    let tp = (r.topic.as_str(), r.partition);
                    let facts = parts.entry(tp).or_default();
                    facts.read.entry(r.offset).or_insert((r.record.key.as_deref(), r.record.value.as_deref()));
                    facts.reads.push((e.index, r));
                    let from = match positions.get(&(e.process.as_str(), tp)) {
                        Some(Position::Start(s)) => Some(*s),
                        Some(Position::After(a)) => Some(a + 1),
                        Some(Position::Unknown) | None => None,
                    };
                    if let Some(lo) = from
                        && lo < r.offset
                    {
                        facts.gaps.push(Gap {
                            lo,
                            hi: r.offset,
                            event: e.index,
                            time_ms: e.time_ms,
                            process: e.process.clone(),
                        });
                    }
                    positions.insert((e.process.as_str(), tp), Position::After(r.offset));
                }
            }
            Op::Poll { .. } | Op::LogStart { .. } | Op::Compacted { .. } | Op::EndTxn { .. } => {}
        }
    }
    for (&tp, facts) in &parts {
        let claim = claims.topics.get(tp.0);
        if let Some(claim) = claim {
            retention(tp, facts, claim, out);
            if claim.compact {
                lost_latest(tp, facts, claim, out);
            }
        }
        kept_superseded(tp, facts, out);
    }
}

/// Where a consumer positioned at "the beginning" starts: the last log start offset observed,
/// or 0 where nothing but compaction cleans the log (compaction never moves the log start).
fn beginning(facts: Option<&Facts>, claim: Option<&TopicClaim>) -> Position {
    if let Some(&(start, _, _)) = facts.and_then(|f| f.log_starts.last()) {
        return Position::Start(start);
    }
    let deleted = facts.is_some_and(|f| !f.deletes.is_empty());
    match claim {
        Some(c) if !c.delete && !deleted => Position::Start(0),
        _ => Position::Unknown,
    }
}

/// The latest record of each key the history knows of: acknowledged, or read at a higher
/// offset (a send whose answer was lost). Keys with such a send are left out.
fn latest_by_key<'a>(facts: &Facts<'a>) -> BTreeMap<&'a [u8], i64> {
    let mut latest: BTreeMap<&[u8], i64> = BTreeMap::new();
    for (&o, a) in &facts.acked {
        if let Some(k) = a.key {
            latest.insert(k, o);
        }
    }
    for (&o, (key, _)) in &facts.read {
        if let Some(k) = key
            && latest.get(k).is_some_and(|l| o > *l)
        {
            latest.insert(k, o);
        }
    }
    latest.retain(|k, _| !facts.unknown_keys.contains(&Some(*k)));
    latest
}

fn gap_over<'f>(facts: &'f Facts, offset: i64) -> Option<&'f Gap> {
    facts.gaps.iter().find(|g| g.lo <= offset && offset < g.hi)
}

fn lost_latest(tp: Tp, facts: &Facts, claim: &TopicClaim, out: &mut Vec<Anomaly>) {
    for (key, offset) in latest_by_key(facts) {
        let Some(a) = facts.acked.get(&offset) else { continue };
        let Some(gap) = gap_over(facts, offset) else { continue };
        match a.value {
            // Retention may delete a compact,delete topic's latest values too.
            Some(v) if !claim.delete => out.push(anomaly(
                AnomalyKind::CompactionLostLatest,
                tp,
                format!(
                    "key {}: its latest value {} acknowledged at offset {offset} is missing, though \
                     process {} read past it (from offset {} to {})",
                    show_bytes(Some(key)),
                    show(Some(v)),
                    gap.process,
                    gap.lo,
                    gap.hi,
                ),
                vec![a.event, gap.event],
            )),
            None if !claim.delete
                && gap.time_ms + APPEND_SLACK_MS
                    < a.time_ms.saturating_add(u64::try_from(claim.delete_retention_ms).unwrap_or(0)) =>
            {
                out.push(anomaly(
                    AnomalyKind::TombstoneRemovedEarly,
                    tp,
                    format!(
                        "key {}: its tombstone acknowledged at offset {offset} is missing {} ms after \
                         its acknowledgement (delete.retention.ms={}): process {} read from offset {} to {}",
                        show_bytes(Some(key)),
                        gap.time_ms.saturating_sub(a.time_ms),
                        claim.delete_retention_ms,
                        gap.process,
                        gap.lo,
                        gap.hi,
                    ),
                    vec![a.event, gap.event],
                ));
            }
            _ => {}
        }
    }
}

fn kept_superseded(tp: Tp, facts: &Facts, out: &mut Vec<Anomaly>) {
    let Some(first_marker) = facts.compacted.iter().map(|(_, e)| *e).min() else { return };
    // offset -> (key, the later offset superseding it, events)
    type Found<'k> = BTreeMap<i64, (Option<&'k [u8]>, i64, Vec<u64>)>;
    let mut found: Found = BTreeMap::new();
    for &(event, r) in facts.reads.iter().filter(|(ev, _)| *ev > first_marker) {
        // The highest cleaned point any marker before this read claimed.
        let Some(below) = facts.compacted.iter().filter(|(_, m)| *m < event).map(|(b, _)| *b).max() else {
            continue;
        };
        let key = r.record.key.as_deref();
        if key.is_none() || r.offset >= below {
            continue;
        }
        let later = facts
            .acked
            .range(r.offset + 1..below)
            .find(|(_, a)| a.key == key)
            .map(|(o, _)| *o)
            .or_else(|| facts.read.range(r.offset + 1..below).find(|(_, (k, _))| *k == key).map(|(o, _)| *o));
        if let Some(later) = later {
            let marker = facts.compacted.iter().filter(|(_, m)| *m < event).map(|(_, m)| *m).max().unwrap_or(event);
            let entry = found.entry(r.offset).or_insert_with(|| (key, later, vec![marker]));
            entry.2.push(event);
        }
    }
    for (offset, (key, later, events)) in found {
        out.push(anomaly(
            AnomalyKind::CompactionKeptSuperseded,
            tp,
            format!(
                "key {}: offset {offset} is read after the partition was read compacted, though the \
                 key's record at offset {later} supersedes it",
                show_bytes(key),
            ),
            events,
        ));
    }
}

fn retention(tp: Tp, facts: &Facts, claim: &TopicClaim, out: &mut Vec<Anomaly>) {
    let mut reported: HashSet<i64> = HashSet::new();
    for &(start, at_ms, event) in &facts.log_starts {
        let mut bad: Vec<String> = Vec::new();
        let mut events = vec![event];
        for (&offset, a) in facts.acked.range(..start) {
            if reported.contains(&offset) {
                continue;
            }
            if facts.deletes.iter().any(|&(upto, ev)| ev < event && offset < upto) {
                continue;
            }
            let why = if !claim.delete {
                "cleanup.policy has no delete and no DeleteRecords covered it".to_string()
            } else if claim.retention_bytes >= 0 {
                // retention.bytes deletes whatever the timestamps: not judged here.
                continue;
            } else if claim.retention_ms < 0 {
                "retention.ms=-1 and no DeleteRecords covered it".to_string()
            } else if let Some(ts) = a.timestamp {
                let age = at_ms - ts;
                if age + CLOCK_SLACK_MS >= claim.retention_ms {
                    continue;
                }
                format!("stamped {ts}, {age} ms old, younger than retention.ms={}", claim.retention_ms)
            } else {
                // No CreateTime recorded: nothing to judge by.
                continue;
            };
            reported.insert(offset);
            events.push(a.event);
            bad.push(format!("offset {offset} ({}: {why})", show(a.value)));
        }
        if bad.is_empty() {
            continue;
        }
        let n = bad.len();
        let more = if n > LIST_LIMIT { format!(", … ({n} in all)") } else { String::new() };
        bad.truncate(LIST_LIMIT);
        out.push(anomaly(
            AnomalyKind::RetentionDeletedIneligible,
            tp,
            format!(
                "the log start offset was {start} at {at_ms}, past records no rule allowed deleting: {}{more}",
                bad.join("; ")
            ),
            events,
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Reads of a compacted partition, judged for the Then steps that wait for compaction

/// What the history says each key's records are: acknowledged sends, by offset.
pub fn acknowledged(events: &[Event], real: &str, partition: i32) -> BTreeMap<i64, Record> {
    events
        .iter()
        .filter_map(|e| match (&e.op, &e.outcome) {
            (Op::Send { topic, partition: p, record, offset: Some(o), .. }, Outcome::Ok)
                if topic == real && *p == partition =>
            {
                Some((*o, record.clone()))
            }
            _ => None,
        })
        .collect()
}

/// Of each key's acknowledged records below `below`, the offset of the last one.
fn last_below(acked: &BTreeMap<i64, Record>, below: i64) -> HashMap<Vec<u8>, i64> {
    let mut last = HashMap::new();
    for (o, r) in acked.range(..below) {
        if let Some(k) = &r.key {
            last.insert(k.clone(), *o);
        }
    }
    last
}

/// What keeps a log read from being "compacted below its last batch", given the acknowledged
/// records: each problem names a record. `reads` are the read's records; `below` is `C`, the
/// base offset of the last batch the read returned.
///
/// The log is **compacted below `C`** when, for every key, no record of it below `C` is left
/// but the last one the history acknowledged below `C` (which may itself be gone if it is a
/// tombstone whose `delete.retention.ms` has passed). Kafka's cleaner cleans from the log start
/// up to the first uncleanable offset (the active segment's base, the high watermark, the first
/// segment younger than `min.compaction.lag.ms`), keeping of each key only its last record
/// there; with one batch per segment and `min.compaction.lag.ms=0` that point is `C` once a
/// pass has run. Records at or above `C` are not judged. A record read at an offset other than
/// the one its value was acknowledged at is a problem too: compaction keeps original offsets.
/// Returns (superseded records still there, records moved to other offsets).
pub fn compaction_problems(reads: &[Read], below: i64, acked: &BTreeMap<i64, Record>) -> (Vec<String>, Vec<String>) {
    let last = last_below(acked, below);
    let by_value: HashMap<&str, i64> = acked.iter().filter_map(|(o, r)| r.value.as_deref().map(|v| (v, *o))).collect();
    let mut superseded = Vec::new();
    let mut moved = Vec::new();
    for r in reads {
        if let Some(v) = r.record.value.as_deref()
            && let Some(&at) = by_value.get(v)
            && at != r.offset
        {
            moved.push(format!("{v:?} acknowledged at offset {at} is read at offset {}", r.offset));
        }
        if r.offset >= below {
            continue;
        }
        let Some(k) = &r.record.key else { continue };
        if let Some(&l) = last.get(k)
            && l != r.offset
        {
            superseded.push(format!(
                "offset {} ({}={}) is superseded by offset {l}",
                r.offset,
                String::from_utf8_lossy(k),
                r.record.value.as_deref().unwrap_or("null")
            ));
        }
    }
    (superseded, moved)
}

/// Each replica's latest record of every key: key -> (offset, value). Tombstones are left out:
/// each replica removes them on its own schedule once delete.retention.ms has passed.
pub fn latest_values(reads: &[Read]) -> BTreeMap<Vec<u8>, (i64, Option<String>)> {
    let mut out = BTreeMap::new();
    for r in reads {
        if let Some(k) = &r.record.key {
            out.insert(k.clone(), (r.offset, r.record.value.clone()));
        }
    }
    out.retain(|_, (_, v)| v.is_some());
    out
}

/// A read as `offset:key=value`.
pub fn show_read(r: &Read) -> String {
    let k = r.record.key.as_deref().map_or("null".into(), |k| String::from_utf8_lossy(k).into_owned());
    format!("{}:{k}={}", r.offset, r.record.value.as_deref().unwrap_or("null"))
}

/// A consumer's `reads` are exactly, in offset order: the last acknowledged record of each key
/// below the point the partition was last read compacted below ([`Op::Compacted`]), tombstones
/// included, then every acknowledged record from that point on, each at the offset it was
/// acknowledged at, with its key and value.
pub fn latest_of_each_key(events: &[Event], reads: &[Read]) -> Result<(), Finding> {
    let real = match reads.first() {
        Some(r) => (r.topic.clone(), r.partition),
        None => return Err(Finding::Violation("the consumer read nothing".into())),
    };
    let below = events
        .iter()
        .filter_map(|e| match &e.op {
            Op::Compacted { topic, partition, below } if (topic.clone(), *partition) == real => Some(*below),
            _ => None,
        })
        .next_back()
        .ok_or_else(|| {
            Finding::NothingToJudge("no step waited for the partition to be compacted before this step".into())
        })?;
    let acked = acknowledged(events, &real.0, real.1);
    let last = last_below(&acked, below);
    let expected: Vec<(i64, Record)> = acked
        .iter()
        .filter(|(o, r)| **o >= below || r.key.as_ref().is_some_and(|k| last.get(k) == Some(o)))
        .map(|(o, r)| (*o, r.clone()))
        .collect();
    let got: Vec<(i64, Record)> = reads.iter().map(|r| (r.offset, r.record.clone())).collect();
    let same = got.len() == expected.len()
        && got.iter().zip(&expected).all(|(a, b)| a.0 == b.0 && a.1.key == b.1.key && a.1.value == b.1.value);
    if !same {
        let show = |v: &[(i64, Record)]| {
            v.iter()
                .map(|(o, r)| show_read(&Read { topic: String::new(), partition: 0, offset: *o, record: r.clone() }))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(Finding::Violation(format!(
            "the consumer read [{}]; the latest value of each key below offset {below}, and everything from there \
             on, is [{}]",
            show(&got),
            show(&expected)
        )));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::checker::{AnomalyKind::*, check_with};
    use crate::history::Record;

    /// A compact script of keyed events in topic `t`, partition 0, on a clock the script
    /// moves (`h at <ms>`):
    ///
    /// - `p1 send k1=a @3 ts=100` an ok send of key k1, value a (`~`: a tombstone) at offset 3,
    ///   stamped 100; `unknown` instead of `@3` for a lost answer
    /// - `c1 seek` / `c1 seek 3` positioned at the beginning / at offset 3
    /// - `c1 poll 3=k1:a 4=k2:~` one poll of those reads
    /// - `h start 5 at=1000` the log start offset observed at Unix ms 1000
    /// - `h delete 4` an ok DeleteRecords answered with low watermark 4
    /// - `h compacted 6` the partition read compacted below offset 6
    fn kh(script: &str) -> Vec<Event> {
        let mut events = Vec::new();
        let mut now = 0;
        let rec = |kv: &str| {
            let (k, v) = kv.split_once(['=', ':']).unwrap();
            Record { key: Some(k.as_bytes().to_vec()), value: (v != "~").then(|| v.to_owned()), headers: vec![] }
        };
        for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let w: Vec<&str> = line.split_whitespace().collect();
            let arg = |prefix: &str| w.iter().find_map(|a| a.strip_prefix(prefix)).map(|v| v.parse::<i64>().unwrap());
            let (op, outcome) = match w[1] {
                "at" => {
                    now = w[2].parse().unwrap();
                    continue;
                }
                "send" => {
                    let unknown = w.contains(&"unknown");
                    let op = Op::Send {
                        topic: "t".into(),
                        partition: 0,
                        record: rec(w[2]),
                        offset: arg("@"),
                        timestamp: arg("ts="),
                    };
                    let outcome = if unknown { Outcome::Unknown { error: "timed out".into() } } else { Outcome::Ok };
                    (op, outcome)
                }
                "seek" => (
                    Op::Seek { topic: "t".into(), partition: 0, offset: w.get(2).map(|o| o.parse().unwrap()) },
                    Outcome::Ok,
                ),
                "poll" => {
                    let reads = w[2..]
                        .iter()
                        .map(|r| {
                            let (o, kv) = r.split_once('=').unwrap();
                            Read { topic: "t".into(), partition: 0, offset: o.parse().unwrap(), record: rec(kv) }
                        })
                        .collect();
                    (Op::Poll { reads }, Outcome::Ok)
                }
                "start" => (
                    Op::LogStart {
                        topic: "t".into(),
                        partition: 0,
                        offset: w[2].parse().unwrap(),
                        at_ms: arg("at=").unwrap(),
                    },
                    Outcome::Ok,
                ),
                "delete" => {
                    let o = w[2].parse().unwrap();
                    (
                        Op::DeleteRecords { topic: "t".into(), partition: 0, offset: o, low_watermark: Some(o) },
                        Outcome::Ok,
                    )
                }
                "compacted" => {
                    (Op::Compacted { topic: "t".into(), partition: 0, below: w[2].parse().unwrap() }, Outcome::Ok)
                }
                other => panic!("unknown verb {other}"),
            };
            events.push(Event { index: events.len() as u64, process: w[0].into(), time_ms: now, op, outcome });
        }
        events
    }

    fn claims(configs: &[(&str, &str)]) -> LogClaims {
        let configs = configs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        LogClaims { topics: HashMap::from([("t".to_string(), TopicClaim::from_configs(&configs).unwrap())]) }
    }

    const COMPACT: &[(&str, &str)] = &[("cleanup.policy", "compact"), ("delete.retention.ms", "1000")];
    const HOUR: &[(&str, &str)] = &[("retention.ms", "3600000")];

    /// The log kinds found: the Jepsen kinds are not this module's business.
    fn found(script: &str, configs: &[(&str, &str)]) -> Vec<AnomalyKind> {
        let report = check_with(&kh(script), &claims(configs));
        let mine = [RetentionDeletedIneligible, CompactionLostLatest, CompactionKeptSuperseded, TombstoneRemovedEarly];
        report.kinds().into_iter().filter(|k| mine.contains(k)).collect()
    }

    #[test]
    fn claims_take_kafkas_defaults() {
        let c = TopicClaim::from_configs(&BTreeMap::new()).unwrap();
        assert_eq!(
            c,
            TopicClaim {
                compact: false,
                delete: true,
                retention_ms: 604_800_000,
                retention_bytes: -1,
                delete_retention_ms: 86_400_000
            }
        );
        let both = claims(&[("cleanup.policy", "compact,delete")]).topics["t"].clone();
        assert!(both.compact && both.delete);
        assert!(TopicClaim::from_configs(&BTreeMap::from([("retention.ms".into(), "soon".into())])).is_err());
    }

    #[test]
    fn compaction_that_keeps_the_latest_value_of_each_key_is_clean() {
        let script = "p1 send k1=a @0
                      p1 send k2=b @1
                      p1 send k1=c @2
                      p1 send k3=d @3
                      h compacted 3
                      c1 seek
                      c1 poll 1=k2:b 2=k1:c 3=k3:d";
        assert_eq!(found(script, COMPACT), vec![]);
    }

    #[test]
    fn a_latest_value_read_past_is_lost() {
        let script = "p1 send k1=a @0
                      p1 send k2=b @1
                      p1 send k1=c @2
                      p1 send k3=d @3
                      c1 seek
                      c1 poll 0=k1:a 1=k2:b 3=k3:d";
        assert_eq!(found(script, COMPACT), vec![CompactionLostLatest]);
    }

    #[test]
    fn a_latest_value_not_read_past_is_not_lost() {
        // The consumer started above it, or stopped before it.
        let started_later = "p1 send k1=a @0
                             p1 send k2=b @1
                             c1 seek 1
                             c1 poll 1=k2:b";
        let stopped_before = "p1 send k1=a @0
                              p1 send k2=b @1
                              c1 seek
                              c1 poll 0=k1:a";
        assert_eq!(found(started_later, COMPACT), vec![]);
        assert_eq!(found(stopped_before, COMPACT), vec![]);
    }

    #[test]
    fn a_key_with_a_lost_answer_is_not_judged() {
        let script = "p1 send k1=a @0
                      p1 send k1=b unknown
                      p1 send k2=c @2
                      c1 seek
                      c1 poll 2=k2:c";
        assert_eq!(found(script, COMPACT), vec![]);
    }

    #[test]
    fn the_beginning_is_unknown_on_a_topic_retention_cleans() {
        let script = "p1 send k1=a @0
                      p1 send k2=b @1
                      c1 seek
                      c1 poll 1=k2:b";
        assert_eq!(found(script, &[("cleanup.policy", "compact,delete")]), vec![]);
    }

    #[test]
    fn a_superseded_record_read_after_compaction_is_kept_superseded() {
        let script = "p1 send k1=a @0
                      p1 send k1=c @2
                      p1 send k3=d @3
                      h compacted 3
                      c1 seek
                      c1 poll 0=k1:a 2=k1:c 3=k3:d";
        assert_eq!(found(script, COMPACT), vec![CompactionKeptSuperseded]);
        // Before the partition was read compacted, superseded records are expected.
        let before = "p1 send k1=a @0
                      p1 send k1=c @2
                      p1 send k3=d @3
                      c1 seek
                      c1 poll 0=k1:a 2=k1:c 3=k3:d
                      h compacted 3";
        assert_eq!(found(before, COMPACT), vec![]);
        // At or above the cleaned point nothing is superseded yet.
        let above = "p1 send k3=d @3
                     p1 send k3=e @4
                     h compacted 3
                     c1 seek 3
                     c1 poll 3=k3:d 4=k3:e";
        assert_eq!(found(above, COMPACT), vec![]);
    }

    #[test]
    fn a_tombstone_is_kept_for_delete_retention_ms() {
        let early = "h at 0
                     p1 send k1=a @0
                     p1 send k1=~ @1
                     p1 send k2=b @2
                     h at 500
                     c1 seek
                     c1 poll 2=k2:b";
        assert_eq!(found(early, COMPACT), vec![TombstoneRemovedEarly]);
        let late = early.replace("h at 500", "h at 1500");
        assert_eq!(found(&late, COMPACT), vec![]);
        let kept = early.replace("c1 poll 2=k2:b", "c1 poll 1=k1:~ 2=k2:b");
        assert_eq!(found(&kept, COMPACT), vec![]);
    }

    #[test]
    fn retention_deletes_only_records_older_than_retention_ms() {
        let old = 1_000_000;
        let now = old + 2 * 3_600_000;
        let script = format!(
            "p1 send k=a @0 ts={old}
             p1 send k=b @1 ts={old}
             p1 send k=c @2 ts={now}
             h start 2 at={now}"
        );
        assert_eq!(found(&script, HOUR), vec![]);
        let too_far = script.replace("h start 2", "h start 3");
        assert_eq!(found(&too_far, HOUR), vec![RetentionDeletedIneligible]);
        // Records without a recorded CreateTime are not judged by time.
        let unstamped = too_far.replace(&format!("ts={now}"), "");
        assert_eq!(found(&unstamped, HOUR), vec![]);
    }

    #[test]
    fn delete_records_allows_what_it_covers() {
        let script = "p1 send k=a @0 ts=1
                      p1 send k=b @1 ts=1
                      h delete 2
                      h start 2 at=2";
        assert_eq!(found(script, &[("retention.ms", "-1")]), vec![]);
        let without = "p1 send k=a @0 ts=1
                       p1 send k=b @1 ts=1
                       h start 2 at=2";
        assert_eq!(found(without, &[("retention.ms", "-1")]), vec![RetentionDeletedIneligible]);
        assert_eq!(found(without, COMPACT), vec![RetentionDeletedIneligible]);
        // retention.bytes may delete records of any age.
        assert_eq!(found(without, &[("retention.ms", "-1"), ("retention.bytes", "10")]), vec![]);
    }

    #[test]
    fn topics_without_claims_are_judged_only_by_their_compaction_markers() {
        let script = "p1 send k1=a @0 ts=1
                      p1 send k1=c @2
                      h start 3 at=2
                      h compacted 3
                      c1 seek
                      c1 poll 0=k1:a";
        let report = check_with(&kh(script), &LogClaims::default());
        assert_eq!(
            report
                .kinds()
                .into_iter()
                .filter(|k| *k == CompactionKeptSuperseded || *k == RetentionDeletedIneligible)
                .collect::<Vec<_>>(),
            vec![CompactionKeptSuperseded]
        );
    }

    fn rec(k: &str, v: Option<&str>) -> Record {
        Record { key: Some(k.as_bytes().to_vec()), value: v.map(str::to_owned), headers: vec![] }
    }

    fn acked(list: &[(i64, &str, Option<&str>)]) -> BTreeMap<i64, Record> {
        list.iter().map(|(o, k, v)| (*o, rec(k, *v))).collect()
    }

    /// The reads of a log of one-record batches at these offsets.
    fn reads(list: &[(i64, &str, Option<&str>)]) -> Vec<Read> {
        list.iter().map(|(o, k, v)| Read { topic: "t".into(), partition: 0, offset: *o, record: rec(k, *v) }).collect()
    }

    /// [`compaction_problems`] of a log of one-record batches: the last batch is its last record.
    fn problems(list: &[(i64, &str, Option<&str>)], sent: &[(i64, &str, Option<&str>)]) -> (Vec<String>, Vec<String>) {
        let below = list.last().map_or(0, |l| l.0);
        compaction_problems(&reads(list), below, &acked(sent))
    }

    const SENT: &[(i64, &str, Option<&str>)] =
        &[(0, "k1", Some("a1")), (1, "k2", Some("b1")), (2, "k1", Some("a2")), (3, "k1", None), (4, "k3", Some("c1"))];

    #[test]
    fn an_uncleaned_log_has_superseded_records() {
        let (superseded, moved) = problems(SENT, SENT);
        assert_eq!(superseded.len(), 2, "{superseded:?}");
        assert!(moved.is_empty());
    }

    #[test]
    fn a_log_with_only_the_last_record_of_each_key_below_its_last_batch_is_compacted() {
        let cleaned = &[(1, "k2", Some("b1")), (3, "k1", None), (4, "k3", Some("c1"))];
        assert_eq!(problems(cleaned, SENT), (vec![], vec![]));
        // The tombstone may be gone once delete.retention.ms has passed.
        let no_tombstone = &[(1, "k2", Some("b1")), (4, "k3", Some("c1"))];
        assert_eq!(problems(no_tombstone, SENT), (vec![], vec![]));
    }

    #[test]
    fn the_last_batch_is_not_judged() {
        let sent = &[(0, "k1", Some("a1")), (1, "k1", Some("a2"))];
        assert_eq!(problems(sent, sent), (vec![], vec![]));
    }

    #[test]
    fn keeping_the_oldest_value_is_not_compacted() {
        let oldest = &[(0, "k1", Some("a1")), (1, "k2", Some("b1")), (4, "k3", Some("c1"))];
        let (superseded, _) = problems(oldest, SENT);
        assert_eq!(superseded, vec!["offset 0 (k1=a1) is superseded by offset 3".to_string()]);
    }

    #[test]
    fn renumbered_records_are_moved() {
        let renumbered = &[(0, "k2", Some("b1")), (1, "k1", None), (2, "k3", Some("c1"))];
        let (_, moved) = problems(renumbered, SENT);
        assert_eq!(moved.len(), 2, "{moved:?}");
    }

    #[test]
    fn latest_values_leave_out_tombstones() {
        let got = latest_values(&reads(SENT));
        assert_eq!(got.keys().map(|k| k.as_slice()).collect::<Vec<_>>(), vec![b"k2".as_slice(), b"k3"]);
    }
}
