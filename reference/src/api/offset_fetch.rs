//! OffsetFetch v1-8: a group's committed offsets; -1 (leader epoch -1, metadata "") where none
//! is committed or the group does not exist, as Kafka answers. With `require_stable` (v7+), a
//! partition a transaction has committed offsets for but not decided is UNSTABLE_OFFSET_COMMIT.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::defects::{Defect, active};
use crate::group::{Committed, FetchedOffsets};

/// Topics and partitions asked for.
type Asked = Vec<(String, Vec<i32>)>;

fn fetch(ctx: &RequestContext, group: &str, topics: Option<Asked>) -> (Result<FetchedOffsets, ResponseError>, Asked) {
    let asked = topics.clone().unwrap_or_default();
    (ctx.broker.groups.fetch_offsets(group, topics.as_deref()), asked)
}

fn value(c: &Option<Committed>) -> (i64, i32, String) {
    match c {
        Some(c) => (c.offset, c.leader_epoch, c.metadata.clone()),
        // The defect: a partition without a commit answers offset 0, as if committed there.
        None if active(Defect::OffsetFetchZeroWhenNone) => (0, -1, String::new()),
        None => (-1, -1, String::new()),
    }
}

/// KIP-447: a partition with offsets a transaction has not decided yet, for a fetch with
/// `require_stable` (v7+): the client retries until the marker lands.
fn unstable_code() -> i16 {
    ResponseError::UnstableOffsetCommit.code()
}

pub fn handle(ctx: &RequestContext, r: OffsetFetchRequest) -> OffsetFetchResponse {
    let name = |s: &str| TopicName(StrBytes::from_string(s.to_string()));
    if ctx.version >= 8 {
        let groups = r
            .groups
            .iter()
            .map(|g| {
                let topics = g
                    .topics
                    .as_ref()
                    .map(|ts| ts.iter().map(|t| (t.name.to_string(), t.partition_indexes.clone())).collect());
                let (result, _) = fetch(ctx, g.group_id.as_str(), topics);
                let out = OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
                match result {
                    Err(e) => out.with_error_code(e.code()),
                    Ok(fetched) => out.with_topics(
                        fetched
                            .iter()
                            .map(|(t, ps)| {
                                OffsetFetchResponseTopics::default().with_name(name(t)).with_partitions(
                                    ps.iter()
                                        .map(|(p, c)| {
                                            let unstable = r.require_stable
                                                && ctx.broker.groups.has_pending(g.group_id.as_str(), t, *p);
                                            let (c, code) = if unstable { (&None, unstable_code()) } else { (c, 0) };
                                            let (offset, epoch, metadata) = value(c);
                                            OffsetFetchResponsePartitions::default()
                                                .with_error_code(code)
                                                .with_partition_index(*p)
                                                .with_committed_offset(offset)
                                                .with_committed_leader_epoch(epoch)
                                                .with_metadata(Some(StrBytes::from_string(metadata)))
                                        })
                                        .collect(),
                                )
                            })
                            .collect(),
                    ),
                }
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let topics =
        r.topics.as_ref().map(|ts| ts.iter().map(|t| (t.name.to_string(), t.partition_indexes.clone())).collect());
    let (result, asked) = fetch(ctx, r.group_id.as_str(), topics);
    let partition = |p: i32, c: &Option<Committed>, code: i16| {
        let (offset, epoch, metadata) = value(c);
        let mut out = OffsetFetchResponsePartition::default()
            .with_partition_index(p)
            .with_committed_offset(offset)
            .with_metadata(Some(StrBytes::from_string(metadata)))
            .with_error_code(code);
        if ctx.version >= 5 {
            out = out.with_committed_leader_epoch(epoch);
        }
        out
    };
    match result {
        Ok(fetched) => OffsetFetchResponse::default().with_topics(
            fetched
                .iter()
                .map(|(t, ps)| {
                    OffsetFetchResponseTopic::default().with_name(name(t)).with_partitions(
                        ps.iter()
                            .map(|(p, c)| {
                                if ctx.version >= 7
                                    && r.require_stable
                                    && ctx.broker.groups.has_pending(r.group_id.as_str(), t, *p)
                                {
                                    partition(*p, &None, unstable_code())
                                } else {
                                    partition(*p, c, 0)
                                }
                            })
                            .collect(),
                    )
                })
                .collect(),
        ),
        Err(e) => {
            let mut resp = OffsetFetchResponse::default();
            if ctx.version >= 2 {
                resp = resp.with_error_code(e.code());
            } else {
                // v1 has no top-level error: every partition carries it.
                resp = resp.with_topics(
                    asked
                        .iter()
                        .map(|(t, ps)| {
                            OffsetFetchResponseTopic::default()
                                .with_name(name(t))
                                .with_partitions(ps.iter().map(|p| partition(*p, &None, e.code())).collect())
                        })
                        .collect(),
                );
            }
            resp
        }
    }
}
