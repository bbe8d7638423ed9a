//! The certification report: `report.md` for people, `report.json` for tools, `junit.xml` for
//! CI systems, and under `histories/` the history (JSON lines) and broker logs of every scenario
//! that did not pass.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::preflight::{Probe, Status};
use crate::runner::{Outcome, ScenarioResult};
use crate::target::Target;

/// What each directory under `features/` certifies.
pub fn guarantee(area: &str) -> String {
    let name = match area {
        "produce" => "produce and consume round-trip",
        "ordering" => "per-partition ordering",
        "offsets" => "offsets and ListOffsets",
        "durability" => "acks durability",
        "consume" => "fetch and auto.offset.reset",
        "protocol" => "malformed and unsupported requests",
        "topics" => "topic administration and configs",
        "faults" => "behaviour under faults",
        other => other,
    };
    name.to_string()
}

#[derive(Debug, Default, Serialize, Clone, Copy)]
pub struct Counts {
    pub passed: usize,
    /// The broker broke a guarantee.
    pub failed: usize,
    /// The broker answered as Kafka would not.
    pub differs: usize,
    /// Differed from Kafka only where a preflight probe had already found the broker differing
    /// (the same API): downstream of that finding, not a finding of their own.
    pub blocked: usize,
    pub expected_failures: usize,
    /// Listed as expected failures, and passed: the gap is gone (or the list is wrong).
    pub unexpected_passes: usize,
    pub unsupported: usize,
    pub errors: usize,
}

impl Counts {
    fn add(&mut self, r: &ScenarioResult, expected: bool, blocked: bool) {
        match (&r.outcome, expected) {
            (Outcome::Passed, expected) => {
                self.passed += 1;
                self.unexpected_passes += usize::from(expected);
            }
            (Outcome::Failed(_) | Outcome::Differs(_), true) => self.expected_failures += 1,
            (Outcome::Failed(_), false) => self.failed += 1,
            (Outcome::Differs(_), false) if blocked => self.blocked += 1,
            (Outcome::Differs(_), false) => self.differs += 1,
            (Outcome::Unsupported(_), _) => self.unsupported += 1,
            (Outcome::Error(_), _) => self.errors += 1,
        }
    }

    /// A run fails when any scenario failed unexpectedly, could not run, or passed although
    /// listed as an expected failure.
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.differs == 0 && self.blocked == 0 && self.errors == 0 && self.unexpected_passes == 0
    }
}

#[derive(Serialize)]
struct JsonScenario<'a> {
    name: String,
    feature: &'a str,
    line: usize,
    guarantee: String,
    tags: &'a [String],
    outcome: &'static str,
    expected_failure: Option<&'a String>,
    detail: &'a str,
    /// What failed, in words shared by every scenario that failed the same way.
    cause: Option<String>,
    /// The preflight finding this scenario's failure sits downstream of.
    blocked_by: Option<String>,
    duration_ms: u128,
    history: Option<String>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    target: &'a str,
    description: &'a str,
    preflight: &'a [Probe],
    causes: Vec<Cause>,
    totals: Counts,
    by_guarantee: BTreeMap<String, Counts>,
    scenarios: Vec<JsonScenario<'a>>,
}

pub fn totals(target: &Target, results: &[ScenarioResult], preflight: &[Probe]) -> (Counts, BTreeMap<String, Counts>) {
    let mut total = Counts::default();
    let mut by = BTreeMap::new();
    for r in results {
        let expected = target.expected_failures.contains_key(&r.scenario.name());
        let blocked = blocker(r, preflight).is_some();
        total.add(r, expected, blocked);
        by.entry(guarantee(&r.scenario.area())).or_insert_with(Counts::default).add(r, expected, blocked);
    }
    (total, by)
}

/// The preflight probe a scenario's difference from Kafka sits downstream of: the scenario
/// differed at the same API the probe found differing on its own.
pub fn blocker<'a>(r: &ScenarioResult, preflight: &'a [Probe]) -> Option<&'a Probe> {
    if !matches!(r.outcome, Outcome::Differs(_)) {
        return None;
    }
    let cause = cause(r);
    preflight.iter().filter(|p| p.status == Status::DiffersFromKafka).find(|p| same_failure(&cause, p))
}

