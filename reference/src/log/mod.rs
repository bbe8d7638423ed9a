//! The partition log: the storage contract ([`Log`]) and its two implementations.
//!
//! - [`batch`]: one v2 record batch as bytes (Kafka's `DefaultRecordBatch`): validation, the few
//!   header fields the broker rewrites, and decoding records with `kafka-protocol`.
//! - [`memory`]: [`MemoryLog`], a vector of batches that keeps the suite honest.
//! - [`disk`]: [`DiskLog`], Kafka's on-disk layout. A segment (`segment.rs`, Kafka's `LogSegment`)
//!   is a `.log` file of batches plus a sparse `.index` and `.timeindex` (`index.rs`, Kafka's
//!   `OffsetIndex` and `TimeIndex`); opening a log recovers a torn tail and rebuilds lost indexes
//!   as Kafka's `LogLoader` does.
//! - `retention.rs`: which segments retention deletes (Kafka's `UnifiedLog.deleteOldSegments`).
//! - `cleaner.rs`: one compaction pass (Kafka's `LogCleaner`), shared by both implementations;
//!   `rewrite.rs` re-frames a batch's surviving records.
//! - `checkpoint.rs`: the small files [`DiskLog`] keeps its log start offset and cleaner offset in.
//! - `suite.rs`: one set of named cases run against every implementation.
//!
//! Both implementations share the roll rule (`should_roll`, Kafka's `LogSegment.shouldRoll`) and
//! the read limits, so that `read` and `segments()` mean the same thing whichever one the broker
//! runs on.

pub mod batch;
mod checkpoint;
mod cleaner;
pub mod disk;
mod index;
pub mod memory;
mod retention;
mod rewrite;
mod segment;
#[cfg(test)]
mod suite;
pub mod txn_index;

pub use batch::{Batch, BatchError, BatchMut, split_batches};
pub use disk::DiskLog;
pub use memory::MemoryLog;
pub use txn_index::AbortedTxn;

use crate::defects::{self, Defect};

/// Per-log configuration, with Kafka's topic-level names and defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`.
    pub segment_bytes: u64,
    /// `segment.ms`.
    pub segment_ms: i64,
    /// `index.interval.bytes`.
    pub index_interval_bytes: u64,
    /// `flush.messages`: fsync once this many records were appended since the last fsync. Kafka
    /// defaults to never and relies on replication; the reference fsyncs every write so that a
    /// single broker's acknowledged records survive `kill -9` and power loss alike.
    pub flush_messages: u64,
    /// `flush.ms`: fsync once the oldest unflushed append is this old.
    pub flush_ms: i64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            index_interval_bytes: 4096,
            flush_messages: 1,
            flush_ms: i64::MAX,
        }
    }
}

/// What an append assigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
}

/// One segment, as `segments()` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    pub base_offset: i64,
    pub next_offset: i64,
    pub size_bytes: u64,
    /// The largest batch max timestamp in the segment, -1 when none has a timestamp.
    pub max_timestamp: i64,
    /// Entries in the offset index (always 0 for [`MemoryLog`]).
    pub index_entries: usize,
}

/// A timestamp and the offset of the record that carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp: i64,
    pub offset: i64,
}

/// What retention removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetentionOutcome {
    pub deleted_segments: usize,
    pub log_start_offset: i64,
}

