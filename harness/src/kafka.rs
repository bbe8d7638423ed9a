//! Real-client operations through librdkafka (`rdkafka`), recorded in the history.
//!
//! Configuration uses Kafka's names verbatim; librdkafka accepts the same names for everything
//! the suite sets, except `auto.offset.reset=none`, which librdkafka spells `error`.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header as RdHeader, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use crate::history::{Header, History, Op, Outcome, Read, Record};

/// Kafka's error name (`MESSAGE_TOO_LARGE`) for a protocol error code.
pub fn error_name(code: i16) -> String {
    match kafka_protocol::ResponseError::try_from_code(code) {
        None => "NONE".into(),
        Some(kafka_protocol::ResponseError::Unknown(c)) => format!("UNKNOWN_ERROR_CODE_{c}"),
        Some(e) => screaming_snake(&format!("{e:?}")),
    }
}

fn screaming_snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// What a librdkafka error means in Kafka's terms: the broker's error name where there is one,
/// and whether the outcome is unknown (a timeout) rather than a failure.
pub fn classify(err: &KafkaError) -> (String, bool) {
    let code = match err {
        KafkaError::MessageProduction(c) | KafkaError::MessageConsumption(c) | KafkaError::Global(c) => Some(*c),
        _ => err.rdkafka_error_code(),
    };
    match code {
        // librdkafka raises this only when the broker answered OFFSET_OUT_OF_RANGE and
        // auto.offset.reset=none ("error") forbids a reset.
        Some(RDKafkaErrorCode::AutoOffsetReset) => ("OFFSET_OUT_OF_RANGE".into(), false),
        Some(
            c @ (RDKafkaErrorCode::MessageTimedOut
            | RDKafkaErrorCode::RequestTimedOut
            | RDKafkaErrorCode::OperationTimedOut),
        ) => (format!("{c:?}"), true),
        Some(c) if (c as i32) > 0 => (error_name(c as i32 as i16), false),
        // librdkafka's own name: the record was fine, another one of its batch was not (KIP-467).
        Some(RDKafkaErrorCode::InvalidDifferentRecord) => ("_INVALID_DIFFERENT_RECORD".into(), false),
        Some(c) => (format!("{c:?}"), false),
        None => (err.to_string(), false),
    }
}

/// A consumed message as the history records it: key, value (lossy UTF-8) and headers.
pub fn record_of<M: Message>(m: &M) -> Record {
    let headers = m
        .headers()
        .map(|hs| hs.iter().map(|h| Header { key: h.key.to_string(), value: h.value.map(<[u8]>::to_vec) }).collect())
        .unwrap_or_default();
    Record {
        key: m.key().map(<[u8]>::to_vec),
        value: m.payload().map(|p| String::from_utf8_lossy(p).into_owned()),
        headers,
    }
}

/// The topics librdkafka lists when asked for every topic's metadata (`rd_kafka_metadata` with
/// all topics: what `list_topics()` and regex subscriptions rely on).
pub async fn list_topics(bootstrap: &str, timeout: Duration) -> Result<Vec<String>, String> {
    let bootstrap = bootstrap.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer: rdkafka::consumer::BaseConsumer = client_config(&bootstrap, &BTreeMap::new())
            .create()
            .map_err(|e| format!("creating a librdkafka client: {e}"))?;
        let metadata = consumer.fetch_metadata(None, timeout).map_err(|e| e.to_string())?;
        Ok(metadata.topics().iter().map(|t| t.name().to_string()).collect())
    })
    .await
    .map_err(|e| format!("the listing thread failed: {e}"))?
}

fn client_config(bootstrap: &str, configs: &BTreeMap<String, String>) -> ClientConfig {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", bootstrap);
    for (k, v) in configs {
        let v = if k == "auto.offset.reset" && v == "none" { "error" } else { v.as_str() };
        cfg.set(k, v);
    }
    cfg
}

/// What librdkafka says when a producer is created with these configs (Kafka's names), before
/// it connects anywhere: `None` when it accepts them. No bootstrap servers are set, so the
/// producer, if created, is dropped without ever reaching a broker.
pub fn producer_config_error(configs: &BTreeMap<String, String>) -> Option<String> {
    let mut cfg = ClientConfig::new();
    for (k, v) in configs {
        cfg.set(k, v);
    }
    cfg.create::<FutureProducer>().err().map(|e| e.to_string())
}

