//! Rewriting a batch's records for the cleaner, as Kafka's `MemoryRecords.filterTo` does: records
//! are kept as their own bytes (Kafka's `DefaultRecord`) and only re-framed, never decoded into
//! `kafka-protocol` records, which would lose duplicate header keys and non-UTF-8 header names.
//! Offsets never change: a rewritten batch keeps its base offset, so every kept record keeps
//! its offset delta.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{self as codec, Compressor, Decompressor};
use kafka_protocol::records::Compression;

use crate::defects::{Defect, active};

use super::batch::{COMPRESSION_MASK, DELETE_HORIZON_FLAG, HEADER_LEN, LOG_OVERHEAD, MAGIC_V2, at};
use super::{Batch, BatchError};

/// One record of a batch, as bytes plus the fields the cleaner decides on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawRecord {
    attributes: i8,
    /// Base timestamp plus the record's delta. Meaningless under LogAppendTime, where readers use
    /// the batch's max timestamp, but carried over all the same.
    pub timestamp: i64,
    pub offset_delta: i32,
    pub key: Option<Bytes>,
    pub has_value: bool,
    /// From the key length to the end of the headers, verbatim.
    tail: Bytes,
}

impl RawRecord {
    pub fn is_tombstone(&self) -> bool {
        !self.has_value
    }
}

fn corrupt(what: &str) -> BatchError {
    BatchError::Decode(format!("malformed record: {what}"))
}

/// Zigzag varlong, as Kafka's `ByteUtils.readVarlong`.
fn read_varlong(buf: &[u8], pos: &mut usize) -> Result<i64, BatchError> {
    let mut raw: u64 = 0;
    for shift in (0..70).step_by(7) {
        let byte = *buf.get(*pos).ok_or_else(|| corrupt("a varint runs past the end"))?;
        *pos += 1;
        raw |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
        }
    }
    Err(corrupt("a varint longer than 10 bytes"))
}

fn read_varint(buf: &[u8], pos: &mut usize) -> Result<i32, BatchError> {
    i32::try_from(read_varlong(buf, pos)?).map_err(|_| corrupt("a varint out of the 32-bit range"))
}

fn write_varlong(out: &mut Vec<u8>, value: i64) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    while raw >= 0x80 {
        out.push((raw as u8 & 0x7f) | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

/// A length-prefixed field (key or value): `None` for length -1.
fn read_field(buf: &[u8], pos: &mut usize, end: usize) -> Result<Option<(usize, usize)>, BatchError> {
    let len = read_varint(buf, pos)?;
    if len == -1 {
        return Ok(None);
    }
    let len = usize::try_from(len).map_err(|_| corrupt("a negative field length"))?;
    let start = *pos;
    if start + len > end {
        return Err(corrupt("a field runs past the record"));
    }
    *pos += len;
    Ok(Some((start, start + len)))
}

fn decompress(compression: Compression, mut bytes: Bytes) -> Result<Bytes, BatchError> {
    fn all<B: Buf>(buf: &mut B) -> anyhow::Result<Bytes> {
        Ok(buf.copy_to_bytes(buf.remaining()))
    }
    let out = match compression {
        Compression::None => return Ok(bytes),
        Compression::Gzip => codec::Gzip::decompress(&mut bytes, all),
        Compression::Snappy => codec::Snappy::decompress(&mut bytes, all),
        Compression::Lz4 => codec::Lz4::decompress(&mut bytes, all),
        Compression::Zstd => codec::Zstd::decompress(&mut bytes, all),
    };
    out.map_err(|e| BatchError::Decode(e.to_string()))
}

fn compress(compression: Compression, raw: &[u8], out: &mut BytesMut) -> Result<(), BatchError> {
    fn put<B: BufMut>(raw: &[u8]) -> impl FnOnce(&mut B) -> anyhow::Result<()> + '_ {
        move |buf| {
            buf.put_slice(raw);
            Ok(())
        }
    }
    let done = match compression {
        Compression::None => codec::None::compress(out, put(raw)),
        Compression::Gzip => codec::Gzip::compress(out, put(raw)),
        Compression::Snappy => codec::Snappy::compress(out, put(raw)),
        Compression::Lz4 => codec::Lz4::compress(out, put(raw)),
        Compression::Zstd => codec::Zstd::compress(out, put(raw)),
    };
    done.map_err(|e| BatchError::Encode(e.to_string()))
}

impl Batch {
    /// The batch's records as bytes (decompressed), in order.
    pub(crate) fn raw_records(&self) -> Result<Vec<RawRecord>, BatchError> {
        let body = decompress(self.compression(), self.as_bytes().slice(HEADER_LEN..))?;
        let count = usize::try_from(self.record_count()).unwrap_or(0);
        // A record takes at least 7 bytes: the count cannot make this allocate more than the body.
        let mut records = Vec::with_capacity(count.min(body.len() / 7));
        let mut pos = 0;
        for _ in 0..count {
            let len = usize::try_from(read_varint(&body, &mut pos)?).map_err(|_| corrupt("a negative length"))?;
            let start = pos;
            let end = start + len;
            if end > body.len() || len == 0 {
                return Err(corrupt("a record runs past the batch"));
            }
            let attributes = body[pos] as i8;
            pos += 1;
            let timestamp = self.base_timestamp().wrapping_add(read_varlong(&body, &mut pos)?);
            let offset_delta = read_varint(&body, &mut pos)?;
            let tail_start = pos;
            let key = read_field(&body, &mut pos, end)?.map(|(from, to)| body.slice(from..to));
            let has_value = read_field(&body, &mut pos, end)?.is_some();
            if pos > end {
                return Err(corrupt("a record runs past its length"));
            }
            records.push(RawRecord {
                attributes,
                timestamp,
                offset_delta,
                key,
                has_value,
                tail: body.slice(tail_start..end),
            });
            pos = end;
        }
        if pos != body.len() {
            return Err(corrupt("bytes follow the last record"));
        }
        Ok(records)
    }
}

/// How a rewritten batch is framed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Framing {
    pub base_offset: i64,
    /// Kept from the original batch even when its last records went, so that the batch still
    /// covers the offsets its producer sequence numbers count (Kafka's v2 `lastOffsetDelta`).
    pub last_offset_delta: i32,
    /// KIP-534: the delete horizon to store as the base timestamp, flagged in the attributes.
    pub delete_horizon: Option<i64>,
}

