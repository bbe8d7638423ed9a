//! The transaction coordinator's state machine, as pure functions: each request on a
//! transactional id's metadata gives an answer now, or the metadata to write before answering.
//!
//! It follows apache/kafka's `TransactionCoordinator` (`handleInitProducerId`,
//! `handleAddPartitionsToTransaction`, `endTransactionWithTV1`) and `TransactionMetadata`
//! (`prepareIncrementProducerEpoch`, `prepareProducerIdRotation`, `prepareAddPartitions`,
//! `prepareAbortOrCommit`, `prepareComplete`, `prepareFenceProducerEpoch`). Two transaction
//! versions: with version 1 (EndTxn v0-4) the epoch stays the same for every transaction of a
//! producer session; with version 2 (KIP-890 part 2, EndTxn v5, `endTransaction`) each decision
//! bumps it, so that a late request of one transaction can never land in the next
//! (KAFKA-17754), and an epoch about to run out moves the producer to a new id when the
//! transaction completes. The version-dependent error remaps (PRODUCER_FENCED to
//! INVALID_PRODUCER_EPOCH for old clients) are the handlers'.
//! `testdata/transitions.txt` drives these functions from a table.

use std::collections::BTreeSet;

use kafka_protocol::ResponseError;

use crate::defects::active;

/// Kafka's `TransactionState`, with the ids `__transaction_state` stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    /// Pending only: an InitProducerId or a timeout fencing an ongoing transaction before
    /// aborting it. Never stored.
    PrepareEpochFence,
}

impl TxnState {
    pub fn id(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    pub fn from_id(id: i8) -> Option<TxnState> {
        Some(match id {
            0 => TxnState::Empty,
            1 => TxnState::Ongoing,
            2 => TxnState::PrepareCommit,
            3 => TxnState::PrepareAbort,
            4 => TxnState::CompleteCommit,
            5 => TxnState::CompleteAbort,
            6 => TxnState::Dead,
            7 => TxnState::PrepareEpochFence,
            _ => return None,
        })
    }

    /// The name DescribeTransactions and ListTransactions use.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    pub fn from_name(name: &str) -> Option<TxnState> {
        (0..=7).filter_map(TxnState::from_id).find(|s| s.name() == name)
    }

    fn is_complete_or_empty(self) -> bool {
        matches!(self, TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort)
    }

    pub fn is_prepare(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort)
    }
}

/// Kafka's `isEpochExhausted`: an epoch this high leaves no room for a bump and a fence.
pub const EXHAUSTED_EPOCH: i16 = i16::MAX - 1;

/// A transactional id's metadata, as the coordinator keeps it in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    pub producer_id: i64,
    /// The producer id before the last rotation (not stored; -1 after a load).
    pub previous_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump, for InitProducerId retries (KIP-360; not stored).
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    pub start_ms: i64,
    pub last_update_ms: i64,
    /// The producer id the transaction being decided moves to once complete (version 2, an
    /// exhausted epoch); -1 otherwise.
    pub next_producer_id: i64,
    /// The transaction version the client uses (Kafka's `clientTransactionVersion`): 2 once a
    /// request of version 2 (EndTxn v5, Produce v12, TxnOffsetCommit v5) touched the
    /// transaction, else 0. An abort the coordinator starts itself follows it.
    pub client_version: i16,
}

impl TxnMetadata {
    /// A transactional id seen for the first time: a new producer id, no epoch yet.
    pub fn new(producer_id: i64, timeout_ms: i32, now_ms: i64) -> TxnMetadata {
        TxnMetadata {
            producer_id,
            previous_producer_id: -1,
            producer_epoch: -1,
            last_producer_epoch: -1,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            last_update_ms: now_ms,
            next_producer_id: -1,
            client_version: 0,
        }
    }

    pub fn tv2(&self) -> bool {
        self.client_version >= 2
    }
}

/// What the coordinator does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Answer now: no write.
    Answer(Result<(), ResponseError>),
    /// Write this metadata to `__transaction_state`; once it is replicated it is the state, and
    /// the request is answered with success.
    Write(TxnMetadata),
    /// InitProducerId on an ongoing transaction: write this (the transaction in PrepareAbort
    /// with the epoch bumped, fencing the producer), send its markers, and answer
    /// CONCURRENT_TRANSACTIONS so that the client retries.
    FenceAndAbort(TxnMetadata),
    /// The decision needs a fresh producer id (a new transactional id, or an exhausted epoch):
    /// ask again with one.
    NeedProducerId,
}

