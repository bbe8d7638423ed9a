//! The storage contract's suite: every case is a function of an opener, instantiated once per
//! implementation by `log_suite!` so that each case is a test of its own
//! (`log::suite::disk::recover_after_torn_write`). Cases pass `now_ms` explicitly and never sleep.

use std::path::{Path, PathBuf};

use bytes::BytesMut;
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};

use super::batch::HEADER_LEN;
use super::*;

type Open = dyn Fn(&Path, LogConfig) -> Box<dyn Log>;

const NOW: i64 = 1_700_000_000_000;
const ALL: usize = usize::MAX;

macro_rules! log_suite {
    ($implementation:ident, $open:expr $(, only: [$($extra:ident),* $(,)?])?) => {
        mod $implementation {
            use super::*;

            fn open(dir: &Path, config: LogConfig) -> Box<dyn Log> {
                ($open)(dir, config)
            }

            log_suite!(@cases open;
                append_assigns_contiguous_offsets,
                read_from_middle_of_batch_returns_whole_batch,
                read_respects_max_bytes_and_min_one,
                read_stops_at_max_offset,
                read_out_of_range_is_an_error,
                read_across_segments,
                roll_on_segment_bytes,
                roll_on_segment_ms,
                truncate_then_append_reuses_offsets,
                append_with_offsets_keeps_them_and_may_leave_a_gap,
                offset_for_timestamp_is_record_level,
                max_timestamp,
                time_retention_deletes_only_breached_segments_and_an_active_one_only_whole,
                size_retention_deletes_while_the_rest_still_reaches_retention_bytes,
                retention_never_passes_the_high_watermark,
                advance_log_start_makes_reads_below_it_out_of_range,
                compaction_keeps_the_latest_value_per_key_at_its_original_offset,
                compaction_keeps_the_last_offset_delta_of_a_batch,
                compaction_stops_below_the_upper_bound,
                the_dirty_ratio_gates_a_pass,
                min_compaction_lag_keeps_recent_segments_dirty,
                max_compaction_lag_forces_a_pass,
                a_tombstone_stays_until_delete_retention_ms_after_its_first_cleaning,
                a_producers_last_batch_is_kept_empty,
                a_marker_goes_delete_retention_ms_after_its_transaction_has_no_record_left,
                aborted_transactions_are_indexed_with_their_markers_segment,
                a_second_pass_with_nothing_dirty_changes_nothing,
                $($($extra,)*)?
            );
        }
    };
    (@cases $open:ident; $($case:ident,)*) => {
        $(
            #[test]
            fn $case() {
                super::$case(&$open);
            }
        )*
    };
}

log_suite!(memory, |_dir: &Path, config| Box::new(MemoryLog::new(config)) as Box<dyn Log>);
log_suite!(
    disk,
    |dir: &Path, config| Box::new(DiskLog::open(dir, config).expect("open")) as Box<dyn Log>,
    only: [
        reopen_keeps_everything,
        recover_after_torn_write,
        rebuild_a_lost_index,
        index_is_sparse,
        delete_removes_the_directory,
        advance_log_start_survives_reopen,
        reopen_after_compaction_reads_the_same,
        a_lost_transaction_index_is_rebuilt,
        a_leftover_cleaned_file_is_ignored_and_removed,
    ]
);

// ---- batches -------------------------------------------------------------------------------

fn record(offset: i64, timestamp: i64, value_len: usize) -> Record {
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset,
        // No producer: base sequence -1, and the encoder wants offset - sequence constant.
        sequence: offset as i32 - 1,
        timestamp,
        key: Some(format!("key-{offset}").into()),
        value: Some(vec![b'v'; value_len].into()),
        headers: Default::default(),
    }
}

fn encode(compression: Compression, records: &[Record]) -> BatchMut {
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, records.iter(), &RecordEncodeOptions { version: 2, compression })
        .expect("encode");
    let mut batches = split_batches(buf.freeze()).expect("valid batch");
    assert_eq!(batches.len(), 1);
    batches.remove(0).into_mut()
}

/// One record per timestamp, in order.
pub(crate) fn timed_batch(compression: Compression, timestamps: &[i64]) -> BatchMut {
    let records: Vec<Record> = timestamps.iter().enumerate().map(|(i, &ts)| record(i as i64, ts, 10)).collect();
    encode(compression, &records)
}

/// `count` records at `timestamp`.
pub(crate) fn records_batch(compression: Compression, count: usize, timestamp: i64) -> BatchMut {
    sized_batch(compression, count, timestamp, 10)
}

fn sized_batch(compression: Compression, count: usize, timestamp: i64, value_len: usize) -> BatchMut {
    let records: Vec<Record> = (0..count).map(|i| record(i as i64, timestamp, value_len)).collect();
    encode(compression, &records)
}

/// A record with a key, and a value unless it is a tombstone.
fn keyed(offset: i64, key: &str, value: Option<&str>, timestamp: i64) -> Record {
    Record {
        key: Some(key.to_owned().into_bytes().into()),
        value: value.map(|v| v.to_owned().into_bytes().into()),
        ..record(offset, timestamp, 0)
    }
}

/// One batch of keyed records at one timestamp.
fn kv_batch(compression: Compression, pairs: &[(&str, Option<&str>)], timestamp: i64) -> BatchMut {
    let records: Vec<Record> = pairs.iter().enumerate().map(|(i, (k, v))| keyed(i as i64, k, *v, timestamp)).collect();
    encode(compression, &records)
}

fn kv(key: &str, value: &str, timestamp: i64) -> BatchMut {
    kv_batch(Compression::None, &[(key, Some(value))], timestamp)
}

/// An idempotent producer's batch: sequence numbers from `base_sequence`.
fn producer_batch(producer_id: i64, base_sequence: i32, pairs: &[(&str, Option<&str>)], timestamp: i64) -> BatchMut {
    producer_records(producer_id, base_sequence, pairs, timestamp, false)
}

/// A transactional batch of producer `producer_id`.
fn txn_batch(producer_id: i64, base_sequence: i32, pairs: &[(&str, Option<&str>)], timestamp: i64) -> BatchMut {
    producer_records(producer_id, base_sequence, pairs, timestamp, true)
}

fn producer_records(
    producer_id: i64,
    base_sequence: i32,
    pairs: &[(&str, Option<&str>)],
    timestamp: i64,
    transactional: bool,
) -> BatchMut {
    let records: Vec<Record> = pairs
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            producer_id,
            producer_epoch: 0,
            sequence: base_sequence + i as i32,
            transactional,
            ..keyed(i as i64, k, *v, timestamp)
        })
        .collect();
    encode(Compression::None, &records)
}

/// A commit marker of producer `producer_id` (key: version 0, type 1; value: version 0,
/// coordinator epoch 0).
fn commit_marker(producer_id: i64, timestamp: i64) -> BatchMut {
    let marker = Record {
        producer_id,
        producer_epoch: 0,
        sequence: -1,
        transactional: true,
        control: true,
        key: Some(vec![0, 0, 0, 1].into()),
        value: Some(vec![0, 0, 0, 0, 0, 0].into()),
        ..record(0, timestamp, 0)
    };
    encode(Compression::None, &[marker])
}

// ---- helpers -------------------------------------------------------------------------------

fn log_dir(tmp: &tempfile::TempDir) -> PathBuf {
    tmp.path().join("topic-0")
}

fn append(log: &mut dyn Log, batch: BatchMut, now_ms: i64) -> AppendInfo {
    log.append(batch, now_ms).expect("append")
}

fn read_all(log: &dyn Log, offset: i64) -> Vec<Batch> {
    log.read(offset, ALL, log.log_end_offset(), false).expect("read")
}

fn bases(batches: &[Batch]) -> Vec<i64> {
    batches.iter().map(Batch::base_offset).collect()
}

fn record_offsets(batches: &[Batch]) -> Vec<i64> {
    batches.iter().flat_map(|b| b.records().expect("records")).map(|r| r.offset).collect()
}

