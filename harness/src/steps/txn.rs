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
    let bootstrap = w.bootstrap().await?;
    let process = w.next_process("txn-producer");
    let transactional_id = w.topic(&name);
    let session = crate::kafka::Session {
        bootstrap: &bootstrap,
        configs: &w.producer_config,
        process: &process,
        history: &w.history,
        timeout: w.timeout(),
    };
    let started = TxnProducer::start(&session, &transactional_id).await;
    let client = started.map_err(|e| w.verdict(format!("a transactional producer could not start: {e}")))?;
    w.txn_producers.producers.insert(name, Producer { client, process, transactional_id, open: Vec::new() });
    Ok(())
}

/// Another instance of a producer: the same `transactional.id`, started (`init_transactions`)
/// while the first one still runs.
#[when(expr = "a transactional producer {string} starts with the transactional.id of {string}")]
async fn second_instance(w: &mut KafkaWorld, name: String, of: String) -> StepResult {
    let transactional_id = producer(w, &of)?.transactional_id.clone();
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
    let client = started.map_err(|e| w.verdict(format!("a second instance of {of:?} could not start: {e}")))?;
    w.txn_producers.producers.insert(name, Producer { client, process, transactional_id, open: Vec::new() });
    Ok(())
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
    let real = w.topic(topic);
    let process = producer(w, name)?.process.clone();
    let records = records(w, &process, n);
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
