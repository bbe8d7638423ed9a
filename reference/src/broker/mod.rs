//! A broker: its identity, the cluster metadata it replays from the controller, and the
//! partition replicas it hosts.
//!
//! Each hosted partition's log lives in `<data-dir>/<topic>-<partition>/` as Kafka lays it out.
//! Metadata is not stored here: on start the broker registers with the controller and replays
//! the metadata log from the beginning (see [`crate::metadata`]), and it is ready (prints its
//! address) once the controller unfences it. Admin requests (CreateTopics, DeleteTopics,
//! CreatePartitions, IncrementalAlterConfigs) are forwarded to the controller, and answered once
//! this broker's metadata has caught up with their effect.
//!
//! The broker's concerns live in its submodules: [`metadata_replay`] (the image, hosted replicas,
//! coordinators following leadership), [`controller_link`] (registration, heartbeats, forwarded
//! admin requests, ISR changes), [`replica_fetcher`] (follower fetching, ISR upkeep) and
//! [`housekeeping`] (retention, cleaning, producer expiry, checkpoints).

mod controller_link;
mod housekeeping;
mod metadata_replay;
mod replica_fetcher;
mod txn_markers;
pub use txn_markers::TxnOperation;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use kafka_protocol::ResponseError;
use uuid::Uuid;

use crate::client::Client;
use crate::config::BrokerConfig;
use crate::metadata::{self, Image};
use crate::partition::{Changes, Partition, Role};
pub use crate::topic::{Topic, TopicError, validate_topic_name};

pub struct Broker {
    pub config: BrokerConfig,
    /// The host and port clients are told to connect to.
    pub advertised: (String, i32),
    data_dir: PathBuf,
    controller: String,
    /// Addresses to reach other brokers at for replication, overriding what they advertise.
    peers: BTreeMap<i32, String>,
    image: RwLock<Arc<Image>>,
    /// The metadata offset applied so far (the image's next offset).
    applied: tokio::sync::watch::Sender<i64>,
    partitions: RwLock<BTreeMap<(Uuid, i32), Arc<Partition>>>,
    /// Bumped on every append and high-watermark move: wakes long polls and acks=all waits.
    changes: Changes,
    epoch: AtomicI64,
    incarnation: Uuid,
    /// Unfenced by the controller at least once: the broker is ready.
    ready: tokio::sync::watch::Sender<bool>,
    shutting_down: AtomicBool,
    /// Wakes the heartbeat loop so a controlled shutdown starts at once.
    shutdown_requested: tokio::sync::Notify,
    /// The producer id block from the controller: the next id to give out and the block's end.
    producer_ids: tokio::sync::Mutex<(i64, i64)>,
    /// High watermarks read from `replication-offset-checkpoint` at start, by topic and partition.
    checkpointed: BTreeMap<(String, i32), i64>,
    /// Set once the controller agreed to a controlled shutdown.
    shut_down: tokio::sync::watch::Sender<bool>,
    /// The group coordinator for the `__consumer_offsets` partitions this broker leads.
    pub groups: Arc<crate::group::Coordinator>,
    /// The transaction coordinator for the `__transaction_state` partitions this broker leads.
    pub txns: Arc<crate::txn::Coordinator>,
}

impl Broker {
    pub fn new(
        config: BrokerConfig,
        data_dir: &Path,
        advertised: (String, i32),
        controller: String,
        peers: BTreeMap<i32, String>,
    ) -> anyhow::Result<Arc<Broker>> {
        std::fs::create_dir_all(data_dir)?;
        let meta = data_dir.join("meta.properties");
        if !meta.exists() {
            std::fs::write(&meta, format!("version=1\nnode.id={}\n", config.node_id))?;
        }
        let checkpointed = housekeeping::read_hw_checkpoint(&data_dir.join(housekeeping::HW_CHECKPOINT));
        Ok(Arc::new(Broker {
            checkpointed,
            groups: Arc::new(crate::group::Coordinator::new(crate::group::GroupConfig::from_broker(&config))),
            txns: Arc::new(crate::txn::Coordinator::new(crate::txn::TxnConfig::from_broker(&config))),
            producer_ids: tokio::sync::Mutex::new((0, 0)),
            config,
            advertised,
            data_dir: data_dir.to_path_buf(),
            controller,
            peers,
            image: RwLock::new(Arc::new(Image::default())),
            applied: tokio::sync::watch::channel(0).0,
            partitions: RwLock::new(BTreeMap::new()),
            changes: Changes::default(),
            epoch: AtomicI64::new(-1),
            incarnation: Uuid::new_v4(),
            ready: tokio::sync::watch::channel(false).0,
            shutting_down: AtomicBool::new(false),
            shutdown_requested: tokio::sync::Notify::new(),
            shut_down: tokio::sync::watch::channel(false).0,
        }))
    }

    pub fn node_id(&self) -> i32 {
        self.config.node_id
    }

