//! The controller: it owns the cluster's metadata and is its only writer, as KRaft's active
//! controller is (KIP-500, KIP-631). A compact reference runs exactly one controller process,
//! which tests never kill; brokers are separate processes.
//!
//! It speaks Kafka's own RPCs:
//! - BrokerRegistration and BrokerHeartbeat (KIP-631): a broker registers fenced, is unfenced
//!   once it has replayed the metadata log up to its registration, and is fenced again when its
//!   heartbeats stop for `broker.session.timeout.ms` or it asks to shut down;
//! - Fetch and ListOffsets on `__cluster_metadata-0`: brokers replay the metadata log;
//! - AlterPartition (KIP-497): a leader shrinks or expands its ISR;
//! - CreateTopics, DeleteTopics, CreatePartitions, IncrementalAlterConfigs, forwarded by brokers.
//!
//! Leader election follows KRaft's `PartitionChangeBuilder`: the first replica in assignment
//! order that is in the ISR and not fenced; with `unclean.leader.election.enable`, failing that,
//! the first live replica, whose ISR is then itself alone. A fenced broker leaves every ISR
//! unless it is the last member (the ISR is never empty, so the last in-sync replica can lead
//! again when it returns). Every leader change bumps the leader epoch; every change bumps the
//! partition epoch.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;

use crate::api::Versions;
use crate::config::{BrokerConfig, TopicConfig};
use crate::defects::{Defect, active};
use crate::log::{DiskLog, Log, LogConfig};
use crate::metadata::{self, Image, METADATA_TOPIC, MetadataRecord, NO_LEADER, PartitionState};
use crate::now_ms;
use crate::server::{ConnectionError, Decoded, FrameReader, decode_frame, encode_response};
use crate::topic::validate_topic_name;

/// The APIs the controller serves.
const SUPPORTED: &[(ApiKey, Versions)] = &[
    (ApiKey::ApiVersions, v(0, 4)),
    (ApiKey::Fetch, v(12, 12)),
    (ApiKey::ListOffsets, v(1, 8)),
    (ApiKey::BrokerRegistration, v(0, 4)),
    (ApiKey::BrokerHeartbeat, v(0, 1)),
    (ApiKey::AlterPartition, v(2, 3)),
    (ApiKey::CreateTopics, v(2, 7)),
    (ApiKey::DeleteTopics, v(1, 6)),
    (ApiKey::CreatePartitions, v(0, 3)),
    (ApiKey::IncrementalAlterConfigs, v(0, 1)),
    (ApiKey::AllocateProducerIds, v(0, 0)),
];

/// Producer ids per AllocateProducerIds answer: Kafka's `ProducerIdManager` block size.
const PRODUCER_ID_BLOCK: i32 = 1000;

const fn v(min: i16, max: i16) -> Versions {
    Versions { advertised_min: min, min, max }
}

