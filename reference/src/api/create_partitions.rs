//! CreatePartitions: grows a topic; never shrinks it (INVALID_PARTITIONS).

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;

pub async fn handle(ctx: &RequestContext, request: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let mut results = Vec::with_capacity(request.topics.len());
    for t in &request.topics {
        let result = CreatePartitionsTopicResult::default().with_name(t.name.clone());
        results.push(match ctx.broker.create_partitions(t.name.as_str(), t.count, request.validate_only).await {
            Ok(()) => result,
            Err(e) => result.with_error_code(e.code.code()).with_error_message(Some(StrBytes::from_string(e.message))),
        });
    }
    CreatePartitionsResponse::default().with_results(results)
}
