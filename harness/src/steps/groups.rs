//! Consumer groups through librdkafka consumers that subscribe with a `group.id`: their
//! assignments, rebalance callbacks, commits, crashes and stalls, judged per generation. The
//! coordinator's exact answers (wire-level members, committed offsets, DescribeGroups) are in
//! [`super::coordinator`].
//!
//! Group ids, like topic names, get the scenario's suffix on external targets. Each librdkafka
//! consumer's `client.id` is its name in the scenario: Kafka's member id is
//! `<client.id>-<uuid>`, so consumers named in order are ordered the same way by the assignors
//! (which sort members by `group.instance.id` when static, else by member id). Waiting steps
//! poll every 50 ms up to their `within <n> ms`; running out of time is a verdict that shows
//! the last state seen.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cucumber::gherkin::Step;
use cucumber::{then, when};

use super::common::{fetch_offset, plain, produce_rdkafka};
use super::names;
use crate::checker::groups::{self as check, show};
use crate::group::{Callback, Member, MemberState, Processing, Tp};
use crate::world::{KafkaWorld, StepError, StepResult};

const POLL: Duration = Duration::from_millis(50);

/// A librdkafka consumer of the scenario, by name.
pub struct GroupConsumer {
    pub member: Member,
    /// The real group id.
    pub group: String,
    /// How many consumers of this name came before it (a restart makes a new one).
    pub incarnation: usize,
    /// The (real) topics it subscribed to.
    pub topics: Vec<String>,
}

/// What a consumer owned when the group was last seen settled.
#[derive(Debug, Clone)]
struct Seen {
    incarnation: usize,
    generation: Option<i32>,
    owned: BTreeSet<Tp>,
    callbacks: usize,
}

/// The consumer-group state of a scenario.
#[derive(Default)]
pub struct Groups {
    pub(super) consumers: BTreeMap<String, GroupConsumer>,
    /// Consumers that were closed or killed and whose names were reused.
    gone: Vec<GroupConsumer>,
    /// Every settled assignment seen, oldest first.
    settled: Vec<Settled>,
    /// Per killed consumer's partitions: the offsets it processed after its last commit.
    tails: BTreeMap<Tp, (i64, i64)>,
    /// How many consumers were killed.
    killed: usize,
}

impl std::fmt::Debug for Groups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Groups").field("consumers", &self.consumers.keys().collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

/// Every partition of a (real) topic, as Metadata lists them.
async fn partitions_of(w: &mut KafkaWorld, real: &str) -> Result<BTreeSet<Tp>, StepError> {
    let view = w.view(&[real.to_string()]).await?;
    let all: BTreeSet<Tp> = view.partitions.keys().filter(|(t, _)| t == real).cloned().collect();
    if all.is_empty() {
        return Err(w.harness(format!("Metadata lists no partitions of {real}")));
    }
    Ok(all)
}

// ---------------------------------------------------------------------------------------------
// librdkafka consumers

async fn start_consumers(
    w: &mut KafkaWorld,
    list: &str,
    group: &str,
    topic: &str,
    processing: Processing,
    static_members: bool,
) -> StepResult {
    let bootstrap = w.bootstrap().await?;
    let (real_group, real_topic) = (w.topic(group), w.topic(topic));
    for c in names(list) {
        let mut configs = w.consumer_config.clone();
        configs.insert("group.id".into(), real_group.clone());
        configs.insert("client.id".into(), c.clone());
        if static_members {
            configs.insert("group.instance.id".into(), c.clone());
        }
        let member = Member::start(&c, &bootstrap, &configs, std::slice::from_ref(&real_topic), processing, &w.history)
            .map_err(|e| w.harness(e))?;
        let incarnation = w.groups.gone.iter().filter(|g| g.member.name == c).count()
            + usize::from(w.groups.consumers.contains_key(&c));
        let new = GroupConsumer { member, group: real_group.clone(), incarnation, topics: vec![real_topic.clone()] };
        if let Some(old) = w.groups.consumers.insert(c, new) {
            w.groups.gone.push(old);
        }
    }
    Ok(())
}

#[when(expr = "consumer {string} joins group {string} subscribed to {string}")]
async fn joins(w: &mut KafkaWorld, c: String, group: String, topic: String) -> StepResult {
    start_consumers(w, &c, &group, &topic, Processing::OnPoll, false).await
}

