//! File damage: what a crash or a bad disk leaves in a stopped broker's partition directory.
//!
//! Kafka recovers a log after an unclean shutdown (`LogLoader.recoverLog`): every segment from
//! the one holding the recovery point on is read batch by batch (`LogSegment.recover`), checking
//! each batch's size and CRC; the segment is cut at the first invalid byte, the segments after
//! it are deleted, and the segment's indexes are rebuilt. The recovery point is always at or
//! below the active segment's base, so damage to the active segment is what every Kafka broker
//! recovers from, whatever its `log.flush.offset.checkpoint.interval.ms`; these steps damage
//! only the active segment.
//!
//! The harness reaches the files of brokers it started itself (the reference). Other targets
//! report these scenarios "not supported".

use std::fs::OpenOptions;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use cucumber::when;

use crate::batches::whole_batches;
use crate::world::{KafkaWorld, StepError, StepResult};

/// The v2 batch header: baseOffset .. recordsCount (Kafka's `DefaultRecordBatch.RECORD_BATCH_OVERHEAD`).
const BATCH_HEADER: usize = 61;

/// The partition directory of a stopped broker, or why there is none.
async fn stopped_partition_dir(
    w: &mut KafkaWorld,
    topic: &str,
    partition: i32,
    node: i32,
) -> Result<PathBuf, StepError> {
    let real = w.topic(topic);
    let cluster = w.cluster().await?;
    let dir = cluster.partition_dir(node, &real, partition);
    let running = cluster.is_running(node);
    let Some(dir) = dir else {
        return Err(
            w.unsupported("damaging a broker's files needs a broker the harness started itself (the reference)")
        );
    };
    if running {
        return Err(w.harness(format!(
            "broker {node} is running: damage its files only while it is stopped (kill it first), as a crash leaves them"
        )));
    }
    if !dir.is_dir() {
        return Err(w.harness(format!("broker {node} keeps no directory for {real}-{partition} ({})", dir.display())));
    }
    Ok(dir)
}

/// The active segment's `.log` file: the one with the highest base offset.
fn active_segment(dir: &Path) -> Result<(i64, PathBuf), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let base = name.strip_suffix(".log")?.parse::<i64>().ok()?;
            Some((base, e.path()))
        })
        .max_by_key(|(base, _)| *base)
        .ok_or_else(|| format!("no segment in {}", dir.display()))
}

/// The whole batches of a segment file, each with its position in the file.
fn batches_at(bytes: &[u8]) -> Vec<(usize, i64, i64, usize)> {
    let mut at = 0;
    whole_batches(bytes)
        .into_iter()
        .map(|(base, last, b)| {
            let here = at;
            at += b.len();
            (here, base, last, b.len())
        })
        .collect()
}

fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| format!("reading {}: {e}", path.display()))?;
    Ok(bytes)
}

/// A crash in the middle of writing: the file ends inside its last batch.
#[when(expr = "the last {int} bytes of partition {int} of {string} are cut off on broker {int}")]
async fn cut_tail(w: &mut KafkaWorld, n: u64, partition: i32, topic: String, node: i32) -> StepResult {
    let dir = stopped_partition_dir(w, &topic, partition, node).await?;
    let (_, path) = active_segment(&dir).map_err(|e| w.harness(e))?;
    let result = (|| -> Result<(), String> {
        let f = OpenOptions::new().write(true).open(&path).map_err(|e| format!("opening {}: {e}", path.display()))?;
        let len = f.metadata().map_err(|e| e.to_string())?.len();
        if n == 0 || n >= len {
            return Err(format!(
                "the active segment {} has {len} bytes: cut between 1 and {}",
                path.display(),
                len.saturating_sub(1)
            ));
        }
        f.set_len(len - n).map_err(|e| format!("cutting {}: {e}", path.display()))
    })();
    result.map_err(|e| w.harness(e))
}

/// A torn write: the first half of a copy of the last batch, as if the broker died while
/// appending one more.
#[when(expr = "half a batch is appended to partition {int} of {string} on broker {int}")]
async fn half_batch(w: &mut KafkaWorld, partition: i32, topic: String, node: i32) -> StepResult {
    let dir = stopped_partition_dir(w, &topic, partition, node).await?;
    let (_, path) = active_segment(&dir).map_err(|e| w.harness(e))?;
    let result = (|| -> Result<(), String> {
        let bytes = read_file(&path)?;
        let Some(&(at, _, last, len)) = batches_at(&bytes).last() else {
            return Err(format!("the active segment {} holds no whole batch to copy", path.display()));
        };
        let mut torn = bytes[at..at + len].to_vec();
        // The next batch's base offset, so the torn bytes look like the append that was cut.
        torn[..8].copy_from_slice(&(last + 1).to_be_bytes());
        torn.truncate(len / 2);
        let mut f =
            OpenOptions::new().append(true).open(&path).map_err(|e| format!("opening {}: {e}", path.display()))?;
        f.write_all(&torn).map_err(|e| format!("appending to {}: {e}", path.display()))
    })();
    result.map_err(|e| w.harness(e))
}

