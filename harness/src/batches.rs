//! Record batches (Kafka's v2 format, `DefaultRecordBatch`) with the harness's own code: records
//! encoded as one batch, fetched bytes split into whole batches, a batch's records decoded, a
//! stored batch's header read. Nothing here is the reference broker's: a bug in its batch code
//! must not hide itself by judging its own output.

use bytes::{Bytes, BytesMut};
use indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record as WireRecord, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use crate::history::Record;

// ---------------------------------------------------------------------------------------------
// Encoding

/// Encodes records as one v2 batch, as a producer without idempotence would (producer id,
/// epoch and base sequence all -1).
pub fn encode_batch(records: &[Record], compression: Compression, timestamp: i64) -> Result<Bytes, String> {
    encode_batch_as(records, compression, timestamp, ProducerFields::NONE)
}

/// The batch header fields that identify an idempotent producer's batch (KIP-98).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerFields {
    pub producer_id: i64,
    pub epoch: i16,
    /// The first record's sequence; the others follow it, wrapping after i32::MAX as Kafka's
    /// `DefaultRecordBatch.incrementSequence` does.
    pub base_sequence: i32,
}

impl ProducerFields {
    /// No producer id: Kafka's `RecordBatch.NO_PRODUCER_ID`, `NO_PRODUCER_EPOCH`, `NO_SEQUENCE`.
    pub const NONE: ProducerFields = ProducerFields { producer_id: -1, epoch: -1, base_sequence: -1 };
}

/// Encodes records as one v2 batch with the given producer fields.
pub fn encode_batch_as(
    records: &[Record],
    compression: Compression,
    timestamp: i64,
    producer: ProducerFields,
) -> Result<Bytes, String> {
    encode_stamped(records, compression, &vec![timestamp; records.len()], producer)
}

/// Encodes records as one v2 batch, each with its own CreateTime.
pub fn encode_stamped(
    records: &[Record],
    compression: Compression,
    timestamps: &[i64],
    producer: ProducerFields,
) -> Result<Bytes, String> {
    encode_with(records, compression, timestamps, producer, false)
}

/// Encodes records as one v2 batch of a producer's transaction (the transactional attribute set).
pub fn encode_transactional(records: &[Record], timestamp: i64, producer: ProducerFields) -> Result<Bytes, String> {
    encode_with(records, Compression::None, &vec![timestamp; records.len()], producer, true)
}

/// A control batch as a transaction coordinator writes one: a COMMIT marker of the producer
/// (key: version 0, type 1; value: version 0, coordinator epoch 0), base sequence -1. Clients
/// may not write these (Kafka answers INVALID_RECORD).
pub fn encode_commit_marker(timestamp: i64, producer: ProducerFields) -> Result<Bytes, String> {
    let marker = WireRecord {
        transactional: true,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: producer.producer_id,
        producer_epoch: producer.epoch,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp,
        key: Some(Bytes::from_static(&[0, 0, 0, 1])),
        value: Some(Bytes::from_static(&[0, 0, 0, 0, 0, 0])),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression: Compression::None };
    RecordBatchEncoder::encode(&mut buf, std::iter::once(&marker), &options).map_err(|e| format!("{e:#}"))?;
    Ok(buf.freeze())
}

