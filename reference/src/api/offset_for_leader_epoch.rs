//! OffsetForLeaderEpoch (KIP-101, KIP-279, KIP-320): where a leader epoch ends in the leader's
//! log. A returning follower truncates there; a consumer uses it to detect log truncation after a
//! leader change. Answered by the leader only, with the requester's epoch checked as Fetch does.

use kafka_protocol::messages::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::RequestContext;

pub fn handle(ctx: &RequestContext, request: OffsetForLeaderEpochRequest) -> OffsetForLeaderEpochResponse {
    let topics = request
        .topics
        .iter()
        .map(|t| {
            let topic = ctx.broker.topic(t.topic.as_str());
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r =
                        EpochEndOffset::default().with_partition(p.partition).with_leader_epoch(-1).with_end_offset(-1);
                    match ctx.broker.replica_for(topic.as_ref(), p.partition, p.current_leader_epoch, false) {
                        Err(code) => r.with_error_code(code.code()),
                        Ok(partition) => {
                            let (epoch, end) = partition.epoch_end(p.leader_epoch);
                            r.with_leader_epoch(epoch).with_end_offset(end)
                        }
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default().with_topic(t.topic.clone()).with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
