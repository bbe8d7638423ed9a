//! DeleteTopics: by name before v6, by name or topic id from v6 (KIP-516).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;

pub async fn handle(ctx: &RequestContext, request: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let targets: Vec<(Option<TopicName>, uuid::Uuid)> = if ctx.version >= 6 {
        request.topics.into_iter().map(|t| (t.name, t.topic_id)).collect()
    } else {
        request.topic_names.into_iter().map(|n| (Some(n), uuid::Uuid::nil())).collect()
    };
    let mut responses = Vec::new();
    for (name, id) in targets {
        responses.push({
            let name = name.map(|n| n.0.to_string()).or_else(|| ctx.broker.topic_by_id(id).map(|t| t.name.clone()));
            let mut result =
                DeletableTopicResult::default().with_name(name.clone().map(|n| TopicName(StrBytes::from_string(n))));
            let outcome = match &name {
                Some(n) => ctx.broker.delete_topic(n).await.map_err(|e| (e.code, e.message)),
                None if ctx.version >= 6 && !id.is_nil() => {
                    Err((ResponseError::UnknownTopicId, "This server does not host this topic ID.".to_string()))
                }
                None => Err((ResponseError::InvalidRequest, "Neither topic name nor id were specified.".to_string())),
            };
            match outcome {
                Ok(deleted_id) => {
                    if ctx.version >= 6 {
                        result = result.with_topic_id(deleted_id);
                    }
                }
                Err((code, message)) => {
                    result = result.with_error_code(code.code());
                    if ctx.version >= 6 {
                        result = result.with_topic_id(id);
                    }
                    if ctx.version >= 5 {
                        result = result.with_error_message(Some(StrBytes::from_string(message)));
                    }
                }
            }
            result
        });
    }
    DeleteTopicsResponse::default().with_responses(responses)
}
