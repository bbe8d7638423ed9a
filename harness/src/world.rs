//! The cucumber World: one per scenario. It owns the scenario's cluster, clients and history,
//! and classifies every step failure so that a report can tell "the broker broke a guarantee"
//! (a verdict) from "the scenario could not run" (harness trouble) and from "this target does
//! not support what the scenario needs".

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::checker::{self, AnomalyKind};
use crate::cluster::{Cluster, ClusterSpec, Launcher};
use crate::history::History;
use crate::target::Target;
use crate::wire::{WireClient, WireError};

/// How a scenario did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The broker broke the guarantee a Then step checks. The message shows the evidence.
    Verdict(String),
    /// The broker answered as Apache Kafka would not (an error code, a closed connection, an
    /// answer that does not decode), whether or not a guarantee broke. The message names the
    /// operation and the Kafka source that defines the answer.
    Differs(String),
    /// The target lacks what the scenario needs (an API it does not advertise, no process control).
    Unsupported(String),
    /// The harness or the environment failed; says nothing about the broker's guarantees.
    Harness(String),
}

/// Shared between the runner and the scenario's World: the target, and what went wrong.
#[derive(Debug)]
pub struct RunContext {
    pub target: Target,
    pub launcher: Option<Launcher>,
    failure: Mutex<Option<Failure>>,
    artifacts: Mutex<Artifacts>,
}

/// What a failing scenario leaves behind for its report.
#[derive(Debug, Default, Clone)]
pub struct Artifacts {
    pub history_jsonl: Option<String>,
    /// Log tails labelled `controller` or `broker-N`.
    pub broker_logs: Vec<(String, String)>,
}

impl RunContext {
    pub fn new(target: Target, launcher: Option<Launcher>) -> Arc<RunContext> {
        Arc::new(RunContext {
            target,
            launcher,
            failure: Mutex::new(None),
            artifacts: Mutex::new(Artifacts::default()),
        })
    }

    /// The first failure a step recorded: later ones are consequences.
    pub fn failure(&self) -> Option<Failure> {
        self.failure.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn record(&self, f: Failure) {
        let mut slot = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(f);
        }
    }

    pub fn artifacts(&self) -> Artifacts {
        self.artifacts.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_artifacts(&self, a: Artifacts) {
        *self.artifacts.lock().unwrap_or_else(|p| p.into_inner()) = a;
    }
}

/// The prefixes of a classified step error's message ([`KafkaWorld::verdict`] and the others).
const STEP_ERROR_PREFIXES: &[&str] =
    &["VERDICT: ", "DIFFERS FROM KAFKA: ", "NOT SUPPORTED by this target: ", "HARNESS: "];

/// Whether a panic's message is a classified step error (cucumber fails a step by panicking
/// with its error), not a bug.
pub fn is_step_error(message: &str) -> bool {
    STEP_ERROR_PREFIXES.iter().any(|p| message.starts_with(p))
}

/// The error a step returns; cucumber prints it under the failed step.
#[derive(Debug)]
pub struct StepError(pub String);

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StepError {}

pub type StepResult = Result<(), StepError>;

/// The last fetch the wire client made, for the fetch-limit Then steps.
#[derive(Debug, Default, Clone)]
pub struct FetchSummary {
    pub error: String,
    pub bytes: usize,
    pub batches: Vec<(i64, i64, usize)>,
    pub records: usize,
}

/// A leader a step killed: who it was and the ISR Metadata showed just before, for the steps
/// that judge the election that follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OldLeader {
    pub broker: i32,
    pub isr: Vec<i32>,
    pub leader_epoch: i32,
}

