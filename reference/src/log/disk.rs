//! [`DiskLog`]: a directory of segments, Kafka's on-disk log (`UnifiedLog`/`LocalLog` for the
//! segment list, `LogLoader` for opening).

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::defects::{self, Defect};

use super::segment::Segment;
use super::{
    AppendInfo, Batch, BatchMut, Log, LogConfig, LogError, ReadLimits, SegmentInfo, TimestampOffset,
    check_append_offset, check_read_offset, out_of_range, should_roll, wall_clock_ms,
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
}

impl DiskLog {
    /// Opens the log in `dir`, creating it if missing. The last segment is recovered (see
    /// [`Segment::open`]); the others only get their indexes checked.
    pub fn open(dir: &Path, config: LogConfig) -> Result<DiskLog, LogError> {
        std::fs::create_dir_all(dir)?;
        let mut bases = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".log")) else {
                continue;
            };
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
        let log = DiskLog {
            dir: dir.to_owned(),
            config,
            older,
            active,
            unflushed_records: 0,
            oldest_unflushed_ms: None,
            dir_dirty,
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
        Ok(log)
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
    fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<(), LogError> {
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
        self.older.first().unwrap_or(&self.active).base_offset()
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
            if segment.max_timestamp().timestamp >= ts
                && let Some(found) = segment.find_offset_by_timestamp(ts, log_start)?
            {
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

    fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        let (log_start, log_end) = (self.log_start_offset(), self.log_end_offset());
        if offset >= log_end {
            return Ok(());
        }
        if offset < 0 {
            return Err(out_of_range(offset, log_start, log_end));
        }
        if offset < log_start {
            return self.truncate_fully_and_start_at(offset);
        }
        // Kafka's `LocalLog.truncateTo`: segments based after the offset go whole.
        while self.active.base_offset() > offset {
            let Some(previous) = self.older.pop() else {
                break;
            };
            std::mem::replace(&mut self.active, previous).delete()?;
            self.dir_dirty = true;
        }
        self.active.truncate_to(offset)
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

    fn delete(self: Box<Self>) -> Result<(), LogError> {
        let DiskLog { dir, older, active, .. } = *self;
        for segment in older.into_iter().chain(std::iter::once(active)) {
            segment.delete()?;
        }
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
