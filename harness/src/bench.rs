//! `kafka-conformance bench`: what replication costs a producer. Not a test and not timed by
//! the suite: it measures produce throughput and acknowledgement latency with librdkafka, the
//! way Kafka's `kafka-producer-perf-test` does (records sent as fast as the producer takes them,
//! latency from `send` to the delivery report), for two cases:
//! - `acks=1` to a partition with replication factor 1;
//! - `acks=all` to a partition with replication factor 3 (on a target with fewer brokers, as
//!   many as it has, and the table says so).
//!
//! On the reference target it starts a reference cluster of three brokers; on any other target
//! it uses the brokers the target has.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{CreateTopicsRequest, RequestKind, ResponseKind, TopicName};
use kafka_protocol::protocol::StrBytes;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::cluster::{Cluster, ClusterSpec, Launcher};
use crate::target::Target;
use crate::wire::WireClient;

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    pub records: usize,
    pub record_bytes: usize,
}

/// One measured case: a row of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub case: String,
    pub records: usize,
    pub failed: usize,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub record_bytes: usize,
}

impl Row {
    pub fn records_per_s(&self) -> f64 {
        (self.records - self.failed) as f64 / self.seconds.max(f64::EPSILON)
    }

    pub fn mb_per_s(&self) -> f64 {
        self.records_per_s() * self.record_bytes as f64 / (1024.0 * 1024.0)
    }
}

/// The table `bench` prints.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<32} {:>8} {:>10} {:>8} {:>8} {:>8} {:>7}",
        "case", "records", "records/s", "MB/s", "p50 ms", "p99 ms", "failed"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<32} {:>8} {:>10.0} {:>8.1} {:>8.2} {:>8.2} {:>7}",
            r.case,
            r.records,
            r.records_per_s(),
            r.mb_per_s(),
            r.p50_ms,
            r.p99_ms,
            r.failed
        );
    }
    out
}

/// The value at quantile `q` of sorted samples (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Runs both cases against the target and returns the rows; progress goes to stderr.
pub fn run(target: &Target, launcher: Option<&Launcher>, options: &Options) -> Result<Vec<Row>, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
    runtime.block_on(run_async(target, launcher, options))
}

async fn run_async(target: &Target, launcher: Option<&Launcher>, options: &Options) -> Result<Vec<Row>, String> {
    let spec = ClusterSpec { brokers: if target.is_reference() { 3 } else { 1 }, ..ClusterSpec::default() };
    if target.is_reference() {
        eprintln!("starting a reference cluster of 3 brokers ...");
    }
    let cluster = Cluster::start(target, launcher, &spec).await.map_err(|e| e.to_string())?;
    let timeout = Duration::from_millis(target.timeouts.request_ms);
    let bootstrap = cluster.bootstrap();
    let addr = cluster.bootstrap_addrs().first().cloned().unwrap_or_default();
    let mut client = WireClient::connect(&addr, timeout).await.map_err(|e| format!("{addr}: {e}"))?;
    let brokers = crate::metadata::fetch(&mut client, &addr, &[]).await.map_err(|e| e.to_string())?.brokers.len();
    let rf_all = brokers.clamp(1, 3) as i16;
    if rf_all < 3 {
        eprintln!("the target lists {brokers} broker(s): the acks=all case uses replication factor {rf_all}");
    }
    let suffix = format!("{:x}", std::process::id());
    let mut rows = Vec::new();
    for (acks, rf) in [("1", 1i16), ("all", rf_all)] {
        let case = format!("acks={acks}, replication factor {rf}");
        let topic = format!("bench-acks-{acks}-rf-{rf}-{suffix}");
        create_topic(&mut client, &addr, &topic, rf, timeout).await?;
        eprintln!("{case}: producing {} records of {} bytes to {topic} ...", options.records, options.record_bytes);
        rows.push(produce(&bootstrap, &topic, acks, &case, options, timeout).await?);
    }
    drop(cluster);
    Ok(rows)
}

/// Creates a one-partition topic and waits until its partition has a leader and a full ISR.
async fn create_topic(
    client: &mut WireClient,
    addr: &str,
    topic: &str,
    rf: i16,
    timeout: Duration,
) -> Result<(), String> {
    let t = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(topic.to_string())))
        .with_num_partitions(1)
        .with_replication_factor(rf);
    let req = CreateTopicsRequest::default().with_topics(vec![t]).with_timeout_ms(timeout.as_millis() as i32);
    match client.request(RequestKind::CreateTopics(req)).await.map_err(|e| e.to_string())? {
        ResponseKind::CreateTopics(r) => {
            let code = r.topics.first().map_or(0, |t| t.error_code);
            if code != 0 {
                return Err(format!("creating {topic} failed with {}", crate::kafka::error_name(code)));
            }
        }
        _ => return Err("CreateTopics answered with another response type".into()),
    }
    let deadline = Instant::now() + timeout;
    let mut pace = tokio::time::interval(Duration::from_millis(50));
    loop {
        pace.tick().await;
        let view = crate::metadata::fetch(client, addr, &[topic.to_string()]).await.map_err(|e| e.to_string())?;
        if let Some(p) = view.partition(topic, 0)
            && p.has_leader()
            && crate::metadata::same_set(&p.isr, &p.replicas)
            && !p.replicas.is_empty()
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{topic} is not fully replicated after {} ms: {}",
                timeout.as_millis(),
                view.describe(topic, 0)
            ));
        }
    }
}

async fn produce(
    bootstrap: &str,
    topic: &str,
    acks: &str,
    case: &str,
    options: &Options,
    timeout: Duration,
) -> Result<Row, String> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", acks)
        .set("linger.ms", "5")
        .set("message.timeout.ms", (timeout.as_millis() * 3).to_string())
        .set("queue.buffering.max.messages", (options.records + 1000).to_string())
        .create()
        .map_err(|e| format!("cannot create the producer: {e}"))?;
    let payload = vec![b'x'; options.record_bytes];
    let started = Instant::now();
    let mut pending = futures::stream::FuturesUnordered::new();
    for _ in 0..options.records {
        let sent = Instant::now();
        let fut = producer
            .send_result(FutureRecord::<(), [u8]>::to(topic).partition(0).payload(payload.as_slice()))
            .map_err(|(e, _)| format!("the producer refused a record: {e}"))?;
        pending.push(async move { (fut.await, sent.elapsed()) });
    }
    let mut latencies = Vec::with_capacity(options.records);
    let (mut failed, mut done) = (0, 0);
    let step = (options.records / 10).max(1);
    while let Some((result, latency)) = pending.next().await {
        done += 1;
        match result {
            Ok(Ok(_)) => latencies.push(latency.as_secs_f64() * 1000.0),
            _ => failed += 1,
        }
        if done % step == 0 {
            eprintln!("{case}: {done}/{} acknowledged or failed", options.records);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    Ok(Row {
        case: case.to_string(),
        records: options.records,
        failed,
        seconds,
        p50_ms: quantile(&latencies, 0.50),
        p99_ms: quantile(&latencies, 0.99),
        record_bytes: options.record_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }

    #[test]
    fn the_table_names_each_case() {
        let row = Row {
            case: "acks=1, replication factor 1".into(),
            records: 10,
            failed: 0,
            seconds: 1.0,
            p50_ms: 1.0,
            p99_ms: 2.0,
            record_bytes: 1024,
        };
        let t = table(&[row]);
        assert!(t.contains("acks=1, replication factor 1"), "{t}");
        assert!(t.contains("records/s"), "{t}");
    }
}
