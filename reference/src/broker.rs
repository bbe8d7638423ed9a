//! A broker: its identity, the cluster metadata it replays from the controller, and the
//! partition replicas it hosts.
//!
//! Each hosted partition's log lives in `<data-dir>/<topic>-<partition>/` as Kafka lays it out.
//! Metadata is not stored here: on start the broker registers with the controller and replays
//! the metadata log from the beginning (see [`crate::metadata`]), and it is ready (prints its
//! address) once the controller unfences it. Admin requests (CreateTopics, DeleteTopics,
//! CreatePartitions, IncrementalAlterConfigs) are forwarded to the controller, and answered once
//! this broker's metadata has caught up with their effect.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::client::Client;
use crate::config::{BrokerConfig, TopicConfig};
use crate::defects::{Defect, active};
use crate::log::{Batch, split_batches};
use crate::metadata::{self, Image, METADATA_TOPIC, MetadataRecord, NO_LEADER, PartitionState};
use crate::replica::{Partition, Role};

/// Kafka's topic name rules (`Topic.validate`): 1 to 249 characters of `[a-zA-Z0-9._-]`,
/// and neither `.` nor `..`.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    // The defect: only emptiness is checked.
    if crate::defects::active(crate::defects::Defect::TopicNamesUnchecked) && !name.is_empty() {
        return Ok(());
    }
    if name.is_empty() {
        return Err("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return Err("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > 249 {
        return Err(format!("Topic name is illegal, it can't be longer than 249 characters, topic name: {name}"));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
        return Err(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A topic as the cluster metadata describes it, with its effective config.
#[derive(Clone)]
pub struct Topic {
    pub name: String,
    pub id: Uuid,
    pub config: TopicConfig,
    pub partitions: Vec<PartitionState>,
}

impl Topic {
    pub fn config(&self) -> TopicConfig {
        self.config.clone()
    }

    pub fn partition_count(&self) -> i32 {
        self.partitions.len() as i32
    }
}

/// Why a topic operation was refused: a Kafka error code and its message, returned as data.
#[derive(Debug, Clone)]
pub struct TopicError {
    pub code: ResponseError,
    pub message: String,
}

impl TopicError {
    pub fn new(code: ResponseError, message: impl Into<String>) -> Self {
        TopicError { code, message: message.into() }
    }
}

impl From<crate::config::ConfigError> for TopicError {
    fn from(e: crate::config::ConfigError) -> Self {
        TopicError::new(ResponseError::InvalidConfig, e.to_string())
    }
}

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
    appends: tokio::sync::watch::Sender<u64>,
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
    pub groups: crate::group::Coordinator,
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
        let checkpointed = read_hw_checkpoint(&data_dir.join(HW_CHECKPOINT));
        Ok(Arc::new(Broker {
            checkpointed,
            groups: crate::group::Coordinator::new(config.group_config()),
            producer_ids: tokio::sync::Mutex::new((0, 0)),
            config,
            advertised,
            data_dir: data_dir.to_path_buf(),
            controller,
            peers,
            image: RwLock::new(Arc::new(Image::default())),
            applied: tokio::sync::watch::channel(0).0,
            partitions: RwLock::new(BTreeMap::new()),
            appends: tokio::sync::watch::channel(0).0,
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
        let st = p.state();
        if !any_replica && st.role != Role::Leader {
            return Err(ResponseError::NotLeaderOrFollower);
        }
        if current_epoch >= 0 && current_epoch < st.leader_epoch {
            return Err(ResponseError::FencedLeaderEpoch);
        }
        if current_epoch > st.leader_epoch {
            return Err(ResponseError::UnknownLeaderEpoch);
        }
        drop(st);
        Ok(p)
    }

    pub fn local_partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    /// Wakes long-polling fetches and acks=all waits.
    pub fn notify_append(&self) {
        self.appends.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn subscribe_appends(&self) -> tokio::sync::watch::Receiver<u64> {
        self.appends.subscribe()
    }

    /// Resolves once the controller has unfenced this broker.
    pub async fn wait_ready(&self) {
        let mut ready = self.ready.subscribe();
        let _ = ready.wait_for(|r| *r).await;
    }

    /// Starts the broker's background work: registration and heartbeats, metadata replay, and
    /// the leader's ISR checks.
    pub fn start(self: &Arc<Self>) {
        tokio::spawn(heartbeat_loop(self.clone()));
        tokio::spawn(metadata_loop(self.clone()));
        tokio::spawn(isr_loop(self.clone()));
        tokio::spawn(crate::group::tick_loop(self.clone()));
        let broker = self.clone();
        tokio::spawn(async move {
            let mut interval =
                tokio::time::interval(Duration::from_millis(broker.config.log_retention_check_interval_ms));
            loop {
                interval.tick().await;
                broker.apply_retention();
            }
        });
        if self.config.log_cleaner_enable {
            let broker = self.clone();
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(Duration::from_millis(broker.config.log_cleaner_backoff_ms));
                loop {
                    interval.tick().await;
                    broker.clean_logs();
                }
            });
        }
        let broker = self.clone();
        tokio::spawn(async move {
            let every = Duration::from_millis(broker.config.producer_id_expiration_check_interval_ms);
            let mut interval = tokio::time::interval(every);
            loop {
                interval.tick().await;
                let expiration = i64::try_from(broker.config.producer_id_expiration_ms).unwrap_or(i64::MAX);
                for p in broker.local_partitions() {
                    let gone = p.state().producers.expire(now_ms(), expiration);
                    if gone > 0 {
                        tracing::info!("{}: {gone} idempotent producers expired", p.name());
                    }
                }
            }
        });
        let broker = self.clone();
        tokio::spawn(async move {
            let every = Duration::from_millis(broker.config.replica_high_watermark_checkpoint_interval_ms);
            let mut interval = tokio::time::interval(every);
            loop {
                interval.tick().await;
                broker.checkpoint_hw();
            }
        });
    }

    /// A producer id no one else has (InitProducerId): from this broker's block, asking the
    /// controller for a new block (AllocateProducerIds) when it is used up.
    pub async fn new_producer_id(&self) -> Result<i64, TopicError> {
        let mut ids = self.producer_ids.lock().await;
        if ids.0 >= ids.1 {
            // Kafka's answer while no block of ids is at hand: retriable.
            let unavailable =
                |e: String| TopicError::new(ResponseError::CoordinatorLoadInProgress, format!("controller: {e}"));
            let mut client = self.connect(&self.controller).await.map_err(|e| unavailable(e.to_string()))?;
            let request = AllocateProducerIdsRequest::default()
                .with_broker_id(BrokerId(self.node_id()))
                .with_broker_epoch(self.epoch.load(Ordering::SeqCst));
            let ResponseKind::AllocateProducerIds(r) = client
                .request(RequestKind::AllocateProducerIds(request), 0, Duration::ZERO)
                .await
                .map_err(|e| unavailable(e.to_string()))?
            else {
                return Err(other_api());
            };
            refused(r.error_code, None)?;
            *ids = (r.producer_id_start.0, r.producer_id_start.0 + i64::from(r.producer_id_len));
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    /// Kafka's retention pass (every `log.retention.check.interval.ms`), on every replica: whole
    /// segments below the high watermark go by `retention.ms` and `retention.bytes` when the
    /// topic's cleanup.policy includes delete, and below the log start offset always.
    fn apply_retention(&self) {
        for p in self.local_partitions() {
            let Some(topic) = self.topic_by_id(p.topic_id) else { continue };
            let cfg = topic.config;
            let (ms, bytes) = if cfg.deletes() { (cfg.retention_ms(), cfg.retention_bytes()) } else { (-1, -1) };
            let st = p.state();
            let result = p.log().apply_retention(now_ms(), ms, bytes, st.hw);
            drop(st);
            match result {
                Ok(o) if o.deleted_segments > 0 => tracing::info!(
                    "{}: retention deleted {} segments; the log starts at {}",
                    p.name(),
                    o.deleted_segments,
                    o.log_start_offset
                ),
                Ok(_) => {}
                Err(e) => tracing::error!("{}: retention: {e}", p.name()),
            }
        }
    }

    /// One cleaner pass over the compacted partitions hosted here (Kafka's LogCleaner, which
    /// runs on every replica), below each one's high watermark.
    fn clean_logs(&self) {
        for p in self.local_partitions() {
            let Some(topic) = self.topic_by_id(p.topic_id) else { continue };
            if !topic.config.compacted() {
                continue;
            }
            let st = p.state();
            let cfg = topic.config.cleaner_config(now_ms(), st.hw);
            let result = p.log().compact(&cfg);
            drop(st);
            match result {
                Ok(o) if o.cleaned => tracing::info!(
                    "{}: cleaned up to {}: {} records and {} tombstones removed",
                    p.name(),
                    o.first_uncleanable_offset,
                    o.records_removed,
                    o.tombstones_removed
                ),
                Ok(_) => {}
                Err(e) => tracing::error!("{}: cleaning: {e}", p.name()),
            }
        }
    }

    /// Writes every hosted partition's high watermark to `replication-offset-checkpoint`, in
    /// Kafka's format (version, count, then `topic partition offset` lines).
    pub fn checkpoint_hw(&self) {
        let parts = self.local_partitions();
        let mut text = format!("0\n{}\n", parts.len());
        for p in &parts {
            text.push_str(&format!("{} {} {}\n", p.topic, p.index, p.state().hw));
        }
        let tmp = self.data_dir.join(format!("{HW_CHECKPOINT}.tmp"));
        if let Err(e) =
            std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, self.data_dir.join(HW_CHECKPOINT)))
        {
            tracing::warn!("writing {HW_CHECKPOINT}: {e}");
        }
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
            let mut st = p.state();
            if let Some(f) = st.fetcher.take() {
                f.abort();
            }
            drop(st);
            if let Err(e) = p.log().flush() {
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

    /// Sends an admin request to the controller and waits until this broker's metadata shows
    /// its effect (bounded).
    pub async fn forward(&self, request: RequestKind, version: i16) -> Result<ResponseKind, TopicError> {
        let unavailable = |e: String| TopicError::new(ResponseError::RequestTimedOut, format!("controller: {e}"));
        let mut client = self.connect(&self.controller).await.map_err(|e| unavailable(e.to_string()))?;
        let response =
            client.request(request, version, Duration::ZERO).await.map_err(|e| unavailable(e.to_string()))?;
        let end_request = ListOffsetsRequest::default().with_replica_id(BrokerId(self.node_id())).with_topics(vec![
            list_offsets_request::ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
                .with_partitions(vec![list_offsets_request::ListOffsetsPartition::default().with_timestamp(-1)]),
        ]);
        if let Ok(ResponseKind::ListOffsets(r)) =
            client.request(RequestKind::ListOffsets(end_request), 1, Duration::ZERO).await
            && let Some(end) = r.topics.first().and_then(|t| t.partitions.first()).map(|p| p.offset)
        {
            let mut applied = self.applied.subscribe();
            let _ = tokio::time::timeout(self.client_timeout(), applied.wait_for(|a| *a >= end)).await;
        }
        Ok(response)
    }

    /// Creates a topic through the controller, as CreateTopics or auto-creation do.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(String, Option<String>)],
        assignment: &[Vec<i32>],
        validate_only: bool,
    ) -> Result<Topic, TopicError> {
        let assignments = assignment
            .iter()
            .enumerate()
            .map(|(i, replicas)| {
                create_topics_request::CreatableReplicaAssignment::default()
                    .with_partition_index(i as i32)
                    .with_broker_ids(replicas.iter().map(|b| BrokerId(*b)).collect())
            })
            .collect();
        let topic = create_topics_request::CreatableTopic::default()
            .with_assignments(assignments)
            .with_name(TopicName(StrBytes::from_string(name.to_string())))
            .with_num_partitions(partitions)
            .with_replication_factor(replication_factor)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        create_topics_request::CreatableTopicConfig::default()
                            .with_name(StrBytes::from_string(k.clone()))
                            .with_value(v.clone().map(StrBytes::from_string))
                    })
                    .collect(),
            );
        let request = CreateTopicsRequest::default().with_topics(vec![topic]).with_validate_only(validate_only);
        let ResponseKind::CreateTopics(r) = self.forward(RequestKind::CreateTopics(request), 7).await? else {
            return Err(other_api());
        };
        let result = only(r.topics)?;
        refused(result.error_code, result.error_message)?;
        if validate_only {
            let mut config = self.config.new_topic_config();
            for (k, v) in configs {
                match v {
                    Some(v) => config.set(k, v)?,
                    None => config.remove(k)?,
                }
            }
            return Ok(Topic { name: name.to_string(), id: result.topic_id, config, partitions: Vec::new() });
        }
        self.topic(name).ok_or_else(|| {
            TopicError::new(
                ResponseError::RequestTimedOut,
                "the new topic did not reach this broker's metadata in time",
            )
        })
    }

    pub async fn delete_topic(&self, name: &str) -> Result<Uuid, TopicError> {
        let request =
            DeleteTopicsRequest::default().with_topic_names(vec![TopicName(StrBytes::from_string(name.to_string()))]);
        let ResponseKind::DeleteTopics(r) = self.forward(RequestKind::DeleteTopics(request), 5).await? else {
            return Err(other_api());
        };
        let result = only(r.responses)?;
        refused(result.error_code, result.error_message).map_err(|mut e| {
            if e.code == ResponseError::UnknownTopicOrPartition {
                e.message = "This server does not host this topic-partition.".into();
            }
            e
        })?;
        Ok(result.topic_id)
    }

    pub async fn create_partitions(&self, name: &str, count: i32, validate_only: bool) -> Result<(), TopicError> {
        let request = CreatePartitionsRequest::default()
            .with_topics(vec![
                create_partitions_request::CreatePartitionsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(name.to_string())))
                    .with_count(count),
            ])
            .with_timeout_ms(30_000)
            .with_validate_only(validate_only);
        let ResponseKind::CreatePartitions(r) = self.forward(RequestKind::CreatePartitions(request), 3).await? else {
            return Err(other_api());
        };
        let result = only(r.results)?;
        refused(result.error_code, result.error_message)
    }

    /// Replaces a topic's config overrides (IncrementalAlterConfigs computes the new ones).
    pub async fn set_topic_config(&self, topic: &Topic, cfg: TopicConfig) -> Result<(), TopicError> {
        let old = topic.config.overrides();
        let new = cfg.overrides();
        let mut configs: Vec<incremental_alter_configs_request::AlterableConfig> = new
            .iter()
            .map(|(k, v)| {
                incremental_alter_configs_request::AlterableConfig::default()
                    .with_name(StrBytes::from_string(k.clone()))
                    .with_config_operation(0)
                    .with_value(Some(StrBytes::from_string(v.clone())))
            })
            .collect();
        configs.extend(old.keys().filter(|k| !new.contains_key(*k)).map(|k| {
            incremental_alter_configs_request::AlterableConfig::default()
                .with_name(StrBytes::from_string(k.clone()))
                .with_config_operation(1)
        }));
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_string(topic.name.clone()))
                .with_configs(configs),
        ]);
        let ResponseKind::IncrementalAlterConfigs(r) =
            self.forward(RequestKind::IncrementalAlterConfigs(request), 1).await?
        else {
            return Err(other_api());
        };
        let result = only(r.responses)?;
        refused(result.error_code, result.error_message)
    }

    /// The address to reach broker `id` at for replication.
    fn peer_address(&self, id: i32) -> Option<String> {
        if let Some(a) = self.peers.get(&id) {
            return Some(a.clone());
        }
        self.image().brokers.get(&id).map(|b| format!("{}:{}", b.host, b.port))
    }

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
        for id in removed {
            self.remove_topic(id);
        }
        for id in configs {
            if let Some(t) = image.topic_by_id(id) {
                let topic = self.topic_of(t);
                for p in self.local_partitions().into_iter().filter(|p| p.topic_id == id) {
                    p.log().set_config(topic.config.log_config());
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
                match Partition::open(topic, topic_id, index, &dir, config, hw) {
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
        if topic == crate::group::OFFSETS_TOPIC {
            self.coordinate(&partition, s);
        }
    }

    /// The group coordinator follows `__consumer_offsets` leadership: a new leader loads the
    /// partition's groups (from what it has up to its log end), a former one forgets them.
    fn coordinate(self: &Arc<Self>, partition: &Arc<Partition>, s: &PartitionState) {
        if s.leader != self.node_id() {
            self.groups.unload(partition.index);
            return;
        }
        if !self.groups.begin_load(partition.index, s.leader_epoch) {
            return;
        }
        let (broker, partition, epoch) = (self.clone(), partition.clone(), s.leader_epoch);
        tokio::task::spawn_blocking(move || {
            let records = crate::group::read_partition(&partition);
            broker.groups.finish_load(partition.index, epoch, records);
        });
    }

    /// FindCoordinator's first step: `__consumer_offsets` exists, or its creation is started
    /// (`offsets.topic.num.partitions`, `offsets.topic.replication.factor`, compacted).
    pub fn ensure_offsets_topic(self: &Arc<Self>) -> Option<Topic> {
        if let Some(t) = self.topic(crate::group::OFFSETS_TOPIC) {
            return Some(t);
        }
        let broker = self.clone();
        tokio::spawn(async move {
            let configs = [
                ("cleanup.policy".to_string(), Some("compact".to_string())),
                ("compression.type".to_string(), Some("producer".to_string())),
                ("segment.bytes".to_string(), Some(broker.config.offsets_topic_segment_bytes.to_string())),
            ];
            let result = broker
                .create_topic(
                    crate::group::OFFSETS_TOPIC,
                    broker.config.offsets_topic_num_partitions,
                    broker.config.offsets_topic_replication_factor,
                    &configs,
                    &[],
                    false,
                )
                .await;
            match result {
                Ok(_) => tracing::info!("created {}", crate::group::OFFSETS_TOPIC),
                Err(e) if e.code == ResponseError::TopicAlreadyExists => {}
                Err(e) => tracing::warn!("creating {}: {:?}: {}", crate::group::OFFSETS_TOPIC, e.code, e.message),
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
            if p.topic == crate::group::OFFSETS_TOPIC {
                self.groups.unload(p.index);
            }
            if let Some(f) = p.state().fetcher.take() {
                f.abort();
            }
            if active(Defect::DeleteTopicKeepsLog) {
                continue;
            }
            // A reader still holding the partition keeps its file handles; the directory goes now.
            if let Err(e) = std::fs::remove_dir_all(&p.dir) {
                tracing::warn!("deleting {}: {e}", p.dir.display());
            }
        }
    }

    /// An ISR change through the controller (KIP-497). The leader keeps using the larger ISR
    /// until the controller answers.
    fn propose_isr(self: &Arc<Self>, partition: &Arc<Partition>, st: &mut crate::replica::ReplicaState, isr: Vec<i32>) {
        if st.pending_isr.is_some() || st.role != Role::Leader || isr == st.isr {
            return;
        }
        st.pending_isr = Some(isr.clone());
        let request = AlterPartitionRequest::default()
            .with_broker_id(BrokerId(self.node_id()))
            .with_broker_epoch(self.epoch.load(Ordering::SeqCst))
            .with_topics(vec![
                alter_partition_request::TopicData::default().with_topic_id(partition.topic_id).with_partitions(vec![
                    alter_partition_request::PartitionData::default()
                        .with_partition_index(partition.index)
                        .with_leader_epoch(st.leader_epoch)
                        .with_new_isr(isr.iter().map(|b| BrokerId(*b)).collect())
                        .with_partition_epoch(st.partition_epoch),
                ]),
            ]);
        let (broker, partition) = (self.clone(), partition.clone());
        tokio::spawn(async move {
            let answer = async {
                let mut client = broker.connect(&broker.controller).await.ok()?;
                match client.request(RequestKind::AlterPartition(request), 2, Duration::ZERO).await.ok()? {
                    ResponseKind::AlterPartition(r) => Some(r),
                    _ => None,
                }
            }
            .await;
            let mut st = partition.state();
            st.pending_isr = None;
            let Some(r) = answer else { return };
            let Some(p) = r.topics.first().and_then(|t| t.partitions.first()) else { return };
            if r.error_code != 0 || p.error_code != 0 {
                tracing::info!("{}: AlterPartition refused: {} / {}", partition.name(), r.error_code, p.error_code);
                return;
            }
            if st.role == Role::Leader && p.leader_epoch == st.leader_epoch && p.partition_epoch > st.partition_epoch {
                st.isr = p.isr.iter().map(|b| b.0).collect();
                st.partition_epoch = p.partition_epoch;
                tracing::info!("{}: ISR is now {:?}", partition.name(), st.isr);
                partition.maybe_advance_hw(&mut st);
                drop(st);
                broker.notify_append();
            }
        });
    }

    /// After a follower's fetch: maybe add it back to the ISR (Kafka's `maybeExpandIsr`).
    pub fn follower_fetched(self: &Arc<Self>, partition: &Arc<Partition>, replica: i32, offset: i64) {
        let mut st = partition.state();
        if st.role != Role::Leader || !st.replicas.contains(&replica) {
            return;
        }
        partition.record_follower_fetch(&mut st, replica, offset);
        let epoch_start = st.epochs.last().map_or(0, |(_, s)| *s);
        if !st.isr.contains(&replica) && offset >= st.hw && offset >= epoch_start && self.image().is_live(replica) {
            let mut isr = st.isr.clone();
            isr.push(replica);
            self.propose_isr(partition, &mut st, isr);
        }
        let moved = partition.maybe_advance_hw(&mut st);
        drop(st);
        if moved {
            self.notify_append();
        }
    }
}

/// The one result a forwarded single-topic request answers with.
fn only<T>(results: Vec<T>) -> Result<T, TopicError> {
    results
        .into_iter()
        .next()
        .ok_or_else(|| TopicError::new(ResponseError::UnknownServerError, "the controller answered no result"))
}

/// A per-topic error code and message from the controller, as a `TopicError`.
fn refused(code: i16, message: Option<StrBytes>) -> Result<(), TopicError> {
    if code == 0 {
        return Ok(());
    }
    let code = ResponseError::try_from_code(code).unwrap_or(ResponseError::UnknownServerError);
    Err(TopicError::new(code, message.map(|m| m.to_string()).unwrap_or_default()))
}

fn other_api() -> TopicError {
    TopicError::new(ResponseError::UnknownServerError, "the controller answered with another API")
}

/// Registers with the controller, then heartbeats every `broker.heartbeat.interval.ms`.
async fn heartbeat_loop(broker: Arc<Broker>) {
    let interval = Duration::from_millis(broker.config.broker_heartbeat_interval_ms);
    loop {
        let Ok(mut client) = broker.connect(&broker.controller).await else {
            tokio::time::sleep(interval).await;
            continue;
        };
        // Register (again): a new incarnation, or after the controller forgot this epoch.
        let request = BrokerRegistrationRequest::default()
            .with_broker_id(BrokerId(broker.node_id()))
            .with_cluster_id(StrBytes::from_string(broker.cluster_id()))
            .with_incarnation_id(broker.incarnation)
            .with_listeners(vec![
                broker_registration_request::Listener::default()
                    .with_name(StrBytes::from_static_str("PLAINTEXT"))
                    .with_host(StrBytes::from_string(broker.advertised.0.clone()))
                    .with_port(u16::try_from(broker.advertised.1).unwrap_or(0))
                    .with_security_protocol(0),
            ]);
        match client.request(RequestKind::BrokerRegistration(request), 0, Duration::ZERO).await {
            Ok(ResponseKind::BrokerRegistration(r)) if r.error_code == 0 => {
                broker.epoch.store(r.broker_epoch, Ordering::SeqCst);
            }
            Ok(ResponseKind::BrokerRegistration(r)) => {
                tracing::info!("registration refused with error {}; retrying", r.error_code);
                tokio::time::sleep(interval).await;
                continue;
            }
            other => {
                tracing::info!("registration failed: {:?}; retrying", other.err());
                tokio::time::sleep(interval).await;
                continue;
            }
        }
        loop {
            let request = BrokerHeartbeatRequest::default()
                .with_broker_id(BrokerId(broker.node_id()))
                .with_broker_epoch(broker.epoch.load(Ordering::SeqCst))
                .with_current_metadata_offset(*broker.applied.borrow() - 1)
                .with_want_shut_down(broker.shutting_down.load(Ordering::SeqCst));
            match client.request(RequestKind::BrokerHeartbeat(request), 0, Duration::ZERO).await {
                Ok(ResponseKind::BrokerHeartbeat(r)) if r.error_code == 0 => {
                    if r.should_shut_down {
                        broker.shut_down.send_replace(true);
                    }
                }
                Ok(ResponseKind::BrokerHeartbeat(r)) => {
                    tracing::info!("heartbeat refused with error {}: registering again", r.error_code);
                    break;
                }
                _ => break,
            }
            if broker.shutting_down.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            } else if !*broker.ready.borrow() {
                // Still fenced: tell the controller as soon as the metadata log is replayed.
                tokio::time::sleep(interval.min(Duration::from_millis(20))).await;
            } else {
                tokio::select! {
                    () = tokio::time::sleep(interval) => {}
                    () = broker.shutdown_requested.notified() => {}
                }
            }
        }
        tokio::time::sleep(interval).await;
    }
}

/// Replays the controller's metadata log, long-polling it with Fetch.
async fn metadata_loop(broker: Arc<Broker>) {
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

/// The leader's periodic check (every half `replica.lag.time.max.ms`, as Kafka's
/// `isr-expiration` task): followers not caught up for `replica.lag.time.max.ms` leave the ISR.
async fn isr_loop(broker: Arc<Broker>) {
    let lag = Duration::from_millis(broker.config.replica_lag_time_max_ms);
    let mut interval = tokio::time::interval((lag / 2).max(Duration::from_millis(10)));
    loop {
        interval.tick().await;
        if active(Defect::IsrNeverShrinks) {
            continue;
        }
        for p in broker.local_partitions() {
            let mut st = p.state();
            if st.role != Role::Leader {
                continue;
            }
            let me = broker.node_id();
            let out: Vec<i32> = st
                .isr
                .iter()
                .copied()
                .filter(|r| *r != me && st.followers.get(r).is_none_or(|f| f.last_caught_up.elapsed() > lag))
                .collect();
            if !out.is_empty() {
                let isr: Vec<i32> = st.isr.iter().copied().filter(|r| !out.contains(r)).collect();
                tracing::info!("{}: followers {out:?} are out of sync; shrinking the ISR to {isr:?}", p.name());
                broker.propose_isr(&p, &mut st, isr);
            }
        }
    }
}

/// A follower: truncate to where the log diverges from the leader's, then fetch from it until
/// the leader or the epoch changes.
async fn follower_loop(broker: Arc<Broker>, p: Arc<Partition>, leader: i32, epoch: i32) {
    let backoff = Duration::from_millis(50);
    let still = |p: &Partition| {
        let st = p.state();
        st.role == Role::Follower && st.leader == leader && st.leader_epoch == epoch
    };
    let wait = Duration::from_millis(broker.config.replica_fetch_wait_max_ms);
    loop {
        if !still(&p) {
            return;
        }
        let Some(addr) = broker.peer_address(leader) else {
            tokio::time::sleep(backoff).await;
            continue;
        };
        let Ok(mut client) = broker.connect(&addr).await else {
            tokio::time::sleep(backoff).await;
            continue;
        };
        if let Err(e) = truncate_to_leader(&broker, &p, &mut client, epoch).await {
            tracing::debug!("{}: truncation against leader {leader}: {e}", p.name());
            tokio::time::sleep(backoff).await;
            continue;
        }
        loop {
            if !still(&p) {
                return;
            }
            let (offset, last_epoch, start) = {
                let st = p.state();
                let log = p.log();
                (log.log_end_offset(), st.epochs.last().map_or(-1, |(e, _)| *e), log.log_start_offset())
            };
            let request = FetchRequest::default()
                .with_replica_id(BrokerId(broker.node_id()))
                .with_max_wait_ms(wait.as_millis() as i32)
                .with_min_bytes(1)
                .with_max_bytes(16 << 20)
                .with_topics(vec![
                    fetch_request::FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(p.topic.clone())))
                        .with_partitions(vec![
                            fetch_request::FetchPartition::default()
                                .with_partition(p.index)
                                .with_current_leader_epoch(epoch)
                                .with_fetch_offset(offset)
                                .with_last_fetched_epoch(last_epoch)
                                .with_log_start_offset(start)
                                .with_partition_max_bytes(8 << 20),
                        ]),
                ]);
            let response = match client.request(RequestKind::Fetch(request), 12, wait).await {
                Ok(ResponseKind::Fetch(r)) => r,
                _ => break,
            };
            let Some(pd) = response.responses.first().and_then(|t| t.partitions.first()) else { break };
            match ResponseError::try_from_code(pd.error_code) {
                None => {}
                Some(ResponseError::OffsetOutOfRange) if pd.log_start_offset > offset => {
                    // The leader deleted what this replica still needs (retention or
                    // DeleteRecords): start over at the leader's log start, as Kafka's
                    // truncateFullyAndStartAt does.
                    let mut st = p.state();
                    if let Err(e) = p.restart_at(&mut st, pd.log_start_offset) {
                        tracing::error!("{}: restarting at the leader's log start: {e}", p.name());
                    }
                    continue;
                }
                Some(ResponseError::OffsetOutOfRange) => break,
                Some(e) => {
                    tracing::debug!("{}: fetch from leader {leader}: {e:?}", p.name());
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            }
            let batches = match split_batches(pd.records.clone().unwrap_or_default()) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!("{}: leader {leader} sent a batch that does not parse: {e}", p.name());
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            };
            let outcome = {
                let mut st = p.state();
                if st.role != Role::Follower || st.leader != leader || st.leader_epoch != epoch {
                    return;
                }
                let appended = append_as_follower(&p, &mut st, batches, offset);
                if appended.is_ok() {
                    let mut log = p.log();
                    let leo = log.log_end_offset();
                    st.hw = st.hw.max(pd.high_watermark.min(leo));
                    // Kafka's maybeIncrementLogStartOffset: the leader's retention and
                    // DeleteRecords reach the followers through its log start offset.
                    if pd.log_start_offset > log.log_start_offset()
                        && let Err(e) = log.advance_log_start(pd.log_start_offset.min(leo))
                    {
                        tracing::warn!("{}: following the leader's log start: {e}", p.name());
                    }
                }
                appended
            };
            if let Err(e) = outcome {
                tracing::error!("{}: appending as follower: {e}", p.name());
                tokio::time::sleep(backoff).await;
                continue;
            }
            broker.notify_append();
        }
        tokio::time::sleep(backoff).await;
    }
}

fn append_as_follower(
    p: &Partition,
    st: &mut crate::replica::ReplicaState,
    batches: Vec<Batch>,
    fetch_offset: i64,
) -> Result<(), crate::log::LogError> {
    let now = now_ms();
    for b in batches {
        if b.next_offset() <= fetch_offset {
            continue;
        }
        let epoch = b.partition_leader_epoch();
        let base = b.base_offset();
        let copy = b.clone();
        p.log().append_with_offsets(b, now)?;
        if !active(Defect::ForgetProducerStateOnRestart) {
            st.producers.record_batch(&copy);
        }
        if st.epochs.last().is_none_or(|(e, _)| *e < epoch) {
            p.assign_epoch(st, epoch, base);
        }
    }
    Ok(())
}

/// KIP-101/KIP-279: asks the leader where our latest epoch ends in its log and cuts ours there.
async fn truncate_to_leader(
    broker: &Broker,
    p: &Partition,
    client: &mut Client,
    current_epoch: i32,
) -> Result<(), String> {
    let (latest, hw) = {
        let st = p.state();
        (st.epochs.last().map(|(e, _)| *e), st.hw)
    };
    if active(Defect::TruncateToHw) {
        // The defect: Kafka before KIP-101, trusting the high watermark.
        let mut st = p.state();
        return p.truncate(&mut st, hw).map_err(|e| e.to_string());
    }
    let Some(latest) = latest else { return Ok(()) };
    let request = OffsetForLeaderEpochRequest::default().with_replica_id(BrokerId(broker.node_id())).with_topics(vec![
        offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
            .with_topic(TopicName(StrBytes::from_string(p.topic.clone())))
            .with_partitions(vec![
                offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                    .with_partition(p.index)
                    .with_current_leader_epoch(current_epoch)
                    .with_leader_epoch(latest),
            ]),
    ]);
    let response = client
        .request(RequestKind::OffsetForLeaderEpoch(request), 3, Duration::ZERO)
        .await
        .map_err(|e| e.to_string())?;
    let ResponseKind::OffsetForLeaderEpoch(r) = response else { return Err("another response type".into()) };
    let e = r.topics.first().and_then(|t| t.partitions.first()).ok_or("no partition in the answer")?;
    if e.error_code != 0 {
        return Err(format!("error {}", e.error_code));
    }
    let mut st = p.state();
    let leo = p.log().log_end_offset();
    let cut = if active(Defect::TruncateIgnoringAnsweredEpoch) {
        // The defect: the answer's end offset taken as if it ended our own latest epoch.
        e.end_offset.min(leo)
    } else {
        crate::replica::truncation_offset(&st, leo, e.leader_epoch, e.end_offset)
    };
    p.truncate(&mut st, cut).map_err(|e| e.to_string())
}

const HW_CHECKPOINT: &str = "replication-offset-checkpoint";

fn read_hw_checkpoint(path: &Path) -> BTreeMap<(String, i32), i64> {
    let Ok(text) = std::fs::read_to_string(path) else { return BTreeMap::new() };
    text.lines()
        .skip(2)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (t, p, o) = (f.next()?, f.next()?.parse().ok()?, f.next()?.parse().ok()?);
            Some(((t.to_string(), p), o))
        })
        .collect()
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
    use rstest::rstest;

    #[rstest]
    #[case("orders", true)]
    #[case("a.b_c-D9", true)]
    #[case("", false)]
    #[case(".", false)]
    #[case("..", false)]
    #[case("has space", false)]
    #[case("ünïcode", false)]
    fn topic_names_follow_kafka(#[case] name: &str, #[case] ok: bool) {
        assert_eq!(validate_topic_name(name).is_ok(), ok);
        assert!(validate_topic_name(&"x".repeat(250)).is_err());
    }

    #[test]
    fn cluster_ids_are_22_url_safe_characters() {
        let a = new_cluster_id();
        assert_eq!(a.len(), 22);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }
}