fn ranges(log: &dyn Log) -> Vec<(i64, i64)> {
    log.segments().iter().map(|s| (s.base_offset, s.next_offset)).collect()
}

fn batch_len(batch: &BatchMut) -> u64 {
    batch.len() as u64
}

fn at(timestamp: i64, offset: i64) -> Option<TimestampOffset> {
    Some(TimestampOffset { timestamp, offset })
}

/// Every batch in a segment of its own (a segment rolls once it holds anything).
fn one_batch_per_segment() -> LogConfig {
    LogConfig { segment_bytes: 1, index_interval_bytes: 1, ..LogConfig::default() }
}

/// Every record readable from the log start: offset, key and value.
fn contents(log: &dyn Log) -> Vec<(i64, String, Option<String>)> {
    let text = |b: Option<bytes::Bytes>| b.map(|b| String::from_utf8_lossy(&b).into_owned());
    read_all(log, log.log_start_offset())
        .iter()
        .flat_map(|b| b.records().expect("records"))
        .map(|r| (r.offset, text(r.key).unwrap_or_default(), text(r.value)))
        .collect()
}

fn entry(offset: i64, key: &str, value: Option<&str>) -> (i64, String, Option<String>) {
    (offset, key.to_owned(), value.map(str::to_owned))
}

/// A pass that cleans whatever is dirty, at `now`, up to the log end.
fn eager(log: &dyn Log, now_ms: i64) -> CleanerConfig {
    CleanerConfig { min_cleanable_dirty_ratio: 0.0, ..CleanerConfig::new(now_ms, log.log_end_offset()) }
}

fn out_of_range_at(log: &dyn Log, offset: i64) -> bool {
    matches!(log.read(offset, ALL, log.log_end_offset(), true), Err(LogError::OffsetOutOfRange { .. }))
}

fn small_segments(batches_per_segment: u64, batch_len: u64) -> LogConfig {
    LogConfig {
        segment_bytes: batches_per_segment * batch_len + batch_len / 2,
        index_interval_bytes: 1,
        ..LogConfig::default()
    }
}

// ---- cases for every implementation --------------------------------------------------------

fn append_assigns_contiguous_offsets(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut log = open(&log_dir(&tmp), LogConfig::default());
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));

    let mut first = records_batch(Compression::None, 1, NOW);
    first.set_base_offset(999);
    let infos = [
        append(&mut *log, first, NOW),
        append(&mut *log, records_batch(Compression::Gzip, 3, NOW), NOW),
        append(&mut *log, records_batch(Compression::None, 2, NOW + 5), NOW),
    ];
    let assigned: Vec<(i64, i64)> = infos.iter().map(|i| (i.base_offset, i.last_offset)).collect();
    assert_eq!(assigned, vec![(0, 0), (1, 3), (4, 5)]);
    assert_eq!(infos[2].max_timestamp, NOW + 5);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 6));
    let batches = read_all(&*log, 0);
    assert_eq!(bases(&batches), vec![0, 1, 4]);
    assert_eq!(record_offsets(&batches), (0..6).collect::<Vec<_>>());
}

fn read_from_middle_of_batch_returns_whole_batch(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut log = open(&log_dir(&tmp), LogConfig::default());
    append(&mut *log, records_batch(Compression::None, 3, NOW), NOW);
    append(&mut *log, records_batch(Compression::Gzip, 3, NOW), NOW);
    for offset in 3..6 {
        assert_eq!(bases(&read_all(&*log, offset)), vec![3], "reading at {offset}");
    }
    assert_eq!(bases(&read_all(&*log, 1)), vec![0, 3]);
}

fn read_respects_max_bytes_and_min_one(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut log = open(&log_dir(&tmp), LogConfig::default());
    let batches = [
        sized_batch(Compression::None, 2, NOW, 100),
        sized_batch(Compression::None, 2, NOW, 300),
        sized_batch(Compression::None, 2, NOW, 50),
    ];
    let lens: Vec<usize> = batches.iter().map(|b| b.len()).collect();
    for batch in batches {
        append(&mut *log, batch, NOW);
    }
    let end = log.log_end_offset();
    let read = |offset, max_bytes, min_one| bases(&log.read(offset, max_bytes, end, min_one).expect("read"));
    assert_eq!(read(0, lens[0] + lens[1], false), vec![0, 2]);
    assert_eq!(read(0, lens[0] + lens[1] - 1, false), vec![0]);
    assert_eq!(read(0, lens[0] - 1, false), Vec::<i64>::new());
    // minOneMessage returns the first batch whole, and nothing more once over the limit.
    assert_eq!(read(0, 1, true), vec![0]);
    assert_eq!(read(0, 0, true), vec![0]);
    assert_eq!(read(2, lens[1] - 1, true), vec![2]);
    assert_eq!(read(2, lens[1] + lens[2], true), vec![2, 4]);
}

fn read_stops_at_max_offset(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut log = open(&log_dir(&tmp), LogConfig::default());
    for _ in 0..3 {
        append(&mut *log, records_batch(Compression::None, 2, NOW), NOW);
    }
    let read = |offset, max_offset, min_one| bases(&log.read(offset, ALL, max_offset, min_one).expect("read"));
    assert_eq!(read(0, 6, false), vec![0, 2, 4]);
    assert_eq!(read(0, 4, false), vec![0, 2]);
    assert_eq!(read(0, 3, false), vec![0, 2]);
    // The high watermark bounds even minOneMessage.
    assert_eq!(read(0, 0, true), Vec::<i64>::new());
    assert_eq!(read(4, 4, true), Vec::<i64>::new());
}

fn read_out_of_range_is_an_error(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut log = open(&log_dir(&tmp), LogConfig::default());
    assert!(log.read(0, ALL, 0, true).expect("read at the end of an empty log").is_empty());
    assert!(matches!(
        log.read(1, ALL, 0, true),
        Err(LogError::OffsetOutOfRange { offset: 1, log_start: 0, log_end: 0 })
    ));
    append(&mut *log, records_batch(Compression::None, 2, NOW), NOW);
    append(&mut *log, records_batch(Compression::None, 2, NOW), NOW);
    assert!(log.read(4, ALL, 4, true).expect("read at the log end").is_empty());
    assert!(matches!(
        log.read(5, ALL, 4, true),
        Err(LogError::OffsetOutOfRange { offset: 5, log_start: 0, log_end: 4 })
    ));
    assert!(matches!(log.read(-1, ALL, 4, true), Err(LogError::OffsetOutOfRange { offset: -1, .. })));
}

fn read_across_segments(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let len = batch_len(&records_batch(Compression::None, 2, NOW));
    let mut log = open(&log_dir(&tmp), small_segments(2, len));
    for _ in 0..6 {
        append(&mut *log, records_batch(Compression::None, 2, NOW), NOW);
    }
    assert_eq!(ranges(&*log), vec![(0, 4), (4, 8), (8, 12)]);
    assert_eq!(bases(&read_all(&*log, 0)), vec![0, 2, 4, 6, 8, 10]);
    assert_eq!(bases(&read_all(&*log, 5)), vec![4, 6, 8, 10]);
    assert_eq!(bases(&read_all(&*log, 8)), vec![8, 10]);
    let three = 3 * len as usize;
    assert_eq!(bases(&log.read(2, three, 12, false).expect("read")), vec![2, 4, 6]);
    assert_eq!(bases(&log.read(3, three, 7, false).expect("read")), vec![2, 4, 6]);
    assert_eq!(bases(&log.read(3, three, 6, false).expect("read")), vec![2, 4]);
}

