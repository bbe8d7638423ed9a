//! Network faults between the client and the broker, through toxiproxy. Every fault is healed
//! after the scenario whatever its result (`runner.rs`'s after-hook calls `Cluster::heal`).

use std::time::Duration;

use cucumber::{given, then, when};

use crate::checker::AnomalyKind;
use crate::faults::{Faults, NetworkFault};
use crate::history::Record;
use crate::kafka::{Session, Start};
use crate::world::{KafkaWorld, StepError, StepResult};

/// The proxies of the scenario's cluster, or "not supported" where the target has none.
async fn faults(w: &mut KafkaWorld) -> Result<(Faults, i32), StepError> {
    let cluster = w.cluster().await?;
    let (faults, refused) = (cluster.faults().cloned(), cluster.faults_refused().map(str::to_string));
    let faults = faults.ok_or_else(|| {
        w.unsupported(refused.unwrap_or_else(|| {
            "network faults need toxiproxy in front of the brokers (`kind.toxiproxy` in the target file)".into()
        }))
    })?;
    let node =
        faults.proxied_brokers().first().copied().ok_or_else(|| w.harness("the cluster has no proxied broker"))?;
    Ok((faults, node))
}

async fn apply(w: &mut KafkaWorld, fault: NetworkFault) -> StepResult {
    let (faults, node) = faults(w).await?;
    faults.apply(node, fault).await.map_err(|e| w.harness(e.to_string()))
}

#[given(expr = "the network between the client and the broker adds {int} ms of latency")]
async fn latency(w: &mut KafkaWorld, ms: u32) -> StepResult {
    apply(w, NetworkFault::Latency { ms, jitter_ms: 0, toxicity: 1.0 }).await
}

/// toxiproxy's `toxicity`: the share of connections a toxic applies to, drawn per connection.
#[given(
    expr = "the network between the client and the broker adds {int} ms of latency to a share of {float} of the connections"
)]
async fn latency_share(w: &mut KafkaWorld, ms: u32, toxicity: f32) -> StepResult {
    if !(0.0..=1.0).contains(&toxicity) {
        return Err(w.harness(format!("a share of connections is between 0 and 1, got {toxicity}")));
    }
    apply(w, NetworkFault::Latency { ms, jitter_ms: 0, toxicity }).await
}

#[given(expr = "the network between the client and the broker carries at most {int} KB\\/s")]
async fn bandwidth(w: &mut KafkaWorld, kb_per_s: u32) -> StepResult {
    apply(w, NetworkFault::Bandwidth { kb_per_s }).await
}

#[given(
    expr = "the network between the client and the broker delivers the broker's answers in pieces of about {int} bytes"
)]
async fn slicer(w: &mut KafkaWorld, average_bytes: u32) -> StepResult {
    apply(w, NetworkFault::Slicer { average_bytes }).await
}

#[given(
    expr = "the network between the client and the broker closes each connection after {int} bytes from the broker"
)]
async fn limit_data(w: &mut KafkaWorld, bytes: u32) -> StepResult {
    apply(w, NetworkFault::LimitData { bytes }).await
}

#[given(expr = "the network between the client and the broker closes connections {int} ms late")]
async fn slow_close(w: &mut KafkaWorld, ms: u32) -> StepResult {
    apply(w, NetworkFault::SlowClose { ms }).await
}

#[when("the network between the client and the broker is cut")]
async fn cut(w: &mut KafkaWorld) -> StepResult {
    apply(w, NetworkFault::Partition).await
}

#[when("the network heals")]
async fn heals(w: &mut KafkaWorld) -> StepResult {
    let (faults, _) = faults(w).await?;
    faults.heal().await.map_err(|e| w.harness(e.to_string()))
}

/// Resets the client's live connections `times` times, 10 ms apart, while `work` runs; the
/// resets stop early if the work ends first.
async fn with_resets<T>(
    faults: &Faults,
    node: i32,
    times: u32,
    work: impl std::future::Future<Output = T>,
) -> (T, u32, Option<String>) {
    tokio::pin!(work);
    let mut pace = tokio::time::interval(Duration::from_millis(10));
    pace.tick().await;
    let (mut done, mut error) = (0, None);
    loop {
        tokio::select! {
            out = &mut work => return (out, done, error),
            _ = pace.tick(), if done < times => {
                match faults.apply(node, NetworkFault::ResetPeer).await {
                    Ok(()) => done += 1,
                    Err(e) => { error = Some(e.to_string()); done = times; }
                }
            }
        }
    }
}

