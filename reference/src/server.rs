//! The listener and one task per connection.
//!
//! Like Kafka's `SocketServer`, a connection handles one request at a time and answers in order
//! (Kafka mutes a channel until its response is sent), which is what per-connection ordering
//! with several requests in flight relies on. Protocol errors that Kafka answers by closing the
//! connection (`InvalidReceiveException` for a frame over `socket.request.max.bytes`,
//! `InvalidRequestException` for an unknown api key, a version that is not enabled, or a body
//! that does not parse) close that connection only; every other client keeps being served.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::api::{self, Versions};
use crate::broker::Broker;
use crate::defects::{Defect, active};

/// What ends a connection. A Kafka error code is never one of these: those are data in a response.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("invalid receive (size = {size} larger than socket.request.max.bytes {max})")]
    FrameTooLarge { size: i64, max: usize },
    #[error("invalid receive (negative size {0})")]
    NegativeSize(i32),
    #[error("request header is shorter than api key and version ({0} bytes)")]
    ShortHeader(usize),
    #[error("unknown api key {0}")]
    UnknownApiKey(i16),
    #[error("api key {key:?} is not supported by this broker")]
    UnsupportedApi { key: ApiKey },
    #[error("received request api key {key:?} with version {version} which is not enabled (enabled: {enabled})")]
    VersionNotEnabled { key: ApiKey, version: i16, enabled: Versions },
    #[error("error parsing {key:?} v{version} request: {message}")]
    Malformed { key: ApiKey, version: i16, message: String },
    #[error("encoding {key:?} v{version} response: {message}")]
    Encode { key: ApiKey, version: i16, message: String },
    #[error("{key:?}: {reason}")]
    ClosedByHandler { key: ApiKey, reason: String },
    #[error("the peer closed the connection inside a frame ({0} bytes received)")]
    Truncated(usize),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl ConnectionError {
    /// Whether the peer sent something that is not a valid request (as opposed to I/O trouble).
    pub fn is_malformed_input(&self) -> bool {
        !matches!(
            self,
            ConnectionError::Io(_) | ConnectionError::Encode { .. } | ConnectionError::ClosedByHandler { .. }
        )
    }
}

/// Accepts connections until `shutdown` resolves.
pub async fn serve(listener: TcpListener, broker: Arc<Broker>, shutdown: impl std::future::Future<Output = ()>) {
    accept_loop(listener, shutdown, "broker", move |stream, peer| connection(stream, peer, broker.clone())).await;
}

/// Accepts connections until `shutdown` resolves, one task each, logging how each ended.
pub(crate) async fn accept_loop<F, Fut>(
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
    what: &'static str,
    on_connection: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: std::future::Future<Output = Result<(), ConnectionError>> + Send + 'static,
{
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let work = on_connection(stream, peer);
                    tokio::spawn(async move {
                        if let Err(e) = work.await {
                            tracing::info!("{what}: closing connection from {peer}: {e}");
                        }
                    });
                }
                // EMFILE and friends: keep serving the connections we have.
                Err(e) => tracing::warn!("{what}: accept failed: {e}"),
            },
        }
    }
}

async fn connection(mut stream: TcpStream, peer: SocketAddr, broker: Arc<Broker>) -> Result<(), ConnectionError> {
    let mut appended = Vec::new();
    let result = serve_connection(&mut stream, peer, broker.clone(), &mut appended).await;
    if active(Defect::LoseLastBatchOnDisconnect) {
        // The defect: the last batch this connection appended to each partition is undone.
        for (topic, partition, base) in appended {
            if let Some(p) = broker.topic(topic.as_str()).and_then(|t| broker.local(t.id, partition)) {
                p.undo_append(base);
            }
        }
    }
    if let Err(e) = &result
        && active(Defect::CrashOnMalformedFrame)
        && e.is_malformed_input()
    {
        // The defect: one bad client takes the broker down for everyone. It exits while this
        // connection is still open, so its peer sees the close only as the process dies.
        std::process::exit(70);
    }
    result
}

async fn serve_connection(
    stream: &mut TcpStream,
    peer: SocketAddr,
    broker: Arc<Broker>,
    appended: &mut Vec<(String, i32, i64)>,
) -> Result<(), ConnectionError> {
    stream.set_nodelay(true)?;
    let mut frames = FrameReader::new(broker.config.socket_request_max_bytes);
    loop {
        let Some(frame) = frames.next(stream).await? else { return Ok(()) };
        if active(Defect::ReorderBatches) {
            // The defect: handle a request that arrives right behind this one first, breaking
            // the one-request-at-a-time order Kafka keeps per connection.
            match tokio::time::timeout(REORDER_WINDOW, frames.next(stream)).await {
                Ok(Ok(Some(next))) => {
                    let second = handle_frame(next, &broker, peer, appended).await?;
                    let first = handle_frame(frame, &broker, peer, appended).await?;
                    for response in [first, second].into_iter().flatten() {
                        stream.write_all(&response).await?;
                    }
                    continue;
                }
                Ok(Err(e)) => return Err(e),
                // Nothing right behind it (or the peer closed): handle it as usual.
                Ok(Ok(None)) | Err(_) => {}
            }
        }
        if let Some(response) = handle_frame(frame, &broker, peer, appended).await? {
            stream.write_all(&response).await?;
        }
    }
}

/// How long the `reorder-batches` defect waits for a second pipelined request.
const REORDER_WINDOW: std::time::Duration = std::time::Duration::from_millis(50);

/// Splits a connection's bytes into request frames. Reading into the buffer is cancel-safe, and
/// a partial frame is "not yet", never an error.
pub(crate) struct FrameReader {
    buf: BytesMut,
    max: usize,
}

