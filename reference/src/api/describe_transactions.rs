//! DescribeTransactions (KIP-664): the state of transactional ids this broker coordinates:
//! state, timeout, start time (-1 when none is open), producer id and epoch, and the
//! partitions of the transaction in progress. An id it does not know is
//! TRANSACTIONAL_ID_NOT_FOUND; one it does not coordinate NOT_COORDINATOR.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;

pub fn handle(ctx: &RequestContext, request: DescribeTransactionsRequest) -> DescribeTransactionsResponse {
    let states = request
        .transactional_ids
        .iter()
        .map(|id| {
            let out = TransactionState::default()
                .with_transactional_id(id.clone())
                .with_transaction_state(StrBytes::from_static_str(""))
                .with_transaction_start_time_ms(-1)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1);
            match ctx.broker.txns.describe(id.as_str()) {
                Err(e) => out.with_error_code(e.code()),
                Ok(d) => {
                    let mut topics: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                    for (t, p) in &d.md.partitions {
                        topics.entry(t.clone()).or_default().push(*p);
                    }
                    out.with_transaction_state(StrBytes::from_static_str(d.md.state.name()))
                        .with_transaction_timeout_ms(d.md.timeout_ms)
                        .with_transaction_start_time_ms(d.md.start_ms)
                        .with_producer_id(ProducerId(d.md.producer_id))
                        .with_producer_epoch(d.md.producer_epoch)
                        .with_topics(
                            topics
                                .into_iter()
                                .map(|(t, ps)| {
                                    TopicData::default()
                                        .with_topic(TopicName(StrBytes::from_string(t)))
                                        .with_partitions(ps)
                                })
                                .collect(),
                        )
                }
            }
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}
