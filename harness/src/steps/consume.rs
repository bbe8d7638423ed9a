//! Consuming: librdkafka consumers (what applications see) and exact fetches with the wire client.

use cucumber::{then, when};
use kafka_protocol::messages::{RequestKind, ResponseKind};

use super::common::{encode_now, leaders_of, number_list, send_batch};
use super::name;
use crate::checker::{self, AnomalyKind};
use crate::history::{Op, Record};
use crate::kafka::Start;
use crate::requests::fetch_request;
use crate::world::{FetchSummary, KafkaWorld, StepError, StepResult};

async fn read(w: &mut KafkaWorld, partition: i32, topic: &str, start: Start) -> StepResult {
    let bootstrap = w.bootstrap().await?;
    let real = w.topic(topic);
    // Read until every record acknowledged so far is found, or the log stops growing: what the
    // read finds is the evidence, whatever ListOffsets says.
    let from = if let Start::At(n) = start { Some(n) } else { None };
    let until = crate::kafka::Until::acknowledged(&w.history, &real, partition, from, w.quiet());
    let process = w.next_process("consumer");
    let before = w.history.len();
    let session = crate::kafka::Session {
        bootstrap: &bootstrap,
        configs: &w.consumer_config,
        process: &process,
        history: &w.history,
        timeout: w.timeout(),
    };
    let consumed = crate::kafka::consume(&session, &real, partition, start, until).await;
    let consumed = consumed.map_err(|e| w.harness(e))?;
    w.consumer_error = consumed.error;
    w.stalled_reads.extend(consumed.stalled);
    w.consumer_reads = reads_since(w, before, &process);
    w.last_consumer = Some(process);
    Ok(())
}

#[when(expr = "a consumer reads partition {int} of {string} from the beginning")]
async fn read_from_beginning(w: &mut KafkaWorld, partition: i32, topic: String) -> StepResult {
    read(w, partition, &topic, Start::Beginning).await
}

#[when(expr = "a consumer reads partition {int} of {string} from offset {int}")]
async fn read_from_offset(w: &mut KafkaWorld, partition: i32, topic: String, offset: i64) -> StepResult {
    read(w, partition, &topic, Start::At(offset)).await
}

/// A consumer with `group.id` set to the group, assigned the partition at the group's committed
/// offset (librdkafka's stored offset): what a consumer that resumes where its group left off
/// does, with the scenario's consumer configs (auto.offset.reset among them).
#[when(expr = "a consumer in group {string} reads partition {int} of {string} from the group's committed offset")]
async fn read_from_committed(w: &mut KafkaWorld, group: String, partition: i32, topic: String) -> StepResult {
    let real_group = w.topic(&group);
    w.consumer_config.insert("group.id".into(), real_group);
    read(w, partition, &topic, Start::Committed).await
}

#[then("the consumer read no record")]
async fn read_nothing(w: &mut KafkaWorld) -> StepResult {
    match w.consumer_reads.first() {
        None => Ok(()),
        Some(first) => Err(w.verdict(format!(
            "the consumer read {} records, the first at offset {}",
            w.consumer_reads.len(),
            first.0
        ))),
    }
}

#[then(expr = "the consumer fails with {word}")]
async fn consumer_fails_with(w: &mut KafkaWorld, expected: String) -> StepResult {
    match &w.consumer_error {
        Some(e) if *e == expected => Ok(()),
        Some(e) => Err(w.verdict(format!("the consumer failed with {e}, expected {expected}"))),
        None => Err(w.verdict(format!(
            "the consumer read {} records and reported no error; expected {expected}",
            w.consumer_reads.len()
        ))),
    }
}

#[then(expr = "the consumer reads offsets {int} to {int}")]
async fn consumer_reads_offsets(w: &mut KafkaWorld, first: i64, last: i64) -> StepResult {
    if let Some(e) = &w.consumer_error {
        return Err(w.verdict(format!("the consumer failed with {e}")));
    }
    let offsets: Vec<i64> = w.consumer_reads.iter().map(|(o, _)| *o).collect();
    let expected: Vec<i64> = (first..=last).collect();
    if offsets != expected {
        let shown = |v: &[i64]| match (v.first(), v.last()) {
            (Some(a), Some(b)) => format!("{} records, offsets {a}..={b}", v.len()),
            _ => "nothing".to_string(),
        };
        return Err(w.verdict(format!("the consumer read {}; expected offsets {first}..={last}", shown(&offsets))));
    }
    Ok(())
}

