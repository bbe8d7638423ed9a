//! Broker and topic configuration, with Kafka's names, types and defaults.
//!
//! Topic configs follow Kafka's `TopicConfig` / `LogConfig` (apache/kafka
//! `clients/src/main/java/org/apache/kafka/common/config/TopicConfig.java` and
//! `storage/.../log/LogConfig.java`). A topic config that Kafka does not know is refused with
//! INVALID_CONFIG rather than silently stored, and so is a value of the wrong type or range.

use std::collections::BTreeMap;

use kafka_protocol::records::Compression;

use crate::log::LogConfig;

/// Kafka's `Long.MAX_VALUE` default, used for "no limit".
pub const LONG_MAX: i64 = i64::MAX;

/// How a config value is typed, as Kafka's `ConfigDef.Type`. Drives validation and the
/// `config_type` field of DescribeConfigs v3+.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean,
    Int,
    Long,
    Double,
    List,
    String,
}

impl ConfigType {
    /// DescribeConfigs `config_type` codes (KIP-569).
    pub fn code(self) -> i8 {
        match self {
            ConfigType::Boolean => 1,
            ConfigType::String => 2,
            ConfigType::Int => 3,
            ConfigType::Long => 5,
            ConfigType::Double => 6,
            ConfigType::List => 7,
        }
    }
}

/// One topic config Kafka defines.
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigDef {
    pub name: &'static str,
    pub ty: ConfigType,
    pub default: &'static str,
    /// Allowed range for numbers (inclusive), or the allowed items for lists and strings.
    pub valid: Valid,
    pub doc: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub enum Valid {
    Any,
    AtLeast(i64),
    /// An integer range, inclusive: Kafka's `Range.between`.
    Range(i64, i64),
    /// An integer range, or one more value outside it (gzip's level: 1 to 9, or -1).
    BetweenOr(i64, i64, i64),
    Between(f64, f64),
    OneOf(&'static [&'static str]),
    ListOf(&'static [&'static str]),
}

/// The topic configs this broker knows, with Kafka's defaults. `flush.messages` defaults to 1:
/// this reference fsyncs every write unless told otherwise (Kafka defaults to `Long.MAX` and
/// relies on replication; a single broker has none), set by the broker config
/// `log.flush.interval.messages`.
pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    def(
        "cleanup.policy",
        ConfigType::List,
        "delete",
        Valid::ListOf(&["delete", "compact"]),
        "Retention policy for old log segments: delete, compact, or both.",
    ),
    // Kafka's `BrokerCompressionType`, in its order: a batch in another codec is recompressed
    // on append (`LogValidator`); `producer` keeps the producer's.
    def(
        "compression.type",
        ConfigType::String,
        "producer",
        Valid::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
        "Final compression of the topic's batches: a codec, or producer to keep the producer's.",
    ),
    // KIP-390 (Kafka 3.8): the level used when this broker compresses. -1 is
    // `Deflater.DEFAULT_COMPRESSION`.
    def(
        "compression.gzip.level",
        ConfigType::Int,
        "-1",
        Valid::BetweenOr(1, 9, -1),
        "Level of gzip compression when the broker compresses (compression.type=gzip).",
    ),
    def(
        "compression.lz4.level",
        ConfigType::Int,
        "9",
        Valid::Range(1, 17),
        "Level of lz4 compression when the broker compresses (compression.type=lz4).",
    ),
    def(
        "compression.zstd.level",
        ConfigType::Int,
        "3",
        Valid::Range(-131072, 22),
        "Level of zstd compression when the broker compresses (compression.type=zstd).",
    ),
    def(
        "delete.retention.ms",
        ConfigType::Long,
        "86400000",
        Valid::AtLeast(0),
        "How long tombstones are kept on compacted topics.",
    ),
    def(
        "file.delete.delay.ms",
        ConfigType::Long,
        "60000",
        Valid::AtLeast(0),
        "Delay before deleting a file from the filesystem.",
    ),
    def(
        "flush.messages",
        ConfigType::Long,
        "1",
        Valid::AtLeast(1),
        "fsync after this many records (broker default log.flush.interval.messages).",
    ),
    def(
        "flush.ms",
        ConfigType::Long,
        "9223372036854775807",
        Valid::AtLeast(0),
        "fsync when the oldest unflushed record is this old.",
    ),
    def(
        "index.interval.bytes",
        ConfigType::Int,
        "4096",
        Valid::AtLeast(0),
        "How often an offset index entry is added.",
    ),
    def(
        "max.compaction.lag.ms",
        ConfigType::Long,
        "9223372036854775807",
        Valid::AtLeast(1),
        "Maximum time a record stays uncompacted.",
    ),
    def("max.message.bytes", ConfigType::Int, "1048588", Valid::AtLeast(0), "Largest record batch size allowed."),
    def(
        "message.timestamp.after.max.ms",
        ConfigType::Long,
        "9223372036854775807",
        Valid::AtLeast(0),
        "How far a CreateTime timestamp may be ahead of the broker's clock.",
    ),
    def(
        "message.timestamp.before.max.ms",
        ConfigType::Long,
        "9223372036854775807",
        Valid::AtLeast(0),
        "How far a CreateTime timestamp may be behind the broker's clock.",
    ),
    def(
        "message.timestamp.type",
        ConfigType::String,
        "CreateTime",
        Valid::OneOf(&["CreateTime", "LogAppendTime"]),
        "Whether record timestamps are the producer's or the broker's.",
    ),
    def(
        "min.cleanable.dirty.ratio",
        ConfigType::Double,
        "0.5",
        Valid::Between(0.0, 1.0),
        "Dirty ratio that makes a log eligible for cleaning.",
    ),
    def("min.compaction.lag.ms", ConfigType::Long, "0", Valid::AtLeast(0), "Minimum time a record stays uncompacted."),
    def(
        "min.insync.replicas",
        ConfigType::Int,
        "1",
        Valid::AtLeast(1),
        "Replicas that must acknowledge an acks=all write.",
    ),
    def("preallocate", ConfigType::Boolean, "false", Valid::Any, "Preallocate segment files."),
    def(
        "retention.bytes",
        ConfigType::Long,
        "-1",
        Valid::Any,
        "Largest size of a partition before old segments are deleted (-1: no limit).",
    ),
    def(
        "retention.ms",
        ConfigType::Long,
        "604800000",
        Valid::AtLeast(-1),
        "How long a segment is kept after its newest record (-1: forever).",
    ),
    def("segment.bytes", ConfigType::Int, "1073741824", Valid::AtLeast(14), "Size of a log segment file."),
    def("segment.index.bytes", ConfigType::Int, "10485760", Valid::AtLeast(4), "Size of an offset index file."),
    def("segment.jitter.ms", ConfigType::Long, "0", Valid::AtLeast(0), "Random jitter subtracted from segment.ms."),
    def("segment.ms", ConfigType::Long, "604800000", Valid::AtLeast(1), "Time after which a segment rolls."),
    def(
        "unclean.leader.election.enable",
        ConfigType::Boolean,
        "false",
        Valid::Any,
        "Whether an out-of-sync replica may become leader.",
    ),
];

