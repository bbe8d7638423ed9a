//! One compaction pass, shared by both logs: Kafka's `LogCleaner` with `LogCleanerManager`
//! choosing what to clean and `Cleaner.cleanSegments` doing it.
//!
//! The log is split by two offsets. Below the *first dirty offset* (the cleaner checkpoint,
//! Kafka's `cleaner-offset-checkpoint`) every key was already compacted; from it up to the
//! *first uncleanable offset* is the dirty part this pass compacts; the rest (the active
//! segment, anything at or above the high watermark, segments younger than
//! `min.compaction.lag.ms`) is left alone. A pass builds a map from each key in the dirty part to
//! its last offset (Kafka's `buildOffsetMap`), then rewrites every segment from the log start up
//! to the first uncleanable offset keeping only the records that map does not supersede
//! (`cleanInto` and `shouldRetainRecord`), and finally moves the checkpoint up.
//!
//! The logs own the segments and the files; this module decides, batch by batch.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;

use crate::defects::{Defect, active};

use super::batch::BatchHeader;
use super::rewrite::{Framing, RawRecord, build};
use super::{Batch, CleanOutcome, CleanerConfig, LogError};

/// What planning needs to know of one batch: its header.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchSummary {
    base_offset: i64,
    next_offset: i64,
    len: u64,
    max_timestamp: i64,
    producer_id: i64,
    is_control: bool,
}

impl From<BatchHeader> for BatchSummary {
    fn from(header: BatchHeader) -> Self {
        BatchSummary {
            base_offset: header.base_offset(),
            next_offset: header.next_offset(),
            len: header.len() as u64,
            max_timestamp: header.max_timestamp(),
            producer_id: header.producer_id(),
            is_control: header.is_control(),
        }
    }
}

/// One segment's batches, in order; the last segment given to [`plan`] is the active one.
#[derive(Clone, Debug)]
pub(crate) struct SegmentSummary {
    pub base_offset: i64,
    pub max_timestamp: i64,
    pub batches: Vec<BatchSummary>,
}

/// Whether to clean, and how.
pub(crate) enum Plan {
    /// Nothing to do: this outcome says why (`cleaned` is false).
    Skip(CleanOutcome),
    Run(Box<Pass>),
}

