//! The broker's state: its identity, its topics and their partitions, and the signal that wakes
//! long-polling fetches when anything is appended.
//!
//! Topic metadata (names, ids, partition counts, config overrides) is kept in
//! `<data-dir>/topics.json`, rewritten atomically on every change; each partition's log lives in
//! `<data-dir>/<topic>-<partition>/` as Kafka lays it out. A single broker is its own controller.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use indexmap::IndexMap;
use kafka_protocol::ResponseError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::{BrokerConfig, ConfigError, TopicConfig};
use crate::log::{DiskLog, Log, LogError};

/// Kafka's topic name rules (`Topic.validate`): 1 to 249 characters of `[a-zA-Z0-9._-]`,
/// and neither `.` nor `..`.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
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

/// One partition: its log behind a lock. Appends and reads are short and never await.
pub struct Partition {
    pub index: i32,
    log: Mutex<Box<dyn Log>>,
}

impl Partition {
    /// Locks the log, recovering from a poisoned lock: a panic elsewhere must not take the
    /// partition down with it.
    pub fn log(&self) -> MutexGuard<'_, Box<dyn Log>> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct Topic {
    pub name: String,
    pub id: Uuid,
    pub config: RwLock<TopicConfig>,
    partitions: RwLock<Vec<Arc<Partition>>>,
}

impl Topic {
    pub fn partition(&self, index: i32) -> Option<Arc<Partition>> {
        let parts = self.partitions.read().unwrap_or_else(|p| p.into_inner());
        usize::try_from(index).ok().and_then(|i| parts.get(i).cloned())
    }

    pub fn partition_count(&self) -> i32 {
        self.partitions.read().unwrap_or_else(|p| p.into_inner()).len() as i32
    }

    pub fn config(&self) -> TopicConfig {
        self.config.read().unwrap_or_else(|p| p.into_inner()).clone()
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

impl From<ConfigError> for TopicError {
    fn from(e: ConfigError) -> Self {
        TopicError::new(ResponseError::InvalidConfig, e.to_string())
    }
}

#[derive(Serialize, Deserialize)]
struct StoredTopic {
    name: String,
    id: Uuid,
    partitions: i32,
    configs: BTreeMap<String, String>,
}

pub struct Broker {
    pub config: BrokerConfig,
    pub cluster_id: String,
    /// The host and port clients are told to connect to.
    pub advertised: (String, i32),
    data_dir: PathBuf,
    topics: RwLock<IndexMap<String, Arc<Topic>>>,
    /// Serialises topic creation, deletion and config changes with the metadata file write.
    admin: Mutex<()>,
    appends: tokio::sync::watch::Sender<u64>,
}

impl Broker {
    /// Opens (or initialises) the broker's data directory and recovers every partition log.
    pub fn open(config: BrokerConfig, data_dir: &Path, advertised: (String, i32)) -> anyhow::Result<Broker> {
        std::fs::create_dir_all(data_dir)?;
        let cluster_id = load_or_create_cluster_id(data_dir, config.node_id)?;
        let broker = Broker {
            config,
            cluster_id,
            advertised,
            data_dir: data_dir.to_path_buf(),
            topics: RwLock::new(IndexMap::new()),
            admin: Mutex::new(()),
            appends: tokio::sync::watch::channel(0).0,
        };
        let meta = data_dir.join("topics.json");
        if meta.exists() {
            let stored: Vec<StoredTopic> = serde_json::from_slice(&std::fs::read(&meta)?)
                .map_err(|e| anyhow::anyhow!("{} is corrupt: {e}", meta.display()))?;
            let mut topics = broker.topics_mut();
            for t in stored {
                let mut cfg = broker.config.new_topic_config();
                for (k, v) in &t.configs {
                    cfg.set(k, v).map_err(|e| anyhow::anyhow!("topic {}: {e}", t.name))?;
                }
                let parts = (0..t.partitions)
                    .map(|i| broker.open_partition(&t.name, i, &cfg))
                    .collect::<Result<Vec<_>, _>>()?;
                topics.insert(
                    t.name.clone(),
                    Arc::new(Topic {
                        name: t.name,
                        id: t.id,
                        config: RwLock::new(cfg),
                        partitions: RwLock::new(parts),
                    }),
                );
            }
        }
        Ok(broker)
    }

    fn topics_mut(&self) -> std::sync::RwLockWriteGuard<'_, IndexMap<String, Arc<Topic>>> {
        self.topics.write().unwrap_or_else(|p| p.into_inner())
    }

    fn open_partition(&self, topic: &str, index: i32, cfg: &TopicConfig) -> Result<Arc<Partition>, LogError> {
        let dir = self.data_dir.join(format!("{topic}-{index}"));
        let log = DiskLog::open(&dir, cfg.log_config())?;
        Ok(Arc::new(Partition { index, log: Mutex::new(Box::new(log)) }))
    }

    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.topics.read().unwrap_or_else(|p| p.into_inner()).values().find(|t| t.id == id).cloned()
    }

