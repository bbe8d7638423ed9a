//! [`DiskLog`]: a directory of segments, Kafka's on-disk log (`UnifiedLog`/`LocalLog` for the
//! segment list, `LogLoader` for opening).

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::defects::{self, Defect};

use super::checkpoint::{self, CLEANER, LOG_START};
use super::cleaner::{self, Plan, SegmentSummary};
use super::retention::{self, Candidate, Rules};
use super::segment::{CLEANED_SUFFIX, Segment};
use super::{
    AbortedTxn, AppendInfo, Batch, BatchMut, CleanOutcome, CleanerConfig, Log, LogConfig, LogError, ReadLimits,
    RetentionOutcome, SegmentInfo, TimestampOffset, check_append_offset, check_read_offset, out_of_range, should_roll,
    wall_clock_ms,
};

pub struct DiskLog {
    dir: PathBuf,
    config: LogConfig,
    /// Every segment but the last, by base offset.
    older: Vec<Segment>,
    /// The segment appends go to.
    active: Segment,
    /// Records appended since the last fsync (`flush.messages`).
    unflushed_records: u64,
    /// When the oldest unflushed append happened (`flush.ms`).
    oldest_unflushed_ms: Option<i64>,
    /// A segment file was created or removed since the last fsync of the directory.
    dir_dirty: bool,
    /// At least the first segment's base offset; may lie inside a segment. Persisted in
    /// `log-start-offset-checkpoint` whenever it changes.
    log_start: i64,
    /// The cleaner's first dirty offset, persisted in `cleaner-offset-checkpoint`.
    cleaner_checkpoint: Option<i64>,
}

