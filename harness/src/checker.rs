//! Judges a recorded [`History`](crate::history::History) after the run.
//!
//! This module owns the anomaly vocabulary ([`AnomalyKind`]) and the one pure function that
//! finds anomalies in a history ([`check`]). The names and meanings are Jepsen's, from its Kafka
//! workload (`jepsen.tests.kafka` in jepsen-io/jepsen), so a report here reads like a published
//! analysis; `altered-record` is this suite's addition. The checker reports everything it
//! finds: which anomalies a scenario forbids depends on the guarantee it claims (duplicates are
//! allowed without idempotence), and that choice belongs to the step layer, which passes its
//! list to [`Report::render`].
//!
//! Every check is per topic-partition. A record's value names one logical write (the harness
//! writes unique values), so value-based checks skip null values (tombstones), which name
//! nothing; a null still occupies its offset for the offset-based checks. Only `ok` polls
//! contribute reads, and only `ok` sends contribute acknowledged offsets: a failed or unknown
//! send that turns up in a read is allowed, one that never does is not lost.
//!
//! Retention, DeleteRecords and compaction remove records on purpose; [`check_with`] also runs
//! the checks that judge those removals against what the scenario declared about each topic
//! (`retention-deleted-ineligible`, `compaction-lost-latest`, `compaction-kept-superseded`,
//! `tombstone-removed-early`; see [`logs`]). A scenario on such a topic forbids those instead of
//! `lost-write` and `unseen`, which count a record retention deleted as lost.
//!
//! Then steps that name one guarantee at one point of a run call the narrower checks in
//! [`sends`], [`logs`] and [`groups`]: each judges from the history (and plain values the step
//! passes) and returns what it found ([`Finding`]); the step only acts, records and reports.
//!
//! Unlike Jepsen, which first collapses offsets into a dense "version order", the poll checks
//! compare raw offsets and treat an offset gap as a skip only when some offset inside it is
//! known to hold a record. The effect is the same: gaps left by compaction, transaction markers
//! or aborted batches are not skips.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::{self, Write as _};

use serde::{Deserialize, Serialize};

use crate::history::{Event, Header, Op, Outcome, Record};

pub mod groups;
pub mod logs;
pub mod sends;
pub mod txn;
pub use logs::{LogClaims, TopicClaim};

