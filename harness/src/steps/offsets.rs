//! Offsets: ListOffsets answers and the contiguity of acknowledged offsets.

use cucumber::then;

use super::common::list_offset;
use crate::checker;
use crate::world::{KafkaWorld, StepResult};

async fn expect_offset(
    w: &mut KafkaWorld,
    what: &str,
    topic: &str,
    partition: i32,
    ts: i64,
    expected: i64,
) -> StepResult {
    let real = w.topic(topic);
    let got = list_offset(w, &real, partition, ts).await?;
    if got != expected {
        return Err(
            w.verdict(format!("ListOffsets for {what} of partition {partition} answered {got}, expected {expected}"))
        );
    }
    Ok(())
}

#[then(expr = "the log end offset of partition {int} of {string} is {int}")]
async fn log_end(w: &mut KafkaWorld, partition: i32, topic: String, expected: i64) -> StepResult {
    expect_offset(w, "the latest offset", &topic, partition, -1, expected).await
}

#[then(expr = "the earliest offset of partition {int} of {string} is {int}")]
async fn earliest(w: &mut KafkaWorld, partition: i32, topic: String, expected: i64) -> StepResult {
    expect_offset(w, "the earliest offset", &topic, partition, -2, expected).await
}

#[then(expr = "the offset of the record with the largest timestamp in partition {int} of {string} is {int}")]
async fn max_timestamp(w: &mut KafkaWorld, partition: i32, topic: String, expected: i64) -> StepResult {
    // MAX_TIMESTAMP (-3) exists from ListOffsets v7 (KIP-734).
    let client = w.wire().await?;
    let v = client.version_for(kafka_protocol::messages::ApiKey::ListOffsets).map_err(|e| w.wire_error(e))?;
    if v < 7 {
        return Err(w.unsupported(format!(
            "ListOffsets for the max timestamp needs v7 (KIP-734); the target supports up to v{v}"
        )));
    }
    expect_offset(w, "the max timestamp", &topic, partition, -3, expected).await
}

#[then(expr = "ListOffsets for timestamp {int} on partition {int} of {string} answers {int}")]
async fn by_timestamp(w: &mut KafkaWorld, ts: i64, partition: i32, topic: String, expected: i64) -> StepResult {
    expect_offset(w, &format!("timestamp {ts}"), &topic, partition, ts, expected).await
}

/// Every record acknowledged to the partition holds one offset of `from..from + n`, each a
/// different one ([`checker::sends::contiguous`]).
#[then(expr = "the acknowledged offsets of partition {int} of {string} are contiguous from {int}")]
async fn contiguous(w: &mut KafkaWorld, partition: i32, topic: String, from: i64) -> StepResult {
    let real = w.topic(&topic);
    w.found(checker::sends::contiguous(&w.history.events(), &real, partition, from))
}
