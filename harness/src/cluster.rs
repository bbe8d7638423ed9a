//! The brokers a scenario talks to: reference broker processes the harness starts itself (each
//! a real OS process with its own data directory, so SIGKILL and restarts are real), or an
//! external target's bootstrap addresses.
//!
//! A reference cluster of one broker is one standalone process (it runs its own controller). A
//! cluster of N > 1 is a controller process and N broker processes, wired through toxiproxy so
//! that every connection can be faulted on its own:
//!
//! ```text
//!  clients ──broker-N──▶ broker N ──link-N-L──▶ broker L   (N's follower fetches from L)
//!                           └────controller-link-N──▶ controller
//! ```
//!
//! Every broker advertises its client proxy, reaches each other broker through its own link
//! proxy (`--peer-address`), and the controller through its own controller link.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::faults::Link;
use crate::process::Action;
use crate::target::{Target, TargetKind};

/// How to start the reference broker: a program and the arguments before `broker ...`.
/// `kafka-conformance` runs itself (`kafka-conformance reference broker ...`).
#[derive(Debug, Clone)]
pub struct Launcher {
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl Launcher {
    /// The running `kafka-conformance` binary, which embeds the reference broker.
    pub fn current_exe() -> std::io::Result<Launcher> {
        Ok(Launcher { program: std::env::current_exe()?, args: vec!["reference".into()] })
    }
}

/// What a scenario asks of its cluster before the cluster starts: how many brokers, and broker
/// configs (Kafka's names) on top of the target's.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSpec {
    pub brokers: i32,
    pub configs: BTreeMap<String, String>,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec { brokers: 1, configs: BTreeMap::new() }
    }
}

/// Trouble in the harness or the environment, never a verdict on the broker.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot start reference broker {program}: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("reference {node} did not report its address within {ms} ms; its log:\n{log}")]
    StartTimeout { node: String, ms: u64, log: String },
    #[error("reference {node} exited during start-up ({status}); its log:\n{log}")]
    StartFailed { node: String, status: String, log: String },
    #[error(
        "Metadata did not list broker(s) {nodes:?} within {ms} ms (registered and unfenced); last answer: {last}; log:\n{log}"
    )]
    NotListed { nodes: Vec<i32>, ms: u64, last: String, log: String },
    #[error("this target cannot {action} brokers: its target file has no `process` commands")]
    NoProcessControl { action: &'static str },
    #[error(
        "this target's storage is volatile (`process.volatile: true`): a restarted broker keeps nothing, so \
         what a restart keeps cannot be judged"
    )]
    Volatile,
    #[error(transparent)]
    Process(#[from] crate::process::CommandError),
    #[error("broker {0} is not part of this cluster")]
    UnknownBroker(i32),
    #[error("no bootstrap broker answered Metadata: {0}")]
    Unreachable(String),
    #[error(transparent)]
    Fault(#[from] crate::faults::FaultError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl ClusterError {
    /// A broker that does not come back (or does not rejoin) is the broker's failure.
    pub fn is_broker_failure(&self) -> bool {
        matches!(
            self,
            ClusterError::StartFailed { .. } | ClusterError::StartTimeout { .. } | ClusterError::NotListed { .. }
        )
    }
}

/// One process the harness started: a broker (standalone or in a cluster) or the controller.
struct Process {
    /// The broker's node id; 0 for the controller, which is never named by scenarios.
    node_id: i32,
    /// `broker` or `controller`.
    command: &'static str,
    /// Where it listens: port 0 at each start, then the port it bound; the proxies in front of
    /// it are pointed at it again after a restart.
    addr: SocketAddr,
    /// Arguments after `--listen` and `--data-dir`: node id, advertised address, controller and
    /// peer addresses, configs and defects. The same on every start.
    args: Vec<String>,
    data_dir: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
}

impl Process {
    fn label(&self) -> String {
        if self.node_id == 0 { "controller".into() } else { format!("broker-{}", self.node_id) }
    }
}

pub struct Cluster {
    target: Target,
    launcher: Option<Launcher>,
    brokers: Vec<Process>,
    /// The controller of a reference cluster of more than one broker. Tests never stop it.
    controller: Option<Process>,
    bootstrap: Vec<String>,
    /// Each reference broker's client proxy (what it advertises), by node id.
    client_addrs: BTreeMap<i32, String>,
    /// Network faults between the clients and the brokers, where the target has toxiproxy.
    faults: Option<crate::faults::Faults>,
    faults_refused: Option<String>,
    /// The embedded toxiproxy server of the cluster; stops when the cluster is dropped.
    _toxiproxy: Option<crate::toxiproxy::Server>,
    /// The Kafka-aware gateways between the client proxies and brokers that advertise their
    /// own addresses, by node id ([`crate::gateway`]).
    gateways: BTreeMap<i32, crate::gateway::Gateway>,
    /// Where the gateways send clients, and what they could not rewrite.
    book: Option<crate::gateway::AddressBook>,
    /// Brokers paused and not yet resumed: `heal` resumes them.
    paused: std::collections::BTreeSet<i32>,
    /// Whether a step has stopped, killed or paused a broker in this scenario.
    disturbed: bool,
    /// Brokers a process command has acted on in this scenario: their logs are kept when it
    /// fails, even when Metadata no longer lists them.
    commanded: std::collections::BTreeSet<i32>,
    /// Removed when the cluster is dropped, after its processes are killed.
    _dir: Option<tempfile::TempDir>,
}

/// How a broker goes down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM, then wait for a clean exit (logs flushed).
    Graceful,
    /// SIGKILL: no chance to flush anything.
    Kill,
}

