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

use std::collections::{HashMap, VecDeque};

use kafka_protocol::ResponseError;

use crate::defects::{Defect, active};
use crate::log::{Batch, Log, LogError};

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
}

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

    /// Records an appended batch (by a leader, a follower, or a rebuild from the log).
    pub fn record(&mut self, pid: i64, epoch: i16, meta: BatchMeta) {
        let entry = self.producers.entry(pid).or_insert_with(|| ProducerEntry {
            epoch,
            batches: VecDeque::new(),
            last_timestamp: meta.timestamp,
        });
        if epoch > entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        entry.last_timestamp = entry.last_timestamp.max(meta.timestamp);
        entry.batches.push_back(meta);
        let keep = if active(Defect::DedupWindowOfOne) { 1 } else { BATCHES_TO_RETAIN };
        while entry.batches.len() > keep {
            entry.batches.pop_front();
        }
    }

    /// Records a batch from the log, if it has a producer id.
    pub fn record_batch(&mut self, batch: &Batch) {
        if batch.producer_id() < 0 || batch.is_control() {
            return;
        }
        let meta = BatchMeta {
            first_seq: batch.base_sequence(),
            last_seq: last_sequence(batch),
            first_offset: batch.base_offset(),
            last_offset: batch.last_offset(),
            timestamp: batch.max_timestamp(),
        };
        self.record(batch.producer_id(), batch.producer_epoch(), meta);
    }

    /// Kafka's `removeExpiredProducers`: producers whose last batch is older than `expiration_ms`.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, e| now_ms.saturating_sub(e.last_timestamp) < expiration_ms);
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
}