const fn def(
    name: &'static str,
    ty: ConfigType,
    default: &'static str,
    valid: Valid,
    doc: &'static str,
) -> TopicConfigDef {
    TopicConfigDef { name, ty, default, valid, doc }
}

pub fn topic_config_def(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Why a config was refused. Rendered into the `error_message` Kafka returns with INVALID_CONFIG.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("Unknown topic config name: {0}")]
    Unknown(String),
    #[error("Invalid value {value} for configuration {name}: {reason}")]
    Invalid { name: String, value: String, reason: String },
}

/// Checks one value against its definition, as Kafka's `ConfigDef.parse` does.
pub fn validate(name: &str, value: &str) -> Result<(), ConfigError> {
    let def = topic_config_def(name).ok_or_else(|| ConfigError::Unknown(name.to_string()))?;
    let invalid = |reason: String| ConfigError::Invalid { name: name.into(), value: value.into(), reason };
    let trimmed = value.trim();
    match def.ty {
        ConfigType::Boolean => {
            if !trimmed.eq_ignore_ascii_case("true") && !trimmed.eq_ignore_ascii_case("false") {
                return Err(invalid("Expected value to be either true or false".into()));
            }
        }
        ConfigType::Int | ConfigType::Long => {
            let n: i64 = if def.ty == ConfigType::Int {
                trimmed.parse::<i32>().map(i64::from).map_err(|_| invalid("Not a number of type INT".into()))?
            } else {
                trimmed.parse::<i64>().map_err(|_| invalid("Not a number of type LONG".into()))?
            };
            // The messages are Kafka's `ConfigDef.Range` and `GzipCompression.LevelValidator`.
            let unchecked = name.starts_with("compression.")
                && crate::defects::active(crate::defects::Defect::UncheckedCompressionLevels);
            match def.valid {
                _ if unchecked => {}
                Valid::AtLeast(min) | Valid::Range(min, _) if n < min => {
                    return Err(invalid(format!("Value must be at least {min}")));
                }
                Valid::Range(_, max) if n > max => {
                    return Err(invalid(format!("Value must be no more than {max}")));
                }
                Valid::BetweenOr(lo, hi, or) if n != or && !(lo..=hi).contains(&n) => {
                    return Err(invalid(format!("Value must be between {lo} and {hi} or equal to {or}")));
                }
                _ => {}
            }
        }
        ConfigType::Double => {
            let x: f64 = trimmed.parse().map_err(|_| invalid("Not a number of type DOUBLE".into()))?;
            if let Valid::Between(lo, hi) = def.valid
                && !(lo..=hi).contains(&x)
            {
                return Err(invalid(format!("Value must be between {lo} and {hi}")));
            }
        }
        ConfigType::String => {
            if let Valid::OneOf(allowed) = def.valid
                && !allowed.contains(&trimmed)
            {
                return Err(invalid(format!("String must be one of: {}", allowed.join(", "))));
            }
        }
        ConfigType::List => {
            if let Valid::ListOf(allowed) = def.valid {
                let items: Vec<&str> = trimmed.split(',').map(str::trim).collect();
                if items.iter().any(|i| !allowed.contains(i)) {
                    return Err(invalid(format!("Invalid value; must be a list of: {}", allowed.join(", "))));
                }
            }
        }
    }
    Ok(())
}

