//! A segment's aborted-transaction index, Kafka's `.txnindex` (`TransactionIndex`): one 34-byte
//! entry per transaction aborted by a marker in the segment, in marker order: int16 version 0,
//! int64 producer id, int64 first offset, int64 last offset (the marker's), int64 the last stable
//! offset once the transaction was decided. read_committed fetches take the aborted
//! transactions they overlap from these files (Kafka's `collectAbortedTxns`); recovery rebuilds
//! a file that is missing, torn or stale from the log.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::LogError;

/// One aborted transaction (Kafka's `AbortedTxn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The offset of its abort marker.
    pub last_offset: i64,
    pub last_stable_offset: i64,
}

const ENTRY_LEN: usize = 34;

impl AbortedTxn {
    fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut out = [0u8; ENTRY_LEN];
        out[0..2].copy_from_slice(&0i16.to_be_bytes());
        out[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        out[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        out[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        out[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        out
    }

    fn decode(b: &[u8]) -> Option<AbortedTxn> {
        let i64_at = |at: usize| b.get(at..at + 8).and_then(|s| s.try_into().ok()).map(i64::from_be_bytes);
        if b.get(0..2)? != [0, 0] {
            return None;
        }
        Some(AbortedTxn {
            producer_id: i64_at(2)?,
            first_offset: i64_at(10)?,
            last_offset: i64_at(18)?,
            last_stable_offset: i64_at(26)?,
        })
    }

    /// Whether a fetch from `fetch_offset` whose data ends before `upper` overlaps it.
    pub fn overlaps(&self, fetch_offset: i64, upper: i64) -> bool {
        self.last_offset >= fetch_offset && self.first_offset < upper
    }
}

/// The checks every log makes before indexing `txn` (its marker is the last batch appended):
/// after the last aborted transaction indexed (`last`), and inside the log.
pub(crate) fn check_next(last: Option<i64>, txn: &AbortedTxn, log_end: i64) -> Result<(), LogError> {
    if last.is_some_and(|l| l >= txn.last_offset) || txn.last_offset >= log_end {
        return Err(LogError::Corrupt(format!(
            "aborted transaction with its marker at {}: not after the last one ({last:?}) or past the log end",
            txn.last_offset
        )));
    }
    Ok(())
}

/// The entries of `all` whose marker lies in a segment of offsets [`base`, `next`).
pub(crate) fn in_segment(all: &[AbortedTxn], base: i64, next: i64) -> Vec<AbortedTxn> {
    all.iter().filter(|t| t.last_offset >= base && t.last_offset < next).copied().collect()
}

/// One segment's `.txnindex` file and its entries.
pub(crate) struct TxnIndex {
    path: PathBuf,
    file: File,
    entries: Vec<AbortedTxn>,
    dirty: bool,
}

impl TxnIndex {
    /// A new, empty index (an existing file is emptied).
    pub fn create(path: &Path) -> Result<TxnIndex, LogError> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path)?;
        Ok(TxnIndex { path: path.to_path_buf(), file, entries: Vec::new(), dirty: true })
    }

    /// The index as the file holds it; `None` when it is missing, torn (not a whole number of
    /// entries), of an unknown version, or out of marker order: recovery rebuilds it then.
    pub fn load(path: &Path) -> Result<Option<TxnIndex>, LogError> {
        let mut file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        if bytes.len() % ENTRY_LEN != 0 {
            return Ok(None);
        }
        let entries: Option<Vec<AbortedTxn>> = bytes.chunks(ENTRY_LEN).map(AbortedTxn::decode).collect();
        let Some(entries) = entries else { return Ok(None) };
        if entries.windows(2).any(|w| w[0].last_offset >= w[1].last_offset) {
            return Ok(None);
        }
        Ok(Some(TxnIndex { path: path.to_path_buf(), file, entries, dirty: false }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn entries(&self) -> &[AbortedTxn] {
        &self.entries
    }

    pub fn append(&mut self, txn: AbortedTxn) -> Result<(), LogError> {
        if self.entries.last().is_some_and(|last| last.last_offset >= txn.last_offset) {
            return Err(LogError::Corrupt(format!(
                "{}: aborted transaction at offset {} is not after the last one",
                self.path.display(),
                txn.last_offset
            )));
        }
        let at = (self.entries.len() * ENTRY_LEN) as u64;
        self.file.write_all_at(&txn.encode(), at)?;
        self.entries.push(txn);
        self.dirty = true;
        Ok(())
    }

    /// Replaces every entry (recovery, truncation, the cleaner).
    pub fn replace(&mut self, entries: Vec<AbortedTxn>) -> Result<(), LogError> {
        if entries == self.entries {
            return Ok(());
        }
        let bytes: Vec<u8> = entries.iter().flat_map(|e| e.encode()).collect();
        self.file.set_len(0)?;
        self.file.write_all_at(&bytes, 0)?;
        self.entries = entries;
        self.dirty = true;
        Ok(())
    }

    /// Kafka's `TransactionIndex.truncateTo`: drops the transactions whose marker is at or
    /// after `offset`.
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        let kept = self.entries.iter().filter(|e| e.last_offset < offset).copied().collect();
        self.replace(kept)
    }

    pub fn sync(&mut self) -> Result<(), LogError> {
        if self.dirty {
            self.file.sync_data()?;
            self.dirty = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(pid: i64, first: i64, last: i64) -> AbortedTxn {
        AbortedTxn { producer_id: pid, first_offset: first, last_offset: last, last_stable_offset: last + 1 }
    }

    #[test]
    fn entries_are_kafkas_34_bytes_and_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("00000000000000000000.txnindex");
        let mut index = TxnIndex::create(&path).expect("create");
        index.append(txn(7, 3, 9)).expect("append");
        index.append(txn(8, 5, 12)).expect("append");
        assert!(index.append(txn(9, 1, 12)).is_err(), "markers come in offset order");
        index.sync().expect("sync");
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(bytes.len(), 68);
        assert_eq!(&bytes[..10], &[0, 0, 0, 0, 0, 0, 0, 0, 0, 7]);
        let again = TxnIndex::load(&path).expect("load").expect("a valid index");
        assert_eq!(again.entries(), &[txn(7, 3, 9), txn(8, 5, 12)]);
    }

    #[test]
    fn a_torn_or_damaged_file_is_rebuilt_not_trusted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.txnindex");
        assert!(TxnIndex::load(&path).expect("load").is_none(), "missing");
        let mut index = TxnIndex::create(&path).expect("create");
        index.append(txn(7, 3, 9)).expect("append");
        let bytes = std::fs::read(&path).expect("read");
        std::fs::write(&path, &bytes[..20]).expect("tear");
        assert!(TxnIndex::load(&path).expect("load").is_none(), "torn");
        let mut bad = bytes.clone();
        bad[1] = 1;
        std::fs::write(&path, &bad).expect("damage");
        assert!(TxnIndex::load(&path).expect("load").is_none(), "unknown version");
    }

    #[test]
    fn truncation_drops_transactions_decided_at_or_after_the_offset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.txnindex");
        let mut index = TxnIndex::create(&path).expect("create");
        for t in [txn(1, 0, 4), txn(2, 2, 8), txn(3, 6, 10)] {
            index.append(t).expect("append");
        }
        index.truncate_to(8).expect("truncate");
        assert_eq!(index.entries(), &[txn(1, 0, 4)]);
        let again = TxnIndex::load(&path).expect("load").expect("valid");
        assert_eq!(again.entries(), &[txn(1, 0, 4)]);
        assert!(txn(2, 2, 8).overlaps(8, 9) && txn(2, 2, 8).overlaps(0, 3) && !txn(2, 2, 8).overlaps(9, 20));
    }
}
