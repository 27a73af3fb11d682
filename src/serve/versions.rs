//! The APIs the server answers and the versions of each, as `ApiVersions` advertises them.
//! Only what is implemented is advertised, up to versions tested against the clients:
//! librdkafka 2.x (kcat, confluent-kafka) and kafka-python. Produce starts at 3 and Fetch
//! at 4, the first versions that carry `RecordBatch` v2, the only batches stored.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::messages::api_versions_response::{ApiVersion, ApiVersionsResponse};

/// Each API served, with its lowest and highest version.
pub(super) const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 9),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::FindCoordinator, 0, 3),
    (ApiKey::JoinGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 3),
    (ApiKey::Heartbeat, 0, 3),
    (ApiKey::LeaveGroup, 0, 3),
    (ApiKey::OffsetCommit, 2, 7),
    (ApiKey::OffsetFetch, 1, 7),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 4),
    (ApiKey::DeleteGroups, 0, 2),
];

/// The versions of `key` served, or `None` if it is not.
pub(super) fn range(key: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED
        .iter()
        .find(|(k, ..)| *k == key)
        .map(|&(_, min, max)| (min, max))
}

/// True if `version` of `key` is served.
pub(super) fn supports(key: ApiKey, version: i16) -> bool {
    range(key).is_some_and(|(min, max)| (min..=max).contains(&version))
}

/// The `ApiVersions` response: the table, and `error` (`UNSUPPORTED_VERSION` when the
/// request's version is not served; the response is then encoded at version 0, as
/// Kafka's broker does, so that any client reads it).
pub(super) fn response(error: Option<ResponseError>) -> ApiVersionsResponse {
    let mut response = ApiVersionsResponse::default();
    response.error_code = error.map_or(0, |e| e.code());
    response.api_keys = SUPPORTED
        .iter()
        .map(|&(key, min, max)| {
            let mut version = ApiVersion::default();
            version.api_key = key as i16;
            version.min_version = min;
            version.max_version = max;
            version
        })
        .collect();
    response
}

/// The SASL APIs: served, and advertised, only when the server has SASL users.
pub(super) const SASL: &[(ApiKey, i16, i16)] = &[
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
];

/// [`response`], with the [`SASL`] APIs when `sasl` is on.
pub(super) fn response_with(error: Option<ResponseError>, sasl: bool) -> ApiVersionsResponse {
    let mut response = response(error);
    if sasl {
        response
            .api_keys
            .extend(SASL.iter().map(|&(key, min, max)| {
                let mut version = ApiVersion::default();
                version.api_key = key as i16;
                version.min_version = min;
                version.max_version = max;
                version
            }));
    }
    response
}
