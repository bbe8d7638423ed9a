//! The leader's append path for one partition: Kafka's `LogValidator`, the producer state check
//! and the replication wait, for client batches and for the broker's own writes.
//!
//! Validation, with the codes Kafka returns (apache/kafka `ProduceRequest.validateRecords`,
//! `LogValidator`, `UnifiedLog.analyzeAndValidateRecords`):
//! - not exactly one batch, magic other than 2, offsets inside the batch not in sequence, a
//!   control batch from a client, a keyless record on a compacted topic: INVALID_RECORD;
//! - a CRC mismatch or a batch that does not parse: CORRUPT_MESSAGE;
//! - a batch over `max.message.bytes`: MESSAGE_TOO_LARGE;
//! - a CreateTime outside `message.timestamp.{before,after}.max.ms`: INVALID_TIMESTAMP.
//!
//! A refused batch appends nothing. acks=all answers wait in [`Partition::await_replication`]
//! (Kafka's `DelayedProduce`).

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::records::Compression;

use super::producer_state::{BatchMeta, Verdict, last_sequence};
use super::{Partition, Role};
use crate::config::{TargetCompression, TopicConfig};
use crate::defects::{Defect, active};
use crate::log::{Batch, BatchError, split_batches, wall_clock_ms as now_ms};

/// A partition's refusal: the code Kafka gives, the message it puts in `error_message` (v8+),
/// and the records it names in `record_errors` (KIP-467, v8+).
pub struct Refusal(pub ResponseError, pub String, pub Vec<RecordError>);

impl Refusal {
    /// A refusal of the whole batch, naming no record.
    pub fn batch(code: ResponseError, message: impl Into<String>) -> Refusal {
        Refusal(code, message.into(), Vec::new())
    }

    /// A refusal with Kafka's message for `code`.
    pub fn of(code: ResponseError) -> Refusal {
        Refusal::batch(code, refusal_message(code))
    }
}

/// One record a batch was refused for (KIP-467): its index in the batch and why.
pub struct RecordError {
    pub batch_index: i32,
    pub message: String,
}

impl std::fmt::Display for RecordError {
    /// Kafka's `ProduceResponse.RecordError.toString`, which the partition's `error_message` quotes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecordError(batchIndex={}, message='{}')", self.batch_index, self.message)
    }
}

/// A batch in the log: where it went, and what the producer is told.
pub struct Appended {
    pub base_offset: i64,
    /// The offset after the appended batch.
    pub next_offset: i64,
    pub log_append_time: i64,
    pub log_start_offset: i64,
}

pub fn refusal_message(code: ResponseError) -> String {
    match code {
        ResponseError::NotLeaderOrFollower => "This server is not the leader for that topic-partition.".into(),
        ResponseError::UnknownTopicOrPartition => "This server does not host this topic-partition.".into(),
        other => format!("{other:?}"),
    }
}

