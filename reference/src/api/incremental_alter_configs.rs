//! IncrementalAlterConfigs (KIP-339) for topics: SET, DELETE, APPEND and SUBTRACT, validated
//! as a whole before anything changes.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use super::describe_configs::RESOURCE_TOPIC;
use crate::config::{ConfigType, TopicConfig, topic_config_def};
use crate::defects::{Defect, active};

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

pub async fn handle(ctx: &RequestContext, request: IncrementalAlterConfigsRequest) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len());
    for res in &request.resources {
        let response = AlterConfigsResourceResponse::default()
            .with_resource_type(res.resource_type)
            .with_resource_name(res.resource_name.clone());
        let outcome = alter(ctx, res, request.validate_only).await;
        responses.push(match outcome {
            Ok(()) => response,
            Err((code, msg)) => {
                response.with_error_code(code.code()).with_error_message(Some(StrBytes::from_string(msg)))
            }
        });
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

async fn alter(
    ctx: &RequestContext,
    res: &kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource,
    validate_only: bool,
) -> Result<(), (ResponseError, String)> {
    if res.resource_type != RESOURCE_TOPIC {
        return Err((
            ResponseError::InvalidRequest,
            format!("Altering configs of resource type {} is not supported", res.resource_type),
        ));
    }
    let topic = ctx.broker.topic(res.resource_name.as_str()).ok_or((
        ResponseError::UnknownTopicOrPartition,
        "This server does not host this topic-partition.".to_string(),
    ))?;
    let mut cfg: TopicConfig = topic.config();
    for c in &res.configs {
        let name = c.name.as_str();
        if topic_config_def(name).is_none() && active(Defect::AcceptUnknownTopicConfig) {
            continue;
        }
        let def = topic_config_def(name)
            .ok_or((ResponseError::InvalidConfig, format!("Unknown topic config name: {name}")))?;
        let value = c.value.as_ref().map(|v| v.to_string());
        let invalid = |e: crate::config::ConfigError| (ResponseError::InvalidConfig, e.to_string());
        match c.config_operation {
            SET => cfg.set(name, value.as_deref().unwrap_or("")).map_err(invalid)?,
            DELETE => cfg.remove(name).map_err(invalid)?,
            APPEND | SUBTRACT => {
                if def.ty != ConfigType::List {
                    return Err((
                        ResponseError::InvalidConfig,
                        format!("Config value append is not allowed for config key: {name}"),
                    ));
                }
                let current = cfg.get(name).map(|(v, _)| v).unwrap_or_default();
                let mut items: Vec<String> =
                    current.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
                for item in value.unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if c.config_operation == APPEND {
                        if !items.iter().any(|i| i == item) {
                            items.push(item.to_string());
                        }
                    } else {
                        items.retain(|i| i != item);
                    }
                }
                cfg.set(name, &items.join(",")).map_err(invalid)?;
            }
            op => return Err((ResponseError::InvalidRequest, format!("Unknown config operation {op}"))),
        }
    }
    if validate_only {
        return Ok(());
    }
    ctx.broker.set_topic_config(&topic, cfg).await.map_err(|e| (e.code, e.message))
}
