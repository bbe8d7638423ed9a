//! One file per Kafka API. This file holds the only dispatch on api key and the table of
//! versions this broker advertises in ApiVersions. APIs that are not in the table are not
//! advertised, and a request for one closes the connection as Kafka does for an unknown key.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseKind};

use crate::broker::Broker;

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod api_versions;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_producers;
pub mod describe_transactions;
pub mod end_txn;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod list_transactions;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sync_group;
pub mod txn_offset_commit;
pub mod write_txn_markers;

/// The versions of one API: what ApiVersions advertises, and what this broker accepts.
///
/// They differ only for Produce: Kafka 4 removed Produce v0-v2 (KIP-896) but still advertises
/// them, because librdkafka before 2.10 disables compression when Produce v0 is missing
/// (KAFKA-18659). A request at such a version is refused like any other disabled version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    pub advertised_min: i16,
    pub min: i16,
    pub max: i16,
}

impl Versions {
    pub fn enabled(&self, version: i16) -> bool {
        (self.min..=self.max).contains(&version)
    }
}

impl fmt::Display for Versions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", self.min, self.max)
    }
}

const fn v(min: i16, max: i16) -> Versions {
    Versions { advertised_min: min, min, max }
}

/// The ApiVersions table. Maxima stop where a newer version would promise semantics this broker
/// does not implement yet (e.g. Produce v13 names topics by id).
pub const SUPPORTED: &[(ApiKey, Versions)] = &[
    (ApiKey::Produce, Versions { advertised_min: 0, min: 3, max: 12 }),
    (ApiKey::Fetch, v(4, 16)),
    (ApiKey::ListOffsets, v(1, 8)),
    (ApiKey::Metadata, v(0, 12)),
    (ApiKey::ApiVersions, v(0, 4)),
    (ApiKey::CreateTopics, v(2, 7)),
    (ApiKey::DeleteTopics, v(1, 6)),
    (ApiKey::DescribeConfigs, v(1, 4)),
    (ApiKey::CreatePartitions, v(0, 3)),
    (ApiKey::IncrementalAlterConfigs, v(0, 1)),
    (ApiKey::DescribeCluster, v(0, 1)),
    (ApiKey::OffsetForLeaderEpoch, v(2, 4)),
    (ApiKey::InitProducerId, v(0, 5)),
    (ApiKey::DeleteRecords, v(0, 2)),
    // Groups: the classic protocol. OffsetCommit v9 and OffsetFetch v9 belong to KIP-848's
    // member epochs, FindCoordinator v5+ to KIP-890 and share groups.
    (ApiKey::FindCoordinator, v(0, 4)),
    (ApiKey::JoinGroup, v(2, 9)),
    (ApiKey::SyncGroup, v(0, 5)),
    (ApiKey::Heartbeat, v(0, 4)),
    (ApiKey::LeaveGroup, v(0, 5)),
    (ApiKey::OffsetCommit, v(2, 8)),
    (ApiKey::OffsetFetch, v(1, 8)),
    (ApiKey::ListGroups, v(0, 4)),
    (ApiKey::DescribeGroups, v(0, 5)),
    (ApiKey::DeleteGroups, v(0, 2)),
    (ApiKey::OffsetDelete, v(0, 0)),
    // Transactions (KIP-98). EndTxn v5, TxnOffsetCommit v5 and Produce v12 are transaction
    // version 2 (KIP-890 part 2); clients use them when ApiVersions finalizes the
    // `transaction.version` feature at 2.
    (ApiKey::AddPartitionsToTxn, v(0, 5)),
    (ApiKey::AddOffsetsToTxn, v(0, 4)),
    (ApiKey::EndTxn, v(0, 5)),
    (ApiKey::WriteTxnMarkers, v(1, 1)),
    (ApiKey::TxnOffsetCommit, v(0, 5)),
    (ApiKey::DescribeProducers, v(0, 0)),
    (ApiKey::DescribeTransactions, v(0, 0)),
    (ApiKey::ListTransactions, v(0, 1)),
];