/// A proxy's upstream until its target has bound a port: the discard port, refused at once.
const NOWHERE: &str = "127.0.0.1:9";

impl Cluster {
    pub async fn start(
        target: &Target,
        launcher: Option<&Launcher>,
        spec: &ClusterSpec,
    ) -> Result<Cluster, ClusterError> {
        match &target.kind {
            TargetKind::External { bootstrap, toxiproxy, network_faults, .. } => {
                Cluster::start_external(target, bootstrap, toxiproxy.as_ref(), *network_faults).await
            }
            TargetKind::LibrdkafkaMock { brokers } => {
                let launcher = launcher.cloned().map_or_else(Launcher::current_exe, Ok)?;
                let dir = tempfile::Builder::new().prefix("kafka-conformance-mock-").tempdir()?;
                let (child, bootstrap) =
                    spawn_mock(&launcher, *brokers, target.timeouts.startup_ms, &dir.path().join("mock.log")).await?;
                let broker = Process {
                    node_id: 1,
                    command: "mock-cluster",
                    addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                    args: Vec::new(),
                    data_dir: dir.path().to_path_buf(),
                    log_path: dir.path().join("mock.log"),
                    child: Some(child),
                };
                let bootstrap = bootstrap.split(',').map(str::to_string).collect();
                // Cluster is Drop: its fields are set, not moved out of a base.
                let mut cluster = Cluster::bare(target, bootstrap);
                cluster.brokers = vec![broker];
                cluster._dir = Some(dir);
                Ok(cluster)
            }
            TargetKind::Reference { config, defects, advertise } => {
                let own = *advertise == crate::target::Advertise::Own;
                let launcher = launcher.cloned().map_or_else(Launcher::current_exe, Ok)?;
                let dir = tempfile::Builder::new().prefix("kafka-conformance-").tempdir()?;
                // Every connection goes through a proxy on an embedded toxiproxy: the brokers
                // advertise their client proxies, so clients cannot bypass them, and reach each
                // other and the controller through link proxies.
                let toxiproxy = crate::toxiproxy::Server::start("127.0.0.1:0").await?;
                let mut faults = crate::faults::Faults::new(toxiproxy.addr.to_string());
                let n = spec.brokers.max(1);
                let ids: Vec<i32> = (1..=n).collect();
                // Every proxy's port must be known before the processes start (they are told
                // these addresses); upstreams are set once each target has bound its own port.
                let mut client_addrs = BTreeMap::new();
                for &id in &ids {
                    client_addrs.insert(id, faults.create_proxy(Link::Client(id), "127.0.0.1:0", NOWHERE).await?);
                }
                // Settings every process gets: the target's, then the scenario's (later wins).
                let mut common = Vec::new();
                // `__consumer_offsets` gets Kafka's replication factor of 3, or every broker
                // when there are fewer (the target's or the scenario's own setting wins).
                common.push("--config".to_string());
                common.push(format!("offsets.topic.replication.factor={}", n.min(3)));
                // Likewise `__transaction_state`, with Kafka's min.isr of 2 (1 for one broker).
                common.push("--config".to_string());
                common.push(format!("transaction.state.log.replication.factor={}", n.min(3)));
                common.push("--config".to_string());
                common.push(format!("transaction.state.log.min.isr={}", n.min(2)));
                for (k, v) in config.iter().chain(spec.configs.iter()) {
                    common.push("--config".to_string());
                    common.push(format!("{k}={v}"));
                }
                for d in defects {
                    common.push("--defect".to_string());
                    common.push(d.clone());
                }
                let mut controller = None;
                let mut broker_args: BTreeMap<i32, Vec<String>> = BTreeMap::new();
                if n > 1 {
                    let mut controller_links = BTreeMap::new();
                    for &id in &ids {
                        let link = Link::Controller(id);
                        controller_links.insert(id, faults.create_proxy(link, "127.0.0.1:0", NOWHERE).await?);
                    }
                    let mut c = Process {
                        node_id: 0,
                        command: "controller",
                        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                        args: common.clone(),
                        data_dir: dir.path().join("controller"),
                        log_path: dir.path().join("controller.log"),
                        child: None,
                    };
                    spawn(&launcher, target, &mut c).await?;
                    for &id in &ids {
                        faults.set_upstream(Link::Controller(id), &c.addr.to_string()).await?;
                    }
                    controller = Some(c);
                    for &from in &ids {
                        let mut args = vec!["--controller".to_string(), controller_links[&from].clone()];
                        for &to in ids.iter().filter(|&&to| to != from) {
                            let link = Link::Replication { from, to };
                            let listen = faults.create_proxy(link, "127.0.0.1:0", NOWHERE).await?;
                            args.push("--peer-address".into());
                            args.push(format!("{to}={listen}"));
                        }
                        broker_args.insert(from, args);
                    }
                }
                let mut brokers = Vec::new();
                let mut gateways = BTreeMap::new();
                let book = crate::gateway::AddressBook::default();
                for &id in &ids {
                    let mut args = vec!["--config".to_string(), format!("node.id={id}")];
                    if own {
                        // The broker advertises where it listens; its gateway sends clients to
                        // its proxy.
                        book.insert(id, &client_addrs[&id]).map_err(std::io::Error::other)?;
                    } else {
                        args.push("--advertise".into());
                        args.push(client_addrs[&id].clone());
                    }
                    args.extend(broker_args.remove(&id).unwrap_or_default());
                    args.extend(common.iter().cloned());
                    let mut b = Process {
                        node_id: id,
                        command: "broker",
                        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                        args,
                        data_dir: dir.path().join(format!("broker-{id}")),
                        log_path: dir.path().join(format!("broker-{id}.log")),
                        child: None,
                    };
                    spawn(&launcher, target, &mut b).await?;
                    let upstream = b.addr.to_string();
                    if own {
                        let gateway = crate::gateway::Gateway::start(&upstream, book.clone()).await?;
                        faults.set_upstream(Link::Client(id), &gateway.addr().to_string()).await?;
                        gateways.insert(id, gateway);
                    } else {
                        faults.set_upstream(Link::Client(id), &upstream).await?;
                    }
                    for &from in ids.iter().filter(|&&from| from != id && n > 1) {
                        faults.set_upstream(Link::Replication { from, to: id }, &upstream).await?;
                    }
                    brokers.push(b);
                }
                let cluster = Cluster {
                    target: target.clone(),
                    launcher: Some(launcher),
                    brokers,
                    controller,
                    bootstrap: client_addrs.values().cloned().collect(),
                    client_addrs,
                    paused: Default::default(),
                    disturbed: false,
                    commanded: Default::default(),
                    faults: Some(faults),
                    faults_refused: None,
                    _toxiproxy: Some(toxiproxy),
                    gateways,
                    book: own.then_some(book),
                    _dir: Some(dir),
                };
                // Started is not yet a cluster: every broker must be registered and unfenced,
                // as every broker's Metadata says, before a scenario may rely on it.
                cluster.wait_listed(&ids, &ids).await?;
                Ok(cluster)
            }
        }
    }

