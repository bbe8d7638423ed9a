//! EndTxn (KIP-98): commit or abort the producer's transaction. Answered once the decision
//! (PrepareCommit or PrepareAbort) is in `__transaction_state`; the markers follow. v0-4 are
//! transaction version 1: the producer keeps its epoch across transactions. v5 is transaction
//! version 2 (KIP-890): the decision bumps the epoch, and the answer carries the producer id and
//! epoch the producer goes on with (-1 on an error), a new producer id at epoch 0 when the
//! epoch ran out. PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v2.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};

use super::RequestContext;

pub async fn handle(ctx: &RequestContext, request: EndTxnRequest) -> EndTxnResponse {
    let id = request.transactional_id.as_str();
    let version_2 = ctx.version >= 5;
    let txns = &ctx.broker.txns;
    let fresh = if version_2 && !id.is_empty() && txns.epoch_exhausted(id) {
        match ctx.broker.new_producer_id().await {
            Ok(pid) => Some(pid),
            Err(e) => return answer(ctx, Err(e.code)),
        }
    } else {
        None
    };
    let r = txns.end_txn(id, request.producer_id.0, request.producer_epoch, request.committed, version_2, fresh).await;
    answer(ctx, r)
}

fn answer(ctx: &RequestContext, r: Result<(i64, i16), ResponseError>) -> EndTxnResponse {
    let (code, (pid, epoch)) = match r {
        Ok(next) => (0, next),
        Err(ResponseError::ProducerFenced) if ctx.version < 2 => (ResponseError::InvalidProducerEpoch.code(), (-1, -1)),
        Err(e) => (e.code(), (-1, -1)),
    };
    let r = EndTxnResponse::default().with_error_code(code);
    if ctx.version >= 5 { r.with_producer_id(ProducerId(pid)).with_producer_epoch(epoch) } else { r }
}
