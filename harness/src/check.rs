//! `kafka-conformance check-target`: what a run would find out one scenario at a time, found
//! out at once, each problem on one line naming the file, line and field.
//!
//! For an external target it reaches every bootstrap address (ApiVersions), reads Metadata
//! (node ids and what each broker advertises) and reaches each advertised address; reaches
//! toxiproxy; checks the proxies a target file names (each exists, its node id is one Metadata
//! lists, its broker advertises it), or sets up the harness's own proxies and gateways and reads
//! Metadata through them; and runs `process.status` for every broker.

use std::path::Path;
use std::time::Duration;

use kafka_protocol::messages::{MetadataRequest, RequestKind, ResponseKind};

use crate::cluster::{Cluster, ClusterSpec};
use crate::target::{Target, TargetKind, line_of};
use crate::wire::WireClient;

/// One finding: fine, or a problem at a field of the file.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    Ok(String),
    /// `field` of the target file (None: not the file's fault, e.g. what Metadata says).
    Problem {
        field: Option<String>,
        message: String,
    },
}

/// The findings, in the order they were made.
#[derive(Debug, Default)]
pub struct Diagnosis {
    pub findings: Vec<Finding>,
}

impl Diagnosis {
    fn ok(&mut self, m: impl Into<String>) {
        self.findings.push(Finding::Ok(m.into()));
    }

    fn problem(&mut self, field: Option<&str>, m: impl Into<String>) {
        self.findings.push(Finding::Problem { field: field.map(str::to_string), message: m.into() });
    }

    pub fn problems(&self) -> usize {
        self.findings.iter().filter(|f| matches!(f, Finding::Problem { .. })).count()
    }

    /// One line per finding: `ok  ...`, or `path:line: field: message` for a problem.
    pub fn lines(&self, path: &Path, text: &str) -> Vec<String> {
        self.findings
            .iter()
            .map(|f| match f {
                Finding::Ok(m) => format!("ok       {m}"),
                Finding::Problem { field: Some(field), message } => {
                    let at = match line_of(text, field) {
                        Some(line) => format!("{}:{line}", path.display()),
                        None => path.display().to_string(),
                    };
                    format!("problem  {at}: {field}: {message}")
                }
                Finding::Problem { field: None, message } => format!("problem  {}: {message}", path.display()),
            })
            .collect()
    }
}

/// Node id and advertised `host:port` of each broker, from one Metadata answer.
async fn metadata(addr: &str, timeout: Duration) -> Result<Vec<(i32, String)>, String> {
    let mut c = WireClient::connect(addr, timeout).await.map_err(|e| e.to_string())?;
    let req = MetadataRequest::default().with_topics(Some(Vec::new()));
    match c.request(RequestKind::Metadata(req)).await.map_err(|e| e.to_string())? {
        ResponseKind::Metadata(m) => {
            Ok(m.brokers.iter().map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port))).collect())
        }
        _ => Err("Metadata answered with another response type".into()),
    }
}

