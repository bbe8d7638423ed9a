//! Seeded soaks (`harness/src/soak.rs` draws the plan): idempotent producers send on the plan's
//! schedule while the plan's faults come and go, one at a time; then every partition is read
//! back from its leader and the history judged.

use std::collections::BTreeMap;
use std::time::Duration;

use cucumber::{given, then, when};

use super::replication::{create_replicated, process_error, start_broker, stop_broker};
use crate::checker::AnomalyKind;
use crate::cluster::Stop;
use crate::faults::NetworkFault;
use crate::history::{Op, Outcome, Record};
use crate::kafka::{Producer, Session};
use crate::soak::{self, FaultKind, FaultStep};
use crate::world::{KafkaWorld, StepError, StepResult};

/// One producer's bursts: when (ms after the start), which partition (none: by key), what.
type Bursts = Vec<(u64, Option<i32>, Vec<Record>)>;

/// The topic with the replication factor asked for, or with as many replicas as the target has
/// brokers when it has fewer (a single-broker target gets replication factor 1).
#[given(expr = "a topic {string} with {int} partitions and replication factor {int}, or as many as there are brokers")]
async fn topic_up_to(w: &mut KafkaWorld, topic: String, partitions: i32, rf: i16) -> StepResult {
    let brokers = w.view(&[]).await?.brokers.len();
    let rf = rf.min(i16::try_from(brokers).unwrap_or(i16::MAX)).max(1);
    create_replicated(w, &topic, partitions, rf, Vec::new(), Vec::new()).await
}

/// What this target can put in place, of the faults asked for; the others are said and left out.
async fn usable_faults(w: &mut KafkaWorld, kinds: Vec<FaultKind>) -> Result<Vec<FaultKind>, StepError> {
    let processes = w.ctx()?.target.can_control_processes();
    let cluster = w.cluster().await?;
    // A broker that keeps nothing across a restart would lose acknowledged records to a kill by
    // design: killing it proves nothing about the guarantee.
    let volatile = cluster.volatile();
    let (network, links) = match cluster.faults() {
        Some(f) => (true, f.has_broker_links()),
        None => (false, false),
    };
    let mut usable = Vec::new();
    for kind in kinds {
        let missing = match kind {
            FaultKind::Kill | FaultKind::Pause | FaultKind::Leader if !processes => Some("no `process` commands"),
            FaultKind::Kill | FaultKind::Leader if volatile => Some("volatile storage (`process.volatile`)"),
            FaultKind::Isolate if !links => Some("no proxies between its brokers"),
            FaultKind::Latency if !network => Some("no proxies in front of its brokers"),
            _ => None,
        };
        match missing {
            Some(why) => println!("soak: fault {} left out: this target has {why}", kind.name()),
            None => usable.push(kind),
        }
    }
    Ok(usable)
}

/// The cluster's proxies; `usable_faults` has already left out the faults that need them where
/// there are none.
async fn proxies(w: &mut KafkaWorld) -> Result<crate::faults::Faults, StepError> {
    let faults = w.cluster().await?.faults().cloned();
    faults.ok_or_else(|| w.harness("the soak's plan needs proxies the cluster does not have"))
}

/// Puts one fault in place; returns the broker it touched.
async fn apply(w: &mut KafkaWorld, f: &FaultStep, brokers: &[i32], real: &str) -> Result<i32, StepError> {
    let node = brokers.get(f.broker).copied().ok_or_else(|| w.harness("the plan names a broker the target lacks"))?;
    match f.kind {
        FaultKind::Kill => stop_broker(w, node, Stop::Kill).await.map(|()| node),
        FaultKind::Pause => {
            let result = w.cluster().await?.pause(node).await;
            result.map_err(|e| process_error(w, e)).map(|()| node)
        }
        FaultKind::Isolate => {
            let faults = proxies(w).await?;
            let links = faults.replication_links_of(node);
            faults.cut(&links).await.map_err(|e| w.harness(e.to_string())).map(|()| node)
        }
        FaultKind::Latency => {
            let faults = proxies(w).await?;
            let fault = NetworkFault::Latency { ms: f.latency_ms, jitter_ms: 0, toxicity: 1.0 };
            faults.apply(node, fault).await.map_err(|e| w.harness(e.to_string())).map(|()| node)
        }
        FaultKind::Leader => {
            let view = w.view(&[real.to_string()]).await?;
            match view.partition(real, f.partition).filter(|p| p.has_leader()) {
                Some(p) => {
                    let leader = p.leader;
                    stop_broker(w, leader, Stop::Kill).await.map(|()| leader)
                }
                // No leader right now (the last fault's aftermath): nothing to kill this time.
                None => Ok(-1),
            }
        }
    }
}