    pub fn topics(&self) -> Vec<Arc<Topic>> {
        self.topics.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    /// Creates a topic, as CreateTopics or auto-creation do. `validate_only` checks without creating.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(String, Option<String>)],
        validate_only: bool,
    ) -> Result<Arc<Topic>, TopicError> {
        let _admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        validate_topic_name(name).map_err(|m| TopicError::new(ResponseError::InvalidTopicException, m))?;
        if self.topic(name).is_some() {
            return Err(TopicError::new(ResponseError::TopicAlreadyExists, format!("Topic '{name}' already exists.")));
        }
        let partitions = if partitions == -1 { self.config.num_partitions } else { partitions };
        if partitions < 1 {
            return Err(TopicError::new(
                ResponseError::InvalidPartitions,
                "Number of partitions must be larger than 0.",
            ));
        }
        let rf = if replication_factor == -1 { self.config.default_replication_factor } else { replication_factor };
        if rf < 1 {
            return Err(TopicError::new(
                ResponseError::InvalidReplicationFactor,
                "Replication factor must be larger than 0, or -1 to use the default value.",
            ));
        }
        if rf > 1 {
            return Err(TopicError::new(
                ResponseError::InvalidReplicationFactor,
                format!(
                    "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only 1 broker(s) are registered."
                ),
            ));
        }
        let mut cfg = self.config.new_topic_config();
        for (k, v) in configs {
            if crate::defects::active(crate::defects::Defect::AcceptUnknownTopicConfig)
                && crate::config::topic_config_def(k).is_none()
            {
                continue;
            }
            match v {
                Some(v) => cfg.set(k, v)?,
                None => cfg.remove(k)?,
            }
        }
        let id = Uuid::new_v4();
        let placeholder = Arc::new(Topic {
            name: name.to_string(),
            id,
            config: RwLock::new(cfg.clone()),
            partitions: RwLock::new(Vec::new()),
        });
        if validate_only {
            return Ok(placeholder);
        }
        let parts = (0..partitions)
            .map(|i| self.open_partition(name, i, &cfg))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TopicError::new(ResponseError::KafkaStorageError, e.to_string()))?;
        *placeholder.partitions.write().unwrap_or_else(|p| p.into_inner()) = parts;
        self.topics_mut().insert(name.to_string(), placeholder.clone());
        self.persist().map_err(|e| TopicError::new(ResponseError::KafkaStorageError, e.to_string()))?;
        Ok(placeholder)
    }

    pub fn delete_topic(&self, name: &str) -> Result<Uuid, TopicError> {
        let _admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        let topic = self.topics_mut().shift_remove(name).ok_or_else(|| {
            TopicError::new(ResponseError::UnknownTopicOrPartition, "This server does not host this topic-partition.")
        })?;
        self.persist().map_err(|e| TopicError::new(ResponseError::KafkaStorageError, e.to_string()))?;
        let parts = std::mem::take(&mut *topic.partitions.write().unwrap_or_else(|p| p.into_inner()));
        for p in parts {
            let dir = self.data_dir.join(format!("{name}-{}", p.index));
            drop(p);
            // A reader still holding the partition keeps its file handles; the directory goes now.
            if crate::defects::active(crate::defects::Defect::DeleteTopicKeepsLog) {
                continue;
            }
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!("deleting {}: {e}", dir.display());
            }
        }
        Ok(topic.id)
    }

    pub fn create_partitions(&self, name: &str, count: i32, validate_only: bool) -> Result<(), TopicError> {
        let _admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        let topic = self.topic(name).ok_or_else(|| {
            TopicError::new(ResponseError::UnknownTopicOrPartition, "This server does not host this topic-partition.")
        })?;
        let current = topic.partition_count();
        if count <= current {
            let msg = if count == current {
                format!("Topic already has {current} partitions.")
            } else {
                format!("Topic currently has {current} partitions, which is higher than the requested {count}.")
            };
            return Err(TopicError::new(ResponseError::InvalidPartitions, msg));
        }
        if validate_only || crate::defects::active(crate::defects::Defect::CreatePartitionsIsANoOp) {
            return Ok(());
        }
        let cfg = topic.config();
        let new = (current..count)
            .map(|i| self.open_partition(name, i, &cfg))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TopicError::new(ResponseError::KafkaStorageError, e.to_string()))?;
        topic.partitions.write().unwrap_or_else(|p| p.into_inner()).extend(new);
        self.persist().map_err(|e| TopicError::new(ResponseError::KafkaStorageError, e.to_string()))
    }

    /// Replaces a topic's config (IncrementalAlterConfigs computes the new one).
    pub fn set_topic_config(&self, topic: &Topic, cfg: TopicConfig) -> Result<(), TopicError> {
        let _admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        if crate::defects::active(crate::defects::Defect::AlterConfigsIsANoOp) {
            return Ok(());
        }
        for i in 0..topic.partition_count() {
            if let Some(p) = topic.partition(i) {
                p.log().set_config(cfg.log_config());
            }
        }
        *topic.config.write().unwrap_or_else(|p| p.into_inner()) = cfg;
        self.persist().map_err(|e| TopicError::new(ResponseError::KafkaStorageError, e.to_string()))
    }

    /// Writes topics.json through a temporary file and a rename, so a crash leaves the old or the
    /// new file, never half of one.
    fn persist(&self) -> std::io::Result<()> {
        let stored: Vec<StoredTopic> = self
            .topics()
            .iter()
            .map(|t| StoredTopic {
                name: t.name.clone(),
                id: t.id,
                partitions: t.partition_count(),
                configs: t.config().overrides().clone(),
            })
            .collect();
        let json = serde_json::to_vec_pretty(&stored).map_err(std::io::Error::other)?;
        let tmp = self.data_dir.join("topics.json.tmp");
        {
            let mut f = std::fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut f, &json)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, self.data_dir.join("topics.json"))
    }

    /// Wakes long-polling fetches.
    pub fn notify_append(&self) {
        self.appends.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn subscribe_appends(&self) -> tokio::sync::watch::Receiver<u64> {
        self.appends.subscribe()
    }

    /// Flushes every log: called on a clean shutdown.
    pub fn shutdown(&self) {
        for t in self.topics() {
            for i in 0..t.partition_count() {
                if let Some(p) = t.partition(i)
                    && let Err(e) = p.log().flush()
                {
                    tracing::warn!("flushing {}-{i}: {e}", t.name);
                }
            }
        }
    }
}

