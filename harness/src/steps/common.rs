//! What several step files do the same way: make records, produce them (librdkafka or the wire
//! client) and record every send in the history, ask ListOffsets, create a topic, find a
//! group's coordinator and ask it for a committed offset. No step is defined here, and step
//! files share nothing else: each imports from here, never from another.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, FindCoordinatorRequest, GroupId, OffsetFetchRequest, RequestKind, ResponseKind,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

use super::name;
use crate::batches::encode_batch;
use crate::history::{Header, Op, Outcome, Record};
use crate::requests::{list_offsets_request, produce_request, produce_result};
use crate::wire::{WireClient, WireError};
use crate::world::{KafkaWorld, StepError, StepResult};

// ---------------------------------------------------------------------------------------------
// Records

/// Plain records: unique values, no key, no headers.
/// `value` padded with `x` to `size` bytes after a `:`, so a record of a chosen size keeps the
/// unique value the checker names it by.
pub(crate) fn padded(value: &str, size: usize) -> String {
    format!("{value}:{}", "x".repeat(size.saturating_sub(value.len() + 1)))
}

pub(crate) fn plain(w: &mut KafkaWorld, process: &str, n: usize) -> Vec<Record> {
    (0..n).map(|_| Record { key: None, value: Some(w.next_value(process)), headers: Vec::new() }).collect()
}

/// Records with keys, headers and null values, each with a unique value where it has one:
/// the shapes a broker that rewrites a batch could get wrong.
pub(crate) fn varied(w: &mut KafkaWorld, process: &str, n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let value = w.next_value(process);
            match i % 4 {
                // A key and two headers, one of them with a null value.
                0 => Record {
                    key: Some(format!("key-{value}").into_bytes()),
                    value: Some(value.clone()),
                    headers: vec![
                        Header { key: "trace".into(), value: Some(format!("t-{value}").into_bytes()) },
                        Header { key: "empty".into(), value: None },
                    ],
                },
                // A key and a null value: a tombstone.
                1 => Record { key: Some(format!("key-{value}").into_bytes()), value: None, headers: Vec::new() },
                // A binary key with bytes that are not UTF-8.
                2 => Record { key: Some(vec![0, 0xff, 0xfe, i as u8]), value: Some(value), headers: Vec::new() },
                _ => Record {
                    key: None,
                    value: Some(value),
                    headers: vec![Header { key: "h".into(), value: Some(Vec::new()) }],
                },
            }
        })
        .collect()
}

/// Encodes records as one uncompressed batch stamped with the current time.
pub fn encode_now(w: &KafkaWorld, records: &[Record]) -> Result<Bytes, StepError> {
    encode_batch(records, Compression::None, crate::clock::now_ms()).map_err(|e| w.harness(e))
}

// ---------------------------------------------------------------------------------------------
// Producing

pub(crate) async fn produce_rdkafka(
    w: &mut KafkaWorld,
    topic: &str,
    partition: Option<i32>,
    records: Vec<Record>,
) -> StepResult {
    let bootstrap = w.bootstrap().await?;
    let process = w.next_process("producer");
    let real = w.topic(topic);
    let session = crate::kafka::Session {
        bootstrap: &bootstrap,
        configs: &w.producer_config,
        process: &process,
        history: &w.history,
        timeout: w.timeout(),
    };
    let result = crate::kafka::produce(&session, &real, partition, &records).await;
    result.map_err(|e| w.harness(e))
}

/// Records the sends of one produce request with the outcome its response (or error) gives.
pub fn record_sends(
    w: &KafkaWorld,
    process: &str,
    topic: &str,
    partition: i32,
    records: &[Record],
    result: Result<&ResponseKind, &WireError>,
) {
    record_sends_stamped(w, process, topic, partition, records, result, None);
}