    /// A cluster of no process of the harness's own, reached at `bootstrap`, with no faults.
    fn bare(target: &Target, bootstrap: Vec<String>) -> Cluster {
        Cluster {
            target: target.clone(),
            launcher: None,
            brokers: Vec::new(),
            controller: None,
            bootstrap,
            client_addrs: BTreeMap::new(),
            paused: Default::default(),
            disturbed: false,
            commanded: Default::default(),
            faults: None,
            faults_refused: None,
            _toxiproxy: None,
            gateways: BTreeMap::new(),
            book: None,
            _dir: None,
        }
    }

    /// A broker someone else runs. With network faults (the default), every broker Metadata
    /// lists gets a toxiproxy proxy (on the target's toxiproxy, or on one embedded here) and a
    /// gateway behind it that rewrites advertised addresses to the proxies'; clients bootstrap
    /// from the proxies. With proxies the target file names, the brokers advertise them.
    async fn start_external(
        target: &Target,
        bootstrap: &[String],
        toxiproxy: Option<&crate::target::ToxiproxyTarget>,
        network_faults: bool,
    ) -> Result<Cluster, ClusterError> {
        let mut cluster = Cluster::bare(target, bootstrap.to_vec());
        if !network_faults {
            cluster.faults_refused =
                Some("the target file turns network faults off (`kind.network_faults: false`)".into());
            return Ok(cluster);
        }
        if let Some(t) = toxiproxy.filter(|t| !t.proxies.is_empty()) {
            let faults = crate::faults::Faults::existing(t.addr().to_string(), t.proxies.clone());
            // A previous run may have died with a fault in place.
            faults.reset().await?;
            cluster.faults = Some(faults);
            return Ok(cluster);
        }
        let brokers = discover(bootstrap, Duration::from_millis(target.timeouts.request_ms)).await?;
        let mut faults = match toxiproxy {
            Some(t) => {
                // Names no other run (or the user's own proxies) can have.
                static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                crate::faults::Faults::shared(
                    t.addr().to_string(),
                    format!("kafka-conformance-{}-{seq}-", std::process::id()),
                )
            }
            None => {
                let server = crate::toxiproxy::Server::start("127.0.0.1:0").await?;
                let faults = crate::faults::Faults::new(server.addr.to_string());
                cluster._toxiproxy = Some(server);
                faults
            }
        };
        let book = crate::gateway::AddressBook::default();
        for (node, advertised) in &brokers {
            let gateway = crate::gateway::Gateway::start(advertised, book.clone()).await?;
            let listen = faults.create_proxy(Link::Client(*node), "127.0.0.1:0", &gateway.addr().to_string()).await;
            // Set for `Drop` before a failure returns, so what was created is removed.
            cluster.faults = Some(faults.clone());
            let listen = listen?;
            book.insert(*node, &listen).map_err(std::io::Error::other)?;
            cluster.client_addrs.insert(*node, listen);
            cluster.gateways.insert(*node, gateway);
        }
        cluster.bootstrap = cluster.client_addrs.values().cloned().collect();
        cluster.faults = Some(faults);
        cluster.book = Some(book);
        Ok(cluster)
    }

