//! Producing: with librdkafka (what applications see) or the wire client (exact requests).

use bytes::BytesMut;
use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use kafka_protocol::messages::ResponseKind;
use kafka_protocol::records::Compression;

use super::common::{
    answered, encode_now, leaders_of, number_list, plain, produce_rdkafka, record_outcome, record_sends, send_batch,
    send_batch_with_acks, unanswered, varied,
};
use super::config_table;
use crate::batches::{ProducerFields, encode_batch, encode_stamped};
use crate::checker;
use crate::history::{Op, Outcome, Record};
use crate::requests::{produce_request, produce_result};
use crate::world::{KafkaWorld, StepError, StepResult};

#[given("a producer configured with:")]
async fn producer_configured(w: &mut KafkaWorld, step: &Step) -> StepResult {
    let cfg = config_table(w, step)?;
    w.producer_config.extend(cfg);
    Ok(())
}

#[given("a consumer configured with:")]
async fn consumer_configured(w: &mut KafkaWorld, step: &Step) -> StepResult {
    let cfg = config_table(w, step)?;
    w.consumer_config.extend(cfg);
    Ok(())
}

#[when(expr = "{int} records are produced to partition {int} of {string}")]
async fn produce_n(w: &mut KafkaWorld, n: usize, partition: i32, topic: String) -> StepResult {
    let process = format!("producer-{}", w.history.len());
    let records = plain(w, &process, n);
    produce_rdkafka(w, &topic, Some(partition), records).await
}

#[when(expr = "{int} records with keys, headers and null values are produced to partition {int} of {string}")]
async fn produce_varied(w: &mut KafkaWorld, n: usize, partition: i32, topic: String) -> StepResult {
    let process = format!("producer-{}", w.history.len());
    let records = varied(w, &process, n);
    produce_rdkafka(w, &topic, Some(partition), records).await
}

#[then("every send is acknowledged")]
async fn every_send_acknowledged(w: &mut KafkaWorld) -> StepResult {
    w.found(checker::sends::all_acknowledged(&w.history.events()))
}

/// Keeps a produce response's error name for `Then the request fails with ...`, and the
/// records it names (KIP-467) for `Then the answer names records ...`.
fn remember_produce_error(w: &mut KafkaWorld, result: Result<ResponseKind, crate::wire::WireError>) -> StepResult {
    let resp = result.map_err(|e| w.wire_error(e))?;
    let error = produce_result(&resp)
        .map(|(e, _)| e)
        .ok_or_else(|| w.harness("Produce answered with another response type"))?;
    w.last_error = Some(error);
    w.last_record_errors = match &resp {
        ResponseKind::Produce(r) => r
            .responses
            .iter()
            .flat_map(|t| t.partition_responses.iter())
            .flat_map(|p| p.record_errors.iter())
            .map(|e| (e.batch_index, e.batch_index_error_message.as_ref().map(|m| m.to_string())))
            .collect(),
        _ => Vec::new(),
    };
    Ok(())
}

/// Kafka's codec names for `compression.type`, as a batch's codec (`none` and `uncompressed`
/// both mean no compression).
fn codec(w: &KafkaWorld, name: &str) -> Result<Compression, StepError> {
    crate::batches::codec_by_name(name).map_err(|e| w.harness(e))
}

/// Sends `records` as one batch in `compression`, stamped `timestamps`, to the partition's
/// leader with acks=all, records each send, and keeps the answer for the Then steps.
async fn send_one_batch(
    w: &mut KafkaWorld,
    topic: &str,
    partition: i32,
    records: Vec<Record>,
    compression: Compression,
    timestamps: Option<Vec<i64>>,
) -> StepResult {
    let real = w.topic(topic);
    let mut client = w.leader_wire(&real, partition).await?;
    let process = w.next_process("wire-producer");
    let timestamps = timestamps.unwrap_or_else(|| vec![crate::clock::now_ms(); records.len()]);
    let batch = encode_stamped(&records, compression, &timestamps, ProducerFields::NONE).map_err(|e| w.harness(e))?;
    let result = send_batch(w, &mut client, &process, &real, partition, &records, batch).await?;
    remember_produce_error(w, result)
}