fn versions(key: ApiKey) -> Option<Versions> {
    SUPPORTED.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

pub struct Controller {
    config: BrokerConfig,
    state: Mutex<State>,
    /// The metadata log's end offset, for long-polling fetches.
    end: tokio::sync::watch::Sender<i64>,
}

struct State {
    image: Image,
    log: DiskLog,
    /// When each broker was last heard from.
    sessions: HashMap<i32, Instant>,
    last_rebalance: Instant,
}

/// A refusal with Kafka's code and message.
struct Refusal(ResponseError, String);

impl Controller {
    /// Opens the metadata log in `data_dir` and replays it. `fence_all` fences every broker at
    /// start: for a controller that starts together with its only broker (standalone mode).
    pub fn open(config: BrokerConfig, data_dir: &Path, fence_all: bool) -> anyhow::Result<Arc<Controller>> {
        std::fs::create_dir_all(data_dir)?;
        let dir: PathBuf = data_dir.join(format!("{METADATA_TOPIC}-0"));
        let log = DiskLog::open(&dir, LogConfig::default())?;
        let mut image = Image::default();
        let mut offset = log.log_start_offset();
        let end = log.log_end_offset();
        while offset < end {
            let batches = log.read(offset, 1 << 20, end, true)?;
            if batches.is_empty() {
                break;
            }
            for b in batches {
                offset = b.next_offset();
                for (o, r) in metadata::decode(b.into_bytes())? {
                    if active(Defect::ReuseProducerIdsAfterRestart) && matches!(r, MetadataRecord::ProducerIds { .. }) {
                        continue;
                    }
                    if active(Defect::TopicDeletionLostOnRestart) && matches!(r, MetadataRecord::RemoveTopic { .. }) {
                        continue;
                    }
                    image.apply(o, &r);
                }
            }
        }
        let now = Instant::now();
        let sessions = image.brokers.keys().map(|id| (*id, now)).collect();
        let controller = Arc::new(Controller {
            config,
            state: Mutex::new(State { image, log, sessions, last_rebalance: now }),
            end: tokio::sync::watch::channel(end).0,
        });
        {
            let mut st = controller.lock();
            if st.image.cluster_id.is_empty() {
                let id = crate::broker::new_cluster_id();
                controller.commit(&mut st, vec![MetadataRecord::Cluster { id }]).map_err(|r| anyhow::anyhow!(r.1))?;
            }
            if fence_all {
                let live: Vec<i32> = st.image.live_brokers().map(|b| b.id).collect();
                for id in live {
                    let records = fence(&st.image, &controller.config.topic_defaults, id);
                    controller.commit(&mut st, records).map_err(|r| anyhow::anyhow!(r.1))?;
                }
            }
        }
        Ok(controller)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends records as one batch (all or nothing) and applies them.
    fn commit(&self, st: &mut State, records: Vec<MetadataRecord>) -> Result<(), Refusal> {
        if records.is_empty() {
            return Ok(());
        }
        let storage = |e: String| Refusal(ResponseError::KafkaStorageError, e);
        let bytes = metadata::encode(&records, now_ms()).map_err(|e| storage(e.to_string()))?;
        let batch = crate::log::Batch::parse(bytes).map_err(|e| storage(e.to_string()))?;
        let info = st.log.append(batch.into_mut(), now_ms()).map_err(|e| storage(e.to_string()))?;
        for (i, r) in records.iter().enumerate() {
            st.image.apply(info.base_offset + i as i64, r);
        }
        let end = st.log.log_end_offset();
        self.end.send_replace(end);
        Ok(())
    }

    /// The periodic work: fence brokers whose sessions expired, elect leaders where none is,
    /// and move leadership back to preferred replicas.
    fn tick(&self) {
        let mut st = self.lock();
        let timeout = Duration::from_millis(self.config.broker_session_timeout_ms);
        let expired: Vec<i32> = st
            .image
            .live_brokers()
            .filter(|b| st.sessions.get(&b.id).is_none_or(|t| t.elapsed() > timeout))
            .map(|b| b.id)
            .collect();
        for id in expired {
            if active(Defect::IgnoreBrokerSessionTimeout) {
                break;
            }
            tracing::info!("broker {id}: session expired, fencing it");
            let records = fence(&st.image, &self.config.topic_defaults, id);
            if let Err(Refusal(_, e)) = self.commit(&mut st, records) {
                tracing::error!("fencing broker {id}: {e}");
            }
        }
        let records = elect_leaderless(&st.image, &self.config.topic_defaults);
        if let Err(Refusal(_, e)) = self.commit(&mut st, records) {
            tracing::error!("electing leaders: {e}");
        }
        let interval = Duration::from_secs(self.config.leader_imbalance_check_interval_seconds);
        if self.config.auto_leader_rebalance_enable
            && !active(Defect::NoPreferredLeaderElection)
            && st.last_rebalance.elapsed() >= interval
        {
            st.last_rebalance = Instant::now();
            let records = preferred_elections(&st.image, self.config.leader_imbalance_per_broker_percentage);
            if let Err(Refusal(_, e)) = self.commit(&mut st, records) {
                tracing::error!("preferred leader election: {e}");
            }
        }
    }

    async fn handle(&self, request: RequestKind, version: i16) -> Option<ResponseKind> {
        Some(match request {
            RequestKind::ApiVersions(_) => {
                let keys = SUPPORTED
                    .iter()
                    .map(|(k, v)| {
                        api_versions_response::ApiVersion::default()
                            .with_api_key(*k as i16)
                            .with_min_version(v.min)
                            .with_max_version(v.max)
                    })
                    .collect();
                ResponseKind::ApiVersions(ApiVersionsResponse::default().with_api_keys(keys))
            }
            RequestKind::Fetch(r) => ResponseKind::Fetch(self.fetch(r).await),
            RequestKind::ListOffsets(r) => ResponseKind::ListOffsets(self.list_offsets(r)),
            RequestKind::BrokerRegistration(r) => ResponseKind::BrokerRegistration(self.register(r)),
            RequestKind::BrokerHeartbeat(r) => ResponseKind::BrokerHeartbeat(self.heartbeat(r)),
            RequestKind::AlterPartition(r) => ResponseKind::AlterPartition(self.alter_partition(r, version)),
            RequestKind::CreateTopics(r) => ResponseKind::CreateTopics(self.create_topics(r, version)),
            RequestKind::DeleteTopics(r) => ResponseKind::DeleteTopics(self.delete_topics(r, version)),
            RequestKind::CreatePartitions(r) => ResponseKind::CreatePartitions(self.create_partitions(r)),
            RequestKind::IncrementalAlterConfigs(r) => ResponseKind::IncrementalAlterConfigs(self.alter_configs(r)),
            RequestKind::AllocateProducerIds(r) => ResponseKind::AllocateProducerIds(self.allocate_producer_ids(r)),
            _ => return None,
        })
    }

    async fn fetch(&self, request: FetchRequest) -> FetchResponse {
        let offset = request.topics.first().and_then(|t| t.partitions.first()).map_or(0, |p| p.fetch_offset);
        let max_bytes = request.max_bytes.max(1024) as usize;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
        let mut end = self.end.subscribe();
        loop {
            let current = *end.borrow_and_update();
            if offset < current || tokio::time::Instant::now() >= deadline {
                break;
            }
            if tokio::time::timeout_at(deadline, end.changed()).await.is_err() {
                break;
            }
        }
        let st = self.lock();
        let end = st.log.log_end_offset();
        let mut pd = fetch_response::PartitionData::default()
            .with_partition_index(0)
            .with_high_watermark(end)
            .with_last_stable_offset(end)
            .with_log_start_offset(st.log.log_start_offset());
        match st.log.read(offset, max_bytes, end, true) {
            Ok(batches) => {
                let mut buf = BytesMut::new();
                for b in &batches {
                    buf.extend_from_slice(b.as_bytes());
                }
                pd = pd.with_records(Some(buf.freeze()));
            }
            Err(crate::log::LogError::OffsetOutOfRange { .. }) => {
                pd = pd.with_error_code(ResponseError::OffsetOutOfRange.code()).with_records(Some(Bytes::new()));
            }
            Err(e) => {
                tracing::error!("reading the metadata log: {e}");
                pd = pd.with_error_code(ResponseError::KafkaStorageError.code()).with_records(Some(Bytes::new()));
            }
        }
        let topic = fetch_response::FetchableTopicResponse::default()
            .with_topic(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
            .with_partitions(vec![pd]);
        FetchResponse::default().with_responses(vec![topic])
    }

    fn list_offsets(&self, request: ListOffsetsRequest) -> ListOffsetsResponse {
        let st = self.lock();
        let topics = request
            .topics
            .iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let offset =
                            if p.timestamp == -2 { st.log.log_start_offset() } else { st.log.log_end_offset() };
                        list_offsets_response::ListOffsetsPartitionResponse::default()
                            .with_partition_index(p.partition_index)
                            .with_offset(offset)
                            .with_timestamp(-1)
                    })
                    .collect();
                list_offsets_response::ListOffsetsTopicResponse::default()
                    .with_name(t.name.clone())
                    .with_partitions(partitions)
            })
            .collect();
        ListOffsetsResponse::default().with_topics(topics)
    }

    fn register(&self, r: BrokerRegistrationRequest) -> BrokerRegistrationResponse {
        let id = r.broker_id.0;
        let mut st = self.lock();
        let fail =
            |e: ResponseError| BrokerRegistrationResponse::default().with_error_code(e.code()).with_broker_epoch(-1);
        if !r.cluster_id.is_empty() && r.cluster_id.as_str() != st.image.cluster_id {
            return fail(ResponseError::InconsistentClusterId);
        }
        let timeout = Duration::from_millis(self.config.broker_session_timeout_ms);
        let mut records = Vec::new();
        if let Some(b) = st.image.brokers.get(&id).cloned() {
            if b.incarnation == r.incarnation_id {
                // A retry of a registration that was committed: same answer.
                st.sessions.insert(id, Instant::now());
                return BrokerRegistrationResponse::default().with_broker_epoch(b.epoch);
            }
            let alive = st.sessions.get(&id).is_some_and(|t| t.elapsed() <= timeout);
            if !b.fenced && alive {
                // Kafka's ClusterControlManager: another incarnation still holds this id.
                return fail(ResponseError::DuplicateBrokerRegistration);
            }
            if !b.fenced {
                records.extend(fence(&st.image, &self.config.topic_defaults, id));
            }
        }
        let Some(listener) = r.listeners.first() else {
            return fail(ResponseError::InvalidRequest);
        };
        let epoch = st.log.log_end_offset() + records.len() as i64;
        records.push(MetadataRecord::RegisterBroker {
            id,
            epoch,
            incarnation: r.incarnation_id,
            host: listener.host.to_string(),
            port: i32::from(listener.port),
        });
        if let Err(Refusal(code, e)) = self.commit(&mut st, records) {
            tracing::error!("registering broker {id}: {e}");
            return fail(code);
        }
        st.sessions.insert(id, Instant::now());
        tracing::info!("broker {id} registered at {}:{} with epoch {epoch}", listener.host.as_str(), listener.port);
        BrokerRegistrationResponse::default().with_broker_epoch(epoch)
    }

    /// A block of producer ids for a broker's InitProducerId answers, never handed out twice.
    fn allocate_producer_ids(&self, r: AllocateProducerIdsRequest) -> AllocateProducerIdsResponse {
        let mut st = self.lock();
        let fail = |e: ResponseError| AllocateProducerIdsResponse::default().with_error_code(e.code());
        match st.image.brokers.get(&r.broker_id.0) {
            Some(b) if b.epoch == r.broker_epoch => {}
            _ => return fail(ResponseError::StaleBrokerEpoch),
        }
        let start = st.image.next_producer_id;
        let next = start + i64::from(PRODUCER_ID_BLOCK);
        if let Err(Refusal(code, e)) = self.commit(&mut st, vec![MetadataRecord::ProducerIds { next }]) {
            tracing::error!("allocating producer ids: {e}");
            return fail(code);
        }
        AllocateProducerIdsResponse::default()
            .with_producer_id_start(ProducerId(start))
            .with_producer_id_len(PRODUCER_ID_BLOCK)
    }

    fn heartbeat(&self, r: BrokerHeartbeatRequest) -> BrokerHeartbeatResponse {
        let id = r.broker_id.0;
        let mut st = self.lock();
        let Some(b) = st.image.brokers.get(&id).cloned() else {
            return BrokerHeartbeatResponse::default().with_error_code(ResponseError::BrokerIdNotRegistered.code());
        };
        if b.epoch != r.broker_epoch {
            return BrokerHeartbeatResponse::default().with_error_code(ResponseError::StaleBrokerEpoch.code());
        }
        st.sessions.insert(id, Instant::now());
        let caught_up = r.current_metadata_offset >= b.epoch;
        let response = BrokerHeartbeatResponse::default().with_is_caught_up(caught_up);
        if r.want_shut_down {
            // Controlled shutdown: leadership moves away before the broker goes.
            if !b.fenced {
                let records = fence(&st.image, &self.config.topic_defaults, id);
                if let Err(Refusal(code, e)) = self.commit(&mut st, records) {
                    tracing::error!("controlled shutdown of broker {id}: {e}");
                    return response.with_error_code(code.code()).with_is_fenced(false);
                }
            }
            return response.with_is_fenced(true).with_should_shut_down(true);
        }
        if b.fenced && caught_up && !r.want_fence {
            let mut records = vec![MetadataRecord::UnfenceBroker { id, epoch: b.epoch }];
            let mut after = st.image.clone();
            after.apply(st.log.log_end_offset(), &records[0]);
            records.extend(elect_leaderless(&after, &self.config.topic_defaults));
            if let Err(Refusal(code, e)) = self.commit(&mut st, records) {
                tracing::error!("unfencing broker {id}: {e}");
                return response.with_error_code(code.code()).with_is_fenced(true);
            }
            tracing::info!("broker {id} is caught up and unfenced");
            return response.with_is_fenced(false);
        }
        response.with_is_fenced(st.image.brokers.get(&id).is_none_or(|b| b.fenced))
    }

    fn alter_partition(&self, r: AlterPartitionRequest, version: i16) -> AlterPartitionResponse {
        let mut st = self.lock();
        let leader = r.broker_id.0;
        match st.image.brokers.get(&leader) {
            Some(b) if b.epoch == r.broker_epoch || r.broker_epoch == -1 => {}
            _ => {
                return AlterPartitionResponse::default().with_error_code(ResponseError::StaleBrokerEpoch.code());
            }
        }
        let mut topics = Vec::new();
        for t in &r.topics {
            let mut partitions = Vec::new();
            for p in &t.partitions {
                let new_isr: Vec<i32> = if version >= 3 {
                    p.new_isr_with_epochs.iter().map(|b| b.broker_id.0).collect()
                } else {
                    p.new_isr.iter().map(|b| b.0).collect()
                };
                let result = self.change_isr(&mut st, t.topic_id, p.partition_index, leader, p, new_isr);
                let mut out =
                    alter_partition_response::PartitionData::default().with_partition_index(p.partition_index);
                match result {
                    Ok(s) => {
                        out = out
                            .with_leader_id(BrokerId(s.leader))
                            .with_leader_epoch(s.leader_epoch)
                            .with_isr(s.isr.iter().map(|b| BrokerId(*b)).collect())
                            .with_partition_epoch(s.partition_epoch);
                    }
                    Err(Refusal(code, message)) => {
                        tracing::debug!("AlterPartition from {leader} refused: {message}");
                        out = out.with_error_code(code.code());
                    }
                }
                partitions.push(out);
            }
            topics.push(
                alter_partition_response::TopicData::default().with_topic_id(t.topic_id).with_partitions(partitions),
            );
        }
        AlterPartitionResponse::default().with_topics(topics)
    }

    fn change_isr(
        &self,
        st: &mut State,
        topic_id: Uuid,
        partition: i32,
        leader: i32,
        p: &alter_partition_request::PartitionData,
        new_isr: Vec<i32>,
    ) -> Result<PartitionState, Refusal> {
        let current = st
            .image
            .topic_by_id(topic_id)
            .and_then(|t| usize::try_from(partition).ok().and_then(|i| t.partitions.get(i)))
            .cloned()
            .ok_or_else(|| Refusal(ResponseError::UnknownTopicOrPartition, format!("{topic_id}-{partition}")))?;
        if current.leader != leader {
            return Err(Refusal(ResponseError::NotLeaderOrFollower, format!("{leader} is not the leader")));
        }
        if p.leader_epoch != current.leader_epoch {
            return Err(Refusal(ResponseError::FencedLeaderEpoch, format!("leader epoch {} is stale", p.leader_epoch)));
        }
        if p.partition_epoch != current.partition_epoch {
            return Err(Refusal(
                ResponseError::InvalidUpdateVersion,
                format!("partition epoch {} is not {}", p.partition_epoch, current.partition_epoch),
            ));
        }
        if !new_isr.contains(&leader) || new_isr.iter().any(|r| !current.replicas.contains(r)) {
            return Err(Refusal(ResponseError::InvalidRequest, format!("ISR {new_isr:?} is not valid")));
        }
        if new_isr.iter().any(|r| !current.isr.contains(r) && !st.image.is_live(*r)) {
            return Err(Refusal(ResponseError::IneligibleReplica, format!("ISR {new_isr:?} names a fenced broker")));
        }
        let state = PartitionState { isr: new_isr, partition_epoch: current.partition_epoch + 1, ..current };
        self.commit(st, vec![MetadataRecord::Partition { topic_id, partition, state: state.clone() }])?;
        Ok(state)
    }

    fn create_topics(&self, request: CreateTopicsRequest, version: i16) -> CreateTopicsResponse {
        let mut st = self.lock();
        let topics = request
            .topics
            .iter()
            .map(|t| {
                let result = create_topics_response::CreatableTopicResult::default().with_name(t.name.clone());
                match self.create_topic(&mut st, t, request.validate_only) {
                    Ok((id, partitions, rf)) => {
                        let mut result = result;
                        if version >= 7 {
                            result = result.with_topic_id(id);
                        }
                        if version >= 5 {
                            result = result.with_num_partitions(partitions).with_replication_factor(rf);
                        }
                        result
                    }
                    Err(Refusal(code, message)) => {
                        result.with_error_code(code.code()).with_error_message(Some(StrBytes::from_string(message)))
                    }
                }
            })
            .collect();
        CreateTopicsResponse::default().with_topics(topics)
    }

    fn create_topic(
        &self,
        st: &mut State,
        t: &create_topics_request::CreatableTopic,
        validate_only: bool,
    ) -> Result<(Uuid, i32, i16), Refusal> {
        let name = t.name.0.as_str();
        validate_topic_name(name).map_err(|m| Refusal(ResponseError::InvalidTopicException, m))?;
        if st.image.topic(name).is_some() {
            return Err(Refusal(ResponseError::TopicAlreadyExists, format!("Topic '{name}' already exists.")));
        }
        let live: Vec<i32> = st.image.live_brokers().map(|b| b.id).collect();
        let assignment: Vec<Vec<i32>> = if t.assignments.is_empty() {
            let partitions = if t.num_partitions == -1 { self.config.num_partitions } else { t.num_partitions };
            if partitions < 1 {
                return Err(Refusal(
                    ResponseError::InvalidPartitions,
                    "Number of partitions must be larger than 0.".into(),
                ));
            }
            let rf =
                if t.replication_factor == -1 { self.config.default_replication_factor } else { t.replication_factor };
            if rf < 1 {
                return Err(Refusal(
                    ResponseError::InvalidReplicationFactor,
                    "Replication factor must be larger than 0, or -1 to use the default value.".into(),
                ));
            }
            let rf = if active(Defect::AcceptAnyReplicationFactor) { rf.min(live.len().max(1) as i16) } else { rf };
            if rf as usize > live.len() {
                return Err(Refusal(
                    ResponseError::InvalidReplicationFactor,
                    format!(
                        "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only {} broker(s) are registered.",
                        live.len()
                    ),
                ));
            }
            assign(&live, partitions, rf as usize, st.image.topics.len())
        } else {
            let mut out = Vec::new();
            for a in &t.assignments {
                let replicas: Vec<i32> = a.broker_ids.iter().map(|b| b.0).collect();
                if replicas.iter().any(|b| !st.image.brokers.contains_key(b)) {
                    return Err(Refusal(
                        ResponseError::InvalidReplicaAssignment,
                        "Replica assignment names a broker that is not registered.".into(),
                    ));
                }
                out.push(replicas);
            }
            out
        };
        let mut cfg = self.config.new_topic_config();
        for c in &t.configs {
            let key = c.name.as_str();
            if active(Defect::AcceptUnknownTopicConfig) && crate::config::topic_config_def(key).is_none() {
                continue;
            }
            match &c.value {
                Some(v) => cfg.set(key, v.as_str()),
                None => cfg.remove(key),
            }
            .map_err(|e| Refusal(ResponseError::InvalidConfig, e.to_string()))?;
        }
        let id = Uuid::new_v4();
        let (partitions, rf) = (assignment.len() as i32, assignment.first().map_or(0, |a| a.len() as i16));
        if validate_only {
            return Ok((id, partitions, rf));
        }
        let mut records = vec![
            MetadataRecord::Topic { name: name.to_string(), id },
            MetadataRecord::TopicConfigs { id, configs: cfg.overrides().clone() },
        ];
        for (i, replicas) in assignment.into_iter().enumerate() {
            let isr: Vec<i32> = replicas.iter().copied().filter(|r| st.image.is_live(*r)).collect();
            let leader = isr.first().copied().unwrap_or(NO_LEADER);
            let state = PartitionState { replicas, isr, leader, leader_epoch: 0, partition_epoch: 0 };
            records.push(MetadataRecord::Partition { topic_id: id, partition: i as i32, state });
        }
        self.commit(st, records)?;
        Ok((id, partitions, rf))
    }

    fn delete_topics(&self, request: DeleteTopicsRequest, version: i16) -> DeleteTopicsResponse {
        let mut st = self.lock();
        let names: Vec<(Option<TopicName>, Uuid)> = if version >= 6 {
            request.topics.iter().map(|t| (t.name.clone(), t.topic_id)).collect()
        } else {
            request.topic_names.iter().map(|n| (Some(n.clone()), Uuid::nil())).collect()
        };
        let responses = names
            .into_iter()
            .map(|(name, id)| {
                let found = match &name {
                    Some(n) => st.image.topic(n.as_str()).map(|t| (t.name.clone(), t.id)),
                    None => st.image.topic_by_id(id).map(|t| (t.name.clone(), t.id)),
                };
                let r = delete_topics_response::DeletableTopicResult::default().with_name(name.clone());
                match found {
                    None => r.with_error_code(if name.is_some() {
                        ResponseError::UnknownTopicOrPartition.code()
                    } else {
                        ResponseError::UnknownTopicId.code()
                    }),
                    Some((n, id)) => match self.commit(&mut st, vec![MetadataRecord::RemoveTopic { id }]) {
                        Ok(()) => r.with_name(Some(TopicName(StrBytes::from_string(n)))).with_topic_id(id),
                        Err(Refusal(code, _)) => r.with_error_code(code.code()),
                    },
                }
            })
            .collect();
        DeleteTopicsResponse::default().with_responses(responses)
    }

    fn create_partitions(&self, request: CreatePartitionsRequest) -> CreatePartitionsResponse {
        let mut st = self.lock();
        let results = request
            .topics
            .iter()
            .map(|t| {
                let r = create_partitions_response::CreatePartitionsTopicResult::default().with_name(t.name.clone());
                match self.add_partitions(&mut st, t.name.as_str(), t.count, request.validate_only) {
                    Ok(()) => r,
                    Err(Refusal(code, message)) => {
                        r.with_error_code(code.code()).with_error_message(Some(StrBytes::from_string(message)))
                    }
                }
            })
            .collect();
        CreatePartitionsResponse::default().with_results(results)
    }

    fn add_partitions(&self, st: &mut State, name: &str, count: i32, validate_only: bool) -> Result<(), Refusal> {
        let topic = st.image.topic(name).cloned().ok_or_else(|| {
            Refusal(ResponseError::UnknownTopicOrPartition, "This server does not host this topic-partition.".into())
        })?;
        let current = topic.partitions.len() as i32;
        if count <= current {
            let msg = if count == current {
                format!("Topic already has {current} partitions.")
            } else {
                format!("Topic currently has {current} partitions, which is higher than the requested {count}.")
            };
            return Err(Refusal(ResponseError::InvalidPartitions, msg));
        }
        let rf = topic.partitions.first().map_or(1, |p| p.replicas.len());
        let live: Vec<i32> = st.image.live_brokers().map(|b| b.id).collect();
        if rf > live.len() {
            return Err(Refusal(
                ResponseError::InvalidReplicationFactor,
                format!(
                    "Unable to replicate the partition {rf} time(s): only {} broker(s) are registered.",
                    live.len()
                ),
            ));
        }
        if validate_only || active(Defect::CreatePartitionsIsANoOp) {
            return Ok(());
        }
        let assignment = assign(&live, count, rf, 0);
        let records = (current..count)
            .map(|i| {
                let replicas = assignment[i as usize].clone();
                let state = PartitionState {
                    isr: replicas.clone(),
                    leader: replicas[0],
                    replicas,
                    leader_epoch: 0,
                    partition_epoch: 0,
                };
                MetadataRecord::Partition { topic_id: topic.id, partition: i, state }
            })
            .collect();
        self.commit(st, records)
    }

    fn alter_configs(&self, request: IncrementalAlterConfigsRequest) -> IncrementalAlterConfigsResponse {
        let mut st = self.lock();
        let responses = request
            .resources
            .iter()
            .map(|res| {
                let r = incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                    .with_resource_type(res.resource_type)
                    .with_resource_name(res.resource_name.clone());
                match self.alter_topic_config(&mut st, res, request.validate_only) {
                    Ok(()) => r,
                    Err(Refusal(code, message)) => {
                        r.with_error_code(code.code()).with_error_message(Some(StrBytes::from_string(message)))
                    }
                }
            })
            .collect();
        IncrementalAlterConfigsResponse::default().with_responses(responses)
    }

    fn alter_topic_config(
        &self,
        st: &mut State,
        res: &incremental_alter_configs_request::AlterConfigsResource,
        validate_only: bool,
    ) -> Result<(), Refusal> {
        const TOPIC: i8 = 2;
        if res.resource_type != TOPIC {
            return Err(Refusal(
                ResponseError::InvalidRequest,
                format!("resource type {} cannot be altered here", res.resource_type),
            ));
        }
        let topic = st.image.topic(res.resource_name.as_str()).cloned().ok_or_else(|| {
            Refusal(
                ResponseError::UnknownTopicOrPartition,
                format!("Topic {} does not exist", res.resource_name.as_str()),
            )
        })?;
        let mut cfg = TopicConfig::new(self.config.topic_defaults.clone());
        for (k, v) in &topic.configs {
            let _ = cfg.set(k, v);
        }
        let invalid = |e: crate::config::ConfigError| Refusal(ResponseError::InvalidConfig, e.to_string());
        for c in &res.configs {
            let key = c.name.as_str();
            match c.config_operation {
                0 => cfg.set(key, c.value.as_ref().map(|v| v.as_str()).unwrap_or("")).map_err(invalid)?,
                1 => cfg.remove(key).map_err(invalid)?,
                op => {
                    return Err(Refusal(
                        ResponseError::InvalidRequest,
                        format!("config operation {op} is not supported for {key}"),
                    ));
                }
            }
        }
        if validate_only || active(Defect::AlterConfigsIsANoOp) {
            return Ok(());
        }
        self.commit(st, vec![MetadataRecord::TopicConfigs { id: topic.id, configs: cfg.overrides().clone() }])
    }
}

