//! The Kafka-aware half of the fault layer: a gateway in front of each broker that rewrites the
//! addresses brokers advertise, so that every connection a client opens crosses the broker's
//! toxiproxy proxy, whatever the broker advertises.
//!
//! ```text
//!  client ──▶ toxiproxy proxy `broker-N` ──▶ gateway N ──▶ broker N (at the address it advertises)
//! ```
//!
//! Kafka clients bootstrap from one address and then connect to the hosts and ports the brokers
//! advertise (toxiproxy #171): a plain TCP proxy in front of a broker that advertises its own
//! address is bypassed after the first Metadata answer. The gateway reads the request headers
//! going one way (key, version, correlation id: the first eight bytes of every request) and, in
//! the answers to the requests that carry brokers' addresses, replaces each broker's host and
//! port by those of its proxy, found by node id in an [`AddressBook`]:
//! - Metadata (`brokers`), DescribeCluster (`brokers`);
//! - FindCoordinator (`host`, `port` up to v3; `coordinators` from v4, KIP-699);
//! - Produce v10+ and Fetch v16+ (`node_endpoints`, the new leader's address, KIP-951).
//!
//! Every other frame passes through byte for byte; toxics stay toxiproxy's. Answers are decoded
//! with `kafka-protocol`, so the gateway also lowers, in ApiVersions answers, the highest version
//! a broker advertises for those five APIs to the highest `kafka-protocol` can read: a client
//! never uses a version whose addresses the gateway could not rewrite. An answer it cannot read
//! anyway passes through unchanged and is recorded ([`AddressBook::problems`]). Plaintext only:
//! TLS and SASL's encrypted frames cannot be read.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ProduceRequest, RequestHeader, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// A frame larger than this is not Kafka (socket.request.max.bytes is 100 MiB by default).
const MAX_FRAME: usize = 256 * 1024 * 1024;

/// The APIs whose answers carry brokers' addresses.
const REWRITTEN: [ApiKey; 5] =
    [ApiKey::Metadata, ApiKey::FindCoordinator, ApiKey::DescribeCluster, ApiKey::Produce, ApiKey::Fetch];

/// Node id -> the address clients are to use for that broker (its proxy), shared by the
/// gateways of one cluster; and what the gateways could not rewrite.
#[derive(Debug, Clone, Default)]
pub struct AddressBook {
    addresses: Arc<RwLock<BTreeMap<i32, (String, i32)>>>,
    /// Node ids an answer named that have no entry: clients reach them directly.
    unknown: Arc<Mutex<BTreeSet<i32>>>,
    problems: Arc<Mutex<Vec<String>>>,
}

impl AddressBook {
    /// Clients are to reach broker `node` at `addr` (`host:port`).
    pub fn insert(&self, node: i32, addr: &str) -> Result<(), String> {
        let (host, port) = addr.rsplit_once(':').ok_or_else(|| format!("{addr:?} is not host:port"))?;
        let port: i32 = port.parse().map_err(|_| format!("{addr:?} has no port number"))?;
        self.addresses.write().unwrap_or_else(|e| e.into_inner()).insert(node, (host.to_string(), port));
        Ok(())
    }

    fn lookup(&self, node: i32) -> Option<(String, i32)> {
        self.addresses.read().unwrap_or_else(|e| e.into_inner()).get(&node).cloned()
    }

    /// Node ids answers named that the book has no address for: brokers that joined after the
    /// gateways were set up, which clients then reach without crossing the fault layer.
    pub fn unknown(&self) -> Vec<i32> {
        self.unknown.lock().unwrap_or_else(|e| e.into_inner()).iter().copied().collect()
    }