/// `k0,k1,null,k3`: one record per key, `null` a record without a key.
#[when(
    expr = "a batch of records with the keys {string} is produced to partition {int} of {string} by the wire client"
)]
async fn batch_with_keys(w: &mut KafkaWorld, keys: String, partition: i32, topic: String) -> StepResult {
    let process = w.next_process("keys");
    let records = keys
        .split(',')
        .map(str::trim)
        .map(|k| Record {
            key: (k != "null").then(|| k.as_bytes().to_vec()),
            value: Some(w.next_value(&process)),
            headers: Vec::new(),
        })
        .collect();
    send_one_batch(w, &topic, partition, records, Compression::None, None).await
}

/// `now, 2 hours ago, in 30 minutes`: one record per CreateTime, relative to the harness's clock.
#[when(expr = "a batch of records stamped {string} is produced to partition {int} of {string} by the wire client")]
async fn batch_stamped(w: &mut KafkaWorld, stamps: String, partition: i32, topic: String) -> StepResult {
    let now = crate::clock::now_ms();
    let timestamps = stamps
        .split(',')
        .map(|s| crate::clock::relative_ms(s.trim(), now).map_err(|e| w.harness(e)))
        .collect::<Result<Vec<i64>, StepError>>()?;
    let process = w.next_process("stamped");
    let records = plain(w, &process, timestamps.len());
    send_one_batch(w, &topic, partition, records, Compression::None, Some(timestamps)).await
}

#[when(
    expr = "a batch of {int} records compressed with {word} is produced to partition {int} of {string} by the wire client"
)]
async fn batch_compressed(
    w: &mut KafkaWorld,
    n: usize,
    codec_name: String,
    partition: i32,
    topic: String,
) -> StepResult {
    let compression = codec(w, &codec_name)?;
    let process = w.next_process("compressed");
    let records = varied(w, &process, n);
    send_one_batch(w, &topic, partition, records, compression, None).await
}

/// Values padded to `size` bytes (after their unique prefix), so the batch compresses well.
#[when(
    expr = "a batch of {int} records of {int} bytes compressed with {word} is produced to partition {int} of {string} by the wire client"
)]
async fn batch_compressed_sized(
    w: &mut KafkaWorld,
    n: usize,
    size: usize,
    codec_name: String,
    partition: i32,
    topic: String,
) -> StepResult {
    let compression = codec(w, &codec_name)?;
    let process = w.next_process("compressed");
    let records = (0..n)
        .map(|_| {
            let value = w.next_value(&process);
            let padded = super::common::padded(&value, size);
            Record { key: None, value: Some(padded), headers: Vec::new() }
        })
        .collect();
    send_one_batch(w, &topic, partition, records, compression, None).await
}

/// The last Produce answer's `record_errors` (KIP-467) name exactly these records of the batch,
/// by their index in it.
#[then(expr = "the answer names records {string} of the batch")]
async fn names_records(w: &mut KafkaWorld, indexes: String) -> StepResult {
    let mut expected = indexes
        .split(',')
        .map(|i| i.trim().parse::<i32>().map_err(|_| w.harness(format!("{i:?} is not a record index"))))
        .collect::<Result<Vec<i32>, StepError>>()?;
    expected.sort_unstable();
    if w.last_error.as_deref().is_none_or(|e| e == "NONE") {
        return Err(w.verdict(format!(
            "the batch was not refused ({}), so no record could be named",
            w.last_error.as_deref().unwrap_or("no answer")
        )));
    }
    let mut named: Vec<i32> = w.last_record_errors.iter().map(|(i, _)| *i).collect();
    named.sort_unstable();
    if named != expected {
        let shown: Vec<String> = w
            .last_record_errors
            .iter()
            .map(|(i, m)| format!("{i}: {}", m.as_deref().unwrap_or("(no message)")))
            .collect();
        return Err(w.verdict(format!(
            "the answer names records {named:?} in record_errors, expected {expected:?} (KIP-467, Produce v8+){}",
            if shown.is_empty() { String::new() } else { format!(": {}", shown.join("; ")) }
        )));
    }
    Ok(())
}

#[when(expr = "{int} produce requests of {int} records each are pipelined to partition {int} of {string}")]
async fn pipelined(w: &mut KafkaWorld, requests: usize, per: usize, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let mut client = w.leader_wire(&real, partition).await?;
    let process = w.next_process("wire-producer");
    let timeout_ms = w.timeout().as_millis() as i32;
    let mut batches = Vec::new();
    let mut reqs = Vec::new();
    for _ in 0..requests {
        let records = plain(w, &process, per);
        let batch = encode_now(w, &records)?;
        reqs.push(produce_request(&real, partition, batch, -1, timeout_ms));
        batches.push(records);
    }
    let results = client.pipeline(reqs).await.map_err(|e| w.wire_error(e))?;
    for (records, result) in batches.iter().zip(results.iter()) {
        record_sends(w, &process, &real, partition, records, result.as_ref());
    }
    Ok(())
}

