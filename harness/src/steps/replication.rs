//! Replication: clusters of several brokers, replicated topics, leaders that die or are cut off
//! from their followers, and what Metadata and each replica's log show afterwards.
//!
//! Waiting steps poll Metadata every 50 ms up to an explicit `within <n> ms` (or the target's
//! request timeout); running out of time is a verdict that shows the last Metadata seen.

use std::time::Duration;

use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use kafka_protocol::messages::{BrokerId, RequestKind, ResponseKind};

use super::common::create_topic;
use super::{config_table, name};
use crate::batches::{Batches, whole_batches};
use crate::cluster::{ClusterError, Stop};
use crate::faults::{Faults, Link};
use crate::history::Record;
use crate::kafka::{Producer, Session};
use crate::metadata::{PartitionState, View, parse_ids, same_set};
use crate::requests::fetch_request;
use crate::wire::WireClient;
use crate::world::{KafkaWorld, OldLeader, StepError, StepResult};

const POLL: Duration = Duration::from_millis(50);

// ---------------------------------------------------------------------------------------------
// The cluster

/// Records the cluster's size before it starts (it starts on first use). On a target the
/// harness does not start, the cluster must already have at least that many brokers.
async fn cluster_of(w: &mut KafkaWorld, n: i32, configs: std::collections::BTreeMap<String, String>) -> StepResult {
    if n < 1 {
        return Err(w.harness(format!("a cluster has at least one broker, not {n}")));
    }
    if w.cluster.is_some() {
        return Err(w.harness("`Given a cluster of ...` must come before any step that uses the cluster"));
    }
    let reference = w.ctx()?.target.is_reference();
    w.cluster_spec.brokers = n;
    w.cluster_spec.configs.extend(configs.clone());
    if reference {
        return Ok(());
    }
    let view = w.view(&[]).await?;
    if (view.brokers.len() as i32) < n {
        return Err(w.unsupported(format!(
            "the scenario needs a cluster of {n} brokers; Metadata lists {} ({:?})",
            view.brokers.len(),
            view.brokers.keys().collect::<Vec<_>>()
        )));
    }
    if matches!(w.ctx()?.target.kind, crate::target::TargetKind::LibrdkafkaMock { .. }) {
        return check_mock_configs(w, &configs);
    }
    if !configs.is_empty() {
        check_broker_configs(w, &view, &configs).await?;
    }
    Ok(())
}

/// librdkafka's mock answers no DescribeConfigs: the scenario's broker configs are checked
/// against what the harness starts it with ([`crate::target::MOCK_BROKER_CONFIGS`]), and the
/// bounds it does not enforce ([`crate::target::MOCK_UNBOUNDED_CONFIGS`]).
fn check_mock_configs(w: &KafkaWorld, configs: &std::collections::BTreeMap<String, String>) -> StepResult {
    use crate::target::{MOCK_BROKER_CONFIGS, MOCK_UNBOUNDED_CONFIGS};
    let missing: Vec<String> = configs
        .iter()
        .filter(|(k, v)| {
            !MOCK_UNBOUNDED_CONFIGS.contains(&k.as_str()) && !MOCK_BROKER_CONFIGS.contains(&(k.as_str(), v.as_str()))
        })
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(w.unsupported(format!("the mock cluster does not run with {}", missing.join(", "))))
}

/// On a target the harness does not start, the scenario's broker configs must already be in
/// force: reported through DescribeConfigs by every live broker or, where a broker reports
/// nothing, declared in the target file ([`crate::broker_configs`]).
async fn check_broker_configs(
    w: &mut KafkaWorld,
    view: &View,
    configs: &std::collections::BTreeMap<String, String>,
) -> StepResult {
    use crate::target::TargetKind;
    let declared = match &w.ctx()?.target.kind {
        TargetKind::External { configs, .. } => configs.clone(),
        _ => Default::default(),
    };
    // Not advertised is an answer (the declaration fills in); advertised and closed or
    // garbled differs from Kafka.
    let answers = crate::broker_configs::describe(&view.brokers, w.timeout()).await.map_err(|e| w.wire_error(e))?;
    let judgment = crate::broker_configs::judge(configs, &declared, &answers);
    for c in &judgment.contradictions {
        tracing::warn!("{c}");
    }
    if judgment.missing.is_empty() {
        return Ok(());
    }
    let mut message = format!(
        "the scenario needs broker configs {configs:?}, which this target's brokers do not have: {}",
        judgment.missing.join("; ")
    );
    if !judgment.contradictions.is_empty() {
        message.push_str(&format!("; and the target file is contradicted: {}", judgment.contradictions.join("; ")));
    }
    Err(w.unsupported(message))
}