/// Kafka's rack-unaware assignment, simplified: partition `p` starts at broker `(start + p) % n`
/// and its other replicas follow in id order.
fn assign(live: &[i32], partitions: i32, rf: usize, start: usize) -> Vec<Vec<i32>> {
    let n = live.len().max(1);
    (0..partitions.max(0) as usize).map(|p| (0..rf).map(|j| live[(start + p + j) % n]).collect()).collect()
}

/// The unfenced broker `r`, in a world where `fenced` is fenced too.
fn live(image: &Image, fenced: Option<i32>, r: i32) -> bool {
    Some(r) != fenced && image.is_live(r)
}

/// A leader for a partition whose leader is gone, from its ISR (or, with unclean election on,
/// from any live replica), and its ISR afterwards.
fn choose_leader(image: &Image, s: &PartitionState, fenced: Option<i32>, unclean: bool) -> Option<(i32, Vec<i32>)> {
    if active(Defect::ElectOutOfSyncLeader)
        && let Some(r) = s.replicas.iter().find(|r| !s.isr.contains(r) && live(image, fenced, **r))
    {
        // The defect: an out-of-sync replica is preferred, whatever the topic allows.
        return Some((*r, vec![*r]));
    }
    if let Some(r) = s.replicas.iter().find(|r| s.isr.contains(r) && live(image, fenced, **r)) {
        return Some((*r, s.isr.clone()));
    }
    if unclean && let Some(r) = s.replicas.iter().find(|r| live(image, fenced, **r)) {
        return Some((*r, vec![*r]));
    }
    None
}

