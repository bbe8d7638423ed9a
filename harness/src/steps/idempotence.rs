//! The idempotent producer on the wire (KIP-98, KIP-360): a producer id from InitProducerId,
//! batches numbered by sequence, sent, pipelined, or sent again byte for byte, and the log read
//! back to compare with the order the producer numbered its batches in.
//!
//! The scenario is the client: it says which batch goes when, on which connection, and which is
//! sent again, so every interleaving a retrying producer can create is exact and repeatable. The
//! same wire producer, without a producer id, shows what happens without idempotence. Every
//! attempt is recorded in the history with its answer, and a batch sent again carries the same
//! records (the same values), so a broker that appends it twice shows a `duplicate`.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use cucumber::{given, then, when};
use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, ProducerId, RequestKind, ResponseKind};
use kafka_protocol::records::Compression;

use super::common::{record_sends, send_batch};
use super::name;
use crate::batches::{ProducerFields, encode_batch_as, whole_batches};
use crate::history::{Op, Outcome, Read, Record};
use crate::requests::{fetch_request, produce_request, produce_result};
use crate::wire::{WireClient, WireError};
use crate::world::{KafkaWorld, StepError, StepResult};

const POLL: Duration = Duration::from_millis(50);

/// The wire producer of a scenario: its producer id (if idempotent) and every batch it made.
#[derive(Debug)]
pub struct WireProducer {
    /// Producer id and epoch from InitProducerId; `None` without idempotence.
    id: Option<(i64, i16)>,
    process: String,
    /// The sequence the next batch to a (real topic, partition) gets, as producers number them:
    /// from 0, per partition, one per record.
    next_sequence: BTreeMap<(String, i32), i32>,
    /// In the order the producer made them: `batch N` is the N-th.
    batches: Vec<Batch>,
    /// The batch the last answer was to: what "it" refers to.
    last: Option<usize>,
}

#[derive(Debug)]
struct Batch {
    topic: String,
    partition: i32,
    records: Vec<Record>,
    fields: ProducerFields,
    /// The batch as the producer encoded it: what it sends, and sends again.
    bytes: Bytes,
    /// Where its records were first appended: the base offset of its first acknowledgement, or
    /// where the log grew while its answer was lost.
    original_offset: Option<i64>,
    answers: Vec<Answer>,
}

#[derive(Debug, Clone)]
struct Answer {
    /// Kafka's error name, or what kept the answer from arriving.
    error: String,
    base_offset: Option<i64>,
}

impl Answer {
    fn from_result(result: Result<&ResponseKind, &WireError>) -> Answer {
        match result.map(produce_result) {
            Ok(Some((error, base))) => {
                let base_offset = (error == "NONE").then_some(base);
                Answer { error, base_offset }
            }
            Ok(None) => Answer { error: "not a Produce response".into(), base_offset: None },
            Err(e) => Answer { error: format!("no answer ({e})"), base_offset: None },
        }
    }

    fn acknowledged(&self) -> bool {
        self.error == "NONE"
    }
}

impl WireProducer {
    fn new(id: Option<(i64, i16)>, process: String) -> WireProducer {
        WireProducer { id, process, next_sequence: BTreeMap::new(), batches: Vec::new(), last: None }
    }

    /// "batch 2 (sequence 10)", with the epoch when it is not the one InitProducerId gave.
    fn label(&self, i: usize) -> String {
        let Some(b) = self.batches.get(i) else { return format!("batch {}", i + 1) };
        match self.id {
            None => format!("batch {}", i + 1),
            Some((_, epoch)) if b.fields.epoch != epoch => {
                format!("batch {} (sequence {}, epoch {})", i + 1, b.fields.base_sequence, b.fields.epoch)
            }
            Some(_) => format!("batch {} (sequence {})", i + 1, b.fields.base_sequence),
        }
    }

    fn find(&self, r: BatchRef) -> Result<usize, String> {
        match r {
            BatchRef::Nth(n) if n >= 1 && n <= self.batches.len() => Ok(n - 1),
            BatchRef::Nth(n) => Err(format!("there is no batch {n}: the producer made {}", self.batches.len())),
            BatchRef::Sequence(_) if self.id.is_none() => {
                Err("without idempotence batches have no sequence: name them `batch <n>`".into())
            }
            BatchRef::Sequence(s) => {
                let found: Vec<usize> =
                    (0..self.batches.len()).filter(|&i| self.batches[i].fields.base_sequence == s).collect();
                match found.as_slice() {
                    [i] => Ok(*i),
                    [] => Err(format!("no batch was sent with sequence {s}")),
                    _ => Err(format!("several batches have sequence {s}: name one by its number (`batch <n>`)")),
                }
            }
        }
    }
}