/// InitProducerId with a transactional id: `expected` is the (producer id, epoch) the client
/// names (KIP-360, v3+), `fresh_producer_id` one the caller allocated when told
/// [`Decision::NeedProducerId`]. `pending` is a transition still being written;
/// `cluster_version` the finalized `transaction.version`, which aborting an ongoing
/// transaction follows.
#[allow(clippy::too_many_arguments)]
pub fn init_producer_id(
    md: &TxnMetadata,
    pending: bool,
    cluster_version: i16,
    timeout_ms: i32,
    expected: Option<(i64, i16)>,
    fresh_producer_id: Option<i64>,
    now_ms: i64,
) -> Decision {
    use Decision::*;
    if pending {
        return Answer(Err(ResponseError::ConcurrentTransactions));
    }
    if let Some((pid, epoch)) = expected
        && !(md.producer_epoch == -1
            || pid == md.producer_id
            || (pid == md.previous_producer_id && epoch >= EXHAUSTED_EPOCH))
    {
        return Answer(Err(ResponseError::ProducerFenced));
    }
    match md.state {
        TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::Dead | TxnState::PrepareEpochFence => {
            Answer(Err(ResponseError::ConcurrentTransactions))
        }
        TxnState::Ongoing => match fence(md, cluster_version, now_ms) {
            Some(next) => FenceAndAbort(next),
            None => Answer(Err(ResponseError::ConcurrentTransactions)),
        },
        _ if md.producer_epoch >= EXHAUSTED_EPOCH && expected.is_none_or(|(_, e)| e == md.producer_epoch) => {
            // prepareProducerIdRotation: a new producer id at epoch 0.
            let Some(new_pid) = fresh_producer_id else { return NeedProducerId };
            Write(TxnMetadata {
                producer_id: new_pid,
                previous_producer_id: md.producer_id,
                producer_epoch: 0,
                last_producer_epoch: if expected.is_some() { md.producer_epoch } else { -1 },
                timeout_ms,
                state: TxnState::Empty,
                partitions: BTreeSet::new(),
                start_ms: -1,
                last_update_ms: now_ms,
                ..md.clone()
            })
        }
        _ => {
            // prepareIncrementProducerEpoch.
            let (epoch, last) = match expected {
                None => (md.producer_epoch.saturating_add(1).max(0), -1),
                Some((_, e)) if md.producer_epoch == -1 || e == md.producer_epoch => {
                    (md.producer_epoch + 1, md.producer_epoch)
                }
                // A retry of the bump that already happened.
                Some((_, e)) if e == md.last_producer_epoch => (md.producer_epoch, md.last_producer_epoch),
                Some(_) => return Answer(Err(ResponseError::ProducerFenced)),
            };
            Write(TxnMetadata {
                producer_epoch: epoch,
                last_producer_epoch: last,
                timeout_ms,
                state: TxnState::Empty,
                partitions: BTreeSet::new(),
                start_ms: -1,
                last_update_ms: now_ms,
                ..md.clone()
            })
        }
    }
}

/// `prepareFenceProducerEpoch` and the abort that follows (`endTransaction` with
/// `fromClient = false`, at the cluster's `transaction.version`, `cluster_version`): the epoch
/// goes up by one, which every later request of the old producer fails on, and the transaction
/// is aborted with it. One bump on either version, as since KAFKA-19367 (Kafka 4.0.1, 4.1; 4.0.0
/// bumped twice on version 2). `None` when the epoch cannot go up.
pub fn fence(md: &TxnMetadata, cluster_version: i16, now_ms: i64) -> Option<TxnMetadata> {
    if md.state != TxnState::Ongoing || md.producer_epoch == i16::MAX {
        return None;
    }
    Some(TxnMetadata {
        producer_epoch: md.producer_epoch + 1,
        last_producer_epoch: -1,
        state: TxnState::PrepareAbort,
        last_update_ms: now_ms,
        client_version: cluster_version,
        ..md.clone()
    })
}

/// The producer's id and epoch against the metadata: INVALID_PRODUCER_ID_MAPPING for another
/// producer id, PRODUCER_FENCED for another epoch.
fn same_producer(md: &TxnMetadata, producer_id: i64, epoch: i16) -> Result<(), ResponseError> {
    if md.producer_id != producer_id {
        return Err(ResponseError::InvalidProducerIdMapping);
    }
    if md.producer_epoch != epoch {
        return Err(ResponseError::ProducerFenced);
    }
    Ok(())
}

