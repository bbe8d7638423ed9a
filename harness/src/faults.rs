//! Network faults, driven through toxiproxy's REST API so that the embedded server
//! ([`crate::toxiproxy`]) and a user's own toxiproxy 2.x are the same to the harness.
//!
//! This is the one registry of named network faults (kafkatest's `failures` dict); process
//! faults (pause, kill, restart) live with the brokers in [`crate::cluster`]. A proxy stands on
//! one [`Link`]: between the clients and a broker, between two brokers (one direction of
//! replication), or between a broker and the controller. Calls go through
//! the `toxiproxy_rust` client where it has the operation; it is blocking (reqwest blocking),
//! so every call runs on a blocking thread, never on a tokio worker. What it lacks (changing a
//! proxy's upstream, `reset_peer`, removing one toxic) goes over the same REST API directly.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use toxiproxy_rust::client::Client;

/// What one proxy stands between. Every connection a reference cluster makes goes through one,
/// so a fault on a link reaches exactly that traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Link {
    /// The clients to broker N: the address broker N advertises in Metadata.
    Client(i32),
    /// Broker `from`'s connections to broker `to`: `from`'s follower fetches from `to`.
    Replication { from: i32, to: i32 },
    /// Broker N's connections to the controller: registration and heartbeats.
    Controller(i32),
}

impl Link {
    /// The toxiproxy proxy's name. Client proxies keep the name they always had (`broker-N`),
    /// which is also what an external target's file maps node ids to.
    pub fn proxy_name(self) -> String {
        match self {
            Link::Client(n) => format!("broker-{n}"),
            Link::Replication { from, to } => format!("link-{from}-{to}"),
            Link::Controller(n) => format!("controller-link-{n}"),
        }
    }

    /// Whether this is a replication link touching broker `n`, in either direction.
    fn replicates_with(self, n: i32) -> bool {
        matches!(self, Link::Replication { from, to } if from == n || to == n)
    }
}

/// A network fault between the clients and one broker, by its registry name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NetworkFault {
    /// `latency`: every answer from the broker is delayed, on the given share of connections
    /// (toxiproxy's `toxicity`, drawn per connection).
    Latency { ms: u32, jitter_ms: u32, toxicity: f32 },
    /// `reset-peer`: live connections are reset (TCP RST); new ones work.
    ResetPeer,
    /// `partition`: the broker is unreachable: live connections are cut, new ones refused.
    Partition,
    /// `answers-lost`: requests reach the broker, its answers never come back.
    AnswersLost,
    /// `silence`: nothing gets through either way, and connections stay open (timeout 0).
    Silence,
    /// `bandwidth`: the broker's answers flow at most this fast.
    Bandwidth { kb_per_s: u32 },
    /// `slicer`: the broker's answers arrive in small pieces, a little apart.
    Slicer { average_bytes: u32 },
    /// `limit-data`: each connection is closed once this many bytes came from the broker.
    LimitData { bytes: u32 },
    /// `slow-close`: connections are closed this much later than asked.
    SlowClose { ms: u32 },
}

impl NetworkFault {
    pub fn name(self) -> &'static str {
        match self {
            NetworkFault::Latency { .. } => "latency",
            NetworkFault::ResetPeer => "reset-peer",
            NetworkFault::Partition => "partition",
            NetworkFault::AnswersLost => "answers-lost",
            NetworkFault::Silence => "silence",
            NetworkFault::Bandwidth { .. } => "bandwidth",
            NetworkFault::Slicer { .. } => "slicer",
            NetworkFault::LimitData { .. } => "limit-data",
            NetworkFault::SlowClose { .. } => "slow-close",
        }
    }
}

/// Trouble reaching toxiproxy: harness trouble, never a verdict on the broker.
#[derive(Debug, thiserror::Error)]
#[error("toxiproxy at {addr}: {message}")]
pub struct FaultError {
    pub addr: String,
    pub message: String,
}

/// The proxies of a cluster, by the link each stands on.
#[derive(Debug, Clone)]
pub struct Faults {
    /// `host:port` of toxiproxy's API.
    addr: String,
    proxies: BTreeMap<Link, String>,
    /// Whether a fault was applied since the last heal: healing a clean network costs a call.
    dirty: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Whether a step applied a fault in this scenario, healed or not.
    injected: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The toxiproxy is a user's, shared with others: proxy names carry this prefix, and
    /// healing touches this cluster's proxies only, never `POST /reset`. Empty for a server of
    /// the cluster's own.
    prefix: String,
    shared: bool,
}

