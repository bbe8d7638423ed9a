//! Topics: creating them, their configs, and the admin APIs' error codes.

use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::{DescribeConfigsRequest, RequestKind, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::common::create_topic;
use super::{config_table, name};
use crate::world::{KafkaWorld, StepResult};

#[given(expr = "a topic {string} with {int} partition(s)")]
async fn a_topic(w: &mut KafkaWorld, topic: String, partitions: i32) -> StepResult {
    let mut client = w.wire().await?;
    if client.advertised(kafka_protocol::messages::ApiKey::CreateTopics).is_none() {
        return auto_create(w, &mut client, &topic, partitions).await;
    }
    let err = create_topic(w, &topic, partitions, -1, Vec::new(), Vec::new()).await?;
    if err != "NONE" {
        return Err(w.harness(format!("creating topic {topic:?} failed with {err}")));
    }
    Ok(())
}

/// For targets without CreateTopics: Kafka's other way to get a topic, auto-creation through
/// Metadata (`auto.create.topics.enable`). The scenario runs only if the topic has at least the
/// partitions it asks for; a broker answers LEADER_NOT_AVAILABLE until the topic is ready.
async fn auto_create(
    w: &mut KafkaWorld,
    client: &mut crate::wire::WireClient,
    topic: &str,
    partitions: i32,
) -> StepResult {
    use kafka_protocol::messages::MetadataRequest;
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    let real = TopicName(StrBytes::from_string(w.topic(topic)));
    let deadline = tokio::time::Instant::now() + w.timeout();
    let mut retry = tokio::time::interval(std::time::Duration::from_millis(50));
    loop {
        retry.tick().await;
        let req = MetadataRequest::default()
            .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(real.clone()))]))
            .with_allow_auto_topic_creation(true);
        let ResponseKind::Metadata(r) =
            client.request(RequestKind::Metadata(req)).await.map_err(|e| w.wire_error(e))?
        else {
            return Err(w.harness("Metadata answered with another response type"));
        };
        let t = r.topics.first().ok_or_else(|| w.harness("Metadata returned no topic entry"))?;
        let ready = t.error_code == 0 && !t.partitions.is_empty() && t.partitions.iter().all(|p| p.error_code == 0);
        if ready {
            let got = t.partitions.len() as i32;
            if got < partitions {
                return Err(w.unsupported(format!(
                    "the target has no CreateTopics and auto-creates topics with {got} partitions; the scenario needs {partitions}"
                )));
            }
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(w.unsupported(format!(
                "the target has no CreateTopics and did not auto-create {topic:?} (last answer {})",
                name(t.error_code)
            )));
        }
    }
}

#[given(expr = "a topic {string} with {int} partition(s) and the configs:")]
async fn a_topic_with_configs(w: &mut KafkaWorld, step: &Step, topic: String, partitions: i32) -> StepResult {
    let configs = config_table(w, step)?.into_iter().collect();
    let err = create_topic(w, &topic, partitions, -1, configs, Vec::new()).await?;
    if err != "NONE" {
        return Err(w.harness(format!("creating topic {topic:?} failed with {err}")));
    }
    Ok(())
}

#[when(expr = "a topic {string} is created with {int} partition(s) and replication factor {int}")]
async fn create_with_rf(w: &mut KafkaWorld, topic: String, partitions: i32, rf: i16) -> StepResult {
    w.last_error = Some(create_topic(w, &topic, partitions, rf, Vec::new(), Vec::new()).await?);
    Ok(())
}

#[when(expr = "a topic {string} is created with {string} set to {string}")]
async fn create_with_config(w: &mut KafkaWorld, topic: String, key: String, value: String) -> StepResult {
    w.last_error = Some(create_topic(w, &topic, 1, -1, vec![(key, value)], Vec::new()).await?);
    Ok(())
}