impl DiskLog {
    /// Opens the log in `dir`, creating it if missing. The last segment is recovered (see
    /// [`Segment::open`]); the others only get their indexes checked.
    pub fn open(dir: &Path, config: LogConfig) -> Result<DiskLog, LogError> {
        fn entry_len(dir: &Path, name: &str) -> Option<u64> {
            std::fs::metadata(dir.join(name)).ok().map(|m| m.len())
        }
        std::fs::create_dir_all(dir)?;
        let mut bases = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name();
            let Some(name) = name.to_str() else { continue };
            // What a crash left half-written: a cleaned segment not yet renamed over its
            // original, a checkpoint not yet renamed over the old one.
            if name.ends_with(CLEANED_SUFFIX) || checkpoint::is_leftover(name) {
                tracing::warn!(file = name, dir = %dir.display(), "removing an unfinished file left by a crash");
                std::fs::remove_file(dir.join(name))?;
                continue;
            }
            let Some(stem) = name.strip_suffix(".log") else {
                continue;
            };
            // The defect: an empty segment file taken for debris and passed over.
            if defects::active(Defect::OpenSkipsEmptySegments) && entry_len(dir, name) == Some(0) {
                continue;
            }
            if stem.len() == 20
                && stem.bytes().all(|b| b.is_ascii_digit())
                && let Ok(base) = stem.parse::<i64>()
            {
                bases.push(base);
            }
        }
        bases.sort_unstable();
        let mut older = Vec::with_capacity(bases.len());
        let last = bases.pop();
        for base in bases {
            older.push(Segment::open(dir, base, &config, false)?);
        }
        let (active, dir_dirty) = match last {
            Some(base) => (Segment::open(dir, base, &config, true)?, false),
            None => (Segment::create(dir, 0, &config, wall_clock_ms())?, true),
        };
        let stored_log_start = checkpoint::read(dir, LOG_START)?;
        let stored_cleaner = checkpoint::read(dir, CLEANER)?;
        let mut log = DiskLog {
            dir: dir.to_owned(),
            config,
            older,
            active,
            unflushed_records: 0,
            oldest_unflushed_ms: None,
            dir_dirty,
            log_start: 0,
            cleaner_checkpoint: None,
        };
        let segments: Vec<&Segment> = log.segments_iter().collect();
        for pair in segments.windows(2) {
            if pair[0].next_offset() > pair[1].base_offset() {
                return Err(LogError::Corrupt(format!(
                    "segment {} ends at {}, after segment {} starts",
                    pair[0].base_offset(),
                    pair[0].next_offset(),
                    pair[1].base_offset()
                )));
            }
        }
        drop(segments);
        // Kafka's `LogLoader`: the log start is the checkpoint or the first segment's base,
        // whichever is higher. A checkpoint past the log end (a crash between a truncation and
        // its checkpoint) comes down to it, and a cleaner checkpoint past it starts over, both
        // written back at once so that later appends do not make the stale values look right.
        let log_end = log.log_end_offset();
        log.log_start = stored_log_start.unwrap_or(0).max(log.first_base()).min(log_end);
        if stored_log_start.is_some_and(|stored| stored != log.log_start) {
            checkpoint::write(dir, LOG_START, log.log_start)?;
        }
        log.cleaner_checkpoint = stored_cleaner.filter(|&c| c <= log_end);
        if stored_cleaner.is_some() && log.cleaner_checkpoint.is_none() {
            checkpoint::write(dir, CLEANER, log.log_start)?;
            log.cleaner_checkpoint = Some(log.log_start);
        }
        Ok(log)
    }

    fn first_base(&self) -> i64 {
        self.older.first().unwrap_or(&self.active).base_offset()
    }

    fn set_log_start(&mut self, offset: i64) -> Result<(), LogError> {
        if offset != self.log_start {
            checkpoint::write(&self.dir, LOG_START, offset)?;
            self.log_start = offset;
        }
        Ok(())
    }

    fn set_cleaner_checkpoint(&mut self, offset: i64) -> Result<(), LogError> {
        if Some(offset) != self.cleaner_checkpoint {
            checkpoint::write(&self.dir, CLEANER, offset)?;
            self.cleaner_checkpoint = Some(offset);
        }
        Ok(())
    }

    /// Deletes the `n` oldest segments (all of them but a new empty active one when `n` covers
    /// the active segment too), as Kafka's `deleteSegments`: the log start offset is
    /// checkpointed first, so a crash part-way leaves segments that are already unreadable.
    fn delete_oldest(&mut self, n: usize) -> Result<(), LogError> {
        if n == 0 {
            return Ok(());
        }
        if n > self.older.len() {
            self.roll(wall_clock_ms())?;
        }
        let first_left = self.older.get(n).unwrap_or(&self.active).base_offset();
        self.set_log_start(self.log_start.max(first_left))?;
        for segment in self.older.drain(..n) {
            segment.delete()?;
        }
        self.dir_dirty = true;
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn segments_iter(&self) -> impl Iterator<Item = &Segment> {
        self.older.iter().chain(std::iter::once(&self.active))
    }

    /// Kafka's `roll`: the old segment gets its final time index entry and is flushed (Kafka
    /// schedules `flushUptoOffsetExclusive(newSegment.baseOffset)` right after a roll), and the
    /// new one starts at the log end.
    fn roll(&mut self, now_ms: i64) -> Result<(), LogError> {
        self.active.on_become_inactive()?;
        if !defects::active(Defect::LoseUnflushedTail) {
            self.flush()?;
        }
        let next = Segment::create(&self.dir, self.active.next_offset(), &self.config, now_ms)?;
        self.older.push(std::mem::replace(&mut self.active, next));
        self.dir_dirty = true;
        Ok(())
    }

    /// `flush.messages` and `flush.ms`. Under LoseUnflushedTail nothing is written here: only an
    /// explicit `flush` (clean shutdown) writes the buffered tail.
    fn maybe_flush(&mut self, now_ms: i64) -> Result<(), LogError> {
        if defects::active(Defect::LoseUnflushedTail) {
            return Ok(());
        }
        let by_count = self.unflushed_records > 0 && self.unflushed_records >= self.config.flush_messages;
        let by_time =
            self.oldest_unflushed_ms.is_some_and(|oldest| now_ms.saturating_sub(oldest) >= self.config.flush_ms);
        if by_count || by_time {
            self.flush()?;
        }
        Ok(())
    }

    /// Kafka's `truncateFullyAndStartAt`: every segment goes, a new empty one starts at `offset`.
    fn restart_empty_at(&mut self, offset: i64) -> Result<(), LogError> {
        for segment in self.older.drain(..) {
            segment.delete()?;
        }
        let fresh = Segment::create(&self.dir, offset, &self.config, wall_clock_ms())?;
        std::mem::replace(&mut self.active, fresh).delete()?;
        self.dir_dirty = true;
        Ok(())
    }
}

impl Log for DiskLog {
    fn append(&mut self, mut batch: BatchMut, now_ms: i64) -> Result<AppendInfo, LogError> {
        batch.set_base_offset(self.log_end_offset());
        self.append_with_offsets(batch.freeze(), now_ms)
    }

