//! One partition replica on this broker: its log, its role (leader or follower), the high
//! watermark, the leader epoch cache, what a leader knows of its followers, and the append path
//! ([`append`]). Everything else (API handlers, coordinators, the broker's replica fetcher)
//! calls its operations; its locks stay inside this module and the broker's replication code.
//!
//! As in Kafka's `Partition` and `ReplicaManager`:
//! - the leader's high watermark is the smallest log end offset among the ISR (including the
//!   ISR a pending AlterPartition would set, KIP-497), and never moves back;
//! - a follower is caught up when it fetches at the leader's log end; one that has not been
//!   caught up for `replica.lag.time.max.ms` is dropped from the ISR, and one that reaches the
//!   high watermark (and the current epoch's start) is added back, each through AlterPartition;
//! - a follower fetches from the leader with its broker id as replica id, and before fetching
//!   truncates its log to where it diverges from the leader's, found with OffsetForLeaderEpoch
//!   (KIP-101, KIP-279), never simply to its high watermark.
//! - the leader epoch cache (`leader-epoch-checkpoint` in the partition's directory, as Kafka
//!   writes it) maps each epoch to the first offset written in it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::defects::{Defect, active};
use crate::log::{
    Batch, CleanOutcome, CleanerConfig, DiskLog, Log, LogConfig, LogError, RetentionOutcome, TimestampOffset,
};
use crate::metadata::{NO_LEADER, PartitionState};
use producer_state::ProducerStates;

pub mod append;
pub mod producer_state;

/// A counter bumped on every append and high-watermark move of any partition on this broker:
/// wakes long-polling fetches and acks=all waits.
#[derive(Clone)]
pub struct Changes(Arc<tokio::sync::watch::Sender<u64>>);

impl Default for Changes {
    fn default() -> Self {
        Changes(Arc::new(tokio::sync::watch::channel(0).0))
    }
}

impl Changes {
    pub fn notify(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.0.subscribe()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Leader,
    Follower,
    /// No leader is known, or the partition has none.
    Offline,
}

/// What the leader knows of one follower.
#[derive(Debug, Clone)]
pub struct FollowerState {
    /// The follower's log end offset, from its last fetch (-1 before the first).
    pub leo: i64,
    pub last_caught_up: Instant,
    last_fetch: Instant,
    leader_leo_at_last_fetch: i64,
}

pub struct ReplicaState {
    pub role: Role,
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// The ISR an AlterPartition in flight asks for.
    pub pending_isr: Option<Vec<i32>>,
    pub hw: i64,
    /// Leader epoch → first offset written in it, ascending.
    pub epochs: Vec<(i32, i64)>,
    pub followers: BTreeMap<i32, FollowerState>,
    pub fetcher: Option<tokio::task::AbortHandle>,
    /// Idempotent producers' last batches, rebuilt from the log.
    pub producers: ProducerStates,
}

pub struct Partition {
    pub topic: String,
    pub topic_id: Uuid,
    pub index: i32,
    pub dir: PathBuf,
    log: Mutex<Box<dyn Log>>,
    state: Mutex<ReplicaState>,
    changes: Changes,
}

impl Partition {
    /// Opens the replica's log; `hw` is the last checkpointed high watermark.
    pub fn open(
        topic: &str,
        topic_id: Uuid,
        index: i32,
        dir: &Path,
        config: LogConfig,
        hw: i64,
        changes: Changes,
    ) -> Result<Partition, LogError> {
        let log = DiskLog::open(dir, config)?;
        let leo = log.log_end_offset();
        let mut log = log;
        let producers = if active(Defect::ForgetProducerStateOnRestart) {
            ProducerStates::default()
        } else {
            let mut producers = ProducerStates::rebuild(&log)?;
            // Recovery: the aborted-transaction indexes agree with the log again.
            let aborted = producers.take_aborted();
            if !active(Defect::AbortedIndexNotRebuilt) {
                log.rebuild_aborted(&aborted)?;
            }
            producers
        };
        let epochs = read_epoch_checkpoint(dir).into_iter().filter(|(_, start)| *start <= leo).collect();
        let mut producers = producers;
        producers.forget_replicated(hw.clamp(0, leo));
        Ok(Partition {
            topic: topic.to_string(),
            topic_id,
            index,
            dir: dir.to_path_buf(),
            log: Mutex::new(Box::new(log)),
            changes,
            state: Mutex::new(ReplicaState {
                role: Role::Offline,
                leader: NO_LEADER,
                leader_epoch: -1,
                partition_epoch: -1,
                replicas: Vec::new(),
                isr: Vec::new(),
                pending_isr: None,
                hw: hw.clamp(0, leo),
                epochs,
                followers: BTreeMap::new(),
                fetcher: None,
                producers,
            }),
        })
    }

