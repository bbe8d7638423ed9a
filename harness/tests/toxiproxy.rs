//! The embedded toxiproxy server, driven by clients nobody here wrote (`toxiproxy_rust`, and the
//! Python `toxiproxy-python` through `ci/toxiproxy_python.py`), with each toxic shown on real
//! traffic through a proxy to an echo server. Timing checks assert lower bounds only; where an
//! absence must be shown (no data), the wait is short and the test then proves the opposite.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use kafka_conformance::toxiproxy::Server;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use toxiproxy_rust::client::Client;
use toxiproxy_rust::proxy::ProxyPack;

/// Generous bound for things that should happen at once, so a loaded CI machine does not fail.
const PATIENCE: Duration = Duration::from_secs(10);

struct Fixture {
    server: Server,
    echo: SocketAddr,
}

impl Fixture {
    async fn new() -> Fixture {
        let server = Server::start("127.0.0.1:0").await.expect("the server starts");
        Fixture { server, echo: echo_server().await }
    }

    /// Runs `f` with a `toxiproxy_rust` client on a blocking thread: the client is built on
    /// reqwest's blocking API, which panics on a tokio worker.
    async fn client<T: Send + 'static>(&self, f: impl FnOnce(&Client) -> T + Send + 'static) -> T {
        let addr = self.server.addr;
        tokio::task::spawn_blocking(move || f(&Client::new(addr))).await.expect("client thread")
    }

    /// A proxy named `name` to the echo server, created with `toxiproxy_rust`; its address.
    async fn proxy(&self, name: &str) -> SocketAddr {
        let pack = ProxyPack::new(name.into(), "127.0.0.1:0".into(), self.echo.to_string());
        let proxies = self.client(move |c| c.populate(vec![pack])).await.expect("populate");
        let listen = &proxies.first().expect("one proxy").proxy_pack.listen;
        listen.parse().expect("listen is the bound address")
    }

    /// A raw request, for what `toxiproxy_rust` cannot do or hides (status codes, reset_peer).
    async fn http(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        http(self.server.addr, method, path, body).await
    }
}

async fn http(api: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    let mut s = TcpStream::connect(api).await.expect("connect to the API");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).await.expect("send the request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read the response");
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status in {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    let value = if body.is_empty() { Value::Null } else { serde_json::from_str(body).expect("a JSON body") };
    (status, value)
}

async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the echo server");
    let addr = listener.local_addr().expect("echo address");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

async fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).await.expect("connect through the proxy");
    s.set_nodelay(true).expect("nodelay");
    s
}

/// Reads exactly `n` bytes, or fails the test if that takes longer than PATIENCE.
async fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    tokio::time::timeout(PATIENCE, s.read_exact(&mut buf)).await.expect("data in time").expect("read the data");
    buf
}

/// Reads until the peer closes; returns what came and how the stream ended.
async fn read_to_close(s: &mut TcpStream) -> (Vec<u8>, std::io::Result<()>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(PATIENCE, s.read(&mut buf)).await.expect("the connection closes in time") {
            Ok(0) => return (got, Ok(())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return (got, Err(e)),
        }
    }
}

