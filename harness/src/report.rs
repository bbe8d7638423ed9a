//! The certification report: `report.md` for people, `report.json` for tools, `junit.xml` for
//! CI systems, and under `histories/` the history (JSON lines) and broker logs of every scenario
//! that did not pass.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

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
    pub failed: usize,
    pub expected_failures: usize,
    pub unsupported: usize,
    pub errors: usize,
}

impl Counts {
    fn add(&mut self, r: &ScenarioResult, expected: bool) {
        match (&r.outcome, expected) {
            (Outcome::Passed, _) => self.passed += 1,
            (Outcome::Failed(_), true) => self.expected_failures += 1,
            (Outcome::Failed(_), false) => self.failed += 1,
            (Outcome::Unsupported(_), _) => self.unsupported += 1,
            (Outcome::Error(_), _) => self.errors += 1,
        }
    }

    /// A run fails when any scenario failed unexpectedly or could not run.
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.errors == 0
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
    duration_ms: u128,
    history: Option<String>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    target: &'a str,
    description: &'a str,
    totals: Counts,
    by_guarantee: BTreeMap<String, Counts>,
    scenarios: Vec<JsonScenario<'a>>,
}

pub fn totals(target: &Target, results: &[ScenarioResult]) -> (Counts, BTreeMap<String, Counts>) {
    let mut total = Counts::default();
    let mut by = BTreeMap::new();
    for r in results {
        let expected = target.expected_failures.contains_key(&r.scenario.name());
        total.add(r, expected);
        by.entry(guarantee(&r.scenario.area())).or_insert_with(Counts::default).add(r, expected);
    }
    (total, by)
}

/// The summary table printed at the end of `certify` and at the top of `report.md`.
pub fn summary_table(target: &Target, results: &[ScenarioResult]) -> String {
    let (total, by) = totals(target, results);
    let mut s = String::new();
    let _ = writeln!(s, "| guarantee | passed | failed | expected failures | not supported | errors |");
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
    for (g, c) in by.iter().chain(std::iter::once((&"**all**".to_string(), &total))) {
        let _ = writeln!(
            s,
            "| {g} | {} | {} | {} | {} | {} |",
            c.passed, c.failed, c.expected_failures, c.unsupported, c.errors
        );
    }
    s
}

fn file_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect()
}

pub fn write(dir: &Path, target: &Target, results: &[ScenarioResult]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("histories"))?;
    let (total, by_guarantee) = totals(target, results);

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
            duration_ms: r.duration.as_millis(),
            history: history_files.get(&r.scenario.name()).cloned(),
        })
        .collect();
    let json =
        JsonReport { target: &target.name, description: &target.description, totals: total, by_guarantee, scenarios };
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
    let _ = writeln!(md, "{}", summary_table(target, results));
    let _ = writeln!(
        md,
        "Failed means the broker broke the guarantee the scenario names (the evidence follows). Not supported means the target lacks an API or control the scenario needs. Error means the scenario could not run to a verdict.\n"
    );
    for r in results.iter().filter(|r| r.outcome != Outcome::Passed) {
        let _ = writeln!(md, "## {} — {}\n", r.outcome.label(), r.scenario.name());
        if let Some(reason) = target.expected_failures.get(&r.scenario.name()) {
            let _ = writeln!(md, "Expected failure: {reason}\n");
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

    std::fs::write(dir.join("junit.xml"), junit(target, results))
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn junit(target: &Target, results: &[ScenarioResult]) -> String {
    let (total, _) = totals(target, results);
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let time: f64 = results.iter().map(|r| r.duration.as_secs_f64()).sum();
    let _ = writeln!(
        s,
        "<testsuite name=\"kafka-conformance: {}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{time:.3}\">",
        xml(&target.name),
        results.len(),
        total.failed,
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
            (Outcome::Failed(_), Some(reason)) => {
                let _ = writeln!(s, ">\n    <skipped message=\"expected failure: {}\"/>\n  </testcase>", xml(reason));
            }
            (Outcome::Failed(_), None) => {
                let _ = writeln!(s, ">\n    <failure message=\"guarantee broken\">{detail}</failure>\n  </testcase>");
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