#[when(expr = "consumers {string} join group {string} subscribed to {string}")]
async fn join_many(w: &mut KafkaWorld, list: String, group: String, topic: String) -> StepResult {
    start_consumers(w, &list, &group, &topic, Processing::OnPoll, false).await
}

#[when(expr = "consumers {string} join group {string} subscribed to {string} as static members")]
async fn join_static(w: &mut KafkaWorld, list: String, group: String, topic: String) -> StepResult {
    start_consumers(w, &list, &group, &topic, Processing::OnPoll, true).await
}

#[when(expr = "consumer {string} joins group {string} subscribed to {string} as a static member")]
async fn join_static_one(w: &mut KafkaWorld, c: String, group: String, topic: String) -> StepResult {
    start_consumers(w, &c, &group, &topic, Processing::OnPoll, true).await
}

#[when(
    expr = "consumers {string} join group {string} subscribed to {string}, committing after each record they process"
)]
async fn join_committing(w: &mut KafkaWorld, list: String, group: String, topic: String) -> StepResult {
    let p = Processing::Each { delay: None, commit: true };
    start_consumers(w, &list, &group, &topic, p, false).await
}

#[when(
    expr = "consumers {string} join group {string} subscribed to {string}, taking {int} ms to process each record and committing after each"
)]
async fn join_slow_committing(w: &mut KafkaWorld, list: String, group: String, topic: String, ms: u64) -> StepResult {
    let p = Processing::Each { delay: Some(Duration::from_millis(ms)), commit: true };
    start_consumers(w, &list, &group, &topic, p, false).await
}

#[when(expr = "consumers {string} join group {string} subscribed to {string}, taking {int} ms to process each record")]
async fn join_slow(w: &mut KafkaWorld, list: String, group: String, topic: String, ms: u64) -> StepResult {
    let p = Processing::Each { delay: Some(Duration::from_millis(ms)), commit: false };
    start_consumers(w, &list, &group, &topic, p, false).await
}

fn consumer<'a>(w: &'a KafkaWorld, c: &str) -> Result<&'a GroupConsumer, StepError> {
    w.groups.consumers.get(c).ok_or_else(|| w.harness(format!("no consumer is named {c:?} in this scenario")))
}

/// Remembers what a killed consumer processed after its last commit: the records the next
/// owner may read again.
fn note_tail(w: &mut KafkaWorld, s: &MemberState) {
    w.groups.killed += 1;
    for (tp, processed) in &s.processed {
        // Empty (from > to) when everything processed was committed.
        let from = s.committed.get(tp).copied().unwrap_or(0);
        w.groups.tails.insert(tp.clone(), (from, *processed));
    }
}

async fn kill(w: &mut KafkaWorld, c: &str) -> StepResult {
    consumer(w, c)?;
    let state = {
        let gc = w.groups.consumers.get_mut(c).ok_or_else(|| StepError(format!("no consumer {c}")))?;
        gc.member.kill().await;
        gc.member.state()
    };
    note_tail(w, &state);
    Ok(())
}

/// A crash: no LeaveGroup, no final commit; its heartbeats stop and its sockets close.
#[when(expr = "consumer {string} is killed")]
async fn killed(w: &mut KafkaWorld, c: String) -> StepResult {
    kill(w, &c).await
}

/// `rd_kafka_consumer_close`: revokes, commits if auto-commit is on, and sends LeaveGroup.
#[when(expr = "consumer {string} is closed")]
async fn closed(w: &mut KafkaWorld, c: String) -> StepResult {
    consumer(w, &c)?;
    if let Some(gc) = w.groups.consumers.get_mut(&c) {
        gc.member.close().await;
    }
    Ok(())
}

/// The application stops calling poll; librdkafka keeps heartbeating (KIP-62).
#[when(expr = "consumer {string} stops polling")]
async fn stops_polling(w: &mut KafkaWorld, c: String) -> StepResult {
    consumer(w, &c)?.member.stall();
    Ok(())
}

