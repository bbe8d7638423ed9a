//! `kafka-conformance` as a user runs it: certify against an external target, a broken broker,
//! bad target files and bad feature files; and `--help`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

mod common;
use common::ExternalBroker;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kafka-conformance"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// `kafka-conformance certify` from the repository root, with a report directory.
fn certify(args: &[&str], report: &Path) -> Output {
    bin().current_dir(repo()).arg("certify").args(args).arg("--report").arg(report).output().expect("run certify")
}

fn report_json(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("report.json written");
    serde_json::from_str(&text).expect("report.json parses")
}

#[test]
fn certify_an_external_target_runs_fault_scenarios_and_reports_process_ones_as_not_supported() {
    let broker = ExternalBroker::start();
    let work = tempfile::tempdir().expect("tempdir");
    let target = work.path().join("external.yaml");
    std::fs::write(
        &target,
        format!("name: external-reference\nkind:\n  type: external\n  bootstrap: [\"{}\"]\n", broker.addr),
    )
    .expect("write");
    let report = work.path().join("report");
    let target = target.to_string_lossy().into_owned();
    let out = certify(&["--target", &target], &report);
    assert!(out.status.success(), "certify failed:\n{}", text(&out));
    let json = report_json(&report);
    let totals = &json["totals"];
    assert_eq!(totals["failed"], 0, "{totals}");
    assert_eq!(totals["errors"], 0, "{totals}");
    // Every @process scenario is not supported without process commands; nor is a @replication
    // one on a target of one broker, nor one that needs broker configs this broker does not run
    // with (it has Kafka's log.retention.check.interval.ms and log.cleaner.backoff.ms).
    // Everything else passes, @fault scenarios included: the broker advertises its own address
    // and the harness's gateway puts clients through a proxy all the same.
    let scenarios = json["scenarios"].as_array().expect("scenarios");
    for s in scenarios {
        let needs_control = s["tags"].as_array().expect("tags").iter().any(|t| t == "process" || t == "replication");
        let needs_configs = s["detail"].as_str().unwrap_or("").contains("needs broker configs");
        let expected = if needs_control || needs_configs { "not supported" } else { "passed" };
        assert_eq!(s["outcome"], expected, "{}: {}", s["name"], s["detail"]);
    }
    assert!(
        scenarios.iter().any(|s| s["detail"].as_str().unwrap_or("").contains("log.cleaner.backoff.ms")),
        "no scenario was refused for the broker configs it needs"
    );
    assert!(scenarios.iter().any(|s| s["outcome"] == "not supported"), "no @process scenario was run");
    let faults_passed = scenarios
        .iter()
        .filter(|s| s["outcome"] == "passed" && s["tags"].as_array().is_some_and(|t| t.iter().any(|t| t == "fault")))
        .count();
    assert!(faults_passed >= 8, "only {faults_passed} @fault scenarios passed");
}

#[test]
fn certify_a_broken_broker_fails_with_the_evidence_and_its_history() {
    let work = tempfile::tempdir().expect("tempdir");
    let target = work.path().join("broken.yaml");
    std::fs::write(&target, "name: broken\nkind:\n  type: reference\n  defects: [duplicate-append]\n").expect("write");
    let report = work.path().join("report");
    let target = target.to_string_lossy().into_owned();
    let out = certify(&["--tags", "@real-client and not @process", "--target", &target], &report);
    assert_eq!(out.status.code(), Some(1), "a broken broker must fail certification:\n{}", text(&out));
    let md = std::fs::read_to_string(report.join("report.md")).expect("report.md");
    assert!(md.contains("**not certified**"), "{md}");
    assert!(md.contains("duplicate"), "the report names the anomaly:\n{md}");
    let failed = report_json(&report)["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .filter(|s| s["outcome"] == "failed")
        .map(|s| s["history"].as_str().expect("a failed scenario has a saved history").to_string())
        .collect::<Vec<_>>();
    assert!(!failed.is_empty());
    for h in failed {
        let history = std::fs::read_to_string(report.join(&h)).expect("history file");
        assert!(history.lines().count() > 0 && history.contains("\"f\":\"send\""), "{h} holds the sends");
    }
    assert!(report.join("junit.xml").exists());
}

#[test]
fn a_bad_target_file_is_refused_naming_the_file_and_field() {
    let work = tempfile::tempdir().expect("tempdir");
    let target = work.path().join("typo.yaml");
    std::fs::write(&target, "name: typo\nkind:\n  type: external\n  bootstrap: [\"localhost\"]\n").expect("write");
    let out = bin().args(["certify", "--target"]).arg(&target).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out);
    assert!(err.contains("typo.yaml") && err.contains("kind.bootstrap[0]"), "{err}");

    let missing = bin().args(["certify", "--target", "/nonexistent/target.yaml"]).output().expect("run");
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing).contains("/nonexistent/target.yaml"));
}