/// Who is acting, where, and where it is recorded: shared by every librdkafka operation.
pub struct Session<'a> {
    pub bootstrap: &'a str,
    /// Client configs with Kafka's names.
    pub configs: &'a BTreeMap<String, String>,
    /// The history's name for this client.
    pub process: &'a str,
    pub history: &'a History,
    /// How long an operation may take before its outcome is unknown.
    pub timeout: Duration,
}

/// Sends records in order to one partition (or let the partitioner choose with `None`), all
/// enqueued before any is awaited so that up to `max.in.flight.requests.per.connection`
/// requests are really in flight. Each send is recorded in the order it was issued.
pub async fn produce(s: &Session<'_>, topic: &str, partition: Option<i32>, records: &[Record]) -> Result<(), String> {
    Producer::new(s)?.send(s, topic, partition, records).await;
    Ok(())
}

/// A librdkafka producer that outlives one batch of sends: a fault can be put in place after it
/// has connected and learned the cluster's metadata.
pub struct Producer {
    inner: FutureProducer,
}

impl Producer {
    pub fn new(s: &Session<'_>) -> Result<Producer, String> {
        let mut cfg = client_config(s.bootstrap, s.configs);
        if !s.configs.contains_key("message.timeout.ms") && !s.configs.contains_key("delivery.timeout.ms") {
            cfg.set("message.timeout.ms", s.timeout.as_millis().to_string());
        }
        let inner: FutureProducer = cfg.create().map_err(|e| format!("cannot create the producer: {e}"))?;
        Ok(Producer { inner })
    }

    /// Sends records in order, all enqueued before any is awaited, and records each send.
    pub async fn send(&self, s: &Session<'_>, topic: &str, partition: Option<i32>, records: &[Record]) {
        self.send_observed(s, topic, partition, records, None).await;
    }

    /// [`Producer::send`], counting acknowledged sends into `acked` as they complete (in the
    /// order sent), so that a step can act once some are acknowledged.
    pub async fn send_observed(
        &self,
        s: &Session<'_>,
        topic: &str,
        partition: Option<i32>,
        records: &[Record],
        acked: Option<&tokio::sync::watch::Sender<usize>>,
    ) {
        let producer = &self.inner;
        let mut pending = Vec::with_capacity(records.len());
        for r in records {
            let mut headers = OwnedHeaders::new();
            for h in &r.headers {
                headers = headers.insert(RdHeader { key: &h.key, value: h.value.as_deref() });
            }
            let mut rec: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).headers(headers);
            if let Some(p) = partition {
                rec = rec.partition(p);
            }
            if let Some(k) = &r.key {
                rec = rec.key(k.as_slice());
            }
            if let Some(v) = &r.value {
                rec = rec.payload(v.as_bytes());
            }
            pending.push(producer.send_result(rec).map_err(|(e, _)| e));
        }
        // librdkafka treats a DUPLICATE_SEQUENCE_NUMBER answer as delivered but reports its
        // batch at offsets counted from -1 ("offset and timestamp will be invalid",
        // rdkafka_request.c, rd_kafka_handle_Produce_error): -1, 0, 1, ... in send order. Those
        // are acknowledged at an unknown offset, never at the numbers reported. Per partition:
        // the next offset such a run would report.
        let mut invalid_run: std::collections::HashMap<i32, i64> = std::collections::HashMap::new();
        for (r, fut) in records.iter().zip(pending) {
            let (partition_seen, offset, outcome) = match fut {
                Err(e) => {
                    let (name, _) = classify(&e);
                    (partition.unwrap_or(-1), None, Outcome::Fail { error: name })
                }
                Ok(f) => match f.await {
                    Ok(Ok(d)) => {
                        let invalid = d.offset < 0 || invalid_run.get(&d.partition) == Some(&d.offset);
                        if invalid {
                            invalid_run.insert(d.partition, d.offset + 1);
                        } else {
                            invalid_run.remove(&d.partition);
                        }
                        (d.partition, (!invalid).then_some(d.offset), Outcome::Ok)
                    }
                    Ok(Err((e, _))) => {
                        let (name, unknown) = classify(&e);
                        let outcome =
                            if unknown { Outcome::Unknown { error: name } } else { Outcome::Fail { error: name } };
                        (partition.unwrap_or(-1), None, outcome)
                    }
                    Err(_) => (
                        partition.unwrap_or(-1),
                        None,
                        Outcome::Unknown { error: "producer dropped the delivery".into() },
                    ),
                },
            };
            let ok = outcome.is_ok();
            s.history.record(
                s.process,
                Op::Send {
                    topic: topic.to_string(),
                    partition: partition_seen,
                    record: r.clone(),
                    offset,
                    timestamp: None,
                },
                outcome,
            );
            if let (true, Some(acked)) = (ok, acked) {
                acked.send_modify(|n| *n += 1);
            }
        }
    }
}

