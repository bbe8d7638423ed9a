//! Heartbeat v0-4: keeps a member's session, and tells it when the group rebalances.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::RequestContext;

pub fn handle(ctx: &RequestContext, r: HeartbeatRequest) -> HeartbeatResponse {
    if r.group_id.is_empty() {
        return HeartbeatResponse::default().with_error_code(ResponseError::InvalidGroupId.code());
    }
    let result = ctx.broker.groups.heartbeat(
        r.group_id.as_str(),
        r.generation_id,
        r.member_id.as_str(),
        r.group_instance_id.as_ref().map(|s| s.as_str()),
    );
    let code = match result {
        Ok(()) => 0,
        // Kafka answers a heartbeat to a loading coordinator blindly with NONE.
        Err(ResponseError::CoordinatorLoadInProgress) => 0,
        Err(e) => e.code(),
    };
    HeartbeatResponse::default().with_error_code(code)
}