fn roll_on_segment_bytes(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let len = batch_len(&records_batch(Compression::None, 1, NOW));
    let mut log = open(&log_dir(&tmp), small_segments(2, len));
    for _ in 0..5 {
        append(&mut *log, records_batch(Compression::None, 1, NOW), NOW);
    }
    let sizes: Vec<(i64, i64, u64)> =
        log.segments().iter().map(|s| (s.base_offset, s.next_offset, s.size_bytes)).collect();
    assert_eq!(sizes, vec![(0, 2, 2 * len), (2, 4, 2 * len), (4, 5, len)]);

    // A batch larger than segment.bytes gets a segment of its own: no segment is left empty.
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = LogConfig { segment_bytes: len / 2, ..LogConfig::default() };
    let mut log = open(&log_dir(&tmp), config);
    for _ in 0..3 {
        append(&mut *log, records_batch(Compression::None, 1, NOW), NOW);
    }
    assert_eq!(ranges(&*log), vec![(0, 1), (1, 2), (2, 3)]);
}

fn roll_on_segment_ms(open: &Open) {
    let config = LogConfig { segment_ms: 1000, ..LogConfig::default() };
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut log = open(&log_dir(&tmp), config.clone());
    append(&mut *log, records_batch(Compression::None, 1, NOW), NOW);
    // Kafka's timeWaitedForRoll: the new batch's max timestamp against the first batch's, and
    // a roll only once segment.ms is exceeded.
    append(&mut *log, records_batch(Compression::None, 1, NOW + 1000), NOW + 1000);
    assert_eq!(ranges(&*log), vec![(0, 2)]);
    append(&mut *log, records_batch(Compression::None, 1, NOW + 1001), NOW + 1001);
    assert_eq!(ranges(&*log), vec![(0, 2), (2, 3)]);
    // Message time decides, not the clock, once the first batch has a timestamp.
    append(&mut *log, records_batch(Compression::None, 1, NOW + 1500), NOW + 1_000_000);
    assert_eq!(ranges(&*log), vec![(0, 2), (2, 4)]);

    // Batches without timestamps fall back to wall-clock time since the segment was created.
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut log = open(&log_dir(&tmp), config);
    append(&mut *log, records_batch(Compression::None, 1, -1), NOW);
    let rolled_at = wall_clock_ms() + 10_000;
    append(&mut *log, records_batch(Compression::None, 1, -1), rolled_at);
    assert_eq!(ranges(&*log), vec![(0, 1), (1, 2)]);
    append(&mut *log, records_batch(Compression::None, 1, -1), rolled_at + 1000);
    assert_eq!(ranges(&*log), vec![(0, 1), (1, 3)]);
    append(&mut *log, records_batch(Compression::None, 1, -1), rolled_at + 1001);
    assert_eq!(ranges(&*log), vec![(0, 1), (1, 3), (3, 4)]);
}

fn append_with_offsets_keeps_them_and_may_leave_a_gap(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut log = open(&log_dir(&tmp), LogConfig::default());
    append(&mut *log, records_batch(Compression::None, 2, NOW), NOW);
    let mut gapped = records_batch(Compression::None, 3, NOW);
    gapped.set_base_offset(5);
    let info = log.append_with_offsets(gapped.freeze(), NOW).expect("a gap is allowed");
    assert_eq!((info.base_offset, info.last_offset), (5, 7));
    assert_eq!(log.log_end_offset(), 8);
    let batches = read_all(&*log, 0);
    assert_eq!(bases(&batches), vec![0, 5]);
    assert_eq!(record_offsets(&batches), vec![0, 1, 5, 6, 7]);
    // Reading from inside the gap starts at the next batch.
    assert_eq!(bases(&read_all(&*log, 3)), vec![5]);
    // An overlap with what is already there is refused.
    let mut overlapping = records_batch(Compression::None, 1, NOW);
    overlapping.set_base_offset(7);
    assert!(log.append_with_offsets(overlapping.freeze(), NOW).is_err());
    assert_eq!(log.log_end_offset(), 8);
}

fn truncate_then_append_reuses_offsets(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut log = open(&log_dir(&tmp), LogConfig::default());
    append(&mut *log, records_batch(Compression::None, 2, NOW), NOW);
    append(&mut *log, records_batch(Compression::Gzip, 3, NOW), NOW);
    append(&mut *log, records_batch(Compression::None, 1, NOW), NOW);
    log.truncate_to(6).expect("truncate at the end is a no-op");
    assert_eq!(log.log_end_offset(), 6);
    // Truncation is by whole batch: an offset inside [2, 5) removes that batch (Kafka's
    // LogSegment.truncateTo cuts at the batch holding the offset).
    log.truncate_to(3).expect("truncate");
    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(append(&mut *log, records_batch(Compression::None, 1, NOW), NOW).base_offset, 2);
    let batches = read_all(&*log, 0);
    assert_eq!(bases(&batches), vec![0, 2]);
    assert_eq!(record_offsets(&batches), vec![0, 1, 2]);
    assert!(matches!(log.truncate_to(-1), Err(LogError::OffsetOutOfRange { .. })));

    // Segments after the truncation point go whole.
    let tmp = tempfile::tempdir().expect("tempdir");
    let len = batch_len(&records_batch(Compression::None, 2, NOW));
    let mut log = open(&log_dir(&tmp), small_segments(2, len));
    for _ in 0..6 {
        append(&mut *log, records_batch(Compression::None, 2, NOW), NOW);
    }
    log.truncate_to(6).expect("truncate");
    assert_eq!(ranges(&*log), vec![(0, 4), (4, 6)]);
    log.truncate_to(2).expect("truncate");
    assert_eq!(ranges(&*log), vec![(0, 2)]);
    assert_eq!(append(&mut *log, records_batch(Compression::None, 2, NOW), NOW).base_offset, 2);
    assert_eq!(bases(&read_all(&*log, 0)), vec![0, 2]);
    log.truncate_to(0).expect("truncate");
    assert_eq!(ranges(&*log), vec![(0, 0)]);
    assert_eq!(append(&mut *log, records_batch(Compression::None, 2, NOW), NOW).base_offset, 0);
}

fn offset_for_timestamp_is_record_level(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let len = batch_len(&timed_batch(Compression::None, &[100, 300, 200]));
    let mut log = open(&log_dir(&tmp), small_segments(2, len));
    assert_eq!(log.offset_for_timestamp(0).expect("lookup"), None);
    append(&mut *log, timed_batch(Compression::None, &[100, 300, 200]), NOW); // 0..=2
    append(&mut *log, timed_batch(Compression::Gzip, &[400, 500]), NOW); // 3..=4
    append(&mut *log, timed_batch(Compression::None, &[450, 600]), NOW); // 5..=6
    append(&mut *log, timed_batch(Compression::None, &[50]), NOW); // 7
    let mut log_append = timed_batch(Compression::None, &[10, 20]);
    log_append.set_log_append_time(1000);
    append(&mut *log, log_append, NOW); // 8..=9
    assert!(log.segments().len() > 1);
    for (ts, expected) in [
        (0, at(100, 0)),
        (100, at(100, 0)),
        (150, at(300, 1)),
        (200, at(300, 1)),
        (301, at(400, 3)),
        (450, at(500, 4)),
        (501, at(600, 6)),
        (601, at(1000, 8)),
        (1000, at(1000, 8)),
        (1001, None),
    ] {
        assert_eq!(log.offset_for_timestamp(ts).expect("lookup"), expected, "timestamp {ts}");
    }
}

fn max_timestamp(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let len = batch_len(&timed_batch(Compression::None, &[100, 500, 200]));
    let mut log = open(&log_dir(&tmp), small_segments(2, len));
    assert_eq!(log.max_timestamp().expect("max"), None);
    append(&mut *log, timed_batch(Compression::None, &[100, 500, 200]), NOW); // 0..=2
    append(&mut *log, timed_batch(Compression::Gzip, &[500, 50]), NOW); // 3..=4
    assert_eq!(log.max_timestamp().expect("max"), at(500, 1));
    let mut log_append = timed_batch(Compression::None, &[10]);
    log_append.set_log_append_time(400);
    append(&mut *log, log_append, NOW); // 5
    assert_eq!(log.max_timestamp().expect("max"), at(500, 1));
    append(&mut *log, timed_batch(Compression::Gzip, &[900, 900]), NOW); // 6..=7
    assert_eq!(log.max_timestamp().expect("max"), at(900, 6));
    log.truncate_to(6).expect("truncate");
    assert_eq!(log.max_timestamp().expect("max"), at(500, 1));
    let mut log_append = timed_batch(Compression::None, &[10, 20]);
    log_append.set_log_append_time(700);
    append(&mut *log, log_append, NOW); // 6..=7
    assert_eq!(log.max_timestamp().expect("max"), at(700, 6));
}