async fn heal(w: &mut KafkaWorld, f: &FaultStep, node: i32) -> StepResult {
    match f.kind {
        FaultKind::Kill | FaultKind::Leader if node >= 0 => start_broker(w, node).await,
        FaultKind::Kill | FaultKind::Leader => Ok(()),
        FaultKind::Pause => {
            let result = w.cluster().await?.resume(node).await;
            result.map_err(|e| process_error(w, e))
        }
        FaultKind::Isolate => {
            let faults = proxies(w).await?;
            faults.heal_links().await.map_err(|e| w.harness(e.to_string()))
        }
        FaultKind::Latency => {
            let faults = proxies(w).await?;
            faults.heal().await.map_err(|e| w.harness(e.to_string()))
        }
    }
}

/// Runs the plan's faults in order, each healed when it ends; returns what was done, for the
/// verdict's reader.
async fn run_faults(
    w: &mut KafkaWorld,
    faults: &[FaultStep],
    brokers: &[i32],
    real: &str,
    start: tokio::time::Instant,
) -> Result<Vec<String>, StepError> {
    let mut done = Vec::new();
    for f in faults {
        tokio::time::sleep_until(start + Duration::from_millis(f.at_ms)).await;
        let began = start.elapsed().as_millis();
        let node = apply(w, f, brokers, real).await?;
        tokio::time::sleep_until(start + Duration::from_millis(f.at_ms + f.lasts_ms)).await;
        heal(w, f, node).await?;
        let on = if node >= 0 { format!("broker {node}") } else { "no broker (the partition had no leader)".into() };
        done.push(format!("{} {on} from {began} ms to {} ms", f.kind.name(), start.elapsed().as_millis()));
    }
    Ok(done)
}