/// One producer sends the records while the client's connections are reset `times` times, 10 ms
/// apart. Should the records all be delivered before every reset has landed (a fast broker, or a
/// slow toxiproxy API on a busy machine), the producer sends as many again, up to 20 rounds, so
/// that every reset meets traffic: how many records that takes is not what the scenario is about.
#[when(
    expr = "{int} records are produced to partition {int} of {string} while the client's connections to the broker are reset {int} times"
)]
async fn produce_with_resets(w: &mut KafkaWorld, n: usize, partition: i32, topic: String, times: u32) -> StepResult {
    const ROUNDS: usize = 20;
    let (faults, node) = faults(w).await?;
    let bootstrap = w.bootstrap().await?;
    let real = w.topic(&topic);
    let process = w.next_process("producer");
    let (history, configs, timeout) = (w.history.clone(), w.producer_config.clone(), w.timeout());
    let session = Session { bootstrap: &bootstrap, configs: &configs, process: &process, history: &history, timeout };
    let producer = crate::kafka::Producer::new(&session).map_err(|e| w.harness(e))?;
    let landed = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let resets = {
        let (faults, landed) = (faults.clone(), landed.clone());
        tokio::spawn(async move {
            let mut pace = tokio::time::interval(Duration::from_millis(10));
            pace.tick().await;
            for _ in 0..times {
                pace.tick().await;
                faults.apply(node, NetworkFault::ResetPeer).await.map_err(|e| e.to_string())?;
                landed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            Ok::<(), String>(())
        })
    };
    for _ in 0..ROUNDS {
        let records: Vec<Record> =
            (0..n).map(|_| Record { key: None, value: Some(w.next_value(&process)), headers: Vec::new() }).collect();
        producer.send(&session, &real, Some(partition), &records).await;
        if resets.is_finished() {
            break;
        }
    }
    let done = landed.load(std::sync::atomic::Ordering::SeqCst);
    if !resets.is_finished() {
        resets.abort();
        return Err(w.harness(format!(
            "only {done} of {times} resets landed while {ROUNDS} rounds of {n} records were produced"
        )));
    }
    match resets.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(w.harness(e)),
        Err(e) => Err(w.harness(e.to_string())),
    }
}

#[when(
    expr = "a consumer reads partition {int} of {string} from the beginning while the client's connections to the broker are reset {int} times"
)]
async fn consume_with_resets(w: &mut KafkaWorld, partition: i32, topic: String, times: u32) -> StepResult {
    let (faults, node) = faults(w).await?;
    let bootstrap = w.bootstrap().await?;
    let real = w.topic(&topic);
    let until = crate::kafka::Until::acknowledged(&w.history, &real, partition, None, w.quiet());
    let process = w.next_process("consumer");
    let (history, configs, timeout) = (w.history.clone(), w.consumer_config.clone(), w.timeout());
    let session = Session { bootstrap: &bootstrap, configs: &configs, process: &process, history: &history, timeout };
    let work = crate::kafka::consume(&session, &real, partition, Start::Beginning, until);
    let (result, _, error) = with_resets(&faults, node, times, work).await;
    let consumed = result.map_err(|e| w.harness(e))?;
    if let Some(e) = error {
        return Err(w.harness(e));
    }
    w.consumer_error = consumed.error;
    w.stalled_reads.extend(consumed.stalled);
    Ok(())
}

