//! Malformed and unsupported requests: what Kafka answers, or that it closes that connection.
//! A wrong answer here breaks no data guarantee: it is an answer Kafka would not give, reported
//! as "differs from Kafka" (the broker still serving is the guarantee, `broker.rs`).

use bytes::{BufMut, BytesMut};
use cucumber::{then, when};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, MetadataRequest, RequestKind, ResponseKind};

use super::name;
use crate::wire::WireClient;
use crate::world::{KafkaWorld, StepResult};

async fn raw(w: &mut KafkaWorld, bytes: &[u8]) -> StepResult {
    let mut client = w.wire().await?;
    client.send_raw(bytes).await.map_err(|e| w.harness(format!("writing to the broker: {e}")))?;
    w.raw = Some(client);
    Ok(())
}

/// A request header (v1: api key, version, correlation id, null client id) and a body.
fn frame(api_key: i16, version: i16, body: &[u8]) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_i32((2 + 2 + 4 + 2 + body.len()) as i32);
    b.put_i16(api_key);
    b.put_i16(version);
    b.put_i32(7);
    b.put_i16(-1);
    b.put_slice(body);
    b.to_vec()
}

#[when(expr = "a client sends a frame that declares {int} bytes")]
async fn declares(w: &mut KafkaWorld, size: i64) -> StepResult {
    let size = i32::try_from(size).map_err(|_| w.harness("a frame size must fit in an INT32"))?;
    raw(w, &size.to_be_bytes()).await
}

/// Deterministic bytes (a fixed LCG), starting with api key -1 so they cannot parse as a request.
#[when(expr = "a client sends a frame of {int} garbage bytes")]
async fn garbage(w: &mut KafkaWorld, n: usize) -> StepResult {
    let mut x: u32 = 0x2545_f491;
    let mut body: Vec<u8> = vec![0xff, 0xff];
    body.extend((2..n).map(|_| {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (x >> 24) as u8
    }));
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend(body);
    raw(w, &f).await
}

#[when(expr = "a client sends a request with api key {int}")]
async fn unknown_key(w: &mut KafkaWorld, key: i16) -> StepResult {
    raw(w, &frame(key, 0, &[])).await
}

/// Produce v0-v2 are advertised by Kafka 4 but not enabled (KAFKA-18659): a body of acks,
/// timeout and an empty topic array.
#[when(expr = "a client sends a Produce v{int} request")]
async fn produce_version(w: &mut KafkaWorld, version: i16) -> StepResult {
    let mut body = BytesMut::new();
    body.put_i16(1);
    body.put_i32(1000);
    body.put_i32(0);
    raw(w, &frame(0, version, &body)).await
}

#[when(expr = "a client sends half of a request frame and disconnects")]
async fn half(w: &mut KafkaWorld) -> StepResult {
    let f = frame(18, 0, &[]);
    let mut client = w.wire().await?;
    client.send_raw(&f[..f.len() / 2]).await.map_err(|e| w.harness(format!("writing to the broker: {e}")))?;
    drop(client);
    Ok(())
}

#[when(expr = "a client sends an ApiVersions v{int} request")]
async fn api_versions_at(w: &mut KafkaWorld, version: i16) -> StepResult {
    // The body of a version this client cannot encode is the v3 one: KIP-511 says brokers
    // answer any version they do not know with v0 and UNSUPPORTED_VERSION.
    let mut client = w.wire().await?;
    let mut body = BytesMut::new();
    kafka_protocol::protocol::Encodable::encode(&ApiVersionsRequest::default(), &mut body, 3)
        .map_err(|e| w.harness(e.to_string()))?;
    let mut f = BytesMut::new();
    f.put_i32((2 + 2 + 4 + 2 + 1 + body.len()) as i32);
    f.put_i16(18);
    f.put_i16(version);
    f.put_i32(7);
    f.put_i16(-1);
    f.put_u8(0); // header v2 tagged fields
    f.put_slice(&body);
    client.send_raw(&f).await.map_err(|e| w.harness(e.to_string()))?;
    w.raw = Some(client);
    Ok(())
}