/// The topic's `unclean.leader.election.enable`, its override or the broker-level default.
fn unclean_enabled(defaults: &BTreeMap<String, String>, topic: &metadata::TopicImage) -> bool {
    let mut cfg = TopicConfig::new(defaults.clone());
    for (k, v) in &topic.configs {
        let _ = cfg.set(k, v);
    }
    cfg.unclean_leader_election()
}

/// The records that fence broker `id`: it leaves every ISR (unless it is the last member) and
/// its leaderships move to other in-sync replicas.
fn fence(image: &Image, defaults: &BTreeMap<String, String>, id: i32) -> Vec<MetadataRecord> {
    let Some(b) = image.brokers.get(&id) else { return Vec::new() };
    let mut records = vec![MetadataRecord::FenceBroker { id, epoch: b.epoch }];
    for t in image.topics.values() {
        let unclean = unclean_enabled(defaults, t);
        for (i, s) in t.partitions.iter().enumerate() {
            if !s.replicas.contains(&id) {
                continue;
            }
            let mut n = s.clone();
            if n.isr.len() > 1 {
                n.isr.retain(|r| *r != id);
            }
            if s.leader == id {
                match choose_leader(image, &n, Some(id), unclean) {
                    Some((leader, isr)) => {
                        n.leader = leader;
                        n.isr = isr;
                    }
                    None => n.leader = NO_LEADER,
                }
                n.leader_epoch += 1;
            }
            if n != *s {
                n.partition_epoch += 1;
                records.push(MetadataRecord::Partition { topic_id: t.id, partition: i as i32, state: n });
            }
        }
    }
    records
}

