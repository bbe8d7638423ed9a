//! One segment of a [`DiskLog`](super::DiskLog): a `.log` file of batches, its two sparse
//! indexes and its aborted-transaction index, following Kafka's `LogSegment`.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::defects::{self, Defect};

use super::batch::{BatchHeader, HEADER_LEN, PrefixEnd, split_batches, split_valid_prefix};
use super::cleaner::SegmentSummary;
use super::index::{OffsetIndex, TimeIndex};
use super::retention::Candidate;
use super::txn_index::{AbortedTxn, TxnIndex};
use super::{Batch, LogConfig, LogError, ReadLimits, RollState, SegmentInfo, TimestampOffset, wall_clock_ms};

/// How much of a log file recovery validates per read.
const RECOVERY_CHUNK: u64 = 1024 * 1024;

/// `00000000000000000042.log`: Kafka names segment files by base offset, 20 digits.
pub(crate) fn file_name(base_offset: i64, extension: &str) -> String {
    format!("{base_offset:020}.{extension}")
}

/// The suffix of a segment rewritten by the cleaner before it replaces the original (Kafka's
/// `.cleaned`). One left by a crash is incomplete and is deleted when the log is opened.
pub(crate) const CLEANED_SUFFIX: &str = ".cleaned";

pub(crate) struct Segment {
    base_offset: i64,
    log_path: PathBuf,
    log: File,
    /// Bytes written to the file. Positions beyond it are in `pending`.
    file_len: u64,
    /// Appended bytes not yet written: only ever non-empty under the LoseUnflushedTail defect.
    pending: Vec<u8>,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    /// The `.txnindex`: transactions aborted by a marker in this segment.
    txn_index: TxnIndex,
    next_offset: i64,
    /// The largest batch max timestamp and the last offset of that batch, as Kafka's
    /// `maxTimestampAndOffsetSoFar`; timestamp -1 when no batch has one.
    max_timestamp: TimestampOffset,
    /// Kafka's `rollingBasedTimestamp`: the max timestamp of the first batch.
    first_batch_max_timestamp: Option<i64>,
    created_ms: i64,
    index_interval_bytes: u64,
    bytes_since_last_index_entry: u64,
    /// Written since the last fsync.
    dirty: bool,
}