// ---- retention ------------------------------------------------------------------------------

fn time_retention_deletes_only_breached_segments_and_an_active_one_only_whole(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut log = open(&log_dir(&tmp), one_batch_per_segment());
    // Old CreateTime timestamps: retention goes by the records' time, not the append time.
    for ts in [NOW - 5000, NOW - 1001, NOW - 1000, NOW - 6000, NOW - 7000] {
        append(&mut *log, records_batch(Compression::None, 1, ts), NOW);
    }
    let end = log.log_end_offset();
    let outcome = log.apply_retention(NOW, -1, -1, end).expect("retention");
    assert_eq!(outcome, RetentionOutcome { deleted_segments: 0, log_start_offset: 0 });
    // Kafka's `startMs - largestTimestamp > retentionMs`: exactly retention.ms old is kept, and
    // the walk stops there even though an older segment follows.
    let outcome = log.apply_retention(NOW, 1000, -1, end).expect("retention");
    assert_eq!(outcome, RetentionOutcome { deleted_segments: 2, log_start_offset: 2 });
    assert_eq!(ranges(&*log), vec![(2, 3), (3, 4), (4, 5)]);
    assert!(out_of_range_at(&*log, 1));
    assert_eq!(bases(&read_all(&*log, 2)), vec![2, 3, 4]);

    // Everything breached, the active segment too: the log rolls a new, empty active segment at
    // the log end and every older one goes (`UnifiedLog.deleteSegments`). The log start is the
    // log end, and numbering goes on from there.
    let outcome = log.apply_retention(NOW + 100_000, 1000, -1, end).expect("retention");
    assert_eq!(outcome, RetentionOutcome { deleted_segments: 3, log_start_offset: 5 });
    assert_eq!(ranges(&*log), vec![(5, 5)]);
    assert_eq!(log.log_end_offset(), 5);
    assert!(out_of_range_at(&*log, 4));
    // An empty active segment is never deleted (`isLastSegmentAndEmpty`).
    let outcome = log.apply_retention(NOW + 200_000, 1000, -1, end).expect("retention");
    assert_eq!(outcome, RetentionOutcome { deleted_segments: 0, log_start_offset: 5 });
    assert_eq!(append(&mut *log, records_batch(Compression::None, 1, NOW), NOW).base_offset, 5);

    // A segment without timestamps never expires by time, and stops the walk.
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut log = open(&log_dir(&tmp), one_batch_per_segment());
    for ts in [-1, NOW - 5000, NOW - 5000] {
        append(&mut *log, records_batch(Compression::None, 1, ts), NOW);
    }
    let outcome = log.apply_retention(NOW, 1000, -1, log.log_end_offset()).expect("retention");
    assert_eq!(outcome.deleted_segments, 0);
}

fn size_retention_deletes_while_the_rest_still_reaches_retention_bytes(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut log = open(&log_dir(&tmp), one_batch_per_segment());
    let len = batch_len(&records_batch(Compression::None, 2, NOW));
    for _ in 0..5 {
        append(&mut *log, records_batch(Compression::None, 2, NOW), NOW);
    }
    let end = log.log_end_offset();
    assert_eq!(log.apply_retention(NOW, -1, 5 * len as i64 + 1, end).expect("retention").deleted_segments, 0);
    // 5 segments against 2 * len + 1 bytes: deleting a third would leave less than the limit.
    let outcome = log.apply_retention(NOW, -1, 2 * len as i64 + 1, end).expect("retention");
    assert_eq!(outcome, RetentionOutcome { deleted_segments: 2, log_start_offset: 4 });
    assert_eq!(log.segments().iter().map(|s| s.size_bytes).sum::<u64>(), 3 * len);
    assert_eq!(log.apply_retention(NOW, -1, 2 * len as i64, end).expect("retention").deleted_segments, 1);
    // Zero bytes: everything, the active segment too once the high watermark is at the log end.
    let outcome = log.apply_retention(NOW, -1, 0, end - 1).expect("retention");
    assert_eq!(outcome, RetentionOutcome { deleted_segments: 1, log_start_offset: 8 });
    assert_eq!(ranges(&*log), vec![(8, 10)]);
    let outcome = log.apply_retention(NOW, -1, 0, end).expect("retention");
    assert_eq!(outcome, RetentionOutcome { deleted_segments: 1, log_start_offset: 10 });
    assert_eq!(ranges(&*log), vec![(10, 10)]);
}

fn retention_never_passes_the_high_watermark(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut log = open(&log_dir(&tmp), one_batch_per_segment());
    for _ in 0..4 {
        append(&mut *log, records_batch(Compression::None, 2, NOW - 10_000), NOW);
    }
    assert_eq!(log.apply_retention(NOW, 1000, -1, 0).expect("retention").deleted_segments, 0);
    assert_eq!(log.apply_retention(NOW, -1, 0, 1).expect("retention").deleted_segments, 0);
    // The high watermark inside the second segment: only the first one, which ends before it.
    let outcome = log.apply_retention(NOW, 1000, 0, 3).expect("retention");
    assert_eq!(outcome, RetentionOutcome { deleted_segments: 1, log_start_offset: 2 });
    let outcome = log.apply_retention(NOW, 1000, -1, 6).expect("retention");
    assert_eq!(outcome, RetentionOutcome { deleted_segments: 2, log_start_offset: 6 });
    assert_eq!(ranges(&*log), vec![(6, 8)]);
}

fn advance_log_start_makes_reads_below_it_out_of_range(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut log = open(&log_dir(&tmp), one_batch_per_segment());
    for i in 0..4 {
        append(&mut *log, timed_batch(Compression::None, &[NOW + 10 * i, NOW + 10 * i + 5]), NOW);
    }
    log.advance_log_start(3).expect("advance");
    assert_eq!(log.log_start_offset(), 3);
    // The segment wholly below the new start is gone; the one it falls inside stays.
    assert_eq!(ranges(&*log), vec![(2, 4), (4, 6), (6, 8)]);
    assert!(matches!(
        log.read(2, ALL, 8, true),
        Err(LogError::OffsetOutOfRange { offset: 2, log_start: 3, log_end: 8 })
    ));
    // Reading at the start returns the whole batch holding it, as Kafka does.
    assert_eq!(bases(&read_all(&*log, 3)), vec![2, 4, 6]);
    assert_eq!(log.offset_for_timestamp(0).expect("lookup"), at(NOW + 15, 3));

    log.advance_log_start(1).expect("a lower offset is a no-op");
    assert_eq!(log.log_start_offset(), 3);
    assert!(matches!(log.advance_log_start(9), Err(LogError::OffsetOutOfRange { offset: 9, .. })));
    // Retention keeps the advanced start even when it deletes nothing.
    assert_eq!(log.apply_retention(NOW, -1, -1, 8).expect("retention").log_start_offset, 3);

    // Up to the log end: everything but the active segment goes, and appends carry on.
    log.advance_log_start(8).expect("advance to the end");
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (8, 8));
    assert_eq!(ranges(&*log), vec![(6, 8)]);
    assert!(out_of_range_at(&*log, 7));
    assert!(read_all(&*log, 8).is_empty());
    assert_eq!(log.offset_for_timestamp(0).expect("lookup"), None);
    assert_eq!(append(&mut *log, records_batch(Compression::None, 1, NOW), NOW).base_offset, 8);
    assert_eq!(bases(&read_all(&*log, 8)), vec![8]);
}

// ---- compaction -----------------------------------------------------------------------------

