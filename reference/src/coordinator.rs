//! A coordinator on an internal compacted topic, in small (Kafka's `CoordinatorRuntime` and the
//! loading half of its `TransactionStateManager`): the group coordinator keeps its state in
//! `__consumer_offsets`, the transaction coordinator in `__transaction_state`.
//!
//! The runtime owns what both share:
//! - which partitions of the topic this broker coordinates: a key belongs to partition
//!   `abs(javaHash(key)) % partitions`; the broker leading that partition coordinates it;
//! - loading: when this broker becomes a partition's leader, the partition is read from its
//!   start to its log end and handed to the coordinator; meanwhile requests for its keys get
//!   COORDINATOR_LOAD_IN_PROGRESS, and keys of partitions led elsewhere NOT_COORDINATOR;
//! - writing: records go to the partition's leader append path as one batch, and the answer
//!   waits until the ISR has them (acks=all), with Kafka's mapping of the partition's errors.
//!
//! The coordinator itself (a [`StateMachine`]) keeps its state in memory, changes it only
//! after its write is acknowledged, and installs what a load read unless leadership moved on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use kafka_protocol::ResponseError;

use crate::config::TopicConfig;
use crate::defects::{Defect, active};
use crate::partition::Partition;

/// Where a partition of the topic stands on this broker, with the leader epoch it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    Loading(i32),
    Loaded(i32),
}

/// One record read back from the topic while loading.
pub struct StoredRecord {
    pub offset: i64,
    /// The producer of a transactional batch (the group coordinator's transactional offset
    /// commits), else -1.
    pub producer_id: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    /// A transaction marker instead of a record: the producer's transaction here committed
    /// (true) or aborted.
    pub marker: Option<bool>,
}

/// A coordinator that keeps its state on the runtime's topic.
pub trait StateMachine: Send + Sync + 'static {
    fn runtime(&self) -> &Runtime;
    /// A load of partition `index` at leader `epoch` starts: state kept from an older epoch is
    /// stale and goes.
    fn forget(&self, index: i32);
    /// The records of partition `index`, oldest first. Installs them unless
    /// [`Runtime::finish_load`] says leadership moved on meanwhile.
    fn load(&self, index: i32, epoch: i32, records: Vec<StoredRecord>);
    /// This broker no longer leads partition `index`: its keys are another broker's now.
    fn unload(&self, index: i32);
}

struct Owned {
    load: Load,
    partition: Arc<Partition>,
}

#[derive(Default)]
struct Shards {
    /// The topic's partition count; 0 while it does not exist.
    partition_count: i32,
    config: Option<TopicConfig>,
    owned: HashMap<i32, Owned>,
}

pub struct Runtime {
    topic: &'static str,
    write_timeout_ms: u64,
    shards: Mutex<Shards>,
}

impl Runtime {
    pub fn new(topic: &'static str, write_timeout_ms: u64) -> Runtime {
        Runtime { topic, write_timeout_ms, shards: Mutex::new(Shards::default()) }
    }