impl Faults {
    /// The proxies an external target's file names, on the user's own toxiproxy.
    pub fn existing(addr: String, proxies: BTreeMap<i32, String>) -> Faults {
        let proxies = proxies.into_iter().map(|(node, name)| (Link::Client(node), name)).collect();
        Faults {
            addr,
            proxies,
            dirty: Default::default(),
            injected: Default::default(),
            prefix: String::new(),
            shared: true,
        }
    }

    /// Proxies the harness creates on a user's toxiproxy, named `<prefix>broker-N` so that
    /// clusters running at once (and the user's own proxies) never meet.
    pub fn shared(addr: String, prefix: String) -> Faults {
        Faults { prefix, shared: true, ..Faults::new(addr) }
    }

    /// Whether a step put a network fault in place in this scenario, healed since or not.
    pub fn injected(&self) -> bool {
        self.injected.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Heals unconditionally: at the start of a scenario, in case an earlier run died mid-fault.
    pub async fn reset(&self) -> Result<(), FaultError> {
        self.dirty.store(true, std::sync::atomic::Ordering::SeqCst);
        self.heal().await
    }

    /// Where each broker's client proxy listens, as toxiproxy reports it.
    pub async fn listen_addresses(&self) -> Result<BTreeMap<i32, String>, FaultError> {
        let mut out = BTreeMap::new();
        for (link, name) in &self.proxies {
            let Link::Client(node) = link else { continue };
            let path = format!("/proxies/{name}");
            let answer = self.blocking(move |addr| http(&addr, "GET", &path, None)).await?;
            let json: serde_json::Value =
                serde_json::from_str(&answer).map_err(|e| self.err(format!("proxy {name}: {e}: {answer}")))?;
            let listen =
                json["listen"].as_str().ok_or_else(|| self.err(format!("proxy {name} has no listen address")))?;
            out.insert(*node, listen.to_string());
        }
        Ok(out)
    }

    /// Proxies on a toxiproxy of the cluster's own (the embedded server).
    pub fn new(addr: String) -> Faults {
        Faults {
            addr,
            proxies: BTreeMap::new(),
            dirty: Default::default(),
            injected: Default::default(),
            prefix: String::new(),
            shared: false,
        }
    }

    fn err(&self, message: impl Into<String>) -> FaultError {
        FaultError { addr: self.addr.clone(), message: message.into() }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(String) -> Result<T, String> + Send + 'static,
    ) -> Result<T, FaultError> {
        let addr = self.addr.clone();
        tokio::task::spawn_blocking(move || f(addr))
            .await
            .map_err(|e| self.err(e.to_string()))?
            .map_err(|e| self.err(e))
    }

    /// Creates (or replaces) the proxy on a link and returns the address it listens on.
    /// Set-up, not a fault: it goes over the REST API directly, which is much cheaper than
    /// toxiproxy_rust's client (a blocking reqwest client with its own runtime per call).
    pub async fn create_proxy(&mut self, link: Link, listen: &str, upstream: &str) -> Result<String, FaultError> {
        let name = format!("{}{}", self.prefix, link.proxy_name());
        // A proxy a fault disables closes its listener, as toxiproxy's does, and must get its
        // port back when healed. A port from the ephemeral range could meanwhile be handed to
        // any `bind(port 0)` or outgoing connection (a restarted broker, a gateway): so a
        // loopback proxy listens on a port below that range, which only explicit binds take.
        let explicit = listen.rsplit_once(':').is_some_and(|(h, p)| p != "0" || h != "127.0.0.1");
        for attempt in 0..20 {
            let at = if explicit { listen.to_string() } else { format!("127.0.0.1:{}", unassigned_port()) };
            let body =
                serde_json::json!([{ "name": name, "listen": at, "upstream": upstream, "enabled": true }]).to_string();
            let answer = match self.blocking(move |addr| http(&addr, "POST", "/populate", Some(&body))).await {
                Ok(a) => a,
                Err(e) if !explicit && attempt < 19 && e.message.to_lowercase().contains("address already in use") => {
                    continue;
                }
                Err(e) => return Err(e),
            };
            let json: serde_json::Value =
                serde_json::from_str(&answer).map_err(|e| self.err(format!("populate answered {answer:?}: {e}")))?;
            let listen = json["proxies"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["name"] == name.as_str()))
                .and_then(|p| p["listen"].as_str())
                .map(str::to_string)
                .ok_or_else(|| self.err(format!("populate did not return proxy {name}: {answer}")))?;
            self.proxies.insert(link, name);
            return Ok(listen);
        }
        Err(self.err(format!("no free port for proxy {name}")))
    }

