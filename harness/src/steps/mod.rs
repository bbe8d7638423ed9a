//! Step definitions, one file per domain (cucumber book, "modules"). `features/README.md` lists
//! the vocabulary they define; a step that matches nothing fails the scenario (`fail_on_skipped`).

pub mod broker;
pub mod consume;
pub mod fault;
pub mod offsets;
pub mod produce;
pub mod protocol;
pub mod topic;

use std::collections::BTreeMap;

use cucumber::gherkin::Step;

use crate::world::{KafkaWorld, StepError};

/// A two-column `| key | value |` table under a step, with Kafka's config names in the first
/// column. A header row `| key | value |` is allowed and skipped.
pub fn config_table(w: &KafkaWorld, step: &Step) -> Result<BTreeMap<String, String>, StepError> {
    let table =
        step.table.as_ref().ok_or_else(|| w.harness(format!("step {:?} needs a | key | value | table", step.value)))?;
    let mut out = BTreeMap::new();
    for row in &table.rows {
        let [k, v] = row.as_slice() else {
            return Err(
                w.harness(format!("step {:?}: every table row needs exactly two cells, got {row:?}", step.value))
            );
        };
        if k == "key" && v == "value" {
            continue;
        }
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(out)
}

/// Kafka's error name of a response's error code.
pub fn name(code: i16) -> String {
    crate::kafka::error_name(code)
}