    pub fn image(&self) -> Arc<Image> {
        self.image.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn cluster_id(&self) -> String {
        self.image().cluster_id.clone()
    }

    fn topic_of(&self, t: &metadata::TopicImage) -> Topic {
        let mut config = self.config.new_topic_config();
        for (k, v) in &t.configs {
            if let Err(e) = config.set(k, v) {
                tracing::warn!("topic {}: config {k}={v}: {e}", t.name);
            }
        }
        Topic { name: t.name.clone(), id: t.id, config, partitions: t.partitions.clone() }
    }

    pub fn topic(&self, name: &str) -> Option<Topic> {
        let image = self.image();
        image.topic(name).map(|t| self.topic_of(t))
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<Topic> {
        let image = self.image();
        image.topic_by_id(id).map(|t| self.topic_of(t))
    }

    pub fn topics(&self) -> Vec<Topic> {
        let image = self.image();
        image.topics.values().map(|t| self.topic_of(t)).collect()
    }

    /// The replica of a partition hosted here.
    pub fn local(&self, topic_id: Uuid, index: i32) -> Option<Arc<Partition>> {
        self.partitions.read().unwrap_or_else(|p| p.into_inner()).get(&(topic_id, index)).cloned()
    }

    /// The replica a client request for `topic`/`index` may use: the leader's (or, with
    /// `any_replica`, any replica's), checked against the client's `current_epoch` (KIP-320;
    /// -1 skips the check). The error is the code Kafka answers with.
    pub fn replica_for(
        &self,
        topic: Option<&Topic>,
        index: i32,
        current_epoch: i32,
        any_replica: bool,
    ) -> Result<Arc<Partition>, ResponseError> {
        let topic = topic.ok_or(ResponseError::UnknownTopicOrPartition)?;
        if index < 0 || index >= topic.partition_count() {
            return Err(ResponseError::UnknownTopicOrPartition);
        }
        let p = self.local(topic.id, index).ok_or(ResponseError::NotLeaderOrFollower)?;
        let (role, leader_epoch) = p.leadership();
        if !any_replica && role != Role::Leader {
            return Err(ResponseError::NotLeaderOrFollower);
        }
        if current_epoch >= 0 && current_epoch < leader_epoch {
            return Err(ResponseError::FencedLeaderEpoch);
        }
        if current_epoch > leader_epoch {
            return Err(ResponseError::UnknownLeaderEpoch);
        }
        Ok(p)
    }

    pub fn local_partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    /// Wakes long-polling fetches and acks=all waits.
    pub fn notify_append(&self) {
        self.changes.notify();
    }

    pub fn subscribe_appends(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Resolves once the controller has unfenced this broker.
    pub async fn wait_ready(&self) {
        let mut ready = self.ready.subscribe();
        let _ = ready.wait_for(|r| *r).await;
    }

    /// Starts the broker's background work: registration and heartbeats, metadata replay, and
    /// the leader's ISR checks.
    pub fn start(self: &Arc<Self>) {
        tokio::spawn(controller_link::heartbeat_loop(self.clone()));
        tokio::spawn(metadata_replay::metadata_loop(self.clone()));
        tokio::spawn(replica_fetcher::isr_loop(self.clone()));
        tokio::spawn(self.groups.clone().tick_loop());
        tokio::spawn(self.txns.clone().sweep_loop());
        if let Some(jobs) = self.txns.take_marker_jobs() {
            tokio::spawn(txn_markers::marker_loop(self.clone(), jobs));
        }
        housekeeping::start(self);
    }

    /// A controlled shutdown (KIP-631): asks the controller to move leadership away, waits until
    /// it agrees (at most `limit`), then flushes every log.
    pub async fn shutdown(&self, limit: Duration) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.shutdown_requested.notify_one();
        let mut done = self.shut_down.subscribe();
        if tokio::time::timeout(limit, done.wait_for(|d| *d)).await.is_err() {
            tracing::warn!("the controller did not confirm the controlled shutdown in time");
        }
        for p in self.local_partitions() {
            p.stop_fetching();
            if let Err(e) = p.flush() {
                tracing::warn!("flushing {}: {e}", p.name());
            }
        }
        self.checkpoint_hw();
    }

    fn client_timeout(&self) -> Duration {
        Duration::from_millis(self.config.broker_session_timeout_ms.max(1000))
    }

    async fn connect(&self, addr: &str) -> Result<Client, crate::client::ClientError> {
        Client::connect(addr, &format!("broker-{}", self.node_id()), self.client_timeout()).await
    }

    /// The address to reach broker `id` at for replication.
    fn peer_address(&self, id: i32) -> Option<String> {
        if let Some(a) = self.peers.get(&id) {
            return Some(a.clone());
        }
        self.image().brokers.get(&id).map(|b| format!("{}:{}", b.host, b.port))
    }
}

/// A new cluster id: Kafka's are base64url-encoded UUIDs (22 characters).
pub fn new_cluster_id() -> String {
    base64url(Uuid::new_v4().as_bytes())
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_are_22_url_safe_characters() {
        let a = new_cluster_id();
        assert_eq!(a.len(), 22);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }
}
