//! DescribeGroups v0-5: state, protocol and members; an unknown group is "Dead" with no error.

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;

pub fn handle(ctx: &RequestContext, r: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let s = |v: String| StrBytes::from_string(v);
    let groups = r
        .groups
        .iter()
        .map(|g| {
            let out = DescribedGroup::default().with_group_id(g.clone()).with_authorized_operations(i32::MIN);
            match ctx.broker.groups.describe(g.as_str()) {
                Err(e) => out.with_error_code(e.code()).with_group_state(StrBytes::from_static_str("")),
                Ok(d) => out
                    .with_group_state(StrBytes::from_static_str(d.state.name()))
                    .with_protocol_type(s(d.protocol_type))
                    .with_protocol_data(s(if d.state == crate::group::State::Stable {
                        d.protocol
                    } else {
                        String::new()
                    }))
                    .with_members(
                        d.members
                            .into_iter()
                            .map(|m| {
                                let mut dm = DescribedGroupMember::default()
                                    .with_member_id(s(m.member_id))
                                    .with_client_id(s(m.client_id))
                                    .with_client_host(s(m.client_host))
                                    .with_member_metadata(m.metadata)
                                    .with_member_assignment(m.assignment);
                                if ctx.version >= 4 {
                                    dm = dm.with_group_instance_id(m.instance_id.map(s));
                                }
                                dm
                            })
                            .collect(),
                    ),
            }
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