/// A librdkafka transactional producer (`transactional.id`, KIP-98): each call is one of the
/// producer API's transaction calls, run off the async threads (librdkafka blocks on them).
/// Errors are librdkafka's text, naming Kafka's error.
#[derive(Clone)]
pub struct TxnProducer {
    inner: FutureProducer,
    timeout: Duration,
}

/// One record sent in a transaction and where its delivery report put it.
pub struct TxnSend {
    pub partition: i32,
    pub record: Record,
    /// The offset of the delivery report; `Err` names why it was not delivered.
    pub delivered: Result<i64, String>,
}

impl TxnProducer {
    /// Creates the producer and calls `init_transactions` (InitProducerId for the id).
    pub async fn start(s: &Session<'_>, transactional_id: &str) -> Result<TxnProducer, String> {
        let mut cfg = client_config(s.bootstrap, s.configs);
        cfg.set("transactional.id", transactional_id);
        if !s.configs.contains_key("message.timeout.ms") && !s.configs.contains_key("delivery.timeout.ms") {
            cfg.set("message.timeout.ms", s.timeout.as_millis().to_string());
        }
        let inner: FutureProducer = cfg.create().map_err(|e| format!("cannot create the producer: {e}"))?;
        let p = TxnProducer { inner, timeout: s.timeout };
        p.blocking("init_transactions", |p, t| {
            use rdkafka::producer::Producer as _;
            p.init_transactions(t)
        })
        .await?;
        Ok(p)
    }

    async fn blocking(
        &self,
        what: &str,
        call: impl FnOnce(&FutureProducer, Duration) -> Result<(), KafkaError> + Send + 'static,
    ) -> Result<(), String> {
        let (inner, timeout) = (self.inner.clone(), self.timeout);
        let what = what.to_string();
        tokio::task::spawn_blocking(move || call(&inner, timeout).map_err(|e| format!("{what}: {e}")))
            .await
            .map_err(|e| format!("the transaction call did not finish: {e}"))?
    }

    pub async fn begin(&self) -> Result<(), String> {
        use rdkafka::producer::Producer as _;
        self.inner.begin_transaction().map_err(|e| format!("begin_transaction: {e}"))
    }

    /// Sends records to partitions in turn (`partitions[i % len]`), all enqueued before any is
    /// awaited, and waits for every delivery report.
    pub async fn send(&self, topic: &str, partitions: &[i32], records: &[Record]) -> Vec<TxnSend> {
        let mut pending = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            let partition = partitions[i % partitions.len().max(1)];
            let mut rec: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).partition(partition);
            if let Some(k) = &r.key {
                rec = rec.key(k.as_slice());
            }
            if let Some(v) = &r.value {
                rec = rec.payload(v.as_bytes());
            }
            pending.push((partition, r.clone(), self.inner.send_result(rec).map_err(|(e, _)| e)));
        }
        let mut out = Vec::with_capacity(pending.len());
        for (partition, record, fut) in pending {
            let delivered = match fut {
                Err(e) => Err(classify(&e).0),
                Ok(f) => match f.await {
                    Ok(Ok(d)) => Ok(d.offset),
                    Ok(Err((e, _))) => Err(classify(&e).0),
                    Err(_) => Err("producer dropped the delivery".into()),
                },
            };
            out.push(TxnSend { partition, record, delivered });
        }
        out
    }

    /// `send_offsets_to_transaction` for a group that is not joined (generation -1, as a
    /// simple consumer's group metadata).
    pub async fn send_offsets(
        &self,
        bootstrap: &str,
        group: &str,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<(), String> {
        use rdkafka::consumer::BaseConsumer;
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", bootstrap).set("group.id", group);
        let consumer: BaseConsumer = cfg.create().map_err(|e| format!("cannot create the consumer: {e}"))?;
        let metadata = consumer.group_metadata().ok_or("the consumer has no group metadata")?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Offset(offset)).map_err(|e| e.to_string())?;
        self.blocking("send_offsets_to_transaction", move |p, t| {
            use rdkafka::producer::Producer as _;
            p.send_offsets_to_transaction(&tpl, &metadata, t)
        })
        .await
    }

    pub async fn commit(&self) -> Result<(), String> {
        self.blocking("commit_transaction", |p, t| {
            use rdkafka::producer::Producer as _;
            p.commit_transaction(t)
        })
        .await
    }

    pub async fn abort(&self) -> Result<(), String> {
        self.blocking("abort_transaction", |p, t| {
            use rdkafka::producer::Producer as _;
            p.abort_transaction(t)
        })
        .await
    }
}