    /// Points a link's proxy at its target's real address (known once the target has started).
    pub async fn set_upstream(&self, link: Link, upstream: &str) -> Result<(), FaultError> {
        let name = self.proxy(link)?;
        let body = serde_json::json!({ "upstream": upstream }).to_string();
        self.blocking(move |addr| http(&addr, "POST", &format!("/proxies/{name}"), Some(&body)).map(|_| ())).await
    }

    fn proxy(&self, link: Link) -> Result<String, FaultError> {
        self.proxies.get(&link).cloned().ok_or_else(|| self.err(format!("no proxy on {link:?}")))
    }

    /// The brokers with a proxy between them and the clients.
    pub fn proxied_brokers(&self) -> Vec<i32> {
        self.proxies.keys().filter_map(|l| if let Link::Client(n) = l { Some(*n) } else { None }).collect()
    }

    /// Whether the brokers' links to each other and to the controller have proxies (a reference
    /// cluster of more than one broker), so faults between brokers can be injected.
    pub fn has_broker_links(&self) -> bool {
        self.proxies.keys().any(|l| matches!(l, Link::Replication { .. }))
    }

    /// The replication links between brokers `a` and `b`, both directions.
    pub fn links_between(&self, a: i32, b: i32) -> Vec<Link> {
        [Link::Replication { from: a, to: b }, Link::Replication { from: b, to: a }]
            .into_iter()
            .filter(|l| self.proxies.contains_key(l))
            .collect()
    }

    /// Every replication link of broker `n`, both directions: neither its client proxy nor its
    /// controller link.
    pub fn replication_links_of(&self, n: i32) -> Vec<Link> {
        self.proxies.keys().copied().filter(|l| l.replicates_with(n)).collect()
    }