fn compaction_keeps_the_latest_value_per_key_at_its_original_offset(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let len = batch_len(&kv("k1", "a", NOW));
    let mut log = open(&log_dir(&tmp), small_segments(3, len));
    let writes = [("k1", "a"), ("k2", "b"), ("k1", "c"), ("k2", "d"), ("k3", "e"), ("k4", "f"), ("k1", "g")];
    for (key, value) in writes {
        append(&mut *log, kv(key, value, NOW), NOW);
    }
    assert_eq!(ranges(&*log), vec![(0, 3), (3, 6), (6, 7)]);
    let outcome = log.compact(&eager(&*log, NOW)).expect("compact");
    assert_eq!(
        outcome,
        CleanOutcome {
            cleaned: true,
            first_dirty_offset: 0,
            first_uncleanable_offset: 6,
            records_removed: 2,
            tombstones_removed: 0
        }
    );
    // The active segment is not cleaned: k1 keeps "c" below it.
    assert_eq!(
        contents(&*log),
        vec![
            entry(2, "k1", Some("c")),
            entry(3, "k2", Some("d")),
            entry(4, "k3", Some("e")),
            entry(5, "k4", Some("f")),
            entry(6, "k1", Some("g")),
        ]
    );
    // Offsets stay: the log start and end do not move, a read in a gap starts at the next batch.
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 7));
    assert_eq!(bases(&read_all(&*log, 0)), vec![2, 3, 4, 5, 6]);
    assert_eq!(bases(&read_all(&*log, 1)), vec![2, 3, 4, 5, 6]);
    assert_eq!(ranges(&*log), vec![(0, 3), (3, 6), (6, 7)]);
    assert_eq!(log.offset_for_timestamp(0).expect("lookup"), at(NOW, 2));
    // Every rewritten batch has a valid CRC.
    for batch in read_all(&*log, 0) {
        Batch::parse(batch.as_bytes().clone()).expect("valid batch");
    }

    // Segments the pass empties go, but the first, where the log starts.
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut log = open(&log_dir(&tmp), one_batch_per_segment());
    for (key, value) in [("k1", "a"), ("k2", "b"), ("k1", "c"), ("k2", "d"), ("k3", "e")] {
        append(&mut *log, kv(key, value, NOW), NOW);
    }
    assert!(log.compact(&eager(&*log, NOW)).expect("compact").cleaned);
    assert_eq!(ranges(&*log), vec![(0, 0), (2, 3), (3, 4), (4, 5)]);
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(bases(&read_all(&*log, 0)), vec![2, 3, 4]);
}

fn compaction_keeps_the_last_offset_delta_of_a_batch(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut log = open(&log_dir(&tmp), one_batch_per_segment());
    let pairs = [("k1", Some("a")), ("k2", Some("b")), ("k3", Some("c"))];
    append(&mut *log, kv_batch(Compression::Gzip, &pairs, NOW), NOW); // 0..=2
    append(&mut *log, kv("k3", "x", NOW), NOW); // 3
    append(&mut *log, kv("k4", "y", NOW), NOW); // 4, active
    assert!(log.compact(&eager(&*log, NOW)).expect("compact").cleaned);
    let batches = read_all(&*log, 0);
    // The batch lost its last record but still covers offsets 0..=2, so the next batch follows it.
    assert_eq!((batches[0].base_offset(), batches[0].last_offset(), batches[0].record_count()), (0, 2, 2));
    assert_eq!(batches[0].compression(), Compression::Gzip);
    assert_eq!(record_offsets(&batches), vec![0, 1, 3, 4]);
    assert_eq!(ranges(&*log), vec![(0, 3), (3, 4), (4, 5)]);
}

fn compaction_stops_below_the_upper_bound(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut log = open(&log_dir(&tmp), one_batch_per_segment());
    append(&mut *log, kv("k1", "a", NOW), NOW); // 0
    append(&mut *log, kv("k1", "b", NOW), NOW); // 1
    append(&mut *log, kv_batch(Compression::None, &[("k1", Some("c")), ("k2", Some("d"))], NOW), NOW); // 2..=3
    append(&mut *log, kv("k2", "e", NOW), NOW); // 4, active
    // A high watermark inside a batch: the batch is not cleaned, nor anything after it.
    let cfg = CleanerConfig { upper_bound: 3, ..eager(&*log, NOW) };
    let outcome = log.compact(&cfg).expect("compact");
    assert_eq!((outcome.cleaned, outcome.first_uncleanable_offset, outcome.records_removed), (true, 2, 1));
    assert_eq!(
        contents(&*log),
        vec![
            entry(1, "k1", Some("b")),
            entry(2, "k1", Some("c")),
            entry(3, "k2", Some("d")),
            entry(4, "k2", Some("e"))
        ]
    );
    let outcome = log.compact(&eager(&*log, NOW)).expect("compact");
    assert_eq!((outcome.first_dirty_offset, outcome.first_uncleanable_offset, outcome.records_removed), (2, 4, 1));
    assert_eq!(contents(&*log), vec![entry(2, "k1", Some("c")), entry(3, "k2", Some("d")), entry(4, "k2", Some("e"))]);
}

fn the_dirty_ratio_gates_a_pass(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut log = open(&log_dir(&tmp), one_batch_per_segment());
    for key in ["k1", "k2", "k3", "k4", "k5"] {
        append(&mut *log, kv(key, "v", NOW), NOW);
    }
    // Everything below the active segment is dirty: ratio 1, which passes any ratio below 1
    // (Kafka cleans when the ratio is above min.cleanable.dirty.ratio, not equal to it).
    let at_ratio = |log: &dyn Log, ratio| CleanerConfig { min_cleanable_dirty_ratio: ratio, ..eager(log, NOW) };
    assert!(!log.compact(&at_ratio(&*log, 1.0)).expect("compact").cleaned);
    let outcome = log.compact(&at_ratio(&*log, 0.5)).expect("compact");
    assert_eq!((outcome.cleaned, outcome.records_removed, outcome.first_uncleanable_offset), (true, 0, 4));

    // One dirty batch of five: 0.2.
    append(&mut *log, kv("k1", "new", NOW), NOW);
    let before = contents(&*log);
    let outcome = log.compact(&at_ratio(&*log, 0.5)).expect("compact");
    assert_eq!(
        outcome,
        CleanOutcome {
            cleaned: false,
            first_dirty_offset: 4,
            first_uncleanable_offset: 5,
            records_removed: 0,
            tombstones_removed: 0
        }
    );
    assert_eq!(contents(&*log), before);
    // Two of six: 0.33.
    append(&mut *log, kv("k2", "new", NOW), NOW);
    assert!(!log.compact(&at_ratio(&*log, 0.34)).expect("compact").cleaned);
    let outcome = log.compact(&at_ratio(&*log, 0.33)).expect("compact");
    assert_eq!((outcome.cleaned, outcome.first_dirty_offset, outcome.records_removed), (true, 4, 1));
    assert_eq!(contents(&*log)[0], entry(1, "k2", Some("v")));
}

fn min_compaction_lag_keeps_recent_segments_dirty(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut log = open(&log_dir(&tmp), one_batch_per_segment());
    append(&mut *log, kv("k1", "a", NOW - 10_000), NOW);
    append(&mut *log, kv("k1", "b", NOW - 10_000), NOW);
    append(&mut *log, kv("k1", "c", NOW - 100), NOW);
    append(&mut *log, kv("k2", "d", NOW - 100), NOW); // active
    let lagged = |log: &dyn Log, now| CleanerConfig { min_compaction_lag_ms: 1000, ..eager(log, now) };
    let outcome = log.compact(&lagged(&*log, NOW)).expect("compact");
    assert_eq!((outcome.cleaned, outcome.first_uncleanable_offset, outcome.records_removed), (true, 2, 1));
    assert_eq!(contents(&*log), vec![entry(1, "k1", Some("b")), entry(2, "k1", Some("c")), entry(3, "k2", Some("d"))]);
    // Once the lag has passed, the segment is cleaned like any other.
    let outcome = log.compact(&lagged(&*log, NOW + 1000)).expect("compact");
    assert_eq!((outcome.cleaned, outcome.first_uncleanable_offset, outcome.records_removed), (true, 3, 1));
    assert_eq!(contents(&*log), vec![entry(2, "k1", Some("c")), entry(3, "k2", Some("d"))]);
}

