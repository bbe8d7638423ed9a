//! Step definitions, one file per domain (cucumber book, "modules"). `features/README.md` lists
//! the vocabulary they define; a step that matches nothing fails the scenario (`fail_on_skipped`).
//!
//! Step files never import each other. What several of them do the same way is here and in
//! [`common`], which defines no step; building requests and batches is [`crate::requests`] and
//! [`crate::batches`]; judging the history is [`crate::checker`].

pub mod broker;
pub mod common;
pub mod consume;
pub mod coordinator;
pub mod damage;
pub mod fault;
pub mod groups;
pub mod idempotence;
pub mod logs;
pub mod offsets;
pub mod partitioning;
pub mod produce;
pub mod protocol;
pub mod replication;
pub mod soak;
pub mod topic;
pub mod txn;

use std::collections::BTreeMap;

use cucumber::gherkin::Step;
use kafka_protocol::messages::{RequestKind, ResponseKind};

use crate::wire::{WireClient, WireError};
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

/// A step's comma-separated list of names (`a, b, c`), empty names left out.
pub fn names(list: &str) -> Vec<String> {
    list.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// Kafka's error name of a response's error code.
pub fn name(code: i16) -> String {
    crate::kafka::error_name(code)
}

/// The first partition's error name in a Produce, Fetch, ListOffsets or DeleteRecords response.
pub fn partition_error(resp: &ResponseKind) -> Option<String> {
    let code = match resp {
        ResponseKind::Produce(r) => r.responses.first()?.partition_responses.first()?.error_code,
        ResponseKind::Fetch(r) => r.responses.first()?.partitions.first()?.error_code,
        ResponseKind::ListOffsets(r) => r.topics.first()?.partitions.first()?.error_code,
        ResponseKind::DeleteRecords(r) => r.topics.first()?.partitions.first()?.error_code,
        _ => return None,
    };
    Some(name(code))
}

/// Answers after which a client asks Metadata for the leader again and resends: the broker
/// asked is not (or no longer) the leader, so it did nothing with the request.
fn ask_the_leader_again(error: &str) -> bool {
    matches!(error, "NOT_LEADER_OR_FOLLOWER" | "LEADER_NOT_AVAILABLE" | "FENCED_LEADER_EPOCH" | "UNKNOWN_LEADER_EPOCH")
}

/// Sends a request about one partition over `client` (a connection to its leader, from
/// [`KafkaWorld::leader_wire`]), as Kafka clients do: while the answer says the broker is not
/// the leader, looks the leader up in Metadata again and resends, every 50 ms up to the
/// request timeout, then returns the last answer. A connection error is returned as it is: it
/// may leave the outcome unknown, so it is never retried. `cap` bounds the version (Fetch
/// requests that name topics stop at v12).
pub async fn to_leader(
    w: &mut KafkaWorld,
    client: &mut WireClient,
    topic: &str,
    partition: i32,
    req: &RequestKind,
    cap: Option<i16>,
) -> Result<Result<ResponseKind, WireError>, StepError> {
    let deadline = tokio::time::Instant::now() + w.timeout();
    let mut pace = tokio::time::interval(std::time::Duration::from_millis(50));
    pace.tick().await;
    loop {
        let key = crate::wire::api_key(req);
        let version = match client.version_for(key) {
            Ok(v) => cap.map_or(v, |c| v.min(c)),
            Err(e) => return Ok(Err(e)),
        };
        let result = client.request_at(req.clone(), version).await;
        let again = result.as_ref().ok().and_then(partition_error).is_some_and(|e| ask_the_leader_again(&e));
        if !again || tokio::time::Instant::now() >= deadline {
            return Ok(result);
        }
        pace.tick().await;
        if let Ok(c) = w.try_leader_wire(topic, partition).await? {
            *client = c;
        }
    }
}