#[derive(cucumber::World)]
#[world(init = Self::new)]
pub struct KafkaWorld {
    pub ctx: Option<Arc<RunContext>>,
    pub cluster: Option<Cluster>,
    /// The brokers and broker configs the cluster starts with (a Given step sets them before
    /// the cluster starts on first use).
    pub cluster_spec: ClusterSpec,
    /// Leaders killed by a step, by (real topic, partition).
    pub old_leaders: BTreeMap<(String, i32), OldLeader>,
    pub history: History,
    pub producer_config: BTreeMap<String, String>,
    pub consumer_config: BTreeMap<String, String>,
    /// The error name of the last request a When step made ("NONE" when it succeeded).
    pub last_error: Option<String>,
    /// The records the last refused Produce answer named (KIP-467 `record_errors`): each
    /// one's index in its batch and the broker's message.
    pub last_record_errors: Vec<(i32, Option<String>)>,
    pub last_fetch: Option<FetchSummary>,
    /// The last waiting fetch: how long its answer took, and the max_wait_ms it asked for.
    pub fetch_waited: Option<(std::time::Duration, i32)>,
    /// The error each partition of the last produce request of several partitions was answered.
    pub last_produce_partitions: BTreeMap<i32, String>,
    /// Every partition of the last fetch of several partitions, by partition index.
    pub last_fetch_partitions: BTreeMap<i32, FetchSummary>,
    /// A raw connection a malformed-input step wrote to.
    pub raw: Option<WireClient>,
    /// The api key and version of a raw request on `raw` that Kafka answers, for the Then step
    /// that reads the answer.
    pub raw_request: Option<(kafka_protocol::messages::ApiKey, i16)>,
    /// What a librdkafka client's listing of every topic returned, or its error.
    pub listed_topics: Option<Result<Vec<String>, String>>,
    /// The wire-level producer of the idempotence steps: its producer id and every batch it made.
    pub wire_producer: Option<crate::steps::idempotence::WireProducer>,
    /// The first error the last consumer reported, and what it read.
    pub consumer_error: Option<String>,
    pub consumer_reads: Vec<(i64, Option<String>)>,
    /// Reads that stopped because nothing arrived for a whole request timeout, not even the
    /// partition's end: said beside a verdict, since silence is not proof of loss.
    pub stalled_reads: Vec<String>,
    /// The history's name for the last consumer a step ran, to find its reads with keys.
    pub last_consumer: Option<String>,
    /// The configs each (real) topic was created or altered with, as the scenario declared
    /// them: the retention and compaction checks judge against these (Kafka's defaults
    /// otherwise).
    pub topic_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// The low watermark the last DeleteRecords answered with.
    pub low_watermark: Option<i64>,
    /// Consumer groups: librdkafka group consumers.
    pub groups: crate::steps::groups::Groups,
    /// Wire-level members of consumer groups, for the coordinator's exact answers.
    pub wire_members: crate::steps::coordinator::WireMembers,
    /// librdkafka transactional producers, by the scenario's names.
    pub txn_producers: crate::steps::txn::TxnProducers,
    /// Distinguishes this scenario's topics on a shared (external) cluster.
    pub suffix: String,
    next_value: u64,
    next_process: u64,
}

impl fmt::Debug for KafkaWorld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaWorld")
            .field("target", &self.ctx.as_ref().map(|c| c.target.name.clone()))
            .field("events", &self.history.len())
            .field("last_error", &self.last_error)
            .finish_non_exhaustive()
    }
}

/// Whether an advertised `host:port` is a proxy's listen address; a proxy listening on every
/// interface matches by port.
pub fn same_endpoint(listen: &str, advertised: &str) -> bool {
    let port = |a: &str| a.rsplit_once(':').map(|(_, p)| p.to_string());
    let any = listen.starts_with("0.0.0.0:") || listen.starts_with("[::]:") || listen.starts_with(':');
    listen == advertised || (any && port(listen) == port(advertised))
}

impl KafkaWorld {
    fn new() -> Self {
        KafkaWorld {
            ctx: None,
            cluster: None,
            cluster_spec: ClusterSpec::default(),
            old_leaders: BTreeMap::new(),
            history: History::new(),
            producer_config: BTreeMap::new(),
            consumer_config: BTreeMap::new(),
            last_error: None,
            last_record_errors: Vec::new(),
            last_fetch: None,
            fetch_waited: None,
            last_produce_partitions: BTreeMap::new(),
            last_fetch_partitions: BTreeMap::new(),
            raw: None,
            raw_request: None,
            listed_topics: None,
            wire_producer: None,
            consumer_error: None,
            consumer_reads: Vec::new(),
            stalled_reads: Vec::new(),
            last_consumer: None,
            topic_configs: BTreeMap::new(),
            low_watermark: None,
            groups: Default::default(),
            wire_members: Default::default(),
            txn_producers: Default::default(),
            suffix: String::new(),
            next_value: 0,
            next_process: 0,
        }
    }

