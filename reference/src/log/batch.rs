//! One v2 record batch as bytes: Kafka's `DefaultRecordBatch`, described under "Record Batch" in
//! Kafka's protocol documentation. The broker stores and serves the client's bytes unchanged
//! except for the fields Kafka itself rewrites (base offset, partition leader epoch, and the
//! LogAppendTime fields), so a batch is kept as [`Bytes`] and only the header is ever parsed.

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions};

/// Bytes in a v2 batch header, up to and including `recordsCount`.
pub const HEADER_LEN: usize = 61;

/// `baseOffset` and `batchLength`: the bytes that `batchLength` does not count.
pub(super) const LOG_OVERHEAD: usize = 12;
const MIN_BATCH_LENGTH: i32 = (HEADER_LEN - LOG_OVERHEAD) as i32;
pub(super) const MAGIC_V2: i8 = 2;

/// Field positions in the header; every field is big-endian.
pub(super) mod at {
    pub const BASE_OFFSET: usize = 0;
    pub const BATCH_LENGTH: usize = 8;
    pub const PARTITION_LEADER_EPOCH: usize = 12;
    pub const MAGIC: usize = 16;
    pub const CRC: usize = 17;
    /// The CRC covers everything from the attributes to the end of the batch, which is why the
    /// base offset and the leader epoch can be rewritten without recomputing it.
    pub const ATTRIBUTES: usize = 21;
    pub const LAST_OFFSET_DELTA: usize = 23;
    pub const BASE_TIMESTAMP: usize = 27;
    pub const MAX_TIMESTAMP: usize = 35;
    pub const PRODUCER_ID: usize = 43;
    pub const PRODUCER_EPOCH: usize = 51;
    pub const BASE_SEQUENCE: usize = 53;
    pub const RECORDS_COUNT: usize = 57;
}

pub(super) const COMPRESSION_MASK: i16 = 0x07;
const LOG_APPEND_TIME_FLAG: i16 = 1 << 3;
const TRANSACTIONAL_FLAG: i16 = 1 << 4;
const CONTROL_FLAG: i16 = 1 << 5;
/// KIP-534: the base timestamp is the delete horizon, set by the cleaner.
pub(super) const DELETE_HORIZON_FLAG: i16 = 1 << 6;

#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum BatchError {
    #[error("truncated record batch: the bytes end inside a batch")]
    Truncated,
    #[error("invalid record batch length {0}: a v2 batch has at least {MIN_BATCH_LENGTH} bytes after the length field")]
    InvalidLength(i32),
    #[error("unsupported record batch magic {0}: only v2 batches are accepted")]
    UnsupportedMagic(i8),
    #[error("record batch CRC-32C does not match its contents")]
    CorruptCrc,
    #[error("unknown compression codec {0} in record batch attributes")]
    UnknownCompression(i16),
    #[error("negative records count {0} in record batch")]
    NegativeRecordCount(i32),
    #[error("negative last offset delta {0} in record batch")]
    NegativeLastOffsetDelta(i32),
    #[error("{0} bytes follow the record batch")]
    TrailingBytes(usize),
    #[error("cannot decode the records of a batch: {0}")]
    Decode(String),
    #[error("cannot encode records into a batch: {0}")]
    Encode(String),
}

fn be<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&buf[at..at + N]);
    out
}

fn compression_of(attributes: i16) -> Option<Compression> {
    match attributes & COMPRESSION_MASK {
        0 => Some(Compression::None),
        1 => Some(Compression::Gzip),
        2 => Some(Compression::Snappy),
        3 => Some(Compression::Lz4),
        4 => Some(Compression::Zstd),
        _ => None,
    }
}

