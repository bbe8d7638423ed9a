//! Fetch: read whole batches up to the high watermark (the last stable offset for
//! `isolation.level=read_committed`, with the aborted transactions among them), within `partition_max_bytes` per
//! partition and `max_bytes` overall, and long-poll until `min_bytes` are available or
//! `max_wait_ms` passes (Kafka's `DelayedFetch`).
//!
//! As in Kafka's `ReplicaManager.readFromLog` for v3+, the limits are soft for the first batch:
//! the first non-empty partition returns at least one whole batch even if it is larger, so a
//! consumer can always make progress. Topics are named up to v12 and identified by topic id
//! from v13 (KIP-516). There are no fetch sessions (KIP-227): session id 0 means a full fetch.

use bytes::{Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId};
use tokio::time::{Duration, Instant};

use super::RequestContext;
use crate::defects::{Defect, active};
use crate::log::LogError;

pub async fn handle(ctx: &RequestContext, request: FetchRequest) -> FetchResponse {
    // KIP-903 moved the replica id into ReplicaState from v15.
    let replica_id = if ctx.version >= 15 { request.replica_state.replica_id.0 } else { request.replica_id.0 };
    if replica_id >= 0 {
        // A follower's fetch tells the leader how far it got, once, as it arrives.
        for ft in &request.topics {
            let topic = if ctx.version >= 13 {
                ctx.broker.topic_by_id(ft.topic_id)
            } else {
                ctx.broker.topic(ft.topic.as_str())
            };
            for fp in &ft.partitions {
                if let Ok(p) = ctx.broker.replica_for(topic.as_ref(), fp.partition, fp.current_leader_epoch, false) {
                    ctx.broker.follower_fetched(&p, replica_id, fp.fetch_offset);
                }
            }
        }
    }
    let deadline = Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
    let mut appends = ctx.broker.subscribe_appends();
    loop {
        // Mark the current append generation as seen before reading, so an append that lands
        // between the read and the wait still wakes us.
        appends.borrow_and_update();
        let (response, bytes, errors) = read(ctx, &request, replica_id);
        let waited_enough = Instant::now() >= deadline || active(Defect::IgnoreMaxWait);
        let min_bytes = request.min_bytes.max(0) as usize;
        // The defect: min_bytes must be exceeded, not reached.
        let enough = if active(Defect::FetchMinBytesExclusive) { bytes > min_bytes } else { bytes >= min_bytes };
        if errors || enough || waited_enough {
            return response;
        }
        if tokio::time::timeout_at(deadline, appends.changed()).await.is_err() {
            // Timed out: answer with what is there now.
            return read(ctx, &request, replica_id).0;
        }
    }
}