/// Diagnoses a target that parsed. Reference and mock targets are started by the harness, so
/// only their file can be wrong, and it parsed. With `cycle`, the process commands are tried
/// too (see [`cycle`]).
pub async fn diagnose(target: &Target, cycle_processes: bool) -> Diagnosis {
    let mut d = Diagnosis::default();
    let TargetKind::External { bootstrap, process, toxiproxy, network_faults, .. } = &target.kind else {
        d.ok(format!("target {:?}: the harness starts its brokers itself; nothing to reach", target.name));
        return d;
    };
    let timeout = Duration::from_millis(target.timeouts.request_ms.min(5_000));

    // Every bootstrap address: a connection and ApiVersions.
    let mut first_up = None;
    for (i, addr) in bootstrap.iter().enumerate() {
        match WireClient::connect(addr, timeout).await {
            Ok(c) => {
                d.ok(format!("kind.bootstrap[{i}] {addr} answers ApiVersions ({} APIs)", c.api_count()));
                first_up.get_or_insert(addr.clone());
            }
            Err(e) => d.problem(Some(&format!("kind.bootstrap[{i}]")), format!("{addr} does not answer: {e}")),
        }
    }
    let Some(up) = first_up else {
        d.problem(None, "no bootstrap address answers, so nothing else can be checked");
        return d;
    };

    // What the brokers advertise, and whether this machine reaches it.
    let brokers = match metadata(&up, timeout).await {
        Ok(b) if !b.is_empty() => b,
        Ok(_) => {
            d.problem(None, format!("Metadata from {up} lists no broker"));
            return d;
        }
        Err(e) => {
            d.problem(None, format!("Metadata from {up} failed: {e}"));
            return d;
        }
    };
    let ids: Vec<i32> = brokers.iter().map(|(id, _)| *id).collect();
    d.ok(format!(
        "Metadata lists {} broker(s): {}",
        brokers.len(),
        brokers.iter().map(|(id, a)| format!("node {id} at {a}")).collect::<Vec<_>>().join(", ")
    ));
    for (id, addr) in &brokers {
        match WireClient::connect(addr, timeout).await {
            Ok(_) => d.ok(format!("broker {id} answers at the address it advertises, {addr}")),
            Err(e) => d.problem(
                None,
                format!(
                    "broker {id} advertises {addr}, which does not answer from here ({e}): clients follow what \
                     brokers advertise; set the broker's advertised listener to an address this machine reaches"
                ),
            ),
        }
    }

    // Network faults.
    let own_proxies = toxiproxy.as_ref().is_some_and(|t| !t.proxies.is_empty());
    if let Some(t) = toxiproxy {
        let addr = t.addr().to_string();
        match tokio::task::spawn_blocking(move || crate::faults::http_get(&addr, "/version")).await {
            Ok(Ok(v)) => {
                // 2.12 answers {"version": "2.12.0"}; older releases the bare version.
                let version = serde_json::from_str::<serde_json::Value>(&v)
                    .ok()
                    .and_then(|j| j["version"].as_str().map(str::to_string))
                    .unwrap_or_else(|| v.trim().to_string());
                d.ok(format!("kind.toxiproxy.url {} answers (toxiproxy {version})", t.url))
            }
            Ok(Err(e)) => d.problem(Some("kind.toxiproxy.url"), format!("toxiproxy does not answer at {}: {e}", t.url)),
            Err(e) => d.problem(Some("kind.toxiproxy.url"), e.to_string()),
        }
    }
    if !network_faults {
        d.ok("network faults are off (`kind.network_faults: false`): @fault scenarios are not supported");
    } else if own_proxies {
        check_own_proxies(&mut d, target, &brokers, timeout).await;
    } else {
        // The harness's own proxies and gateways, exactly as a scenario sets them up.
        match Cluster::start(target, None, &ClusterSpec::default()).await {
            Ok(cluster) => {
                let through = cluster.bootstrap_addrs().first().cloned().unwrap_or_default();
                match metadata(&through, timeout).await {
                    Ok(seen) => {
                        let bypassed: Vec<String> = seen
                            .iter()
                            .filter(|(id, a)| cluster.client_addr(*id) != Some(a.as_str()))
                            .map(|(id, a)| format!("broker {id} at {a}"))
                            .collect();
                        if bypassed.is_empty() {
                            d.ok(format!(
                                "network faults: a proxy and a gateway in front of each broker; through them, \
                                 Metadata names only the proxies ({})",
                                seen.iter().map(|(_, a)| a.as_str()).collect::<Vec<_>>().join(", ")
                            ));
                        } else {
                            d.problem(
                                None,
                                format!("network faults: clients would bypass the proxies to {}", bypassed.join(", ")),
                            );
                        }
                    }
                    Err(e) => d.problem(None, format!("network faults: Metadata through the proxy failed: {e}")),
                }
                if let Some(book) = cluster.address_book() {
                    for p in book.problems() {
                        d.problem(None, format!("network faults: {p}"));
                    }
                }
            }
            Err(e) => d.problem(Some("kind.toxiproxy"), format!("cannot set up the proxies: {e}")),
        }
    }

    // Process commands: `status` for every broker Metadata lists.
    match process {
        None => d.ok("no `process` commands: @process scenarios are not supported"),
        Some(p) => match &p.status {
            None => d.ok(
                "process commands given, without `status` to check them with; they are tried only when a scenario \
                 runs them",
            ),
            Some(status) => {
                for id in &ids {
                    let t = Duration::from_millis(target.timeouts.startup_ms);
                    match crate::process::run(status, crate::process::Action::Status, *id, t).await {
                        Ok(_) => d.ok(format!("kind.process.status says broker {id} runs")),
                        Err(e) => d.problem(
                            Some("kind.process.status"),
                            format!(
                                "for broker {id} (a node id Metadata lists; `{{broker}}` is replaced by it): {}",
                                one_line(&e.to_string())
                            ),
                        ),
                    }
                }
            }
        },
    }
    if cycle_processes && let (Some(p), Some((id, addr))) = (process, brokers.first()) {
        cycle(&mut d, target, p, *id, addr).await;
    }
    d
}

