//! What Metadata says about a cluster: its live brokers and, per partition, the leader, its
//! epoch, the replicas, the ISR and the offline replicas. Replication steps poll it to wait for
//! an election or an ISR change, and wire-client steps use it to send to a partition's leader,
//! as Kafka clients do.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{ApiKey, MetadataRequest, RequestKind, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::kafka::error_name;
use crate::wire::{WireClient, WireError};

/// One partition as Metadata shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartitionState {
    /// Kafka's error name for the partition (`NONE`, `LEADER_NOT_AVAILABLE`, ...).
    pub error: String,
    /// -1 when the partition has no leader.
    pub leader: i32,
    /// -1 before Metadata v7, which first carries it.
    pub leader_epoch: i32,
    /// Assignment order: the first is the preferred leader.
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// Replicas on brokers that are fenced or down (Metadata v5+).
    pub offline: Vec<i32>,
}

impl PartitionState {
    pub fn has_leader(&self) -> bool {
        self.leader >= 0 && self.error != "LEADER_NOT_AVAILABLE"
    }

    /// The replicas that are not the leader, in assignment order.
    pub fn followers(&self) -> Vec<i32> {
        self.replicas.iter().copied().filter(|r| *r != self.leader).collect()
    }
}

/// One Metadata answer, from one broker.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// The broker that answered (its address).
    pub asked: String,
    /// Live brokers, by node id: their advertised `host:port`.
    pub brokers: BTreeMap<i32, String>,
    /// Topic -> Kafka's error name for the topic (`NONE` when it is known).
    pub topics: BTreeMap<String, String>,
    pub partitions: BTreeMap<(String, i32), PartitionState>,
}

impl View {
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionState> {
        self.partitions.get(&(topic.to_string(), partition))
    }

    /// The partition's state in a line, for verdicts and errors.
    pub fn describe(&self, topic: &str, partition: i32) -> String {
        let brokers: Vec<i32> = self.brokers.keys().copied().collect();
        match self.partition(topic, partition) {
            Some(p) => {
                let mut s = format!(
                    "{topic}-{partition} (asked {}): leader {} (epoch {}), replicas {:?}, isr {:?}, offline {:?}",
                    self.asked, p.leader, p.leader_epoch, p.replicas, p.isr, p.offline
                );
                if p.error != "NONE" {
                    let _ = write!(s, ", error {}", p.error);
                }
                let _ = write!(s, "; live brokers {brokers:?}");
                s
            }
            None => format!(
                "Metadata from {} has no partition {partition} of {topic} (topic error {}); live brokers {brokers:?}",
                self.asked,
                self.topics.get(topic).map_or("absent", String::as_str)
            ),
        }
    }
}

/// Asks one broker for the brokers and the given topics (none: no topic at all), without
/// creating any topic (v4+ `allow_auto_topic_creation=false`).
pub async fn fetch(client: &mut WireClient, asked: &str, topics: &[String]) -> Result<View, WireError> {
    let version = client.version_for(ApiKey::Metadata)?;
    let mut req = MetadataRequest::default().with_topics(Some(
        topics
            .iter()
            .map(|t| MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_string(t.clone())))))
            .collect(),
    ));
    if version >= 4 {
        req = req.with_allow_auto_topic_creation(false);
    }
    let ResponseKind::Metadata(m) = client.request_at(RequestKind::Metadata(req), version).await? else {
        return Err(WireError::Decode {
            key: ApiKey::Metadata,
            version,
            message: "Metadata answered with another response type".into(),
        });
    };
    let mut view = View { asked: asked.to_string(), ..View::default() };
    for b in &m.brokers {
        view.brokers.insert(b.node_id.0, format!("{}:{}", b.host.as_str(), b.port));
    }
    for t in &m.topics {
        let Some(name) = t.name.as_ref().map(|n| n.0.to_string()) else { continue };
        view.topics.insert(name.clone(), error_name(t.error_code));
        for p in &t.partitions {
            view.partitions.insert(
                (name.clone(), p.partition_index),
                PartitionState {
                    error: error_name(p.error_code),
                    leader: p.leader_id.0,
                    leader_epoch: p.leader_epoch,
                    replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                    isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                    offline: p.offline_replicas.iter().map(|b| b.0).collect(),
                },
            );
        }
    }
    Ok(view)
}

/// Parses a list of node ids such as "1,2,3" (spaces allowed).
pub fn parse_ids(list: &str) -> Result<Vec<i32>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<i32>().map_err(|_| format!("{s:?} in {list:?} is not a broker id")))
        .collect()
}

/// The same set of brokers, whatever the order.
pub fn same_set(a: &[i32], b: &[i32]) -> bool {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort_unstable();
    a.dedup();
    b.sort_unstable();
    b.dedup();
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_lists_parse_and_compare_as_sets() {
        assert_eq!(parse_ids("1, 2,3").as_deref(), Ok(&[1, 2, 3][..]));
        assert!(parse_ids("1,x").is_err());
        assert!(same_set(&[3, 1, 2], &[1, 2, 3]));
        assert!(!same_set(&[1, 2], &[1, 2, 3]));
    }

    #[test]
    fn a_partition_without_a_leader_has_none() {
        let p = PartitionState { error: "LEADER_NOT_AVAILABLE".into(), leader: -1, ..Default::default() };
        assert!(!p.has_leader());
        let p = PartitionState { error: "NONE".into(), leader: 2, replicas: vec![1, 2, 3], ..Default::default() };
        assert!(p.has_leader());
        assert_eq!(p.followers(), vec![1, 3]);
    }
}
