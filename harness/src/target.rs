//! Target descriptions: `fixtures/targets/<name>.yaml`, one schema for all.
//!
//! YAML is read with `serde-saphyr`: `serde_yaml` is archived upstream (0.9.34+deprecated);
//! serde-saphyr is maintained, pure Rust (no unsafe libyaml port), and reports errors with the
//! line and column, which is what a user editing a target file needs. Unknown fields are errors
//! (`deny_unknown_fields`) so a misspelt key is named instead of silently ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One broker (or cluster) the suite can certify.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Short name used in reports.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The Apache Kafka release whose protocol and behaviour the target claims, `major.minor`
    /// ("3.9", "4.0"). Scenarios tagged `@since-kafka-X.Y` pin a behaviour Kafka adopted in
    /// X.Y (KIP-896's removal of old versions in 4.0, say); a target claiming an older release
    /// reports them as not supported. Without it, the target claims the newest.
    #[serde(default)]
    pub kafka_version: Option<String>,
    /// How to reach (or start) the brokers.
    pub kind: TargetKind,
    /// Per-operation timeouts; scenarios may not wait longer than these.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Scenarios expected to fail on this target, each with the reason (known gaps are data).
    /// Keys are test names: `features/<path>.feature: <scenario title>`.
    #[serde(default)]
    pub expected_failures: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
// Read once per run; boxing the external variant's commands would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum TargetKind {
    /// The embedded reference broker, started fresh for every scenario in a temporary directory.
    Reference {
        /// Broker configs with Kafka's names, passed as `--config key=value`.
        #[serde(default)]
        config: BTreeMap<String, String>,
        /// Deliberate defects to turn on (test builds only).
        #[serde(default)]
        defects: Vec<String>,
        /// What the brokers advertise to clients: their client proxies (the default), or their
        /// own addresses, as a broker set up by someone else does; the harness's Kafka-aware
        /// gateways then put clients through the proxies. For testing that layer.
        #[serde(default, skip_serializing_if = "Advertise::is_default")]
        advertise: Advertise,
    },
    /// librdkafka's mock cluster (`rdkafka::mocking`), started by the harness as a child process
    /// (`kafka-conformance mock-cluster`) for every scenario: a second Kafka implementation that
    /// costs nothing to install. It keeps everything in memory and cannot be restarted.
    LibrdkafkaMock {
        #[serde(default = "one")]
        brokers: i32,
    },
    /// A broker someone else runs. Scenarios that need to restart or kill brokers need the
    /// `process` commands; without them they are reported "not supported", not failed.
    External {
        /// `host:port` addresses to bootstrap from.
        bootstrap: Vec<String>,
        /// Broker configs (Kafka's names) the brokers run with, for scenarios that need one from a
        /// broker that does not report it through DescribeConfigs. Where DescribeConfigs reports
        /// a config, its value is used and a contradicting declaration is reported.
        #[serde(default)]
        configs: BTreeMap<String, String>,
        /// Shell commands for process faults; `{broker}` is replaced by the broker's node id.
        #[serde(default)]
        process: Option<ProcessCommands>,
        /// Network faults (`@fault` scenarios): the harness puts a toxiproxy proxy in front of
        /// every broker Metadata lists, and a Kafka-aware gateway that rewrites the addresses
        /// the brokers advertise to the proxies', so every client connection crosses a proxy.
        /// `false`: clients connect to the brokers directly and fault scenarios are "not
        /// supported".
        #[serde(default = "yes")]
        network_faults: bool,
        /// The toxiproxy 2.x to create those proxies on; default: one embedded in the harness.
        #[serde(default)]
        toxiproxy: Option<ToxiproxyTarget>,
    },
}

/// What reference brokers advertise to clients.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Advertise {
    /// Their client proxies' addresses.
    #[default]
    Proxies,
    /// Their own addresses; gateways rewrite them to the proxies'.
    Own,
}

