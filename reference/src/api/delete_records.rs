//! DeleteRecords (KIP-107): moves a partition's log start offset forward on its leader. Records
//! below it are no longer readable (OFFSET_OUT_OF_RANGE), ListOffsets earliest answers it, and
//! whole segments below it go at the next retention pass. Offset -1 means the high watermark;
//! an offset above the high watermark is OFFSET_OUT_OF_RANGE, as in Kafka's
//! `Partition.deleteRecordsOnLeader`.
//!
//! Kafka answers once every replica's log start offset has reached the offset (the low watermark
//! of the replicas); this reference answers once the leader has moved its own, and followers
//! follow through the log start offset in their fetch responses.

use kafka_protocol::messages::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::RequestContext;

pub fn handle(ctx: &RequestContext, request: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let topics = request
        .topics
        .iter()
        .map(|t| {
            let topic = ctx.broker.topic(t.name.as_str());
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_low_watermark(-1);
                    let partition = match ctx.broker.replica_for(topic.as_ref(), p.partition_index, -1, false) {
                        Ok(partition) => partition,
                        Err(code) => return r.with_error_code(code.code()),
                    };
                    match partition.delete_records(p.offset) {
                        Ok(low_watermark) => r.with_low_watermark(low_watermark),
                        Err(code) => r.with_error_code(code.code()),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default().with_name(t.name.clone()).with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}