#[given(expr = "a cluster of {int} brokers")]
async fn a_cluster(w: &mut KafkaWorld, n: i32) -> StepResult {
    cluster_of(w, n, Default::default()).await
}

/// Broker configs a scenario needs, without asking for more brokers: the reference starts its
/// brokers with them, and another target must already run with them (DescribeConfigs).
#[given("the brokers are configured with:")]
async fn brokers_configured(w: &mut KafkaWorld, step: &Step) -> StepResult {
    let configs = config_table(w, step)?;
    cluster_of(w, 1, configs).await
}

#[given(expr = "a cluster of {int} brokers configured with:")]
async fn a_cluster_configured(w: &mut KafkaWorld, step: &Step, n: i32) -> StepResult {
    let configs = config_table(w, step)?;
    cluster_of(w, n, configs).await
}

// ---------------------------------------------------------------------------------------------
// Replicated topics

/// Waits until every partition of a new topic has a leader and its full replica set in the ISR:
/// only then is "replicated" true of it.
async fn wait_fully_replicated(w: &mut KafkaWorld, real: &str) -> StepResult {
    let deadline = tokio::time::Instant::now() + w.timeout();
    let mut pace = tokio::time::interval(POLL);
    loop {
        let mut last;
        pace.tick().await;
        match w.try_view(&[real.to_string()]).await? {
            Ok(view) => {
                let parts: Vec<&PartitionState> =
                    view.partitions.iter().filter(|((t, _), _)| t == real).map(|(_, p)| p).collect();
                let ready = !parts.is_empty()
                    && parts.iter().all(|p| p.has_leader() && !p.replicas.is_empty() && same_set(&p.isr, &p.replicas));
                if ready {
                    return Ok(());
                }
                last = view
                    .partitions
                    .keys()
                    .filter(|(t, _)| t == real)
                    .map(|(t, p)| view.describe(t, *p))
                    .collect::<Vec<_>>()
                    .join("\n  ");
                if last.is_empty() {
                    last = format!("Metadata does not show the topic (error {:?})", view.topics.get(real));
                }
            }
            Err(e) => last = e.to_string(),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(w.verdict(format!(
                "within {} ms of its creation, topic {real} does not have a leader and every replica in the ISR for every partition:\n  {last}",
                w.timeout().as_millis()
            )));
        }
    }
}

pub(super) async fn create_replicated(
    w: &mut KafkaWorld,
    topic: &str,
    partitions: i32,
    rf: i16,
    configs: Vec<(String, String)>,
    assignments: Vec<(i32, Vec<i32>)>,
) -> StepResult {
    let err = create_topic(w, topic, partitions, rf, configs, assignments).await?;
    if err != "NONE" {
        return Err(w.harness(format!("creating topic {topic:?} failed with {err}")));
    }
    let real = w.topic(topic);
    wait_fully_replicated(w, &real).await
}

#[given(expr = "a topic {string} with {int} partition(s) and replication factor {int}")]
async fn a_replicated_topic(w: &mut KafkaWorld, topic: String, partitions: i32, rf: i16) -> StepResult {
    create_replicated(w, &topic, partitions, rf, Vec::new(), Vec::new()).await
}

#[given(expr = "a topic {string} with {int} partition(s) and replication factor {int} and the configs:")]
async fn a_replicated_topic_with_configs(
    w: &mut KafkaWorld,
    step: &Step,
    topic: String,
    partitions: i32,
    rf: i16,
) -> StepResult {
    let configs = config_table(w, step)?.into_iter().collect();
    create_replicated(w, &topic, partitions, rf, configs, Vec::new()).await
}

