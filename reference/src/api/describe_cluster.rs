//! DescribeCluster (KIP-700): the admin client's view of brokers and controller.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::defects::{Defect, active};

pub fn handle(ctx: &RequestContext, request: DescribeClusterRequest) -> DescribeClusterResponse {
    let b = &ctx.broker;
    // Only the broker endpoint type (1) exists here; a controller endpoint request (2, KIP-919)
    // is answered as Kafka's brokers do.
    if ctx.version >= 1 && request.endpoint_type != 1 {
        return DescribeClusterResponse::default()
            .with_error_code(kafka_protocol::ResponseError::UnsupportedEndpointType.code())
            .with_error_message(Some(StrBytes::from_static_str(
                "The broker recevied a request for endpoint type that it does not support",
            )))
            .with_endpoint_type(request.endpoint_type);
    }
    let node = BrokerId(b.config.node_id);
    DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(b.cluster_id.clone()))
        .with_controller_id(node)
        .with_brokers(vec![
            DescribeClusterBroker::default()
                .with_broker_id(node)
                .with_host(StrBytes::from_string(b.advertised.0.clone()))
                .with_port(if active(Defect::DescribeClusterWrongPort) { b.advertised.1 + 1 } else { b.advertised.1 }),
        ])
}