/// Kafka's `LogCleanerManager.cleanableOffsets` and `grabFilthiestCompactedLog` for one log.
/// `checkpoint` is the stored first dirty offset, if any.
pub(crate) fn plan(
    segments: &[SegmentSummary],
    log_start: i64,
    log_end: i64,
    checkpoint: Option<i64>,
    cfg: &CleanerConfig,
) -> Plan {
    // A checkpoint outside the log (after truncation, or a log deleted and created again) starts
    // over at the log start, as Kafka's `cleanableOffsets` does.
    let first_dirty = checkpoint.filter(|c| (log_start..=log_end).contains(c)).unwrap_or(log_start);
    let active_base = segments.last().map_or(log_end, |s| s.base_offset);
    let mut first_uncleanable = active_base.min(cfg.upper_bound);
    // `min.compaction.lag.ms`: the first dirty segment holding a record younger than the lag.
    if cfg.min_compaction_lag_ms > 0 {
        let young_after = cfg.now_ms.saturating_sub(cfg.min_compaction_lag_ms);
        let dirty = segments.iter().filter(|s| s.base_offset < active_base);
        let dirty = dirty.filter(|s| s.batches.last().is_some_and(|b| b.next_offset > first_dirty));
        if let Some(young) = dirty.into_iter().find(|s| s.max_timestamp > young_after) {
            first_uncleanable = first_uncleanable.min(young.base_offset);
        }
    }
    let batches = || segments.iter().flat_map(|s| s.batches.iter());
    // A batch is cleaned whole or not at all: a bound inside one (the high watermark) moves down
    // to its base offset.
    if let Some(straddling) = batches().find(|b| b.base_offset < first_uncleanable && first_uncleanable < b.next_offset)
    {
        first_uncleanable = straddling.base_offset;
    }
    let skip = CleanOutcome {
        cleaned: false,
        first_dirty_offset: first_dirty,
        first_uncleanable_offset: first_uncleanable,
        records_removed: 0,
        tombstones_removed: 0,
    };

    let cleanable = |b: &&BatchSummary| b.next_offset <= first_uncleanable;
    let dirty: Vec<&BatchSummary> = batches().filter(cleanable).filter(|b| b.next_offset > first_dirty).collect();
    if dirty.is_empty() {
        return Plan::Skip(skip);
    }
    // The dirty ratio, in batch bytes: the dirty part against everything readable below the
    // first uncleanable offset (Kafka's `LogToClean.cleanableRatio`, which counts whole segments).
    let dirty_bytes: u64 = dirty.iter().map(|b| b.len).sum();
    let total_bytes: u64 = batches().filter(cleanable).filter(|b| b.next_offset > log_start).map(|b| b.len).sum();
    let ratio = dirty_bytes as f64 / total_bytes.max(1) as f64;
    // KIP-354: a dirty record older than `max.compaction.lag.ms` forces a pass (Kafka's
    // `maxCompactionDelay` > 0). Kafka looks at each dirty segment's first batch; this looks at
    // every dirty batch, which is the same on a log whose timestamps grow.
    let earliest = dirty.iter().map(|b| b.max_timestamp).filter(|&ts| ts >= 0).min();
    let overdue = earliest.is_some_and(|ts| ts < cfg.now_ms.saturating_sub(cfg.max_compaction_lag_ms));
    if !(ratio > cfg.min_cleanable_dirty_ratio || overdue) {
        return Plan::Skip(skip);
    }

    // The last data batch of each producer, which survives even when compaction empties it, so
    // that its sequence numbers and epoch stay in the log (Kafka's `lastRecordsOfActiveProducers`).
    let mut last_of_producer = HashMap::new();
    for b in batches().filter(|b| b.producer_id >= 0 && !b.is_control) {
        last_of_producer.insert(b.producer_id, b.base_offset);
    }
    // A producer with no data batch left keeps its last marker instead.
    let mut last_marker_of_producer = HashMap::new();
    for b in batches().filter(|b| b.producer_id >= 0 && b.is_control) {
        last_marker_of_producer.insert(b.producer_id, b.base_offset);
    }
    last_marker_of_producer.retain(|pid, _| !last_of_producer.contains_key(pid));
    Plan::Run(Box::new(Pass {
        cfg: cfg.clone(),
        first_dirty,
        first_uncleanable,
        last_of_producer,
        last_marker_of_producer,
        with_data: HashSet::new(),
        map: HashMap::new(),
        records_removed: 0,
        tombstones_removed: 0,
    }))
}

/// A batch's records; bytes that do not parse as records are a corrupt log.
fn records_of(batch: &Batch) -> Result<Vec<RawRecord>, LogError> {
    batch.raw_records().map_err(|e| LogError::Corrupt(format!("batch at offset {}: {e}", batch.base_offset())))
}

/// What a pass does with one record.
enum Fate {
    Kept,
    /// A later record of the same key is in the dirty part (or the record has no key).
    Superseded,
    /// The latest record of its key, a tombstone whose delete horizon has passed.
    Expired,
}

/// One pass under way: the offset map, then the rewrite.
pub(crate) struct Pass {
    cfg: CleanerConfig,
    first_dirty: i64,
    first_uncleanable: i64,
    last_of_producer: HashMap<i64, i64>,
    last_marker_of_producer: HashMap<i64, i64>,
    /// Producers with a transactional batch read by this pass since their last marker: that
    /// marker's transaction still has records in the log.
    with_data: HashSet<i64>,
    /// Key to the last offset it has in the dirty part (the first, under CompactionKeepsOldest).
    map: HashMap<Bytes, i64>,
    records_removed: u64,
    tombstones_removed: u64,
}