/// Header accessors shared by [`Batch`], [`BatchMut`] and [`BatchHeader`]; each type guarantees
/// at least [`HEADER_LEN`] validated bytes behind `header_bytes`.
macro_rules! header_accessors {
    () => {
        pub fn base_offset(&self) -> i64 {
            i64::from_be_bytes(be(self.header_bytes(), at::BASE_OFFSET))
        }
        /// The `batchLength` field: bytes after it.
        pub fn batch_length(&self) -> i32 {
            i32::from_be_bytes(be(self.header_bytes(), at::BATCH_LENGTH))
        }
        /// Size of the whole batch in bytes.
        pub fn len(&self) -> usize {
            LOG_OVERHEAD + self.batch_length() as usize
        }
        /// Always false: a batch has at least a header.
        pub fn is_empty(&self) -> bool {
            false
        }
        pub fn partition_leader_epoch(&self) -> i32 {
            i32::from_be_bytes(be(self.header_bytes(), at::PARTITION_LEADER_EPOCH))
        }
        pub fn crc(&self) -> u32 {
            u32::from_be_bytes(be(self.header_bytes(), at::CRC))
        }
        pub fn attributes(&self) -> i16 {
            i16::from_be_bytes(be(self.header_bytes(), at::ATTRIBUTES))
        }
        pub fn compression(&self) -> Compression {
            // Codes outside 0..=4 were refused when the bytes were validated.
            compression_of(self.attributes()).unwrap_or(Compression::None)
        }
        pub fn timestamp_type_is_log_append(&self) -> bool {
            self.attributes() & LOG_APPEND_TIME_FLAG != 0
        }
        pub fn is_transactional(&self) -> bool {
            self.attributes() & TRANSACTIONAL_FLAG != 0
        }
        pub fn is_control(&self) -> bool {
            self.attributes() & CONTROL_FLAG != 0
        }
        /// KIP-534: when the cleaner first retained a tombstone in this batch it set the
        /// delete-horizon flag and stored the horizon as the base timestamp.
        pub fn delete_horizon_ms(&self) -> Option<i64> {
            (self.attributes() & DELETE_HORIZON_FLAG != 0).then(|| self.base_timestamp())
        }
        pub fn last_offset_delta(&self) -> i32 {
            i32::from_be_bytes(be(self.header_bytes(), at::LAST_OFFSET_DELTA))
        }
        pub fn last_offset(&self) -> i64 {
            self.base_offset() + i64::from(self.last_offset_delta())
        }
        pub fn next_offset(&self) -> i64 {
            self.last_offset() + 1
        }
        pub fn base_timestamp(&self) -> i64 {
            i64::from_be_bytes(be(self.header_bytes(), at::BASE_TIMESTAMP))
        }
        pub fn max_timestamp(&self) -> i64 {
            i64::from_be_bytes(be(self.header_bytes(), at::MAX_TIMESTAMP))
        }
        pub fn producer_id(&self) -> i64 {
            i64::from_be_bytes(be(self.header_bytes(), at::PRODUCER_ID))
        }
        pub fn producer_epoch(&self) -> i16 {
            i16::from_be_bytes(be(self.header_bytes(), at::PRODUCER_EPOCH))
        }
        pub fn base_sequence(&self) -> i32 {
            i32::from_be_bytes(be(self.header_bytes(), at::BASE_SEQUENCE))
        }
        pub fn record_count(&self) -> i32 {
            i32::from_be_bytes(be(self.header_bytes(), at::RECORDS_COUNT))
        }
    };
}

/// One whole, validated v2 record batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch(Bytes);

impl Batch {
    /// Validates `bytes` as exactly one batch.
    pub fn parse(bytes: Bytes) -> Result<Batch, BatchError> {
        let len = match check(&bytes) {
            Check::Valid(len) => len,
            Check::Incomplete { .. } => return Err(BatchError::Truncated),
            Check::Invalid(e) => return Err(e),
        };
        if len != bytes.len() {
            return Err(BatchError::TrailingBytes(bytes.len() - len));
        }
        Ok(Batch(bytes))
    }

    fn header_bytes(&self) -> &[u8] {
        &self.0
    }

    header_accessors!();

