//! librdkafka consumers in a consumer group (`subscribe()` with a `group.id`), as applications
//! run them: each on a thread of its own that polls, processes what it reads (recording it in
//! the history), and commits as the scenario says. Every rebalance callback librdkafka makes is
//! recorded with the generation and member id it happened in, so the steps can judge what each
//! consumer owned in every generation and what it was asked to give up.
//!
//! A consumer ends in one of three ways, as a process does:
//! - **close**: `rd_kafka_consumer_close` (unsubscribe, LeaveGroup, commit if auto-commit);
//! - **kill**: a crash as the broker sees it. The application thread stops at once (a record
//!   being processed is never processed), and `rd_kafka_destroy_flags(.., NO_CONSUMER_CLOSE)`
//!   tears the client down without the consumer close: no final commit, no LeaveGroup, no more
//!   heartbeats. A classic-group coordinator learns of a dead member only from its missing
//!   heartbeats, so this is what it observes of a process killed with SIGKILL, without the cost
//!   of a child process per consumer and a protocol to report its reads back. The destroy runs
//!   on a thread of its own and is not waited for: with the consumer's queue still referenced by
//!   the forgotten Rust wrapper (whose drop would close the consumer a second time), librdkafka
//!   may not finish it; the handle is leaked for the rest of the process.
//! - **stall**: the application stops calling poll (a processing step that hangs), while
//!   librdkafka's background thread keeps heartbeating (KIP-62); after `max.poll.interval.ms`
//!   librdkafka leaves the group by itself.
//!
//! The only `unsafe` code of the harness is here: the rdkafka crate wraps neither
//! `rd_kafka_destroy_flags` nor a way to read the group generation.
#![allow(unsafe_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::{ClientContext, TopicPartitionList};

use crate::history::{History, Op, Outcome, Read};

/// A topic-partition.
pub type Tp = (String, i32);

/// How the application treats what it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processing {
    /// A record is processed as soon as poll returns it; commits are librdkafka's
    /// (`enable.auto.commit`) or none.
    OnPoll,
    /// Processing a record takes `delay` after poll returned it (librdkafka has stored its
    /// offset for the next auto-commit by then, `enable.auto.offset.store`); with `commit`, the
    /// application then commits its offset + 1 synchronously (commit after processing:
    /// at-least-once).
    Each { delay: Option<Duration>, commit: bool },
}

/// One rebalance callback, as the application saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callback {
    Assigned { generation: i32, partitions: BTreeSet<Tp> },
    Revoked { generation: i32, partitions: BTreeSet<Tp>, lost: bool },
}

/// What one consumer has been through.
#[derive(Debug, Default, Clone)]
pub struct MemberState {
    pub generation: i32,
    pub member_id: String,
    /// What it owns now (after its last callback).
    pub assignment: BTreeSet<Tp>,
    /// The generation its current assignment was completed in (`None` before any).
    pub assigned_in: Option<i32>,
    pub callbacks: Vec<Callback>,
    /// What it owned at the end of each assignment callback, by generation.
    pub owned_by_generation: BTreeMap<i32, BTreeSet<Tp>>,
    /// The next offset to read, as committed successfully (commit callbacks, auto or manual).
    pub committed: BTreeMap<Tp, i64>,
    /// The last offset the application processed, per partition.
    pub processed: BTreeMap<Tp, i64>,
    /// The last offset poll returned, per partition (processed or not).
    pub polled: BTreeMap<Tp, i64>,
    pub errors: Vec<String>,
    /// Each partition it lost (revoked or lost) with the offsets it had processed but not
    /// committed by then: `(partition, first uncommitted, last processed)`.
    pub uncommitted_at_loss: Vec<(Tp, i64, i64)>,
    pub reads: usize,
    pub ended: Option<&'static str>,
}

const RUN: u8 = 0;
const STALL: u8 = 1;
const CLOSE: u8 = 2;
const KILL: u8 = 3;
/// Neither poll nor finish processing: lets a step look at a consumer mid-record.
const HOLD: u8 = 4;

struct MemberContext {
    state: Arc<Mutex<MemberState>>,
    history: History,
    process: String,
}

fn lock(s: &Mutex<MemberState>) -> MutexGuard<'_, MemberState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

fn tps(tpl: &TopicPartitionList) -> BTreeSet<Tp> {
    tpl.elements().iter().map(|e| (e.topic().to_string(), e.partition())).collect()
}