/// A topic's configuration: only the overrides are stored; everything else is the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicConfig {
    overrides: BTreeMap<String, String>,
    /// Broker-level defaults that replace Kafka's topic defaults (e.g. `log.flush.interval.messages`).
    broker_defaults: BTreeMap<String, String>,
}

impl TopicConfig {
    pub fn new(broker_defaults: BTreeMap<String, String>) -> Self {
        TopicConfig { overrides: BTreeMap::new(), broker_defaults }
    }

    /// Sets an override after validating it.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        validate(name, value)?;
        self.overrides.insert(name.to_string(), value.trim().to_string());
        Ok(())
    }

    pub fn remove(&mut self, name: &str) -> Result<(), ConfigError> {
        topic_config_def(name).ok_or_else(|| ConfigError::Unknown(name.to_string()))?;
        self.overrides.remove(name);
        Ok(())
    }

    pub fn overrides(&self) -> &BTreeMap<String, String> {
        &self.overrides
    }

    /// The effective value and whether it is a topic override.
    pub fn get(&self, name: &str) -> Option<(String, ConfigSource)> {
        let def = topic_config_def(name)?;
        if let Some(v) = self.overrides.get(name) {
            return Some((v.clone(), ConfigSource::Topic));
        }
        if let Some(v) = self.broker_defaults.get(name) {
            return Some((v.clone(), ConfigSource::StaticBroker));
        }
        Some((def.default.to_string(), ConfigSource::Default))
    }

    fn num(&self, name: &str) -> i64 {
        self.get(name).and_then(|(v, _)| v.parse().ok()).unwrap_or(LONG_MAX)
    }

    pub fn max_message_bytes(&self) -> usize {
        usize::try_from(self.num("max.message.bytes")).unwrap_or(usize::MAX)
    }

    pub fn log_append_time(&self) -> bool {
        self.get("message.timestamp.type").is_some_and(|(v, _)| v == "LogAppendTime")
    }

    pub fn timestamp_before_max_ms(&self) -> i64 {
        self.num("message.timestamp.before.max.ms")
    }

    pub fn timestamp_after_max_ms(&self) -> i64 {
        self.num("message.timestamp.after.max.ms")
    }

    /// `min.insync.replicas`: how many in-sync replicas an acks=all write needs.
    pub fn min_insync_replicas(&self) -> usize {
        usize::try_from(self.num("min.insync.replicas")).unwrap_or(1).max(1)
    }

    /// `unclean.leader.election.enable`: may an out-of-sync replica lead (and lose data)?
    pub fn unclean_leader_election(&self) -> bool {
        self.get("unclean.leader.election.enable").is_some_and(|(v, _)| v == "true")
    }

    /// `cleanup.policy` contains `delete`: retention applies.
    pub fn deletes(&self) -> bool {
        self.get("cleanup.policy").is_some_and(|(v, _)| v.split(',').any(|p| p.trim() == "delete"))
    }

    pub fn retention_ms(&self) -> i64 {
        self.num("retention.ms")
    }

    pub fn retention_bytes(&self) -> i64 {
        self.num("retention.bytes")
    }

    /// The cleaner's settings for this topic at `now_ms`, cleaning below `upper_bound`.
    pub fn cleaner_config(&self, now_ms: i64, upper_bound: i64) -> crate::log::CleanerConfig {
        crate::log::CleanerConfig {
            now_ms,
            min_compaction_lag_ms: if crate::defects::active(crate::defects::Defect::IgnoreMinCompactionLag) {
                0
            } else {
                self.num("min.compaction.lag.ms")
            },
            max_compaction_lag_ms: self.num("max.compaction.lag.ms"),
            delete_retention_ms: self.num("delete.retention.ms"),
            min_cleanable_dirty_ratio: self
                .get("min.cleanable.dirty.ratio")
                .and_then(|(v, _)| v.parse().ok())
                .unwrap_or(0.5),
            upper_bound,
            aborted_transactions: Vec::new(),
        }
    }

    /// The codec the broker stores this topic's batches in, and its level (KIP-390); `None`
    /// keeps the producer's (`compression.type=producer`).
    pub fn target_compression(&self) -> Option<TargetCompression> {
        let level = |name: &str| self.get(name).and_then(|(v, _)| v.parse::<i32>().ok());
        let (codec, level) = match self.get("compression.type")?.0.as_str() {
            "uncompressed" => (Compression::None, None),
            "gzip" => (Compression::Gzip, level("compression.gzip.level")),
            "snappy" => (Compression::Snappy, None),
            "lz4" => (Compression::Lz4, level("compression.lz4.level")),
            "zstd" => (Compression::Zstd, level("compression.zstd.level")),
            _ => return None,
        };
        Some(TargetCompression { codec, level })
    }

    pub fn compacted(&self) -> bool {
        self.get("cleanup.policy").is_some_and(|(v, _)| v.split(',').any(|p| p.trim() == "compact"))
    }

    pub fn log_config(&self) -> LogConfig {
        LogConfig {
            segment_bytes: u64::try_from(self.num("segment.bytes")).unwrap_or(u64::MAX),
            segment_ms: self.num("segment.ms"),
            index_interval_bytes: u64::try_from(self.num("index.interval.bytes")).unwrap_or(4096),
            flush_messages: u64::try_from(self.num("flush.messages")).unwrap_or(1).max(1),
            flush_ms: self.num("flush.ms"),
        }
    }
}