impl Segment {
    /// A new, empty segment.
    pub fn create(dir: &Path, base_offset: i64, config: &LogConfig, created_ms: i64) -> Result<Segment, LogError> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let log = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&log_path)?;
        let offset_index = OffsetIndex::create(&dir.join(file_name(base_offset, "index")), base_offset)?;
        let time_index = TimeIndex::create(&dir.join(file_name(base_offset, "timeindex")), base_offset)?;
        let txn_index = TxnIndex::create(&dir.join(file_name(base_offset, "txnindex")))?;
        Ok(Segment {
            base_offset,
            log_path,
            log,
            file_len: 0,
            pending: Vec::new(),
            offset_index,
            time_index,
            txn_index,
            next_offset: base_offset,
            max_timestamp: TimestampOffset { timestamp: -1, offset: base_offset },
            first_batch_max_timestamp: None,
            created_ms,
            index_interval_bytes: config.index_interval_bytes,
            bytes_since_last_index_entry: 0,
            dirty: true,
        })
    }

    /// Opens an existing segment. `recover` validates every batch and cuts the file at the first
    /// invalid or torn one (Kafka's `LogSegment.recover`, which the reference runs on the last
    /// segment at every start since it keeps no recovery-point checkpoint). A missing or
    /// inconsistent index is rebuilt the same way, as Kafka's `LogLoader` does.
    pub fn open(dir: &Path, base_offset: i64, config: &LogConfig, recover: bool) -> Result<Segment, LogError> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let log = OpenOptions::new().read(true).write(true).open(&log_path)?;
        let file_len = log.metadata()?.len();
        let offset_path = dir.join(file_name(base_offset, "index"));
        let time_path = dir.join(file_name(base_offset, "timeindex"));
        let offset_index = OffsetIndex::load(&offset_path, base_offset)?;
        let time_index = TimeIndex::load(&time_path, base_offset)?;
        let indexes_usable = match (&offset_index, &time_index) {
            (Some(offsets), Some(times)) => {
                offsets.last().is_none_or(|e| u64::from(e.position) < file_len) && times.is_sane()
            }
            _ => false,
        };
        let offset_index = match offset_index {
            Some(index) => index,
            None => OffsetIndex::create(&offset_path, base_offset)?,
        };
        let time_index = match time_index {
            Some(index) => index,
            None => TimeIndex::create(&time_path, base_offset)?,
        };
        // A missing or damaged `.txnindex` starts empty: the partition rebuilds the aborted
        // transactions from the log when it opens (`Log::rebuild_aborted`).
        let txn_path = dir.join(file_name(base_offset, "txnindex"));
        let txn_index = match TxnIndex::load(&txn_path)? {
            Some(index) => index,
            None => TxnIndex::create(&txn_path)?,
        };
        let mut segment = Segment {
            base_offset,
            log_path,
            log,
            file_len,
            pending: Vec::new(),
            offset_index,
            time_index,
            txn_index,
            next_offset: base_offset,
            max_timestamp: TimestampOffset { timestamp: -1, offset: base_offset },
            first_batch_max_timestamp: None,
            created_ms: wall_clock_ms(),
            index_interval_bytes: config.index_interval_bytes,
            bytes_since_last_index_entry: 0,
            dirty: false,
        };
        if recover || !indexes_usable {
            if !recover {
                tracing::warn!(segment = %segment.log_path.display(), "rebuilding a missing or inconsistent index");
            }
            segment.recover()?;
            return Ok(segment);
        }
        match segment.reload_tail() {
            Ok(()) => {}
            Err(LogError::Io(e)) => return Err(e.into()),
            Err(e) => {
                tracing::warn!(segment = %segment.log_path.display(), error = %e, "index disagrees with the log, rebuilding it");
                segment.recover()?;
            }
        }
        Ok(segment)
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    pub fn size(&self) -> u64 {
        self.file_len + self.pending.len() as u64
    }

    pub fn max_timestamp(&self) -> TimestampOffset {
        self.max_timestamp
    }

    pub fn roll_state(&self) -> RollState {
        RollState {
            base_offset: self.base_offset,
            size_bytes: self.size(),
            first_batch_max_timestamp: self.first_batch_max_timestamp,
            created_ms: self.created_ms,
        }
    }

    pub fn info(&self) -> SegmentInfo {
        SegmentInfo {
            base_offset: self.base_offset,
            next_offset: self.next_offset,
            size_bytes: self.size(),
            max_timestamp: self.max_timestamp.timestamp,
            index_entries: self.offset_index.entries().len(),
        }
    }

    /// What the cleaner plans with: every batch header.
    pub fn summary(&self) -> Result<SegmentSummary, LogError> {
        let batches =
            self.headers_from(0).map(|item| item.map(|(_, header)| header.into())).collect::<Result<_, _>>()?;
        Ok(SegmentSummary { base_offset: self.base_offset, max_timestamp: self.max_timestamp.timestamp, batches })
    }

    /// What retention decides on.
    pub fn candidate(&self) -> Candidate {
        Candidate {
            base_offset: self.base_offset,
            size_bytes: self.size(),
            max_timestamp: self.max_timestamp.timestamp,
            created_ms: self.created_ms,
        }
    }

    /// Every batch, validated.
    pub fn batches(&self) -> Result<Vec<Batch>, LogError> {
        let bytes = self.read_bytes(0, self.size() as usize)?;
        Ok(split_batches(Bytes::from(bytes))?)
    }

    /// Replaces the segment's batches with `batches` (the cleaner's output, same base offset),
    /// crash-safely: the new contents are written and fsynced to `<base>.log.cleaned`, the
    /// indexes are removed, and the new file is renamed over the old one, each step made durable
    /// before the next. A crash leaves either the old `.log` or the new one, never indexes that
    /// describe the other file: opening rebuilds missing indexes and deletes a `.cleaned` file.
    pub fn rewrite(&mut self, dir: &Path, config: &LogConfig, batches: &[Batch]) -> Result<(), LogError> {
        let cleaned = dir.join(format!("{}{CLEANED_SUFFIX}", file_name(self.base_offset, "log")));
        let mut file = File::create(&cleaned)?;
        for batch in batches {
            file.write_all(batch.as_bytes())?;
        }
        file.sync_all()?;
        drop(file);
        for path in [self.offset_index.path(), self.time_index.path()] {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        File::open(dir)?.sync_all()?;
        std::fs::rename(&cleaned, &self.log_path)?;
        File::open(dir)?.sync_all()?;
        // Opening with recovery rebuilds both indexes from the new file; the transaction index
        // keeps the transactions whose abort marker the cleaner kept.
        let kept: Vec<AbortedTxn> = self
            .txn_index
            .entries()
            .iter()
            .filter(|t| batches.iter().any(|b| b.base_offset() == t.last_offset))
            .copied()
            .collect();
        *self = Segment::open(dir, self.base_offset, config, true)?;
        self.txn_index.replace(kept)?;
        self.dirty = true;
        self.flush()
    }

    /// Appends a batch whose offsets were assigned. `buffered` keeps the bytes in memory until
    /// the next `flush` (the LoseUnflushedTail defect); otherwise they are written before return.
    pub fn append(&mut self, batch: &Batch, buffered: bool) -> Result<(), LogError> {
        let position = self.size();
        let bytes = batch.as_bytes();
        if buffered {
            self.pending.extend_from_slice(bytes);
        } else {
            self.write_pending()?;
            self.log.write_all_at(bytes, self.file_len)?;
            self.file_len += bytes.len() as u64;
        }
        self.dirty = true;
        self.track(position, batch.header())
    }

    /// Kafka's per-batch bookkeeping in `LogSegment.append` and `recover`: the max timestamp,
    /// and an index entry once more than `index.interval.bytes` were written since the last one.
    /// The offset index maps the batch's last offset to its position; the time index gets the
    /// max timestamp so far, only when it grew.
    fn track(&mut self, position: u64, header: BatchHeader) -> Result<(), LogError> {
        if position == 0 {
            self.first_batch_max_timestamp = Some(header.max_timestamp());
        }
        let first_only = position > 0 && defects::active(Defect::SegmentAgeFromFirstBatch);
        if header.max_timestamp() > self.max_timestamp.timestamp && !first_only {
            self.max_timestamp = TimestampOffset { timestamp: header.max_timestamp(), offset: header.last_offset() };
        }
        if self.bytes_since_last_index_entry > self.index_interval_bytes {
            let position = u32::try_from(position).map_err(|_| {
                LogError::Corrupt(format!("position {position} in {} exceeds 4 GiB", self.log_path.display()))
            })?;
            self.offset_index.append(header.last_offset(), position)?;
            self.time_index.maybe_append(self.max_timestamp)?;
            self.bytes_since_last_index_entry = 0;
        }
        self.bytes_since_last_index_entry += header.len() as u64;
        self.next_offset = header.next_offset();
        Ok(())
    }

    /// Validates every batch, rebuilds both indexes and cuts the file at the first batch that is
    /// torn, corrupt, or whose offsets do not increase.
    fn recover(&mut self) -> Result<(), LogError> {
        if !defects::active(Defect::RecoveryKeepsStaleIndex) {
            self.offset_index.reset()?;
            self.time_index.reset()?;
        }
        self.next_offset = self.base_offset;
        self.max_timestamp = TimestampOffset { timestamp: -1, offset: self.base_offset };
        self.first_batch_max_timestamp = None;
        self.bytes_since_last_index_entry = 0;
        let mut pos = 0u64;
        let mut window = RECOVERY_CHUNK;
        let problem = 'scan: loop {
            if pos >= self.file_len {
                break None;
            }
            let chunk = self.read_bytes(pos, window.min(self.file_len - pos) as usize)?;
            let prefix = split_valid_prefix(&chunk);
            for (at, header) in &prefix.batches {
                let at = pos + *at as u64;
                if header.base_offset() < self.next_offset {
                    pos = at;
                    break 'scan Some(format!("offset {} goes backwards", header.base_offset()));
                }
                if header.last_offset() - self.base_offset > i64::from(i32::MAX) {
                    pos = at;
                    break 'scan Some(format!("offset {} overflows the segment", header.last_offset()));
                }
                self.track(at, *header)?;
            }
            pos += prefix.valid_len as u64;
            window = RECOVERY_CHUNK;
            match prefix.end {
                PrefixEnd::Complete => {}
                PrefixEnd::Incomplete { needed } if pos + needed as u64 > self.file_len => {
                    break Some(format!("torn write: the batch needs {needed} bytes"));
                }
                PrefixEnd::Incomplete { needed } => window = window.max(needed as u64),
                PrefixEnd::Invalid(e) => break Some(e.to_string()),
            }
        };
        if let Some(problem) = problem {
            tracing::warn!(
                segment = %self.log_path.display(),
                valid_bytes = pos,
                truncated_bytes = self.file_len - pos,
                "{problem}: truncating the log at the last valid batch"
            );
            if !defects::active(Defect::RecoveryKeepsInvalidTail) {
                self.log.set_len(pos)?;
                self.file_len = pos;
                self.dirty = true;
            }
        }
        // "A normally closed segment always appends the biggest timestamp ever seen" (Kafka).
        self.time_index.maybe_append(self.max_timestamp)?;
        Ok(())
    }

    /// Kafka's `readNextOffset` and `readLargestTimestamp`: the next offset and the max timestamp
    /// from the last index entries plus a scan of the batches after them.
    fn reload_tail(&mut self) -> Result<(), LogError> {
        let last_time = self.time_index.last();
        let last_offset = self.offset_index.last();
        let from = self.offset_index.lookup(last_time.map_or(self.base_offset, |e| e.offset)).position;
        let mut next_offset = self.base_offset;
        let mut max_timestamp = last_time.unwrap_or(TimestampOffset { timestamp: -1, offset: self.base_offset });
        // The last offset index entry must name a batch boundary and that batch's last offset.
        let mut entry_confirmed = last_offset.is_none();
        for item in self.headers_from(u64::from(from)) {
            let (pos, header) = item?;
            if let Some(entry) = last_offset.filter(|e| u64::from(e.position) == pos) {
                entry_confirmed = entry.offset == header.last_offset();
            }
            if header.max_timestamp() > max_timestamp.timestamp {
                max_timestamp = TimestampOffset { timestamp: header.max_timestamp(), offset: header.last_offset() };
            }
            next_offset = header.next_offset();
        }
        self.next_offset = next_offset;
        self.max_timestamp = max_timestamp;
        if !entry_confirmed {
            return Err(LogError::Corrupt("offset index disagrees with the log".into()));
        }
        if last_time.is_some_and(|e| e.offset >= self.next_offset) {
            return Err(LogError::Corrupt("time index points past the log".into()));
        }
        self.first_batch_max_timestamp = match self.size() {
            0 => None,
            _ => Some(self.header_at(0)?.max_timestamp()),
        };
        self.bytes_since_last_index_entry = self.size() - last_offset.map_or(0, |e| u64::from(e.position));
        Ok(())
    }

    /// Reads `len` bytes at `pos`, from the file and then from the pending tail.
    fn read_bytes(&self, pos: u64, len: usize) -> Result<Vec<u8>, LogError> {
        if pos + len as u64 > self.size() {
            return Err(LogError::Corrupt(format!(
                "read of {len} bytes at {pos} past the end of {}",
                self.log_path.display()
            )));
        }
        let mut buf = vec![0; len];
        let in_file = self.file_len.saturating_sub(pos).min(len as u64) as usize;
        if in_file > 0 {
            self.log.read_exact_at(&mut buf[..in_file], pos)?;
        }
        if in_file < len {
            let from = (pos + in_file as u64 - self.file_len) as usize;
            buf[in_file..].copy_from_slice(&self.pending[from..from + len - in_file]);
        }
        Ok(buf)
    }

    fn header_at(&self, pos: u64) -> Result<BatchHeader, LogError> {
        let available = self.size().saturating_sub(pos).min(HEADER_LEN as u64) as usize;
        let header = BatchHeader::parse(&self.read_bytes(pos, available)?)?;
        if pos + header.len() as u64 > self.size() {
            return Err(LogError::Corrupt(format!("batch at {pos} runs past the end of {}", self.log_path.display())));
        }
        Ok(header)
    }

    /// Batch headers from `pos` to the end of the segment.
    fn headers_from(&self, pos: u64) -> impl Iterator<Item = Result<(u64, BatchHeader), LogError>> + '_ {
        let mut pos = Some(pos);
        std::iter::from_fn(move || {
            let at = pos.filter(|&p| p < self.size())?;
            match self.header_at(at) {
                Ok(header) => {
                    pos = Some(at + header.len() as u64);
                    Some(Ok((at, header)))
                }
                Err(e) => {
                    pos = None;
                    Some(Err(e))
                }
            }
        })
    }

    /// Kafka's `translateOffset`: the first batch whose last offset is >= `offset`, scanning from
    /// the offset index's entry for it.
    fn locate(&self, offset: i64) -> Result<Option<(u64, BatchHeader)>, LogError> {
        let from = self.offset_index.lookup(offset).position;
        for item in self.headers_from(u64::from(from)) {
            let (pos, header) = item?;
            if header.last_offset() >= offset {
                return Ok(Some((pos, header)));
            }
        }
        Ok(None)
    }

    fn read_batch(&self, pos: u64, header: &BatchHeader) -> Result<Batch, LogError> {
        Ok(Batch::parse(Bytes::from(self.read_bytes(pos, header.len())?))?)
    }

    /// Adds to `out` the batches from the one holding `offset` that `limits` admit, reading them
    /// with one read. Returns true when a limit ended the read, false when the segment did.
    pub fn read_into(&self, offset: i64, limits: &mut ReadLimits, out: &mut Vec<Batch>) -> Result<bool, LogError> {
        let Some((start, _)) = self.locate(offset)? else {
            return Ok(false);
        };
        let mut end = start;
        let mut limited = false;
        for item in self.headers_from(start) {
            let (pos, header) = item?;
            if !limits.admit(header.base_offset(), header.len()) {
                limited = true;
                break;
            }
            end = pos + header.len() as u64;
        }
        if end > start {
            let bytes = self.read_bytes(start, (end - start) as usize)?;
            out.extend(split_batches(Bytes::from(bytes))?);
        }
        Ok(limited)
    }

    /// Kafka's `findOffsetByTimestamp`: from the time index's entry for `ts`, the first record
    /// with timestamp >= `ts` and offset >= `starting_offset`.
    pub fn find_offset_by_timestamp(&self, ts: i64, starting_offset: i64) -> Result<Option<TimestampOffset>, LogError> {
        let entry = self.time_index.lookup(ts);
        let from = self.offset_index.lookup(entry.offset.max(starting_offset)).position;
        for item in self.headers_from(u64::from(from)) {
            let (pos, header) = item?;
            if header.max_timestamp() < ts || header.last_offset() < starting_offset {
                continue;
            }
            for record in self.read_batch(pos, &header)?.records()? {
                if record.timestamp >= ts && record.offset >= starting_offset {
                    return Ok(Some(TimestampOffset { timestamp: record.timestamp, offset: record.offset }));
                }
            }
        }
        Ok(None)
    }

    /// KIP-734: the first record carrying the segment's max timestamp, found from the batch the
    /// max timestamp was tracked at (Kafka's `RecordBatch.offsetOfMaxTimestamp`).
    pub fn offset_of_max_timestamp(&self) -> Result<Option<TimestampOffset>, LogError> {
        let max = self.max_timestamp;
        if max.timestamp < 0 {
            return Ok(None);
        }
        if defects::active(Defect::MaxTimestampAtBatchEnd) {
            return Ok(Some(max));
        }
        let from = self.offset_index.lookup(max.offset).position;
        for item in self.headers_from(u64::from(from)) {
            let (pos, header) = item?;
            if header.max_timestamp() != max.timestamp {
                continue;
            }
            for record in self.read_batch(pos, &header)?.records()? {
                if record.timestamp == max.timestamp {
                    return Ok(Some(TimestampOffset { timestamp: record.timestamp, offset: record.offset }));
                }
            }
        }
        // A batch whose header max timestamp no record carries: answer at batch level.
        Ok(Some(max))
    }

    /// Kafka's `LogSegment.truncateTo`: removes the batch holding `offset` and every later one.
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        let found = self.locate(offset)?;
        self.offset_index.truncate_to(offset)?;
        self.time_index.truncate_to(offset)?;
        self.txn_index.truncate_to(offset)?;
        if let Some((pos, _)) = found {
            if pos >= self.file_len {
                self.pending.truncate((pos - self.file_len) as usize);
            } else {
                self.pending.clear();
                self.log.set_len(pos)?;
                self.file_len = pos;
            }
            self.dirty = true;
        }
        if self.size() == 0 {
            self.created_ms = wall_clock_ms();
        }
        self.reload_tail()
    }

    /// The transactions aborted by a marker in this segment.
    pub fn aborted(&self) -> &[AbortedTxn] {
        self.txn_index.entries()
    }

    pub fn append_aborted(&mut self, txn: AbortedTxn) -> Result<(), LogError> {
        self.dirty = true;
        self.txn_index.append(txn)
    }

    /// Makes the index hold exactly `entries`; whether it had to change.
    pub fn set_aborted(&mut self, entries: Vec<AbortedTxn>) -> Result<bool, LogError> {
        if entries == self.txn_index.entries() {
            return Ok(false);
        }
        self.dirty = true;
        self.txn_index.replace(entries)?;
        Ok(true)
    }

    /// Kafka's `onBecomeInactiveSegment`: a final time index entry for the max timestamp, so a
    /// rolled segment's largest timestamp is in its index.
    pub fn on_become_inactive(&mut self) -> Result<(), LogError> {
        self.time_index.maybe_append(self.max_timestamp)
    }

    fn write_pending(&mut self) -> Result<(), LogError> {
        if !self.pending.is_empty() {
            self.log.write_all_at(&self.pending, self.file_len)?;
            self.file_len += self.pending.len() as u64;
            self.pending.clear();
        }
        Ok(())
    }

    /// Writes any pending bytes and fsyncs the log and both indexes (Kafka's `LogSegment.flush`).
    pub fn flush(&mut self) -> Result<(), LogError> {
        self.write_pending()?;
        if self.dirty {
            self.log.sync_data()?;
            self.offset_index.sync()?;
            self.time_index.sync()?;
            self.txn_index.sync()?;
            self.dirty = false;
        }
        Ok(())
    }

    pub fn delete(self) -> Result<(), LogError> {
        for path in [self.log_path.as_path(), self.offset_index.path(), self.time_index.path(), self.txn_index.path()] {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::suite::records_batch;
    use kafka_protocol::records::Compression;

    fn read_from(segment: &Segment, offset: i64) -> Vec<i64> {
        let mut limits = ReadLimits::new(i64::MAX, usize::MAX, false);
        let mut out = Vec::new();
        segment.read_into(offset, &mut limits, &mut out).expect("read");
        out.iter().map(Batch::base_offset).collect()
    }

    /// The LoseUnflushedTail defect's buffer: invisible to the file, visible to readers, written
    /// by `flush`.
    #[test]
    fn a_buffered_tail_is_readable_and_reaches_the_file_on_flush() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let config = LogConfig { index_interval_bytes: 1, ..LogConfig::default() };
        let mut segment = Segment::create(tmp.path(), 0, &config, 0).expect("create");
        let mut lens = Vec::new();
        for i in 0..5 {
            let mut batch = records_batch(Compression::None, 2, 100 + i);
            batch.set_base_offset(segment.next_offset());
            let batch = batch.freeze();
            lens.push(batch.len() as u64);
            segment.append(&batch, i >= 2).expect("append");
        }
        let file_len = || std::fs::metadata(tmp.path().join(file_name(0, "log"))).expect("stat").len();
        assert_eq!(file_len(), lens[0] + lens[1]);
        assert_eq!(read_from(&segment, 0), vec![0, 2, 4, 6, 8]);
        assert_eq!(read_from(&segment, 3), vec![2, 4, 6, 8]);
        assert_eq!(segment.find_offset_by_timestamp(103, 0).expect("lookup").map(|t| t.offset), Some(6));

        segment.truncate_to(8).expect("truncate");
        assert_eq!((segment.next_offset(), segment.max_timestamp().timestamp), (8, 103));
        assert_eq!(file_len(), lens[0] + lens[1]);
        segment.flush().expect("flush");
        assert_eq!(file_len(), lens[..4].iter().sum::<u64>());
        assert_eq!(read_from(&segment, 0), vec![0, 2, 4, 6]);
    }
}