#[when(expr = "within {int} ms consumer {string} processes {int} records")]
async fn processes(w: &mut KafkaWorld, ms: u64, c: String, n: usize) -> StepResult {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    loop {
        let s = consumer(w, &c)?.member.state();
        if s.reads >= n {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(w.verdict(format!(
                "consumer {c} processed {} records in {ms} ms, not {n}; it owns {} (errors: {:?})",
                s.reads,
                show(&s.assignment),
                s.errors
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until the broker holds a committed offset for the partition past a record its owner
/// has not processed (librdkafka stores a record's offset for the next auto-commit when poll
/// returns it, `enable.auto.offset.store`), as OffsetFetch answers, then kills the owner.
#[when(
    expr = "the consumer that owns partition {int} of {string} is killed after committing a record it has not processed"
)]
async fn killed_committed_unprocessed(w: &mut KafkaWorld, partition: i32, topic: String) -> StepResult {
    let tp = (w.topic(&topic), partition);
    let deadline = tokio::time::Instant::now() + w.timeout();
    let mut seen = "no consumer owns it".to_string();
    loop {
        let owner = w
            .groups
            .consumers
            .iter()
            .find(|(_, gc)| gc.member.is_running() && gc.member.state().assignment.contains(&tp))
            .map(|(n, gc)| (n.clone(), gc.group.clone()));
        if let Some((name, group)) = owner {
            // Held, the consumer cannot finish the record it is processing while we look.
            consumer(w, &name)?.member.hold();
            let committed = match fetch_offset(w, &group, &tp.0, partition).await? {
                Ok((o, _, e)) if e == "NONE" => o,
                _ => -1,
            };
            let s = consumer(w, &name)?.member.state();
            let (polled, processed) = (s.polled.get(&tp).copied(), s.processed.get(&tp).copied());
            if let Some(polled) = polled
                && processed.is_none_or(|p| p < polled)
                && committed > polled
            {
                return kill(w, &name).await;
            }
            consumer(w, &name)?.member.release();
            seen =
                format!("{name} owns it, polled {polled:?}, processed {processed:?}, the group committed {committed}");
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(w.harness(format!(
                "no commit of {}-{partition} ran ahead of processing within {:?} ({seen}); the scenario's \
                 processing time and auto.commit.interval.ms should make one",
                tp.0,
                w.timeout()
            )));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[when(expr = "{int} records are produced to each partition of {string}")]
async fn produce_each(w: &mut KafkaWorld, n: usize, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let all = partitions_of(w, &real).await?;
    for (_, p) in all {
        let process = format!("producer-{}", w.history.len());
        let records = plain(w, &process, n);
        produce_rdkafka(w, &topic, Some(p), records).await?;
    }
    Ok(())
}

/// The listed consumers' current states, each with the generation its assignment was made in.
fn current(w: &KafkaWorld, list: &[String]) -> Result<BTreeMap<String, MemberState>, StepError> {
    list.iter().map(|c| Ok((c.clone(), consumer(w, c)?.member.state()))).collect()
}

fn render(states: &BTreeMap<String, MemberState>) -> String {
    let view: BTreeMap<String, (Option<i32>, BTreeSet<Tp>)> =
        states.iter().map(|(c, s)| (c.clone(), (s.assigned_in, s.assignment.clone()))).collect();
    let callbacks: Vec<String> = states
        .iter()
        .map(|(c, s)| {
            let list: Vec<String> = s
                .callbacks
                .iter()
                .map(|cb| match cb {
                    Callback::Assigned { generation, partitions } => format!("g{generation} +[{}]", show(partitions)),
                    Callback::Revoked { generation, partitions, lost } => {
                        format!("g{generation} -[{}]{}", show(partitions), if *lost { " (lost)" } else { "" })
                    }
                })
                .collect();
            format!("{c} (member {}, now in generation {}): {}", s.member_id, s.generation, list.join(", "))
        })
        .collect();
    format!("{}.\nRebalance callbacks: {}", check::render(&view), callbacks.join("; "))
}

/// Settled: every listed consumer runs, has completed its assignment in the generation it is
/// in, all are in the same generation, and together they own every partition exactly once.
#[then(expr = "within {int} ms consumers {string} share the partitions of {string}")]
async fn share(w: &mut KafkaWorld, ms: u64, list: String, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let all = partitions_of(w, &real).await?;
    let list = names(&list);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    loop {
        let states = current(w, &list)?;
        let stopped: Vec<&String> =
            list.iter().filter(|c| w.groups.consumers.get(*c).is_some_and(|gc| !gc.member.is_running())).collect();
        if !stopped.is_empty() {
            return Err(w.harness(format!("consumers {stopped:?} are not running")));
        }
        let generations: BTreeSet<Option<i32>> = states.values().map(|s| s.assigned_in).collect();
        let in_step = states.values().all(|s| s.assigned_in == Some(s.generation));
        let owned: BTreeMap<String, BTreeSet<Tp>> =
            states.iter().map(|(c, s)| (c.clone(), s.assignment.clone())).collect();
        let split = check::split(&owned, &all);
        if in_step && generations.len() == 1 && !generations.contains(&None) && split.is_ok() {
            let seen = states
                .iter()
                .map(|(c, s)| {
                    let incarnation = w.groups.consumers.get(c).map_or(0, |gc| gc.incarnation);
                    let seen = Seen {
                        incarnation,
                        generation: s.assigned_in,
                        owned: s.assignment.clone(),
                        callbacks: s.callbacks.len(),
                    };
                    (c.clone(), seen)
                })
                .collect();
            w.groups.settled.push(seen);
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            let why = split.err().unwrap_or_else(|| "not all in one generation yet".into());
            return Err(w.verdict(format!(
                "within {ms} ms consumers {list:?} did not come to own every partition of {real} once, in one \
                 generation: {why}. Last seen: {}",
                render(&states)
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// For the whole time, none of the listed consumers gets a rebalance callback or a new
/// generation: the group does not rebalance.
#[then(expr = "for {int} ms consumers {string} see no rebalance")]
async fn no_rebalance_for(w: &mut KafkaWorld, ms: u64, list: String) -> StepResult {
    let list = names(&list);
    let start = current(w, &list)?;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
        let now = current(w, &list)?;
        for (c, s) in &now {
            let Some(b) = start.get(c) else { continue };
            if s.callbacks.len() != b.callbacks.len() || s.generation != b.generation {
                return Err(w.verdict(format!(
                    "consumer {c} went from generation {} to {} with callbacks {:?} while the group should have \
                     stayed as it was",
                    b.generation,
                    s.generation,
                    &s.callbacks[b.callbacks.len().min(s.callbacks.len())..]
                )));
            }
        }
    }
    Ok(())
}

/// An explicit assignment: `| consumer | partitions |` with partitions as `0,1,2` (empty: none).
#[then(expr = "the partitions of {string} are assigned:")]
async fn assigned_table(w: &mut KafkaWorld, step: &Step, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let table = step.table.as_ref().ok_or_else(|| w.harness("the step needs a | consumer | partitions | table"))?;
    let mut problems = Vec::new();
    let mut listed = Vec::new();
    for row in &table.rows {
        let [c, parts] = row.as_slice() else { return Err(w.harness(format!("a row needs two cells: {row:?}"))) };
        if c == "consumer" {
            continue;
        }
        listed.push(c.trim().to_string());
        let want: BTreeSet<Tp> = crate::metadata::parse_ids(parts.trim())
            .map_err(|e| w.harness(e))?
            .into_iter()
            .map(|p| (real.clone(), p))
            .collect();
        let got = consumer(w, c.trim())?.member.state().assignment;
        if got != want {
            problems.push(format!("{c} owns {} instead of {}", show(&got), show(&want)));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let states = current(w, &listed)?;
    Err(w.verdict(format!(
        "the assignment is not the documented one: {}. All: {}",
        problems.join("; "),
        render(&states)
    )))
}

/// In no generation did two consumers own one partition, as each consumer's assignment
/// callbacks show (every consumer the scenario ran, closed and killed ones included).
#[then("no partition was assigned to two consumers in any generation")]
async fn never_double(w: &mut KafkaWorld) -> StepResult {
    let mut owned: BTreeMap<String, BTreeMap<i32, BTreeSet<Tp>>> = BTreeMap::new();
    // A static member's restart continues its predecessor in the same generation: one name,
    // the later incarnation's assignment.
    for gc in w.groups.gone.iter().chain(w.groups.consumers.values()) {
        owned.entry(gc.member.name.clone()).or_default().extend(gc.member.state().owned_by_generation);
    }
    if owned.values().all(|by_generation| by_generation.values().all(BTreeSet::is_empty)) {
        return Err(w.verdict("no consumer was ever assigned a partition, so nothing shows none was assigned twice"));
    }
    let found = check::double_assigned(&owned);
    if found.is_empty() { Ok(()) } else { Err(w.verdict(found.join("\n"))) }
}

/// What each consumer owned in one settled assignment.
type Settled = BTreeMap<String, Seen>;

fn last_two(w: &KafkaWorld) -> Result<(Settled, Settled), StepError> {
    let n = w.groups.settled.len();
    if n < 2 {
        return Err(w.harness(
            "the step compares two settled assignments: it needs two `share the partitions` steps before it",
        ));
    }
    Ok((w.groups.settled[n - 2].clone(), w.groups.settled[n - 1].clone()))
}

/// Cooperative rebalancing (KIP-429): a consumer gives up only what moves to another.
#[then(expr = "in that rebalance consumers {string} were revoked only the partitions that moved")]
async fn revoked_only_moved(w: &mut KafkaWorld, list: String) -> StepResult {
    let (before, after) = last_two(w)?;
    let mut problems = Vec::new();
    for c in names(&list) {
        let (Some(b), Some(a)) = (before.get(&c), after.get(&c)) else {
            return Err(w.harness(format!("consumer {c} is not in both settled assignments")));
        };
        let s = consumer(w, &c)?.member.state();
        let revoked: BTreeSet<Tp> = s.callbacks[b.callbacks..a.callbacks.min(s.callbacks.len())]
            .iter()
            .filter_map(
                |cb| if let Callback::Revoked { partitions, .. } = cb { Some(partitions.clone()) } else { None },
            )
            .flatten()
            .collect();
        let moved: BTreeSet<Tp> = b.owned.difference(&a.owned).cloned().collect();
        let kept_but_revoked: BTreeSet<Tp> = revoked.difference(&moved).cloned().collect();
        if !kept_but_revoked.is_empty() {
            problems.push(format!(
                "{c} owned {} and owns {}, but was revoked {}",
                show(&b.owned),
                show(&a.owned),
                show(&revoked)
            ));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(w.verdict(problems.join("; "))) }
}

/// Nothing happened to these consumers between the last two settled assignments: no
/// callback, the same generation, the same partitions.
#[then(expr = "in that rebalance consumers {string} kept their partitions in the same generation, with no callback")]
async fn untouched(w: &mut KafkaWorld, list: String) -> StepResult {
    let (before, after) = last_two(w)?;
    let mut problems = Vec::new();
    for c in names(&list) {
        let (Some(b), Some(a)) = (before.get(&c), after.get(&c)) else {
            return Err(w.harness(format!("consumer {c} is not in both settled assignments")));
        };
        if b.incarnation != a.incarnation {
            return Err(w.harness(format!("consumer {c} was restarted in between; use `got back`")));
        }
        let s = consumer(w, &c)?.member.state();
        let callbacks = &s.callbacks[b.callbacks.min(s.callbacks.len())..];
        if b.generation != a.generation || b.owned != a.owned || !callbacks.is_empty() {
            problems.push(format!(
                "{c}: generation {:?} -> {:?}, partitions {} -> {}, callbacks {callbacks:?}",
                b.generation,
                a.generation,
                show(&b.owned),
                show(&a.owned)
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(w.verdict(format!("a rebalance reached them: {}", problems.join("; "))))
    }
}

/// A restarted static member (KIP-345) gets back what it owned, in the generation it left.
#[then(expr = "consumer {string} got back the partitions it owned before, in the same generation")]
async fn got_back(w: &mut KafkaWorld, c: String) -> StepResult {
    let (before, after) = last_two(w)?;
    let (Some(b), Some(a)) = (before.get(&c), after.get(&c)) else {
        return Err(w.harness(format!("consumer {c} is not in both settled assignments")));
    };
    if b.generation == a.generation && b.owned == a.owned {
        return Ok(());
    }
    Err(w.verdict(format!(
        "{c} owned {} in generation {:?}; after its restart it owns {} in generation {:?}",
        show(&b.owned),
        b.generation,
        show(&a.owned),
        a.generation
    )))
}

/// Waits until, in every partition of the topic, the group has read the last acknowledged record.
#[then(expr = "within {int} ms the group reads every partition of {string} to its last acknowledged record")]
async fn reads_to_end(w: &mut KafkaWorld, ms: u64, topic: String) -> StepResult {
    use crate::history::Op;
    let real = w.topic(&topic);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    loop {
        let events = w.history.events();
        let mut last_acked: BTreeMap<i32, i64> = BTreeMap::new();
        let mut last_read: BTreeMap<i32, i64> = BTreeMap::new();
        for e in &events {
            match &e.op {
                Op::Send { topic: t, partition, offset: Some(o), .. } if t == &real && e.outcome.is_ok() => {
                    let v = last_acked.entry(*partition).or_insert(*o);
                    *v = (*v).max(*o);
                }
                Op::Poll { reads } if e.outcome.is_ok() => {
                    for r in reads.iter().filter(|r| r.topic == real) {
                        let v = last_read.entry(r.partition).or_insert(r.offset);
                        *v = (*v).max(r.offset);
                    }
                }
                _ => {}
            }
        }
        if last_acked.is_empty() {
            return Err(
                w.verdict(format!("no record sent to {real} was acknowledged at a known offset: nothing to read to"))
            );
        }
        let behind: Vec<String> = last_acked
            .iter()
            .filter(|(p, o)| last_read.get(*p).is_none_or(|r| r < *o))
            .map(|(p, o)| format!("{real}-{p}: read up to {:?} of {o}", last_read.get(p)))
            .collect();
        if behind.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            let states = current(w, &w.groups.consumers.keys().cloned().collect::<Vec<_>>())?;
            return Err(w.verdict(format!(
                "within {ms} ms the group did not read every partition to its end: {}. Consumers: {}",
                behind.join("; "),
                render(&states)
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// No offset of the topic is read twice, by one consumer or several: each new owner of a
/// partition resumed exactly where the committed offset said.
#[then(expr = "no record of {string} is read more than once")]
async fn no_reread(w: &mut KafkaWorld, topic: String) -> StepResult {
    let real = w.topic(&topic);
    let events = w.history.events();
    let read_any = events.iter().any(|e| {
        e.outcome.is_ok()
            && matches!(&e.op, crate::history::Op::Poll { reads } if reads.iter().any(|r| r.topic == real))
    });
    if !read_any {
        return Err(w.verdict(format!("no record of {real} was read, so nothing shows each was read once")));
    }
    let reread = check::reread(&events, &real);
    if reread.is_empty() {
        return Ok(());
    }
    Err(w.verdict(check::reread_beyond_tail(&reread, &BTreeMap::new(), &real).join("\n")))
}

/// At-least-once with commits after processing: a record is read twice only if a consumer that
/// lost its partition (it crashed, or gave the partition up in a rebalance, perhaps with a
/// commit the rebalance refused) had processed it after its last successful commit.
#[then("every record read more than once had been processed but not committed when its partition changed owner")]
async fn rereads_bounded(w: &mut KafkaWorld) -> StepResult {
    let events = w.history.events();
    if w.groups.killed == 0 {
        return Err(w.harness("no consumer was killed"));
    }
    let mut tails: BTreeMap<Tp, Vec<(i64, i64)>> = BTreeMap::new();
    for (tp, range) in &w.groups.tails {
        tails.entry(tp.clone()).or_default().push(*range);
    }
    for gc in w.groups.gone.iter().chain(w.groups.consumers.values()) {
        for (tp, from, to) in gc.member.state().uncommitted_at_loss {
            tails.entry(tp).or_default().push((from, to));
        }
    }
    let topics: BTreeSet<String> = w.groups.consumers.values().flat_map(|gc| gc.topics.clone()).collect();
    let mut problems = Vec::new();
    for t in &topics {
        let reread = check::reread(&events, t);
        let ranges: BTreeMap<i32, Vec<(i64, i64)>> =
            tails.iter().filter(|((tt, _), _)| tt == t).map(|((_, p), r)| (*p, r.clone())).collect();
        problems.extend(check::reread_beyond_tail(&reread, &ranges, t));
    }
    if problems.is_empty() { Ok(()) } else { Err(w.verdict(problems.join("\n"))) }
}
