//! Finds scenarios and runs one at a time, each on its own tokio runtime with its own cucumber
//! run filtered to that scenario's line (cucumber-rs cannot be listed by nextest, cucumber #370,
//! so the nextest target and `certify` both drive it through here).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cucumber::feature::Ext as _;
use cucumber::gherkin::{self, GherkinEnv};
use cucumber::writer::{Coloring, Verbosity};
use cucumber::{StatsWriter as _, World as _, WriterExt as _};
use futures::FutureExt as _;

use crate::cluster::Launcher;
use crate::world::{Artifacts, Failure, KafkaWorld, RunContext};

/// One runnable scenario (an outline's example row counts as one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// The feature file on disk.
    pub path: PathBuf,
    /// Path relative to the repository root, with `/` separators: `features/x/y.feature`.
    pub rel: String,
    pub title: String,
    pub line: usize,
    /// Feature, rule and scenario tags, without `@`.
    pub tags: Vec<String>,
}

impl Scenario {
    /// The stable test name: `features/x/y.feature: title`.
    pub fn name(&self) -> String {
        format!("{}: {}", self.rel, self.title)
    }

    /// The guarantee area: the directory under `features/`.
    pub fn area(&self) -> String {
        self.rel.trim_start_matches("features/").split('/').next().unwrap_or("").to_string()
    }
}

/// How a scenario ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// The broker broke the guarantee (a verdict from a Then step or the checker).
    Failed(String),
    /// The broker answered as Apache Kafka would not (a failure too, counted apart).
    Differs(String),
    /// The target lacks what the scenario needs.
    Unsupported(String),
    /// The scenario could not run to a verdict: harness trouble, an undefined step, a timeout.
    Error(String),
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed(_) => "failed",
            Outcome::Differs(_) => "differs from Kafka",
            Outcome::Unsupported(_) => "not supported",
            Outcome::Error(_) => "error",
        }
    }

    /// A failure of the broker's: a broken guarantee, or an answer Kafka would not give.
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed(_) | Outcome::Differs(_))
    }

    pub fn detail(&self) -> &str {
        match self {
            Outcome::Passed => "",
            Outcome::Failed(m) | Outcome::Differs(m) | Outcome::Unsupported(m) | Outcome::Error(m) => m,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub scenario: Scenario,
    pub outcome: Outcome,
    pub duration: Duration,
    /// Cucumber's step-by-step output.
    pub output: String,
    pub artifacts: Artifacts,
}

/// Reads every `.feature` under `dir`, in path order, expanding outlines as cucumber does.
/// Duplicate titles in one file and tags missing from `features/TAGS.md` are errors.
pub fn discover(root: &Path, dir: &Path) -> Result<Vec<Scenario>, String> {
    let mut files = Vec::new();
    collect(dir, &mut files).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    files.sort();
    let known_tags = registered_tags(dir)?;
    let mut out = Vec::new();
    for path in files {
        let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
        let feature = gherkin::Feature::parse_path(&path, GherkinEnv::default())
            .map_err(|e| format!("{rel}: {e}"))?
            .expand_examples()
            .map_err(|e| format!("{rel}: {e}"))?;
        let mut seen = std::collections::HashSet::new();
        let feature_tags = feature.tags.clone();
        let in_rules = feature.rules.iter().flat_map(|r| r.scenarios.iter().map(move |s| (Some(r.tags.clone()), s)));
        for (rule_tags, sc) in feature.scenarios.iter().map(|s| (None, s)).chain(in_rules) {
            let mut tags: Vec<String> =
                feature_tags.iter().chain(rule_tags.iter().flatten()).chain(sc.tags.iter()).cloned().collect();
            tags.dedup();
            for t in &tags {
                if let Some(known) = &known_tags
                    && !known.contains(t)
                {
                    return Err(format!("{rel}:{}: tag @{t} is not registered in features/TAGS.md", sc.position.line));
                }
            }
            if !seen.insert(sc.name.clone()) {
                return Err(format!(
                    "{rel}:{}: another scenario in this file is titled {:?}",
                    sc.position.line, sc.name
                ));
            }
            out.push(Scenario {
                path: path.clone(),
                rel: rel.clone(),
                title: sc.name.clone(),
                line: sc.position.line,
                tags,
            });
        }
    }
    Ok(out)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "feature") {
            out.push(path);
        }
    }
    Ok(())
}

