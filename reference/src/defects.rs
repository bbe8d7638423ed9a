//! Named, deliberate defects: the proof that every guarantee the suite checks can fail.
//!
//! Each defect breaks exactly one guarantee and names the scenarios that must catch it. The
//! registry is compiled only with the `defects` cargo feature; without it [`active`] is a
//! constant `false` and the optimiser removes every defect branch. `kafka-reference defects`
//! lists them and `--defect NAME` turns one on for one broker process.

use std::sync::OnceLock;

/// One deliberate defect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Defect {
    /// SyncGroup hands every member the group leader's own assignment (breaks "no partition is
    /// assigned to two members, every partition is assigned").
    DoubleAssignOnRebalance,
    /// The group's protocol is the first member's first choice, whether or not every member
    /// offers it (breaks ClassicGroup.selectProtocol's vote among the common protocols).
    ProtocolFromFirstMember,
    /// OffsetCommit from a member of an older generation is accepted (breaks zombie fencing).
    AcceptStaleGenerationCommit,
    /// A coordinator loading `__consumer_offsets` skips the committed offsets (breaks "committed
    /// offsets survive a restart and a coordinator move").
    ForgetOffsetsOnRestart,
    /// A coordinator loading `__consumer_offsets` restores a group's members but not its
    /// generation, which restarts at 0 (breaks "a group keeps its generation across a coordinator
    /// move", and with it generation fencing).
    LoadGroupWithoutGeneration,
    /// Once the leader's SyncGroup is stored, members that have not sent theirs are never
    /// removed (breaks Kafka's pending-sync expiry after the rebalance timeout).
    LeaderSyncForgetsPendingMembers,
    /// Members are never expired for missing heartbeats (breaks `session.timeout.ms`).
    IgnoreSessionTimeout,
    /// LeaveGroup is answered but the member stays until its session times out.
    IgnoreLeaveGroup,
    /// A static member that rejoins is treated as a new member and the group rebalances (breaks
    /// KIP-345).
    RebalanceOnStaticRejoin,
    /// OffsetFetch answers offset 0 for a partition the group never committed, instead of -1,
    /// so a resuming consumer silently starts at 0 (breaks auto.offset.reset for new groups).
    OffsetFetchZeroWhenNone,
    /// OffsetCommit stores only the first partition named for each topic and answers NONE for
    /// the rest (breaks commits of several partitions in one request, as every consumer makes).
    CommitFirstPartitionPerTopic,
    /// A coordinator loading `__consumer_offsets` reads only the first record of each batch, so
    /// the offsets of a commit that named several partitions are lost after a restart (breaks
    /// "committed offsets survive a restart").
    CoordinatorLoadsFirstRecordOfBatch,
    /// A commit below the offset already committed is answered but dropped (breaks "the last
    /// commit is the committed offset": Kafka lets a consumer commit a position it rewound to).
    CommitKeepsHighestOffset,
    /// The metadata string of a committed offset is not kept.
    DropCommitMetadata,
    /// Heartbeat answers NONE during a rebalance instead of REBALANCE_IN_PROGRESS, so members do
    /// not learn that they must rejoin.
    HeartbeatIgnoresRebalance,
    /// Appends stay in a userspace buffer and reach the file only on a clean shutdown, so a
    /// `kill -9` loses acknowledged records (breaks acks durability).
    LoseUnflushedTail,
    /// Recovery after a crash finds where the valid batches end but leaves the bytes after them
    /// in the file, so later appends land behind a torn or corrupt batch (breaks "a damaged log
    /// is cut back to its last valid batch").
    RecoveryKeepsInvalidTail,
    /// Recovery after a crash keeps the index entries it found and appends the rebuilt ones
    /// after them, so lookups can land in the middle of a batch (breaks "indexes are rebuilt").
    RecoveryKeepsStaleIndex,
    /// Opening a log passes over empty segment files, so a log whose records retention all
    /// deleted (leaving one empty segment at the log end) reopens empty at offset 0 (breaks
    /// "offsets are never reused").
    OpenSkipsEmptySegments,
    /// CreateTopics accepts any non-empty topic name: spaces, slashes, non-ASCII characters,
    /// `..` and names over 249 characters (breaks Kafka's `Topic.validate`).
    TopicNamesUnchecked,
    /// The last stable offset is the high watermark, whatever transactions are open (breaks
    /// read_committed: a consumer reads records of transactions not decided yet, G1b/G1a).
    LsoIgnoresOpenTransactions,
    /// read_committed fetches carry no aborted transactions, so consumers keep aborted records
    /// (breaks "read_committed never returns an aborted transaction's records", G1a).
    EmptyAbortedTransactions,
    /// InitProducerId for a transactional id already in use answers its current producer id
    /// and epoch, neither bumping the epoch nor aborting the open transaction (breaks zombie
    /// fencing: two instances share one transaction and the old one can still commit).
    InitProducerIdDoesNotFence,
    /// Partition leaders append a transactional batch without asking the coordinator whether its
    /// partition is in the transaction (breaks KIP-890's verification: a late or stray batch
    /// leaves a hanging transaction).
    SkipTransactionVerification,
    /// A producer with an open transaction may write a non-transactional batch (breaks
    /// INVALID_TXN_STATE for writes outside the transaction).
    AcceptNonTransactionalInTxn,
    /// EndTxn repeating a decision already carried out is INVALID_TXN_STATE instead of NONE
    /// (breaks the producer's retry of a commit whose answer was lost).
    EndTxnRefusesRetry,
    /// The coordinator never aborts a transaction open past its timeout (breaks
    /// `transaction.timeout.ms`: a producer that went away holds the last stable offset, and
    /// every read_committed consumer, back for good).
    TransactionsNeverTimeOut,
    /// A partition refuses a marker whose coordinator epoch is not above the last one it saw
    /// for the producer (TRANSACTION_COORDINATOR_FENCED; Kafka refuses only an older one):
    /// breaks KIP-664's abort tool, which writes with the epoch DescribeProducers shows.
    MarkerNeedsNewerCoordinatorEpoch,
    /// A client's control batch is appended like any other (breaks "only a coordinator writes
    /// markers": a client can end or fake the end of transactions, INVALID_RECORD in Kafka).
    AcceptClientControlBatches,
    /// InitProducerId takes any transaction timeout (breaks INVALID_TRANSACTION_TIMEOUT: a
    /// producer may hold a transaction, and the last stable offset, past
    /// `transaction.max.timeout.ms`).
    AcceptAnyTransactionTimeout,
    /// A broker that opens a partition trusts its aborted-transaction indexes as they are on
    /// disk, even missing or torn (breaks read_committed after a crash: consumers are told of no
    /// aborted transaction and read aborted records).
    AbortedIndexNotRebuilt,
    /// The log cleaner removes transaction markers at once, whatever is left of their
    /// transactions (breaks read_committed after a restart: the rebuilt producer state sees the
    /// committed transaction's records with no marker, an open transaction the last stable
    /// offset never passes).
    CleanerDropsMarkers,
    /// EndTxn v5 decides as transaction version 1 does, keeping the producer's epoch (breaks
    /// transaction version 2: a late batch of one transaction joins the next, KAFKA-17754).
    EndTxnKeepsEpoch,
    /// DescribeProducers answers every producer with no open transaction (CurrentTxnStartOffset
    /// -1), hiding a hanging transaction from Kafka's tools (breaks KIP-664).
    DescribeProducersHidesOpenTransactions,
    /// The log cleaner keeps an aborted transaction's records like any others (breaks Kafka's
    /// cleaner, which removes them whatever their keys).
    CleanerKeepsAbortedRecords,
    /// Transactional ids never expire (breaks `transactional.id.expiration.ms`).
    TransactionalIdsNeverExpire,
    /// A coordinator loading `__transaction_state` installs nothing, as one that keeps
    /// transactions in memory only (breaks "a transaction coordinator's state survives its
    /// move": the producer's next request is INVALID_PRODUCER_ID_MAPPING).
    TxnCoordinatorForgetsOnLoad,
    /// A committed transaction's group offsets are never made visible (breaks
    /// `send_offsets_to_transaction`: the consumer group restarts from its old offsets).
    TxnOffsetsNeverCommitted,
    /// Every append leaves a one-offset hole before the batch (breaks contiguous offsets).
    SkipOffsetOnAppend,
    /// A produced batch is held back and appended after the next one to the same partition
    /// (breaks per-partition order).
    ReorderBatches,
    /// The first batch of each produce request is appended twice (breaks exactly-once reads).
    DuplicateAppend,
    /// Fetch ignores `max_bytes` and `partition_max_bytes` (breaks fetch size limits).
    IgnoreMaxBytes,
    /// Metadata lists every partition of a topic but the last, so producers hash keys over one
    /// partition fewer (breaks "a key's records go to the partition its hash names").
    MetadataOmitsLastPartition,
    /// A waiting fetch returns only once more than `min_bytes` are available, not once
    /// `min_bytes` are (breaks DelayedFetch's `accumulatedSize >= fetchMinBytes`).
    FetchMinBytesExclusive,
    /// Record headers are stripped on append (breaks "the broker stores what the client sent").
    DropHeaders,
    /// A record larger than `max.message.bytes` is accepted (breaks MESSAGE_TOO_LARGE).
    IgnoreMaxMessageBytes,
    /// ListOffsets by timestamp answers the latest offset instead of the first record at or
    /// after the timestamp (breaks ListOffsets).
    ListOffsetsIgnoresTimestamp,
    /// A fetch past the log end answers an empty partition instead of OFFSET_OUT_OF_RANGE
    /// (breaks `auto.offset.reset`).
    HideOffsetOutOfRange,
    /// Fetch returns a first batch larger than the limits only from the first partition the
    /// request names, even when that partition has nothing to return (breaks KIP-74's "the first
    /// partition with records makes progress").
    MinOneOnlyForFirstPartition,
    /// The CRC of a produced compressed batch is not checked, as if decompressing would notice
    /// damage (breaks "a batch that fails its CRC is refused" for every codec but none).
    SkipCrcForCompressedBatches,
    /// A Produce request stops at its first refused partition: the partitions after it are
    /// refused with the same error and nothing of theirs is appended (breaks "each partition of a
    /// produce request succeeds or fails on its own").
    StopProduceAtFirstRefusal,
    /// Fetch answers at once instead of waiting up to `max_wait_ms` for `min_bytes`.
    IgnoreMaxWait,
    /// A malformed frame brings the whole broker down instead of closing one connection.
    CrashOnMalformedFrame,
    /// A request with bytes after its last known field closes the connection, where Kafka
    /// ignores them (breaks librdkafka ≥ 2.1's all-topics Metadata request).
    RefuseTrailingBytes,
    /// A batch refused for some of its records says which in `error_message` only, with no
    /// `record_errors` (breaks KIP-467).
    NoRecordErrors,
    /// Batches are stored in the producer's codec whatever the topic's `compression.type` says
    /// (breaks broker-side recompression).
    IgnoreTopicCompression,
    /// A batch with invalid records is answered with their errors, but its valid records are
    /// appended anyway (a misreading of KIP-467: Kafka refuses the whole batch).
    AppendValidRecordsOfRefusedBatch,
    /// `compression.{gzip,lz4,zstd}.level` are stored without checking KIP-390's ranges.
    UncheckedCompressionLevels,
    /// A recompressed batch loses its producer id, epoch and sequence, so its duplicate is not
    /// recognised (breaks idempotence on topics with a compression.type).
    RecompressDropsProducerId,
    /// A recompressed batch loses its records' headers.
    RecompressDropsHeaders,
    /// A recompressed batch is not checked against max.message.bytes again.
    SkipSizeCheckAfterRecompression,
    /// CreateTopics ignores config names it does not know instead of INVALID_CONFIG.
    AcceptUnknownTopicConfig,
    /// A batch whose CRC does not match is appended instead of refused with CORRUPT_MESSAGE.
    SkipCrcCheck,
    /// A produce to a topic that does not exist creates it instead of UNKNOWN_TOPIC_OR_PARTITION.
    ProduceCreatesUnknownTopics,
    /// `message.timestamp.type=LogAppendTime` keeps the producer's timestamps.
    IgnoreLogAppendTime,
    /// DeleteTopics forgets the topic but leaves its log on disk, where a new topic of the same
    /// name finds it.
    DeleteTopicKeepsLog,
    /// CreatePartitions answers success and adds nothing.
    CreatePartitionsIsANoOp,
    /// IncrementalAlterConfigs answers success and changes nothing.
    AlterConfigsIsANoOp,
    /// DescribeCluster gives each broker a port other than the one Metadata gives.
    DescribeClusterWrongPort,
    /// A produce with acks=0 is answered like acks=1.
    RespondToAcksZero,
    /// Any acks value is accepted and treated as acks=1.
    AcceptAnyAcks,
    /// When a connection ends, the last batch it appended to each partition is rolled back,
    /// acknowledged or not (breaks "acknowledged records survive connection resets").
    LoseLastBatchOnDisconnect,
    /// acks=all is answered as soon as the leader has the batch, without waiting for the ISR
    /// (breaks acks=all durability).
    AckAllBeforeReplicated,
    /// The high watermark follows the leader's log end, whatever the followers have (breaks
    /// "committed means on every ISR member").
    HwIgnoresIsr,
    /// Consumers may read up to the leader's log end, above the high watermark: Fetch serves it
    /// and ListOffsets latest answers it (breaks "no read of a record that may be truncated").
    ServeReadsAboveHw,
    /// A returning follower truncates to its high watermark instead of to the leader's epoch end
    /// offset (Kafka before KIP-101; breaks replica convergence).
    TruncateToHw,
    /// A returning follower cuts its log at the end offset the leader answers without looking
    /// at which epoch that offset belongs to (Kafka between KIP-101 and KIP-279), so after three
    /// leader epochs it can keep records of an epoch the leader never had (breaks convergence).
    TruncateIgnoringAnsweredEpoch,
    /// The controller prefers an out-of-sync replica as the new leader (breaks clean election).
    ElectOutOfSyncLeader,
    /// A follower that stops fetching is never removed from the ISR (breaks availability of
    /// acks=all and the ISR's meaning).
    IsrNeverShrinks,
    /// acks=all is accepted with fewer in-sync replicas than min.insync.replicas.
    IgnoreMinInsyncReplicas,
    /// The controller never fences a broker whose heartbeats stopped, so a dead leader keeps its
    /// partitions (breaks leader failover).
    IgnoreBrokerSessionTimeout,
    /// The controller never moves leadership back to preferred replicas, whatever
    /// auto.leader.rebalance.enable says.
    NoPreferredLeaderElection,
    /// CreateTopics accepts a replication factor larger than the broker count and places as
    /// many replicas as there are brokers.
    AcceptAnyReplicationFactor,
    /// Only an idempotent producer's last batch is remembered, not its last five (breaks dedup
    /// with up to five requests in flight).
    DedupWindowOfOne,
    /// A sequence gap (or a new epoch not starting at 0) is appended instead of refused with
    /// OUT_OF_ORDER_SEQUENCE_NUMBER (breaks idempotent ordering).
    AcceptSequenceGap,
    /// Producer state is not rebuilt from the log when a replica opens, nor kept by followers,
    /// so a restart or a new leader forgets the dedup window.
    ForgetProducerStateOnRestart,
    /// A duplicate of a cached batch is appended again and answered with its new offset.
    NewOffsetForDuplicate,
    /// A batch from an older producer epoch is appended instead of refused with
    /// INVALID_PRODUCER_EPOCH (breaks fencing of a producer's old epoch).
    AcceptStaleEpoch,
    /// Retention deletes the active segment once every older one went, whatever the age of its
    /// records, and starts a new empty one (breaks "a segment goes only once its newest record
    /// is past retention.ms": Kafka deletes an active segment too, but only an expired one).
    RetentionDeletesUnexpiredActiveSegment,
    /// Time retention looks at when a segment was created on this broker instead of its largest
    /// record timestamp, so records produced with old CreateTime timestamps outlive `retention.ms`
    /// (breaks retention by record timestamp).
    RetentionIgnoresTimestamps,
    /// The cleaner keeps the first value of each key instead of the last (breaks compaction).
    CompactionKeepsOldest,
    /// The cleaner gives the records it keeps new contiguous offsets from each segment's base
    /// offset (breaks "compaction never changes an offset").
    CompactionRenumbersOffsets,
    /// The cleaner drops a tombstone on the first pass, without waiting `delete.retention.ms`
    /// (breaks KIP-534: consumers get delete.retention.ms to see a delete).
    TombstoneDroppedEarly,
    /// DeleteRecords answers success and leaves the log start offset where it was.
    DeleteRecordsIsANoOp,
    /// A keyless record on a compacted topic is appended instead of refused with INVALID_RECORD.
    AcceptKeylessOnCompacted,
    /// The cleaner ignores min.compaction.lag.ms and compacts records however recent.
    IgnoreMinCompactionLag,
    /// Size retention deletes while the partition is over retention.bytes at all, taking one
    /// segment too many and leaving less than retention.bytes.
    SizeRetentionOvershoots,
    /// DeleteRecords moves the log start offset in memory only, without its checkpoint, so a
    /// restart brings the deleted records back (breaks KIP-107's log-start-offset-checkpoint).
    DeleteRecordsStartNotCheckpointed,
    /// DeleteRecords also deletes the segment that holds the new log start offset (an off-by-one
    /// in choosing the segments wholly below it), losing the records from it to that segment's end.
    DeleteRecordsDeletesStartSegment,
    /// The cleaner's offset map gives every key of a batch the batch's last offset, so a key's
    /// latest record followed by other keys in its batch is taken as superseded.
    CleanerMapsKeysToBatchEnd,
    /// The controller does not replay the producer id blocks it handed out, so after a restart
    /// it hands out the same producer ids again.
    ReuseProducerIdsAfterRestart,
    /// A batch whose first sequence matches a cached batch is taken as its duplicate, whatever
    /// its last sequence (Kafka matches both).
    DedupOnFirstSequenceOnly,
    /// ListOffsets MAX_TIMESTAMP answers the last offset of the batch with the largest
    /// timestamp instead of the record that carries it (breaks KIP-734).
    MaxTimestampAtBatchEnd,
    /// ListOffsets by timestamp skips a segment whose largest timestamp equals the target (`>`
    /// for Kafka's `>=`).
    TimestampLookupSkipsSegmentAtItsMax,
    /// max.message.bytes is compared with the batch without its 12-byte offset and length
    /// prefix, so batches up to 12 bytes over the limit are accepted.
    MaxMessageBytesWithoutLogOverhead,
    /// Fetch refuses a batch that would end exactly at partition_max_bytes (`>=` for `>`).
    FetchLimitExclusive,
    /// A segment's largest timestamp is its first batch's, so a segment whose newest record
    /// came later is deleted by retention.ms while that record is young.
    SegmentAgeFromFirstBatch,
    /// A coordinator loading its partition of `__consumer_offsets` reads only the first
    /// segment, so commits in later segments are forgotten at a restart.
    CoordinatorLoadsFirstSegmentOnly,
    /// Commit metadata is measured in UTF-8 bytes against offset.metadata.max.bytes, where Kafka
    /// counts UTF-16 code units, so non-ASCII metadata within the limit is refused.
    MetadataLengthInUtf8Bytes,
    /// The controller does not replay topic removals, so after a restart it still holds a
    /// deleted topic and refuses to create one of its name.
    TopicDeletionLostOnRestart,
    /// acks=all is refused when the ISR is exactly min.insync.replicas (`<=` for Kafka's `<`).
    MinIsrInclusive,
    /// The cleaner writes the records it keeps uncompressed, whatever their batch's codec.
    CleanerWritesUncompressed,
}

