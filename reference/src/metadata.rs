//! The cluster's metadata: a log of records the controller writes and every broker replays, as
//! in KRaft (KIP-500, KIP-631). The log is a real Kafka partition, `__cluster_metadata-0`, in the
//! controller's data directory; brokers read it with Fetch like any follower and apply each
//! record to their [`Image`].
//!
//! One difference from Kafka, said plainly: the record values are JSON ([`MetadataRecord`]), not
//! Kafka's binary `RegisterBrokerRecord`/`PartitionRecord`/... schemas, and a partition change is
//! written as the partition's whole new state rather than as a delta.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use indexmap::IndexMap;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The metadata topic's name, as in KRaft.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

/// No leader: Kafka's `LeaderConstants.NO_LEADER`.
pub const NO_LEADER: i32 = -1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum MetadataRecord {
    /// The first record: the cluster's id.
    Cluster {
        id: String,
    },
    /// A broker (re-)registered; it starts fenced. Its epoch is the offset of this record.
    RegisterBroker {
        id: i32,
        epoch: i64,
        incarnation: Uuid,
        host: String,
        port: i32,
    },
    /// A broker may not lead or be in an ISR (its session expired, or it shut down).
    FenceBroker {
        id: i32,
        epoch: i64,
    },
    /// A registered broker caught up with the metadata log and serves again.
    UnfenceBroker {
        id: i32,
        epoch: i64,
    },
    Topic {
        name: String,
        id: Uuid,
    },
    /// A topic's config overrides, all of them.
    TopicConfigs {
        id: Uuid,
        configs: BTreeMap<String, String>,
    },
    /// A partition's whole state: written at creation and on every change.
    Partition {
        topic_id: Uuid,
        partition: i32,
        state: PartitionState,
    },
    RemoveTopic {
        id: Uuid,
    },
    /// Producer ids below `next` are handed out (AllocateProducerIds).
    ProducerIds {
        next: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    /// The assignment; the first replica is the preferred leader.
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    /// Bumped on every change; AlterPartition must name the current one (KIP-497).
    pub partition_epoch: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    pub id: i32,
    pub epoch: i64,
    pub incarnation: Uuid,
    pub host: String,
    pub port: i32,
    pub fenced: bool,
}

#[derive(Debug, Clone)]
pub struct TopicImage {
    pub name: String,
    pub id: Uuid,
    pub configs: BTreeMap<String, String>,
    pub partitions: Vec<PartitionState>,
}

/// The cluster as of some offset of the metadata log.
#[derive(Debug, Clone, Default)]
pub struct Image {
    pub cluster_id: String,
    pub brokers: BTreeMap<i32, BrokerInfo>,
    pub topics: IndexMap<String, TopicImage>,
    by_id: HashMap<Uuid, String>,
    /// The offset after the last applied record (0 for an empty log).
    pub next_offset: i64,
    /// The first producer id no broker has been given.
    pub next_producer_id: i64,
}

impl Image {
    pub fn topic(&self, name: &str) -> Option<&TopicImage> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<&TopicImage> {
        self.by_id.get(&id).and_then(|n| self.topics.get(n))
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionState> {
        self.topics.get(topic).and_then(|t| usize::try_from(partition).ok().and_then(|i| t.partitions.get(i)))
    }

    /// Registered brokers that are not fenced, in id order.
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerInfo> {
        self.brokers.values().filter(|b| !b.fenced)
    }

    pub fn is_live(&self, id: i32) -> bool {
        self.brokers.get(&id).is_some_and(|b| !b.fenced)
    }

    /// Applies one record written at `offset`.
    pub fn apply(&mut self, offset: i64, record: &MetadataRecord) {
        match record {
            MetadataRecord::Cluster { id } => self.cluster_id = id.clone(),
            MetadataRecord::RegisterBroker { id, epoch, incarnation, host, port } => {
                self.brokers.insert(
                    *id,
                    BrokerInfo {
                        id: *id,
                        epoch: *epoch,
                        incarnation: *incarnation,
                        host: host.clone(),
                        port: *port,
                        fenced: true,
                    },
                );
            }
            MetadataRecord::FenceBroker { id, epoch } | MetadataRecord::UnfenceBroker { id, epoch } => {
                if let Some(b) = self.brokers.get_mut(id)
                    && b.epoch == *epoch
                {
                    b.fenced = matches!(record, MetadataRecord::FenceBroker { .. });
                }
            }
            MetadataRecord::Topic { name, id } => {
                self.by_id.insert(*id, name.clone());
                self.topics.insert(
                    name.clone(),
                    TopicImage { name: name.clone(), id: *id, configs: BTreeMap::new(), partitions: Vec::new() },
                );
            }
            MetadataRecord::TopicConfigs { id, configs } => {
                if let Some(t) = self.by_id.get(id).and_then(|n| self.topics.get_mut(n)) {
                    t.configs = configs.clone();
                }
            }
            MetadataRecord::Partition { topic_id, partition, state } => {
                if let Some(t) = self.by_id.get(topic_id).and_then(|n| self.topics.get_mut(n)) {
                    let i = usize::try_from(*partition).unwrap_or(usize::MAX);
                    if i < t.partitions.len() {
                        t.partitions[i] = state.clone();
                    } else if i == t.partitions.len() {
                        t.partitions.push(state.clone());
                    } else {
                        tracing::error!("metadata offset {offset}: partition {partition} arrives out of order");
                    }
                }
            }
            MetadataRecord::ProducerIds { next } => self.next_producer_id = self.next_producer_id.max(*next),
            MetadataRecord::RemoveTopic { id } => {
                if let Some(name) = self.by_id.remove(id) {
                    self.topics.shift_remove(&name);
                }
            }
        }
        self.next_offset = offset + 1;
    }
}

/// Encodes records as one uncompressed record batch starting at offset 0 (the log assigns the
/// real offsets).
pub fn encode(records: &[MetadataRecord], now_ms: i64) -> anyhow::Result<Bytes> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            Ok(Record {
                transactional: false,
                control: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: i as i32 - 1,
                timestamp: now_ms,
                key: None,
                value: Some(Bytes::from(serde_json::to_vec(r)?)),
                headers: IndexMap::new(),
                delete_horizon: false,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions { version: 2, compression: Compression::None },
    )?;
    Ok(buf.freeze())
}

/// Decodes the records of a Fetch response's record set, with their offsets.
pub fn decode(mut bytes: Bytes) -> anyhow::Result<Vec<(i64, MetadataRecord)>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let set = RecordBatchDecoder::decode(&mut bytes)?;
        for r in set.records {
            let value = r.value.ok_or_else(|| anyhow::anyhow!("metadata record at {} has no value", r.offset))?;
            let record: MetadataRecord = serde_json::from_slice(&value)
                .map_err(|e| anyhow::anyhow!("metadata record at {} does not parse: {e}", r.offset))?;
            out.push((r.offset, record));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_a_batch_and_build_an_image() {
        let id = Uuid::new_v4();
        let state =
            PartitionState { replicas: vec![1, 2], isr: vec![1, 2], leader: 1, leader_epoch: 0, partition_epoch: 0 };
        let records = vec![
            MetadataRecord::Cluster { id: "c".into() },
            MetadataRecord::RegisterBroker { id: 1, epoch: 1, incarnation: Uuid::nil(), host: "h".into(), port: 1 },
            MetadataRecord::UnfenceBroker { id: 1, epoch: 1 },
            MetadataRecord::Topic { name: "t".into(), id },
            MetadataRecord::Partition { topic_id: id, partition: 0, state: state.clone() },
        ];
        let decoded = decode(encode(&records, 0).expect("encode")).expect("decode");
        let mut image = Image::default();
        for (offset, r) in &decoded {
            image.apply(*offset, r);
        }
        assert_eq!(decoded.len(), 5);
        assert_eq!(image.next_offset, 5);
        assert!(image.is_live(1));
        assert_eq!(image.partition("t", 0), Some(&state));
        image.apply(5, &MetadataRecord::RemoveTopic { id });
        assert!(image.topic("t").is_none());
    }
}