    fn append_with_offsets(&mut self, batch: Batch, now_ms: i64) -> Result<AppendInfo, LogError> {
        check_append_offset(&batch, self.log_end_offset())?;
        if should_roll(&self.config, self.active.roll_state(), &batch, now_ms) {
            self.roll(now_ms)?;
        }
        self.active.append(&batch, defects::active(Defect::LoseUnflushedTail))?;
        // A batch counts as at least one message, so an empty one is not left unflushed.
        self.unflushed_records += u64::try_from(batch.record_count()).unwrap_or(0).max(1);
        self.oldest_unflushed_ms.get_or_insert(now_ms);
        self.maybe_flush(now_ms)?;
        Ok(AppendInfo {
            base_offset: batch.base_offset(),
            last_offset: batch.last_offset(),
            max_timestamp: batch.max_timestamp(),
        })
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
        let mut out = Vec::new();
        if check_read_offset(offset, self.log_start_offset(), self.log_end_offset())? {
            return Ok(out);
        }
        let first = self.segments_iter().take_while(|s| s.base_offset() <= offset).count().saturating_sub(1);
        let mut limits = ReadLimits::new(max_offset, max_bytes, min_one);
        for segment in self.segments_iter().skip(first) {
            if segment.read_into(offset, &mut limits, &mut out)? {
                break;
            }
        }
        Ok(out)
    }