    /// Locks the log, recovering from a poisoned lock: a panic elsewhere must not take the
    /// partition down with it. Lock order: state, then log.
    pub fn log(&self) -> MutexGuard<'_, Box<dyn Log>> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn state(&self) -> MutexGuard<'_, ReplicaState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn name(&self) -> String {
        format!("{}-{}", self.topic, self.index)
    }

    /// Records a new epoch's start offset in the cache and its checkpoint file.
    pub fn assign_epoch(&self, st: &mut ReplicaState, epoch: i32, start: i64) {
        if st.epochs.last().is_some_and(|(e, _)| *e >= epoch) {
            return;
        }
        st.epochs.push((epoch, start));
        self.write_epochs(st);
    }

    fn write_epochs(&self, st: &ReplicaState) {
        let mut text = format!("0\n{}\n", st.epochs.len());
        for (e, o) in &st.epochs {
            text.push_str(&format!("{e} {o}\n"));
        }
        let tmp = self.dir.join("leader-epoch-checkpoint.tmp");
        let result =
            std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, self.dir.join("leader-epoch-checkpoint")));
        if let Err(e) = result {
            tracing::warn!("{}: writing leader-epoch-checkpoint: {e}", self.name());
        }
    }

    /// Truncates the log to `offset` and forgets epochs that start at or after it.
    pub fn truncate(&self, st: &mut ReplicaState, offset: i64) -> Result<(), LogError> {
        let mut log = self.log();
        if offset >= log.log_end_offset() {
            return Ok(());
        }
        tracing::info!("{}: truncating from {} to {offset}", self.name(), log.log_end_offset());
        log.truncate_to(offset)?;
        let leo = log.log_end_offset();
        // The truncated batches may have been some producer's last ones.
        st.producers = ProducerStates::rebuild(log.as_ref())?;
        let aborted = st.producers.take_aborted();
        log.rebuild_aborted(&aborted)?;
        drop(log);
        let before = st.epochs.len();
        st.epochs.retain(|(_, start)| *start < leo);
        if st.epochs.len() != before {
            self.write_epochs(st);
        }
        st.hw = st.hw.min(leo);
        Ok(())
    }

    /// Empties the log and restarts it at `offset` (Kafka's `truncateFullyAndStartAt`): for a
    /// follower whose leader no longer has the records after this replica's log end.
    pub fn restart_at(&self, st: &mut ReplicaState, offset: i64) -> Result<(), LogError> {
        let mut log = self.log();
        tracing::info!("{}: restarting the log at {offset}", self.name());
        log.truncate_fully_and_start_at(offset)?;
        st.producers = ProducerStates::default();
        st.epochs.clear();
        self.write_epochs(st);
        st.hw = offset;
        Ok(())
    }

    /// Kafka's `LeaderEpochFileCache.endOffsetFor`: the largest epoch at or below `requested`,
    /// and the offset where it ended (the log end for the latest epoch); (-1, -1) when unknown.
    pub fn end_offset_for(st: &ReplicaState, leo: i64, requested: i32) -> (i32, i64) {
        let Some(&(latest, _)) = st.epochs.last() else { return (-1, -1) };
        if requested < 0 {
            return (-1, -1);
        }
        if requested == latest {
            return (latest, leo);
        }
        let Some(&(_, higher_start)) = st.epochs.iter().find(|(e, _)| *e > requested) else { return (-1, -1) };
        match st.epochs.iter().rev().find(|(e, _)| *e <= requested) {
            Some(&(floor, _)) => (floor, higher_start),
            None => (requested, higher_start),
        }
    }

    /// The leader's view after a change: recomputes the high watermark. Returns whether it moved.
    pub fn maybe_advance_hw(&self, st: &mut ReplicaState) -> bool {
        if st.role != Role::Leader {
            return false;
        }
        let leo = self.log().log_end_offset();
        let mut hw = leo;
        if !active(Defect::HwIgnoresIsr) {
            let mut members: Vec<i32> = st.isr.clone();
            if let Some(p) = &st.pending_isr {
                members.extend(p.iter().copied());
            }
            for r in members {
                if r == st.leader {
                    continue;
                }
                let follower_leo = st.followers.get(&r).map_or(-1, |f| f.leo);
                hw = hw.min(follower_leo.max(0));
            }
        }
        if hw > st.hw {
            st.hw = hw;
            st.producers.forget_replicated(hw);
            true
        } else {
            false
        }
    }

    /// A follower's fetch at `offset` reached the leader: its progress, Kafka's
    /// `Replica.updateFetchState`.
    pub fn record_follower_fetch(&self, st: &mut ReplicaState, replica: i32, offset: i64) {
        let leo = self.log().log_end_offset();
        let now = Instant::now();
        let f = st.followers.entry(replica).or_insert(FollowerState {
            leo: -1,
            last_caught_up: now - Duration::from_secs(3600),
            last_fetch: now,
            leader_leo_at_last_fetch: leo,
        });
        if offset >= leo {
            f.last_caught_up = now;
        } else if offset >= f.leader_leo_at_last_fetch {
            f.last_caught_up = f.last_caught_up.max(f.last_fetch);
        }
        f.leo = offset;
        f.last_fetch = now;
        f.leader_leo_at_last_fetch = leo;
    }

    /// Becomes the leader for `epoch` with the controller's state.
    pub fn become_leader(&self, st: &mut ReplicaState, me: i32, s: &PartitionState) {
        if let Some(f) = st.fetcher.take() {
            f.abort();
        }
        let leo = self.log().log_end_offset();
        let fresh = st.role != Role::Leader || st.leader_epoch != s.leader_epoch;
        st.role = Role::Leader;
        st.leader = me;
        st.leader_epoch = s.leader_epoch;
        st.partition_epoch = s.partition_epoch;
        st.replicas = s.replicas.clone();
        st.isr = s.isr.clone();
        st.pending_isr = None;
        if fresh {
            // Kafka gives ISR members a fresh start when a leader is elected.
            let now = Instant::now();
            st.followers = s
                .replicas
                .iter()
                .filter(|r| **r != me)
                .map(|r| {
                    let caught = if s.isr.contains(r) { now } else { now - Duration::from_secs(3600) };
                    (
                        *r,
                        FollowerState {
                            leo: -1,
                            last_caught_up: caught,
                            last_fetch: now,
                            leader_leo_at_last_fetch: leo,
                        },
                    )
                })
                .collect();
            self.assign_epoch(st, s.leader_epoch, leo);
            tracing::info!("{}: leader for epoch {} at offset {leo}, ISR {:?}", self.name(), s.leader_epoch, s.isr);
        }
        self.maybe_advance_hw(st);
    }

    /// Becomes a follower of `s.leader` (or offline when there is none).
    pub fn become_follower(&self, st: &mut ReplicaState, s: &PartitionState) -> bool {
        let changed = st.role == Role::Leader || st.leader != s.leader || st.leader_epoch != s.leader_epoch;
        st.role = if s.leader == NO_LEADER { Role::Offline } else { Role::Follower };
        st.leader = s.leader;
        st.leader_epoch = s.leader_epoch;
        st.partition_epoch = s.partition_epoch;
        st.replicas = s.replicas.clone();
        st.isr = s.isr.clone();
        st.pending_isr = None;
        st.followers.clear();
        if changed && let Some(f) = st.fetcher.take() {
            f.abort();
        }
        changed
    }
}