/// A batch the wire producer made: `batch 2` (the second it made) or `the batch with sequence
/// 10` (its base sequence; idempotent producers only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, cucumber::Parameter)]
#[param(name = "batch", regex = r"batch \d+|the batch with sequence -?\d+")]
pub enum BatchRef {
    Nth(usize),
    Sequence(i32),
}

impl FromStr for BatchRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |_| format!("{s:?} names no batch");
        if let Some(seq) = s.strip_prefix("the batch with sequence ") {
            return seq.parse().map(BatchRef::Sequence).map_err(bad);
        }
        match s.strip_prefix("batch ") {
            Some(n) => n.parse().map(BatchRef::Nth).map_err(bad),
            None => Err(format!("{s:?} names no batch")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The producer

/// Errors after which Kafka's producer asks InitProducerId again: the broker is not ready to
/// hand out producer ids yet.
fn retriable_init_error(error: &str) -> bool {
    matches!(
        error,
        "COORDINATOR_NOT_AVAILABLE"
            | "COORDINATOR_LOAD_IN_PROGRESS"
            | "NOT_COORDINATOR"
            | "CONCURRENT_TRANSACTIONS"
            | "REQUEST_TIMED_OUT"
    )
}

/// InitProducerId with a null transactional id: a new producer id and its epoch (0), as Kafka's
/// producer asks with enable.idempotence=true. transaction_timeout_ms is what the Java producer
/// sends by default (transaction.timeout.ms, 60000); the broker ignores it without a
/// transactional id.
async fn init_producer_id(w: &mut KafkaWorld, client: &mut WireClient) -> Result<(i64, i16), StepError> {
    let req = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let deadline = tokio::time::Instant::now() + w.timeout();
    let mut pace = tokio::time::interval(POLL);
    loop {
        pace.tick().await;
        let resp = client.request(RequestKind::InitProducerId(req.clone())).await.map_err(|e| w.wire_error(e))?;
        let ResponseKind::InitProducerId(r) = resp else {
            return Err(w.harness("InitProducerId answered with another response type"));
        };
        let error = name(r.error_code);
        if error == "NONE" {
            if r.producer_id.0 < 0 || r.producer_epoch < 0 {
                return Err(w.verdict(format!(
                    "InitProducerId answered NONE with producer id {} and epoch {}: not a producer id",
                    r.producer_id.0, r.producer_epoch
                )));
            }
            return Ok((r.producer_id.0, r.producer_epoch));
        }
        if !retriable_init_error(&error) || tokio::time::Instant::now() >= deadline {
            return Err(w.verdict(format!("InitProducerId for an idempotent producer failed with {error}")));
        }
    }
}

/// A connection to a broker that advertises InitProducerId, or "not supported".
async fn idempotence_client(w: &mut KafkaWorld) -> Result<WireClient, StepError> {
    let client = w.wire().await?;
    if client.advertised(ApiKey::InitProducerId).is_none() {
        return Err(w.unsupported(
            "the broker does not advertise InitProducerId (api key 22) in ApiVersions: producers cannot be idempotent",
        ));
    }
    Ok(client)
}

#[given("the brokers support idempotent producers")]
async fn brokers_support(w: &mut KafkaWorld) -> StepResult {
    idempotence_client(w).await.map(|_| ())
}

#[given("an idempotent producer on the wire client")]
async fn idempotent_producer(w: &mut KafkaWorld) -> StepResult {
    let mut client = idempotence_client(w).await?;
    let id = init_producer_id(w, &mut client).await?;
    let process = w.next_process("idempotent-producer");
    w.wire_producer = Some(WireProducer::new(Some(id), process));
    Ok(())
}

#[given("a producer without idempotence on the wire client")]
async fn plain_producer(w: &mut KafkaWorld) -> StepResult {
    let process = w.next_process("wire-producer");
    w.wire_producer = Some(WireProducer::new(None, process));
    Ok(())
}

/// The scenario's wire producer; one without idempotence if no Given made one.
fn producer(w: &mut KafkaWorld) -> &mut WireProducer {
    let process = if w.wire_producer.is_none() { w.next_process("wire-producer") } else { String::new() };
    w.wire_producer.get_or_insert_with(|| WireProducer::new(None, process))
}

/// Makes the next batch: `n` new records, numbered from `sequence` (or where the producer's
/// numbering for the partition stands), with `epoch` (or the producer's). Returns its index.
fn make_batch(
    w: &mut KafkaWorld,
    real: &str,
    partition: i32,
    n: usize,
    sequence: Option<i32>,
    epoch: Option<i16>,
) -> Result<usize, StepError> {
    if n == 0 {
        return Err(w.harness("a batch holds at least one record"));
    }
    let (id, process) = {
        let p = producer(w);
        (p.id, p.process.clone())
    };
    let fields = match id {
        None if sequence.is_some() || epoch.is_some() => {
            return Err(w.harness(
                "sequences and epochs belong to an idempotent producer: start with `Given an idempotent producer on the wire client`",
            ));
        }
        None => ProducerFields::NONE,
        Some((producer_id, current_epoch)) => {
            let key = (real.to_string(), partition);
            let p = producer(w);
            let base = sequence.unwrap_or_else(|| p.next_sequence.get(&key).copied().unwrap_or(0));
            p.next_sequence.insert(key, increment_sequence(base, n as i32));
            ProducerFields { producer_id, epoch: epoch.unwrap_or(current_epoch), base_sequence: base }
        }
    };
    let records: Vec<Record> = (0..n).map(|_| Record::value(w.next_value(&process))).collect();
    let bytes =
        encode_batch_as(&records, Compression::None, crate::clock::now_ms(), fields).map_err(|e| w.harness(e))?;
    let p = producer(w);
    p.batches.push(Batch {
        topic: real.to_string(),
        partition,
        records,
        fields,
        bytes,
        original_offset: None,
        answers: Vec::new(),
    });
    Ok(p.batches.len() - 1)
}

/// Keeps an answer to batch `i`: for `it`, for the Then steps about batches, and for
/// `Then the request fails with ...`.
fn remember(w: &mut KafkaWorld, i: usize, answer: Answer) {
    w.last_error = Some(answer.error.clone());
    let p = producer(w);
    if let Some(b) = p.batches.get_mut(i) {
        if b.original_offset.is_none() && answer.acknowledged() {
            b.original_offset = answer.base_offset;
        }
        b.answers.push(answer);
        p.last = Some(i);
    }
}

/// Sends batch `i` as the producer encoded it, with acks=all, to the partition's leader (the
/// new one after a failover: [`super::to_leader`]), and keeps the answer.
async fn send(w: &mut KafkaWorld, i: usize) -> StepResult {
    let (topic, partition, records, bytes, process) = {
        let p = producer(w);
        let b = &p.batches[i];
        (b.topic.clone(), b.partition, b.records.clone(), b.bytes.clone(), p.process.clone())
    };
    let mut client = w.leader_wire(&topic, partition).await?;
    let result = send_batch(w, &mut client, &process, &topic, partition, &records, bytes).await?;
    remember(w, i, Answer::from_result(result.as_ref()));
    Ok(())
}

/// The batch with one bit of its last record's value flipped: it still parses, and only its
/// CRC-32C tells (the last byte of an uncompressed batch without headers is the header count,
/// the one before it the value's last byte).
fn corrupted(bytes: &Bytes) -> Bytes {
    let mut b = BytesMut::from(&bytes[..]);
    let at = b.len().saturating_sub(2);
    if let Some(byte) = b.get_mut(at) {
        *byte ^= 0x01;
    }
    b.freeze()
}

/// Makes `n` batches and writes them on one connection before reading any answer, acks=all;
/// the first is corrupted on its way if asked, as a flaky link would.
async fn pipeline(
    w: &mut KafkaWorld,
    n: usize,
    per: usize,
    partition: i32,
    topic: &str,
    from: Option<i32>,
    corrupt_first: bool,
) -> StepResult {
    let real = w.topic(topic);
    let mut made = Vec::with_capacity(n);
    for k in 0..n {
        let sequence = from.map(|f| increment_sequence(f, (k * per) as i32));
        made.push(make_batch(w, &real, partition, per, sequence, None)?);
    }
    let timeout_ms = w.timeout().as_millis() as i32;
    let reqs: Vec<RequestKind> = {
        let p = producer(w);
        made.iter()
            .enumerate()
            .map(|(k, &i)| {
                let bytes = &p.batches[i].bytes;
                let bytes = if corrupt_first && k == 0 { corrupted(bytes) } else { bytes.clone() };
                produce_request(&real, partition, bytes, -1, timeout_ms)
            })
            .collect()
    };
    let mut client = w.leader_wire(&real, partition).await?;
    let results = client.pipeline(reqs).await.map_err(|e| w.wire_error(e))?;
    let process = producer(w).process.clone();
    for (&i, result) in made.iter().zip(results.iter()) {
        let records = producer(w).batches[i].records.clone();
        record_sends(w, &process, &real, partition, &records, result.as_ref());
        remember(w, i, Answer::from_result(result.as_ref()));
    }
    Ok(())
}

#[when(expr = "{int} batches of {int} record(s) are pipelined to partition {int} of {string}")]
async fn pipelined(w: &mut KafkaWorld, n: usize, per: usize, partition: i32, topic: String) -> StepResult {
    pipeline(w, n, per, partition, &topic, None, false).await
}

#[when(
    expr = "{int} batches of {int} record(s) with sequences from {int} are pipelined to partition {int} of {string}"
)]
async fn pipelined_from(
    w: &mut KafkaWorld,
    n: usize,
    per: usize,
    from: i32,
    partition: i32,
    topic: String,
) -> StepResult {
    pipeline(w, n, per, partition, &topic, Some(from), false).await
}

