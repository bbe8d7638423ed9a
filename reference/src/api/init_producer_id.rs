//! InitProducerId (KIP-98) for idempotent producers: a new producer id, epoch 0, from this
//! broker's block of ids (the controller hands out blocks with AllocateProducerIds, so ids are
//! unique in the cluster and across restarts).
//!
//! As in Kafka's `TransactionCoordinator.handleInitProducerId`, a request without a
//! transactional id always gets a new producer id, also when it names its current id and epoch
//! (KIP-360: an idempotent producer recovers from an unknown producer id or a sequence error by
//! starting afresh). One with a transactional id goes to the transaction coordinator, which
//! bumps the id's epoch (fencing older producers) or, during an ongoing transaction, aborts it
//! first (CONCURRENT_TRANSACTIONS, the client retries). PRODUCER_FENCED is
//! INVALID_PRODUCER_EPOCH before v4.

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
    // KafkaApis: the producer id and epoch are given together or not at all.
    if ctx.version >= 3 && ((request.producer_id.0 == -1) != (request.producer_epoch == -1)) {
        return fail(ResponseError::InvalidRequest);
    }
    if let Some(id) = &request.transactional_id {
        let expected = (ctx.version >= 3 && request.producer_id.0 != -1)
            .then_some((request.producer_id.0, request.producer_epoch));
        let txns = &ctx.broker.txns;
        let fresh = if txns.needs_producer_id(id.as_str()) && !id.is_empty() {
            match ctx.broker.new_producer_id().await {
                Ok(pid) => Some(pid),
                Err(e) => return fail(e.code),
            }
        } else {
            None
        };
        return match txns.init_producer_id(id.as_str(), request.transaction_timeout_ms, expected, fresh).await {
            Ok((pid, epoch)) => {
                InitProducerIdResponse::default().with_producer_id(ProducerId(pid)).with_producer_epoch(epoch)
            }
            Err(ResponseError::ProducerFenced) if ctx.version < 4 => fail(ResponseError::InvalidProducerEpoch),
            Err(e) => fail(e),
        };
    }
    match ctx.broker.new_producer_id().await {
        Ok(id) => InitProducerIdResponse::default().with_producer_id(ProducerId(id)).with_producer_epoch(0),
        Err(e) => {
            tracing::warn!("InitProducerId: {}", e.message);
            fail(e.code)
        }
    }
}