/// Tags listed in `TAGS.md` as lines starting with "- `@tag`". No file: no check.
fn registered_tags(dir: &Path) -> Result<Option<Vec<String>>, String> {
    let path = dir.join("TAGS.md");
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
    let tags = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- `@"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect();
    Ok(Some(tags))
}

/// A clonable in-memory sink for cucumber's writer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// On a target whose brokers and proxies are shared between scenarios (an external one), a fault
/// or process scenario must have it to itself: its faults would reach any scenario running at
/// the same time, and each scenario's start-of-run heal would undo its faults. A file lock per
/// target coordinates `certify`'s threads and nextest's processes alike: exclusive for `@fault`
/// and `@process` scenarios, shared for the rest. A reference scenario has its own cluster.
fn exclusive_access(
    scenario: &Scenario,
    target: &crate::target::Target,
) -> Result<Option<nix::fcntl::Flock<std::fs::File>>, String> {
    use nix::fcntl::{Flock, FlockArg};
    if !matches!(target.kind, crate::target::TargetKind::External { .. }) {
        return Ok(None);
    }
    let name: String = target.name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    let path = std::env::temp_dir().join(format!("kafka-conformance-{name}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open the target lock {}: {e}", path.display()))?;
    let exclusive = scenario.tags.iter().any(|t| t == "fault" || t == "process");
    let arg = if exclusive { FlockArg::LockExclusive } else { FlockArg::LockShared };
    Flock::lock(file, arg).map(Some).map_err(|(_, e)| format!("cannot lock {}: {e}", path.display()))
}

/// A scenario that pins a behaviour Kafka adopted in a release (`@since-kafka-X.Y`) and fails on
/// a target that claims no release says so first: the broker may follow an earlier one.
fn since_hint(message: String, scenario: &Scenario, target: &crate::target::Target) -> String {
    if target.kafka_version.is_some() {
        return message;
    }
    match scenario.tags.iter().find_map(|t| t.strip_prefix("since-kafka-")) {
        Some(since) => format!("[Kafka {since}+ behaviour; an earlier release? set kafka_version] {message}"),
        None => message,
    }
}

/// Runs one scenario against a target and classifies the result.
pub fn run(scenario: &Scenario, target: &crate::target::Target, launcher: Option<Launcher>) -> ScenarioResult {
    let started = Instant::now();
    if let Some(gap) = target.version_gap(&scenario.tags) {
        return ScenarioResult {
            scenario: scenario.clone(),
            outcome: Outcome::Unsupported(gap),
            duration: started.elapsed(),
            output: String::new(),
            artifacts: Artifacts::default(),
        };
    }
    // File damage needs the broker's data directory, which the harness has only for the brokers
    // it starts itself; saying so first keeps an external broker from being killed for nothing.
    if scenario.tags.iter().any(|t| t == "files") && !target.is_reference() {
        return ScenarioResult {
            scenario: scenario.clone(),
            outcome: Outcome::Unsupported(
                "the scenario damages a broker's files, which the harness reaches only on brokers it starts itself"
                    .into(),
            ),
            duration: started.elapsed(),
            output: String::new(),
            artifacts: Artifacts::default(),
        };
    }
    let _access = match exclusive_access(scenario, target) {
        Ok(lock) => lock,
        Err(e) => {
            return ScenarioResult {
                scenario: scenario.clone(),
                outcome: Outcome::Error(e),
                duration: started.elapsed(),
                output: String::new(),
                artifacts: Artifacts::default(),
            };
        }
    };
    let ctx = RunContext::new(target.clone(), launcher);
    let captured = Captured::default();
    // Panics on this thread and the runtime's (a failed step is one) go to the scenario's
    // report, not to stderr.
    crate::panics::install();
    let panics = crate::panics::Panics::default();
    let _attached = panics.attach();
    let on_start = panics.clone();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(move || on_start.attach_thread())
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            return ScenarioResult {
                scenario: scenario.clone(),
                outcome: Outcome::Error(format!("cannot start a tokio runtime: {e}")),
                duration: started.elapsed(),
                output: String::new(),
                artifacts: Artifacts::default(),
            };
        }
    };
    let limit = Duration::from_millis(target.timeouts.scenario_ms);
    let (line, path) = (scenario.line, scenario.path.clone());
    let before_ctx = ctx.clone();
    let after_ctx = ctx.clone();
    let external = !target.is_reference();
    let writer = cucumber::writer::Basic::raw(captured.clone(), Coloring::Never, Verbosity::ShowWorldAndDocString)
        .summarized()
        .normalized();
    let cucumber = KafkaWorld::cucumber()
        .with_writer(writer)
        .fail_on_skipped()
        .with_default_cli()
        .before(move |_, _, _, world| {
            let ctx = before_ctx.clone();
            async move {
                world.ctx = Some(ctx);
                if external {
                    // Topics outlive scenarios on a shared cluster: give this run its own names.
                    world.suffix = format!("-{}", uuid_suffix());
                }
            }
            .boxed_local()
        })
        .after(move |_, _, _, finished, world| {
            let ctx = after_ctx.clone();
            let failed = !matches!(finished, cucumber::event::ScenarioFinished::StepPassed);
            async move {
                if let Some(w) = world {
                    let mut artifacts =
                        Artifacts { history_jsonl: Some(w.history.to_jsonl()), broker_logs: Vec::new() };
                    if let Some(mut cluster) = w.cluster.take() {
                        // Faults are healed after every scenario, passed or failed, so that the
                        // next scenario on a shared cluster finds it whole.
                        for e in cluster.heal().await {
                            tracing::warn!("healing after the scenario: {e}");
                        }
                        artifacts.broker_logs = cluster.logs();
                        // An external broker's log costs a command per broker: only for failures.
                        if failed || ctx.failure().is_some() {
                            artifacts.broker_logs.extend(cluster.command_logs().await);
                        }
                        // Dropping the cluster kills its broker processes and removes their data.
                        drop(cluster);
                    }
                    ctx.set_artifacts(artifacts);
                }
            }
            .boxed_local()
        });
    let run = cucumber.filter_run(path, move |_, _, sc| sc.position.line == line);
    let finished = runtime.block_on(async { tokio::time::timeout(limit, run).await });
    // Broker processes must not outlive the scenario even when it timed out mid-step.
    runtime.shutdown_timeout(Duration::from_secs(5));
    let mut output = String::from_utf8_lossy(&captured.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
    // A step's error is a panic with the step's message, already in the output; any other panic
    // is a bug in the harness, kept with its backtrace.
    let bugs: Vec<crate::panics::Caught> =
        panics.take().into_iter().filter(|p| !crate::world::is_step_error(&p.message)).collect();
    for p in &bugs {
        output.push_str(&format!("\n--- panicked at {}: {}\n{}\n", p.location, p.message, p.backtrace));
    }
    let outcome = match finished {
        Err(_) => Outcome::Error(format!(
            "the scenario did not finish within timeouts.scenario_ms = {} ms",
            limit.as_millis()
        )),
        Ok(writer) => {
            let failed = writer.execution_has_failed() || writer.parsing_errors() > 0 || writer.hook_errors() > 0;
            match (failed, ctx.failure()) {
                (false, _) if writer.passed_steps() == 0 => {
                    Outcome::Error(format!("no step ran: no scenario at {}:{line}", scenario.rel))
                }
                (false, _) => Outcome::Passed,
                (true, Some(Failure::Verdict(m))) => Outcome::Failed(m),
                (true, Some(Failure::Differs(m))) => Outcome::Differs(m),
                (true, Some(Failure::Unsupported(m))) => Outcome::Unsupported(m),
                (true, Some(Failure::Harness(m))) => Outcome::Error(m),
                (true, None) => match bugs.first() {
                    Some(p) => Outcome::Error(format!(
                        "the harness panicked at {}: {} (the backtrace is in the steps file)",
                        p.location, p.message
                    )),
                    None => Outcome::Error(format!("a step failed outside the harness's classification:\n{output}")),
                },
            }
        }
    };
    let outcome = match outcome {
        Outcome::Failed(m) => Outcome::Failed(since_hint(m, scenario, target)),
        Outcome::Differs(m) => Outcome::Differs(since_hint(m, scenario, target)),
        other => other,
    };
    ScenarioResult {
        scenario: scenario.clone(),
        outcome,
        duration: started.elapsed(),
        output,
        artifacts: ctx.artifacts(),
    }
}

fn uuid_suffix() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{:x}{:x}", nanos & 0xffff_ffff, std::process::id())
}

/// The repository root, from the harness crate's manifest directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}

/// The features directory `certify` and `list` use when none is given: the suite that ships
/// with the binary, else `./features`. The shipped suite is looked for, in order, where an
/// install puts it (`<prefix>/share/kafka-conformance/features` beside `<prefix>/bin/`), in the
/// directories above the executable (a build inside the repository, `<repo>/target/release/`),
/// and where the binary was built from (`built_in`, the repository's `features/`, if it is still
/// there). A suite is a directory with a `TAGS.md`. Without one, the error says what to pass.
pub fn default_features(exe: Option<&Path>, built_in: &Path, cwd: &Path) -> Result<PathBuf, String> {
    let mut candidates = Vec::new();
    if let Some(bin_dir) = exe.and_then(Path::parent) {
        if let Some(prefix) = bin_dir.parent() {
            candidates.push(prefix.join("share/kafka-conformance/features"));
        }
        candidates.extend(bin_dir.ancestors().take(4).map(|d| d.join("features")));
    }
    candidates.push(built_in.to_path_buf());
    if let Some(found) = candidates.iter().find(|c| c.join("TAGS.md").is_file()) {
        return Ok(std::fs::canonicalize(found).unwrap_or_else(|_| found.clone()));
    }
    let local = cwd.join("features");
    if local.is_dir() {
        return Ok(local);
    }
    candidates.push(local);
    Err(format!(
        "no features directory found (looked for {}); pass --features <dir>, the features/ directory of the \
         kafka-conformance repository",
        candidates.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suite(at: &Path) {
        std::fs::create_dir_all(at).expect("mkdir");
        std::fs::write(at.join("TAGS.md"), "- `@wire` — wire client\n").expect("write");
    }

    #[test]
    fn a_failure_of_a_later_release_s_behaviour_says_kafka_version_would_apply() {
        let scenario = |tags: &[&str]| Scenario {
            path: PathBuf::new(),
            rel: "features/x.feature".into(),
            title: "t".into(),
            line: 1,
            tags: tags.iter().map(|t| t.to_string()).collect(),
        };
        let unclaimed = crate::target::Target { kafka_version: None, ..crate::target::Target::reference() };
        let hinted = since_hint("closed".into(), &scenario(&["wire", "since-kafka-4.0"]), &unclaimed);
        assert!(hinted.contains("Kafka 4.0+") && hinted.contains("kafka_version") && hinted.ends_with("closed"));
        assert_eq!(since_hint("closed".into(), &scenario(&["wire"]), &unclaimed), "closed");
        // A target that claims a release has said what it follows: nothing to add.
        let claimed = crate::target::Target::reference();
        assert_eq!(since_hint("closed".into(), &scenario(&["since-kafka-4.0"]), &claimed), "closed");
    }

    #[test]
    fn the_default_features_are_the_suite_that_ships_with_the_binary() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (root, cwd, gone) = (tmp.path(), tmp.path().join("elsewhere"), tmp.path().join("gone/features"));
        std::fs::create_dir_all(&cwd).expect("mkdir");
        let canon = |p: PathBuf| std::fs::canonicalize(p).expect("exists");

        // A build inside a repository: <repo>/target/release/kafka-conformance.
        suite(&root.join("repo/features"));
        let exe = root.join("repo/target/release/kafka-conformance");
        let found = default_features(Some(&exe), &gone, &cwd).expect("found");
        assert_eq!(found, canon(root.join("repo/features")));

        // An install: <prefix>/bin and <prefix>/share/kafka-conformance/features.
        suite(&root.join("prefix/share/kafka-conformance/features"));
        let exe = root.join("prefix/bin/kafka-conformance");
        let found = default_features(Some(&exe), &gone, &cwd).expect("found");
        assert_eq!(found, canon(root.join("prefix/share/kafka-conformance/features")));

        // Built elsewhere, the repository still there.
        let exe = root.join("cache/target/debug/kafka-conformance");
        let found = default_features(Some(&exe), &root.join("repo/features"), &cwd).expect("found");
        assert_eq!(found, canon(root.join("repo/features")));

        // Nothing shipped: ./features, else an error that says what to pass.
        let err = default_features(Some(&exe), &gone, &cwd).expect_err("nothing to find");
        assert!(err.contains("pass --features <dir>") && err.contains(&gone.display().to_string()), "{err}");
        std::fs::create_dir_all(cwd.join("features")).expect("mkdir");
        assert_eq!(default_features(Some(&exe), &gone, &cwd).expect("found"), cwd.join("features"));
    }
}