fn max_compaction_lag_forces_a_pass(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut log = open(&log_dir(&tmp), one_batch_per_segment());
    append(&mut *log, kv("k1", "a", NOW - 10_000), NOW);
    append(&mut *log, kv("k1", "b", NOW - 5_000), NOW);
    append(&mut *log, kv("k2", "c", NOW), NOW); // active
    // A ratio no log reaches: only KIP-354's max.compaction.lag.ms can start a pass.
    let never = |log: &dyn Log, max_lag| CleanerConfig {
        min_cleanable_dirty_ratio: 1.0,
        max_compaction_lag_ms: max_lag,
        ..CleanerConfig::new(NOW, log.log_end_offset())
    };
    assert!(!log.compact(&never(&*log, i64::MAX)).expect("compact").cleaned);
    assert!(!log.compact(&never(&*log, 10_000)).expect("compact").cleaned);
    let outcome = log.compact(&never(&*log, 9_999)).expect("compact");
    assert_eq!((outcome.cleaned, outcome.records_removed), (true, 1));
    assert_eq!(contents(&*log), vec![entry(1, "k1", Some("b")), entry(2, "k2", Some("c"))]);
}

fn a_tombstone_stays_until_delete_retention_ms_after_its_first_cleaning(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut log = open(&log_dir(&tmp), one_batch_per_segment());
    append(&mut *log, kv("k1", "a", NOW - 50), NOW);
    append(&mut *log, kv_batch(Compression::None, &[("k1", None)], NOW - 40), NOW); // 1
    append(&mut *log, kv("k2", "b", NOW), NOW); // active
    let pass = |log: &dyn Log, now| CleanerConfig { delete_retention_ms: 1000, ..eager(log, now) };
    let outcome = log.compact(&pass(&*log, NOW)).expect("compact");
    assert_eq!((outcome.records_removed, outcome.tombstones_removed), (1, 0));
    assert_eq!(contents(&*log), vec![entry(1, "k1", None), entry(2, "k2", Some("b"))]);
    // KIP-534: the batch carries its delete horizon; the record keeps its own timestamp.
    let tombstone = read_all(&*log, 1).remove(0);
    assert_eq!(tombstone.delete_horizon_ms(), Some(NOW + 1000));
    assert_eq!(tombstone.records().expect("records")[0].timestamp, NOW - 40);
    assert_eq!(tombstone.max_timestamp(), NOW - 40);

    // A later pass before the horizon keeps it, and does not move the horizon.
    append(&mut *log, kv("k3", "c", NOW), NOW);
    let outcome = log.compact(&pass(&*log, NOW + 999)).expect("compact");
    assert_eq!((outcome.cleaned, outcome.tombstones_removed), (true, 0));
    assert_eq!(read_all(&*log, 1)[0].delete_horizon_ms(), Some(NOW + 1000));
    assert_eq!(contents(&*log)[0], entry(1, "k1", None));

    // The first pass at the horizon drops it.
    append(&mut *log, kv("k4", "d", NOW), NOW);
    let outcome = log.compact(&pass(&*log, NOW + 1000)).expect("compact");
    assert_eq!((outcome.cleaned, outcome.records_removed, outcome.tombstones_removed), (true, 1, 1));
    assert_eq!(contents(&*log), vec![entry(2, "k2", Some("b")), entry(3, "k3", Some("c")), entry(4, "k4", Some("d"))]);
}

fn a_producers_last_batch_is_kept_empty(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut log = open(&log_dir(&tmp), one_batch_per_segment());
    append(&mut *log, producer_batch(7, 0, &[("k1", Some("a"))], NOW), NOW); // 0
    append(&mut *log, producer_batch(7, 1, &[("k2", Some("b")), ("k1", Some("b"))], NOW), NOW); // 1..=2
    append(&mut *log, kv("k1", "c", NOW), NOW); // 3
    append(&mut *log, kv("k2", "d", NOW), NOW); // 4
    append(&mut *log, kv("k9", "z", NOW), NOW); // 5, active
    let outcome = log.compact(&eager(&*log, NOW)).expect("compact");
    assert_eq!(outcome.records_removed, 3);
    let batches = read_all(&*log, 0);
    // The producer's first batch went; its last stays as a header, so its sequence numbers and
    // epoch survive compaction.
    assert_eq!(bases(&batches), vec![1, 3, 4, 5]);
    let empty = &batches[0];
    assert_eq!((empty.base_offset(), empty.last_offset(), empty.record_count()), (1, 2, 0));
    assert_eq!((empty.producer_id(), empty.producer_epoch(), empty.base_sequence()), (7, 0, 1));
    assert_eq!(empty.len(), HEADER_LEN);
    assert_eq!(record_offsets(&batches), vec![3, 4, 5]);

    // Another pass keeps it while it is still the producer's last batch, and drops it after.
    append(&mut *log, kv("k8", "y", NOW), NOW);
    log.compact(&eager(&*log, NOW)).expect("compact");
    assert_eq!(bases(&read_all(&*log, 0)), vec![1, 3, 4, 5, 6]);
    append(&mut *log, producer_batch(7, 3, &[("k7", Some("x"))], NOW), NOW); // 7
    append(&mut *log, kv("k6", "w", NOW), NOW);
    log.compact(&eager(&*log, NOW)).expect("compact");
    assert_eq!(bases(&read_all(&*log, 0)), vec![3, 4, 5, 6, 7, 8]);
}