/// `meta.properties` as Kafka writes it: the cluster id survives restarts.
fn load_or_create_cluster_id(dir: &Path, node_id: i32) -> anyhow::Result<String> {
    let path = dir.join("meta.properties");
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Some(id) = text.lines().find_map(|l| l.strip_prefix("cluster.id=")) {
            return Ok(id.trim().to_string());
        }
        anyhow::bail!("{} has no cluster.id", path.display());
    }
    // Kafka's cluster ids are base64url-encoded UUIDs (22 characters).
    let id = base64url(Uuid::new_v4().as_bytes());
    std::fs::write(&path, format!("version=1\ncluster.id={id}\nnode.id={node_id}\n"))?;
    Ok(id)
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
    fn cluster_id_is_22_url_safe_characters_and_survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = load_or_create_cluster_id(dir.path(), 1).expect("create");
        assert_eq!(a.len(), 22);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(load_or_create_cluster_id(dir.path(), 1).expect("reload"), a);
    }

    #[test]
    fn topics_survive_reopen_with_their_configs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let adv = ("127.0.0.1".to_string(), 9092);
        let id = {
            let b = Broker::open(BrokerConfig::default(), dir.path(), adv.clone()).expect("open");
            let t = b.create_topic("t", 3, 1, &[("retention.ms".into(), Some("1000".into()))], false).expect("create");
            t.id
        };
        let b = Broker::open(BrokerConfig::default(), dir.path(), adv).expect("reopen");
        let t = b.topic("t").expect("topic survives");
        assert_eq!((t.id, t.partition_count()), (id, 3));
        assert_eq!(t.config().get("retention.ms").map(|(v, _)| v), Some("1000".into()));
    }
}