fn encode_with(
    records: &[Record],
    compression: Compression,
    timestamps: &[i64],
    producer: ProducerFields,
    transactional: bool,
) -> Result<Bytes, String> {
    if timestamps.len() != records.len() {
        return Err(format!("{} timestamps for {} records", timestamps.len(), records.len()));
    }
    let wire: Vec<WireRecord> = records
        .iter()
        .enumerate()
        .map(|(i, r)| WireRecord {
            transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: producer.producer_id,
            producer_epoch: producer.epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // kafka-protocol keeps records in one batch only while offset - sequence is constant
            // and takes the first record's sequence as the batch's base sequence; counting up
            // from the base keeps the batch whole (from -1 when there is no producer id).
            sequence: producer.base_sequence.wrapping_add(i as i32),
            timestamp: timestamps[i],
            key: r.key.clone().map(Bytes::from),
            value: r.value.clone().map(Bytes::from),
            headers: r
                .headers
                .iter()
                .map(|h| (StrBytes::from_string(h.key.clone()), h.value.clone().map(Bytes::from)))
                .collect::<IndexMap<_, _>>(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, wire.iter(), &RecordEncodeOptions { version: 2, compression })
        .map_err(|e| e.to_string())?;
    Ok(buf.freeze())
}

// ---------------------------------------------------------------------------------------------
// Splitting and decoding fetched bytes

/// One replica's log as whole record batches: (base offset, last offset, bytes).
pub type Batches = Vec<(i64, i64, Vec<u8>)>;

/// Splits fetched record bytes into whole v2 batches (a trailing partial batch is dropped, as
/// consumers do): baseOffset int64, batchLength int32, then batchLength bytes, of which
/// lastOffsetDelta is the int32 at byte 23.
pub fn whole_batches(bytes: &[u8]) -> Batches {
    let mut out = Vec::new();
    let mut at = 0;
    while bytes.len() >= at + 27 {
        let base = i64::from_be_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
        let len = i32::from_be_bytes(bytes[at + 8..at + 12].try_into().unwrap_or_default());
        let end = at + 12 + len.max(0) as usize;
        if len < 15 || end > bytes.len() {
            break;
        }
        let delta = i32::from_be_bytes(bytes[at + 23..at + 27].try_into().unwrap_or_default());
        out.push((base, base + i64::from(delta), bytes[at..end].to_vec()));
        at = end;
    }
    out
}

/// The records of one whole batch (from [`whole_batches`]), each with its offset; control
/// records (transaction markers) are left out.
pub fn records(batch: Vec<u8>) -> Result<Vec<(i64, Record)>, String> {
    let mut buf = Bytes::from(batch);
    let set = RecordBatchDecoder::decode(&mut buf)
        .map_err(|e| format!("the broker returned a batch that does not decode: {e:#}"))?;
    Ok(set.records.into_iter().filter(|r| !r.control).map(|r| (r.offset, Record::from_wire(r))).collect())
}

// ---------------------------------------------------------------------------------------------
// A stored batch's header

/// How the broker stores one batch, read from its header with the harness's own code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBatch {
    pub base_offset: i64,
    /// The codec in the attributes' low 3 bits: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    pub codec: i16,
    /// Whether the CRC-32C field matches the bytes from the attributes to the batch's end.
    pub crc_ok: bool,
    /// The timestamp type bit: LogAppendTime (KIP-32).
    pub log_append_time: bool,
    /// The batch's max timestamp: under LogAppendTime, the broker's clock when it appended it.
    pub max_timestamp: i64,
}

impl StoredBatch {
    /// Reads a whole v2 batch's header (`bytes` from its base offset to its end).
    pub fn read(bytes: &[u8]) -> Option<StoredBatch> {
        const CRC_AT: usize = 17;
        const ATTRIBUTES_AT: usize = 21;
        if bytes.len() < ATTRIBUTES_AT + 2 {
            return None;
        }
        let base_offset = i64::from_be_bytes(bytes[..8].try_into().ok()?);
        let crc = u32::from_be_bytes(bytes[CRC_AT..ATTRIBUTES_AT].try_into().ok()?);
        let attributes = i16::from_be_bytes(bytes[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].try_into().ok()?);
        const MAX_TIMESTAMP_AT: usize = 35;
        let max_timestamp = i64::from_be_bytes(bytes.get(MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8)?.try_into().ok()?);
        Some(StoredBatch {
            base_offset,
            codec: attributes & 0x07,
            crc_ok: crc32c::crc32c(&bytes[ATTRIBUTES_AT..]) == crc,
            log_append_time: attributes & 0x08 != 0,
            max_timestamp,
        })
    }

    /// The codec's name as `compression.type` spells it (`none` for no compression).
    pub fn codec_name(&self) -> &'static str {
        match self.codec {
            0 => "none",
            1 => "gzip",
            2 => "snappy",
            3 => "lz4",
            4 => "zstd",
            _ => "an unknown codec",
        }
    }
}

/// A codec by Kafka's `compression.type` name (`none` and `uncompressed` both mean no
/// compression); the error lists the names.
pub fn codec_by_name(name: &str) -> Result<Compression, String> {
    match name {
        "none" | "uncompressed" => Ok(Compression::None),
        "gzip" => Ok(Compression::Gzip),
        "snappy" => Ok(Compression::Snappy),
        "lz4" => Ok(Compression::Lz4),
        "zstd" => Ok(Compression::Zstd),
        other => Err(format!("{other:?} is not a codec: none, gzip, snappy, lz4 or zstd")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn batch(base: i64, records: i32, fill: u8) -> Vec<u8> {
        let len: i32 = 49 + 10 * records;
        let mut b = Vec::new();
        b.extend_from_slice(&base.to_be_bytes());
        b.extend_from_slice(&len.to_be_bytes());
        b.extend_from_slice(&[0; 4]); // partition leader epoch
        b.push(2); // magic
        b.extend_from_slice(&[0; 4]); // crc
        b.extend_from_slice(&[0; 2]); // attributes
        b.extend_from_slice(&(records - 1).to_be_bytes()); // last offset delta
        b.resize(12 + len as usize, fill);
        b
    }

    #[test]
    fn whole_batches_split_and_drop_a_partial_tail() {
        let mut bytes = batch(0, 3, 1);
        bytes.extend(batch(3, 2, 2));
        let partial = batch(5, 1, 3);
        bytes.extend_from_slice(&partial[..20]);
        let got = whole_batches(&bytes);
        assert_eq!(got.iter().map(|b| (b.0, b.1)).collect::<Vec<_>>(), vec![(0, 2), (3, 4)]);
    }

    #[test]
    fn sequences_wrap_inside_a_batch() {
        let records: Vec<Record> = (0..3).map(|i| Record::value(format!("w-{i}"))).collect();
        let fields = ProducerFields { producer_id: 1, epoch: 0, base_sequence: i32::MAX - 1 };
        let bytes = encode_batch_as(&records, Compression::None, 0, fields).unwrap();
        // One batch: base sequence MAX - 1 and last offset delta 2, so Kafka's last sequence
        // (`DefaultRecordBatch.incrementSequence`) is 0. kafka-protocol's decoder adds without
        // Kafka's wrap to 0, so the header is what is checked here.
        assert_eq!(i32::from_be_bytes(bytes[53..57].try_into().unwrap()), i32::MAX - 1);
        assert_eq!(i32::from_be_bytes(bytes[23..27].try_into().unwrap()), 2, "last offset delta");
        assert_eq!(i32::from_be_bytes(bytes[57..61].try_into().unwrap()), 3, "record count");
        assert_eq!(RecordBatchDecoder::decode_all(&mut bytes.clone()).unwrap().len(), 1);
    }
}
