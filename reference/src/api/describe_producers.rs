//! DescribeProducers (KIP-664): the producers a partition replica knows, with each one's
//! epoch, last sequence and timestamp, the coordinator epoch of its last marker, and the first
//! offset of its open transaction (-1 for none), from which a hanging transaction is found.
//! Any replica answers, leader or follower, as in Kafka.

use kafka_protocol::messages::describe_producers_response::{PartitionResponse, ProducerState, TopicResponse};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};

use super::RequestContext;

pub fn handle(ctx: &RequestContext, request: DescribeProducersRequest) -> DescribeProducersResponse {
    let topics = request
        .topics
        .iter()
        .map(|t| {
            let topic = ctx.broker.topic(t.name.as_str());
            let partitions = t
                .partition_indexes
                .iter()
                .map(|p| {
                    let out = PartitionResponse::default().with_partition_index(*p);
                    match ctx.broker.replica_for(topic.as_ref(), *p, -1, true) {
                        Err(e) => out.with_error_code(e.code()),
                        Ok(partition) => out.with_active_producers(
                            partition
                                .describe_producers()
                                .into_iter()
                                .map(|(pid, epoch, last_sequence, last_timestamp, coordinator_epoch, txn_start)| {
                                    ProducerState::default()
                                        .with_producer_id(ProducerId(pid))
                                        .with_producer_epoch(i32::from(epoch))
                                        .with_last_sequence(last_sequence)
                                        .with_last_timestamp(last_timestamp)
                                        .with_coordinator_epoch(coordinator_epoch)
                                        .with_current_txn_start_offset(txn_start)
                                })
                                .collect(),
                        ),
                    }
                })
                .collect();
            TopicResponse::default().with_name(t.name.clone()).with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}
