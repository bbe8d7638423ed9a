//! JoinGroup v2-9: a member joins (or rejoins) a classic group; the answer waits for the
//! rebalance (see `crate::group`).

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::group::JoinAnswer;

pub async fn handle(ctx: &RequestContext, r: JoinGroupRequest) -> JoinGroupResponse {
    let client_id = ctx.header.client_id.as_ref().map(|c| c.to_string()).unwrap_or_default();
    let host = format!("/{}", ctx.peer.ip());
    let protocols = r.protocols.iter().map(|p| (p.name.to_string(), p.metadata.clone())).collect();
    let member_id = r.member_id.to_string();
    let pending = ctx.broker.groups.join(
        ctx.version,
        r.group_id.as_str(),
        &member_id,
        r.group_instance_id.as_ref().map(|s| s.as_str()),
        &client_id,
        &host,
        r.session_timeout_ms,
        // v0 has no rebalance timeout: Kafka's `JoinGroupRequest` uses the session timeout.
        if ctx.version == 0 { r.session_timeout_ms } else { r.rebalance_timeout_ms },
        r.protocol_type.as_str(),
        protocols,
    );
    let answer = pending.wait(|| JoinAnswer::error(kafka_protocol::ResponseError::NotCoordinator, &member_id)).await;
    let s = |v: String| StrBytes::from_string(v);
    // Before v7 a missing protocol name is "" on the wire.
    let protocol_name = match answer.protocol_name {
        None if ctx.version < 7 => Some(String::new()),
        other => other,
    };
    let mut resp = JoinGroupResponse::default()
        .with_error_code(answer.error)
        .with_generation_id(answer.generation)
        .with_protocol_name(protocol_name.map(s))
        .with_leader(s(answer.leader))
        .with_member_id(s(answer.member_id))
        .with_members(
            answer
                .members
                .into_iter()
                .map(|(id, instance, metadata)| {
                    let mut m = JoinGroupResponseMember::default().with_member_id(s(id)).with_metadata(metadata);
                    if ctx.version >= 5 {
                        m = m.with_group_instance_id(instance.map(s));
                    }
                    m
                })
                .collect(),
        );
    if ctx.version >= 7 {
        resp = resp.with_protocol_type(answer.protocol_type.map(s));
    }
    if ctx.version >= 9 {
        resp = resp.with_skip_assignment(answer.skip_assignment);
    }
    resp
}
