//! OffsetDelete v0: removes a group's committed offsets for topics no member subscribes to.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;

pub async fn handle(ctx: &RequestContext, r: OffsetDeleteRequest) -> OffsetDeleteResponse {
    if r.group_id.is_empty() {
        return OffsetDeleteResponse::default().with_error_code(ResponseError::InvalidGroupId.code());
    }
    // Unknown topics and partitions are answered by the broker before the group is asked.
    let mut unknown: Vec<(String, i32)> = Vec::new();
    let mut asked: Vec<(String, Vec<i32>)> = Vec::new();
    for t in &r.topics {
        let topic = ctx.broker.topic(t.name.as_str());
        let mut ps = Vec::new();
        for p in &t.partitions {
            if topic.as_ref().is_some_and(|tp| p.partition_index >= 0 && p.partition_index < tp.partition_count()) {
                ps.push(p.partition_index);
            } else {
                unknown.push((t.name.to_string(), p.partition_index));
            }
        }
        asked.push((t.name.to_string(), ps));
    }
    let prepared = ctx.broker.groups.prepare_offset_delete(r.group_id.as_str(), &asked);
    let (results, write) = match prepared {
        Err(e) => return OffsetDeleteResponse::default().with_error_code(e.code()),
        Ok(x) => x,
    };
    let deleted: Vec<(String, i32)> = results
        .iter()
        .flat_map(|(t, ps)| ps.iter().filter(|(_, c)| *c == 0).map(move |(p, _)| (t.clone(), *p)))
        .collect();
    if let Err(e) = ctx.broker.groups.write(write).await {
        return OffsetDeleteResponse::default().with_error_code(e.code());
    }
    ctx.broker.groups.offsets_deleted(r.group_id.as_str(), &deleted);
    let topics = r
        .topics
        .iter()
        .map(|t| {
            let codes =
                results.iter().find(|(n, _)| n == t.name.as_str()).map(|(_, ps)| ps.clone()).unwrap_or_default();
            OffsetDeleteResponseTopic::default()
                .with_name(TopicName(StrBytes::from_string(t.name.to_string())))
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            let code = if unknown.contains(&(t.name.to_string(), p.partition_index)) {
                                ResponseError::UnknownTopicOrPartition.code()
                            } else {
                                codes.iter().find(|(i, _)| *i == p.partition_index).map_or(0, |(_, c)| *c)
                            };
                            OffsetDeleteResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}