    /// `partition` on each link: live connections are cut and new ones refused, as toxiproxy
    /// does for a disabled proxy; the same mechanism as [`NetworkFault::Partition`].
    pub async fn cut(&self, links: &[Link]) -> Result<(), FaultError> {
        let names = links.iter().map(|l| self.proxy(*l)).collect::<Result<Vec<_>, _>>()?;
        if names.is_empty() {
            return Err(self.err("no link to cut"));
        }
        self.dirty.store(true, std::sync::atomic::Ordering::SeqCst);
        self.injected.store(true, std::sync::atomic::Ordering::SeqCst);
        self.blocking(move |addr| {
            for name in names {
                http(&addr, "POST", &format!("/proxies/{name}"), Some(r#"{"enabled":false}"#))?;
            }
            Ok(())
        })
        .await
    }

    /// Re-enables every proxy between brokers and to the controller; client proxies and their
    /// toxics stay as they are.
    pub async fn heal_links(&self) -> Result<(), FaultError> {
        let names: Vec<String> =
            self.proxies.iter().filter(|(l, _)| !matches!(l, Link::Client(_))).map(|(_, n)| n.clone()).collect();
        self.blocking(move |addr| {
            for name in names {
                http(&addr, "POST", &format!("/proxies/{name}"), Some(r#"{"enabled":true}"#))?;
            }
            Ok(())
        })
        .await
    }

    /// Puts a fault in place between the clients and one broker.
    pub async fn apply(&self, node: i32, fault: NetworkFault) -> Result<(), FaultError> {
        let name = self.proxy(Link::Client(node))?;
        self.dirty.store(true, std::sync::atomic::Ordering::SeqCst);
        self.injected.store(true, std::sync::atomic::Ordering::SeqCst);
        self.blocking(move |addr| {
            let client = Client::new(addr.as_str());
            match fault {
                NetworkFault::Latency { ms, jitter_ms, toxicity } => {
                    client.find_proxy(&name)?.with_latency("downstream".into(), ms, jitter_ms, toxicity);
                    Ok(())
                }
                NetworkFault::Partition => client.find_proxy(&name)?.disable(),
                // toxiproxy_rust has no reset_peer: add it (timeout 0 resets the live
                // connections at once) and take it away again, so new connections work.
                NetworkFault::ResetPeer => {
                    let toxic = r#"{"name":"reset_once","type":"reset_peer","stream":"downstream","toxicity":1.0,"attributes":{"timeout":0}}"#;
                    http(&addr, "POST", &format!("/proxies/{name}/toxics"), Some(toxic))?;
                    http(&addr, "DELETE", &format!("/proxies/{name}/toxics/reset_once"), None).map(|_| ())
                }
                NetworkFault::AnswersLost => {
                    client.find_proxy(&name)?.with_timeout("downstream".into(), 0, 1.0);
                    Ok(())
                }
                NetworkFault::Silence => {
                    let proxy = client.find_proxy(&name)?;
                    proxy.with_timeout("downstream".into(), 0, 1.0);
                    proxy.with_timeout("upstream".into(), 0, 1.0);
                    Ok(())
                }
                NetworkFault::Bandwidth { kb_per_s } => {
                    client.find_proxy(&name)?.with_bandwidth("downstream".into(), kb_per_s, 1.0);
                    Ok(())
                }
                NetworkFault::Slicer { average_bytes } => {
                    // Pieces of average ± half, 100 µs apart, as toxiproxy's slicer attributes say.
                    client.find_proxy(&name)?.with_slicer("downstream".into(), average_bytes, average_bytes / 2, 100, 1.0);
                    Ok(())
                }
                NetworkFault::LimitData { bytes } => {
                    client.find_proxy(&name)?.with_limit_data("downstream".into(), bytes, 1.0);
                    Ok(())
                }
                NetworkFault::SlowClose { ms } => {
                    client.find_proxy(&name)?.with_slow_close("downstream".into(), ms, 1.0);
                    Ok(())
                }
            }
        })
        .await
    }

    /// Removes every toxic and re-enables every proxy: client proxies, links between brokers and
    /// controller links alike (toxiproxy's `POST /reset` on a server of the cluster's own; one
    /// proxy at a time on a user's).
    pub async fn heal(&self) -> Result<(), FaultError> {
        if !self.dirty.swap(false, std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        if self.shared {
            let names: Vec<String> = self.proxies.values().cloned().collect();
            return self.blocking(move |addr| names.iter().try_for_each(|name| heal_proxy(&addr, name))).await;
        }
        self.blocking(|addr| Client::new(addr.as_str()).reset()).await
    }

    /// Deletes the proxies the harness created on a user's toxiproxy (blocking: for `Drop`).
    /// Proxies the target file names are the user's and stay.
    pub fn remove_created_proxies(&self) {
        if !self.shared || self.prefix.is_empty() {
            return;
        }
        for name in self.proxies.values() {
            if let Err(e) = http(&self.addr, "DELETE", &format!("/proxies/{name}"), None) {
                tracing::warn!("toxiproxy at {}: cannot remove proxy {name}: {e}", self.addr);
            }
        }
    }
}

/// Removes every toxic of one proxy and enables it: `POST /reset` for one proxy.
fn heal_proxy(addr: &str, name: &str) -> Result<(), String> {
    let answer = http(addr, "GET", &format!("/proxies/{name}/toxics"), None)?;
    let toxics: serde_json::Value =
        serde_json::from_str(&answer).map_err(|e| format!("toxics of {name}: {e}: {answer}"))?;
    for toxic in toxics.as_array().into_iter().flatten() {
        if let Some(t) = toxic["name"].as_str() {
            http(addr, "DELETE", &format!("/proxies/{name}/toxics/{t}"), None)?;
        }
    }
    http(addr, "POST", &format!("/proxies/{name}"), Some(r#"{"enabled":true}"#)).map(|_| ())
}

/// A loopback port below the ephemeral range (`net.ipv4.ip_local_port_range`, 32768 and up by
/// default) that nothing listens on now: drawn at random from 20000 up to that range, so that
/// processes choosing at once rarely meet, and tried with a bind.
fn unassigned_port() -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse::<u16>().ok()))
        .unwrap_or(32768);
    let (from, to) = if low > 21000 { (20000, low) } else { (low.saturating_sub(1000).max(1024), low) };
    for _ in 0..100 {
        let port = fastrand::u16(from..to);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    0
}

/// A GET on toxiproxy's API (blocking): the body of a 2xx answer.
pub fn http_get(addr: &str, path: &str) -> Result<String, String> {
    http(addr, "GET", path, None)
}

/// One HTTP/1.1 request to toxiproxy's API; `Connection: close` keeps reading simple. Returns
/// the body of a 2xx answer, or the status line and body as the error.
fn http(addr: &str, method: &str, path: &str, body: Option<&str>) -> Result<String, String> {
    let timeout = Duration::from_secs(5);
    let target = addr.parse().map_err(|e| format!("{addr} is not host:port: {e}"))?;
    let mut stream = TcpStream::connect_timeout(&target, timeout).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).map_err(|e| e.to_string())?;
    let status: u16 = answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    if (200..300).contains(&status) { Ok(body) } else { Err(format!("{method} {path} answered {status}: {body}")) }
}
