//! EndTxn (KIP-98): commit or abort the producer's transaction. Answered once the decision
//! (PrepareCommit or PrepareAbort) is in `__transaction_state`; the markers follow. This broker
//! runs transaction version 1 (v0-4): the producer keeps its epoch across transactions, and
//! the answer carries no producer id. PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v2.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};

use super::RequestContext;

pub async fn handle(ctx: &RequestContext, request: EndTxnRequest) -> EndTxnResponse {
    let answer = ctx
        .broker
        .txns
        .end_txn(request.transactional_id.as_str(), request.producer_id.0, request.producer_epoch, request.committed)
        .await;
    let code = match answer {
        Ok(()) => 0,
        Err(ResponseError::ProducerFenced) if ctx.version < 2 => ResponseError::InvalidProducerEpoch.code(),
        Err(e) => e.code(),
    };
    let r = EndTxnResponse::default().with_error_code(code);
    if ctx.version >= 5 { r.with_producer_id(ProducerId(-1)).with_producer_epoch(-1) } else { r }
}