async fn echo_once(s: &mut TcpStream, payload: &[u8]) {
    s.write_all(payload).await.expect("write");
    assert_eq!(read_n(s, payload.len()).await, payload);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxiproxy_rust_client_drives_the_api() {
    let f = Fixture::new().await;
    let echo = f.echo.to_string();
    let (version, names, toxics_after_add, toxics_after_delete, disabled, enabled, after_delete) = f
        .client(move |c| {
            assert!(c.is_running());
            let version = c.version().expect("version");
            c.populate(vec![
                ProxyPack::new("a".into(), "127.0.0.1:0".into(), echo.clone()),
                ProxyPack::new("b".into(), "127.0.0.1:0".into(), echo),
            ])
            .expect("populate");
            let mut names: Vec<String> = c.all().expect("all").into_keys().collect();
            names.sort();
            let a = c.find_proxy("a").expect("find a");
            a.with_latency("downstream".into(), 10, 5, 1.0).with_limit_data("upstream".into(), 100, 0.5);
            let toxics_after_add: Vec<(String, String, f32)> =
                a.toxics().expect("toxics").into_iter().map(|t| (t.name, t.stream, t.toxicity)).collect();
            a.delete_all_toxics().expect("delete all toxics");
            let toxics_after_delete = a.toxics().expect("toxics").len();
            a.disable().expect("disable");
            let disabled = c.find_proxy("a").expect("find a").proxy_pack.enabled;
            c.find_and_reset_proxy("a").expect("reset a");
            let enabled = c.find_proxy("a").expect("find a").proxy_pack.enabled;
            a.delete().expect("delete");
            let after_delete = c.find_proxy("a").is_err();
            (version, names, toxics_after_add, toxics_after_delete, disabled, enabled, after_delete)
        })
        .await;
    assert_eq!(serde_json::from_str::<Value>(&version).expect("JSON version"), json!({"version": "2.12.0"}));
    assert_eq!(names, ["a", "b"]);
    // Upstream toxics are listed first, as toxiproxy does.
    assert_eq!(
        toxics_after_add,
        [
            ("limit_data_upstream".into(), "upstream".into(), 0.5),
            ("latency_downstream".into(), "downstream".into(), 1.0)
        ]
    );
    assert_eq!(toxics_after_delete, 0);
    assert!(!disabled, "disable() left the proxy enabled");
    assert!(enabled, "find_and_reset_proxy() left the proxy disabled");
    assert!(after_delete, "a deleted proxy is still found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_drives_the_api() {
    let f = Fixture::new().await;
    let ci = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ci");
    let present = tokio::process::Command::new("python3").args(["-c", "import toxiproxy"]).output().await;
    match present {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "the Python package toxiproxy-python is not installed: run bash ci/setup.sh\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("python3 cannot run ({e}): run bash ci/setup.sh"),
    }
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("python3")
            .arg(ci.join("toxiproxy_python.py"))
            .arg(f.server.addr.to_string())
            .arg(f.echo.to_string())
            .output(),
    )
    .await
    .expect("the Python client finishes")
    .expect("python3 runs");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "ci/toxiproxy_python.py failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_delays_data_by_at_least_the_latency() {
    let f = Fixture::new().await;
    let proxy = f.proxy("latency").await;
    f.client(|c| {
        c.find_proxy("latency").expect("proxy").with_latency("downstream".into(), 300, 0, 1.0);
    })
    .await;
    let mut s = connect(proxy).await;
    for _ in 0..2 {
        let start = Instant::now();
        echo_once(&mut s, b"ping").await;
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(300), "round trip took {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_limits_throughput() {
    let f = Fixture::new().await;
    let proxy = f.proxy("bandwidth").await;
    // 100 KB/s (toxiproxy's KB is 1000 bytes): 50,000 bytes take 500 ms.
    f.client(|c| {
        c.find_proxy("bandwidth").expect("proxy").with_bandwidth("downstream".into(), 100, 1.0);
    })
    .await;
    let mut s = connect(proxy).await;
    let payload: Vec<u8> = (0..50_000u32).map(|i| i as u8).collect();
    let start = Instant::now();
    let (mut r, mut w) = s.split();
    let (_, got) = tokio::join!(w.write_all(&payload), async {
        let mut buf = vec![0; payload.len()];
        tokio::time::timeout(PATIENCE, r.read_exact(&mut buf)).await.expect("in time").expect("read");
        buf
    });
    let took = start.elapsed();
    assert_eq!(got, payload);
    assert!(took >= Duration::from_millis(490), "50,000 bytes at 100 KB/s took {took:?}");
}

/// Kafka clients pipeline requests, so small answers reach the proxy back to back. An answer
/// that arrives while the toxic still holds the one before must follow it once its time is up,
/// not wait for more bytes: it once stayed until the next answer came (a consumer's ListOffsets
/// answer held 4.5 s, its Fetch answer for good).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_delivers_answers_that_arrive_back_to_back() {
    let f = Fixture::new().await;
    let proxy = f.proxy("pipelined").await;
    f.client(|c| {
        c.find_proxy("pipelined").expect("proxy").with_bandwidth("downstream".into(), 32, 1.0);
    })
    .await;
    let mut s = connect(proxy).await;
    for round in 0..40u8 {
        // A piece so small that its time is up as soon as the one before leaves (timers fire
        // late, and the toxic carries the lateness over), behind one the toxic holds.
        let pieces = [vec![round; 48], vec![round; 3], vec![round; 3]];
        for p in &pieces {
            s.write_all(p).await.expect("write");
            tokio::time::sleep(Duration::from_micros(300)).await;
        }
        let total: usize = pieces.iter().map(Vec::len).sum();
        let mut buf = vec![0; total];
        tokio::time::timeout(PATIENCE, s.read_exact(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("round {round}: the last answer never came"))
            .expect("read");
        assert_eq!(buf, pieces.concat(), "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_close_delays_the_close() {
    let f = Fixture::new().await;
    let proxy = f.proxy("slow_close").await;
    f.client(|c| {
        c.find_proxy("slow_close").expect("proxy").with_slow_close("downstream".into(), 300, 1.0);
    })
    .await;
    let mut s = connect(proxy).await;
    echo_once(&mut s, b"data passes").await;
    let start = Instant::now();
    s.shutdown().await.expect("half-close");
    let (rest, end) = read_to_close(&mut s).await;
    let took = start.elapsed();
    assert!(rest.is_empty() && end.is_ok(), "{rest:?} {end:?}");
    assert!(took >= Duration::from_millis(300), "closed after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_stops_data_and_closes_after_the_timeout() {
    let f = Fixture::new().await;
    let proxy = f.proxy("timeout").await;
    f.client(|c| {
        c.find_proxy("timeout").expect("proxy").with_timeout("downstream".into(), 300, 1.0);
    })
    .await;
    let start = Instant::now();
    let mut s = connect(proxy).await;
    s.write_all(b"never echoed").await.expect("write");
    let (got, end) = read_to_close(&mut s).await;
    let took = start.elapsed();
    assert!(got.is_empty(), "data passed a timeout toxic: {got:?}");
    assert!(end.is_ok(), "{end:?}");
    assert!(took >= Duration::from_millis(300), "closed after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_zero_added_live_holds_data_until_removed_then_closes() {
    let f = Fixture::new().await;
    let proxy = f.proxy("hold").await;
    let mut s = connect(proxy).await;
    echo_once(&mut s, b"before").await;
    // Added while the connection is live: it applies to it.
    f.client(|c| {
        c.find_proxy("hold").expect("proxy").with_timeout("downstream".into(), 0, 1.0);
    })
    .await;
    s.write_all(b"held").await.expect("write");
    let mut buf = [0u8; 16];
    let held = tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await;
    assert!(held.is_err(), "data or a close came through a timeout 0 toxic: {held:?}");
    // toxiproxy's timeout toxic closes the connection when removed (its Cleanup).
    let (status, _) = f.http("DELETE", "/proxies/hold/toxics/timeout_downstream", "").await;
    assert_eq!(status, 204);
    let (got, end) = read_to_close(&mut s).await;
    assert!(got.is_empty() && end.is_ok(), "{got:?} {end:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_peer_resets_the_connection() {
    let f = Fixture::new().await;
    let proxy = f.proxy("reset").await;
    // toxiproxy_rust has no reset_peer; the raw API does.
    let toxic = r#"{"type":"reset_peer","attributes":{"timeout":200}}"#;
    let (status, shown) = f.http("POST", "/proxies/reset/toxics", toxic).await;
    assert_eq!(
        (status, &shown["name"], &shown["attributes"]),
        (200, &json!("reset_peer_downstream"), &json!({"timeout": 200}))
    );
    let start = Instant::now();
    let mut s = connect(proxy).await;
    s.write_all(b"ping").await.expect("write");
    let (got, end) = read_to_close(&mut s).await;
    let took = start.elapsed();
    assert!(got.is_empty(), "{got:?}");
    assert_eq!(end.map_err(|e| e.kind()), Err(ErrorKind::ConnectionReset));
    assert!(took >= Duration::from_millis(200), "reset after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slicer_delivers_the_data_in_several_reads() {
    let f = Fixture::new().await;
    let proxy = f.proxy("slicer").await;
    // 10-byte slices, 10 ms apart.
    f.client(|c| {
        c.find_proxy("slicer").expect("proxy").with_slicer("downstream".into(), 10, 0, 10_000, 1.0);
    })
    .await;
    let mut s = connect(proxy).await;
    let payload: Vec<u8> = (0..100u8).collect();
    s.write_all(&payload).await.expect("write");
    let mut got = Vec::new();
    let mut reads = 0;
    let mut buf = [0u8; 1024];
    while got.len() < payload.len() {
        let n = tokio::time::timeout(PATIENCE, s.read(&mut buf)).await.expect("in time").expect("read");
        assert!(n > 0, "closed early");
        got.extend_from_slice(&buf[..n]);
        reads += 1;
    }
    assert_eq!(got, payload);
    assert!(reads >= 3, "100 bytes in 10-byte slices came in {reads} reads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_data_closes_after_the_limit() {
    let f = Fixture::new().await;
    let proxy = f.proxy("limit").await;
    f.client(|c| {
        c.find_proxy("limit").expect("proxy").with_limit_data("downstream".into(), 10, 1.0);
    })
    .await;
    let mut s = connect(proxy).await;
    s.write_all(b"0123456789abcdefghij").await.expect("write");
    let (got, end) = read_to_close(&mut s).await;
    assert_eq!(got, b"0123456789");
    assert!(end.is_ok(), "{end:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxicity_zero_has_no_effect() {
    let f = Fixture::new().await;
    let proxy = f.proxy("lucky").await;
    // A timeout toxic that acted would swallow everything.
    f.client(|c| {
        c.find_proxy("lucky").expect("proxy").with_timeout("downstream".into(), 0, 0.0);
    })
    .await;
    for _ in 0..5 {
        let mut s = connect(proxy).await;
        echo_once(&mut s, b"unharmed").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_cuts_connections_and_refuses_new_ones_until_enabled() {
    let f = Fixture::new().await;
    let proxy = f.proxy("switch").await;
    let mut live = connect(proxy).await;
    echo_once(&mut live, b"up").await;

    f.client(|c| c.find_proxy("switch").expect("proxy").disable().expect("disable")).await;
    let (got, _) = read_to_close(&mut live).await;
    assert!(got.is_empty());
    let refused = TcpStream::connect(proxy).await.map(|_| ()).map_err(|e| e.kind());
    assert_eq!(refused, Err(ErrorKind::ConnectionRefused));
    let (_, shown) = f.http("GET", "/proxies/switch", "").await;
    assert_eq!(shown["enabled"], json!(false));

    f.client(|c| c.find_proxy("switch").expect("proxy").enable().expect("enable")).await;
    let mut again = connect(proxy).await;
    echo_once(&mut again, b"up again, same address").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_toxic_heals_a_live_connection() {
    let f = Fixture::new().await;
    let proxy = f.proxy("heal").await;
    f.client(|c| {
        c.find_proxy("heal").expect("proxy").with_latency("downstream".into(), 60_000, 0, 1.0);
    })
    .await;
    let mut s = connect(proxy).await;
    s.write_all(b"held").await.expect("write");
    let mut buf = [0u8; 4];
    let held = tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await;
    assert!(held.is_err(), "data passed a 60 s latency: {held:?}");
    f.client(|c| c.find_proxy("heal").expect("proxy").delete_all_toxics().expect("delete")).await;
    // What the toxic held comes through, and so does what follows, well before 60 s.
    assert_eq!(read_n(&mut s, 4).await, b"held");
    echo_once(&mut s, b"healed").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updating_listen_or_upstream_moves_the_proxy() {
    let f = Fixture::new().await;
    let proxy = f.proxy("moving").await;
    let mut live = connect(proxy).await;
    echo_once(&mut live, b"first upstream").await;

    // A second upstream that greets instead of echoing.
    let greeter = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let greeter_addr = greeter.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = greeter.accept().await {
            let _ = s.write_all(b"second").await;
        }
    });
    let body = json!({"upstream": greeter_addr.to_string()}).to_string();
    let (status, shown) = f.http("POST", "/proxies/moving", &body).await;
    assert_eq!((status, &shown["upstream"], &shown["enabled"]), (200, &json!(greeter_addr.to_string()), &json!(true)));
    // A new upstream restarts the proxy: live connections close, new ones reach the new upstream.
    let _closed = read_to_close(&mut live).await;
    let mut s = connect(proxy).await;
    assert_eq!(read_n(&mut s, 6).await, b"second");

    let (status, shown) = f.http("PATCH", "/proxies/moving", r#"{"listen":"127.0.0.1:0"}"#).await;
    assert_eq!(status, 200);
    let moved: SocketAddr = shown["listen"].as_str().and_then(|l| l.parse().ok()).expect("new address");
    assert_ne!(moved, proxy);
    assert_eq!(TcpStream::connect(proxy).await.map(|_| ()).map_err(|e| e.kind()), Err(ErrorKind::ConnectionRefused));
    let mut s = connect(moved).await;
    assert_eq!(read_n(&mut s, 6).await, b"second");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_toxics_act_on_client_to_server_bytes() {
    let f = Fixture::new().await;
    let proxy = f.proxy("up").await;
    f.client(|c| {
        c.find_proxy("up").expect("proxy").with_limit_data("upstream".into(), 4, 1.0);
    })
    .await;
    let mut s = connect(proxy).await;
    s.write_all(b"0123456789").await.expect("write");
    // The server gets 4 bytes and the proxy closes both sides; the echo of those 4 may or may
    // not make it back before the close, never more.
    let (got, _) = read_to_close(&mut s).await;
    assert!(b"0123".starts_with(&got), "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_have_toxiproxys_status_and_json() {
    let f = Fixture::new().await;
    let echo = f.echo.to_string();
    let create = json!({"name": "p", "listen": "127.0.0.1:0", "upstream": echo}).to_string();
    let err = |status: u16, message: &str| (status, json!({"error": message, "status": status}));

    assert_eq!(f.http("GET", "/proxies/nope", "").await, err(404, "proxy not found"));
    assert_eq!(f.http("DELETE", "/proxies/nope", "").await, err(404, "proxy not found"));
    assert_eq!(f.http("POST", "/proxies/nope/toxics", r#"{"type":"latency"}"#).await, err(404, "proxy not found"));
    let (status, created) = f.http("POST", "/proxies", &create).await;
    assert_eq!(status, 201);
    assert_eq!(created["enabled"], json!(true));
    assert_eq!(created["toxics"], json!([]));
    let port = created["listen"].as_str().and_then(|l| l.rsplit_once(':')).map(|(_, p)| p.to_string());
    assert!(port.is_some_and(|p| p != "0"), "listen shows the bound port: {created}");
    assert_eq!(f.http("POST", "/proxies", &create).await, err(409, "proxy already exists"));

    let (status, body) = f.http("POST", "/proxies", "{not json").await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().is_some_and(|e| e.starts_with("bad request body: ")), "{body}");
    assert_eq!(body["status"], json!(400));
    assert_eq!(f.http("POST", "/proxies", r#"{"upstream":"x:1"}"#).await, err(400, "missing required field: name"));

    let (status, body) = f.http("POST", "/proxies/p/toxics", r#"{"type":"gremlins"}"#).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().is_some_and(|e| e.starts_with("invalid toxic type")), "{body}");
    let (status, _) = f.http("POST", "/proxies/p/toxics", r#"{"type":"latency","attributes":{"latency":1.5}}"#).await;
    assert_eq!(status, 400);
    let (status, _) = f.http("POST", "/proxies/p/toxics", r#"{"type":"latency","stream":"up"}"#).await;
    assert_eq!(status, 400);
    let (status, toxic) = f.http("POST", "/proxies/p/toxics", r#"{"type":"latency","stream":"upstream"}"#).await;
    assert_eq!(status, 200);
    assert_eq!(
        toxic,
        json!({"name": "latency_upstream", "type": "latency", "stream": "upstream", "toxicity": 1.0,
               "attributes": {"latency": 0, "jitter": 0}})
    );
    assert_eq!(
        f.http("POST", "/proxies/p/toxics", r#"{"type":"latency","stream":"upstream"}"#).await,
        err(409, "toxic already exists")
    );
    let (status, updated) =
        f.http("POST", "/proxies/p/toxics/latency_upstream", r#"{"attributes":{"latency":9}}"#).await;
    assert_eq!((status, &updated["attributes"]), (200, &json!({"latency": 9, "jitter": 0})));
    assert_eq!(f.http("GET", "/proxies/p/toxics/nope", "").await, err(404, "toxic not found"));
    assert_eq!(f.http("DELETE", "/proxies/p/toxics/nope", "").await, err(404, "toxic not found"));
    assert_eq!(f.http("DELETE", "/proxies/p/toxics/latency_upstream", "").await, (204, Value::Null));
    assert_eq!(f.http("DELETE", "/proxies/p", "").await, (204, Value::Null));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn populate_creates_or_replaces_and_reset_heals_everything() {
    let f = Fixture::new().await;
    let echo = f.echo.to_string();
    let batch = json!([
        {"name": "one", "listen": "127.0.0.1:0", "upstream": echo},
        {"name": "two", "listen": "127.0.0.1:0", "upstream": echo, "enabled": false},
    ])
    .to_string();
    let (status, body) = f.http("POST", "/populate", &batch).await;
    assert_eq!(status, 201);
    let proxies = body["proxies"].as_array().expect("a proxies array");
    assert_eq!(
        proxies.iter().map(|p| (p["name"].clone(), p["enabled"].clone())).collect::<Vec<_>>(),
        [(json!("one"), json!(true)), (json!("two"), json!(false))]
    );
    let one_listen = proxies[0]["listen"].clone();

    // The same entry again keeps the proxy (and its toxics); a changed upstream replaces it.
    f.http("POST", "/proxies/one/toxics", r#"{"type":"timeout","attributes":{"timeout":0}}"#).await;
    let again = json!([{"name": "one", "listen": one_listen, "upstream": echo}]).to_string();
    let (status, body) = f.http("POST", "/populate", &again).await;
    assert_eq!(status, 201);
    assert_eq!(body["proxies"][0]["toxics"].as_array().map(Vec::len), Some(1));
    let (status, body) = f.http("POST", "/populate", r#"[{"name":"x"}]"#).await;
    assert_eq!((status, &body["error"]), (400, &json!("missing required field: upstream at proxy 1")));
    let (status, _) = f.http("POST", "/populate", r#"{"name":"x"}"#).await;
    assert_eq!(status, 400);

    assert_eq!(f.http("POST", "/reset", "").await, (204, Value::Null));
    let (_, all) = f.http("GET", "/proxies", "").await;
    for name in ["one", "two"] {
        assert_eq!((&all[name]["enabled"], &all[name]["toxics"]), (&json!(true), &json!([])), "{all}");
    }
    let addr: SocketAddr = all["one"]["listen"].as_str().and_then(|l| l.parse().ok()).expect("one's address");
    let mut s = connect(addr).await;
    echo_once(&mut s, b"reset healed it").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_prints_its_address_and_stops_on_sigterm() {
    use tokio::io::AsyncBufReadExt as _;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kafka-conformance"))
        .args(["toxiproxy", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start kafka-conformance toxiproxy");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    tokio::time::timeout(PATIENCE, tokio::io::BufReader::new(stdout).read_line(&mut line))
        .await
        .expect("the address in time")
        .expect("read the address");
    let addr: SocketAddr = line.trim().parse().unwrap_or_else(|_| panic!("not an address: {line:?}"));
    let (status, version) = http(addr, "GET", "/version", "").await;
    assert_eq!((status, version), (200, json!({"version": "2.12.0"})));
    let pid = nix::unistd::Pid::from_raw(child.id().expect("pid") as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let status = tokio::time::timeout(PATIENCE, child.wait()).await.expect("exits in time").expect("wait");
    assert!(status.success(), "{status}");
}