#[when(expr = "a record of {int} bytes is produced to partition {int} of {string} by the wire client")]
async fn oversized(w: &mut KafkaWorld, size: usize, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let mut client = w.leader_wire(&real, partition).await?;
    let process = w.next_process("wire-producer");
    let value = w.next_value(&process);
    // Pad the unique value up to the requested size so the checker can still identify it.
    let padded = super::common::padded(&value, size);
    let records = vec![Record { key: None, value: Some(padded), headers: Vec::new() }];
    let batch = encode_now(w, &records)?;
    let result = send_batch(w, &mut client, &process, &real, partition, &records, batch).await?;
    remember_produce_error(w, result)?;
    Ok(())
}

#[when(expr = "records with the timestamps {string} are produced to partition {int} of {string} by the wire client")]
async fn with_timestamps(w: &mut KafkaWorld, timestamps: String, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let mut client = w.leader_wire(&real, partition).await?;
    let process = w.next_process("wire-producer");
    for ts in timestamps.split(',') {
        let ts: i64 = ts.trim().parse().map_err(|_| w.harness(format!("{ts:?} is not a timestamp in ms")))?;
        let records = plain(w, &process, 1);
        let batch = encode_batch(&records, Compression::None, ts).map_err(|e| w.harness(e))?;
        // The outcome is in the history; Then steps judge it.
        let _ = send_batch(w, &mut client, &process, &real, partition, &records, batch).await?;
    }
    Ok(())
}

/// A batch whose CRC no longer matches: one byte inside a record's value is changed after
/// encoding, so the batch still parses and only the CRC check can tell.
#[when(expr = "a batch with a corrupted CRC is produced to partition {int} of {string} by the wire client")]
async fn corrupted(w: &mut KafkaWorld, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let mut client = w.leader_wire(&real, partition).await?;
    let process = w.next_process("wire-producer");
    let value = format!("{}:{}", w.next_value(&process), "x".repeat(200));
    let records = vec![Record { key: None, value: Some(value), headers: Vec::new() }];
    let batch = encode_now(w, &records)?;
    let mut corrupt = BytesMut::from(&batch[..]);
    // The last bytes of an uncompressed batch are the value's tail and the header count.
    let at = corrupt.len() - 20;
    corrupt[at] ^= 0x01;
    let result = send_batch(w, &mut client, &process, &real, partition, &records, corrupt.freeze()).await?;
    remember_produce_error(w, result)?;
    Ok(())
}

/// A batch of 10 records compressed with `codec` whose base timestamp's lowest byte is inverted
/// after the CRC was computed: the CRC covers the header from the attributes on, so the broker
/// must refuse the batch (`UnifiedLog.analyzeAndValidateRecords` checks `batch.isValid` for
/// every codec), though decompressing it finds nothing wrong.
#[when(expr = "a {word} batch with a corrupted CRC is produced to partition {int} of {string} by the wire client")]
async fn corrupted_compressed(w: &mut KafkaWorld, codec: String, partition: i32, topic: String) -> StepResult {
    let compression = crate::batches::codec_by_name(&codec).map_err(|e| w.harness(e))?;
    let real = w.topic(&topic);
    let mut client = w.leader_wire(&real, partition).await?;
    let process = w.next_process("wire-producer");
    let records: Vec<Record> =
        (0..10).map(|_| Record { key: None, value: Some(w.next_value(&process)), headers: Vec::new() }).collect();
    let batch = encode_batch(&records, compression, crate::clock::now_ms()).map_err(|e| w.harness(e))?;
    // baseTimestamp is the int64 at bytes 27..35 of a v2 batch.
    const BASE_TIMESTAMP_LOW_BYTE: usize = 34;
    let mut corrupt = BytesMut::from(&batch[..]);
    corrupt[BASE_TIMESTAMP_LOW_BYTE] ^= 0xff;
    let result = send_batch(w, &mut client, &process, &real, partition, &records, corrupt.freeze()).await?;
    remember_produce_error(w, result)?;
    Ok(())
}

