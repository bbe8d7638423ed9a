//! One partition replica on this broker: its log, its role (leader or follower), the high
//! watermark, the leader epoch cache, and what a leader knows of its followers.
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
use crate::log::{DiskLog, Log, LogConfig, LogError};
use crate::metadata::{NO_LEADER, PartitionState};
use crate::producer_state::ProducerStates;

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
    ) -> Result<Partition, LogError> {
        let log = DiskLog::open(dir, config)?;
        let leo = log.log_end_offset();
        let producers = if active(Defect::ForgetProducerStateOnRestart) {
            ProducerStates::default()
        } else {
            ProducerStates::rebuild(&log)?
        };
        let epochs = read_epoch_checkpoint(dir).into_iter().filter(|(_, start)| *start <= leo).collect();
        Ok(Partition {
            topic: topic.to_string(),
            topic_id,
            index,
            dir: dir.to_path_buf(),
            log: Mutex::new(Box::new(log)),
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

pub type SharedPartition = Arc<Partition>;

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