/// The seeded soak: the plan for `seed` is drawn over the topic's partitions and the target's
/// brokers, printed, and run: producers send their bursts on time (each producer waits for a
/// burst's answers before its next) while the faults run.
#[when(expr = "a workload drawn from seed {int} runs on {string} for {int} seconds with the faults {string}")]
async fn workload(w: &mut KafkaWorld, seed: u64, topic: String, secs: u64, faults: String) -> StepResult {
    let kinds = FaultKind::parse_list(&faults).map_err(|e| w.harness(e))?;
    let asked = !kinds.is_empty();
    let kinds = usable_faults(w, kinds).await?;
    if asked && kinds.is_empty() {
        return Err(w.unsupported("this target can put none of the soak's faults in place"));
    }
    let real = w.topic(&topic);
    let view = w.view(std::slice::from_ref(&real)).await?;
    let partitions = view.partitions.keys().filter(|(t, _)| *t == real).count() as i32;
    if partitions == 0 {
        return Err(w.harness(format!("topic {real} has no partitions in Metadata: create it before the soak")));
    }
    let brokers: Vec<i32> = view.brokers.keys().copied().collect();
    let plan = soak::plan(seed, Duration::from_secs(secs), partitions, brokers.len(), &kinds);
    println!("{}", plan.render(&brokers));

    // Every record made before the clock starts; values unique, keys from each producer's key set.
    let names: Vec<String> = plan.producers.iter().map(|_| w.next_process("soak-producer")).collect();
    let mut work: Vec<Bursts> = vec![Vec::new(); plan.producers.len()];
    for (b, burst) in plan.bursts.iter().enumerate() {
        let keys = plan.producers[burst.producer].keys as usize;
        let records = (0..burst.records)
            .map(|j| {
                let value = w.next_value(&names[burst.producer]);
                let key = burst.partition.is_none().then(|| format!("key-{}", (b * 31 + j) % keys).into_bytes());
                Record { key, value: Some(value), headers: Vec::new() }
            })
            .collect();
        work[burst.producer].push((burst.at_ms, burst.partition, records));
    }
    let bootstrap = w.bootstrap().await?;
    let (history, timeout) = (w.history.clone(), w.timeout());
    let configs: Vec<BTreeMap<String, String>> = plan
        .producers
        .iter()
        .map(|p| {
            let mut c = w.producer_config.clone();
            c.extend(p.configs());
            c
        })
        .collect();
    let mut producers = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let session =
            Session { bootstrap: &bootstrap, configs: &configs[i], process: name, history: &history, timeout };
        producers.push(Producer::new(&session).map_err(|e| w.harness(e))?);
    }
    let start = tokio::time::Instant::now();
    let produce = futures::future::join_all(producers.iter().zip(work).enumerate().map(|(i, (producer, bursts))| {
        let session =
            Session { bootstrap: &bootstrap, configs: &configs[i], process: &names[i], history: &history, timeout };
        let real = &real;
        async move {
            for (at, partition, records) in bursts {
                tokio::time::sleep_until(start + Duration::from_millis(at)).await;
                producer.send(&session, real, partition, &records).await;
            }
        }
    }));
    let (_, done) = tokio::join!(produce, run_faults(w, &plan.faults, &brokers, &real, start));
    let done = done?;
    println!("soak: faults done: {}", if done.is_empty() { "none".to_string() } else { done.join("; ") });
    let (ok, all) = w.history.events().iter().fold((0, 0), |(ok, all), e| match (&e.op, &e.outcome) {
        (Op::Send { .. }, Outcome::Ok) => (ok + 1, all + 1),
        (Op::Send { .. }, _) => (ok, all + 1),
        _ => (ok, all),
    });
    println!("soak: {ok} of {all} sends acknowledged in {} ms", start.elapsed().as_millis());
    Ok(())
}

/// Reads every partition of the topic from the beginning with a librdkafka consumer (as an
/// application would, and unaffected by a broker's quirks in answers only the wire client
/// reads), each read going on until every record acknowledged to its partition is found or the
/// log stays still at its end; a partition with records still missing is read again, up to the
/// request timeout (a new leader's high watermark can trail for a moment). Then the whole history
/// is judged: nothing acknowledged lost or unread, nothing twice, each producer's acknowledged
/// records in its order, every offset one record.
#[then(expr = "every acknowledged record of {string} is read exactly once, in the order it was acknowledged")]
async fn read_back(w: &mut KafkaWorld, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let view = w.view(std::slice::from_ref(&real)).await?;
    let partitions: Vec<i32> = view.partitions.keys().filter(|(t, _)| *t == real).map(|(_, p)| *p).collect();
    let bootstrap = w.bootstrap().await?;
    let deadline = tokio::time::Instant::now() + w.timeout();
    let mut left = partitions;
    while !left.is_empty() {
        let mut again = Vec::new();
        for p in left {
            let until = crate::kafka::Until::acknowledged(&w.history, &real, p, None, w.quiet());
            let process = w.next_process("soak-reader");
            let session = Session {
                bootstrap: &bootstrap,
                configs: &w.consumer_config,
                process: &process,
                history: &w.history,
                timeout: w.timeout(),
            };
            let consumed = crate::kafka::consume(&session, &real, p, crate::kafka::Start::Beginning, until).await;
            let consumed = consumed.map_err(|e| w.harness(e))?;
            if consumed.unread > 0 {
                again.push(p);
            }
            w.stalled_reads.extend(consumed.stalled);
        }
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        left = again;
    }
    w.judge(&[
        AnomalyKind::LostWrite,
        AnomalyKind::Unseen,
        AnomalyKind::Duplicate,
        AnomalyKind::InconsistentOffsets,
        AnomalyKind::NonmonotonicSend,
        AnomalyKind::AlteredRecord,
    ])
}