/// The generation and member id librdkafka holds, read from its serialized group metadata
/// (`rd_kafka_consumer_group_metadata_write`: the 7-byte magic "CGMDv2:", the generation as a
/// native-endian int32, then the group id and member id as NUL-terminated strings). librdkafka
/// has no getter for either.
fn group_metadata(consumer: &BaseConsumer<MemberContext>) -> Option<(i32, String)> {
    use rdkafka::bindings as rd;
    // SAFETY: `native_ptr` is the live client `consumer` owns; the metadata and the buffer are
    // freed with librdkafka's own functions, and the buffer is read within the size it reports.
    unsafe {
        let md = rd::rd_kafka_consumer_group_metadata(consumer.client().native_ptr());
        if md.is_null() {
            return None;
        }
        let mut buf: *mut std::ffi::c_void = std::ptr::null_mut();
        let mut size: usize = 0;
        let err = rd::rd_kafka_consumer_group_metadata_write(md, &mut buf, &mut size);
        rd::rd_kafka_consumer_group_metadata_destroy(md);
        if !err.is_null() {
            rd::rd_kafka_error_destroy(err);
            return None;
        }
        let bytes = std::slice::from_raw_parts(buf as *const u8, size).to_vec();
        rd::rd_kafka_mem_free(std::ptr::null_mut(), buf);
        let rest = bytes.get(7..)?;
        let generation = i32::from_ne_bytes(rest.get(..4)?.try_into().ok()?);
        let mut strings = rest[4..].split(|b| *b == 0);
        let _group = strings.next()?;
        let member = String::from_utf8_lossy(strings.next()?).into_owned();
        Some((generation, member))
    }
}

impl ClientContext for MemberContext {}

impl ConsumerContext for MemberContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let lost = consumer.assignment_lost();
            let mut s = lock(&self.state);
            let generation = s.generation;
            let revoked = tps(tpl);
            for tp in &revoked {
                if let Some(processed) = s.processed.get(tp).copied() {
                    let from = s.committed.get(tp).copied().unwrap_or(0);
                    s.uncommitted_at_loss.push((tp.clone(), from, processed));
                }
            }
            s.callbacks.push(Callback::Revoked { generation, partitions: revoked, lost });
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let owned = consumer.assignment().map(|t| tps(&t)).unwrap_or_default();
        let meta = group_metadata(consumer);
        let mut s = lock(&self.state);
        if let Some((g, m)) = meta {
            s.generation = g;
            s.member_id = m;
        }
        let generation = s.generation;
        match rebalance {
            Rebalance::Assign(tpl) => {
                let added = tps(tpl);
                for (t, p) in &added {
                    // A newly assigned partition is read from its committed offset: a new
                    // position, so per-consumer order checks start again there.
                    self.history.record(
                        &self.process,
                        Op::Seek { topic: t.clone(), partition: *p, offset: None },
                        Outcome::Ok,
                    );
                }
                s.callbacks.push(Callback::Assigned { generation, partitions: added });
                s.owned_by_generation.insert(generation, owned.clone());
                s.assigned_in = Some(generation);
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => s.errors.push(format!("rebalance error: {e}")),
        }
        s.assignment = owned;
    }

    fn commit_callback(&self, result: rdkafka::error::KafkaResult<()>, offsets: &TopicPartitionList) {
        let mut s = lock(&self.state);
        match result {
            Ok(()) => {
                for e in offsets.elements() {
                    if let rdkafka::Offset::Offset(o) = e.offset() {
                        let tp = (e.topic().to_string(), e.partition());
                        let slot = s.committed.entry(tp).or_insert(o);
                        *slot = (*slot).max(o);
                    }
                }
            }
            Err(rdkafka::error::KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => s.errors.push(format!("commit failed: {e}")),
        }
    }
}

/// A running group consumer.
pub struct Member {
    pub name: String,
    pub state: Arc<Mutex<MemberState>>,
    control: Arc<AtomicU8>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Member {
    /// Creates the consumer, subscribes it to `topics` and starts its poll loop. `configs` are
    /// the client configs with Kafka's names (group.id, client.id and the scenario's).
    pub fn start(
        name: &str,
        bootstrap: &str,
        configs: &BTreeMap<String, String>,
        topics: &[String],
        processing: Processing,
        history: &History,
    ) -> Result<Member, String> {
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", bootstrap);
        cfg.set("enable.partition.eof", "false");
        for (k, v) in configs {
            let v = if k == "auto.offset.reset" && v == "none" { "error" } else { v.as_str() };
            cfg.set(k, v);
        }
        let state = Arc::new(Mutex::new(MemberState::default()));
        let ctx = MemberContext { state: state.clone(), history: history.clone(), process: name.to_string() };
        let consumer: BaseConsumer<MemberContext> =
            cfg.create_with_context(ctx).map_err(|e| format!("cannot create consumer {name}: {e}"))?;
        let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&refs).map_err(|e| format!("consumer {name} cannot subscribe to {topics:?}: {e}"))?;
        let control = Arc::new(AtomicU8::new(RUN));
        let (c, s, h, p) = (control.clone(), state.clone(), history.clone(), name.to_string());
        let thread = std::thread::Builder::new()
            .name(format!("group-{name}"))
            .spawn(move || run(consumer, &c, &s, &h, &p, processing))
            .map_err(|e| format!("cannot start consumer {name}'s thread: {e}"))?;
        Ok(Member { name: name.to_string(), state, control, thread: Some(thread) })
    }