/// One Produce request (acks=all) with a batch of `n` records for each partition of `list`, in
/// that order; `corrupt` names one whose batch gets a CRC that does not match. Each partition's
/// records are recorded with the outcome its own answer gives. The request goes to the first
/// partition's leader, which must lead every other partition that exists.
async fn produce_to_partitions(
    w: &mut KafkaWorld,
    n: usize,
    list: &str,
    topic: &str,
    corrupt: Option<i32>,
) -> StepResult {
    let Some(partitions) = number_list::<i32>(list) else {
        return Err(w.harness(format!("{list:?} is a list of partitions, like \"0,1,2\"")));
    };
    if corrupt.is_some_and(|c| !partitions.contains(&c)) {
        return Err(w.harness(format!("partition {} is not among {list}", corrupt.unwrap_or_default())));
    }
    let real = w.topic(topic);
    let leaders = leaders_of(w, &real, &partitions).await?;
    let led: Vec<i32> = leaders.iter().flatten().copied().collect();
    if led.is_empty() || led.iter().any(|l| *l != led[0]) {
        return Err(w.harness(format!(
            "the partitions of {list} that exist must share one leader; Metadata shows {leaders:?}"
        )));
    }
    let first_existing = partitions.iter().zip(&leaders).find_map(|(&p, l)| l.map(|_| p)).unwrap_or(partitions[0]);
    let mut client = w.leader_wire(&real, first_existing).await?;
    let process = w.next_process("wire-producer");
    let mut batches = Vec::new();
    let mut sent = Vec::new();
    for &p in &partitions {
        let records = plain(w, &process, n);
        let batch = encode_now(w, &records)?;
        let batch = if corrupt == Some(p) {
            let mut b = BytesMut::from(&batch[..]);
            // The last byte belongs to the records, which the CRC covers.
            let last = b.len() - 1;
            b[last] ^= 0xff;
            b.freeze()
        } else {
            batch
        };
        batches.push((p, batch));
        sent.push((p, records));
    }
    let req = crate::requests::produce_partitions_request(&real, batches, -1, w.timeout().as_millis() as i32);
    let v = client.version_for(kafka_protocol::messages::ApiKey::Produce).map_err(|e| w.wire_error(e))?;
    let resp = client.send_at(&req, v).await.map_err(|e| w.wire_error(e))?;
    let resp = client.receive(resp).await;
    let answers: Vec<(i32, String, i64)> = match &resp {
        Ok(r) => crate::requests::produce_results(r),
        Err(_) => Vec::new(),
    };
    w.last_produce_partitions.clear();
    for (p, records) in sent {
        let answer = answers.iter().find(|(ap, _, _)| *ap == p);
        let (outcome, base) = match (&resp, answer) {
            (Err(e), _) => unanswered(e),
            (Ok(_), None) => (Outcome::Unknown { error: format!("the answer did not name partition {p}") }, None),
            (Ok(_), Some((_, e, base))) => {
                w.last_produce_partitions.insert(p, e.clone());
                answered(e, *base)
            }
        };
        record_outcome(w, &process, &real, p, &records, &outcome, base, None);
    }
    resp.map(|_| ()).map_err(|e| w.wire_error(e))
}

#[when(expr = "one produce request carries a batch of {int} records for each of partitions {string} of {string}")]
async fn several_partitions(w: &mut KafkaWorld, n: usize, list: String, topic: String) -> StepResult {
    produce_to_partitions(w, n, &list, &topic, None).await
}

#[when(
    expr = "one produce request carries a batch of {int} records for each of partitions {string} of {string}, the one for partition {int} with a corrupted CRC"
)]
async fn several_partitions_one_corrupt(
    w: &mut KafkaWorld,
    n: usize,
    list: String,
    topic: String,
    bad: i32,
) -> StepResult {
    produce_to_partitions(w, n, &list, &topic, Some(bad)).await
}

#[then(expr = "the answer for partition {int} is {word}")]
async fn answer_for_partition(w: &mut KafkaWorld, partition: i32, expected: String) -> StepResult {
    match w.last_produce_partitions.get(&partition) {
        Some(e) if *e == expected => Ok(()),
        Some(e) => Err(w.verdict(format!("partition {partition} was answered {e}; Kafka answers {expected}"))),
        None => Err(w.verdict(format!(
            "the answer did not name partition {partition} (it named {:?}); Kafka answers every partition a produce \
             request carries",
            w.last_produce_partitions.keys().collect::<Vec<_>>()
        ))),
    }
}