fn a_marker_goes_delete_retention_ms_after_its_transaction_has_no_record_left(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut log = open(&log_dir(&tmp), one_batch_per_segment());
    append(&mut *log, txn_batch(7, 0, &[("k1", Some("a"))], NOW), NOW); // 0
    append(&mut *log, commit_marker(7, NOW), NOW); // 1
    append(&mut *log, txn_batch(7, 1, &[("k2", Some("a"))], NOW), NOW); // 2
    append(&mut *log, commit_marker(7, NOW), NOW); // 3
    append(&mut *log, kv("k1", "b", NOW), NOW); // 4
    append(&mut *log, kv("k2", "b", NOW), NOW); // 5
    append(&mut *log, kv("k9", "z", NOW), NOW); // 6, active
    let pass = |log: &dyn Log, now| CleanerConfig { delete_retention_ms: 1000, ..eager(log, now) };
    // The first pass empties both transactions: the first one's batch goes, the second's stays
    // empty as the producer's last; each marker stays, its transaction was still in the log.
    log.compact(&pass(&*log, NOW)).expect("compact");
    assert_eq!(bases(&read_all(&*log, 0)), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(read_all(&*log, 1)[0].delete_horizon_ms(), None);
    // The next pass finds nothing of the first transaction: its marker gets a delete horizon.
    append(&mut *log, kv("k8", "y", NOW), NOW); // 7
    log.compact(&pass(&*log, NOW)).expect("compact");
    let first_marker = read_all(&*log, 1).remove(0);
    assert!(first_marker.is_control());
    assert_eq!(first_marker.delete_horizon_ms(), Some(NOW + 1000));
    assert_eq!(read_all(&*log, 3)[0].delete_horizon_ms(), None, "its transaction's batch is still there");
    // Before the horizon it stays; from it the marker goes, and only it.
    append(&mut *log, kv("k7", "x", NOW), NOW); // 8
    log.compact(&pass(&*log, NOW + 999)).expect("compact");
    assert_eq!(bases(&read_all(&*log, 0)), vec![1, 2, 3, 4, 5, 6, 7, 8]);
    append(&mut *log, kv("k6", "w", NOW), NOW); // 9
    log.compact(&pass(&*log, NOW + 1000)).expect("compact");
    assert_eq!(bases(&read_all(&*log, 0)), vec![2, 3, 4, 5, 6, 7, 8, 9]);
}

fn aborted(pid: i64, first: i64, last: i64) -> AbortedTxn {
    AbortedTxn { producer_id: pid, first_offset: first, last_offset: last, last_stable_offset: last + 1 }
}

fn aborted_transactions_are_indexed_with_their_markers_segment(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut log = open(&log_dir(&tmp), one_batch_per_segment());
    for i in 0..3 {
        append(&mut *log, kv(&format!("k{i}"), "v", NOW), NOW);
    }
    log.append_aborted(aborted(7, 1, 2)).expect("index"); // the marker is the batch at 2
    append(&mut *log, kv("k3", "v", NOW), NOW);
    append(&mut *log, kv("k4", "v", NOW), NOW);
    log.append_aborted(aborted(8, 3, 4)).expect("index");
    assert!(log.append_aborted(aborted(9, 0, 1)).is_err(), "markers come in offset order");
    let all = log.aborted_txns(i64::MIN, i64::MAX).expect("read");
    assert_eq!(all, vec![aborted(7, 1, 2), aborted(8, 3, 4)]);
    // Kafka's `collectAbortedTxns`: those that end at or after the fetch offset and start
    // before the end of what was read.
    assert_eq!(log.aborted_txns(3, 5).expect("read"), vec![aborted(8, 3, 4)]);
    assert_eq!(log.aborted_txns(0, 2).expect("read"), vec![aborted(7, 1, 2)]);
    assert!(log.aborted_txns(5, 9).expect("read").is_empty());
    // Truncation takes the transactions decided at or after its offset with it.
    log.truncate_to(4).expect("truncate");
    assert_eq!(log.aborted_txns(0, 9).expect("read"), vec![aborted(7, 1, 2)]);
    // Retention takes them with their segments.
    append(&mut *log, kv("k5", "v", NOW), NOW);
    log.advance_log_start(3).expect("advance");
    assert!(log.aborted_txns(0, 9).expect("read").is_empty());
    // Recovery puts each transaction in its marker's segment.
    assert_eq!(log.rebuild_aborted(&[aborted(6, 3, 4)]).expect("rebuild"), 1);
    assert_eq!(log.rebuild_aborted(&[aborted(6, 3, 4)]).expect("rebuild"), 0, "nothing left to fix");
    assert_eq!(log.aborted_txns(0, 9).expect("read"), vec![aborted(6, 3, 4)]);
}

fn a_lost_transaction_index_is_rebuilt(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = log_dir(&tmp);
    let mut log = open(&dir, one_batch_per_segment());
    for i in 0..4 {
        append(&mut *log, kv(&format!("k{i}"), "v", NOW), NOW);
    }
    log.append_aborted(aborted(7, 1, 3)).expect("index");
    log.flush().expect("flush");
    drop(log);
    let log = open(&dir, one_batch_per_segment());
    assert_eq!(log.aborted_txns(0, 9).expect("read"), vec![aborted(7, 1, 3)], "a reopen keeps the index");
    drop(log);
    let index = dir.join("00000000000000000003.txnindex");
    let bytes = std::fs::read(&index).expect("the marker's segment has the entry");
    assert_eq!(bytes.len(), 34);
    std::fs::write(&index, &bytes[..30]).expect("tear it");
    let mut log = open(&dir, one_batch_per_segment());
    assert!(log.aborted_txns(0, 9).expect("read").is_empty(), "a torn index is not trusted");
    assert_eq!(log.rebuild_aborted(&[aborted(7, 1, 3)]).expect("rebuild"), 1);
    drop(log);
    let log = open(&dir, one_batch_per_segment());
    assert_eq!(log.aborted_txns(0, 9).expect("read"), vec![aborted(7, 1, 3)]);
}

fn a_second_pass_with_nothing_dirty_changes_nothing(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut log = open(&log_dir(&tmp), one_batch_per_segment());
    for (key, value) in [("k1", "a"), ("k2", "b"), ("k1", "c"), ("k3", "d")] {
        append(&mut *log, kv(key, value, NOW), NOW);
    }
    assert!(log.compact(&eager(&*log, NOW)).expect("compact").cleaned);
    let before = (log.segments(), read_all(&*log, 0));
    let outcome = log.compact(&eager(&*log, NOW + 1_000_000)).expect("compact");
    assert_eq!(
        outcome,
        CleanOutcome {
            cleaned: false,
            first_dirty_offset: 3,
            first_uncleanable_offset: 3,
            records_removed: 0,
            tombstones_removed: 0
        }
    );
    assert_eq!((log.segments(), read_all(&*log, 0)), before);
}

// ---- disk only -----------------------------------------------------------------------------

fn segment_file(dir: &Path, base_offset: i64, extension: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{extension}"))
}

/// A log with several segments, mixed compression and a dense index.
fn fill(log: &mut dyn Log, batches: i64) {
    for i in 0..batches {
        let compression = if i % 3 == 0 { Compression::Gzip } else { Compression::None };
        append(log, timed_batch(compression, &[NOW + 10 * i, NOW + 10 * i + 5]), NOW + 10 * i);
    }
}

fn fill_config() -> LogConfig {
    let len = batch_len(&timed_batch(Compression::None, &[NOW, NOW + 5]));
    small_segments(4, len)
}

/// What a reader can observe of a log.
fn observe(log: &dyn Log) -> (Vec<SegmentInfo>, Vec<Batch>, Vec<Option<TimestampOffset>>, Option<TimestampOffset>) {
    let lookups = (0..50).map(|i| log.offset_for_timestamp(NOW + 7 * i).expect("lookup")).collect();
    let mut reads = Vec::new();
    for offset in log.log_start_offset()..log.log_end_offset() {
        reads.extend(log.read(offset, 1, log.log_end_offset(), true).expect("read"));
    }
    (log.segments(), reads, lookups, log.max_timestamp().expect("max"))
}

fn reopen_keeps_everything(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = log_dir(&tmp);
    let mut log = open(&dir, fill_config());
    fill(&mut *log, 15);
    let before = observe(&*log);
    assert!(before.0.len() >= 3);
    let end = log.log_end_offset();
    drop(log);

    let mut log = open(&dir, fill_config());
    assert_eq!(observe(&*log), before);
    assert_eq!(append(&mut *log, records_batch(Compression::None, 1, NOW + 1000), NOW).base_offset, end);
}

fn recover_after_torn_write(open: &Open) {
    /// Damages the file's bytes, given where the last batch starts.
    type Damage = fn(&mut Vec<u8>, usize);
    let cases: [(&str, Damage, bool); 5] = [
        ("a few bytes chopped off", |log, _| log.truncate(log.len() - 5), false),
        ("half a header left", |log, last| log.truncate(last + HEADER_LEN / 2), false),
        ("a flipped bit in the last batch", |log, _| *log.last_mut().expect("bytes") ^= 1, false),
        ("garbage after the last batch", |log, _| log.extend_from_slice(&[0xAB; 100]), true),
        ("zeroes after the last batch", |log, _| log.extend_from_slice(&[0; 4096]), true),
    ];
    for (damage, apply, last_batch_survives) in cases {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = log_dir(&tmp);
        let mut log = open(&dir, LogConfig::default());
        append(&mut *log, records_batch(Compression::None, 1, NOW), NOW);
        append(&mut *log, records_batch(Compression::Gzip, 2, NOW), NOW);
        let kept_len: u64 = log.segments()[0].size_bytes;
        append(&mut *log, sized_batch(Compression::None, 3, NOW, 200), NOW);
        let full_len = log.segments()[0].size_bytes;
        drop(log);

        let path = segment_file(&dir, 0, "log");
        let mut bytes = std::fs::read(&path).expect("read log");
        apply(&mut bytes, kept_len as usize);
        std::fs::write(&path, bytes).expect("write log");

        let mut log = open(&dir, LogConfig::default());
        let (end, size, batches) = match last_batch_survives {
            true => (6, full_len, vec![0, 1, 3]),
            false => (3, kept_len, vec![0, 1]),
        };
        assert_eq!(log.log_end_offset(), end, "{damage}");
        assert_eq!(bases(&read_all(&*log, 0)), batches, "{damage}");
        assert_eq!(std::fs::metadata(&path).expect("stat").len(), size, "{damage}");
        assert_eq!(append(&mut *log, records_batch(Compression::None, 1, NOW), NOW).base_offset, end, "{damage}");
        assert_eq!(log.log_end_offset(), end + 1, "{damage}");
    }
}

fn rebuild_a_lost_index(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = log_dir(&tmp);
    let mut log = open(&dir, fill_config());
    fill(&mut *log, 15);
    let before = observe(&*log);
    let bases: Vec<i64> = before.0.iter().map(|s| s.base_offset).collect();
    assert!(bases.len() >= 3);
    let offset_indexes: Vec<Vec<u8>> =
        bases.iter().map(|&b| std::fs::read(segment_file(&dir, b, "index")).expect("index")).collect();
    drop(log);

    // Lost files, a torn entry, and an entry past the end of the log.
    for &base in &bases {
        std::fs::remove_file(segment_file(&dir, base, "timeindex")).expect("rm timeindex");
    }
    std::fs::remove_file(segment_file(&dir, bases[0], "index")).expect("rm index");
    let torn = &offset_indexes[1][..offset_indexes[1].len() - 3];
    std::fs::write(segment_file(&dir, bases[1], "index"), torn).expect("tear index");
    let past_the_end = [0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0x00];
    std::fs::write(segment_file(&dir, bases[2], "index"), past_the_end).expect("bad index");

    let log = open(&dir, fill_config());
    assert_eq!(observe(&*log), before);
    for (i, &base) in bases.iter().enumerate() {
        assert_eq!(std::fs::read(segment_file(&dir, base, "index")).expect("index"), offset_indexes[i]);
        assert!(segment_file(&dir, base, "timeindex").exists());
    }
}

fn index_is_sparse(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = log_dir(&tmp);
    let interval = 1000;
    let config = LogConfig { index_interval_bytes: interval, ..LogConfig::default() };
    let mut log = open(&dir, config);
    let len = batch_len(&sized_batch(Compression::None, 1, NOW, 60));
    for i in 0..200 {
        append(&mut *log, sized_batch(Compression::None, 1, NOW + i, 60), NOW);
    }
    let segment = log.segments()[0];
    let size = segment.size_bytes;
    // An entry once more than `interval` bytes were written since the last one: each entry
    // covers between interval + 1 and interval + len bytes.
    let entries = segment.index_entries as u64;
    assert!(entries >= size / (interval + len) - 1, "{entries} entries for {size} bytes");
    assert!(entries <= size / interval, "{entries} entries for {size} bytes");
    let index_len = std::fs::metadata(segment_file(&dir, 0, "index")).expect("index").len();
    let time_index_len = std::fs::metadata(segment_file(&dir, 0, "timeindex")).expect("timeindex").len();
    assert_eq!(index_len, entries * 8);
    // Timestamps grow with every batch, so the time index has an entry wherever the offset index does.
    assert_eq!(time_index_len, entries * 12);
}

fn delete_removes_the_directory(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = log_dir(&tmp);
    let mut log = open(&dir, fill_config());
    fill(&mut *log, 10);
    log.flush().expect("flush");
    log.delete().expect("delete");
    assert!(!dir.exists());
}

fn advance_log_start_survives_reopen(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = log_dir(&tmp);
    let mut log = open(&dir, one_batch_per_segment());
    for _ in 0..4 {
        append(&mut *log, records_batch(Compression::None, 2, NOW), NOW);
    }
    log.advance_log_start(3).expect("advance");
    drop(log);
    let mut log = open(&dir, one_batch_per_segment());
    assert_eq!(log.log_start_offset(), 3);
    assert!(out_of_range_at(&*log, 2));
    assert_eq!(bases(&read_all(&*log, 3)), vec![2, 4, 6]);

    // Retention's start too, and a truncation below the start brings it down with the log.
    // (The high watermark inside the last segment keeps it.)
    log.apply_retention(NOW + 1, 0, -1, 7).expect("retention");
    drop(log);
    let mut log = open(&dir, one_batch_per_segment());
    assert_eq!((log.log_start_offset(), ranges(&*log)), (6, vec![(6, 8)]));
    log.truncate_to(2).expect("truncate");
    drop(log);
    let log = open(&dir, one_batch_per_segment());
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (2, 2));

    // Retention that took every record, the active segment's too: the empty segment rolled in
    // its place keeps the log start and the numbering across a reopen.
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = log_dir(&tmp);
    let mut log = open(&dir, one_batch_per_segment());
    for _ in 0..3 {
        append(&mut *log, records_batch(Compression::None, 2, NOW), NOW);
    }
    log.apply_retention(NOW + 1, 0, -1, 6).expect("retention");
    drop(log);
    let mut log = open(&dir, one_batch_per_segment());
    assert_eq!((log.log_start_offset(), log.log_end_offset(), ranges(&*log)), (6, 6, vec![(6, 6)]));
    assert_eq!(append(&mut *log, records_batch(Compression::None, 1, NOW), NOW).base_offset, 6);
}