/// Static facts about a defect: its name on the command line, the guarantee it breaks, and the
/// scenarios (by test name, `features/<path>: <scenario title>`) that must fail because of it.
#[derive(Debug, Clone, Copy)]
pub struct DefectInfo {
    pub defect: Defect,
    pub name: &'static str,
    pub guarantee: &'static str,
    pub caught_by: &'static [&'static str],
}

/// The one registry. Scenario names are checked against `features/` by a harness test.
pub const REGISTRY: &[DefectInfo] = &[
    DefectInfo {
        defect: Defect::LoseUnflushedTail,
        name: "lose-unflushed-tail",
        guarantee: "acknowledged records survive a broker crash",
        caught_by: &["features/durability/acks-survive-restart.feature: acks=all records survive kill -9"],
    },
    DefectInfo {
        defect: Defect::RecoveryKeepsInvalidTail,
        name: "recovery-keeps-invalid-tail",
        guarantee: "a log damaged by a crash is cut back to its last valid batch",
        caught_by: &[
            "features/durability/damaged-files.feature: a log cut inside its last batch loses that batch only, and appends follow the last whole batch",
            "features/durability/damaged-files.feature: half a batch written after the last acknowledged one is dropped, and nothing acknowledged is lost",
            "features/durability/damaged-files.feature: a batch whose CRC no longer matches is cut off with every batch after it",
        ],
    },
    DefectInfo {
        defect: Defect::RecoveryKeepsStaleIndex,
        name: "recovery-keeps-stale-index",
        guarantee: "a log's indexes are rebuilt after a crash",
        caught_by: &[
            "features/durability/damaged-files.feature: indexes that point into the middle of batches are rebuilt, and a read from the middle of the segment finds its records",
        ],
    },
    DefectInfo {
        defect: Defect::MinOneOnlyForFirstPartition,
        name: "min-one-only-for-first-partition",
        guarantee: "a fetch always makes progress (KIP-74)",
        caught_by: &[
            "features/consume/fetch-max-bytes.feature: the first batch of the first partition with records is returned whole, even when max_bytes is smaller",
        ],
    },
    DefectInfo {
        defect: Defect::SkipCrcForCompressedBatches,
        name: "skip-crc-for-compressed-batches",
        guarantee: "a batch that fails its CRC is refused, whatever its codec",
        caught_by: &[
            "features/produce/corrupt-batch.feature: a snappy batch with a corrupted CRC fails with CORRUPT_MESSAGE and appends nothing",
            "features/produce/corrupt-batch.feature: a zstd batch with a corrupted CRC fails with CORRUPT_MESSAGE and appends nothing",
        ],
    },
    DefectInfo {
        defect: Defect::StopProduceAtFirstRefusal,
        name: "stop-produce-at-first-refusal",
        guarantee: "each partition of a produce request succeeds or fails on its own",
        caught_by: &[
            "features/produce/several-partitions.feature: a partition that does not exist is refused and the partitions after it are appended",
            "features/produce/several-partitions.feature: a corrupt batch fails its own partition only",
        ],
    },
    DefectInfo {
        defect: Defect::OpenSkipsEmptySegments,
        name: "open-skips-empty-segments",
        guarantee: "a log that retention emptied keeps its log start and numbering across a restart",
        caught_by: &[
            "features/retention/time-retention.feature: when every record has expired the log empties, and after it restarted it numbers on from where it was",
            "features/retention/time-retention.feature: when every record has expired the log empties, and after it killed with SIGKILL and started again it numbers on from where it was",
        ],
    },
    DefectInfo {
        defect: Defect::TopicNamesUnchecked,
        name: "topic-names-unchecked",
        guarantee: "CreateTopics refuses names Kafka's Topic.validate rejects with INVALID_TOPIC_EXCEPTION",
        caught_by: &[
            "features/topics/topic-configs.feature: a topic name with a space is refused with INVALID_TOPIC_EXCEPTION",
            "features/topics/topic-configs.feature: a topic name of two dots is refused with INVALID_TOPIC_EXCEPTION",
            "features/topics/topic-configs.feature: a topic name of 250 characters: the request fails with INVALID_TOPIC_EXCEPTION",
        ],
    },
    DefectInfo {
        defect: Defect::SkipOffsetOnAppend,
        name: "skip-offset-on-append",
        guarantee: "offsets in a partition are contiguous",
        caught_by: &["features/offsets/contiguous-offsets.feature: offsets of a partition are contiguous from 0"],
    },
    DefectInfo {
        defect: Defect::ReorderBatches,
        name: "reorder-batches",
        guarantee: "per-partition order",
        caught_by: &[
            "features/ordering/per-partition-order.feature: pipelined produce requests are appended in the order sent",
            "features/faults/network-faults.feature: a consumer reads every record in order across connection resets",
        ],
    },
    DefectInfo {
        defect: Defect::DuplicateAppend,
        name: "duplicate-append",
        guarantee: "each acknowledged record is stored once",
        caught_by: &[
            "features/produce/round-trip.feature: every acknowledged record is read exactly once",
            "features/faults/paused-broker.feature: sends to a paused broker end unknown and acknowledged records are read exactly once",
            "features/faults/network-faults.feature: records produced under 100 ms of latency are read exactly once",
            "features/faults/toxics.feature: a bandwidth-limited link delivers every record exactly once",
            "features/faults/seeded-soak.feature: seed 20261207, twenty seconds of kills, pauses, isolation, latency and leader kills",
        ],
    },
    DefectInfo {
        defect: Defect::IgnoreMaxBytes,
        name: "ignore-max-bytes",
        guarantee: "fetch size limits",
        caught_by: &[
            "features/consume/fetch-limits.feature: partition_max_bytes bounds a fetch after the first batch",
            "features/consume/fetch-max-bytes.feature: max_bytes 2280 is shared by the partitions in the order the request names them",
            "features/consume/fetch-max-bytes.feature: max_bytes 0 still returns the first batch, and nothing more",
        ],
    },
    DefectInfo {
        defect: Defect::MetadataOmitsLastPartition,
        name: "metadata-omits-last-partition",
        guarantee: "Metadata reports every partition of a topic, so keys are placed over all of them",
        caught_by: &[
            "features/produce/partitioner.feature: with partitioner=murmur2_random librdkafka places keys as Java's producer does",
            "features/produce/partitioner.feature: librdkafka's default partitioner places each key by the CRC-32 of its bytes",
        ],
    },
    DefectInfo {
        defect: Defect::FetchMinBytesExclusive,
        name: "fetch-min-bytes-exclusive",
        guarantee: "a waiting fetch returns as soon as min_bytes are available",
        caught_by: &[
            "features/consume/fetch-limits.feature: a fetch waiting for 1140 bytes while two 570-byte batches arrive is answered before its max_wait_ms ran out",
        ],
    },
    DefectInfo {
        defect: Defect::DropHeaders,
        name: "drop-headers",
        guarantee: "the broker stores what the client sent",
        caught_by: &["features/produce/round-trip.feature: keys, headers and null values round-trip unchanged"],
    },
    DefectInfo {
        defect: Defect::IgnoreMaxMessageBytes,
        name: "ignore-max-message-bytes",
        guarantee: "oversized records are refused with MESSAGE_TOO_LARGE",
        caught_by: &[
            "features/produce/message-too-large.feature: a record over max.message.bytes fails with MESSAGE_TOO_LARGE",
        ],
    },
    DefectInfo {
        defect: Defect::ListOffsetsIgnoresTimestamp,
        name: "list-offsets-ignores-timestamp",
        guarantee: "ListOffsets by timestamp",
        caught_by: &[
            "features/offsets/list-offsets.feature: ListOffsets by timestamp finds the first record at or after it",
        ],
    },
    DefectInfo {
        defect: Defect::HideOffsetOutOfRange,
        name: "hide-offset-out-of-range",
        guarantee: "auto.offset.reset applies when a position is out of range",
        caught_by: &[
            "features/consume/auto-offset-reset.feature: auto.offset.reset=earliest restarts an out-of-range consumer at the log start",
        ],
    },
    DefectInfo {
        defect: Defect::IgnoreMaxWait,
        name: "ignore-max-wait",
        guarantee: "a fetch waits up to max_wait_ms for min_bytes",
        caught_by: &[
            "features/consume/fetch-limits.feature: a waiting fetch returns records that arrive while it waits",
        ],
    },
    DefectInfo {
        defect: Defect::CrashOnMalformedFrame,
        name: "crash-on-malformed-frame",
        guarantee: "malformed requests leave the broker serving",
        caught_by: &[
            "features/protocol/malformed-requests.feature: garbage bytes close the connection",
            "features/protocol/malformed-requests.feature: a frame over socket.request.max.bytes closes the connection",
        ],
    },
    DefectInfo {
        defect: Defect::RefuseTrailingBytes,
        name: "refuse-trailing-bytes",
        guarantee: "bytes after a request's last known field are ignored, as Kafka ignores them",
        caught_by: &[
            "features/protocol/trailing-bytes.feature: a Metadata request for all topics with 3 bytes after its last field is answered",
            "features/protocol/trailing-bytes.feature: librdkafka lists every topic",
        ],
    },
    DefectInfo {
        defect: Defect::NoRecordErrors,
        name: "no-record-errors",
        guarantee: "a batch refused for some of its records names each of them (KIP-467)",
        caught_by: &[
            "features/produce/record-errors.feature: a keyless record on a compacted topic is named in the answer",
            "features/produce/record-errors.feature: every record with a timestamp out of range is named, with INVALID_TIMESTAMP",
            "features/produce/record-errors.feature: every keyless record of a batch is named",
        ],
    },
    DefectInfo {
        defect: Defect::IgnoreTopicCompression,
        name: "ignore-topic-compression",
        guarantee: "batches are stored in the topic's compression.type",
        caught_by: &[
            "features/produce/topic-compression.feature: a batch sent as gzip is stored as zstd on a topic with compression.type=zstd",
            "features/produce/topic-compression.feature: a batch sent as uncompressed is stored as lz4 on a topic with compression.type=lz4",
            "features/produce/topic-compression.feature: a broker-wide compression.type applies to topics without their own",
            "features/produce/topic-compression.feature: a batch compressed at compression.gzip.level=9 reads back unchanged",
            "features/produce/topic-compression.feature: a batch that grows past max.message.bytes when stored uncompressed is refused with MESSAGE_TOO_LARGE",
        ],
    },
    DefectInfo {
        defect: Defect::AppendValidRecordsOfRefusedBatch,
        name: "append-valid-records-of-refused-batch",
        guarantee: "a batch with an invalid record appends nothing (KIP-467 names the record, it does not split the batch)",
        caught_by: &[
            "features/produce/record-errors.feature: the records of a refused batch are not appended and the next batch is",
            "features/produce/record-errors.feature: a keyless record on a compacted topic is named in the answer",
        ],
    },
    DefectInfo {
        defect: Defect::UncheckedCompressionLevels,
        name: "unchecked-compression-levels",
        guarantee: "compression levels outside KIP-390's ranges are refused with INVALID_CONFIG",
        caught_by: &[
            "features/produce/topic-compression.feature: compression.gzip.level=0 is refused with INVALID_CONFIG",
            "features/produce/topic-compression.feature: compression.lz4.level=18 is refused with INVALID_CONFIG",
            "features/produce/topic-compression.feature: compression.zstd.level=-131073 is refused with INVALID_CONFIG",
        ],
    },
    DefectInfo {
        defect: Defect::RecompressDropsProducerId,
        name: "recompress-drops-producer-id",
        guarantee: "a recompressed batch keeps its producer id, epoch and sequence",
        caught_by: &[
            "features/produce/topic-compression.feature: a recompressed idempotent batch sent again is answered with its original offset",
        ],
    },
    DefectInfo {
        defect: Defect::RecompressDropsHeaders,
        name: "recompress-drops-headers",
        guarantee: "a recompressed batch keeps every record's key, value and headers",
        caught_by: &[
            "features/produce/topic-compression.feature: librdkafka reads a batch the broker recompressed",
            "features/produce/topic-compression.feature: a batch sent as zstd is stored as gzip on a topic with compression.type=gzip",
            "features/produce/topic-compression.feature: a batch compressed at compression.zstd.level=22 reads back unchanged",
        ],
    },
    DefectInfo {
        defect: Defect::SkipSizeCheckAfterRecompression,
        name: "skip-size-check-after-recompression",
        guarantee: "a batch that grows past max.message.bytes when recompressed is refused with MESSAGE_TOO_LARGE",
        caught_by: &[
            "features/produce/topic-compression.feature: a batch that grows past max.message.bytes when stored uncompressed is refused with MESSAGE_TOO_LARGE",
        ],
    },
    DefectInfo {
        defect: Defect::AcceptUnknownTopicConfig,
        name: "accept-unknown-topic-config",
        guarantee: "unknown topic configs are refused with INVALID_CONFIG",
        caught_by: &[
            "features/topics/topic-configs.feature: an unknown topic config is refused with INVALID_CONFIG",
            "features/topics/topic-admin.feature: IncrementalAlterConfigs refuses an unknown config",
        ],
    },
    DefectInfo {
        defect: Defect::SkipCrcCheck,
        name: "skip-crc-check",
        guarantee: "corrupt batches are refused with CORRUPT_MESSAGE",
        caught_by: &[
            "features/produce/corrupt-batch.feature: a batch with a corrupted CRC fails with CORRUPT_MESSAGE and appends nothing",
        ],
    },
    DefectInfo {
        defect: Defect::ProduceCreatesUnknownTopics,
        name: "produce-creates-unknown-topics",
        guarantee: "requests for unknown topics fail with UNKNOWN_TOPIC_OR_PARTITION",
        caught_by: &[
            "features/protocol/unknown-topics.feature: a produce to a topic that does not exist fails with UNKNOWN_TOPIC_OR_PARTITION",
        ],
    },
    DefectInfo {
        defect: Defect::IgnoreLogAppendTime,
        name: "ignore-log-append-time",
        guarantee: "message.timestamp.type=LogAppendTime",
        caught_by: &["features/produce/log-append-time.feature: records get the broker's time, not the producer's"],
    },
    DefectInfo {
        defect: Defect::DeleteTopicKeepsLog,
        name: "delete-topic-keeps-log",
        guarantee: "DeleteTopics removes the topic's data",
        caught_by: &["features/topics/topic-admin.feature: a deleted topic is gone and is created again empty"],
    },
    DefectInfo {
        defect: Defect::CreatePartitionsIsANoOp,
        name: "create-partitions-is-a-no-op",
        guarantee: "CreatePartitions adds partitions",
        caught_by: &["features/topics/topic-admin.feature: CreatePartitions adds partitions that take records"],
    },
    DefectInfo {
        defect: Defect::AlterConfigsIsANoOp,
        name: "alter-configs-is-a-no-op",
        guarantee: "IncrementalAlterConfigs changes topic configs",
        caught_by: &["features/topics/topic-admin.feature: IncrementalAlterConfigs changes a topic config"],
    },
    DefectInfo {
        defect: Defect::DescribeClusterWrongPort,
        name: "describe-cluster-wrong-port",
        guarantee: "DescribeCluster agrees with Metadata",
        caught_by: &["features/topics/topic-admin.feature: DescribeCluster lists the brokers Metadata lists"],
    },
    DefectInfo {
        defect: Defect::RespondToAcksZero,
        name: "respond-to-acks-zero",
        guarantee: "acks=0 gets no response",
        caught_by: &["features/produce/acks.feature: an acks=0 produce gets no response and is appended"],
    },
    DefectInfo {
        defect: Defect::AcceptAnyAcks,
        name: "accept-any-acks",
        guarantee: "invalid acks are refused with INVALID_REQUIRED_ACKS",
        caught_by: &["features/produce/acks.feature: acks=2 is refused with INVALID_REQUIRED_ACKS"],
    },
    DefectInfo {
        defect: Defect::LoseLastBatchOnDisconnect,
        name: "lose-last-batch-on-disconnect",
        guarantee: "acknowledged records survive connection resets",
        caught_by: &[
            "features/faults/network-faults.feature: a producer keeps every acknowledged record through connection resets",
            "features/faults/toxics.feature: connections closed after a few kilobytes lose no acknowledged record",
        ],
    },
    DefectInfo {
        defect: Defect::AckAllBeforeReplicated,
        name: "ack-all-before-replicated",
        guarantee: "acks=all waits for every in-sync replica",
        caught_by: &[
            "features/replication/isr-shrinks-and-expands.feature: acks=all waiting for a follower that stopped fetching ends NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrinks below min.insync.replicas",
            "features/replication/returning-leader-truncates.feature: an isolated leader's unacknowledged records are truncated when it returns, and no consumer ever saw them",
        ],
    },
    DefectInfo {
        defect: Defect::HwIgnoresIsr,
        name: "hw-ignores-isr",
        guarantee: "the high watermark is what every in-sync replica has",
        caught_by: &[
            "features/replication/returning-leader-truncates.feature: an isolated leader's unacknowledged records are truncated when it returns, and no consumer ever saw them",
        ],
    },
    DefectInfo {
        defect: Defect::ServeReadsAboveHw,
        name: "serve-reads-above-hw",
        guarantee: "consumers never read above the high watermark",
        caught_by: &[
            "features/replication/returning-leader-truncates.feature: an isolated leader's unacknowledged records are truncated when it returns, and no consumer ever saw them",
        ],
    },
    DefectInfo {
        defect: Defect::TruncateToHw,
        name: "truncate-to-hw",
        guarantee: "a returning replica truncates by leader epoch and converges (KIP-101, KIP-279)",
        caught_by: &[
            "features/replication/unclean-leader-election.feature: with unclean leader election an out-of-sync replica leads and acknowledged records are lost",
        ],
    },
    DefectInfo {
        defect: Defect::TruncateIgnoringAnsweredEpoch,
        name: "truncate-ignoring-answered-epoch",
        guarantee: "a follower whose latest epoch the leader never had truncates to their common epoch (KIP-279)",
        caught_by: &[
            "features/replication/three-leader-epochs.feature: a replica that led an epoch the new leader never saw drops that epoch's records and converges",
        ],
    },
    DefectInfo {
        defect: Defect::ElectOutOfSyncLeader,
        name: "elect-out-of-sync-leader",
        guarantee: "a new leader comes from the ISR unless unclean.leader.election.enable",
        caught_by: &[
            "features/replication/unclean-leader-election.feature: without unclean leader election the partition waits for its last in-sync replica and loses nothing",
        ],
    },
    DefectInfo {
        defect: Defect::IsrNeverShrinks,
        name: "isr-never-shrinks",
        guarantee: "a follower that falls behind leaves the ISR after replica.lag.time.max.ms",
        caught_by: &[
            "features/replication/isr-shrinks-and-expands.feature: the ISR drops a follower cut off from the leader and takes it back after the network heals",
        ],
    },
    DefectInfo {
        defect: Defect::IgnoreMinInsyncReplicas,
        name: "ignore-min-insync-replicas",
        guarantee: "acks=all with fewer in-sync replicas than min.insync.replicas is refused",
        caught_by: &[
            "features/replication/isr-shrinks-and-expands.feature: acks=all is refused with NOT_ENOUGH_REPLICAS while the ISR is smaller than min.insync.replicas",
        ],
    },
    DefectInfo {
        defect: Defect::IgnoreBrokerSessionTimeout,
        name: "ignore-broker-session-timeout",
        guarantee: "a dead leader is replaced after broker.session.timeout.ms",
        caught_by: &[
            "features/replication/leader-failover.feature: when the leader of orders-0 dies, an in-sync replica leads and clients carry on",
            "features/replication/acks-all-survives-leader-loss.feature: records acknowledged before and after the leader dies are all read, in order",
        ],
    },
    DefectInfo {
        defect: Defect::NoPreferredLeaderElection,
        name: "no-preferred-leader-election",
        guarantee: "with auto.leader.rebalance.enable the preferred replica leads again",
        caught_by: &[
            "features/replication/preferred-leader.feature: the preferred leader leads again after it is killed and started again",
        ],
    },
    DefectInfo {
        defect: Defect::AcceptAnyReplicationFactor,
        name: "accept-any-replication-factor",
        guarantee: "a replication factor above the broker count is INVALID_REPLICATION_FACTOR",
        caught_by: &[
            "features/replication/replication-factor.feature: a cluster of 3 brokers refuses replication factor 4",
        ],
    },
    DefectInfo {
        defect: Defect::DedupWindowOfOne,
        name: "dedup-window-of-1",
        guarantee: "idempotence dedups any of the last five batches (max.in.flight <= 5)",
        caught_by: &[
            "features/idempotence/duplicate-batches.feature: the batch with sequence 0 of 5 pipelined batches is acknowledged again with its original offset",
            "features/idempotence/duplicate-batches.feature: the batch with sequence 10 of 5 pipelined batches is acknowledged again with its original offset",
            "features/idempotence/sequence-numbers.feature: sequence numbers wrap to 0 after 2147483647",
        ],
    },
    DefectInfo {
        defect: Defect::AcceptSequenceGap,
        name: "accept-sequence-gap",
        guarantee: "a sequence gap is OUT_OF_ORDER_SEQUENCE_NUMBER",
        caught_by: &[
            "features/idempotence/sequence-numbers.feature: a batch that skips sequence numbers is refused with OUT_OF_ORDER_SEQUENCE_NUMBER and appends nothing",
            "features/idempotence/sequence-numbers.feature: a batch sent again after five later batches is refused with OUT_OF_ORDER_SEQUENCE_NUMBER",
            "features/idempotence/sequence-numbers.feature: with idempotence the batch behind a corrupted one is refused, and the retries keep the order",
            "features/idempotence/producer-epochs.feature: a new epoch that does not start at sequence 0 is refused with OUT_OF_ORDER_SEQUENCE_NUMBER",
        ],
    },
    DefectInfo {
        defect: Defect::ForgetProducerStateOnRestart,
        name: "forget-producer-state-on-restart",
        guarantee: "the dedup window survives restarts and leader changes",
        caught_by: &[
            "features/idempotence/producer-state-survives-restart-and-failover.feature: a batch sent again after a kill -9 and restart is acknowledged with its original offset",
            "features/idempotence/producer-state-survives-restart-and-failover.feature: a batch sent again after a clean restart is acknowledged with its original offset",
            "features/idempotence/producer-state-survives-restart-and-failover.feature: a batch sent again to a new leader is acknowledged with its original offset",
        ],
    },
    DefectInfo {
        defect: Defect::NewOffsetForDuplicate,
        name: "new-offset-for-duplicate",
        guarantee: "a duplicate batch is acknowledged with its original offset and not appended",
        caught_by: &[
            "features/idempotence/duplicate-batches.feature: the batch with sequence 40 of 5 pipelined batches is acknowledged again with its original offset",
            "features/idempotence/duplicate-batches.feature: with idempotence a batch sent again after its answer was lost is acknowledged with its original offset",
            "features/idempotence/idempotent-librdkafka-producer.feature: an idempotent librdkafka producer whose answers are lost writes each record once, in order (max.in.flight.requests.per.connection=5)",
        ],
    },
    DefectInfo {
        defect: Defect::AcceptStaleEpoch,
        name: "accept-stale-epoch",
        guarantee: "a batch of an older producer epoch is INVALID_PRODUCER_EPOCH",
        caught_by: &[
            "features/idempotence/producer-epochs.feature: a batch of an older epoch is refused with INVALID_PRODUCER_EPOCH",
        ],
    },
    DefectInfo {
        defect: Defect::RetentionDeletesUnexpiredActiveSegment,
        name: "retention-deletes-unexpired-active-segment",
        guarantee: "retention deletes the active segment only when its newest record is past retention.ms",
        caught_by: &[
            "features/retention/time-retention.feature: the newest segment is kept when every older one has expired",
        ],
    },
    DefectInfo {
        defect: Defect::RetentionIgnoresTimestamps,
        name: "retention-ignores-timestamps",
        guarantee: "retention.ms counts from the largest record timestamp of a segment",
        caught_by: &[
            "features/retention/time-retention.feature: retention.ms deletes the records older than it and keeps the newer ones",
            "features/retention/time-retention.feature: a newer segment keeps the older segments after it",
            "features/retention/out-of-range-consumer.feature: a consumer below the log start applies auto.offset.reset=earliest",
        ],
    },
    DefectInfo {
        defect: Defect::CompactionKeepsOldest,
        name: "compaction-keeps-oldest",
        guarantee: "compaction keeps the latest value of each key",
        caught_by: &[
            "features/compaction/latest-value-per-key.feature: compaction keeps the latest value of each key at the offset it was written at",
            "features/compaction/latest-value-per-key.feature: a consumer whose position was compacted away reads on from the next record",
            "features/compaction/tombstones.feature: a consumer that reads the whole log before tombstones are removed sees every deletion",
            "features/compaction/replicas-compact-alike.feature: with replication factor 3 every replica compacts to the same keys and values",
        ],
    },
    DefectInfo {
        defect: Defect::CompactionRenumbersOffsets,
        name: "compaction-renumbers-offsets",
        guarantee: "compaction never changes a record's offset",
        caught_by: &[
            "features/compaction/offsets-never-change.feature: records kept among many batches of a segment keep their offsets",
        ],
    },
    DefectInfo {
        defect: Defect::TombstoneDroppedEarly,
        name: "tombstone-dropped-early",
        guarantee: "a tombstone stays readable for delete.retention.ms after it is first cleaned (KIP-534)",
        caught_by: &[
            "features/compaction/tombstones.feature: a tombstone is readable for delete.retention.ms and removed after it",
            "features/compaction/tombstones.feature: a consumer that reads the whole log before tombstones are removed sees every deletion",
        ],
    },
    DefectInfo {
        defect: Defect::DeleteRecordsIsANoOp,
        name: "delete-records-is-a-no-op",
        guarantee: "DeleteRecords moves the log start offset (KIP-107)",
        caught_by: &[
            "features/retention/delete-records.feature: DeleteRecords moves the log start offset and ListOffsets earliest answers it",
            "features/retention/delete-records.feature: a fetch below the log start fails with OFFSET_OUT_OF_RANGE",
        ],
    },
    DefectInfo {
        defect: Defect::AcceptKeylessOnCompacted,
        name: "accept-keyless-on-compacted",
        guarantee: "a compacted topic refuses keyless records with INVALID_RECORD",
        caught_by: &[
            "features/compaction/keyless-records.feature: a keyless record on a compacted topic is refused with INVALID_RECORD",
        ],
    },
    DefectInfo {
        defect: Defect::IgnoreMinCompactionLag,
        name: "ignore-min-compaction-lag",
        guarantee: "records younger than min.compaction.lag.ms are not compacted (KIP-58)",
        caught_by: &[
            "features/compaction/min-compaction-lag.feature: records younger than min.compaction.lag.ms are not compacted",
        ],
    },
    DefectInfo {
        defect: Defect::SizeRetentionOvershoots,
        name: "size-retention-overshoots",
        guarantee: "retention.bytes leaves at least retention.bytes in the partition",
        caught_by: &[
            "features/retention/size-retention.feature: retention.bytes deletes the oldest segments down to within one segment of it",
        ],
    },
    DefectInfo {
        defect: Defect::DoubleAssignOnRebalance,
        name: "double-assign-on-rebalance",
        guarantee: "in every generation each partition is assigned to exactly one member",
        caught_by: &[
            "features/groups/partitions-assigned-once.feature: members joining and leaving never share a partition and leave none unowned",
            "features/groups/partitions-assigned-once.feature: DescribeGroups shows each member with the partitions its consumer owns",
            "features/groups/assignors.feature: range gives 7 partitions to 3 consumers as 3, 2 and 2 contiguous partitions",
            "features/groups/assignors.feature: roundrobin deals 7 partitions to 3 consumers in turn",
            "features/groups/assignors.feature: with cooperative-sticky a joining member takes partitions and the others revoke only those",
            "features/groups/more-consumers-than-partitions.feature: six consumers share four partitions and two of them own nothing",
        ],
    },
    DefectInfo {
        defect: Defect::ProtocolFromFirstMember,
        name: "protocol-from-first-member",
        guarantee: "the group's assignor is one every member offers, chosen by the members' votes",
        caught_by: &[
            "features/groups/assignor-negotiation.feature: an assignor one member lacks is not chosen, however much the others prefer it",
            "features/groups/assignor-negotiation.feature: among the assignors every member offers, the one most members prefer wins",
        ],
    },
    DefectInfo {
        defect: Defect::AcceptStaleGenerationCommit,
        name: "accept-stale-generation-commit",
        guarantee: "a commit from an old generation is refused with ILLEGAL_GENERATION",
        caught_by: &[
            "features/groups/generation-fencing.feature: a commit from a member's previous generation is refused with ILLEGAL_GENERATION and changes nothing",
        ],
    },
    DefectInfo {
        defect: Defect::ForgetOffsetsOnRestart,
        name: "forget-offsets-on-restart",
        guarantee: "committed offsets survive a broker restart and a coordinator failover",
        caught_by: &[
            "features/groups/offsets-survive-failures.feature: committed offsets survive a broker restart",
            "features/groups/offsets-survive-failures.feature: committed offsets survive a kill -9 of the broker",
            "features/groups/offsets-survive-failures.feature: a consumer group resumes after a broker restart where it committed",
            "features/groups/offsets-survive-failures.feature: committed offsets survive the death of the coordinator with __consumer_offsets replicated 3 times",
        ],
    },
    DefectInfo {
        defect: Defect::LoadGroupWithoutGeneration,
        name: "load-group-without-generation",
        guarantee: "a new coordinator loads each group's generation with its members",
        caught_by: &[
            "features/groups/coordinator-failover.feature: members keep their generation when the coordinator is killed, and the previous generation stays fenced",
            "features/groups/coordinator-failover.feature: members keep their generation when the coordinator is stopped, and the previous generation stays fenced",
        ],
    },
    DefectInfo {
        defect: Defect::LeaderSyncForgetsPendingMembers,
        name: "leader-sync-forgets-pending-members",
        guarantee: "a member that joins but never sends SyncGroup is removed after the rebalance timeout",
        caught_by: &[
            "features/groups/members-that-never-sync.feature: a member that never sends SyncGroup is removed and the others rebalance without it",
        ],
    },
    DefectInfo {
        defect: Defect::IgnoreSessionTimeout,
        name: "ignore-session-timeout",
        guarantee: "a member silent for session.timeout.ms loses its partitions",
        caught_by: &[
            "features/groups/crashed-consumer.feature: with commits after processing the others resume from the committed offsets and lose nothing",
            "features/groups/crashed-consumer.feature: with auto-commit a record committed before it was processed is lost",
        ],
    },
    DefectInfo {
        defect: Defect::IgnoreLeaveGroup,
        name: "ignore-leave-group",
        guarantee: "a member that leaves (or exceeds max.poll.interval.ms) is out of the group at once",
        caught_by: &[
            "features/groups/closed-consumer.feature: the others own every partition well before session.timeout.ms",
            "features/groups/max-poll-interval.feature: a consumer that exceeds max.poll.interval.ms leaves, its heartbeats notwithstanding",
        ],
    },
    DefectInfo {
        defect: Defect::RebalanceOnStaticRejoin,
        name: "rebalance-on-static-rejoin",
        guarantee: "a static member back within session.timeout.ms gets its partitions with no rebalance (KIP-345)",
        caught_by: &[
            "features/groups/static-membership.feature: a static member restarted within session.timeout.ms gets its partitions back in the same generation",
            "features/groups/coordinator-errors.feature: a static member that joins again fences its old member id with FENCED_INSTANCE_ID, in the same generation",
        ],
    },
    DefectInfo {
        defect: Defect::OffsetFetchZeroWhenNone,
        name: "offset-fetch-zero-when-none",
        guarantee: "a partition a group never committed has committed offset -1, and auto.offset.reset applies",
        caught_by: &[
            "features/consume/auto-offset-reset.feature: auto.offset.reset=none on a group that committed nothing fails instead of reading",
            "features/groups/committed-offsets.feature: a partition the group never committed has committed offset -1",
        ],
    },
    DefectInfo {
        defect: Defect::CommitFirstPartitionPerTopic,
        name: "commit-first-partition-per-topic",
        guarantee: "one OffsetCommit commits every partition it names",
        caught_by: &[
            "features/groups/committed-offsets.feature: one OffsetCommit commits partitions of two topics, and refuses only the partition that does not exist",
        ],
    },
    DefectInfo {
        defect: Defect::CoordinatorLoadsFirstRecordOfBatch,
        name: "coordinator-loads-first-record-of-batch",
        guarantee: "every offset of a multi-partition commit survives a restart",
        caught_by: &[
            "features/groups/offsets-survive-failures.feature: the offsets of one commit of several partitions survive a kill -9",
        ],
    },
    DefectInfo {
        defect: Defect::CommitKeepsHighestOffset,
        name: "commit-keeps-highest-offset",
        guarantee: "the last commit is the committed offset, lower or not",
        caught_by: &[
            "features/groups/committed-offsets.feature: the last commit wins, even when it moves the offset back",
            "features/groups/committed-offsets.feature: commits pipelined on one connection take effect in the order sent",
        ],
    },
    DefectInfo {
        defect: Defect::DropCommitMetadata,
        name: "drop-commit-metadata",
        guarantee: "a committed offset's metadata round-trips exactly",
        caught_by: &[
            "features/groups/committed-offsets.feature: a committed offset and its metadata are fetched back exactly",
        ],
    },
    DefectInfo {
        defect: Defect::HeartbeatIgnoresRebalance,
        name: "heartbeat-ignores-rebalance",
        guarantee: "a heartbeat during a rebalance is answered REBALANCE_IN_PROGRESS",
        caught_by: &[
            "features/groups/generation-fencing.feature: a heartbeat during a rebalance is answered REBALANCE_IN_PROGRESS",
        ],
    },
    DefectInfo {
        defect: Defect::DeleteRecordsStartNotCheckpointed,
        name: "delete-records-start-not-checkpointed",
        guarantee: "the log start offset DeleteRecords sets survives a restart (KIP-107)",
        caught_by: &[
            "features/retention/delete-records.feature: the log start offset DeleteRecords set survives a clean restart",
        ],
    },
    DefectInfo {
        defect: Defect::DeleteRecordsDeletesStartSegment,
        name: "delete-records-deletes-start-segment",
        guarantee: "DeleteRecords keeps every record at and above the new log start offset",
        caught_by: &[
            "features/retention/delete-records.feature: DeleteRecords to offset 1 of one-record segments keeps the record at 1",
            "features/retention/delete-records.feature: DeleteRecords to offset 4 of one-record segments keeps the record at 4",
            "features/retention/delete-records.feature: DeleteRecords to offset 8 of one-record segments keeps the record at 8",
        ],
    },
    DefectInfo {
        defect: Defect::CleanerMapsKeysToBatchEnd,
        name: "cleaner-maps-keys-to-batch-end",
        guarantee: "compaction keeps the latest record of each key wherever it sits in its batch",
        caught_by: &[
            "features/compaction/latest-value-per-key.feature: the latest record of a key is kept when records of other keys follow it in its batch",
        ],
    },
    DefectInfo {
        defect: Defect::ReuseProducerIdsAfterRestart,
        name: "reuse-producer-ids-after-restart",
        guarantee: "a producer id is never handed out twice, restarts included",
        caught_by: &[
            "features/idempotence/producer-state-survives-restart-and-failover.feature: a producer initialised after a restart gets an id of its own",
        ],
    },
    DefectInfo {
        defect: Defect::DedupOnFirstSequenceOnly,
        name: "dedup-on-first-sequence-only",
        guarantee: "only the same batch (first and last sequence) is a duplicate",
        caught_by: &[
            "features/idempotence/sequence-numbers.feature: a batch with an appended batch's first sequence but fewer records is refused with OUT_OF_ORDER_SEQUENCE_NUMBER",
        ],
    },
    DefectInfo {
        defect: Defect::MaxTimestampAtBatchEnd,
        name: "max-timestamp-at-batch-end",
        guarantee: "ListOffsets MAX_TIMESTAMP answers the record with the largest timestamp (KIP-734)",
        caught_by: &[
            "features/offsets/list-offsets.feature: ListOffsets for the largest timestamp finds a record that is not last in its batch",
        ],
    },
    DefectInfo {
        defect: Defect::TimestampLookupSkipsSegmentAtItsMax,
        name: "timestamp-lookup-skips-segment-at-its-max",
        guarantee: "ListOffsets by timestamp finds the first record at or after it across segments",
        caught_by: &[
            "features/offsets/list-offsets.feature: ListOffsets by timestamp at a segment's largest timestamp finds that segment's record",
        ],
    },
    DefectInfo {
        defect: Defect::MaxMessageBytesWithoutLogOverhead,
        name: "max-message-bytes-without-log-overhead",
        guarantee: "max.message.bytes bounds the whole batch, its log overhead included",
        caught_by: &[
            "features/produce/message-too-large.feature: a batch of 2049 bytes under max.message.bytes=2048 fails with MESSAGE_TOO_LARGE",
        ],
    },
    DefectInfo {
        defect: Defect::FetchLimitExclusive,
        name: "fetch-limit-exclusive",
        guarantee: "partition_max_bytes admits batches that end exactly at it",
        caught_by: &[
            "features/consume/fetch-limits.feature: a fetch with partition_max_bytes 1140 returns 2 of three 570-byte batches",
            "features/consume/fetch-limits.feature: a fetch with partition_max_bytes 1710 returns 3 of three 570-byte batches",
        ],
    },
    DefectInfo {
        defect: Defect::SegmentAgeFromFirstBatch,
        name: "segment-age-from-first-batch",
        guarantee: "retention.ms counts from the largest timestamp of any record in a segment",
        caught_by: &[
            "features/retention/time-retention.feature: a segment whose newest record sits mid-batch and mid-segment is kept",
        ],
    },
    DefectInfo {
        defect: Defect::CoordinatorLoadsFirstSegmentOnly,
        name: "coordinator-loads-first-segment-only",
        guarantee: "a coordinator loads every segment of its __consumer_offsets partition",
        caught_by: &[
            "features/groups/offsets-survive-failures.feature: the latest commit of each partition survives a kill -9 with __consumer_offsets in many segments",
        ],
    },
    DefectInfo {
        defect: Defect::MetadataLengthInUtf8Bytes,
        name: "metadata-length-in-utf8-bytes",
        guarantee: "offset.metadata.max.bytes counts characters as Kafka's String.length() does",
        caught_by: &[
            "features/groups/committed-offsets.feature: commit metadata of exactly offset.metadata.max.bytes characters is kept (éééééééééé)",
        ],
    },
    DefectInfo {
        defect: Defect::TopicDeletionLostOnRestart,
        name: "topic-deletion-lost-on-restart",
        guarantee: "a topic's deletion survives a restart",
        caught_by: &[
            "features/topics/topic-admin.feature: added partitions, a config change and a deleted topic survive a kill -9",
        ],
    },
    DefectInfo {
        defect: Defect::MinIsrInclusive,
        name: "min-isr-inclusive",
        guarantee: "acks=all is taken while the ISR is exactly min.insync.replicas",
        caught_by: &[
            "features/replication/isr-shrinks-and-expands.feature: acks=all succeeds while the ISR is exactly min.insync.replicas",
        ],
    },
    DefectInfo {
        defect: Defect::LsoIgnoresOpenTransactions,
        name: "lso-ignores-open-transactions",
        guarantee: "read_committed never reads past the first record of an open transaction",
        caught_by: &[
            "features/transactions/read-committed.feature: records after an open transaction's first record are not read until it commits",
        ],
    },
    DefectInfo {
        defect: Defect::EmptyAbortedTransactions,
        name: "empty-aborted-transactions",
        guarantee: "read_committed never returns an aborted transaction's records",
        caught_by: &[
            "features/transactions/read-committed.feature: read_committed reads every committed transaction and no record of an aborted one",
        ],
    },
    DefectInfo {
        defect: Defect::SkipTransactionVerification,
        name: "skip-transaction-verification",
        guarantee: "a transactional batch for a partition outside the transaction is refused (KIP-890)",
        caught_by: &[
            "features/transactions/transactional-produce.feature: a transactional batch for a partition the transaction never added is refused",
        ],
    },
    DefectInfo {
        defect: Defect::AcceptNonTransactionalInTxn,
        name: "accept-non-transactional-in-txn",
        guarantee: "a batch outside an open transaction is INVALID_TXN_STATE",
        caught_by: &[
            "features/transactions/transactional-produce.feature: a batch outside the transaction is refused with INVALID_TXN_STATE while the transaction is open",
        ],
    },
    DefectInfo {
        defect: Defect::EndTxnRefusesRetry,
        name: "end-txn-refuses-retry",
        guarantee: "EndTxn repeating a completed decision is answered NONE",
        caught_by: &[
            "features/transactions/transactional-produce.feature: EndTxn answers a retried commit NONE and a change of mind INVALID_TXN_STATE",
        ],
    },
    DefectInfo {
        defect: Defect::TransactionsNeverTimeOut,
        name: "transactions-never-time-out",
        guarantee: "a transaction open past its timeout is aborted and its producer fenced",
        caught_by: &[
            "features/transactions/transaction-timeout.feature: a transaction past its timeout is aborted, read_committed reads on, and its producer is fenced",
        ],
    },
    DefectInfo {
        defect: Defect::MarkerNeedsNewerCoordinatorEpoch,
        name: "marker-needs-newer-coordinator-epoch",
        guarantee: "a marker with the coordinator epoch the partition last saw is accepted",
        caught_by: &[
            "features/transactions/hanging-transaction-tools.feature: a hanging transaction aborted with Kafka's abort tool no longer holds read_committed consumers back",
        ],
    },
    DefectInfo {
        defect: Defect::AcceptClientControlBatches,
        name: "accept-client-control-batches",
        guarantee: "a client's control batch is refused with INVALID_RECORD",
        caught_by: &[
            "features/transactions/coordinator-answers.feature: a client's control batch is refused with INVALID_RECORD",
        ],
    },
    DefectInfo {
        defect: Defect::AcceptAnyTransactionTimeout,
        name: "accept-any-transaction-timeout",
        guarantee: "InitProducerId refuses a transaction timeout above transaction.max.timeout.ms",
        caught_by: &[
            "features/transactions/coordinator-answers.feature: a transaction timeout outside (0, transaction.max.timeout.ms] is refused with INVALID_TRANSACTION_TIMEOUT",
        ],
    },
    DefectInfo {
        defect: Defect::AbortedIndexNotRebuilt,
        name: "aborted-index-not-rebuilt",
        guarantee: "a broker rebuilds a lost aborted-transaction index from its log",
        caught_by: &[
            "features/transactions/aborted-index-recovery.feature: read_committed drops an aborted transaction's records after its index was lost",
        ],
    },
    DefectInfo {
        defect: Defect::CleanerDropsMarkers,
        name: "cleaner-drops-markers",
        guarantee: "compaction keeps a transaction's marker while any of its records remains",
        caught_by: &[
            "features/transactions/markers.feature: after compaction and a restart, read_committed still reads past a committed transaction",
        ],
    },
    DefectInfo {
        defect: Defect::EndTxnKeepsEpoch,
        name: "end-txn-keeps-epoch",
        guarantee: "transaction version 2 bumps the producer's epoch with every commit or abort",
        caught_by: &[
            "features/transactions/transaction-version-2.feature: a late batch of a committed transaction cannot join the next one",
        ],
    },
    DefectInfo {
        defect: Defect::DescribeProducersHidesOpenTransactions,
        name: "describe-producers-hides-open-transactions",
        guarantee: "DescribeProducers shows where each producer's open transaction starts",
        caught_by: &[
            "features/transactions/hanging-transaction-tools.feature: an open transaction is described by its coordinator and by its partition's leader, then gone once committed",
        ],
    },
    DefectInfo {
        defect: Defect::CleanerKeepsAbortedRecords,
        name: "cleaner-keeps-aborted-records",
        guarantee: "compaction removes an aborted transaction's records",
        caught_by: &[
            "features/transactions/compaction.feature: the cleaner removes an aborted transaction's records whatever their keys",
        ],
    },
    DefectInfo {
        defect: Defect::TransactionalIdsNeverExpire,
        name: "transactional-ids-never-expire",
        guarantee: "a transactional id idle past transactional.id.expiration.ms is forgotten",
        caught_by: &[
            "features/transactions/transactional-id-expiry.feature: an idle transactional id is forgotten, and one with a transaction in progress is not",
        ],
    },
    DefectInfo {
        defect: Defect::InitProducerIdDoesNotFence,
        name: "init-producer-id-does-not-fence",
        guarantee: "a new producer instance fences the old one and aborts its open transaction",
        caught_by: &[
            "features/transactions/zombie-fencing.feature: the old instance's open transaction is aborted and it cannot commit",
            "features/transactions/coordinator-answers.feature: a new instance fences the old one and aborts its open transaction",
        ],
    },
    DefectInfo {
        defect: Defect::TxnCoordinatorForgetsOnLoad,
        name: "txn-coordinator-forgets-on-load",
        guarantee: "a transaction coordinator's state survives its broker's death",
        caught_by: &[
            "features/transactions/coordinator-failover.feature: transactions decided just before their coordinator is killed are completed by the next one",
        ],
    },
    DefectInfo {
        defect: Defect::TxnOffsetsNeverCommitted,
        name: "txn-offsets-never-committed",
        guarantee: "offsets sent to a transaction are the group's once it commits",
        caught_by: &[
            "features/transactions/offsets-in-transactions.feature: a committed transaction commits the group's offsets",
            "features/transactions/offsets-in-transactions.feature: an aborted transaction leaves the group's offsets as they were",
        ],
    },
    DefectInfo {
        defect: Defect::CleanerWritesUncompressed,
        name: "cleaner-writes-uncompressed",
        guarantee: "compaction keeps each batch's codec",
        caught_by: &[
            "features/compaction/latest-value-per-key.feature: compaction keeps a gzip batch compressed with gzip",
            "features/compaction/latest-value-per-key.feature: compaction keeps a snappy batch compressed with snappy",
            "features/compaction/latest-value-per-key.feature: compaction keeps a lz4 batch compressed with lz4",
            "features/compaction/latest-value-per-key.feature: compaction keeps a zstd batch compressed with zstd",
        ],
    },
];