    fn lock(&self) -> MutexGuard<'_, Shards> {
        self.shards.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn topic(&self) -> &'static str {
        self.topic
    }

    /// The topic as the metadata describes it now (`None`: it does not exist).
    pub fn set_topic(&self, topic: Option<(i32, TopicConfig)>) {
        let mut shards = self.lock();
        match topic {
            Some((count, config)) => {
                shards.partition_count = count;
                shards.config = Some(config);
            }
            None => {
                shards.partition_count = 0;
                shards.config = None;
            }
        }
    }

    /// The topic's partition count (0 while it does not exist).
    pub fn partition_count(&self) -> i32 {
        self.lock().partition_count
    }

    /// The partition a key belongs to, once the topic exists.
    pub fn partition_for(&self, key: &str) -> Option<i32> {
        let count = self.lock().partition_count;
        (count > 0).then(|| partition_for(key, count))
    }

    /// The partition of `key` when this broker coordinates it now; COORDINATOR_NOT_AVAILABLE
    /// while the topic does not exist, COORDINATOR_LOAD_IN_PROGRESS while it loads,
    /// NOT_COORDINATOR when another broker leads it.
    pub fn owner(&self, key: &str) -> Result<i32, ResponseError> {
        let shards = self.lock();
        if shards.partition_count == 0 {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        let p = partition_for(key, shards.partition_count);
        match shards.owned.get(&p).map(|o| o.load) {
            Some(Load::Loaded(_)) => Ok(p),
            Some(Load::Loading(_)) => Err(ResponseError::CoordinatorLoadInProgress),
            None => Err(ResponseError::NotCoordinator),
        }
    }

    /// The leader epoch at which this broker coordinates partition `index` (its coordinator
    /// epoch), once loaded.
    pub fn epoch(&self, index: i32) -> Option<i32> {
        match self.lock().owned.get(&index).map(|o| o.load) {
            Some(Load::Loaded(e)) => Some(e),
            _ => None,
        }
    }

    /// [`Runtime::epoch`] of the partition a key belongs to.
    pub fn epoch_for(&self, key: &str) -> Option<i32> {
        let index = self.partition_for(key)?;
        self.epoch(index)
    }

    /// Whether any partition is still loading.
    pub fn loading(&self) -> bool {
        self.lock().owned.values().any(|o| matches!(o.load, Load::Loading(_)))
    }

    /// The partitions this broker has loaded.
    pub fn loaded(&self) -> Vec<i32> {
        let shards = self.lock();
        let mut out: Vec<i32> =
            shards.owned.iter().filter(|(_, o)| matches!(o.load, Load::Loaded(_))).map(|(i, _)| *i).collect();
        out.sort_unstable();
        out
    }

    /// This broker leads `partition` at `epoch`: returns whether a load must start (it already
    /// leads at this epoch otherwise).
    pub fn begin_load(&self, partition: Arc<Partition>, epoch: i32) -> bool {
        let mut shards = self.lock();
        match shards.owned.get(&partition.index).map(|o| o.load) {
            Some(Load::Loaded(e)) | Some(Load::Loading(e)) if e == epoch => false,
            _ => {
                shards.owned.insert(partition.index, Owned { load: Load::Loading(epoch), partition });
                true
            }
        }
    }

    /// The load of `index` at `epoch` is done: returns whether it still applies (the partition
    /// is now loaded), or leadership moved on and what was read must be dropped.
    pub fn finish_load(&self, index: i32, epoch: i32) -> bool {
        let mut shards = self.lock();
        match shards.owned.get_mut(&index) {
            Some(o) if o.load == Load::Loading(epoch) => {
                o.load = Load::Loaded(epoch);
                true
            }
            _ => false,
        }
    }

    /// This broker no longer leads `index`: returns whether it did.
    pub fn unload(&self, index: i32) -> bool {
        self.lock().owned.remove(&index).is_some()
    }

    /// Appends `records` as one batch to partition `index` and waits until the ISR has them.
    /// Errors are mapped as Kafka's coordinators map a failed write for their clients
    /// (`CoordinatorRuntime`, `TransactionStateManager.appendTransactionToLog`).
    pub async fn write(&self, index: i32, records: Vec<(Bytes, Option<Bytes>)>) -> Result<(), ResponseError> {
        self.write_as(index, records, None).await
    }

    /// [`Runtime::write`] for a producer's transaction (`producer` = id and epoch): the records
    /// count once the transaction commits.
    pub async fn write_as(
        &self,
        index: i32,
        records: Vec<(Bytes, Option<Bytes>)>,
        producer: Option<(i64, i16)>,
    ) -> Result<(), ResponseError> {
        if records.is_empty() {
            return Ok(());
        }
        let (partition, config) = {
            let shards = self.lock();
            let partition = shards.owned.get(&index).map(|o| o.partition.clone());
            (partition.ok_or(ResponseError::NotCoordinator)?, shards.config.clone().unwrap_or_default())
        };
        partition.append_internal(&config, records, producer, self.write_timeout_ms).await.map_err(|e| match e {
            ResponseError::UnknownTopicOrPartition
            | ResponseError::NotEnoughReplicas
            | ResponseError::NotEnoughReplicasAfterAppend
            | ResponseError::RequestTimedOut => ResponseError::CoordinatorNotAvailable,
            ResponseError::NotLeaderOrFollower | ResponseError::KafkaStorageError => ResponseError::NotCoordinator,
            other => other,
        })
    }
}

/// Follows a partition of a coordinator's topic: a new leader here loads it (from what it has
/// up to its log end, off the async threads), a former one forgets it.
pub fn follow(coordinator: Arc<dyn StateMachine>, partition: Arc<Partition>, leader_here: bool, epoch: i32) {
    let runtime = coordinator.runtime();
    if !leader_here {
        if runtime.unload(partition.index) {
            coordinator.unload(partition.index);
            tracing::info!("{}: unloaded", partition.name());
        }
        return;
    }
    if !runtime.begin_load(partition.clone(), epoch) {
        return;
    }
    coordinator.forget(partition.index);
    tokio::task::spawn_blocking(move || {
        let records = read(&partition);
        coordinator.load(partition.index, epoch, records);
    });
}

/// Reads a whole partition of a coordinator's topic for loading: the records of every data
/// batch, oldest first.
fn read(p: &Partition) -> Vec<StoredRecord> {
    let upto = active(Defect::CoordinatorLoadsFirstSegmentOnly).then(|| p.first_segment_end());
    let batches = match p.read_all(upto) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!("{}: reading for the coordinator: {e}", p.name());
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for b in &batches {
        if b.is_control() {
            if let Some(m) = crate::partition::producer_state::read_marker(b) {
                out.push(StoredRecord {
                    offset: b.base_offset(),
                    producer_id: m.producer_id,
                    key: None,
                    value: None,
                    marker: Some(m.commit),
                });
            }
            continue;
        }
        let producer_id = if b.is_transactional() { b.producer_id() } else { -1 };
        match b.records() {
            Ok(records) => {
                // The defect: a batch read as if it held one record.
                let take = if active(Defect::CoordinatorLoadsFirstRecordOfBatch) { 1 } else { usize::MAX };
                out.extend(records.into_iter().take(take).map(|r| StoredRecord {
                    offset: r.offset,
                    producer_id,
                    marker: None,
                    key: r.key,
                    value: r.value,
                }));
            }
            Err(e) => tracing::error!("{}: offset {}: {e}", p.name(), b.base_offset()),
        }
    }
    out
}

/// Java's `String.hashCode`, over UTF-16 code units.
pub fn java_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// The partition of a key: `Utils.abs(key.hashCode()) % partitions` (Kafka's `Utils.abs` maps
/// `Integer.MIN_VALUE` to 0).
pub fn partition_for(key: &str, partitions: i32) -> i32 {
    let h = java_hash(key);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_string_hash_codes() {
        // Values of "…".hashCode() in Java.
        assert_eq!(java_hash(""), 0);
        assert_eq!(java_hash("a"), 97);
        assert_eq!(java_hash("hello"), 99162322);
        assert_eq!(java_hash("polygenelubricants"), i32::MIN);
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        assert_eq!(partition_for("hello", 50), 99162322 % 50);
    }
}