#[then("every acknowledged record is read exactly once")]
async fn exactly_once(w: &mut KafkaWorld) -> StepResult {
    w.judge(&[AnomalyKind::LostWrite, AnomalyKind::Unseen, AnomalyKind::Duplicate, AnomalyKind::InconsistentOffsets])
}

#[then("the records are read in the order they were acknowledged")]
async fn in_order(w: &mut KafkaWorld) -> StepResult {
    w.judge(&[
        AnomalyKind::NonmonotonicSend,
        AnomalyKind::NonmonotonicPoll,
        AnomalyKind::IntNonmonotonicPoll,
        AnomalyKind::PollSkip,
        AnomalyKind::IntPollSkip,
        AnomalyKind::InconsistentOffsets,
    ])
}

/// Compares every acknowledged send with the read at its offset: key, value and headers must be
/// what the client sent (null values included, which the value-identified checks cannot see).
#[then("every record is read with the key, value and headers it was sent with")]
async fn unchanged(w: &mut KafkaWorld) -> StepResult {
    w.found(checker::sends::unchanged(&w.history.events()))
}

/// Keeps a fetch's outcome for the Then steps about it.
fn remember_fetch(w: &mut KafkaWorld, resp: &ResponseKind) -> StepResult {
    let summary =
        summarize(resp).ok_or_else(|| w.harness("the fetch response has no partition or unparseable records"))?;
    w.last_error = Some(summary.error.clone());
    w.last_fetch = Some(summary);
    Ok(())
}

fn summarize(resp: &ResponseKind) -> Option<FetchSummary> {
    let ResponseKind::Fetch(r) = resp else { return None };
    summarize_partition(r.responses.first()?.partitions.first()?)
}

fn summarize_partition(p: &kafka_protocol::messages::fetch_response::PartitionData) -> Option<FetchSummary> {
    let records = p.records.clone().unwrap_or_default();
    let mut summary = FetchSummary { error: name(p.error_code), bytes: records.len(), ..Default::default() };
    // Whole batches only: a fetch may end inside one (Kafka's clients drop that tail too).
    const RECORDS_COUNT_AT: usize = 57;
    for (base, last, batch) in crate::batches::whole_batches(&records) {
        let count = batch.get(RECORDS_COUNT_AT..RECORDS_COUNT_AT + 4)?;
        summary.records += i32::from_be_bytes(count.try_into().ok()?).max(0) as usize;
        summary.batches.push((base, last, batch.len()));
    }
    Some(summary)
}

/// The highest Fetch version that still names topics (v13 switched to topic ids, KIP-516).
fn named_fetch_version(w: &KafkaWorld, client: &crate::wire::WireClient) -> Result<i16, crate::world::StepError> {
    client.version_for(kafka_protocol::messages::ApiKey::Fetch).map(|v| v.min(12)).map_err(|e| w.wire_error(e))
}

/// Fetches from the partition's leader with the wire client. The requests name topics, so the
/// negotiated version must be below 13 (topic ids); `fetch_request` is built for that.
async fn fetch(w: &mut KafkaWorld, topic: &str, partition: i32, req: RequestKind) -> StepResult {
    let mut client = w.leader_wire(topic, partition).await?;
    let resp = super::to_leader(w, &mut client, topic, partition, &req, Some(12)).await?;
    let resp = resp.map_err(|e| w.wire_error(e))?;
    remember_fetch(w, &resp)
}

/// `"0,1,2"` with `"3,0,0"`: the partitions in request order, each with its fetch offset.
#[when(expr = "partitions {string} of {string} are fetched from offsets {string} with max_bytes {int}")]
async fn fetch_partitions(
    w: &mut KafkaWorld,
    partitions: String,
    topic: String,
    offsets: String,
    max_bytes: i32,
) -> StepResult {
    let (Some(ps), Some(offsets)) = (number_list::<i32>(&partitions), number_list::<i64>(&offsets)) else {
        return Err(w.harness(format!("{partitions:?} and {offsets:?} are lists of numbers, like \"0,1,2\"")));
    };
    if ps.len() != offsets.len() || ps.is_empty() {
        return Err(w.harness(format!(
            "{} partitions and {} offsets: give one offset per partition",
            ps.len(),
            offsets.len()
        )));
    }
    let real = w.topic(&topic);
    let wanted: Vec<(i32, i64)> = ps.iter().copied().zip(offsets).collect();
    // One request to one broker: every partition must be led by the first one's leader.
    let leaders = leaders_of(w, &real, &ps).await?;
    if leaders.iter().any(|l| *l != leaders[0]) || leaders[0].is_none() {
        return Err(w.harness(format!(
            "partitions {partitions} of {real} must share one leader for one fetch; Metadata shows leaders {leaders:?}"
        )));
    }
    let req = crate::requests::fetch_partitions_request(&real, &wanted, max_bytes);
    let mut client = w.leader_wire(&real, wanted[0].0).await?;
    let resp = super::to_leader(w, &mut client, &real, wanted[0].0, &req, Some(12)).await?;
    let ResponseKind::Fetch(r) = resp.map_err(|e| w.wire_error(e))? else {
        return Err(w.harness("Fetch answered with another response type"));
    };
    w.last_fetch_partitions.clear();
    for p in r.responses.iter().filter(|t| t.topic.0.as_str() == real).flat_map(|t| &t.partitions) {
        let summary = summarize_partition(p).ok_or_else(|| {
            w.verdict(format!("partition {} of the fetch holds bytes that are not record batches", p.partition_index))
        })?;
        w.last_fetch_partitions.insert(p.partition_index, summary);
    }
    Ok(())
}

