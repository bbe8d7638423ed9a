//! One offset in a small file of the log's directory: [`DiskLog`](super::DiskLog)'s log start
//! offset and cleaner offset. Kafka keeps one file per log directory for all partitions
//! (`log-start-offset-checkpoint`, `cleaner-offset-checkpoint`, written by `CheckpointFile`);
//! here each partition keeps its own, in the same text format with a single entry: a version
//! line `0`, then the offset.
//!
//! A checkpoint is replaced, never edited: the new contents go to `<name>.tmp`, are fsynced, and
//! are renamed over the old file, so a crash leaves either the old offset or the new one.

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use super::LogError;

pub(crate) const LOG_START: &str = "log-start-offset-checkpoint";
pub(crate) const CLEANER: &str = "cleaner-offset-checkpoint";
const TMP_SUFFIX: &str = ".tmp";
const VERSION: &str = "0";

pub(crate) fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// Whether a file name is a checkpoint's temporary file, which opening a log removes.
pub(crate) fn is_leftover(file_name: &str) -> bool {
    [LOG_START, CLEANER].iter().any(|name| file_name.strip_suffix(TMP_SUFFIX) == Some(name))
}

/// The stored offset, `None` when there is no checkpoint yet.
pub(crate) fn read(dir: &Path, name: &str) -> Result<Option<i64>, LogError> {
    let path = path(dir, name);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == ErrorKind::InvalidData => {
            return Err(LogError::Corrupt(format!("{} is not text", path.display())));
        }
        Err(e) => return Err(e.into()),
    };
    let mut lines = text.lines();
    let offset = match (lines.next(), lines.next(), lines.next()) {
        (Some(VERSION), Some(offset), None) => offset.trim().parse::<i64>().ok().filter(|o| *o >= 0),
        _ => None,
    };
    offset
        .map(Some)
        .ok_or_else(|| LogError::Corrupt(format!("{} is not a version-0 offset checkpoint", path.display())))
}

/// Replaces the stored offset durably (the directory is fsynced too).
pub(crate) fn write(dir: &Path, name: &str, offset: i64) -> Result<(), LogError> {
    let tmp = path(dir, &format!("{name}{TMP_SUFFIX}"));
    let mut file = File::create(&tmp)?;
    file.write_all(format!("{VERSION}\n{offset}\n").as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path(dir, name))?;
    File::open(dir)?.sync_all()?;
    Ok(())
}