fn reopen_after_compaction_reads_the_same(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = log_dir(&tmp);
    let mut log = open(&dir, one_batch_per_segment());
    for i in 0..12 {
        let key = format!("k{}", i % 4);
        let value = (i % 5 != 0).then(|| format!("v{i}"));
        let compression = if i % 3 == 0 { Compression::Gzip } else { Compression::None };
        append(&mut *log, kv_batch(compression, &[(&key, value.as_deref())], NOW + i), NOW);
    }
    let outcome = log.compact(&eager(&*log, NOW + 100)).expect("compact");
    assert!(outcome.cleaned && outcome.records_removed > 0);
    let before = observe(&*log);
    let contents_before = contents(&*log);
    drop(log);

    let mut log = open(&dir, one_batch_per_segment());
    assert_eq!(observe(&*log), before);
    assert_eq!(contents(&*log), contents_before);
    // The cleaner checkpoint survived: nothing is dirty.
    assert!(!log.compact(&eager(&*log, NOW + 100)).expect("compact").cleaned);
    assert!(
        !dir.read_dir()
            .expect("dir")
            .any(|e| { e.expect("entry").file_name().to_string_lossy().ends_with(".cleaned") })
    );
}

fn a_leftover_cleaned_file_is_ignored_and_removed(open: &Open) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = log_dir(&tmp);
    let mut log = open(&dir, one_batch_per_segment());
    for (key, value) in [("k1", "a"), ("k2", "b"), ("k1", "c"), ("k3", "d")] {
        append(&mut *log, kv(key, value, NOW), NOW);
    }
    let before = observe(&*log);
    drop(log);
    // A crash after the cleaner wrote a segment's replacement, before the rename: a valid but
    // different batch, and a torn one; and a checkpoint caught before its rename.
    let cleaned = segment_file(&dir, 0, "log.cleaned");
    let mut other = kv("k1", "other", NOW);
    other.set_base_offset(0);
    std::fs::write(&cleaned, other.freeze().as_bytes()).expect("write");
    std::fs::write(segment_file(&dir, 1, "log.cleaned"), [0xAB; 30]).expect("write");
    std::fs::write(dir.join("cleaner-offset-checkpoint.tmp"), "0\n3\n").expect("write");

    let mut log = open(&dir, one_batch_per_segment());
    assert_eq!(observe(&*log), before);
    assert!(!cleaned.exists() && !segment_file(&dir, 1, "log.cleaned").exists());
    assert!(!dir.join("cleaner-offset-checkpoint.tmp").exists());
    // The unfinished checkpoint did not count: the whole log is still dirty.
    let outcome = log.compact(&eager(&*log, NOW)).expect("compact");
    assert_eq!((outcome.first_dirty_offset, outcome.records_removed), (0, 1));
}