/// [`record_sends`] for records stamped with a CreateTime the harness chose, kept in the
/// history for the retention check.
pub fn record_sends_stamped(
    w: &KafkaWorld,
    process: &str,
    topic: &str,
    partition: i32,
    records: &[Record],
    result: Result<&ResponseKind, &WireError>,
    timestamp: Option<i64>,
) {
    let (outcome, base) = match result {
        Ok(resp) => match produce_result(resp) {
            Some((e, base)) => answered(&e, base),
            None => (Outcome::Unknown { error: "not a produce response".into() }, None),
        },
        Err(e) => unanswered(e),
    };
    record_outcome(w, process, topic, partition, records, &outcome, base, timestamp);
}

/// A partition's produce answer as the history's outcome, with the base offset of an append.
pub(crate) fn answered(error: &str, base: i64) -> (Outcome, Option<i64>) {
    if error == "NONE" { (Outcome::Ok, Some(base)) } else { (Outcome::Fail { error: error.to_string() }, None) }
}

/// A produce request that got no answer: unknown when it may have been appended.
pub(crate) fn unanswered(e: &WireError) -> (Outcome, Option<i64>) {
    if e.is_indefinite() {
        (Outcome::Unknown { error: e.to_string() }, None)
    } else {
        (Outcome::Fail { error: e.to_string() }, None)
    }
}

/// Records each of a batch's records as a send with `outcome`, at `base` plus its index.
#[allow(clippy::too_many_arguments)]
pub(crate) fn record_outcome(
    w: &KafkaWorld,
    process: &str,
    topic: &str,
    partition: i32,
    records: &[Record],
    outcome: &Outcome,
    base: Option<i64>,
    timestamp: Option<i64>,
) {
    for (i, r) in records.iter().enumerate() {
        w.history.record(
            process,
            Op::Send {
                topic: topic.to_string(),
                partition,
                record: r.clone(),
                offset: base.map(|b| b + i as i64),
                timestamp,
            },
            outcome.clone(),
        );
    }
}

/// `"0,1,2"` as numbers; None when any is not one.
pub(crate) fn number_list<T: std::str::FromStr>(list: &str) -> Option<Vec<T>> {
    list.split(',').map(|x| x.trim().parse().ok()).collect()
}

/// The leader Metadata names for each of `partitions` of `topic` (None for a partition that
/// does not exist or has no leader): for a request of several partitions, which must all go to
/// one broker.
pub(crate) async fn leaders_of(
    w: &mut KafkaWorld,
    topic: &str,
    partitions: &[i32],
) -> Result<Vec<Option<i32>>, StepError> {
    let view = match w.try_view(&[topic.to_string()]).await? {
        Ok(v) => v,
        Err(e) => return Err(w.wire_error(e)),
    };
    Ok(partitions.iter().map(|&p| view.partition(topic, p).filter(|x| x.has_leader()).map(|x| x.leader)).collect())
}

/// Sends one encoded batch with acks=all over `client` (a connection to the partition's
/// leader) and records each of its records in the history with the outcome the response gives.
/// A broker that is not the leader is left for the one Metadata names ([`super::to_leader`]).
pub async fn send_batch(
    w: &mut KafkaWorld,
    client: &mut WireClient,
    process: &str,
    topic: &str,
    partition: i32,
    records: &[Record],
    batch: Bytes,
) -> Result<Result<ResponseKind, WireError>, StepError> {
    send_batch_with_acks(w, client, process, topic, partition, records, batch, -1).await
}

/// [`send_batch`] with an explicit `acks` (not 0: acks=0 has no answer to wait for).
#[allow(clippy::too_many_arguments)]
pub async fn send_batch_with_acks(
    w: &mut KafkaWorld,
    client: &mut WireClient,
    process: &str,
    topic: &str,
    partition: i32,
    records: &[Record],
    batch: Bytes,
    acks: i16,
) -> Result<Result<ResponseKind, WireError>, StepError> {
    let req = produce_request(topic, partition, batch, acks, w.timeout().as_millis() as i32);
    let result = super::to_leader(w, client, topic, partition, &req, None).await?;
    record_sends(w, process, topic, partition, records, result.as_ref());
    Ok(result)
}

