//! Topics: creating them, their configs, and the admin APIs' error codes.

use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::{CreateTopicsRequest, DescribeConfigsRequest, RequestKind, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{config_table, name};
use crate::world::{KafkaWorld, StepResult};

async fn create(
    w: &mut KafkaWorld,
    topic: &str,
    partitions: i32,
    rf: i16,
    configs: Vec<(String, String)>,
) -> Result<String, crate::world::StepError> {
    let mut client = w.wire().await?;
    let real = w.topic(topic);
    let t = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(real)))
        .with_num_partitions(partitions)
        .with_replication_factor(rf)
        .with_configs(
            configs
                .into_iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(StrBytes::from_string(k))
                        .with_value(Some(StrBytes::from_string(v)))
                })
                .collect(),
        );
    let req = CreateTopicsRequest::default().with_topics(vec![t]).with_timeout_ms(w.timeout().as_millis() as i32);
    match client.request(RequestKind::CreateTopics(req)).await.map_err(|e| w.wire_error(e))? {
        ResponseKind::CreateTopics(r) => Ok(r.topics.first().map_or("NONE".into(), |t| name(t.error_code))),
        other => Err(w.harness(format!("CreateTopics answered with {other:?}"))),
    }
}

#[given(expr = "a topic {string} with {int} partition(s)")]
async fn a_topic(w: &mut KafkaWorld, topic: String, partitions: i32) -> StepResult {
    let err = create(w, &topic, partitions, -1, Vec::new()).await?;
    if err != "NONE" {
        return Err(w.harness(format!("creating topic {topic:?} failed with {err}")));
    }
    Ok(())
}

#[given(expr = "a topic {string} with {int} partition(s) and the configs:")]
async fn a_topic_with_configs(w: &mut KafkaWorld, step: &Step, topic: String, partitions: i32) -> StepResult {
    let configs = config_table(w, step)?.into_iter().collect();
    let err = create(w, &topic, partitions, -1, configs).await?;
    if err != "NONE" {
        return Err(w.harness(format!("creating topic {topic:?} failed with {err}")));
    }
    Ok(())
}

#[when(expr = "a topic {string} is created with {int} partition(s) and replication factor {int}")]
async fn create_with_rf(w: &mut KafkaWorld, topic: String, partitions: i32, rf: i16) -> StepResult {
    w.last_error = Some(create(w, &topic, partitions, rf, Vec::new()).await?);
    Ok(())
}

#[when(expr = "a topic {string} is created with {string} set to {string}")]
async fn create_with_config(w: &mut KafkaWorld, topic: String, key: String, value: String) -> StepResult {
    w.last_error = Some(create(w, &topic, 1, -1, vec![(key, value)]).await?);
    Ok(())
}

#[then(expr = "the request fails with {word}")]
async fn request_fails_with(w: &mut KafkaWorld, expected: String) -> StepResult {
    match w.last_error.as_deref() {
        Some(e) if e == expected => Ok(()),
        Some(e) => Err(w.verdict(format!("expected {expected}, the broker answered {e}"))),
        None => Err(w.harness("no request was made before this step")),
    }
}

#[then("the request succeeds")]
async fn request_succeeds(w: &mut KafkaWorld) -> StepResult {
    match w.last_error.as_deref() {
        Some("NONE") => Ok(()),
        Some(e) => Err(w.verdict(format!("expected success, the broker answered {e}"))),
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
            .with_configuration_keys(Some(vec![StrBytes::from_string(key.clone())])),
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
        return Err(w.verdict(format!(
            "DescribeConfigs reports {key} = {got:?} from {got_source}; expected {value:?} from {source}"
        )));
    }
    Ok(())
}