/// One pass over the requested partitions: the response, its record bytes, and whether any
/// partition had an error (which answers at once, as Kafka does).
fn read(ctx: &RequestContext, request: &FetchRequest, replica_id: i32) -> (FetchResponse, usize, bool) {
    let v = ctx.version;
    let ignore_limits = active(Defect::IgnoreMaxBytes);
    // max_bytes came with v3 (KIP-74); 0 is a limit like any other, under which the first batch
    // still comes whole (KafkaApis caps max_bytes at fetch.max.bytes, nothing more).
    let mut remaining = if ignore_limits || v < 3 { usize::MAX } else { request.max_bytes.max(0) as usize };
    let mut min_one = true;
    let mut total = 0usize;
    let mut errors = false;
    let mut topics = Vec::with_capacity(request.topics.len());
    for ft in &request.topics {
        let topic = if v >= 13 { ctx.broker.topic_by_id(ft.topic_id) } else { ctx.broker.topic(ft.topic.as_str()) };
        let unknown = if v >= 13 { ResponseError::UnknownTopicId } else { ResponseError::UnknownTopicOrPartition };
        let mut partitions = Vec::with_capacity(ft.partitions.len());
        for fp in &ft.partitions {
            let mut pd = PartitionData::default().with_partition_index(fp.partition);
            // Fetch v9+ carries the client's leader epoch (KIP-320). Consumers and followers read
            // from the leader; Kafka's debugging consumer (replica id -2) from any replica.
            let current = if v >= 9 { fp.current_leader_epoch } else { -1 };
            let partition = match ctx.broker.replica_for(topic.as_ref(), fp.partition, current, replica_id == -2) {
                Ok(p) => p,
                Err(code) => {
                    errors = true;
                    let code = if code == ResponseError::UnknownTopicOrPartition { unknown } else { code };
                    partitions.push(pd.with_error_code(code.code()).with_high_watermark(-1));
                    continue;
                }
            };
            let bounds = partition.bounds();
            let (start, end, hw) = (bounds.log_start, bounds.log_end, bounds.high_watermark);
            // Consumers never read above the high watermark, and read_committed ones (v4+) not
            // above the last stable offset; replicas read to the log end.
            let read_committed = v >= 4 && request.isolation_level == 1 && replica_id < 0;
            let max_offset = if replica_id >= 0 || replica_id == -2 || active(Defect::ServeReadsAboveHw) {
                end
            } else if read_committed {
                bounds.last_stable
            } else {
                hw
            };
            pd = pd.with_high_watermark(hw);
            if v >= 4 {
                // read_uncommitted answers carry no aborted transactions at all (null).
                pd = pd.with_last_stable_offset(bounds.last_stable).with_aborted_transactions(None);
            }
            if v >= 5 {
                pd = pd.with_log_start_offset(start);
            }
            let limit =
                if ignore_limits { usize::MAX } else { (fp.partition_max_bytes.max(0) as usize).min(remaining) };
            // Kafka's `LocalLog.addAbortedTransactions`: for read_committed, the aborted
            // transactions that overlap what is returned (from the segments' `.txnindex`), so
            // the consumer drops their records. A failure to read them fails the partition.
            let read = partition.read(fp.fetch_offset, limit, max_offset, min_one).and_then(|batches| {
                let upper = batches.last().map_or(fp.fetch_offset, |b| b.next_offset());
                let aborted =
                    if read_committed { Some(partition.aborted_between(fp.fetch_offset, upper)?) } else { None };
                Ok((batches, aborted))
            });
            match read {
                Ok((batches, aborted)) => {
                    let mut buf = BytesMut::new();
                    for b in &batches {
                        buf.extend_from_slice(b.as_bytes());
                    }
                    if let Some(aborted) = aborted {
                        let aborted = aborted
                            .into_iter()
                            .map(|(pid, first)| {
                                AbortedTransaction::default().with_producer_id(ProducerId(pid)).with_first_offset(first)
                            })
                            .collect();
                        pd = pd.with_aborted_transactions(Some(aborted));
                    }
                    if !buf.is_empty() || active(Defect::MinOneOnlyForFirstPartition) {
                        min_one = false;
                    }
                    total += buf.len();
                    remaining = remaining.saturating_sub(buf.len());
                    pd = pd.with_records(Some(buf.freeze()));
                }
                Err(LogError::OffsetOutOfRange { .. }) if active(Defect::HideOffsetOutOfRange) => {
                    pd = pd.with_records(Some(Bytes::new()));
                }
                Err(LogError::OffsetOutOfRange { .. }) => {
                    errors = true;
                    pd = pd.with_error_code(ResponseError::OffsetOutOfRange.code()).with_records(Some(Bytes::new()));
                }
                Err(e) => {
                    tracing::error!("reading {}-{}: {e}", ft.topic.as_str(), fp.partition);
                    errors = true;
                    pd = pd.with_error_code(ResponseError::KafkaStorageError.code()).with_records(Some(Bytes::new()));
                }
            }
            partitions.push(pd);
        }
        let mut t = FetchableTopicResponse::default().with_partitions(partitions);
        t = if v >= 13 { t.with_topic_id(ft.topic_id) } else { t.with_topic(ft.topic.clone()) };
        topics.push(t);
    }
    (FetchResponse::default().with_responses(topics), total, errors)
}