impl Pass {
    /// Segments based below it are read and rewritten by this pass.
    pub fn first_uncleanable(&self) -> i64 {
        self.first_uncleanable
    }

    /// Kafka's `buildOffsetMapForSegment`: every keyed record of the dirty part, control batches
    /// excepted. Call it for every batch of every segment based below the first uncleanable offset, in log order.
    pub fn add_to_map(&mut self, batch: &Batch) -> Result<(), LogError> {
        if batch.is_control() || batch.next_offset() <= self.first_dirty || batch.next_offset() > self.first_uncleanable
        {
            return Ok(());
        }
        // An aborted transaction's records never happened: they supersede nothing.
        if self.aborted(batch) {
            return Ok(());
        }
        let keeps_oldest = active(Defect::CompactionKeepsOldest);
        let batch_end = active(Defect::CleanerMapsKeysToBatchEnd).then(|| batch.next_offset() - 1);
        for record in records_of(batch)? {
            let offset = batch_end.unwrap_or(batch.base_offset() + i64::from(record.offset_delta));
            let Some(key) = record.key else { continue };
            if offset < self.first_dirty {
                continue;
            }
            if keeps_oldest {
                self.map.entry(key).or_insert(offset);
            } else {
                self.map.insert(key, offset);
            }
        }
        Ok(())
    }

    /// Whether a data batch belongs to an aborted transaction: transactional, of the producer,
    /// between the transaction's first offset and its abort marker.
    fn aborted(&self, batch: &Batch) -> bool {
        batch.is_transactional()
            && !active(Defect::CleanerKeepsAbortedRecords)
            && self.cfg.aborted_transactions.iter().any(|&(pid, first, last)| {
                pid == batch.producer_id() && batch.base_offset() >= first && batch.base_offset() < last
            })
    }

    /// Kafka's `Cleaner.shouldRetainRecord`.
    fn fate(&self, batch: &Batch, record: &RawRecord) -> Fate {
        // Kafka's cleaner discards an aborted transaction's records whatever their keys.
        if self.aborted(batch) {
            return Fate::Superseded;
        }
        // Kafka counts a keyless record in a compacted log as invalid and drops it.
        let Some(key) = &record.key else { return Fate::Superseded };
        let offset = batch.base_offset() + i64::from(record.offset_delta);
        let latest = match (self.map.get(key), active(Defect::CompactionKeepsOldest)) {
            (None, _) => true,
            (Some(&found), false) => offset >= found,
            (Some(&found), true) => offset <= found,
        };
        if !latest {
            return Fate::Superseded;
        }
        if record.has_value {
            return Fate::Kept;
        }
        // KIP-534: a tombstone stays until the first pass at or after its batch's delete horizon.
        let horizon_passed = batch.delete_horizon_ms().is_some_and(|horizon| self.cfg.now_ms >= horizon);
        match horizon_passed || active(Defect::TombstoneDroppedEarly) {
            true => Fate::Expired,
            false => Fate::Kept,
        }
    }

