//! FindCoordinator v0-4: the broker leading a group's `__consumer_offsets` partition (key type
//! 0), or a transactional id's `__transaction_state` partition (key type 1). The first request
//! creates the topic and, like Kafka, answers COORDINATOR_NOT_AVAILABLE until it has a leader.
//! Another key type is INVALID_REQUEST.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;

/// FindCoordinator's key types.
const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;

struct Found {
    error: i16,
    node: i32,
    host: String,
    port: i32,
}

fn locate(ctx: &RequestContext, key: &str, key_type: i8) -> Result<Found, ResponseError> {
    let topic = match key_type {
        GROUP => ctx.broker.ensure_offsets_topic(),
        TRANSACTION => ctx.broker.ensure_transaction_state_topic(),
        // KafkaApis: `CoordinatorType.forId` throws InvalidRequestException.
        _ => return Err(ResponseError::InvalidRequest),
    };
    let Some(topic) = topic else {
        return Err(ResponseError::CoordinatorNotAvailable);
    };
    let p = crate::coordinator::partition_for(key, topic.partition_count());
    let leader = topic.partitions.get(p as usize).map(|s| s.leader).unwrap_or(-1);
    let image = ctx.broker.image();
    let Some(b) = image.brokers.get(&leader).filter(|_| image.is_live(leader)) else {
        return Err(ResponseError::CoordinatorNotAvailable);
    };
    Ok(Found { error: 0, node: leader, host: b.host.clone(), port: b.port })
}

pub fn handle(ctx: &RequestContext, request: FindCoordinatorRequest) -> FindCoordinatorResponse {
    let answer = |key: &str| match locate(ctx, key, request.key_type) {
        Ok(f) => f,
        Err(e) => Found { error: e.code(), node: -1, host: String::new(), port: -1 },
    };
    if ctx.version >= 4 {
        let coordinators = request
            .coordinator_keys
            .iter()
            .map(|k| {
                let f = answer(k.as_str());
                Coordinator::default()
                    .with_key(k.clone())
                    .with_node_id(BrokerId(f.node))
                    .with_host(StrBytes::from_string(f.host))
                    .with_port(f.port)
                    .with_error_code(f.error)
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let f = answer(request.key.as_str());
    let code = f.error;
    let message = match ResponseError::try_from_code(code) {
        None => "NONE".to_string(),
        Some(e) => e.to_string(),
    };
    let mut r = FindCoordinatorResponse::default()
        .with_error_code(code)
        .with_node_id(BrokerId(f.node))
        .with_host(StrBytes::from_string(f.host))
        .with_port(f.port);
    if ctx.version >= 1 {
        r = r.with_error_message(Some(StrBytes::from_string(message)));
    }
    r
}
