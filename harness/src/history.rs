//! The history of one scenario: every operation a client performed against the broker, in the
//! order it completed, with how it ended.
//!
//! This module owns the recorded data only; [`crate::checker`] judges it afterwards. The shape
//! follows Jepsen's Kafka workload (`jepsen.tests.kafka`): operations are `send`, `poll` and a
//! consumer repositioning (`seek`, standing in for Jepsen's `assign`/`subscribe`), and every
//! operation ends `ok`, `fail` or `unknown` (Jepsen's `:info`). A timeout is `unknown`, never
//! `fail`: the broker may have applied the operation.
//!
//! A history serializes as JSON Lines, one [`Event`] a line, so a failing report can carry it
//! and a later run can check it again. Bytes (record keys, header values) are written as a JSON
//! string when they are valid UTF-8, and as `{"hex": "…"}` otherwise, so the common case stays
//! readable and arbitrary bytes still round-trip.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// How an operation ended (Jepsen's client contract): a timeout is Unknown, never Fail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Outcome {
    /// The broker acknowledged the operation.
    Ok,
    /// The operation certainly did not take effect.
    Fail { error: String },
    /// The operation may or may not have taken effect (timeouts, lost connections).
    Unknown { error: String },
}

impl Outcome {
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok)
    }
}

/// One record header. Kafka allows repeated keys and null values, and preserves their order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub key: String,
    #[serde(with = "text_bytes")]
    pub value: Option<Vec<u8>>,
}

/// A record as the client sent it or read it. `value` is the identity the checker tracks: the
/// harness writes unique values ("p1-17"), so a value names one logical write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    #[serde(with = "text_bytes")]
    pub key: Option<Vec<u8>>,
    pub value: Option<String>,
    #[serde(default)]
    pub headers: Vec<Header>,
}

impl Record {
    /// A record as the wire client decoded it from a fetched batch.
    pub fn from_wire(r: kafka_protocol::records::Record) -> Self {
        Record {
            key: r.key.map(|k| k.to_vec()),
            value: r.value.map(|v| String::from_utf8_lossy(&v).into_owned()),
            headers: r
                .headers
                .into_iter()
                .map(|(k, v)| Header { key: k.to_string(), value: v.map(|v| v.to_vec()) })
                .collect(),
        }
    }

    /// A record with only a value: what most scenarios send.
    pub fn value(value: impl Into<String>) -> Self {
        Record { key: None, value: Some(value.into()), headers: Vec::new() }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "kebab-case")]
pub enum Op {
    /// One record sent to one partition; `offset` is the offset the broker acknowledged (None:
    /// no offset known, e.g. acks=0, fail, or unknown). `timestamp` is the CreateTime the
    /// producer stamped on it, when the harness chose it (the wire client); retention judges it.
    Send {
        topic: String,
        partition: i32,
        record: Record,
        offset: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timestamp: Option<i64>,
    },
    /// What one poll returned: reads in the order the client delivered them.
    Poll { reads: Vec<Read> },
    /// The consumer was (re)positioned: assign/seek/reset. Clears that process's "previous
    /// offset" for monotonic/skip checks in the named partition.
    Seek { topic: String, partition: i32, offset: Option<i64> },
    /// The partition's log start offset as the broker reported it (ListOffsets earliest, a
    /// Fetch's log_start_offset, DeleteRecords' low watermark), and the harness's wall clock
    /// (Unix ms) when it answered: every record below `offset` was gone by `at_ms`.
    LogStart { topic: String, partition: i32, offset: i64, at_ms: i64 },
    /// A DeleteRecords request (KIP-107) asking to delete every record below `offset` (-1: the
    /// high watermark); an `ok` one answered with the low watermark `low_watermark`.
    DeleteRecords { topic: String, partition: i32, offset: i64, low_watermark: Option<i64> },
    /// The harness read the partition from its log start and found it compacted below `below`:
    /// of each key's records below that offset, only the last is left (see
    /// `steps::logs::compacted_below`). Later reads below it must not find a superseded record.
    Compacted { topic: String, partition: i32, below: i64 },
    /// A transactional producer ended a transaction (KIP-98): committed (`commit`) or aborted,
    /// as an `ok` outcome says it did; `values` are the records it sent in it. Its sends are
    /// recorded just before it, `ok` when it committed.
    EndTxn { transactional_id: String, commit: bool, values: Vec<String> },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Read {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub record: Record,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the history, from 0; anomalies name events by it.
    pub index: u64,
    /// The client task that performed the operation; per-process checks key on it.
    pub process: String,
    /// Milliseconds since the history was created, taken when the operation was recorded.
    pub time_ms: u64,
    pub op: Op,
    pub outcome: Outcome,
}

/// Thread-safe, append-only: shared by several client tasks in one scenario. Clones share the
/// same history.
#[derive(Clone)]
pub struct History {
    inner: Arc<Mutex<Vec<Event>>>,
    start: Instant,
}

impl Default for History {
    fn default() -> Self {
        History { inner: Arc::default(), start: Instant::now() }
    }
}

impl fmt::Debug for History {
    // The events can number in the hundred thousands; a Debug print of a step's state should
    // not dump them all.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("History").field("events", &self.len()).finish_non_exhaustive()
    }
}