    /// The gateways' address book, where brokers advertise their own addresses.
    pub fn address_book(&self) -> Option<&crate::gateway::AddressBook> {
        self.book.as_ref()
    }

    pub fn bootstrap(&self) -> String {
        self.bootstrap.join(",")
    }

    pub fn bootstrap_addrs(&self) -> &[String] {
        &self.bootstrap
    }

    /// The bootstrap addresses, those of brokers that are running and not paused first: a
    /// wire client tries them in this order, so a killed broker costs nothing and a paused
    /// one (which accepts connections and answers nothing) is asked last.
    pub fn live_bootstrap_addrs(&self) -> Vec<String> {
        if self.client_addrs.is_empty() {
            return self.bootstrap.clone();
        }
        let mut addrs: Vec<(bool, String)> = self
            .client_addrs
            .iter()
            .map(|(id, a)| (self.is_running(*id) && !self.paused.contains(id), a.clone()))
            .collect();
        addrs.sort_by_key(|(live, _)| !*live);
        addrs.into_iter().map(|(_, a)| a).collect()
    }

    /// The address broker `node` advertises (its client proxy), for a reference cluster.
    pub fn client_addr(&self, node: i32) -> Option<&str> {
        self.client_addrs.get(&node).map(String::as_str)
    }

    /// The directory broker `node` keeps partition `topic`-`partition` in (Kafka's layout,
    /// `<log dir>/<topic>-<partition>/`), for a broker process the harness started itself; None
    /// for brokers whose files it cannot reach (external targets, the librdkafka mock).
    pub fn partition_dir(&self, node: i32, topic: &str, partition: i32) -> Option<PathBuf> {
        self.brokers
            .iter()
            .find(|b| b.node_id == node && b.command == "broker")
            .map(|b| b.data_dir.join(format!("{topic}-{partition}")))
    }

