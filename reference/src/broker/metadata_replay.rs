//! Replaying the controller's metadata log: the image, then this broker's replicas (opened,
//! made leader or follower, deleted) and the coordinators that follow their topics' leadership.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::Broker;
use super::replica_fetcher::follower_loop;
use crate::coordinator::StateMachine;
use crate::defects::{Defect, active};
use crate::metadata::{self, METADATA_TOPIC, MetadataRecord, NO_LEADER, PartitionState};
use crate::partition::Partition;
use crate::topic::Topic;

/// Replays the controller's metadata log, long-polling it with Fetch.
pub(super) async fn metadata_loop(broker: Arc<Broker>) {
    let backoff = Duration::from_millis(100);
    loop {
        let Ok(mut client) = broker.connect(&broker.controller).await else {
            tokio::time::sleep(backoff).await;
            continue;
        };
        loop {
            let offset = *broker.applied.borrow();
            let request = FetchRequest::default()
                .with_replica_id(BrokerId(broker.node_id()))
                .with_max_wait_ms(500)
                .with_min_bytes(1)
                .with_max_bytes(8 << 20)
                .with_topics(vec![
                    fetch_request::FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
                        .with_partitions(vec![
                            fetch_request::FetchPartition::default()
                                .with_fetch_offset(offset)
                                .with_partition_max_bytes(8 << 20),
                        ]),
                ]);
            let response = match client.request(RequestKind::Fetch(request), 12, Duration::from_millis(500)).await {
                Ok(ResponseKind::Fetch(r)) => r,
                _ => break,
            };
            let Some(pd) = response.responses.first().and_then(|t| t.partitions.first()) else { break };
            if pd.error_code != 0 {
                tracing::error!("metadata fetch at {offset}: error {}", pd.error_code);
                break;
            }
            let bytes = pd.records.clone().unwrap_or_default();
            if bytes.is_empty() {
                continue;
            }
            match metadata::decode(bytes) {
                Ok(records) => broker.apply_metadata(records),
                Err(e) => {
                    tracing::error!("metadata at {offset}: {e}");
                    break;
                }
            }
        }
        tokio::time::sleep(backoff).await;
    }
}

impl Broker {
    /// Applies metadata records: the image, then this broker's replicas.
    fn apply_metadata(self: &Arc<Self>, records: Vec<(i64, MetadataRecord)>) {
        let mut image = (*self.image()).clone();
        let mut touched: Vec<(Uuid, i32)> = Vec::new();
        let mut removed: Vec<Uuid> = Vec::new();
        let mut configs: Vec<Uuid> = Vec::new();
        for (offset, r) in &records {
            image.apply(*offset, r);
            match r {
                MetadataRecord::Partition { topic_id, partition, .. } => touched.push((*topic_id, *partition)),
                MetadataRecord::RemoveTopic { id } => removed.push(*id),
                MetadataRecord::TopicConfigs { id, .. } => configs.push(*id),
                MetadataRecord::UnfenceBroker { id, epoch }
                    if *id == self.node_id() && *epoch == self.epoch.load(Ordering::SeqCst) =>
                {
                    self.ready.send_replace(true);
                }
                _ => {}
            }
        }
        let image = Arc::new(image);
        *self.image.write().unwrap_or_else(|p| p.into_inner()) = image.clone();
        for c in self.coordinators() {
            let runtime = c.runtime();
            let topic = image.topic(runtime.topic()).map(|t| (t.partitions.len() as i32, self.topic_of(t).config));
            runtime.set_topic(topic);
        }
        for id in removed {
            self.remove_topic(id);
        }
        for id in configs {
            if let Some(t) = image.topic_by_id(id) {
                let topic = self.topic_of(t);
                for p in self.local_partitions().into_iter().filter(|p| p.topic_id == id) {
                    p.set_log_config(topic.config.log_config());
                }
            }
        }
        touched.sort_unstable();
        touched.dedup();
        for (topic_id, index) in touched {
            let Some(t) = image.topic_by_id(topic_id) else { continue };
            let Some(state) = usize::try_from(index).ok().and_then(|i| t.partitions.get(i)) else { continue };
            if state.replicas.contains(&self.node_id()) {
                let config = self.topic_of(t).config.log_config();
                self.apply_partition(&t.name, topic_id, index, state, config);
            }
        }
        self.applied.send_replace(image.next_offset);
        self.notify_append();
    }

