//! [`MemoryLog`]: the contract with nothing but vectors, so that the suite checks the contract
//! and not one implementation's accidents. It rolls segments by the same rule as the disk log.

use super::cleaner::{self, Plan, SegmentSummary};
use super::retention::{self, Candidate, Rules};
use super::{
    AbortedTxn, AppendInfo, Batch, BatchMut, CleanOutcome, CleanerConfig, Log, LogConfig, LogError, ReadLimits,
    RetentionOutcome, RollState, SegmentInfo, TimestampOffset, check_append_offset, check_read_offset, out_of_range,
    should_roll, wall_clock_ms,
};

struct MemorySegment {
    base_offset: i64,
    batches: Vec<Batch>,
    size_bytes: u64,
    created_ms: i64,
    /// The segment's aborted-transaction index.
    aborted: Vec<AbortedTxn>,
}

impl MemorySegment {
    fn new(base_offset: i64, created_ms: i64) -> Self {
        MemorySegment { base_offset, batches: Vec::new(), size_bytes: 0, created_ms, aborted: Vec::new() }
    }

    /// Keeps the index entries whose marker is still a batch of the segment.
    fn retain_aborted_with_markers(&mut self) {
        let batches = &self.batches;
        self.aborted.retain(|t| batches.iter().any(|b| b.base_offset() == t.last_offset));
    }

    fn next_offset(&self) -> i64 {
        self.batches.last().map_or(self.base_offset, Batch::next_offset)
    }

    fn max_timestamp(&self) -> i64 {
        self.batches.iter().map(Batch::max_timestamp).fold(-1, i64::max)
    }

    fn summary(&self) -> SegmentSummary {
        SegmentSummary {
            base_offset: self.base_offset,
            max_timestamp: self.max_timestamp(),
            batches: self.batches.iter().map(|b| b.header().into()).collect(),
        }
    }

    fn candidate(&self) -> Candidate {
        Candidate {
            base_offset: self.base_offset,
            size_bytes: self.size_bytes,
            max_timestamp: self.max_timestamp(),
            created_ms: self.created_ms,
        }
    }

    fn roll_state(&self) -> RollState {
        RollState {
            base_offset: self.base_offset,
            size_bytes: self.size_bytes,
            first_batch_max_timestamp: self.batches.first().map(Batch::max_timestamp),
            created_ms: self.created_ms,
        }
    }
}

pub struct MemoryLog {
    config: LogConfig,
    older: Vec<MemorySegment>,
    active: MemorySegment,
    /// At least the first segment's base offset; may lie inside a segment.
    log_start: i64,
    /// The cleaner checkpoint: the first dirty offset, once a pass has run.
    cleaner_checkpoint: Option<i64>,
}

impl MemoryLog {
    pub fn new(config: LogConfig) -> MemoryLog {
        MemoryLog {
            config,
            older: Vec::new(),
            active: MemorySegment::new(0, wall_clock_ms()),
            log_start: 0,
            cleaner_checkpoint: None,
        }
    }

    /// Deletes the `n` oldest segments (all of them but a new empty active one when `n` covers
    /// the active segment too) and moves the log start up to the first one left.
    fn delete_oldest(&mut self, n: usize) {
        if n > self.older.len() {
            let fresh = MemorySegment::new(self.log_end_offset(), wall_clock_ms());
            self.older.push(std::mem::replace(&mut self.active, fresh));
        }
        self.older.drain(..n.min(self.older.len()));
        let first_base = self.older.first().unwrap_or(&self.active).base_offset;
        self.log_start = self.log_start.max(first_base);
    }

    fn segments_iter(&self) -> impl Iterator<Item = &MemorySegment> {
        self.older.iter().chain(std::iter::once(&self.active))
    }

    fn batches(&self) -> impl Iterator<Item = &Batch> {
        self.segments_iter().flat_map(|s| s.batches.iter())
    }
}

impl Log for MemoryLog {
    fn append(&mut self, mut batch: BatchMut, now_ms: i64) -> Result<AppendInfo, LogError> {
        batch.set_base_offset(self.log_end_offset());
        self.append_with_offsets(batch.freeze(), now_ms)
    }