    /// Whether the harness started broker `node` and it has not been stopped since.
    pub fn is_running(&self, node: i32) -> bool {
        self.brokers.iter().any(|b| b.node_id == node && b.child.is_some())
    }

    /// Whether the scenario put a fault in place: a broker stopped, killed or paused, or a
    /// network fault through toxiproxy.
    pub fn faulted(&self) -> bool {
        self.disturbed || self.faults.as_ref().is_some_and(crate::faults::Faults::injected)
    }

    /// The brokers paused and not yet resumed.
    pub fn paused_ids(&self) -> Vec<i32> {
        self.paused.iter().copied().collect()
    }

    pub fn is_paused(&self, node: i32) -> bool {
        self.paused.contains(&node)
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Network faults, where the target has toxiproxy in front of its brokers.
    pub fn faults(&self) -> Option<&crate::faults::Faults> {
        self.faults.as_ref()
    }

    /// Withdraws network faults from this cluster (clients could bypass the proxies), with the
    /// reason fault scenarios are then not supported.
    pub fn disable_faults(&mut self, reason: String) {
        self.faults = None;
        self.faults_refused = Some(reason);
    }

    /// Why network faults are not available, if they were refused at start.
    pub fn faults_refused(&self) -> Option<&str> {
        self.faults_refused.as_deref()
    }

    /// Node ids of the brokers this harness controls (empty for an external target).
    pub fn broker_ids(&self) -> Vec<i32> {
        self.brokers.iter().map(|b| b.node_id).collect()
    }

    /// The tail of a reference broker's log, for failure reports.
    pub fn broker_log(&self, node: i32) -> Option<String> {
        let b = self.brokers.iter().find(|b| b.node_id == node)?;
        std::fs::read_to_string(&b.log_path).ok().map(|s| tail(&s, 60))
    }

    /// The tails of every log this cluster wrote, labelled `controller` and `broker-N`.
    pub fn logs(&self) -> Vec<(String, String)> {
        self.controller
            .iter()
            .chain(self.brokers.iter())
            .filter_map(|p| std::fs::read_to_string(&p.log_path).ok().map(|s| (p.label(), tail(&s, 60))))
            .collect()
    }

    /// Lines of an external broker's log kept for a failure's report.
    const LOG_LINES: usize = 200;

    /// What an external target's `process.log` command prints for each broker, its last
    /// [`Self::LOG_LINES`] lines, labelled `broker-N` as the reference's logs are: for the
    /// brokers Metadata lists now and those a process command acted on. A command that fails
    /// leaves its error in place of the log. Nothing without a `log` command.
    pub async fn command_logs(&self) -> Vec<(String, String)> {
        let TargetKind::External { process: Some(p), .. } = &self.target.kind else { return Vec::new() };
        let Some(log) = &p.log else { return Vec::new() };
        let mut nodes = self.commanded.clone();
        let timeout = Duration::from_millis(self.target.timeouts.request_ms);
        for addr in self.live_bootstrap_addrs() {
            if let Ok(listed) = listed_brokers(&addr, timeout).await {
                nodes.extend(listed);
                break;
            }
        }
        let mut logs = Vec::new();
        for node in nodes {
            let text = match crate::process::run(log, Action::Log, node, timeout).await {
                Ok(out) => tail(&out, Self::LOG_LINES),
                Err(e) => format!("(no log: {e})"),
            };
            logs.push((format!("broker-{node}"), text));
        }
        logs
    }

    pub async fn stop(&mut self, node: i32, how: Stop) -> Result<(), ClusterError> {
        self.disturbed = true;
        if matches!(self.target.kind, TargetKind::LibrdkafkaMock { .. }) {
            return Err(ClusterError::NoProcessControl { action: "stop" });
        }
        if let TargetKind::External { process, .. } = &self.target.kind {
            let p = process.as_ref().ok_or(ClusterError::NoProcessControl { action: "stop" })?;
            let (cmd, action) = if how == Stop::Kill { (&p.kill, Action::Kill) } else { (&p.stop, Action::Stop) };
            self.commanded.insert(node);
            return run_command(cmd, action, node, self.target.timeouts.startup_ms).await;
        }
        let timeout = Duration::from_millis(self.target.timeouts.startup_ms);
        let b = self.brokers.iter_mut().find(|b| b.node_id == node).ok_or(ClusterError::UnknownBroker(node))?;
        if let Some(mut child) = b.child.take() {
            match (how, child.id()) {
                (Stop::Graceful, Some(pid)) => {
                    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
                    if tokio::time::timeout(timeout, child.wait()).await.is_err() {
                        // Did not stop in time: that is the broker's problem to report, but the
                        // process must not outlive the scenario.
                        let _ = child.kill().await;
                    }
                }
                _ => {
                    let _ = child.kill().await;
                }
            }
        }
        // A stopped process is not paused any more: nothing to resume after the scenario.
        self.paused.remove(&node);
        Ok(())
    }

    /// Freezes a broker (SIGSTOP): its sockets stay open and nothing is answered, as in a long
    /// GC pause or a stalled disk.
    pub async fn pause(&mut self, node: i32) -> Result<(), ClusterError> {
        self.signal(node, Signal::SIGSTOP, "pause").await
    }

    /// Undoes `pause` (SIGCONT).
    pub async fn resume(&mut self, node: i32) -> Result<(), ClusterError> {
        self.signal(node, Signal::SIGCONT, "resume").await
    }

    async fn signal(&mut self, node: i32, signal: Signal, action: &'static str) -> Result<(), ClusterError> {
        self.disturbed = true;
        match &self.target.kind {
            TargetKind::External { process, .. } => {
                let command = process
                    .as_ref()
                    .and_then(|p| if signal == Signal::SIGSTOP { p.pause.clone() } else { p.resume.clone() })
                    .ok_or(ClusterError::NoProcessControl { action })?;
                let action = if signal == Signal::SIGSTOP { Action::Pause } else { Action::Resume };
                self.commanded.insert(node);
                run_command(&command, action, node, self.target.timeouts.startup_ms).await?;
            }
            TargetKind::LibrdkafkaMock { .. } => return Err(ClusterError::NoProcessControl { action }),
            TargetKind::Reference { .. } => {
                let b = self.brokers.iter_mut().find(|b| b.node_id == node).ok_or(ClusterError::UnknownBroker(node))?;
                if let Some(pid) = b.child.as_ref().and_then(Child::id) {
                    kill(Pid::from_raw(pid as i32), signal).map_err(|e| std::io::Error::other(e.to_string()))?;
                }
            }
        }
        if signal == Signal::SIGSTOP {
            self.paused.insert(node);
        } else {
            self.paused.remove(&node);
        }
        Ok(())
    }

    /// Undoes every process and network fault still in place (paused brokers, cut links
    /// between brokers and to the controller, toxics): run after every scenario, so the next one
    /// (on a shared external cluster) finds every broker running.
    pub async fn heal(&mut self) -> Vec<ClusterError> {
        let paused: Vec<i32> = self.paused.iter().copied().collect();
        let mut errors = Vec::new();
        if let Some(f) = &self.faults
            && let Err(e) = f.heal().await
        {
            errors.push(e.into());
        }
        for node in paused {
            if let Err(e) = self.resume(node).await {
                errors.push(e);
            }
        }
        errors
    }

    /// Starts a stopped broker on the same address with the same data directory, and waits
    /// until it lists itself in Metadata (registered with the controller and unfenced).
    pub async fn start_broker(&mut self, node: i32) -> Result<(), ClusterError> {
        if let TargetKind::External { process, .. } = &self.target.kind {
            let p = process.as_ref().ok_or(ClusterError::NoProcessControl { action: "start" })?;
            self.commanded.insert(node);
            run_command(&p.start, Action::Start, node, self.target.timeouts.startup_ms).await?;
            // Started, so the next scenarios have a broker; but this one cannot judge what the
            // restart kept.
            return if p.volatile { Err(ClusterError::Volatile) } else { Ok(()) };
        }
        let launcher = self.launcher.clone().ok_or(ClusterError::UnknownBroker(node))?;
        let target = self.target.clone();
        let b = self.brokers.iter_mut().find(|b| b.node_id == node).ok_or(ClusterError::UnknownBroker(node))?;
        if b.child.is_some() {
            return Ok(());
        }
        // A new port each start: the old one may have been taken meanwhile ("Address already in
        // use"). Clients and peers reach the broker through its proxies, which follow it.
        b.addr.set_port(0);
        spawn(&launcher, &target, b).await?;
        let upstream = b.addr.to_string();
        if let Some(faults) = &self.faults
            && matches!(self.target.kind, TargetKind::Reference { .. })
        {
            match self.gateways.get(&node) {
                Some(gateway) => gateway.set_upstream(&upstream),
                None => faults.set_upstream(Link::Client(node), &upstream).await?,
            }
            let peers: Vec<i32> = self.brokers.iter().map(|p| p.node_id).filter(|&id| id != node).collect();
            if self.controller.is_some() {
                for from in peers {
                    faults.set_upstream(Link::Replication { from, to: node }, &upstream).await?;
                }
            }
        }
        self.wait_listed(&[node], &[node]).await
    }

    pub async fn restart(&mut self, node: i32, how: Stop) -> Result<(), ClusterError> {
        if self.volatile() {
            return Err(ClusterError::Volatile);
        }
        self.stop(node, how).await?;
        self.start_broker(node).await
    }

    /// Whether the target declares that its brokers keep nothing across a restart.
    pub fn volatile(&self) -> bool {
        matches!(&self.target.kind, TargetKind::External { process: Some(p), .. } if p.volatile)
    }

    /// Polls Metadata every 50 ms on the client proxies of `ask` (those running and not
    /// paused) until each lists every broker of `expect`, for at most `timeouts.startup_ms`.
    async fn wait_listed(&self, ask: &[i32], expect: &[i32]) -> Result<(), ClusterError> {
        let ms = self.target.timeouts.startup_ms;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
        let per_request = Duration::from_millis(self.target.timeouts.request_ms.min(ms));
        let mut pace = tokio::time::interval(Duration::from_millis(50));
        let mut last = String::from("no answer yet");
        loop {
            pace.tick().await;
            let mut all = true;
            for id in ask.iter().filter(|id| self.is_running(**id) && !self.paused.contains(id)) {
                let Some(addr) = self.client_addrs.get(id) else { continue };
                let listed = match listed_brokers(addr, per_request).await {
                    Ok(listed) => listed,
                    Err(e) => {
                        last = format!("broker {id}: {e}");
                        all = false;
                        break;
                    }
                };
                if !expect.iter().all(|e| listed.contains(e)) {
                    last = format!("broker {id} lists {listed:?}");
                    all = false;
                    break;
                }
            }
            if all {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                let log = self
                    .logs()
                    .into_iter()
                    .map(|(label, log)| format!("--- {label} ---\n{}", tail(&log, 15)))
                    .collect::<Vec<_>>()
                    .join("\n");
                return Err(ClusterError::NotListed { nodes: expect.to_vec(), ms, last, log });
            }
        }
    }
}

/// Each broker's node id and the address it advertises, as the first bootstrap address that
/// answers Metadata says.
pub async fn discover(bootstrap: &[String], timeout: Duration) -> Result<Vec<(i32, String)>, ClusterError> {
    use kafka_protocol::messages::{MetadataRequest, RequestKind, ResponseKind};
    let mut errors = Vec::new();
    for addr in bootstrap {
        let answer = async {
            let mut client = crate::wire::WireClient::connect(addr, timeout).await?;
            client.request(RequestKind::Metadata(MetadataRequest::default().with_topics(Some(Vec::new())))).await
        };
        match answer.await {
            Ok(ResponseKind::Metadata(m)) if !m.brokers.is_empty() => {
                return Ok(m
                    .brokers
                    .iter()
                    .map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port)))
                    .collect());
            }
            Ok(_) => errors.push(format!("{addr}: Metadata listed no broker")),
            Err(e) => errors.push(format!("{addr}: {e}")),
        }
    }
    Err(ClusterError::Unreachable(errors.join("; ")))
}