    fn apply_partition(
        self: &Arc<Self>,
        topic: &str,
        topic_id: Uuid,
        index: i32,
        s: &PartitionState,
        config: crate::log::LogConfig,
    ) {
        let partition = match self.local(topic_id, index) {
            Some(p) => p,
            None => {
                let dir = self.data_dir.join(format!("{topic}-{index}"));
                let hw = self.checkpointed.get(&(topic.to_string(), index)).copied().unwrap_or(0);
                match Partition::open(topic, topic_id, index, &dir, config, hw, self.changes.clone()) {
                    Ok(p) => {
                        let p = Arc::new(p);
                        self.partitions.write().unwrap_or_else(|p| p.into_inner()).insert((topic_id, index), p.clone());
                        p
                    }
                    Err(e) => {
                        tracing::error!("opening {topic}-{index}: {e}");
                        return;
                    }
                }
            }
        };
        let mut st = partition.state();
        if s.leader_epoch < st.leader_epoch
            || (s.leader_epoch == st.leader_epoch && s.partition_epoch <= st.partition_epoch)
        {
            // Already known (an AlterPartition answer got here first).
            return;
        }
        if s.leader == self.node_id() {
            partition.become_leader(&mut st, self.node_id(), s);
        } else if partition.become_follower(&mut st, s) && s.leader != NO_LEADER {
            let task = tokio::spawn(follower_loop(self.clone(), partition.clone(), s.leader, s.leader_epoch));
            st.fetcher = Some(task.abort_handle());
        }
        drop(st);
        if let Some(c) = self.coordinator_of(topic) {
            crate::coordinator::follow(c, partition, s.leader == self.node_id(), s.leader_epoch);
        }
    }

    /// The coordinators that keep their state on internal topics.
    pub(super) fn coordinators(&self) -> Vec<Arc<dyn StateMachine>> {
        vec![self.groups.clone(), self.txns.clone()]
    }

    fn coordinator_of(&self, topic: &str) -> Option<Arc<dyn StateMachine>> {
        self.coordinators().into_iter().find(|c| c.runtime().topic() == topic)
    }

    /// FindCoordinator's first step: `__consumer_offsets` exists, or its creation is started
    /// (`offsets.topic.num.partitions`, `offsets.topic.replication.factor`, compacted).
    pub fn ensure_offsets_topic(self: &Arc<Self>) -> Option<Topic> {
        let configs = vec![
            ("cleanup.policy".to_string(), Some("compact".to_string())),
            ("compression.type".to_string(), Some("producer".to_string())),
            ("segment.bytes".to_string(), Some(self.config.offsets_topic_segment_bytes.to_string())),
        ];
        self.ensure_internal_topic(
            crate::group::OFFSETS_TOPIC,
            self.config.offsets_topic_num_partitions,
            self.config.offsets_topic_replication_factor,
            configs,
        )
    }

    /// FindCoordinator for a transactional id: `__transaction_state` exists, or its creation is
    /// started (`transaction.state.log.*`, compacted, uncompressed, no unclean election).
    pub fn ensure_transaction_state_topic(self: &Arc<Self>) -> Option<Topic> {
        let c = &self.config;
        let configs = vec![
            ("cleanup.policy".to_string(), Some("compact".to_string())),
            ("compression.type".to_string(), Some("uncompressed".to_string())),
            ("unclean.leader.election.enable".to_string(), Some("false".to_string())),
            ("min.insync.replicas".to_string(), Some(c.transaction_state_log_min_isr.to_string())),
            ("segment.bytes".to_string(), Some(c.transaction_state_log_segment_bytes.to_string())),
        ];
        self.ensure_internal_topic(
            crate::txn::TRANSACTION_STATE_TOPIC,
            c.transaction_state_log_num_partitions,
            c.transaction_state_log_replication_factor,
            configs,
        )
    }

    /// An internal topic exists, or its creation is started in the background (answers say
    /// COORDINATOR_NOT_AVAILABLE meanwhile, as Kafka's do).
    fn ensure_internal_topic(
        self: &Arc<Self>,
        name: &'static str,
        partitions: i32,
        replication_factor: i16,
        configs: Vec<(String, Option<String>)>,
    ) -> Option<Topic> {
        if let Some(t) = self.topic(name) {
            return Some(t);
        }
        let broker = self.clone();
        tokio::spawn(async move {
            match broker.create_topic(name, partitions, replication_factor, &configs, &[], false).await {
                Ok(_) => tracing::info!("created {name}"),
                Err(e) if e.code == ResponseError::TopicAlreadyExists => {}
                Err(e) => tracing::warn!("creating {name}: {:?}: {}", e.code, e.message),
            }
        });
        None
    }

    fn remove_topic(&self, id: Uuid) {
        let gone: Vec<Arc<Partition>> = {
            let mut parts = self.partitions.write().unwrap_or_else(|p| p.into_inner());
            let keys: Vec<(Uuid, i32)> = parts.keys().filter(|(t, _)| *t == id).copied().collect();
            keys.into_iter().filter_map(|k| parts.remove(&k)).collect()
        };
        for p in gone {
            if let Some(c) = self.coordinator_of(&p.topic) {
                crate::coordinator::follow(c, p.clone(), false, -1);
            }
            p.stop_fetching();
            if active(Defect::DeleteTopicKeepsLog) {
                continue;
            }
            // A reader still holding the partition keeps its file handles; the directory goes now.
            if let Err(e) = std::fs::remove_dir_all(&p.dir) {
                tracing::warn!("deleting {}: {e}", p.dir.display());
            }
        }
    }
}