impl Advertise {
    fn is_default(&self) -> bool {
        *self == Advertise::Proxies
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ToxiproxyTarget {
    /// toxiproxy's API, e.g. `http://127.0.0.1:8474`. It must run on this machine: its proxies
    /// reach the harness's gateways on 127.0.0.1.
    pub url: String,
    /// Optional: proxies you made yourself, broker node id -> proxy name, in front of brokers
    /// that advertise those proxies' addresses. The harness then creates no proxy or gateway.
    #[serde(default)]
    pub proxies: BTreeMap<i32, String>,
}

impl ToxiproxyTarget {
    /// `host:port` of the API.
    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://").trim_end_matches('/')
    }
}

fn one() -> i32 {
    1
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProcessCommands {
    /// Stops a broker gracefully (SIGTERM or equivalent) and waits until it has stopped.
    pub stop: String,
    /// Kills a broker without warning (SIGKILL or equivalent).
    pub kill: String,
    /// Starts a stopped or killed broker with its data, and waits until it accepts connections.
    pub start: String,
    /// Freezes a broker without closing its sockets (SIGSTOP or equivalent). Optional.
    #[serde(default)]
    pub pause: Option<String>,
    /// Undoes `pause` (SIGCONT or equivalent). Required with `pause`.
    #[serde(default)]
    pub resume: Option<String>,
    /// Exits 0 when the broker runs, non-zero when it does not (`systemctl is-active
    /// kafka@{broker}`, say). Optional; `check-target` runs it for every broker Metadata lists,
    /// which shows whether the commands know the brokers' node ids.
    #[serde(default)]
    pub status: Option<String>,
    /// Prints a broker's log (`tail -n 500 /var/log/kafka/broker-{broker}.log`, say). Optional.
    /// When a scenario fails, its last 200 lines are kept beside the failure's history.
    #[serde(default)]
    pub log: Option<String>,
    /// The broker keeps nothing across a restart (memory storage, say): scenarios that restart a
    /// broker and expect its data back are then reported "not supported", not failed.
    #[serde(default)]
    pub volatile: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// How long one request or client operation may take before its outcome is "unknown".
    pub request_ms: u64,
    /// How long a broker may take to start and accept connections.
    pub startup_ms: u64,
    /// Upper bound for a whole scenario.
    pub scenario_ms: u64,
    /// How long a read at the end of a partition waits for the log to grow before it stops
    /// with acknowledged records still unread (they are then reported missing).
    pub quiet_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { request_ms: 10_000, startup_ms: 20_000, scenario_ms: 120_000, quiet_ms: 1_000 }
    }
}

/// A target file that could not be used, naming the file and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("cannot read target file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("target file {}: {message}", at(path, *line))]
    Parse { path: PathBuf, line: Option<usize>, message: String },
    #[error("target file {}: field `{field}`: {message}", at(path, *line))]
    Invalid { path: PathBuf, line: Option<usize>, field: String, message: String },
}

/// Known gaps kept apart from a target file (`certify --expected-failures`,
/// `fixtures/targets/<name>.expected-failures.yaml`): a YAML map of scenario name -> reason.
pub fn load_expected_failures(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let map: BTreeMap<String, String> = serde_saphyr::from_str(&text).map_err(|e| {
        let line = e.location().map(|l| format!("line {}: ", l.line())).unwrap_or_default();
        format!("{line}{}", e.without_snippet().to_string().lines().next().unwrap_or_default())
    })?;
    if let Some(k) = map.keys().find(|k| !k.contains(".feature: ")) {
        return Err(format!("{k:?} is not a scenario name (`features/<path>.feature: <title>`)"));
    }
    Ok(map)
}

/// `path:line`, as compilers name a place in a file.
fn at(path: &Path, line: Option<usize>) -> String {
    match line {
        Some(l) => format!("{}:{l}", path.display()),
        None => path.display().to_string(),
    }
}

/// The line (1-based) of a field such as `kind.toxiproxy.url`, `kind.bootstrap[1]` or
/// `kind.config.log.segment.bytes` in a target file's text: each part is looked for below the
/// previous one, in block style (`key:` on a line of its own) or flow style (`{key: ...}`).
/// Config names hold dots, so a part not found is joined with the next.
pub fn line_of(text: &str, field: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let parts: Vec<&str> = field.split('.').collect();
    let (mut from, mut found) = (0, None);
    let mut i = 0;
    while i < parts.len() {
        // The shortest run of parts from `i` that names a key below `from`.
        let hit = (i..parts.len()).find_map(|j| {
            let name = parts[i..=j].join(".");
            let (key, index) = match name.split_once('[') {
                Some((k, rest)) => (k.to_string(), rest.trim_end_matches(']').parse::<usize>().ok()),
                None => (name.clone(), None),
            };
            let wanted = format!("{key}:");
            let (n, line) = lines.iter().enumerate().skip(from).find(|(_, l)| {
                let t = l.trim_start().trim_start_matches("- ");
                t.starts_with(&wanted)
                    || l.contains(&format!("{{{wanted}"))
                    || l.contains(&format!(", {wanted}"))
                    || l.contains(&format!("{{ {wanted}"))
            })?;
            let mut at = n;
            // A list in block style: the index-th `- ` item below the key.
            if let Some(index) = index
                && !line.contains('[')
            {
                let items: Vec<usize> = lines
                    .iter()
                    .enumerate()
                    .skip(n + 1)
                    .filter(|(_, l)| l.trim_start().starts_with("- "))
                    .map(|(k, _)| k)
                    .collect();
                at = items.get(index).copied().unwrap_or(n);
            }
            Some((j, n, at))
        });
        let Some((j, n, at)) = hit else { break };
        found = Some(at + 1);
        from = n;
        i = j + 1;
    }
    found
}

