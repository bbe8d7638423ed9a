//! WriteTxnMarkers (KIP-98), from a transaction coordinator to partition leaders: append a
//! commit or abort marker for a producer to each named partition, acks=all. Per partition, as
//! Kafka's `KafkaApis.handleWriteTxnMarkersRequest`: UNKNOWN_TOPIC_OR_PARTITION or
//! NOT_LEADER_OR_FOLLOWER where this broker cannot append; the partition's own refusal
//! (TRANSACTION_COORDINATOR_FENCED for a marker from an older coordinator, INVALID_PRODUCER_EPOCH
//! for one older than the producer); NOT_ENOUGH_REPLICAS and the like from the replication wait.
//! A marker on `__consumer_offsets` also commits or drops the group offsets the transaction wrote.

use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use super::RequestContext;
use crate::partition::append::Refusal;

/// Kafka's `request.timeout.ms` default, which bounds the replication wait of a marker.
const MARKER_TIMEOUT_MS: u64 = 30_000;

pub async fn handle(ctx: &RequestContext, request: WriteTxnMarkersRequest) -> WriteTxnMarkersResponse {
    let mut markers = Vec::with_capacity(request.markers.len());
    for m in &request.markers {
        let mut topics = Vec::with_capacity(m.topics.len());
        for t in &m.topics {
            let topic = ctx.broker.topic(t.name.as_str());
            let mut partitions = Vec::with_capacity(t.partition_indexes.len());
            for index in &t.partition_indexes {
                let result = match ctx.broker.replica_for(topic.as_ref(), *index, -1, false) {
                    Err(code) => Err(code),
                    Ok(p) => {
                        let config = topic.as_ref().map(|t| t.config.clone()).unwrap_or_default();
                        let deadline =
                            tokio::time::Instant::now() + std::time::Duration::from_millis(MARKER_TIMEOUT_MS);
                        match p.append_marker(
                            &config,
                            m.producer_id.0,
                            m.producer_epoch,
                            m.transaction_result,
                            m.coordinator_epoch,
                        ) {
                            Err(code) => Err(code),
                            Ok(next) => {
                                if p.topic == crate::group::OFFSETS_TOPIC {
                                    ctx.broker.groups.transaction_ended(p.index, m.producer_id.0, m.transaction_result);
                                }
                                p.await_replication(next, config.min_insync_replicas(), deadline)
                                    .await
                                    .map_err(|Refusal(code, ..)| code)
                            }
                        }
                    }
                };
                let code = match result {
                    Ok(()) => 0,
                    Err(e) => {
                        tracing::debug!(
                            "marker for producer {} on {}-{index}: {e:?}",
                            m.producer_id.0,
                            t.name.as_str()
                        );
                        e.code()
                    }
                };
                partitions.push(
                    WritableTxnMarkerPartitionResult::default().with_partition_index(*index).with_error_code(code),
                );
            }
            topics.push(WritableTxnMarkerTopicResult::default().with_name(t.name.clone()).with_partitions(partitions));
        }
        markers.push(WritableTxnMarkerResult::default().with_producer_id(m.producer_id).with_topics(topics));
    }
    WriteTxnMarkersResponse::default().with_markers(markers)
}