#[when(
    expr = "{int} batches of {int} record(s) are pipelined to partition {int} of {string}, the first corrupted in transit"
)]
async fn pipelined_corrupt(w: &mut KafkaWorld, n: usize, per: usize, partition: i32, topic: String) -> StepResult {
    if n < 2 {
        return Err(w.harness("corrupting the first of the pipelined batches needs at least 2 of them"));
    }
    pipeline(w, n, per, partition, &topic, None, true).await
}

async fn send_new(
    w: &mut KafkaWorld,
    n: usize,
    partition: i32,
    topic: &str,
    sequence: Option<i32>,
    epoch: Option<i16>,
) -> StepResult {
    let real = w.topic(topic);
    let i = make_batch(w, &real, partition, n, sequence, epoch)?;
    send(w, i).await
}

#[when(expr = "a batch of {int} record(s) is sent to partition {int} of {string}")]
async fn a_batch(w: &mut KafkaWorld, n: usize, partition: i32, topic: String) -> StepResult {
    send_new(w, n, partition, &topic, None, None).await
}

#[when(expr = "a batch of {int} record(s) with sequence {int} is sent to partition {int} of {string}")]
async fn a_batch_at(w: &mut KafkaWorld, n: usize, sequence: i32, partition: i32, topic: String) -> StepResult {
    send_new(w, n, partition, &topic, Some(sequence), None).await
}