/// A partition's offsets as a reader sees them at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub log_start: i64,
    /// The high watermark, never above the log end.
    pub high_watermark: i64,
    /// The last stable offset (KIP-98): where read_committed reads stop; at most the high
    /// watermark.
    pub last_stable: i64,
    pub log_end: i64,
    pub leader_epoch: i32,
}

impl Partition {
    /// The replica's role and leader epoch, read together.
    pub fn leadership(&self) -> (Role, i32) {
        let st = self.state();
        (st.role, st.leader_epoch)
    }

    pub fn high_watermark(&self) -> i64 {
        self.state().hw
    }

    pub fn bounds(&self) -> Bounds {
        let st = self.state();
        let log = self.log();
        let log_end = log.log_end_offset();
        let high_watermark = st.hw.min(log_end);
        let log_start = log.log_start_offset();
        let last_stable = st.producers.last_stable_offset(high_watermark).max(log_start).min(high_watermark);
        Bounds { log_start, high_watermark, last_stable, log_end, leader_epoch: st.leader_epoch }
    }

    /// Whole batches from `offset`, below `max_offset`, within `max_bytes` (the first batch
    /// whole when `min_one`).
    pub fn read(&self, offset: i64, max_bytes: usize, max_offset: i64, min_one: bool) -> Result<Vec<Batch>, LogError> {
        self.log().read(offset, max_bytes, max_offset, min_one)
    }

    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<TimestampOffset>, LogError> {
        self.log().offset_for_timestamp(ts)
    }