    fn offset_for_timestamp(&self, ts: i64) -> Result<Option<TimestampOffset>, LogError> {
        let log_start = self.log_start_offset();
        for segment in self.segments_iter() {
            // Kafka's `fetchOffsetByTimestamp`: the first segment whose largest timestamp reaches ts.
            let largest = segment.max_timestamp().timestamp;
            let reaches = match defects::active(Defect::TimestampLookupSkipsSegmentAtItsMax) {
                true => largest > ts,
                false => largest >= ts,
            };
            if reaches && let Some(found) = segment.find_offset_by_timestamp(ts, log_start)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    fn max_timestamp(&self) -> Result<Option<TimestampOffset>, LogError> {
        let mut best: Option<&Segment> = None;
        for segment in self.segments_iter() {
            let ts = segment.max_timestamp().timestamp;
            if ts >= 0 && best.is_none_or(|b| ts > b.max_timestamp().timestamp) {
                best = Some(segment);
            }
        }
        match best {
            Some(segment) => segment.offset_of_max_timestamp(),
            None => Ok(None),
        }
    }

    fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<(), LogError> {
        if offset < 0 {
            return Err(out_of_range(offset, self.log_start_offset(), self.log_end_offset()));
        }
        self.restart_empty_at(offset)?;
        self.set_log_start(offset)?;
        self.set_cleaner_checkpoint(offset)
    }

    fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        let (log_start, log_end) = (self.log_start_offset(), self.log_end_offset());
        if offset >= log_end {
            return Ok(());
        }
        if offset < 0 {
            return Err(out_of_range(offset, log_start, log_end));
        }
        if offset < self.first_base() {
            return Log::truncate_fully_and_start_at(self, offset);
        }
        // Kafka's `LocalLog.truncateTo`: segments based after the offset go whole.
        while self.active.base_offset() > offset {
            let Some(previous) = self.older.pop() else {
                break;
            };
            std::mem::replace(&mut self.active, previous).delete()?;
            self.dir_dirty = true;
        }
        self.active.truncate_to(offset)?;
        // Kafka's `UnifiedLog.truncateTo` lowers the log start with the log, and
        // `LogCleaner.maybeTruncateCheckpoint` the cleaner checkpoint. Written after the
        // truncation: opening repairs either value if a crash comes between.
        let log_end = self.log_end_offset();
        self.set_log_start(self.log_start.min(log_end))?;
        match self.cleaner_checkpoint {
            Some(c) if c > log_end => self.set_cleaner_checkpoint(log_end),
            _ => Ok(()),
        }
    }

    fn flush(&mut self) -> Result<(), LogError> {
        for segment in self.older.iter_mut().chain(std::iter::once(&mut self.active)) {
            segment.flush()?;
        }
        // A new or removed segment file is durable only once its directory entry is.
        if self.dir_dirty {
            File::open(&self.dir)?.sync_all()?;
            self.dir_dirty = false;
        }
        self.unflushed_records = 0;
        self.oldest_unflushed_ms = None;
        Ok(())
    }

    fn tick(&mut self, now_ms: i64) -> Result<(), LogError> {
        self.maybe_flush(now_ms)
    }

    fn segments(&self) -> Vec<SegmentInfo> {
        self.segments_iter().map(Segment::info).collect()
    }

    fn apply_retention(
        &mut self,
        now_ms: i64,
        retention_ms: i64,
        retention_bytes: i64,
        high_watermark: i64,
    ) -> Result<RetentionOutcome, LogError> {
        let candidates: Vec<Candidate> = self.segments_iter().map(Segment::candidate).collect();
        let rules = Rules {
            now_ms,
            retention_ms,
            retention_bytes,
            high_watermark,
            log_start_offset: self.log_start,
            log_end_offset: self.log_end_offset(),
        };
        let deleted = retention::deletable(&candidates, &rules);
        self.delete_oldest(deleted)?;
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
        if defects::active(Defect::DeleteRecordsStartNotCheckpointed) {
            self.log_start = offset;
        } else {
            self.set_log_start(offset)?;
        }
        // A segment is wholly below the new start when the next one starts at or below it.
        let last_deletable = match defects::active(Defect::DeleteRecordsDeletesStartSegment) {
            true => offset + 1,
            false => offset,
        };
        let next_bases: Vec<i64> = self.segments_iter().skip(1).map(Segment::base_offset).collect();
        let below = next_bases.iter().take_while(|&&next| next <= last_deletable).count();
        self.delete_oldest(below)
    }

    fn compact(&mut self, cfg: &CleanerConfig) -> Result<CleanOutcome, LogError> {
        let summaries = self.segments_iter().map(Segment::summary).collect::<Result<Vec<SegmentSummary>, _>>()?;
        let plan = cleaner::plan(&summaries, self.log_start, self.log_end_offset(), self.cleaner_checkpoint, cfg);
        let mut pass = match plan {
            Plan::Skip(outcome) => return Ok(outcome),
            Plan::Run(pass) => pass,
        };
        let first_uncleanable = pass.first_uncleanable();
        // Two reads of each segment, as Kafka's cleaner: one for the map, one to rewrite.
        for segment in self.older.iter().filter(|s| s.base_offset() < first_uncleanable) {
            for batch in segment.batches()? {
                pass.add_to_map(&batch)?;
            }
        }
        for segment in self.older.iter_mut().filter(|s| s.base_offset() < first_uncleanable) {
            if let Some(batches) = pass.clean_segment(segment.base_offset(), &segment.batches()?)? {
                segment.rewrite(&self.dir, &self.config, &batches)?;
            }
        }
        // A segment the pass emptied goes, except the first, whose base offset the log start
        // rests on.
        let mut i = self.older.len();
        while i > 1 {
            i -= 1;
            if self.older[i].size() == 0 {
                self.older.remove(i).delete()?;
                self.dir_dirty = true;
            }
        }
        // Last: a crash before this point leaves the old checkpoint, and the next pass cleans
        // the same range again, which changes nothing that was already cleaned.
        self.set_cleaner_checkpoint(pass.first_uncleanable())?;
        Ok(pass.outcome())
    }

    fn append_aborted(&mut self, txn: AbortedTxn) -> Result<(), LogError> {
        let last = self.segments_iter().filter_map(|s| s.aborted().last()).last().map(|t| t.last_offset);
        super::txn_index::check_next(last, &txn, self.log_end_offset())?;
        // The segment holding the marker: the last one based at or below it.
        let Some(segment) = std::iter::once(&mut self.active)
            .chain(self.older.iter_mut().rev())
            .find(|s| s.base_offset() <= txn.last_offset)
        else {
            return Err(LogError::Corrupt(format!("no segment holds the marker at {}", txn.last_offset)));
        };
        segment.append_aborted(txn)
    }

    fn aborted_txns(&self, fetch_offset: i64, upper: i64) -> Result<Vec<AbortedTxn>, LogError> {
        Ok(self
            .segments_iter()
            .filter(|s| s.next_offset() > fetch_offset)
            .flat_map(|s| s.aborted().iter())
            .filter(|t| t.overlaps(fetch_offset, upper))
            .copied()
            .collect())
    }

    fn rebuild_aborted(&mut self, all: &[AbortedTxn]) -> Result<usize, LogError> {
        let mut rewritten = 0;
        for segment in self.older.iter_mut().chain(std::iter::once(&mut self.active)) {
            let (base, next) = (segment.base_offset(), segment.next_offset());
            let mine = super::txn_index::in_segment(all, base, next);
            if segment.set_aborted(mine)? {
                tracing::warn!(dir = %self.dir.display(), segment = base, "rebuilt the aborted-transaction index");
                rewritten += 1;
            }
        }
        Ok(rewritten)
    }

    fn delete(self: Box<Self>) -> Result<(), LogError> {
        let DiskLog { dir, older, active, .. } = *self;
        for segment in older.into_iter().chain(std::iter::once(active)) {
            segment.delete()?;
        }
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
