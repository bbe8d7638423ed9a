//! LeaveGroup v0-5: members leave (v3+ several at once, static ones by instance id).

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::RequestContext;

pub async fn handle(ctx: &RequestContext, r: LeaveGroupRequest) -> LeaveGroupResponse {
    if r.group_id.is_empty() {
        return LeaveGroupResponse::default().with_error_code(ResponseError::InvalidGroupId.code());
    }
    let members: Vec<(String, Option<String>)> = if ctx.version >= 3 {
        r.members
            .iter()
            .map(|m| (m.member_id.to_string(), m.group_instance_id.as_ref().map(|s| s.to_string())))
            .collect()
    } else {
        vec![(r.member_id.to_string(), None)]
    };
    let (result, write) = ctx.broker.groups.leave(r.group_id.as_str(), &members);
    if let Some(w) = write {
        let broker = Arc::clone(&ctx.broker);
        tokio::spawn(async move {
            let _ = broker.groups.write(w).await;
        });
    }
    match result {
        Err(e) => LeaveGroupResponse::default().with_error_code(e.code()),
        Ok(results) if ctx.version >= 3 => LeaveGroupResponse::default().with_members(
            r.members
                .iter()
                .zip(results)
                .map(|(m, res)| {
                    MemberResponse::default()
                        .with_member_id(m.member_id.clone())
                        .with_group_instance_id(m.group_instance_id.clone())
                        .with_error_code(res.err().map_or(0, |e| e.code()))
                })
                .collect(),
        ),
        Ok(results) => LeaveGroupResponse::default()
            .with_error_code(results.into_iter().next().and_then(|r| r.err()).map_or(0, |e| e.code())),
    }
}