    pub fn max_timestamp(&self) -> Result<Option<TimestampOffset>, LogError> {
        self.log().max_timestamp()
    }

    /// OffsetForLeaderEpoch's answer from this replica's epoch cache.
    pub fn epoch_end(&self, requested: i32) -> (i32, i64) {
        let st = self.state();
        let leo = self.log().log_end_offset();
        Partition::end_offset_for(&st, leo, requested)
    }

    /// DeleteRecords on the leader (Kafka's `Partition.deleteRecordsOnLeader`): moves the log
    /// start to `offset` (-1: the high watermark); above the high watermark is
    /// OFFSET_OUT_OF_RANGE. Returns the new log start offset.
    pub fn delete_records(&self, offset: i64) -> Result<i64, kafka_protocol::ResponseError> {
        use kafka_protocol::ResponseError;
        let st = self.state();
        let offset = if offset == -1 { st.hw } else { offset };
        if offset < 0 || offset > st.hw {
            return Err(ResponseError::OffsetOutOfRange);
        }
        let mut log = self.log();
        if active(Defect::DeleteRecordsIsANoOp) {
            return Ok(offset);
        }
        match log.advance_log_start(offset) {
            Ok(()) => Ok(log.log_start_offset()),
            Err(e) => {
                tracing::error!("DeleteRecords on {}: {e}", self.name());
                Err(ResponseError::KafkaStorageError)
            }
        }
    }

    /// Every batch from the log start to the log end, in order, for a coordinator loading its
    /// state; `upto` stops earlier.
    pub fn read_all(&self, upto: Option<i64>) -> Result<Vec<Batch>, LogError> {
        let (start, end) = {
            let log = self.log();
            (log.log_start_offset(), upto.unwrap_or_else(|| log.log_end_offset()))
        };
        let mut out = Vec::new();
        let mut offset = start;
        while offset < end {
            let batches = self.log().read(offset, 1 << 20, end, true)?;
            let Some(last) = batches.last() else { break };
            offset = last.next_offset();
            out.extend(batches);
        }
        Ok(out)
    }

    /// The first segment's end: where a coordinator with the `coordinator-loads-first-segment-only`
    /// defect stops.
    pub fn first_segment_end(&self) -> i64 {
        let log = self.log();
        log.segments().first().map_or(log.log_end_offset(), |s| s.next_offset)
    }

    /// Stops following the leader (a controlled shutdown, a deleted topic).
    pub fn stop_fetching(&self) {
        if let Some(f) = self.state().fetcher.take() {
            f.abort();
        }
    }

    pub fn flush(&self) -> Result<(), LogError> {
        self.log().flush()
    }

    pub fn set_log_config(&self, config: LogConfig) {
        self.log().set_config(config);
    }

    /// Forgets idle producers (`producer.id.expiration.ms`); returns how many went.
    pub fn expire_producers(&self, now_ms: i64, expiration_ms: i64) -> usize {
        self.state().producers.expire(now_ms, expiration_ms)
    }

    /// Kafka's retention pass on this replica, below its high watermark.
    pub fn apply_retention(
        &self,
        now_ms: i64,
        retention_ms: i64,
        retention_bytes: i64,
    ) -> Result<RetentionOutcome, LogError> {
        let st = self.state();
        self.log().apply_retention(now_ms, retention_ms, retention_bytes, st.hw)
    }

