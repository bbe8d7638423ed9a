//! A compact reference Kafka broker: real sockets, Kafka's wire protocol through the
//! `kafka-protocol` crate, and an on-disk segmented log. It exists so that the conformance
//! suite has a broker that passes every scenario, and (with the `defects` feature) broken
//! variants that prove each scenario can fail.
//!
//! # Layout
//! - [`server`]: the TCP listener and one task per connection: framing (`socket.request.max.bytes`),
//!   header decoding, protocol errors that close a connection, and writing responses in order.
//! - [`api`]: one file per Kafka API; `api/mod.rs` holds the only dispatch on api key and the
//!   ApiVersions table.
//! - [`broker`]: a broker: the metadata it replays from the controller, the replicas it hosts,
//!   registration and heartbeats, replication between brokers, forwarding admin requests to the
//!   controller, and periodic upkeep; one submodule per concern.
//! - [`partition`]: one partition replica: its log, leader or follower role, high watermark,
//!   leader epoch cache, producer state and the append path. Handlers and coordinators call its
//!   operations.
//! - [`coordinator`]: the runtime of a coordinator on an internal compacted topic: ownership,
//!   loading on leadership, writes answered once replicated.
//! - [`group`]: the group coordinator, on `__consumer_offsets`.
//! - [`txn`]: the transaction coordinator, on `__transaction_state`: its state machine, records
//!   and the markers it sends.
//! - [`topic`]: topics as the metadata describes them, and their name rules.
//! - [`controller`]: the cluster's one controller: broker registration and fencing, topic
//!   creation, leader election and ISR changes, written to the metadata log.
//! - [`metadata`]: the metadata log's records and the image brokers build from them.
//! - [`client`]: the client side of the protocol, for traffic between the cluster's processes.
//! - [`config`]: broker and topic configuration with Kafka's names, types and defaults.
//! - [`log`]: the storage contract ([`log::Log`]) and its implementations, with one reusable suite.
//! - [`defects`]: the registry of deliberate defects (only with the `defects` feature).
//!
//! `reference/README.md` draws how a produce and a fetch flow through these files.

pub mod api;
pub mod broker;
pub mod cli;
pub mod client;
pub mod config;
pub mod controller;
pub mod coordinator;
pub mod defects;
pub mod group;
pub mod log;
pub mod metadata;
pub mod partition;
pub mod server;
pub mod topic;
pub mod txn;

/// Wall-clock milliseconds since the epoch, as Kafka's `time.milliseconds()`.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