/// Kafka's `MemoryRecordsBuilder` as the cleaner uses it: `original`'s leader epoch, producer id,
/// epoch, base sequence, compression and flags, holding `records`. With no records this is
/// Kafka's `DefaultRecordBatch.writeEmptyHeader`: uncompressed, both timestamps the original max
/// timestamp, no delete horizon.
///
/// Record timestamps are re-encoded against the new base timestamp, so each record reads back
/// with its original absolute timestamp even though the base became the delete horizon (the
/// deltas go negative, as in Kafka).
pub(crate) fn build(original: &Batch, records: &[RawRecord], framing: Framing) -> Result<Batch, BatchError> {
    let mut attributes = original.attributes() & !DELETE_HORIZON_FLAG;
    let (compression, base_timestamp, max_timestamp) = if records.is_empty() {
        attributes &= !COMPRESSION_MASK;
        (Compression::None, original.max_timestamp(), original.max_timestamp())
    } else {
        if framing.delete_horizon.is_some() {
            attributes |= DELETE_HORIZON_FLAG;
        }
        let base = framing.delete_horizon.unwrap_or(original.base_timestamp());
        let max = match original.timestamp_type_is_log_append() {
            true => original.max_timestamp(),
            false => records.iter().map(|r| r.timestamp).max().unwrap_or(-1),
        };
        let compression = match active(Defect::CleanerWritesUncompressed) {
            true => {
                attributes &= !COMPRESSION_MASK;
                Compression::None
            }
            false => original.compression(),
        };
        (compression, base, max)
    };
    let mut raw = Vec::new();
    let mut record = Vec::new();
    for r in records {
        record.clear();
        record.push(r.attributes as u8);
        write_varlong(&mut record, r.timestamp.wrapping_sub(base_timestamp));
        write_varlong(&mut record, i64::from(r.offset_delta));
        record.extend_from_slice(&r.tail);
        write_varlong(&mut raw, record.len() as i64);
        raw.extend_from_slice(&record);
    }
    let count = i32::try_from(records.len()).map_err(|_| BatchError::Encode("too many records".into()))?;

    let mut out = BytesMut::with_capacity(HEADER_LEN + raw.len());
    out.put_i64(framing.base_offset);
    out.put_i32(0); // batch length, below
    out.put_i32(original.partition_leader_epoch());
    out.put_i8(MAGIC_V2);
    out.put_u32(0); // CRC, below
    out.put_i16(attributes);
    out.put_i32(framing.last_offset_delta);
    out.put_i64(base_timestamp);
    out.put_i64(max_timestamp);
    out.put_i64(original.producer_id());
    out.put_i16(original.producer_epoch());
    out.put_i32(original.base_sequence());
    out.put_i32(count);
    compress(compression, &raw, &mut out)?;
    let length = i32::try_from(out.len() - LOG_OVERHEAD).map_err(|_| BatchError::Encode("batch too large".into()))?;
    out[at::BATCH_LENGTH..at::BATCH_LENGTH + 4].copy_from_slice(&length.to_be_bytes());
    let crc = crc32c::crc32c(&out[at::ATTRIBUTES..]);
    out[at::CRC..at::CRC + 4].copy_from_slice(&crc.to_be_bytes());
    Batch::parse(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::suite::{records_batch, timed_batch};
    use rstest::rstest;

    #[test]
    fn varlongs_round_trip() {
        for value in [0, 1, -1, 63, -64, 64, 300, -300, i64::from(i32::MAX), i64::MIN, i64::MAX] {
            let mut buf = Vec::new();
            write_varlong(&mut buf, value);
            let mut pos = 0;
            assert_eq!(read_varlong(&buf, &mut pos).expect("decodes"), value);
            assert_eq!(pos, buf.len());
        }
    }

    #[rstest]
    #[case::none(Compression::None)]
    #[case::gzip(Compression::Gzip)]
    #[case::snappy(Compression::Snappy)]
    #[case::lz4(Compression::Lz4)]
    #[case::zstd(Compression::Zstd)]
    fn an_unchanged_rebuild_reads_back_the_same_records(#[case] compression: Compression) {
        let mut m = timed_batch(compression, &[100, 300, 200]);
        m.set_base_offset(40);
        let original = m.freeze();
        let raw = original.raw_records().expect("raw");
        assert_eq!(raw.len(), 3);
        let framing = Framing { base_offset: 40, last_offset_delta: 2, delete_horizon: None };
        let rebuilt = build(&original, &raw, framing).expect("build");
        assert_eq!(rebuilt.records().expect("decodes"), original.records().expect("decodes"));
        assert_eq!((rebuilt.base_timestamp(), rebuilt.max_timestamp()), (100, 300));
    }

    #[test]
    fn dropping_records_keeps_offsets_and_the_last_offset_delta() {
        let mut m = records_batch(Compression::Gzip, 4, 1_000);
        m.set_base_offset(10);
        m.set_partition_leader_epoch(3);
        let original = m.freeze();
        let raw = original.raw_records().expect("raw");
        let kept = vec![raw[1].clone()];
        let rebuilt = build(&original, &kept, Framing { base_offset: 10, last_offset_delta: 3, delete_horizon: None })
            .expect("build");
        assert_eq!((rebuilt.base_offset(), rebuilt.last_offset(), rebuilt.record_count()), (10, 13, 1));
        assert_eq!(rebuilt.partition_leader_epoch(), 3);
        let records = rebuilt.records().expect("decodes");
        assert_eq!(records.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![11]);
        assert_eq!(records[0].key, original.records().expect("decodes")[1].key);
    }

    #[test]
    fn a_delete_horizon_keeps_absolute_record_timestamps() {
        let original = timed_batch(Compression::None, &[100, 300]).freeze();
        let raw = original.raw_records().expect("raw");
        let framing = Framing { base_offset: 0, last_offset_delta: 1, delete_horizon: Some(50_000) };
        let rebuilt = build(&original, &raw, framing).expect("build");
        assert_eq!(rebuilt.delete_horizon_ms(), Some(50_000));
        assert_eq!(rebuilt.max_timestamp(), 300);
        let ts: Vec<i64> = rebuilt.records().expect("decodes").iter().map(|r| r.timestamp).collect();
        assert_eq!(ts, vec![100, 300]);
        assert!(rebuilt.records().expect("decodes").iter().all(|r| r.delete_horizon));
    }

    /// Record bytes under a valid CRC can still be nonsense: every damage is an error, never a
    /// panic or a huge allocation.
    #[test]
    fn damaged_record_bytes_are_an_error() {
        let original = timed_batch(Compression::None, &[100, 300, 200]).freeze();
        let bytes = original.as_bytes();
        for at in HEADER_LEN..bytes.len() {
            for value in [0x00, 0x7f, 0x80, 0xff] {
                let mut damaged = BytesMut::from(&bytes[..]);
                damaged[at] = value;
                let crc = crc32c::crc32c(&damaged[at::ATTRIBUTES..]);
                damaged[at::CRC..at::CRC + 4].copy_from_slice(&crc.to_be_bytes());
                let batch = Batch::parse(damaged.freeze()).expect("valid CRC");
                let _ = batch.raw_records();
            }
        }
        let mut huge = BytesMut::from(&bytes[..]);
        huge[at::RECORDS_COUNT..at::RECORDS_COUNT + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        let crc = crc32c::crc32c(&huge[at::ATTRIBUTES..]);
        huge[at::CRC..at::CRC + 4].copy_from_slice(&crc.to_be_bytes());
        assert!(Batch::parse(huge.freeze()).expect("valid CRC").raw_records().is_err());
    }

    #[test]
    fn an_empty_batch_is_a_bare_header() {
        let original = records_batch(Compression::Zstd, 3, 700).freeze();
        let framing = Framing { base_offset: 5, last_offset_delta: 2, delete_horizon: Some(9) };
        let empty = build(&original, &[], framing).expect("build");
        assert_eq!(empty.len(), HEADER_LEN);
        assert_eq!((empty.base_offset(), empty.last_offset(), empty.record_count()), (5, 7, 0));
        assert_eq!((empty.base_timestamp(), empty.max_timestamp(), empty.delete_horizon_ms()), (700, 700, None));
        assert_eq!(empty.compression(), Compression::None);
        assert!(empty.records().expect("decodes").is_empty());
    }
}
