//! A short probe of every API the suite relies on, run once before the scenarios: each answer
//! judged on its own against what Kafka answers, so that one API's bug is reported once, as
//! itself, and the report can say which failed scenarios sit downstream of it.
//!
//! Each probe ends `ok`, `not advertised` (the broker's ApiVersions does not list the API), or
//! `differs from Kafka` (the broker closed the connection, answered something that does not
//! decode, or answered what Kafka would not), with what it saw.

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId, CreateTopicsRequest, DescribeConfigsRequest, FindCoordinatorRequest, InitProducerIdRequest,
    ListOffsetsRequest, MetadataRequest, RequestKind, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, RecordBatchDecoder};
use serde::Serialize;

use crate::kafka::error_name;
use crate::wire::{WireClient, WireError};

/// How one probe ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Ok,
    NotAdvertised,
    DiffersFromKafka,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::NotAdvertised => "not advertised",
            Status::DiffersFromKafka => "differs from Kafka",
        }
    }
}

/// One API call and what came of it.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    /// The operation: `ListOffsets LATEST`, `DescribeConfigs with keys`, ...
    pub operation: String,
    /// The request's API, by Kafka's name, for matching failures to probes.
    pub api: String,
    pub status: Status,
    /// What the broker answered; for a difference, also what Kafka answers.
    pub detail: String,
}

/// Records the preflight topic holds: more than one, in one batch, so that an answer that
/// counts batches instead of records shows.
const RECORDS: i64 = 10;

