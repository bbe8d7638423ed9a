//! A proxy: its listener, its toxics, and the connections it carries (toxiproxy `proxy.go`).
//!
//! Each accepted client gets a fresh connection to the upstream and two links, one per
//! direction ([`super::link`]), each followed by a writer task for its destination socket.
//! Like toxiproxy, the end of either direction closes both sockets: a writer that saw the end
//! of its stream closes its socket completely, which makes the opposite link see the end of
//! its source. Disabling the proxy stops listening and closes every connection before the API
//! answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt as _;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::link::{self, Link, ToxicList};
use super::toxics::{Direction, Item, Toxic};

/// How long disabling a proxy waits for its connections to close. They close at once; this
/// bounds the wait if a task is stuck anyway.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// A proxy as the API sees it.
pub struct Proxy {
    pub name: String,
    /// The address given, replaced by the bound address once listening (so port 0 shows the
    /// real port, and re-enabling listens on the same one), as toxiproxy does.
    pub listen: String,
    pub upstream: String,
    pub enabled: bool,
    /// Per direction (upstream, downstream), in chain order.
    toxics: [Vec<Arc<Toxic>>; 2],
    chains: [watch::Sender<ToxicList>; 2],
    running: Option<Running>,
}

struct Running {
    accept: JoinHandle<()>,
    kill: watch::Sender<bool>,
    /// Every task of every connection holds a clone of the sender; `recv` ends when all are gone.
    tasks: mpsc::Receiver<()>,
}