    /// Kafka's `cleanInto` for one segment: its batches as they should be after the pass, or
    /// `None` when they stay exactly as they are.
    pub fn clean_segment(&mut self, base_offset: i64, batches: &[Batch]) -> Result<Option<Vec<Batch>>, LogError> {
        let renumber = active(Defect::CompactionRenumbersOffsets);
        let mut out = Vec::with_capacity(batches.len());
        let mut changed = false;
        // Under CompactionRenumbersOffsets: where the next kept record goes.
        let mut cursor = base_offset;
        for batch in batches {
            if batch.next_offset() > self.first_uncleanable {
                out.push(batch.clone());
                continue;
            }
            if batch.is_control() {
                let Some(kept) = self.clean_marker(batch)? else {
                    self.records_removed += 1;
                    changed = true;
                    continue;
                };
                let mut kept = kept;
                changed |= kept.delete_horizon_ms() != batch.delete_horizon_ms();
                if renumber && kept.base_offset() != cursor {
                    let mut moved = kept.into_mut();
                    moved.set_base_offset(cursor);
                    kept = moved.freeze();
                    changed = true;
                }
                cursor = kept.next_offset();
                out.push(kept);
                continue;
            }
            if batch.is_transactional() && batch.producer_id() >= 0 {
                self.with_data.insert(batch.producer_id());
            }
            let records = records_of(batch)?;
            let total = records.len();
            let mut kept = Vec::with_capacity(total);
            for record in records {
                match self.fate(batch, &record) {
                    Fate::Kept => kept.push(record),
                    Fate::Superseded => self.records_removed += 1,
                    Fate::Expired => {
                        self.records_removed += 1;
                        self.tombstones_removed += 1;
                    }
                }
            }
            let last_of_producer = batch.producer_id() >= 0
                && self.last_of_producer.get(&batch.producer_id()) == Some(&batch.base_offset());
            if kept.is_empty() && !last_of_producer {
                changed = true;
                continue;
            }
            let needs_horizon = batch.delete_horizon_ms().is_none() && kept.iter().any(RawRecord::is_tombstone);
            let mut framing = Framing {
                base_offset: batch.base_offset(),
                last_offset_delta: batch.last_offset_delta(),
                delete_horizon: match needs_horizon {
                    true => Some(self.cfg.now_ms.saturating_add(self.cfg.delete_retention_ms)),
                    false => batch.delete_horizon_ms(),
                },
            };
            if renumber {
                framing.base_offset = cursor;
                framing.last_offset_delta = i32::try_from(kept.len().max(1) - 1).unwrap_or(i32::MAX);
                for (delta, record) in kept.iter_mut().enumerate() {
                    record.offset_delta = i32::try_from(delta).unwrap_or(i32::MAX);
                }
            }
            let unchanged = kept.len() == total && !needs_horizon && framing.base_offset == batch.base_offset();
            let unchanged = unchanged && framing.last_offset_delta == batch.last_offset_delta();
            let written = match unchanged {
                true => batch.clone(),
                false => {
                    changed = true;
                    build(batch, &kept, framing)?
                }
            };
            cursor = written.next_offset();
            out.push(written);
        }
        Ok(changed.then_some(out))
    }

    /// Kafka's rule for a transaction marker (`CleanedTransactionMetadata.onControlBatchRead`):
    /// it stays while any record of its transaction is left in the log (a batch of it read by
    /// this pass), and while it is its producer's last batch; after that it gets a delete
    /// horizon of now + `delete.retention.ms`, and the first pass at or after the horizon
    /// removes it (`None`). The batch to keep otherwise.
    fn clean_marker(&mut self, batch: &Batch) -> Result<Option<Batch>, LogError> {
        let pid = batch.producer_id();
        let had_data = self.with_data.remove(&pid);
        if active(Defect::CleanerDropsMarkers) {
            // The defect: markers go at once, whatever is left of their transactions.
            return Ok(None);
        }
        let last = self.last_marker_of_producer.get(&pid) == Some(&batch.base_offset());
        if had_data || last || pid < 0 {
            return Ok(Some(batch.clone()));
        }
        match batch.delete_horizon_ms() {
            Some(horizon) if self.cfg.now_ms >= horizon => Ok(None),
            Some(_) => Ok(Some(batch.clone())),
            None => {
                let framing = Framing {
                    base_offset: batch.base_offset(),
                    last_offset_delta: batch.last_offset_delta(),
                    delete_horizon: Some(self.cfg.now_ms.saturating_add(self.cfg.delete_retention_ms)),
                };
                Ok(Some(build(batch, &records_of(batch)?, framing)?))
            }
        }
    }

    /// The outcome of the finished pass; the checkpoint becomes its first uncleanable offset.
    pub fn outcome(&self) -> CleanOutcome {
        CleanOutcome {
            cleaned: true,
            first_dirty_offset: self.first_dirty,
            first_uncleanable_offset: self.first_uncleanable,
            records_removed: self.records_removed,
            tombstones_removed: self.tombstones_removed,
        }
    }
}
