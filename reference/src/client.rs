//! The client side of the Kafka protocol, for the cluster's own traffic: brokers registering and
//! heartbeating with the controller, forwarding admin requests to it and replaying its metadata
//! log, and followers fetching from leaders. One request at a time per connection.

use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connecting to {addr}: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("{addr}: no answer within {ms} ms")]
    Timeout { addr: String, ms: u128 },
    #[error("{addr}: {source}")]
    Io { addr: String, source: std::io::Error },
    #[error("{addr}: {message}")]
    Protocol { addr: String, message: String },
}

pub struct Client {
    addr: String,
    stream: TcpStream,
    client_id: String,
    correlation_id: i32,
    timeout: Duration,
}

impl Client {
    pub async fn connect(addr: &str, client_id: &str, timeout: Duration) -> Result<Client, ClientError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::Timeout { addr: addr.to_string(), ms: timeout.as_millis() })?
            .map_err(|source| ClientError::Connect { addr: addr.to_string(), source })?;
        let _ = stream.set_nodelay(true);
        Ok(Client { addr: addr.to_string(), stream, client_id: client_id.to_string(), correlation_id: 0, timeout })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends one request at `version` and reads its response; `wait` is added to the timeout
    /// for requests the server may hold (a long-polling Fetch).
    pub async fn request(
        &mut self,
        request: RequestKind,
        version: i16,
        wait: Duration,
    ) -> Result<ResponseKind, ClientError> {
        let key = api_key(&request);
        let limit = self.timeout + wait;
        let addr = self.addr.clone();
        let protocol = |message: String| ClientError::Protocol { addr: addr.clone(), message };
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_string(self.client_id.clone())));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header
            .encode(&mut buf, key.request_header_version(version))
            .map_err(|e| protocol(format!("encoding {key:?} header: {e}")))?;
        request.encode(&mut buf, version).map_err(|e| protocol(format!("encoding {key:?} v{version}: {e}")))?;
        let size = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        let exchange = async {
            self.stream.write_all(&buf).await?;
            let size = self.stream.read_i32().await?;
            if !(0..=256 * 1024 * 1024).contains(&size) {
                return Err(std::io::Error::other(format!("response frame of {size} bytes")));
            }
            let mut body = vec![0u8; size as usize];
            self.stream.read_exact(&mut body).await?;
            Ok(body)
        };
        let body = tokio::time::timeout(limit, exchange)
            .await
            .map_err(|_| ClientError::Timeout { addr: self.addr.clone(), ms: limit.as_millis() })?
            .map_err(|source| ClientError::Io { addr: self.addr.clone(), source })?;
        let mut body = bytes::Bytes::from(body);
        let header = ResponseHeader::decode(&mut body, key.response_header_version(version))
            .map_err(|e| protocol(format!("decoding {key:?} response header: {e}")))?;
        if header.correlation_id != self.correlation_id {
            return Err(protocol(format!(
                "correlation id {} answers request {}",
                header.correlation_id, self.correlation_id
            )));
        }
        let response = ResponseKind::decode(key, &mut body, version)
            .map_err(|e| protocol(format!("decoding {key:?} v{version} response: {e}")))?;
        if body.has_remaining() {
            return Err(protocol(format!("{} trailing bytes after {key:?} response", body.remaining())));
        }
        Ok(response)
    }
}

fn api_key(request: &RequestKind) -> ApiKey {
    match request {
        RequestKind::Produce(_) => ApiKey::Produce,
        RequestKind::Fetch(_) => ApiKey::Fetch,
        RequestKind::ListOffsets(_) => ApiKey::ListOffsets,
        RequestKind::Metadata(_) => ApiKey::Metadata,
        RequestKind::ApiVersions(_) => ApiKey::ApiVersions,
        RequestKind::CreateTopics(_) => ApiKey::CreateTopics,
        RequestKind::DeleteTopics(_) => ApiKey::DeleteTopics,
        RequestKind::CreatePartitions(_) => ApiKey::CreatePartitions,
        RequestKind::IncrementalAlterConfigs(_) => ApiKey::IncrementalAlterConfigs,
        RequestKind::BrokerRegistration(_) => ApiKey::BrokerRegistration,
        RequestKind::BrokerHeartbeat(_) => ApiKey::BrokerHeartbeat,
        RequestKind::AlterPartition(_) => ApiKey::AlterPartition,
        RequestKind::OffsetForLeaderEpoch(_) => ApiKey::OffsetForLeaderEpoch,
        RequestKind::ElectLeaders(_) => ApiKey::ElectLeaders,
        RequestKind::AllocateProducerIds(_) => ApiKey::AllocateProducerIds,
        RequestKind::WriteTxnMarkers(_) => ApiKey::WriteTxnMarkers,
        RequestKind::AddPartitionsToTxn(_) => ApiKey::AddPartitionsToTxn,
        _ => ApiKey::ApiVersions,
    }
}
