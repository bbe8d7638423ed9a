//! The brokers a scenario talks to: reference broker processes the harness starts itself (each
//! a real OS process with its own data directory, so SIGKILL and restarts are real), or an
//! external target's bootstrap addresses.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

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

/// Trouble in the harness or the environment, never a verdict on the broker.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot start reference broker {program}: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("reference broker {node} did not report its address within {ms} ms; its log:\n{log}")]
    StartTimeout { node: i32, ms: u64, log: String },
    #[error("reference broker {node} exited during start-up ({status}); its log:\n{log}")]
    StartFailed { node: i32, status: String, log: String },
    #[error("this target cannot {action} brokers: its target file has no `process` commands")]
    NoProcessControl { action: &'static str },
    #[error("process command `{command}` failed: {message}")]
    Command { command: String, message: String },
    #[error("broker {0} is not part of this cluster")]
    UnknownBroker(i32),
    #[error(transparent)]
    Fault(#[from] crate::faults::FaultError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

struct ReferenceBroker {
    node_id: i32,
    addr: SocketAddr,
    /// The address Metadata gives clients: the broker's proxy, so faults cannot be bypassed.
    advertise: Option<String>,
    data_dir: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
}

pub struct Cluster {
    target: Target,
    launcher: Option<Launcher>,
    brokers: Vec<ReferenceBroker>,
    bootstrap: Vec<String>,
    /// Network faults between the clients and the brokers, where the target has toxiproxy.
    faults: Option<crate::faults::Faults>,
    faults_refused: Option<String>,
    /// The embedded toxiproxy server of a reference cluster; stops when the cluster is dropped.
    _toxiproxy: Option<crate::toxiproxy::Server>,
    /// Brokers paused and not yet resumed: `heal` resumes them.
    paused: std::collections::BTreeSet<i32>,
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

impl Cluster {
    pub async fn start(target: &Target, launcher: Option<&Launcher>) -> Result<Cluster, ClusterError> {
        match &target.kind {
            TargetKind::External { bootstrap, toxiproxy, .. } => Ok(Cluster {
                target: target.clone(),
                launcher: None,
                brokers: Vec::new(),
                bootstrap: bootstrap.clone(),
                paused: Default::default(),
                faults: match toxiproxy {
                    Some(t) => {
                        let faults = crate::faults::Faults::existing(t.addr().to_string(), t.proxies.clone());
                        // A previous run may have died with a fault in place.
                        faults.reset().await?;
                        Some(faults)
                    }
                    None => None,
                },
                faults_refused: None,
                _toxiproxy: None,
                _dir: None,
            }),
            TargetKind::LibrdkafkaMock { brokers } => {
                let launcher = launcher.cloned().map_or_else(Launcher::current_exe, Ok)?;
                let dir = tempfile::Builder::new().prefix("kafka-conformance-mock-").tempdir()?;
                let (child, bootstrap) =
                    spawn_mock(&launcher, *brokers, target.timeouts.startup_ms, &dir.path().join("mock.log")).await?;
                let broker = ReferenceBroker {
                    node_id: 1,
                    addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                    advertise: None,
                    data_dir: dir.path().to_path_buf(),
                    log_path: dir.path().join("mock.log"),
                    child: Some(child),
                };
                let bootstrap = bootstrap.split(',').map(str::to_string).collect();
                Ok(Cluster {
                    target: target.clone(),
                    launcher: None,
                    brokers: vec![broker],
                    bootstrap,
                    paused: Default::default(),
                    faults: None,
                    faults_refused: None,
                    _toxiproxy: None,
                    _dir: Some(dir),
                })
            }
            TargetKind::Reference { .. } => {
                let launcher = launcher.cloned().map_or_else(Launcher::current_exe, Ok)?;
                let dir = tempfile::Builder::new().prefix("kafka-conformance-").tempdir()?;
                // Every client connection goes through the broker's proxy on an embedded
                // toxiproxy: the broker advertises the proxy, so clients cannot bypass it.
                let toxiproxy = crate::toxiproxy::Server::start("127.0.0.1:0").await?;
                let mut faults = crate::faults::Faults::new(toxiproxy.addr.to_string());
                let node_id = 1;
                // The proxy's port must be known before the broker starts (it advertises it);
                // its upstream is set once the broker has bound its own port.
                let proxy = faults.create_proxy(node_id, "127.0.0.1:0", "127.0.0.1:9").await?;
                let mut broker = ReferenceBroker {
                    node_id,
                    addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                    advertise: Some(proxy.clone()),
                    data_dir: dir.path().join(format!("broker-{node_id}")),
                    log_path: dir.path().join(format!("broker-{node_id}.log")),
                    child: None,
                };
                spawn(&launcher, target, &mut broker).await?;
                faults.set_upstream(node_id, &broker.addr.to_string()).await?;
                Ok(Cluster {
                    target: target.clone(),
                    launcher: Some(launcher),
                    brokers: vec![broker],
                    bootstrap: vec![proxy],
                    paused: Default::default(),
                    faults: Some(faults),
                    faults_refused: None,
                    _toxiproxy: Some(toxiproxy),
                    _dir: Some(dir),
                })
            }
        }
    }

    pub fn bootstrap(&self) -> String {
        self.bootstrap.join(",")
    }

    pub fn bootstrap_addrs(&self) -> &[String] {
        &self.bootstrap
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

    pub async fn stop(&mut self, node: i32, how: Stop) -> Result<(), ClusterError> {
        if matches!(self.target.kind, TargetKind::LibrdkafkaMock { .. }) {
            return Err(ClusterError::NoProcessControl { action: "stop" });
        }
        if let TargetKind::External { process, .. } = &self.target.kind {
            let p = process.as_ref().ok_or(ClusterError::NoProcessControl { action: "stop" })?;
            let cmd = if how == Stop::Kill { &p.kill } else { &p.stop };
            return run_command(cmd, node, self.target.timeouts.startup_ms).await;
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
        match &self.target.kind {
            TargetKind::External { process, .. } => {
                let command = process
                    .as_ref()
                    .and_then(|p| if signal == Signal::SIGSTOP { p.pause.clone() } else { p.resume.clone() })
                    .ok_or(ClusterError::NoProcessControl { action })?;
                run_command(&command, node, self.target.timeouts.startup_ms).await?;
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

    /// Undoes every process fault still in place: run after every scenario, so the next one
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

    /// Starts a stopped broker on the same address with the same data directory.
    pub async fn start_broker(&mut self, node: i32) -> Result<(), ClusterError> {
        if let TargetKind::External { process, .. } = &self.target.kind {
            let p = process.as_ref().ok_or(ClusterError::NoProcessControl { action: "start" })?;
            return run_command(&p.start, node, self.target.timeouts.startup_ms).await;
        }
        let launcher = self.launcher.clone().ok_or(ClusterError::UnknownBroker(node))?;
        let target = self.target.clone();
        let b = self.brokers.iter_mut().find(|b| b.node_id == node).ok_or(ClusterError::UnknownBroker(node))?;
        spawn(&launcher, &target, b).await
    }

    pub async fn restart(&mut self, node: i32, how: Stop) -> Result<(), ClusterError> {
        self.stop(node, how).await?;
        self.start_broker(node).await
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for b in &mut self.brokers {
            if let Some(child) = b.child.as_mut() {
                let _ = child.start_kill();
            }
        }
    }
}

async fn spawn(launcher: &Launcher, target: &Target, b: &mut ReferenceBroker) -> Result<(), ClusterError> {
    let TargetKind::Reference { config, defects } = &target.kind else {
        return Ok(());
    };
    let mut cmd = Command::new(&launcher.program);
    cmd.args(&launcher.args)
        .arg("broker")
        .arg("--listen")
        .arg(b.addr.to_string())
        .arg("--data-dir")
        .arg(&b.data_dir)
        .arg("--config")
        .arg(format!("node.id={}", b.node_id));
    if let Some(a) = &b.advertise {
        cmd.arg("--advertise").arg(a);
    }
    for (k, v) in config {
        cmd.arg("--config").arg(format!("{k}={v}"));
    }
    for d in defects {
        cmd.arg("--defect").arg(d);
    }
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
                node: b.node_id,
                status: format!("printed {line:?} instead of its address"),
                log: read_log(),
            })?;
        }
        Ok(_) => {
            let status = child.wait().await.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
            return Err(ClusterError::StartFailed { node: b.node_id, status, log: read_log() });
        }
        Err(_) => {
            let _ = child.kill().await;
            return Err(ClusterError::StartTimeout { node: b.node_id, ms, log: read_log() });
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
            Err(ClusterError::StartFailed { node: 1, status, log: read_log() })
        }
        Err(_) => {
            let _ = child.kill().await;
            Err(ClusterError::StartTimeout { node: 1, ms, log: read_log() })
        }
    }
}

async fn run_command(template: &str, node: i32, timeout_ms: u64) -> Result<(), ClusterError> {
    let command = template.replace("{broker}", &node.to_string());
    let out =
        tokio::time::timeout(Duration::from_millis(timeout_ms), Command::new("sh").arg("-c").arg(&command).output())
            .await
            .map_err(|_| ClusterError::Command {
                command: command.clone(),
                message: format!("did not finish within {timeout_ms} ms"),
            })??;
    if !out.status.success() {
        return Err(ClusterError::Command {
            command,
            message: format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()),
        });
    }
    Ok(())
}

fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