    /// One cleaner pass, below the last stable offset (Kafka's `LogCleanerManager`: never past
    /// the first record of an undecided transaction, whose fate may still restore the values it
    /// supersedes), with the config built for that bound.
    pub fn compact(&self, config: impl FnOnce(i64) -> CleanerConfig) -> Result<CleanOutcome, LogError> {
        let st = self.state();
        let mut cfg = config(st.producers.last_stable_offset(st.hw));
        let mut log = self.log();
        cfg.aborted_transactions = log
            .aborted_txns(i64::MIN, i64::MAX)?
            .into_iter()
            .map(|t| (t.producer_id, t.first_offset, t.last_offset))
            .collect();
        log.compact(&cfg)
    }

    /// The aborted transactions a read_committed fetch from `fetch_offset` that returned data up
    /// to `upper` reports, from the log's aborted-transaction indexes: (producer id, first
    /// offset).
    pub fn aborted_between(&self, fetch_offset: i64, upper: i64) -> Result<Vec<(i64, i64)>, LogError> {
        if active(Defect::EmptyAbortedTransactions) {
            return Ok(Vec::new());
        }
        let txns = self.log().aborted_txns(fetch_offset, upper)?;
        Ok(txns.into_iter().map(|t| (t.producer_id, t.first_offset)).collect())
    }

    /// Appends the transactions the producer state saw aborted to the log's index (a leader's
    /// marker, or a follower's copy of one).
    pub fn index_aborted(&self, st: &mut ReplicaState) -> Result<(), LogError> {
        let aborted = st.producers.take_aborted();
        if aborted.is_empty() {
            return Ok(());
        }
        let mut log = self.log();
        for txn in aborted {
            log.append_aborted(txn)?;
        }
        Ok(())
    }

    /// Whether `producer_id` has a transaction open on this partition.
    pub fn has_open_transaction(&self, producer_id: i64, epoch: i16) -> bool {
        self.state().producers.has_open_transaction(producer_id, epoch)
    }

    /// KIP-890: starts verifying a producer's first transactional batch here; the guard to
    /// append it with (see [`producer_state::ProducerStates::start_verification`]).
    pub fn start_verification(&self, producer_id: i64, epoch: i16, epoch_bump: bool) -> u64 {
        self.state().producers.start_verification(producer_id, epoch, epoch_bump)
    }

    /// DescribeProducers (KIP-664): each producer's id, epoch, last sequence, last timestamp,
    /// coordinator epoch and open transaction's first offset (-1 for none).
    pub fn describe_producers(&self) -> Vec<(i64, i16, i32, i64, i32, i64)> {
        self.state().producers.describe()
    }

    /// WriteTxnMarkers on the leader: appends a commit or abort marker for `producer_id` (a
    /// control batch of one record, Kafka's `EndTransactionMarker`), after the checks of
    /// Kafka's `appendEndTxnMarker`. Returns the offset after it, for the replication wait.
    pub fn append_marker(
        &self,
        config: &crate::config::TopicConfig,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
    ) -> Result<i64, kafka_protocol::ResponseError> {
        use kafka_protocol::ResponseError;
        use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
        let marker = producer_state::Marker { producer_id, producer_epoch, commit, coordinator_epoch };
        let now = crate::now_ms();
        let mut st = self.state();
        if st.role != Role::Leader {
            return Err(ResponseError::NotLeaderOrFollower);
        }
        if st.isr.len() < config.min_insync_replicas() {
            return Err(ResponseError::NotEnoughReplicas);
        }
        st.producers.check_marker(&marker)?;
        let mut key = bytes::BytesMut::new();
        key.extend_from_slice(&0i16.to_be_bytes());
        key.extend_from_slice(&i16::from(commit).to_be_bytes());
        let mut value = bytes::BytesMut::new();
        value.extend_from_slice(&0i16.to_be_bytes());
        value.extend_from_slice(&coordinator_epoch.to_be_bytes());
        let record = Record {
            transactional: true,
            control: true,
            delete_horizon: false,
            partition_leader_epoch: st.leader_epoch,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: -1,
            timestamp: now,
            key: Some(key.freeze()),
            value: Some(value.freeze()),
            headers: Default::default(),
        };
        let mut buf = bytes::BytesMut::new();
        let options = RecordEncodeOptions { version: 2, compression: Compression::None };
        RecordBatchEncoder::encode(&mut buf, std::iter::once(&record), &options)
            .map_err(|_| ResponseError::UnknownServerError)?;
        let batch = crate::log::split_batches(buf.freeze())
            .ok()
            .and_then(|b| b.into_iter().next())
            .ok_or(ResponseError::UnknownServerError)?;
        let mut m = batch.into_mut();
        m.set_partition_leader_epoch(st.leader_epoch);
        let info = self.log().append(m, now).map_err(|e| {
            tracing::error!("{}: appending a marker: {e}", self.name());
            ResponseError::KafkaStorageError
        })?;
        st.producers.record_marker(&marker, info.base_offset, now);
        self.index_aborted(&mut st).map_err(|e| {
            tracing::error!("{}: indexing an aborted transaction: {e}", self.name());
            ResponseError::KafkaStorageError
        })?;
        self.maybe_advance_hw(&mut st);
        drop(st);
        self.changes.notify();
        Ok(info.last_offset + 1)
    }