pub fn versions(key: ApiKey) -> Option<Versions> {
    SUPPORTED.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// Everything a handler may need besides the request body.
pub struct RequestContext {
    pub broker: Arc<Broker>,
    pub header: RequestHeader,
    pub version: i16,
    pub peer: SocketAddr,
}

/// What a handler asks the connection to do.
pub enum Reply {
    Send(Box<ResponseKind>),
    /// Nothing is sent back: Produce with `acks=0` that succeeded.
    Nothing,
    /// Close the connection: how Kafka reports an error to an `acks=0` producer.
    Close(String),
}

/// Applies one decoded request.
pub async fn handle(ctx: &RequestContext, request: RequestKind) -> Reply {
    let response = match request {
        RequestKind::ApiVersions(r) => ResponseKind::ApiVersions(api_versions::handle(ctx, r)),
        RequestKind::Metadata(r) => ResponseKind::Metadata(metadata::handle(ctx, r).await),
        RequestKind::Produce(r) => return produce::handle(ctx, r).await,
        RequestKind::Fetch(r) => ResponseKind::Fetch(fetch::handle(ctx, r).await),
        RequestKind::ListOffsets(r) => ResponseKind::ListOffsets(list_offsets::handle(ctx, r)),
        RequestKind::CreateTopics(r) => ResponseKind::CreateTopics(create_topics::handle(ctx, r).await),
        RequestKind::DeleteTopics(r) => ResponseKind::DeleteTopics(delete_topics::handle(ctx, r).await),
        RequestKind::CreatePartitions(r) => ResponseKind::CreatePartitions(create_partitions::handle(ctx, r).await),
        RequestKind::DescribeConfigs(r) => ResponseKind::DescribeConfigs(describe_configs::handle(ctx, r)),
        RequestKind::IncrementalAlterConfigs(r) => {
            ResponseKind::IncrementalAlterConfigs(incremental_alter_configs::handle(ctx, r).await)
        }
        RequestKind::DescribeCluster(r) => ResponseKind::DescribeCluster(describe_cluster::handle(ctx, r)),
        RequestKind::DeleteRecords(r) => ResponseKind::DeleteRecords(delete_records::handle(ctx, r)),
        RequestKind::InitProducerId(r) => ResponseKind::InitProducerId(init_producer_id::handle(ctx, r).await),
        RequestKind::OffsetForLeaderEpoch(r) => {
            ResponseKind::OffsetForLeaderEpoch(offset_for_leader_epoch::handle(ctx, r))
        }
        RequestKind::FindCoordinator(r) => ResponseKind::FindCoordinator(find_coordinator::handle(ctx, r)),
        RequestKind::JoinGroup(r) => ResponseKind::JoinGroup(join_group::handle(ctx, r).await),
        RequestKind::SyncGroup(r) => ResponseKind::SyncGroup(sync_group::handle(ctx, r).await),
        RequestKind::Heartbeat(r) => ResponseKind::Heartbeat(heartbeat::handle(ctx, r)),
        RequestKind::LeaveGroup(r) => ResponseKind::LeaveGroup(leave_group::handle(ctx, r).await),
        RequestKind::OffsetCommit(r) => ResponseKind::OffsetCommit(offset_commit::handle(ctx, r).await),
        RequestKind::OffsetFetch(r) => ResponseKind::OffsetFetch(offset_fetch::handle(ctx, r)),
        RequestKind::ListGroups(r) => ResponseKind::ListGroups(list_groups::handle(ctx, r)),
        RequestKind::DescribeGroups(r) => ResponseKind::DescribeGroups(describe_groups::handle(ctx, r)),
        RequestKind::DeleteGroups(r) => ResponseKind::DeleteGroups(delete_groups::handle(ctx, r).await),
        RequestKind::OffsetDelete(r) => ResponseKind::OffsetDelete(offset_delete::handle(ctx, r).await),
        RequestKind::AddPartitionsToTxn(r) => {
            ResponseKind::AddPartitionsToTxn(add_partitions_to_txn::handle(ctx, r).await)
        }
        RequestKind::AddOffsetsToTxn(r) => ResponseKind::AddOffsetsToTxn(add_offsets_to_txn::handle(ctx, r).await),
        RequestKind::EndTxn(r) => ResponseKind::EndTxn(end_txn::handle(ctx, r).await),
        RequestKind::WriteTxnMarkers(r) => ResponseKind::WriteTxnMarkers(write_txn_markers::handle(ctx, r).await),
        RequestKind::TxnOffsetCommit(r) => ResponseKind::TxnOffsetCommit(txn_offset_commit::handle(ctx, r).await),
        RequestKind::DescribeProducers(r) => ResponseKind::DescribeProducers(describe_producers::handle(ctx, r)),
        RequestKind::DescribeTransactions(r) => {
            ResponseKind::DescribeTransactions(describe_transactions::handle(ctx, r))
        }
        RequestKind::ListTransactions(r) => ResponseKind::ListTransactions(list_transactions::handle(ctx, r)),
        // The server decodes only keys from SUPPORTED; anything else is a bug here, and closing
        // the connection is what Kafka does for a request it cannot serve.
        other => return Reply::Close(format!("no handler for {:?}", std::mem::discriminant(&other))),
    };
    Reply::Send(Box::new(response))
}

/// A Kafka error code as the `i16` responses carry.
pub fn code(e: kafka_protocol::ResponseError) -> i16 {
    e.code()
}