impl Partition {
    /// Kafka's `DelayedProduce`: an acks=all answer waits until the high watermark reaches
    /// `required`, i.e. every ISR member has the batch; if the ISR shrank below
    /// `min.insync.replicas` meanwhile, the batch is in the log but the answer is
    /// NOT_ENOUGH_REPLICAS_AFTER_APPEND.
    pub async fn await_replication(
        &self,
        required: i64,
        min_isr: usize,
        deadline: tokio::time::Instant,
    ) -> Result<(), Refusal> {
        let mut changes = self.changes.subscribe();
        loop {
            changes.borrow_and_update();
            {
                let st = self.state();
                if st.role != Role::Leader {
                    return Err(Refusal::batch(
                        ResponseError::NotLeaderOrFollower,
                        refusal_message(ResponseError::NotLeaderOrFollower),
                    ));
                }
                if st.hw >= required {
                    if st.isr.len() < min_isr {
                        return Err(Refusal::batch(
                            ResponseError::NotEnoughReplicasAfterAppend,
                            format!(
                                "The size of the current ISR {:?} is insufficient to satisfy the min.isr requirement of {min_isr} for partition {}",
                                st.isr,
                                self.name()
                            ),
                        ));
                    }
                    return Ok(());
                }
            }
            if tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
                return Err(Refusal::batch(
                    ResponseError::RequestTimedOut,
                    format!("Replication of {} up to offset {required} did not complete in time", self.name()),
                ));
            }
        }
    }

    /// Validates a client's batch as the leader and appends it (Kafka's
    /// `Partition.appendRecordsToLeader`); acks=all also needs `min.insync.replicas` in the ISR
    /// first. Wakes waiting fetches.
    ///
    /// `verified`: the KIP-890 guard from [`Partition::start_verification`] when the producer's
    /// transactional batch was verified with its coordinator (`None` when verification is off).
    pub fn append_as_leader(
        &self,
        config: &TopicConfig,
        acks: i16,
        records: Bytes,
        verified: Option<u64>,
    ) -> Result<Appended, Refusal> {
        let appended = self.append_checked(config, acks, records, false, verified);
        self.changes.notify();
        appended
    }

    /// `from_coordinator`: a coordinator's write (Kafka's `AppendOrigin.COORDINATOR`), whose
    /// producer batches carry no sequence: only the producer epoch is checked.
    fn append_checked(
        &self,
        config: &TopicConfig,
        acks: i16,
        records: Bytes,
        from_coordinator: bool,
        verified: Option<u64>,
    ) -> Result<Appended, Refusal> {
        // Attributes (int16 at byte 21): the codec is in the low 3 bits of its second byte.
        let compressed = records.get(22).is_some_and(|a| a & 0x07 != 0);
        let skip_crc = active(Defect::SkipCrcCheck) || (compressed && active(Defect::SkipCrcForCompressedBatches));
        let records = if skip_crc { reseal_crc(records) } else { records };
        let batches = split_batches(records).map_err(|e| match e {
        BatchError::UnsupportedMagic(m) => Refusal::batch(
            ResponseError::InvalidRecord,
            format!("Produce requests with version 3 or later are only allowed to contain record batches with magic version 2, got {m}"),
        ),
        other => Refusal::batch(ResponseError::CorruptMessage, other.to_string()),
    })?;
        let [batch]: [Batch; 1] = batches.try_into().map_err(|b: Vec<Batch>| {
            Refusal::batch(
                ResponseError::InvalidRecord,
                format!("Produce requests must contain exactly one record batch, got {}", b.len()),
            )
        })?;
        // Kafka's `sizeInBytes`: the whole batch, its 12-byte offset and length prefix included.
        let size = match active(Defect::MaxMessageBytesWithoutLogOverhead) {
            true => batch.len().saturating_sub(12),
            false => batch.len(),
        };
        if size > config.max_message_bytes() && !active(Defect::IgnoreMaxMessageBytes) {
            return Err(Refusal::batch(
                ResponseError::MessageTooLarge,
                format!(
                    "The request included a message larger than the max message size the server will accept ({} > max.message.bytes {})",
                    batch.len(),
                    config.max_message_bytes()
                ),
            ));
        }
        if batch.is_control() && !active(Defect::AcceptClientControlBatches) {
            return Err(Refusal::batch(
                ResponseError::InvalidRecord,
                "Clients are not allowed to write control records",
            ));
        }
        if batch.is_transactional() && batch.producer_id() < 0 {
            return Err(Refusal::batch(ResponseError::InvalidRecord, "A transactional batch must carry a producer id"));
        }
        // UnifiedLog.analyzeAndValidateRecords and LogValidator.validateBatch.
        if batch.base_offset() != 0 {
            return Err(Refusal::batch(
                ResponseError::InvalidRecord,
                format!(
                    "The baseOffset of the record batch in the append to {} should be 0, but it is {}",
                    self.name(),
                    batch.base_offset()
                ),
            ));
        }
        if i64::from(batch.last_offset_delta()) + 1 != i64::from(batch.record_count()) {
            return Err(Refusal::batch(
                ResponseError::InvalidRecord,
                format!(
                    "Inconsistent batch offset range [{}, {}] and count of records {} in topic partition {}",
                    batch.base_offset(),
                    batch.last_offset(),
                    batch.record_count(),
                    self.name()
                ),
            ));
        }
        let records = batch.records().map_err(|e| Refusal::batch(ResponseError::CorruptMessage, e.to_string()))?;
        if records.len() != batch.record_count().max(0) as usize {
            return Err(Refusal::batch(
                ResponseError::InvalidRecord,
                format!("Batch claims {} records but holds {}", batch.record_count(), records.len()),
            ));
        }
        let now = now_ms();
        let log_append_time = config.log_append_time() && !active(Defect::IgnoreLogAppendTime);
        let (records, refused) = match validate_records(&records, config, log_append_time, now, &self.name()) {
            Ok(()) => (records, None),
            Err(refusal) if active(Defect::AppendValidRecordsOfRefusedBatch) && !refusal.2.is_empty() => {
                // The defect: the records the answer does not name are appended all the same.
                let named: std::collections::HashSet<i32> = refusal.2.iter().map(|e| e.batch_index).collect();
                let kept: Vec<_> = records
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| !named.contains(&(*i as i32)))
                    .map(|(_, r)| r)
                    .collect();
                if kept.is_empty() {
                    return Err(refusal);
                }
                (kept, Some(refusal))
            }
            Err(refusal) => return Err(refusal),
        };

        let batch_max_timestamp = if log_append_time { now } else { batch.max_timestamp() };
        let records = if active(Defect::DropHeaders) {
            records
                .into_iter()
                .map(|mut r| {
                    r.headers.clear();
                    r
                })
                .collect()
        } else {
            records
        };
        // Kafka's LogValidator rebuilds a batch whose codec is not the topic's compression.type
        // (unless that is `producer`), or a compressed one whose inner offsets are out of sequence
        // ("some older clients do not implement the internal offsets correctly"), keeping its
        // producer fields and every record's timestamp, key, value and headers; then
        // UnifiedLog.append checks the new size again. An uncompressed batch is kept in place.
        let target = config
            .target_compression()
            .filter(|_| !active(Defect::IgnoreTopicCompression))
            .unwrap_or(TargetCompression { codec: batch.compression(), level: None });
        let in_sequence = records.iter().enumerate().all(|(i, r)| r.offset == batch.base_offset() + i as i64);
        let rebuild = target.codec != batch.compression()
            || (batch.compression() != Compression::None && !in_sequence)
            || refused.is_some();
        let batch = match target {
            t if rebuild => {
                // The broker assigns the offsets: one after another from the batch's base offset,
                // sequences likewise from its base sequence (-1 without a producer id).
                let base_sequence = batch.base_sequence();
                let records: Vec<kafka_protocol::records::Record> = records
                    .into_iter()
                    .enumerate()
                    .map(|(i, mut r)| {
                        r.offset = batch.base_offset() + i as i64;
                        r.sequence = base_sequence.wrapping_add(i as i32);
                        r
                    })
                    .collect();
                let records = if active(Defect::RecompressDropsProducerId) || active(Defect::RecompressDropsHeaders) {
                    records
                        .into_iter()
                        .enumerate()
                        .map(|(i, mut r)| {
                            if active(Defect::RecompressDropsProducerId) {
                                (r.producer_id, r.producer_epoch, r.sequence) = (-1, -1, i as i32 - 1);
                            }
                            if active(Defect::RecompressDropsHeaders) {
                                r.headers.clear();
                            }
                            r
                        })
                        .collect()
                } else {
                    records
                };
                let rebuilt = crate::log::batch::rebuild_as(&batch, records, t.codec, t.level)
                    .map_err(|e| Refusal::batch(ResponseError::CorruptMessage, e.to_string()))?;
                if rebuilt.len() > config.max_message_bytes()
                    && !active(Defect::IgnoreMaxMessageBytes)
                    && !active(Defect::SkipSizeCheckAfterRecompression)
                {
                    return Err(Refusal::batch(
                        ResponseError::MessageTooLarge,
                        format!(
                            "Message batch size is {} bytes in append to partition {} which exceeds the maximum configured size of {}.",
                            rebuilt.len(),
                            self.name(),
                            config.max_message_bytes()
                        ),
                    ));
                }
                rebuilt
            }
            _ if active(Defect::DropHeaders) => crate::log::batch::rebuild(&batch, records)
                .map_err(|e| Refusal::batch(ResponseError::CorruptMessage, e.to_string()))?,
            _ => batch,
        };

        let mut st = self.state();
        if st.role != Role::Leader {
            return Err(Refusal::batch(
                ResponseError::NotLeaderOrFollower,
                refusal_message(ResponseError::NotLeaderOrFollower),
            ));
        }
        // Kafka's Partition.appendRecordsToLeader: acks=all needs min.insync.replicas in the ISR
        // before anything is appended.
        let min_isr = config.min_insync_replicas();
        let short = st.isr.len() < min_isr || (active(Defect::MinIsrInclusive) && st.isr.len() == min_isr);
        if acks == -1 && short && !active(Defect::IgnoreMinInsyncReplicas) {
            return Err(Refusal::batch(
                ResponseError::NotEnoughReplicas,
                format!(
                    "The size of the current ISR {:?} is insufficient to satisfy the min.isr requirement of {min_isr} for partition {}",
                    st.isr,
                    self.name()
                ),
            ));
        }
        // KIP-98: an idempotent producer's batch is checked against its last five (duplicates are
        // answered with their original offsets, gaps and stale epochs refused).
        let pid = batch.producer_id();
        let (epoch, first_seq, last_seq) = (batch.producer_epoch(), batch.base_sequence(), last_sequence(&batch));
        if pid >= 0 && from_coordinator {
            if let Err((code, message)) = st.producers.check_epoch(pid, epoch) {
                return Err(Refusal::batch(code, message));
            }
        } else if pid >= 0 {
            match st.producers.check(pid, epoch, first_seq, last_seq) {
                Err((code, message)) => return Err(Refusal::batch(code, message)),
                Ok(Verdict::Duplicate(meta)) if !active(Defect::NewOffsetForDuplicate) => {
                    return Ok(Appended {
                        base_offset: meta.first_offset,
                        next_offset: meta.last_offset + 1,
                        // Kafka answers a duplicate with the cached batch's timestamp, whatever the
                        // topic's timestamp type (UnifiedLog.append's early return).
                        log_append_time: meta.timestamp,
                        log_start_offset: self.log().log_start_offset(),
                    });
                }
                Ok(_) => {}
            }
        }
        if pid >= 0
            && let Err((code, message)) = st.producers.check_txn(pid, batch.is_transactional())
        {
            return Err(Refusal::batch(code, message));
        }
        if pid >= 0
            && batch.is_transactional()
            && let Some(guard) = verified
            && let Err((code, message)) = st.producers.check_verified(pid, epoch, guard)
        {
            return Err(Refusal::batch(code, message));
        }
        let mut log = self.log();
        let copies = if active(Defect::DuplicateAppend) { 2 } else { 1 };
        let mut first = None;
        let mut next = 0;
        for _ in 0..copies {
            let mut m = batch.clone().into_mut();
            m.set_partition_leader_epoch(st.leader_epoch);
            if log_append_time {
                m.set_log_append_time(now);
            }
            let appended = if active(Defect::SkipOffsetOnAppend) {
                // The defect: leave a one-offset hole before every batch.
                m.set_base_offset(log.log_end_offset() + 1);
                log.append_with_offsets(m.freeze(), now)
            } else {
                log.append(m, now)
            };
            let info = appended.map_err(|e| Refusal::batch(ResponseError::KafkaStorageError, e.to_string()))?;
            first.get_or_insert(info.base_offset);
            next = info.last_offset + 1;
        }
        let log_start_offset = log.log_start_offset();
        drop(log);
        if pid >= 0
            && let Some(first_offset) = first
        {
            let meta =
                BatchMeta { first_seq, last_seq, first_offset, last_offset: next - 1, timestamp: batch_max_timestamp };
            st.producers.record_data(pid, epoch, meta, batch.is_transactional());
        }
        self.maybe_advance_hw(&mut st);
        if let Some(refusal) = refused {
            return Err(refusal);
        }
        Ok(Appended {
            base_offset: first.unwrap_or(-1),
            next_offset: next,
            log_append_time: if log_append_time { now } else { -1 },
            log_start_offset,
        })
    }

    /// A write of the broker's own (a coordinator's): keyed records appended as one batch,
    /// validated like a client's, and answered once the ISR has them (acks=all) or `timeout_ms`
    /// passes. The error is the partition's code; coordinators map it for their clients.
    /// `producer`: the (producer id, epoch) of a transaction the records belong to (a
    /// transactional offset commit), written as a transactional batch without a sequence.
    pub async fn append_internal(
        &self,
        config: &TopicConfig,
        records: Vec<(Bytes, Option<Bytes>)>,
        producer: Option<(i64, i16)>,
        timeout_ms: u64,
    ) -> Result<(), ResponseError> {
        let (producer_id, producer_epoch) = producer.unwrap_or((-1, -1));
        use kafka_protocol::records::{Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
        let now = now_ms();
        let records: Vec<Record> = records
            .into_iter()
            .enumerate()
            .map(|(i, (key, value))| Record {
                transactional: producer.is_some(),
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id,
                producer_epoch,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // The encoder keeps records in one batch while offset - sequence stays the same;
                // the batch's base sequence is -1 (no producer), as it must be.
                sequence: i as i32 - 1,
                timestamp: now,
                key: Some(key),
                value,
                headers: Default::default(),
            })
            .collect();
        let mut buf = bytes::BytesMut::new();
        let options = RecordEncodeOptions { version: 2, compression: Compression::None };
        RecordBatchEncoder::encode(&mut buf, records.iter(), &options).map_err(|_| ResponseError::CorruptMessage)?;
        let appended = self.append_checked(config, -1, buf.freeze(), true, None);
        self.changes.notify();
        let appended = appended.map_err(|Refusal(code, message, _)| {
            tracing::warn!("{}: internal write refused: {message}", self.name());
            code
        })?;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(timeout_ms);
        self.await_replication(appended.next_offset, config.min_insync_replicas(), deadline)
            .await
            .map_err(|Refusal(code, ..)| code)
    }
}

