//! Produce: each partition's batch goes to its leader's append path
//! ([`crate::partition::append`], which validates it as Kafka's `LogValidator` does); the answer
//! carries its base offset, after the replication wait for acks=all. `acks` other than -1, 0, 1
//! is INVALID_REQUIRED_ACKS for every partition.
//!
//! A refused batch appends nothing; other partitions of the same request are unaffected.
//! With `acks=0` there is no response, and an error closes the connection (KafkaApis does the same).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, ResponseKind};
use kafka_protocol::protocol::StrBytes;

use std::collections::HashMap;
use std::sync::Arc;

use super::{Reply, RequestContext};
use crate::broker::TxnOperation;
use crate::defects::{Defect, active};
use crate::log::split_batches;
use crate::partition::Partition;
use crate::partition::append::Refusal;
use crate::partition::producer_state::NO_GUARD_NEEDED;

/// An acks=all answer still to wait for: where it sits in the response, and what it waits on.
struct ReplicationWait {
    topic: usize,
    partition: usize,
    replica: Arc<Partition>,
    /// The offset the high watermark must reach.
    required: i64,
    min_insync_replicas: usize,
}

pub async fn handle(ctx: &RequestContext, request: ProduceRequest) -> Reply {
    let acks = request.acks;
    let mut any_error = false;
    let mut responses = Vec::with_capacity(request.topic_data.len());
    // The StopProduceAtFirstRefusal defect's memory: the first partition's refusal.
    let mut first_refusal: Option<ResponseError> = None;
    let mut waits: Vec<ReplicationWait> = Vec::new();
    let (outside, guards) = verify_transactional(ctx, &request).await;
    for topic_data in &request.topic_data {
        let mut topic = ctx.broker.topic(topic_data.name.as_str());
        if topic.is_none() && active(Defect::ProduceCreatesUnknownTopics) {
            // The defect: Produce never creates topics in Kafka; Metadata does, when allowed.
            topic = ctx.broker.create_topic(topic_data.name.as_str(), -1, -1, &[], &[], false).await.ok();
        }
        let mut partition_responses = Vec::with_capacity(topic_data.partition_data.len());
        for pd in &topic_data.partition_data {
            let result = if let Some(code) = first_refusal.filter(|_| active(Defect::StopProduceAtFirstRefusal)) {
                Err(Refusal::of(code))
            } else if ![-1, 0, 1].contains(&acks) && !active(Defect::AcceptAnyAcks) {
                Err(Refusal::batch(ResponseError::InvalidRequiredAcks, format!("Invalid required acks {acks}")))
            } else if let Some(code) = outside.get(&(topic_data.name.to_string(), pd.index)) {
                Err(Refusal::batch(*code, "Partition was not added to the transaction"))
            } else {
                match ctx.broker.replica_for(topic.as_ref(), pd.index, -1, false) {
                    Err(code) => Err(Refusal::of(code)),
                    Ok(p) => match topic.as_ref() {
                        Some(t) => {
                            let verified = guards.as_ref().map(|g| {
                                g.get(&(topic_data.name.to_string(), pd.index)).copied().unwrap_or(NO_GUARD_NEEDED)
                            });
                            p.append_as_leader(&t.config, acks, pd.records.clone().unwrap_or_default(), verified)
                        }
                        None => Err(Refusal::of(ResponseError::UnknownTopicOrPartition)),
                    },
                }
            };
            let mut r = PartitionProduceResponse::default().with_index(pd.index);
            match result {
                Ok(ok) => {
                    if acks == -1
                        && let (Some(t), Ok(p)) =
                            (topic.as_ref(), ctx.broker.replica_for(topic.as_ref(), pd.index, -1, false))
                    {
                        waits.push(ReplicationWait {
                            topic: responses.len(),
                            partition: partition_responses.len(),
                            replica: p,
                            required: ok.next_offset,
                            min_insync_replicas: t.config.min_insync_replicas(),
                        });
                    }
                    r = r.with_base_offset(ok.base_offset).with_log_append_time_ms(ok.log_append_time);
                    if ctx.version >= 5 {
                        r = r.with_log_start_offset(ok.log_start_offset);
                    }
                }
                Err(Refusal(code, message, records)) => {
                    any_error = true;
                    first_refusal.get_or_insert(code);
                    tracing::debug!(
                        "produce to {}-{} refused: {code:?}: {message}",
                        topic_data.name.as_str(),
                        pd.index
                    );
                    r = r.with_error_code(code.code()).with_base_offset(-1);
                    if ctx.version >= 8 {
                        let records = if active(Defect::NoRecordErrors) { Vec::new() } else { records };
                        r = r.with_error_message(Some(StrBytes::from_string(message))).with_record_errors(
                            records
                                .into_iter()
                                .map(|e| {
                                    BatchIndexAndErrorMessage::default()
                                        .with_batch_index(e.batch_index)
                                        .with_batch_index_error_message(Some(StrBytes::from_string(e.message)))
                                })
                                .collect(),
                        );
                    }
                }
            }
            partition_responses.push(r);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic_data.name.clone())
                .with_partition_responses(partition_responses),
        );
    }
    // Kafka's DelayedProduce (see Partition::await_replication).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(request.timeout_ms.max(0) as u64);
    for w in waits {
        if active(Defect::AckAllBeforeReplicated) {
            break;
        }
        if let Err(Refusal(code, message, _)) =
            w.replica.await_replication(w.required, w.min_insync_replicas, deadline).await
        {
            any_error = true;
            let r = &mut responses[w.topic].partition_responses[w.partition];
            r.error_code = code.code();
            r.base_offset = -1;
            if ctx.version >= 8 {
                r.error_message = Some(StrBytes::from_string(message));
            }
        }
    }
    if acks == 0 && !active(Defect::RespondToAcksZero) {
        return if any_error { Reply::Close("error in an acks=0 produce request".into()) } else { Reply::Nothing };
    }
    Reply::Send(Box::new(ResponseKind::Produce(ProduceResponse::default().with_responses(responses))))
}

