//! The `kafka-reference` command line. It lives in the library so that `kafka-conformance` can
//! run the same broker as a child process of its own binary (`kafka-conformance reference ...`).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use std::collections::BTreeMap;
use std::time::Duration;

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::controller::Controller;
use crate::defects;

#[derive(Parser, Debug)]
#[command(
    name = "kafka-reference",
    version,
    about = "A compact reference Kafka broker with an on-disk log",
    long_about = "A compact reference Kafka broker with an on-disk log. It speaks Kafka's wire protocol \
                  (librdkafka, kcat, confluent-kafka and kafka-python work against it unchanged) and \
                  exists so the conformance suite has a broker that passes every scenario."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run one broker. Prints the bound address on a line of its own once it serves clients.
    /// Without --controller it runs standalone, with a controller of its own in the same process.
    Broker(BrokerArgs),
    /// Run the cluster's controller, which owns metadata and elects leaders. Prints its address
    /// on a line of its own once it accepts connections.
    Controller(ControllerArgs),
    /// Start a controller and N brokers, each its own process, on loopback, and print the
    /// bootstrap address (`host:port,host:port,...`). Stops them all on SIGTERM or Ctrl-C.
    Cluster(ClusterArgs),
    /// List the deliberate defects this build can turn on with `broker --defect NAME`.
    Defects,
}

#[derive(clap::Args, Debug)]
pub struct BrokerArgs {
    /// Address to listen on. Port 0 picks a free port. Loopback unless you say otherwise.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub listen: SocketAddr,
    /// Directory for the log segments, topic metadata and meta.properties. Created if missing.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// HOST:PORT that Metadata tells clients to connect to (default: the bound address), e.g.
    /// a fault proxy in front of this broker.
    #[arg(long)]
    pub advertise: Option<String>,
    /// A broker config with Kafka's name, e.g. `--config log.segment.bytes=1048576`. Repeatable.
    /// Known: node.id, socket.request.max.bytes, auto.create.topics.enable, num.partitions,
    /// default.replication.factor, and the topic defaults log.segment.bytes, log.roll.ms,
    /// log.retention.ms, log.retention.bytes, log.cleanup.policy, log.flush.interval.messages
    /// (default 1: fsync every write), log.flush.interval.ms, log.index.interval.bytes,
    /// log.message.timestamp.type, message.max.bytes, min.insync.replicas.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub configs: Vec<String>,
    /// Turn on a named deliberate defect (builds with the `defects` feature only). Repeatable.
    #[arg(long = "defect", value_name = "NAME")]
    pub defects: Vec<String>,
    /// HOST:PORT of the cluster's controller (`kafka-reference controller`). Without it the
    /// broker runs its own controller in-process, on a loopback port, with data in
    /// `<data-dir>/controller`: a one-broker cluster.
    #[arg(long)]
    pub controller: Option<String>,
    /// `ID=HOST:PORT`: reach broker ID at this address for replication instead of the address
    /// it advertises (e.g. a fault proxy on the link between two brokers). Repeatable.
    #[arg(long = "peer-address", value_name = "ID=HOST:PORT")]
    pub peer_addresses: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct ControllerArgs {
    /// Address to listen on. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:9093")]
    pub listen: SocketAddr,
    /// Directory for the metadata log (`__cluster_metadata-0`). Created if missing.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// A config with Kafka's name; the controller uses broker.session.timeout.ms,
    /// broker.heartbeat.interval.ms, auto.leader.rebalance.enable,
    /// leader.imbalance.check.interval.seconds, num.partitions, default.replication.factor and
    /// the topic defaults, and accepts every broker config so one list serves both. Repeatable.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub configs: Vec<String>,
    /// Turn on a named deliberate defect (builds with the `defects` feature only). Repeatable.
    #[arg(long = "defect", value_name = "NAME")]
    pub defects: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct ClusterArgs {
    /// How many brokers (node ids 1..=N).
    #[arg(long, default_value_t = 3)]
    pub brokers: u16,
    /// Directory for every process's data: `controller/` and `broker-N/`. Created if missing.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// A broker config with Kafka's name, given to the controller and every broker. Repeatable.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub configs: Vec<String>,
}

/// Entry point for `kafka-reference` (and `kafka-conformance reference`).
pub fn main_from<I, T>(args: I) -> std::process::ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { std::process::ExitCode::from(2) } else { std::process::ExitCode::SUCCESS };
        }
    };
    match cli.command {
        Command::Defects => {
            // writeln! rather than println!: `kafka-reference defects | head` must not panic
            // when the reader goes away.
            let mut out = std::io::stdout().lock();
            let mut list = || -> std::io::Result<()> {
                if !cfg!(feature = "defects") {
                    writeln!(out, "(this build has no defect registry; rebuild with --features defects to use them)")?;
                }
                for d in defects::REGISTRY {
                    writeln!(out, "{:<32} breaks: {}", d.name, d.guarantee)?;
                    for s in d.caught_by {
                        writeln!(out, "{:<32}   caught by: {s}", "")?;
                    }
                }
                Ok(())
            };
            let _ = list();
            std::process::ExitCode::SUCCESS
        }
        Command::Broker(args) => exit(run_broker(args)),
        Command::Controller(args) => exit(run_controller(args)),
        Command::Cluster(args) => exit(run_cluster(args)),
    }
}