/// Leaders for partitions that have none, where a replica can now lead.
fn elect_leaderless(image: &Image, defaults: &BTreeMap<String, String>) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for t in image.topics.values() {
        let unclean = unclean_enabled(defaults, t);
        for (i, s) in t.partitions.iter().enumerate() {
            if s.leader != NO_LEADER {
                continue;
            }
            if let Some((leader, isr)) = choose_leader(image, s, None, unclean) {
                let n = PartitionState {
                    leader,
                    isr,
                    leader_epoch: s.leader_epoch + 1,
                    partition_epoch: s.partition_epoch + 1,
                    replicas: s.replicas.clone(),
                };
                records.push(MetadataRecord::Partition { topic_id: t.id, partition: i as i32, state: n });
            }
        }
    }
    records
}

/// Kafka's auto leader rebalance: for a broker whose share of preferred partitions led by others
/// exceeds `leader.imbalance.per.broker.percentage`, leadership moves back to it where it is live
/// and in the ISR.
fn preferred_elections(image: &Image, percentage: u32) -> Vec<MetadataRecord> {
    let mut preferred: HashMap<i32, (usize, usize)> = HashMap::new();
    for t in image.topics.values() {
        for s in &t.partitions {
            if let Some(p) = s.replicas.first() {
                let e = preferred.entry(*p).or_default();
                e.0 += 1;
                if s.leader != *p {
                    e.1 += 1;
                }
            }
        }
    }
    let imbalanced: HashSet<i32> = preferred
        .into_iter()
        .filter(|(b, (total, off))| image.is_live(*b) && *total > 0 && (off * 100 / total) as u32 > percentage)
        .map(|(b, _)| b)
        .collect();
    let mut records = Vec::new();
    for t in image.topics.values() {
        for (i, s) in t.partitions.iter().enumerate() {
            let Some(p) = s.replicas.first().copied() else { continue };
            if s.leader != p && imbalanced.contains(&p) && s.isr.contains(&p) {
                let n = PartitionState {
                    leader: p,
                    leader_epoch: s.leader_epoch + 1,
                    partition_epoch: s.partition_epoch + 1,
                    ..s.clone()
                };
                records.push(MetadataRecord::Partition { topic_id: t.id, partition: i as i32, state: n });
            }
        }
    }
    records
}