/// Runs every probe against the brokers at `bootstrap`. An unreachable broker is an error: no
/// probe could say anything.
pub async fn run(bootstrap: &[String], timeout: Duration) -> Result<Vec<Probe>, String> {
    let mut client = None;
    let mut last = String::new();
    for addr in bootstrap {
        match WireClient::connect(addr, timeout).await {
            Ok(c) => {
                client = Some(c);
                break;
            }
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    let mut client = client.ok_or_else(|| format!("no broker answered ApiVersions ({last})"))?;
    let mut probes = vec![Probe {
        operation: "ApiVersions".into(),
        api: "ApiVersions".into(),
        status: Status::Ok,
        detail: "answered".into(),
    }];
    let topic = format!("kafka-conformance-preflight-{:x}", crate::clock::now_ms());
    let mut p = Prober { probes: &mut probes, timeout, bootstrap };

    // Metadata for every topic, as list_topics() asks it.
    p.call(
        &mut client,
        ApiKey::Metadata,
        "Metadata for all topics",
        RequestKind::Metadata(MetadataRequest::default().with_topics(None)),
        |r| match r {
            ResponseKind::Metadata(m) if !m.brokers.is_empty() => {
                Ok(format!("{} brokers, {} topics", m.brokers.len(), m.topics.len()))
            }
            ResponseKind::Metadata(_) => Err("no broker listed; Kafka lists every live broker".into()),
            _ => Err("another response type".into()),
        },
    )
    .await;

    let topic_name = || TopicName(StrBytes::from_string(topic.clone()));
    let create = CreateTopicsRequest::default().with_timeout_ms(timeout.as_millis() as i32).with_topics(vec![
        CreatableTopic::default().with_name(topic_name()).with_num_partitions(1).with_replication_factor(-1),
    ]);
    p.call(&mut client, ApiKey::CreateTopics, "CreateTopics", RequestKind::CreateTopics(create), |r| match r {
        ResponseKind::CreateTopics(c) => match c.topics.first().map(|t| t.error_code) {
            Some(0) => Ok("created".into()),
            Some(code) => Err(format!("answered {}; Kafka creates a new topic with NONE", error_name(code))),
            None => Err("answered no topic".into()),
        },
        _ => Err("another response type".into()),
    })
    .await;

    // Produce one batch of several records to the partition's leader, then read it back.
    let Some(mut leader) = p.leader(&mut client, &topic).await else {
        return Ok(probes);
    };
    let now = crate::clock::now_ms();
    let batch = encode(&topic, now)?;
    let produce = crate::requests::produce_request(&topic, 0, batch, -1, timeout.as_millis() as i32);
    let mut base = None;
    p.call(&mut leader, ApiKey::Produce, "Produce (acks=all, 10 records in one batch)", produce, |r| {
        match crate::requests::produce_result(r) {
            Some((e, b)) if e == "NONE" => {
                base = Some(b);
                Ok(format!("acknowledged at base offset {b}"))
            }
            Some((e, _)) => Err(format!("answered {e}; Kafka appends a valid batch with NONE")),
            None => Err("another response type".into()),
        }
    })
    .await;
    if base.is_none() {
        return Ok(probes);
    }

    let fetch = crate::requests::fetch_request(&topic, 0, 0, 1 << 20, 0, 0);
    let mut high_watermark = None;
    p.call(&mut leader, ApiKey::Fetch, "Fetch from offset 0", fetch, |r| {
        let ResponseKind::Fetch(f) = r else { return Err("another response type".into()) };
        let Some(part) = f.responses.first().and_then(|t| t.partitions.first()) else {
            return Err("answered no partition".into());
        };
        if part.error_code != 0 {
            return Err(format!("answered {}", error_name(part.error_code)));
        }
        let mut bytes = part.records.clone().unwrap_or_default();
        let records: usize = RecordBatchDecoder::decode_all(&mut bytes)
            .map_err(|e| format!("its records do not decode: {e:#}"))?
            .iter()
            .map(|set| set.records.len())
            .sum();
        high_watermark = Some(part.high_watermark);
        if records as i64 != RECORDS || part.high_watermark != RECORDS {
            return Err(format!(
                "read {records} records and a high watermark of {}, where {RECORDS} records were acknowledged",
                part.high_watermark
            ));
        }
        Ok(format!("{records} records, high watermark {}", part.high_watermark))
    })
    .await;
    let hw = high_watermark.unwrap_or(RECORDS);

    for (label, ts, expected, min_version) in [
        ("ListOffsets LATEST", -1, hw, 0),
        ("ListOffsets EARLIEST", -2, 0, 0),
        ("ListOffsets by timestamp", now, 0, 0),
        ("ListOffsets MAX_TIMESTAMP (KIP-734)", -3, RECORDS - 1, 7),
    ] {
        if leader.advertised(ApiKey::ListOffsets).is_some_and(|(_, max)| max < min_version) {
            p.probes.push(Probe {
                operation: label.into(),
                api: "ListOffsets".into(),
                status: Status::NotAdvertised,
                detail: format!("needs ListOffsets v{min_version}"),
            });
            continue;
        }
        let req = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(topic_name())
                .with_partitions(vec![ListOffsetsPartition::default().with_partition_index(0).with_timestamp(ts)]),
        ]);
        p.call(&mut leader, ApiKey::ListOffsets, label, RequestKind::ListOffsets(req), |r| {
            let ResponseKind::ListOffsets(l) = r else { return Err("another response type".into()) };
            let Some(part) = l.topics.first().and_then(|t| t.partitions.first()) else {
                return Err("answered no partition".into());
            };
            match (part.error_code, part.offset) {
                (0, o) if o == expected => Ok(format!("offset {o}")),
                (0, o) => Err(format!(
                    "answered offset {o} where Kafka answers {expected} ({RECORDS} records in one batch, Fetch high watermark {hw})"
                )),
                (code, _) => Err(format!("answered {}", error_name(code))),
            }
        })
        .await;
    }

    let resource = |kind: i8, name: String, key: &str| {
        DescribeConfigsResource::default()
            .with_resource_type(kind)
            .with_resource_name(StrBytes::from_string(name))
            .with_configuration_keys(Some(vec![StrBytes::from_string(key.to_string())]))
    };
    let describe = DescribeConfigsRequest::default().with_resources(vec![resource(2, topic.clone(), "retention.ms")]);
    p.call(
        &mut client,
        ApiKey::DescribeConfigs,
        "DescribeConfigs of a topic, with config keys",
        RequestKind::DescribeConfigs(describe),
        |r| {
            let ResponseKind::DescribeConfigs(d) = r else { return Err("another response type".into()) };
            match d.results.first() {
                Some(res) if res.error_code != 0 => Err(format!("answered {}", error_name(res.error_code))),
                Some(res) if res.configs.iter().any(|c| c.name.as_str() == "retention.ms") => {
                    Ok("retention.ms reported".into())
                }
                Some(_) => Err("did not report retention.ms, a config Kafka defines for every topic".into()),
                None => Err("answered no resource".into()),
            }
        },
    )
    .await;

    let init = InitProducerIdRequest::default().with_transactional_id(None).with_transaction_timeout_ms(60_000);
    p.call(
        &mut client,
        ApiKey::InitProducerId,
        "InitProducerId (idempotent producer)",
        RequestKind::InitProducerId(init),
        |r| match r {
            ResponseKind::InitProducerId(i) if i.error_code == 0 && i.producer_id.0 >= 0 => {
                Ok(format!("producer id {}, epoch {}", i.producer_id.0, i.producer_epoch))
            }
            ResponseKind::InitProducerId(i) => {
                Err(format!("answered {} with producer id {}", error_name(i.error_code), i.producer_id.0))
            }
            _ => Err("another response type".into()),
        },
    )
    .await;

    // v4 batches keys (KIP-699); a field the version lacks must stay unset.
    let group = StrBytes::from_string(format!("{topic}-group"));
    let find = match client.version_for(ApiKey::FindCoordinator) {
        Ok(v) if v >= 4 => FindCoordinatorRequest::default().with_key_type(0).with_coordinator_keys(vec![group]),
        Ok(v) if v >= 1 => FindCoordinatorRequest::default().with_key_type(0).with_key(group),
        _ => FindCoordinatorRequest::default().with_key(group),
    };
    p.call(&mut client, ApiKey::FindCoordinator, "FindCoordinator (group)", RequestKind::FindCoordinator(find), |r| {
        let ResponseKind::FindCoordinator(f) = r else { return Err("another response type".into()) };
        let code = f.coordinators.first().map_or(f.error_code, |c| c.error_code);
        match error_name(code).as_str() {
            // Kafka answers this while it creates __consumer_offsets: clients retry.
            "NONE" | "COORDINATOR_NOT_AVAILABLE" => Ok(format!("answered {}", error_name(code))),
            other => Err(format!("answered {other}")),
        }
    })
    .await;

    Ok(probes)
}

