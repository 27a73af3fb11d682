//! Metadata and administration: the one broker and the topics (Metadata), creating and
//! deleting topics, and topic configs by their Kafka names (`DescribeConfigs`,
//! `IncrementalAlterConfigs`), which brooklet's topic configs already use.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    DescribeConfigsRequest, DescribeConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::blocking::{code, run};
use super::{Context, NODE_ID};
use crate::catalog::TopicConfig;
use crate::error::{Error, Result};

/// Kafka's resource type of a topic in the config APIs.
const RESOURCE_TOPIC: i8 = 2;
/// Config sources: set on the topic, or the default.
const SOURCE_TOPIC: i8 = 1;
const SOURCE_DEFAULT: i8 = 5;
/// `IncrementalAlterConfigs` operations brooklet's scalar configs take.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn topic_name(s: &str) -> TopicName {
    TopicName(text(s))
}

/// Metadata: the one broker (this server, at the address it listens on) and the topics
/// asked for (all when the list is null, or at version 0 empty). A topic that does not
/// exist is created first under `--auto-create-topics` when the client allows it.
pub(super) async fn metadata(
    context: &Context,
    request: MetadataRequest,
    version: i16,
) -> MetadataResponse {
    let wanted: Option<Vec<String>> = match request.topics {
        Some(topics) if version > 0 || !topics.is_empty() => Some(
            topics
                .into_iter()
                .filter_map(|t| t.name.map(|n| n.0.to_string()))
                .collect(),
        ),
        _ => None,
    };
    let create =
        context.options.auto_create_topics && (version < 4 || request.allow_auto_topic_creation);
    let db = context.db.clone();
    let listed = run(move || {
        let admin = db.admin();
        if create && let Some(names) = &wanted {
            for name in names {
                match admin.create_topic(name, 1, TopicConfig::default()) {
                    Ok(()) | Err(Error::TopicExists(_) | Error::InvalidArgument(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let all: BTreeMap<String, u32> = admin
            .topics()?
            .into_iter()
            .map(|t| (t.name, t.partitions))
            .collect();
        Ok(match wanted {
            None => all.into_iter().map(|(n, p)| (n, Some(p))).collect(),
            Some(names) => names
                .into_iter()
                .map(|n| {
                    let partitions = all.get(&n).copied();
                    (n, partitions)
                })
                .collect::<Vec<_>>(),
        })
    })
    .await;
    let broker = MetadataResponseBroker::default()
        .with_node_id(BrokerId(NODE_ID))
        .with_host(text(&context.advertised.ip().to_string()))
        .with_port(i32::from(context.advertised.port()));
    let topics = match listed {
        Ok(listed) => listed
            .into_iter()
            .map(|(n, p)| topic_metadata(&n, p))
            .collect(),
        Err(_) => Vec::new(),
    };
    MetadataResponse::default()
        .with_brokers(vec![broker])
        .with_cluster_id(Some(text("brooklet")))
        .with_controller_id(BrokerId(NODE_ID))
        .with_topics(topics)
}

/// One topic's metadata: its partitions, each led by this server; or
/// `UNKNOWN_TOPIC_OR_PARTITION` when `partitions` is `None`.
fn topic_metadata(name: &str, partitions: Option<u32>) -> MetadataResponseTopic {
    let topic = MetadataResponseTopic::default().with_name(Some(topic_name(name)));
    let Some(count) = partitions else {
        return topic.with_error_code(ResponseError::UnknownTopicOrPartition.code());
    };
    let node = vec![BrokerId(NODE_ID)];
    topic.with_partitions(
        (0..count)
            .filter_map(|p| i32::try_from(p).ok())
            .map(|p| {
                MetadataResponsePartition::default()
                    .with_partition_index(p)
                    .with_leader_id(BrokerId(NODE_ID))
                    .with_leader_epoch(-1)
                    .with_replica_nodes(node.clone())
                    .with_isr_nodes(node.clone())
            })
            .collect(),
    )
}

/// `CreateTopics`: each topic with its partition count (-1: one) and configs by Kafka
/// name; a replication factor other than 1 (or -1, the default) is refused.
pub(super) async fn create_topics(
    context: &Context,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let mut results = Vec::with_capacity(request.topics.len().min(1024));
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let pairs: Vec<(String, String)> = topic
            .configs
            .iter()
            .map(|c| {
                let value = c.value.as_ref().map_or("", |v| v.as_str());
                (c.name.to_string(), value.to_owned())
            })
            .collect();
        let partitions = if topic.num_partitions == -1 && topic.assignments.is_empty() {
            Some(1)
        } else if topic.num_partitions == -1 {
            u32::try_from(topic.assignments.len()).ok()
        } else {
            u32::try_from(topic.num_partitions).ok().filter(|&p| p > 0)
        };
        let result = CreatableTopicResult::default().with_name(topic_name(&name));
        let Some(partitions) = partitions else {
            results.push(result.with_error_code(ResponseError::InvalidPartitions.code()));
            continue;
        };
        if !matches!(topic.replication_factor, -1 | 1) {
            results.push(
                result
                    .with_error_code(ResponseError::InvalidReplicationFactor.code())
                    .with_error_message(Some(text("one file is one replica"))),
            );
            continue;
        }
        let db = context.db.clone();
        let validate_only = request.validate_only;
        let created = run(move || {
            let config =
                TopicConfig::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
            crate::catalog::validate_topic_name(&name)?;
            if !validate_only {
                db.admin().create_topic(&name, partitions, config)?;
            }
            Ok(())
        })
        .await;
        results.push(match created {
            Ok(()) => result
                .with_num_partitions(i32::try_from(partitions).unwrap_or(i32::MAX))
                .with_replication_factor(1),
            Err(e) => result
                .with_error_code(code(&e, ResponseError::InvalidConfig))
                .with_error_message(Some(text(&e.to_string()))),
        });
    }
    CreateTopicsResponse::default().with_topics(results)
}

/// `DeleteTopics`, by name (a topic named only by id is unknown: brooklet has no topic
/// ids).
pub(super) async fn delete_topics(
    context: &Context,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let names: Vec<Option<String>> = request
        .topic_names
        .iter()
        .map(|n| Some(n.0.to_string()))
        .chain(
            request
                .topics
                .iter()
                .map(|t| t.name.as_ref().map(|n| n.0.to_string())),
        )
        .collect();
    let mut responses = Vec::with_capacity(names.len().min(1024));
    for name in names {
        let result = DeletableTopicResult::default().with_name(name.as_deref().map(topic_name));
        let Some(name) = name else {
            responses.push(result.with_error_code(ResponseError::UnknownTopicId.code()));
            continue;
        };
        let db = context.db.clone();
        let deleted = run(move || db.admin().delete_topic(&name)).await;
        responses.push(match deleted {
            Ok(()) => result,
            Err(e) => result.with_error_code(code(&e, ResponseError::InvalidRequest)),
        });
    }
    DeleteTopicsResponse::default().with_responses(responses)
}

/// `DescribeConfigs`: a topic's configs by Kafka name, each marked as set on the topic or
/// the default; a broker resource (or any other) has none.
pub(super) async fn describe_configs(
    context: &Context,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let mut results = Vec::with_capacity(request.resources.len().min(1024));
    for resource in request.resources {
        let result = DescribeConfigsResult::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone());
        if resource.resource_type != RESOURCE_TOPIC {
            results.push(result);
            continue;
        }
        let name = resource.resource_name.to_string();
        let db = context.db.clone();
        let described = run(move || db.admin().describe_topic(&name)).await;
        let config = match described {
            Ok(description) => description.config,
            Err(e) => {
                results.push(
                    result
                        .with_error_code(code(&e, ResponseError::InvalidRequest))
                        .with_error_message(Some(text(&e.to_string()))),
                );
                continue;
            }
        };
        let defaults = TopicConfig::default().to_pairs();
        let keys = resource.configuration_keys.map(|keys| {
            keys.iter()
                .map(ToString::to_string)
                .collect::<Vec<String>>()
        });
        let configs = config
            .to_pairs()
            .into_iter()
            .filter(|(k, _)| keys.as_ref().is_none_or(|keys| keys.iter().any(|w| w == k)))
            .map(|(k, v)| {
                let source = if defaults.get(k) == Some(&v) {
                    SOURCE_DEFAULT
                } else {
                    SOURCE_TOPIC
                };
                DescribeConfigsResourceResult::default()
                    .with_name(text(k))
                    .with_value(Some(text(&v)))
                    .with_config_source(source)
            })
            .collect();
        results.push(result.with_configs(configs));
    }
    DescribeConfigsResponse::default().with_results(results)
}

/// `IncrementalAlterConfigs` on topics: SET a config, or DELETE it (back to its default);
/// APPEND and SUBTRACT (for list configs) are refused, as is any other resource.
pub(super) async fn alter_configs(
    context: &Context,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(request.resources.len().min(1024));
    for resource in request.resources {
        let response = AlterConfigsResourceResponse::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone());
        if resource.resource_type != RESOURCE_TOPIC {
            responses.push(
                response
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(text("only topic configs can be altered"))),
            );
            continue;
        }
        let defaults = TopicConfig::default().to_pairs();
        let mut pairs = Vec::new();
        let mut refused = None;
        for config in &resource.configs {
            let key = config.name.to_string();
            match config.config_operation {
                OP_SET => {
                    let value = config.value.as_ref().map_or("", |v| v.as_str());
                    pairs.push((key, value.to_owned()));
                }
                OP_DELETE => match defaults.get(key.as_str()) {
                    Some(value) => pairs.push((key, value.clone())),
                    None => refused = Some(format!("unknown topic config {key}")),
                },
                _ => refused = Some(format!("only SET and DELETE apply to {key}")),
            }
        }
        if let Some(why) = refused {
            responses.push(
                response
                    .with_error_code(ResponseError::InvalidConfig.code())
                    .with_error_message(Some(text(&why))),
            );
            continue;
        }
        let name = resource.resource_name.to_string();
        let db = context.db.clone();
        let validate_only = request.validate_only;
        let altered = run(move || alter(&db, &name, &pairs, validate_only)).await;
        responses.push(match altered {
            Ok(()) => response,
            Err(e) => response
                .with_error_code(code(&e, ResponseError::InvalidConfig))
                .with_error_message(Some(text(&e.to_string()))),
        });
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

/// Applies `pairs` to a topic's config, or only checks them when `validate_only`.
fn alter(
    db: &crate::db::Brooklet,
    name: &str,
    pairs: &[(String, String)],
    validate_only: bool,
) -> Result<()> {
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if validate_only {
        let mut config = db.admin().describe_topic(name)?.config;
        config.set_pairs(pairs)?;
        return config.validate();
    }
    db.admin().alter_topic_config(name, &pairs).map(drop)
}