/// Where a consumer starts.
#[derive(Debug, Clone, Copy)]
pub enum Start {
    Beginning,
    End,
    At(i64),
    /// The group's committed offset (the consumer's `group.id` names the group), or where
    /// auto.offset.reset says when there is none.
    Committed,
}

/// What a consume run ended with.
#[derive(Debug, Default)]
pub struct Consumed {
    pub reads: usize,
    /// The error that ended consumption, by Kafka's name.
    pub error: Option<String>,
    /// Errors librdkafka reported and recovered from (recorded in the history as failed polls).
    pub transient_errors: usize,
    pub ended: ReadEnd,
    /// Acknowledged values the read did not find.
    pub unread: usize,
    /// How the read stopped, when it stopped without reaching the partition's end because
    /// nothing arrived: what a reader of a verdict needs to tell silence from loss.
    pub stalled: Option<String>,
}

/// Errors after which a consumer makes no progress without the application's help. Everything
/// a leader change raises is transient and keeps the read going: NOT_LEADER_OR_FOLLOWER,
/// FENCED_LEADER_EPOCH and UNKNOWN_LEADER_EPOCH make librdkafka refresh Metadata and fetch from
/// the new leader, and a new leader epoch makes it validate its position first (KIP-320),
/// reporting a truncated log as an error event it recovers from.
fn ends_consumption(err: &KafkaError) -> bool {
    let code = match err {
        KafkaError::MessageConsumption(c) | KafkaError::Global(c) => Some(*c),
        _ => err.rdkafka_error_code(),
    };
    matches!(
        code,
        Some(
            RDKafkaErrorCode::AutoOffsetReset
                | RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::TopicAuthorizationFailed
        )
    )
}

/// When a read of one partition is done. The read judges this from what it reads itself,
/// never from another API's answer (a wrong ListOffsets must not look like lost records): it
/// ends once it has found every value in `acked` and librdkafka reports the end of the
/// partition (the Fetch high watermark reached), or once it is at the end and the log has not
/// grown for `quiet`, or after `count` records, or on an error that ends consumption. With
/// nothing arriving at all it gives up after the session's request timeout.
#[derive(Debug, Clone, Default)]
pub struct Until {
    /// Values acknowledged to the partition that the read should find.
    pub acked: std::collections::HashSet<String>,
    /// Stop after this many records.
    pub count: Option<usize>,
    /// How long the log may stay still at its end, with acknowledged values unread, before the
    /// read stops (the target's `timeouts.quiet_ms`).
    pub quiet: Duration,
}

impl Until {
    /// Everything acknowledged to `topic`-`partition` in the history so far, at `from` or above
    /// (or at an unknown offset), with a value to recognise it by.
    pub fn acknowledged(history: &History, topic: &str, partition: i32, from: Option<i64>, quiet: Duration) -> Until {
        let acked = history
            .events()
            .into_iter()
            .filter(|e| e.outcome.is_ok())
            .filter_map(|e| match e.op {
                Op::Send { topic: t, partition: p, record, offset, .. }
                    if t == topic && p == partition && offset.is_none_or(|o| from.is_none_or(|f| o >= f)) =>
                {
                    record.value
                }
                _ => None,
            })
            .collect();
        Until { acked, count: None, quiet }
    }
}

/// Why a read stopped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum ReadEnd {
    /// Every acknowledged value was read and the partition's end reached.
    #[default]
    AllFound,
    /// At the partition's end, the log did not grow for the quiet period.
    Quiet,
    /// The requested number of records was read.
    Count,
    /// An error that ends consumption.
    Error,
    /// Nothing arrived, not even the end of the partition, for a request timeout.
    Silent,
}

