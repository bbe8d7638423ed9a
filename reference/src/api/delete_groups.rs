//! DeleteGroups v0-2: an Empty group and its offsets are tombstoned in `__consumer_offsets`.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::RequestContext;

pub async fn handle(ctx: &RequestContext, r: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let mut names = r.groups_names.clone();
    names.dedup();
    let mut results = Vec::new();
    for name in names {
        let result = match ctx.broker.groups.prepare_delete(name.as_str()) {
            Ok(w) => ctx.broker.groups.write(w).await,
            Err(e) => Err(e),
        };
        if result.is_ok() {
            ctx.broker.groups.deleted(name.as_str());
        }
        results.push(
            DeletableGroupResult::default().with_group_id(name).with_error_code(result.err().map_or(0, |e| e.code())),
        );
    }
    DeleteGroupsResponse::default().with_results(results)
}