/// Kafka's `--replica-assignment` syntax: partitions separated by commas, each partition's
/// replicas by colons, the first replica the preferred leader: "1:2:3,2:3:1".
fn parse_assignment(w: &KafkaWorld, text: &str) -> Result<Vec<(i32, Vec<i32>)>, StepError> {
    text.split(',')
        .enumerate()
        .map(|(p, replicas)| {
            let ids = parse_ids(&replicas.replace(':', ",")).map_err(|e| w.harness(e))?;
            if ids.is_empty() {
                return Err(w.harness(format!("partition {p} of the assignment {text:?} has no replica")));
            }
            Ok((p as i32, ids))
        })
        .collect()
}

#[given(expr = "a topic {string} with the replica assignment {string}")]
async fn a_topic_assigned(w: &mut KafkaWorld, topic: String, assignment: String) -> StepResult {
    let assignments = parse_assignment(w, &assignment)?;
    create_replicated(w, &topic, -1, -1, Vec::new(), assignments).await
}

#[given(expr = "a topic {string} with the replica assignment {string} and the configs:")]
async fn a_topic_assigned_with_configs(
    w: &mut KafkaWorld,
    step: &Step,
    topic: String,
    assignment: String,
) -> StepResult {
    let assignments = parse_assignment(w, &assignment)?;
    let configs = config_table(w, step)?.into_iter().collect();
    create_replicated(w, &topic, -1, -1, configs, assignments).await
}

// ---------------------------------------------------------------------------------------------
// Broker processes, by node id

pub(super) fn process_error(w: &KafkaWorld, e: ClusterError) -> StepError {
    match e {
        e @ (ClusterError::NoProcessControl { .. } | ClusterError::Volatile) => w.unsupported(e.to_string()),
        e if e.is_broker_failure() => w.verdict(format!("the broker did not come back: {e}")),
        e => w.harness(e.to_string()),
    }
}

pub(super) async fn stop_broker(w: &mut KafkaWorld, node: i32, how: Stop) -> StepResult {
    if !w.ctx()?.target.can_control_processes() {
        return Err(w.unsupported("stopping a broker needs `process` commands in the target file"));
    }
    let result = w.cluster().await?.stop(node, how).await;
    result.map_err(|e| process_error(w, e))
}

pub(super) async fn start_broker(w: &mut KafkaWorld, node: i32) -> StepResult {
    if !w.ctx()?.target.can_control_processes() {
        return Err(w.unsupported("starting a broker needs `process` commands in the target file"));
    }
    let result = w.cluster().await?.start_broker(node).await;
    result.map_err(|e| process_error(w, e))
}

/// SIGKILL: the broker gets no chance to flush, deregister or hand over leadership.
#[when(expr = "broker {int} is killed")]
async fn broker_killed(w: &mut KafkaWorld, node: i32) -> StepResult {
    stop_broker(w, node, Stop::Kill).await
}

/// SIGTERM: a controlled shutdown.
#[when(expr = "broker {int} is stopped")]
async fn broker_stopped(w: &mut KafkaWorld, node: i32) -> StepResult {
    stop_broker(w, node, Stop::Graceful).await
}

/// Starts it with its data, and waits until Metadata lists it again (registered, unfenced).
#[when(expr = "broker {int} is started again")]
async fn broker_started(w: &mut KafkaWorld, node: i32) -> StepResult {
    start_broker(w, node).await
}

#[when(expr = "broker {int} is paused")]
async fn broker_paused(w: &mut KafkaWorld, node: i32) -> StepResult {
    let result = w.cluster().await?.pause(node).await;
    result.map_err(|e| process_error(w, e))
}

#[when(expr = "broker {int} is resumed")]
async fn broker_resumed(w: &mut KafkaWorld, node: i32) -> StepResult {
    let result = w.cluster().await?.resume(node).await;
    result.map_err(|e| process_error(w, e))
}

/// The partition's state now, from the first broker that answers; no leader is the broker's
/// doing (a verdict), no answer the harness's trouble.
async fn partition_now(w: &mut KafkaWorld, real: &str, partition: i32) -> Result<(View, PartitionState), StepError> {
    let view = w.view(&[real.to_string()]).await?;
    match view.partition(real, partition) {
        Some(p) => Ok((view.clone(), p.clone())),
        None => Err(w.verdict(view.describe(real, partition))),
    }
}