/// serde-saphyr's error as one line with its line number. Inside `kind` (an internally tagged
/// enum, read whole before its fields) it points at `kind:`; an unknown field is then looked
/// up by name below it.
fn parse_error(path: &Path, text: &str, e: &serde_saphyr::Error) -> TargetError {
    let plain = e.without_snippet().to_string();
    let mut message = plain.lines().next().unwrap_or_default().to_string();
    // "error: line 2 column 1: unknown field ..." -> "unknown field ..."
    if let Some(rest) = message.strip_prefix("error: ") {
        message = rest.to_string();
    }
    if let Some((head, rest)) = message.split_once(": ")
        && head.starts_with("line ")
    {
        message = rest.to_string();
    }
    let mut line = e.location().map(|l| l.line() as usize);
    if let Some(name) = message.strip_prefix("unknown field `").and_then(|r| r.split('`').next()) {
        let below = line.unwrap_or(1).saturating_sub(1);
        let wanted = format!("{name}:");
        if let Some(n) = text.lines().enumerate().skip(below).find_map(|(n, l)| {
            let t = l.trim_start();
            (t.starts_with(&wanted) || l.contains(&format!(" {wanted}")) || l.contains(&format!("{{{wanted}")))
                .then_some(n)
        }) {
            line = Some(n + 1);
        }
    }
    TargetError::Parse { path: path.to_path_buf(), line, message }
}

/// Broker configs the reference target runs with (also in `fixtures/targets/reference.yaml`).
/// Kafka's defaults take seconds to notice a dead broker (broker.session.timeout.ms 9000) or a
/// lagging follower (replica.lag.time.max.ms 30000) and minutes to restore preferred leaders
/// (leader.imbalance.check.interval.seconds 300), and checkpoint high watermarks every 5 s
/// (replica.high.watermark.checkpoint.interval.ms); it looks for segments retention may delete
/// every 5 minutes (log.retention.check.interval.ms 300000) and lets the log cleaner sleep 15 s
/// when there is nothing to clean (log.cleaner.backoff.ms 15000), and aborts timed-out
/// transactions every 10 s (transaction.abort.timed.out.transaction.cleanup.interval.ms). These
/// make failure detection, retention, compaction and transaction timeouts fast, and they are
/// what the `within <n> ms` bounds of those scenarios assume.
pub const REFERENCE_FAST_TIMERS: &[(&str, &str)] = &[
    ("broker.heartbeat.interval.ms", "100"),
    ("broker.session.timeout.ms", "1500"),
    ("replica.lag.time.max.ms", "1500"),
    ("replica.fetch.wait.max.ms", "100"),
    ("leader.imbalance.check.interval.seconds", "1"),
    ("replica.high.watermark.checkpoint.interval.ms", "100"),
    ("log.retention.check.interval.ms", "200"),
    ("log.cleaner.backoff.ms", "200"),
    ("offsets.topic.num.partitions", "5"),
    ("transaction.state.log.num.partitions", "5"),
    ("transaction.abort.timed.out.transaction.cleanup.interval.ms", "500"),
];

/// Broker configs librdkafka's mock cluster runs with: `kafka-conformance mock-cluster` sets
/// them through librdkafka's mock API (its default initial rebalance delay is 3000 ms, as
/// Kafka's). The mock answers no DescribeConfigs, so scenarios' broker configs are checked
/// against these.
pub const MOCK_BROKER_CONFIGS: &[(&str, &str)] = &[("group.initial.rebalance.delay.ms", "0")];