/// Reads one partition with an assigned (not subscribed) consumer until `until` says it is done.
pub async fn consume(
    s: &Session<'_>,
    topic: &str,
    partition: i32,
    start: Start,
    until: Until,
) -> Result<Consumed, String> {
    let (configs, process, history, idle) = (s.configs, s.process, s.history, s.timeout);
    let mut cfg = client_config(s.bootstrap, configs);
    // librdkafka refuses assign() without a group id. This consumer never commits, so it needs
    // no group coordinator; a unique id keeps consumers of one scenario apart.
    if !configs.contains_key("group.id") {
        cfg.set("group.id", format!("kafka-conformance-{process}"));
    }
    cfg.set("enable.auto.commit", "false");
    // librdkafka reports the end of the partition each time a fetch reaches the high watermark.
    cfg.set("enable.partition.eof", "true");
    let consumer: StreamConsumer = cfg.create().map_err(|e| format!("cannot create the consumer: {e}"))?;
    let mut tpl = TopicPartitionList::new();
    let offset = match start {
        Start::Beginning => Offset::Beginning,
        Start::End => Offset::End,
        Start::At(n) => Offset::Offset(n),
        Start::Committed => Offset::Stored,
    };
    tpl.add_partition_offset(topic, partition, offset).map_err(|e| e.to_string())?;
    consumer.assign(&tpl).map_err(|e| format!("cannot assign {topic}-{partition}: {e}"))?;
    history.record(
        process,
        Op::Seek { topic: topic.to_string(), partition, offset: if let Start::At(n) = start { Some(n) } else { None } },
        Outcome::Ok,
    );
    let mut out = Consumed::default();
    let mut missing = until.acked.clone();
    let mut at_end = false;
    loop {
        if until.count.is_some_and(|c| out.reads >= c) {
            out.ended = ReadEnd::Count;
            break;
        }
        if at_end && missing.is_empty() && until.count.is_none() {
            out.ended = ReadEnd::AllFound;
            break;
        }
        let wait = if at_end { until.quiet } else { idle };
        match tokio::time::timeout(wait, consumer.recv()).await {
            Err(_) => {
                out.ended = if at_end { ReadEnd::Quiet } else { ReadEnd::Silent };
                if !at_end {
                    out.stalled = Some(format!(
                        "{process} reading {topic}-{partition}: after {} records, nothing arrived for {} ms, not even the \
                         partition's end ({} acknowledged records unread)",
                        out.reads,
                        wait.as_millis(),
                        missing.len()
                    ));
                }
                break;
            }
            Ok(Ok(m)) => {
                at_end = false;
                let record = record_of(&m);
                if let Some(v) = &record.value {
                    missing.remove(v);
                }
                history.record(
                    process,
                    Op::Poll {
                        reads: vec![Read {
                            topic: m.topic().to_string(),
                            partition: m.partition(),
                            offset: m.offset(),
                            record,
                        }],
                    },
                    Outcome::Ok,
                );
                out.reads += 1;
            }
            Ok(Err(KafkaError::PartitionEOF(_))) => at_end = true,
            Ok(Err(e)) => {
                let (mut name, _) = classify(&e);
                // From the committed offset, librdkafka raises the same error whether the group
                // has no committed offset or its offset is out of range, and says which only in
                // a text rust-rdkafka does not pass on: its own name, then.
                if matches!(start, Start::Committed)
                    && e.rdkafka_error_code() == Some(RDKafkaErrorCode::AutoOffsetReset)
                {
                    name = "_AUTO_OFFSET_RESET".into();
                }
                history.record(process, Op::Poll { reads: Vec::new() }, Outcome::Fail { error: name.clone() });
                // Only an error that ends consumption stops the read (auto.offset.reset=none
                // refusing to reset). Transient ones, such as a transport failure after a
                // connection reset, librdkafka recovers from by itself, as applications see.
                if ends_consumption(&e) {
                    out.error = Some(name);
                    out.ended = ReadEnd::Error;
                    break;
                }
                out.transient_errors += 1;
            }
        }
    }
    out.unread = missing.len();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// librdkafka checks this when the producer is created (`rd_kafka_new`), before any
    /// connection: the idempotent producer keeps at most 5 requests in flight, the window the
    /// broker deduplicates (KIP-98).
    #[test]
    fn librdkafka_refuses_more_than_five_in_flight_with_idempotence() {
        let configs = |in_flight: &str| {
            BTreeMap::from([
                ("enable.idempotence".to_string(), "true".to_string()),
                ("max.in.flight.requests.per.connection".to_string(), in_flight.to_string()),
            ])
        };
        let refused = producer_config_error(&configs("6"));
        println!("librdkafka says: {refused:?}");
        assert!(refused.is_some_and(|e| e.contains("max.in.flight")));
        assert_eq!(producer_config_error(&configs("5")), None);
    }

    #[test]
    fn error_names_are_kafkas() {
        assert_eq!(error_name(10), "MESSAGE_TOO_LARGE");
        assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(40), "INVALID_CONFIG");
        assert_eq!(error_name(1), "OFFSET_OUT_OF_RANGE");
        assert_eq!(error_name(0), "NONE");
    }
}
