//! ListGroups v0-4: the groups this broker coordinates, optionally filtered by state (v4,
//! case-insensitive).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;

pub fn handle(ctx: &RequestContext, r: ListGroupsRequest) -> ListGroupsResponse {
    let wanted: Vec<String> = r.states_filter.iter().map(|s| s.trim().to_lowercase()).collect();
    let mut groups: Vec<_> = ctx
        .broker
        .groups
        .list()
        .into_iter()
        .filter(|(_, _, state)| wanted.is_empty() || wanted.contains(&state.name().to_lowercase()))
        .collect();
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    let listed = groups
        .into_iter()
        .map(|(id, protocol_type, state)| {
            let mut g = ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(id)))
                .with_protocol_type(StrBytes::from_string(protocol_type));
            if ctx.version >= 4 {
                g = g.with_group_state(StrBytes::from_static_str(state.name()));
            }
            g
        })
        .collect();
    ListGroupsResponse::default().with_groups(listed)
}
