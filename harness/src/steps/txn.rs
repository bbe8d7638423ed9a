//! Transactions through librdkafka (KIP-98): a transactional producer commits or aborts
//! transactions of records and of a group's offsets, as applications do. Each transaction is
//! recorded when it ends: its sends (acknowledged only when it committed) and an
//! [`Op::EndTxn`] naming its records, from which the checker judges what read_committed and
//! read_uncommitted consumers read.

use std::collections::HashMap;

use cucumber::{given, then, when};
use kafka_protocol::messages::ApiKey;

use super::common::number_list;
use crate::checker;
use crate::history::{Op, Outcome, Record};
use crate::kafka::{TxnProducer, TxnSend};
use crate::world::{KafkaWorld, StepError, StepResult};

/// The scenario's transactional producers, by the name the scenario gives them.
#[derive(Default)]
pub struct TxnProducers {
    producers: HashMap<String, Producer>,
    wire: HashMap<String, WireTxn>,
}

struct Producer {
    client: TxnProducer,
    process: String,
    transactional_id: String,
    /// The sends of the transaction it left open, with the topic they went to.
    open: Vec<(String, TxnSend)>,
}

fn producer<'a>(w: &'a mut KafkaWorld, name: &str) -> Result<&'a mut Producer, StepError> {
    if !w.txn_producers.producers.contains_key(name) {
        return Err(
            w.harness(format!("no transactional producer {name:?}: add `Given a transactional producer \"{name}\"`"))
        );
    }
    Ok(w.txn_producers.producers.get_mut(name).expect("checked"))
}

/// A librdkafka producer with `transactional.id` set, after `init_transactions`. A target
/// whose ApiVersions lacks the transaction APIs reports it as not supported.
#[given(expr = "a transactional producer {string}")]
async fn transactional_producer(w: &mut KafkaWorld, name: String) -> StepResult {
    let client = w.wire().await?;
    let missing: Vec<ApiKey> =
        [ApiKey::InitProducerId, ApiKey::AddPartitionsToTxn, ApiKey::AddOffsetsToTxn, ApiKey::EndTxn]
            .into_iter()
            .filter(|k| client.advertised(*k).is_none())
            .collect();
    if !missing.is_empty() {
        return Err(w.unsupported(format!(
            "the broker does not advertise {missing:?} in ApiVersions: producers cannot be transactional"
        )));
    }
    let transactional_id = w.topic(&name);
    start(w, name, transactional_id, "a transactional producer").await
}

/// Starts a librdkafka producer with the transactional id and keeps it under `name`.
async fn start(w: &mut KafkaWorld, name: String, transactional_id: String, what: &str) -> StepResult {
    let bootstrap = w.bootstrap().await?;
    let process = w.next_process("txn-producer");
    let session = crate::kafka::Session {
        bootstrap: &bootstrap,
        configs: &w.producer_config,
        process: &process,
        history: &w.history,
        timeout: w.timeout(),
    };
    let started = TxnProducer::start(&session, &transactional_id).await;
    let client = started.map_err(|e| w.verdict(format!("{what} could not start: {e}")))?;
    w.txn_producers.producers.insert(name, Producer { client, process, transactional_id, open: Vec::new() });
    Ok(())
}

/// Another instance of a producer: the same `transactional.id`, started (`init_transactions`)
/// while the first one still runs.
#[when(expr = "a transactional producer {string} starts with the transactional.id of {string}")]
async fn second_instance(w: &mut KafkaWorld, name: String, of: String) -> StepResult {
    let transactional_id = producer(w, &of)?.transactional_id.clone();
    start(w, name, transactional_id, &format!("a second instance of {of:?}")).await
}

/// The old instance tries to commit the transaction it left open: Kafka refuses it (its epoch
/// was fenced), and the coordinator aborted that transaction when the new instance started.
#[then(expr = "the transaction of {string} cannot commit")]
async fn cannot_commit(w: &mut KafkaWorld, name: String) -> StepResult {
    let p = producer(w, &name)?;
    let sends = std::mem::take(&mut p.open);
    let (client, process, id) = (p.client.clone(), p.process.clone(), p.transactional_id.clone());
    if sends.is_empty() {
        return Err(w.harness(format!("{name:?} has no open transaction to commit")));
    }
    let result = client.commit().await;
    let committed = result.is_ok();
    let outcome = if committed { Outcome::Ok } else { Outcome::Fail { error: "transaction fenced".into() } };
    let mut values = Vec::with_capacity(sends.len());
    for (topic, s) in sends {
        values.extend(s.record.value.clone());
        let op =
            Op::Send { topic, partition: s.partition, record: s.record, offset: s.delivered.ok(), timestamp: None };
        w.history.record(&process, op, outcome.clone());
    }
    // Its records were aborted by the coordinator when the new instance fenced it, unless the
    // commit went through.
    w.history.record(&process, Op::EndTxn { transactional_id: id, commit: committed, values }, Outcome::Ok);
    match result {
        Ok(()) => Err(w.verdict(format!(
            "the fenced instance {name:?} committed its transaction after a new instance started with its \
             transactional.id; Kafka refuses it (PRODUCER_FENCED) and aborts its transaction"
        ))),
        Err(_) => Ok(()),
    }
}

/// Values for `n` records of a producer's transaction.
fn records(w: &mut KafkaWorld, process: &str, n: usize) -> Vec<Record> {
    (0..n).map(|_| Record { key: None, value: Some(w.next_value(process)), headers: Vec::new() }).collect()
}

/// Begins a transaction and sends `n` records to the partitions in turn; every record must be
/// delivered (acknowledged by its leader) before the transaction ends.
async fn send_in_transaction(
    w: &mut KafkaWorld,
    name: &str,
    n: usize,
    partitions: &[i32],
    topic: &str,
) -> Result<Vec<(String, TxnSend)>, StepError> {
    let process = producer(w, name)?.process.clone();
    let records = records(w, &process, n);
    send_records_in_transaction(w, name, records, partitions, topic).await
}

async fn send_records_in_transaction(
    w: &mut KafkaWorld,
    name: &str,
    records: Vec<Record>,
    partitions: &[i32],
    topic: &str,
) -> Result<Vec<(String, TxnSend)>, StepError> {
    let real = w.topic(topic);
    let p = producer(w, name)?;
    let client = p.client.clone();
    if let Err(e) = client.begin().await {
        return Err(w.harness(e));
    }
    let sends = client.send(&real, partitions, &records).await;
    let refused: Vec<String> =
        sends.iter().filter_map(|s| s.delivered.as_ref().err().map(|e| format!("{:?}: {e}", s.record.value))).collect();
    if !refused.is_empty() {
        return Err(w.verdict(format!(
            "{} of {} records of a transaction were not delivered, e.g. {}",
            refused.len(),
            sends.len(),
            refused[0]
        )));
    }
    Ok(sends.into_iter().map(|s| (real.clone(), s)).collect())
}