// ---------------------------------------------------------------------------------------------
// Offsets and topics

/// ListOffsets for one partition, asked of its leader (a follower answers
/// NOT_LEADER_OR_FOLLOWER; the latest offset is the leader's high watermark): the offset, or a
/// verdict naming the error the broker gave.
pub async fn list_offset(w: &mut KafkaWorld, topic: &str, partition: i32, timestamp: i64) -> Result<i64, StepError> {
    let mut client = w.leader_wire(topic, partition).await?;
    let req = list_offsets_request(topic, partition, timestamp);
    let resp = super::to_leader(w, &mut client, topic, partition, &req, None).await?;
    let resp = resp.map_err(|e| w.wire_error(e))?;
    let ResponseKind::ListOffsets(r) = resp else {
        return Err(w.harness("ListOffsets answered with another response type"));
    };
    let p = r
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or_else(|| w.verdict("ListOffsets returned no partition"))?;
    if p.error_code != 0 {
        return Err(
            w.verdict(format!("ListOffsets({timestamp}) on {topic}-{partition} failed with {}", name(p.error_code)))
        );
    }
    Ok(p.offset)
}

/// CreateTopics for one topic; the topic's error name. With `assignments` (partition ->
/// replicas, the first the preferred leader) the partition count and replication factor are
/// -1, as Kafka requires of a manual assignment.
pub(crate) async fn create_topic(
    w: &mut KafkaWorld,
    topic: &str,
    partitions: i32,
    rf: i16,
    configs: Vec<(String, String)>,
    assignments: Vec<(i32, Vec<i32>)>,
) -> Result<String, StepError> {
    let real = w.topic(topic);
    create_topic_named(w, real, partitions, rf, configs, assignments).await
}

/// [`create_topic`] with the name exactly as given (no scenario suffix).
pub(crate) async fn create_topic_named(
    w: &mut KafkaWorld,
    real: String,
    partitions: i32,
    rf: i16,
    configs: Vec<(String, String)>,
    assignments: Vec<(i32, Vec<i32>)>,
) -> Result<String, StepError> {
    use kafka_protocol::messages::create_topics_request::CreatableReplicaAssignment;
    let mut client = w.wire().await?;
    let declared: std::collections::BTreeMap<String, String> = configs.iter().cloned().collect();
    let t = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(real.clone())))
        .with_num_partitions(partitions)
        .with_replication_factor(rf)
        .with_assignments(
            assignments
                .into_iter()
                .map(|(p, replicas)| {
                    CreatableReplicaAssignment::default()
                        .with_partition_index(p)
                        .with_broker_ids(replicas.into_iter().map(kafka_protocol::messages::BrokerId).collect())
                })
                .collect(),
        )
        .with_configs(
            configs
                .into_iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(StrBytes::from_string(k))
                        .with_value(Some(StrBytes::from_string(v)))
                })
                .collect(),
        );
    let req = CreateTopicsRequest::default().with_topics(vec![t]).with_timeout_ms(w.timeout().as_millis() as i32);
    match client.request(RequestKind::CreateTopics(req)).await.map_err(|e| w.wire_error(e))? {
        ResponseKind::CreateTopics(r) => {
            let error = r.topics.first().map_or("NONE".into(), |t| name(t.error_code));
            if error == "NONE" {
                // What the scenario declared is what the retention and compaction checks judge.
                w.topic_configs.insert(real, declared);
            }
            Ok(error)
        }
        other => Err(w.harness(format!("CreateTopics answered with {other:?}"))),
    }
}

// ---------------------------------------------------------------------------------------------
// The group coordinator

/// How long to wait before asking FindCoordinator again.
const COORDINATOR_RETRY: Duration = Duration::from_millis(50);

/// FindCoordinator for a group, retried while the coordinator is not available or loading
/// (`__consumer_offsets` may be created on first use). `Ok(Err)` is the last answer when time
/// runs out.
pub(crate) async fn find_coordinator(
    w: &mut KafkaWorld,
    group: &str,
) -> Result<Result<(i32, String), String>, StepError> {
    find_coordinator_of(w, group, 0).await
}

