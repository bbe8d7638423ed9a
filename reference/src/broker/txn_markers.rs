//! The broker's traffic with transaction coordinators:
//! - the marker sender (Kafka's `TransactionMarkerChannelManager`): for each decided
//!   transaction, WriteTxnMarkers to the leader of every partition in it, again at the new
//!   leader after NOT_LEADER_OR_FOLLOWER and the like, until each partition has its marker; then
//!   the coordinator completes the transaction. It stops for a transaction whose coordinator
//!   moved on, or whose marker a partition refuses as fenced;
//! - a partition leader's verification that a transactional batch belongs to its transaction
//!   (KIP-890, Kafka's `AddPartitionsToTxnManager`): AddPartitionsToTxn v5 with VerifyOnly to
//!   the transactional id's coordinator, or the local coordinator directly; with transaction
//!   version 2 (Produce v12, TxnOffsetCommit v5) the same request without VerifyOnly adds the
//!   partition to the transaction.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use tokio::sync::mpsc;

use super::Broker;
use crate::metadata::NO_LEADER;
use crate::txn::MarkerJob;

pub(super) async fn marker_loop(broker: Arc<Broker>, mut jobs: mpsc::UnboundedReceiver<MarkerJob>) {
    while let Some(job) = jobs.recv().await {
        tokio::spawn(broker.clone().write_markers(job));
    }
}

impl Broker {
    async fn write_markers(self: Arc<Self>, job: MarkerJob) {
        let mut left: BTreeSet<(String, i32)> = job.partitions.clone();
        let mut backoff = Duration::from_millis(20);
        loop {
            if self.txns.runtime().epoch_for(&job.transactional_id) != Some(job.coordinator_epoch) {
                tracing::info!(
                    "{}: no longer its coordinator at epoch {}; markers stop",
                    job.transactional_id,
                    job.coordinator_epoch
                );
                return;
            }
            let mut by_leader: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
            let image = self.image();
            left.retain(|(t, p)| {
                // A deleted topic's partitions need no marker (Kafka drops them likewise).
                let Some(topic) = image.topic(t) else { return false };
                let leader =
                    usize::try_from(*p).ok().and_then(|i| topic.partitions.get(i)).map_or(NO_LEADER, |s| s.leader);
                if leader != NO_LEADER {
                    by_leader.entry(leader).or_default().push((t.clone(), *p));
                }
                true
            });
            for (leader, partitions) in by_leader {
                match self.send_markers(leader, &job, &partitions).await {
                    Ok(results) => {
                        for ((t, p), code) in results {
                            match ResponseError::try_from_code(code) {
                                None => {
                                    left.remove(&(t, p));
                                }
                                Some(
                                    ResponseError::InvalidProducerEpoch | ResponseError::TransactionCoordinatorFenced,
                                ) => {
                                    tracing::warn!(
                                        "{}: {t}-{p} refused the marker as fenced; the transaction is left to a newer coordinator",
                                        job.transactional_id
                                    );
                                    return;
                                }
                                Some(e) => tracing::debug!("{}: marker on {t}-{p}: {e:?}; again", job.transactional_id),
                            }
                        }
                    }
                    Err(e) => tracing::debug!("{}: markers to broker {leader}: {e}; again", job.transactional_id),
                }
            }
            if left.is_empty() {
                self.txns.markers_written(&job).await;
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
    }

    /// One WriteTxnMarkers request: each partition's error code.
    async fn send_markers(
        &self,
        leader: i32,
        job: &MarkerJob,
        partitions: &[(String, i32)],
    ) -> Result<Vec<((String, i32), i16)>, String> {
        let addr = self.peer_address(leader).ok_or("the leader's address is unknown")?;
        let mut client = self.connect(&addr).await.map_err(|e| e.to_string())?;
        let marker = WritableTxnMarker::default()
            .with_producer_id(ProducerId(job.producer_id))
            .with_producer_epoch(job.producer_epoch)
            .with_transaction_result(job.commit)
            .with_coordinator_epoch(job.coordinator_epoch)
            .with_topics(
                by_topic(partitions)
                    .map(|(t, ps)| WritableTxnMarkerTopic::default().with_name(t).with_partition_indexes(ps))
                    .collect(),
            );
        let request = WriteTxnMarkersRequest::default().with_markers(vec![marker]);
        let response = client
            .request(RequestKind::WriteTxnMarkers(request), 1, Duration::from_millis(30_000))
            .await
            .map_err(|e| e.to_string())?;
        let ResponseKind::WriteTxnMarkers(r) = response else { return Err("another response type".into()) };
        Ok(r.markers
            .iter()
            .flat_map(|m| m.topics.iter())
            .flat_map(|t| t.partitions.iter().map(move |p| ((t.name.to_string(), p.partition_index), p.error_code)))
            .collect())
    }
}

/// Partitions grouped by topic, in topic order, as the requests to other brokers carry them.
fn by_topic(partitions: &[(String, i32)]) -> impl Iterator<Item = (TopicName, Vec<i32>)> {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in partitions {
        topics.entry(t.as_str()).or_default().push(*p);
    }
    topics.into_iter().map(|(t, ps)| (TopicName(StrBytes::from_string(t.to_string())), ps))
}

/// What a verifying request's client understands (Kafka's `TransactionSupportedOperation`,
/// by the request's version): Produce v0-10 and TxnOffsetCommit v0-3 only the old errors, Produce
/// v11 and TxnOffsetCommit v4 TRANSACTION_ABORTABLE too, Produce v12 and TxnOffsetCommit v5
/// (transaction version 2) have the partition added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnOperation {
    DefaultError,
    GenericError,
    AddPartition,
}

impl Broker {
    /// Kafka's `AddPartitionsToTxnManager` as a partition leader or the group coordinator uses
    /// it: [`Broker::verify_in_transaction`] (adding, for [`TxnOperation::AddPartition`], which
    /// is asked again 20 ms apart while the answer is CONCURRENT_TRANSACTIONS, within
    /// `retry_within`), with its remaps: PRODUCER_FENCED is INVALID_PRODUCER_EPOCH, and
    /// TRANSACTION_ABORTABLE is INVALID_TXN_STATE for a client that only knows the old errors.
    pub async fn check_in_transaction(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
        op: TxnOperation,
        retry_within: Duration,
    ) -> Vec<Result<(), ResponseError>> {
        let add = op == TxnOperation::AddPartition;
        let ask = || self.verify_in_transaction(transactional_id, producer_id, epoch, partitions, add);
        let mut results = ask().await;
        let give_up = tokio::time::Instant::now() + retry_within;
        while add
            && results.contains(&Err(ResponseError::ConcurrentTransactions))
            && tokio::time::Instant::now() < give_up
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
            results = ask().await;
        }
        results
            .into_iter()
            .map(|r| {
                r.map_err(|e| match e {
                    ResponseError::ProducerFenced => ResponseError::InvalidProducerEpoch,
                    ResponseError::TransactionAbortable if op == TxnOperation::DefaultError => {
                        ResponseError::InvalidTxnState
                    }
                    other => other,
                })
            })
            .collect()
    }

