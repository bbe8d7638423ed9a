//! OffsetCommit v2-8: committed offsets are written to `__consumer_offsets` (acks=all) before
//! the answer. Checks in Kafka's order: unknown topics and partitions (KafkaApis), metadata
//! over `offset.metadata.max.bytes`, then the group (`ClassicGroup.validateOffsetCommit`).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::RequestContext;
use crate::defects::{Defect, active};
use crate::group::Committed;
use crate::now_ms;

/// A partition to commit: its place in the request, its name, and what to commit.
type Valid = ((usize, usize), (String, i32), Committed);

pub async fn handle(ctx: &RequestContext, r: OffsetCommitRequest) -> OffsetCommitResponse {
    let max_metadata = ctx.broker.groups.config().offset_metadata_max_bytes;
    // (topic index, partition index) → error code; valid ones are committed together.
    let mut codes: Vec<Vec<i16>> = Vec::new();
    let mut valid: Vec<Valid> = Vec::new();
    let now = now_ms();
    for (ti, t) in r.topics.iter().enumerate() {
        let topic = ctx.broker.topic(t.name.as_str());
        let mut row = Vec::new();
        for (pi, p) in t.partitions.iter().enumerate() {
            let known =
                topic.as_ref().is_some_and(|tp| p.partition_index >= 0 && p.partition_index < tp.partition_count());
            let metadata = p.committed_metadata.as_ref().map(|m| m.to_string()).unwrap_or_default();
            // Kafka's `String.length()`: UTF-16 code units, whatever the config's name says.
            let length = match active(Defect::MetadataLengthInUtf8Bytes) {
                true => metadata.len(),
                false => metadata.encode_utf16().count(),
            };
            if !known {
                row.push(ResponseError::UnknownTopicOrPartition.code());
            } else if active(Defect::CommitFirstPartitionPerTopic) && pi > 0 {
                // The defect: answered, never stored.
                row.push(0);
            } else if length > max_metadata {
                row.push(ResponseError::OffsetMetadataTooLarge.code());
            } else {
                row.push(0);
                valid.push((
                    (ti, pi),
                    (t.name.to_string(), p.partition_index),
                    Committed {
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata,
                        commit_timestamp: now,
                    },
                ));
            }
        }
        codes.push(row);
    }
    if !valid.is_empty() {
        let offsets: Vec<((String, i32), Committed)> = valid.iter().map(|(_, k, c)| (k.clone(), c.clone())).collect();
        let prepared = ctx.broker.groups.prepare_commit(
            r.group_id.as_str(),
            r.generation_id_or_member_epoch,
            r.member_id.as_str(),
            r.group_instance_id.as_ref().map(|s| s.as_str()),
            &offsets,
        );
        let result = match prepared {
            Ok(write) => ctx.broker.groups.write(write).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => ctx.broker.groups.committed(r.group_id.as_str(), offsets),
            Err(e) => {
                for ((ti, pi), _, _) in &valid {
                    codes[*ti][*pi] = e.code();
                }
            }
        }
    }
    let topics = r
        .topics
        .iter()
        .zip(codes)
        .map(|(t, row)| {
            OffsetCommitResponseTopic::default().with_name(t.name.clone()).with_partitions(
                t.partitions
                    .iter()
                    .zip(row)
                    .map(|(p, code)| {
                        OffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(code)
                    })
                    .collect(),
            )
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
