//! Every guarantee can fail: for each deliberate defect of the reference broker, the scenarios
//! it names must fail, and by the checker's or a Then step's verdict, not by a crash, a harness
//! error or a timeout.

use std::collections::BTreeMap;
use std::path::PathBuf;

use kafka_conformance::cluster::Launcher;
use kafka_conformance::runner::{self, Outcome};
use kafka_conformance::target::{Target, TargetKind};
use kafka_reference::defects::REGISTRY;
use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    let args = Arguments::from_args();
    let root = runner::repo_root();
    let launcher =
        Launcher { program: PathBuf::from(env!("CARGO_BIN_EXE_kafka-conformance")), args: vec!["reference".into()] };
    let scenarios = match runner::discover(&root, &root.join("features")) {
        Ok(s) => s,
        Err(e) => {
            libtest_mimic::run(&args, vec![Trial::test("features: parse", move || Err(Failed::from(e)))]).exit();
        }
    };
    let by_name: BTreeMap<String, runner::Scenario> = scenarios.into_iter().map(|s| (s.name(), s)).collect();
    let mut trials = Vec::new();
    // A guarantee no defect can break is checked by nothing: every feature file needs one.
    let files: std::collections::BTreeSet<String> = by_name.values().map(|s| s.rel.clone()).collect();
    trials.push(Trial::test("every feature file is failed by some defect", move || {
        let caught: Vec<&str> = REGISTRY
            .iter()
            .flat_map(|d| d.caught_by.iter().filter_map(|n| n.split_once(": ").map(|(f, _)| f)))
            .collect();
        let uncovered: Vec<&String> = files.iter().filter(|f| !caught.contains(&f.as_str())).collect();
        if uncovered.is_empty() {
            Ok(())
        } else {
            Err(Failed::from(format!("no defect in reference/src/defects.rs names a scenario of: {uncovered:?}")))
        }
    }));
    for d in REGISTRY {
        for name in d.caught_by {
            let scenario = by_name.get(*name).cloned();
            let launcher = launcher.clone();
            let (defect, name) = (d.name, name.to_string());
            trials.push(Trial::test(format!("defect {defect} is caught by {name}"), move || {
                let scenario = scenario.ok_or_else(|| Failed::from(format!("no scenario is named {name:?}")))?;
                // The reference target's own configs (fast failure detection) stay: the
                // replication scenarios' bounds assume them.
                let mut target = Target::reference();
                if let TargetKind::Reference { defects, .. } = &mut target.kind {
                    *defects = vec![defect.to_string()];
                }
                let result = runner::run(&scenario, &target, Some(launcher));
                match result.outcome {
                    Outcome::Failed(verdict) | Outcome::Differs(verdict) => {
                        println!("caught, as it must be:\n{verdict}");
                        Ok(())
                    }
                    Outcome::Passed => {
                        Err(Failed::from(format!("the scenario passed with {defect} on: the check cannot fail")))
                    }
                    other => Err(Failed::from(format!(
                        "the scenario failed for the wrong reason ({}: {}); a defect must be caught by a verdict\n{}",
                        other.label(),
                        other.detail(),
                        result.output
                    ))),
                }
            }));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}
