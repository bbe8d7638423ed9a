//! The suite under nextest: one test per scenario, named `features/<path>.feature: <title>`.
//!
//! The target is the embedded reference broker, or the file named by
//! `KAFKA_CONFORMANCE_TARGET`. A scenario the target lists under `expected_failures` passes
//! when it fails (with its reason printed) and fails when it unexpectedly passes.

use std::path::PathBuf;

use kafka_conformance::cluster::Launcher;
use kafka_conformance::runner::{self, Outcome};
use kafka_conformance::target::Target;
use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    let args = Arguments::from_args();
    let root = runner::repo_root();
    let launcher =
        Launcher { program: PathBuf::from(env!("CARGO_BIN_EXE_kafka-conformance")), args: vec!["reference".into()] };
    let target = match std::env::var_os("KAFKA_CONFORMANCE_TARGET") {
        Some(path) => Target::load(&PathBuf::from(path)),
        None => Ok(Target::reference()),
    };
    let trials = match (target, runner::discover(&root, &root.join("features"))) {
        (Ok(target), Ok(scenarios)) => scenarios
            .into_iter()
            .map(|sc| {
                let (target, launcher) = (target.clone(), launcher.clone());
                Trial::test(sc.name(), move || {
                    let expected = target.expected_failures.get(&sc.name()).cloned();
                    let result = runner::run(&sc, &target, Some(launcher));
                    match (result.outcome, expected) {
                        (Outcome::Passed, None) => Ok(()),
                        (Outcome::Passed, Some(reason)) => Err(Failed::from(format!(
                            "passed, but the target lists it as an expected failure ({reason}): remove it"
                        ))),
                        (Outcome::Failed(m) | Outcome::Differs(m), Some(reason)) => {
                            println!("expected failure ({reason}):\n{m}");
                            Ok(())
                        }
                        (outcome, _) => Err(Failed::from(format!(
                            "{}: {}\n\n--- steps ---\n{}",
                            outcome.label(),
                            outcome.detail(),
                            result.output
                        ))),
                    }
                })
            })
            .collect(),
        (Err(e), _) => vec![Trial::test("target file", move || Err(Failed::from(e.to_string())))],
        (_, Err(e)) => vec![Trial::test("features: parse", move || Err(Failed::from(e)))],
    };
    libtest_mimic::run(&args, trials).exit();
}