/// What a check a Then step runs found wrong, and whose it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// The broker broke the guarantee; the message shows the evidence.
    Violation(String),
    /// The history holds nothing the check can judge: the scenario did not do what it needs.
    NothingToJudge(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnomalyKind {
    LostWrite,
    Unseen,
    Duplicate,
    InconsistentOffsets,
    NonmonotonicSend,
    NonmonotonicPoll,
    IntNonmonotonicPoll,
    PollSkip,
    IntPollSkip,
    AlteredRecord,
    RetentionDeletedIneligible,
    CompactionLostLatest,
    CompactionKeptSuperseded,
    TombstoneRemovedEarly,
}

impl AnomalyKind {
    pub const ALL: &[AnomalyKind] = &[
        AnomalyKind::LostWrite,
        AnomalyKind::Unseen,
        AnomalyKind::Duplicate,
        AnomalyKind::InconsistentOffsets,
        AnomalyKind::NonmonotonicSend,
        AnomalyKind::NonmonotonicPoll,
        AnomalyKind::IntNonmonotonicPoll,
        AnomalyKind::PollSkip,
        AnomalyKind::IntPollSkip,
        AnomalyKind::AlteredRecord,
        AnomalyKind::RetentionDeletedIneligible,
        AnomalyKind::CompactionLostLatest,
        AnomalyKind::CompactionKeptSuperseded,
        AnomalyKind::TombstoneRemovedEarly,
    ];

    /// Jepsen's name for the anomaly.
    pub fn name(self) -> &'static str {
        match self {
            AnomalyKind::LostWrite => "lost-write",
            AnomalyKind::Unseen => "unseen",
            AnomalyKind::Duplicate => "duplicate",
            AnomalyKind::InconsistentOffsets => "inconsistent-offsets",
            AnomalyKind::NonmonotonicSend => "nonmonotonic-send",
            AnomalyKind::NonmonotonicPoll => "nonmonotonic-poll",
            AnomalyKind::IntNonmonotonicPoll => "int-nonmonotonic-poll",
            AnomalyKind::PollSkip => "poll-skip",
            AnomalyKind::IntPollSkip => "int-poll-skip",
            AnomalyKind::AlteredRecord => "altered-record",
            AnomalyKind::RetentionDeletedIneligible => "retention-deleted-ineligible",
            AnomalyKind::CompactionLostLatest => "compaction-lost-latest",
            AnomalyKind::CompactionKeptSuperseded => "compaction-kept-superseded",
            AnomalyKind::TombstoneRemovedEarly => "tombstone-removed-early",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// One sentence, in the words of Jepsen's Kafka workload (`jepsen.tests.kafka`), whose
    /// anomaly names `harness/INTERPRETING.md` lists.
    pub fn meaning(self) -> &'static str {
        match self {
            AnomalyKind::LostWrite => {
                "An acknowledged write, at an offset below the highest offset some consumer read, \
                 that no consumer ever read."
            }
            AnomalyKind::Unseen => "An acknowledged write not (yet) read by any consumer at the end of the run.",
            AnomalyKind::Duplicate => "One written value appears at more than one offset.",
            AnomalyKind::InconsistentOffsets => "One offset holds different values in different reads.",
            AnomalyKind::NonmonotonicSend => "A producer's successive offsets in a partition go backwards.",
            AnomalyKind::NonmonotonicPoll => {
                "A consumer's successive offsets in a partition go backwards from one poll to the next."
            }
            AnomalyKind::IntNonmonotonicPoll => {
                "A consumer's successive offsets in a partition go backwards within a single poll."
            }
            AnomalyKind::PollSkip => "A consumer jumps over offsets it should have read, from one poll to the next.",
            AnomalyKind::IntPollSkip => "A consumer jumps over offsets it should have read, within a single poll.",
            AnomalyKind::AlteredRecord => "A record is read with a key or headers other than those it was sent with.",
            AnomalyKind::RetentionDeletedIneligible => {
                "The log start offset passed a record that neither retention.ms, retention.bytes nor \
                 DeleteRecords allowed to be deleted."
            }
            AnomalyKind::CompactionLostLatest => {
                "On a compacted topic, a key's latest acknowledged value is missing from reads that \
                 covered its offset."
            }
            AnomalyKind::CompactionKeptSuperseded => {
                "After the partition was read compacted below an offset, a later read below it returns a \
                 record whose key has a later record below it."
            }
            AnomalyKind::TombstoneRemovedEarly => {
                "A key's latest record, a tombstone, is missing from reads that covered its offset before \
                 delete.retention.ms had passed since it was acknowledged."
            }
        }
    }
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    pub topic: String,
    pub partition: i32,
    /// Human-readable: which values, which offsets, which process.
    pub description: String,
    /// History indexes ([`Event::index`]) of the events involved, ascending.
    pub events: Vec<u64>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// Ordered by kind, then topic-partition, then first event.
    pub anomalies: Vec<Anomaly>,
    pub stats: Stats,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Stats {
    pub sends_ok: usize,
    pub sends_failed: usize,
    pub sends_unknown: usize,
    /// Records returned by `ok` polls, counting every re-read.
    pub reads: usize,
    /// Distinct non-null values among those reads, per topic-partition.
    pub distinct_values_read: usize,
}

/// How many examples of each kind [`Report::render`] shows.
const RENDER_EXAMPLES: usize = 10;
/// How many offsets or events one description lists before eliding the rest.
const LIST_LIMIT: usize = 5;

impl Report {
    pub fn of_kind(&self, k: AnomalyKind) -> impl Iterator<Item = &Anomaly> {
        self.anomalies.iter().filter(move |a| a.kind == k)
    }

    pub fn kinds(&self) -> BTreeSet<AnomalyKind> {
        self.anomalies.iter().map(|a| a.kind).collect()
    }

    /// The anomalies among `forbidden`, rendered for a failing scenario: one line per anomaly
    /// kind with a count, then up to 10 examples each with the records/offsets involved.
    /// Empty when none of `forbidden` occurred.
    pub fn render(&self, forbidden: &[AnomalyKind]) -> String {
        let forbidden: BTreeSet<AnomalyKind> = forbidden.iter().copied().collect();
        let found: Vec<(AnomalyKind, Vec<&Anomaly>)> = forbidden
            .iter()
            .map(|&k| (k, self.of_kind(k).collect::<Vec<_>>()))
            .filter(|(_, list)| !list.is_empty())
            .collect();
        if found.is_empty() {
            return String::new();
        }
        let mut out = String::new();
        for (kind, list) in &found {
            let _ = writeln!(out, "{kind}: {} — {}", list.len(), kind.meaning());
        }
        for (kind, list) in &found {
            let _ = writeln!(out, "\n{kind} ({} of {}):", list.len().min(RENDER_EXAMPLES), list.len());
            for a in list.iter().take(RENDER_EXAMPLES) {
                let _ =
                    writeln!(out, "  - {}/{}: {} [{}]", a.topic, a.partition, a.description, list_events(&a.events));
            }
        }
        let s = &self.stats;
        let _ = writeln!(
            out,
            "\nsends: {} ok, {} failed, {} unknown; reads: {} ({} distinct values)",
            s.sends_ok, s.sends_failed, s.sends_unknown, s.reads, s.distinct_values_read
        );
        out
    }
}

/// A topic-partition, borrowed from the history.
type Tp<'a> = (&'a str, i32);

/// One distinct record value seen at one offset, and who saw it there.
#[derive(Default)]
struct Slot {
    acked_by: Vec<u64>,
    read_by: Vec<u64>,
}

/// What the history says about one partition.
#[derive(Default)]
struct Partition<'a> {
    /// offset -> the distinct values seen at that offset (normally exactly one). Its keys are
    /// the offsets known to hold a record, which is what tells a skip from a compaction gap.
    log: BTreeMap<i64, Vec<(Option<&'a str>, Slot)>>,
    values: HashMap<&'a str, Value<'a>>,
    /// The highest offset any read saw, and the first event that read it.
    max_read: Option<(i64, u64)>,
}

/// What the history says about one written value in one partition.
#[derive(Default)]
struct Value<'a> {
    /// Every send of the value, whatever its outcome: a failed send may still have been
    /// stored, and any of them may be the one a read returns.
    sent: Vec<(&'a Record, u64)>,
    /// `ok` sends: (acknowledged offset, event).
    acked: Vec<(Option<i64>, u64)>,
    /// offset -> events that put the value there (acknowledging sends and reads).
    offsets: BTreeMap<i64, Vec<u64>>,
    read: bool,
}

impl<'a> Partition<'a> {
    fn slot(&mut self, offset: i64, value: Option<&'a str>) -> &mut Slot {
        let slots = self.log.entry(offset).or_default();
        let i = match slots.iter().position(|(v, _)| *v == value) {
            Some(i) => i,
            None => {
                slots.push((value, Slot::default()));
                slots.len() - 1
            }
        };
        &mut slots[i].1
    }

    /// The value first seen at `offset`, for descriptions.
    fn value_at(&self, offset: i64) -> Option<Option<&'a str>> {
        self.log.get(&offset).and_then(|slots| slots.first()).map(|(v, _)| *v)
    }
}