    pub fn header(&self) -> BatchHeader {
        BatchHeader(be(&self.0, 0))
    }

    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// A mutable copy (no copy when these bytes are not shared).
    pub fn into_mut(self) -> BatchMut {
        BatchMut(self.0.try_into_mut().unwrap_or_else(|shared| BytesMut::from(&shared[..])))
    }

    /// Decodes (and decompresses) the records. Under LogAppendTime every record's timestamp is
    /// the batch's max timestamp, as Kafka's `DefaultRecord` reads it.
    pub fn records(&self) -> Result<Vec<Record>, BatchError> {
        let mut buf = self.0.clone();
        let set = RecordBatchDecoder::decode(&mut buf).map_err(|e| BatchError::Decode(e.to_string()))?;
        let mut records = set.records;
        if self.timestamp_type_is_log_append() {
            let ts = self.max_timestamp();
            for record in &mut records {
                record.timestamp = ts;
            }
        }
        Ok(records)
    }
}

impl From<Batch> for Bytes {
    fn from(batch: Batch) -> Bytes {
        batch.0
    }
}

/// A batch whose broker-owned header fields can be rewritten before it is appended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchMut(BytesMut);

impl BatchMut {
    fn header_bytes(&self) -> &[u8] {
        &self.0
    }

    header_accessors!();

    /// Outside the CRC: no recomputation.
    pub fn set_base_offset(&mut self, offset: i64) {
        self.0[at::BASE_OFFSET..at::BASE_OFFSET + 8].copy_from_slice(&offset.to_be_bytes());
    }

    /// Outside the CRC: no recomputation.
    pub fn set_partition_leader_epoch(&mut self, epoch: i32) {
        self.0[at::PARTITION_LEADER_EPOCH..at::PARTITION_LEADER_EPOCH + 4].copy_from_slice(&epoch.to_be_bytes());
    }

    /// `message.timestamp.type=LogAppendTime`: flags the batch and stores `ts` as its max
    /// timestamp, recomputing the CRC as Kafka's `LogValidator` does through
    /// `DefaultRecordBatch.setMaxTimestamp`. Record timestamp deltas are left alone; readers use
    /// the max timestamp for every record.
    pub fn set_log_append_time(&mut self, ts: i64) {
        let attributes = self.attributes() | LOG_APPEND_TIME_FLAG;
        self.0[at::ATTRIBUTES..at::ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
        self.0[at::MAX_TIMESTAMP..at::MAX_TIMESTAMP + 8].copy_from_slice(&ts.to_be_bytes());
        self.update_crc();
    }

    fn update_crc(&mut self) {
        let crc = crc32c::crc32c(&self.0[at::ATTRIBUTES..]);
        self.0[at::CRC..at::CRC + 4].copy_from_slice(&crc.to_be_bytes());
    }

    pub fn freeze(self) -> Batch {
        Batch(self.0.freeze())
    }
}

impl From<Batch> for BatchMut {
    fn from(batch: Batch) -> BatchMut {
        batch.into_mut()
    }
}

/// The 61 header bytes of a batch read from a file, checked for shape but not CRC (the rest of the
/// batch was not read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader([u8; HEADER_LEN]);

impl BatchHeader {
    /// Parses a header from the first [`HEADER_LEN`] bytes of `buf`, with every check of
    /// [`split_batches`] except the CRC and the batch's length against `buf`.
    pub fn parse(buf: &[u8]) -> Result<BatchHeader, BatchError> {
        if buf.len() < HEADER_LEN {
            return Err(BatchError::Truncated);
        }
        check_header(buf)?;
        Ok(BatchHeader(be(buf, 0)))
    }

    fn header_bytes(&self) -> &[u8] {
        &self.0
    }

