//! The transaction coordinator (KIP-98; transaction versions 1 and 2, KIP-890), on
//! `__transaction_state`.
//!
//! A transactional id lives on the leader of partition `abs(javaHash(id)) %
//! transaction.state.log.num.partitions`, through the [`crate::coordinator`] runtime, as groups
//! do on `__consumer_offsets`. Its state machine is [`state`] (pure, table-tested); this file
//! keeps each id's metadata in memory and applies a decision in Kafka's order
//! (`TransactionCoordinator`, `TransactionStateManager`):
//! 1. under the lock, decide; a decision that writes marks the id's transition pending, and any
//!    other request for it meanwhile is CONCURRENT_TRANSACTIONS;
//! 2. write the new metadata to `__transaction_state` and wait until the ISR has it;
//! 3. under the lock again, make it the state, unless leadership moved on (NOT_COORDINATOR).
//!
//! After PrepareCommit or PrepareAbort is written the client is answered, and the markers go to
//! every partition of the transaction in the background: a [`MarkerJob`] for the broker's
//! marker sender, which reports back with [`Coordinator::markers_written`]; then the coordinator
//! writes CompleteCommit or CompleteAbort. A broker that loads a partition finishes every
//! transaction it finds in a Prepare state the same way. Ongoing transactions past their
//! timeout are fenced (epoch + 1) and aborted by a periodic sweep
//! (`transaction.abort.timed.out.transaction.cleanup.interval.ms`).
//!
//! Idle transactional ids expire after `transactional.id.expiration.ms` (a tombstone in
//! `__transaction_state`).
//!
//! Transaction version 2 (KIP-890 part 2) is the client's choice, request by request: EndTxn
//! v5 bumps the epoch with each decision and answers the producer's next id and epoch, and a
//! partition leader (Produce v12) or the group coordinator (TxnOffsetCommit v5) adds a partition
//! to the transaction itself (AddPartitionsToTxn v5 without VerifyOnly). Clients use it only
//! when ApiVersions finalizes the `transaction.version` feature at 2 (the broker's
//! `transaction.version` setting). Left out: KIP-939's two-phase commit.

pub mod records;
pub mod state;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kafka_protocol::ResponseError;
use tokio::sync::mpsc;

use crate::coordinator::{Runtime, StateMachine, StoredRecord};
use crate::defects::{Defect, active};
use crate::now_ms;
use state::{Decision, TxnMetadata, TxnState};

pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// Transaction settings from the broker config.
#[derive(Debug, Clone)]
pub struct TxnConfig {
    /// `transaction.max.timeout.ms`: INVALID_TRANSACTION_TIMEOUT above it.
    pub max_timeout_ms: i32,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`.
    pub abort_interval_ms: u64,
    /// How long a write to `__transaction_state` may wait for the ISR.
    pub write_timeout_ms: u64,
    /// `transactional.id.expiration.ms`.
    pub id_expiration_ms: i64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`.
    pub expiration_interval_ms: u64,
    /// The finalized level of the `transaction.version` feature: from 1 the coordinator writes
    /// its records as value v1.
    pub transaction_version: i16,
}

impl TxnConfig {
    /// The transaction coordinator's settings from the broker's config.
    pub fn from_broker(c: &crate::config::BrokerConfig) -> TxnConfig {
        TxnConfig {
            max_timeout_ms: c.transaction_max_timeout_ms,
            abort_interval_ms: c.transaction_abort_timed_out_transaction_cleanup_interval_ms,
            // Kafka writes with the transaction's own timeout; the offsets commit timeout bounds
            // it here, as for the group coordinator.
            write_timeout_ms: c.offsets_commit_timeout_ms,
            id_expiration_ms: c.transactional_id_expiration_ms,
            expiration_interval_ms: c.transaction_remove_expired_transaction_cleanup_interval_ms,
            transaction_version: c.transaction_version,
        }
    }
}

/// Markers for one decided transaction, for the broker to write to every partition's leader
/// (WriteTxnMarkers) and report back.
#[derive(Debug, Clone)]
pub struct MarkerJob {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
    /// The leader epoch of the `__transaction_state` partition: a marker from an older
    /// coordinator is refused (TRANSACTION_COORDINATOR_FENCED).
    pub coordinator_epoch: i32,
    pub partitions: BTreeSet<(String, i32)>,
}