#[when(expr = "a batch of {int} record(s) with sequence {int} and epoch {int} is sent to partition {int} of {string}")]
async fn a_batch_at_epoch(
    w: &mut KafkaWorld,
    n: usize,
    sequence: i32,
    epoch: i16,
    partition: i32,
    topic: String,
) -> StepResult {
    send_new(w, n, partition, &topic, Some(sequence), Some(epoch)).await
}

/// The request is written and never answered as far as the producer knows: the connection is
/// closed unread once a read of the partition shows the batch appended, so the outcome is
/// unknown to the producer and the retry that follows is a real retry. Where its first record
/// was read is its original offset.
#[when(expr = "a batch of {int} record(s) is sent to partition {int} of {string} and its answer is lost")]
async fn answer_lost(w: &mut KafkaWorld, n: usize, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let i = make_batch(w, &real, partition, n, None, None)?;
    let (records, bytes, process) = {
        let p = producer(w);
        let b = &p.batches[i];
        (b.records.clone(), b.bytes.clone(), p.process.clone())
    };
    let req = produce_request(&real, partition, bytes, -1, w.timeout().as_millis() as i32);
    let mut client = w.leader_wire(&real, partition).await?;
    let version = client.version_for(ApiKey::Produce).map_err(|e| w.wire_error(e))?;
    client.send_at(&req, version).await.map_err(|e| w.wire_error(e))?;
    let deadline = tokio::time::Instant::now() + w.timeout();
    let mut pace = tokio::time::interval(POLL);
    let first = records.first().and_then(|r| r.value.clone());
    let appended_at = loop {
        pace.tick().await;
        let log = fetch_partition(w, &real, partition).await?;
        if let Some(at) = log.iter().find(|r| r.record.value.is_some() && r.record.value == first).map(|r| r.offset) {
            break at;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(w.harness(format!(
                "the batch was not readable within {} ms of the request ({} records read): it was not appended, so \
                 there is no lost answer to retry",
                w.timeout().as_millis(),
                log.len()
            )));
        }
    };
    drop(client);
    for r in &records {
        w.history.record(
            &process,
            Op::Send { topic: real.clone(), partition, record: r.clone(), offset: None, timestamp: None },
            Outcome::Unknown { error: "the answer was lost: the connection was closed unread".into() },
        );
    }
    let p = producer(w);
    p.batches[i].original_offset = Some(appended_at);
    p.batches[i].answers.push(Answer { error: "no answer (lost)".into(), base_offset: None });
    p.last = Some(i);
    Ok(())
}

/// The same bytes again, as a producer retries a batch: same records, same producer id,
/// epoch and sequence.
#[when(expr = "{batch} is sent again")]
async fn sent_again(w: &mut KafkaWorld, which: BatchRef) -> StepResult {
    let i = producer(w).find(which).map_err(|e| w.harness(e))?;
    send(w, i).await
}

// ---------------------------------------------------------------------------------------------
// Outcomes

