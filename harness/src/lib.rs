//! The conformance suite for Kafka semantics: runs Gherkin scenarios against a target broker
//! through real clients, records every operation in a history, and judges it.
//!
//! # Layout
//! - [`target`]: target files (`fixtures/targets/*.yaml`), one schema, validated with clear errors.
//! - [`check`]: `check-target`: reaches every broker, toxiproxy and process command a target
//!   file names, and says what is wrong, a line each.
//! - [`cluster`]: the brokers a scenario talks to; starts reference brokers as real processes.
//! - [`process`]: an external target's process commands (stop, kill, start, pause, resume,
//!   log), held to their contract: return once done, hold no output open, exit 0.
//! - [`faults`]: network faults through toxiproxy's REST API (one registry of named faults).
//! - [`gateway`]: the Kafka-aware half of the fault layer: rewrites the addresses brokers
//!   advertise to their proxies', so no client connection bypasses toxiproxy.
//! - [`metadata`]: what Metadata says (brokers, leaders, ISR), for waiting on elections and for
//!   sending wire requests to a partition's leader.
//! - [`broker_configs`]: the broker configs an external target runs with: DescribeConfigs,
//!   else the target file's declaration, the broker's answer winning over the file.
//! - [`bench`]: `kafka-conformance bench`, produce throughput and latency (not a test).
//! - [`wire`]: a wire-level client on `kafka-protocol` for exact broker checks.
//! - [`requests`]: the Produce, Fetch and ListOffsets requests the steps and the preflight
//!   build, and what their answers say.
//! - [`batches`]: record batches with the harness's own code (never the reference broker's):
//!   encoded, split from fetched bytes, decoded, their stored header read.
//! - [`preflight`]: one probe of each API the suite relies on, judged on its own, before the
//!   scenarios run.
//! - [`kafka`]: librdkafka (`rdkafka`) producers and consumers, recorded in the history.
//! - [`group`]: librdkafka consumers in a consumer group, each on its own thread, with every
//!   rebalance callback recorded; closed, killed (a crash) or stalled as a scenario says.
//! - [`history`]: every operation with its outcome: ok, fail, or unknown.
//! - [`checker`]: judges a history with Jepsen's anomaly names, and holds every judgment a Then
//!   step makes from the history.
//! - [`clock`]: the harness's own clock and the relative times steps name ("2 hours ago").
//! - [`world`] and [`steps`]: the cucumber World and the step vocabulary, one file per domain;
//!   step files never import each other, what they share is in `steps/common.rs`.
//! - [`runner`]: finds scenarios and runs each on its own runtime, classifying the outcome.
//! - [`panics`]: panics on a scenario's threads (a failed step is one) go to its report, with
//!   their backtraces, never to stderr.
//! - [`report`]: `report.md`, `report.json`, `junit.xml` and the histories of failures.
//! - [`toxiproxy`]: an embedded toxiproxy-compatible server (REST API and toxics of toxiproxy
//!   2.x) for network faults, also runnable alone as `kafka-conformance toxiproxy`.

pub mod batches;
pub mod bench;
pub mod broker_configs;
pub mod check;
pub mod checker;
pub mod clock;
pub mod cluster;
pub mod faults;
pub mod gateway;
pub mod group;
pub mod history;
pub mod kafka;
pub mod metadata;
pub mod panics;
pub mod preflight;
pub mod process;
pub mod report;
pub mod requests;
pub mod runner;
pub mod soak;
pub mod steps;
pub mod target;
pub mod toxiproxy;
pub mod wire;
pub mod world;