/// FindCoordinator for a key of `key_type` (0 a group, 1 a transactional id).
pub(crate) async fn find_coordinator_of(
    w: &mut KafkaWorld,
    group: &str,
    key_type: i8,
) -> Result<Result<(i32, String), String>, StepError> {
    let deadline = tokio::time::Instant::now() + w.timeout();
    let mut last;
    loop {
        match w.try_wire().await? {
            Err(e) => last = format!("no broker answers: {e}"),
            Ok((mut client, _)) => {
                let v = client.version_for(ApiKey::FindCoordinator).map_err(|e| w.wire_error(e))?;
                let req = if v >= 4 {
                    FindCoordinatorRequest::default()
                        .with_key_type(key_type)
                        .with_coordinator_keys(vec![StrBytes::from_string(group.into())])
                } else {
                    FindCoordinatorRequest::default()
                        .with_key_type(key_type)
                        .with_key(StrBytes::from_string(group.into()))
                };
                match client.request_at(RequestKind::FindCoordinator(req), v).await {
                    Ok(ResponseKind::FindCoordinator(r)) => {
                        let (code, node, host, port) = match r.coordinators.first() {
                            Some(c) if v >= 4 => (c.error_code, c.node_id.0, c.host.to_string(), c.port),
                            _ => (r.error_code, r.node_id.0, r.host.to_string(), r.port),
                        };
                        if code == 0 {
                            return Ok(Ok((node, format!("{host}:{port}"))));
                        }
                        last = format!("FindCoordinator answered {}", name(code));
                    }
                    Ok(_) => return Err(w.harness("FindCoordinator answered with another response type")),
                    Err(e) => last = format!("FindCoordinator failed: {e}"),
                }
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(Err(last));
        }
        tokio::time::sleep(COORDINATOR_RETRY).await;
    }
}

/// Errors after which Kafka's clients look the coordinator up again and retry: it moved, or is
/// still loading its partition of `__consumer_offsets`.
pub(crate) fn coordinator_moving(error: &str) -> bool {
    matches!(error, "NOT_COORDINATOR" | "COORDINATOR_LOAD_IN_PROGRESS" | "COORDINATOR_NOT_AVAILABLE")
}

/// OffsetFetch (at most v7, which names topics) for one partition: (offset, metadata, error).
pub(crate) async fn fetch_offset(
    w: &mut KafkaWorld,
    group: &str,
    topic: &str,
    partition: i32,
) -> Result<Result<(i64, Option<String>, String), String>, StepError> {
    let mut client = match find_coordinator(w, group).await? {
        Ok((_, addr)) => match WireClient::connect(&addr, w.timeout()).await {
            Ok(c) => c,
            Err(e) => return Ok(Err(e.to_string())),
        },
        Err(last) => return Ok(Err(last)),
    };
    let v = client.version_for(ApiKey::OffsetFetch).map_err(|e| w.wire_error(e))?.min(7);
    let req = OffsetFetchRequest::default().with_group_id(GroupId(StrBytes::from_string(group.into()))).with_topics(
        Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.into())))
                .with_partition_indexes(vec![partition]),
        ]),
    );
    match client.request_at(RequestKind::OffsetFetch(req), v).await {
        Ok(ResponseKind::OffsetFetch(r)) => {
            if r.error_code != 0 {
                return Ok(Ok((-1, None, name(r.error_code))));
            }
            let p = r.topics.iter().flat_map(|t| t.partitions.iter()).find(|p| p.partition_index == partition);
            Ok(Ok(p.map_or((-1, None, "NONE".into()), |p| {
                (p.committed_offset, p.metadata.as_ref().map(|m| m.to_string()), name(p.error_code))
            })))
        }
        Ok(_) => Err(w.harness("OffsetFetch answered with another response type")),
        Err(e) => Ok(Err(e.to_string())),
    }
}