/// A duplicate is answered as the original was: error NONE and the base offset the batch got
/// when it was first appended (Kafka's `ProducerStateEntry.findDuplicateBatch`).
#[then("it is acknowledged with its original offset")]
async fn original_offset(w: &mut KafkaWorld) -> StepResult {
    let p = producer(w);
    let Some(i) = p.last else { return Err(w.harness("no batch was sent before this step")) };
    let label = p.label(i);
    let b = &p.batches[i];
    let (original, answer) = (b.original_offset, b.answers.last().cloned());
    let Some(original) = original else {
        return Err(w.harness(format!("{label} was never appended, so it has no original offset")));
    };
    match answer {
        Some(a) if a.acknowledged() && a.base_offset == Some(original) => Ok(()),
        Some(a) if a.acknowledged() => Err(w.verdict(format!(
            "{label} was first appended at offset {original}; sent again, it is acknowledged at offset {}: \
             the broker appended it twice (new-offset-for-duplicate)",
            a.base_offset.map_or("?".into(), |o| o.to_string())
        ))),
        // Refusing a duplicate appends nothing, so exactly-once may still hold (the log is judged
        // apart); the answer is not Kafka's.
        Some(a) => Err(w.differs(format!(
            "{label} was first appended at offset {original}; sent again, the broker answers {} where Kafka \
             answers NONE with the original offset (UnifiedLog.append returns the duplicate's first and last \
             offsets from ProducerStateEntry.findDuplicateBatch)",
            a.error
        ))),
        None => Err(w.harness(format!("{label} has no answer"))),
    }
}

fn last_answer(w: &mut KafkaWorld, which: BatchRef) -> Result<(String, Answer), StepError> {
    let p = producer(w);
    let found = p.find(which).map(|i| (p.label(i), p.batches[i].answers.last().cloned()));
    match found {
        Ok((label, Some(a))) => Ok((label, a)),
        Ok((label, None)) => Err(w.harness(format!("{label} was never sent"))),
        Err(e) => Err(w.harness(e)),
    }
}

#[then(expr = "{batch} is acknowledged")]
async fn batch_acknowledged(w: &mut KafkaWorld, which: BatchRef) -> StepResult {
    let (label, a) = last_answer(w, which)?;
    if a.acknowledged() {
        return Ok(());
    }
    Err(w.verdict(format!("{label} is answered {}, not acknowledged", a.error)))
}

#[then(expr = "{batch} is refused with {word}")]
async fn batch_refused(w: &mut KafkaWorld, which: BatchRef, expected: String) -> StepResult {
    let (label, a) = last_answer(w, which)?;
    if a.error == expected {
        return Ok(());
    }
    if a.acknowledged() {
        let at = a.base_offset.map_or("an unknown offset".to_string(), |o| format!("offset {o}"));
        return Err(w.verdict(format!("{label} is acknowledged at {at}; Kafka refuses it with {expected}")));
    }
    Err(w.differs(format!("{label} is answered {} where Kafka answers {expected}", a.error)))
}

/// Reads the whole partition from its leader with Fetch (v12 at most: topics by name), from
/// offset 0 to the high watermark, and records the read in the history.
async fn read_partition(w: &mut KafkaWorld, real: &str, partition: i32) -> Result<Vec<Read>, StepError> {
    let reads = fetch_partition(w, real, partition).await?;
    let process = w.next_process("wire-consumer");
    w.history.record(&process, Op::Seek { topic: real.to_string(), partition, offset: Some(0) }, Outcome::Ok);
    w.history.record(&process, Op::Poll { reads: reads.clone() }, Outcome::Ok);
    Ok(reads)
}

/// [`read_partition`] without recording it.
async fn fetch_partition(w: &mut KafkaWorld, real: &str, partition: i32) -> Result<Vec<Read>, StepError> {
    let mut client = w.leader_wire(real, partition).await?;
    let mut reads = Vec::new();
    let mut offset = 0;
    loop {
        let req = fetch_request(real, partition, offset, 1 << 20, 0, 0);
        let resp = super::to_leader(w, &mut client, real, partition, &req, Some(12)).await?;
        let ResponseKind::Fetch(r) = resp.map_err(|e| w.wire_error(e))? else {
            return Err(w.harness("Fetch answered with another response type"));
        };
        let Some(p) = r.responses.first().and_then(|t| t.partitions.first()) else {
            return Err(w.verdict(format!("the Fetch of {real}-{partition} answered no partition")));
        };
        if p.error_code != 0 {
            return Err(w.verdict(format!(
                "the Fetch of {real}-{partition} from offset {offset} failed with {}",
                name(p.error_code)
            )));
        }
        let high_watermark = p.high_watermark;
        let bytes = p.records.clone().unwrap_or_default();
        let mut progressed = false;
        for (_, last, batch) in whole_batches(&bytes) {
            let records = crate::batches::records(batch).map_err(|e| w.verdict(e))?;
            for (offset, record) in records.into_iter().filter(|(o, _)| *o >= offset) {
                reads.push(Read { topic: real.to_string(), partition, offset, record });
            }
            if last >= offset {
                offset = last + 1;
                progressed = true;
            }
        }
        if !progressed || offset >= high_watermark {
            break;
        }
    }
    Ok(reads)
}

