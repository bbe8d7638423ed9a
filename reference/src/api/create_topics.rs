//! CreateTopics. Errors per topic as Kafka's `ZkAdminManager`/`ControllerApis` give them:
//! INVALID_TOPIC_EXCEPTION, TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR,
//! INVALID_CONFIG (an unknown config name or a bad value), INVALID_REQUEST (duplicate names).

use std::collections::HashMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::config::TOPIC_CONFIGS;

pub async fn handle(ctx: &RequestContext, request: CreateTopicsRequest) -> CreateTopicsResponse {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for t in &request.topics {
        *seen.entry(t.name.0.to_string()).or_default() += 1;
    }
    let mut topics = Vec::with_capacity(request.topics.len());
    for t in &request.topics {
        topics.push('one: {
            let name = t.name.0.to_string();
            let mut result = CreatableTopicResult::default().with_name(t.name.clone());
            let fail = |result: CreatableTopicResult, code: ResponseError, msg: String| {
                let r = result.with_error_code(code.code());
                if ctx.version >= 1 { r.with_error_message(Some(StrBytes::from_string(msg))) } else { r }
            };
            if seen.get(&name).copied().unwrap_or(0) > 1 {
                break 'one fail(result, ResponseError::InvalidRequest, format!("Create topics request from client `{}` contains multiple entries for the following topics: {name}", ctx.header.client_id.as_ref().map(|c| c.as_str()).unwrap_or("")));
            }
            if !t.assignments.is_empty() && (t.num_partitions != -1 || t.replication_factor != -1) {
                break 'one fail(result, ResponseError::InvalidRequest, "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into());
            }
            let assignment: Vec<Vec<i32>> =
                t.assignments.iter().map(|a| a.broker_ids.iter().map(|b| b.0).collect()).collect();
            let (partitions, rf) = if t.assignments.is_empty() {
                (t.num_partitions, t.replication_factor)
            } else {
                let rf = t.assignments.first().map(|a| a.broker_ids.len() as i16).unwrap_or(0);
                if t.assignments.iter().any(|a| a.broker_ids.iter().any(|b| !ctx.broker.image().brokers.contains_key(&b.0))) {
                    break 'one fail(result, ResponseError::InvalidReplicaAssignment, "Replica assignment names a broker that is not registered.".into());
                }
                (t.assignments.len() as i32, rf)
            };
            let configs: Vec<(String, Option<String>)> =
                t.configs.iter().map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string()))).collect();
            let (forward_partitions, forward_rf) = if assignment.is_empty() { (partitions, rf) } else { (-1, -1) };
            match ctx.broker.create_topic(&name, forward_partitions, forward_rf, &configs, &assignment, request.validate_only).await {
                Ok(topic) => {
                    if ctx.version >= 7 {
                        result = result.with_topic_id(topic.id);
                    }
                    if ctx.version >= 5 {
                        let cfg = topic.config();
                        let described = TOPIC_CONFIGS
                            .iter()
                            .filter_map(|d| {
                                let (value, source) = cfg.get(d.name)?;
                                Some(
                                    CreatableTopicConfigs::default()
                                        .with_name(StrBytes::from_static_str(d.name))
                                        .with_value(Some(StrBytes::from_string(value)))
                                        .with_config_source(source.code()),
                                )
                            })
                            .collect();
                        result = result
                            .with_num_partitions(if partitions == -1 { ctx.broker.config.num_partitions } else { partitions })
                            .with_replication_factor(if rf == -1 { ctx.broker.config.default_replication_factor } else { rf })
                            .with_configs(Some(described));
                    }
                    result
                }
                Err(e) => fail(result, e.code, e.message),
            }
        });
    }
    CreateTopicsResponse::default().with_topics(topics)
}