impl History {
    pub fn new() -> Self {
        Self::default()
    }

    /// A poisoned lock only means another client task panicked while appending; a `Vec::push`
    /// leaves the events intact, and the history is exactly what a failing run needs to report.
    fn lock(&self) -> MutexGuard<'_, Vec<Event>> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends one completed operation and returns its index.
    pub fn record(&self, process: &str, op: Op, outcome: Outcome) -> u64 {
        let mut events = self.lock();
        // Taking the time under the lock keeps time_ms non-decreasing in index order.
        let time_ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let index = events.len() as u64;
        events.push(Event { index, process: process.to_owned(), time_ms, op, outcome });
        index
    }

    /// A snapshot of the events recorded so far, in index order.
    pub fn events(&self) -> Vec<Event> {
        self.lock().clone()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// One event per line, each line a JSON object; saved with failing reports.
    pub fn to_jsonl(&self) -> String {
        events_to_jsonl(&self.lock())
    }

    /// Reads what [`History::to_jsonl`] wrote. Blank lines are ignored.
    pub fn from_jsonl(s: &str) -> Result<Vec<Event>, serde_json::Error> {
        serde_json::Deserializer::from_str(s).into_iter::<Event>().collect()
    }
}

/// Renders events as JSON Lines, for histories that were loaded rather than recorded.
pub fn events_to_jsonl(events: &[Event]) -> String {
    let mut out = String::new();
    for event in events {
        // Every type in an Event serializes to JSON: no map has non-string keys, no float is
        // involved, and no Serialize impl here returns an error.
        let line = serde_json::to_string(event).expect("an Event always serializes to JSON");
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Optional bytes as readable JSON: a string when valid UTF-8, else `{"hex": "…"}`.
mod text_bytes {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize)]
    #[serde(untagged)]
    enum Out<'a> {
        Text(&'a str),
        Hex { hex: String },
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum In {
        Text(String),
        Hex { hex: String },
    }

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            None => s.serialize_none(),
            Some(b) => match std::str::from_utf8(b) {
                Ok(text) => Out::Text(text).serialize(s),
                Err(_) => Out::Hex { hex: to_hex(b) }.serialize(s),
            },
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<In>::deserialize(d)? {
            None => Ok(None),
            Some(In::Text(text)) => Ok(Some(text.into_bytes())),
            Some(In::Hex { hex }) => from_hex(&hex).map(Some).map_err(D::Error::custom),
        }
    }

    fn to_hex(bytes: &[u8]) -> String {
        use std::fmt::Write as _;
        bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    fn from_hex(hex: &str) -> Result<Vec<u8>, String> {
        if !hex.len().is_multiple_of(2) {
            return Err(format!("hex bytes of odd length {}", hex.len()));
        }
        (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                    .ok_or_else(|| format!("invalid hex bytes {hex:?}"))
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn send(value: &str, offset: Option<i64>) -> Op {
        Op::Send { topic: "t".into(), partition: 0, record: Record::value(value), offset, timestamp: None }
    }

    #[test]
    fn record_assigns_consecutive_indexes() {
        let h = History::new();
        assert!(h.is_empty());
        assert_eq!(h.record("p1", send("a", Some(0)), Outcome::Ok), 0);
        assert_eq!(h.record("p1", send("b", None), Outcome::Unknown { error: "timeout".into() }), 1);
        let events = h.events();
        assert_eq!(h.len(), 2);
        assert_eq!(events.iter().map(|e| e.index).collect::<Vec<_>>(), vec![0, 1]);
        assert!(events[0].time_ms <= events[1].time_ms);
    }

    #[test]
    fn clones_share_one_history_across_threads() {
        let h = History::new();
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let h = h.clone();
                std::thread::spawn(move || {
                    for i in 0..100 {
                        h.record(&format!("p{t}"), send(&format!("p{t}-{i}"), None), Outcome::Ok);
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        let events = h.events();
        assert_eq!(events.len(), 400);
        assert!(events.iter().enumerate().all(|(i, e)| e.index == i as u64));
    }

    #[test]
    fn a_poisoned_lock_keeps_recording() {
        let h = History::new();
        let h2 = h.clone();
        let _ = std::thread::spawn(move || {
            let _guard = h2.inner.lock().unwrap();
            panic!("a client task panics while holding the lock");
        })
        .join();
        assert!(h.inner.is_poisoned());
        assert_eq!(h.record("p1", send("a", Some(0)), Outcome::Ok), 0);
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn jsonl_round_trips_every_op_and_outcome() {
        let h = History::new();
        let record = Record {
            key: Some(b"k1".to_vec()),
            value: Some("p1-0".into()),
            headers: vec![
                Header { key: "text".into(), value: Some(b"hello".to_vec()) },
                Header { key: "binary".into(), value: Some(vec![0xff, 0x00, 0x9c]) },
                Header { key: "null".into(), value: None },
            ],
        };
        h.record(
            "p1",
            Op::Send { topic: "t".into(), partition: 2, record: record.clone(), offset: Some(7), timestamp: Some(1) },
            Outcome::Ok,
        );
        h.record("p1", send("p1-1", None), Outcome::Fail { error: "NOT_ENOUGH_REPLICAS".into() });
        h.record("p1", send("p1-2", None), Outcome::Unknown { error: "timed out".into() });
        h.record("c1", Op::Seek { topic: "t".into(), partition: 2, offset: None }, Outcome::Ok);
        h.record(
            "c1",
            Op::Poll {
                reads: vec![
                    Read { topic: "t".into(), partition: 2, offset: 7, record },
                    Read {
                        topic: "t".into(),
                        partition: 2,
                        offset: 8,
                        record: Record { key: Some(vec![0x80]), value: None, headers: vec![] },
                    },
                ],
            },
            Outcome::Ok,
        );
        let text = h.to_jsonl();
        assert_eq!(text.lines().count(), 5);
        assert!(text.contains(r#""f":"send""#), "{text}");
        assert!(text.contains(r#""type":"unknown""#), "{text}");
        assert!(text.contains(r#""value":"hello""#), "UTF-8 bytes read as text: {text}");
        assert!(text.contains(r#""hex":"ff009c""#), "other bytes read as hex: {text}");
        assert_eq!(History::from_jsonl(&text).unwrap(), h.events());
        // Blank lines (e.g. a trailing newline after concatenation) are harmless.
        assert_eq!(History::from_jsonl(&format!("\n{text}\n\n")).unwrap(), h.events());
    }

    #[test]
    fn from_jsonl_rejects_malformed_lines() {
        assert!(History::from_jsonl("{\"index\":0}\n").is_err());
        let bad_hex = r#"{"index":0,"process":"c1","time_ms":0,"op":{"f":"send","topic":"t","partition":0,"record":{"key":{"hex":"zz"},"value":"a","headers":[]},"offset":null},"outcome":{"type":"ok"}}"#;
        assert!(History::from_jsonl(bad_hex).is_err());
    }
}
