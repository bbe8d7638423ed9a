//! The transaction coordinator's state machine, as pure functions: each request on a
//! transactional id's metadata gives an answer now, or the metadata to write before answering.
//!
//! It follows apache/kafka's `TransactionCoordinator` (`handleInitProducerId`,
//! `handleAddPartitionsToTransaction`, `endTransactionWithTV1`) and `TransactionMetadata`
//! (`prepareIncrementProducerEpoch`, `prepareProducerIdRotation`, `prepareAddPartitions`,
//! `prepareAbortOrCommit`, `prepareComplete`, `prepareFenceProducerEpoch`), transaction version 1:
//! the epoch stays the same for every transaction of a producer session. The version-dependent
//! error remaps (PRODUCER_FENCED to INVALID_PRODUCER_EPOCH for old clients) are the handlers'.
//! `testdata/transitions.txt` drives these functions from a table.

use std::collections::BTreeSet;

use kafka_protocol::ResponseError;

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
        }
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
/// [`Decision::NeedProducerId`]. `pending` is a transition still being written.
pub fn init_producer_id(
    md: &TxnMetadata,
    pending: bool,
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
        TxnState::Ongoing => match fence(md, now_ms) {
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
/// `fromClient = false`): the epoch goes up by one, which every later request of the old
/// producer fails on, and the transaction is aborted with it. `None` when the epoch cannot go
/// up.
pub fn fence(md: &TxnMetadata, now_ms: i64) -> Option<TxnMetadata> {
    if md.state != TxnState::Ongoing || md.producer_epoch == i16::MAX {
        return None;
    }
    Some(TxnMetadata {
        producer_epoch: md.producer_epoch + 1,
        last_producer_epoch: -1,
        state: TxnState::PrepareAbort,
        last_update_ms: now_ms,
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

/// AddPartitionsToTxn (and AddOffsetsToTxn, with the group's `__consumer_offsets` partition).
pub fn add_partitions(
    md: &TxnMetadata,
    pending: bool,
    producer_id: i64,
    epoch: i16,
    partitions: &BTreeSet<(String, i32)>,
    now_ms: i64,
) -> Decision {
    use Decision::*;
    if let Err(e) = same_producer(md, producer_id, epoch) {
        return Answer(Err(e));
    }
    if pending || md.state.is_prepare() || matches!(md.state, TxnState::Dead | TxnState::PrepareEpochFence) {
        return Answer(Err(ResponseError::ConcurrentTransactions));
    }
    if md.state == TxnState::Ongoing && partitions.is_subset(&md.partitions) {
        return Answer(Ok(()));
    }
    let start_ms = if md.state.is_complete_or_empty() { now_ms } else { md.start_ms };
    Write(TxnMetadata {
        state: TxnState::Ongoing,
        partitions: md.partitions.union(partitions).cloned().collect(),
        start_ms,
        last_update_ms: now_ms,
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
        (CompleteCommit, true) | (CompleteAbort, false)
            if crate::defects::active(crate::defects::Defect::EndTxnRefusesRetry) =>
        {
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

/// `prepareComplete`: every partition has its marker; the transaction is done.
pub fn complete(md: &TxnMetadata, now_ms: i64) -> Option<TxnMetadata> {
    let state = match md.state {
        TxnState::PrepareCommit => TxnState::CompleteCommit,
        TxnState::PrepareAbort => TxnState::CompleteAbort,
        _ => return None,
    };
    Some(TxnMetadata { state, partitions: BTreeSet::new(), last_update_ms: now_ms, ..md.clone() })
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