/// A topic's `compression.type` other than `producer`, with its KIP-390 level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetCompression {
    pub codec: Compression,
    /// `compression.{gzip,lz4,zstd}.level`; `None` for codecs without levels.
    pub level: Option<i32>,
}

/// DescribeConfigs `config_source` values (KIP-226).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    Topic,
    StaticBroker,
    Default,
}

impl ConfigSource {
    pub fn code(self) -> i8 {
        match self {
            ConfigSource::Topic => 1,
            ConfigSource::StaticBroker => 4,
            ConfigSource::Default => 5,
        }
    }
}

/// Broker configs this reference understands on its command line (`--config key=value`), with
/// Kafka's names. Unknown keys are refused at start-up with the list of known ones.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub node_id: i32,
    /// `socket.request.max.bytes`: larger frames close the connection (Kafka's InvalidReceiveException).
    pub socket_request_max_bytes: usize,
    /// `auto.create.topics.enable`: Kafka's default is true.
    pub auto_create_topics_enable: bool,
    /// `num.partitions`: partitions of an auto-created topic or a CreateTopics with -1.
    pub num_partitions: i32,
    /// `default.replication.factor`.
    pub default_replication_factor: i16,
    /// Topic defaults set at broker level (`log.flush.interval.messages`, `log.segment.bytes`, ...).
    pub topic_defaults: BTreeMap<String, String>,
    /// `broker.heartbeat.interval.ms`: how often a broker tells the controller it is alive.
    pub broker_heartbeat_interval_ms: u64,
    /// `broker.session.timeout.ms`: a broker silent this long is fenced and loses leadership.
    pub broker_session_timeout_ms: u64,
    /// `replica.lag.time.max.ms`: a follower not caught up for this long leaves the ISR.
    pub replica_lag_time_max_ms: u64,
    /// `replica.fetch.wait.max.ms`: how long a follower's fetch waits at the leader for data.
    pub replica_fetch_wait_max_ms: u64,
    /// `auto.leader.rebalance.enable`: the controller moves leadership back to preferred replicas.
    pub auto_leader_rebalance_enable: bool,
    /// `leader.imbalance.check.interval.seconds`.
    pub leader_imbalance_check_interval_seconds: u64,
    /// `replica.high.watermark.checkpoint.interval.ms`: how often high watermarks are written to
    /// `replication-offset-checkpoint`.
    pub replica_high_watermark_checkpoint_interval_ms: u64,
    /// `log.retention.check.interval.ms`: how often retention runs.
    pub log_retention_check_interval_ms: u64,
    /// `log.cleaner.backoff.ms`: how long the cleaner sleeps when there is nothing to clean.
    pub log_cleaner_backoff_ms: u64,
    /// `log.cleaner.enable`.
    pub log_cleaner_enable: bool,
    /// `producer.id.expiration.ms`: an idempotent producer silent this long is forgotten.
    pub producer_id_expiration_ms: u64,
    /// `producer.id.expiration.check.interval.ms`.
    pub producer_id_expiration_check_interval_ms: u64,
    /// `leader.imbalance.per.broker.percentage`: the share of a broker's preferred partitions led
    /// elsewhere above which the controller rebalances.
    pub leader_imbalance_per_broker_percentage: u32,
    /// `group.min.session.timeout.ms` and `group.max.session.timeout.ms`: the session timeouts
    /// a JoinGroup may ask for (INVALID_SESSION_TIMEOUT outside them).
    pub group_min_session_timeout_ms: i32,
    pub group_max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`: how long an empty group waits for more members.
    pub group_initial_rebalance_delay_ms: i32,
    /// `group.max.size`: GROUP_MAX_SIZE_REACHED beyond it.
    pub group_max_size: i32,
    /// `offsets.topic.num.partitions` and `offsets.topic.replication.factor`: how
    /// `__consumer_offsets` is created, on the first FindCoordinator.
    pub offsets_topic_num_partitions: i32,
    pub offsets_topic_replication_factor: i16,
    /// `offsets.topic.segment.bytes`.
    pub offsets_topic_segment_bytes: i64,
    /// `offset.metadata.max.bytes`: OFFSET_METADATA_TOO_LARGE beyond it.
    pub offset_metadata_max_bytes: usize,
    /// `offsets.commit.timeout.ms`: how long a commit waits for the ISR.
    pub offsets_commit_timeout_ms: u64,
    /// `transaction.state.log.num.partitions`, `.replication.factor`, `.min.isr` and
    /// `.segment.bytes`: how `__transaction_state` is created, on the first FindCoordinator for
    /// a transactional id.
    pub transaction_state_log_num_partitions: i32,
    pub transaction_state_log_replication_factor: i16,
    pub transaction_state_log_min_isr: i32,
    pub transaction_state_log_segment_bytes: i64,
    /// `transaction.max.timeout.ms`: INVALID_TRANSACTION_TIMEOUT above it.
    pub transaction_max_timeout_ms: i32,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`: how often transactions
    /// past their timeout are aborted.
    pub transaction_abort_timed_out_transaction_cleanup_interval_ms: u64,
    /// `transactional.id.expiration.ms`: a transactional id whose last transaction ended this
    /// long ago is forgotten (tombstoned in `__transaction_state`).
    pub transactional_id_expiration_ms: i64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`: how often expired ids go.
    pub transaction_remove_expired_transaction_cleanup_interval_ms: u64,
    /// `transaction.partition.verification.enable` (KIP-890): a partition leader checks with
    /// the coordinator that a transactional batch's partition is in its transaction.
    pub transaction_partition_verification_enable: bool,
    /// The finalized level of Kafka's `transaction.version` feature (in Kafka a cluster
    /// feature, set with `kafka-storage format --feature` or `kafka-features upgrade`; 2 on a
    /// new Kafka 4 cluster), advertised in ApiVersions: 2 lets clients use transaction version
    /// 2 (KIP-890: an epoch bump per transaction, EndTxn v5, Produce v12, TxnOffsetCommit v5);
    /// from 1 `__transaction_state` values are written as v1.
    pub transaction_version: i16,
}

/// Broker config names that set a topic config's default, as Kafka's `ServerTopicConfigSynonyms`.
const BROKER_TOPIC_SYNONYMS: &[(&str, &str)] = &[
    ("log.cleanup.policy", "cleanup.policy"),
    ("compression.type", "compression.type"),
    ("compression.gzip.level", "compression.gzip.level"),
    ("compression.lz4.level", "compression.lz4.level"),
    ("compression.zstd.level", "compression.zstd.level"),
    ("log.flush.interval.messages", "flush.messages"),
    ("log.flush.interval.ms", "flush.ms"),
    ("log.index.interval.bytes", "index.interval.bytes"),
    ("log.retention.bytes", "retention.bytes"),
    ("log.retention.ms", "retention.ms"),
    ("log.roll.ms", "segment.ms"),
    ("log.segment.bytes", "segment.bytes"),
    ("log.message.timestamp.type", "message.timestamp.type"),
    ("message.max.bytes", "max.message.bytes"),
    ("min.insync.replicas", "min.insync.replicas"),
    ("unclean.leader.election.enable", "unclean.leader.election.enable"),
];

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            node_id: 1,
            socket_request_max_bytes: 104_857_600,
            auto_create_topics_enable: true,
            num_partitions: 1,
            default_replication_factor: 1,
            topic_defaults: BTreeMap::new(),
            broker_heartbeat_interval_ms: 2000,
            broker_session_timeout_ms: 9000,
            replica_lag_time_max_ms: 30_000,
            replica_fetch_wait_max_ms: 500,
            auto_leader_rebalance_enable: true,
            leader_imbalance_check_interval_seconds: 300,
            leader_imbalance_per_broker_percentage: 10,
            replica_high_watermark_checkpoint_interval_ms: 5000,
            producer_id_expiration_ms: 86_400_000,
            log_retention_check_interval_ms: 300_000,
            log_cleaner_backoff_ms: 15_000,
            log_cleaner_enable: true,
            producer_id_expiration_check_interval_ms: 600_000,
            group_min_session_timeout_ms: 6000,
            group_max_session_timeout_ms: 1_800_000,
            group_initial_rebalance_delay_ms: 3000,
            group_max_size: i32::MAX,
            offsets_topic_num_partitions: 50,
            offsets_topic_replication_factor: 3,
            offsets_topic_segment_bytes: 104_857_600,
            offset_metadata_max_bytes: 4096,
            offsets_commit_timeout_ms: 5000,
            transaction_state_log_num_partitions: 50,
            transaction_state_log_replication_factor: 3,
            transaction_state_log_min_isr: 2,
            transaction_state_log_segment_bytes: 104_857_600,
            transaction_max_timeout_ms: 900_000,
            transaction_abort_timed_out_transaction_cleanup_interval_ms: 10_000,
            transaction_partition_verification_enable: true,
            transaction_version: 2,
            transactional_id_expiration_ms: 604_800_000,
            transaction_remove_expired_transaction_cleanup_interval_ms: 3_600_000,
        }
    }
}

/// A duration or count that must be at least 1.
fn positive(value: &str) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// A count or duration that may be 0, within an int.
fn non_negative(value: &str) -> Result<i32, String> {
    match value.parse::<i32>() {
        Ok(n) if n < 0 => Err("must not be negative".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

impl BrokerConfig {
    /// Applies one `key=value` from the command line.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let parse_err = |e: &dyn std::fmt::Display| format!("invalid value {value:?} for {key}: {e}");
        match key {
            "node.id" => self.node_id = value.parse().map_err(|e| parse_err(&e))?,
            "socket.request.max.bytes" => self.socket_request_max_bytes = value.parse().map_err(|e| parse_err(&e))?,
            "auto.create.topics.enable" => self.auto_create_topics_enable = value.parse().map_err(|e| parse_err(&e))?,
            "num.partitions" => {
                let n: i32 = value.parse().map_err(|e| parse_err(&e))?;
                if n < 1 {
                    return Err(format!("num.partitions must be at least 1, got {n}"));
                }
                self.num_partitions = n;
            }
            "default.replication.factor" => {
                self.default_replication_factor = value.parse().map_err(|e| parse_err(&e))?
            }
            "broker.heartbeat.interval.ms" => {
                self.broker_heartbeat_interval_ms = positive(value).map_err(|e| parse_err(&e))?
            }
            "broker.session.timeout.ms" => {
                self.broker_session_timeout_ms = positive(value).map_err(|e| parse_err(&e))?
            }
            "replica.lag.time.max.ms" => self.replica_lag_time_max_ms = positive(value).map_err(|e| parse_err(&e))?,
            "replica.fetch.wait.max.ms" => self.replica_fetch_wait_max_ms = value.parse().map_err(|e| parse_err(&e))?,
            "auto.leader.rebalance.enable" => {
                self.auto_leader_rebalance_enable = value.parse().map_err(|e| parse_err(&e))?
            }
            "leader.imbalance.check.interval.seconds" => {
                self.leader_imbalance_check_interval_seconds = positive(value).map_err(|e| parse_err(&e))?
            }
            "replica.high.watermark.checkpoint.interval.ms" => {
                self.replica_high_watermark_checkpoint_interval_ms = positive(value).map_err(|e| parse_err(&e))?
            }
            "log.retention.check.interval.ms" => {
                self.log_retention_check_interval_ms = positive(value).map_err(|e| parse_err(&e))?
            }
            "log.cleaner.backoff.ms" => self.log_cleaner_backoff_ms = positive(value).map_err(|e| parse_err(&e))?,
            "log.cleaner.enable" => self.log_cleaner_enable = value.parse().map_err(|e| parse_err(&e))?,
            "producer.id.expiration.ms" => {
                self.producer_id_expiration_ms = positive(value).map_err(|e| parse_err(&e))?
            }
            "producer.id.expiration.check.interval.ms" => {
                self.producer_id_expiration_check_interval_ms = positive(value).map_err(|e| parse_err(&e))?
            }
            "leader.imbalance.per.broker.percentage" => {
                self.leader_imbalance_per_broker_percentage = value.parse().map_err(|e| parse_err(&e))?
            }
            "group.min.session.timeout.ms" => {
                self.group_min_session_timeout_ms = non_negative(value).map_err(|e| parse_err(&e))?
            }
            "group.max.session.timeout.ms" => {
                self.group_max_session_timeout_ms = non_negative(value).map_err(|e| parse_err(&e))?
            }
            "group.initial.rebalance.delay.ms" => {
                self.group_initial_rebalance_delay_ms = non_negative(value).map_err(|e| parse_err(&e))?
            }
            "group.max.size" => self.group_max_size = non_negative(value).map_err(|e| parse_err(&e))?.max(1),
            "offsets.topic.num.partitions" => {
                self.offsets_topic_num_partitions =
                    positive(value).map_err(|e| parse_err(&e))?.min(i32::MAX as u64) as i32
            }
            "offsets.topic.replication.factor" => {
                self.offsets_topic_replication_factor =
                    positive(value).map_err(|e| parse_err(&e))?.min(i16::MAX as u64) as i16
            }
            "offsets.topic.segment.bytes" => {
                self.offsets_topic_segment_bytes = positive(value).map_err(|e| parse_err(&e))? as i64
            }
            "offset.metadata.max.bytes" => self.offset_metadata_max_bytes = value.parse().map_err(|e| parse_err(&e))?,
            "offsets.commit.timeout.ms" => {
                self.offsets_commit_timeout_ms = positive(value).map_err(|e| parse_err(&e))?
            }
            "transaction.state.log.num.partitions" => {
                self.transaction_state_log_num_partitions =
                    positive(value).map_err(|e| parse_err(&e))?.min(i32::MAX as u64) as i32
            }
            "transaction.state.log.replication.factor" => {
                self.transaction_state_log_replication_factor =
                    positive(value).map_err(|e| parse_err(&e))?.min(i16::MAX as u64) as i16
            }
            "transaction.state.log.min.isr" => {
                self.transaction_state_log_min_isr =
                    positive(value).map_err(|e| parse_err(&e))?.min(i32::MAX as u64) as i32
            }
            "transaction.state.log.segment.bytes" => {
                self.transaction_state_log_segment_bytes = positive(value).map_err(|e| parse_err(&e))? as i64
            }
            "transaction.max.timeout.ms" => {
                self.transaction_max_timeout_ms =
                    positive(value).map_err(|e| parse_err(&e))?.min(i32::MAX as u64) as i32
            }
            "transactional.id.expiration.ms" => {
                self.transactional_id_expiration_ms =
                    positive(value).map_err(|e| parse_err(&e))?.min(i64::MAX as u64) as i64
            }
            "transaction.remove.expired.transaction.cleanup.interval.ms" => {
                self.transaction_remove_expired_transaction_cleanup_interval_ms =
                    positive(value).map_err(|e| parse_err(&e))?
            }
            "transaction.partition.verification.enable" => {
                self.transaction_partition_verification_enable = value.parse().map_err(|e| parse_err(&e))?
            }
            "transaction.abort.timed.out.transaction.cleanup.interval.ms" => {
                self.transaction_abort_timed_out_transaction_cleanup_interval_ms =
                    positive(value).map_err(|e| parse_err(&e))?
            }
            "transaction.version" => {
                self.transaction_version = match value.trim() {
                    "0" => 0,
                    "1" => 1,
                    "2" => 2,
                    _ => return Err(parse_err(&"the transaction.version feature has levels 0, 1 and 2")),
                }
            }
            _ => {
                let Some((_, topic_key)) = BROKER_TOPIC_SYNONYMS.iter().find(|(b, _)| *b == key) else {
                    let mut known: Vec<&str> = vec![
                        "node.id",
                        "socket.request.max.bytes",
                        "auto.create.topics.enable",
                        "num.partitions",
                        "default.replication.factor",
                        "broker.heartbeat.interval.ms",
                        "broker.session.timeout.ms",
                        "replica.lag.time.max.ms",
                        "replica.fetch.wait.max.ms",
                        "auto.leader.rebalance.enable",
                        "leader.imbalance.check.interval.seconds",
                        "leader.imbalance.per.broker.percentage",
                        "replica.high.watermark.checkpoint.interval.ms",
                        "producer.id.expiration.ms",
                        "producer.id.expiration.check.interval.ms",
                        "log.retention.check.interval.ms",
                        "log.cleaner.backoff.ms",
                        "log.cleaner.enable",
                        "group.min.session.timeout.ms",
                        "group.max.session.timeout.ms",
                        "group.initial.rebalance.delay.ms",
                        "group.max.size",
                        "offsets.topic.num.partitions",
                        "offsets.topic.replication.factor",
                        "offsets.topic.segment.bytes",
                        "offset.metadata.max.bytes",
                        "offsets.commit.timeout.ms",
                        "transaction.state.log.num.partitions",
                        "transaction.state.log.replication.factor",
                        "transaction.state.log.min.isr",
                        "transaction.state.log.segment.bytes",
                        "transaction.max.timeout.ms",
                        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
                        "transaction.partition.verification.enable",
                        "transactional.id.expiration.ms",
                        "transaction.remove.expired.transaction.cleanup.interval.ms",
                        "transaction.version",
                    ];
                    known.extend(BROKER_TOPIC_SYNONYMS.iter().map(|(b, _)| *b));
                    return Err(format!("unknown broker config {key:?}; known: {}", known.join(", ")));
                };
                validate(topic_key, value).map_err(|e| e.to_string())?;
                self.topic_defaults.insert((*topic_key).to_string(), value.to_string());
            }
        }
        Ok(())
    }

    /// A fresh topic config carrying this broker's topic defaults.
    pub fn new_topic_config(&self) -> TopicConfig {
        TopicConfig::new(self.topic_defaults.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("retention.ms", "1000", true)]
    #[case("retention.ms", "-1", true)]
    #[case("retention.ms", "-2", false)]
    #[case("retention.ms", "soon", false)]
    #[case("cleanup.policy", "compact,delete", true)]
    #[case("cleanup.policy", "shred", false)]
    #[case("message.timestamp.type", "LogAppendTime", true)]
    #[case("message.timestamp.type", "Now", false)]
    #[case("max.message.bytes", "99999999999", false)]
    #[case("min.cleanable.dirty.ratio", "1.5", false)]
    #[case("unclean.leader.election.enable", "yes", false)]
    #[case("no.such.config", "1", false)]
    #[case("compression.type", "zstd", true)]
    #[case("compression.type", "uncompressed", true)]
    #[case("compression.type", "none", false)]
    #[case("compression.type", "ZSTD", false)]
    #[case("compression.gzip.level", "-1", true)]
    #[case("compression.gzip.level", "1", true)]
    #[case("compression.gzip.level", "9", true)]
    #[case("compression.gzip.level", "0", false)]
    #[case("compression.gzip.level", "10", false)]
    #[case("compression.lz4.level", "1", true)]
    #[case("compression.lz4.level", "17", true)]
    #[case("compression.lz4.level", "18", false)]
    #[case("compression.lz4.level", "0", false)]
    #[case("compression.zstd.level", "-131072", true)]
    #[case("compression.zstd.level", "22", true)]
    #[case("compression.zstd.level", "23", false)]
    #[case("compression.zstd.level", "-131073", false)]
    fn validates_like_kafka(#[case] name: &str, #[case] value: &str, #[case] ok: bool) {
        assert_eq!(validate(name, value).is_ok(), ok, "{name}={value}");
    }

    #[test]
    fn defaults_and_overrides_report_their_source() {
        let mut broker = BrokerConfig::default();
        broker.set("log.segment.bytes", "4096").expect("valid");
        let mut topic = broker.new_topic_config();
        assert_eq!(topic.get("retention.ms"), Some(("604800000".into(), ConfigSource::Default)));
        assert_eq!(topic.get("segment.bytes"), Some(("4096".into(), ConfigSource::StaticBroker)));
        topic.set("segment.bytes", "2048").expect("valid");
        assert_eq!(topic.get("segment.bytes"), Some(("2048".into(), ConfigSource::Topic)));
        assert_eq!(topic.log_config().segment_bytes, 2048);
    }

    #[test]
    fn unknown_broker_config_names_the_known_ones() {
        let err = BrokerConfig::default().set("log.retention.hourz", "1").expect_err("unknown");
        assert!(err.contains("log.retention.ms"), "{err}");
    }

    #[test]
    fn the_transaction_version_feature_has_three_levels() {
        let mut broker = BrokerConfig::default();
        assert_eq!(broker.transaction_version, 2, "a new Kafka 4 cluster finalizes transaction.version 2");
        broker.set("transaction.version", "1").expect("valid");
        assert_eq!(broker.transaction_version, 1);
        let err = broker.set("transaction.version", "3").expect_err("no level 3");
        assert!(err.contains("levels 0, 1 and 2"), "{err}");
        assert_eq!(broker.transaction_version, 1, "a refused value changes nothing");
    }
}