    /// Answers a gateway had to pass through unread, and brokers it could not reach.
    pub fn problems(&self) -> Vec<String> {
        self.problems.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn problem(&self, p: String) {
        tracing::warn!("gateway: {p}");
        let mut all = self.problems.lock().unwrap_or_else(|e| e.into_inner());
        if all.len() < 100 {
            all.push(p);
        }
    }

    /// Replaces `host` and `port` with broker `node`'s entry; false when it has none (an error
    /// answer's node -1 included, which is left alone).
    fn rewrite(&self, node: i32, host: &mut StrBytes, port: &mut i32) -> bool {
        if node < 0 {
            return false;
        }
        match self.lookup(node) {
            Some((h, p)) => {
                *host = StrBytes::from_string(h);
                *port = p;
                true
            }
            None => {
                self.unknown.lock().unwrap_or_else(|e| e.into_inner()).insert(node);
                false
            }
        }
    }
}

/// One broker's gateway: listens on a loopback port of its own and relays each connection to
/// the broker's current address.
pub struct Gateway {
    addr: SocketAddr,
    upstream: Arc<RwLock<String>>,
    task: JoinHandle<()>,
}

impl Gateway {
    /// Listens on `127.0.0.1:0` and relays to `upstream` (`host:port`), rewriting with `book`.
    pub async fn start(upstream: &str, book: AddressBook) -> std::io::Result<Gateway> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let upstream = Arc::new(RwLock::new(upstream.to_string()));
        let target = upstream.clone();
        let task = tokio::spawn(async move {
            // Dropped with the task: every connection ends with the gateway.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((client, _)) => {
                            let to = target.read().unwrap_or_else(|e| e.into_inner()).clone();
                            connections.spawn(relay(client, to, book.clone()));
                        }
                        Err(e) => {
                            book.problem(format!("accept on {addr} failed: {e}"));
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        }
                    },
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Ok(Gateway { addr, upstream, task })
    }