/// Whether a scenario's difference is the one a probe found: the same API, failing the same way
/// (a closed connection, an answer that does not decode, or another wrong answer).
fn same_failure(cause: &str, p: &Probe) -> bool {
    let mode = |text: &str| {
        if text.contains("closed the connection") {
            "closed"
        } else if text.contains("cannot decode") {
            "undecodable"
        } else {
            "answer"
        }
    };
    cause.contains(&format!("{} v", p.api)) && mode(cause) == mode(&p.detail)
}

/// The summary table printed at the end of `certify` and at the top of `report.md`.
pub fn summary_table(target: &Target, results: &[ScenarioResult], preflight: &[Probe]) -> String {
    let (total, by) = totals(target, results, preflight);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| guarantee | passed | failed | differs from Kafka | blocked by a preflight finding | expected failures | not supported | errors |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for (g, c) in by.iter().chain(std::iter::once((&"**all**".to_string(), &total))) {
        let _ = writeln!(
            s,
            "| {g} | {} | {} | {} | {} | {} | {} | {} |",
            c.passed, c.failed, c.differs, c.blocked, c.expected_failures, c.unsupported, c.errors
        );
    }
    s
}

fn file_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect()
}

/// One way scenarios failed, with every scenario that failed that way, and the preflight probe
/// that found the same thing on its own, if one did.
#[derive(Debug, Clone, Serialize)]
pub struct Cause {
    pub cause: String,
    pub outcome: &'static str,
    pub scenarios: Vec<String>,
    pub found_by_preflight: Option<String>,
}

/// The Jepsen anomaly names and the harness's own, as verdicts spell them.
const ANOMALY_NAMES: &[&str] = &[
    "lost-write",
    "unseen",
    "duplicate",
    "inconsistent-offsets",
    "nonmonotonic-send",
    "nonmonotonic-poll",
    "int-nonmonotonic-poll",
    "poll-skip",
    "int-poll-skip",
    "altered-record",
    "retention-deleted-ineligible",
    "compaction-lost-latest",
    "compaction-kept-superseded",
    "tombstone-removed-early",
    "double-assigned",
    "read-beyond-tail",
];

/// Replaces quoted names and numbers by placeholders, so that the same failure in two
/// scenarios reads the same.
fn shape(text: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    let mut digits = false;
    for c in text.chars() {
        if c == '"' {
            if !quoted {
                out.push_str("\"…\"");
            }
            quoted = !quoted;
            continue;
        }
        if quoted {
            continue;
        }
        if c.is_ascii_digit() {
            if !digits {
                out.push('N');
            }
            digits = true;
            continue;
        }
        digits = false;
        out.push(c);
    }
    out
}

/// Why scenarios were not supported, each reason once with how many it kept from running, most
/// first: the reason's first line up to its particulars (a config list, a node list, a colon),
/// numbers and quoted names shaped away.
pub fn unsupported_reasons(results: &[ScenarioResult]) -> Vec<(String, usize)> {
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for r in results {
        let Outcome::Unsupported(detail) = &r.outcome else { continue };
        let first = detail.lines().next().unwrap_or_default();
        let general = first.split(['{', '(', '[', ':']).next().unwrap_or(first);
        let general = general.trim().trim_end_matches([',', ';']).trim();
        *by.entry(shape(general)).or_default() += 1;
    }
    let mut out: Vec<(String, usize)> = by.into_iter().collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// What failed: for a difference from Kafka, the broker's answer (its first line); for a broken
/// guarantee, the Then step that caught it and the anomalies it names.
pub fn cause(r: &ScenarioResult) -> String {
    let detail = r.outcome.detail();
    if let Outcome::Differs(_) = r.outcome {
        return shape(detail.lines().next().unwrap_or_default().trim());
    }
    let step = r
        .output
        .lines()
        .find_map(|l| l.trim().strip_prefix("✘"))
        .map(|s| shape(s.trim()))
        .unwrap_or_else(|| shape(detail.lines().next().unwrap_or_default().trim()));
    let anomalies: Vec<&str> = ANOMALY_NAMES
        .iter()
        .copied()
        .filter(|a| detail.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).any(|w| w == *a))
        .collect();
    if anomalies.is_empty() { step } else { format!("{step} ({})", anomalies.join(", ")) }
}