/// Finds every anomaly in `events`. Events are taken in index order, whatever order the slice
/// holds them in. Runs in O(n log n) in the number of events and reads. The retention and
/// compaction checks that need a topic's claims run only for the topics [`check_with`] is given.
pub fn check(events: &[Event]) -> Report {
    check_with(events, &LogClaims::default())
}

/// [`check`], with the retention and compaction checks judging the topics `claims` declares.
pub fn check_with(events: &[Event], claims: &LogClaims) -> Report {
    let mut order: Vec<&Event> = events.iter().collect();
    order.sort_by_key(|e| e.index);

    let mut stats = Stats::default();
    let mut parts: HashMap<Tp, Partition> = HashMap::new();

    // Pass 1: everything known about each partition, regardless of who learned it when.
    for e in &order {
        match &e.op {
            Op::Send { topic, partition, record, offset, .. } => {
                let part = parts.entry((topic.as_str(), *partition)).or_default();
                let value = record.value.as_deref();
                match e.outcome {
                    Outcome::Ok => stats.sends_ok += 1,
                    Outcome::Fail { .. } => stats.sends_failed += 1,
                    Outcome::Unknown { .. } => stats.sends_unknown += 1,
                }
                let acked_offset = if e.outcome.is_ok() { *offset } else { None };
                if let Some(o) = acked_offset {
                    part.slot(o, value).acked_by.push(e.index);
                }
                if let Some(v) = value {
                    let info = part.values.entry(v).or_default();
                    info.sent.push((record, e.index));
                    if e.outcome.is_ok() {
                        info.acked.push((acked_offset, e.index));
                        if let Some(o) = acked_offset {
                            info.offsets.entry(o).or_default().push(e.index);
                        }
                    }
                }
            }
            Op::Poll { reads } if e.outcome.is_ok() => {
                for r in reads {
                    stats.reads += 1;
                    let part = parts.entry((r.topic.as_str(), r.partition)).or_default();
                    let value = r.record.value.as_deref();
                    push_once(&mut part.slot(r.offset, value).read_by, e.index);
                    if part.max_read.is_none_or(|(max, _)| r.offset > max) {
                        part.max_read = Some((r.offset, e.index));
                    }
                    if let Some(v) = value {
                        let info = part.values.entry(v).or_default();
                        if !info.read {
                            info.read = true;
                            stats.distinct_values_read += 1;
                        }
                        push_once(info.offsets.entry(r.offset).or_default(), e.index);
                    }
                }
            }
            Op::Poll { .. } | Op::Seek { .. } => {}
            Op::LogStart { .. } | Op::DeleteRecords { .. } | Op::Compacted { .. } | Op::EndTxn { .. } => {}
        }
    }

    let mut anomalies = Vec::new();
    per_process(&order, &parts, &mut anomalies);
    for (&(topic, partition), part) in &parts {
        per_partition(topic, partition, part, &mut anomalies);
    }
    logs::check(&order, claims, &mut anomalies);
    for a in &mut anomalies {
        a.events.sort_unstable();
        a.events.dedup();
    }
    anomalies.sort_by(|a, b| {
        (a.kind, &a.topic, a.partition, a.events.first(), &a.description).cmp(&(
            b.kind,
            &b.topic,
            b.partition,
            b.events.first(),
            &b.description,
        ))
    });
    Report { anomalies, stats }
}

/// A consumer's most recent read in one partition.
struct LastRead<'a> {
    offset: i64,
    value: Option<&'a str>,
    event: u64,
}

