//! Idempotent producers' state in one partition (KIP-98), as Kafka's `ProducerStateManager` and
//! `ProducerAppendInfo` keep it: per producer id, its epoch and the metadata of its last five
//! batches (first and last sequence and offset, timestamp).
//!
//! A leader checks each batch from a client against it before appending:
//! - a batch among the last five (same epoch, same sequence range) is a duplicate: nothing is
//!   appended and the client gets the original offsets;
//! - an epoch below the producer's current one is INVALID_PRODUCER_EPOCH;
//! - a new epoch must start at sequence 0, and within an epoch each batch must follow the last
//!   (wrapping after `i32::MAX`), else OUT_OF_ORDER_SEQUENCE_NUMBER;
//! - a producer with no state here (never seen, or expired after `producer.id.expiration.ms`) is
//!   accepted at any sequence (KIP-360).
//!
//! Followers record what they replicate without checking it, and every replica rebuilds the
//! state from its log when it opens the partition or truncates it, so the window survives
//! restarts and leader changes.
//!
//! Transactions (KIP-98), as Kafka's `ProducerAppendInfo` and `ProducerStateManager`:
//! - a producer's first transactional batch opens its transaction on this partition at that
//!   batch's offset; a non-transactional batch while one is open is INVALID_TXN_STATE;
//! - a marker (a control batch from the coordinator) closes it: one from an older coordinator
//!   (`coordinator_epoch`) is TRANSACTION_COORDINATOR_FENCED, one with an older producer epoch
//!   INVALID_PRODUCER_EPOCH; an abort is handed to the log's aborted-transaction index (Kafka's
//!   `.txnindex`, see [`ProducerStates::take_aborted`]), which read_committed fetches read;
//! - the last stable offset is the first offset of the earliest transaction still open, or
//!   decided with its marker not yet below the high watermark; else the high watermark.

use std::collections::{BTreeMap, HashMap, VecDeque};

use kafka_protocol::ResponseError;

use crate::defects::{Defect, active};
use crate::log::{AbortedTxn, Batch, Log, LogError};

/// Kafka's `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`.
pub const BATCHES_TO_RETAIN: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMeta {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub timestamp: i64,
}

#[derive(Debug, Clone)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMeta>,
    /// The largest batch timestamp seen: what expiry is measured from.
    last_timestamp: i64,
    /// The first offset of this producer's open transaction on this partition.
    current_txn_first_offset: Option<i64>,
    /// The epoch of the transaction coordinator that wrote this producer's last marker.
    coordinator_epoch: i32,
}

impl ProducerEntry {
    fn new(epoch: i16, timestamp: i64) -> ProducerEntry {
        ProducerEntry {
            epoch,
            batches: VecDeque::new(),
            last_timestamp: timestamp,
            current_txn_first_offset: None,
            coordinator_epoch: -1,
        }
    }
}

/// A transaction, from its first offset to its marker's offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
}

/// A transaction marker: a control batch's producer, its decision and its coordinator epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
    pub coordinator_epoch: i32,
}

/// What a leader should do with a client's batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Append,
    /// Already in the log: answer with these offsets and append nothing.
    Duplicate(BatchMeta),
}

#[derive(Debug, Default, Clone)]
pub struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
    /// Open transactions: first offset → producer id (Kafka's `ongoingTxns`).
    ongoing: BTreeMap<i64, i64>,
    /// Decided transactions whose marker may not be below the high watermark yet (Kafka's
    /// `unreplicatedTxns`).
    unreplicated: Vec<CompletedTxn>,
    /// Transactions aborted by markers recorded since the owner last took them
    /// ([`ProducerStates::take_aborted`]) for the log's aborted-transaction index.
    aborted: Vec<AbortedTxn>,
    /// KIP-890's verification guards (Kafka's `VerificationStateEntry`): a producer whose first
    /// transactional batch here is being verified with its coordinator. A marker for the
    /// producer removes its guard, so a batch verified just before its transaction ended is
    /// refused instead of opening a transaction nobody will end.
    verifying: HashMap<i64, Guard>,
}