#[then(expr = "the fetch returns {int} whole batch(es) of partition {int}")]
async fn fetch_returns_batches_of(w: &mut KafkaWorld, n: usize, partition: i32) -> StepResult {
    let Some(f) = w.last_fetch_partitions.get(&partition).cloned() else {
        return Err(w.verdict(format!(
            "the fetch answered no partition {partition}: it answered partitions {:?}; Kafka answers every partition a \
             fetch names",
            w.last_fetch_partitions.keys().collect::<Vec<_>>()
        )));
    };
    if f.error != "NONE" {
        return Err(w.verdict(format!("partition {partition} of the fetch failed with {}", f.error)));
    }
    if f.batches.len() != n {
        let all: Vec<String> = w
            .last_fetch_partitions
            .iter()
            .map(|(p, s)| format!("partition {p}: {} bytes, {} whole batches", s.bytes, s.batches.len()))
            .collect();
        return Err(w.verdict(format!(
            "partition {partition} of the fetch returned {} whole batches, expected {n} ({})",
            f.batches.len(),
            all.join("; ")
        )));
    }
    Ok(())
}

#[when(
    expr = "{int} records of {int} bytes are produced to partition {int} of {string} by the wire client, one batch each"
)]
async fn sized_batches(w: &mut KafkaWorld, n: usize, size: usize, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let mut client = w.leader_wire(&real, partition).await?;
    let process = w.next_process("wire-producer");
    for _ in 0..n {
        let value = w.next_value(&process);
        // Padded up to the size, keeping the unique value in front so the checker can name it.
        let padded = super::common::padded(&value, size);
        let records = vec![Record { key: None, value: Some(padded), headers: Vec::new() }];
        let batch = encode_now(w, &records)?;
        // The outcome is in the history; Then steps judge it.
        let _ = send_batch(w, &mut client, &process, &real, partition, &records, batch).await?;
    }
    Ok(())
}

#[when(expr = "{int} batches of {int} records are produced to partition {int} of {string} by the wire client")]
async fn batches(w: &mut KafkaWorld, n: usize, per: usize, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let mut client = w.leader_wire(&real, partition).await?;
    let process = w.next_process("wire-producer");
    for _ in 0..n {
        let records: Vec<Record> =
            (0..per).map(|_| Record { key: None, value: Some(w.next_value(&process)), headers: Vec::new() }).collect();
        let batch = encode_now(w, &records)?;
        // The outcome is in the history; Then steps judge it.
        let _ = send_batch(w, &mut client, &process, &real, partition, &records, batch).await?;
    }
    Ok(())
}

#[when(expr = "partition {int} of {string} is fetched from offset {int} with partition_max_bytes {int}")]
async fn fetch_limited(w: &mut KafkaWorld, partition: i32, topic: String, offset: i64, max: i32) -> StepResult {
    let real = w.topic(&topic);
    fetch(w, &real, partition, fetch_request(&real, partition, offset, max, 0, 0)).await
}

