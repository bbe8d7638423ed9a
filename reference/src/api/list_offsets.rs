//! ListOffsets: earliest (-2), latest (-1, the high watermark; the last stable offset for
//! read_committed), max timestamp (-3, KIP-734,
//! v7+), earliest local (-4, KIP-405, v8+; without tiered storage the log start), and by
//! timestamp: the first record whose timestamp is at or after it, or -1/-1 when none is.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::RequestContext;
use crate::defects::{Defect, active};

pub const LATEST: i64 = -1;
pub const EARLIEST: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;
pub const EARLIEST_LOCAL: i64 = -4;

pub fn handle(ctx: &RequestContext, request: ListOffsetsRequest) -> ListOffsetsResponse {
    let v = ctx.version;
    let topics = request
        .topics
        .iter()
        .map(|t| {
            let topic = ctx.broker.topic(t.name.as_str());
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_offset(-1)
                        .with_timestamp(-1);
                    // KIP-320: the client's leader epoch (v4+) must be the current one.
                    let current = if v >= 4 { p.current_leader_epoch } else { -1 };
                    let debugging = request.replica_id.0 == -2;
                    let partition = match ctx.broker.replica_for(topic.as_ref(), p.partition_index, current, debugging)
                    {
                        Ok(p) => p,
                        Err(code) => return r.with_error_code(code.code()),
                    };
                    let bounds = partition.bounds();
                    let epoch = bounds.leader_epoch;
                    // Consumers see up to the high watermark (read_committed ones, v2+, up to the
                    // last stable offset); replicas (and debugging tools) the log end.
                    let latest = if request.replica_id.0 == -1 && !active(Defect::ServeReadsAboveHw) {
                        if v >= 2 && request.isolation_level == 1 { bounds.last_stable } else { bounds.high_watermark }
                    } else {
                        bounds.log_end
                    };
                    let found = match p.timestamp {
                        EARLIEST | EARLIEST_LOCAL => Ok(Some((bounds.log_start, -1))),
                        LATEST => Ok(Some((latest, -1))),
                        MAX_TIMESTAMP if v >= 7 => {
                            partition.max_timestamp().map(|o| o.map(|o| (o.offset, o.timestamp)))
                        }
                        ts if ts >= 0 && active(Defect::ListOffsetsIgnoresTimestamp) => Ok(Some((bounds.log_end, ts))),
                        ts if ts >= 0 => partition.offset_for_timestamp(ts).map(|o| o.map(|o| (o.offset, o.timestamp))),
                        other => {
                            return r.with_error_code(ResponseError::InvalidRequest.code()).with_timestamp(other);
                        }
                    };
                    match found {
                        Ok(Some((offset, timestamp))) => {
                            let r = r.with_offset(offset).with_timestamp(timestamp);
                            if v >= 4 { r.with_leader_epoch(epoch) } else { r }
                        }
                        Ok(None) => r,
                        Err(e) => {
                            tracing::error!("ListOffsets on {}-{}: {e}", t.name.as_str(), p.partition_index);
                            r.with_error_code(ResponseError::KafkaStorageError.code())
                        }
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default().with_name(t.name.clone()).with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