    header_accessors!();
}

enum Check {
    /// One valid batch of this many bytes starts the buffer.
    Valid(usize),
    /// The buffer ends inside a batch that needs this many bytes.
    Incomplete {
        needed: usize,
    },
    Invalid(BatchError),
}

/// Validates the batch at the start of `buf`. Magic is checked before the length so that a legacy
/// (v0/v1) message set, whose entries are shorter than a v2 header, is named for what it is.
fn check(buf: &[u8]) -> Check {
    if buf.len() <= at::MAGIC {
        return Check::Incomplete { needed: HEADER_LEN };
    }
    let magic = buf[at::MAGIC] as i8;
    if magic != MAGIC_V2 {
        return Check::Invalid(BatchError::UnsupportedMagic(magic));
    }
    let length = i32::from_be_bytes(be(buf, at::BATCH_LENGTH));
    if length < MIN_BATCH_LENGTH {
        return Check::Invalid(BatchError::InvalidLength(length));
    }
    let len = LOG_OVERHEAD + length as usize;
    if buf.len() < len {
        return Check::Incomplete { needed: len };
    }
    if let Err(e) = check_header(buf) {
        return Check::Invalid(e);
    }
    let stored = u32::from_be_bytes(be(buf, at::CRC));
    if crc32c::crc32c(&buf[at::ATTRIBUTES..len]) != stored {
        return Check::Invalid(BatchError::CorruptCrc);
    }
    Check::Valid(len)
}

/// The header checks that need no more than [`HEADER_LEN`] bytes.
fn check_header(buf: &[u8]) -> Result<(), BatchError> {
    let magic = buf[at::MAGIC] as i8;
    if magic != MAGIC_V2 {
        return Err(BatchError::UnsupportedMagic(magic));
    }
    let length = i32::from_be_bytes(be(buf, at::BATCH_LENGTH));
    if length < MIN_BATCH_LENGTH {
        return Err(BatchError::InvalidLength(length));
    }
    let attributes = i16::from_be_bytes(be(buf, at::ATTRIBUTES));
    if compression_of(attributes).is_none() {
        return Err(BatchError::UnknownCompression(attributes & COMPRESSION_MASK));
    }
    let count = i32::from_be_bytes(be(buf, at::RECORDS_COUNT));
    if count < 0 {
        return Err(BatchError::NegativeRecordCount(count));
    }
    let delta = i32::from_be_bytes(be(buf, at::LAST_OFFSET_DELTA));
    if delta < 0 {
        return Err(BatchError::NegativeLastOffsetDelta(delta));
    }
    Ok(())
}

/// Splits a concatenation of batches (a Produce request's `records`, a slice of a log file)
/// into validated batches without copying. A buffer that ends inside a batch is
/// [`BatchError::Truncated`].
pub fn split_batches(buf: Bytes) -> Result<Vec<Batch>, BatchError> {
    let mut batches = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        match check(&buf[pos..]) {
            Check::Valid(len) => {
                batches.push(Batch(buf.slice(pos..pos + len)));
                pos += len;
            }
            Check::Incomplete { .. } => return Err(BatchError::Truncated),
            Check::Invalid(e) => return Err(e),
        }
    }
    Ok(batches)
}

/// Why [`split_valid_prefix`] stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrefixEnd {
    /// The buffer ends exactly after the last valid batch.
    Complete,
    /// The buffer ends inside a batch that would need `needed` bytes from `valid_len`: a torn
    /// write at the end of a file, or simply a read window that was too small.
    Incomplete { needed: usize },
    /// The bytes at `valid_len` are not a valid batch.
    Invalid(BatchError),
}

/// The longest run of valid batches at the start of a buffer: what recovery keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidPrefix {
    /// Each valid batch's position in the buffer, with its header.
    pub batches: Vec<(usize, BatchHeader)>,
    pub valid_len: usize,
    pub end: PrefixEnd,
}