    /// Whether each partition is in the transaction of `transactional_id` for this producer
    /// (`add`: after adding them, transaction version 2): the coordinator's per-partition answer
    /// (NONE, TRANSACTION_ABORTABLE, ...), or why it could not be asked
    /// (COORDINATOR_NOT_AVAILABLE, NETWORK_EXCEPTION).
    async fn verify_in_transaction(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
        add: bool,
    ) -> Vec<Result<(), ResponseError>> {
        use kafka_protocol::messages::add_partitions_to_txn_request::{
            AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
        };
        let all = |e: ResponseError| vec![Err(e); partitions.len()];
        let image = self.image();
        let Some(t) = image.topic(crate::txn::TRANSACTION_STATE_TOPIC) else {
            return all(ResponseError::CoordinatorNotAvailable);
        };
        let index = crate::coordinator::partition_for(transactional_id, t.partitions.len() as i32);
        let leader = usize::try_from(index).ok().and_then(|i| t.partitions.get(i)).map_or(NO_LEADER, |s| s.leader);
        if leader == self.node_id() {
            if add {
                let set: BTreeSet<(String, i32)> = partitions.iter().cloned().collect();
                let added = self.txns.add_partitions(transactional_id, producer_id, epoch, &set, 2).await;
                return vec![added; partitions.len()];
            }
            return self.txns.verify(transactional_id, producer_id, epoch, partitions);
        }
        if leader == NO_LEADER {
            return all(ResponseError::CoordinatorNotAvailable);
        }
        let Some(addr) = self.peer_address(leader) else { return all(ResponseError::CoordinatorNotAvailable) };
        let transaction = AddPartitionsToTxnTransaction::default()
            .with_transactional_id(TransactionalId(StrBytes::from_string(transactional_id.to_string())))
            .with_producer_id(ProducerId(producer_id))
            .with_producer_epoch(epoch)
            .with_verify_only(!add)
            .with_topics(
                by_topic(partitions)
                    .map(|(t, ps)| AddPartitionsToTxnTopic::default().with_name(t).with_partitions(ps))
                    .collect(),
            );
        let request = AddPartitionsToTxnRequest::default().with_transactions(vec![transaction]);
        let answer = async {
            let mut client = self.connect(&addr).await.ok()?;
            match client.request(RequestKind::AddPartitionsToTxn(request), 5, Duration::ZERO).await.ok()? {
                ResponseKind::AddPartitionsToTxn(r) => Some(r),
                _ => None,
            }
        }
        .await;
        let Some(r) = answer else { return all(ResponseError::NetworkException) };
        if let Some(e) = ResponseError::try_from_code(r.error_code) {
            return all(e);
        }
        let codes: BTreeMap<(String, i32), i16> = r
            .results_by_transaction
            .iter()
            .flat_map(|t| t.topic_results.iter())
            .flat_map(|t| {
                t.results_by_partition
                    .iter()
                    .map(move |p| ((t.name.to_string(), p.partition_index), p.partition_error_code))
            })
            .collect();
        partitions
            .iter()
            .map(|tp| match codes.get(tp) {
                None => Err(ResponseError::UnknownServerError),
                Some(code) => ResponseError::try_from_code(*code).map_or(Ok(()), Err),
            })
            .collect()
    }
}
