//! ApiVersions: the table in `api/mod.rs`, and KIP-511's answer to a version we cannot parse.
//! From v3 the answer names the features this broker supports and their finalized levels
//! (KIP-584): `transaction.version` 0-2, finalized at the broker's `transaction.version`.
//! As in Kafka, a level of 0 is not listed as finalized, and a v3 request is not told of
//! supported features whose minimum is 0 (KAFKA-17011: older clients choke on it).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::{ApiVersion, FinalizedFeatureKey, SupportedFeatureKey};
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::StrBytes;

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
    let response = ApiVersionsResponse::default().with_api_keys(api_keys());
    if ctx.version < 3 {
        return response;
    }
    let name = || StrBytes::from_static_str("transaction.version");
    let level = ctx.broker.config.transaction_version;
    let finalized = if level > 0 {
        vec![
            FinalizedFeatureKey::default()
                .with_name(name())
                .with_min_version_level(level)
                .with_max_version_level(level),
        ]
    } else {
        Vec::new()
    };
    let supported = if ctx.version >= 4 {
        vec![SupportedFeatureKey::default().with_name(name()).with_min_version(0).with_max_version(2)]
    } else {
        Vec::new()
    };
    response
        .with_supported_features(supported)
        // Kafka sends the metadata offset of the last feature change; clients only compare it
        // with the epochs they saw before, and -1 means "no features".
        .with_finalized_features_epoch(1)
        .with_finalized_features(finalized)
}

/// Sent, encoded as v0, when a client asks for an ApiVersions version above ours.
pub fn unsupported_version_response() -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_error_code(ResponseError::UnsupportedVersion.code()).with_api_keys(api_keys())
}
