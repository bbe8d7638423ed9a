//! Requests the steps and the preflight send about one partition, built the same way every
//! time, and what their answers say. Sending them is [`crate::wire`]'s; these only build and read.

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    BrokerId, FetchRequest, ListOffsetsRequest, ProduceRequest, RequestKind, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::kafka::error_name;

pub fn produce_request(topic: &str, partition: i32, batch: Bytes, acks: i16, timeout_ms: i32) -> RequestKind {
    RequestKind::Produce(ProduceRequest::default().with_acks(acks).with_timeout_ms(timeout_ms).with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_data(vec![
                    PartitionProduceData::default().with_index(partition).with_records(Some(batch)),
                ]),
        ]))
}

/// One Produce request with a batch for each of several partitions of one topic, in order.
pub fn produce_partitions_request(topic: &str, batches: Vec<(i32, Bytes)>, acks: i16, timeout_ms: i32) -> RequestKind {
    RequestKind::Produce(ProduceRequest::default().with_acks(acks).with_timeout_ms(timeout_ms).with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_data(
                    batches
                        .into_iter()
                        .map(|(partition, batch)| {
                            PartitionProduceData::default().with_index(partition).with_records(Some(batch))
                        })
                        .collect(),
                ),
        ]))
}

/// Every partition of a produce response: (partition, error name, base offset).
pub fn produce_results(resp: &ResponseKind) -> Vec<(i32, String, i64)> {
    let ResponseKind::Produce(r) = resp else { return Vec::new() };
    r.responses
        .iter()
        .flat_map(|t| &t.partition_responses)
        .map(|p| (p.index, error_name(p.error_code), p.base_offset))
        .collect()
}

/// The error name and base offset of a produce response's first partition.
pub fn produce_result(resp: &ResponseKind) -> Option<(String, i64)> {
    let ResponseKind::Produce(r) = resp else { return None };
    let p = r.responses.first()?.partition_responses.first()?;
    Some((error_name(p.error_code), p.base_offset))
}

/// A Fetch of one partition from `offset`. It names the topic, so it is sent at v12 at most
/// (v13 switched to topic ids, KIP-516).
pub fn fetch_request(
    topic: &str,
    partition: i32,
    offset: i64,
    partition_max_bytes: i32,
    max_wait_ms: i32,
    min_bytes: i32,
) -> RequestKind {
    RequestKind::Fetch(
        FetchRequest::default()
            .with_max_wait_ms(max_wait_ms)
            .with_min_bytes(min_bytes)
            .with_max_bytes(i32::MAX)
            .with_topics(vec![
                FetchTopic::default().with_topic(TopicName(StrBytes::from_string(topic.to_string()))).with_partitions(
                    vec![
                        FetchPartition::default()
                            .with_partition(partition)
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(partition_max_bytes),
                    ],
                ),
            ]),
    )
}

/// A sessionless Fetch of several partitions of one topic, in the order given, each from its own
/// offset with a `partition_max_bytes` of 1 MiB, under one response-wide `max_bytes` (KIP-74).
pub fn fetch_partitions_request(topic: &str, partitions: &[(i32, i64)], max_bytes: i32) -> RequestKind {
    RequestKind::Fetch(
        FetchRequest::default().with_max_wait_ms(0).with_min_bytes(0).with_max_bytes(max_bytes).with_topics(vec![
            FetchTopic::default().with_topic(TopicName(StrBytes::from_string(topic.to_string()))).with_partitions(
                partitions
                    .iter()
                    .map(|&(partition, offset)| {
                        FetchPartition::default()
                            .with_partition(partition)
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(1 << 20)
                    })
                    .collect(),
            ),
        ]),
    )
}

/// ListOffsets for one partition at `timestamp` (-1 latest, -2 earliest, -3 max timestamp), as
/// a consumer asks it (replica id -1).
pub fn list_offsets_request(topic: &str, partition: i32, timestamp: i64) -> RequestKind {
    RequestKind::ListOffsets(ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
        ListOffsetsTopic::default().with_name(TopicName(StrBytes::from_string(topic.to_string()))).with_partitions(
            vec![ListOffsetsPartition::default().with_partition_index(partition).with_timestamp(timestamp)],
        ),
    ]))
}