/// Ends the producer's transaction (commit or abort) and records it: the sends, acknowledged
/// when it committed, then the end itself.
async fn end(w: &mut KafkaWorld, name: &str, sends: Vec<(String, TxnSend)>, commit: bool) -> StepResult {
    let p = producer(w, name)?;
    let (client, process, id) = (p.client.clone(), p.process.clone(), p.transactional_id.clone());
    let result = if commit { client.commit().await } else { client.abort().await };
    let outcome = match &result {
        Ok(()) if commit => Outcome::Ok,
        Ok(()) => Outcome::Fail { error: "transaction aborted".into() },
        Err(e) => Outcome::Unknown { error: e.clone() },
    };
    let mut values = Vec::with_capacity(sends.len());
    for (topic, s) in sends {
        values.extend(s.record.value.clone());
        let op =
            Op::Send { topic, partition: s.partition, record: s.record, offset: s.delivered.ok(), timestamp: None };
        w.history.record(&process, op, outcome.clone());
    }
    let end_outcome = match &result {
        Ok(()) => Outcome::Ok,
        Err(e) => Outcome::Unknown { error: e.clone() },
    };
    w.history.record(&process, Op::EndTxn { transactional_id: id, commit, values }, end_outcome);
    result.map_err(|e| w.verdict(format!("{} failed: {e}", if commit { "committing" } else { "aborting" })))
}

fn partition_list(w: &KafkaWorld, list: &str) -> Result<Vec<i32>, StepError> {
    match number_list(list) {
        Some(p) if !p.is_empty() => Ok(p),
        _ => Err(w.harness(format!("{list:?} is not a list of partitions such as \"0,1\""))),
    }
}

#[when(expr = "{string} commits a transaction of {int} records to partitions {string} of {string}")]
async fn commit_records(w: &mut KafkaWorld, name: String, n: usize, partitions: String, topic: String) -> StepResult {
    let partitions = partition_list(w, &partitions)?;
    let sends = send_in_transaction(w, &name, n, &partitions, &topic).await?;
    end(w, &name, sends, true).await
}

#[when(expr = "{string} aborts a transaction of {int} records to partitions {string} of {string}")]
async fn abort_records(w: &mut KafkaWorld, name: String, n: usize, partitions: String, topic: String) -> StepResult {
    let partitions = partition_list(w, &partitions)?;
    let sends = send_in_transaction(w, &name, n, &partitions, &topic).await?;
    end(w, &name, sends, false).await
}

/// `k1=a,k2=b`: records with these keys and values (unique values: they name the records), in
/// one transaction that aborts or commits.
async fn keyed_transaction(
    w: &mut KafkaWorld,
    name: &str,
    pairs: &str,
    partition: i32,
    topic: &str,
    commit: bool,
) -> StepResult {
    let mut records = Vec::new();
    for pair in pairs.split(',').map(str::trim) {
        let Some((k, v)) = pair.split_once('=').filter(|(k, v)| !k.is_empty() && !v.is_empty()) else {
            return Err(w.harness(format!("{pair:?} is not key=value")));
        };
        records.push(Record { key: Some(k.as_bytes().to_vec()), value: Some(v.to_string()), headers: Vec::new() });
    }
    let sends = send_records_in_transaction(w, name, records, &[partition], topic).await?;
    end(w, name, sends, commit).await
}

#[when(
    expr = "{string} aborts a transaction of records with the keys and values {string} to partition {int} of {string}"
)]
async fn abort_keyed(w: &mut KafkaWorld, name: String, pairs: String, partition: i32, topic: String) -> StepResult {
    keyed_transaction(w, &name, &pairs, partition, &topic, false).await
}

#[when(
    expr = "{string} commits a transaction of records with the keys and values {string} to partition {int} of {string}"
)]
async fn commit_keyed(w: &mut KafkaWorld, name: String, pairs: String, partition: i32, topic: String) -> StepResult {
    keyed_transaction(w, &name, &pairs, partition, &topic, true).await
}

/// The records are delivered (in the partition's log) but their transaction stays open until
/// `When the transaction of "<name>" commits`.
#[when(expr = "{string} sends {int} records to partition {int} of {string} in a transaction it leaves open")]
async fn leave_open(w: &mut KafkaWorld, name: String, n: usize, partition: i32, topic: String) -> StepResult {
    let sends = send_in_transaction(w, &name, n, &[partition], &topic).await?;
    producer(w, &name)?.open = sends;
    Ok(())
}

#[when(expr = "the transaction of {string} commits")]
async fn commit_open(w: &mut KafkaWorld, name: String) -> StepResult {
    let sends = std::mem::take(&mut producer(w, &name)?.open);
    end(w, &name, sends, true).await
}

/// A transaction holding only a group's offsets (`send_offsets_to_transaction` for a group no
/// consumer has joined), committed or aborted.
async fn offsets_transaction(
    w: &mut KafkaWorld,
    name: &str,
    offset: i64,
    partition: i32,
    topic: &str,
    group: &str,
    commit: bool,
) -> StepResult {
    let bootstrap = w.bootstrap().await?;
    let (real_topic, real_group) = (w.topic(topic), w.topic(group));
    let client = producer(w, name)?.client.clone();
    if let Err(e) = client.begin().await {
        return Err(w.harness(e));
    }
    if let Err(e) = client.send_offsets(&bootstrap, &real_group, &real_topic, partition, offset).await {
        return Err(w.verdict(format!(
            "sending offset {offset} of {topic}-{partition} for group {group} to the transaction: {e}"
        )));
    }
    end(w, name, Vec::new(), commit).await
}

#[when(
    expr = "{string} commits a transaction that commits offset {int} of partition {int} of {string} for group {string}"
)]
async fn commit_offsets(
    w: &mut KafkaWorld,
    name: String,
    offset: i64,
    partition: i32,
    topic: String,
    group: String,
) -> StepResult {
    offsets_transaction(w, &name, offset, partition, &topic, &group, true).await
}

#[when(
    expr = "{string} aborts a transaction that commits offset {int} of partition {int} of {string} for group {string}"
)]
async fn abort_offsets(
    w: &mut KafkaWorld,
    name: String,
    offset: i64,
    partition: i32,
    topic: String,
    group: String,
) -> StepResult {
    offsets_transaction(w, &name, offset, partition, &topic, &group, false).await
}

/// Kills -9 the broker FindCoordinator names for the producer's transactional id.
#[when(expr = "the transaction coordinator of {string} is killed")]
async fn coordinator_killed(w: &mut KafkaWorld, name: String) -> StepResult {
    let id = producer(w, &name)?.transactional_id.clone();
    let node = match super::common::find_coordinator_of(w, &id, 1).await? {
        Ok((node, _)) => node,
        Err(last) => return Err(w.verdict(format!("no transaction coordinator for {id}: {last}"))),
    };
    if !w.ctx()?.target.can_control_processes() {
        return Err(w.unsupported("killing a broker needs `process` commands in the target file"));
    }
    let result = w.cluster().await?.stop(node, crate::cluster::Stop::Kill).await;
    result.map_err(|e| w.harness(format!("cannot kill broker {node}, the transaction coordinator: {e}")))
}

#[then("no record of an aborted transaction is read")]
async fn no_aborted_reads(w: &mut KafkaWorld) -> StepResult {
    w.found(checker::txn::no_aborted_reads(&w.history.events()))
}

#[then("every record of an aborted transaction is read")]
async fn aborted_records_read(w: &mut KafkaWorld) -> StepResult {
    w.found(checker::txn::aborted_records_read(&w.history.events()))
}

#[then("no record is read before its transaction committed")]
async fn no_precommitted_reads(w: &mut KafkaWorld) -> StepResult {
    w.found(checker::txn::no_precommitted_reads(&w.history.events()))
}

// ---------------------------------------------------------------------------------------------
// The transactional producer on the wire: exact requests and Kafka's exact answers

