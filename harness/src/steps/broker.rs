//! Broker processes: restarts, crashes, and whether the broker still serves.

use cucumber::{then, when};

use crate::cluster::{ClusterError, Stop};
use crate::world::{KafkaWorld, StepResult};

async fn restart(w: &mut KafkaWorld, how: Stop) -> StepResult {
    if !w.ctx()?.target.can_control_processes() {
        return Err(w.unsupported("restarting a broker needs `process` commands in the target file"));
    }
    // An external broker's node id is whatever Metadata says (tansu's is 111), never assumed.
    let ids = broker_ids(w).await?;
    if ids.is_empty() {
        return Err(w.harness("Metadata lists no broker to restart"));
    }
    for id in ids {
        let result = w.cluster().await?.restart(id, how).await;
        match result {
            Ok(()) => {}
            Err(e @ (ClusterError::NoProcessControl { .. } | ClusterError::Volatile)) => {
                return Err(w.unsupported(e.to_string()));
            }
            // A broker that does not come back is the broker's failure, not the harness's.
            Err(e @ (ClusterError::StartFailed { .. } | ClusterError::StartTimeout { .. })) => {
                return Err(w.verdict(format!("the broker did not come back: {e}")));
            }
            Err(e) => return Err(w.harness(e.to_string())),
        }
    }
    Ok(())
}

#[when("the broker is restarted")]
async fn restarted(w: &mut KafkaWorld) -> StepResult {
    restart(w, Stop::Graceful).await
}

#[when("the broker is killed with SIGKILL and started again")]
async fn killed(w: &mut KafkaWorld) -> StepResult {
    restart(w, Stop::Kill).await
}

/// A new connection negotiates versions and reads metadata: the broker is serving.
#[then("the broker still serves requests")]
async fn still_serves(w: &mut KafkaWorld) -> StepResult {
    let addr = w.cluster().await?.bootstrap_addrs().first().cloned().unwrap_or_default();
    let timeout = w.timeout();
    let mut client = crate::wire::WireClient::connect(&addr, timeout)
        .await
        .map_err(|e| w.verdict(format!("a new connection is not served: {e}")))?;
    let req = kafka_protocol::messages::MetadataRequest::default().with_topics(None);
    match client.request(kafka_protocol::messages::RequestKind::Metadata(req)).await {
        Ok(kafka_protocol::messages::ResponseKind::Metadata(m)) if !m.brokers.is_empty() => Ok(()),
        Ok(other) => Err(w.verdict(format!("Metadata answered without brokers: {other:?}"))),
        Err(e) => Err(w.verdict(format!("Metadata on a new connection failed: {e}"))),
    }
}

/// The node ids of the brokers a scenario acts on: those the harness started, or, on an
/// external target, those Metadata lists.
async fn broker_ids(w: &mut KafkaWorld) -> Result<Vec<i32>, crate::world::StepError> {
    let ids = w.cluster().await?.broker_ids();
    if !ids.is_empty() {
        return Ok(ids);
    }
    let mut client = w.wire().await?;
    let req = kafka_protocol::messages::MetadataRequest::default().with_topics(Some(Vec::new()));
    match client.request(kafka_protocol::messages::RequestKind::Metadata(req)).await.map_err(|e| w.wire_error(e))? {
        kafka_protocol::messages::ResponseKind::Metadata(m) => Ok(m.brokers.iter().map(|b| b.node_id.0).collect()),
        _ => Err(w.harness("Metadata answered with another response type")),
    }
}

/// Pauses every broker, or resumes the paused ones. The paused ones are the cluster's own
/// record: a paused broker cannot be asked for its node id.
async fn signal_all(w: &mut KafkaWorld, pause: bool) -> StepResult {
    let ids = if pause { broker_ids(w).await? } else { w.cluster().await?.paused_ids() };
    if ids.is_empty() {
        return Err(w.harness(if pause { "no broker to pause" } else { "no broker is paused" }));
    }
    for id in ids {
        let cluster = w.cluster().await?;
        let result = if pause { cluster.pause(id).await } else { cluster.resume(id).await };
        match result {
            Ok(()) => {}
            Err(e @ (ClusterError::NoProcessControl { .. } | ClusterError::Volatile)) => {
                return Err(w.unsupported(e.to_string()));
            }
            Err(e) => return Err(w.harness(e.to_string())),
        }
    }
    Ok(())
}

/// SIGSTOP: the broker keeps its sockets open and answers nothing, as in a long GC pause.
#[when("the broker is paused")]
async fn paused(w: &mut KafkaWorld) -> StepResult {
    signal_all(w, true).await
}

#[when("the broker is resumed")]
async fn resumed(w: &mut KafkaWorld) -> StepResult {
    signal_all(w, false).await
}

/// A fault scenario must have exercised its fault: sends that got no answer in time are
/// recorded as unknown, never as failed.
#[then("some sends ended unknown")]
async fn some_unknown(w: &mut KafkaWorld) -> StepResult {
    use crate::history::{Op, Outcome};
    let events = w.history.events();
    let unknown =
        events.iter().filter(|e| matches!((&e.op, &e.outcome), (Op::Send { .. }, Outcome::Unknown { .. }))).count();
    let failed: Vec<String> = events
        .iter()
        .filter_map(|e| match (&e.op, &e.outcome) {
            (Op::Send { .. }, Outcome::Fail { error }) => Some(error.clone()),
            _ => None,
        })
        .collect();
    if !failed.is_empty() {
        return Err(w.verdict(format!("{} sends failed outright during the fault, e.g. {}", failed.len(), failed[0])));
    }
    if unknown == 0 {
        return Err(w.harness("no send ended unknown: the fault did not take effect, so the scenario proves nothing"));
    }
    Ok(())
}
