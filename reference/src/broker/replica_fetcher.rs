//! Replication between brokers: a follower's fetch loop (truncating first where its log
//! diverges from the leader's, KIP-101/KIP-279), and the leader's side, which tracks each
//! follower's progress, moves the high watermark and shrinks or expands the ISR.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::Broker;
use crate::client::Client;
use crate::defects::{Defect, active};
use crate::log::{Batch, split_batches};
use crate::now_ms;
use crate::partition::{Partition, ReplicaState, Role};

impl Broker {
    /// After a follower's fetch: maybe add it back to the ISR (Kafka's `maybeExpandIsr`).
    pub fn follower_fetched(self: &Arc<Self>, partition: &Arc<Partition>, replica: i32, offset: i64) {
        let mut st = partition.state();
        if st.role != Role::Leader || !st.replicas.contains(&replica) {
            return;
        }
        partition.record_follower_fetch(&mut st, replica, offset);
        let epoch_start = st.epochs.last().map_or(0, |(_, s)| *s);
        if !st.isr.contains(&replica) && offset >= st.hw && offset >= epoch_start && self.image().is_live(replica) {
            let mut isr = st.isr.clone();
            isr.push(replica);
            self.propose_isr(partition, &mut st, isr);
        }
        let moved = partition.maybe_advance_hw(&mut st);
        drop(st);
        if moved {
            self.notify_append();
        }
    }
}

/// The leader's periodic check (every half `replica.lag.time.max.ms`, as Kafka's
/// `isr-expiration` task): followers not caught up for `replica.lag.time.max.ms` leave the ISR.
pub(super) async fn isr_loop(broker: Arc<Broker>) {
    let lag = Duration::from_millis(broker.config.replica_lag_time_max_ms);
    let mut interval = tokio::time::interval((lag / 2).max(Duration::from_millis(10)));
    loop {
        interval.tick().await;
        if active(Defect::IsrNeverShrinks) {
            continue;
        }
        for p in broker.local_partitions() {
            let mut st = p.state();
            if st.role != Role::Leader {
                continue;
            }
            let me = broker.node_id();
            let out: Vec<i32> = st
                .isr
                .iter()
                .copied()
                .filter(|r| *r != me && st.followers.get(r).is_none_or(|f| f.last_caught_up.elapsed() > lag))
                .collect();
            if !out.is_empty() {
                let isr: Vec<i32> = st.isr.iter().copied().filter(|r| !out.contains(r)).collect();
                tracing::info!("{}: followers {out:?} are out of sync; shrinking the ISR to {isr:?}", p.name());
                broker.propose_isr(&p, &mut st, isr);
            }
        }
    }
}

/// A follower: truncate to where the log diverges from the leader's, then fetch from it until
/// the leader or the epoch changes.
pub(super) async fn follower_loop(broker: Arc<Broker>, p: Arc<Partition>, leader: i32, epoch: i32) {
    let backoff = Duration::from_millis(50);
    let still = |p: &Partition| {
        let st = p.state();
        st.role == Role::Follower && st.leader == leader && st.leader_epoch == epoch
    };
    let wait = Duration::from_millis(broker.config.replica_fetch_wait_max_ms);
    loop {
        if !still(&p) {
            return;
        }
        let Some(addr) = broker.peer_address(leader) else {
            tokio::time::sleep(backoff).await;
            continue;
        };
        let Ok(mut client) = broker.connect(&addr).await else {
            tokio::time::sleep(backoff).await;
            continue;
        };
        if let Err(e) = truncate_to_leader(&broker, &p, &mut client, epoch).await {
            tracing::debug!("{}: truncation against leader {leader}: {e}", p.name());
            tokio::time::sleep(backoff).await;
            continue;
        }
        loop {
            if !still(&p) {
                return;
            }
            let (offset, last_epoch, start) = {
                let st = p.state();
                let log = p.log();
                (log.log_end_offset(), st.epochs.last().map_or(-1, |(e, _)| *e), log.log_start_offset())
            };
            let request = FetchRequest::default()
                .with_replica_id(BrokerId(broker.node_id()))
                .with_max_wait_ms(wait.as_millis() as i32)
                .with_min_bytes(1)
                .with_max_bytes(16 << 20)
                .with_topics(vec![
                    fetch_request::FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(p.topic.clone())))
                        .with_partitions(vec![
                            fetch_request::FetchPartition::default()
                                .with_partition(p.index)
                                .with_current_leader_epoch(epoch)
                                .with_fetch_offset(offset)
                                .with_last_fetched_epoch(last_epoch)
                                .with_log_start_offset(start)
                                .with_partition_max_bytes(8 << 20),
                        ]),
                ]);
            let response = match client.request(RequestKind::Fetch(request), 12, wait).await {
                Ok(ResponseKind::Fetch(r)) => r,
                _ => break,
            };
            let Some(pd) = response.responses.first().and_then(|t| t.partitions.first()) else { break };
            match ResponseError::try_from_code(pd.error_code) {
                None => {}
                Some(ResponseError::OffsetOutOfRange) if pd.log_start_offset > offset => {
                    // The leader deleted what this replica still needs (retention or
                    // DeleteRecords): start over at the leader's log start, as Kafka's
                    // truncateFullyAndStartAt does.
                    let mut st = p.state();
                    if let Err(e) = p.restart_at(&mut st, pd.log_start_offset) {
                        tracing::error!("{}: restarting at the leader's log start: {e}", p.name());
                    }
                    continue;
                }
                Some(ResponseError::OffsetOutOfRange) => break,
                Some(e) => {
                    tracing::debug!("{}: fetch from leader {leader}: {e:?}", p.name());
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            }
            let batches = match split_batches(pd.records.clone().unwrap_or_default()) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!("{}: leader {leader} sent a batch that does not parse: {e}", p.name());
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            };
            let outcome = {
                let mut st = p.state();
                if st.role != Role::Follower || st.leader != leader || st.leader_epoch != epoch {
                    return;
                }
                let appended = append_as_follower(&p, &mut st, batches, offset);
                if appended.is_ok() {
                    let mut log = p.log();
                    let leo = log.log_end_offset();
                    st.hw = st.hw.max(pd.high_watermark.min(leo));
                    // Kafka's maybeIncrementLogStartOffset: the leader's retention and
                    // DeleteRecords reach the followers through its log start offset.
                    if pd.log_start_offset > log.log_start_offset()
                        && let Err(e) = log.advance_log_start(pd.log_start_offset.min(leo))
                    {
                        tracing::warn!("{}: following the leader's log start: {e}", p.name());
                    }
                }
                appended
            };
            if let Err(e) = outcome {
                tracing::error!("{}: appending as follower: {e}", p.name());
                tokio::time::sleep(backoff).await;
                continue;
            }
            broker.notify_append();
        }
        tokio::time::sleep(backoff).await;
    }
}