/// Serves controller connections until `shutdown` resolves, and runs the controller's periodic
/// work meanwhile.
pub async fn serve(
    listener: TcpListener,
    controller: Arc<Controller>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let ticker = {
        let controller = controller.clone();
        let every = Duration::from_millis((controller.config.broker_heartbeat_interval_ms / 2).clamp(10, 500));
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            loop {
                interval.tick().await;
                controller.tick();
            }
        })
    };
    let serving = controller.clone();
    crate::server::accept_loop(listener, shutdown, "controller", move |stream, peer| {
        connection(stream, peer, serving.clone())
    })
    .await;
    ticker.abort();
    let mut st = controller.lock();
    if let Err(e) = st.log.flush() {
        tracing::warn!("flushing the metadata log: {e}");
    }
}

async fn connection(
    mut stream: TcpStream,
    _peer: SocketAddr,
    controller: Arc<Controller>,
) -> Result<(), ConnectionError> {
    stream.set_nodelay(true)?;
    let mut frames = FrameReader::new(controller.config.socket_request_max_bytes);
    loop {
        let Some(frame) = frames.next(&mut stream).await? else { return Ok(()) };
        let (key, version, header, request) = match decode_frame(frame, versions)? {
            Decoded::Answer(bytes) => {
                stream.write_all(&bytes).await?;
                continue;
            }
            Decoded::Request { key, version, header, request } => (key, version, header, request),
        };
        let Some(response) = controller.handle(*request, version).await else {
            return Err(ConnectionError::UnsupportedApi { key });
        };
        let bytes = encode_response(key, version, header.correlation_id, &response)?;
        stream.write_all(&bytes).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(live: &[i32], state: PartitionState, unclean: bool) -> Image {
        let mut image = Image::default();
        let mut offset = 0;
        let mut apply = |image: &mut Image, r: MetadataRecord| {
            image.apply(offset, &r);
            offset += 1;
        };
        for id in 1..=3 {
            apply(
                &mut image,
                MetadataRecord::RegisterBroker {
                    id,
                    epoch: id as i64,
                    incarnation: Uuid::nil(),
                    host: "h".into(),
                    port: 1,
                },
            );
            if live.contains(&id) {
                apply(&mut image, MetadataRecord::UnfenceBroker { id, epoch: id as i64 });
            }
        }
        let id = Uuid::from_u128(7);
        apply(&mut image, MetadataRecord::Topic { name: "t".into(), id });
        let mut configs = BTreeMap::new();
        configs.insert("unclean.leader.election.enable".to_string(), unclean.to_string());
        apply(&mut image, MetadataRecord::TopicConfigs { id, configs });
        apply(&mut image, MetadataRecord::Partition { topic_id: id, partition: 0, state });
        image
    }

    fn partition_after(records: &[MetadataRecord]) -> Option<PartitionState> {
        records.iter().rev().find_map(|r| match r {
            MetadataRecord::Partition { state, .. } => Some(state.clone()),
            _ => None,
        })
    }

    fn ps(replicas: &[i32], isr: &[i32], leader: i32) -> PartitionState {
        PartitionState { replicas: replicas.to_vec(), isr: isr.to_vec(), leader, leader_epoch: 4, partition_epoch: 9 }
    }

    #[test]
    fn fencing_the_leader_elects_the_next_in_sync_replica_in_assignment_order() {
        let img = image(&[1, 2, 3], ps(&[1, 2, 3], &[1, 3, 2], 1), false);
        let after = partition_after(&fence(&img, &BTreeMap::new(), 1)).expect("a change");
        assert_eq!((after.leader, after.isr, after.leader_epoch, after.partition_epoch), (2, vec![3, 2], 5, 10));
    }

    #[test]
    fn the_last_in_sync_replica_stays_in_the_isr_and_the_partition_waits_for_it() {
        let img = image(&[1, 2, 3], ps(&[1, 2, 3], &[1], 1), false);
        let after = partition_after(&fence(&img, &BTreeMap::new(), 1)).expect("a change");
        assert_eq!((after.leader, after.isr), (NO_LEADER, vec![1]));
    }

    #[test]
    fn unclean_election_picks_a_live_out_of_sync_replica_and_makes_it_the_isr() {
        let img = image(&[1, 2, 3], ps(&[1, 2, 3], &[1], 1), true);
        let after = partition_after(&fence(&img, &BTreeMap::new(), 1)).expect("a change");
        assert_eq!((after.leader, after.isr), (2, vec![2]));
    }

    #[test]
    fn a_fenced_follower_leaves_the_isr_and_the_leader_stays() {
        let img = image(&[1, 2, 3], ps(&[1, 2, 3], &[1, 2, 3], 1), false);
        let after = partition_after(&fence(&img, &BTreeMap::new(), 3)).expect("a change");
        assert_eq!((after.leader, after.isr, after.leader_epoch), (1, vec![1, 2], 4));
    }

    #[test]
    fn leaderless_partitions_get_a_leader_when_an_isr_member_is_back() {
        let img = image(&[1, 2, 3], ps(&[1, 2, 3], &[1], NO_LEADER), false);
        let after = partition_after(&elect_leaderless(&img, &BTreeMap::new())).expect("a change");
        assert_eq!((after.leader, after.leader_epoch), (1, 5));
        let img = image(&[2, 3], ps(&[1, 2, 3], &[1], NO_LEADER), false);
        assert!(elect_leaderless(&img, &BTreeMap::new()).is_empty());
    }

    #[test]
    fn the_preferred_replica_leads_again_once_it_is_in_sync() {
        let img = image(&[1, 2, 3], ps(&[1, 2, 3], &[2, 3, 1], 2), false);
        let after = partition_after(&preferred_elections(&img, 10)).expect("a change");
        assert_eq!(after.leader, 1);
        let img = image(&[1, 2, 3], ps(&[1, 2, 3], &[2, 3], 2), false);
        assert!(preferred_elections(&img, 10).is_empty(), "not in the ISR: no election");
    }

    #[test]
    fn replicas_are_spread_and_never_repeat_a_broker() {
        let a = assign(&[1, 2, 3], 3, 3, 0);
        assert_eq!(a, vec![vec![1, 2, 3], vec![2, 3, 1], vec![3, 1, 2]]);
    }
}
