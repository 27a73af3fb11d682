//! `ApiVersions`, Metadata, `CreateTopics`, `DeleteTopics`, `DescribeConfigs` and
//! `IncrementalAlterConfigs`.

use brooklet::TopicConfig;
use brooklet::serve::ServeOptions;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, MetadataRequest,
    MetadataResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::harness::{name, serve, serve_with};

#[test]
fn api_versions_lists_what_is_served() {
    let served = serve();
    let mut client = served.connect();
    for version in 0..=3 {
        let response: ApiVersionsResponse =
            client.call(ApiKey::ApiVersions, version, &ApiVersionsRequest::default());
        assert_eq!(response.error_code, 0);
        let produce = response
            .api_keys
            .iter()
            .find(|k| k.api_key == ApiKey::Produce as i16)
            .expect("produce is served");
        assert_eq!((produce.min_version, produce.max_version), (3, 9));
        assert!(
            !response
                .api_keys
                .iter()
                .any(|k| k.api_key == ApiKey::OffsetForLeaderEpoch as i16),
            "only implemented APIs are advertised"
        );
    }
    served.stop();
}

#[test]
fn metadata_names_this_server_and_the_topics() {
    let served = serve();
    served
        .db
        .admin()
        .create_topic("orders", 3, TopicConfig::default())
        .expect("create");
    let mut client = served.connect();
    for version in [0, 1, 4, 9, 12] {
        let request = if version == 0 {
            MetadataRequest::default().with_topics(Some(Vec::new()))
        } else {
            MetadataRequest::default().with_topics(None)
        };
        let response: MetadataResponse = client.call(ApiKey::Metadata, version, &request);
        assert_eq!(response.brokers.len(), 1);
        assert_eq!(response.brokers[0].host.as_str(), "127.0.0.1");
        assert_eq!(response.brokers[0].port, i32::from(served.addr.port()));
        assert_eq!(response.topics.len(), 1);
        let topic = &response.topics[0];
        assert_eq!(topic.name.as_ref().expect("name").0.as_str(), "orders");
        assert_eq!(topic.partitions.len(), 3);
        assert!(
            topic
                .partitions
                .iter()
                .all(|p| p.leader_id.0 == response.brokers[0].node_id.0)
        );
    }
    let request = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(name("missing"))),
    ]));
    let response: MetadataResponse = client.call(ApiKey::Metadata, 12, &request);
    assert_eq!(
        response.topics[0].error_code, 3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    assert!(
        served.db.admin().describe_topic("missing").is_err(),
        "not created by default"
    );
    served.stop();
}

#[test]
fn metadata_creates_topics_when_asked_to() {
    let served = serve_with(ServeOptions {
        auto_create_topics: true,
        ..ServeOptions::default()
    });
    let mut client = served.connect();
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name("fresh"))),
        ]))
        .with_allow_auto_topic_creation(true);
    let response: MetadataResponse = client.call(ApiKey::Metadata, 9, &request);
    assert_eq!(response.topics[0].error_code, 0);
    assert_eq!(response.topics[0].partitions.len(), 1);
    assert_eq!(
        served
            .db
            .admin()
            .describe_topic("fresh")
            .expect("created")
            .partitions
            .len(),
        1
    );
    served.stop();
}

#[test]
fn create_describe_alter_and_delete_topics() {
    let served = serve();
    let mut client = served.connect();
    let create = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(name("events"))
            .with_num_partitions(2)
            .with_replication_factor(1)
            .with_configs(vec![
                CreatableTopicConfig::default()
                    .with_name(StrBytes::from_static_str("retention.ms"))
                    .with_value(Some(StrBytes::from_static_str("60000"))),
            ]),
        CreatableTopic::default()
            .with_name(name("replicated"))
            .with_num_partitions(1)
            .with_replication_factor(3),
        CreatableTopic::default()
            .with_name(name("badconfig"))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(vec![
                CreatableTopicConfig::default()
                    .with_name(StrBytes::from_static_str("retention.ms"))
                    .with_value(Some(StrBytes::from_static_str("soon"))),
            ]),
    ]);
    let response: CreateTopicsResponse = client.call(ApiKey::CreateTopics, 5, &create);
    let codes: Vec<i16> = response.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(
        codes,
        [0, 38, 40],
        "created, INVALID_REPLICATION_FACTOR, INVALID_CONFIG"
    );
    let again: CreateTopicsResponse = client.call(ApiKey::CreateTopics, 2, &create);
    assert_eq!(again.topics[0].error_code, 36, "TOPIC_ALREADY_EXISTS");
    let described = served.db.admin().describe_topic("events").expect("events");
    assert_eq!(
        (described.partitions.len(), described.config.retention_ms),
        (2, Some(60000))
    );

    let alter = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("events"))
            .with_configs(vec![
                AlterableConfig::default()
                    .with_name(StrBytes::from_static_str("retention.bytes"))
                    .with_config_operation(0)
                    .with_value(Some(StrBytes::from_static_str("1048576"))),
                AlterableConfig::default()
                    .with_name(StrBytes::from_static_str("retention.ms"))
                    .with_config_operation(1),
            ]),
    ]);
    let response: IncrementalAlterConfigsResponse =
        client.call(ApiKey::IncrementalAlterConfigs, 1, &alter);
    assert_eq!(response.responses[0].error_code, 0);
    let config = served
        .db
        .admin()
        .describe_topic("events")
        .expect("events")
        .config;
    assert_eq!(config.retention_bytes, Some(1_048_576));
    assert_eq!(config.retention_ms, TopicConfig::default().retention_ms);

    let describe = DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("events"))
            .with_configuration_keys(None),
    ]);
    let response: DescribeConfigsResponse = client.call(ApiKey::DescribeConfigs, 4, &describe);
    let configs = &response.results[0].configs;
    let bytes = configs
        .iter()
        .find(|c| c.name.as_str() == "retention.bytes")
        .expect("retention.bytes");
    assert_eq!(bytes.value.as_ref().expect("value").as_str(), "1048576");
    assert_eq!(bytes.config_source, 1, "set on the topic");

    let delete =
        DeleteTopicsRequest::default().with_topic_names(vec![name("events"), name("nope")]);
    let response: DeleteTopicsResponse = client.call(ApiKey::DeleteTopics, 4, &delete);
    let codes: Vec<i16> = response.responses.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, [0, 3]);
    assert!(served.db.admin().topics().expect("topics").is_empty());
    served.stop();
}
