//! DescribeConfigs for topics (resource type 2) and this broker (resource type 4).
//! Each entry says where its value comes from (KIP-226 `config_source`) and, from v3, its type.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::config::{ConfigSource, TOPIC_CONFIGS};

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

pub fn handle(ctx: &RequestContext, request: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let v = ctx.version;
    let results = request
        .resources
        .iter()
        .map(|res| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name.clone());
            let wanted =
                |name: &str| res.configuration_keys.as_ref().is_none_or(|keys| keys.iter().any(|k| k.as_str() == name));
            match res.resource_type {
                RESOURCE_TOPIC => {
                    let Some(topic) = ctx.broker.topic(res.resource_name.as_str()) else {
                        return result
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_error_message(Some(StrBytes::from_static_str(
                                "This server does not host this topic-partition.",
                            )));
                    };
                    let cfg = topic.config();
                    let configs = TOPIC_CONFIGS
                        .iter()
                        .filter(|d| wanted(d.name))
                        .filter_map(|d| {
                            let (value, source) = cfg.get(d.name)?;
                            let mut e = DescribeConfigsResourceResult::default()
                                .with_name(StrBytes::from_static_str(d.name))
                                .with_value(Some(StrBytes::from_string(value.clone())))
                                .with_config_source(source.code());
                            if request.include_synonyms {
                                e = e.with_synonyms(vec![
                                    DescribeConfigsSynonym::default()
                                        .with_name(StrBytes::from_static_str(d.name))
                                        .with_value(Some(StrBytes::from_string(value)))
                                        .with_source(source.code()),
                                ]);
                            }
                            if v >= 3 {
                                e = e.with_config_type(d.ty.code());
                                if request.include_documentation {
                                    e = e.with_documentation(Some(StrBytes::from_static_str(d.doc)));
                                }
                            }
                            Some(e)
                        })
                        .collect();
                    result.with_configs(configs)
                }
                RESOURCE_BROKER => {
                    let id = ctx.broker.config.node_id.to_string();
                    if !res.resource_name.is_empty() && res.resource_name.as_str() != id {
                        return result.with_error_code(ResponseError::InvalidRequest.code()).with_error_message(Some(
                            StrBytes::from_string(format!(
                                "Unexpected broker id, expected {id} or empty string, but received {}",
                                res.resource_name.as_str()
                            )),
                        ));
                    }
                    let c = &ctx.broker.config;
                    let entries = [
                        ("node.id", c.node_id.to_string()),
                        ("socket.request.max.bytes", c.socket_request_max_bytes.to_string()),
                        ("auto.create.topics.enable", c.auto_create_topics_enable.to_string()),
                        ("num.partitions", c.num_partitions.to_string()),
                        ("default.replication.factor", c.default_replication_factor.to_string()),
                        ("broker.heartbeat.interval.ms", c.broker_heartbeat_interval_ms.to_string()),
                        ("broker.session.timeout.ms", c.broker_session_timeout_ms.to_string()),
                        ("replica.lag.time.max.ms", c.replica_lag_time_max_ms.to_string()),
                        ("replica.fetch.wait.max.ms", c.replica_fetch_wait_max_ms.to_string()),
                        ("auto.leader.rebalance.enable", c.auto_leader_rebalance_enable.to_string()),
                        (
                            "leader.imbalance.check.interval.seconds",
                            c.leader_imbalance_check_interval_seconds.to_string(),
                        ),
                        (
                            "replica.high.watermark.checkpoint.interval.ms",
                            c.replica_high_watermark_checkpoint_interval_ms.to_string(),
                        ),
                        ("log.retention.check.interval.ms", c.log_retention_check_interval_ms.to_string()),
                        ("log.cleaner.backoff.ms", c.log_cleaner_backoff_ms.to_string()),
                        ("log.cleaner.enable", c.log_cleaner_enable.to_string()),
                        ("producer.id.expiration.ms", c.producer_id_expiration_ms.to_string()),
                        ("group.min.session.timeout.ms", c.group_min_session_timeout_ms.to_string()),
                        ("group.max.session.timeout.ms", c.group_max_session_timeout_ms.to_string()),
                        ("group.initial.rebalance.delay.ms", c.group_initial_rebalance_delay_ms.to_string()),
                        ("group.max.size", c.group_max_size.to_string()),
                        ("offsets.topic.num.partitions", c.offsets_topic_num_partitions.to_string()),
                        ("offsets.topic.replication.factor", c.offsets_topic_replication_factor.to_string()),
                        ("offset.metadata.max.bytes", c.offset_metadata_max_bytes.to_string()),
                        ("offsets.commit.timeout.ms", c.offsets_commit_timeout_ms.to_string()),
                    ];
                    let configs = entries
                        .into_iter()
                        .filter(|(n, _)| wanted(n))
                        .map(|(n, value)| {
                            DescribeConfigsResourceResult::default()
                                .with_name(StrBytes::from_static_str(n))
                                .with_value(Some(StrBytes::from_string(value)))
                                .with_read_only(true)
                                .with_config_source(ConfigSource::StaticBroker.code())
                        })
                        .collect();
                    result.with_configs(configs)
                }
                other => result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(StrBytes::from_string(format!("Unsupported resource type {other}")))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}