/// Encodes the preflight batch: `RECORDS` keyless records, one batch, CreateTime `now` to
/// `now + RECORDS - 1` so that the largest timestamp is the last record's.
fn encode(topic: &str, now: i64) -> Result<Bytes, String> {
    let records: Vec<crate::history::Record> =
        (0..RECORDS).map(|i| crate::history::Record::value(format!("{topic}-{i}"))).collect();
    let timestamps: Vec<i64> = (0..RECORDS).map(|i| now + i).collect();
    crate::batches::encode_stamped(&records, Compression::None, &timestamps, crate::batches::ProducerFields::NONE)
}

struct Prober<'a> {
    probes: &'a mut Vec<Probe>,
    timeout: Duration,
    bootstrap: &'a [String],
}

impl Prober<'_> {
    /// Sends one request and records the probe: `judge` turns the answer into a detail (ok) or
    /// the difference from Kafka.
    async fn call(
        &mut self,
        client: &mut WireClient,
        key: ApiKey,
        operation: &str,
        req: RequestKind,
        judge: impl FnOnce(&ResponseKind) -> Result<String, String>,
    ) {
        let api = format!("{key:?}");
        // Fetch v13+ names topics by id; the probes name them.
        let answer = match client.version_for(key) {
            Ok(v) if key == ApiKey::Fetch => client.request_at(req, v.min(12)).await,
            Ok(v) => client.request_at(req, v).await,
            Err(e) => Err(e),
        };
        let (status, detail) = match answer {
            Err(WireError::Unsupported { .. }) => (Status::NotAdvertised, "not in ApiVersions".to_string()),
            Err(e) => {
                let detail = match &e {
                    WireError::ClosedOn { .. } => {
                        format!("{e}: Kafka answers every well-formed request of a version it advertises")
                    }
                    other => other.to_string(),
                };
                // A closed connection cannot carry the next probes.
                if let Some(fresh) = self.reconnect().await {
                    *client = fresh;
                }
                (Status::DiffersFromKafka, detail)
            }
            Ok(resp) => match judge(&resp) {
                Ok(d) => (Status::Ok, d),
                Err(d) => (Status::DiffersFromKafka, d),
            },
        };
        self.probes.push(Probe { operation: operation.to_string(), api, status, detail });
    }

    async fn reconnect(&self) -> Option<WireClient> {
        for addr in self.bootstrap {
            if let Ok(c) = WireClient::connect(addr, self.timeout).await {
                return Some(c);
            }
        }
        None
    }

    /// A connection to the preflight partition's leader, waiting for it to have one. Without
    /// CreateTopics, Metadata creates the topic (`auto.create.topics.enable`, Kafka's default),
    /// as the suite's topic steps do.
    async fn leader(&mut self, client: &mut WireClient, topic: &str) -> Option<WireClient> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        if client.advertised(ApiKey::CreateTopics).is_none() {
            let req = MetadataRequest::default().with_topics(Some(vec![
                kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string(topic.to_string())))),
            ]));
            let _ = client.request(RequestKind::Metadata(req)).await;
        }
        loop {
            if let Ok(view) = crate::metadata::fetch(client, "preflight", &[topic.to_string()]).await
                && let Some(p) = view.partition(topic, 0)
                && p.has_leader()
                && let Some(addr) = view.brokers.get(&p.leader)
                && let Ok(c) = WireClient::connect(addr, self.timeout).await
            {
                return Some(c);
            }
            if tokio::time::Instant::now() >= deadline {
                self.probes.push(Probe {
                    operation: "Metadata for the preflight topic".into(),
                    api: "Metadata".into(),
                    status: Status::DiffersFromKafka,
                    detail: format!(
                        "{topic}-0 had no reachable leader within {} ms of its creation",
                        self.timeout.as_millis()
                    ),
                });
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The probes as a Markdown table.
pub fn table(probes: &[Probe]) -> String {
    let mut s = String::from("| operation | result | what the broker did |\n|---|---|---|\n");
    for p in probes {
        let _ = writeln!(s, "| {} | {} | {} |", p.operation, p.status.label(), p.detail.replace('|', "\\|"));
    }
    s
}
