//! A wire-level Kafka client on `kafka-protocol`, for exact broker checks: a chosen API version,
//! exact error codes, pipelined requests on one connection, and raw (malformed) frames.
//!
//! It negotiates with ApiVersions on connect. A request for an API the broker does not advertise
//! is `WireError::Unsupported`, which the report shows as "not supported by this target", apart
//! from failures.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the broker closed the connection")]
    Closed,
    #[error("the broker closed the connection instead of answering {key:?} v{version}")]
    ClosedOn { key: ApiKey, version: i16 },
    #[error("the broker does not support {key:?}{detail}")]
    Unsupported { key: ApiKey, detail: String },
    #[error("cannot decode the {key:?} v{version} response: {message}")]
    Decode { key: ApiKey, version: i16, message: String },
    #[error("cannot encode the {key:?} v{version} request: {message}")]
    Encode { key: ApiKey, version: i16, message: String },
    #[error("response correlation id {got} does not match request {expected}")]
    Correlation { expected: i32, got: i32 },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl WireError {
    /// A timeout or a connection lost mid-request leaves the outcome unknown (Jepsen's contract).
    pub fn is_indefinite(&self) -> bool {
        matches!(self, WireError::Timeout(_) | WireError::Closed | WireError::ClosedOn { .. } | WireError::Io(_))
    }
}

/// A request written and not yet answered.
#[derive(Debug, Clone, Copy)]
pub struct InFlight {
    key: ApiKey,
    version: i16,
    id: i32,
}

pub struct WireClient {
    stream: TcpStream,
    next_correlation: i32,
    /// api key -> (min, max) the broker advertised.
    versions: BTreeMap<i16, (i16, i16)>,
    /// Feature name -> the finalized (highest) level ApiVersions v3 named (KIP-584).
    features: BTreeMap<String, i16>,
    timeout: Duration,
}

/// The API key of a request body.
pub fn api_key(req: &RequestKind) -> ApiKey {
    match req {
        RequestKind::Produce(_) => ApiKey::Produce,
        RequestKind::Fetch(_) => ApiKey::Fetch,
        RequestKind::ListOffsets(_) => ApiKey::ListOffsets,
        RequestKind::Metadata(_) => ApiKey::Metadata,
        RequestKind::ApiVersions(_) => ApiKey::ApiVersions,
        RequestKind::CreateTopics(_) => ApiKey::CreateTopics,
        RequestKind::DeleteTopics(_) => ApiKey::DeleteTopics,
        RequestKind::CreatePartitions(_) => ApiKey::CreatePartitions,
        RequestKind::DescribeConfigs(_) => ApiKey::DescribeConfigs,
        RequestKind::IncrementalAlterConfigs(_) => ApiKey::IncrementalAlterConfigs,
        RequestKind::DescribeCluster(_) => ApiKey::DescribeCluster,
        RequestKind::FindCoordinator(_) => ApiKey::FindCoordinator,
        RequestKind::InitProducerId(_) => ApiKey::InitProducerId,
        RequestKind::DeleteRecords(_) => ApiKey::DeleteRecords,
        RequestKind::JoinGroup(_) => ApiKey::JoinGroup,
        RequestKind::SyncGroup(_) => ApiKey::SyncGroup,
        RequestKind::Heartbeat(_) => ApiKey::Heartbeat,
        RequestKind::LeaveGroup(_) => ApiKey::LeaveGroup,
        RequestKind::OffsetCommit(_) => ApiKey::OffsetCommit,
        RequestKind::OffsetFetch(_) => ApiKey::OffsetFetch,
        RequestKind::DescribeGroups(_) => ApiKey::DescribeGroups,
        RequestKind::ListGroups(_) => ApiKey::ListGroups,
        RequestKind::DeleteGroups(_) => ApiKey::DeleteGroups,
        RequestKind::OffsetDelete(_) => ApiKey::OffsetDelete,
        RequestKind::OffsetForLeaderEpoch(_) => ApiKey::OffsetForLeaderEpoch,
        RequestKind::AddPartitionsToTxn(_) => ApiKey::AddPartitionsToTxn,
        RequestKind::AddOffsetsToTxn(_) => ApiKey::AddOffsetsToTxn,
        RequestKind::EndTxn(_) => ApiKey::EndTxn,
        RequestKind::WriteTxnMarkers(_) => ApiKey::WriteTxnMarkers,
        RequestKind::TxnOffsetCommit(_) => ApiKey::TxnOffsetCommit,
        RequestKind::DescribeProducers(_) => ApiKey::DescribeProducers,
        RequestKind::DescribeTransactions(_) => ApiKey::DescribeTransactions,
        RequestKind::ListTransactions(_) => ApiKey::ListTransactions,
        _ => ApiKey::ApiVersions,
    }
}