/// A name exactly as written, without the scenario's suffix: for names Kafka refuses, which
/// no other scenario can then hold.
#[when(expr = "a topic named exactly {string} is created")]
async fn create_named_exactly(w: &mut KafkaWorld, name: String) -> StepResult {
    w.last_error = Some(super::common::create_topic_named(w, name, 1, -1, Vec::new(), Vec::new()).await?);
    Ok(())
}

/// A name of exactly `n` characters: the scenario's own topic name padded with `x`.
#[when(expr = "a topic with a name of {int} characters is created")]
async fn create_name_of_length(w: &mut KafkaWorld, n: usize) -> StepResult {
    let base = w.topic("long-");
    if base.len() > n {
        return Err(w.harness(format!("the scenario's topic names are already {} characters long", base.len())));
    }
    let name = format!("{base}{}", "x".repeat(n - base.len()));
    w.last_error = Some(super::common::create_topic_named(w, name, 1, -1, Vec::new(), Vec::new()).await?);
    Ok(())
}

/// Kafka refuses the request with `expected`. Accepting it is what the guarantee forbids (a
/// verdict); refusing it with another code is an answer Kafka would not give.
#[then(expr = "the request fails with {word}")]
async fn request_fails_with(w: &mut KafkaWorld, expected: String) -> StepResult {
    match w.last_error.as_deref() {
        Some(e) if e == expected => Ok(()),
        Some("NONE") => Err(w.verdict(format!("the broker accepted the request; Kafka refuses it with {expected}"))),
        Some(e) => Err(w.differs(format!("the broker answered {e} where Kafka answers {expected}"))),
        None => Err(w.harness("no request was made before this step")),
    }
}

/// Kafka accepts the request: a refusal is an answer Kafka would not give.
#[then("the request succeeds")]
async fn request_succeeds(w: &mut KafkaWorld) -> StepResult {
    match w.last_error.as_deref() {
        Some("NONE") => Ok(()),
        Some(e) => Err(w.differs(format!("the broker answered {e} where Kafka accepts the request"))),
        None => Err(w.harness("no request was made before this step")),
    }
}

/// DescribeConfigs config_source names, as Kafka's `DescribeConfigsResponse.ConfigSource`.
fn source_name(code: i8) -> &'static str {
    match code {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        7 => "CLIENT_METRICS_CONFIG",
        8 => "GROUP_CONFIG",
        _ => "UNKNOWN",
    }
}

#[then(expr = "DescribeConfigs for topic {string} reports {string} = {string} from {word}")]
async fn describe_reports(w: &mut KafkaWorld, topic: String, key: String, value: String, source: String) -> StepResult {
    let mut client = w.wire().await?;
    let req = DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_string(w.topic(&topic)))
            // Every config, as Kafka's admin client asks; the one named is picked out below.
            .with_configuration_keys(None),
    ]);
    let ResponseKind::DescribeConfigs(r) =
        client.request(RequestKind::DescribeConfigs(req)).await.map_err(|e| w.wire_error(e))?
    else {
        return Err(w.harness("DescribeConfigs answered with another response type"));
    };
    let Some(res) = r.results.first() else {
        return Err(w.verdict("DescribeConfigs returned no result for the topic"));
    };
    if res.error_code != 0 {
        return Err(w.verdict(format!("DescribeConfigs failed with {}", name(res.error_code))));
    }
    let Some(entry) = res.configs.iter().find(|c| c.name.as_str() == key) else {
        return Err(w.verdict(format!("DescribeConfigs does not report {key}")));
    };
    let got = entry.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
    let got_source = source_name(entry.config_source);
    if got != value || got_source != source {
        return Err(w.differs(format!(
            "DescribeConfigs reports {key:?} = {got:?} from {got_source}; expected {value:?} from {source}"
        )));
    }
    Ok(())
}

