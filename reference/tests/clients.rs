//! Real clients nobody here wrote, against a real `kafka-reference broker` process and a
//! three-broker cluster: kcat (Debian's, librdkafka 2.0.2), confluent-kafka, kafka-python,
//! aiokafka and KafkaJS, each through its own normal API. `ci/setup.sh` installs them; a missing
//! client fails the test with that instruction rather than skipping it.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

struct Broker {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Broker {
    fn start(extra: &[&str]) -> Broker {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_kafka-reference"))
            .args(["broker", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn kafka-reference");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read the address line");
        let addr = line.trim().to_string();
        assert!(addr.starts_with("127.0.0.1:"), "the first line is the bound address, got {line:?}");
        Broker { child, addr, _dir: dir }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn require(program: &str) {
    let found =
        Command::new("sh").arg("-c").arg(format!("command -v {program}")).output().is_ok_and(|o| o.status.success());
    assert!(found, "{program} is not installed: run `bash ci/setup.sh` (CI does this in .ci/run)");
}

fn run(cmd: &mut Command, stdin: Option<&str>) -> String {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    if let Some(input) = stdin {
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{cmd:?} failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn kcat_produces_and_consumes_with_every_codec() {
    require("kcat");
    let broker = Broker::start(&[]);
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("kcat-{codec}");
        let input: String = (0..20).map(|i| format!("k{i}:{codec}-{i}\n")).collect();
        run(
            Command::new("kcat").args(["-b", &broker.addr, "-P", "-t", &topic, "-p", "0", "-K:", "-z", codec]),
            Some(&input),
        );
        let out = run(
            Command::new("kcat").args([
                "-b",
                &broker.addr,
                "-C",
                "-t",
                &topic,
                "-p",
                "0",
                "-o",
                "beginning",
                "-e",
                "-q",
                "-f",
                "%k:%s\\n",
            ]),
            None,
        );
        assert_eq!(out, input, "kcat read back something else with compression {codec}");
    }
}

#[test]
fn python_clients_produce_and_consume() {
    require("python3");
    let check = Command::new("python3").args(["-c", "import confluent_kafka, kafka"]).output().expect("python3");
    assert!(check.status.success(), "confluent-kafka or kafka-python is missing: run `bash ci/setup.sh`");
    let broker = Broker::start(&[]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/interop_python.py");
    let out = run(Command::new("python3").arg(script).args([&broker.addr, "interop"]), None);
    assert!(out.contains("ok:"), "{out}");
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let mut broker = Broker::start(&[]);
    let pid = broker.child.id().to_string();
    run(Command::new("kill").args(["-TERM", &pid]), None);
    let status = broker.child.wait().expect("wait");
    assert!(status.success(), "SIGTERM must end the broker with status 0, got {status}");
}

#[test]
fn help_explains_every_flag() {
    let out = run(Command::new(env!("CARGO_BIN_EXE_kafka-reference")).args(["broker", "--help"]), None);
    for flag in ["--listen", "--data-dir", "--advertise", "--config", "--defect"] {
        assert!(out.contains(flag), "--help does not explain {flag}:\n{out}");
    }
}

#[test]
fn a_bad_config_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_kafka-reference"))
        .args(["broker", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(["--config", "log.segment.bytez=1"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("log.segment.bytez") && err.contains("log.segment.bytes"), "{err}");
}

#[test]
fn an_unknown_defect_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_kafka-reference"))
        .args(["broker", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(["--defect", "no-such-defect"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-defect"), "{err}");
}

/// `kafka-reference cluster`: a controller and N broker processes.
struct Cluster {
    child: Child,
    bootstrap: String,
    dir: tempfile::TempDir,
}

impl Cluster {
    fn start(brokers: u16) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_kafka-reference"))
            .args(["cluster", "--brokers", &brokers.to_string(), "--data-dir"])
            .arg(dir.path())
            .args(["--config", "default.replication.factor=3", "--config", "broker.heartbeat.interval.ms=100"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn kafka-reference cluster");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read the bootstrap line");
        let bootstrap = line.trim().to_string();
        assert_eq!(bootstrap.split(',').count(), usize::from(brokers), "one address per broker, got {line:?}");
        Cluster { child, bootstrap, dir }
    }
}

impl Drop for Cluster {
    /// SIGTERM, so the cluster stops its controller and brokers; SIGKILL would orphan them.
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        for _ in 0..300 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_three_broker_cluster_replicates_every_record_to_every_broker_and_stops_on_sigterm() {
    require("kcat");
    let mut cluster = Cluster::start(3);
    let input: String = (0..100).map(|i| format!("record-{i}\n")).collect();
    run(
        Command::new("kcat").args(["-P", "-b", &cluster.bootstrap, "-t", "replicated", "-X", "acks=all"]),
        Some(&input),
    );
    let listing = run(Command::new("kcat").args(["-L", "-b", &cluster.bootstrap, "-t", "replicated"]), None);
    assert!(listing.contains("3 brokers"), "{listing}");
    assert!(listing.contains("replicas: 1,2,3, isrs: 1,2,3"), "{listing}");
    let out = run(
        Command::new("kcat").args(["-C", "-b", &cluster.bootstrap, "-t", "replicated", "-e", "-q", "-f", "%s\n"]),
        None,
    );
    assert_eq!(out, input, "a consumer reads what was produced, in order");
    // Each broker holds the same bytes in its own data directory (followers copy batches verbatim).
    let log = |b: u16| {
        let dir = cluster.dir.path().join(format!("broker-{b}/replicated-0"));
        std::fs::read(dir.join("00000000000000000000.log")).expect("the segment")
    };
    assert!(!log(1).is_empty());
    assert_eq!(log(1), log(2));
    assert_eq!(log(1), log(3));
    let pid = cluster.child.id().to_string();
    run(Command::new("kill").args(["-TERM", &pid]), None);
    let status = cluster.child.wait().expect("wait");
    assert!(status.success(), "SIGTERM must stop the cluster with status 0, got {status}");
}

#[test]
fn python_clients_work_against_a_three_broker_cluster() {
    require("python3");
    let cluster = Cluster::start(3);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/interop_python.py");
    let out = run(Command::new("python3").arg(script).args([&cluster.bootstrap, "cluster"]), None);
    assert!(out.contains("ok:"), "{out}");
}

/// kafka-python's group code and librdkafka's share one consumer group: the coordinator's
/// protocol is Kafka's, not one client's reading of it.
#[test]
fn kafka_python_and_librdkafka_consumers_share_a_group() {
    require("python3");
    let broker = Broker::start(&["--config", "group.initial.rebalance.delay.ms=0"]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/interop_groups.py");
    let out = run(Command::new("python3").arg(script).args([&broker.addr, "shared"]), None);
    assert!(out.contains("ok:"), "{out}");
}

#[test]
fn kafka_python_and_librdkafka_consumers_share_a_group_on_a_three_broker_cluster() {
    require("python3");
    let cluster = Cluster::start(3);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/interop_groups.py");
    let out = run(Command::new("python3").arg(script).args([&cluster.bootstrap, "shared"]), None);
    assert!(out.contains("ok:"), "{out}");
}

#[rstest::rstest]
#[case(&["cluster", "--brokers", "0", "--data-dir", "{dir}"], "--brokers must be at least 1")]
#[case(&["broker", "--listen", "127.0.0.1:0", "--data-dir", "{dir}", "--peer-address", "two"], "expected ID=HOST:PORT")]
#[case(&["broker", "--listen", "127.0.0.1:0", "--data-dir", "{dir}", "--peer-address", "x=127.0.0.1:1"], "bad broker id")]
#[case(&["controller", "--listen", "127.0.0.1:0", "--data-dir", "{dir}", "--config", "broker.session.timeout.ms=0"], "broker.session.timeout.ms")]
#[case(&["controller", "--listen", "127.0.0.1:0", "--data-dir", "{dir}", "--config", "replica.lag.time.max.ms=soon"], "replica.lag.time.max.ms")]
fn bad_cluster_arguments_are_refused_with_a_clear_message(#[case] args: &[&str], #[case] says: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display().to_string();
    let args: Vec<String> = args.iter().map(|a| a.replace("{dir}", &d)).collect();
    let out = Command::new(env!("CARGO_BIN_EXE_kafka-reference")).args(&args).output().expect("run");
    assert!(!out.status.success(), "{args:?} was accepted");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(says), "{args:?}: {err}");
}

/// Each client's smoke tests: what its users do first (ci/interop_*.py, ci/interop_kafkajs.mjs).
/// The standalone broker joins a group without Kafka's initial rebalance delay, so the run stays
/// short; the cluster keeps Kafka's default 3 s.
const NO_JOIN_DELAY: &[&str] = &["--config", "group.initial.rebalance.delay.ms=0"];

fn require_python(module: &str, client: &str) {
    require("python3");
    let check = Command::new("python3").args(["-c", &format!("import {module}")]).output().expect("python3");
    assert!(check.status.success(), "{client} is missing: run `bash ci/setup.sh` (CI does this in .ci/run)");
}

fn require_kafkajs() {
    require("node");
    let ci = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci");
    let check = Command::new("node").current_dir(ci).args(["-e", "require('kafkajs')"]).output().expect("node");
    assert!(
        check.status.success(),
        "KafkaJS is missing from ci/node_modules: run `bash ci/setup.sh` (CI does this in .ci/run)"
    );
}

/// Runs a script of ci/ with the bootstrap list and a topic prefix; it prints one `ok:` line a check.
fn interop(program: &str, script: &str, bootstrap: &str, checks: usize) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci").join(script);
    let out = run(Command::new(program).arg(path).args([bootstrap, "interop"]), None);
    assert_eq!(out.lines().filter(|l| l.starts_with("ok:")).count(), checks, "{script}:\n{out}");
}

#[test]
fn confluent_kafka_lists_all_topics_subscribes_by_regex_and_alters_topic_configs() {
    require_python("confluent_kafka", "confluent-kafka");
    let broker = Broker::start(NO_JOIN_DELAY);
    interop("python3", "interop_confluent.py", &broker.addr, 3);
}

#[test]
fn confluent_kafka_lists_all_topics_subscribes_by_regex_and_alters_topic_configs_on_a_three_broker_cluster() {
    require_python("confluent_kafka", "confluent-kafka");
    let cluster = Cluster::start(3);
    interop("python3", "interop_confluent.py", &cluster.bootstrap, 3);
}

#[test]
fn kafka_python_produces_idempotently_shares_a_group_resumes_and_finds_offsets_by_time() {
    require_python("kafka", "kafka-python");
    let broker = Broker::start(NO_JOIN_DELAY);
    interop("python3", "interop_kafka_python.py", &broker.addr, 4);
}

#[test]
fn kafka_python_produces_idempotently_shares_a_group_resumes_and_finds_offsets_by_time_on_a_three_broker_cluster() {
    require_python("kafka", "kafka-python");
    let cluster = Cluster::start(3);
    interop("python3", "interop_kafka_python.py", &cluster.bootstrap, 4);
}

#[test]
fn aiokafka_produces_idempotently_shares_a_group_resumes_and_finds_offsets_by_time() {
    require_python("aiokafka", "aiokafka");
    let broker = Broker::start(NO_JOIN_DELAY);
    interop("python3", "interop_aiokafka.py", &broker.addr, 4);
}

#[test]
fn aiokafka_produces_idempotently_shares_a_group_resumes_and_finds_offsets_by_time_on_a_three_broker_cluster() {
    require_python("aiokafka", "aiokafka");
    let cluster = Cluster::start(3);
    interop("python3", "interop_aiokafka.py", &cluster.bootstrap, 4);
}

#[test]
fn kafkajs_produces_idempotently_shares_a_group_resumes_and_finds_offsets_by_time() {
    require_kafkajs();
    let broker = Broker::start(NO_JOIN_DELAY);
    interop("node", "interop_kafkajs.mjs", &broker.addr, 4);
}

#[test]
fn kafkajs_produces_idempotently_shares_a_group_resumes_and_finds_offsets_by_time_on_a_three_broker_cluster() {
    require_kafkajs();
    let cluster = Cluster::start(3);
    interop("node", "interop_kafkajs.mjs", &cluster.bootstrap, 4);
}

#[test]
fn confluent_kafka_commits_and_aborts_transactions_and_sends_offsets_to_them() {
    require_python("confluent_kafka", "confluent-kafka");
    let broker = Broker::start(NO_JOIN_DELAY);
    interop("python3", "interop_txn_confluent.py", &broker.addr, 4);
}

#[test]
fn confluent_kafka_commits_and_aborts_transactions_and_sends_offsets_to_them_on_a_three_broker_cluster() {
    require_python("confluent_kafka", "confluent-kafka");
    let cluster = Cluster::start(3);
    interop("python3", "interop_txn_confluent.py", &cluster.bootstrap, 4);
}

#[test]
fn kafka_python_commits_and_aborts_transactions_and_sends_offsets_to_them() {
    require_python("kafka", "kafka-python");
    let broker = Broker::start(NO_JOIN_DELAY);
    interop("python3", "interop_txn_kafka_python.py", &broker.addr, 4);
}

#[test]
fn kafka_python_commits_and_aborts_transactions_and_sends_offsets_to_them_on_a_three_broker_cluster() {
    require_python("kafka", "kafka-python");
    let cluster = Cluster::start(3);
    interop("python3", "interop_txn_kafka_python.py", &cluster.bootstrap, 4);
}

#[test]
fn aiokafka_commits_and_aborts_transactions_and_sends_offsets_to_them() {
    require_python("aiokafka", "aiokafka");
    let broker = Broker::start(NO_JOIN_DELAY);
    interop("python3", "interop_txn_aiokafka.py", &broker.addr, 4);
}

#[test]
fn aiokafka_commits_and_aborts_transactions_and_sends_offsets_to_them_on_a_three_broker_cluster() {
    require_python("aiokafka", "aiokafka");
    let cluster = Cluster::start(3);
    interop("python3", "interop_txn_aiokafka.py", &cluster.bootstrap, 4);
}

#[test]
fn kafkajs_commits_and_aborts_transactions_and_sends_offsets_to_them() {
    require_kafkajs();
    let broker = Broker::start(NO_JOIN_DELAY);
    interop("node", "interop_txn_kafkajs.mjs", &broker.addr, 4);
}

#[test]
fn kafkajs_commits_and_aborts_transactions_and_sends_offsets_to_them_on_a_three_broker_cluster() {
    require_kafkajs();
    let cluster = Cluster::start(3);
    interop("node", "interop_txn_kafkajs.mjs", &cluster.bootstrap, 4);
}

/// Kafka's `String.hashCode`, over UTF-16 code units.
fn java_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The broker leading partition `partition` of `topic`, from `kcat -L`.
fn leader_of(bootstrap: &str, topic: &str, partition: i32) -> u32 {
    let listing = run(Command::new("kcat").args(["-L", "-b", bootstrap, "-t", topic]), None);
    let prefix = format!("partition {partition}, leader ");
    listing
        .lines()
        .find_map(|l| l.trim().strip_prefix(&prefix).and_then(|rest| rest.split(',').next()?.parse().ok()))
        .unwrap_or_else(|| panic!("no leader of {topic}-{partition} in:\n{listing}"))
}

/// The process of broker `node` among the `kafka-reference cluster` process's children.
fn broker_process(cluster: u32, node: u32) -> u32 {
    let want = format!("node.id={node}");
    let children = std::fs::read_dir(format!("/proc/{cluster}/task"))
        .expect("the cluster's threads")
        .flatten()
        .flat_map(|t| {
            std::fs::read_to_string(t.path().join("children"))
                .unwrap_or_default()
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .filter_map(|pid| pid.parse::<u32>().ok());
    for pid in children {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cmdline.split(|b| *b == 0).any(|arg| arg == want.as_bytes()) {
            return pid;
        }
    }
    panic!("no child process of the cluster runs broker {node}")
}

/// A client commits three transactions while the test kills its transaction coordinator's
/// broker with SIGKILL the moment the second commit starts (ci/interop_txn_failover.py): the
/// commit completes on the next coordinator, and read_committed reads every record once.
fn commits_across_a_coordinator_kill(client: &str) {
    require("kcat");
    let cluster = Cluster::start(3);
    let (topic, txn_id) = (format!("failover-{client}"), format!("failover-{client}-tx"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/interop_txn_failover.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args([client, &cluster.bootstrap, &topic, &txn_id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python3");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let expect = |line: &str, lines: &mut std::io::Lines<BufReader<std::process::ChildStdout>>| {
        let got = lines.next().and_then(Result::ok).unwrap_or_default();
        (got == line).then_some(()).ok_or(got)
    };
    if expect("ready", &mut lines).is_err() {
        let out = child.wait_with_output().expect("wait");
        panic!("{client} stopped before its second commit:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    // `transaction.state.log.num.partitions` is Kafka's 50 on the cluster.
    let partition = java_hash(&txn_id).checked_abs().unwrap_or(0) % 50;
    let leader = leader_of(&cluster.bootstrap, "__transaction_state", partition);
    let pid = broker_process(cluster.child.id(), leader);
    writeln!(child.stdin.as_mut().expect("stdin"), "go").expect("tell the client to commit");
    assert_eq!(expect("committing", &mut lines), Ok(()), "{client} did not start its commit");
    run(Command::new("kill").args(["-KILL", &pid.to_string()]), None);
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success() && rest.iter().any(|l| l.starts_with("ok:")),
        "{client} after its coordinator (broker {leader}) was killed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn confluent_kafka_commits_across_a_kill_9_of_its_transaction_coordinator() {
    require_python("confluent_kafka", "confluent-kafka");
    commits_across_a_coordinator_kill("confluent-kafka");
}

#[test]
fn aiokafka_commits_across_a_kill_9_of_its_transaction_coordinator() {
    require_python("aiokafka", "aiokafka");
    commits_across_a_coordinator_kill("aiokafka");
}
