//! The broker's link to the controller: registration and heartbeats (KIP-631), producer id
//! blocks, admin requests forwarded to it, and ISR changes proposed with AlterPartition (KIP-497).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::Broker;
use crate::config::TopicConfig;
use crate::metadata::METADATA_TOPIC;
use crate::partition::{Partition, ReplicaState, Role};
use crate::topic::{Topic, TopicError};

impl Broker {
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

    /// An ISR change through the controller (KIP-497). The leader keeps using the larger ISR
    /// until the controller answers.
    pub(super) fn propose_isr(self: &Arc<Self>, partition: &Arc<Partition>, st: &mut ReplicaState, isr: Vec<i32>) {
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
pub(super) async fn heartbeat_loop(broker: Arc<Broker>) {
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