#[when(expr = "the topic {string} is deleted")]
async fn delete(w: &mut KafkaWorld, topic: String) -> StepResult {
    use kafka_protocol::messages::DeleteTopicsRequest;
    use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
    let mut client = w.wire().await?;
    let real = TopicName(StrBytes::from_string(w.topic(&topic)));
    let version = client.version_for(kafka_protocol::messages::ApiKey::DeleteTopics).map_err(|e| w.wire_error(e))?;
    // v6 names topics in `topics` (by name or id), earlier versions in `topic_names`.
    let req = if version >= 6 {
        DeleteTopicsRequest::default().with_topics(vec![DeleteTopicState::default().with_name(Some(real))])
    } else {
        DeleteTopicsRequest::default().with_topic_names(vec![real])
    }
    .with_timeout_ms(w.timeout().as_millis() as i32);
    match client.request_at(RequestKind::DeleteTopics(req), version).await.map_err(|e| w.wire_error(e))? {
        ResponseKind::DeleteTopics(r) => {
            w.last_error = Some(r.responses.first().map_or("NONE".into(), |t| name(t.error_code)));
            Ok(())
        }
        other => Err(w.harness(format!("DeleteTopics answered with {other:?}"))),
    }
}

#[when(expr = "the partition count of {string} is increased to {int}")]
async fn grow(w: &mut KafkaWorld, topic: String, count: i32) -> StepResult {
    use kafka_protocol::messages::CreatePartitionsRequest;
    use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
    let mut client = w.wire().await?;
    let t =
        CreatePartitionsTopic::default().with_name(TopicName(StrBytes::from_string(w.topic(&topic)))).with_count(count);
    let req = CreatePartitionsRequest::default().with_topics(vec![t]).with_timeout_ms(w.timeout().as_millis() as i32);
    match client.request(RequestKind::CreatePartitions(req)).await.map_err(|e| w.wire_error(e))? {
        ResponseKind::CreatePartitions(r) => {
            w.last_error = Some(r.results.first().map_or("NONE".into(), |t| name(t.error_code)));
            Ok(())
        }
        other => Err(w.harness(format!("CreatePartitions answered with {other:?}"))),
    }
}

#[when(expr = "{string} of topic {string} is set to {string}")]
async fn alter(w: &mut KafkaWorld, key: String, topic: String, value: String) -> StepResult {
    use kafka_protocol::messages::IncrementalAlterConfigsRequest;
    use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let mut client = w.wire().await?;
    let real = w.topic(&topic);
    let resource = AlterConfigsResource::default()
        .with_resource_type(2)
        .with_resource_name(StrBytes::from_string(real.clone()))
        .with_configs(vec![
            AlterableConfig::default()
                .with_name(StrBytes::from_string(key.clone()))
                .with_config_operation(0)
                .with_value(Some(StrBytes::from_string(value.clone()))),
        ]);
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![resource]);
    match client.request(RequestKind::IncrementalAlterConfigs(req)).await.map_err(|e| w.wire_error(e))? {
        ResponseKind::IncrementalAlterConfigs(r) => {
            let error = r.responses.first().map_or("NONE".into(), |t| name(t.error_code));
            if error == "NONE" {
                w.topic_configs.entry(real).or_default().insert(key, value);
            }
            w.last_error = Some(error);
            Ok(())
        }
        other => Err(w.harness(format!("IncrementalAlterConfigs answered with {other:?}"))),
    }
}

/// Metadata for one topic, without auto-creating it (v4+ `allow_auto_topic_creation=false`).
async fn metadata_for(w: &mut KafkaWorld, topic: &str) -> Result<Option<i32>, crate::world::StepError> {
    use kafka_protocol::messages::MetadataRequest;
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    let mut client = w.wire().await?;
    let version = client.version_for(kafka_protocol::messages::ApiKey::Metadata).map_err(|e| w.wire_error(e))?;
    if version < 4 {
        return Err(w.unsupported("Metadata v4+ is needed to ask without auto-creating the topic"));
    }
    let req = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_string(w.topic(topic))))),
        ]))
        .with_allow_auto_topic_creation(false);
    let ResponseKind::Metadata(r) =
        client.request_at(RequestKind::Metadata(req), version).await.map_err(|e| w.wire_error(e))?
    else {
        return Err(w.harness("Metadata answered with another response type"));
    };
    let t = r.topics.first().ok_or_else(|| w.verdict("Metadata returned no topic entry for the topic asked about"))?;
    Ok(if t.error_code == 0 { Some(t.partitions.len() as i32) } else { None })
}