/// A transactional producer on the wire client: its transactional id, producer id and epoch
/// from InitProducerId, a connection to its transaction coordinator, and the next sequence per
/// partition.
pub struct WireTxn {
    transactional_id: String,
    producer_id: i64,
    epoch: i16,
    coordinator: crate::wire::WireClient,
    process: String,
    next_sequence: Sequences,
    /// The Produce version of the last batch, for the version-dependent answers (KIP-890).
    last_produce_version: i16,
    /// Values of the transactional batches acknowledged in the transaction in progress.
    values: Vec<String>,
    /// Transaction version 2 (KIP-890 part 2): Produce v12 and EndTxn v5, no AddPartitionsToTxn;
    /// each decision moves the producer to the epoch EndTxn answers.
    version_2: bool,
    /// Before the last move to a new epoch: the producer id, epoch and next sequences, for a
    /// late request of the transaction before.
    previous: Option<(i64, i16, Sequences)>,
    /// The last EndTxn v5 that succeeded: commit or abort, and the producer id and epoch it
    /// answered.
    last_end: Option<(bool, i64, i16)>,
    /// Transactional batches appended in the transaction in progress (topic, partition,
    /// records, base offset): recorded in the history when it ends, acknowledged if it commits.
    appended: Vec<(String, i32, Vec<Record>, i64)>,
}

/// The next sequence number per partition.
type Sequences = std::collections::BTreeMap<(String, i32), i32>;

/// Answers during which Kafka's producers ask the coordinator again.
fn retriable_coordinator_error(error: &str) -> bool {
    matches!(
        error,
        "COORDINATOR_NOT_AVAILABLE" | "COORDINATOR_LOAD_IN_PROGRESS" | "NOT_COORDINATOR" | "CONCURRENT_TRANSACTIONS"
    )
}

fn wire_txn<'a>(w: &'a mut KafkaWorld, name: &str) -> Result<&'a mut WireTxn, StepError> {
    if !w.txn_producers.wire.contains_key(name) {
        return Err(w.harness(format!(
            "no transactional producer {name:?} on the wire client: add `Given a transactional producer \"{name}\" on the wire client`"
        )));
    }
    Ok(w.txn_producers.wire.get_mut(name).expect("checked"))
}

/// FindCoordinator (key type 1), then InitProducerId with the transactional id, asked again
/// while the coordinator is not ready.
#[given(expr = "a transactional producer {string} on the wire client")]
async fn wire_transactional_producer(w: &mut KafkaWorld, name: String) -> StepResult {
    start_wire_producer(w, name, false).await
}

/// Transaction version 2 (KIP-890 part 2), as Kafka's Java producer uses it when ApiVersions
/// finalizes the `transaction.version` feature at 2: Produce v12 and TxnOffsetCommit v5 add
/// partitions to the transaction, EndTxn v5 answers the epoch to go on with.
#[given(expr = "a transactional producer {string} on the wire client with transaction version 2")]
async fn wire_transactional_producer_v2(w: &mut KafkaWorld, name: String) -> StepResult {
    let probe = w.wire().await?;
    let level = probe.finalized("transaction.version");
    if level.is_none_or(|l| l < 2) {
        let finalized = level.map_or("does not finalize transaction.version".to_string(), |l| {
            format!("finalizes transaction.version at {l}")
        });
        return Err(w.unsupported(format!(
            "the broker {finalized} in ApiVersions: transaction version 2 (KIP-890 part 2) is off"
        )));
    }
    for (key, version) in [(ApiKey::EndTxn, 5), (ApiKey::Produce, 12)] {
        if probe.advertised(key).is_none_or(|(_, max)| max < version) {
            return Err(w.differs(format!(
                "the broker finalizes transaction.version 2 but does not advertise {key:?} v{version}, which it needs"
            )));
        }
    }
    start_wire_producer(w, name, true).await
}

async fn start_wire_producer(w: &mut KafkaWorld, name: String, version_2: bool) -> StepResult {
    let transactional_id = w.topic(&name);
    let error = init_wire_producer(w, &name, transactional_id.clone(), 60_000, version_2).await?;
    if error == "NONE" {
        return Ok(());
    }
    Err(w.verdict(format!("InitProducerId for transactional id {transactional_id} failed with {error}")))
}

/// FindCoordinator (key type 1), then InitProducerId for `transactional_id` with
/// `timeout_ms`, asked again while the coordinator is not ready or busy (as Kafka's producer
/// does: CONCURRENT_TRANSACTIONS while an open transaction of the id is aborted). On NONE the
/// producer is `name`'s. The last answer's error name.
async fn init_wire_producer(
    w: &mut KafkaWorld,
    name: &str,
    transactional_id: String,
    timeout_ms: i32,
    version_2: bool,
) -> Result<String, StepError> {
    use kafka_protocol::messages::{InitProducerIdRequest, ProducerId, RequestKind, ResponseKind, TransactionalId};
    use kafka_protocol::protocol::StrBytes;
    let probe = w.wire().await?;
    if probe.advertised(ApiKey::EndTxn).is_none() || probe.advertised(ApiKey::AddPartitionsToTxn).is_none() {
        return Err(w.unsupported("the broker does not advertise AddPartitionsToTxn and EndTxn: no transactions"));
    }
    let deadline = tokio::time::Instant::now() + w.timeout();
    loop {
        let addr = match super::common::find_coordinator_of(w, &transactional_id, 1).await? {
            Ok((_, addr)) => addr,
            Err(last) => return Err(w.verdict(format!("no transaction coordinator for {transactional_id}: {last}"))),
        };
        let mut coordinator =
            crate::wire::WireClient::connect(&addr, w.timeout()).await.map_err(|e| w.wire_error(e))?;
        let req = InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(StrBytes::from_string(transactional_id.clone()))))
            .with_transaction_timeout_ms(timeout_ms)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let resp = coordinator.request(RequestKind::InitProducerId(req)).await.map_err(|e| w.wire_error(e))?;
        let ResponseKind::InitProducerId(r) = resp else {
            return Err(w.harness("InitProducerId answered with another response type"));
        };
        let error = super::name(r.error_code);
        if error == "NONE" {
            let process = w.next_process("wire-txn");
            let txn = WireTxn {
                transactional_id,
                producer_id: r.producer_id.0,
                epoch: r.producer_epoch,
                coordinator,
                process,
                next_sequence: Default::default(),
                last_produce_version: -1,
                values: Vec::new(),
                version_2,
                previous: None,
                last_end: None,
                appended: Vec::new(),
            };
            w.txn_producers.wire.insert(name.to_string(), txn);
            return Ok(error);
        }
        if !retriable_coordinator_error(&error) || tokio::time::Instant::now() >= deadline {
            return Ok(error);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// InitProducerId with a transaction timeout of the scenario's choosing; the answer is kept for
/// `Then the request ...` (Kafka: INVALID_TRANSACTION_TIMEOUT above
/// `transaction.max.timeout.ms` or at 0 and below).
#[when(expr = "a transactional producer {string} on the wire client asks for a transaction timeout of {int} ms")]
async fn wire_producer_with_timeout(w: &mut KafkaWorld, name: String, timeout_ms: i64) -> StepResult {
    let timeout = i32::try_from(timeout_ms).map_err(|_| w.harness(format!("{timeout_ms} ms is not an int32")))?;
    let id = w.topic(&name);
    let error = init_wire_producer(w, &name, id, timeout, false).await?;
    w.last_error = Some(error);
    Ok(())
}

/// A second producer with the transactional id of `of` (a restarted instance, KIP-98's zombie
/// fencing): InitProducerId bumps the id's epoch and aborts its open transaction; Kafka answers
/// CONCURRENT_TRANSACTIONS until the abort is done, which the step asks again through. The
/// answer is kept for `Then the request ...`.
#[when(expr = "a transactional producer {string} on the wire client starts with the transactional.id of {string}")]
async fn wire_second_instance(w: &mut KafkaWorld, name: String, of: String) -> StepResult {
    let id = wire_txn(w, &of)?.transactional_id.clone();
    let error = init_wire_producer(w, &name, id, 60_000, false).await?;
    w.last_error = Some(error);
    Ok(())
}

/// A control batch (a COMMIT marker) from the producer, as only a transaction coordinator may
/// write one; Kafka refuses it with INVALID_RECORD. The answer is kept for `Then the request
/// ...`.
#[when(expr = "{string} sends a control batch to partition {int} of {string}")]
async fn wire_send_control(w: &mut KafkaWorld, name: String, partition: i32, topic: String) -> StepResult {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, RequestKind, TopicName, TransactionalId};
    use kafka_protocol::protocol::StrBytes;
    let real = w.topic(&topic);
    let t = wire_txn(w, &name)?;
    let fields = crate::batches::ProducerFields { producer_id: t.producer_id, epoch: t.epoch, base_sequence: -1 };
    let (id, cap) = (t.transactional_id.clone(), if t.version_2 { None } else { Some(11) });
    let batch = crate::batches::encode_commit_marker(crate::clock::now_ms(), fields).map_err(|e| w.harness(e))?;
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(w.timeout().as_millis() as i32)
        .with_transactional_id(Some(TransactionalId(StrBytes::from_string(id))))
        .with_topic_data(vec![
            TopicProduceData::default().with_name(TopicName(StrBytes::from_string(real.clone()))).with_partition_data(
                vec![PartitionProduceData::default().with_index(partition).with_records(Some(batch))],
            ),
        ]);
    let mut client = w.leader_wire(&real, partition).await?;
    let result = super::to_leader(w, &mut client, &real, partition, &RequestKind::Produce(req), cap).await?;
    let answer = result.as_ref().ok().and_then(crate::requests::produce_result);
    match (result, answer) {
        (_, Some((error, _))) => {
            w.last_error = Some(error);
            Ok(())
        }
        (Err(e), None) => Err(w.harness(format!("the control batch got no answer: {e}"))),
        (Ok(_), None) => Err(w.harness("Produce answered with another response type")),
    }
}

