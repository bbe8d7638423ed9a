//! `kafka-conformance`: certify a Kafka-compatible broker against the suite, or run the
//! embedded reference broker.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::{Parser, Subcommand};
use cucumber::gherkin::tagexpr::TagOperation;
use cucumber::tag::Ext as _;
use kafka_conformance::cluster::Launcher;
use kafka_conformance::report;
use kafka_conformance::runner::{self, Outcome, Scenario, ScenarioResult};
use kafka_conformance::target::{MOCK_BROKER_CONFIGS, Target};

#[derive(Parser)]
#[command(
    name = "kafka-conformance",
    version,
    about = "The conformance suite for Kafka semantics",
    long_about = "The conformance suite for Kafka semantics. `certify` runs the Gherkin scenarios under \
                  features/ against a broker through real clients (librdkafka and a wire-level client), \
                  records every operation, judges the history, and writes a report saying which \
                  guarantees hold and which fail, with the evidence."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the suite against a target and write a certification report.
    ///
    /// Exits 0 when every scenario passed or is a listed expected failure, 1 when a scenario
    /// failed or could not run, 2 on bad arguments or a bad target file. Scenarios the target
    /// cannot run (an API it does not advertise, no process control) are reported as
    /// "not supported", apart from failures.
    Certify {
        /// Target file (see fixtures/targets/). Default: the embedded reference broker,
        /// started fresh for each scenario.
        #[arg(long)]
        target: Option<PathBuf>,
        /// Directory of .feature files. Default: the suite that ships with this binary (beside
        /// an installed binary, above it in a repository build, or the repository it was built
        /// from), else ./features.
        #[arg(long)]
        features: Option<PathBuf>,
        /// Only scenarios whose tags match this cucumber tag expression, e.g. "not @slow".
        #[arg(long)]
        tags: Option<String>,
        /// Where report.md, report.json, junit.xml and histories/ are written.
        #[arg(long, default_value = "report")]
        report: PathBuf,
        /// Scenarios run at once. Each reference scenario starts its own broker process.
        #[arg(long, default_value_t = 2)]
        jobs: usize,
        /// More known gaps, on top of the target file's `expected_failures`: a YAML map of
        /// scenario name -> reason (e.g. fixtures/targets/tansu.expected-failures.yaml). A name
        /// that matches no scenario is refused.
        #[arg(long)]
        expected_failures: Option<PathBuf>,
        /// Instead of the suite, a seeded soak lasting DURATION (`90s`, `5m`, `1h`): idempotent
        /// producers with acks=all send while faults come and go on a schedule drawn from
        /// --seed; then every partition is read back and the history judged (nothing lost,
        /// nothing twice, each producer's order kept). The plan is printed first; the same seed
        /// replays the same workload and faults. On the reference, a cluster of 3 brokers.
        #[arg(long, value_name = "DURATION")]
        soak: Option<String>,
        /// The soak's seed. Default: drawn from the clock, and printed.
        #[arg(long, requires = "soak")]
        seed: Option<u64>,
        /// The soak's faults, of: kill, pause, isolate (cut from the other brokers), latency,
        /// leader (kill a partition's leader), or `none`. Faults the target cannot make are left
        /// out, and said.
        #[arg(long, requires = "soak", default_value = "kill, pause, isolate, latency, leader")]
        faults: String,
    },
    /// Measure produce throughput (records/s, MB/s) and acknowledgement latency (p50, p99) with
    /// librdkafka: acks=1 with replication factor 1, and acks=all with replication factor 3.
    ///
    /// Not a test: nothing is judged. On the reference target (the default) it starts a
    /// reference cluster of 3 brokers; on another target it uses the brokers it has (and says
    /// so when they are fewer than 3).
    Bench {
        /// Target file (see fixtures/targets/). Default: the embedded reference broker.
        #[arg(long)]
        target: Option<PathBuf>,
        /// Records per case.
        #[arg(long, default_value_t = 20_000)]
        records: usize,
        /// Size of each record's value in bytes.
        #[arg(long, default_value_t = 1024)]
        record_bytes: usize,
    },
    /// List the scenarios (test names) under a features directory.
    List {
        /// Directory of .feature files. Default: the suite that ships with this binary (beside
        /// an installed binary, above it in a repository build, or the repository it was built
        /// from), else ./features.
        #[arg(long)]
        features: Option<PathBuf>,
    },
    /// Check a target file: parse it, then reach what it names, one line per finding.
    ///
    /// For an external target: every bootstrap address (ApiVersions), the node ids and addresses
    /// Metadata lists (each reached directly), toxiproxy, the proxies the file names (each exists,
    /// for a node id Metadata lists, and is what its broker advertises) or the harness's own
    /// proxies and gateways (Metadata read through them), and `process.status` for every broker.
    /// A problem names the file, line and field. Exits 0 when all is well, 1 on a problem found
    /// by reaching the broker, 2 when the file itself is invalid.
    CheckTarget {
        file: PathBuf,
        /// Only parse and validate the file; reach nothing.
        #[arg(long)]
        offline: bool,
        /// Also try the process commands on the first broker, as scenarios use them: stop,
        /// start, kill, start, pause, resume, each timed and checked (the broker is gone, or
        /// answers, afterwards). Disturbs the broker.
        #[arg(long)]
        try_process_commands: bool,
    },
    /// Run librdkafka's mock cluster on loopback and print its bootstrap address; runs until
    /// killed. A second Kafka implementation to try the suite against (target type
    /// `librdkafka-mock` starts it per scenario).
    MockCluster {
        #[arg(long, default_value_t = 1)]
        brokers: i32,
    },
    /// Run an embedded toxiproxy-compatible server: toxiproxy's REST API on --listen, proxying
    /// TCP with its toxics. Prints the bound address on a line of its own once ready; runs until
    /// SIGTERM or ctrl-c. Any toxiproxy client can drive it.
    Toxiproxy {
        #[arg(long, default_value = "127.0.0.1:8474")]
        listen: String,
    },
    /// Run the embedded reference broker: `kafka-conformance reference broker --help`.
    #[command(disable_help_flag = true)]
    Reference {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn check_target(file: &Path, offline: bool, cycle: bool) -> ExitCode {
    let t = match Target::load(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("problem  {e}");
            return ExitCode::from(2);
        }
    };
    let kind = match t.kind {
        kafka_conformance::target::TargetKind::Reference { .. } => "reference",
        kafka_conformance::target::TargetKind::LibrdkafkaMock { .. } => "librdkafka mock cluster",
        kafka_conformance::target::TargetKind::External { .. } => "external",
    };
    println!("ok       {} is valid: target {:?} ({kind})", file.display(), t.name);
    if offline {
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kafka-conformance: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let diagnosis = runtime.block_on(kafka_conformance::check::diagnose(&t, cycle));
    let text = std::fs::read_to_string(file).unwrap_or_default();
    for line in diagnosis.lines(file, &text) {
        println!("{line}");
    }
    let problems = diagnosis.problems();
    if problems == 0 {
        println!("{}: no problem found", file.display());
        ExitCode::SUCCESS
    } else {
        println!("{}: {problems} problem(s)", file.display());
        ExitCode::FAILURE
    }
}

fn main() -> ExitCode {
    // Before any scenario runs: their panics (a failed step is one) then stay out of stderr.
    kafka_conformance::panics::install();
    let cli = Cli::parse();
    match cli.command {
        Command::Reference { args } => {
            kafka_reference::cli::main_from(std::iter::once("kafka-reference".to_string()).chain(args))
        }
        Command::MockCluster { brokers } => mock_cluster(brokers),
        Command::Toxiproxy { listen } => kafka_conformance::toxiproxy::run_cli(&listen),
        Command::CheckTarget { file, offline, try_process_commands } => {
            check_target(&file, offline, try_process_commands)
        }
        Command::List { features } => match features_dir(features).and_then(|f| discover(&f)) {
            Ok(scenarios) => {
                // A closed pipe (`list | head`) ends the listing quietly.
                let mut out = std::io::stdout().lock();
                for s in scenarios {
                    if writeln!(out, "{}", s.name()).is_err() {
                        break;
                    }
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("kafka-conformance: {e}");
                ExitCode::from(2)
            }
        },
        Command::Certify { soak: Some(duration), target, report, seed, faults, .. } => {
            soak(target, &duration, seed, &faults, &report)
        }
        Command::Certify { target, features, tags, report, jobs, expected_failures, .. } => {
            let target = match load_target(target) {
                Ok(t) => t,
                Err(code) => return code,
            };
            match features_dir(features) {
                Ok(features) => certify(target, &features, tags, &report, jobs, expected_failures.as_deref(), false),
                Err(e) => {
                    eprintln!("kafka-conformance: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Bench { target, records, record_bytes } => bench(target, records, record_bytes),
    }
}

fn load_target(target: Option<PathBuf>) -> Result<Target, ExitCode> {
    match target {
        Some(path) => Target::load(&path).map_err(|e| {
            eprintln!("kafka-conformance: {e}");
            ExitCode::from(2)
        }),
        None => Ok(Target::reference()),
    }
}

fn bench(target: Option<PathBuf>, records: usize, record_bytes: usize) -> ExitCode {
    let target = match load_target(target) {
        Ok(t) => t,
        Err(code) => return code,
    };
    if records == 0 {
        eprintln!("kafka-conformance: --records must be at least 1");
        return ExitCode::from(2);
    }
    let launcher = Launcher::current_exe().ok();
    let options = kafka_conformance::bench::Options { records, record_bytes };
    eprintln!("benchmarking target {:?}: {records} records of {record_bytes} bytes per case", target.name);
    match kafka_conformance::bench::run(&target, launcher.as_ref(), &options) {
        Ok(rows) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "\nTarget {:?}\n", target.name);
            let _ = write!(out, "{}", kafka_conformance::bench::table(&rows));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kafka-conformance: bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs librdkafka's mock cluster with [`MOCK_BROKER_CONFIGS`]: the rdkafka crate's
/// `MockCluster` cannot set the group timers, so the cluster is made here with librdkafka's own
/// calls, on a producer handle that lives as long as the process.
#[allow(unsafe_code)]
fn mock_cluster(brokers: i32) -> ExitCode {
    use rdkafka::bindings as rd;
    use rdkafka::producer::Producer as _;
    let handle: rdkafka::producer::BaseProducer = match rdkafka::ClientConfig::new().create() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("kafka-conformance: cannot create the client that hosts the mock cluster: {e}");
            return ExitCode::FAILURE;
        }
    };
    // SAFETY: the handle outlives the mock cluster (the process parks below, holding both); the
    // bootstrap string is copied before anything else is done with the cluster.
    let bootstrap = unsafe {
        let mcluster = rd::rd_kafka_mock_cluster_new(handle.client().native_ptr(), brokers);
        if mcluster.is_null() {
            eprintln!("kafka-conformance: cannot start librdkafka's mock cluster");
            return ExitCode::FAILURE;
        }
        for (k, v) in MOCK_BROKER_CONFIGS {
            if *k == "group.initial.rebalance.delay.ms" {
                rd::rd_kafka_mock_group_initial_rebalance_delay_ms(mcluster, v.parse().unwrap_or(0));
            }
        }
        std::ffi::CStr::from_ptr(rd::rd_kafka_mock_cluster_bootstraps(mcluster)).to_string_lossy().into_owned()
    };
    println!("{bootstrap}");
    let _ = std::io::stdout().flush();
    // The mock cluster serves from librdkafka's own threads; this one only keeps it alive.
    loop {
        std::thread::park();
    }
}

/// `--features`, or the suite that ships with this binary.
fn features_dir(given: Option<PathBuf>) -> Result<PathBuf, String> {
    match given {
        Some(dir) => Ok(dir),
        None => {
            let exe = std::env::current_exe().ok();
            let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            runner::default_features(exe.as_deref(), &runner::repo_root().join("features"), &cwd)
        }
    }
}

fn discover(features: &Path) -> Result<Vec<Scenario>, String> {
    let root = features.parent().map(Path::to_path_buf).unwrap_or_default();
    let root = if root.as_os_str().is_empty() { PathBuf::from(".") } else { root };
    let features = if features.is_relative() && root == Path::new(".") {
        Path::new(".").join(features)
    } else {
        features.to_path_buf()
    };
    if !features.is_dir() {
        return Err(format!(
            "{} is not a directory; pass --features <dir>, the features/ directory of the kafka-conformance repository",
            features.display()
        ));
    }
    runner::discover(&root, &features).map(|v| {
        v.into_iter()
            .map(|mut s| {
                s.rel = s.rel.trim_start_matches("./").to_string();
                s
            })
            .collect()
    })
}

/// Probes every API the suite relies on once, on a broker of the target's (a fresh one for the
/// reference), and prints what it found.
fn preflight(target: &Target, launcher: &Launcher) -> Result<Vec<kafka_conformance::preflight::Probe>, String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
    let probes = runtime.block_on(async {
        let spec = kafka_conformance::cluster::ClusterSpec::default();
        let cluster = kafka_conformance::cluster::Cluster::start(target, Some(launcher), &spec)
            .await
            .map_err(|e| e.to_string())?;
        let timeout = std::time::Duration::from_millis(target.timeouts.request_ms);
        // Declared broker configs are taken only where a broker reports nothing: say once, up
        // front, where a broker's answer overrules its target file.
        if let kafka_conformance::target::TargetKind::External { configs, .. } = &target.kind
            && !configs.is_empty()
        {
            match kafka_conformance::broker_configs::contradictions(cluster.bootstrap_addrs(), configs, timeout).await {
                Ok(found) => found.iter().for_each(|c| eprintln!("target file: {c}")),
                Err(e) => eprintln!("target file: cannot check kind.configs against DescribeConfigs: {e}"),
            }
        }
        kafka_conformance::preflight::run(cluster.bootstrap_addrs(), timeout).await
    })?;
    let ok = probes.iter().filter(|p| p.status == kafka_conformance::preflight::Status::Ok).count();
    eprintln!("preflight: {ok} of {} API probes answered as Kafka does", probes.len());
    for p in probes.iter().filter(|p| p.status != kafka_conformance::preflight::Status::Ok) {
        eprintln!("  {} — {}: {}", p.operation, p.status.label(), p.detail);
    }
    Ok(probes)
}

/// The first non-empty line of `text`, cut at `max` characters.
fn first_line(text: &str, max: usize) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    match line.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_string(),
    }
}

/// `certify --soak`: one generated scenario (`soak::feature`) in a directory of its own, run on
/// the target with a scenario time limit that fits the soak, its steps' output (the plan, the
/// faults done) printed after the report.
fn soak(target: Option<PathBuf>, duration: &str, seed: Option<u64>, faults: &str, report_dir: &Path) -> ExitCode {
    let mut target = match load_target(target) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let duration = match kafka_conformance::soak::parse_duration(duration) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("kafka-conformance: --soak: {e}");
            return ExitCode::from(2);
        }
    };
    let kinds = match kafka_conformance::soak::FaultKind::parse_list(faults) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("kafka-conformance: --faults: {e}");
            return ExitCode::from(2);
        }
    };
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64 % 1_000_000_000)
    });
    eprintln!("soak: seed {seed}, {} s; replay with --soak {}s --seed {seed}", duration.as_secs(), duration.as_secs());
    let reference = matches!(target.kind, kafka_conformance::target::TargetKind::Reference { .. });
    let dir = match tempfile::Builder::new().prefix("kafka-conformance-soak-").tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("kafka-conformance: cannot make a directory for the soak's scenario: {e}");
            return ExitCode::FAILURE;
        }
    };
    let features = dir.path().join("features");
    let file = features.join("soak").join("seeded-soak.feature");
    let text = kafka_conformance::soak::feature(seed, duration, reference, &kinds);
    if let Err(e) = std::fs::create_dir_all(features.join("soak")).and_then(|()| std::fs::write(&file, text)) {
        eprintln!("kafka-conformance: cannot write {}: {e}", file.display());
        return ExitCode::FAILURE;
    }
    // The suite's known gaps name the suite's scenarios, not this one.
    target.expected_failures.clear();
    let limit = duration.as_millis() as u64 + 180_000;
    target.timeouts.scenario_ms = target.timeouts.scenario_ms.max(limit);
    certify(target, &features, None, report_dir, 1, None, true)
}