    pub fn ctx(&self) -> Result<&Arc<RunContext>, StepError> {
        self.ctx.as_ref().ok_or_else(|| StepError("the scenario runs without a run context (harness bug)".into()))
    }

    pub fn fail(&self, f: Failure) -> StepError {
        let msg = match &f {
            Failure::Verdict(m) => format!("VERDICT: {m}"),
            Failure::Differs(m) => format!("DIFFERS FROM KAFKA: {m}"),
            Failure::Unsupported(m) => format!("NOT SUPPORTED by this target: {m}"),
            Failure::Harness(m) => format!("HARNESS: {m}"),
        };
        if let Some(ctx) = &self.ctx {
            ctx.record(f);
        }
        StepError(msg)
    }

    pub fn verdict(&self, msg: impl Into<String>) -> StepError {
        self.fail(Failure::Verdict(msg.into()))
    }

    /// The broker answered as Kafka would not; `msg` says what it did and what Kafka does.
    pub fn differs(&self, msg: impl Into<String>) -> StepError {
        self.fail(Failure::Differs(msg.into()))
    }

    pub fn harness(&self, msg: impl Into<String>) -> StepError {
        self.fail(Failure::Harness(msg.into()))
    }

    pub fn unsupported(&self, msg: impl Into<String>) -> StepError {
        self.fail(Failure::Unsupported(msg.into()))
    }

    /// A wire error. An API the broker does not advertise is "not supported". An advertised
    /// one that the broker answers by closing the connection (outside any fault the scenario
    /// injected), with an answer that does not decode, or with another request's correlation
    /// id, is a broker that differs from Kafka: Kafka answers every well-formed request it
    /// advertises. Everything else (cannot connect, a timeout) is harness trouble unless the
    /// step knows better.
    pub fn wire_error(&self, e: WireError) -> StepError {
        match e {
            WireError::Unsupported { .. } => self.unsupported(e.to_string()),
            WireError::ClosedOn { key, version } if !self.faulted() => self.differs(format!(
                "the broker closed the connection instead of answering a well-formed {key:?} v{version} request it \
                 advertises; Kafka answers it (KafkaApis handles every advertised version)"
            )),
            WireError::Decode { .. } | WireError::Correlation { .. } => {
                self.differs(format!("{e}; Kafka's answer follows the protocol's message schema for that version"))
            }
            other => self.harness(other.to_string()),
        }
    }

    /// Whether the scenario has stopped, paused or killed a broker, or put a network fault in
    /// place: then a closed connection may be the fault's doing.
    pub fn faulted(&self) -> bool {
        self.cluster.as_ref().is_some_and(Cluster::faulted)
    }