/// Puts `fault` in place for `ms` while `n` records are produced by a producer that connected
/// and learned the metadata first (with the fault in place from the start, librdkafka could not
/// even bootstrap); then the network heals and the producer finishes.
async fn produce_during(
    w: &mut KafkaWorld,
    n: usize,
    partition: i32,
    topic: &str,
    fault: NetworkFault,
    ms: u64,
) -> StepResult {
    let (faults, node) = faults(w).await?;
    let bootstrap = w.bootstrap().await?;
    let real = w.topic(topic);
    let process = w.next_process("producer");
    let warm_up = vec![Record { key: None, value: Some(w.next_value(&process)), headers: Vec::new() }];
    let records: Vec<Record> =
        (0..n).map(|_| Record { key: None, value: Some(w.next_value(&process)), headers: Vec::new() }).collect();
    let (history, configs, timeout) = (w.history.clone(), w.producer_config.clone(), w.timeout());
    let session = Session { bootstrap: &bootstrap, configs: &configs, process: &process, history: &history, timeout };
    let producer = crate::kafka::Producer::new(&session).map_err(|e| w.harness(e))?;
    producer.send(&session, &real, Some(partition), &warm_up).await;
    faults.apply(node, fault).await.map_err(|e| w.harness(e.to_string()))?;
    let produce = producer.send(&session, &real, Some(partition), &records);
    tokio::pin!(produce);
    // The fault lasts `ms`: that is the fault itself, not a wait for an event.
    let heal_at = tokio::time::sleep(Duration::from_millis(ms));
    tokio::pin!(heal_at);
    let mut healed = false;
    loop {
        tokio::select! {
            () = &mut produce => break,
            _ = &mut heal_at, if !healed => {
                faults.heal().await.map_err(|e| w.harness(e.to_string()))?;
                healed = true;
            }
        }
    }
    if !healed {
        faults.heal().await.map_err(|e| w.harness(e.to_string()))?;
    }
    Ok(())
}

/// The broker's answers are held back (toxiproxy's `timeout` toxic on the downstream) for
/// `ms`, so the client times its request out and retries while the broker has already appended.
#[when(expr = "a record is produced to partition {int} of {string} while the broker's answers are lost for {int} ms")]
async fn answers_lost(w: &mut KafkaWorld, partition: i32, topic: String, ms: u64) -> StepResult {
    produce_during(w, 1, partition, &topic, NetworkFault::AnswersLost, ms).await
}

/// [`answers_lost`] for several records: with max.in.flight.requests.per.connection above 1,
/// several requests lose their answers together and are retried together.
#[when(
    expr = "{int} records are produced to partition {int} of {string} while the broker's answers are lost for {int} ms"
)]
async fn answers_lost_n(w: &mut KafkaWorld, n: usize, partition: i32, topic: String, ms: u64) -> StepResult {
    produce_during(w, n, partition, &topic, NetworkFault::AnswersLost, ms).await
}

#[when(
    expr = "{int} records are produced to partition {int} of {string} while the network between the client and the broker is cut for {int} ms"
)]
async fn produce_while_cut(w: &mut KafkaWorld, n: usize, partition: i32, topic: String, ms: u64) -> StepResult {
    produce_during(w, n, partition, &topic, NetworkFault::Partition, ms).await
}

#[when(
    expr = "{int} records are produced to partition {int} of {string} while the network between the client and the broker is silent for {int} ms"
)]
async fn produce_while_silent(w: &mut KafkaWorld, n: usize, partition: i32, topic: String, ms: u64) -> StepResult {
    produce_during(w, n, partition, &topic, NetworkFault::Silence, ms).await
}

#[then("every acknowledged record is read at least once")]
async fn at_least_once(w: &mut KafkaWorld) -> StepResult {
    w.judge(&[AnomalyKind::LostWrite, AnomalyKind::Unseen])
}

/// A demonstration: the scenario expects this anomaly. Its absence means the fault did not
/// create the situation the scenario shows, which says nothing against the broker.
#[then(expr = "the checker finds {word}")]
async fn finds(w: &mut KafkaWorld, name: String) -> StepResult {
    let kind = AnomalyKind::from_name(&name)
        .ok_or_else(|| w.harness(format!("{name:?} is not an anomaly the checker knows")))?;
    let report = crate::checker::check(&w.history.events());
    if report.of_kind(kind).next().is_none() {
        return Err(w.harness(format!(
            "the checker found no {name}: the fault did not produce the situation this scenario shows"
        )));
    }
    println!("as expected:\n{}", report.render(&[kind]));
    Ok(())
}