#[then(expr = "Metadata shows topic {string} with {int} partition(s)")]
async fn metadata_shows(w: &mut KafkaWorld, topic: String, n: i32) -> StepResult {
    match metadata_for(w, &topic).await? {
        Some(got) if got == n => Ok(()),
        Some(got) => Err(w.verdict(format!("Metadata shows {topic:?} with {got} partitions, expected {n}"))),
        None => Err(w.verdict(format!("Metadata does not show {topic:?}"))),
    }
}

#[then(expr = "Metadata does not show topic {string}")]
async fn metadata_hides(w: &mut KafkaWorld, topic: String) -> StepResult {
    match metadata_for(w, &topic).await? {
        None => Ok(()),
        Some(n) => Err(w.verdict(format!("Metadata still shows {topic:?} with {n} partitions"))),
    }
}

#[then("DescribeCluster lists the brokers Metadata lists")]
async fn describe_cluster(w: &mut KafkaWorld) -> StepResult {
    use kafka_protocol::messages::{DescribeClusterRequest, MetadataRequest};
    let mut client = w.wire().await?;
    let ResponseKind::DescribeCluster(c) = client
        .request(RequestKind::DescribeCluster(DescribeClusterRequest::default().with_endpoint_type(1)))
        .await
        .map_err(|e| w.wire_error(e))?
    else {
        return Err(w.harness("DescribeCluster answered with another response type"));
    };
    if c.error_code != 0 {
        return Err(w.verdict(format!("DescribeCluster failed with {}", name(c.error_code))));
    }
    let ResponseKind::Metadata(m) = client
        .request(RequestKind::Metadata(MetadataRequest::default().with_topics(None)))
        .await
        .map_err(|e| w.wire_error(e))?
    else {
        return Err(w.harness("Metadata answered with another response type"));
    };
    let mut described: Vec<(i32, String, i32)> =
        c.brokers.iter().map(|b| (b.broker_id.0, b.host.to_string(), b.port)).collect();
    let mut listed: Vec<(i32, String, i32)> =
        m.brokers.iter().map(|b| (b.node_id.0, b.host.to_string(), b.port)).collect();
    described.sort();
    listed.sort();
    if described.is_empty() || described != listed {
        return Err(w.verdict(format!("DescribeCluster lists {described:?}, Metadata lists {listed:?}")));
    }
    if m.cluster_id.as_ref().map(|s| s.to_string()) != Some(c.cluster_id.to_string()) {
        return Err(w.verdict(format!(
            "DescribeCluster's cluster id {:?} differs from Metadata's {:?}",
            c.cluster_id, m.cluster_id
        )));
    }
    Ok(())
}

#[when("a librdkafka client lists every topic")]
async fn librdkafka_lists(w: &mut KafkaWorld) -> StepResult {
    let bootstrap = w.bootstrap().await?;
    w.listed_topics = Some(crate::kafka::list_topics(&bootstrap, w.timeout()).await);
    Ok(())
}

#[then(expr = "the listing includes topic {string}")]
async fn listing_includes(w: &mut KafkaWorld, topic: String) -> StepResult {
    let real = w.topic(&topic);
    match w.listed_topics.take() {
        None => Err(w.harness("no client listed the topics before this step")),
        Some(Err(e)) => Err(w.verdict(format!("librdkafka could not list every topic: {e}"))),
        Some(Ok(listed)) if listed.contains(&real) => Ok(()),
        Some(Ok(listed)) => Err(w.verdict(format!("librdkafka's listing of every topic lacks {real:?}: {listed:?}"))),
    }
}