fn append_as_follower(
    p: &Partition,
    st: &mut ReplicaState,
    batches: Vec<Batch>,
    fetch_offset: i64,
) -> Result<(), crate::log::LogError> {
    let now = now_ms();
    for b in batches {
        if b.next_offset() <= fetch_offset {
            continue;
        }
        let epoch = b.partition_leader_epoch();
        let base = b.base_offset();
        let copy = b.clone();
        p.log().append_with_offsets(b, now)?;
        if !active(Defect::ForgetProducerStateOnRestart) {
            st.producers.record_batch(&copy);
            p.index_aborted(st)?;
        }
        if st.epochs.last().is_none_or(|(e, _)| *e < epoch) {
            p.assign_epoch(st, epoch, base);
        }
    }
    Ok(())
}

/// KIP-101/KIP-279: asks the leader where our latest epoch ends in its log and cuts ours there.
async fn truncate_to_leader(
    broker: &Broker,
    p: &Partition,
    client: &mut Client,
    current_epoch: i32,
) -> Result<(), String> {
    let (latest, hw) = {
        let st = p.state();
        (st.epochs.last().map(|(e, _)| *e), st.hw)
    };
    if active(Defect::TruncateToHw) {
        // The defect: Kafka before KIP-101, trusting the high watermark.
        let mut st = p.state();
        return p.truncate(&mut st, hw).map_err(|e| e.to_string());
    }
    let Some(latest) = latest else { return Ok(()) };
    let request = OffsetForLeaderEpochRequest::default().with_replica_id(BrokerId(broker.node_id())).with_topics(vec![
        offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
            .with_topic(TopicName(StrBytes::from_string(p.topic.clone())))
            .with_partitions(vec![
                offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                    .with_partition(p.index)
                    .with_current_leader_epoch(current_epoch)
                    .with_leader_epoch(latest),
            ]),
    ]);
    let response = client
        .request(RequestKind::OffsetForLeaderEpoch(request), 3, Duration::ZERO)
        .await
        .map_err(|e| e.to_string())?;
    let ResponseKind::OffsetForLeaderEpoch(r) = response else { return Err("another response type".into()) };
    let e = r.topics.first().and_then(|t| t.partitions.first()).ok_or("no partition in the answer")?;
    if e.error_code != 0 {
        return Err(format!("error {}", e.error_code));
    }
    let mut st = p.state();
    let leo = p.log().log_end_offset();
    let cut = if active(Defect::TruncateIgnoringAnsweredEpoch) {
        // The defect: the answer's end offset taken as if it ended our own latest epoch.
        e.end_offset.min(leo)
    } else {
        crate::partition::truncation_offset(&st, leo, e.leader_epoch, e.end_offset)
    };
    p.truncate(&mut st, cut).map_err(|e| e.to_string())
}