/// One cleaner pass's settings, with Kafka's topic-level names.
#[derive(Clone, Debug, PartialEq)]
pub struct CleanerConfig {
    pub now_ms: i64,
    /// `min.compaction.lag.ms`.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms` (`i64::MAX` turns it off).
    pub max_compaction_lag_ms: i64,
    /// `delete.retention.ms`.
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio`.
    pub min_cleanable_dirty_ratio: f64,
    /// Nothing at or above this offset is cleaned: the last stable offset (Kafka's
    /// `LogCleanerManager`), never above the high watermark.
    pub upper_bound: i64,
    /// Aborted transactions, as (producer id, first offset, marker offset): their records are
    /// removed whatever their keys, and supersede nothing (Kafka's `Cleaner` with the
    /// transaction index).
    pub aborted_transactions: Vec<(i64, i64, i64)>,
}

impl CleanerConfig {
    /// Kafka's defaults, at `now_ms`, bounded by `upper_bound`.
    pub fn new(now_ms: i64, upper_bound: i64) -> Self {
        CleanerConfig {
            now_ms,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            delete_retention_ms: 24 * 60 * 60 * 1000,
            min_cleanable_dirty_ratio: 0.5,
            upper_bound,
            aborted_transactions: Vec::new(),
        }
    }
}

/// What one cleaner pass did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CleanOutcome {
    /// Whether the pass ran; when false nothing changed.
    pub cleaned: bool,
    pub first_dirty_offset: i64,
    pub first_uncleanable_offset: i64,
    /// Records removed, tombstones included.
    pub records_removed: u64,
    /// Tombstones removed because their delete horizon had passed.
    pub tombstones_removed: u64,
}

#[derive(thiserror::Error, Debug)]
pub enum LogError {
    #[error("offset {offset} is out of range: the log holds [{log_start}, {log_end})")]
    OffsetOutOfRange { offset: i64, log_start: i64, log_end: i64 },
    #[error("corrupt log: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Batch(#[from] BatchError),
}

/// The storage of one partition. Offsets are Kafka's: contiguous from the log start, assigned by
/// the log, never reused except after `truncate_to`.
pub trait Log: Send + 'static {
    /// Appends one batch, assigning it offsets from the current log end offset (rewrites
    /// baseOffset). `now_ms` is wall-clock ms used for `segment.ms` rolling and `flush.ms`. The
    /// bytes reach the file with write(2) before return (no userspace buffering) unless the
    /// LoseUnflushedTail defect is active; fsync follows the flush policy.
    fn append(&mut self, batch: BatchMut, now_ms: i64) -> Result<AppendInfo, LogError>;

    /// Appends a batch whose offsets are already assigned, as Kafka's `appendAsFollower` does
    /// for a follower's copy of the leader's batch. The base offset may leave a gap after the
    /// log end (compaction and transaction markers leave gaps too) but must not be below it.
    fn append_with_offsets(&mut self, batch: Batch, now_ms: i64) -> Result<AppendInfo, LogError>;

    /// The first offset a reader may ask for. Retention and `advance_log_start` move it up, and
    /// it may lie inside a segment or a batch (Kafka's `logStartOffset`).
    fn log_start_offset(&self) -> i64;

    fn log_end_offset(&self) -> i64;

    /// Whole batches starting with the one containing `offset`, in order, stopping before any
    /// batch whose base offset >= `max_offset` (exclusive upper bound: high watermark or log end),
    /// and stopping once adding the next batch would exceed `max_bytes` — except that the first
    /// batch is always returned whole when `min_one` is true (Kafka's minOneMessage). Reading
    /// exactly at the log end returns empty. Below log start or above log end: OffsetOutOfRange.
    fn read(&self, offset: i64, max_bytes: usize, max_offset: i64, min_one: bool) -> Result<Vec<Batch>, LogError>;

    /// The first record with timestamp >= `ts`, looked up record by record (decompressing the
    /// batch the time index leads to), as Kafka's ListOffsets by timestamp.
    fn offset_for_timestamp(&self, ts: i64) -> Result<Option<TimestampOffset>, LogError>;

    /// The record with the largest timestamp, the earliest offset on ties: ListOffsets
    /// MAX_TIMESTAMP (-3, KIP-734).
    fn max_timestamp(&self) -> Result<Option<TimestampOffset>, LogError>;

    /// Removes every batch whose last offset is >= `offset`, as Kafka's `LogSegment.truncateTo`:
    /// truncation is by whole batch, so an offset inside a batch removes that batch too. An
    /// offset at or past the log end is a no-op; one below the first segment's base offset
    /// empties the log and restarts it at `offset` (Kafka's `truncateFullyAndStartAt`). The log
    /// start offset and the cleaner checkpoint come down with the log end when it falls below
    /// them.
    fn truncate_to(&mut self, offset: i64) -> Result<(), LogError>;

    /// Kafka's `truncateFullyAndStartAt`: deletes every segment and restarts the log empty at
    /// `offset` (which may be past the old log end), log start and cleaner checkpoint included.
    /// For a follower whose leader deleted the records after this replica's log end.
    fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<(), LogError>;

    /// Applies a changed topic config (IncrementalAlterConfigs): rolling and flushing follow it
    /// from the next append; existing segments and index entries stay as they are, as in Kafka.
    fn set_config(&mut self, config: LogConfig);
    /// fsync everything appended so far.
    fn flush(&mut self) -> Result<(), LogError>;

    /// Periodic work: `flush.ms`, and nothing else for now.
    fn tick(&mut self, now_ms: i64) -> Result<(), LogError>;

    fn segments(&self) -> Vec<SegmentInfo>;

    /// Kafka's `UnifiedLog.deleteOldSegments`: deletes whole segments, oldest first, never the
    /// active one, and never one whose successor starts above `high_watermark` (Kafka's
    /// `deletableSegments` bound, so that the log start never passes the high watermark).
    /// Three walks from the oldest segment, in Kafka's order, each stopping at the first segment
    /// it may not delete:
    /// 1. `deleteLogStartOffsetBreachedSegments`: the next segment starts at or below the log
    ///    start offset;
    /// 2. `deleteRetentionSizeBreachedSegments` (`retention_bytes` >= 0): while the log's size
    ///    minus `retention_bytes` is at least the segment's size;
    /// 3. `deleteRetentionMsBreachedSegments` (`retention_ms` >= 0): `now_ms` minus the
    ///    segment's largest record timestamp is more than `retention_ms`. A segment without
    ///    timestamps (-1) never expires by time; an empty one always does.
    ///
    /// The log start offset becomes at least the base offset of the first remaining segment.
    fn apply_retention(
        &mut self,
        now_ms: i64,
        retention_ms: i64,
        retention_bytes: i64,
        high_watermark: i64,
    ) -> Result<RetentionOutcome, LogError>;

    /// DeleteRecords (KIP-107), and followers following their leader's log start: the log start
    /// offset moves up to `offset` (a no-op at or below the current one; above the log end it is
    /// OffsetOutOfRange). Reads below it are OffsetOutOfRange from then on, and whole non-active
    /// segments below it are deleted. It survives a restart (Kafka's
    /// `log-start-offset-checkpoint`).
    fn advance_log_start(&mut self, offset: i64) -> Result<(), LogError>;

    /// One pass of Kafka's `LogCleaner` (`cleanup.policy=compact`); see `cleaner.rs`.
    fn compact(&mut self, cfg: &CleanerConfig) -> Result<CleanOutcome, LogError>;

    /// Deletes the whole log (topic deletion).
    fn delete(self: Box<Self>) -> Result<(), LogError>;

    /// Records a transaction aborted by the marker at `txn.last_offset` (the last batch
    /// appended) in the aborted-transaction index of the segment holding the marker (Kafka's
    /// `.txnindex`). Truncation and retention drop entries with their segments; the cleaner
    /// keeps an entry while its marker stays.
    fn append_aborted(&mut self, txn: AbortedTxn) -> Result<(), LogError>;

    /// The aborted transactions a read from `fetch_offset` whose data ends before `upper`
    /// overlaps, from the segments' indexes (Kafka's `collectAbortedTxns`), in marker order.
    fn aborted_txns(&self, fetch_offset: i64, upper: i64) -> Result<Vec<AbortedTxn>, LogError>;

    /// Recovery: makes every segment's index hold exactly the entries of `all` whose marker it
    /// holds, rewriting the files that disagree (missing, torn or stale ones). Returns how many
    /// segments' indexes it rewrote.
    fn rebuild_aborted(&mut self, all: &[AbortedTxn]) -> Result<usize, LogError>;
}

/// What the roll decision needs to know about the active segment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RollState {
    pub base_offset: i64,
    pub size_bytes: u64,
    /// The max timestamp of the segment's first batch (Kafka's `rollingBasedTimestamp`).
    pub first_batch_max_timestamp: Option<i64>,
    /// Wall-clock ms when the segment was created, or last emptied by truncation.
    pub created_ms: i64,
}

/// Kafka's `LogSegment.shouldRoll` without jitter: roll when the batch would push the segment
/// past `segment.bytes`, when `segment.ms` has passed, or when the batch's last offset no longer
/// fits the indexes' 32-bit relative offsets. An empty segment never rolls, so a batch larger than
/// `segment.bytes` gets a segment of its own instead of an endless roll.
pub(crate) fn should_roll(config: &LogConfig, active: RollState, batch: &Batch, now_ms: i64) -> bool {
    if active.size_bytes == 0 {
        return false;
    }
    // Index positions are 32-bit, and Kafka's `segment.bytes` is an int.
    let segment_bytes = config.segment_bytes.min(i32::MAX as u64);
    let too_big = active.size_bytes + batch.len() as u64 > segment_bytes;
    // `timeWaitedForRoll`: message time against the first batch's max timestamp when it has
    // one, else wall-clock time since the segment was created.
    let waited = match active.first_batch_max_timestamp {
        Some(first) if first >= 0 => batch.max_timestamp().saturating_sub(first),
        _ => now_ms.saturating_sub(active.created_ms),
    };
    let too_old = waited > config.segment_ms;
    let offset_overflow = batch.last_offset() - active.base_offset > i32::MAX as i64;
    too_big || too_old || offset_overflow
}

/// The limits of one `read`, applied batch by batch in log order (Kafka's `LogSegment.read`,
/// which returns whole batches here rather than a byte slice that may end inside one).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReadLimits {
    max_offset: i64,
    max_bytes: usize,
    min_one: bool,
    used_bytes: usize,
    taken: usize,
}

impl ReadLimits {
    pub fn new(max_offset: i64, max_bytes: usize, min_one: bool) -> Self {
        ReadLimits { max_offset, max_bytes, min_one, used_bytes: 0, taken: 0 }
    }

    /// Whether the next batch may be returned, counting it if so. Once this says no, the read
    /// is over: later batches are never returned around a skipped one.
    pub fn admit(&mut self, base_offset: i64, len: usize) -> bool {
        if base_offset >= self.max_offset {
            return false;
        }
        // minOneMessage: the first batch is returned whole whatever its size, so that a
        // consumer can always make progress past a batch larger than its fetch size.
        let forced = self.taken == 0 && self.min_one;
        let over = match defects::active(Defect::FetchLimitExclusive) {
            true => self.used_bytes + len >= self.max_bytes,
            false => self.used_bytes + len > self.max_bytes,
        };
        if over && !forced {
            return false;
        }
        self.used_bytes += len;
        self.taken += 1;
        true
    }
}

/// The range check every read starts with: `Ok(true)` when `offset` is the log end, where a read
/// is empty.
/// A batch with assigned offsets may leave a gap after the log end but never overlap it.
pub(crate) fn check_append_offset(batch: &Batch, log_end: i64) -> Result<(), LogError> {
    if batch.base_offset() < log_end {
        return Err(LogError::Corrupt(format!(
            "batch base offset {} is below the log end offset {log_end}",
            batch.base_offset()
        )));
    }
    Ok(())
}

pub(crate) fn check_read_offset(offset: i64, log_start: i64, log_end: i64) -> Result<bool, LogError> {
    if offset < log_start || offset > log_end {
        return Err(out_of_range(offset, log_start, log_end));
    }
    Ok(offset == log_end)
}

/// Wall-clock ms, for segments created outside an append (Kafka's `LogSegment.created`).
pub(crate) fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn out_of_range(offset: i64, log_start: i64, log_end: i64) -> LogError {
    LogError::OffsetOutOfRange { offset, log_start, log_end }
}