    /// The `lose-last-batch-on-disconnect` defect's undo.
    pub fn undo_append(&self, base_offset: i64) {
        let _ = self.log().truncate_to(base_offset);
    }
}

fn read_epoch_checkpoint(dir: &Path) -> Vec<(i32, i64)> {
    let Ok(text) = std::fs::read_to_string(dir.join("leader-epoch-checkpoint")) else { return Vec::new() };
    let mut out: Vec<(i32, i64)> = text
        .lines()
        .skip(2)
        .filter_map(|l| {
            let (e, o) = l.split_once(' ')?;
            Some((e.trim().parse().ok()?, o.trim().parse().ok()?))
        })
        .collect();
    out.sort_unstable();
    out
}

/// Where a returning follower must cut its log, given the leader's answer to
/// OffsetForLeaderEpoch for the follower's latest epoch (KIP-279): the smaller of the leader's
/// end offset for the epoch they share and the follower's own end offset for it.
pub fn truncation_offset(st: &ReplicaState, leo: i64, leader_epoch: i32, leader_end: i64) -> i64 {
    if leader_epoch < 0 || leader_end < 0 {
        // The leader knows no epoch at or below ours: fall back to the high watermark, as Kafka
        // does for a leader without epochs.
        return st.hw.min(leo);
    }
    let (_, own_end) = Partition::end_offset_for(st, leo, leader_epoch);
    let own_end = if own_end < 0 { leo } else { own_end };
    leader_end.min(own_end).min(leo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(epochs: Vec<(i32, i64)>, hw: i64) -> ReplicaState {
        ReplicaState {
            role: Role::Follower,
            leader: 2,
            leader_epoch: 3,
            partition_epoch: 0,
            replicas: vec![1, 2, 3],
            isr: vec![1, 2, 3],
            pending_isr: None,
            hw,
            epochs,
            followers: BTreeMap::new(),
            fetcher: None,
            producers: ProducerStates::default(),
        }
    }

    #[test]
    fn end_offset_for_follows_kafkas_leader_epoch_cache() {
        let st = state(vec![(0, 0), (2, 20), (5, 35)], 0);
        // The latest epoch ends at the log end.
        assert_eq!(Partition::end_offset_for(&st, 40, 5), (5, 40));
        // An older epoch ends where the next one starts.
        assert_eq!(Partition::end_offset_for(&st, 40, 2), (2, 35));
        // An epoch the cache skipped answers with the one below it.
        assert_eq!(Partition::end_offset_for(&st, 40, 3), (2, 35));
        // Above the latest: unknown.
        assert_eq!(Partition::end_offset_for(&st, 40, 9), (-1, -1));
        assert_eq!(Partition::end_offset_for(&state(vec![], 0), 40, 1), (-1, -1));
    }

    #[test]
    fn a_returning_replica_cuts_where_the_epochs_diverge_not_at_its_high_watermark() {
        // KIP-279's example: the old leader wrote offsets 20..40 in epoch 0 that no one else
        // has; the new leader's epoch 0 ended at 20. Its high watermark (40) would keep them.
        let st = state(vec![(0, 0)], 40);
        assert_eq!(truncation_offset(&st, 40, 0, 20), 20);
        // Nothing to cut when the leader has at least as much of the shared epoch.
        assert_eq!(truncation_offset(&st, 40, 0, 50), 40);
        // The leader answers an older epoch: cut at the smaller of the two ends of that epoch.
        let st = state(vec![(0, 0), (1, 10)], 40);
        assert_eq!(truncation_offset(&st, 40, 0, 15), 10);
    }
}
