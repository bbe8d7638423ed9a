//! Broker processes: restarts, crashes, and whether the broker still serves.

use cucumber::{then, when};

use crate::cluster::{ClusterError, Stop};
use crate::world::{KafkaWorld, StepResult};

async fn restart(w: &mut KafkaWorld, how: Stop) -> StepResult {
    if !w.ctx()?.target.can_control_processes() {
        return Err(w.unsupported("restarting a broker needs `process` commands in the target file"));
    }
    let cluster = w.cluster().await?;
    let ids = cluster.broker_ids();
    let ids = if ids.is_empty() { vec![1] } else { ids };
    for id in ids {
        let result = w.cluster().await?.restart(id, how).await;
        match result {
            Ok(()) => {}
            Err(e @ ClusterError::NoProcessControl { .. }) => return Err(w.unsupported(e.to_string())),
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