fn features_dir(feature: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("features/x")).expect("mkdir");
    std::fs::write(dir.path().join("features/x/case.feature"), feature).expect("write");
    dir
}

#[test]
fn an_undefined_step_is_an_error_that_names_it() {
    let dir = features_dir(
        "Feature: f\n  Scenario: the moon\n    Given the moon is full\n    Then every send is acknowledged\n",
    );
    let report = dir.path().join("report");
    let out = bin()
        .current_dir(dir.path())
        .args(["certify", "--features", "features", "--report"])
        .arg(&report)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let json = report_json(&report);
    let s = &json["scenarios"][0];
    assert_eq!(s["outcome"], "error", "an undefined step is not a pass, nor a verdict on the broker: {s}");
    assert!(s["detail"].as_str().unwrap_or("").contains("the moon is full"), "{s}");
}

#[test]
fn a_feature_file_that_does_not_parse_is_refused_naming_it() {
    let dir = features_dir(
        "Feature: f\n  Scenario: s\n    Given a topic \"t\" with 1 partition\n  Scenario s2 without a colon\n",
    );
    let out = bin().current_dir(dir.path()).args(["certify", "--features", "features"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("case.feature"), "{}", text(&out));
}

#[test]
fn an_unregistered_tag_is_refused() {
    let dir = features_dir("@mystery\nFeature: f\n  Scenario: s\n    Then every send is acknowledged\n");
    std::fs::write(dir.path().join("features/TAGS.md"), "- `@wire` — wire client\n").expect("write");
    let out = bin().current_dir(dir.path()).args(["list", "--features", "features"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("@mystery"), "{}", text(&out));
}

#[test]
fn help_explains_the_commands_and_options() {
    let top = text(&bin().arg("--help").output().expect("run"));
    for cmd in ["certify", "list", "check-target", "reference"] {
        assert!(top.contains(cmd), "--help does not mention {cmd}:\n{top}");
    }
    let certify = text(&bin().args(["certify", "--help"]).output().expect("run"));
    for opt in ["--target", "--features", "--tags", "--report", "--jobs", "not supported"] {
        assert!(certify.contains(opt), "certify --help does not explain {opt}:\n{certify}");
    }
}

#[test]
fn list_names_every_scenario_as_nextest_does() {
    let out = bin().current_dir(repo()).arg("list").output().expect("run");
    assert!(out.status.success(), "{}", text(&out));
    let names = String::from_utf8_lossy(&out.stdout);
    assert!(
        names
            .lines()
            .any(|l| l == "features/produce/round-trip.feature: every acknowledged record is read exactly once"),
        "{names}"
    );
}

/// A second Kafka implementation, certified with its known gaps listed as data.
#[test]
fn certify_librdkafkas_mock_cluster_with_its_expected_failures() {
    let work = tempfile::tempdir().expect("tempdir");
    let report = work.path().join("report");
    let out = certify(&["--target", "fixtures/targets/librdkafka-mock.yaml"], &report);
    assert!(out.status.success(), "every failure on the mock must be a listed expected failure:\n{}", text(&out));
    let totals = report_json(&report)["totals"].clone();
    assert_eq!(totals["errors"], 0, "{totals}");
    assert!(totals["passed"].as_u64().unwrap_or(0) > 20, "{totals}");
    assert!(totals["expected_failures"].as_u64().unwrap_or(0) > 0, "{totals}");
    assert!(totals["unsupported"].as_u64().unwrap_or(0) > 0, "{totals}");
}

#[test]
fn known_gaps_from_a_file_are_expected_and_a_stale_or_passing_one_fails_the_run() {
    let work = tempfile::tempdir().expect("tempdir");
    let gaps = work.path().join("gaps.yaml");
    let scenario = "features/protocol/malformed-requests.feature: ApiVersions at an unknown version is answered with UNSUPPORTED_VERSION";

    // A name that matches no scenario: refused before anything runs, the name printed.
    std::fs::write(&gaps, "\"features/nowhere.feature: gone\": renamed since\n").expect("write");
    let gaps_arg = gaps.to_string_lossy().into_owned();
    let out = certify(&["--tags", "@kip-511", "--expected-failures", &gaps_arg], &work.path().join("r1"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("features/nowhere.feature: gone"), "{}", text(&out));

    // A listed gap that passes: the run fails, as for a target file's expected_failures.
    std::fs::write(&gaps, format!("\"{scenario}\": \"differs: a broker of ours\"\n")).expect("write");
    let report = work.path().join("r2");
    let out = certify(&["--tags", "@kip-511", "--expected-failures", &gaps_arg], &report);
    assert_eq!(out.status.code(), Some(1), "an expected failure that passes must fail the run:\n{}", text(&out));
    assert_eq!(report_json(&report)["totals"]["passed"], 1);
}

#[test]
fn replication_faults_reach_three_brokers_that_advertise_their_own_addresses() {
    // The reference's fast timers (fixtures/targets/reference.yaml), with brokers advertising
    // where they listen: only the gateways keep clients on the proxies.
    let reference = std::fs::read_to_string(repo().join("fixtures/targets/reference.yaml")).expect("reference.yaml");
    let own = reference.replacen("type: reference", "type: reference\n  advertise: own", 1);
    assert_ne!(own, reference, "reference.yaml has no `type: reference` line");
    let work = tempfile::tempdir().expect("tempdir");
    let target = work.path().join("own.yaml");
    std::fs::write(&target, own).expect("write");
    let report = work.path().join("report");
    let target = target.to_string_lossy().into_owned();
    // One scenario at a time: their `within <n> ms` bounds are for a broker, not for a machine
    // that also runs the rest of the tests.
    let out = certify(&["--tags", "@replication and @fault", "--jobs", "1", "--target", &target], &report);
    assert!(out.status.success(), "{}", text(&out));
    let totals = report_json(&report)["totals"].clone();
    assert_eq!(totals["unsupported"], 0, "{totals}");
    assert!(totals["passed"].as_u64().unwrap_or(0) >= 3, "{totals}");
}

/// Certifies a target's network-fault scenarios between the client and one broker: every one
/// runs (none is "not supported") and passes.
fn certify_client_faults(target: &Path, report: &Path) {
    let target = target.to_string_lossy().into_owned();
    let out = certify(
        &["--tags", "@fault and not @process and not @replication and not @idempotence", "--target", &target],
        report,
    );
    assert!(out.status.success(), "{}", text(&out));
    let totals = report_json(report)["totals"].clone();
    assert_eq!(totals["unsupported"], 0, "{totals}");
    assert!(totals["passed"].as_u64().unwrap_or(0) >= 8, "{totals}");
}

/// Spawns a command that prints an address on its first line, and returns it with the child.
fn start_line(cmd: &mut Command) -> (Child, String) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("first line");
    (child, line.trim().to_string())
}

struct Killed(Vec<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A user's own set-up: a toxiproxy (here the embedded one, run alone) with a proxy in front of
/// a broker that advertises the proxy, described by a target file.
fn external_behind_toxiproxy(advertise_proxy: bool, dir: &Path) -> (Killed, PathBuf, String) {
    use toxiproxy_rust::client::Client;
    use toxiproxy_rust::proxy::ProxyPack;
    let (toxi, toxi_addr) = start_line(bin().args(["toxiproxy", "--listen", "127.0.0.1:0"]));
    let client = Client::new(toxi_addr.as_str());
    let created = client
        .populate(vec![ProxyPack::new("kafka-1".into(), "127.0.0.1:0".into(), "127.0.0.1:9".into())])
        .expect("populate");
    let listen = created[0].proxy_pack.listen.clone();
    let mut broker = bin();
    broker.args(["reference", "broker", "--listen", "127.0.0.1:0", "--data-dir"]).arg(dir.join("data"));
    if advertise_proxy {
        broker.args(["--advertise", &listen]);
    }
    let (broker, broker_addr) = start_line(&mut broker);
    client
        .populate(vec![ProxyPack::new("kafka-1".into(), listen.clone(), broker_addr.clone())])
        .expect("point the proxy at the broker");
    let bootstrap = if advertise_proxy { listen } else { broker_addr };
    let target = dir.join("target.yaml");
    std::fs::write(
        &target,
        format!(
            "name: behind-toxiproxy\nkind:\n  type: external\n  bootstrap: [\"{bootstrap}\"]\n  toxiproxy:\n    url: http://{toxi_addr}\n    proxies: {{1: kafka-1}}\n"
        ),
    )
    .expect("write target");
    (Killed(vec![toxi, broker]), target, toxi_addr)
}

#[test]
fn fault_scenarios_run_through_a_users_toxiproxy_and_leave_no_toxic_behind() {
    let work = tempfile::tempdir().expect("tempdir");
    let (_procs, target, toxi_addr) = external_behind_toxiproxy(true, work.path());
    certify_client_faults(&target, &work.path().join("report"));
    // Healed after every scenario: the next one on this target finds the network whole.
    let proxies = toxiproxy_rust::client::Client::new(toxi_addr.as_str()).all().expect("list proxies");
    let proxy = &proxies["kafka-1"].proxy_pack;
    assert!(proxy.enabled, "the proxy was left disabled");
    assert!(
        proxy.toxics.is_empty(),
        "toxics were left behind: {:?}",
        proxy.toxics.iter().map(|t| &t.name).collect::<Vec<_>>()
    );
}

#[test]
fn fault_scenarios_are_refused_when_clients_could_bypass_the_proxy() {
    let work = tempfile::tempdir().expect("tempdir");
    let (_procs, target, _) = external_behind_toxiproxy(false, work.path());
    let report = work.path().join("report");
    let target = target.to_string_lossy().into_owned();
    let out = certify(
        &["--tags", "@fault and not @process and not @replication and not @idempotence", "--target", &target],
        &report,
    );
    assert!(out.status.success(), "refused scenarios are not failures:\n{}", text(&out));
    let json = report_json(&report);
    for s in json["scenarios"].as_array().expect("scenarios") {
        assert_eq!(s["outcome"], "not supported", "{}", s["name"]);
        assert!(s["detail"].as_str().unwrap_or("").contains("bypass"), "{}", s["detail"]);
    }
}

#[test]
fn the_harness_makes_its_proxies_on_a_users_toxiproxy_and_removes_them_afterwards() {
    let work = tempfile::tempdir().expect("tempdir");
    let (toxi, toxi_addr) = start_line(bin().args(["toxiproxy", "--listen", "127.0.0.1:0"]));
    let client = toxiproxy_rust::client::Client::new(toxi_addr.as_str());
    // The user's own proxy, which the harness must leave alone.
    client
        .populate(vec![toxiproxy_rust::proxy::ProxyPack::new(
            "users-own".into(),
            "127.0.0.1:0".into(),
            "127.0.0.1:9".into(),
        )])
        .expect("populate");
    let mut broker = bin();
    broker.args(["reference", "broker", "--listen", "127.0.0.1:0", "--data-dir"]).arg(work.path().join("data"));
    let (broker, broker_addr) = start_line(&mut broker);
    let _procs = Killed(vec![toxi, broker]);
    let target = work.path().join("target.yaml");
    std::fs::write(
        &target,
        format!(
            "name: users-toxiproxy\nkind:\n  type: external\n  bootstrap: [\"{broker_addr}\"]\n  toxiproxy: {{url: \"http://{toxi_addr}\"}}\n"
        ),
    )
    .expect("write target");
    certify_client_faults(&target, &work.path().join("report"));
    let left: Vec<String> = client.all().expect("list proxies").into_keys().collect();
    assert_eq!(left, vec!["users-own".to_string()], "the harness's proxies were left behind");
}

/// `check-target` on a file naming `kind`'s body, against a running broker: its exit code and
/// the lines it printed.
fn check_target(dir: &Path, kind_body: &str) -> (Option<i32>, Vec<String>) {
    let file = dir.join("t.yaml");
    std::fs::write(&file, format!("name: t\nkind:\n  type: external\n{kind_body}")).expect("write");
    let out = bin().arg("check-target").arg(&file).output().expect("run check-target");
    let lines = text(&out).lines().map(str::to_string).collect();
    (out.status.code(), lines)
}

fn problems(lines: &[String]) -> Vec<&String> {
    lines.iter().filter(|l| l.starts_with("problem")).collect()
}

#[test]
fn check_target_reaches_the_broker_and_names_each_problem_in_one_line() {
    let broker = ExternalBroker::start();
    let work = tempfile::tempdir().expect("tempdir");
    let (toxi, toxi_addr) = start_line(bin().args(["toxiproxy", "--listen", "127.0.0.1:0"]));
    let _toxi = Killed(vec![toxi]);
    let addr = &broker.addr;

    // All well: exit 0, the node id and what the broker advertises said.
    let (code, lines) = check_target(
        work.path(),
        &format!(
            "  bootstrap: [\"{addr}\"]\n  process:\n    start: \"true\"\n    stop: \"true\"\n    kill: \"true\"\n    status: \"test {{broker}} = 1\"\n"
        ),
    );
    assert_eq!(code, Some(0), "{lines:#?}");
    assert!(problems(&lines).is_empty(), "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains(&format!("node 1 at {addr}"))), "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains("Metadata names only the proxies")), "{lines:#?}");

    // An unreachable broker: its line and field.
    let (code, lines) = check_target(work.path(), &format!("  bootstrap:\n    - {addr}\n    - 127.0.0.1:1\n"));
    assert_eq!(code, Some(1), "{lines:#?}");
    let p = problems(&lines);
    assert_eq!(p.len(), 1, "{lines:#?}");
    assert!(p[0].contains("t.yaml:6: kind.bootstrap[1]: 127.0.0.1:1 does not answer"), "{}", p[0]);

    // A process command that does not know the broker's node id (Metadata says 1).
    let (code, lines) = check_target(
        work.path(),
        &format!(
            "  bootstrap: [\"{addr}\"]\n  process:\n    start: \"true\"\n    stop: \"true\"\n    kill: \"true\"\n    status: \"test {{broker}} = 111\"\n"
        ),
    );
    assert_eq!(code, Some(1), "{lines:#?}");
    let p = problems(&lines);
    assert_eq!(p.len(), 1, "{lines:#?}");
    assert!(p[0].contains("t.yaml:9: kind.process.status: for broker 1"), "{}", p[0]);

    // Proxies the user made: one for a node id Metadata does not list, one missing.
    toxiproxy_rust::client::Client::new(toxi_addr.as_str())
        .populate(vec![toxiproxy_rust::proxy::ProxyPack::new(
            "kafka-111".into(),
            "127.0.0.1:0".into(),
            addr.to_string(),
        )])
        .expect("populate");
    let (code, lines) = check_target(
        work.path(),
        &format!(
            "  bootstrap: [\"{addr}\"]\n  toxiproxy:\n    url: http://{toxi_addr}\n    proxies:\n      1: kafka-1\n      111: kafka-111\n"
        ),
    );
    assert_eq!(code, Some(1), "{lines:#?}");
    let p = problems(&lines);
    assert!(
        p.iter().any(|l| l.contains("t.yaml:8: kind.toxiproxy.proxies.1: toxiproxy has no proxy named \"kafka-1\"")),
        "{lines:#?}"
    );
    assert!(
        p.iter().any(|l| l.contains("t.yaml:9: kind.toxiproxy.proxies.111:") && l.contains("node id(s) [1]")),
        "{lines:#?}"
    );
    for l in p {
        assert!(!l.contains('\n'), "one line each: {l}");
    }

    // Process commands tried: a `stop` and a `kill` that return without stopping anything.
    let file = work.path().join("t.yaml");
    std::fs::write(
        &file,
        format!("name: t\nkind:\n  type: external\n  bootstrap: [\"{addr}\"]\n  process:\n    start: \"true\"\n    stop: \"true\"\n    kill: \"true\"\n"),
    )
    .expect("write");
    let out = bin().args(["check-target", "--try-process-commands"]).arg(&file).output().expect("run");
    let lines: Vec<String> = text(&out).lines().map(str::to_string).collect();
    assert_eq!(out.status.code(), Some(1), "{lines:#?}");
    let p = problems(&lines);
    assert_eq!(p.len(), 2, "{lines:#?}");
    assert!(p[0].contains("t.yaml:7: kind.process.stop:") && p[0].contains("still answers"), "{}", p[0]);
    assert!(p[1].contains("t.yaml:8: kind.process.kill:") && p[1].contains("still answers"), "{}", p[1]);

    // An invalid file: exit 2, before anything is reached.
    let (code, lines) = check_target(work.path(), "  bootstrap: [\"h:1\"]\n  proces: {}\n");
    assert_eq!(code, Some(2), "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains("t.yaml:5:") && l.contains("proces")), "{lines:#?}");
}

#[test]
fn bench_prints_a_row_per_case() {
    let out = bin().current_dir(repo()).args(["bench", "--records", "200"]).output().expect("run bench");
    assert!(out.status.success(), "bench failed:\n{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    for row in ["records/s", "acks=1, replication factor 1", "acks=all, replication factor 3"] {
        assert!(table.contains(row), "the table has no {row:?}:\n{table}");
    }
}

/// A scenario that needs one broker config and does nothing else with it.
fn needs_a_broker_config() -> tempfile::TempDir {
    features_dir(
        "Feature: f\n  Scenario: needs a fast cleaner\n    Given the brokers are configured with:\n      | log.cleaner.backoff.ms | 200 |\n    And a topic \"t\" with 1 partition\n",
    )
}

fn external_target(dir: &Path, bootstrap: &str, extra: &str) -> PathBuf {
    let target = dir.join("target.yaml");
    std::fs::write(
        &target,
        format!("name: declared\nkind:\n  type: external\n  bootstrap: [\"{bootstrap}\"]\n{extra}"),
    )
    .expect("write target");
    target
}

fn certify_in(dir: &Path, target: &Path) -> (Output, serde_json::Value) {
    let report = dir.join("report");
    let out = bin()
        .current_dir(dir)
        .args(["certify", "--features", "features", "--target"])
        .arg(target)
        .arg("--report")
        .arg(&report)
        .output()
        .expect("run certify");
    let json = report_json(&report);
    (out, json)
}

#[test]
fn a_declared_broker_config_stands_in_where_describe_configs_reports_nothing() {
    // librdkafka's mock cluster, run alone, is a broker that answers no DescribeConfigs.
    let (mock, bootstrap) = start_line(bin().args(["mock-cluster"]));
    let _mock = Killed(vec![mock]);
    let bootstrap = bootstrap.split(',').next().expect("an address").to_string();
    let dir = needs_a_broker_config();

    let undeclared = external_target(dir.path(), &bootstrap, "");
    let (out, json) = certify_in(dir.path(), &undeclared);
    let s = &json["scenarios"][0];
    assert_eq!(s["outcome"], "not supported", "{}\n{s}", text(&out));
    assert!(s["detail"].as_str().unwrap_or("").contains("kind.configs"), "says where to declare it: {s}");

    let declared = external_target(dir.path(), &bootstrap, "  configs:\n    log.cleaner.backoff.ms: \"200\"\n");
    let (out, json) = certify_in(dir.path(), &declared);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json["scenarios"][0]["outcome"], "passed", "{}", json["scenarios"][0]);
}

#[test]
fn a_declaration_that_describe_configs_contradicts_loses_and_is_reported() {
    // The reference broker reports every config; it runs with Kafka's log.cleaner.backoff.ms.
    let broker = ExternalBroker::start();
    let dir = needs_a_broker_config();
    let target = external_target(dir.path(), &broker.addr, "  configs:\n    log.cleaner.backoff.ms: \"200\"\n");
    let (out, json) = certify_in(dir.path(), &target);
    let s = &json["scenarios"][0];
    assert_eq!(s["outcome"], "not supported", "the file does not overrule the broker: {s}");
    let detail = s["detail"].as_str().unwrap_or("");
    assert!(detail.contains("log.cleaner.backoff.ms is 15000"), "{detail}");
    assert!(detail.contains("the target file declares 200"), "the contradiction is named: {detail}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("target file: broker 1 reports log.cleaner.backoff.ms=15000 through DescribeConfigs"),
        "certify says it once, up front:\n{stderr}"
    );
}

#[test]
fn a_failures_history_keeps_the_tail_of_each_external_brokers_log() {
    let broker = ExternalBroker::start();
    let dir = features_dir(
        "Feature: f\n  Scenario: a wrong expectation\n    Given a topic \"t\" with 1 partition\n    Then the earliest offset of partition 0 of \"t\" is 5\n",
    );
    // `log` prints 300 lines; the report keeps the last 200.
    let process = "  process:\n    stop: \"true\"\n    kill: \"true\"\n    start: \"true\"\n    log: \"seq 1 300 | sed 's/^/broker {broker} line /'\"\n";
    let target = external_target(dir.path(), &broker.addr, process);
    let (out, json) = certify_in(dir.path(), &target);
    assert_eq!(json["scenarios"][0]["outcome"], "failed", "{}", text(&out));
    let histories = dir.path().join("report/histories");
    let log = std::fs::read_dir(&histories)
        .expect("histories")
        .map(|e| e.expect("entry").path())
        .find(|p| p.to_string_lossy().ends_with(".broker-1.log"))
        .unwrap_or_else(|| panic!("no broker-1 log under {}", histories.display()));
    let log = std::fs::read_to_string(log).expect("read log");
    assert!(log.ends_with("broker 1 line 300") && log.contains("broker 1 line 101\n"), "{log}");
    assert!(!log.contains("line 100\n"), "more than the last 200 lines kept");
}

/// cucumber silences the panic hook while a scenario runs and puts it back after; with two
/// scenarios at once, the first to end used to put it back under the second, whose failing step
/// then printed a panic with its backtrace amid the progress.
#[test]
fn a_failing_step_is_one_line_of_progress_and_the_whole_story_in_the_report() {
    let dir = features_dir(
        "Feature: a\n  Scenario: a quick pass\n    Given a topic \"t\" with 1 partition\n    Then the earliest offset of partition 0 of \"t\" stays 0 for 1000 ms\n",
    );
    std::fs::write(
        dir.path().join("features/x/slow.feature"),
        "Feature: b\n  Scenario: a slow failure\n    Given a topic \"t\" with 1 partition\n    Then the earliest offset of partition 0 of \"t\" stays 0 for 2500 ms\n    And the earliest offset of partition 0 of \"t\" is 5\n",
    )
    .expect("write");
    let report = dir.path().join("report");
    let out = bin()
        .current_dir(dir.path())
        .env("RUST_BACKTRACE", "1")
        .args(["certify", "--features", "features", "--jobs", "2", "--report"])
        .arg(&report)
        .output()
        .expect("run certify");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "a panic reached stderr:\n{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("a slow failure")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("failed") && lines[0].contains("answered 0, expected 5"), "{stderr}");
    let steps = std::fs::read_to_string(report.join("histories/features_x_slow.feature__a_slow_failure.steps.txt"))
        .expect("the steps file of the failure");
    assert!(steps.contains("expected 5"), "{steps}");
}

#[test]
fn outside_the_repository_the_suite_that_ships_with_the_binary_is_used() {
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let out = bin().current_dir(elsewhere.path()).arg("list").output().expect("run");
    assert!(out.status.success(), "{}", text(&out));
    let names = String::from_utf8_lossy(&out.stdout);
    assert!(
        names
            .lines()
            .any(|l| l == "features/produce/round-trip.feature: every acknowledged record is read exactly once"),
        "{names}"
    );
    let out = bin().current_dir(elsewhere.path()).args(["list", "--features", "nowhere"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("nowhere is not a directory; pass --features <dir>"), "{}", text(&out));
}

/// `certify --soak`: the seed and its plan are printed before the run, the run is judged like
/// any scenario, and the same seed draws the same plan (the plan's lines are the same in two
/// runs; the faults done may differ in their timing only).
#[test]
fn a_seeded_soak_prints_its_plan_and_a_seed_replays_it() {
    let plan_of = |report: &Path| {
        let out = bin()
            .args(["certify", "--soak", "12s", "--seed", "3", "--faults", "pause, latency", "--report"])
            .arg(report)
            .output()
            .expect("run");
        let stdout = text(&out);
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        assert!(stdout.contains("passed") && stdout.contains("seed 3, 12 seconds"), "{stdout}");
        let plan: Vec<String> = stdout
            .lines()
            .skip_while(|l| !l.starts_with("soak plan for seed 3 over 12 s"))
            .take_while(|l| !l.trim().is_empty() && !l.starts_with("soak: faults done"))
            .map(str::to_string)
            .collect();
        assert!(plan.len() > 2, "no plan printed:\n{stdout}");
        plan
    };
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(plan_of(&dir.path().join("a")), plan_of(&dir.path().join("b")));
}

#[test]
fn a_soak_too_short_or_with_an_unknown_fault_is_refused_with_the_reason() {
    let out = bin().args(["certify", "--soak", "5s"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("too short"), "{}", text(&out));
    let out = bin().args(["certify", "--soak", "30s", "--faults", "meteor"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("\"meteor\" is not a fault the soak knows"), "{}", text(&out));
}
