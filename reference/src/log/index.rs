//! A segment's sparse indexes, in Kafka's file formats: `.index` (Kafka's `OffsetIndex`: relative
//! offset u32 + file position u32) and `.timeindex` (Kafka's `TimeIndex`: timestamp i64 +
//! relative offset u32). Offsets are stored relative to the segment's base offset. Kafka
//! preallocates and mmaps these files; here they are appended with write(2) and mirrored in a
//! vector, which costs 8 or 12 bytes of memory per `index.interval.bytes` of log.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{LogError, TimestampOffset};

/// One entry's encoding.
pub(crate) trait Entry: Copy {
    const SIZE: usize;
    /// The absolute offset the entry is keyed on.
    fn offset(&self) -> i64;
    fn encode(&self, base_offset: i64, out: &mut Vec<u8>) -> Result<(), LogError>;
    fn decode(base_offset: i64, bytes: &[u8]) -> Self;
}

/// Offset index entry: the batch whose last offset is `offset` starts at `position`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OffsetPosition {
    pub offset: i64,
    pub position: u32,
}

fn relative(offset: i64, base_offset: i64) -> Result<u32, LogError> {
    u32::try_from(offset - base_offset)
        .map_err(|_| LogError::Corrupt(format!("offset {offset} does not fit a segment based at {base_offset}")))
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_be_bytes(b)
}

impl Entry for OffsetPosition {
    const SIZE: usize = 8;
    fn offset(&self) -> i64 {
        self.offset
    }
    fn encode(&self, base_offset: i64, out: &mut Vec<u8>) -> Result<(), LogError> {
        out.extend_from_slice(&relative(self.offset, base_offset)?.to_be_bytes());
        out.extend_from_slice(&self.position.to_be_bytes());
        Ok(())
    }
    fn decode(base_offset: i64, bytes: &[u8]) -> Self {
        OffsetPosition { offset: base_offset + i64::from(u32_at(bytes, 0)), position: u32_at(bytes, 4) }
    }
}

impl Entry for TimestampOffset {
    const SIZE: usize = 12;
    fn offset(&self) -> i64 {
        self.offset
    }
    fn encode(&self, base_offset: i64, out: &mut Vec<u8>) -> Result<(), LogError> {
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&relative(self.offset, base_offset)?.to_be_bytes());
        Ok(())
    }
    fn decode(base_offset: i64, bytes: &[u8]) -> Self {
        let mut ts = [0; 8];
        ts.copy_from_slice(&bytes[..8]);
        TimestampOffset { timestamp: i64::from_be_bytes(ts), offset: base_offset + i64::from(u32_at(bytes, 8)) }
    }
}

/// An index file and its entries.
pub(crate) struct IndexFile<E> {
    path: PathBuf,
    file: File,
    base_offset: i64,
    entries: Vec<E>,
}

pub(crate) type OffsetIndex = IndexFile<OffsetPosition>;
pub(crate) type TimeIndex = IndexFile<TimestampOffset>;

impl<E: Entry> IndexFile<E> {
    /// A new, empty index file (replacing any stale one left by a deleted segment).
    pub fn create(path: &Path, base_offset: i64) -> Result<Self, LogError> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path)?;
        Ok(IndexFile { path: path.to_owned(), file, base_offset, entries: Vec::new() })
    }

    /// Loads an index file, or `None` when it is missing or malformed (a length that is not a
    /// whole number of entries, or offsets that go backwards: Kafka's `sanityCheck`), in which
    /// case the caller rebuilds it from the log.
    pub fn load(path: &Path, base_offset: i64) -> Result<Option<Self>, LogError> {
        let file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let bytes = std::fs::read(path)?;
        if bytes.len() % E::SIZE != 0 {
            return Ok(None);
        }
        let entries: Vec<E> = bytes.chunks_exact(E::SIZE).map(|chunk| E::decode(base_offset, chunk)).collect();
        if entries.windows(2).any(|w| w[1].offset() < w[0].offset()) {
            return Ok(None);
        }
        Ok(Some(IndexFile { path: path.to_owned(), file, base_offset, entries }))
    }

    pub fn entries(&self) -> &[E] {
        &self.entries
    }

    pub fn last(&self) -> Option<E> {
        self.entries.last().copied()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn push(&mut self, entry: E) -> Result<(), LogError> {
        let mut bytes = Vec::with_capacity(E::SIZE);
        entry.encode(self.base_offset, &mut bytes)?;
        let at = (self.entries.len() * E::SIZE) as u64;
        self.file.write_all_at(&bytes, at)?;
        self.entries.push(entry);
        Ok(())
    }

    /// Keeps the first `n` entries.
    fn truncate_entries(&mut self, n: usize) -> Result<(), LogError> {
        if n < self.entries.len() {
            self.entries.truncate(n);
            self.file.set_len((n * E::SIZE) as u64)?;
        }
        Ok(())
    }

    /// Removes every entry keyed at or after `offset` (Kafka's `truncateTo`).
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        let keep = self.entries.partition_point(|e| e.offset() < offset);
        self.truncate_entries(keep)
    }

    pub fn reset(&mut self) -> Result<(), LogError> {
        self.entries.clear();
        self.file.set_len(0)?;
        Ok(())
    }

    pub fn sync(&self) -> Result<(), LogError> {
        self.file.sync_data()?;
        Ok(())
    }
}

impl OffsetIndex {
    /// Kafka's `OffsetIndex.append`: offsets must grow.
    pub fn append(&mut self, offset: i64, position: u32) -> Result<(), LogError> {
        if self.last().is_some_and(|last| offset <= last.offset) {
            return Err(LogError::Corrupt(format!(
                "offset index entry {offset} is not after the last entry in {}",
                self.path.display()
            )));
        }
        self.push(OffsetPosition { offset, position })
    }

    /// The largest entry with offset <= `target`, or the segment start (Kafka's `lookup`).
    pub fn lookup(&self, target: i64) -> OffsetPosition {
        let n = self.entries.partition_point(|e| e.offset <= target);
        match n {
            0 => OffsetPosition { offset: self.base_offset, position: 0 },
            n => self.entries[n - 1],
        }
    }
}

impl TimeIndex {
    /// Kafka's `TimeIndex.maybeAppend`: an entry only when the max timestamp grows, so the
    /// timestamps in the file increase strictly.
    pub fn maybe_append(&mut self, entry: TimestampOffset) -> Result<(), LogError> {
        let last_ts = self.last().map_or(-1, |last| last.timestamp);
        if entry.timestamp > last_ts {
            self.push(entry)?;
        }
        Ok(())
    }

    /// The entry with the largest timestamp <= `ts`, or (-1, segment start) (Kafka's `lookup`).
    pub fn lookup(&self, ts: i64) -> TimestampOffset {
        let n = self.entries.partition_point(|e| e.timestamp <= ts);
        match n {
            0 => TimestampOffset { timestamp: -1, offset: self.base_offset },
            n => self.entries[n - 1],
        }
    }

    /// Kafka's time index keeps increasing timestamps; a file that does not is rebuilt.
    pub fn is_sane(&self) -> bool {
        self.entries.windows(2).all(|w| w[1].timestamp > w[0].timestamp)
    }
}