impl FrameReader {
    pub(crate) fn new(max: usize) -> Self {
        FrameReader { buf: BytesMut::with_capacity(8 * 1024), max }
    }

    /// The next whole frame, `None` when the peer closed cleanly between frames.
    pub(crate) async fn next(&mut self, stream: &mut TcpStream) -> Result<Option<Bytes>, ConnectionError> {
        loop {
            if self.buf.len() >= 4 {
                let size = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
                if size < 0 {
                    return Err(ConnectionError::NegativeSize(size));
                }
                // Checked before buffering the body: an oversized frame is refused at its header.
                if size as usize > self.max {
                    return Err(ConnectionError::FrameTooLarge { size: i64::from(size), max: self.max });
                }
                let total = 4 + size as usize;
                if self.buf.len() >= total {
                    let mut frame = self.buf.split_to(total);
                    frame.advance(4);
                    return Ok(Some(frame.freeze()));
                }
                self.buf.reserve(total - self.buf.len());
            }
            if stream.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    // Cut short by the peer: nothing of it was applied.
                    Err(ConnectionError::Truncated(self.buf.len()))
                };
            }
        }
    }
}

/// A request frame, decoded; or the answer to give without handling it (KIP-511).
pub(crate) enum Decoded {
    Request { key: ApiKey, version: i16, header: RequestHeader, request: Box<RequestKind> },
    Answer(Bytes),
}

/// Decodes one request frame against a table of enabled versions.
pub(crate) fn decode_frame(
    mut frame: Bytes,
    versions_of: impl Fn(ApiKey) -> Option<Versions>,
) -> Result<Decoded, ConnectionError> {
    if frame.len() < 4 {
        return Err(ConnectionError::ShortHeader(frame.len()));
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let key = ApiKey::try_from(raw_key).map_err(|_| ConnectionError::UnknownApiKey(raw_key))?;
    let versions = versions_of(key).ok_or(ConnectionError::UnsupportedApi { key })?;

    if !versions.enabled(version) {
        // KIP-511: an ApiVersions request the broker cannot parse is still answered, in v0, with
        // UNSUPPORTED_VERSION and the supported versions, so the client can downgrade.
        if key == ApiKey::ApiVersions {
            let correlation_id =
                if frame.len() >= 8 { i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]) } else { 0 };
            let response = api::api_versions::unsupported_version_response();
            return encode_response(
                key,
                0,
                correlation_id,
                &kafka_protocol::messages::ResponseKind::ApiVersions(response),
            )
            .map(Decoded::Answer);
        }
        return Err(ConnectionError::VersionNotEnabled { key, version, enabled: versions });
    }

    let malformed = |e: anyhow::Error| ConnectionError::Malformed { key, version, message: format!("{e:#}") };
    let header = RequestHeader::decode(&mut frame, key.request_header_version(version)).map_err(malformed)?;
    let request = RequestKind::decode(key, &mut frame, version).map_err(malformed)?;
    if frame.has_remaining() {
        if active(Defect::RefuseTrailingBytes) && key != ApiKey::ApiVersions {
            // The defect: what the reference did before librdkafka 2.1's all-topics Metadata
            // request (a 4-byte count placeholder where a 1-byte null array belongs) broke
            // `list_topics()`.
            return Err(ConnectionError::Malformed {
                key,
                version,
                message: format!("{} trailing bytes", frame.remaining()),
            });
        }
        // Kafka parses the fields it knows and ignores what follows them
        // (`RequestContext.parseRequest` → `AbstractRequest.parseRequest` never checks that the
        // buffer was consumed); librdkafka ≥ 2.1 relies on it.
        tracing::debug!("{key:?} v{version} request: ignoring {} bytes after its last field", frame.remaining());
    }
    Ok(Decoded::Request { key, version, header, request: Box::new(request) })
}

/// Decodes one request frame, applies it, and returns the encoded response frame (or nothing,
/// for `acks=0` produce).
async fn handle_frame(
    frame: Bytes,
    broker: &Arc<Broker>,
    peer: SocketAddr,
    appended: &mut Vec<(String, i32, i64)>,
) -> Result<Option<Bytes>, ConnectionError> {
    let (key, version, header, request) = match decode_frame(frame, api::versions)? {
        Decoded::Answer(bytes) => return Ok(Some(bytes)),
        Decoded::Request { key, version, header, request } => (key, version, header, request),
    };
    let ctx = api::RequestContext { broker: broker.clone(), header, version, peer };
    match api::handle(&ctx, *request).await {
        api::Reply::Send(response) => {
            if active(Defect::LoseLastBatchOnDisconnect)
                && let kafka_protocol::messages::ResponseKind::Produce(p) = response.as_ref()
            {
                for t in &p.responses {
                    for pr in t.partition_responses.iter().filter(|pr| pr.error_code == 0) {
                        appended.retain(|(topic, part, _)| !(topic == t.name.as_str() && *part == pr.index));
                        appended.push((t.name.to_string(), pr.index, pr.base_offset));
                    }
                }
            }
            encode_response(key, version, ctx.header.correlation_id, &response).map(Some)
        }
        api::Reply::Nothing => Ok(None),
        api::Reply::Close(reason) => Err(ConnectionError::ClosedByHandler { key, reason }),
    }
}

pub(crate) fn encode_response(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    response: &kafka_protocol::messages::ResponseKind,
) -> Result<Bytes, ConnectionError> {
    let encode_err = |e: anyhow::Error| ConnectionError::Encode { key, version, message: format!("{e:#}") };
    let mut buf = BytesMut::new();
    buf.put_i32(0); // size, patched below
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, key.response_header_version(version))
        .map_err(encode_err)?;
    response.encode(&mut buf, version).map_err(encode_err)?;
    let size = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&size.to_be_bytes());
    Ok(buf.freeze())
}