fn exit(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kafka-reference: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Logging, configs and defects: what every long-running command sets up first.
fn prepare(configs: &[String], defect_names: &[String]) -> anyhow::Result<BrokerConfig> {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .try_init();
    let mut config = BrokerConfig::default();
    for kv in configs {
        let (k, v) = kv.split_once('=').ok_or_else(|| anyhow::anyhow!("--config {kv:?}: expected KEY=VALUE"))?;
        config.set(k.trim(), v.trim()).map_err(|e| anyhow::anyhow!("--config {kv}: {e}"))?;
    }
    let mut on = Vec::new();
    for name in defect_names {
        let info = defects::by_name(name).ok_or_else(|| {
            let known: Vec<_> = defects::REGISTRY.iter().map(|d| d.name).collect();
            anyhow::anyhow!("unknown defect {name:?}; known: {}", known.join(", "))
        })?;
        on.push(info.defect);
    }
    defects::activate(on).map_err(|e| anyhow::anyhow!(e))?;
    Ok(config)
}

/// The one line a supervisor waits for: an address, alone.
fn announce(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// Whether `--config` sets `key`.
fn configured(configs: &[String], key: &str) -> bool {
    configs.iter().any(|kv| kv.split_once('=').is_some_and(|(k, _)| k.trim() == key))
}

fn run_broker(args: BrokerArgs) -> anyhow::Result<()> {
    let mut config = prepare(&args.configs, &args.defects)?;
    if args.controller.is_none() {
        // A one-broker cluster, as Kafka's shipped single-node server.properties sets it.
        if !configured(&args.configs, "offsets.topic.replication.factor") {
            config.offsets_topic_replication_factor = 1;
        }
        if !configured(&args.configs, "transaction.state.log.replication.factor") {
            config.transaction_state_log_replication_factor = 1;
        }
        if !configured(&args.configs, "transaction.state.log.min.isr") {
            config.transaction_state_log_min_isr = 1;
        }
    }
    let mut peers = BTreeMap::new();
    for p in &args.peer_addresses {
        let (id, addr) =
            p.split_once('=').ok_or_else(|| anyhow::anyhow!("--peer-address {p:?}: expected ID=HOST:PORT"))?;
        let id: i32 = id.trim().parse().map_err(|_| anyhow::anyhow!("--peer-address {p:?}: bad broker id"))?;
        parse_host_port(addr.trim())?;
        peers.insert(id, addr.trim().to_string());
    }

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
        let bound = listener.local_addr()?;
        let advertised = match &args.advertise {
            Some(a) => parse_host_port(a)?,
            None => (bound.ip().to_string(), i32::from(bound.port())),
        };
        let controller = match &args.controller {
            Some(c) => c.clone(),
            None => {
                // Standalone: this process is a one-broker cluster with its own controller.
                let c = Controller::open(config.clone(), &args.data_dir.join("controller"), true)?;
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                let addr = l.local_addr()?.to_string();
                tokio::spawn(crate::controller::serve(l, c, std::future::pending()));
                addr
            }
        };
        let session = Duration::from_millis(config.broker_session_timeout_ms);
        let broker = Broker::new(config, &args.data_dir, advertised, controller, peers)?;
        broker.start();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(crate::server::serve(listener, broker.clone(), async move {
            let _ = stopped.await;
        }));
        let signal = shutdown_signal();
        tokio::pin!(signal);
        tokio::select! {
            () = broker.wait_ready() => announce(&bound.to_string())?,
            () = &mut signal => {
                let _ = stop.send(());
                return Ok(());
            }
        }
        signal.await;
        broker.shutdown(session).await;
        let _ = stop.send(());
        let _ = server.await;
        Ok(())
    });
    // Everything is flushed; background tasks (a long-polling fetch, a name lookup on the
    // blocking pool) need not finish.
    runtime.shutdown_timeout(Duration::from_millis(100));
    result
}