/// The node ids one broker's Metadata lists.
async fn listed_brokers(addr: &str, timeout: Duration) -> Result<Vec<i32>, crate::wire::WireError> {
    use kafka_protocol::messages::{MetadataRequest, RequestKind, ResponseKind};
    let mut client = crate::wire::WireClient::connect(addr, timeout).await?;
    match client.request(RequestKind::Metadata(MetadataRequest::default().with_topics(Some(Vec::new())))).await? {
        ResponseKind::Metadata(m) => Ok(m.brokers.iter().map(|b| b.node_id.0).collect()),
        _ => Ok(Vec::new()),
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(f) = &self.faults {
            f.remove_created_proxies();
        }
        for b in self.brokers.iter_mut().chain(self.controller.iter_mut()) {
            if let Some(child) = b.child.as_mut() {
                let _ = child.start_kill();
            }
        }
    }
}

async fn spawn(launcher: &Launcher, target: &Target, b: &mut Process) -> Result<(), ClusterError> {
    if !matches!(target.kind, TargetKind::Reference { .. }) {
        return Ok(());
    }
    let mut cmd = Command::new(&launcher.program);
    cmd.args(&launcher.args)
        .arg(b.command)
        .arg("--listen")
        .arg(b.addr.to_string())
        .arg("--data-dir")
        .arg(&b.data_dir)
        .args(&b.args);
    let log = std::fs::OpenOptions::new().create(true).append(true).open(&b.log_path)?;
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::from(log)).kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|source| ClusterError::Spawn { program: launcher.program.display().to_string(), source })?;
    let stdout = child.stdout.take().ok_or_else(|| std::io::Error::other("no stdout pipe"))?;
    let mut lines = BufReader::new(stdout).lines();
    let ms = target.timeouts.startup_ms;
    let first = tokio::time::timeout(Duration::from_millis(ms), lines.next_line()).await;
    let read_log = || std::fs::read_to_string(&b.log_path).map(|s| tail(&s, 40)).unwrap_or_default();
    match first {
        Ok(Ok(Some(line))) => {
            b.addr = line.trim().parse().map_err(|_| ClusterError::StartFailed {
                node: b.label(),
                status: format!("printed {line:?} instead of its address"),
                log: read_log(),
            })?;
        }
        Ok(_) => {
            let status = child.wait().await.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
            return Err(ClusterError::StartFailed { node: b.label(), status, log: read_log() });
        }
        Err(_) => {
            let _ = child.kill().await;
            return Err(ClusterError::StartTimeout { node: b.label(), ms, log: read_log() });
        }
    }
    // Keep draining stdout so the broker never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    b.child = Some(child);
    Ok(())
}