/// AddPartitionsToTxn (and AddOffsetsToTxn, with the group's `__consumer_offsets` partition;
/// with transaction version 2, a partition leader's or the group coordinator's implicit add,
/// `client_version` 2).
pub fn add_partitions(
    md: &TxnMetadata,
    pending: bool,
    producer_id: i64,
    epoch: i16,
    partitions: &BTreeSet<(String, i32)>,
    client_version: i16,
    now_ms: i64,
) -> Decision {
    use Decision::*;
    // A transition being written comes first (KAFKA-18660): a producer that already moved to
    // its next producer id must not be told the id is wrong meanwhile.
    if pending {
        return Answer(Err(ResponseError::ConcurrentTransactions));
    }
    if let Err(e) = same_producer(md, producer_id, epoch) {
        return Answer(Err(e));
    }
    if md.state.is_prepare() || matches!(md.state, TxnState::Dead | TxnState::PrepareEpochFence) {
        return Answer(Err(ResponseError::ConcurrentTransactions));
    }
    if md.state == TxnState::Ongoing && partitions.is_subset(&md.partitions) {
        return Answer(Ok(()));
    }
    let fresh = md.state.is_complete_or_empty();
    Write(TxnMetadata {
        state: TxnState::Ongoing,
        partitions: md.partitions.union(partitions).cloned().collect(),
        start_ms: if fresh { now_ms } else { md.start_ms },
        last_update_ms: now_ms,
        client_version: if fresh { client_version } else { md.client_version.max(client_version) },
        ..md.clone()
    })
}

/// The broker's check for KIP-890 verification (AddPartitionsToTxn v4+ with VerifyOnly): NONE
/// for a partition in the transaction, TRANSACTION_ABORTABLE for one that is not.
pub fn verify_partition(
    md: &TxnMetadata,
    producer_id: i64,
    epoch: i16,
    partition: &(String, i32),
) -> Result<(), ResponseError> {
    same_producer(md, producer_id, epoch)?;
    if md.state.is_prepare() {
        return Err(ResponseError::ConcurrentTransactions);
    }
    if md.state == TxnState::Ongoing && md.partitions.contains(partition) {
        Ok(())
    } else {
        Err(ResponseError::TransactionAbortable)
    }
}

/// EndTxn from a client, transaction version 1 (`endTransactionWithTV1`).
pub fn end_txn(md: &TxnMetadata, pending: bool, producer_id: i64, epoch: i16, commit: bool, now_ms: i64) -> Decision {
    use Decision::*;
    use TxnState::*;
    if md.producer_id != producer_id {
        return Answer(Err(ResponseError::InvalidProducerIdMapping));
    }
    if epoch != md.producer_epoch {
        return Answer(Err(ResponseError::ProducerFenced));
    }
    if pending {
        return Answer(Err(ResponseError::ConcurrentTransactions));
    }
    let wrong = || Answer(Err(ResponseError::InvalidTxnState));
    match (md.state, commit) {
        (Ongoing, _) => Write(TxnMetadata {
            state: if commit { PrepareCommit } else { PrepareAbort },
            last_update_ms: now_ms,
            ..md.clone()
        }),
        // A retry of a decision already made and done.
        (CompleteCommit, true) | (CompleteAbort, false) if active(crate::defects::Defect::EndTxnRefusesRetry) => {
            wrong()
        }
        (CompleteCommit, true) | (CompleteAbort, false) => Answer(Ok(())),
        (CompleteCommit, false) | (CompleteAbort, true) => wrong(),
        // A retry of a decision still being carried out: retriable.
        (PrepareCommit, true) | (PrepareAbort, false) => Answer(Err(ResponseError::ConcurrentTransactions)),
        (PrepareCommit, false) | (PrepareAbort, true) => wrong(),
        (Empty, _) => wrong(),
        (Dead | PrepareEpochFence, _) => Answer(Err(ResponseError::ConcurrentTransactions)),
    }
}