static ACTIVE: OnceLock<Vec<Defect>> = OnceLock::new();

/// Looks a defect up by its command-line name.
pub fn by_name(name: &str) -> Option<&'static DefectInfo> {
    REGISTRY.iter().find(|d| d.name == name)
}

/// Turns defects on for this process. Called once, at start-up, before any request is served.
/// Without the `defects` feature any non-empty list is refused.
pub fn activate(defects: Vec<Defect>) -> Result<(), String> {
    if !cfg!(feature = "defects") && !defects.is_empty() {
        return Err("this build has no defect registry: rebuild with `--features defects`".into());
    }
    ACTIVE.set(defects).map_err(|_| "defects were already activated".to_string())
}

/// Whether a defect is on. Always `false` without the `defects` feature.
#[inline]
pub fn active(defect: Defect) -> bool {
    cfg!(feature = "defects") && ACTIVE.get().is_some_and(|on| on.contains(&defect))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_defect_names_a_scenario() {
        let mut names: Vec<_> = REGISTRY.iter().map(|d| d.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), REGISTRY.len());
        for d in REGISTRY {
            assert!(!d.caught_by.is_empty(), "{} is caught by nothing", d.name);
            assert_eq!(by_name(d.name).map(|i| i.defect), Some(d.defect));
        }
    }
}