    /// Where the gateway listens: the upstream of the broker's toxiproxy proxy.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where new connections go (a restarted broker may listen elsewhere); live ones stay.
    pub fn set_upstream(&self, upstream: &str) {
        *self.upstream.write().unwrap_or_else(|e| e.into_inner()) = upstream.to_string();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A request whose answer carries addresses, or is an ApiVersions answer to cap.
#[derive(Debug, Clone, Copy)]
struct Pending {
    correlation: i32,
    key: ApiKey,
    version: i16,
}

async fn relay(client: TcpStream, upstream: String, book: AddressBook) {
    let broker = match TcpStream::connect(&upstream).await {
        Ok(b) => b,
        Err(e) => {
            // The client sees its connection closed, as it would connecting to the broker.
            book.problem(format!("cannot reach the broker at {upstream}: {e}"));
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = broker.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (broker_read, broker_write) = broker.into_split();
    // One write per frame where it fits: toxics act on each piece a proxy reads (a latency
    // toxic delays each), so a frame must not cross the proxy in more pieces than it came in.
    let broker_write = tokio::io::BufWriter::with_capacity(64 * 1024, broker_write);
    let client_write = tokio::io::BufWriter::with_capacity(64 * 1024, client_write);
    let pending = Arc::new(Mutex::new(VecDeque::new()));
    // Either side closing ends the relay: a Kafka client never half-closes, and a broker that
    // closes has nothing more to say.
    tokio::select! {
        _ = requests(client_read, broker_write, pending.clone()) => {}
        _ = answers(broker_read, client_write, pending, &book) => {}
    }
}

/// Reads one frame whole (tests' fake brokers; the relay streams instead).
#[cfg(test)]
async fn read_frame(r: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Option<Bytes>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut body = BytesMut::zeroed(usize::try_from(i32::from_be_bytes(len)).unwrap_or(0));
    r.read_exact(&mut body).await?;
    Ok(Some(body.freeze()))
}

#[cfg(test)]
async fn write_frame(w: &mut (impl AsyncWrite + Unpin), frame: &[u8]) -> std::io::Result<()> {
    w.write_all(&(frame.len() as i32).to_be_bytes()).await?;
    w.write_all(frame).await
}

/// The next frame's length prefix, or None at a clean end of stream.
async fn read_len(r: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Option<i32>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => Ok(Some(i32::from_be_bytes(len))),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

async fn read_n(r: &mut (impl AsyncRead + Unpin), n: usize) -> std::io::Result<BytesMut> {
    let mut buf = BytesMut::zeroed(n);
    r.read_exact(&mut buf).await?;
    Ok(buf)
}

/// Copies exactly `n` bytes, as they come.
async fn pass(from: &mut (impl AsyncRead + Unpin), to: &mut (impl AsyncWrite + Unpin), n: u64) -> std::io::Result<()> {
    let copied = tokio::io::copy(&mut from.take(n), to).await?;
    if copied < n {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// Client to broker: every byte unchanged and passed on as it comes (a malformed or oversized
/// frame reaches the broker as the client sent it; what to do with it is the broker's to
/// judge); requests whose answers are rewritten are noted on the way.
async fn requests(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    pending: Arc<Mutex<VecDeque<Pending>>>,
) -> std::io::Result<()> {
    while let Some(n) = read_len(&mut from).await? {
        to.write_all(&n.to_be_bytes()).await?;
        if !(0..=READ_LIMIT as i32).contains(&n) {
            // A broker judges a frame's size by its length alone (socket.request.max.bytes):
            // it must see the length now, not once the body is here.
            to.flush().await?;
        }
        let Ok(n) = usize::try_from(n) else {
            // No frame boundary can be trusted after a negative length: bytes from here on.
            to.flush().await?;
            tokio::io::copy(&mut from, &mut to).await?;
            return to.flush().await;
        };
        if n < 8 {
            pass(&mut from, &mut to, n as u64).await?;
            to.flush().await?;
            continue;
        }
        let head = read_n(&mut from, 8).await?;
        to.write_all(&head).await?;
        let key = ApiKey::try_from(i16::from_be_bytes([head[0], head[1]])).ok();
        let version = i16::from_be_bytes([head[2], head[3]]);
        let correlation = i32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        let rest = n - 8;
        let wanted = match key {
            Some(ApiKey::ApiVersions | ApiKey::Metadata | ApiKey::FindCoordinator | ApiKey::DescribeCluster) => true,
            // KIP-951: only these versions carry the new leader's endpoint.
            Some(ApiKey::Fetch) => version >= 16,
            // An acks=0 Produce is never answered; a large one is noted unread (an entry never
            // answered is dropped when a later answer comes).
            Some(ApiKey::Produce) if version >= 10 && rest <= READ_LIMIT => {
                let body = read_n(&mut from, rest).await?;
                let mut frame = BytesMut::with_capacity(n);
                frame.extend_from_slice(&head);
                frame.extend_from_slice(&body);
                let acks = produce_acks(&frame.freeze(), version);
                note(&pending, acks != Some(0), correlation, ApiKey::Produce, version);
                to.write_all(&body).await?;
                to.flush().await?;
                continue;
            }
            Some(ApiKey::Produce) => version >= 10,
            _ => false,
        };
        if let Some(key) = key {
            note(&pending, wanted, correlation, key, version);
        }
        pass(&mut from, &mut to, rest as u64).await?;
        to.flush().await?;
    }
    Ok(())
}

/// Requests larger than this are passed on without being read whole.
const READ_LIMIT: usize = 1024 * 1024;

fn note(pending: &Mutex<VecDeque<Pending>>, wanted: bool, correlation: i32, key: ApiKey, version: i16) {
    if !wanted {
        return;
    }
    let mut q = pending.lock().unwrap_or_else(|e| e.into_inner());
    q.push_back(Pending { correlation, key, version });
    // Bounded: entries whose answers never came are dropped as later answers arrive.
    if q.len() > 4096 {
        q.pop_front();
    }
}

fn produce_acks(frame: &Bytes, version: i16) -> Option<i16> {
    let mut buf = frame.clone();
    RequestHeader::decode(&mut buf, ApiKey::Produce.request_header_version(version)).ok()?;
    ProduceRequest::decode(&mut buf, version).ok().map(|r| r.acks)
}

/// Broker to client: answers to noted requests rewritten; every other byte unchanged and
/// passed on as it comes.
async fn answers(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    pending: Arc<Mutex<VecDeque<Pending>>>,
    book: &AddressBook,
) -> std::io::Result<()> {
    while let Some(n) = read_len(&mut from).await? {
        let Some(n) = usize::try_from(n).ok().filter(|n| *n >= 4 && *n <= MAX_FRAME) else {
            // Not an answer the gateway can read: from here on, bytes.
            to.write_all(&n.to_be_bytes()).await?;
            to.flush().await?;
            tokio::io::copy(&mut from, &mut to).await?;
            return to.flush().await;
        };
        let head = read_n(&mut from, 4).await?;
        let correlation = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let p = {
            let mut q = pending.lock().unwrap_or_else(|e| e.into_inner());
            // Kafka answers a connection's requests in order; anything noted before this
            // answer's request will not be answered.
            q.iter().position(|p| p.correlation == correlation).and_then(|at| {
                q.drain(..at);
                q.pop_front()
            })
        };
        let Some(p) = p else {
            to.write_all(&(n as i32).to_be_bytes()).await?;
            to.write_all(&head).await?;
            pass(&mut from, &mut to, (n - 4) as u64).await?;
            to.flush().await?;
            continue;
        };
        let mut frame = BytesMut::with_capacity(n);
        frame.extend_from_slice(&head);
        frame.extend_from_slice(&read_n(&mut from, n - 4).await?);
        let frame = frame.freeze();
        let out = match rewrite(p, &frame, book) {
            Ok(Some(rewritten)) => rewritten,
            Ok(None) => frame,
            Err(e) => {
                book.problem(format!("passed a {:?} v{} answer through unread: {e}", p.key, p.version));
                frame
            }
        };
        let len = i32::try_from(out.len()).map_err(|_| std::io::Error::other("answer too long"))?;
        to.write_all(&len.to_be_bytes()).await?;
        to.write_all(&out).await?;
        to.flush().await?;
    }
    Ok(())
}

/// The answer with every broker address replaced, or None when nothing changed.
fn rewrite(p: Pending, frame: &Bytes, book: &AddressBook) -> anyhow::Result<Option<Bytes>> {
    let header_version = p.key.response_header_version(p.version);
    let mut buf = frame.clone();
    let header = ResponseHeader::decode(&mut buf, header_version)?;
    if p.key == ApiKey::ApiVersions && buf.len() >= 2 && i16::from_be_bytes([buf[0], buf[1]]) != 0 {
        // An error (KIP-511's UNSUPPORTED_VERSION is encoded as v0): nothing to cap.
        return Ok(None);
    }
    let mut body = ResponseKind::decode(p.key, &mut buf, p.version)?;
    let mut changed = false;
    match &mut body {
        ResponseKind::Metadata(m) => {
            for b in &mut m.brokers {
                changed |= book.rewrite(b.node_id.0, &mut b.host, &mut b.port);
            }
        }
        ResponseKind::DescribeCluster(d) => {
            for b in &mut d.brokers {
                changed |= book.rewrite(b.broker_id.0, &mut b.host, &mut b.port);
            }
        }
        ResponseKind::FindCoordinator(f) => {
            // Up to v3 one coordinator at the top; from v4 (KIP-699) a list, and the top-level
            // fields are absent (decoded as defaults, node 0).
            if p.version < 4 && f.error_code == 0 {
                changed |= book.rewrite(f.node_id.0, &mut f.host, &mut f.port);
            }
            for c in &mut f.coordinators {
                if c.error_code == 0 {
                    changed |= book.rewrite(c.node_id.0, &mut c.host, &mut c.port);
                }
            }
        }
        ResponseKind::Produce(r) => {
            for e in &mut r.node_endpoints {
                changed |= book.rewrite(e.node_id.0, &mut e.host, &mut e.port);
            }
        }
        ResponseKind::Fetch(r) => {
            for e in &mut r.node_endpoints {
                changed |= book.rewrite(e.node_id.0, &mut e.host, &mut e.port);
            }
        }
        ResponseKind::ApiVersions(a) => {
            for v in &mut a.api_keys {
                let Ok(key) = ApiKey::try_from(v.api_key) else { continue };
                let readable = key.valid_versions().max;
                if REWRITTEN.contains(&key) && v.max_version > readable {
                    v.max_version = readable.max(v.min_version);
                    changed = true;
                }
            }
        }
        _ => {}
    }
    if !changed {
        return Ok(None);
    }
    let mut out = BytesMut::new();
    header.encode(&mut out, header_version)?;
    body.encode(&mut out, p.version)?;
    Ok(Some(out.freeze()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::metadata_response::MetadataResponseBroker;
    use kafka_protocol::messages::{BrokerId, MetadataResponse};

    fn answer(key: ApiKey, version: i16, body: &ResponseKind) -> Bytes {
        let mut out = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(7)
            .encode(&mut out, key.response_header_version(version))
            .expect("test set-up");
        body.encode(&mut out, version).expect("test set-up");
        out.freeze()
    }

    fn metadata(brokers: &[(i32, &str, i32)]) -> ResponseKind {
        ResponseKind::Metadata(
            MetadataResponse::default().with_brokers(
                brokers
                    .iter()
                    .map(|(id, host, port)| {
                        MetadataResponseBroker::default()
                            .with_node_id(BrokerId(*id))
                            .with_host(StrBytes::from_string(host.to_string()))
                            .with_port(*port)
                    })
                    .collect(),
            ),
        )
    }

    fn decoded(key: ApiKey, version: i16, frame: &Bytes) -> ResponseKind {
        let mut buf = frame.clone();
        let h = ResponseHeader::decode(&mut buf, key.response_header_version(version)).expect("test set-up");
        assert_eq!(h.correlation_id, 7, "the correlation id survives");
        ResponseKind::decode(key, &mut buf, version).expect("test set-up")
    }

    #[test]
    fn metadata_brokers_get_their_proxies_addresses_at_every_version() {
        let book = AddressBook::default();
        book.insert(1, "127.0.0.1:40001").expect("test set-up");
        book.insert(2, "127.0.0.1:40002").expect("test set-up");
        for version in [0, 1, 9, 12, 13] {
            let frame = answer(ApiKey::Metadata, version, &metadata(&[(1, "kafka-1", 9092), (2, "kafka-2", 9092)]));
            let p = Pending { correlation: 7, key: ApiKey::Metadata, version };
            let out = rewrite(p, &frame, &book).expect("test set-up").expect("rewritten");
            let ResponseKind::Metadata(m) = decoded(ApiKey::Metadata, version, &out) else { panic!() };
            let got: Vec<_> = m.brokers.iter().map(|b| (b.node_id.0, b.host.to_string(), b.port)).collect();
            assert_eq!(got, vec![(1, "127.0.0.1".into(), 40001), (2, "127.0.0.1".into(), 40002)], "v{version}");
        }
    }

    #[test]
    fn a_broker_the_book_does_not_know_is_left_alone_and_named() {
        let book = AddressBook::default();
        book.insert(1, "127.0.0.1:40001").expect("test set-up");
        let frame = answer(ApiKey::Metadata, 12, &metadata(&[(1, "a", 1), (111, "b", 2)]));
        let out = rewrite(Pending { correlation: 7, key: ApiKey::Metadata, version: 12 }, &frame, &book)
            .expect("test set-up");
        let ResponseKind::Metadata(m) = decoded(ApiKey::Metadata, 12, &out.expect("test set-up")) else { panic!() };
        assert_eq!((m.brokers[1].host.as_str(), m.brokers[1].port), ("b", 2));
        assert_eq!(book.unknown(), vec![111]);
    }

    #[test]
    fn find_coordinator_is_rewritten_in_both_shapes_and_errors_are_left_alone() {
        use kafka_protocol::messages::FindCoordinatorResponse;
        use kafka_protocol::messages::find_coordinator_response::Coordinator;
        let book = AddressBook::default();
        book.insert(3, "127.0.0.1:40003").expect("test set-up");
        let old = FindCoordinatorResponse::default()
            .with_node_id(BrokerId(3))
            .with_host(StrBytes::from_static_str("kafka-3"))
            .with_port(9092);
        let frame = answer(ApiKey::FindCoordinator, 3, &ResponseKind::FindCoordinator(old));
        let p = Pending { correlation: 7, key: ApiKey::FindCoordinator, version: 3 };
        let ResponseKind::FindCoordinator(f) =
            decoded(ApiKey::FindCoordinator, 3, &rewrite(p, &frame, &book).expect("test set-up").expect("test set-up"))
        else {
            panic!()
        };
        assert_eq!((f.host.as_str(), f.port), ("127.0.0.1", 40003));
        let new = FindCoordinatorResponse::default().with_coordinators(vec![
            Coordinator::default().with_node_id(BrokerId(3)).with_host(StrBytes::from_static_str("k")).with_port(1),
            Coordinator::default().with_node_id(BrokerId(-1)).with_error_code(15),
        ]);
        let frame = answer(ApiKey::FindCoordinator, 6, &ResponseKind::FindCoordinator(new));
        let p = Pending { correlation: 7, key: ApiKey::FindCoordinator, version: 6 };
        let ResponseKind::FindCoordinator(f) =
            decoded(ApiKey::FindCoordinator, 6, &rewrite(p, &frame, &book).expect("test set-up").expect("test set-up"))
        else {
            panic!()
        };
        assert_eq!((f.coordinators[0].host.as_str(), f.coordinators[0].port), ("127.0.0.1", 40003));
        assert_eq!((f.coordinators[1].host.as_str(), f.coordinators[1].port), ("", 0));
        assert!(book.unknown().is_empty(), "an error's node -1 is not a broker");
    }

    #[test]
    fn api_versions_are_capped_where_addresses_could_not_be_read() {
        use kafka_protocol::messages::ApiVersionsResponse;
        use kafka_protocol::messages::api_versions_response::ApiVersion;
        let v = |key: ApiKey, max: i16| {
            ApiVersion::default().with_api_key(key as i16).with_min_version(0).with_max_version(max)
        };
        let body =
            ApiVersionsResponse::default().with_api_keys(vec![v(ApiKey::Metadata, 99), v(ApiKey::OffsetCommit, 99)]);
        let frame = answer(ApiKey::ApiVersions, 3, &ResponseKind::ApiVersions(body));
        let p = Pending { correlation: 7, key: ApiKey::ApiVersions, version: 3 };
        let ResponseKind::ApiVersions(a) = decoded(
            ApiKey::ApiVersions,
            3,
            &rewrite(p, &frame, &book_none()).expect("test set-up").expect("test set-up"),
        ) else {
            panic!()
        };
        assert_eq!(a.api_keys[0].max_version, ApiKey::Metadata.valid_versions().max);
        assert_eq!(a.api_keys[1].max_version, 99, "APIs without addresses keep what the broker says");
    }

    fn book_none() -> AddressBook {
        AddressBook::default()
    }

    #[test]
    fn an_unreadable_answer_is_an_error_not_a_panic() {
        let p = Pending { correlation: 7, key: ApiKey::Metadata, version: 12 };
        let frame = Bytes::from_static(&[0, 0, 0, 7, 0, 0, 0, 5, 1]);
        assert!(rewrite(p, &frame, &AddressBook::default()).is_err());
    }

    #[tokio::test]
    async fn a_relay_rewrites_metadata_and_passes_everything_else_through() {
        // A broker that answers each request with a fixed frame, in order.
        let broker = TcpListener::bind("127.0.0.1:0").await.expect("test set-up");
        let broker_addr = broker.local_addr().expect("test set-up");
        tokio::spawn(async move {
            let (mut s, _) = broker.accept().await.expect("test set-up");
            while let Ok(Some(req)) = read_frame(&mut s).await {
                let key = ApiKey::try_from(i16::from_be_bytes([req[0], req[1]])).expect("test set-up");
                let version = i16::from_be_bytes([req[2], req[3]]);
                let frame = if key == ApiKey::Metadata {
                    answer(key, version, &metadata(&[(1, "elsewhere", 9092)]))
                } else {
                    Bytes::from_static(&[0, 0, 0, 6, 1, 2, 3])
                };
                write_frame(&mut s, &frame).await.expect("test set-up");
            }
        });
        let book = AddressBook::default();
        book.insert(1, "proxy:1234").expect("test set-up");
        let gw = Gateway::start(&broker_addr.to_string(), book.clone()).await.expect("test set-up");
        let mut c = TcpStream::connect(gw.addr()).await.expect("test set-up");
        let request = |key: ApiKey, version: i16, correlation: i32| {
            let mut f = Vec::new();
            f.extend((key as i16).to_be_bytes());
            f.extend(version.to_be_bytes());
            f.extend(correlation.to_be_bytes());
            f.extend((-1i16).to_be_bytes());
            f
        };
        write_frame(&mut c, &request(ApiKey::Heartbeat, 0, 6)).await.expect("test set-up");
        write_frame(&mut c, &request(ApiKey::Metadata, 1, 7)).await.expect("test set-up");
        let first = read_frame(&mut c).await.expect("test set-up").expect("test set-up");
        assert_eq!(&first[..], &[0, 0, 0, 6, 1, 2, 3], "untouched byte for byte");
        let second = read_frame(&mut c).await.expect("test set-up").expect("test set-up");
        let ResponseKind::Metadata(m) = decoded(ApiKey::Metadata, 1, &second) else { panic!() };
        assert_eq!((m.brokers[0].host.as_str(), m.brokers[0].port), ("proxy", 1234));
        assert!(book.problems().is_empty(), "{:?}", book.problems());
    }
}