pub fn split_valid_prefix(buf: &[u8]) -> ValidPrefix {
    let mut batches = Vec::new();
    let mut pos = 0;
    let end = loop {
        if pos == buf.len() {
            break PrefixEnd::Complete;
        }
        match check(&buf[pos..]) {
            Check::Valid(len) => {
                batches.push((pos, BatchHeader(be(buf, pos))));
                pos += len;
            }
            Check::Incomplete { needed } => break PrefixEnd::Incomplete { needed },
            Check::Invalid(e) => break PrefixEnd::Invalid(e),
        }
    };
    ValidPrefix { batches, valid_len: pos, end }
}

/// Re-encodes `records` as one batch with `batch`'s compression, base offset, leader epoch and
/// timestamp type. Only deliberate defects rewrite records, so this favours simplicity over speed.
pub fn rebuild(batch: &Batch, records: Vec<Record>) -> Result<Batch, BatchError> {
    rebuild_as(batch, records, batch.compression(), None)
}

/// Re-encodes `records` as one batch in `codec` at `level` (KIP-390; `None`: the codec's
/// default), keeping everything else of `batch`: base offset, leader epoch, producer id, epoch
/// and base sequence, the transactional flag, each record's timestamp, key, value and headers,
/// and the timestamp type. This is Kafka's `LogValidator.buildRecordsAndAssignOffsets`, used when
/// a topic's `compression.type` differs from the producer's codec.
pub fn rebuild_as(
    batch: &Batch,
    records: Vec<Record>,
    codec: Compression,
    level: Option<i32>,
) -> Result<Batch, BatchError> {
    if records.is_empty() {
        return Err(BatchError::Encode("a batch needs at least one record".into()));
    }
    let options = RecordEncodeOptions { version: MAGIC_V2, compression: codec };
    let mut buf = BytesMut::new();
    let compress = |plain: &mut BytesMut, out: &mut BytesMut, codec: Compression| compress(plain, out, codec, level);
    RecordBatchEncoder::encode_with_custom_compression(&mut buf, records.iter(), &options, Some(compress))
        .map_err(|e| BatchError::Encode(e.to_string()))?;
    let mut encoded = split_batches(buf.freeze())?;
    if encoded.len() != 1 {
        return Err(BatchError::Encode(format!(
            "the records do not share producer and transaction fields: they encode as {} batches",
            encoded.len()
        )));
    }
    let mut rebuilt = encoded.remove(0).into_mut();
    rebuilt.set_base_offset(batch.base_offset());
    rebuilt.set_partition_leader_epoch(batch.partition_leader_epoch());
    if batch.timestamp_type_is_log_append() {
        rebuilt.set_log_append_time(batch.max_timestamp());
    }
    Ok(rebuilt.freeze())
}

