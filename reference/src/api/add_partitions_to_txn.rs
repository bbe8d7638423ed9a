//! AddPartitionsToTxn (KIP-98): the producer names the partitions its transaction writes
//! before it writes them. v0-3 are a client's (one transaction); v4-5 are a partition
//! leader's batched form (KIP-890), where `verify_only` asks whether each partition is already
//! in its transaction (NONE, or TRANSACTION_ABORTABLE) instead of adding it.
//!
//! As in Kafka's `KafkaApis.handleAddPartitionsToTxnRequest`: a partition of an unknown topic
//! is UNKNOWN_TOPIC_OR_PARTITION and every other partition of that transaction
//! OPERATION_NOT_ATTEMPTED, with nothing added; otherwise the coordinator's one answer goes to
//! every partition. PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v2.

use std::collections::BTreeSet;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};

use super::RequestContext;

pub async fn handle(ctx: &RequestContext, request: AddPartitionsToTxnRequest) -> AddPartitionsToTxnResponse {
    if ctx.version <= 3 {
        let results = add(
            ctx,
            request.v3_and_below_transactional_id.as_str(),
            request.v3_and_below_producer_id.0,
            request.v3_and_below_producer_epoch,
            false,
            &request.v3_and_below_topics,
        )
        .await;
        return AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results);
    }
    let mut out = Vec::with_capacity(request.transactions.len());
    for t in &request.transactions {
        let results =
            add(ctx, t.transactional_id.as_str(), t.producer_id.0, t.producer_epoch, t.verify_only, &t.topics).await;
        out.push(
            AddPartitionsToTxnResult::default()
                .with_transactional_id(t.transactional_id.clone())
                .with_topic_results(results),
        );
    }
    AddPartitionsToTxnResponse::default().with_results_by_transaction(out)
}

async fn add(
    ctx: &RequestContext,
    id: &str,
    producer_id: i64,
    epoch: i16,
    verify_only: bool,
    topics: &[AddPartitionsToTxnTopic],
) -> Vec<AddPartitionsToTxnTopicResult> {
    let asked: Vec<(String, i32)> =
        topics.iter().flat_map(|t| t.partitions.iter().map(|p| (t.name.to_string(), *p))).collect();
    let unknown: BTreeSet<&(String, i32)> = asked
        .iter()
        .filter(|(t, p)| ctx.broker.topic(t).is_none_or(|topic| *p < 0 || *p >= topic.partition_count()))
        .collect();
    let codes: Vec<i16> = if !unknown.is_empty() {
        asked
            .iter()
            .map(|tp| {
                if unknown.contains(tp) {
                    ResponseError::UnknownTopicOrPartition
                } else {
                    ResponseError::OperationNotAttempted
                }
                .code()
            })
            .collect()
    } else if verify_only {
        ctx.broker.txns.verify(id, producer_id, epoch, &asked).into_iter().map(|r| code(ctx, r)).collect()
    } else {
        let set: BTreeSet<(String, i32)> = asked.iter().cloned().collect();
        // v4+ without VerifyOnly comes from a partition leader or group coordinator adding the
        // partition for a client on transaction version 2.
        let client_version = if ctx.version >= 4 { 2 } else { 0 };
        let answer = ctx.broker.txns.add_partitions(id, producer_id, epoch, &set, client_version).await;
        vec![code(ctx, answer); asked.len()]
    };
    let mut codes = codes.into_iter();
    topics
        .iter()
        .map(|t| {
            AddPartitionsToTxnTopicResult::default().with_name(t.name.clone()).with_results_by_partition(
                t.partitions
                    .iter()
                    .map(|p| {
                        AddPartitionsToTxnPartitionResult::default()
                            .with_partition_index(*p)
                            .with_partition_error_code(codes.next().unwrap_or_default())
                    })
                    .collect(),
            )
        })
        .collect()
}

fn code(ctx: &RequestContext, r: Result<(), ResponseError>) -> i16 {
    match r {
        Ok(()) => 0,
        Err(ResponseError::ProducerFenced) if ctx.version < 2 => ResponseError::InvalidProducerEpoch.code(),
        Err(e) => e.code(),
    }
}