    /// How long a read at a partition's end waits for the log to grow (`timeouts.quiet_ms`).
    pub fn quiet(&self) -> Duration {
        Duration::from_millis(self.ctx.as_ref().map_or(1_000, |c| c.target.timeouts.quiet_ms))
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.ctx.as_ref().map_or(10_000, |c| c.target.timeouts.request_ms))
    }

    /// The scenario's cluster, started on first use.
    pub async fn cluster(&mut self) -> Result<&mut Cluster, StepError> {
        if self.cluster.is_none() {
            let ctx = self.ctx()?.clone();
            let cluster = Cluster::start(&ctx.target, ctx.launcher.as_ref(), &self.cluster_spec)
                .await
                .map_err(|e| self.harness(e.to_string()))?;
            self.cluster = Some(cluster);
            self.check_wiring().await?;
        }
        self.cluster.as_mut().ok_or_else(|| StepError("unreachable: cluster was just started".into()))
    }

    /// Kafka clients follow the addresses Metadata gives them, so a proxy they can bypass
    /// injects nothing (toxiproxy #171): every advertised broker must be its proxy. A reference
    /// cluster wired otherwise is a harness bug; an external target's fault scenarios are then
    /// refused as not supported, with the reason.
    async fn check_wiring(&mut self) -> Result<(), StepError> {
        let Some(faults) = self.cluster.as_ref().and_then(|c| c.faults().cloned()) else { return Ok(()) };
        let listens = faults.listen_addresses().await.map_err(|e| self.harness(e.to_string()))?;
        let addr = self.cluster.as_ref().and_then(|c| c.bootstrap_addrs().first().cloned()).unwrap_or_default();
        let mut client = WireClient::connect(&addr, self.timeout()).await.map_err(|e| self.harness(e.to_string()))?;
        let req = kafka_protocol::messages::MetadataRequest::default().with_topics(Some(Vec::new()));
        let resp = client
            .request(kafka_protocol::messages::RequestKind::Metadata(req))
            .await
            .map_err(|e| self.wire_error(e))?;
        let kafka_protocol::messages::ResponseKind::Metadata(m) = resp else {
            return Err(self.harness("Metadata answered with another response type"));
        };
        let mut problems = Vec::new();
        for b in &m.brokers {
            let advertised = format!("{}:{}", b.host.as_str(), b.port);
            match listens.get(&b.node_id.0) {
                None => problems.push(format!("broker {} ({advertised}) has no proxy in the target file", b.node_id.0)),
                Some(listen) if !same_endpoint(listen, &advertised) => problems
                    .push(format!("broker {} advertises {advertised}, but its proxy listens on {listen}", b.node_id.0)),
                Some(_) => {}
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        let reason =
            format!("clients could bypass toxiproxy, so its faults would not reach them: {}", problems.join("; "));
        let reference = self.ctx.as_ref().is_some_and(|c| c.target.is_reference());
        if reference {
            return Err(self.harness(reason));
        }
        if let Some(c) = self.cluster.as_mut() {
            c.disable_faults(reason);
        }
        Ok(())
    }

    pub async fn bootstrap(&mut self) -> Result<String, StepError> {
        Ok(self.cluster().await?.bootstrap())
    }

    /// A fresh wire-level connection to a bootstrap broker: the first that answers, trying
    /// running brokers before stopped or paused ones (a scenario may have killed broker 1).
    pub async fn wire(&mut self) -> Result<WireClient, StepError> {
        match self.try_wire().await? {
            Ok((c, _)) => Ok(c),
            Err(e) => Err(self.wire_error(e)),
        }
    }

    /// Like [`KafkaWorld::wire`], but a connection failure is returned, not recorded as the
    /// scenario's failure: for steps that retry. The outer error is a cluster that cannot start.
    pub async fn try_wire(&mut self) -> Result<Result<(WireClient, String), WireError>, StepError> {
        let addrs = self.cluster().await?.live_bootstrap_addrs();
        let timeout = self.timeout();
        let mut last = WireError::Closed;
        for addr in addrs {
            match WireClient::connect(&addr, timeout).await {
                Ok(c) => return Ok(Ok((c, addr))),
                Err(e) => last = e,
            }
        }
        Ok(Err(last))
    }

    /// Metadata about the brokers and the given (real) topics, from the first broker that
    /// answers; a failure is returned, not recorded (see [`KafkaWorld::view`]).
    pub async fn try_view(&mut self, topics: &[String]) -> Result<Result<crate::metadata::View, WireError>, StepError> {
        let (mut client, addr) = match self.try_wire().await? {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        Ok(crate::metadata::fetch(&mut client, &addr, topics).await)
    }

    /// Metadata about the brokers and the given (real) topics, from the first broker that
    /// answers.
    pub async fn view(&mut self, topics: &[String]) -> Result<crate::metadata::View, StepError> {
        match self.try_view(topics).await? {
            Ok(v) => Ok(v),
            Err(e) => Err(self.wire_error(e)),
        }
    }

    /// A connection to the leader of a (real) topic's partition, as Metadata names it: Kafka
    /// clients send Produce, Fetch and ListOffsets there. Without a leader (or for an unknown
    /// topic) it is a bootstrap broker, which then answers with the error a client would see.
    pub async fn try_leader_wire(
        &mut self,
        topic: &str,
        partition: i32,
    ) -> Result<Result<WireClient, WireError>, StepError> {
        let view = match self.try_view(&[topic.to_string()]).await? {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let leader = view.partition(topic, partition).filter(|p| p.has_leader()).map(|p| p.leader);
        if let Some(addr) = leader.and_then(|l| view.brokers.get(&l))
            && let Ok(c) = WireClient::connect(addr, self.timeout()).await
        {
            return Ok(Ok(c));
        }
        Ok(self.try_wire().await?.map(|(c, _)| c))
    }

    /// [`KafkaWorld::try_leader_wire`], with a failure recorded as the scenario's.
    pub async fn leader_wire(&mut self, topic: &str, partition: i32) -> Result<WireClient, StepError> {
        match self.try_leader_wire(topic, partition).await? {
            Ok(c) => Ok(c),
            Err(e) => Err(self.wire_error(e)),
        }
    }

    /// The real topic name for a scenario's topic.
    pub fn topic(&self, name: &str) -> String {
        format!("{name}{}", self.suffix)
    }

    /// A value no other write in this scenario has: the checker's identity for a record.
    pub fn next_value(&mut self, process: &str) -> String {
        self.next_value += 1;
        format!("{process}-{}", self.next_value)
    }

    pub fn next_process(&mut self, kind: &str) -> String {
        self.next_process += 1;
        format!("{kind}-{}", self.next_process)
    }

    /// Runs the checker and fails with a verdict if any of `forbidden` is found, or if the
    /// history holds nothing to judge: no acknowledged send, or no read, proves no guarantee.
    pub fn judge(&self, forbidden: &[AnomalyKind]) -> StepResult {
        let report = checker::check(&self.history.events());
        self.judged(&report, forbidden)
    }

    /// What a Then step's check found, as the step's result: a violation is a verdict; nothing
    /// to judge is the harness's, since the scenario did not do what the check needs.
    pub fn found(&self, result: Result<(), checker::Finding>) -> StepResult {
        result.map_err(|f| match f {
            checker::Finding::Violation(m) => self.verdict(m),
            checker::Finding::NothingToJudge(m) => self.harness(m),
        })
    }

    /// [`KafkaWorld::judge`] on a report already made.
    pub fn judged(&self, report: &checker::Report, forbidden: &[AnomalyKind]) -> StepResult {
        let s = &report.stats;
        if s.sends_ok == 0 {
            return Err(self.verdict(format!(
                "no send was acknowledged ({} failed, {} unknown), so nothing shows the guarantee held",
                s.sends_failed, s.sends_unknown
            )));
        }
        if s.reads == 0 && report.anomalies.is_empty() {
            return Err(self.verdict(format!(
                "{} sends were acknowledged but nothing was read, so nothing shows the guarantee held{}",
                s.sends_ok,
                self.stalls()
            )));
        }
        if forbidden.iter().any(|k| report.of_kind(*k).next().is_some()) {
            return Err(self.verdict(format!(
                "the history shows anomalies this guarantee forbids:\n{}{}",
                report.render(forbidden),
                self.stalls()
            )));
        }
        Ok(())
    }

    /// The reads that stopped in silence, as lines to add to a verdict; empty when none did.
    fn stalls(&self) -> String {
        if self.stalled_reads.is_empty() {
            return String::new();
        }
        let mut s = String::from("\nreads that stopped because the broker sent nothing, not even the partition's end:");
        for r in &self.stalled_reads {
            s.push_str("\n  - ");
            s.push_str(r);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_classified_step_error_is_recognised_as_one() {
        let w = KafkaWorld::new();
        for e in [w.verdict("x"), w.differs("x"), w.unsupported("x"), w.harness("x")] {
            assert!(is_step_error(&e.0), "{:?} is not recognised as a step error", e.0);
        }
        assert!(!is_step_error("index out of bounds: the len is 0 but the index is 0"));
    }

    /// Unseen records beside a read that heard nothing: the verdict says the read stalled, so a
    /// reader can tell a silent broker (or network) from one that lost what it acknowledged.
    #[test]
    fn a_verdict_names_the_reads_that_stopped_in_silence() {
        use crate::history::{Op, Outcome, Record};
        let mut w = KafkaWorld::new();
        let send =
            Op::Send { topic: "t".into(), partition: 0, record: Record::value("a"), offset: Some(0), timestamp: None };
        w.history.record("producer-1", send, Outcome::Ok);
        let quiet = w.judge(&[AnomalyKind::Unseen]).expect_err("nothing was read").0;
        assert!(!quiet.contains("stopped"), "{quiet}");
        w.stalled_reads.push("consumer-2 reading t-0: nothing arrived for 10000 ms".into());
        let said = w.judge(&[AnomalyKind::Unseen]).expect_err("nothing was read").0;
        assert!(said.contains("unseen") && said.contains("consumer-2 reading t-0: nothing arrived"), "{said}");
    }
}