async fn current_leader(w: &mut KafkaWorld, real: &str, partition: i32) -> Result<(View, PartitionState), StepError> {
    let (view, p) = partition_now(w, real, partition).await?;
    if !p.has_leader() {
        return Err(w.verdict(format!("the partition has no leader: {}", view.describe(real, partition))));
    }
    Ok((view, p))
}

/// Kills the partition's current leader, remembering it and the ISR Metadata showed just
/// before, for the steps that judge the election that follows.
async fn kill_leader(w: &mut KafkaWorld, real: &str, partition: i32) -> Result<OldLeader, StepError> {
    let (_, p) = current_leader(w, real, partition).await?;
    let old = OldLeader { broker: p.leader, isr: p.isr.clone(), leader_epoch: p.leader_epoch };
    stop_broker(w, old.broker, Stop::Kill).await?;
    w.old_leaders.insert((real.to_string(), partition), old.clone());
    Ok(old)
}

#[when(expr = "the leader of partition {int} of {string} is killed")]
async fn leader_killed(w: &mut KafkaWorld, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    kill_leader(w, &real, partition).await.map(|_| ())
}

fn old_leader(w: &KafkaWorld, real: &str, partition: i32) -> Result<OldLeader, StepError> {
    w.old_leaders
        .get(&(real.to_string(), partition))
        .cloned()
        .ok_or_else(|| w.harness(format!("no leader of partition {partition} of {real} was killed before this step")))
}

#[when(expr = "the old leader of partition {int} of {string} is started again")]
async fn old_leader_started(w: &mut KafkaWorld, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let old = old_leader(w, &real, partition)?;
    start_broker(w, old.broker).await
}

// ---------------------------------------------------------------------------------------------
// The network between brokers

/// The proxies between brokers, or "not supported" where there are none (one broker, or an
/// external target, whose file names only the proxies in front of its brokers).
async fn broker_links(w: &mut KafkaWorld) -> Result<Faults, StepError> {
    let cluster = w.cluster().await?;
    let faults = cluster.faults().filter(|f| f.has_broker_links()).cloned();
    faults.ok_or_else(|| {
        w.unsupported(
            "faults between brokers need proxies between them: a reference cluster of more than one broker \
             (an external target's file names only the proxies in front of its brokers)",
        )
    })
}

async fn cut(w: &mut KafkaWorld, faults: &Faults, links: Vec<Link>) -> StepResult {
    if links.is_empty() {
        return Err(w.harness("there is no link between these brokers to cut"));
    }
    faults.cut(&links).await.map_err(|e| w.harness(e.to_string()))
}

/// Followers can no longer fetch from the leader (nor it from them); the leader still reaches
/// the controller and the clients, so it stays leader and, after replica.lag.time.max.ms,
/// shrinks the ISR to itself (KIP-497: through the controller).
#[when(expr = "the leader of partition {int} of {string} is isolated from its followers")]
async fn leader_isolated(w: &mut KafkaWorld, partition: i32, topic: String) -> StepResult {
    let faults = broker_links(w).await?;
    let real = w.topic(&topic);
    let (_, p) = current_leader(w, &real, partition).await?;
    let links = p.followers().into_iter().flat_map(|f| faults.links_between(p.leader, f)).collect();
    cut(w, &faults, links).await
}

#[when(expr = "broker {int} is isolated from the other brokers")]
async fn broker_isolated(w: &mut KafkaWorld, node: i32) -> StepResult {
    let faults = broker_links(w).await?;
    let links = faults.replication_links_of(node);
    cut(w, &faults, links).await
}

/// Its heartbeats stop reaching the controller, which fences it after
/// broker.session.timeout.ms; clients and the other brokers still reach it.
#[when(expr = "broker {int} is isolated from the controller")]
async fn broker_isolated_from_controller(w: &mut KafkaWorld, node: i32) -> StepResult {
    let faults = broker_links(w).await?;
    cut(w, &faults, vec![Link::Controller(node)]).await
}