/// One stretch of the log holding consecutive records of one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    batch: usize,
    first: i64,
    last: i64,
}

/// The producer's records as the log holds them: runs of consecutive offsets from one batch.
/// Records of other producers are left out.
fn runs(log: &[(i64, usize)]) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    for &(offset, batch) in log {
        match out.last_mut() {
            Some(r) if r.batch == batch && r.last + 1 == offset => r.last = offset,
            _ => out.push(Run { batch, first: offset, last: offset }),
        }
    }
    out
}

/// What is wrong with the log compared with the batches the broker took (`expected`, in the
/// order the producer numbered them): each problem a line, empty when the log holds exactly
/// those records, each once, in that order. `log` holds (offset, batch, record index).
fn problems(p: &WireProducer, expected: &[usize], log: &[(i64, usize, usize)]) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen: HashMap<(usize, usize), Vec<i64>> = HashMap::new();
    for &(offset, b, r) in log {
        seen.entry((b, r)).or_default().push(offset);
    }
    let by_batch = runs(&log.iter().map(|&(o, b, _)| (o, b)).collect::<Vec<_>>());
    let runs_of = |b: usize| -> String {
        let list: Vec<String> =
            by_batch.iter().filter(|r| r.batch == b).map(|r| format!("{}..={}", r.first, r.last)).collect();
        list.join(" and ")
    };
    let mut batches: Vec<usize> = log.iter().map(|&(_, b, _)| b).collect();
    batches.sort_unstable();
    batches.dedup();
    for &b in &batches {
        let records = p.batches[b].records.len();
        if (0..records).any(|r| seen.get(&(b, r)).is_some_and(|o| o.len() > 1)) {
            out.push(format!("duplicate: {} is in the log more than once, at offsets {}", p.label(b), runs_of(b)));
        }
        if !expected.contains(&b) {
            let answer = p.batches[b].answers.last().map_or("nothing".to_string(), |a| a.error.clone());
            out.push(format!(
                "{} was answered {answer}, so nothing of it may be appended, but it is at offsets {}",
                p.label(b),
                runs_of(b)
            ));
        }
    }
    for &b in expected {
        let missing = (0..p.batches[b].records.len()).filter(|r| !seen.contains_key(&(b, *r))).count();
        if missing > 0 {
            let at = p.batches[b].original_offset.map_or(String::new(), |o| format!(" (appended at offset {o})"));
            out.push(format!(
                "lost: {missing} of the {} records of {}{at} are not in the log",
                p.batches[b].records.len(),
                p.label(b)
            ));
        }
    }
    // The order: each batch's first appearance, against the order the producer numbered them.
    let mut first_seen: Vec<usize> = Vec::new();
    for r in &by_batch {
        if expected.contains(&r.batch) && !first_seen.contains(&r.batch) {
            first_seen.push(r.batch);
        }
    }
    let in_order: Vec<usize> = expected.iter().copied().filter(|b| first_seen.contains(b)).collect();
    if let Some(k) = (0..in_order.len()).find(|&k| in_order[k] != first_seen[k]) {
        let (early, late) = (first_seen[k], in_order[k]);
        let at = |b: usize| by_batch.iter().find(|r| r.batch == b).map_or(-1, |r| r.first);
        out.push(format!(
            "reordered: {} is at offset {}, before {} at offset {}, which the producer sent first",
            p.label(early),
            at(early),
            p.label(late),
            at(late)
        ));
    }
    out
}

