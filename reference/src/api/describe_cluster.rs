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
    let image = b.image();
    // KRaft brokers report a random live broker as the "controller" to clients (the real
    // controller is not reachable by them); this reports itself.
    let node = BrokerId(b.config.node_id);
    let brokers = image
        .live_brokers()
        .map(|x| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(x.id))
                .with_host(StrBytes::from_string(x.host.clone()))
                .with_port(if active(Defect::DescribeClusterWrongPort) { x.port + 1 } else { x.port })
        })
        .collect();
    DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(image.cluster_id.clone()))
        .with_controller_id(node)
        .with_brokers(brokers)
}