/// A fetch that waits (`max_wait_ms`, `min_bytes`) is written first; then, on another
/// connection, each batch is produced in turn, and the fetch's answer read. How long it took is
/// kept for the steps below. The fetch is on the wire before the producer even connects (a
/// connection and an ApiVersions round trip later), so it is waiting at the broker when the
/// records arrive.
#[allow(clippy::too_many_arguments)]
async fn waiting_fetch(
    w: &mut KafkaWorld,
    partition: i32,
    topic: &str,
    offset: i64,
    wait_ms: i32,
    min_bytes: i32,
    batches: &(dyn Fn(&mut KafkaWorld, &str) -> Vec<Vec<Record>> + Sync),
) -> StepResult {
    if u128::from(wait_ms.max(0) as u32) >= w.timeout().as_millis() {
        return Err(w.harness(format!(
            "max_wait_ms {wait_ms} is not below the request timeout ({} ms): the wait could not be told from a lost answer",
            w.timeout().as_millis()
        )));
    }
    let real = w.topic(topic);
    let mut fetcher = w.leader_wire(&real, partition).await?;
    let req = fetch_request(&real, partition, offset, 1 << 20, wait_ms, min_bytes);
    let v = named_fetch_version(w, &fetcher)?;
    let started = std::time::Instant::now();
    let in_flight = fetcher.send_at(&req, v).await.map_err(|e| w.wire_error(e))?;
    let mut producer = w.leader_wire(&real, partition).await?;
    let process = w.next_process("wire-producer");
    for records in batches(w, &process) {
        let batch = encode_now(w, &records)?;
        let _ = send_batch(w, &mut producer, &process, &real, partition, &records, batch).await?;
    }
    let resp = fetcher.receive(in_flight).await.map_err(|e| w.wire_error(e))?;
    w.fetch_waited = Some((started.elapsed(), wait_ms));
    remember_fetch(w, &resp)
}

#[when(
    expr = "a fetch of partition {int} of {string} from offset {int} waits up to {int} ms for {int} byte(s) while {int} record(s) are produced"
)]
async fn long_poll(
    w: &mut KafkaWorld,
    partition: i32,
    topic: String,
    offset: i64,
    wait_ms: i32,
    min_bytes: i32,
    n: usize,
) -> StepResult {
    let batch =
        move |w: &mut KafkaWorld, process: &str| vec![(0..n).map(|_| Record::value(w.next_value(process))).collect()];
    waiting_fetch(w, partition, &topic, offset, wait_ms, min_bytes, &batch).await
}

/// `n` batches of one record of `size` bytes each (see `waiting_fetch`).
#[when(
    expr = "a fetch of partition {int} of {string} from offset {int} waits up to {int} ms for {int} bytes while {int} records of {int} bytes are produced, one batch each"
)]
#[allow(clippy::too_many_arguments)]
async fn long_poll_min_bytes(
    w: &mut KafkaWorld,
    partition: i32,
    topic: String,
    offset: i64,
    wait_ms: i32,
    min_bytes: i32,
    n: usize,
    size: usize,
) -> StepResult {
    let batches = move |w: &mut KafkaWorld, process: &str| {
        (0..n).map(|_| vec![Record::value(super::common::padded(&w.next_value(process), size))]).collect()
    };
    waiting_fetch(w, partition, &topic, offset, wait_ms, min_bytes, &batches).await
}

fn fetch_waited(w: &KafkaWorld) -> Result<(std::time::Duration, i32), StepError> {
    w.fetch_waited.ok_or_else(|| w.harness("no waiting fetch was made before this step"))
}

/// The broker held the fetch for all of max_wait_ms: it did not answer before its timer, since
/// min_bytes were never available (measured from before the request was sent, so the wait at
/// the broker can only be shorter than what is measured).
#[then("the fetch was held until its max_wait_ms ran out")]
async fn held_until_max_wait(w: &mut KafkaWorld) -> StepResult {
    let (took, wait_ms) = fetch_waited(w)?;
    if took.as_millis() >= u128::from(wait_ms.max(0) as u32) {
        return Ok(());
    }
    Err(w.verdict(format!(
        "the fetch was answered after {} ms, before its max_wait_ms of {wait_ms} ran out, with {} bytes: fewer than its min_bytes",
        took.as_millis(),
        w.last_fetch.as_ref().map_or(0, |f| f.bytes)
    )))
}

/// The broker answered once min_bytes were available, without waiting out max_wait_ms.
#[then("the fetch was answered before its max_wait_ms ran out")]
async fn answered_before_max_wait(w: &mut KafkaWorld) -> StepResult {
    let (took, wait_ms) = fetch_waited(w)?;
    if took.as_millis() < u128::from(wait_ms.max(0) as u32) {
        return Ok(());
    }
    Err(w.verdict(format!(
        "the fetch was answered after {} ms, its whole max_wait_ms of {wait_ms}, though its min_bytes had arrived ({} bytes returned)",
        took.as_millis(),
        w.last_fetch.as_ref().map_or(0, |f| f.bytes)
    )))
}