#[when(expr = "the network between broker {int} and broker {int} is cut")]
async fn between_cut(w: &mut KafkaWorld, a: i32, b: i32) -> StepResult {
    let faults = broker_links(w).await?;
    let links = faults.links_between(a, b);
    cut(w, &faults, links).await
}

#[when("the network between the brokers heals")]
async fn brokers_heal(w: &mut KafkaWorld) -> StepResult {
    let faults = broker_links(w).await?;
    faults.heal_links().await.map_err(|e| w.harness(e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Waiting on Metadata

/// Polls Metadata every 50 ms until `ok` holds for the partition or `within` has passed; on
/// timeout, a verdict saying what was awaited, with the last Metadata seen.
async fn await_partition(
    w: &mut KafkaWorld,
    real: &str,
    partition: i32,
    within: Duration,
    what: &str,
    ok: impl Fn(&View, &PartitionState) -> bool,
) -> Result<(View, PartitionState), StepError> {
    let deadline = tokio::time::Instant::now() + within;
    let mut pace = tokio::time::interval(POLL);
    loop {
        pace.tick().await;
        let last = match w.try_view(&[real.to_string()]).await? {
            Ok(view) => {
                if let Some(p) = view.partition(real, partition)
                    && ok(&view, p)
                {
                    let p = p.clone();
                    return Ok((view, p));
                }
                view.describe(real, partition)
            }
            Err(e) => format!("no broker answered Metadata: {e}"),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(w.verdict(format!("within {} ms, {what}; the last Metadata seen: {last}", within.as_millis())));
        }
    }
}

#[then(expr = "within {int} ms partition {int} of {string} has a new leader")]
async fn new_leader(w: &mut KafkaWorld, ms: u64, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let old = old_leader(w, &real, partition)?;
    let what = format!("partition {partition} of {real} has no leader other than broker {} (killed)", old.broker);
    await_partition(w, &real, partition, Duration::from_millis(ms), &what, |_, p| {
        p.has_leader() && p.leader != old.broker
    })
    .await
    .map(|_| ())
}

/// Clean leader election: the new leader comes from the ISR the old leader last had, so it
/// holds every record acknowledged with acks=all (Kafka's replication design; KIP-966 for the
/// refinements).
#[then(expr = "the new leader of partition {int} of {string} was in the ISR before the old leader died")]
async fn new_leader_from_isr(w: &mut KafkaWorld, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let old = old_leader(w, &real, partition)?;
    let (view, p) = current_leader(w, &real, partition).await?;
    if p.leader == old.broker {
        return Err(w.verdict(format!(
            "the old leader {} still leads: {}",
            old.broker,
            view.describe(&real, partition)
        )));
    }
    if !old.isr.contains(&p.leader) {
        return Err(w.verdict(format!(
            "broker {} leads, but the ISR before broker {} died was {:?} (an unclean election): {}",
            p.leader,
            old.broker,
            old.isr,
            view.describe(&real, partition)
        )));
    }
    if old.leader_epoch >= 0 && p.leader_epoch >= 0 && p.leader_epoch <= old.leader_epoch {
        return Err(w.verdict(format!(
            "the new leader's epoch {} is not above the old leader's {} (KIP-101 needs a new epoch per election)",
            p.leader_epoch, old.leader_epoch
        )));
    }
    Ok(())
}

#[then(expr = "within {int} ms the ISR of partition {int} of {string} is {string}")]
async fn isr_is(w: &mut KafkaWorld, ms: u64, partition: i32, topic: String, list: String) -> StepResult {
    let real = w.topic(&topic);
    let expected = parse_ids(&list).map_err(|e| w.harness(e))?;
    let what = format!("the ISR of partition {partition} of {real} is not {expected:?}");
    await_partition(w, &real, partition, Duration::from_millis(ms), &what, |_, p| same_set(&p.isr, &expected))
        .await
        .map(|_| ())
}

#[then(expr = "within {int} ms the ISR of partition {int} of {string} is its leader alone")]
async fn isr_is_leader_alone(w: &mut KafkaWorld, ms: u64, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let what = format!("the ISR of partition {partition} of {real} has not shrunk to its leader alone");
    await_partition(w, &real, partition, Duration::from_millis(ms), &what, |_, p| p.has_leader() && p.isr == [p.leader])
        .await
        .map(|_| ())
}

#[then(expr = "within {int} ms the leader of partition {int} of {string} is broker {int}")]
async fn leader_is(w: &mut KafkaWorld, ms: u64, partition: i32, topic: String, node: i32) -> StepResult {
    let real = w.topic(&topic);
    let what = format!("broker {node} does not lead partition {partition} of {real}");
    await_partition(w, &real, partition, Duration::from_millis(ms), &what, |_, p| p.has_leader() && p.leader == node)
        .await
        .map(|_| ())
}

#[then(expr = "within {int} ms the old leader of partition {int} of {string} leads it again")]
async fn old_leader_leads(w: &mut KafkaWorld, ms: u64, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let old = old_leader(w, &real, partition)?;
    let what = format!("the old leader, broker {}, does not lead partition {partition} of {real} again", old.broker);
    await_partition(w, &real, partition, Duration::from_millis(ms), &what, |_, p| {
        p.has_leader() && p.leader == old.broker
    })
    .await
    .map(|_| ())
}

/// A replica on a broker that is fenced or down is listed in `offline_replicas` (Metadata v5+).
#[then(expr = "Metadata shows broker {int} as an offline replica of partition {int} of {string}")]
async fn offline_replica(w: &mut KafkaWorld, node: i32, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let within = w.timeout();
    let what = format!("Metadata does not show broker {node} as an offline replica of partition {partition} of {real}");
    await_partition(w, &real, partition, within, &what, |_, p| p.offline.contains(&node)).await.map(|_| ())
}

#[then(expr = "Metadata shows the old leader of partition {int} of {string} as an offline replica")]
async fn old_leader_offline(w: &mut KafkaWorld, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let old = old_leader(w, &real, partition)?;
    offline_replica(w, old.broker, partition, topic).await
}

fn leaderless(p: &PartitionState) -> bool {
    !p.has_leader()
}

/// With unclean.leader.election.enable=false, a partition whose whole ISR is gone stays
/// unavailable (leader -1, LEADER_NOT_AVAILABLE) rather than elect an out-of-sync replica.
#[then(expr = "within {int} ms partition {int} of {string} has no leader")]
async fn no_leader_within(w: &mut KafkaWorld, ms: u64, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let what = format!("partition {partition} of {real} still has a leader");
    await_partition(w, &real, partition, Duration::from_millis(ms), &what, |_, p| leaderless(p)).await.map(|_| ())
}

#[then(expr = "partition {int} of {string} has no leader")]
async fn no_leader(w: &mut KafkaWorld, partition: i32, topic: String) -> StepResult {
    let ms = w.timeout().as_millis() as u64;
    no_leader_within(w, ms, partition, topic).await
}

/// Once leaderless, the partition stays so for `ms` (polled every 50 ms): no replica outside
/// the ISR is elected meanwhile.
#[then(expr = "partition {int} of {string} has no leader for {int} ms")]
async fn no_leader_for(w: &mut KafkaWorld, partition: i32, topic: String, ms: u64) -> StepResult {
    no_leader(w, partition, topic.clone()).await?;
    let real = w.topic(&topic);
    let until = tokio::time::Instant::now() + Duration::from_millis(ms);
    let mut pace = tokio::time::interval(POLL);
    while tokio::time::Instant::now() < until {
        pace.tick().await;
        if let Ok(view) = w.try_view(std::slice::from_ref(&real)).await?
            && let Some(p) = view.partition(&real, partition)
            && !leaderless(p)
        {
            return Err(w.verdict(format!(
                "partition {partition} of {real} got a leader while it should stay unavailable: {}",
                view.describe(&real, partition)
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Each replica's log, byte for byte

/// Reads one replica's whole log with Fetch and replica_id -2 (Kafka's debugging consumer id,
/// which any replica serves up to its own log end offset), from offset 0 until a fetch returns
/// nothing more.
async fn replica_log(addr: &str, topic: &str, partition: i32, timeout: Duration) -> Result<Batches, String> {
    let mut client = WireClient::connect(addr, timeout).await.map_err(|e| e.to_string())?;
    let version = client.version_for(kafka_protocol::messages::ApiKey::Fetch).map_err(|e| e.to_string())?.min(12);
    let mut out: Batches = Vec::new();
    let mut offset = 0;
    loop {
        let RequestKind::Fetch(req) = fetch_request(topic, partition, offset, 1 << 20, 0, 0) else {
            return Err("unreachable: fetch_request builds a Fetch".into());
        };
        let req = req.with_replica_id(BrokerId(-2));
        let resp = client.request_at(RequestKind::Fetch(req), version).await.map_err(|e| e.to_string())?;
        let ResponseKind::Fetch(r) = resp else { return Err("Fetch answered with another response type".into()) };
        let p = r
            .responses
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or_else(|| "the Fetch answer has no partition".to_string())?;
        if p.error_code != 0 {
            return Err(format!("Fetch with replica_id -2 failed with {}", name(p.error_code)));
        }
        let batches = whole_batches(p.records.as_deref().unwrap_or_default());
        let Some(last) = batches.last().map(|b| b.1) else { return Ok(out) };
        out.extend(batches);
        offset = last + 1;
    }
}

/// Where two logs first differ: the base offset of the first batch that is not byte-identical
/// (or present in one only).
fn first_difference(a: &Batches, b: &Batches) -> Option<i64> {
    for i in 0..a.len().max(b.len()) {
        match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) if x.2 == y.2 => {}
            (Some(x), Some(y)) => return Some(x.0.min(y.0)),
            (Some(x), None) | (None, Some(x)) => return Some(x.0),
            (None, None) => break,
        }
    }
    None
}

fn log_end(b: &Batches) -> i64 {
    b.last().map_or(0, |x| x.1 + 1)
}

/// Every replica in Metadata's replica list holds the same bytes: followers truncated whatever
/// the leader did not have (KIP-101, KIP-279, KIP-320) and caught up. Retried until `within`
/// (followers may still be catching up); then a verdict with each replica's log end offset and
/// where it first differs from the leader's.
#[then(expr = "within {int} ms all replicas of partition {int} of {string} hold the same log")]
async fn same_log(w: &mut KafkaWorld, ms: u64, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    let mut pace = tokio::time::interval(POLL);
    let timeout = w.timeout();
    let mut last = String::from("no Metadata answer yet");
    loop {
        pace.tick().await;
        let view = match w.try_view(std::slice::from_ref(&real)).await? {
            Ok(v) => Some(v),
            Err(e) => {
                last = format!("no broker answered Metadata: {e}");
                None
            }
        };
        if let Some(view) = view
            && let Some(p) = view.partition(&real, partition).cloned()
        {
            let mut logs: Vec<(i32, Result<Batches, String>)> = Vec::new();
            for r in &p.replicas {
                let addr = match view.brokers.get(r) {
                    Some(a) => Some(a.clone()),
                    None => w.cluster.as_ref().and_then(|c| c.client_addr(*r)).map(str::to_string),
                };
                let log = match addr {
                    Some(a) => replica_log(&a, &real, partition, timeout).await,
                    None => Err("not listed in Metadata and not reachable".into()),
                };
                logs.push((*r, log));
            }
            // The leader's log is the reference point; without one, the first replica's.
            let reference = logs.iter().position(|(r, _)| *r == p.leader).unwrap_or(0);
            let all_read = logs.iter().all(|(_, l)| l.is_ok());
            if all_read {
                let base = logs[reference].1.clone().unwrap_or_default();
                if logs.iter().all(|(_, l)| l.as_ref().is_ok_and(|l| first_difference(&base, l).is_none())) {
                    // Empty logs agree trivially: that shows nothing about replication.
                    if base.is_empty() {
                        return Err(w.verdict(format!(
                            "every replica of {real}-{partition} is empty: nothing shows that they replicate alike"
                        )));
                    }
                    return Ok(());
                }
            }
            let base = logs.get(reference).and_then(|(_, l)| l.as_ref().ok()).cloned().unwrap_or_default();
            last = logs
                .iter()
                .map(|(r, l)| {
                    let role = if *r == p.leader { " (leader)" } else { "" };
                    match l {
                        Ok(l) => match first_difference(&base, l) {
                            None => format!("broker {r}{role}: log end offset {}, same as the leader", log_end(l)),
                            Some(o) => format!(
                                "broker {r}{role}: log end offset {}, {} batches, first differs from the leader's at offset {o}",
                                log_end(l),
                                l.len()
                            ),
                        },
                        Err(e) => format!("broker {r}{role}: cannot read its log: {e}"),
                    }
                })
                .collect::<Vec<_>>()
                .join("\n  ");
            last = format!("{}\n  {last}", view.describe(&real, partition));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(w.verdict(format!(
                "within {ms} ms, the replicas of partition {partition} of {real} do not hold the same log:\n  {last}"
            )));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Producing while the leader dies

/// One librdkafka producer (the scenario's producer configs) sends all `n` records; once `k`
/// are acknowledged the partition's current leader is killed (remembered as the old leader,
/// with the ISR before the kill); then every send runs to its end, acknowledged, failed or
/// unknown, each recorded in the history.
#[when(
    expr = "{int} records are produced to partition {int} of {string} while the leader is killed after {int} acknowledgements"
)]
async fn produce_while_leader_killed(
    w: &mut KafkaWorld,
    n: usize,
    partition: i32,
    topic: String,
    k: usize,
) -> StepResult {
    if k == 0 || k >= n {
        return Err(w.harness(format!("kill after between 1 and {} acknowledgements, not {k}", n.saturating_sub(1))));
    }
    let bootstrap = w.bootstrap().await?;
    let real = w.topic(&topic);
    let process = w.next_process("producer");
    let records: Vec<Record> = (0..n).map(|_| Record::value(w.next_value(&process))).collect();
    let (history, configs, timeout) = (w.history.clone(), w.producer_config.clone(), w.timeout());
    let session = Session { bootstrap: &bootstrap, configs: &configs, process: &process, history: &history, timeout };
    let producer = Producer::new(&session).map_err(|e| w.harness(e))?;
    let (acked, mut watch) = tokio::sync::watch::channel(0usize);
    let send = producer.send_observed(&session, &real, Some(partition), &records, Some(&acked));
    tokio::pin!(send);
    let mut acked_at_kill = None;
    loop {
        tokio::select! {
            () = &mut send => break,
            seen = watch.wait_for(|a| *a >= k), if acked_at_kill.is_none() => {
                let now = seen.map(|a| *a).unwrap_or(k);
                acked_at_kill = Some(now);
                kill_leader(w, &real, partition).await?;
            }
        }
    }
    match acked_at_kill {
        None => Err(w.harness(format!(
            "only {} of {n} sends were acknowledged, fewer than the {k} after which the leader was to be killed",
            *acked.borrow()
        ))),
        Some(a) if a >= n => Err(w.harness(format!(
            "every send was acknowledged before the leader was killed, so the kill proves nothing: throttle the \
             producer (batch.num.messages, max.in.flight.requests.per.connection) or produce more records (acknowledged at the kill: {a})"
        ))),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log of batches: (base offset, last offset, a byte the batch is filled with).
    fn log(batches: &[(i64, i64, u8)]) -> Batches {
        batches
            .iter()
            .map(|&(base, last, fill)| (base, last, vec![fill; 49 + 10 * (last - base + 1) as usize]))
            .collect()
    }

    #[test]
    fn the_log_ends_after_its_last_batch() {
        assert_eq!(log_end(&log(&[(0, 2, 1), (3, 4, 2)])), 5);
        assert_eq!(log_end(&Vec::new()), 0);
    }

    #[test]
    fn the_first_difference_is_the_first_batch_that_differs() {
        let a = log(&[(0, 2, 1), (3, 4, 2)]);
        let same = a.clone();
        let diverged = log(&[(0, 2, 1), (3, 4, 9)]);
        let short = log(&[(0, 2, 1)]);
        assert_eq!(first_difference(&a, &same), None);
        assert_eq!(first_difference(&a, &diverged), Some(3));
        assert_eq!(first_difference(&a, &short), Some(3));
    }
}