/// One record with an explicit `acks`. With acks=0 Kafka sends no response at all; the step
/// leaves the connection open for the Then steps that check that (or that it was closed).
#[when(expr = "a record is produced to partition {int} of {string} with acks={int} by the wire client")]
async fn with_acks(w: &mut KafkaWorld, partition: i32, topic: String, acks: i16) -> StepResult {
    let real = w.topic(&topic);
    let mut client = w.leader_wire(&real, partition).await?;
    let process = w.next_process("wire-producer");
    let records = vec![Record { key: None, value: Some(w.next_value(&process)), headers: Vec::new() }];
    let batch = encode_now(w, &records)?;
    let req = produce_request(&real, partition, batch, acks, w.timeout().as_millis() as i32);
    if acks == 0 {
        let v = client.version_for(kafka_protocol::messages::ApiKey::Produce).map_err(|e| w.wire_error(e))?;
        client.send_at(&req, v).await.map_err(|e| w.wire_error(e))?;
        // Fire and forget: the client never learns the outcome.
        let outcome = Outcome::Unknown { error: "acks=0: no acknowledgement".into() };
        w.history.record(
            &process,
            Op::Send { topic: real, partition, record: records[0].clone(), offset: None, timestamp: None },
            outcome,
        );
        w.raw = Some(client);
        return Ok(());
    }
    let result = super::to_leader(w, &mut client, &real, partition, &req, None).await?;
    record_sends(w, &process, &real, partition, &records, result.as_ref());
    remember_produce_error(w, result)?;
    Ok(())
}

/// Kafka's `acks` values: `all` (or -1), 1, 0.
fn parse_acks(w: &KafkaWorld, acks: &str) -> Result<i16, StepError> {
    match acks {
        "all" => Ok(-1),
        other => other.parse().map_err(|_| w.harness(format!("acks={other} is not all, -1, 0 or 1"))),
    }
}

/// One produce request per record, each to the partition's leader, each recorded with the
/// outcome its answer gives: an exact, deterministic producer for error codes such as
/// NOT_ENOUGH_REPLICAS (librdkafka retries those until its message timeout). The last error
/// is kept for `Then the request fails with ...`.
#[when(expr = "{int} records are produced to partition {int} of {string} with acks={word} by the wire client")]
async fn n_with_acks(w: &mut KafkaWorld, n: usize, partition: i32, topic: String, acks: String) -> StepResult {
    let acks = parse_acks(w, &acks)?;
    if acks == 0 {
        return Err(w.harness("use `a record is produced ... with acks=0 by the wire client` for acks=0"));
    }
    let real = w.topic(&topic);
    let mut client = w.leader_wire(&real, partition).await?;
    let process = w.next_process("wire-producer");
    for _ in 0..n {
        let records = plain(w, &process, 1);
        let batch = encode_now(w, &records)?;
        let result = send_batch_with_acks(w, &mut client, &process, &real, partition, &records, batch, acks).await?;
        match result {
            Ok(resp) => {
                w.last_error = produce_result(&resp).map(|(e, _)| e);
            }
            // The outcome (unknown) is in the history; a new connection serves the next record.
            Err(e) => {
                w.last_error = Some(e.to_string());
                client = w.leader_wire(&real, partition).await?;
            }
        }
    }
    Ok(())
}

/// Every send in the history failed with this error (none acknowledged, none unknown).
#[then(expr = "every send fails with {word}")]
async fn every_send_fails_with(w: &mut KafkaWorld, expected: String) -> StepResult {
    w.found(checker::sends::all_fail_with(&w.history.events(), &expected))
}

/// The next answer on the connection must be the one to a Metadata request sent now: a response
/// to the acks=0 produce would come first, with the produce's correlation id.
#[then("the broker sends no response to it")]
async fn no_response(w: &mut KafkaWorld) -> StepResult {
    let mut client = w.raw.take().ok_or_else(|| w.harness("no acks=0 request was sent before this step"))?;
    let req = kafka_protocol::messages::RequestKind::Metadata(
        kafka_protocol::messages::MetadataRequest::default().with_topics(Some(Vec::new())),
    );
    match client.request(req).await {
        Ok(kafka_protocol::messages::ResponseKind::Metadata(_)) => Ok(()),
        Ok(other) => Err(w.differs(format!("expected the Metadata answer, got {other:?}"))),
        Err(crate::wire::WireError::Correlation { expected, got }) => Err(w.differs(format!(
            "the broker answered the acks=0 produce (correlation id {got} arrived before the Metadata request's {expected})"
        ))),
        Err(crate::wire::WireError::Decode { message, .. }) => {
            Err(w.differs(format!("the broker sent something other than the Metadata answer: {message}")))
        }
        Err(e) => Err(w.differs(format!("the connection did not answer Metadata after an acks=0 produce: {e}"))),
    }
}
