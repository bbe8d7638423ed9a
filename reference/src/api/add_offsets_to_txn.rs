//! AddOffsetsToTxn (KIP-98): a transaction will commit a group's offsets, so the group's
//! `__consumer_offsets` partition joins the transaction and gets its marker. PRODUCER_FENCED is
//! INVALID_PRODUCER_EPOCH before v2.

use std::collections::BTreeSet;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use super::RequestContext;
use crate::group::OFFSETS_TOPIC;

pub async fn handle(ctx: &RequestContext, request: AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse {
    let answer = match ctx.broker.ensure_offsets_topic() {
        None => Err(ResponseError::CoordinatorNotAvailable),
        Some(topic) => {
            let partition = crate::coordinator::partition_for(request.group_id.as_str(), topic.partition_count());
            let set: BTreeSet<(String, i32)> = [(OFFSETS_TOPIC.to_string(), partition)].into_iter().collect();
            ctx.broker
                .txns
                .add_partitions(
                    request.transactional_id.as_str(),
                    request.producer_id.0,
                    request.producer_epoch,
                    &set,
                    0,
                )
                .await
        }
    };
    let code = match answer {
        Ok(()) => 0,
        Err(ResponseError::ProducerFenced) if ctx.version < 2 => ResponseError::InvalidProducerEpoch.code(),
        Err(e) => e.code(),
    };
    AddOffsetsToTxnResponse::default().with_error_code(code)
}