/// The log holds every batch the broker took from this producer (acknowledged, or known to be
/// appended though its answer was lost), each record once, in the order the producer numbered
/// them (its sequence order, which is the order it first sent them), and nothing of a batch it
/// refused. A verdict lists each difference and the log as the producer's batches.
#[then(expr = "partition {int} of {string} holds the records in sequence order, each once")]
async fn holds_in_order(w: &mut KafkaWorld, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let owner: HashMap<String, (usize, usize)> = {
        let p = producer(w);
        p.batches
            .iter()
            .enumerate()
            .filter(|(_, b)| b.topic == real && b.partition == partition)
            .flat_map(|(i, b)| {
                b.records.iter().enumerate().filter_map(move |(r, rec)| Some((rec.value.clone()?, (i, r))))
            })
            .collect()
    };
    if owner.is_empty() {
        return Err(w.harness(format!("the wire producer sent nothing to partition {partition} of {real}")));
    }
    let reads = read_partition(w, &real, partition).await?;
    let log: Vec<(i64, usize, usize)> = reads
        .iter()
        .filter_map(|r| r.record.value.as_ref().and_then(|v| owner.get(v)).map(|&(b, i)| (r.offset, b, i)))
        .collect();
    let p = producer(w);
    let expected: Vec<usize> = (0..p.batches.len())
        .filter(|&i| {
            let b = &p.batches[i];
            b.topic == real && b.partition == partition && b.original_offset.is_some()
        })
        .collect();
    let found = problems(p, &expected, &log);
    if found.is_empty() && expected.is_empty() {
        // Every batch refused and nothing in the log: order holds trivially, and shows nothing.
        return Err(w.verdict(format!(
            "the broker took none of the producer's batches to partition {partition} of {real}, so nothing \
             shows their order"
        )));
    }
    if found.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = runs(&log.iter().map(|&(o, b, _)| (o, b)).collect::<Vec<_>>())
        .iter()
        .map(|r| format!("offsets {}..={}: {}", r.first, r.last, p.label(r.batch)))
        .collect();
    let order: Vec<String> = expected.iter().map(|&b| p.label(b)).collect();
    let msg = format!(
        "partition {partition} of {real} does not hold the producer's records in sequence order, each once:\n  {}\n\
         expected, in this order: {}\nthe log holds: {}",
        found.join("\n  "),
        order.join(", "),
        if shown.is_empty() { "none of them".to_string() } else { shown.join("; ") }
    );
    Err(w.verdict(msg))
}

/// Where the log first holds a record of each batch: a demonstration of the order the broker
/// appended two batches in.
#[then(expr = "partition {int} of {string} holds {batch} before {batch}")]
async fn holds_before(w: &mut KafkaWorld, partition: i32, topic: String, a: BatchRef, b: BatchRef) -> StepResult {
    let real = w.topic(&topic);
    let (ia, ib) = {
        let p = producer(w);
        (p.find(a), p.find(b))
    };
    let (ia, ib) = match (ia, ib) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(e), _) | (_, Err(e)) => return Err(w.harness(e)),
    };
    let reads = read_partition(w, &real, partition).await?;
    let p = producer(w);
    let first_of = |i: usize| {
        let values: Vec<&String> = p.batches[i].records.iter().filter_map(|r| r.value.as_ref()).collect();
        reads.iter().find(|r| r.record.value.as_ref().is_some_and(|v| values.contains(&v))).map(|r| r.offset)
    };
    let (la, lb) = (p.label(ia), p.label(ib));
    match (first_of(ia), first_of(ib)) {
        (Some(x), Some(y)) if x < y => Ok(()),
        (Some(x), Some(y)) => {
            Err(w.verdict(format!("{la} is at offset {x} and {lb} at offset {y}: {la} is not before {lb}")))
        }
        (None, _) => Err(w.verdict(format!("{la} is not in partition {partition} of {real}"))),
        (_, None) => Err(w.verdict(format!("{lb} is not in partition {partition} of {real}"))),
    }
}

/// librdkafka checks its configuration when the producer is created, before connecting. A
/// configuration it accepts after all is a fact about the bundled librdkafka, not the broker.
#[then(expr = "creating the producer fails with a configuration error mentioning {string}")]
async fn config_refused(w: &mut KafkaWorld, mention: String) -> StepResult {
    match crate::kafka::producer_config_error(&w.producer_config) {
        Some(e) if e.contains(&mention) => {
            println!("librdkafka: {e}");
            Ok(())
        }
        Some(e) => Err(w.harness(format!("librdkafka refuses the configuration, but says {e:?}, not {mention:?}"))),
        None => Err(w.harness(format!(
            "librdkafka accepts the configuration {:?}: the client fact this scenario documents no longer holds",
            w.producer_config
        ))),
    }
}