/// EndTxn v5 from a client, transaction version 2 (`endTransaction`): each decision is written
/// with the epoch bumped, and a retry comes with the epoch before the bump. `fresh_producer_id`
/// is one the caller allocated when told [`Decision::NeedProducerId`] (an epoch about to run
/// out: the producer moves to it when the transaction completes). An abort with no partition
/// (from Empty or a completed transaction) is allowed and writes no marker.
pub fn end_txn_v2(
    md: &TxnMetadata,
    pending: bool,
    producer_id: i64,
    epoch: i16,
    commit: bool,
    fresh_producer_id: Option<i64>,
    now_ms: i64,
) -> Decision {
    use Decision::*;
    use TxnState::*;
    let retry_on_overflow =
        md.previous_producer_id == producer_id && epoch == EXHAUSTED_EPOCH && md.producer_epoch == 0;
    let retry_on_bump = epoch < i16::MAX && md.producer_epoch == epoch + 1;
    let retry = retry_on_overflow || retry_on_bump;
    let valid_epoch = match md.state {
        Ongoing | Empty => epoch == md.producer_epoch,
        PrepareCommit | PrepareAbort => retry_on_bump,
        CompleteCommit | CompleteAbort => retry || epoch == md.producer_epoch,
        Dead | PrepareEpochFence => epoch == md.producer_epoch,
    };
    if md.producer_id != producer_id && !retry_on_overflow {
        return Answer(Err(ResponseError::InvalidProducerIdMapping));
    }
    if !valid_epoch {
        return Answer(Err(ResponseError::ProducerFenced));
    }
    if pending {
        return Answer(Err(ResponseError::ConcurrentTransactions));
    }
    let wrong = || Answer(Err(ResponseError::InvalidTxnState));
    let decide = |target: TxnState| {
        let next_producer_id = if md.producer_epoch >= EXHAUSTED_EPOCH {
            match fresh_producer_id {
                Some(pid) => pid,
                None => return NeedProducerId,
            }
        } else {
            -1
        };
        let no_partition_added = !matches!(md.state, Ongoing);
        Write(TxnMetadata {
            state: target,
            producer_epoch: md.producer_epoch + 1,
            last_producer_epoch: md.producer_epoch,
            next_producer_id,
            start_ms: if no_partition_added { now_ms } else { md.start_ms },
            last_update_ms: now_ms,
            client_version: 2,
            ..md.clone()
        })
    };
    match (md.state, commit, retry) {
        (Ongoing, true, _) => decide(PrepareCommit),
        (Ongoing, false, _) => decide(PrepareAbort),
        // (A retry never reaches Empty: its epoch is not the current one, fenced above.)
        (Empty, false, _) => decide(PrepareAbort),
        (Empty, true, _) => wrong(),
        // A retry of the decision already made and done.
        (CompleteCommit, true, true) | (CompleteAbort, false, true)
            if active(crate::defects::Defect::EndTxnRefusesRetry) =>
        {
            wrong()
        }
        (CompleteCommit, true, true) | (CompleteAbort, false, true) => Answer(Ok(())),
        (CompleteCommit | CompleteAbort, false, false) => decide(PrepareAbort),
        (CompleteCommit | CompleteAbort, _, _) => wrong(),
        // A retry of a decision still being carried out.
        (PrepareCommit, true, _) | (PrepareAbort, false, _) => Answer(Err(ResponseError::ConcurrentTransactions)),
        (PrepareCommit | PrepareAbort, _, _) => wrong(),
        (Dead | PrepareEpochFence, _, _) => Answer(Err(ResponseError::ConcurrentTransactions)),
    }
}

/// `prepareComplete`: every partition has its marker; the transaction is done. With
/// transaction version 2 and an exhausted epoch the producer moves to its next id, at epoch 0.
pub fn complete(md: &TxnMetadata, now_ms: i64) -> Option<TxnMetadata> {
    let state = match md.state {
        TxnState::PrepareCommit => TxnState::CompleteCommit,
        TxnState::PrepareAbort => TxnState::CompleteAbort,
        _ => return None,
    };
    let rotate = md.tv2() && md.next_producer_id >= 0;
    Some(TxnMetadata {
        state,
        partitions: BTreeSet::new(),
        last_update_ms: now_ms,
        producer_id: if rotate { md.next_producer_id } else { md.producer_id },
        previous_producer_id: if rotate { md.producer_id } else { md.previous_producer_id },
        producer_epoch: if rotate { 0 } else { md.producer_epoch },
        next_producer_id: -1,
        ..md.clone()
    })
}

/// Whether an ongoing transaction ran past its timeout (the coordinator's periodic
/// `abortTimedOutTransactions`).
pub fn timed_out(md: &TxnMetadata, now_ms: i64) -> bool {
    md.state == TxnState::Ongoing && md.start_ms >= 0 && md.start_ms + i64::from(md.timeout_ms) < now_ms
}

/// Whether a transactional id may expire (`transactional.id.expiration.ms` after its last
/// update, when no transaction is in progress).
pub fn expired(md: &TxnMetadata, now_ms: i64, expiration_ms: i64) -> bool {
    md.state.is_complete_or_empty() && md.last_update_ms <= now_ms.saturating_sub(expiration_ms)
}

#[cfg(test)]
mod tests;
