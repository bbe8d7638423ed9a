//! ListTransactions (KIP-664; v1 adds the duration filter of KIP-994): the transactional ids
//! this broker coordinates, filtered by state names, producer ids and, from v1, transactions
//! open longer than a duration. Unknown state names are echoed back in
//! `unknown_state_filters`; while any partition of `__transaction_state` loads, the answer is
//! COORDINATOR_LOAD_IN_PROGRESS.

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::now_ms;
use crate::txn::state::TxnState;

pub fn handle(ctx: &RequestContext, request: ListTransactionsRequest) -> ListTransactionsResponse {
    let (states, unknown): (Vec<&StrBytes>, Vec<&StrBytes>) =
        request.state_filters.iter().partition(|s| TxnState::from_name(s.as_str()).is_some());
    let states: Vec<TxnState> = states.iter().filter_map(|s| TxnState::from_name(s.as_str())).collect();
    let pids: Vec<i64> = request.producer_id_filters.iter().map(|p| p.0).collect();
    let duration = if ctx.version >= 1 { request.duration_filter } else { -1 };
    let now = now_ms();
    let response =
        ListTransactionsResponse::default().with_unknown_state_filters(unknown.into_iter().cloned().collect());
    match ctx.broker.txns.list() {
        Err(e) => response.with_error_code(e.code()),
        Ok(all) => response.with_transaction_states(
            all.into_iter()
                .filter(|d| states.is_empty() || states.contains(&d.md.state))
                .filter(|d| pids.is_empty() || pids.contains(&d.md.producer_id))
                // A transaction with no start time counts as very old (Kafka's filter).
                .filter(|d| duration < 0 || now - d.md.start_ms.max(0) > duration)
                .map(|d| {
                    TransactionState::default()
                        .with_transactional_id(TransactionalId(StrBytes::from_string(d.transactional_id)))
                        .with_producer_id(ProducerId(d.md.producer_id))
                        .with_transaction_state(StrBytes::from_static_str(d.md.state.name()))
                })
                .collect(),
        ),
    }
}