    pub fn state(&self) -> MemberState {
        lock(&self.state).clone()
    }

    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops calling poll, as an application stuck in processing does.
    pub fn stall(&self) {
        self.control.store(STALL, Ordering::SeqCst);
    }

    /// Holds the application where it is: it neither polls nor finishes the record it is
    /// processing until [`Member::release`] (or a kill).
    pub fn hold(&self) {
        let _ = self.control.compare_exchange(RUN, HOLD, Ordering::SeqCst, Ordering::SeqCst);
    }

    pub fn release(&self) {
        let _ = self.control.compare_exchange(HOLD, RUN, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Closes the consumer (LeaveGroup) and waits for it.
    pub async fn close(&mut self) {
        self.end(CLOSE).await;
    }

    /// Crashes the consumer: no LeaveGroup, no commit, heartbeats stop, sockets close.
    pub async fn kill(&mut self) {
        self.end(KILL).await;
    }

    async fn end(&mut self, how: u8) {
        self.control.store(how, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

impl Drop for Member {
    /// A consumer left running at the end of a scenario is closed, so no thread outlives it.
    fn drop(&mut self) {
        self.control.store(CLOSE, Ordering::SeqCst);
    }
}

fn run(
    consumer: BaseConsumer<MemberContext>,
    control: &AtomicU8,
    state: &Mutex<MemberState>,
    history: &History,
    process: &str,
    processing: Processing,
) {
    loop {
        match control.load(Ordering::SeqCst) {
            RUN => {}
            STALL | HOLD => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            KILL => return kill(consumer, state),
            _ => return close(consumer, state),
        }
        let polled = consumer.poll(Duration::from_millis(50));
        if let Some((g, m)) = group_metadata(&consumer) {
            let mut s = lock(state);
            s.generation = g;
            s.member_id = m;
        }
        let Some(result) = polled else { continue };
        let m = match result {
            Ok(m) => m,
            Err(e) => {
                let (name, _) = crate::kafka::classify(&e);
                lock(state).errors.push(name.clone());
                history.record(process, Op::Poll { reads: Vec::new() }, Outcome::Fail { error: name });
                continue;
            }
        };
        let tp = (m.topic().to_string(), m.partition());
        lock(state).polled.insert(tp.clone(), m.offset());
        if let Processing::Each { delay: Some(d), .. } = processing {
            let until = Instant::now() + d;
            loop {
                let c = control.load(Ordering::SeqCst);
                if c == CLOSE || c == KILL || (c != HOLD && Instant::now() >= until) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            // Killed while processing: the record was never processed.
            if control.load(Ordering::SeqCst) == KILL {
                return kill(consumer, state);
            }
        }
        let record = crate::kafka::record_of(&m);
        history.record(
            process,
            Op::Poll { reads: vec![Read { topic: tp.0.clone(), partition: tp.1, offset: m.offset(), record }] },
            Outcome::Ok,
        );
        {
            let mut s = lock(state);
            s.processed.insert(tp.clone(), m.offset());
            s.reads += 1;
        }
        if let Processing::Each { commit: true, .. } = processing {
            match consumer.commit_message(&m, CommitMode::Sync) {
                Ok(()) => {
                    let mut s = lock(state);
                    let slot = s.committed.entry(tp.clone()).or_insert(m.offset() + 1);
                    *slot = (*slot).max(m.offset() + 1);
                }
                Err(e) => lock(state).errors.push(format!("commit of {}-{} at {}: {e}", tp.0, tp.1, m.offset() + 1)),
            }
        }
    }
}

fn close(consumer: BaseConsumer<MemberContext>, state: &Mutex<MemberState>) {
    // Dropping a BaseConsumer with a group id runs rd_kafka_consumer_close: revoke, LeaveGroup.
    drop(consumer);
    lock(state).ended = Some("closed");
}

fn kill(consumer: BaseConsumer<MemberContext>, state: &Mutex<MemberState>) {
    let rk = consumer.client().native_ptr() as usize;
    // The wrapper must not run its own close afterwards (see the module doc).
    std::mem::forget(consumer);
    // rd_kafka_destroy_flags returns only once librdkafka's own threads have ended, which may
    // take until nothing refers to the client any more; the connections are closed before that.
    let _ = std::thread::Builder::new().name("group-kill".into()).spawn(move || {
        // SAFETY: `rk` is the live client of the forgotten consumer, destroyed once and never used again.
        unsafe {
            rdkafka::bindings::rd_kafka_destroy_flags(
                rk as *mut rdkafka::bindings::rd_kafka_t,
                rdkafka::bindings::RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE,
            );
        }
    });
    lock(state).ended = Some("killed");
}
