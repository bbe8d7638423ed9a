//! TxnOffsetCommit (KIP-98, KIP-447): a transactional producer commits a group's offsets as
//! part of its transaction. The group coordinator writes them as the producer's transactional
//! batch to the group's `__consumer_offsets` partition; they stay invisible (OffsetFetch with
//! `require_stable` answers UNSTABLE_OFFSET_COMMIT) until the transaction's marker commits them,
//! and an abort drops them. From v3 the generation, member id and group instance id are checked
//! as for OffsetCommit, so a zombie from an older generation is refused (ILLEGAL_GENERATION,
//! UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID). Per partition, as Kafka's KafkaApis: an unknown
//! topic or partition is UNKNOWN_TOPIC_OR_PARTITION, metadata over `offset.metadata.max.bytes`
//! OFFSET_METADATA_TOO_LARGE; the others get the group's answer. Before v2,
//! COORDINATOR_LOAD_IN_PROGRESS is COORDINATOR_NOT_AVAILABLE.
//!
//! KIP-890: unless the producer's transaction is already open on the group's
//! `__consumer_offsets` partition, the group coordinator asks the transaction coordinator
//! whether that partition is in the transaction (`transaction.partition.verification.enable`;
//! TRANSACTION_ABORTABLE from v4, INVALID_TXN_STATE before), and from v5 (transaction version
//! 2) adds it itself, so that the client sends no AddOffsetsToTxn.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::RequestContext;
use crate::broker::TxnOperation;
use crate::defects::{Defect, active};
use crate::group::{Committed, OFFSETS_TOPIC};
use crate::now_ms;

/// A partition to commit: its place in the request, its name, and what to commit.
type Valid = ((usize, usize), (String, i32), Committed);

pub async fn handle(ctx: &RequestContext, r: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse {
    let max_metadata = ctx.broker.groups.config().offset_metadata_max_bytes;
    let now = now_ms();
    let mut codes: Vec<Vec<i16>> = Vec::new();
    let mut valid: Vec<Valid> = Vec::new();
    for (ti, t) in r.topics.iter().enumerate() {
        let topic = ctx.broker.topic(t.name.as_str());
        let mut row = Vec::new();
        for (pi, p) in t.partitions.iter().enumerate() {
            let known =
                topic.as_ref().is_some_and(|tp| p.partition_index >= 0 && p.partition_index < tp.partition_count());
            let metadata = p.committed_metadata.as_ref().map(|m| m.to_string()).unwrap_or_default();
            if !known {
                row.push(ResponseError::UnknownTopicOrPartition.code());
            } else if metadata.encode_utf16().count() > max_metadata {
                row.push(ResponseError::OffsetMetadataTooLarge.code());
            } else {
                row.push(0);
                let committed = Committed {
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata,
                    commit_timestamp: now,
                };
                valid.push(((ti, pi), (t.name.to_string(), p.partition_index), committed));
            }
        }
        codes.push(row);
    }
    if !valid.is_empty() {
        let offsets: Vec<((String, i32), Committed)> = valid.iter().map(|(_, k, c)| (k.clone(), c.clone())).collect();
        let group = r.group_id.as_str();
        let (generation, member, instance) = if ctx.version >= 3 {
            (r.generation_id, r.member_id.as_str(), r.group_instance_id.as_ref().map(|s| s.as_str()))
        } else {
            (-1, "", None)
        };
        let verified = verify_offsets_partition(ctx, &r).await;
        let result = match verified
            .and_then(|()| ctx.broker.groups.prepare_txn_commit(group, generation, member, instance, &offsets))
        {
            Ok(write) => {
                ctx.broker.groups.write_txn_commit(write, r.producer_id.0, r.producer_epoch, group, offsets).await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            let e = match e {
                ResponseError::CoordinatorLoadInProgress if ctx.version < 2 => ResponseError::CoordinatorNotAvailable,
                other => other,
            };
            for ((ti, pi), _, _) in &valid {
                codes[*ti][*pi] = e.code();
            }
        }
    }
    let topics = r
        .topics
        .iter()
        .zip(codes)
        .map(|(t, row)| {
            TxnOffsetCommitResponseTopic::default().with_name(t.name.clone()).with_partitions(
                t.partitions
                    .iter()
                    .zip(row)
                    .map(|(p, code)| {
                        TxnOffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(code)
                    })
                    .collect(),
            )
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}

/// KIP-890's check of the group's `__consumer_offsets` partition (Kafka's
/// `maybeStartTransactionVerification` through `AddPartitionsToTxnManager`): verified, or added
/// to the transaction from v5, unless the producer's transaction is open there already. Errors
/// of locating the partition are left to the group coordinator's own answer.
async fn verify_offsets_partition(ctx: &RequestContext, r: &TxnOffsetCommitRequest) -> Result<(), ResponseError> {
    let add = ctx.version >= 5;
    if !add
        && (!ctx.broker.config.transaction_partition_verification_enable || active(Defect::SkipTransactionVerification))
    {
        return Ok(());
    }
    let Some(index) = ctx.broker.groups.runtime().partition_for(r.group_id.as_str()) else { return Ok(()) };
    let topic = ctx.broker.topic(OFFSETS_TOPIC);
    let Ok(p) = ctx.broker.replica_for(topic.as_ref(), index, -1, false) else { return Ok(()) };
    let (id, pid, epoch) = (r.transactional_id.as_str(), r.producer_id.0, r.producer_epoch);
    if p.has_open_transaction(pid, epoch) {
        return Ok(());
    }
    let asked = [(OFFSETS_TOPIC.to_string(), index)];
    let op = match ctx.version {
        ..=3 => TxnOperation::DefaultError,
        4 => TxnOperation::GenericError,
        _ => TxnOperation::AddPartition,
    };
    // As for Produce v12: asked again while the decision before is still written.
    let retry_within = std::time::Duration::from_millis(100);
    let results = ctx.broker.check_in_transaction(id, pid, epoch, &asked, op, retry_within).await;
    results.into_iter().next().unwrap_or(Err(ResponseError::UnknownServerError))
}
