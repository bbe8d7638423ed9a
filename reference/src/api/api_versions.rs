//! ApiVersions: the table in `api/mod.rs`, and KIP-511's answer to a version we cannot parse.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use super::{RequestContext, SUPPORTED};

fn api_keys() -> Vec<ApiVersion> {
    SUPPORTED
        .iter()
        .map(|(key, v)| {
            ApiVersion::default().with_api_key(*key as i16).with_min_version(v.advertised_min).with_max_version(v.max)
        })
        .collect()
}

pub fn handle(ctx: &RequestContext, request: ApiVersionsRequest) -> ApiVersionsResponse {
    if ctx.version >= 3 {
        tracing::debug!(
            "client {} is {} {}",
            ctx.peer,
            request.client_software_name.as_str(),
            request.client_software_version.as_str()
        );
    }
    ApiVersionsResponse::default().with_api_keys(api_keys())
}

/// Sent, encoded as v0, when a client asks for an ApiVersions version above ours.
pub fn unsupported_version_response() -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_error_code(ResponseError::UnsupportedVersion.code()).with_api_keys(api_keys())
}
