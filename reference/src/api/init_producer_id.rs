//! InitProducerId (KIP-98) for idempotent producers: a new producer id, epoch 0, from this
//! broker's block of ids (the controller hands out blocks with AllocateProducerIds, so ids are
//! unique in the cluster and across restarts).
//!
//! As in Kafka's `TransactionCoordinator.handleInitProducerId`, a request without a
//! transactional id always gets a new producer id, also when it names its current id and epoch
//! (KIP-360: an idempotent producer recovers from an unknown producer id or a sequence error by
//! starting afresh). This broker is never a transaction coordinator, so a request with a
//! transactional id is answered NOT_COORDINATOR, as by any Kafka broker that is not the
//! coordinator for that id.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::RequestContext;

pub async fn handle(ctx: &RequestContext, request: InitProducerIdRequest) -> InitProducerIdResponse {
    let fail = |e: ResponseError| {
        InitProducerIdResponse::default()
            .with_error_code(e.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if request.transactional_id.is_some() {
        return fail(ResponseError::NotCoordinator);
    }
    // KafkaApis: the producer id and epoch are given together or not at all.
    if ctx.version >= 3 && ((request.producer_id.0 == -1) != (request.producer_epoch == -1)) {
        return fail(ResponseError::InvalidRequest);
    }
    match ctx.broker.new_producer_id().await {
        Ok(id) => InitProducerIdResponse::default().with_producer_id(ProducerId(id)).with_producer_epoch(0),
        Err(e) => {
            tracing::warn!("InitProducerId: {}", e.message);
            fail(e.code)
        }
    }
}
