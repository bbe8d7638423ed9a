//! The `kafka-reference` command line. It lives in the library so that `kafka-conformance` can
//! run the same broker as a child process of its own binary (`kafka-conformance reference ...`).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::broker::Broker;
use crate::config::BrokerConfig;
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
    /// Run one broker. Prints the bound address on a line of its own once it accepts connections.
    Broker(BrokerArgs),
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
        Command::Broker(args) => match run_broker(args) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("kafka-reference: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
    }
}

fn run_broker(args: BrokerArgs) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .try_init();

    let mut config = BrokerConfig::default();
    for kv in &args.configs {
        let (k, v) = kv.split_once('=').ok_or_else(|| anyhow::anyhow!("--config {kv:?}: expected KEY=VALUE"))?;
        config.set(k.trim(), v.trim()).map_err(|e| anyhow::anyhow!("--config {kv}: {e}"))?;
    }
    let mut on = Vec::new();
    for name in &args.defects {
        let info = defects::by_name(name).ok_or_else(|| {
            let known: Vec<_> = defects::REGISTRY.iter().map(|d| d.name).collect();
            anyhow::anyhow!("unknown defect {name:?}; known: {}", known.join(", "))
        })?;
        on.push(info.defect);
    }
    defects::activate(on).map_err(|e| anyhow::anyhow!(e))?;

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
        let bound = listener.local_addr()?;
        let advertised = match &args.advertise {
            Some(a) => parse_host_port(a)?,
            None => (bound.ip().to_string(), i32::from(bound.port())),
        };
        let broker = Arc::new(Broker::open(config, &args.data_dir, advertised)?);
        // The one line a supervisor waits for: the address, alone, once connections are accepted.
        let mut out = std::io::stdout().lock();
        writeln!(out, "{bound}")?;
        out.flush()?;
        drop(out);

        crate::server::serve(listener, broker.clone(), shutdown_signal()).await;
        broker.shutdown();
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