/// Broker configs that bound what the mock accepts in Kafka, and that the mock has no bound
/// for: it takes any session timeout. A scenario that relies on such a bound being low enough
/// runs on the mock; one that checks the bound is enforced fails there (a finding).
pub const MOCK_UNBOUNDED_CONFIGS: &[&str] = &["group.min.session.timeout.ms", "group.max.session.timeout.ms"];

/// The Kafka release the reference broker follows.
pub const REFERENCE_KAFKA_VERSION: &str = "4.0";

/// `major.minor` (a patch part is allowed and ignored): "3.9", "4.0", "3.7.1".
pub fn parse_version(v: &str) -> Option<(u32, u32)> {
    let mut parts = v.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    match parts.next() {
        None => Some((major, minor)),
        Some(patch) => patch.parse::<u32>().ok().map(|_| (major, minor)),
    }
}

impl Target {
    /// The embedded reference broker with Kafka's defaults, except that failures are detected
    /// and logs retained and cleaned fast ([`REFERENCE_FAST_TIMERS`]).
    pub fn reference() -> Target {
        let config = REFERENCE_FAST_TIMERS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Target {
            name: "reference".into(),
            description: "The embedded reference broker, started fresh for each scenario.".into(),
            kafka_version: Some(REFERENCE_KAFKA_VERSION.into()),
            kind: TargetKind::Reference { config, defects: Vec::new(), advertise: Advertise::Proxies },
            timeouts: Timeouts::default(),
            expected_failures: BTreeMap::new(),
        }
    }

    /// Why a scenario with these tags does not apply to this target: a `@since-kafka-X.Y` tag
    /// newer than the release the target claims.
    pub fn version_gap(&self, tags: &[String]) -> Option<String> {
        let claimed = parse_version(self.kafka_version.as_deref()?)?;
        tags.iter().filter_map(|t| t.strip_prefix("since-kafka-")).find_map(|since| {
            let needed = parse_version(since)?;
            (needed > claimed).then(|| {
                format!(
                    "the scenario pins a behaviour of Kafka {since} and later; the target claims kafka_version {}",
                    self.kafka_version.as_deref().unwrap_or_default()
                )
            })
        })
    }