/// Pass 2: the checks that follow one process through time: send and poll monotonicity,
/// skips, and (because they are reported per read) altered records.
fn per_process<'a>(order: &[&'a Event], parts: &HashMap<Tp<'a>, Partition<'a>>, out: &mut Vec<Anomaly>) {
    let mut last_send: HashMap<(&str, Tp), (i64, Option<&str>, u64)> = HashMap::new();
    let mut last_read: HashMap<(&str, Tp), LastRead> = HashMap::new();
    // Altered reads grouped per written value, so one bad record read by many consumers is one
    // anomaly: (tp, value) -> (the first altered record, its offset, events).
    let mut altered: HashMap<(Tp, &str), (&Record, i64, Vec<u64>)> = HashMap::new();

    for e in order {
        let process = e.process.as_str();
        match &e.op {
            Op::Send { topic, partition, record, offset: Some(offset), .. } if e.outcome.is_ok() => {
                let tp = (topic.as_str(), *partition);
                let value = record.value.as_deref();
                if let Some((prev, prev_value, prev_event)) = last_send.insert((process, tp), (*offset, value, e.index))
                    && *offset <= prev
                {
                    out.push(anomaly(
                        AnomalyKind::NonmonotonicSend,
                        tp,
                        format!(
                            "process {process} had {} acknowledged at offset {offset} after {} \
                             at offset {prev}",
                            show(value),
                            show(prev_value),
                        ),
                        vec![prev_event, e.index],
                    ));
                }
            }
            Op::Seek { topic, partition, .. } => {
                // A failed seek left the consumer where it was; an unknown one may have moved it.
                if !matches!(e.outcome, Outcome::Fail { .. }) {
                    last_read.remove(&(process, (topic.as_str(), *partition)));
                }
            }
            Op::Poll { reads } if e.outcome.is_ok() => {
                for r in reads {
                    let tp = (r.topic.as_str(), r.partition);
                    let Some(part) = parts.get(&tp) else { continue };
                    let value = r.record.value.as_deref();
                    let here = LastRead { offset: r.offset, value, event: e.index };
                    if let Some(prev) = last_read.insert((process, tp), here) {
                        poll_pair(process, tp, part, &prev, r.offset, value, e.index, out);
                    }
                    if let Some(v) = value
                        && let Some(info) = part.values.get(v)
                        && !info.sent.is_empty()
                        && !info.sent.iter().any(|(sent, _)| same_stored(sent, &r.record))
                    {
                        let entry = altered.entry((tp, v)).or_insert_with(|| {
                            let sends = info.sent.iter().map(|(_, ev)| *ev).collect();
                            (&r.record, r.offset, sends)
                        });
                        entry.2.push(e.index);
                    }
                }
            }
            Op::Send { .. } | Op::Poll { .. } => {}
            Op::LogStart { .. } | Op::DeleteRecords { .. } | Op::Compacted { .. } | Op::EndTxn { .. } => {}
        }
    }

    for ((tp, value), (read, offset, events)) in altered {
        let Some((sent, _)) = parts.get(&tp).and_then(|p| p.values.get(value)).and_then(|i| i.sent.first()) else {
            continue;
        };
        out.push(anomaly(
            AnomalyKind::AlteredRecord,
            tp,
            format!(
                "{} was sent with key {} and headers {} but read at offset {offset} with key {} \
                 and headers {}",
                show(Some(value)),
                show_bytes(sent.key.as_deref()),
                show_headers(&sent.headers),
                show_bytes(read.key.as_deref()),
                show_headers(&read.headers),
            ),
            events,
        ));
    }
}

/// Compares one read with the read before it by the same process in the same partition.
#[allow(clippy::too_many_arguments)]
fn poll_pair(
    process: &str,
    tp: Tp,
    part: &Partition,
    prev: &LastRead,
    offset: i64,
    value: Option<&str>,
    event: u64,
    out: &mut Vec<Anomaly>,
) {
    let same_poll = prev.event == event;
    let (earlier, later) = if same_poll {
        (format!("within one poll, process {process} read"), String::new())
    } else {
        (format!("process {process} read"), " in a later poll".to_owned())
    };
    if offset <= prev.offset {
        let kind = if same_poll { AnomalyKind::IntNonmonotonicPoll } else { AnomalyKind::NonmonotonicPoll };
        out.push(anomaly(
            kind,
            tp,
            format!(
                "{earlier} offset {} ({}) and then{later} offset {offset} ({})",
                prev.offset,
                show(prev.value),
                show(value),
            ),
            vec![prev.event, event],
        ));
        return;
    }
    // Any offset strictly between the two known to hold a record was jumped over.
    let mut skipped = part.log.range(prev.offset + 1..offset).map(|(o, _)| *o).peekable();
    if skipped.peek().is_none() {
        return;
    }
    let kind = if same_poll { AnomalyKind::IntPollSkip } else { AnomalyKind::PollSkip };
    let listed: Vec<String> = skipped
        .by_ref()
        .take(LIST_LIMIT)
        .map(|o| format!("{o} ({})", part.value_at(o).map_or("?".into(), show)))
        .collect();
    let more = if skipped.next().is_some() { ", …" } else { "" };
    out.push(anomaly(
        kind,
        tp,
        format!(
            "{earlier} offset {} ({}) and then{later} offset {offset} ({}), skipping offsets \
             known to hold records: {}{more}",
            prev.offset,
            show(prev.value),
            show(value),
            listed.join(", "),
        ),
        vec![prev.event, event],
    ));
}

