//! An embedded server that speaks toxiproxy's REST API and proxies TCP with its toxics, so the
//! harness can inject network faults with no toxiproxy installed (none is packaged for this
//! project's machines). Any toxiproxy client can drive it: the tests use `toxiproxy_rust` and
//! the Python `toxiproxy-python`. Behaviour follows Shopify/toxiproxy v2.12.0; each module
//! cites the Go file it follows.
//!
//! # Layout
//! - `api`: routes, handlers and JSON of the REST API, and the proxy collection.
//! - `http`: the HTTP/1.1 the API is served over.
//! - `proxy`: a proxy's listener and connections; enabling, disabling, closing.
//! - `link`: one direction of one connection, running its chain of toxics.
//! - [`toxics`]: each toxic as a state machine over chunks and instants, with its attributes.
//!
//! # Differences from toxiproxy, and why
//! - Toxicity is drawn once per connection and toxic, when the toxic starts on the connection
//!   or is updated. toxiproxy also draws again for a neighbouring toxic it interrupts to add or
//!   remove another; a fault should not come and go on a connection because another changed.
//! - A reset_peer added to live connections makes them close with RST too; toxiproxy sets
//!   `SO_LINGER 0` only on connections that start with it, so live ones would see a FIN.
//!   Removing a reset_peer that already saw data resets at once (toxiproxy blocks the API until
//!   its timeout and then resets).
//! - An empty `listen` means `127.0.0.1:0` rather than every interface.
//! - A bandwidth `rate` below zero holds data like zero does (toxiproxy panics); slicer sizes
//!   are clamped so that no input recurses forever or slices out of range.
//! - Errors are sent as `application/json` (toxiproxy's `http.Error` says text/plain with the
//!   same JSON body); unknown paths and methods get the same JSON with 404 and 405.

mod api;
mod http;
mod link;
mod proxy;
pub mod toxics;

use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

pub use api::TOXIPROXY_VERSION;

/// Serves toxiproxy's API on `listener` until `shutdown` completes, then stops every proxy
/// (closing their listeners and connections) and returns.
pub async fn serve(listener: TcpListener, shutdown: impl Future<Output = ()>) {
    let state = Arc::new(api::State::default());
    let mut clients = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    clients.spawn(http::serve_connection(stream, state.clone()));
                }
                Err(e) => {
                    tracing::warn!("toxiproxy: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = clients.join_next(), if !clients.is_empty() => {}
        }
    }
    drop(listener);
    clients.shutdown().await;
    state.clear().await;
}

/// A server running on the current tokio runtime. Dropping it stops it (in the background);
/// [`Server::shutdown`] stops it and waits until every proxy is closed.
pub struct Server {
    /// Where the API listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `listen` (port 0 picks a free port; see [`Server::addr`]) and serves.
    pub async fn start(listen: impl ToSocketAddrs) -> std::io::Result<Server> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, async move {
            let _ = stopped.await;
        }));
        Ok(Server { addr, stop: Some(stop), task: Some(task) })
    }

    /// The API's base URL, e.g. `http://127.0.0.1:8474`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving, closes every proxy and waits until that is done.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// `kafka-conformance toxiproxy`: serves on `listen` until SIGTERM or SIGINT, after printing
/// the bound address on a line of its own once requests are accepted.
pub fn run_cli(listen: &str) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kafka-conformance toxiproxy: cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let listener = match TcpListener::bind(listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("kafka-conformance toxiproxy: cannot listen on {listen}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let bound = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("kafka-conformance toxiproxy: {e}");
                return ExitCode::FAILURE;
            }
        };
        // The one line a supervisor waits for, as `kafka-reference broker` prints.
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{bound}").and_then(|()| out.flush()).is_err() {
            return ExitCode::FAILURE;
        }
        drop(out);
        serve(listener, kafka_reference::cli::shutdown_signal()).await;
        ExitCode::SUCCESS
    })
}