fn certify(
    mut target: Target,
    features: &Path,
    tags: Option<String>,
    report_dir: &Path,
    jobs: usize,
    expected_failures: Option<&Path>,
    show_output: bool,
) -> ExitCode {
    if let Some(file) = expected_failures {
        match kafka_conformance::target::load_expected_failures(file) {
            Ok(more) => target.expected_failures.extend(more),
            Err(e) => {
                eprintln!("kafka-conformance: --expected-failures {}: {e}", file.display());
                return ExitCode::from(2);
            }
        }
    }
    let filter: Option<TagOperation> = match tags.as_deref().map(str::parse) {
        None => None,
        Some(Ok(op)) => Some(op),
        Some(Err(e)) => {
            eprintln!("kafka-conformance: --tags {:?} is not a tag expression: {e}", tags.unwrap_or_default());
            return ExitCode::from(2);
        }
    };
    let mut scenarios = match discover(features) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kafka-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    // A known gap that names no scenario is stale (a renamed scenario): it would hide nothing
    // and say nothing.
    let stale: Vec<&String> =
        target.expected_failures.keys().filter(|k| !scenarios.iter().any(|s| &s.name() == *k)).collect();
    if !stale.is_empty() {
        eprintln!("kafka-conformance: expected failures that name no scenario under {}:", features.display());
        for k in stale {
            eprintln!("  {k}");
        }
        return ExitCode::from(2);
    }
    if let Some(op) = &filter {
        scenarios.retain(|s| op.eval(s.tags.iter()));
    }
    if scenarios.is_empty() {
        eprintln!("kafka-conformance: no scenario under {} matches", features.display());
        return ExitCode::from(2);
    }
    let launcher = match Launcher::current_exe() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("kafka-conformance: cannot find my own executable to start the reference broker: {e}");
            return ExitCode::FAILURE;
        }
    };

    let preflight = match preflight(&target, &launcher) {
        Ok(probes) => probes,
        Err(e) => {
            eprintln!("kafka-conformance: the preflight could not reach the target: {e}");
            return ExitCode::FAILURE;
        }
    };

    let total = scenarios.len();
    eprintln!(
        "certifying target {:?} with {total} scenarios from {}, {jobs} at a time",
        target.name,
        features.display()
    );
    let queue = Arc::new(Mutex::new(scenarios.into_iter().enumerate().collect::<Vec<_>>().into_iter()));
    let results = Arc::new(Mutex::new(Vec::<(usize, ScenarioResult)>::new()));
    let started = std::time::Instant::now();
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            let (queue, results, target, launcher) = (queue.clone(), results.clone(), &target, &launcher);
            s.spawn(move || {
                loop {
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                    let Some((i, sc)) = next else { break };
                    let r = runner::run(&sc, target, Some(launcher.clone()));
                    let mut done = results.lock().unwrap_or_else(|p| p.into_inner());
                    let expected = target.expected_failures.contains_key(&sc.name());
                    let label = match (&r.outcome, expected) {
                        (o, true) if o.is_failure() => "failed (expected)",
                        (o, _) => o.label(),
                    };
                    // One line per scenario; a failure's whole story is in the report.
                    let says_why =
                        r.outcome.is_failure() || matches!(r.outcome, Outcome::Error(_) | Outcome::Unsupported(_));
                    let reason = if says_why && !expected {
                        format!(" — {}", first_line(r.outcome.detail(), 120))
                    } else {
                        String::new()
                    };
                    eprintln!(
                        "[{:>3}/{total}] {label:<17} {:>5.1}s  {}{reason}",
                        done.len() + 1,
                        r.duration.as_secs_f64(),
                        sc.name()
                    );
                    done.push((i, r));
                }
            });
        }
    });
    // cucumber's hook swaps may have left its silent hook in place: panics after the run are
    // the tool's own and must show.
    kafka_conformance::panics::install();
    let mut results = std::mem::take(&mut *results.lock().unwrap_or_else(|p| p.into_inner()));
    results.sort_by_key(|(i, _)| *i);
    let results: Vec<ScenarioResult> = results.into_iter().map(|(_, r)| r).collect();

    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "\nTarget {:?}: {total} scenarios in {:.1}s\n", target.name, started.elapsed().as_secs_f64());
    let _ = writeln!(out, "{}", report::first_screen(&target, &results, &preflight));
    let _ = writeln!(out, "{}", report::summary_table(&target, &results, &preflight));
    match report::write(report_dir, &target, &results, &preflight) {
        Ok(()) => {
            let _ =
                writeln!(out, "Report: {}/report.md (also report.json, junit.xml, histories/)", report_dir.display());
        }
        Err(e) => {
            eprintln!("kafka-conformance: cannot write the report to {}: {e}", report_dir.display());
            return ExitCode::FAILURE;
        }
    }
    if show_output {
        for r in &results {
            let _ = writeln!(out, "\n--- {} ---\n{}", r.scenario.name(), r.output);
        }
    }
    let (counts, _) = report::totals(&target, &results, &preflight);
    if counts.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