/// Pass 3: the checks over everything known about one partition.
fn per_partition(topic: &str, partition: i32, part: &Partition, out: &mut Vec<Anomaly>) {
    let tp = (topic, partition);

    for (&offset, slots) in &part.log {
        if slots.len() < 2 {
            continue;
        }
        let mut events = Vec::new();
        let held: Vec<String> = slots
            .iter()
            .map(|(v, slot)| {
                events.extend(&slot.acked_by);
                events.extend(&slot.read_by);
                let mut who = Vec::new();
                if !slot.acked_by.is_empty() {
                    who.push(format!("acknowledged by {}", list_events(&slot.acked_by)));
                }
                if !slot.read_by.is_empty() {
                    who.push(format!("read by {}", list_events(&slot.read_by)));
                }
                format!("{} ({})", show(*v), who.join("; "))
            })
            .collect();
        out.push(anomaly(
            AnomalyKind::InconsistentOffsets,
            tp,
            format!("offset {offset} holds {} different values: {}", slots.len(), held.join(", ")),
            events,
        ));
    }

    for (&value, info) in &part.values {
        if info.offsets.len() > 1 {
            let at: Vec<String> =
                info.offsets.iter().take(LIST_LIMIT).map(|(o, evs)| format!("{o} ({})", list_events(evs))).collect();
            let more = if info.offsets.len() > LIST_LIMIT { ", …" } else { "" };
            out.push(anomaly(
                AnomalyKind::Duplicate,
                tp,
                format!("{} appears at {} offsets: {}{more}", show(Some(value)), info.offsets.len(), at.join(", ")),
                info.offsets.values().flatten().copied().collect(),
            ));
        }

        if info.read || info.acked.is_empty() {
            continue;
        }
        let acked_events: Vec<u64> = info.acked.iter().map(|(_, ev)| *ev).collect();
        let acked_offsets: BTreeSet<i64> = info.acked.iter().filter_map(|(o, _)| *o).collect();
        let at = if acked_offsets.is_empty() {
            "at an unknown offset".to_owned()
        } else {
            let list: Vec<String> = acked_offsets.iter().map(i64::to_string).collect();
            format!("at offset {}", list.join(", "))
        };
        out.push(anomaly(
            AnomalyKind::Unseen,
            tp,
            format!("{} acknowledged {at} was never read", show(Some(value))),
            acked_events.clone(),
        ));
        // Jepsen's bound: a consumer that read past the write's offset should have read it.
        if let (Some(&lowest), Some((max, max_event))) = (acked_offsets.first(), part.max_read)
            && lowest < max
        {
            let mut events = acked_events;
            events.push(max_event);
            out.push(anomaly(
                AnomalyKind::LostWrite,
                tp,
                format!(
                    "{} acknowledged {at} was never read, though reads reached offset {max} \
                     (event {max_event})",
                    show(Some(value)),
                ),
                events,
            ));
        }
    }
}

/// The broker must store what the client sent: the key and the headers, in order.
fn same_stored(sent: &Record, read: &Record) -> bool {
    sent.key == read.key && sent.headers == read.headers
}

fn anomaly(kind: AnomalyKind, (topic, partition): Tp, description: String, events: Vec<u64>) -> Anomaly {
    Anomaly { kind, topic: topic.to_owned(), partition, description, events }
}

/// Reads of one offset by one poll are one piece of evidence, not several.
fn push_once(events: &mut Vec<u64>, event: u64) {
    if events.last() != Some(&event) {
        events.push(event);
    }
}

fn show(value: Option<&str>) -> String {
    match value {
        Some(v) => format!("{v:?}"),
        None => "null".to_owned(),
    }
}