/// Kafka's per-record checks (`LogValidator.validateRecord`: the key on a compacted topic, then
/// the timestamp), run on every record of the batch so that the answer names each bad record
/// (KIP-467). Inner offsets out of sequence are no error: Kafka rebuilds such a batch. Any record
/// error refuses the whole batch: INVALID_TIMESTAMP if one of them is a timestamp, else
/// INVALID_RECORD, with `LogValidator.processRecordErrors`'s message.
fn validate_records(
    records: &[kafka_protocol::records::Record],
    config: &crate::config::TopicConfig,
    log_append_time: bool,
    now: i64,
    partition: &str,
) -> Result<(), Refusal> {
    let (before, after) = (config.timestamp_before_max_ms(), config.timestamp_after_max_ms());
    let mut errors: Vec<(ResponseError, RecordError)> = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let batch_index = i as i32;
        if config.compacted() && r.key.is_none() && !active(Defect::AcceptKeylessOnCompacted) {
            errors.push((
                ResponseError::InvalidRecord,
                RecordError {
                    batch_index,
                    message: format!(
                        "Compacted topic cannot accept message without key in topic partition {partition}."
                    ),
                },
            ));
        } else if !log_append_time
            && r.timestamp != -1
            && (now.saturating_sub(r.timestamp) > before || r.timestamp.saturating_sub(now) > after)
        {
            errors.push((
                ResponseError::InvalidTimestamp,
                RecordError {
                    batch_index,
                    message: format!(
                        "Timestamp {} of message with offset {} is out of range. The timestamp should be within [{}, {}]",
                        r.timestamp,
                        r.offset,
                        now.saturating_sub(before),
                        now.saturating_add(after)
                    ),
                },
            ));
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    let timestamps = errors.iter().any(|(code, _)| *code == ResponseError::InvalidTimestamp);
    let records: Vec<RecordError> = errors.into_iter().map(|(_, e)| e).collect();
    if timestamps {
        return Err(Refusal(
            ResponseError::InvalidTimestamp,
            "One or more records have been rejected due to invalid timestamp".into(),
            records,
        ));
    }
    let shown: Vec<String> = records.iter().take(3).map(ToString::to_string).collect();
    Err(Refusal(
        ResponseError::InvalidRecord,
        format!(
            "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
            records.len(),
            shown.join(", ")
        ),
        records,
    ))
}

/// For the `skip-crc-check` defect: recompute the CRC of a single batch so that whatever the
/// client sent passes validation.
fn reseal_crc(records: bytes::Bytes) -> bytes::Bytes {
    const CRC_AT: usize = 17;
    const CRC_FROM: usize = 21;
    if records.len() <= CRC_FROM {
        return records;
    }
    let mut b = bytes::BytesMut::from(&records[..]);
    let crc = crc32c::crc32c(&b[CRC_FROM..]);
    b[CRC_AT..CRC_FROM].copy_from_slice(&crc.to_be_bytes());
    b.freeze()
}