/// AddPartitionsToTxn (v0-3, the client's form) for one partition; its answer is kept for
/// `Then the request ...`.
#[when(expr = "{string} adds partition {int} of {string} to its transaction")]
async fn wire_add_partition(w: &mut KafkaWorld, name: String, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    wire_txn(w, &name)?;
    let deadline = tokio::time::Instant::now() + w.timeout();
    loop {
        let mut t = w.txn_producers.wire.remove(&name).expect("checked");
        let answer = add_partition_request(&mut t, real.clone(), partition).await;
        w.txn_producers.wire.insert(name.clone(), t);
        let r = answer.map_err(|e| w.wire_error(e))?;
        let code = r
            .results_by_topic_v3_and_below
            .first()
            .and_then(|t| t.results_by_partition.first())
            .map(|p| p.partition_error_code)
            .ok_or_else(|| w.differs("AddPartitionsToTxn answered no partition; Kafka answers each one asked"))?;
        let error = super::name(code);
        // Kafka's producer asks again while the last transaction's markers are written.
        if error != "CONCURRENT_TRANSACTIONS" || tokio::time::Instant::now() >= deadline {
            w.last_error = Some(error);
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn add_partition_request(
    t: &mut WireTxn,
    real: String,
    partition: i32,
) -> Result<kafka_protocol::messages::AddPartitionsToTxnResponse, crate::wire::WireError> {
    use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
    use kafka_protocol::messages::{
        AddPartitionsToTxnRequest, ProducerId, RequestKind, ResponseKind, TopicName, TransactionalId,
    };
    use kafka_protocol::protocol::StrBytes;
    let req = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(StrBytes::from_string(t.transactional_id.clone())))
        .with_v3_and_below_producer_id(ProducerId(t.producer_id))
        .with_v3_and_below_producer_epoch(t.epoch)
        .with_v3_and_below_topics(vec![
            AddPartitionsToTxnTopic::default()
                .with_name(TopicName(StrBytes::from_string(real)))
                .with_partitions(vec![partition]),
        ]);
    let version = t.coordinator.version_for(ApiKey::AddPartitionsToTxn)?.min(3);
    match t.coordinator.request_at(RequestKind::AddPartitionsToTxn(req), version).await? {
        ResponseKind::AddPartitionsToTxn(r) => Ok(r),
        _ => Err(crate::wire::WireError::Decode {
            key: ApiKey::AddPartitionsToTxn,
            version,
            message: "another response type".into(),
        }),
    }
}

/// One batch of the producer's records to the partition's leader: transactional (with the
/// producer's transactional id in the request) or not, with its id, epoch and next sequence;
/// `late`: with those of the transaction before the last move to a new epoch (transaction
/// version 2), as a request delayed in the network would arrive. Produce goes at v11 at most
/// on transaction version 1 (v12 would add the partition to the transaction, as Kafka's Java
/// producer knows), at v12 on version 2. A transactional batch is sent again while the leader
/// answers NOT_ENOUGH_REPLICAS or CONCURRENT_TRANSACTIONS, which is how Kafka's leader says the
/// coordinator was busy (the decision before still writing its markers): Kafka's producer
/// retries both.
async fn wire_send(
    w: &mut KafkaWorld,
    name: &str,
    n: usize,
    partition: i32,
    topic: &str,
    transactional: bool,
    late: bool,
) -> StepResult {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, RequestKind, TopicName, TransactionalId};
    use kafka_protocol::protocol::StrBytes;
    let real = w.topic(topic);
    let process = wire_txn(w, name)?.process.clone();
    let records = records(w, &process, n);
    let t = wire_txn(w, name)?;
    let (producer_id, epoch, sequences) = if late {
        match &t.previous {
            Some((pid, epoch, sequences)) => (*pid, *epoch, sequences.clone()),
            None => {
                return Err(w.harness(format!(
                    "{name:?} has no transaction before: a late batch needs a commit or abort that moved it to a new epoch"
                )));
            }
        }
    } else {
        (t.producer_id, t.epoch, t.next_sequence.clone())
    };
    let sequence = *sequences.get(&(real.clone(), partition)).unwrap_or(&0);
    let fields = crate::batches::ProducerFields { producer_id, epoch, base_sequence: sequence };
    let id = t.transactional_id.clone();
    let cap = if t.version_2 { None } else { Some(11) };
    let batch = if transactional {
        crate::batches::encode_transactional(&records, crate::clock::now_ms(), fields)
    } else {
        crate::batches::encode_batch_as(
            &records,
            kafka_protocol::records::Compression::None,
            crate::clock::now_ms(),
            fields,
        )
    };
    let batch = batch.map_err(|e| w.harness(e))?;
    let mut req =
        ProduceRequest::default().with_acks(-1).with_timeout_ms(w.timeout().as_millis() as i32).with_topic_data(vec![
            TopicProduceData::default().with_name(TopicName(StrBytes::from_string(real.clone()))).with_partition_data(
                vec![PartitionProduceData::default().with_index(partition).with_records(Some(batch))],
            ),
        ]);
    if transactional {
        req = req.with_transactional_id(Some(TransactionalId(StrBytes::from_string(id))));
    }
    let req = RequestKind::Produce(req);
    let mut client = w.leader_wire(&real, partition).await?;
    let version = client.version_for(ApiKey::Produce).map_err(|e| w.wire_error(e))?;
    let version = cap.map_or(version, |c| version.min(c));
    let deadline = tokio::time::Instant::now() + w.timeout();
    let result = loop {
        let result = super::to_leader(w, &mut client, &real, partition, &req, cap).await?;
        let busy = result
            .as_ref()
            .ok()
            .and_then(crate::requests::produce_result)
            .is_some_and(|(error, _)| error == "NOT_ENOUGH_REPLICAS" || error == "CONCURRENT_TRANSACTIONS");
        if !(transactional && busy) || tokio::time::Instant::now() >= deadline {
            break result;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let answer = result.as_ref().ok().and_then(crate::requests::produce_result);
    match &answer {
        // Acknowledged only if the transaction commits: recorded when it ends.
        Some((error, base)) if transactional && error == "NONE" => {
            let t = wire_txn(w, name)?;
            t.appended.push((real.clone(), partition, records.clone(), *base));
        }
        _ => super::common::record_sends(w, &process, &real, partition, &records, result.as_ref()),
    }
    let error = match (&result, answer) {
        (_, Some((error, _))) => error,
        (Err(e), None) => return Err(w.harness(format!("the batch got no answer: {e}"))),
        (Ok(_), None) => return Err(w.harness("Produce answered with another response type")),
    };
    let t = wire_txn(w, name)?;
    t.last_produce_version = version;
    if error == "NONE" {
        let next = sequence.wrapping_add(n as i32);
        match (&mut t.previous, late) {
            (Some((_, _, sequences)), true) => {
                sequences.insert((real, partition), next);
            }
            _ => {
                t.next_sequence.insert((real, partition), next);
            }
        }
        if transactional {
            t.values.extend(records.into_iter().filter_map(|r| r.value));
        }
    }
    w.last_error = Some(error);
    Ok(())
}

#[when(expr = "{string} sends a transactional batch of {int} records to partition {int} of {string}")]
async fn wire_send_transactional(
    w: &mut KafkaWorld,
    name: String,
    n: usize,
    partition: i32,
    topic: String,
) -> StepResult {
    wire_send(w, &name, n, partition, &topic, true, false).await
}

/// KAFKA-17754: a batch of the transaction before, delayed until the next one is open. With
/// transaction version 2 its epoch is one below the producer's, and Kafka refuses it
/// (INVALID_PRODUCER_EPOCH) instead of letting it join the open transaction.
#[when(
    expr = "{string} sends a late transactional batch of {int} records from its previous transaction to partition {int} of {string}"
)]
async fn wire_send_late(w: &mut KafkaWorld, name: String, n: usize, partition: i32, topic: String) -> StepResult {
    wire_send(w, &name, n, partition, &topic, true, true).await
}

#[when(expr = "{string} sends a batch of {int} records outside its transaction to partition {int} of {string}")]
async fn wire_send_outside(w: &mut KafkaWorld, name: String, n: usize, partition: i32, topic: String) -> StepResult {
    wire_send(w, &name, n, partition, &topic, false, false).await
}

/// EndTxn (v4 at most on transaction version 1, v5 on version 2); its answer is kept for
/// `Then the request ...`. A commit or abort that succeeds is recorded with the transactional
/// records acknowledged in the transaction; on version 2 the producer goes on with the id and
/// epoch EndTxn answered, its sequences starting again at 0, as Kafka's producer does after an
/// epoch bump.
async fn wire_end(w: &mut KafkaWorld, name: &str, commit: bool) -> StepResult {
    let t = wire_txn(w, name)?;
    let ids = (t.producer_id, t.epoch);
    let answer = end_until_decided(w, name, ids, commit).await?;
    let error = super::name(answer.error_code);
    let t = wire_txn(w, name)?;
    if error == "NONE" && t.version_2 {
        let moved = std::mem::take(&mut t.next_sequence);
        t.previous = Some((t.producer_id, t.epoch, moved));
        t.last_end = Some((commit, answer.producer_id.0, answer.producer_epoch));
        if answer.producer_id.0 >= 0 && answer.producer_epoch >= 0 {
            (t.producer_id, t.epoch) = (answer.producer_id.0, answer.producer_epoch);
        }
    }
    if error == "NONE" {
        let appended = std::mem::take(&mut t.appended);
        let process = t.process.clone();
        let outcome = if commit { Outcome::Ok } else { Outcome::Fail { error: "transaction aborted".into() } };
        for (topic, partition, records, base) in appended {
            super::common::record_outcome(w, &process, &topic, partition, &records, &outcome, Some(base), None);
        }
    }
    let t = wire_txn(w, name)?;
    if error == "NONE" && !t.values.is_empty() {
        let (process, id, values) = (t.process.clone(), t.transactional_id.clone(), std::mem::take(&mut t.values));
        w.history.record(&process, Op::EndTxn { transactional_id: id, commit, values }, Outcome::Ok);
    }
    w.last_error = Some(error);
    Ok(())
}

/// EndTxn with these producer ids, asked again while CONCURRENT_TRANSACTIONS (the decision
/// before is still being carried out, its markers written), as Kafka's producer does.
async fn end_until_decided(
    w: &mut KafkaWorld,
    name: &str,
    (pid, epoch): (i64, i16),
    commit: bool,
) -> Result<kafka_protocol::messages::EndTxnResponse, StepError> {
    let deadline = tokio::time::Instant::now() + w.timeout();
    loop {
        let mut t = w.txn_producers.wire.remove(name).expect("checked by the caller");
        let answer = end_request(&mut t, pid, epoch, commit).await;
        w.txn_producers.wire.insert(name.to_string(), t);
        let answer = answer.map_err(|e| w.wire_error(e))?;
        if super::name(answer.error_code) != "CONCURRENT_TRANSACTIONS" || tokio::time::Instant::now() >= deadline {
            return Ok(answer);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn end_request(
    t: &mut WireTxn,
    producer_id: i64,
    epoch: i16,
    commit: bool,
) -> Result<kafka_protocol::messages::EndTxnResponse, crate::wire::WireError> {
    use kafka_protocol::messages::{EndTxnRequest, ProducerId, RequestKind, ResponseKind, TransactionalId};
    use kafka_protocol::protocol::StrBytes;
    let req = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(StrBytes::from_string(t.transactional_id.clone())))
        .with_producer_id(ProducerId(producer_id))
        .with_producer_epoch(epoch)
        .with_committed(commit);
    let version = t.coordinator.version_for(ApiKey::EndTxn)?;
    let version = if t.version_2 { version.max(5) } else { version.min(4) };
    match t.coordinator.request_at(RequestKind::EndTxn(req), version).await? {
        ResponseKind::EndTxn(r) => Ok(r),
        _ => Err(crate::wire::WireError::Decode {
            key: ApiKey::EndTxn,
            version,
            message: "another response type".into(),
        }),
    }
}

/// Transaction version 2: the last EndTxn again, with the producer id and epoch it was sent
/// with, as a producer whose answer was lost retries it (asked again while
/// CONCURRENT_TRANSACTIONS, as the first was). Its answer is kept for
/// `Then the request ...`, and the ids it names for the Then below.
#[when(expr = "{string} sends its last EndTxn again")]
async fn wire_end_again(w: &mut KafkaWorld, name: String) -> StepResult {
    let t = wire_txn(w, &name)?;
    let (Some((commit, _, _)), Some((pid, epoch, _))) = (t.last_end, t.previous.clone()) else {
        return Err(w.harness(format!(
            "{name:?} has no EndTxn to send again: this step follows a commit or abort on transaction version 2"
        )));
    };
    let answer = end_until_decided(w, &name, (pid, epoch), commit).await?;
    let error = super::name(answer.error_code);
    let t = wire_txn(w, &name)?;
    if error == "NONE" {
        t.last_end = Some((commit, answer.producer_id.0, answer.producer_epoch));
    }
    w.last_error = Some(error);
    Ok(())
}

/// Transaction version 2: EndTxn v5 names the producer id and epoch the producer goes on with,
/// the epoch one above the one the transaction ran at (`TransactionCoordinator.endTransaction`).
#[then(expr = "EndTxn moved {string} to the next epoch of its producer id")]
async fn moved_to_next_epoch(w: &mut KafkaWorld, name: String) -> StepResult {
    let t = wire_txn(w, &name)?;
    let (Some((_, pid, epoch)), Some((before_pid, before_epoch, _))) = (t.last_end, t.previous.clone()) else {
        return Err(w.verdict(format!("no EndTxn of {name:?} succeeded on transaction version 2")));
    };
    if (pid, epoch) == (before_pid, before_epoch + 1) {
        return Ok(());
    }
    Err(w.verdict(format!(
        "EndTxn v5 answered producer id {pid} epoch {epoch} for a transaction at producer id {before_pid} epoch \
{before_epoch}; Kafka bumps the epoch with each decision (transaction version 2) and answers {before_pid} and {}",
        before_epoch + 1
    )))
}

/// The retry's answer names where the producer is now.
#[then(expr = "EndTxn named {string}'s current producer id and epoch")]
async fn named_current(w: &mut KafkaWorld, name: String) -> StepResult {
    let t = wire_txn(w, &name)?;
    let (last, now) = (t.last_end, (t.producer_id, t.epoch));
    let Some((_, pid, epoch)) = last else {
        return Err(w.verdict(format!("no EndTxn of {name:?} succeeded on transaction version 2")));
    };
    if (pid, epoch) == now {
        return Ok(());
    }
    Err(w.verdict(format!(
        "EndTxn v5 answered producer id {pid} epoch {epoch}; the producer is at producer id {} epoch {}, \
which Kafka answers to a retry",
        now.0, now.1
    )))
}

/// Offsets committed in the producer's transaction (KIP-98's `send_offsets_to_transaction`):
/// on transaction version 1 AddOffsetsToTxn to the transaction coordinator (v0-3), then
/// TxnOffsetCommit v0-4 to the group's coordinator; on version 2 TxnOffsetCommit v5 alone, the
/// group coordinator adding its partition to the transaction. Either is asked again while the
/// answer is CONCURRENT_TRANSACTIONS or the coordinator is loading or moving, as Kafka's
/// producer does; the last answer is kept for `Then the request ...`.
#[when(expr = "{string} commits offset {int} of partition {int} of {string} for group {string} in its transaction")]
async fn wire_txn_offset_commit(
    w: &mut KafkaWorld,
    name: String,
    offset: i64,
    partition: i32,
    topic: String,
    group: String,
) -> StepResult {
    use kafka_protocol::messages::txn_offset_commit_request::{
        TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
    };
    use kafka_protocol::messages::{
        AddOffsetsToTxnRequest, GroupId, ProducerId, RequestKind, ResponseKind, TopicName, TransactionalId,
        TxnOffsetCommitRequest,
    };
    use kafka_protocol::protocol::StrBytes;
    let (real_topic, real_group) = (w.topic(&topic), w.topic(&group));
    let t = wire_txn(w, &name)?;
    let (id, pid, epoch, version_2) = (t.transactional_id.clone(), t.producer_id, t.epoch, t.version_2);
    let deadline = tokio::time::Instant::now() + w.timeout();
    let again = |e: &str| retriable_coordinator_error(e) || e == "NETWORK_EXCEPTION";
    if !version_2 {
        let req = AddOffsetsToTxnRequest::default()
            .with_transactional_id(TransactionalId(StrBytes::from_string(id.clone())))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_group_id(GroupId(StrBytes::from_string(real_group.clone())));
        loop {
            let mut t = w.txn_producers.wire.remove(&name).expect("checked");
            let version = t.coordinator.version_for(ApiKey::AddOffsetsToTxn).map(|v| v.min(3));
            let answer = match version {
                Ok(v) => t.coordinator.request_at(RequestKind::AddOffsetsToTxn(req.clone()), v).await,
                Err(e) => Err(e),
            };
            w.txn_producers.wire.insert(name.clone(), t);
            let error = match answer.map_err(|e| w.wire_error(e))? {
                ResponseKind::AddOffsetsToTxn(r) => super::name(r.error_code),
                _ => return Err(w.harness("AddOffsetsToTxn answered with another response type")),
            };
            if error == "NONE" {
                break;
            }
            if !again(&error) || tokio::time::Instant::now() >= deadline {
                w.last_error = Some(error);
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    let req = TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(StrBytes::from_string(id)))
        .with_group_id(GroupId(StrBytes::from_string(real_group.clone())))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_generation_id(-1)
        .with_member_id(StrBytes::from_static_str(""))
        .with_topics(vec![
            TxnOffsetCommitRequestTopic::default()
                .with_name(TopicName(StrBytes::from_string(real_topic)))
                .with_partitions(vec![
                    TxnOffsetCommitRequestPartition::default()
                        .with_partition_index(partition)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(-1)
                        .with_committed_metadata(Some(StrBytes::from_static_str(""))),
                ]),
        ]);
    loop {
        let (node, addr) = match super::common::find_coordinator_of(w, &real_group, 0).await? {
            Ok(found) => found,
            Err(last) => return Err(w.verdict(format!("no group coordinator for {real_group}: {last}"))),
        };
        let mut client = crate::wire::WireClient::connect(&addr, w.timeout()).await.map_err(|e| w.wire_error(e))?;
        let version = client.version_for(ApiKey::TxnOffsetCommit).map_err(|e| w.wire_error(e))?;
        let version = if version_2 { version.max(5) } else { version.min(4) };
        let answer = client.request_at(RequestKind::TxnOffsetCommit(req.clone()), version).await;
        let error = match answer.map_err(|e| w.wire_error(e))? {
            ResponseKind::TxnOffsetCommit(r) => {
                let code =
                    r.topics.first().and_then(|t| t.partitions.first()).map(|p| p.error_code).ok_or_else(|| {
                        w.differs(format!(
                        "TxnOffsetCommit v{version} answered no partition; Kafka answers each one asked (broker {node})"
                    ))
                    })?;
                super::name(code)
            }
            _ => return Err(w.harness("TxnOffsetCommit answered with another response type")),
        };
        if !again(&error) || tokio::time::Instant::now() >= deadline {
            w.last_error = Some(error);
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[when(expr = "{string} commits its transaction")]
async fn wire_commit(w: &mut KafkaWorld, name: String) -> StepResult {
    wire_end(w, &name, true).await
}

#[when(expr = "{string} aborts its transaction")]
async fn wire_abort(w: &mut KafkaWorld, name: String) -> StepResult {
    wire_end(w, &name, false).await
}

/// KIP-890 (part 1): a transactional batch for a partition that is not in the producer's
/// transaction. Kafka answers INVALID_TXN_STATE up to Produce v10 and TRANSACTION_ABORTABLE
/// from v11 (`AddPartitionsToTxnManager`, `ReplicaManager`).
#[then(expr = "{string}'s batch is refused as outside its transaction")]
async fn refused_outside_transaction(w: &mut KafkaWorld, name: String) -> StepResult {
    let version = wire_txn(w, &name)?.last_produce_version;
    let expected = if version >= 11 { "TRANSACTION_ABORTABLE" } else { "INVALID_TXN_STATE" };
    match w.last_error.as_deref() {
        Some(e) if e == expected => Ok(()),
        Some("NONE") => Err(w.verdict(format!(
            "the broker appended a transactional batch for a partition the transaction never added (Produce v{version}); \
             Kafka verifies it with the coordinator and refuses it with {expected} (KIP-890)"
        ))),
        Some(e) => Err(w.differs(format!("the broker answered {e} where Kafka answers {expected} (Produce v{version})"))),
        None => Err(w.harness("no batch was sent before this step")),
    }
}

// ---------------------------------------------------------------------------------------------
// The tools for hanging transactions (KIP-664): what the coordinator and the partition leaders
// say about a producer's transaction

/// DescribeTransactions for the producer's transactional id, at its coordinator: (error,
/// state, partitions as (topic, partition)).
async fn describe_transaction(
    w: &mut KafkaWorld,
    name: &str,
) -> Result<(String, String, Vec<(String, i32)>), StepError> {
    use kafka_protocol::messages::{DescribeTransactionsRequest, RequestKind, ResponseKind, TransactionalId};
    use kafka_protocol::protocol::StrBytes;
    wire_txn(w, name)?;
    let mut t = w.txn_producers.wire.remove(name).expect("checked");
    let req = DescribeTransactionsRequest::default()
        .with_transactional_ids(vec![TransactionalId(StrBytes::from_string(t.transactional_id.clone()))]);
    let answer = t.coordinator.request(RequestKind::DescribeTransactions(req)).await;
    w.txn_producers.wire.insert(name.to_string(), t);
    let ResponseKind::DescribeTransactions(r) = answer.map_err(|e| w.wire_error(e))? else {
        return Err(w.harness("DescribeTransactions answered with another response type"));
    };
    let s =
        r.transaction_states.first().ok_or_else(|| w.differs("DescribeTransactions answered no transactional id"))?;
    let partitions =
        s.topics.iter().flat_map(|t| t.partitions.iter().map(move |p| (t.topic.to_string(), *p))).collect();
    Ok((super::name(s.error_code), s.transaction_state.to_string(), partitions))
}

/// The coordinator describes the transaction in `state` with exactly these partitions, within
/// the request timeout (a decided transaction completes once its markers are written).
async fn described_as(w: &mut KafkaWorld, name: &str, state: &str, partitions: Vec<(String, i32)>) -> StepResult {
    let wait = w.timeout();
    described_within(w, name, state, partitions, wait).await
}

async fn described_within(
    w: &mut KafkaWorld,
    name: &str,
    state: &str,
    partitions: Vec<(String, i32)>,
    wait: std::time::Duration,
) -> StepResult {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let (error, seen, mut seen_partitions) = describe_transaction(w, name).await?;
        seen_partitions.sort();
        if error == "NONE" && seen == state && seen_partitions == partitions {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(w.verdict(format!(
                "DescribeTransactions answered {error}, state {seen:?}, partitions {seen_partitions:?}; expected {state} with \
                 {partitions:?}"
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[then(expr = "DescribeTransactions shows {string} {word} with partition {int} of {string}")]
async fn described_with(w: &mut KafkaWorld, name: String, state: String, partition: i32, topic: String) -> StepResult {
    let real = w.topic(&topic);
    described_as(w, &name, &state, vec![(real, partition)]).await
}

#[then(expr = "DescribeTransactions shows {string} {word} with no partition")]
async fn described_without(w: &mut KafkaWorld, name: String, state: String) -> StepResult {
    described_as(w, &name, &state, Vec::new()).await
}

/// For what the coordinator does on its own (the timeout sweep), in a stated time.
#[then(expr = "within {int} ms DescribeTransactions shows {string} {word} with no partition")]
async fn described_without_within(w: &mut KafkaWorld, ms: u64, name: String, state: String) -> StepResult {
    described_within(w, &name, &state, Vec::new(), std::time::Duration::from_millis(ms)).await
}

/// ListTransactions at the coordinator lists the producer's transactional id in `state`.
#[then(expr = "ListTransactions lists {string} as {word}")]
async fn listed_as(w: &mut KafkaWorld, name: String, state: String) -> StepResult {
    use kafka_protocol::messages::{ListTransactionsRequest, RequestKind, ResponseKind};
    wire_txn(w, &name)?;
    let mut t = w.txn_producers.wire.remove(&name).expect("checked");
    let (id, pid) = (t.transactional_id.clone(), t.producer_id);
    let answer = t.coordinator.request(RequestKind::ListTransactions(ListTransactionsRequest::default())).await;
    w.txn_producers.wire.insert(name.clone(), t);
    let ResponseKind::ListTransactions(r) = answer.map_err(|e| w.wire_error(e))? else {
        return Err(w.harness("ListTransactions answered with another response type"));
    };
    if r.error_code != 0 {
        return Err(w.verdict(format!("ListTransactions answered {}", super::name(r.error_code))));
    }
    match r.transaction_states.iter().find(|s| s.transactional_id.as_str() == id) {
        Some(s) if s.transaction_state.as_str() == state && s.producer_id.0 == pid => Ok(()),
        Some(s) => Err(w.verdict(format!(
            "ListTransactions lists {id} as {} with producer id {}; DescribeTransactions and InitProducerId say {state}, {pid}",
            s.transaction_state.as_str(),
            s.producer_id.0
        ))),
        None => Err(w.verdict(format!(
            "ListTransactions does not list {id}, which its coordinator describes; it lists {} ids",
            r.transaction_states.len()
        ))),
    }
}

/// The producers a partition's leader describes (DescribeProducers, KIP-664).
async fn active_producers(
    w: &mut KafkaWorld,
    real: &str,
    partition: i32,
) -> Result<Vec<kafka_protocol::messages::describe_producers_response::ProducerState>, StepError> {
    use kafka_protocol::messages::describe_producers_request::TopicRequest;
    use kafka_protocol::messages::{DescribeProducersRequest, RequestKind, ResponseKind, TopicName};
    use kafka_protocol::protocol::StrBytes;
    let req = RequestKind::DescribeProducers(DescribeProducersRequest::default().with_topics(vec![
            TopicRequest::default()
                .with_name(TopicName(StrBytes::from_string(real.to_string())))
                .with_partition_indexes(vec![partition]),
        ]));
    let mut client = w.leader_wire(real, partition).await?;
    let answer = super::to_leader(w, &mut client, real, partition, &req, None).await?;
    let ResponseKind::DescribeProducers(r) = answer.map_err(|e| w.wire_error(e))? else {
        return Err(w.harness("DescribeProducers answered with another response type"));
    };
    let p = r
        .topics
        .into_iter()
        .next()
        .and_then(|t| t.partitions.into_iter().next())
        .ok_or_else(|| w.differs("DescribeProducers answered no partition; Kafka answers each one asked"))?;
    if p.error_code != 0 {
        return Err(w.verdict(format!("DescribeProducers answered {}", super::name(p.error_code))));
    }
    Ok(p.active_producers)
}

/// DescribeProducers at the partition's leader: the producer's open transaction there starts at
/// `offset` (Some), or it has none (None).
async fn producer_described(
    w: &mut KafkaWorld,
    name: &str,
    partition: i32,
    topic: &str,
    offset: Option<i64>,
) -> StepResult {
    let real = w.topic(topic);
    let pid = wire_txn(w, name)?.producer_id;
    let producers = active_producers(w, &real, partition).await?;
    let seen = producers.iter().find(|s| s.producer_id.0 == pid).map(|s| s.current_txn_start_offset);
    match (offset, seen) {
        (Some(o), Some(s)) if s == o => Ok(()),
        (None, Some(-1)) => Ok(()),
        (_, None) => Err(w.verdict(format!("DescribeProducers does not list producer {pid}, which wrote to {real}-{partition}"))),
        (Some(o), Some(s)) => Err(w.verdict(format!(
            "DescribeProducers shows producer {pid}'s transaction on {real}-{partition} starting at {s}; its first transactional \
             record is at offset {o}"
        ))),
        (None, Some(s)) => Err(w.verdict(format!(
            "DescribeProducers shows producer {pid}'s transaction on {real}-{partition} still open from offset {s} after it was \
             decided"
        ))),
    }
}

#[then(expr = "DescribeProducers shows {string}'s transaction on partition {int} of {string} open from offset {int}")]
async fn producer_open_from(
    w: &mut KafkaWorld,
    name: String,
    partition: i32,
    topic: String,
    offset: i64,
) -> StepResult {
    producer_described(w, &name, partition, &topic, Some(offset)).await
}

#[then(expr = "DescribeProducers shows no open transaction of {string} on partition {int} of {string}")]
async fn producer_without_open(w: &mut KafkaWorld, name: String, partition: i32, topic: String) -> StepResult {
    producer_described(w, &name, partition, &topic, None).await
}

/// DescribeTransactions at the coordinator answers `error` for the producer's transactional id
/// within `ms` (asked every 50 ms).
#[then(expr = "within {int} ms DescribeTransactions answers {word} for {string}")]
async fn describe_answers_within(w: &mut KafkaWorld, ms: u64, error: String, name: String) -> StepResult {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(ms);
    loop {
        let (seen, state, _) = describe_transaction(w, &name).await?;
        if seen == error {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(w.verdict(format!(
                "after {ms} ms DescribeTransactions still answers {seen} (state {state:?}); expected {error}"
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The coordinator keeps describing the transaction as `state` with the partition for `ms`
/// (asked every 100 ms): what must not change meanwhile.
#[then(expr = "DescribeTransactions shows {string} {word} with partition {int} of {string} for {int} ms")]
async fn described_throughout(
    w: &mut KafkaWorld,
    name: String,
    state: String,
    partition: i32,
    topic: String,
    ms: u64,
) -> StepResult {
    let real = w.topic(&topic);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(ms);
    loop {
        let (error, seen, partitions) = describe_transaction(w, &name).await?;
        if error != "NONE" || seen != state || partitions != [(real.clone(), partition)] {
            return Err(w.verdict(format!(
                "DescribeTransactions answered {error}, state {seen:?}, partitions {partitions:?} while it should show {state} \
                 with {real}-{partition}"
            )));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Kafka's tool for a hanging transaction (`kafka-transactions.sh abort`, KIP-664): finds the
/// partition's open transaction with DescribeProducers at its leader (its producer id, epoch
/// and coordinator epoch), then writes an abort marker there with WriteTxnMarkers, as the
/// admin client's AbortTransaction does. The marker's answer is kept for `Then the request
/// ...`; once it is NONE the transaction's records count as aborted in the history (Kafka's
/// rule: the marker decides the transaction on that partition).
#[when(expr = "the open transaction on partition {int} of {string} is aborted with Kafka's abort tool")]
async fn abort_tool(w: &mut KafkaWorld, partition: i32, topic: String) -> StepResult {
    use kafka_protocol::messages::write_txn_markers_request::{WritableTxnMarker, WritableTxnMarkerTopic};
    use kafka_protocol::messages::{ProducerId, RequestKind, ResponseKind, TopicName, WriteTxnMarkersRequest};
    use kafka_protocol::protocol::StrBytes;
    let real = w.topic(&topic);
    let probe = w.wire().await?;
    if probe.advertised(ApiKey::DescribeProducers).is_none() || probe.advertised(ApiKey::WriteTxnMarkers).is_none() {
        return Err(
            w.unsupported("the broker does not advertise DescribeProducers and WriteTxnMarkers: no KIP-664 tools")
        );
    }
    let producers = active_producers(w, &real, partition).await?;
    let open: Vec<_> = producers.iter().filter(|s| s.current_txn_start_offset >= 0).collect();
    let [hanging] = open.as_slice() else {
        return Err(w.verdict(format!(
            "DescribeProducers shows {} open transactions on {real}-{partition}; the scenario left exactly one",
            open.len()
        )));
    };
    let (pid, epoch, coordinator_epoch) = (hanging.producer_id.0, hanging.producer_epoch, hanging.coordinator_epoch);
    let marker = WritableTxnMarker::default()
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch as i16)
        .with_transaction_result(false)
        .with_coordinator_epoch(coordinator_epoch)
        .with_topics(vec![
            WritableTxnMarkerTopic::default()
                .with_name(TopicName(StrBytes::from_string(real.clone())))
                .with_partition_indexes(vec![partition]),
        ]);
    let write = RequestKind::WriteTxnMarkers(WriteTxnMarkersRequest::default().with_markers(vec![marker]));
    let mut client = w.leader_wire(&real, partition).await?;
    let answer = super::to_leader(w, &mut client, &real, partition, &write, None).await?;
    let ResponseKind::WriteTxnMarkers(r) = answer.map_err(|e| w.wire_error(e))? else {
        return Err(w.harness("WriteTxnMarkers answered with another response type"));
    };
    let code = r
        .markers
        .first()
        .and_then(|m| m.topics.first())
        .and_then(|t| t.partitions.first())
        .map(|p| p.error_code)
        .ok_or_else(|| w.differs("WriteTxnMarkers answered no partition; Kafka answers each one asked"))?;
    let error = super::name(code);
    if error == "NONE" {
        // The wire producer whose transaction this was: its records on the partition are aborted.
        let owner = w.txn_producers.wire.iter_mut().find(|(_, t)| t.producer_id == pid).map(|(_, t)| {
            let (mine, rest): (Vec<_>, Vec<_>) =
                std::mem::take(&mut t.appended).into_iter().partition(|(tp, p, _, _)| *tp == real && *p == partition);
            t.appended = rest;
            let gone: std::collections::HashSet<&String> =
                mine.iter().flat_map(|(_, _, records, _)| records.iter().filter_map(|r| r.value.as_ref())).collect();
            t.values.retain(|v| !gone.contains(v));
            (t.process.clone(), t.transactional_id.clone(), mine)
        });
        if let Some((process, id, mine)) = owner {
            let outcome = Outcome::Fail { error: "transaction aborted by Kafka's abort tool".into() };
            let mut values = Vec::new();
            for (topic, p, records, base) in mine {
                values.extend(records.iter().filter_map(|r| r.value.clone()));
                super::common::record_outcome(w, &process, &topic, p, &records, &outcome, Some(base), None);
            }
            if !values.is_empty() {
                w.history.record(&process, Op::EndTxn { transactional_id: id, commit: false, values }, Outcome::Ok);
            }
        }
    }
    w.last_error = Some(error);
    Ok(())
}