/// A verification in progress: the epoch asked for, and whether the producer runs
/// transaction version 2 (whose next transaction's guard survives the marker of the one
/// before, at the same, bumped, epoch).
#[derive(Debug, Clone, Copy)]
struct Guard {
    id: u64,
    epoch: i16,
    epoch_bump: bool,
}

/// The guard that says a producer's transaction is already open here: nothing to verify.
pub const NO_GUARD_NEEDED: u64 = 0;

static NEXT_GUARD: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Whether `next` follows `last` (Kafka's `inSequence`: 0 follows `i32::MAX`).
fn in_sequence(last: i32, next: i32) -> bool {
    if last == i32::MAX { next == 0 } else { next == last + 1 }
}

/// The last sequence of a batch: its base sequence plus its offset span, wrapping.
pub fn last_sequence(batch: &Batch) -> i32 {
    let first = batch.base_sequence();
    let span = batch.last_offset_delta();
    if first > i32::MAX - span { span - (i32::MAX - first) - 1 } else { first + span }
}

impl ProducerStates {
    /// Checks a client's batch from producer `pid` (Kafka's `checkProducerEpoch` and
    /// `checkSequence`, with `findDuplicateBatch` first).
    pub fn check(
        &self,
        pid: i64,
        epoch: i16,
        first_seq: i32,
        last_seq: i32,
    ) -> Result<Verdict, (ResponseError, String)> {
        let Some(entry) = self.producers.get(&pid) else { return Ok(Verdict::Append) };
        if epoch < entry.epoch && !active(Defect::AcceptStaleEpoch) {
            return Err((
                ResponseError::InvalidProducerEpoch,
                format!(
                    "Epoch of producer {pid} at offset is {epoch}, which is smaller than the last seen epoch {}",
                    entry.epoch
                ),
            ));
        }
        if epoch == entry.epoch
            && let Some(b) = entry.batches.iter().find(|b| {
                b.first_seq == first_seq && (b.last_seq == last_seq || active(Defect::DedupOnFirstSequenceOnly))
            })
        {
            return Ok(Verdict::Duplicate(*b));
        }
        if epoch > entry.epoch {
            if first_seq != 0 && !active(Defect::AcceptSequenceGap) {
                return Err((
                    ResponseError::OutOfOrderSequenceNumber,
                    format!(
                        "Invalid sequence number for new epoch of producer {pid}: {epoch} (request epoch), {first_seq} (seq. number), {} (current producer epoch)",
                        entry.epoch
                    ),
                ));
            }
            return Ok(Verdict::Append);
        }
        let last = entry.batches.back().map_or(-1, |b| b.last_seq);
        if !in_sequence(last, first_seq) && !active(Defect::AcceptSequenceGap) {
            return Err((
                ResponseError::OutOfOrderSequenceNumber,
                format!(
                    "Out of order sequence number for producer {pid}: {first_seq} (incoming seq. number), {last} (current end sequence number)"
                ),
            ));
        }
        Ok(Verdict::Append)
    }

    /// Whether producer `pid` at `epoch` has a transaction open here (Kafka's
    /// `hasOngoingTransaction`): the same epoch only, so that with transaction version 2 the
    /// next transaction's first batch (one epoch up) is verified, and waits, while the marker
    /// of the one before has not arrived yet.
    pub fn has_open_transaction(&self, pid: i64, epoch: i16) -> bool {
        self.producers.get(&pid).is_some_and(|e| e.current_txn_first_offset.is_some() && e.epoch == epoch)
    }

    /// Starts KIP-890's verification of producer `pid` at `epoch` (Kafka's
    /// `maybeStartTransactionVerification`): [`NO_GUARD_NEEDED`] when its transaction is open
    /// here at that epoch, else the guard its append must present. Verifications of one
    /// producer in flight together share a guard.
    pub fn start_verification(&mut self, pid: i64, epoch: i16, epoch_bump: bool) -> u64 {
        if self.has_open_transaction(pid, epoch) {
            return NO_GUARD_NEEDED;
        }
        let guard = self.verifying.entry(pid).or_insert_with(|| Guard {
            id: NEXT_GUARD.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            epoch,
            epoch_bump,
        });
        guard.epoch = guard.epoch.max(epoch);
        guard.epoch_bump |= epoch_bump;
        guard.id
    }

    /// Kafka's `batchMissingRequiredVerification`: a transactional batch that would open a
    /// transaction here needs the guard its verification started with, still in place.
    pub fn check_verified(&self, pid: i64, epoch: i16, guard: u64) -> Result<(), (ResponseError, String)> {
        if self.has_open_transaction(pid, epoch) || active(Defect::SkipTransactionVerification) {
            return Ok(());
        }
        match self.verifying.get(&pid) {
            Some(g) if g.id == guard && guard != NO_GUARD_NEEDED => Ok(()),
            _ => Err((
                ResponseError::InvalidTxnState,
                format!("Record from producer {pid} was not part of an ongoing transaction"),
            )),
        }
    }

    /// A coordinator's batch for producer `pid` (no sequence): only its epoch is checked.
    pub fn check_epoch(&self, pid: i64, epoch: i16) -> Result<(), (ResponseError, String)> {
        match self.producers.get(&pid) {
            Some(e) if epoch < e.epoch => Err((
                ResponseError::InvalidProducerEpoch,
                format!("Epoch of producer {pid} is {epoch}, which is smaller than the last seen epoch {}", e.epoch),
            )),
            _ => Ok(()),
        }
    }

    /// The transaction check of a client's batch: a producer with an open transaction here may
    /// only write transactional batches (Kafka's `ProducerAppendInfo.checkProducerEpoch` and
    /// `append`).
    pub fn check_txn(&self, pid: i64, transactional: bool) -> Result<(), (ResponseError, String)> {
        let open = self.producers.get(&pid).is_some_and(|e| e.current_txn_first_offset.is_some());
        if open && !transactional && !active(Defect::AcceptNonTransactionalInTxn) {
            return Err((
                ResponseError::InvalidTxnState,
                format!("Expected transactional write from producer {pid} at offset in its ongoing transaction"),
            ));
        }
        Ok(())
    }

    /// Records an appended batch (by a leader, a follower, or a rebuild from the log).
    pub fn record(&mut self, pid: i64, epoch: i16, meta: BatchMeta) {
        self.record_data(pid, epoch, meta, false);
    }

    /// Records an appended data batch; a transactional one opens the producer's transaction
    /// here if none is open.
    pub fn record_data(&mut self, pid: i64, epoch: i16, meta: BatchMeta, transactional: bool) {
        let entry = self.producers.entry(pid).or_insert_with(|| ProducerEntry::new(epoch, meta.timestamp));
        if epoch > entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        if transactional && entry.current_txn_first_offset.is_none() {
            entry.current_txn_first_offset = Some(meta.first_offset);
            self.ongoing.insert(meta.first_offset, pid);
        }
        entry.last_timestamp = entry.last_timestamp.max(meta.timestamp);
        entry.batches.push_back(meta);
        let keep = if active(Defect::DedupWindowOfOne) { 1 } else { BATCHES_TO_RETAIN };
        while entry.batches.len() > keep {
            entry.batches.pop_front();
        }
    }

    /// Checks a marker from a coordinator (Kafka's `ProducerAppendInfo.appendEndTxnMarker`).
    pub fn check_marker(&self, marker: &Marker) -> Result<(), ResponseError> {
        let Some(entry) = self.producers.get(&marker.producer_id) else { return Ok(()) };
        if marker.producer_epoch < entry.epoch {
            return Err(ResponseError::InvalidProducerEpoch);
        }
        let fenced = entry.coordinator_epoch > marker.coordinator_epoch
            || (active(Defect::MarkerNeedsNewerCoordinatorEpoch)
                && entry.coordinator_epoch >= marker.coordinator_epoch);
        if fenced {
            return Err(ResponseError::TransactionCoordinatorFenced);
        }
        Ok(())
    }

    /// Records a marker appended at `offset`: the producer's open transaction here, if any, is
    /// decided.
    pub fn record_marker(&mut self, marker: &Marker, offset: i64, timestamp: i64) {
        let entry = self
            .producers
            .entry(marker.producer_id)
            .or_insert_with(|| ProducerEntry::new(marker.producer_epoch, timestamp));
        if marker.producer_epoch > entry.epoch {
            entry.epoch = marker.producer_epoch;
            entry.batches.clear();
        }
        entry.coordinator_epoch = marker.coordinator_epoch;
        entry.last_timestamp = entry.last_timestamp.max(timestamp);
        // UnifiedLog.updateProducers: the marker ends what a guard verified, unless the guard is
        // the next transaction's on transaction version 2 (same, bumped, epoch).
        let next_started =
            self.verifying.get(&marker.producer_id).is_some_and(|g| g.epoch_bump && g.epoch == marker.producer_epoch);
        if !next_started {
            self.verifying.remove(&marker.producer_id);
        }
        let Some(first_offset) = entry.current_txn_first_offset.take() else { return };
        self.ongoing.remove(&first_offset);
        let txn = CompletedTxn { producer_id: marker.producer_id, first_offset, last_offset: offset };
        self.unreplicated.push(txn);
        if !marker.commit {
            // Kafka's `lastStableOffset(completedTxn)`: the first offset of the earliest other
            // open transaction, else just past the marker.
            let last_stable_offset = self.ongoing.keys().next().copied().unwrap_or(offset + 1);
            self.aborted.push(AbortedTxn {
                producer_id: marker.producer_id,
                first_offset,
                last_offset: offset,
                last_stable_offset,
            });
        }
    }

    /// The last stable offset for a high watermark: below it every transaction is decided and
    /// its marker replicated (Kafka's `UnifiedLog.lastStableOffset`); at most `hw`.
    pub fn last_stable_offset(&self, hw: i64) -> i64 {
        if active(Defect::LsoIgnoresOpenTransactions) {
            return hw;
        }
        let ongoing = self.ongoing.keys().next().copied();
        let unreplicated = self.unreplicated.iter().filter(|t| t.last_offset >= hw).map(|t| t.first_offset).min();
        match (ongoing, unreplicated) {
            (Some(a), Some(b)) => a.min(b).min(hw),
            (Some(a), None) | (None, Some(a)) => a.min(hw),
            (None, None) => hw,
        }
    }

    /// Forgets decided transactions whose markers are below the high watermark.
    pub fn forget_replicated(&mut self, hw: i64) {
        self.unreplicated.retain(|t| t.last_offset >= hw);
    }

    /// The transactions aborted since the last call, for the log's aborted-transaction index
    /// (after a rebuild: every one the log holds).
    pub fn take_aborted(&mut self) -> Vec<AbortedTxn> {
        std::mem::take(&mut self.aborted)
    }

    /// Producers with a transaction open here, with its first offset (DescribeProducers).
    pub fn describe(&self) -> Vec<(i64, i16, i32, i64, i32, i64)> {
        let mut out: Vec<_> = self
            .producers
            .iter()
            .map(|(pid, e)| {
                (
                    *pid,
                    e.epoch,
                    e.batches.back().map_or(-1, |b| b.last_seq),
                    e.last_timestamp,
                    e.coordinator_epoch,
                    e.current_txn_first_offset
                        .filter(|_| !active(Defect::DescribeProducersHidesOpenTransactions))
                        .unwrap_or(-1),
                )
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// Records a batch from the log, if it has a producer id.
    pub fn record_batch(&mut self, batch: &Batch) {
        if batch.producer_id() < 0 {
            return;
        }
        if batch.is_control() {
            if let Some(marker) = read_marker(batch) {
                self.record_marker(&marker, batch.base_offset(), batch.max_timestamp());
            }
            return;
        }
        let meta = BatchMeta {
            first_seq: batch.base_sequence(),
            last_seq: last_sequence(batch),
            first_offset: batch.base_offset(),
            last_offset: batch.last_offset(),
            timestamp: batch.max_timestamp(),
        };
        self.record_data(batch.producer_id(), batch.producer_epoch(), meta, batch.is_transactional());
    }

    /// Kafka's `removeExpiredProducers`: producers whose last batch is older than `expiration_ms`.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        // A producer with an open transaction is never expired (Kafka's `isProducerExpired`).
        self.producers.retain(|_, e| {
            e.current_txn_first_offset.is_some() || now_ms.saturating_sub(e.last_timestamp) < expiration_ms
        });
        before - self.producers.len()
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// The state as the log holds it: every batch read from the log start.
    pub fn rebuild(log: &dyn Log) -> Result<ProducerStates, LogError> {
        let mut states = ProducerStates::default();
        let end = log.log_end_offset();
        let mut offset = log.log_start_offset();
        while offset < end {
            let batches = log.read(offset, 1 << 20, end, true)?;
            let Some(last) = batches.last() else { break };
            offset = last.next_offset();
            for b in &batches {
                states.record_batch(b);
            }
        }
        Ok(states)
    }
}

/// The marker a control batch holds (Kafka's `EndTransactionMarker`): key int16 version, int16
/// type (0 abort, 1 commit); value int16 version, int32 coordinator epoch. `None` for a control
/// batch that is no marker or does not parse.
pub fn read_marker(batch: &Batch) -> Option<Marker> {
    let records = batch.records().ok()?;
    let r = records.first()?;
    let key = r.key.as_ref()?;
    let value = r.value.as_ref()?;
    if key.len() < 4 || value.len() < 6 {
        return None;
    }
    let kind = i16::from_be_bytes([key[2], key[3]]);
    let commit = match kind {
        0 => false,
        1 => true,
        _ => return None,
    };
    Some(Marker {
        producer_id: batch.producer_id(),
        producer_epoch: batch.producer_epoch(),
        commit,
        coordinator_epoch: i32::from_be_bytes([value[2], value[3], value[4], value[5]]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(first_seq: i32, last_seq: i32, first_offset: i64) -> BatchMeta {
        BatchMeta {
            first_seq,
            last_seq,
            first_offset,
            last_offset: first_offset + i64::from(last_seq - first_seq),
            timestamp: 1000,
        }
    }

    fn five_batches() -> ProducerStates {
        let mut s = ProducerStates::default();
        for i in 0..5 {
            s.record(7, 0, meta(i * 10, i * 10 + 9, i64::from(i) * 10));
        }
        s
    }

    #[test]
    fn a_batch_among_the_last_five_is_a_duplicate_with_its_original_offsets() {
        let s = five_batches();
        assert_eq!(s.check(7, 0, 10, 19), Ok(Verdict::Duplicate(meta(10, 19, 10))));
        assert_eq!(s.check(7, 0, 50, 59), Ok(Verdict::Append));
    }

    #[test]
    fn a_batch_older_than_the_window_or_after_a_gap_is_out_of_order() {
        let mut s = five_batches();
        s.record(7, 0, meta(50, 59, 50));
        // The batch 0..9 fell out of the window of five.
        assert_eq!(s.check(7, 0, 0, 9).map_err(|e| e.0), Err(ResponseError::OutOfOrderSequenceNumber));
        assert_eq!(s.check(7, 0, 61, 61).map_err(|e| e.0), Err(ResponseError::OutOfOrderSequenceNumber));
    }

    #[test]
    fn epochs_fence_old_producers_and_restart_sequences() {
        let s = five_batches();
        let mut newer = s.clone();
        newer.record(7, 1, meta(0, 0, 50));
        assert_eq!(newer.check(7, 0, 50, 50).map_err(|e| e.0), Err(ResponseError::InvalidProducerEpoch));
        assert_eq!(s.check(7, 1, 0, 3), Ok(Verdict::Append));
        assert_eq!(s.check(7, 1, 5, 6).map_err(|e| e.0), Err(ResponseError::OutOfOrderSequenceNumber));
    }

    #[test]
    fn an_unknown_producer_is_accepted_at_any_sequence_and_expiry_forgets_producers() {
        let mut s = five_batches();
        assert_eq!(s.check(8, 0, 42, 42), Ok(Verdict::Append));
        assert_eq!(s.expire(1000 + 99, 100), 0);
        assert_eq!(s.expire(1000 + 100, 100), 1);
        assert_eq!(s.check(7, 0, 77, 77), Ok(Verdict::Append));
    }

    #[test]
    fn sequences_wrap_after_i32_max() {
        assert!(in_sequence(i32::MAX, 0));
        assert!(in_sequence(4, 5));
        assert!(!in_sequence(4, 6));
        assert!(!in_sequence(i32::MAX, 1));
    }

    fn marker(pid: i64, commit: bool, coordinator_epoch: i32) -> Marker {
        Marker { producer_id: pid, producer_epoch: 0, commit, coordinator_epoch }
    }

    #[test]
    fn the_last_stable_offset_waits_for_open_transactions_and_unreplicated_markers() {
        let mut s = ProducerStates::default();
        assert_eq!(s.last_stable_offset(10), 10);
        s.record_data(1, 0, meta(0, 1, 10), true);
        s.record_data(2, 0, meta(0, 0, 12), true);
        s.record_data(1, 0, meta(2, 2, 13), true);
        assert_eq!(s.last_stable_offset(14), 10, "producer 1's transaction is open from 10");
        s.record_marker(&marker(1, true, 0), 14, 1000);
        assert_eq!(s.last_stable_offset(14), 10, "its marker at 14 is not below the high watermark");
        assert_eq!(s.last_stable_offset(15), 12, "then producer 2's open transaction holds it");
        s.record_marker(&marker(2, false, 0), 15, 1000);
        assert_eq!(s.last_stable_offset(16), 16);
        let aborted = AbortedTxn { producer_id: 2, first_offset: 12, last_offset: 15, last_stable_offset: 16 };
        assert_eq!(s.take_aborted(), vec![aborted]);
        assert!(s.take_aborted().is_empty(), "taken once");
    }

    #[test]
    fn a_marker_between_verification_and_append_leaves_the_batch_unverified() {
        let mut s = ProducerStates::default();
        // Version 1: a late batch's verification starts, then its transaction's marker lands.
        let guard = s.start_verification(1, 0, false);
        assert!(s.check_verified(1, 0, guard).is_ok());
        s.record_marker(&marker(1, true, 0), 10, 0);
        assert_eq!(s.check_verified(1, 0, guard).map_err(|e| e.0), Err(ResponseError::InvalidTxnState));
        // Version 2: the next transaction's guard, one epoch up, survives the marker before it.
        let guard = s.start_verification(1, 1, true);
        s.record_marker(&Marker { producer_epoch: 1, ..marker(1, true, 0) }, 11, 0);
        assert!(s.check_verified(1, 1, guard).is_ok());
        // With the transaction open here there is nothing to verify.
        s.record_data(1, 1, meta(0, 0, 12), true);
        assert_eq!(s.start_verification(1, 1, true), NO_GUARD_NEEDED);
        assert!(s.check_verified(1, 1, NO_GUARD_NEEDED).is_ok());
        assert!(s.check_verified(2, 0, NO_GUARD_NEEDED).is_err(), "an unverified producer is refused");
    }

    #[test]
    fn a_producer_in_a_transaction_writes_only_transactional_batches_and_markers_are_fenced() {
        let mut s = ProducerStates::default();
        s.record_data(1, 0, meta(0, 0, 0), true);
        assert_eq!(s.check_txn(1, false).map_err(|e| e.0), Err(ResponseError::InvalidTxnState));
        assert_eq!(s.check_txn(1, true), Ok(()));
        s.record_marker(&marker(1, true, 3), 1, 1000);
        assert_eq!(s.check_txn(1, false), Ok(()));
        assert_eq!(s.check_marker(&marker(1, true, 2)), Err(ResponseError::TransactionCoordinatorFenced));
        assert_eq!(
            s.check_marker(&Marker { producer_epoch: -1, ..marker(1, true, 3) }),
            Err(ResponseError::InvalidProducerEpoch)
        );
        // An open transaction keeps its producer from expiring.
        s.record_data(1, 0, meta(1, 1, 2), true);
        assert_eq!(s.expire(i64::MAX, 1), 0);
    }
}