impl Drop for Running {
    /// A proxy dropped without `stop` (server dropped mid-request) must not keep listening.
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Proxy {
    pub fn new(name: String, listen: String, upstream: String) -> Proxy {
        Proxy {
            name,
            listen,
            upstream,
            enabled: false,
            toxics: [Vec::new(), Vec::new()],
            chains: [watch::Sender::new(Arc::new(Vec::new())), watch::Sender::new(Arc::new(Vec::new()))],
            running: None,
        }
    }

    /// toxiproxy's `proxyWithToxics` JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": self.toxics().iter().map(|t| t.to_json()).collect::<Vec<_>>(),
        })
    }

    /// Upstream toxics first, then downstream, each in chain order (`GetToxicArray`).
    pub fn toxics(&self) -> Vec<Arc<Toxic>> {
        self.toxics.iter().flatten().cloned().collect()
    }

    pub fn toxic(&self, name: &str) -> Option<&Arc<Toxic>> {
        self.toxics.iter().flatten().find(|t| t.name == name)
    }

    /// Adds a toxic at the end of its direction's chain; live connections get it too.
    pub fn add_toxic(&mut self, toxic: Toxic) {
        let dir = toxic.direction.index();
        if let Some(list) = self.toxics.get_mut(dir) {
            list.push(Arc::new(toxic));
        }
        self.publish(dir);
    }

    /// Replaces the toxic with the same id in place.
    pub fn replace_toxic(&mut self, toxic: Toxic) {
        let dir = toxic.direction.index();
        if let Some(slot) = self.toxics.get_mut(dir).and_then(|l| l.iter_mut().find(|t| t.id == toxic.id)) {
            *slot = Arc::new(toxic);
        }
        self.publish(dir);
    }

    pub fn remove_toxic(&mut self, name: &str) -> bool {
        for dir in [Direction::Upstream, Direction::Downstream].map(Direction::index) {
            let Some(list) = self.toxics.get_mut(dir) else { continue };
            if let Some(i) = list.iter().position(|t| t.name == name) {
                list.remove(i);
                self.publish(dir);
                return true;
            }
        }
        false
    }

    pub fn remove_all_toxics(&mut self) {
        for dir in 0..2 {
            if let Some(list) = self.toxics.get_mut(dir) {
                list.clear();
            }
            self.publish(dir);
        }
    }

    fn publish(&self, dir: usize) {
        if let (Some(list), Some(chain)) = (self.toxics.get(dir), self.chains.get(dir)) {
            chain.send_replace(Arc::new(list.clone()));
        }
    }

    /// Listens and accepts clients. An error is the listen error, as toxiproxy reports it.
    pub async fn start(&mut self) -> Result<(), String> {
        if self.enabled {
            return Ok(());
        }
        let listen = if self.listen.is_empty() { "127.0.0.1:0" } else { self.listen.as_str() };
        let listener = TcpListener::bind(listen).await.map_err(|e| format!("listen tcp {listen}: {e}"))?;
        let bound = listener.local_addr().map_err(|e| format!("listen tcp {listen}: {e}"))?;
        self.listen = bound.to_string();
        let (kill, _) = watch::channel(false);
        let (task_guard, tasks) = mpsc::channel(1);
        let accept = tokio::spawn(accept_loop(
            listener,
            self.upstream.clone(),
            [self.chains[0].subscribe(), self.chains[1].subscribe()],
            kill.subscribe(),
            task_guard,
        ));
        self.running = Some(Running { accept, kill, tasks });
        self.enabled = true;
        Ok(())
    }

    /// Stops listening and closes every connection, then returns (toxiproxy `stop`).
    pub async fn stop(&mut self) {
        self.enabled = false;
        let Some(mut running) = self.running.take() else { return };
        // The listener lives in the accept task: once it is gone, new clients are refused.
        running.accept.abort();
        let _ = (&mut running.accept).await;
        running.kill.send_replace(true);
        let _ = tokio::time::timeout(CLOSE_WAIT, running.tasks.recv()).await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: String,
    chains: [watch::Receiver<ToxicList>; 2],
    kill: watch::Receiver<bool>,
    task_guard: mpsc::Sender<()>,
) {
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                tokio::spawn(connection(client, upstream.clone(), chains.clone(), kill.clone(), task_guard.clone()));
            }
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!("toxiproxy: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// What both links of a connection share.
#[derive(Default)]
pub struct ConnShared {
    reset: AtomicBool,
}

impl ConnShared {
    /// A reset_peer toxic is on this connection: its sockets close with RST. toxiproxy sets
    /// `SetLinger(0)` on both sockets when a link starts with reset_peer in its chain.
    pub fn set_reset(&self) {
        self.reset.store(true, Ordering::Relaxed);
    }

    fn linger_if_reset(&self, stream: &TcpStream) {
        if self.reset.load(Ordering::Relaxed) {
            // SO_LINGER 0: close sends RST and drops unsent data. tokio's own `set_linger` is
            // deprecated because a non-zero linger blocks on close; zero does not block.
            let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
        }
    }
}

/// The read half of a proxied socket.
pub struct ReadSide {
    pub half: OwnedReadHalf,
    conn: Arc<ConnShared>,
}

impl Drop for ReadSide {
    fn drop(&mut self) {
        self.conn.linger_if_reset(self.half.as_ref());
    }
}

/// The write half of a proxied socket. Dropping it closes nothing by itself (no FIN, which
/// would come before a reset's RST); the socket closes when its read half goes too, as one
/// `Close` does in toxiproxy.
struct WriteSide {
    half: Option<OwnedWriteHalf>,
    conn: Arc<ConnShared>,
}

impl Drop for WriteSide {
    fn drop(&mut self) {
        if let Some(half) = self.half.take() {
            self.conn.linger_if_reset(half.as_ref());
            half.forget();
        }
    }
}

async fn connection(
    client: TcpStream,
    upstream: String,
    chains: [watch::Receiver<ToxicList>; 2],
    mut kill: watch::Receiver<bool>,
    task_guard: mpsc::Sender<()>,
) {
    let server = tokio::select! {
        _ = kill.wait_for(|k| *k) => return,
        s = TcpStream::connect(&upstream) => s,
    };
    let server = match server {
        Ok(s) => s,
        Err(e) => {
            // toxiproxy closes the client when the upstream cannot be reached.
            tracing::info!("toxiproxy: cannot connect to upstream {upstream}: {e}");
            return;
        }
    };
    // Go sets TCP_NODELAY on every TCP connection; do the same so small writes are not held.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let conn = Arc::new(ConnShared::default());
    let (client_r, client_w) = client.into_split();
    let (server_r, server_w) = server.into_split();
    let (client_closed_tx, client_closed) = watch::channel(false);
    let (server_closed_tx, server_closed) = watch::channel(false);
    let (to_server, to_server_rx) = mpsc::channel(1);
    let (to_client, to_client_rx) = mpsc::channel(1);
    let [up_toxics, down_toxics] = chains;

    let side = |half| WriteSide { half: Some(half), conn: conn.clone() };
    tokio::spawn(guarded(task_guard.clone(), write(side(server_w), to_server_rx, server_closed_tx, kill.clone())));
    tokio::spawn(guarded(task_guard.clone(), write(side(client_w), to_client_rx, client_closed_tx, kill.clone())));
    tokio::spawn(guarded(
        task_guard.clone(),
        link::run(Link {
            source: ReadSide { half: client_r, conn: conn.clone() },
            source_closed: client_closed,
            out: to_server,
            toxics: up_toxics,
            kill: kill.clone(),
            conn: conn.clone(),
        }),
    ));
    link::run(Link {
        source: ReadSide { half: server_r, conn: conn.clone() },
        source_closed: server_closed,
        out: to_client,
        toxics: down_toxics,
        kill,
        conn,
    })
    .await;
    drop(task_guard);
}

async fn guarded(guard: mpsc::Sender<()>, task: impl Future<Output = ()>) {
    task.await;
    drop(guard);
}

/// Writes what the link hands over to the destination until the stream ends, then closes the
/// socket (toxiproxy `link.write`: `io.Copy` then `dest.Close()`).
async fn write(
    mut dest: WriteSide,
    mut items: mpsc::Receiver<Item>,
    closed: watch::Sender<bool>,
    mut kill: watch::Receiver<bool>,
) {
    while let Some(half) = dest.half.as_mut() {
        let item = tokio::select! {
            biased;
            _ = kill.wait_for(|k| *k) => break,
            item = items.recv() => item,
        };
        let Some(Item::Data(chunk)) = item else { break };
        let written = tokio::select! {
            biased;
            _ = kill.wait_for(|k| *k) => break,
            r = half.write_all(&chunk.data) => r,
        };
        if written.is_err() {
            break;
        }
    }
    drop(dest);
    closed.send_replace(true);
}
