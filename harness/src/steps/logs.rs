//! Logs that lose records on purpose: retention (`retention.ms`, `retention.bytes`),
//! DeleteRecords (KIP-107) and compaction (`cleanup.policy=compact`, KIP-58, KIP-354, KIP-534).
//!
//! Records are produced by the wire client, one record per Produce request (one batch each),
//! with acks=all to the partition's leader, each stamped with a CreateTime the step chooses and
//! recorded in the history with its key, offset and timestamp. With a `segment.bytes` smaller
//! than a batch, every batch then rolls a segment of its own, so a scenario knows exactly which
//! records share a segment; the last batch is in the active segment, which the cleaner never
//! touches, so compaction scenarios finish with a record that closes the segment before it.
//!
//! Waiting steps poll every 100 ms up to their `within <n> ms`; running out of time is a
//! verdict that shows the last state seen. Every read is recorded in the history, and every
//! log start offset the broker reports too, so the checker's retention and compaction checks
//! (`checker::logs`) can judge the run afterwards.

use std::collections::HashMap;
use std::time::Duration;

use cucumber::{then, when};
use kafka_protocol::messages::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
use kafka_protocol::messages::{BrokerId, DeleteRecordsRequest, RequestKind, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

use super::common::{list_offset, record_sends_stamped};
use super::name;
use crate::batches::{self, StoredBatch, encode_batch, whole_batches};
use crate::checker::logs::{acknowledged, compaction_problems, latest_values, show_read};
use crate::checker::{self, AnomalyKind, LogClaims, TopicClaim};
use crate::history::{Event, Op, Outcome, Read, Record};
use crate::requests::{fetch_request, produce_request, produce_result};
use crate::wire::WireClient;
use crate::world::{KafkaWorld, StepError, StepResult};

const POLL: Duration = Duration::from_millis(100);
const HOUR_MS: i64 = 3_600_000;

fn now_ms() -> i64 {
    crate::clock::now_ms()
}

// ---------------------------------------------------------------------------------------------
// Producing records with chosen keys, values and timestamps

/// Sends one record as a batch of its own, stamped `timestamp`, with acks=all to the leader,
/// and records it. The answer's error name is kept for `Then the request fails with ...`.
async fn produce_one(
    w: &mut KafkaWorld,
    client: &mut WireClient,
    process: &str,
    real: &str,
    partition: i32,
    record: Record,
    timestamp: i64,
) -> StepResult {
    let records = [record];
    let batch = encode_batch(&records, Compression::None, timestamp).map_err(|e| w.harness(e))?;
    let req = produce_request(real, partition, batch, -1, w.timeout().as_millis() as i32);
    let result = super::to_leader(w, client, real, partition, &req, None).await?;
    record_sends_stamped(w, process, real, partition, &records, result.as_ref(), Some(timestamp));
    match result {
        Ok(resp) => w.last_error = produce_result(&resp).map(|(e, _)| e),
        Err(e) => {
            w.last_error = Some(e.to_string());
            *client = w.leader_wire(real, partition).await?;
        }
    }
    Ok(())
}

async fn produce_all(w: &mut KafkaWorld, partition: i32, topic: &str, records: Vec<(Record, i64)>) -> StepResult {
    let real = w.topic(topic);
    let mut client = w.leader_wire(&real, partition).await?;
    let process = w.next_process("wire-producer");
    for (record, ts) in records {
        produce_one(w, &mut client, &process, &real, partition, record, ts).await?;
    }
    Ok(())
}

/// Every value sent so far: a scenario's values name its records, so they must be unique.
fn sent_values(w: &KafkaWorld) -> Vec<String> {
    w.history
        .events()
        .into_iter()
        .filter_map(|e| match e.op {
            Op::Send { record, .. } => record.value,
            _ => None,
        })
        .collect()
}

fn keyed(key: &str, value: Option<String>) -> Record {
    Record { key: Some(key.as_bytes().to_vec()), value, headers: Vec::new() }
}

/// `k1=a,k2=b,k1=c`: one record per pair, in order, each its own batch stamped now. The values
/// are the scenario's, verbatim, and must be unique in the scenario (they name the records).
#[when(expr = "records with the keys and values {string} are produced to partition {int} of {string}")]
async fn keys_and_values(w: &mut KafkaWorld, pairs: String, partition: i32, topic: String) -> StepResult {
    let mut seen = sent_values(w);
    let mut records = Vec::new();
    for pair in pairs.split(',').map(str::trim) {
        let Some((k, v)) = pair.split_once('=').filter(|(k, v)| !k.is_empty() && !v.is_empty()) else {
            return Err(w.harness(format!("{pair:?} is not key=value")));
        };
        if seen.iter().any(|s| s == v) {
            return Err(w.harness(format!("the value {v:?} is used twice: values name records, so they are unique")));
        }
        seen.push(v.to_string());
        records.push((keyed(k, Some(v.to_string())), now_ms()));
    }
    produce_all(w, partition, &topic, records).await
}

/// A record with a key and a null value (Kafka's tombstone: "delete the key").
#[when(expr = "a tombstone for key {string} is produced to partition {int} of {string}")]
async fn tombstone(w: &mut KafkaWorld, key: String, partition: i32, topic: String) -> StepResult {
    produce_all(w, partition, &topic, vec![(keyed(&key, None), now_ms())]).await
}

/// Keyless records with unique values, each its own batch, stamped `hours` hours before now
/// (one millisecond apart, in order): CreateTime is the producer's to choose, and time
/// retention judges segments by it, not by when they were appended.
#[when(expr = "{int} record(s) stamped {int} hours ago are produced to partition {int} of {string}")]
async fn stamped_ago(w: &mut KafkaWorld, n: usize, hours: i64, partition: i32, topic: String) -> StepResult {
    let base = now_ms() - hours * HOUR_MS;
    let process = w.next_process("stamped");
    let records = (0..n).map(|i| (Record::value(w.next_value(&process)), base + i as i64)).collect();
    produce_all(w, partition, &topic, records).await
}

#[when(expr = "{int} record(s) stamped now are produced to partition {int} of {string}")]
async fn stamped_now(w: &mut KafkaWorld, n: usize, partition: i32, topic: String) -> StepResult {
    stamped_ago(w, n, 0, partition, topic).await
}

// ---------------------------------------------------------------------------------------------
// DeleteRecords (KIP-107)

fn observe_log_start(w: &KafkaWorld, real: &str, partition: i32, offset: i64) {
    w.history.record(
        "harness",
        Op::LogStart { topic: real.to_string(), partition, offset, at_ms: now_ms() },
        Outcome::Ok,
    );
}

/// DeleteRecords to the partition's leader: every record below `offset` (-1: the high
/// watermark) is deleted, and the answer carries the new log start offset, the low watermark.
#[when(expr = "records are deleted from partition {int} of {string} up to offset {int}")]
async fn delete_records(w: &mut KafkaWorld, partition: i32, topic: String, offset: i64) -> StepResult {
    let real = w.topic(&topic);
    let mut client = w.leader_wire(&real, partition).await?;
    let req = DeleteRecordsRequest::default().with_timeout_ms(w.timeout().as_millis() as i32).with_topics(vec![
        DeleteRecordsTopic::default().with_name(TopicName(StrBytes::from_string(real.clone()))).with_partitions(vec![
            DeleteRecordsPartition::default().with_partition_index(partition).with_offset(offset),
        ]),
    ]);
    let result = super::to_leader(w, &mut client, &real, partition, &RequestKind::DeleteRecords(req), None).await?;
    let op = |low_watermark| Op::DeleteRecords { topic: real.clone(), partition, offset, low_watermark };
    let resp = match result {
        Ok(r) => r,
        Err(e) if e.is_indefinite() => {
            w.history.record("harness", op(None), Outcome::Unknown { error: e.to_string() });
            return Err(w.wire_error(e));
        }
        Err(e) => return Err(w.wire_error(e)),
    };
    let ResponseKind::DeleteRecords(r) = resp else {
        return Err(w.harness("DeleteRecords answered with another response type"));
    };
    let p = r
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or_else(|| w.verdict("DeleteRecords answered no partition"))?;
    let error = name(p.error_code);
    if error == "NONE" {
        w.history.record("harness", op(Some(p.low_watermark)), Outcome::Ok);
        observe_log_start(w, &real, partition, p.low_watermark);
        w.low_watermark = Some(p.low_watermark);
    } else {
        w.history.record("harness", op(None), Outcome::Fail { error: error.clone() });
        w.low_watermark = None;
    }
    w.last_error = Some(error);
    Ok(())
}

#[then(expr = "the low watermark is {int}")]
async fn low_watermark_is(w: &mut KafkaWorld, expected: i64) -> StepResult {
    match (w.low_watermark, w.last_error.as_deref()) {
        (Some(lw), _) if lw == expected => Ok(()),
        (Some(lw), _) => Err(w.verdict(format!("DeleteRecords answered low watermark {lw}, expected {expected}"))),
        (None, Some(e)) => Err(w.verdict(format!("DeleteRecords failed with {e}; expected low watermark {expected}"))),
        (None, None) => Err(w.harness("no DeleteRecords was sent before this step")),
    }
}

// ---------------------------------------------------------------------------------------------
// The log start offset

/// ListOffsets earliest, recorded in the history as an observed log start offset.
async fn earliest(w: &mut KafkaWorld, real: &str, partition: i32) -> Result<i64, StepError> {
    let offset = list_offset(w, real, partition, -2).await?;
    observe_log_start(w, real, partition, offset);
    Ok(offset)
}

/// Polls ListOffsets earliest until `done` says so. The log start offset never goes back, so
/// an offset `past` allows is a verdict at once.
async fn await_earliest(
    w: &mut KafkaWorld,
    ms: u64,
    partition: i32,
    topic: &str,
    what: &str,
    done: impl Fn(i64) -> bool,
    past: impl Fn(i64) -> bool,
) -> StepResult {
    let real = w.topic(topic);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    let mut pace = tokio::time::interval(POLL);
    loop {
        pace.tick().await;
        let got = earliest(w, &real, partition).await?;
        if done(got) {
            return Ok(());
        }
        if past(got) {
            return Err(
                w.verdict(format!("the earliest offset of partition {partition} of {real} is {got}, past {what}"))
            );
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(w.verdict(format!(
                "within {ms} ms the earliest offset of partition {partition} of {real} did not become {what}: it is {got}"
            )));
        }
    }
}

#[then(expr = "within {int} ms the earliest offset of partition {int} of {string} is {int}")]
async fn earliest_becomes(w: &mut KafkaWorld, ms: u64, partition: i32, topic: String, expected: i64) -> StepResult {
    await_earliest(w, ms, partition, &topic, &expected.to_string(), |o| o == expected, |o| o > expected).await
}

#[then(expr = "within {int} ms the earliest offset of partition {int} of {string} is above {int}")]
async fn earliest_above(w: &mut KafkaWorld, ms: u64, partition: i32, topic: String, floor: i64) -> StepResult {
    await_earliest(w, ms, partition, &topic, &format!("above {floor}"), |o| o > floor, |_| false).await
}

/// The log start offset stays put for `ms` (polled every 100 ms): later retention checks find
/// nothing more to delete.
#[then(expr = "the earliest offset of partition {int} of {string} stays {int} for {int} ms")]
async fn earliest_stays(w: &mut KafkaWorld, partition: i32, topic: String, expected: i64, ms: u64) -> StepResult {
    let real = w.topic(&topic);
    let until = tokio::time::Instant::now() + Duration::from_millis(ms);
    let mut pace = tokio::time::interval(POLL);
    while tokio::time::Instant::now() < until {
        pace.tick().await;
        let got = earliest(w, &real, partition).await?;
        if got != expected {
            return Err(w.verdict(format!(
                "the earliest offset of partition {partition} of {real} moved to {got}; it was to stay {expected}"
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reading a whole log

/// A partition's log as one Fetch loop read it, from its log start.
#[derive(Debug, Default, Clone)]
pub(crate) struct LogRead {
    pub log_start: i64,
    /// The high watermark (the leader's), or the log end offset a replica_id -2 fetch reached.
    pub end: i64,
    pub reads: Vec<Read>,
    /// (base offset, last offset, bytes) of each batch, in log order.
    pub batches: Vec<(i64, i64, usize)>,
    /// How each of those batches is stored.
    pub stored: Vec<StoredBatch>,
}

impl LogRead {
    /// The base offset of the last batch: everything from here on may be in the active
    /// segment. With one batch per segment, everything below is in closed segments.
    pub fn last_batch(&self) -> i64 {
        self.batches.last().map_or(self.log_start, |b| b.0)
    }

    pub fn bytes(&self) -> usize {
        self.batches.iter().map(|b| b.2).sum()
    }
}

/// Decodes the records of fetched bytes from `from` on, with their batches.
fn decode(topic: &str, partition: i32, bytes: &[u8], from: i64, log: &mut LogRead) -> Result<Option<i64>, String> {
    let mut next = None;
    for (base, last, batch) in whole_batches(bytes) {
        let len = batch.len();
        let stored = StoredBatch::read(&batch);
        for (offset, record) in batches::records(batch)?.into_iter().filter(|(o, _)| *o >= from) {
            log.reads.push(Read { topic: topic.to_string(), partition, offset, record });
        }
        if last >= from {
            log.stored.extend(stored);
            log.batches.push((base, last, len));
            next = Some(last + 1);
        }
    }
    Ok(next)
}

/// One Fetch of a log, as a leader read (`client` from [`KafkaWorld::leader_wire`]) or, with
/// `replica`, as Kafka's debugging consumer (replica_id -2), which any replica serves up to its
/// own log end.
async fn fetch_once(
    w: &mut KafkaWorld,
    client: &mut WireClient,
    real: &str,
    partition: i32,
    offset: i64,
    replica: bool,
) -> Result<kafka_protocol::messages::fetch_response::PartitionData, StepError> {
    let RequestKind::Fetch(req) = fetch_request(real, partition, offset, 1 << 20, 0, 0) else {
        return Err(w.harness("unreachable: fetch_request builds a Fetch"));
    };
    let req = RequestKind::Fetch(if replica { req.with_replica_id(BrokerId(-2)) } else { req });
    let resp = if replica {
        let v = client.version_for(kafka_protocol::messages::ApiKey::Fetch).map_err(|e| w.wire_error(e))?.min(12);
        client.request_at(req, v).await
    } else {
        super::to_leader(w, client, real, partition, &req, Some(12)).await?
    };
    let ResponseKind::Fetch(r) = resp.map_err(|e| w.wire_error(e))? else {
        return Err(w.harness("Fetch answered with another response type"));
    };
    r.responses
        .into_iter()
        .next()
        .and_then(|t| t.partitions.into_iter().next())
        .ok_or_else(|| w.verdict(format!("the Fetch of {real}-{partition} answered no partition")))
}

/// Reads a whole log from its log start: a fetch below the log start answers
/// OFFSET_OUT_OF_RANGE with the log start offset (Fetch v5+), where the read starts again
/// (retention may move it while the read goes on).
async fn read_log(
    w: &mut KafkaWorld,
    client: &mut WireClient,
    real: &str,
    partition: i32,
    replica: bool,
) -> Result<LogRead, StepError> {
    let mut log = LogRead::default();
    let mut offset = 0;
    let mut restarts = 0;
    loop {
        let p = fetch_once(w, client, real, partition, offset, replica).await?;
        let error = name(p.error_code);
        if error == "OFFSET_OUT_OF_RANGE" && p.log_start_offset > offset && restarts < 5 {
            restarts += 1;
            log = LogRead::default();
            offset = p.log_start_offset;
            continue;
        }
        if error != "NONE" {
            return Err(w.verdict(format!(
                "the Fetch of {real}-{partition} from offset {offset} failed with {error} (log start offset {})",
                p.log_start_offset
            )));
        }
        if log.batches.is_empty() && log.reads.is_empty() {
            log.log_start = if p.log_start_offset >= 0 { p.log_start_offset } else { offset };
        }
        log.end = p.high_watermark;
        let bytes = p.records.clone().unwrap_or_default();
        let next = decode(real, partition, &bytes, offset, &mut log).map_err(|e| w.verdict(e))?;
        match next {
            Some(n) if replica || n < p.high_watermark => offset = n,
            Some(n) => {
                log.end = log.end.max(n);
                break;
            }
            None => break,
        }
    }
    if replica {
        log.end = log.batches.last().map_or(log.log_start, |b| b.1 + 1);
    }
    Ok(log)
}

/// Reads the partition from its leader and records the read: the log start observed, and the
/// reads as a poll by a process positioned at the log start.
pub(super) async fn read_recorded(w: &mut KafkaWorld, real: &str, partition: i32) -> Result<LogRead, StepError> {
    let mut client = w.leader_wire(real, partition).await?;
    let log = read_log(w, &mut client, real, partition, false).await?;
    record_log(w, "log-reader", real, partition, &log);
    Ok(log)
}

fn record_log(w: &mut KafkaWorld, kind: &str, real: &str, partition: i32, log: &LogRead) {
    observe_log_start(w, real, partition, log.log_start);
    let process = w.next_process(kind);
    let seek = Op::Seek { topic: real.to_string(), partition, offset: Some(log.log_start) };
    w.history.record(&process, seek, Outcome::Ok);
    w.history.record(&process, Op::Poll { reads: log.reads.clone() }, Outcome::Ok);
}

/// The codec a scenario names (`none` or `uncompressed`, `gzip`, `snappy`, `lz4`, `zstd`).
fn codec_code(w: &KafkaWorld, name: &str) -> Result<i16, StepError> {
    crate::batches::codec_by_name(name).map(|c| c as i16).map_err(|e| w.harness(e))
}

/// Reads the partition from its leader and checks every batch's codec and CRC, as stored: a
/// broker that recompresses must write the topic's codec and a CRC that covers the new bytes.
#[then(expr = "every batch of partition {int} of {string} is stored compressed with {word}, with a valid CRC")]
async fn stored_compressed(w: &mut KafkaWorld, partition: i32, topic: String, codec: String) -> StepResult {
    let want = codec_code(w, &codec)?;
    let real = w.topic(&topic);
    let log = read_recorded(w, &real, partition).await?;
    if log.stored.is_empty() {
        return Err(w.verdict(format!(
            "{real}-{partition} holds no batch (high watermark {}), so nothing is stored as {codec}",
            log.end
        )));
    }
    let wrong: Vec<String> = log
        .stored
        .iter()
        .filter(|b| b.codec != want || !b.crc_ok)
        .map(|b| {
            format!(
                "the batch at offset {} is stored as {}{}",
                b.base_offset,
                b.codec_name(),
                if b.crc_ok { "" } else { " with a CRC that does not match its bytes" }
            )
        })
        .collect();
    if !wrong.is_empty() {
        return Err(w.verdict(format!(
            "{} of {} batches of {real}-{partition} are not stored as {codec} with a valid CRC: {}",
            wrong.len(),
            log.stored.len(),
            wrong.join("; ")
        )));
    }
    Ok(())
}

/// What a partition holds, judged by reading it (Fetch from the leader, recorded), not by
/// ListOffsets: its high watermark is `end`, and the records read reach just below it. Only the
/// ListOffsets scenarios judge ListOffsets.
#[then(expr = "partition {int} of {string} ends at offset {int}")]
async fn ends_at(w: &mut KafkaWorld, partition: i32, topic: String, end: i64) -> StepResult {
    let real = w.topic(&topic);
    let log = read_recorded(w, &real, partition).await?;
    let next = log.batches.last().map(|b| b.1 + 1);
    let reached = next.unwrap_or(log.log_start);
    if log.end == end && reached == end {
        return Ok(());
    }
    Err(w.verdict(format!(
        "{real}-{partition} should end at offset {end}: its Fetch high watermark is {} and its records read reach {}\n  {}",
        log.end,
        next.map_or("no record".to_string(), |n| format!("offset {}", n - 1)),
        show_log(&log)
    )))
}

/// `message.timestamp.type=LogAppendTime`: every batch the broker serves says so and carries
/// the broker's clock at append time, not the producer's timestamps. An hour either side of the
/// harness's clock allows for a broker on another machine.
#[then(expr = "every batch of partition {int} of {string} carries a LogAppendTime within an hour of now")]
async fn log_append_time(w: &mut KafkaWorld, partition: i32, topic: String) -> StepResult {
    const HOUR: i64 = 3_600_000;
    let real = w.topic(&topic);
    let log = read_recorded(w, &real, partition).await?;
    if log.stored.is_empty() {
        return Err(w.verdict(format!("{real}-{partition} holds no batch (high watermark {})", log.end)));
    }
    let now = now_ms();
    let wrong: Vec<String> = log
        .stored
        .iter()
        .filter(|b| !b.log_append_time || (b.max_timestamp - now).abs() > HOUR)
        .map(|b| {
            format!(
                "the batch at offset {} has timestamp type {} and max timestamp {}",
                b.base_offset,
                if b.log_append_time { "LogAppendTime" } else { "CreateTime" },
                b.max_timestamp
            )
        })
        .collect();
    if !wrong.is_empty() {
        return Err(w.verdict(format!(
            "{} of {} batches of {real}-{partition} do not carry the broker's LogAppendTime (harness clock {now}): {}",
            wrong.len(),
            log.stored.len(),
            wrong.join("; ")
        )));
    }
    Ok(())
}

/// Reads the partition from its leader (recorded in the history) and compares it with every
/// acknowledged send: each at the offset it was acknowledged at, with its key, value and headers,
/// each once.
#[then(
    expr = "partition {int} of {string} holds every acknowledged record at its offset, with its key, value and headers"
)]
async fn holds_every_record(w: &mut KafkaWorld, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    read_recorded(w, &real, partition).await?;
    w.found(checker::sends::unchanged(&w.history.events()))?;
    w.judge(&[AnomalyKind::LostWrite, AnomalyKind::Unseen, AnomalyKind::Duplicate, AnomalyKind::InconsistentOffsets])
}

// ---------------------------------------------------------------------------------------------
// Size retention

fn claim(w: &KafkaWorld, real: &str) -> Result<TopicClaim, StepError> {
    let configs = w.topic_configs.get(real).cloned().unwrap_or_default();
    TopicClaim::from_configs(&configs).map_err(|e| w.harness(e))
}

/// Kafka's size retention (`UnifiedLog.deleteRetentionSizeBreachedSegments`) deletes the oldest
/// segments while the partition would still hold at least `retention.bytes` without them. So
/// once it has run, the partition holds at least `retention.bytes` (when that much was written)
/// and less than `retention.bytes` plus its oldest segment. The size is the bytes of the batches
/// a read from the log start returns; with one batch per segment the oldest batch is the
/// oldest segment. Falling below `retention.bytes` is a verdict at once.
#[then(
    expr = "within {int} ms partition {int} of {string} holds at least retention.bytes and less than retention.bytes plus its oldest segment"
)]
async fn size_retained(w: &mut KafkaWorld, ms: u64, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let limit = claim(w, &real)?.retention_bytes;
    if limit < 0 {
        return Err(w.harness(format!("topic {topic:?} was not created with retention.bytes")));
    }
    let limit = limit as usize;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    let mut pace = tokio::time::interval(POLL);
    loop {
        pace.tick().await;
        let log = read_recorded(w, &real, partition).await?;
        let size = log.bytes();
        let oldest = log.batches.first().map_or(0, |b| b.2);
        if size < limit && log.log_start > 0 {
            return Err(w.verdict(format!(
                "partition {partition} of {real} holds {size} bytes from offset {} on: retention deleted below \
                 retention.bytes={limit}",
                log.log_start
            )));
        }
        if size < limit + oldest {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(w.verdict(format!(
                "within {ms} ms partition {partition} of {real} still holds {size} bytes in {} batches from offset {} \
                 (the oldest {oldest} bytes): more than retention.bytes={limit} plus its oldest segment",
                log.batches.len(),
                log.log_start
            )));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Compaction

fn show_log(log: &LogRead) -> String {
    let records: Vec<String> = log
        .reads
        .iter()
        .take(40)
        .map(|r| {
            let k = r.record.key.as_deref().map_or("null".into(), |k| String::from_utf8_lossy(k).into_owned());
            format!("{}:{k}={}", r.offset, r.record.value.as_deref().unwrap_or("null"))
        })
        .collect();
    let more = if log.reads.len() > 40 { ", …" } else { "" };
    format!("log start {}, end {}: [{}{more}]", log.log_start, log.end, records.join(", "))
}

/// Polls the leader's log (every read recorded) until it is compacted below its last batch
/// ([`compaction_problems`]), then records that in the history ([`Op::Compacted`]). A record at
/// a new offset is a verdict at once; running out of time is a verdict showing the superseded
/// records still there.
#[then(expr = "within {int} ms partition {int} of {string} is compacted")]
async fn compacted(w: &mut KafkaWorld, ms: u64, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    let mut pace = tokio::time::interval(POLL);
    loop {
        pace.tick().await;
        let log = read_recorded(w, &real, partition).await?;
        let acked = acknowledged(&w.history.events(), &real, partition);
        if acked.is_empty() || log.reads.is_empty() {
            return Err(w.verdict(format!(
                "{real}-{partition}: {} records acknowledged, {} read: an empty log shows nothing about compaction",
                acked.len(),
                log.reads.len()
            )));
        }
        let (superseded, moved) = compaction_problems(&log.reads, log.last_batch(), &acked);
        if !moved.is_empty() {
            return Err(w.verdict(format!(
                "compaction moved records to other offsets: {}\n  {}",
                moved.join("; "),
                show_log(&log)
            )));
        }
        if superseded.is_empty() {
            let op = Op::Compacted { topic: real.clone(), partition, below: log.last_batch() };
            w.history.record("harness", op, Outcome::Ok);
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(w.verdict(format!(
                "within {ms} ms partition {partition} of {real} is not compacted below offset {}: {}\n  {}",
                log.last_batch(),
                superseded.join("; "),
                show_log(&log)
            )));
        }
    }
}

/// The reads of the last consumer a step ran, with keys.
fn consumer_reads(w: &KafkaWorld) -> Result<Vec<Read>, StepError> {
    let process = w.last_consumer.clone().ok_or_else(|| w.harness("no consumer read before this step"))?;
    if let Some(e) = &w.consumer_error {
        return Err(w.verdict(format!("the consumer failed with {e}")));
    }
    Ok(w.history
        .events()
        .into_iter()
        .filter(|e| e.process == process && e.outcome.is_ok())
        .flat_map(|e| match e.op {
            Op::Poll { reads } => reads,
            _ => Vec::new(),
        })
        .collect())
}

/// The consumer's reads are exactly, in offset order: the last acknowledged record of each key
/// below the point the partition was last read compacted below (`Then within ... is
/// compacted`), tombstones included, then every acknowledged record from that point on, each at
/// the offset it was acknowledged at, with its key and value ([`checker::logs::latest_of_each_key`]);
/// then the history checker's compaction checks.
#[then("the consumer reads exactly the latest value of each key, in offset order, at their original offsets")]
async fn latest_of_each_key(w: &mut KafkaWorld) -> StepResult {
    let reads = consumer_reads(w)?;
    w.found(checker::logs::latest_of_each_key(&w.history.events(), &reads))?;
    w.judge_logs(&[
        AnomalyKind::CompactionLostLatest,
        AnomalyKind::CompactionKeptSuperseded,
        AnomalyKind::InconsistentOffsets,
        AnomalyKind::Duplicate,
        AnomalyKind::AlteredRecord,
    ])
}

/// The consumer read a null value for the key, at the offset its last tombstone was
/// acknowledged at.
#[then(expr = "the consumer reads a tombstone for key {string}")]
async fn reads_tombstone(w: &mut KafkaWorld, key: String) -> StepResult {
    let reads = consumer_reads(w)?;
    let at = w.history.events().iter().rev().find_map(|e| match (&e.op, &e.outcome) {
        (Op::Send { record, offset: Some(o), .. }, Outcome::Ok)
            if record.key.as_deref() == Some(key.as_bytes()) && record.value.is_none() =>
        {
            Some(*o)
        }
        _ => None,
    });
    let Some(at) = at else { return Err(w.harness(format!("no tombstone for key {key:?} was acknowledged"))) };
    let found = reads
        .iter()
        .any(|r| r.offset == at && r.record.key.as_deref() == Some(key.as_bytes()) && r.record.value.is_none());
    if !found {
        let of_key: Vec<String> =
            reads.iter().filter(|r| r.record.key.as_deref() == Some(key.as_bytes())).map(show_read).collect();
        return Err(w.verdict(format!(
            "the consumer did not read the tombstone for key {key:?} acknowledged at offset {at}; of that key it read [{}]",
            of_key.join(", ")
        )));
    }
    Ok(())
}

#[then(expr = "no record with key {string} is read")]
async fn no_record_of_key(w: &mut KafkaWorld, key: String) -> StepResult {
    let reads = consumer_reads(w)?;
    if reads.is_empty() {
        return Err(w.verdict(format!("the consumer read nothing, so its not reading key {key:?} shows nothing")));
    }
    let of_key: Vec<String> =
        reads.iter().filter(|r| r.record.key.as_deref() == Some(key.as_bytes())).map(show_read).collect();
    if !of_key.is_empty() {
        return Err(w.verdict(format!("the consumer read records with key {key:?}: [{}]", of_key.join(", "))));
    }
    Ok(())
}

/// The acknowledgement time of the last tombstone for `key`, on the history's clock, and its
/// offset.
fn tombstone_sent(events: &[Event], real: &str, partition: i32, key: &str) -> Option<(i64, u64)> {
    events.iter().rev().find_map(|e| match (&e.op, &e.outcome) {
        (Op::Send { topic, partition: p, record, offset: Some(o), .. }, Outcome::Ok)
            if topic == real
                && *p == partition
                && record.key.as_deref() == Some(key.as_bytes())
                && record.value.is_none() =>
        {
            Some((*o, e.time_ms))
        }
        _ => None,
    })
}

/// One more record with a key of its own, so the cleaner has new dirty bytes and runs again:
/// Kafka only cleans a log again when its dirty ratio passes `min.cleanable.dirty.ratio` (or
/// `max.compaction.lag.ms` passes, KIP-354), and removing a tombstone takes a pass after its
/// delete horizon (KIP-534).
async fn filler(w: &mut KafkaWorld, client: &mut WireClient, process: &str, real: &str, partition: i32) -> StepResult {
    let value = w.next_value(process);
    let record = keyed(&format!("filler-{value}"), Some(value));
    produce_one(w, client, process, real, partition, record, now_ms()).await
}

/// KIP-534: a tombstone is kept for `delete.retention.ms` after the first cleaning pass that sees
/// it, which comes after it was appended. So it is readable from the log start until at least
/// `delete.retention.ms` after it was acknowledged (less 250 ms for the time its append and
/// acknowledgement took). The partition is read every 100 ms meanwhile, while records with keys
/// of their own keep arriving so that the cleaner keeps running.
#[then(
    expr = "the tombstone for key {string} in partition {int} of {string} is readable for delete.retention.ms after it was acknowledged"
)]
async fn tombstone_kept(w: &mut KafkaWorld, key: String, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let keep = claim(w, &real)?.delete_retention_ms;
    let events = w.history.events();
    let (offset, acked_at) = tombstone_sent(&events, &real, partition, &key)
        .ok_or_else(|| w.harness(format!("no tombstone for key {key:?} was acknowledged")))?;
    let elapsed = w.history.events().last().map_or(acked_at, |e| e.time_ms).saturating_sub(acked_at);
    let left = u64::try_from(keep).unwrap_or(0).saturating_sub(checker::logs::APPEND_SLACK_MS).saturating_sub(elapsed);
    let until = tokio::time::Instant::now() + Duration::from_millis(left);
    let mut client = w.leader_wire(&real, partition).await?;
    let process = w.next_process("filler");
    let mut pace = tokio::time::interval(POLL);
    loop {
        pace.tick().await;
        if tokio::time::Instant::now() >= until {
            return Ok(());
        }
        let log = read_recorded(w, &real, partition).await?;
        let present = log.reads.iter().any(|r| r.offset == offset && r.record.value.is_none());
        if !present {
            return Err(w.verdict(format!(
                "the tombstone for key {key:?} at offset {offset} is gone less than delete.retention.ms={keep} after \
                 it was acknowledged\n  {}",
                show_log(&log)
            )));
        }
        filler(w, &mut client, &process, &real, partition).await?;
    }
}

/// After `delete.retention.ms`, a later cleaning pass removes the tombstone (KIP-534) and with it
/// the last trace of the key; an older value of the key must not come back. Records with keys
/// of their own keep arriving meanwhile (every 100 ms) so the cleaner keeps running.
#[then(expr = "within {int} ms the tombstone for key {string} is removed from partition {int} of {string}")]
async fn tombstone_removed(w: &mut KafkaWorld, ms: u64, key: String, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    let mut client = w.leader_wire(&real, partition).await?;
    let process = w.next_process("filler");
    let mut pace = tokio::time::interval(POLL);
    loop {
        pace.tick().await;
        let log = read_recorded(w, &real, partition).await?;
        let of_key: Vec<&Read> = log.reads.iter().filter(|r| r.record.key.as_deref() == Some(key.as_bytes())).collect();
        if let Some(r) = of_key.iter().find(|r| r.record.value.is_some()) {
            return Err(w.verdict(format!(
                "key {key:?} was deleted by a tombstone, but its value {} is read at offset {}\n  {}",
                show_read(r),
                r.offset,
                show_log(&log)
            )));
        }
        if of_key.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(w.verdict(format!(
                "within {ms} ms the tombstone for key {key:?} is still in partition {partition} of {real}\n  {}",
                show_log(&log)
            )));
        }
        filler(w, &mut client, &process, &real, partition).await?;
    }
}

/// KIP-58: nothing of the partition is removed for `ms` (read every 100 ms): every acknowledged
/// record is still there, at its offset.
#[then(expr = "partition {int} of {string} keeps every acknowledged record for {int} ms")]
async fn keeps_everything(w: &mut KafkaWorld, partition: i32, topic: String, ms: u64) -> StepResult {
    let real = w.topic(&topic);
    let until = tokio::time::Instant::now() + Duration::from_millis(ms);
    let mut pace = tokio::time::interval(POLL);
    while tokio::time::Instant::now() < until {
        pace.tick().await;
        let log = read_recorded(w, &real, partition).await?;
        let acked = acknowledged(&w.history.events(), &real, partition);
        if acked.is_empty() {
            return Err(w.verdict(format!("no record sent to {real}-{partition} was acknowledged: nothing to keep")));
        }
        let read: HashMap<i64, &Record> = log.reads.iter().map(|r| (r.offset, &r.record)).collect();
        let missing: Vec<String> = acked
            .iter()
            .filter(|(o, r)| read.get(o).is_none_or(|got| got.value != r.value))
            .take(10)
            .map(|(o, r)| format!("offset {o} ({})", r.value.as_deref().unwrap_or("null")))
            .collect();
        if !missing.is_empty() {
            return Err(w.verdict(format!(
                "partition {partition} of {real} no longer holds {}\n  {}",
                missing.join(", "),
                show_log(&log)
            )));
        }
    }
    Ok(())
}

/// Every replica (Metadata's replica list) has the leader's log end offset, is compacted below
/// its last batch ([`compaction_problems`]), and holds, for each key, the latest value the
/// history acknowledged, at its offset. Replicas compact independently, so their bytes differ;
/// what they must agree on is this map. Each replica's log is read with Fetch replica_id -2;
/// the reads of the last, agreeing round are recorded, one process per replica.
#[then(expr = "within {int} ms every replica of partition {int} of {string} holds the same latest value for each key")]
async fn replicas_agree(w: &mut KafkaWorld, ms: u64, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    let mut pace = tokio::time::interval(POLL);
    let timeout = w.timeout();
    loop {
        pace.tick().await;
        let acked = acknowledged(&w.history.events(), &real, partition);
        let expected = {
            let reads: Vec<Read> = acked
                .iter()
                .map(|(o, r)| Read { topic: real.clone(), partition, offset: *o, record: r.clone() })
                .collect();
            latest_values(&reads)
        };
        let view = w.view(std::slice::from_ref(&real)).await?;
        let Some(p) = view.partition(&real, partition).cloned() else {
            return Err(w.verdict(format!("Metadata does not show partition {partition} of {real}")));
        };
        let mut logs: Vec<(i32, Result<LogRead, String>)> = Vec::new();
        for r in &p.replicas {
            let addr = view.brokers.get(r).cloned();
            let log = match addr {
                None => Err("not listed in Metadata".to_string()),
                Some(a) => match WireClient::connect(&a, timeout).await {
                    Err(e) => Err(e.to_string()),
                    Ok(mut c) => match Box::pin(read_log(w, &mut c, &real, partition, true)).await {
                        Ok(l) => Ok(l),
                        Err(e) => Err(e.0),
                    },
                },
            };
            logs.push((*r, log));
        }
        let leader_end = logs.iter().find(|(r, _)| *r == p.leader).and_then(|(_, l)| l.as_ref().ok()).map(|l| l.end);
        let mut problems = Vec::new();
        for (r, log) in &logs {
            match log {
                Err(e) => problems.push(format!("broker {r}: cannot read its log: {e}")),
                Ok(l) => {
                    let (superseded, moved) = compaction_problems(&l.reads, l.last_batch(), &acked);
                    if !moved.is_empty() {
                        return Err(w.verdict(format!(
                            "broker {r}'s replica moved records to other offsets: {}\n  {}",
                            moved.join("; "),
                            show_log(l)
                        )));
                    }
                    let got = latest_values(&l.reads);
                    let mut wrong = Vec::new();
                    if Some(l.end) != leader_end {
                        wrong.push(format!("log end offset {} (the leader's: {leader_end:?})", l.end));
                    }
                    if !superseded.is_empty() {
                        wrong.push(format!("not compacted: {}", superseded.join("; ")));
                    }
                    if got != expected {
                        let diff: Vec<String> = expected
                            .iter()
                            .filter(|(k, v)| got.get(*k) != Some(v))
                            .map(|(k, (o, v))| {
                                format!(
                                    "{} is {:?} at offset {o}, the replica has {:?}",
                                    String::from_utf8_lossy(k),
                                    v.as_deref().unwrap_or("null"),
                                    got.get(k)
                                )
                            })
                            .chain(got.keys().filter(|k| !expected.contains_key(*k)).map(|k| {
                                format!(
                                    "{} is not a key with a live value, the replica has {:?}",
                                    String::from_utf8_lossy(k),
                                    got.get(k)
                                )
                            }))
                            .collect();
                        wrong.push(format!("latest values differ: {}", diff.join("; ")));
                    }
                    if !wrong.is_empty() {
                        problems.push(format!("broker {r}: {}\n    {}", wrong.join("; "), show_log(l)));
                    }
                }
            }
        }
        if problems.is_empty() {
            for (r, log) in &logs {
                if let Ok(l) = log {
                    record_log(w, &format!("replica-{r}"), &real, partition, l);
                }
            }
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(w.verdict(format!(
                "within {ms} ms the replicas of partition {partition} of {real} do not agree on the latest value of \
                 each key:\n  {}",
                problems.join("\n  ")
            )));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Consumers and the history

#[then(expr = "the consumer's first record is at offset {int}")]
async fn first_read_at(w: &mut KafkaWorld, expected: i64) -> StepResult {
    if let Some(e) = &w.consumer_error {
        return Err(w.verdict(format!("the consumer failed with {e}")));
    }
    match w.consumer_reads.first() {
        Some((o, _)) if *o == expected => Ok(()),
        Some((o, _)) => Err(w.verdict(format!("the consumer's first record is at offset {o}, not {expected}"))),
        None => Err(w.verdict("the consumer read nothing")),
    }
}

/// Every record acknowledged at or above the log start offset (ListOffsets earliest, asked now
/// and recorded) was read by the last consumer, at its offset: retention took only what is
/// below the log start.
#[then(expr = "every acknowledged record at or above the earliest offset of partition {int} of {string} is read")]
async fn read_above_log_start(w: &mut KafkaWorld, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let start = earliest(w, &real, partition).await?;
    let reads = consumer_reads(w)?;
    let read: HashMap<i64, Option<String>> = reads.iter().map(|r| (r.offset, r.record.value.clone())).collect();
    let acked = acknowledged(&w.history.events(), &real, partition);
    if acked.is_empty() {
        return Err(w.harness("no record was acknowledged before this step"));
    }
    let unread: Vec<String> = acked
        .range(start..)
        .filter(|(o, r)| read.get(o) != Some(&r.value))
        .map(|(o, r)| format!("offset {o} ({})", r.value.as_deref().unwrap_or("null")))
        .collect();
    if !unread.is_empty() {
        let n = unread.len();
        return Err(w.verdict(format!(
            "{n} records acknowledged at or above the earliest offset {start} were not read: {}",
            unread.into_iter().take(10).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(())
}

/// The history checker's retention and compaction checks, with the topics' declared configs:
/// nothing was removed that retention.ms, retention.bytes, DeleteRecords and compaction keep,
/// and nothing read was altered, moved or duplicated.
#[then("retention and compaction removed nothing they must keep")]
async fn removed_nothing_kept(w: &mut KafkaWorld) -> StepResult {
    w.judge_logs(&[
        AnomalyKind::RetentionDeletedIneligible,
        AnomalyKind::CompactionLostLatest,
        AnomalyKind::CompactionKeptSuperseded,
        AnomalyKind::TombstoneRemovedEarly,
        AnomalyKind::InconsistentOffsets,
        AnomalyKind::Duplicate,
        AnomalyKind::AlteredRecord,
    ])
}

impl KafkaWorld {
    /// What the scenario declared about each topic it created, for the log checks.
    pub fn log_claims(&self) -> Result<LogClaims, StepError> {
        let mut claims = LogClaims::default();
        for (topic, configs) in &self.topic_configs {
            let c = TopicClaim::from_configs(configs).map_err(|e| self.harness(e))?;
            claims.topics.insert(topic.clone(), c);
        }
        Ok(claims)
    }

    /// [`KafkaWorld::judge`] with the retention and compaction checks on.
    pub fn judge_logs(&self, forbidden: &[AnomalyKind]) -> StepResult {
        let report = checker::check_with(&self.history.events(), &self.log_claims()?);
        self.judged(&report, forbidden)
    }
}

/// The log, read whole from its leader, is exactly the records last acknowledged at each offset
/// of the range, each once with a valid CRC, and nothing else: the check after a recovery, where
/// an offset cut off with a damaged tail is acknowledged again to a later append.
#[then(expr = "partition {int} of {string} holds exactly the records acknowledged at offsets {int} to {int}")]
async fn holds_exactly(w: &mut KafkaWorld, partition: i32, topic: String, first: i64, last: i64) -> StepResult {
    let real = w.topic(&topic);
    let mut acked: HashMap<i64, Option<String>> = HashMap::new();
    let mut refused: Vec<String> = Vec::new();
    for e in w.history.events() {
        match (e.op, e.outcome) {
            (Op::Send { topic: t, partition: p, record, offset: Some(o), .. }, Outcome::Ok)
                if t == real && p == partition =>
            {
                acked.insert(o, record.value);
            }
            (Op::Send { topic: t, partition: p, .. }, Outcome::Fail { error } | Outcome::Unknown { error })
                if t == real && p == partition =>
            {
                refused.push(error);
            }
            _ => {}
        }
    }
    let unacked: Vec<i64> = (first..=last).filter(|o| !acked.contains_key(o)).collect();
    if let Some(o) = unacked.first() {
        let why = refused.first().map_or(String::new(), |e| {
            format!("; {} sends to {real}-{partition} were not acknowledged, the first with {e}", refused.len())
        });
        return Err(w.verdict(format!(
            "no record was acknowledged at offset {o} ({} of offsets {first}..={last} were not), so the log there \
             cannot be judged{why}",
            unacked.len()
        )));
    }
    let log = read_recorded(w, &real, partition).await?;
    let mut problems = Vec::new();
    if log.log_start != first {
        problems.push(format!("the log starts at offset {}, not {first}", log.log_start));
    }
    if let Some(b) = log.stored.iter().find(|b| !b.crc_ok) {
        problems
            .push(format!("the batch at offset {} is served with a CRC that does not match its bytes", b.base_offset));
    }
    let mut expected = first;
    for r in &log.reads {
        if problems.len() >= 5 {
            break;
        }
        if r.offset != expected {
            problems.push(format!("offset {} is read where offset {expected} was expected", r.offset));
            expected = r.offset;
        }
        match acked.get(&r.offset) {
            _ if r.offset > last => {
                problems.push(format!("offset {} is past {last}, where nothing was acknowledged", r.offset))
            }
            Some(v) if *v != r.record.value => problems.push(format!(
                "offset {} holds {:?}; {:?} was acknowledged there",
                r.offset,
                r.record.value.as_deref().unwrap_or("null"),
                v.as_deref().unwrap_or("null")
            )),
            _ => {}
        }
        expected += 1;
    }
    if expected <= last && problems.len() < 5 {
        problems.push(format!("the log ends at offset {expected}; records were acknowledged up to {last}"));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(w.verdict(format!(
        "{real}-{partition} read from its log start ({} records, high watermark {}) is not the records acknowledged at \
         offsets {first}..={last}:\n  - {}",
        log.reads.len(),
        log.end,
        problems.join("\n  - ")
    )))
}