#[then(expr = "the fetch returns {int} whole batch(es)")]
async fn fetch_returns_batches(w: &mut KafkaWorld, n: usize) -> StepResult {
    let f = w.last_fetch.clone().ok_or_else(|| w.harness("no fetch was made before this step"))?;
    if f.error != "NONE" {
        return Err(w.verdict(format!("the fetch failed with {}", f.error)));
    }
    if f.batches.len() != n {
        return Err(w.verdict(format!(
            "the fetch returned {} batches ({} bytes: {:?}), expected {n}",
            f.batches.len(),
            f.bytes,
            f.batches
        )));
    }
    Ok(())
}

#[then(expr = "the fetch returns {int} record(s)")]
async fn fetch_returns_records(w: &mut KafkaWorld, n: usize) -> StepResult {
    let f = w.last_fetch.clone().ok_or_else(|| w.harness("no fetch was made before this step"))?;
    if f.error != "NONE" || f.records != n {
        return Err(w.verdict(format!(
            "the fetch returned {} records with error {}, expected {n} records",
            f.records, f.error
        )));
    }
    Ok(())
}

#[then(expr = "the fetch returns at most {int} bytes")]
async fn fetch_at_most(w: &mut KafkaWorld, max: usize) -> StepResult {
    let f = w.last_fetch.clone().ok_or_else(|| w.harness("no fetch was made before this step"))?;
    if f.bytes > max {
        return Err(w.verdict(format!(
            "the fetch returned {} bytes in {} batches, more than {max}",
            f.bytes,
            f.batches.len()
        )));
    }
    Ok(())
}

/// A consumer positioned at `offset` reads while a producer keeps appending, one record every
/// 20 ms, until the consumer has read `n` records or goes idle for a request timeout. Where an
/// out-of-range consumer lands (auto.offset.reset=latest: the log end at the time of the reset)
/// shows in the first offset it reads.
#[when(
    expr = "a consumer reads {int} records of partition {int} of {string} from offset {int} while records keep arriving"
)]
async fn read_while_producing(w: &mut KafkaWorld, n: usize, partition: i32, topic: String, offset: i64) -> StepResult {
    let bootstrap = w.bootstrap().await?;
    let real = w.topic(&topic);
    let process = w.next_process("consumer");
    let producer_process = w.next_process("wire-producer");
    let mut producer = w.leader_wire(&real, partition).await?;
    let (history, configs, timeout) = (w.history.clone(), w.consumer_config.clone(), w.timeout());
    let before = history.len();
    let session = crate::kafka::Session {
        bootstrap: &bootstrap,
        configs: &configs,
        process: &process,
        history: &history,
        timeout,
    };
    let until = crate::kafka::Until { count: Some(n), quiet: timeout, ..Default::default() };
    let consume = crate::kafka::consume(&session, &real, partition, Start::At(offset), until);
    tokio::pin!(consume);
    let mut pace = tokio::time::interval(std::time::Duration::from_millis(20));
    let mut sent = 0u64;
    let consumed = loop {
        tokio::select! {
            c = &mut consume => break c,
            _ = pace.tick() => {
                sent += 1;
                let records = vec![Record { key: None, value: Some(format!("{producer_process}-{sent}")), headers: Vec::new() }];
                let batch = encode_now(w, &records)?;
                let _ = send_batch(w, &mut producer, &producer_process, &real, partition, &records, batch).await?;
            }
        }
    };
    let consumed = consumed.map_err(|e| w.harness(e))?;
    w.consumer_error = consumed.error;
    w.stalled_reads.extend(consumed.stalled);
    w.consumer_reads = reads_since(w, before, &process);
    w.last_consumer = Some(process.clone());
    Ok(())
}

fn reads_since(w: &KafkaWorld, before: usize, process: &str) -> Vec<(i64, Option<String>)> {
    w.history.events()[before..]
        .iter()
        .filter(|e| e.process == process)
        .filter_map(|e| match &e.op {
            Op::Poll { reads } => Some(reads.iter().map(|r| (r.offset, r.record.value.clone())).collect::<Vec<_>>()),
            _ => None,
        })
        .flatten()
        .collect()
}

#[then(expr = "the consumer's first record is at offset {int} or later")]
async fn first_read_at_least(w: &mut KafkaWorld, min: i64) -> StepResult {
    if let Some(e) = &w.consumer_error {
        return Err(w.verdict(format!("the consumer failed with {e}")));
    }
    match w.consumer_reads.first() {
        Some((o, _)) if *o >= min => Ok(()),
        Some((o, _)) => Err(w.verdict(format!("the consumer's first record is at offset {o}, before {min}"))),
        None => Err(w.verdict("the consumer read nothing while records kept arriving")),
    }
}