/// Compresses a batch's encoded records into `out` as Kafka's codecs frame them, at `level`
/// where the codec has one (KIP-390's `compression.{gzip,lz4,zstd}.level`; defaults 6, 9 and 3
/// as Kafka's `GzipCompression`, `Lz4Compression` and `ZstdCompression`).
fn compress(plain: &mut BytesMut, out: &mut BytesMut, codec: Compression, level: Option<i32>) -> anyhow::Result<()> {
    use bytes::BufMut;
    use kafka_protocol::compression::Compressor;
    use std::io::Write;
    let copy = |buf: &mut BytesMut| {
        buf.extend_from_slice(plain);
        Ok(())
    };
    match codec {
        Compression::None => out.extend_from_slice(plain),
        // gzip's -1 is `Deflater.DEFAULT_COMPRESSION`, zlib's 6.
        Compression::Gzip => {
            let level = level.filter(|l| (1..=9).contains(l)).unwrap_or(6) as u32;
            let mut e = flate2::write::GzEncoder::new(out.writer(), flate2::Compression::new(level));
            e.write_all(plain)?;
            e.finish()?;
        }
        Compression::Snappy => kafka_protocol::compression::Snappy::compress(out, copy)?,
        // Kafka's lz4 frame: independent blocks (`KafkaLZ4BlockOutputStream`).
        Compression::Lz4 => {
            let level = level.unwrap_or(9).max(1) as u32;
            let mut e =
                lz4::EncoderBuilder::new().level(level).block_mode(lz4::BlockMode::Independent).build(out.writer())?;
            e.write_all(plain)?;
            let (_, done) = e.finish();
            done?;
        }
        Compression::Zstd => {
            let level = level.unwrap_or(3);
            let compressed = zstd::bulk::compress(plain, level)?;
            out.extend_from_slice(&compressed);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::suite::{records_batch, timed_batch};
    use rstest::rstest;

    fn concat(batches: &[&Batch]) -> Bytes {
        let mut buf = BytesMut::new();
        for b in batches {
            buf.extend_from_slice(b.as_bytes());
        }
        buf.freeze()
    }

    #[test]
    fn header_fields_are_read_where_kafka_puts_them() {
        let b = timed_batch(Compression::None, &[100, 300, 200]).freeze();
        assert_eq!(b.base_offset(), 0);
        assert_eq!(b.last_offset(), 2);
        assert_eq!(b.next_offset(), 3);
        assert_eq!(b.record_count(), 3);
        assert_eq!(b.base_timestamp(), 100);
        assert_eq!(b.max_timestamp(), 300);
        assert_eq!(b.producer_id(), -1);
        assert_eq!(b.producer_epoch(), -1);
        assert_eq!(b.base_sequence(), -1);
        assert_eq!(b.partition_leader_epoch(), -1);
        assert_eq!(b.compression(), Compression::None);
        assert!(!b.timestamp_type_is_log_append() && !b.is_transactional() && !b.is_control());
        assert_eq!(b.len(), b.as_bytes().len());
    }

    #[test]
    fn split_batches_is_zero_copy_and_keeps_order() {
        let a = records_batch(Compression::None, 2, 10).freeze();
        let b = records_batch(Compression::Gzip, 3, 20).freeze();
        let buf = concat(&[&a, &b]);
        let split = split_batches(buf.clone()).expect("valid");
        assert_eq!(split, vec![a.clone(), b]);
        assert_eq!(split[0].as_bytes().as_ptr(), buf.as_ptr());
        assert_eq!(split_batches(Bytes::new()), Ok(vec![]));
    }

    #[rstest]
    #[case::one_byte_short(1)]
    #[case::header_only(60)]
    fn a_partial_batch_is_truncated(#[case] keep_short: usize) {
        let a = records_batch(Compression::None, 2, 10).freeze();
        let b = records_batch(Compression::None, 2, 10).freeze();
        let buf = concat(&[&a, &b]);
        let cut = if keep_short == 1 { buf.len() - 1 } else { a.len() + keep_short };
        assert_eq!(split_batches(buf.slice(..cut)), Err(BatchError::Truncated));
    }

    #[test]
    fn a_flipped_bit_fails_the_crc() {
        let a = records_batch(Compression::None, 2, 10).freeze();
        let mut bytes = BytesMut::from(&a.as_bytes()[..]);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(split_batches(bytes.freeze()), Err(BatchError::CorruptCrc));
    }

    #[test]
    fn legacy_magic_is_unsupported() {
        let a = records_batch(Compression::None, 1, 10).freeze();
        let mut bytes = BytesMut::from(&a.as_bytes()[..]);
        bytes[at::MAGIC] = 1;
        assert_eq!(split_batches(bytes.freeze()), Err(BatchError::UnsupportedMagic(1)));
    }

    #[test]
    fn rewritten_offset_and_epoch_keep_the_crc_valid() {
        let mut m = records_batch(Compression::Gzip, 3, 10);
        m.set_base_offset(42);
        m.set_partition_leader_epoch(7);
        let b = Batch::parse(m.freeze().into_bytes()).expect("still valid");
        assert_eq!((b.base_offset(), b.last_offset(), b.partition_leader_epoch()), (42, 44, 7));
        let offsets: Vec<i64> = b.records().expect("decodes").iter().map(|r| r.offset).collect();
        assert_eq!(offsets, vec![42, 43, 44]);
    }

    #[test]
    fn log_append_time_sets_every_record_timestamp_and_a_valid_crc() {
        let mut m = timed_batch(Compression::None, &[100, 200]);
        m.set_log_append_time(5_000);
        let b = Batch::parse(m.freeze().into_bytes()).expect("CRC recomputed");
        assert!(b.timestamp_type_is_log_append());
        assert_eq!(b.max_timestamp(), 5_000);
        let ts: Vec<i64> = b.records().expect("decodes").iter().map(|r| r.timestamp).collect();
        assert_eq!(ts, vec![5_000, 5_000]);
    }

    #[test]
    fn valid_prefix_stops_at_a_torn_or_corrupt_tail() {
        let a = records_batch(Compression::None, 2, 10).freeze();
        let b = records_batch(Compression::Gzip, 2, 10).freeze();
        let buf = concat(&[&a, &b]);
        let whole = split_valid_prefix(&buf);
        assert_eq!((whole.batches.len(), whole.valid_len), (2, buf.len()));
        assert_eq!(whole.end, PrefixEnd::Complete);

        let torn = split_valid_prefix(&buf[..buf.len() - 3]);
        assert_eq!((torn.batches.len(), torn.valid_len), (1, a.len()));
        assert_eq!(torn.end, PrefixEnd::Incomplete { needed: b.len() });

        let mut garbage = buf.to_vec();
        garbage.extend_from_slice(&[0xAB; 100]);
        let bad = split_valid_prefix(&garbage);
        assert_eq!((bad.batches.len(), bad.valid_len), (2, buf.len()));
        assert!(matches!(bad.end, PrefixEnd::Invalid(_)));
    }

    /// Every codec to every codec, at the KIP-390 level limits: the records, the leader epoch
    /// and the base offset survive, and the new batch's CRC covers its new bytes.
    #[rstest]
    fn rebuild_as_changes_only_the_codec(
        #[values(Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd)]
        from: Compression,
        #[values(
            (Compression::None, None),
            (Compression::Gzip, Some(1)),
            (Compression::Gzip, Some(9)),
            (Compression::Snappy, None),
            (Compression::Lz4, Some(1)),
            (Compression::Lz4, Some(17)),
            (Compression::Zstd, Some(-5)),
            (Compression::Zstd, Some(22))
        )]
        to: (Compression, Option<i32>),
    ) {
        let mut m = records_batch(from, 7, 10);
        m.set_base_offset(40);
        m.set_partition_leader_epoch(2);
        let original = m.freeze();
        let records = original.records().expect("decodes");
        let rebuilt = rebuild_as(&original, records.clone(), to.0, to.1).expect("rebuilds");
        let reparsed = Batch::parse(rebuilt.as_bytes().clone()).expect("a valid batch, CRC included");
        assert_eq!(reparsed.compression(), to.0);
        assert_eq!((reparsed.base_offset(), reparsed.partition_leader_epoch()), (40, 2));
        assert_eq!(reparsed.records().expect("decodes"), records);
    }

    #[rstest]
    #[case::none(Compression::None)]
    #[case::gzip(Compression::Gzip)]
    fn rebuild_keeps_offsets_epoch_and_compression(#[case] compression: Compression) {
        let mut m = records_batch(compression, 3, 10);
        m.set_base_offset(100);
        m.set_partition_leader_epoch(3);
        let original = m.freeze();
        let mut records = original.records().expect("decodes");
        records.remove(1);
        let rebuilt = rebuild(&original, records).expect("rebuilds");
        assert_eq!(rebuilt.base_offset(), 100);
        assert_eq!(rebuilt.partition_leader_epoch(), 3);
        assert_eq!(rebuilt.compression(), compression);
        let offsets: Vec<i64> = rebuilt.records().expect("decodes").iter().map(|r| r.offset).collect();
        assert_eq!(offsets, vec![100, 102]);
    }
}