struct Entry {
    md: TxnMetadata,
    /// The `__transaction_state` partition holding it.
    partition: i32,
    /// A transition being written.
    pending: bool,
}

/// What DescribeTransactions and ListTransactions show of one id.
#[derive(Debug, Clone)]
pub struct Described {
    pub transactional_id: String,
    pub md: TxnMetadata,
}

pub struct Coordinator {
    config: TxnConfig,
    runtime: Runtime,
    txns: Mutex<HashMap<String, Entry>>,
    markers: mpsc::UnboundedSender<MarkerJob>,
    marker_jobs: Mutex<Option<mpsc::UnboundedReceiver<MarkerJob>>>,
}

/// The answer to InitProducerId.
pub type InitAnswer = Result<(i64, i16), ResponseError>;

impl Coordinator {
    pub fn new(config: TxnConfig) -> Coordinator {
        let (markers, jobs) = mpsc::unbounded_channel();
        Coordinator {
            runtime: Runtime::new(TRANSACTION_STATE_TOPIC, config.write_timeout_ms),
            config,
            txns: Mutex::new(HashMap::new()),
            markers,
            marker_jobs: Mutex::new(Some(jobs)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.txns.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The marker jobs, for the broker's marker sender (taken once).
    pub fn take_marker_jobs(&self) -> Option<mpsc::UnboundedReceiver<MarkerJob>> {
        self.marker_jobs.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Whether InitProducerId for `id` will need a fresh producer id: a new id, or an epoch
    /// that cannot go up (the caller allocates one first; an unused one is harmless).
    pub fn needs_producer_id(&self, id: &str) -> bool {
        match self.lock().get(id) {
            None => true,
            Some(e) => e.md.producer_epoch >= state::EXHAUSTED_EPOCH,
        }
    }

    /// Whether a version 2 decision for `id` will need a fresh producer id (its epoch is about
    /// to run out).
    pub fn epoch_exhausted(&self, id: &str) -> bool {
        self.lock().get(id).is_some_and(|e| e.md.producer_epoch >= state::EXHAUSTED_EPOCH)
    }

    /// InitProducerId with a transactional id (`handleInitProducerId`).
    pub async fn init_producer_id(
        &self,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        fresh_producer_id: Option<i64>,
    ) -> InitAnswer {
        if id.is_empty() {
            return Err(ResponseError::InvalidRequest);
        }
        if (timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms) && !active(Defect::AcceptAnyTransactionTimeout)
        {
            return Err(ResponseError::InvalidTransactionTimeout);
        }
        let partition = self.runtime.owner(id)?;
        let now = now_ms();
        let cv = self.config.transaction_version;
        let decision = {
            let mut txns = self.lock();
            if let Some(e) =
                txns.get(id).filter(|e| e.md.producer_epoch >= 0 && active(Defect::InitProducerIdDoesNotFence))
            {
                // The defect: the current producer is handed out again, unfenced.
                return Ok((e.md.producer_id, e.md.producer_epoch));
            }
            if !txns.contains_key(id) {
                let Some(pid) = fresh_producer_id else { return Err(ResponseError::ConcurrentTransactions) };
                txns.insert(
                    id.to_string(),
                    Entry { md: TxnMetadata::new(pid, timeout_ms, now), partition, pending: false },
                );
            }
            let entry = txns.get_mut(id).expect("just inserted");
            let decision =
                state::init_producer_id(&entry.md, entry.pending, cv, timeout_ms, expected, fresh_producer_id, now);
            if matches!(decision, Decision::Write(_) | Decision::FenceAndAbort(_)) {
                entry.pending = true;
            }
            decision
        };
        match decision {
            Decision::Answer(r) => r.map(|()| (-1, -1)),
            Decision::NeedProducerId => Err(ResponseError::ConcurrentTransactions),
            Decision::Write(next) => {
                let (pid, epoch) = (next.producer_id, next.producer_epoch);
                self.write(id, partition, next).await?;
                Ok((pid, epoch))
            }
            Decision::FenceAndAbort(next) => {
                self.write(id, partition, next).await?;
                Err(ResponseError::ConcurrentTransactions)
            }
        }
    }

    /// AddPartitionsToTxn (client form, and v5 without VerifyOnly from a broker: transaction
    /// version 2's implicit add, `client_version` 2) and AddOffsetsToTxn.
    pub async fn add_partitions(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &BTreeSet<(String, i32)>,
        client_version: i16,
    ) -> Result<(), ResponseError> {
        self.decide_and_write(id, |md, pending| {
            state::add_partitions(md, pending, producer_id, epoch, partitions, client_version, now_ms())
        })
        .await
        .map(|_| ())
    }

    /// AddPartitionsToTxn v4+ with VerifyOnly, from a partition leader (KIP-890): per partition.
    pub fn verify(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Vec<Result<(), ResponseError>> {
        let one = |e: ResponseError| vec![Err(e); partitions.len()];
        if let Err(e) = self.runtime.owner(id) {
            return one(e);
        }
        let txns = self.lock();
        let Some(entry) = txns.get(id) else { return one(ResponseError::InvalidProducerIdMapping) };
        partitions.iter().map(|p| state::verify_partition(&entry.md, producer_id, epoch, p)).collect()
    }

    /// EndTxn: transaction version 1 (v0-4), or 2 (v5, `fresh_producer_id` allocated when
    /// [`Coordinator::needs_producer_id`] says so). Answers the producer id and epoch the
    /// producer goes on with: with version 2, those after this decision's bump (or, when the
    /// epoch ran out, the new producer id at epoch 0); with version 1, the same ones.
    pub async fn end_txn(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        version_2: bool,
        fresh_producer_id: Option<i64>,
    ) -> Result<(i64, i16), ResponseError> {
        self.decide_and_write(id, |md, pending| {
            if !version_2 {
                return state::end_txn(md, pending, producer_id, epoch, commit, now_ms());
            }
            if active(Defect::EndTxnKeepsEpoch) {
                // The defect: a version 2 decision taken as version 1's, the epoch kept.
                let d = state::end_txn(md, pending, producer_id, epoch, commit, now_ms());
                return match d {
                    Decision::Write(next) => Decision::Write(TxnMetadata { client_version: 2, ..next }),
                    other => other,
                };
            }
            state::end_txn_v2(md, pending, producer_id, epoch, commit, fresh_producer_id, now_ms())
        })
        .await
    }

    /// Decides under the lock, writes what the decision writes, and answers the producer id and
    /// epoch the producer goes on with.
    async fn decide_and_write(
        &self,
        id: &str,
        decide: impl FnOnce(&TxnMetadata, bool) -> Decision,
    ) -> Result<(i64, i16), ResponseError> {
        if id.is_empty() {
            return Err(ResponseError::InvalidRequest);
        }
        let partition = self.runtime.owner(id)?;
        let decision = {
            let mut txns = self.lock();
            let entry = txns.get_mut(id).ok_or(ResponseError::InvalidProducerIdMapping)?;
            let decision = decide(&entry.md, entry.pending);
            tracing::debug!(
                "{id}: in {} (epoch {}, pending {}): {decision:?}",
                entry.md.state.name(),
                entry.md.producer_epoch,
                entry.pending
            );
            if matches!(decision, Decision::Write(_)) {
                entry.pending = true;
            }
            (decision, (entry.md.producer_id, entry.md.producer_epoch))
        };
        match decision {
            (Decision::Answer(r), current) => r.map(|()| current),
            (Decision::Write(next), _) => {
                let goes_on = if next.next_producer_id >= 0 {
                    (next.next_producer_id, 0)
                } else {
                    (next.producer_id, next.producer_epoch)
                };
                self.write(id, partition, next).await.map(|()| goes_on)
            }
            (Decision::FenceAndAbort(_) | Decision::NeedProducerId, _) => Err(ResponseError::ConcurrentTransactions),
        }
    }

    /// Writes `next` for `id` and makes it the state once replicated; a Prepare state then
    /// sends its markers.
    async fn write(&self, id: &str, partition: i32, next: TxnMetadata) -> Result<(), ResponseError> {
        let epoch = self.runtime.epoch(partition);
        let flexible = self.config.transaction_version >= 1;
        let record = (records::key(id), Some(records::value(&stored(&next), flexible)));
        let written = self.runtime.write(partition, vec![record]).await.map_err(|e| match e {
            ResponseError::MessageTooLarge | ResponseError::RecordListTooLarge => ResponseError::UnknownServerError,
            other => other,
        });
        let mut txns = self.lock();
        let Some(entry) = txns.get_mut(id) else { return Err(ResponseError::NotCoordinator) };
        entry.pending = false;
        written?;
        if epoch.is_none() || self.runtime.epoch(partition) != epoch {
            return Err(ResponseError::NotCoordinator);
        }
        entry.md = next;
        if entry.md.state.is_prepare() {
            self.send_markers(id, entry, epoch.unwrap_or(-1));
        }
        Ok(())
    }

    fn send_markers(&self, id: &str, entry: &Entry, coordinator_epoch: i32) {
        let md = &entry.md;
        let job = MarkerJob {
            transactional_id: id.to_string(),
            producer_id: md.producer_id,
            producer_epoch: md.producer_epoch,
            commit: md.state == TxnState::PrepareCommit,
            coordinator_epoch,
            partitions: md.partitions.clone(),
        };
        if self.markers.send(job).is_err() {
            tracing::error!("{TRANSACTION_STATE_TOPIC}: no marker sender; {id} stays in {}", md.state.name());
        }
    }

    /// The broker wrote every marker of `job`: the transaction completes (CompleteCommit or
    /// CompleteAbort is written), unless the coordinator moved on meanwhile.
    pub async fn markers_written(&self, job: &MarkerJob) {
        let id = job.transactional_id.as_str();
        let Ok(partition) = self.runtime.owner(id) else { return };
        if self.runtime.epoch(partition) != Some(job.coordinator_epoch) {
            return;
        }
        let next = {
            let mut txns = self.lock();
            let Some(entry) = txns.get_mut(id) else { return };
            if entry.pending
                || entry.md.producer_id != job.producer_id
                || entry.md.producer_epoch != job.producer_epoch
                || entry.md.state != (if job.commit { TxnState::PrepareCommit } else { TxnState::PrepareAbort })
            {
                return;
            }
            let Some(next) = state::complete(&entry.md, now_ms()) else { return };
            entry.pending = true;
            next
        };
        if let Err(e) = self.write(id, partition, next).await {
            tracing::warn!("{id}: completing the transaction: {e:?}; a new coordinator will finish it");
        }
    }

    /// Fences and aborts every ongoing transaction past its timeout.
    pub async fn abort_timed_out(&self) {
        if active(Defect::TransactionsNeverTimeOut) {
            return;
        }
        let now = now_ms();
        let due: Vec<(String, i32, TxnMetadata)> = {
            let mut txns = self.lock();
            let loaded = self.runtime.loaded();
            txns.iter_mut()
                .filter(|(_, e)| !e.pending && loaded.contains(&e.partition) && state::timed_out(&e.md, now))
                .filter_map(|(id, e)| {
                    let next = state::fence(&e.md, self.config.transaction_version, now)?;
                    e.pending = true;
                    Some((id.clone(), e.partition, next))
                })
                .collect()
        };
        for (id, partition, next) in due {
            tracing::info!("{id}: transaction timed out; aborting it with epoch {}", next.producer_epoch);
            if let Err(e) = self.write(&id, partition, next).await {
                tracing::warn!("{id}: aborting a timed-out transaction: {e:?}");
            }
        }
    }

    /// Forgets transactional ids idle for `transactional.id.expiration.ms` (Kafka's
    /// `removeExpiredTransactionalIds`): a tombstone goes to `__transaction_state`, then the id is
    /// gone (TRANSACTIONAL_ID_NOT_FOUND; a new InitProducerId starts it afresh). An id with a
    /// transaction in progress never expires.
    pub async fn remove_expired(&self) {
        if active(Defect::TransactionalIdsNeverExpire) {
            return;
        }
        let now = now_ms();
        let due: Vec<(String, i32)> = {
            let mut txns = self.lock();
            let loaded = self.runtime.loaded();
            txns.iter_mut()
                .filter(|(_, e)| {
                    !e.pending
                        && loaded.contains(&e.partition)
                        && state::expired(&e.md, now, self.config.id_expiration_ms)
                })
                .map(|(id, e)| {
                    e.pending = true;
                    (id.clone(), e.partition)
                })
                .collect()
        };
        for (id, partition) in due {
            let written = self.runtime.write(partition, vec![(records::key(&id), None)]).await;
            let mut txns = self.lock();
            match written {
                Ok(()) => {
                    txns.remove(&id);
                    tracing::info!("{id}: transactional id expired");
                }
                Err(e) => {
                    if let Some(entry) = txns.get_mut(&id) {
                        entry.pending = false;
                    }
                    tracing::warn!("{id}: expiring the transactional id: {e:?}");
                }
            }
        }
    }

    /// The periodic sweeps: timed-out transactions, and expired transactional ids.
    pub async fn sweep_loop(self: Arc<Self>) {
        let mut aborts = tokio::time::interval(Duration::from_millis(self.config.abort_interval_ms.max(1)));
        aborts.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut expiry = tokio::time::interval(Duration::from_millis(self.config.expiration_interval_ms.max(1)));
        expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = aborts.tick() => self.abort_timed_out().await,
                _ = expiry.tick() => self.remove_expired().await,
            }
        }
    }

    /// DescribeTransactions: an id this broker coordinates (TRANSACTIONAL_ID_NOT_FOUND for an
    /// unknown one).
    pub fn describe(&self, id: &str) -> Result<Described, ResponseError> {
        if id.is_empty() {
            return Err(ResponseError::InvalidRequest);
        }
        self.runtime.owner(id)?;
        let txns = self.lock();
        match txns.get(id) {
            Some(e) if e.md.state != TxnState::Dead => {
                Ok(Described { transactional_id: id.to_string(), md: e.md.clone() })
            }
            _ => Err(ResponseError::TransactionalIdNotFound),
        }
    }

    /// ListTransactions: every id of the partitions this broker has loaded, or
    /// COORDINATOR_LOAD_IN_PROGRESS while any is loading.
    pub fn list(&self) -> Result<Vec<Described>, ResponseError> {
        if self.runtime.loading() {
            return Err(ResponseError::CoordinatorLoadInProgress);
        }
        let loaded = self.runtime.loaded();
        let txns = self.lock();
        let mut out: Vec<Described> = txns
            .iter()
            .filter(|(_, e)| loaded.contains(&e.partition) && e.md.state != TxnState::Dead)
            .map(|(id, e)| Described { transactional_id: id.clone(), md: e.md.clone() })
            .collect();
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        Ok(out)
    }
}

fn stored(md: &TxnMetadata) -> records::StoredTxn {
    records::StoredTxn {
        producer_id: md.producer_id,
        producer_epoch: md.producer_epoch,
        timeout_ms: md.timeout_ms,
        state: md.state,
        partitions: md.partitions.clone(),
        last_update_ms: md.last_update_ms,
        start_ms: md.start_ms,
        client_version: md.client_version,
    }
}

impl StateMachine for Coordinator {
    fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    fn forget(&self, index: i32) {
        self.lock().retain(|_, e| e.partition != index);
    }

    fn load(&self, index: i32, epoch: i32, records: Vec<StoredRecord>) {
        let mut loaded: HashMap<String, TxnMetadata> = HashMap::new();
        // The defect: nothing is read back.
        let records = if active(Defect::TxnCoordinatorForgetsOnLoad) { Vec::new() } else { records };
        for r in records.into_iter().filter(|r| r.marker.is_none()) {
            match records::decode(r.key.as_ref(), r.value.as_ref()) {
                Ok((id, Some(t))) => {
                    let md = TxnMetadata {
                        producer_id: t.producer_id,
                        previous_producer_id: -1,
                        producer_epoch: t.producer_epoch,
                        last_producer_epoch: -1,
                        timeout_ms: t.timeout_ms,
                        state: t.state,
                        partitions: t.partitions,
                        start_ms: t.start_ms,
                        last_update_ms: t.last_update_ms,
                        next_producer_id: -1,
                        client_version: t.client_version,
                    };
                    loaded.insert(id, md);
                }
                Ok((id, None)) => {
                    loaded.remove(&id);
                }
                Err(e) => {
                    tracing::warn!("{TRANSACTION_STATE_TOPIC}-{index}: offset {}: skipping a record: {e}", r.offset)
                }
            }
        }
        let mut txns = self.lock();
        if !self.runtime.finish_load(index, epoch) {
            return;
        }
        txns.retain(|_, e| e.partition != index);
        let count = loaded.len();
        for (id, md) in loaded {
            let entry = Entry { md, partition: index, pending: false };
            // TransactionStateManager: transactions decided but not completed get their markers
            // again; ongoing ones are left to the timeout sweep.
            if entry.md.state.is_prepare() {
                self.send_markers(&id, &entry, epoch);
            }
            txns.insert(id, entry);
        }
        tracing::info!("{TRANSACTION_STATE_TOPIC}-{index}: loaded {count} transactional ids at leader epoch {epoch}");
    }

    fn unload(&self, index: i32) {
        self.lock().retain(|_, e| e.partition != index);
    }
}