#[then(expr = "the broker answers ApiVersions with {word} and its supported versions")]
async fn answers_api_versions(w: &mut KafkaWorld, expected: String) -> StepResult {
    let mut client = w.raw.take().ok_or_else(|| w.harness("no raw request was sent before this step"))?;
    // Read the v0 answer through a v0 decode: header v0 (correlation id), body v0.
    let resp = client.read_raw_response(kafka_protocol::messages::ApiKey::ApiVersions, 0).await;
    match resp {
        Ok(ResponseKind::ApiVersions(r)) => {
            let got = name(r.error_code);
            if got != expected {
                return Err(w.differs(format!("ApiVersions answered {got}, expected {expected}")));
            }
            if r.api_keys.is_empty() {
                return Err(w.differs("ApiVersions answered with no supported versions (KIP-511 requires them)"));
            }
            Ok(())
        }
        Ok(other) => Err(w.differs(format!("expected an ApiVersions response, got {other:?}"))),
        Err(e) => Err(w.differs(format!("no ApiVersions answer: {e}"))),
    }
}

#[then("the broker closes the connection")]
async fn closes(w: &mut KafkaWorld) -> StepResult {
    let mut client: WireClient = w.raw.take().ok_or_else(|| w.harness("no raw request was sent before this step"))?;
    match client.closed_by_peer().await {
        Ok(true) => Ok(()),
        Ok(false) => Err(w.differs("the broker answered instead of closing the connection")),
        Err(e) => Err(w.differs(format!("the broker neither answered nor closed the connection: {e}"))),
    }
}

/// A Metadata request for all topics (a null topic array) at `version`, followed by `extra`
/// zero bytes inside the same frame: what librdkafka ≥ 2.1 sends for `list_topics()`.
#[when(expr = "a client sends a Metadata v{int} request for all topics with {int} bytes after its last field")]
async fn metadata_with_trailing_bytes(w: &mut KafkaWorld, version: i16, extra: usize) -> StepResult {
    let mut client = w.wire().await?;
    match client.advertised(ApiKey::Metadata) {
        Some((min, max)) if (min..=max).contains(&version) => {}
        other => {
            return Err(
                w.unsupported(format!("the broker does not advertise Metadata v{version} (advertised: {other:?})"))
            );
        }
    }
    let req = RequestKind::Metadata(MetadataRequest::default().with_topics(None));
    let (_, frame) = client.encode_frame(&req, version).map_err(|e| w.harness(e.to_string()))?;
    let mut f = BytesMut::from(&frame[..]);
    f.extend(std::iter::repeat_n(0u8, extra));
    let size = (f.len() - 4) as i32;
    f[..4].copy_from_slice(&size.to_be_bytes());
    client.send_raw(&f).await.map_err(|e| w.harness(format!("writing to the broker: {e}")))?;
    w.raw = Some(client);
    w.raw_request = Some((ApiKey::Metadata, version));
    Ok(())
}

#[then(expr = "the broker answers it with Metadata listing topic {string}")]
async fn answers_metadata(w: &mut KafkaWorld, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let mut client = w.raw.take().ok_or_else(|| w.harness("no raw request was sent before this step"))?;
    let Some((ApiKey::Metadata, version)) = w.raw_request.take() else {
        return Err(w.harness("the raw request before this step was not a Metadata request"));
    };
    match client.read_raw_response(ApiKey::Metadata, version).await {
        Ok(ResponseKind::Metadata(r)) => {
            let listed: Vec<String> = r.topics.iter().filter_map(|t| t.name.as_ref().map(|n| n.to_string())).collect();
            if listed.contains(&real) {
                Ok(())
            } else {
                Err(w
                    .verdict(format!("Metadata v{version} for all topics does not list {real:?}; it lists {listed:?}")))
            }
        }
        Ok(other) => Err(w.differs(format!("expected a Metadata response, got {other:?}"))),
        Err(crate::wire::WireError::Closed) => Err(w.differs(format!(
            "the broker closed the connection instead of answering a Metadata v{version} request with bytes after \
             its last field; Kafka ignores them (RequestContext.parseRequest)"
        ))),
        Err(e) => Err(w.differs(format!("no Metadata answer: {e}"))),
    }
}