/// The failures grouped by cause, most scenarios first.
pub fn causes(target: &Target, results: &[ScenarioResult], preflight: &[Probe]) -> Vec<Cause> {
    let mut by: BTreeMap<(String, &'static str), Vec<String>> = BTreeMap::new();
    for r in
        results.iter().filter(|r| r.outcome.is_failure() && !target.expected_failures.contains_key(&r.scenario.name()))
    {
        by.entry((cause(r), r.outcome.label())).or_default().push(r.scenario.name());
    }
    let mut out: Vec<Cause> = by
        .into_iter()
        .map(|((cause, outcome), scenarios)| {
            // A broken guarantee stands on its own evidence; a difference may be one the
            // preflight found.
            let found_by_preflight = (outcome == "differs from Kafka")
                .then(|| {
                    preflight.iter().filter(|p| p.status == Status::DiffersFromKafka).find(|p| same_failure(&cause, p))
                })
                .flatten()
                .map(|p| format!("{}: {}", p.operation, p.detail));
            Cause { cause, outcome, scenarios, found_by_preflight }
        })
        .collect();
    out.sort_by(|a, b| b.scenarios.len().cmp(&a.scenarios.len()).then(a.cause.cmp(&b.cause)));
    out
}

/// The first screen of a report: the preflight findings, then each cause once with how many
/// scenarios it failed.
pub fn first_screen(target: &Target, results: &[ScenarioResult], preflight: &[Probe]) -> String {
    let mut s = String::new();
    let findings: Vec<&Probe> = preflight.iter().filter(|p| p.status != Status::Ok).collect();
    if !preflight.is_empty() {
        let _ = writeln!(
            s,
            "Preflight: {} of {} API probes answered as Kafka does.",
            preflight.len() - findings.len(),
            preflight.len()
        );
        for p in &findings {
            let _ = writeln!(s, "- {} — {}: {}", p.operation, p.status.label(), p.detail);
        }
        let _ = writeln!(s);
    }
    let causes = causes(target, results, preflight);
    if !causes.is_empty() {
        let _ = writeln!(s, "Failures by cause ({} causes):", causes.len());
        for c in &causes {
            match &c.found_by_preflight {
                Some(p) => {
                    let _ = writeln!(
                        s,
                        "- [blocked] {} scenario(s) downstream of the preflight finding {p}",
                        c.scenarios.len()
                    );
                }
                None => {
                    let _ = writeln!(s, "- [{}] {} — {} scenario(s)", c.outcome, c.cause, c.scenarios.len());
                }
            }
        }
    }
    let gaps = unsupported_reasons(results);
    if !gaps.is_empty() {
        let total: usize = gaps.iter().map(|(_, n)| n).sum();
        let _ = writeln!(s, "Not supported by reason ({total} scenarios):");
        for (reason, n) in gaps {
            let _ = writeln!(s, "- {n} × {reason}");
        }
    }
    let passing: Vec<String> = results
        .iter()
        .filter(|r| r.outcome == Outcome::Passed && target.expected_failures.contains_key(&r.scenario.name()))
        .map(|r| r.scenario.name())
        .collect();
    if !passing.is_empty() {
        let _ = writeln!(s, "Listed as expected failures, but passed ({}): remove them from the list.", passing.len());
        for name in passing {
            let _ = writeln!(s, "- {name}");
        }
    }
    s
}

pub fn write(dir: &Path, target: &Target, results: &[ScenarioResult], preflight: &[Probe]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("histories"))?;
    let (total, by_guarantee) = totals(target, results, preflight);

    // Histories and broker logs of everything that did not pass.
    let mut history_files = BTreeMap::new();
    for r in results.iter().filter(|r| r.outcome != Outcome::Passed) {
        let base = file_name(&r.scenario.name());
        if let Some(h) = &r.artifacts.history_jsonl {
            let rel = format!("histories/{base}.jsonl");
            std::fs::write(dir.join(&rel), h)?;
            history_files.insert(r.scenario.name(), rel);
        }
        for (label, log) in &r.artifacts.broker_logs {
            std::fs::write(dir.join(format!("histories/{base}.{label}.log")), log)?;
        }
        std::fs::write(dir.join(format!("histories/{base}.steps.txt")), &r.output)?;
    }

    let scenarios = results
        .iter()
        .map(|r| JsonScenario {
            name: r.scenario.name(),
            feature: &r.scenario.rel,
            line: r.scenario.line,
            guarantee: guarantee(&r.scenario.area()),
            tags: &r.scenario.tags,
            outcome: r.outcome.label(),
            expected_failure: target.expected_failures.get(&r.scenario.name()),
            detail: r.outcome.detail(),
            cause: r.outcome.is_failure().then(|| cause(r)),
            blocked_by: blocker(r, preflight).map(|p| format!("{}: {}", p.operation, p.detail)),
            duration_ms: r.duration.as_millis(),
            history: history_files.get(&r.scenario.name()).cloned(),
        })
        .collect();
    let json = JsonReport {
        target: &target.name,
        description: &target.description,
        preflight,
        causes: causes(target, results, preflight),
        totals: total,
        by_guarantee,
        scenarios,
    };
    std::fs::write(dir.join("report.json"), serde_json::to_string_pretty(&json).map_err(std::io::Error::other)?)?;

    let mut md = String::new();
    let _ = writeln!(md, "# Kafka conformance report: {}\n", target.name);
    if !target.description.is_empty() {
        let _ = writeln!(md, "{}\n", target.description);
    }
    let verdict = if total.ok() {
        "**certified**: every scenario passed or is a listed expected failure"
    } else {
        "**not certified**"
    };
    let _ = writeln!(md, "Result: {verdict}.\n");
    let _ = writeln!(md, "{}", first_screen(target, results, preflight));
    let _ = writeln!(md, "{}", summary_table(target, results, preflight));
    let _ = writeln!(
        md,
        "Failed means the broker broke the guarantee the scenario names (the evidence follows). Blocked means the scenario differed from Kafka only at an API the preflight had already found differing: it sits downstream of that finding. Differs from Kafka means the broker answered as Apache Kafka would not (an error code, a closed connection, an answer that does not decode), with the Kafka source that defines the answer. Not supported means the target lacks an API or control the scenario needs. Error means the scenario could not run to a verdict.\n"
    );
    if !preflight.is_empty() {
        let _ = writeln!(md, "## Preflight\n\n{}", crate::preflight::table(preflight));
    }
    for r in results.iter().filter(|r| r.outcome != Outcome::Passed) {
        let _ = writeln!(md, "## {} — {}\n", r.outcome.label(), r.scenario.name());
        if let Some(reason) = target.expected_failures.get(&r.scenario.name()) {
            let _ = writeln!(md, "Expected failure: {reason}\n");
        }
        if let Some(p) = blocker(r, preflight) {
            let _ = writeln!(md, "Blocked by the preflight finding: {} — {}\n", p.operation, p.detail);
        }
        let _ = writeln!(md, "```\n{}\n```\n", r.outcome.detail().trim());
        if let Some(h) = history_files.get(&r.scenario.name()) {
            let _ = writeln!(md, "History: `{h}`\n");
        }
    }
    let _ = writeln!(md, "## All scenarios\n\n| scenario | outcome | time |\n|---|---|---:|");
    for r in results {
        let _ = writeln!(md, "| {} | {} | {:.1}s |", r.scenario.name(), r.outcome.label(), r.duration.as_secs_f64());
    }
    std::fs::write(dir.join("report.md"), md)?;

    std::fs::write(dir.join("junit.xml"), junit(target, results, preflight))
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn junit(target: &Target, results: &[ScenarioResult], preflight: &[Probe]) -> String {
    let (total, _) = totals(target, results, preflight);
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let time: f64 = results.iter().map(|r| r.duration.as_secs_f64()).sum();
    let _ = writeln!(
        s,
        "<testsuite name=\"kafka-conformance: {}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{time:.3}\">",
        xml(&target.name),
        results.len(),
        total.failed + total.differs + total.blocked,
        total.errors,
        total.unsupported + total.expected_failures
    );
    for r in results {
        let _ = write!(
            s,
            "  <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            xml(&r.scenario.rel),
            xml(&r.scenario.title),
            r.duration.as_secs_f64()
        );
        let detail = xml(r.outcome.detail());
        let expected = target.expected_failures.get(&r.scenario.name());
        match (&r.outcome, expected) {
            (Outcome::Passed, _) => s.push_str("/>\n"),
            (Outcome::Failed(_) | Outcome::Differs(_), Some(reason)) => {
                let _ = writeln!(s, ">\n    <skipped message=\"expected failure: {}\"/>\n  </testcase>", xml(reason));
            }
            (Outcome::Failed(_), None) => {
                let _ = writeln!(s, ">\n    <failure message=\"guarantee broken\">{detail}</failure>\n  </testcase>");
            }
            (Outcome::Differs(_), None) => {
                let _ = writeln!(s, ">\n    <failure message=\"differs from Kafka\">{detail}</failure>\n  </testcase>");
            }
            (Outcome::Unsupported(_), _) => {
                let _ =
                    writeln!(s, ">\n    <skipped message=\"not supported by this target: {detail}\"/>\n  </testcase>");
            }
            (Outcome::Error(_), _) => {
                let _ =
                    writeln!(s, ">\n    <error message=\"the scenario could not run\">{detail}</error>\n  </testcase>");
            }
        }
    }
    s.push_str("</testsuite>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::Scenario;

    fn failed(outcome: Outcome, output: &str) -> ScenarioResult {
        ScenarioResult {
            scenario: Scenario {
                path: "features/x/y.feature".into(),
                rel: "features/x/y.feature".into(),
                title: "t".into(),
                line: 1,
                tags: Vec::new(),
            },
            outcome,
            duration: std::time::Duration::ZERO,
            output: output.into(),
            artifacts: Default::default(),
        }
    }

    #[test]
    fn scenarios_not_supported_for_the_same_reason_are_counted_together() {
        let results = vec![
            failed(Outcome::Unsupported("the scenario needs broker configs {\"a\": \"0\"}, which ...".into()), ""),
            failed(Outcome::Unsupported("the scenario needs broker configs {\"b\": \"1\"}, which ...".into()), ""),
            failed(
                Outcome::Unsupported("the scenario needs a cluster of 3 brokers; Metadata lists 1 ([111])".into()),
                "",
            ),
            failed(Outcome::Passed, ""),
        ];
        assert_eq!(
            unsupported_reasons(&results),
            vec![
                ("the scenario needs broker configs".to_string(), 2),
                ("the scenario needs a cluster of N brokers; Metadata lists N".to_string(), 1),
            ]
        );
    }

    #[test]
    fn the_same_failure_in_two_scenarios_has_one_cause() {
        let a = failed(
            Outcome::Failed("the history shows anomalies this guarantee forbids:\nunseen: 3 records".into()),
            "  ✔  When 200 records are produced to partition 0 of \"events\"\n  ✘  Then every acknowledged record is read exactly once\n",
        );
        let b = failed(
            Outcome::Failed("the history shows anomalies this guarantee forbids:\nunseen: 12 records".into()),
            "  ✘  Then every acknowledged record is read exactly once\n",
        );
        assert_eq!(cause(&a), "Then every acknowledged record is read exactly once (unseen)");
        assert_eq!(cause(&a), cause(&b));
        let c = failed(Outcome::Failed("x".into()), "  ✘  Then partition 0 of \"keyed\" ends at offset 0\n");
        let d = failed(Outcome::Failed("y".into()), "  ✘  Then partition 2 of \"other\" ends at offset 10\n");
        assert_eq!(cause(&c), cause(&d));
        assert_eq!(cause(&c), "Then partition N of \"…\" ends at offset N");
    }

    #[test]
    fn a_difference_is_grouped_by_the_answer_and_matched_to_the_preflight() {
        let closed = "the broker closed the connection instead of answering a well-formed DescribeConfigs v4 request it advertises";
        let results = vec![failed(Outcome::Differs(closed.into()), ""), failed(Outcome::Differs(closed.into()), "")];
        let probe = Probe {
            operation: "DescribeConfigs of a topic, with config keys".into(),
            api: "DescribeConfigs".into(),
            status: Status::DiffersFromKafka,
            detail: "the broker closed the connection instead of answering DescribeConfigs v4".into(),
        };
        let causes = causes(&Target::reference(), &results, &[probe]);
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].scenarios.len(), 2);
        assert!(causes[0].found_by_preflight.as_deref().is_some_and(|p| p.starts_with("DescribeConfigs of a topic")));
    }
}