    pub fn load(path: &Path) -> Result<Target, TargetError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| TargetError::Read { path: path.to_path_buf(), source })?;
        Target::parse(&text, path)
    }

    /// Parses and validates; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Target, TargetError> {
        let target: Target = serde_saphyr::from_str(text).map_err(|e| parse_error(path, text, &e))?;
        target.validate(path).map_err(|e| match e {
            TargetError::Invalid { path, field, message, .. } => {
                TargetError::Invalid { line: line_of(text, &field), path, field, message }
            }
            other => other,
        })?;
        Ok(target)
    }

    fn validate(&self, path: &Path) -> Result<(), TargetError> {
        let invalid = |field: &str, message: String| TargetError::Invalid {
            path: path.to_path_buf(),
            line: None,
            field: field.into(),
            message,
        };
        if self.name.trim().is_empty() {
            return Err(invalid("name", "must not be empty".into()));
        }
        if let Some(v) = &self.kafka_version {
            parse_version(v).ok_or_else(|| {
                invalid(
                    "kafka_version",
                    format!("{v:?} is not a Kafka release as major.minor, e.g. \"3.9\" or \"4.0\""),
                )
            })?;
        }
        match &self.kind {
            TargetKind::Reference { config, .. } => {
                for (k, v) in config {
                    kafka_reference::config::BrokerConfig::default()
                        .set(k, v)
                        .map_err(|e| invalid(&format!("kind.config.{k}"), e))?;
                }
            }
            TargetKind::LibrdkafkaMock { brokers } => {
                if !(1..=9).contains(brokers) {
                    return Err(invalid("kind.brokers", format!("must be 1 to 9, got {brokers}")));
                }
            }
            TargetKind::External { bootstrap, process, toxiproxy, network_faults, configs } => {
                for (k, v) in configs {
                    let kafka_name = !k.is_empty()
                        && k.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_');
                    if !kafka_name {
                        return Err(invalid(&format!("kind.configs.{k}"), "is not a Kafka config name".into()));
                    }
                    if v.trim().is_empty() {
                        return Err(invalid(&format!("kind.configs.{k}"), "must have a value".into()));
                    }
                }
                if let Some(t) = toxiproxy {
                    let ok = t.url.starts_with("http://")
                        && t.addr().rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
                    if !ok {
                        return Err(invalid("kind.toxiproxy.url", format!("{:?} is not http://host:port", t.url)));
                    }
                    if !network_faults {
                        return Err(invalid(
                            "kind.toxiproxy",
                            "is for network faults, which `network_faults: false` turns off".into(),
                        ));
                    }
                }
                if bootstrap.is_empty() {
                    return Err(invalid("kind.bootstrap", "must list at least one host:port".into()));
                }
                for (i, b) in bootstrap.iter().enumerate() {
                    let ok =
                        b.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
                    if !ok {
                        return Err(invalid(&format!("kind.bootstrap[{i}]"), format!("{b:?} is not host:port")));
                    }
                }
                if let Some(p) = process {
                    for (field, cmd) in [("stop", &p.stop), ("kill", &p.kill), ("start", &p.start)] {
                        if cmd.trim().is_empty() {
                            return Err(invalid(&format!("kind.process.{field}"), "must not be empty".into()));
                        }
                    }
                    if p.log.as_deref().is_some_and(|l| l.trim().is_empty()) {
                        return Err(invalid("kind.process.log", "must not be empty".into()));
                    }
                    if p.pause.is_some() != p.resume.is_some() {
                        return Err(invalid("kind.process.pause", "pause and resume go together".into()));
                    }
                }
            }
        }
        let t = &self.timeouts;
        for (field, v) in [
            ("timeouts.request_ms", t.request_ms),
            ("timeouts.startup_ms", t.startup_ms),
            ("timeouts.scenario_ms", t.scenario_ms),
        ] {
            if v == 0 {
                return Err(invalid(field, "must be greater than 0".into()));
            }
        }
        for key in self.expected_failures.keys() {
            if !key.contains(".feature: ") {
                return Err(invalid(
                    "expected_failures",
                    format!("{key:?} is not a scenario name (`features/<path>.feature: <title>`)"),
                ));
            }
        }
        Ok(())
    }

    pub fn is_reference(&self) -> bool {
        matches!(self.kind, TargetKind::Reference { .. })
    }

    /// Whether brokers can be stopped, killed and started.
    pub fn can_control_processes(&self) -> bool {
        match &self.kind {
            TargetKind::Reference { .. } => true,
            TargetKind::LibrdkafkaMock { .. } => false,
            TargetKind::External { process, .. } => process.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn parse(text: &str) -> Result<Target, TargetError> {
        Target::parse(text, Path::new("t.yaml"))
    }

    #[test]
    fn every_shipped_target_file_is_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/targets");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).expect("fixtures/targets exists") {
            let path = entry.expect("entry").path();
            if path.to_string_lossy().ends_with(".expected-failures.yaml") {
                load_expected_failures(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                continue;
            }
            if path.extension().is_some_and(|e| e == "yaml") {
                let target = Target::load(&path).unwrap_or_else(|e| panic!("{e}"));
                // The reference passes everything: it never lists expected failures.
                if target.is_reference() {
                    assert!(target.expected_failures.is_empty(), "{} lists expected failures", path.display());
                }
                n += 1;
            }
        }
        assert!(n >= 2, "expected the reference and at least one external target, found {n}");
    }

    #[test]
    fn the_reference_file_and_the_builtin_reference_agree() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/targets/reference.yaml");
        let file = Target::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(file.kind, Target::reference().kind, "reference.yaml and Target::reference() differ");
    }

    #[test]
    fn scenarios_of_a_later_kafka_release_do_not_apply() {
        let t = |v: Option<&str>| Target { kafka_version: v.map(str::to_string), ..Target::reference() };
        let tags = |t: &str| vec!["wire".to_string(), t.to_string()];
        assert_eq!(parse_version("3.9"), Some((3, 9)));
        assert_eq!(parse_version("3.7.1"), Some((3, 7)));
        assert_eq!(parse_version("4"), None);
        assert!(t(Some("3.9")).version_gap(&tags("since-kafka-4.0")).is_some_and(|g| g.contains("3.9")));
        assert_eq!(t(Some("4.0")).version_gap(&tags("since-kafka-4.0")), None);
        assert_eq!(t(Some("3.8")).version_gap(&tags("since-kafka-3.8")), None);
        assert!(t(Some("3.7")).version_gap(&tags("since-kafka-3.8")).is_some());
        // No claim: the newest.
        assert_eq!(t(None).version_gap(&tags("since-kafka-4.0")), None);
    }

    #[test]
    fn a_minimal_external_target_parses_with_default_timeouts() {
        let t = parse("name: k\nkind:\n  type: external\n  bootstrap: [\"127.0.0.1:9092\"]\n").expect("valid");
        assert_eq!(t.timeouts, Timeouts::default());
        assert!(!t.can_control_processes());
    }

    #[rstest]
    #[case::misspelt_field("name: k\nkind: {type: reference}\ntimeout: {}\n", "timeout")]
    #[case::unknown_kind("name: k\nkind: {type: cloud}\n", "cloud")]
    #[case::bad_bootstrap("name: k\nkind: {type: external, bootstrap: [\"nohost\"]}\n", "kind.bootstrap[0]")]
    #[case::empty_bootstrap("name: k\nkind: {type: external, bootstrap: []}\n", "kind.bootstrap")]
    #[case::mock_brokers("name: k\nkind: {type: librdkafka-mock, brokers: 0}\n", "kind.brokers")]
    #[case::toxiproxy_url(
        "name: k\nkind: {type: external, bootstrap: [\"h:1\"], toxiproxy: {url: \"h:8474\", proxies: {1: p}}}\n",
        "kind.toxiproxy.url"
    )]
    #[case::toxiproxy_without_faults(
        "name: k\nkind: {type: external, bootstrap: [\"h:1\"], network_faults: false, toxiproxy: {url: \"http://h:8474\"}}\n",
        "kind.toxiproxy"
    )]
    #[case::zero_timeout("name: k\nkind: {type: reference}\ntimeouts: {request_ms: 0}\n", "timeouts.request_ms")]
    #[case::bad_broker_config(
        "name: k\nkind: {type: reference, config: {log.segment.bytez: \"1\"}}\n",
        "kind.config.log.segment.bytez"
    )]
    #[case::bad_expected_failure(
        "name: k\nkind: {type: reference}\nexpected_failures: {foo: bar}\n",
        "expected_failures"
    )]
    #[case::bad_declared_config(
        "name: k\nkind: {type: external, bootstrap: [\"h:1\"], configs: {\"Log Cleaner\": \"1\"}}\n",
        "kind.configs.Log Cleaner"
    )]
    #[case::not_yaml("name: [unclosed\n", "t.yaml")]
    #[case::bad_kafka_version("name: k\nkafka_version: \"four\"\nkind: {type: reference}\n", "kafka_version")]
    fn bad_target_files_name_the_field(#[case] text: &str, #[case] names: &str) {
        let err = parse(text).expect_err("must be refused").to_string();
        assert!(err.lines().count() == 1, "error {err:?} is not one line");
        assert!(err.contains(names), "error {err:?} does not name {names:?}");
        assert!(err.contains("t.yaml"), "error {err:?} does not name the file");
    }

    #[rstest]
    #[case::unknown_field_inside_kind(
        "name: k\nkind:\n  type: external\n  bootstrap: [\"h:1\"]\n  proces:\n    start: a\n",
        5,
        "proces"
    )]
    #[case::unknown_process_command(
        "name: k\nkind:\n  type: external\n  bootstrap: [\"h:1\"]\n  process:\n    stop: a\n    strat: b\n",
        7,
        "strat"
    )]
    #[case::bad_bootstrap_item(
        "name: k\nkind:\n  type: external\n  bootstrap:\n    - h:1\n    - nohost\n",
        6,
        "kind.bootstrap[1]"
    )]
    #[case::bad_value("name: k\nkind:\n  type: reference\ntimeouts:\n  request_ms: abc\n", 5, "u64")]
    #[case::bad_toxiproxy_url(
        "name: k\nkind:\n  type: external\n  bootstrap: [\"h:1\"]\n  toxiproxy:\n    url: h:8474\n",
        6,
        "kind.toxiproxy.url"
    )]
    #[case::dotted_config_name(
        "name: k\nkind:\n  type: reference\n  config:\n    log.segment.bytes: \"1048576\"\n    log.segment.bytez: \"1\"\n",
        6,
        "log.segment.bytez"
    )]
    fn bad_target_files_name_the_line(#[case] text: &str, #[case] line: usize, #[case] names: &str) {
        let err = parse(text).expect_err("must be refused").to_string();
        assert!(err.contains(&format!("t.yaml:{line}:")), "error {err:?} does not point at line {line}");
        assert!(err.contains(names), "error {err:?} does not name {names:?}");
        assert_eq!(err.lines().count(), 1, "error {err:?} is not one line");
    }
}