fn run_controller(args: ControllerArgs) -> anyhow::Result<()> {
    let config = prepare(&args.configs, &args.defects)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
        let bound = listener.local_addr()?;
        let controller = Controller::open(config, &args.data_dir, false)?;
        announce(&bound.to_string())?;
        crate::controller::serve(listener, controller, shutdown_signal()).await;
        Ok(())
    })
}

/// Spawns this same program as `controller` and `broker` children and reads their address lines.
fn run_cluster(args: ClusterArgs) -> anyhow::Result<()> {
    let _ = prepare(&args.configs, &[])?;
    if args.brokers == 0 {
        anyhow::bail!("--brokers must be at least 1");
    }
    let exe = std::env::current_exe()?;
    // The arguments before `cluster` (e.g. `reference` for kafka-conformance) run the same CLI.
    let prefix: Vec<String> = std::env::args().skip(1).take_while(|a| a != "cluster").collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async move {
        let mut children = Vec::new();
        let spawn = |role: &str, extra: Vec<String>| -> anyhow::Result<tokio::process::Child> {
            let mut cmd = tokio::process::Command::new(&exe);
            cmd.args(&prefix).arg(role).args(extra);
            if !configured(&args.configs, "offsets.topic.replication.factor") {
                // Kafka's default of 3, or every broker when there are fewer.
                cmd.arg("--config").arg(format!("offsets.topic.replication.factor={}", args.brokers.min(3)));
            }
            if !configured(&args.configs, "transaction.state.log.replication.factor") {
                cmd.arg("--config").arg(format!("transaction.state.log.replication.factor={}", args.brokers.min(3)));
            }
            if !configured(&args.configs, "transaction.state.log.min.isr") {
                // Kafka's default of 2, or 1 for a one-broker cluster.
                cmd.arg("--config").arg(format!("transaction.state.log.min.isr={}", args.brokers.min(2)));
            }
            for c in &args.configs {
                cmd.arg("--config").arg(c);
            }
            cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::piped()).kill_on_drop(true);
            Ok(cmd.spawn()?)
        };
        let first_line = |child: &mut tokio::process::Child, what: String| {
            let stdout = child.stdout.take();
            async move {
                use tokio::io::AsyncBufReadExt;
                let stdout = stdout.ok_or_else(|| anyhow::anyhow!("{what}: no stdout"))?;
                let mut lines = tokio::io::BufReader::new(stdout).lines();
                let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
                    .await
                    .map_err(|_| anyhow::anyhow!("{what} did not start within 60 s"))??
                    .ok_or_else(|| anyhow::anyhow!("{what} exited during start-up"))?;
                tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
                anyhow::Ok(line.trim().to_string())
            }
        };
        let dir = &args.data_dir;
        let mut controller = spawn(
            "controller",
            vec![
                "--listen".into(),
                "127.0.0.1:0".into(),
                "--data-dir".into(),
                dir.join("controller").display().to_string(),
            ],
        )?;
        let controller_addr = first_line(&mut controller, "the controller".into()).await?;
        let mut bootstrap = Vec::new();
        for id in 1..=args.brokers {
            let mut b = spawn(
                "broker",
                vec![
                    "--listen".into(),
                    "127.0.0.1:0".into(),
                    "--data-dir".into(),
                    dir.join(format!("broker-{id}")).display().to_string(),
                    "--controller".into(),
                    controller_addr.clone(),
                    "--config".into(),
                    format!("node.id={id}"),
                ],
            )?;
            bootstrap.push(first_line(&mut b, format!("broker {id}")).await?);
            children.push(b);
        }
        announce(&bootstrap.join(","))?;
        shutdown_signal().await;
        for c in &children {
            if let Some(pid) = c.id() {
                let _ =
                    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM);
            }
        }
        for mut c in children {
            let _ = tokio::time::timeout(Duration::from_secs(30), c.wait()).await;
        }
        if let Some(pid) = controller.id() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM);
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), controller.wait()).await;
        Ok(())
    })
}

fn parse_host_port(s: &str) -> anyhow::Result<(String, i32)> {
    let (host, port) = s.rsplit_once(':').ok_or_else(|| anyhow::anyhow!("--advertise {s:?}: expected HOST:PORT"))?;
    let port: u16 = port.parse().map_err(|_| anyhow::anyhow!("--advertise {s:?}: bad port"))?;
    if host.is_empty() {
        anyhow::bail!("--advertise {s:?}: empty host");
    }
    Ok((host.to_string(), i32::from(port)))
}

/// Resolves on SIGTERM or SIGINT: how every long-running command here stops cleanly.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