/// Kafka's `DefaultRecordBatch.incrementSequence`: sequences wrap from 2147483647 to 0, never
/// to a negative number.
pub(crate) fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX - increment { increment - (i32::MAX - sequence) - 1 } else { sequence + increment }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn sequences_wrap_to_zero_as_kafka_increments_them() {
        assert_eq!(super::increment_sequence(i32::MAX - 9, 10), 0);
        assert_eq!(super::increment_sequence(i32::MAX - 9, 20), 10);
        assert_eq!(super::increment_sequence(5, 10), 15);
    }

    use super::*;
    use kafka_protocol::records::RecordBatchDecoder;

    fn producer_with(batches: &[(i32, usize, Option<i64>, &str)]) -> WireProducer {
        let mut p = WireProducer::new(Some((7, 0)), "p".into());
        for (k, &(seq, n, original, answer)) in batches.iter().enumerate() {
            p.batches.push(Batch {
                topic: "t".into(),
                partition: 0,
                records: (0..n).map(|r| Record::value(format!("b{k}-{r}"))).collect(),
                fields: ProducerFields { producer_id: 7, epoch: 0, base_sequence: seq },
                bytes: Bytes::new(),
                original_offset: original,
                answers: vec![Answer { error: answer.into(), base_offset: original }],
            });
        }
        p
    }

    /// (offset, batch, record) for batches laid out one after another.
    fn laid_out(order: &[(usize, usize)]) -> Vec<(i64, usize, usize)> {
        let mut out = Vec::new();
        for &(b, n) in order {
            for r in 0..n {
                out.push((out.len() as i64, b, r));
            }
        }
        out
    }

    #[test]
    fn batch_refs_parse() {
        assert_eq!("batch 2".parse::<BatchRef>(), Ok(BatchRef::Nth(2)));
        assert_eq!("the batch with sequence 10".parse::<BatchRef>(), Ok(BatchRef::Sequence(10)));
        assert_eq!("the batch with sequence 2147483647".parse::<BatchRef>(), Ok(BatchRef::Sequence(i32::MAX)));
        assert!("batch two".parse::<BatchRef>().is_err());
    }

    #[test]
    fn a_log_in_sequence_order_has_no_problem() {
        let p = producer_with(&[(0, 2, Some(0), "NONE"), (2, 2, Some(2), "NONE")]);
        assert!(problems(&p, &[0, 1], &laid_out(&[(0, 2), (1, 2)])).is_empty());
    }

    #[test]
    fn a_batch_appended_twice_is_a_duplicate() {
        let p = producer_with(&[(0, 2, Some(0), "NONE"), (2, 2, Some(2), "NONE")]);
        let found = problems(&p, &[0, 1], &laid_out(&[(0, 2), (1, 2), (0, 2)]));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("duplicate: batch 1 (sequence 0)"), "{found:?}");
        assert!(found[0].contains("0..=1 and 4..=5"), "{found:?}");
    }

    #[test]
    fn batches_out_of_order_are_reordered() {
        let p = producer_with(&[(0, 2, Some(2), "NONE"), (2, 2, Some(0), "NONE")]);
        let found = problems(&p, &[0, 1], &laid_out(&[(1, 2), (0, 2)]));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("reordered: batch 2 (sequence 2) is at offset 0"), "{found:?}");
    }

    #[test]
    fn a_refused_batch_in_the_log_and_a_missing_one_are_reported() {
        let p = producer_with(&[
            (0, 2, Some(0), "NONE"),
            (15, 2, None, "OUT_OF_ORDER_SEQUENCE_NUMBER"),
            (2, 2, Some(4), "NONE"),
        ]);
        let found = problems(&p, &[0, 2], &laid_out(&[(0, 2), (1, 2)]));
        assert!(found.iter().any(|f| f.contains("answered OUT_OF_ORDER_SEQUENCE_NUMBER")), "{found:?}");
        assert!(found.iter().any(|f| f.starts_with("lost: 2 of the 2 records of batch 3")), "{found:?}");
    }

    #[test]
    fn runs_collapse_consecutive_offsets_of_one_batch() {
        let got = runs(&[(0, 0), (1, 0), (2, 1), (4, 1), (5, 0)]);
        assert_eq!(
            got,
            vec![
                Run { batch: 0, first: 0, last: 1 },
                Run { batch: 1, first: 2, last: 2 },
                Run { batch: 1, first: 4, last: 4 },
                Run { batch: 0, first: 5, last: 5 },
            ]
        );
    }

    #[test]
    fn corruption_keeps_the_length_and_changes_one_byte() {
        let records = vec![Record::value("p-1"), Record::value("p-2")];
        let bytes = encode_batch_as(
            &records,
            Compression::None,
            0,
            ProducerFields { producer_id: 1, epoch: 0, base_sequence: 5 },
        )
        .unwrap();
        let bad = corrupted(&bytes);
        assert_eq!(bad.len(), bytes.len());
        assert_eq!(bytes.iter().zip(bad.iter()).filter(|(a, b)| a != b).count(), 1);
        // The batch header carries the producer fields: producer id at byte 43, epoch at 51,
        // base sequence at 53.
        assert_eq!(i64::from_be_bytes(bytes[43..51].try_into().unwrap()), 1);
        assert_eq!(i16::from_be_bytes(bytes[51..53].try_into().unwrap()), 0);
        assert_eq!(i32::from_be_bytes(bytes[53..57].try_into().unwrap()), 5);
        let decoded = RecordBatchDecoder::decode(&mut bytes.clone()).unwrap();
        assert_eq!(decoded.records.iter().map(|r| r.sequence).collect::<Vec<_>>(), vec![5, 6]);
        assert!(RecordBatchDecoder::decode(&mut bad.clone()).is_err(), "the CRC no longer matches");
    }
}