impl WireClient {
    /// Connects and negotiates versions with ApiVersions (v3, falling back to v0 as KIP-511 says).
    pub async fn connect(addr: &str, timeout: Duration) -> Result<WireClient, WireError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| WireError::Timeout(timeout))?
            .map_err(|source| WireError::Connect { addr: addr.to_string(), source })?;
        stream.set_nodelay(true)?;
        let mut c =
            WireClient { stream, next_correlation: 1, versions: BTreeMap::new(), features: BTreeMap::new(), timeout };
        let req = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("kafka-conformance"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        // KIP-511: a broker that does not know v3 answers UNSUPPORTED_VERSION, meant to be
        // encoded as v0; the error code is read before the body, since not every broker gets
        // that encoding right, and the request is retried at v0.
        let first = c.send_at(&RequestKind::ApiVersions(req.clone()), 3).await?;
        let mut frame = c.read_frame().await?;
        let header = ResponseHeader::decode(&mut frame, 0).map_err(|e| WireError::Decode {
            key: ApiKey::ApiVersions,
            version: 3,
            message: format!("{e:#}"),
        })?;
        if header.correlation_id != first.id {
            return Err(WireError::Correlation { expected: first.id, got: header.correlation_id });
        }
        let unsupported = frame.len() >= 2 && i16::from_be_bytes([frame[0], frame[1]]) == 35;
        let resp = if unsupported {
            match c.request_at(RequestKind::ApiVersions(req), 0).await? {
                ResponseKind::ApiVersions(r) => r,
                _ => {
                    return Err(WireError::Decode {
                        key: ApiKey::ApiVersions,
                        version: 0,
                        message: "not an ApiVersions response".into(),
                    });
                }
            }
        } else {
            kafka_protocol::messages::ApiVersionsResponse::decode(&mut frame, 3).map_err(|e| WireError::Decode {
                key: ApiKey::ApiVersions,
                version: 3,
                message: format!("{e:#}"),
            })?
        };
        c.versions = resp.api_keys.iter().map(|k| (k.api_key, (k.min_version, k.max_version))).collect();
        // Finalized features count only with a features epoch (Kafka's clients ignore them at -1).
        if resp.finalized_features_epoch >= 0 {
            c.features = resp.finalized_features.iter().map(|f| (f.name.to_string(), f.max_version_level)).collect();
        }
        Ok(c)
    }

    /// The finalized level of a feature (e.g. `transaction.version`), if the broker names one.
    pub fn finalized(&self, feature: &str) -> Option<i16> {
        self.features.get(feature).copied()
    }

    /// How many APIs the broker advertised in ApiVersions.
    pub fn api_count(&self) -> usize {
        self.versions.len()
    }

    /// The broker's advertised range for an API, if any.
    pub fn advertised(&self, key: ApiKey) -> Option<(i16, i16)> {
        self.versions.get(&(key as i16)).copied()
    }

    /// The highest version both this client and the broker support.
    pub fn version_for(&self, key: ApiKey) -> Result<i16, WireError> {
        let (bmin, bmax) = self.advertised(key).ok_or(WireError::Unsupported { key, detail: String::new() })?;
        let ours = key.valid_versions();
        let v = bmax.min(ours.max);
        if v < bmin.max(ours.min) {
            return Err(WireError::Unsupported {
                key,
                detail: format!(" at any version this client knows ({bmin}..={bmax} advertised)"),
            });
        }
        Ok(v)
    }

    /// Sends a request at the negotiated version and waits for its response.
    pub async fn request(&mut self, req: RequestKind) -> Result<ResponseKind, WireError> {
        let v = self.version_for(api_key(&req))?;
        self.request_at(req, v).await
    }

    pub async fn request_at(&mut self, req: RequestKind, version: i16) -> Result<ResponseKind, WireError> {
        let key = api_key(&req);
        let id = self.write_request(&req, version).await?;
        self.read_response(key, version, id).await
    }

    /// Writes a request without waiting for its answer; `receive` reads it later.
    pub async fn send_at(&mut self, req: &RequestKind, version: i16) -> Result<InFlight, WireError> {
        let id = self.write_request(req, version).await?;
        Ok(InFlight { key: api_key(req), version, id })
    }

    pub async fn receive(&mut self, sent: InFlight) -> Result<ResponseKind, WireError> {
        self.read_response(sent.key, sent.version, sent.id).await
    }

    /// Writes every request before reading any response: they are in flight together.
    pub async fn pipeline(
        &mut self,
        reqs: Vec<RequestKind>,
    ) -> Result<Vec<Result<ResponseKind, WireError>>, WireError> {
        let mut sent = Vec::with_capacity(reqs.len());
        let mut frames = BytesMut::new();
        for req in &reqs {
            let key = api_key(req);
            let v = self.version_for(key)?;
            let (id, frame) = self.encode(req, v)?;
            frames.extend_from_slice(&frame);
            sent.push((key, v, id));
        }
        // One write, so the requests reach the broker together.
        self.stream.write_all(&frames).await?;
        let mut out = Vec::with_capacity(sent.len());
        for (key, v, id) in sent {
            out.push(self.read_response(key, v, id).await);
        }
        Ok(out)
    }

    /// A whole request frame (size, header, body) with its correlation id, not yet written:
    /// malformed-input steps change it before [`WireClient::send_raw`].
    pub fn encode_frame(&mut self, req: &RequestKind, version: i16) -> Result<(i32, Bytes), WireError> {
        self.encode(req, version)
    }

    fn encode(&mut self, req: &RequestKind, version: i16) -> Result<(i32, Bytes), WireError> {
        let key = api_key(req);
        let id = self.next_correlation;
        self.next_correlation = self.next_correlation.wrapping_add(1);
        let enc = |e: anyhow::Error| WireError::Encode { key, version, message: format!("{e:#}") };
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(id)
            .with_client_id(Some(StrBytes::from_static_str("kafka-conformance")))
            .encode(&mut buf, key.request_header_version(version))
            .map_err(enc)?;
        req.encode(&mut buf, version).map_err(enc)?;
        let size = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        Ok((id, buf.freeze()))
    }

    async fn write_request(&mut self, req: &RequestKind, version: i16) -> Result<i32, WireError> {
        let (id, frame) = self.encode(req, version)?;
        self.stream.write_all(&frame).await?;
        Ok(id)
    }

    async fn read_response(&mut self, key: ApiKey, version: i16, id: i32) -> Result<ResponseKind, WireError> {
        let mut frame = self.read_frame().await.map_err(|e| match e {
            WireError::Closed => WireError::ClosedOn { key, version },
            other => other,
        })?;
        let dec = |e: anyhow::Error| WireError::Decode { key, version, message: format!("{e:#}") };
        // ApiVersions answers in header v0 whatever the version (KIP-511).
        let header = ResponseHeader::decode(&mut frame, key.response_header_version(version)).map_err(dec)?;
        if header.correlation_id != id {
            return Err(WireError::Correlation { expected: id, got: header.correlation_id });
        }
        // An ApiVersions error response is always encoded as v0.
        let body_version =
            if key == ApiKey::ApiVersions && frame.len() >= 2 && frame.chunk()[..2] != [0, 0] { 0 } else { version };
        ResponseKind::decode(key, &mut frame, body_version).map_err(dec)
    }

    async fn read_frame(&mut self) -> Result<Bytes, WireError> {
        let timeout = self.timeout;
        let read = async {
            let size = match self.stream.read_i32().await {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(WireError::Closed),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Err(WireError::Closed),
                Err(e) => return Err(e.into()),
            };
            let mut buf = BytesMut::zeroed(size.max(0) as usize);
            self.stream.read_exact(&mut buf).await.map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => WireError::Closed,
                _ => e.into(),
            })?;
            Ok(buf.freeze())
        };
        tokio::time::timeout(timeout, read).await.map_err(|_| WireError::Timeout(timeout))?
    }

    /// Reads one response to a raw request, decoding header and body at `version` without
    /// checking the correlation id.
    pub async fn read_raw_response(&mut self, key: ApiKey, version: i16) -> Result<ResponseKind, WireError> {
        let mut frame = self.read_frame().await?;
        let dec = |e: anyhow::Error| WireError::Decode { key, version, message: format!("{e:#}") };
        ResponseHeader::decode(&mut frame, key.response_header_version(version)).map_err(dec)?;
        ResponseKind::decode(key, &mut frame, version).map_err(dec)
    }

    /// Writes bytes as they are: for malformed-input scenarios.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        self.stream.write_all(bytes).await?;
        Ok(())
    }

    /// Waits for the broker to close the connection: `Ok(true)` if it did, `Ok(false)` if it sent
    /// something instead, `Err(Timeout)` if it did neither.
    pub async fn closed_by_peer(&mut self) -> Result<bool, WireError> {
        match self.read_frame().await {
            Err(WireError::Closed) => Ok(true),
            Ok(_) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