/// Tries every process command on broker `node` as scenarios use them, in turn: stop, start,
/// kill, start, pause, resume (and status after each, when given), timing each and checking
/// that the broker is gone or answers at `addr` afterwards. Disturbs the broker: opt-in.
async fn cycle(d: &mut Diagnosis, target: &Target, p: &crate::target::ProcessCommands, node: i32, addr: &str) {
    use crate::process::Action;
    let limit = Duration::from_millis(target.timeouts.startup_ms);
    let answers = || async { WireClient::connect(addr, Duration::from_millis(1000)).await.is_ok() };
    let mut steps = vec![
        (Action::Stop, p.stop.clone()),
        (Action::Start, p.start.clone()),
        (Action::Kill, p.kill.clone()),
        (Action::Start, p.start.clone()),
    ];
    if let (Some(pause), Some(resume)) = (&p.pause, &p.resume) {
        steps.push((Action::Pause, pause.clone()));
        steps.push((Action::Resume, resume.clone()));
    }
    for (action, command) in steps {
        let field = format!("kind.process.{}", action.name());
        let started = std::time::Instant::now();
        if let Err(e) = crate::process::run(&command, action, node, limit).await {
            d.problem(Some(&field), format!("for broker {node}: {}", one_line(&e.to_string())));
            // Leave the broker running for whoever comes next.
            let _ = crate::process::run(&p.start, Action::Start, node, limit).await;
            return;
        }
        let took = started.elapsed().as_secs_f64();
        let up = answers().await;
        let as_expected = match action {
            Action::Stop | Action::Kill => !up,
            Action::Start | Action::Resume => up,
            _ => true,
        };
        if as_expected {
            d.ok(format!("{field} for broker {node} returned in {took:.1} s"));
        } else {
            let state = if up { "still answers" } else { "does not answer" };
            d.problem(
                Some(&field),
                format!(
                    "returned in {took:.1} s, but broker {node} {state} at {addr}: it must return once that is done"
                ),
            );
        }
    }
}

/// Proxies the user made: each exists, stands for a broker Metadata lists, and is what that
/// broker advertises.
async fn check_own_proxies(d: &mut Diagnosis, target: &Target, brokers: &[(i32, String)], timeout: Duration) {
    let TargetKind::External { toxiproxy: Some(t), .. } = &target.kind else { return };
    let ids: Vec<i32> = brokers.iter().map(|(id, _)| *id).collect();
    for (node, name) in &t.proxies {
        let field = format!("kind.toxiproxy.proxies.{node}");
        let (addr, path) = (t.addr().to_string(), format!("/proxies/{name}"));
        let listen = match tokio::task::spawn_blocking(move || crate::faults::http_get(&addr, &path)).await {
            Ok(Ok(body)) => serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|j| j["listen"].as_str().map(str::to_string)),
            Ok(Err(e)) => {
                d.problem(Some(&field), format!("toxiproxy has no proxy named {name:?} ({e})"));
                continue;
            }
            Err(e) => {
                d.problem(Some(&field), e.to_string());
                continue;
            }
        };
        let Some(advertised) = brokers.iter().find(|(id, _)| id == node).map(|(_, a)| a.clone()) else {
            d.problem(
                Some(&field),
                format!("names broker {node}, but Metadata lists node id(s) {ids:?}: the keys are node ids"),
            );
            continue;
        };
        match listen {
            Some(l) if crate::world::same_endpoint(&l, &advertised) => {
                d.ok(format!("broker {node} advertises its proxy {name:?} at {l}"))
            }
            Some(l) => d.problem(
                Some(&field),
                format!(
                    "broker {node} advertises {advertised}, but proxy {name:?} listens on {l}: clients would bypass \
                     it (or drop `proxies` and let the harness make its own)"
                ),
            ),
            None => d.problem(Some(&field), format!("proxy {name:?} has no listen address")),
        }
    }
    for id in ids.iter().filter(|id| !t.proxies.contains_key(id)) {
        d.problem(Some("kind.toxiproxy.proxies"), format!("broker {id} has no proxy"));
    }
    let _ = timeout;
}

fn one_line(s: &str) -> String {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" | ")
}