fn show_bytes(bytes: Option<&[u8]>) -> String {
    match bytes {
        None => "null".to_owned(),
        Some(b) => match std::str::from_utf8(b) {
            Ok(text) => format!("{text:?}"),
            Err(_) => format!("0x{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
        },
    }
}

fn show_headers(headers: &[Header]) -> String {
    let list: Vec<String> = headers.iter().map(|h| format!("{}={}", h.key, show_bytes(h.value.as_deref()))).collect();
    format!("[{}]", list.join(", "))
}

/// "event 4" or "events 1, 4, …": the history indexes to look up in the saved JSONL.
fn list_events(events: &[u64]) -> String {
    let unique: Vec<u64> = {
        let mut seen = HashSet::new();
        events.iter().copied().filter(|e| seen.insert(*e)).collect()
    };
    let mut list: Vec<String> = unique.iter().take(LIST_LIMIT).map(u64::to_string).collect();
    if unique.len() > LIST_LIMIT {
        list.push(format!("… ({} in all)", unique.len()));
    }
    let noun = if unique.len() == 1 { "event" } else { "events" };
    format!("{noun} {}", list.join(", "))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::history::{History, Read};
    use rstest::rstest;

    /// A compact way to write histories: each line is one event, processes start with `p`
    /// (producers) or `c` (consumers), everything is in topic `t`.
    ///
    /// - `p1 send 0 a @3`          ok send of value "a" to partition 0, acknowledged at offset 3
    /// - `p1 send 0 a`             ok send with no offset known (acks=0)
    /// - `p1 send 0 a fail`        failed send; `unknown` likewise
    /// - `c1 poll 0:3=a 0:4=b`     ok poll returning those reads; `0:5=~` reads a null value
    /// - `c1 poll fail`            failed poll
    /// - `c1 seek 0`               ok seek of partition 0
    fn h(script: &str) -> Vec<Event> {
        let history = History::new();
        for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let words: Vec<&str> = line.split_whitespace().collect();
            let (process, verb, args) = (words[0], words[1], &words[2..]);
            let outcome = match args.last() {
                Some(&"fail") => Outcome::Fail { error: "NOT_LEADER_OR_FOLLOWER".into() },
                Some(&"unknown") => Outcome::Unknown { error: "timed out".into() },
                _ => Outcome::Ok,
            };
            let args: Vec<&str> = args.iter().copied().filter(|a| *a != "fail" && *a != "unknown").collect();
            let op = match verb {
                "send" => Op::Send {
                    topic: "t".into(),
                    partition: args[0].parse().unwrap(),
                    record: Record::value(args[1]),
                    offset: args.get(2).map(|o| o.trim_start_matches('@').parse().unwrap()),
                    timestamp: None,
                },
                "poll" => Op::Poll {
                    reads: args
                        .iter()
                        .map(|r| {
                            let (po, v) = r.split_once('=').unwrap();
                            let (p, o) = po.split_once(':').unwrap();
                            Read {
                                topic: "t".into(),
                                partition: p.parse().unwrap(),
                                offset: o.parse().unwrap(),
                                record: Record { key: None, value: (v != "~").then(|| v.to_owned()), headers: vec![] },
                            }
                        })
                        .collect(),
                },
                "seek" => Op::Seek { topic: "t".into(), partition: args[0].parse().unwrap(), offset: None },
                other => panic!("unknown verb {other}"),
            };
            history.record(process, op, outcome);
        }
        history.events()
    }

    use AnomalyKind::*;

    #[rstest]
    #[case::clean_history(
        "p1 send 0 a @0
         p1 send 0 b @1
         p1 send 1 c @0
         c1 poll 0:0=a 1:0=c
         c1 poll 0:1=b",
        &[]
    )]
    #[case::empty_history("", &[])]
    #[case::unread_write_past_the_reads_is_unseen_only(
        "p1 send 0 a @0
         p1 send 0 b @1
         c1 poll 0:0=a",
        &[Unseen]
    )]
    #[case::unread_write_below_a_read_is_lost_and_unseen(
        "p1 send 0 a @0
         p1 send 0 b @1
         p1 send 0 c @2
         c1 poll 0:0=a
         c2 poll 0:2=c",
        &[LostWrite, Unseen]
    )]
    #[case::lost_write_needs_a_known_offset(
        "p1 send 0 a
         p1 send 0 c @2
         c1 poll 0:2=c",
        &[Unseen]
    )]
    #[case::unknown_send_never_read_is_not_lost(
        "p1 send 0 a unknown
         p1 send 0 b @1
         c1 poll 0:1=b",
        &[]
    )]
    #[case::failed_send_that_is_read_is_fine(
        "p1 send 0 a fail
         p1 send 0 b @1
         c1 poll 0:0=a 0:1=b",
        &[]
    )]
    #[case::failed_poll_reads_nothing(
        "p1 send 0 a @0
         c1 poll 0:0=a fail",
        &[Unseen]
    )]
    #[case::write_read_in_another_partition_is_unseen_in_its_own(
        "p1 send 0 a @0
         c1 poll 1:0=a",
        &[Unseen]
    )]
    #[case::value_read_at_two_offsets_is_duplicate(
        "p1 send 0 a @0
         c1 poll 0:0=a 0:1=a",
        &[Duplicate]
    )]
    #[case::value_acknowledged_at_two_offsets_is_duplicate(
        "p1 send 0 a @0
         p1 send 0 a @1
         c1 poll 0:0=a",
        &[Duplicate]
    )]
    #[case::value_acknowledged_and_read_at_different_offsets_is_duplicate(
        "p1 send 0 a @0
         c1 poll 0:5=a",
        &[Duplicate]
    )]
    #[case::rereading_one_offset_is_not_duplicate(
        "p1 send 0 a @0
         c1 poll 0:0=a
         c2 poll 0:0=a
         c1 seek 0
         c1 poll 0:0=a",
        &[]
    )]
    #[case::null_values_are_not_duplicates(
        "c1 poll 0:0=~ 0:1=~",
        &[]
    )]
    #[case::two_reads_disagree_on_an_offset(
        "c1 poll 0:0=a
         c2 poll 0:0=b",
        &[InconsistentOffsets]
    )]
    #[case::a_read_disagrees_with_an_acknowledgement(
        "p1 send 0 a @0
         p1 send 0 b @1
         c1 poll 0:0=a 0:1=x",
        &[Unseen, InconsistentOffsets]
    )]
    #[case::a_null_read_where_a_value_was_acknowledged(
        "p1 send 0 a @0
         c1 poll 0:0=~",
        &[Unseen, InconsistentOffsets]
    )]
    #[case::send_offsets_going_backwards(
        "p1 send 0 a @5
         p1 send 0 b @3
         c1 poll 0:3=b 0:5=a",
        &[NonmonotonicSend]
    )]
    #[case::send_offset_repeated(
        "p1 send 0 a @5
         p1 send 0 b @5",
        &[Unseen, InconsistentOffsets, NonmonotonicSend]
    )]
    #[case::sends_from_different_producers_interleave_freely(
        "p1 send 0 a @5
         p2 send 0 b @3
         p1 send 1 c @0
         c1 poll 0:3=b 0:5=a 1:0=c",
        &[]
    )]
    #[case::sends_to_different_partitions_are_separate(
        "p1 send 0 a @5
         p1 send 1 b @0
         c1 poll 0:5=a 1:0=b",
        &[]
    )]
    #[case::sends_without_offsets_are_not_ordered(
        "p1 send 0 a @5
         p1 send 0 b
         p1 send 0 c @6
         c1 poll 0:5=a 0:6=c 0:7=b",
        &[]
    )]
    #[case::poll_going_backwards_across_polls(
        "c1 poll 0:0=a 0:1=b
         c1 poll 0:0=a",
        &[NonmonotonicPoll]
    )]
    #[case::poll_repeating_an_offset_across_polls(
        "c1 poll 0:0=a 0:1=b
         c1 poll 0:1=b 0:2=c",
        &[NonmonotonicPoll]
    )]
    #[case::poll_going_backwards_within_a_poll(
        "c1 poll 0:0=a 0:1=b 0:0=a",
        &[IntNonmonotonicPoll]
    )]
    #[case::a_seek_resets_monotonicity(
        "c1 poll 0:0=a 0:1=b
         c1 seek 0
         c1 poll 0:0=a 0:1=b",
        &[]
    )]
    #[case::an_unknown_seek_resets_monotonicity(
        "c1 poll 0:0=a 0:1=b
         c1 seek 0 unknown
         c1 poll 0:0=a",
        &[]
    )]
    #[case::a_failed_seek_does_not_reset(
        "c1 poll 0:0=a 0:1=b
         c1 seek 0 fail
         c1 poll 0:0=a",
        &[NonmonotonicPoll]
    )]
    #[case::a_seek_resets_only_its_partition(
        "c1 poll 0:0=a 1:0=x
         c1 seek 0
         c1 poll 0:0=a 1:0=x",
        &[NonmonotonicPoll]
    )]
    #[case::consumers_are_independent(
        "c1 poll 0:0=a 0:1=b
         c2 poll 0:0=a 0:1=b",
        &[]
    )]
    #[case::partitions_interleave_within_a_poll(
        "c1 poll 0:0=a 1:0=x 0:1=b 1:1=y",
        &[]
    )]
    #[case::jumping_over_a_read_offset_across_polls(
        "c1 poll 0:0=a 0:1=b 0:2=c
         c2 poll 0:0=a
         c2 poll 0:2=c",
        &[PollSkip]
    )]
    #[case::jumping_over_an_acknowledged_offset_within_a_poll(
        "p1 send 0 b @1
         c1 poll 0:0=a 0:2=c",
        &[LostWrite, Unseen, IntPollSkip]
    )]
    #[case::a_compaction_gap_is_not_a_skip(
        "c1 poll 0:0=a 0:3=d
         c1 poll 0:7=h",
        &[]
    )]
    #[case::a_failed_send_offset_is_not_known(
        "p1 send 0 b @1 fail
         c1 poll 0:0=a 0:2=c",
        &[]
    )]
    #[case::a_null_occupies_its_offset(
        "c1 poll 0:0=a 0:1=~ 0:2=c
         c2 poll 0:0=a 0:2=c",
        &[IntPollSkip]
    )]
    #[case::a_seek_forgives_a_jump(
        "c1 poll 0:0=a 0:1=b 0:2=c
         c2 poll 0:0=a
         c2 seek 0
         c2 poll 0:2=c",
        &[]
    )]
    fn check_finds(#[case] script: &str, #[case] expected: &[AnomalyKind]) {
        let report = check(&h(script));
        let kinds: Vec<AnomalyKind> = report.kinds().into_iter().collect();
        assert_eq!(kinds, expected, "{:#?}", report.anomalies);
    }

    #[test]
    fn altered_key_or_headers_are_reported() {
        let sent = Record {
            key: Some(b"k".to_vec()),
            value: Some("a".into()),
            headers: vec![Header { key: "h".into(), value: Some(b"1".to_vec()) }],
        };
        let mut reordered = sent.clone();
        reordered.headers.push(Header { key: "h2".into(), value: None });
        reordered.headers.reverse();
        let cases = [
            (Record { key: None, ..sent.clone() }, true),
            (Record { key: Some(vec![0xff]), ..sent.clone() }, true),
            (Record { headers: vec![], ..sent.clone() }, true),
            (reordered, true),
            (sent.clone(), false),
        ];
        for (read, altered) in cases {
            let history = History::new();
            history.record(
                "p1",
                Op::Send { topic: "t".into(), partition: 0, record: sent.clone(), offset: Some(0), timestamp: None },
                Outcome::Ok,
            );
            history.record(
                "c1",
                Op::Poll { reads: vec![Read { topic: "t".into(), partition: 0, offset: 0, record: read.clone() }] },
                Outcome::Ok,
            );
            let report = check(&history.events());
            assert_eq!(report.of_kind(AlteredRecord).count(), usize::from(altered), "{read:?}: {report:#?}");
            assert_eq!(report.anomalies.len(), usize::from(altered), "{report:#?}");
            if altered {
                let a = &report.anomalies[0];
                assert_eq!(a.events, vec![0, 1]);
                assert!(a.description.contains("\"a\""), "{}", a.description);
            }
        }
    }

    #[test]
    fn a_read_matching_any_send_of_the_value_is_not_altered() {
        // A retried send may legitimately carry different headers (e.g. an attempt counter);
        // whichever attempt was stored, the read matches a send.
        let history = History::new();
        let first =
            Record { headers: vec![Header { key: "try".into(), value: Some(b"1".to_vec()) }], ..Record::value("a") };
        let second =
            Record { headers: vec![Header { key: "try".into(), value: Some(b"2".to_vec()) }], ..Record::value("a") };
        let send = |record: &Record, outcome| {
            history.record(
                "p1",
                Op::Send { topic: "t".into(), partition: 0, record: record.clone(), offset: None, timestamp: None },
                outcome,
            );
        };
        send(&first, Outcome::Unknown { error: "timed out".into() });
        send(&second, Outcome::Ok);
        history.record(
            "c1",
            Op::Poll { reads: vec![Read { topic: "t".into(), partition: 0, offset: 0, record: first }] },
            Outcome::Ok,
        );
        assert!(check(&history.events()).anomalies.is_empty());
    }

    #[test]
    fn a_read_before_the_send_completes_is_still_compared() {
        // The consumer can see a record before the producer's acknowledgement is recorded.
        let history = History::new();
        history.record(
            "c1",
            Op::Poll { reads: vec![Read { topic: "t".into(), partition: 0, offset: 0, record: Record::value("a") }] },
            Outcome::Ok,
        );
        history.record(
            "p1",
            Op::Send {
                topic: "t".into(),
                partition: 0,
                record: Record { key: Some(b"k".to_vec()), ..Record::value("a") },
                offset: Some(0),
                timestamp: None,
            },
            Outcome::Ok,
        );
        assert_eq!(check(&history.events()).kinds(), BTreeSet::from([AlteredRecord]));
    }

    #[test]
    fn anomalies_name_the_values_offsets_and_events() {
        let report = check(&h("p1 send 0 a @0
                               p1 send 0 b @1
                               p1 send 0 c @2
                               c1 poll 0:0=a 0:2=c"));
        let lost = report.of_kind(LostWrite).next().unwrap();
        assert_eq!((lost.topic.as_str(), lost.partition), ("t", 0));
        assert_eq!(lost.events, vec![1, 3]);
        assert!(lost.description.contains("\"b\"") && lost.description.contains("offset 1"), "{}", lost.description);
        let skip = report.of_kind(IntPollSkip).next().unwrap();
        assert_eq!(skip.events, vec![3]);
        assert!(skip.description.contains("c1") && skip.description.contains("1 (\"b\")"), "{}", skip.description);
    }

    #[test]
    fn a_rewind_is_one_anomaly_not_one_per_reread() {
        let report = check(&h("c1 poll 0:0=a 0:1=b 0:2=c
                               c1 poll 0:0=a 0:1=b 0:2=c"));
        assert_eq!(report.anomalies.len(), 1, "{:#?}", report.anomalies);
        assert_eq!(report.anomalies[0].kind, NonmonotonicPoll);
    }

    #[test]
    fn stats_count_outcomes_and_reads() {
        let report = check(&h("p1 send 0 a @0
                               p1 send 0 b fail
                               p1 send 0 c unknown
                               c1 poll 0:0=a 0:1=c
                               c2 poll 0:0=a 0:1=c 0:2=~
                               c3 poll 0:3=d fail"));
        let s = report.stats;
        assert_eq!((s.sends_ok, s.sends_failed, s.sends_unknown), (1, 1, 1));
        assert_eq!((s.reads, s.distinct_values_read), (5, 2));
    }

    #[test]
    fn events_are_taken_in_index_order() {
        let mut events = h("c1 poll 0:0=a
                            c1 poll 0:1=b");
        events.reverse();
        assert!(check(&events).anomalies.is_empty());
    }

    #[test]
    fn kind_names_round_trip() {
        for &k in AnomalyKind::ALL {
            assert_eq!(AnomalyKind::from_name(k.name()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), serde_json::Value::from(k.name()));
            assert!(k.meaning().ends_with('.'));
        }
        assert_eq!(AnomalyKind::ALL.len(), 14);
        assert_eq!(AnomalyKind::from_name("G1a"), None);
    }

    #[test]
    fn render_shows_only_forbidden_kinds_with_counts_and_examples() {
        let report = check(&h("p1 send 0 a @0
                               p1 send 0 b @1
                               p1 send 0 c @2
                               p1 send 0 d @3
                               c1 poll 0:3=d
                               c2 poll 0:0=x"));
        assert!(report.kinds().contains(&LostWrite) && report.kinds().contains(&Unseen));

        let text = report.render(&[LostWrite, Duplicate]);
        assert!(text.starts_with("lost-write: 3 — "), "{text}");
        assert!(!text.contains("unseen:"), "unseen was not forbidden: {text}");
        assert!(!text.contains("duplicate"), "no duplicate occurred: {text}");
        for value in ["\"a\"", "\"b\"", "\"c\""] {
            assert!(text.contains(value), "{value} missing from {text}");
        }
        assert!(text.contains("t/0"), "{text}");

        assert_eq!(report.render(&[Duplicate]), "");
        assert!(report.render(&[InconsistentOffsets]).contains("\"x\""));
    }

    #[test]
    fn render_caps_examples_at_ten() {
        let script: String = (0..15).map(|i| format!("p1 send 0 v{i} @{i}\n")).collect();
        let report = check(&h(&script));
        let text = report.render(&[Unseen]);
        assert!(text.starts_with("unseen: 15"), "{text}");
        assert!(text.contains("unseen (10 of 15):"), "{text}");
        assert_eq!(text.lines().filter(|l| l.starts_with("  - ")).count(), 10, "{text}");
    }

    #[test]
    fn a_large_history_checks_quickly() {
        // 50k sends and 50k single-read polls; quadratic work would take minutes here.
        let history = History::new();
        for i in 0..50_000i64 {
            history.record(
                "p1",
                Op::Send {
                    topic: "t".into(),
                    partition: 0,
                    record: Record::value(format!("p1-{i}")),
                    offset: Some(i),
                    timestamp: None,
                },
                Outcome::Ok,
            );
            // Offset 40_000 is never read: one lost write, one skip.
            if i != 40_000 {
                history.record(
                    "c1",
                    Op::Poll {
                        reads: vec![Read {
                            topic: "t".into(),
                            partition: 0,
                            offset: i,
                            record: Record::value(format!("p1-{i}")),
                        }],
                    },
                    Outcome::Ok,
                );
            }
        }
        let started = std::time::Instant::now();
        let report = check(&history.events());
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        assert_eq!(report.kinds(), BTreeSet::from([LostWrite, Unseen, PollSkip]));
        assert_eq!(report.anomalies.len(), 3);
    }
}