/// A transactional Produce's verification: the refusal of each partition that failed it, and
/// the guard each verified partition appends with (`None`: verification is off).
type Verified = (HashMap<(String, i32), ResponseError>, Option<HashMap<(String, i32), u64>>);

/// KIP-890 (part 1, `transaction.partition.verification.enable`): before a producer's first
/// transactional batch on a partition opens its transaction there, the leader asks the
/// producer's transaction coordinator whether the partition is in the transaction
/// (AddPartitionsToTxn with VerifyOnly), so a batch sent after its transaction ended, or to
/// a partition never added, cannot leave a transaction hanging and the last stable offset stuck.
/// The partition holds a guard meanwhile, which the transaction's marker removes: a batch
/// verified just before its transaction ended is refused at the append. From Produce v12
/// (transaction version 2, part 2) the leader adds the partition to the transaction instead,
/// and the epoch check makes a late batch of an earlier transaction fail. The refusals carry
/// the code Kafka answers for this Produce version (`AddPartitionsToTxnManager`,
/// `ReplicaManager`).
async fn verify_transactional(ctx: &RequestContext, request: &ProduceRequest) -> Verified {
    let mut out = HashMap::new();
    let Some(id) = request.transactional_id.as_ref() else { return (out, None) };
    // Transaction version 2 needs the leader's add whatever the setting: nothing else puts the
    // partition in the transaction.
    let add = ctx.version >= 12;
    if !add
        && (!ctx.broker.config.transaction_partition_verification_enable || active(Defect::SkipTransactionVerification))
    {
        return (out, None);
    }
    let mut guards = HashMap::new();
    let mut asked: Vec<(String, i32)> = Vec::new();
    let mut producer = None;
    for td in &request.topic_data {
        let topic = ctx.broker.topic(td.name.as_str());
        for pd in &td.partition_data {
            let Some(first) = pd.records.clone().and_then(|r| split_batches(r).ok()).and_then(|b| b.into_iter().next())
            else {
                continue;
            };
            if !first.is_transactional() || first.producer_id() < 0 {
                continue;
            }
            // Errors of the partition itself are the append path's to answer.
            let Ok(p) = ctx.broker.replica_for(topic.as_ref(), pd.index, -1, false) else { continue };
            let guard = p.start_verification(first.producer_id(), first.producer_epoch(), add);
            guards.insert((td.name.to_string(), pd.index), guard);
            if guard == NO_GUARD_NEEDED {
                continue;
            }
            producer = Some((first.producer_id(), first.producer_epoch()));
            asked.push((td.name.to_string(), pd.index));
        }
    }
    let guards = Some(guards);
    let Some((pid, epoch)) = producer else { return (out, guards) };
    let op = match ctx.version {
        ..=10 => TxnOperation::DefaultError,
        11 => TxnOperation::GenericError,
        _ => TxnOperation::AddPartition,
    };
    // Kafka's leader asks again while the decision before is still written, up to
    // `add.partitions.to.txn.retry.backoff.max.ms` (100) or the request's timeout, then answers
    // CONCURRENT_TRANSACTIONS as it is.
    let retry_within = std::time::Duration::from_millis(100.min(u64::try_from(request.timeout_ms).unwrap_or(0)));
    let results = ctx.broker.check_in_transaction(id.as_str(), pid, epoch, &asked, op, retry_within).await;
    for (tp, result) in asked.into_iter().zip(results) {
        let Err(e) = result else { continue };
        // ReplicaManager's remaps of what the manager answered.
        let code = match e {
            ResponseError::ConcurrentTransactions if add => e,
            // The coordinator is busy or moving: retriable for the producer.
            ResponseError::ConcurrentTransactions
            | ResponseError::NetworkException
            | ResponseError::CoordinatorLoadInProgress
            | ResponseError::CoordinatorNotAvailable
            | ResponseError::NotCoordinator => ResponseError::NotEnoughReplicas,
            other => other,
        };
        out.insert(tp, code);
    }
    (out, guards)
}