/// Starts `kafka-conformance mock-cluster` and reads its bootstrap line.
async fn spawn_mock(
    launcher: &Launcher,
    brokers: i32,
    ms: u64,
    log_path: &std::path::Path,
) -> Result<(Child, String), ClusterError> {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log_path)?;
    let mut child = Command::new(&launcher.program)
        .args(["mock-cluster", "--brokers", &brokers.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| ClusterError::Spawn { program: launcher.program.display().to_string(), source })?;
    let stdout = child.stdout.take().ok_or_else(|| std::io::Error::other("no stdout pipe"))?;
    let mut lines = BufReader::new(stdout).lines();
    let read_log = || std::fs::read_to_string(log_path).map(|s| tail(&s, 40)).unwrap_or_default();
    match tokio::time::timeout(Duration::from_millis(ms), lines.next_line()).await {
        Ok(Ok(Some(line))) => {
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            Ok((child, line.trim().to_string()))
        }
        Ok(_) => {
            let status = child.wait().await.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
            Err(ClusterError::StartFailed { node: "mock cluster".into(), status, log: read_log() })
        }
        Err(_) => {
            let _ = child.kill().await;
            Err(ClusterError::StartTimeout { node: "mock cluster".into(), ms, log: read_log() })
        }
    }
}

/// Runs a process command under the contract of [`crate::process`].
async fn run_command(template: &str, action: Action, node: i32, timeout_ms: u64) -> Result<(), ClusterError> {
    crate::process::run(template, action, node, Duration::from_millis(timeout_ms)).await?;
    Ok(())
}

fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