/// Bit rot: one byte inside the records of a batch changes, so its CRC no longer matches.
#[when(expr = "a byte inside the batch at offset {int} of partition {int} of {string} is changed on broker {int}")]
async fn flip_byte(w: &mut KafkaWorld, offset: i64, partition: i32, topic: String, node: i32) -> StepResult {
    let dir = stopped_partition_dir(w, &topic, partition, node).await?;
    let (base, path) = active_segment(&dir).map_err(|e| w.harness(e))?;
    let result = (|| -> Result<(), String> {
        let bytes = read_file(&path)?;
        let Some(&(at, _, _, len)) = batches_at(&bytes).iter().find(|(_, b, l, _)| (*b..=*l).contains(&offset)) else {
            return Err(format!(
                "offset {offset} is not in the active segment (base offset {base}): Kafka recovers only from the \
                 segment holding its recovery point on, so damage to a closed segment would make the scenario \
                 depend on when that point was checkpointed"
            ));
        };
        if len <= BATCH_HEADER + 1 {
            return Err(format!("the batch at offset {offset} has no record bytes to change"));
        }
        let pos = at + BATCH_HEADER + (len - BATCH_HEADER) / 2;
        let f = OpenOptions::new().write(true).open(&path).map_err(|e| format!("opening {}: {e}", path.display()))?;
        f.write_all_at(&[bytes[pos] ^ 0xff], pos as u64).map_err(|e| format!("writing {}: {e}", path.display()))
    })();
    result.map_err(|e| w.harness(e))
}

/// Both indexes of the active segment overwritten with entries that look sane (offsets and
/// timestamps rising, positions inside the file) but point into the middle of batches: a broker
/// that trusts them after a crash instead of rebuilding them reads from the wrong bytes.
#[when(
    expr = "the indexes of partition {int} of {string} are overwritten with entries that point into the middle of batches on broker {int}"
)]
async fn wrong_indexes(w: &mut KafkaWorld, partition: i32, topic: String, node: i32) -> StepResult {
    let dir = stopped_partition_dir(w, &topic, partition, node).await?;
    let (_, path) = active_segment(&dir).map_err(|e| w.harness(e))?;
    let result = (|| -> Result<(), String> {
        let bytes = read_file(&path)?;
        let file_len = bytes.len() as u64;
        let batches = batches_at(&bytes);
        let Some(&(_, base, _, _)) = batches.first() else {
            return Err(format!("the active segment {} holds no whole batch", path.display()));
        };
        let last = batches.last().map_or(base, |b| b.2);
        let now_ms = crate::clock::now_ms();
        let (mut offsets, mut times) = (Vec::new(), Vec::new());
        // One entry per offset after the first: relative offset, then a position 7 bytes per
        // offset in (never a batch's start, which is at least 61 bytes from the next).
        for (i, _) in (base + 1..=last).enumerate().filter(|(i, _)| (7 * (*i as u64 + 1)) < file_len) {
            let relative = i as i32 + 1;
            offsets.extend_from_slice(&relative.to_be_bytes());
            offsets.extend_from_slice(&(7 * relative).to_be_bytes());
            times.extend_from_slice(&(now_ms - 60_000 + i64::from(relative)).to_be_bytes());
            times.extend_from_slice(&relative.to_be_bytes());
        }
        for (ext, entries) in [("index", offsets), ("timeindex", times)] {
            let index = path.with_extension(ext);
            std::fs::write(&index, entries).map_err(|e| format!("writing {}: {e}", index.display()))?;
        }
        Ok(())
    })();
    result.map_err(|e| w.harness(e))
}

/// Every `.txnindex` of the partition removed (Kafka's per-segment aborted-transaction index): a
/// broker must rebuild them from the log when it starts, or read_committed consumers are no
/// longer told which records to drop.
#[when(expr = "the aborted-transaction indexes of partition {int} of {string} are deleted on broker {int}")]
async fn delete_txn_indexes(w: &mut KafkaWorld, partition: i32, topic: String, node: i32) -> StepResult {
    let dir = stopped_partition_dir(w, &topic, partition, node).await?;
    let result = (|| -> Result<usize, String> {
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
        let mut removed = 0;
        for path in entries.filter_map(Result::ok).map(|e| e.path()) {
            if path.extension().is_some_and(|x| x == "txnindex") {
                std::fs::remove_file(&path).map_err(|e| format!("removing {}: {e}", path.display()))?;
                removed += 1;
            }
        }
        Ok(removed)
    })();
    match result {
        Ok(0) => Err(w.unsupported(format!(
            "{} holds no .txnindex file: the broker keeps no per-segment aborted-transaction index to lose",
            dir.display()
        ))),
        Ok(_) => Ok(()),
        Err(e) => Err(w.harness(e)),
    }
}