    fn append_with_offsets(&mut self, batch: Batch, now_ms: i64) -> Result<AppendInfo, LogError> {
        check_append_offset(&batch, self.log_end_offset())?;
        if should_roll(&self.config, self.active.roll_state(), &batch, now_ms) {
            let next = MemorySegment::new(self.active.next_offset(), now_ms);
            self.older.push(std::mem::replace(&mut self.active, next));
        }
        let info = AppendInfo {
            base_offset: batch.base_offset(),
            last_offset: batch.last_offset(),
            max_timestamp: batch.max_timestamp(),
        };
        self.active.size_bytes += batch.len() as u64;
        self.active.batches.push(batch);
        Ok(info)
    }

    fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    fn log_start_offset(&self) -> i64 {
        self.log_start
    }

    fn log_end_offset(&self) -> i64 {
        self.active.next_offset()
    }

    fn read(&self, offset: i64, max_bytes: usize, max_offset: i64, min_one: bool) -> Result<Vec<Batch>, LogError> {
        if check_read_offset(offset, self.log_start_offset(), self.log_end_offset())? {
            return Ok(Vec::new());
        }
        let mut limits = ReadLimits::new(max_offset, max_bytes, min_one);
        Ok(self
            .batches()
            .skip_while(|b| b.last_offset() < offset)
            .take_while(|b| limits.admit(b.base_offset(), b.len()))
            .cloned()
            .collect())
    }

    fn offset_for_timestamp(&self, ts: i64) -> Result<Option<TimestampOffset>, LogError> {
        let log_start = self.log_start_offset();
        for batch in self.batches().filter(|b| b.max_timestamp() >= ts) {
            for record in batch.records()? {
                if record.timestamp >= ts && record.offset >= log_start {
                    return Ok(Some(TimestampOffset { timestamp: record.timestamp, offset: record.offset }));
                }
            }
        }
        Ok(None)
    }

    fn max_timestamp(&self) -> Result<Option<TimestampOffset>, LogError> {
        let mut best: Option<&Batch> = None;
        for batch in self.batches() {
            if batch.max_timestamp() >= 0 && best.is_none_or(|b| batch.max_timestamp() > b.max_timestamp()) {
                best = Some(batch);
            }
        }
        let Some(batch) = best else { return Ok(None) };
        let ts = batch.max_timestamp();
        let offset = batch.records()?.iter().find(|r| r.timestamp == ts).map_or(batch.last_offset(), |r| r.offset);
        Ok(Some(TimestampOffset { timestamp: ts, offset }))
    }

    fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<(), LogError> {
        if offset < 0 {
            return Err(out_of_range(offset, self.log_start_offset(), self.log_end_offset()));
        }
        self.older.clear();
        self.active = MemorySegment::new(offset, wall_clock_ms());
        self.log_start = offset;
        self.cleaner_checkpoint = None;
        Ok(())
    }

    fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        let (log_start, log_end) = (self.log_start_offset(), self.log_end_offset());
        if offset >= log_end {
            return Ok(());
        }
        if offset < 0 {
            return Err(out_of_range(offset, log_start, log_end));
        }
        let first_base = self.older.first().unwrap_or(&self.active).base_offset;
        if offset < first_base {
            return self.truncate_fully_and_start_at(offset);
        }
        while self.active.base_offset > offset {
            let Some(previous) = self.older.pop() else {
                break;
            };
            self.active = previous;
        }
        let keep = self.active.batches.partition_point(|b| b.last_offset() < offset);
        self.active.batches.truncate(keep);
        self.active.aborted.retain(|t| t.last_offset < offset);
        self.active.size_bytes = self.active.batches.iter().map(|b| b.len() as u64).sum();
        if self.active.batches.is_empty() {
            self.active.created_ms = wall_clock_ms();
        }
        // Kafka's `UnifiedLog.truncateTo` lowers the log start with the log, and
        // `LogCleaner.maybeTruncateCheckpoint` the cleaner checkpoint.
        let log_end = self.log_end_offset();
        self.log_start = self.log_start.min(log_end);
        self.cleaner_checkpoint = self.cleaner_checkpoint.map(|c| c.min(log_end));
        Ok(())
    }

    fn flush(&mut self) -> Result<(), LogError> {
        Ok(())
    }

    fn tick(&mut self, _now_ms: i64) -> Result<(), LogError> {
        Ok(())
    }

    fn segments(&self) -> Vec<SegmentInfo> {
        self.segments_iter()
            .map(|s| SegmentInfo {
                base_offset: s.base_offset,
                next_offset: s.next_offset(),
                size_bytes: s.size_bytes,
                max_timestamp: s.max_timestamp(),
                index_entries: 0,
            })
            .collect()
    }

    fn apply_retention(
        &mut self,
        now_ms: i64,
        retention_ms: i64,
        retention_bytes: i64,
        high_watermark: i64,
    ) -> Result<RetentionOutcome, LogError> {
        let candidates: Vec<Candidate> = self.segments_iter().map(MemorySegment::candidate).collect();
        let rules = Rules {
            now_ms,
            retention_ms,
            retention_bytes,
            high_watermark,
            log_start_offset: self.log_start,
            log_end_offset: self.log_end_offset(),
        };
        let deleted = retention::deletable(&candidates, &rules);
        self.delete_oldest(deleted);
        Ok(RetentionOutcome { deleted_segments: deleted, log_start_offset: self.log_start })
    }

    fn advance_log_start(&mut self, offset: i64) -> Result<(), LogError> {
        let log_end = self.log_end_offset();
        if offset > log_end {
            return Err(out_of_range(offset, self.log_start, log_end));
        }
        if offset <= self.log_start {
            return Ok(());
        }
        self.log_start = offset;
        let below = self.older.iter().enumerate().take_while(|(i, _)| {
            self.older.get(i + 1).map_or(self.active.base_offset, |next| next.base_offset) <= offset
        });
        let n = below.count();
        self.delete_oldest(n);
        Ok(())
    }

    fn compact(&mut self, cfg: &CleanerConfig) -> Result<CleanOutcome, LogError> {
        let summaries: Vec<SegmentSummary> = self.segments_iter().map(MemorySegment::summary).collect();
        let plan = cleaner::plan(&summaries, self.log_start, self.log_end_offset(), self.cleaner_checkpoint, cfg);
        let mut pass = match plan {
            Plan::Skip(outcome) => return Ok(outcome),
            Plan::Run(pass) => pass,
        };
        let first_uncleanable = pass.first_uncleanable();
        for segment in self.older.iter().filter(|s| s.base_offset < first_uncleanable) {
            for batch in &segment.batches {
                pass.add_to_map(batch)?;
            }
        }
        for segment in self.older.iter_mut().filter(|s| s.base_offset < first_uncleanable) {
            if let Some(batches) = pass.clean_segment(segment.base_offset, &segment.batches)? {
                segment.size_bytes = batches.iter().map(|b| b.len() as u64).sum();
                segment.batches = batches;
                segment.retain_aborted_with_markers();
            }
        }
        // A segment the pass emptied goes, except the first, whose base offset the log start
        // rests on.
        let mut i = self.older.len();
        while i > 1 {
            i -= 1;
            if self.older[i].batches.is_empty() {
                self.older.remove(i);
            }
        }
        self.cleaner_checkpoint = Some(pass.first_uncleanable());
        Ok(pass.outcome())
    }

    fn delete(self: Box<Self>) -> Result<(), LogError> {
        Ok(())
    }

    fn append_aborted(&mut self, txn: AbortedTxn) -> Result<(), LogError> {
        let last = self.segments_iter().filter_map(|s| s.aborted.last()).last().map(|t| t.last_offset);
        super::txn_index::check_next(last, &txn, self.log_end_offset())?;
        // The segment holding the marker: the last one based at or below it.
        let Some(segment) = std::iter::once(&mut self.active)
            .chain(self.older.iter_mut().rev())
            .find(|s| s.base_offset <= txn.last_offset)
        else {
            return Err(LogError::Corrupt(format!("no segment holds the marker at {}", txn.last_offset)));
        };
        segment.aborted.push(txn);
        Ok(())
    }

    fn aborted_txns(&self, fetch_offset: i64, upper: i64) -> Result<Vec<AbortedTxn>, LogError> {
        Ok(self
            .segments_iter()
            .flat_map(|s| s.aborted.iter())
            .filter(|t| t.overlaps(fetch_offset, upper))
            .copied()
            .collect())
    }

    fn rebuild_aborted(&mut self, all: &[AbortedTxn]) -> Result<usize, LogError> {
        let mut rewritten = 0;
        for segment in self.older.iter_mut().chain(std::iter::once(&mut self.active)) {
            let next = segment.next_offset();
            let mine = super::txn_index::in_segment(all, segment.base_offset, next);
            if mine != segment.aborted {
                segment.aborted = mine;
                rewritten += 1;
            }
        }
        Ok(rewritten)
    }
}
