//! SyncGroup v0-5: the leader hands out the assignment; every member gets its share once it
//! is written to `__consumer_offsets`.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::group::SyncAnswer;

pub async fn handle(ctx: &RequestContext, r: SyncGroupRequest) -> SyncGroupResponse {
    let answer = if ctx.version >= 5 && (r.protocol_type.is_none() || r.protocol_name.is_none()) {
        SyncAnswer { error: ResponseError::InconsistentGroupProtocol.code(), ..Default::default() }
    } else {
        let assignments = r.assignments.iter().map(|a| (a.member_id.to_string(), a.assignment.clone())).collect();
        let group_id = r.group_id.to_string();
        let (pending, write) = ctx.broker.groups.sync(
            &group_id,
            r.generation_id,
            r.member_id.as_str(),
            r.group_instance_id.as_ref().map(|s| s.as_str()),
            r.protocol_type.as_ref().map(|s| s.as_str()),
            r.protocol_name.as_ref().map(|s| s.as_str()),
            assignments,
        );
        if let Some((write, generation)) = write {
            let broker = Arc::clone(&ctx.broker);
            // The write runs on its own: the leader's connection may go away meanwhile.
            tokio::spawn(async move {
                let result = broker.groups.write(write).await;
                broker.groups.sync_stored(&group_id, generation, result);
            });
        }
        pending.wait(|| SyncAnswer { error: ResponseError::NotCoordinator.code(), ..Default::default() }).await
    };
    let s = |v: String| StrBytes::from_string(v);
    let mut resp = SyncGroupResponse::default().with_error_code(answer.error).with_assignment(answer.assignment);
    if ctx.version >= 5 {
        resp = resp.with_protocol_type(answer.protocol_type.map(s)).with_protocol_name(answer.protocol_name.map(s));
    }
    resp
}
