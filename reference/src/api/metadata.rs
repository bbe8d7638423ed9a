//! Metadata: brokers, cluster id, controller, and topics with their partitions' leader, leader
//! epoch, replicas and ISR. Unknown topics are auto-created when both the broker
//! (`auto.create.topics.enable`, Kafka's default true) and the request (v4+) allow it.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::defects::{Defect, active};
use crate::topic::Topic;

pub async fn handle(ctx: &RequestContext, request: MetadataRequest) -> MetadataResponse {
    let b = &ctx.broker;
    let v = ctx.version;
    let node = BrokerId(b.config.node_id);

    // v0 asks for every topic with an empty list; v1+ with a null one.
    let all = match &request.topics {
        None => true,
        Some(t) => t.is_empty() && v == 0,
    };
    let topics: Vec<MetadataResponseTopic> = if all {
        b.topics().iter().map(|t| describe(ctx, t)).collect()
    } else {
        let allow_create = b.config.auto_create_topics_enable && (v < 4 || request.allow_auto_topic_creation);
        let mut out = Vec::new();
        for req in request.topics.unwrap_or_default() {
            let by_id = req.name.is_none() && !req.topic_id.is_nil();
            let found = match &req.name {
                Some(n) => b.topic(n.as_str()),
                None => b.topic_by_id(req.topic_id),
            };
            if let Some(t) = found {
                out.push(describe(ctx, &t));
                continue;
            }
            let unknown = |code: ResponseError| {
                let t = MetadataResponseTopic::default().with_error_code(code.code()).with_name(req.name.clone());
                if v >= 10 { t.with_topic_id(req.topic_id) } else { t }
            };
            if by_id {
                out.push(unknown(ResponseError::UnknownTopicId));
                continue;
            }
            let Some(name) = req.name.clone() else {
                out.push(unknown(ResponseError::InvalidRequest));
                continue;
            };
            if let Err(msg) = crate::broker::validate_topic_name(name.as_str()) {
                tracing::debug!("metadata for invalid topic name: {msg}");
                out.push(unknown(ResponseError::InvalidTopicException));
                continue;
            }
            if !allow_create {
                out.push(unknown(ResponseError::UnknownTopicOrPartition));
                continue;
            }
            out.push(match b.create_topic(name.as_str(), -1, -1, &[], &[], false).await {
                Ok(t) => describe(ctx, &t),
                // Another client created it first: describe what exists.
                Err(_) => match b.topic(name.as_str()) {
                    Some(t) => describe(ctx, &t),
                    None => unknown(ResponseError::LeaderNotAvailable),
                },
            });
        }
        out
    };

    let image = b.image();
    let brokers = image
        .live_brokers()
        .map(|x| {
            let broker = MetadataResponseBroker::default()
                .with_node_id(BrokerId(x.id))
                .with_host(StrBytes::from_string(x.host.clone()))
                .with_port(x.port);
            if v >= 1 { broker.with_rack(None) } else { broker }
        })
        .collect();
    let mut response = MetadataResponse::default().with_brokers(brokers).with_topics(topics);
    if v >= 1 {
        response = response.with_controller_id(node);
    }
    if v >= 2 {
        response = response.with_cluster_id(Some(StrBytes::from_string(image.cluster_id.clone())));
    }
    response
}

fn describe(ctx: &RequestContext, topic: &Topic) -> MetadataResponseTopic {
    let v = ctx.version;
    let image = ctx.broker.image();
    let ids = |v: &[i32]| v.iter().map(|b| BrokerId(*b)).collect::<Vec<_>>();
    let mut partitions = topic
        .partitions
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let offline: Vec<i32> = s.replicas.iter().copied().filter(|r| !image.is_live(*r)).collect();
            let mut p = MetadataResponsePartition::default()
                .with_partition_index(i as i32)
                .with_leader_id(BrokerId(s.leader))
                .with_replica_nodes(ids(&s.replicas))
                .with_isr_nodes(ids(&s.isr));
            if s.leader == crate::metadata::NO_LEADER {
                p = p.with_error_code(ResponseError::LeaderNotAvailable.code());
            }
            if v >= 5 {
                p = p.with_offline_replicas(ids(&offline));
            }
            if v >= 7 {
                p = p.with_leader_epoch(s.leader_epoch);
            }
            p
        })
        .collect::<Vec<_>>();
    if active(Defect::MetadataOmitsLastPartition) && partitions.len() > 1 {
        partitions.pop();
    }
    let mut t = MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_partitions(partitions);
    if v >= 10 {
        t = t.with_topic_id(topic.id);
    }
    t
}
