//! The group coordinator: Kafka's classic consumer-group protocol and committed offsets.
//!
//! A group lives on the leader of its `__consumer_offsets` partition
//! (`abs(hash(group.id)) % offsets.topic.num.partitions`). Everything a group must keep — its
//! committed offsets and, after each rebalance, its generation, leader and members'
//! assignments — is written to that partition (acks=all, as Kafka's `offsets.commit.required.acks`)
//! before the client is answered. When a broker becomes the partition's leader it rebuilds the
//! groups by reading the partition, and answers COORDINATOR_LOAD_IN_PROGRESS until it is done;
//! when it stops leading it forgets them (NOT_COORDINATOR).
//!
//! The state machine follows apache/kafka's `ClassicGroup` and `GroupMetadataManager`: Empty,
//! PreparingRebalance, CompletingRebalance, Stable and Dead; JoinGroup answers are held until
//! every member has rejoined or the rebalance timeout passes; SyncGroup answers until the
//! leader's assignment is written; members that stop heartbeating for `session.timeout.ms` are
//! removed. Static members (KIP-345) keep their place across restarts.

pub mod records;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use tokio::sync::oneshot;

use crate::coordinator::{Runtime, StateMachine, StoredRecord};
use crate::defects::{Defect, active};
use crate::now_ms;
use records::{OffsetsRecord, StoredGroup, StoredMember, StoredOffset};

pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl State {
    /// The name DescribeGroups and ListGroups use.
    pub fn name(self) -> &'static str {
        match self {
            State::Empty => "Empty",
            State::PreparingRebalance => "PreparingRebalance",
            State::CompletingRebalance => "CompletingRebalance",
            State::Stable => "Stable",
            State::Dead => "Dead",
        }
    }
}

/// What a JoinGroup is answered with.
#[derive(Debug, Clone, Default)]
pub struct JoinAnswer {
    pub error: i16,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    pub skip_assignment: bool,
    /// Only for the leader: every member, with its metadata for the chosen protocol.
    pub members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinAnswer {
    pub fn error(e: ResponseError, member_id: &str) -> JoinAnswer {
        JoinAnswer { error: e.code(), generation: -1, member_id: member_id.to_string(), ..Default::default() }
    }
}

#[derive(Debug, Clone, Default)]
pub struct SyncAnswer {
    pub error: i16,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncAnswer {
    fn error(e: ResponseError) -> SyncAnswer {
        SyncAnswer { error: e.code(), ..Default::default() }
    }
}

/// Either an answer now, or one that comes when the rebalance gets there.
pub enum Pending<T> {
    Now(T),
    Later(oneshot::Receiver<T>),
}

impl<T: Send> Pending<T> {
    pub async fn wait(self, or: impl FnOnce() -> T) -> T {
        match self {
            Pending::Now(t) => t,
            Pending::Later(rx) => rx.await.unwrap_or_else(|_| or()),
        }
    }
}

/// Per member of a LeaveGroup, or the group's own error.
pub type LeaveResult = Result<Vec<Result<(), ResponseError>>, ResponseError>;
/// Committed offsets by topic and partition (`None`: nothing committed).
pub type FetchedOffsets = Vec<(String, Vec<(i32, Option<Committed>)>)>;
/// OffsetDelete's error code by topic and partition.
pub type DeleteResults = Vec<(String, Vec<(i32, i16)>)>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

struct Member {
    id: String,
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    rebalance_timeout: Duration,
    session_timeout: Duration,
    protocol_type: String,
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    join_waiter: Option<oneshot::Sender<JoinAnswer>>,
    sync_waiter: Option<oneshot::Sender<SyncAnswer>>,
    last_heartbeat: Instant,
}

impl Member {
    fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols.iter().find(|(n, _)| n == protocol).map(|(_, m)| m.clone()).unwrap_or_default()
    }

    fn stored(&self, protocol: Option<&str>) -> StoredMember {
        StoredMember {
            member_id: self.id.clone(),
            instance_id: self.instance_id.clone(),
            client_id: self.client_id.clone(),
            client_host: self.client_host.clone(),
            rebalance_timeout_ms: self.rebalance_timeout.as_millis() as i32,
            session_timeout_ms: self.session_timeout.as_millis() as i32,
            subscription: protocol.map(|p| self.metadata(p)).unwrap_or_default(),
            assignment: self.assignment.clone(),
        }
    }
}

struct Group {
    id: String,
    partition: i32,
    state: State,
    protocol_type: Option<String>,
    protocol: Option<String>,
    generation: i32,
    leader: Option<String>,
    members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, until they join or their session times out.
    pending: HashMap<String, Instant>,
    /// Static members: group.instance.id → member id.
    statics: HashMap<String, String>,
    offsets: BTreeMap<(String, i32), Committed>,
    /// PreparingRebalance: when the join completes even if members are missing.
    join_deadline: Option<Instant>,
    /// group.initial.rebalance.delay.ms: how much longer the first join may be extended.
    initial_delay_left: Option<Duration>,
    /// After a join completes: when members that have not sent SyncGroup are removed.
    sync_deadline: Option<Instant>,
    /// Members of this generation that have not sent SyncGroup yet.
    pending_sync: std::collections::HashSet<String>,
    /// The leader's assignment is being written for this generation.
    storing: bool,
    state_timestamp: i64,
}

impl Group {
    fn new(id: &str, partition: i32) -> Group {
        Group {
            id: id.to_string(),
            partition,
            state: State::Empty,
            protocol_type: None,
            protocol: None,
            generation: 0,
            leader: None,
            members: BTreeMap::new(),
            pending: HashMap::new(),
            statics: HashMap::new(),
            offsets: BTreeMap::new(),
            join_deadline: None,
            initial_delay_left: None,
            sync_deadline: None,
            pending_sync: std::collections::HashSet::new(),
            storing: false,
            state_timestamp: now_ms(),
        }
    }

    fn transition(&mut self, to: State) {
        tracing::info!("group {}: {} -> {} (generation {})", self.id, self.state.name(), to.name(), self.generation);
        self.state = to;
        self.state_timestamp = now_ms();
    }

    fn rebalance_timeout(&self) -> Duration {
        self.members.values().map(|m| m.rebalance_timeout).max().unwrap_or(Duration::ZERO)
    }

    /// The protocols every member supports, each member voting for its first such protocol
    /// (`ClassicGroup.selectProtocol`); ties go to the earliest in the first member's list.
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        // The defect: the first member's first choice, whoever supports it.
        if active(Defect::ProtocolFromFirstMember) {
            return first.protocols.first().map(|(n, _)| n.clone());
        }
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(n, _)| n)
            .filter(|n| self.members.values().all(|m| m.protocols.iter().any(|(p, _)| p == *n)))
            .collect();
        let mut votes: Vec<(usize, &String)> = candidates.iter().map(|c| (0, *c)).collect();
        for m in self.members.values() {
            if let Some((vote, _)) = m.protocols.iter().find(|(p, _)| candidates.contains(&p))
                && let Some(v) = votes.iter_mut().find(|(_, c)| *c == vote)
            {
                v.0 += 1;
            }
        }
        let best = votes.iter().map(|(n, _)| *n).max()?;
        votes.into_iter().find(|(n, _)| *n == best).map(|(_, c)| c.clone())
    }

    /// Whether a joining member's protocols fit the group (`ClassicGroup.supportsProtocols`).
    fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        // The first member sets the group's protocol type (`ClassicGroup.add`), before any
        // generation completes.
        let group_type = self.members.values().next().map(|m| m.protocol_type.as_str());
        if group_type != Some(protocol_type) {
            return false;
        }
        protocols.iter().any(|(p, _)| self.members.values().all(|m| m.protocols.iter().any(|(q, _)| q == p)))
    }

    fn all_joined(&self) -> bool {
        self.pending.is_empty() && self.members.values().all(|m| m.join_waiter.is_some())
    }

    fn stored(&self) -> StoredGroup {
        StoredGroup {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            state_timestamp: self.state_timestamp,
            members: self.members.values().map(|m| m.stored(self.protocol.as_deref())).collect(),
        }
    }

    fn join_answer_for(&self, member: &Member) -> JoinAnswer {
        let is_leader = self.leader.as_deref() == Some(member.id.as_str());
        let protocol = self.protocol.clone().unwrap_or_default();
        JoinAnswer {
            error: 0,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member.id.clone(),
            skip_assignment: false,
            members: if is_leader {
                self.members.values().map(|m| (m.id.clone(), m.instance_id.clone(), m.metadata(&protocol))).collect()
            } else {
                Vec::new()
            },
        }
    }
}

#[derive(Default)]
struct Inner {
    groups: HashMap<String, Group>,
    /// Offsets committed in transactions (TxnOffsetCommit), by producer id, until the
    /// transaction's marker commits or drops them (Kafka's `pendingTransactionalOffsets`).
    pending_txn: HashMap<i64, Vec<PendingOffset>>,
}

/// An offset a transaction committed, not yet visible.
struct PendingOffset {
    group: String,
    topic: String,
    partition: i32,
    committed: Committed,
}

/// Group settings from the broker config.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub initial_rebalance_delay_ms: i32,
    pub max_size: i32,
    pub offset_metadata_max_bytes: usize,
    pub commit_timeout_ms: u64,
}

impl GroupConfig {
    /// The group coordinator's settings from the broker's config.
    pub fn from_broker(c: &crate::config::BrokerConfig) -> GroupConfig {
        GroupConfig {
            min_session_timeout_ms: c.group_min_session_timeout_ms,
            max_session_timeout_ms: c.group_max_session_timeout_ms,
            initial_rebalance_delay_ms: c.group_initial_rebalance_delay_ms,
            max_size: c.group_max_size,
            offset_metadata_max_bytes: c.offset_metadata_max_bytes,
            commit_timeout_ms: c.offsets_commit_timeout_ms,
        }
    }
}

pub struct Coordinator {
    config: GroupConfig,
    /// `__consumer_offsets`: which partitions this broker coordinates, loading, writing.
    runtime: Runtime,
    inner: Mutex<Inner>,
}

/// A write the coordinator must make before answering: records for one `__consumer_offsets`
/// partition.
pub struct Write {
    pub partition: i32,
    pub records: Vec<(Bytes, Option<Bytes>)>,
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Coordinator {
    pub fn new(config: GroupConfig) -> Coordinator {
        let runtime = Runtime::new(OFFSETS_TOPIC, config.commit_timeout_ms);
        Coordinator { config, runtime, inner: Mutex::new(Inner::default()) }
    }

    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether this broker coordinates `group` now: NOT_COORDINATOR or
    /// COORDINATOR_LOAD_IN_PROGRESS otherwise. Called with the groups locked, so that a load
    /// finishing meanwhile is seen whole or not at all.
    fn check(&self, _inner: &Inner, group: &str) -> Result<i32, ResponseError> {
        self.runtime.owner(group)
    }

    /// The group a member's request is about, once this broker coordinates it and the member
    /// is in it (`validate_member`).
    fn member_group<'a>(
        &self,
        inner: &'a mut Inner,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<&'a mut Group, ResponseError> {
        self.check(inner, group_id)?;
        let group = inner.groups.get_mut(group_id).ok_or(ResponseError::UnknownMemberId)?;
        validate_member(group, member_id, instance_id)?;
        Ok(group)
    }

    // ---- partition ownership -------------------------------------------------------------

    /// Installs the groups read from the partition, unless leadership moved on meanwhile.
    fn finish_load(&self, partition: i32, epoch: i32, stored: Vec<StoredRecord>) {
        let mut records = Vec::with_capacity(stored.len());
        // Transactional offset commits stay pending until their marker (Kafka's
        // `OffsetMetadataManager.replay` and `replayEndTransactionMarker`).
        let mut pending: HashMap<i64, Vec<PendingOffset>> = HashMap::new();
        for r in stored {
            if let Some(commit) = r.marker {
                for p in pending.remove(&r.producer_id).unwrap_or_default() {
                    if commit {
                        let value = StoredOffset {
                            offset: p.committed.offset,
                            leader_epoch: p.committed.leader_epoch,
                            metadata: p.committed.metadata,
                            commit_timestamp: p.committed.commit_timestamp,
                        };
                        records.push(OffsetsRecord::Offset {
                            group: p.group,
                            topic: p.topic,
                            partition: p.partition,
                            value: Some(value),
                        });
                    }
                }
                continue;
            }
            match records::decode(r.key.as_ref(), r.value.as_ref()) {
                Ok(OffsetsRecord::Offset { group, topic, partition: p, value: Some(v) }) if r.producer_id >= 0 => {
                    let committed = Committed {
                        offset: v.offset,
                        leader_epoch: v.leader_epoch,
                        metadata: v.metadata,
                        commit_timestamp: v.commit_timestamp,
                    };
                    pending.entry(r.producer_id).or_default().push(PendingOffset {
                        group,
                        topic,
                        partition: p,
                        committed,
                    });
                }
                Ok(rec) => records.push(rec),
                Err(e) => tracing::warn!("{OFFSETS_TOPIC}-{partition}: offset {}: skipping a record: {e}", r.offset),
            }
        }
        let mut groups: HashMap<String, Group> = HashMap::new();
        for r in records {
            match r {
                OffsetsRecord::Offset { group, topic, partition: p, value } => {
                    if active(Defect::ForgetOffsetsOnRestart) {
                        continue;
                    }
                    let g = groups.entry(group.clone()).or_insert_with(|| Group::new(&group, partition));
                    match value {
                        Some(v) => {
                            g.offsets.insert(
                                (topic, p),
                                Committed {
                                    offset: v.offset,
                                    leader_epoch: v.leader_epoch,
                                    metadata: v.metadata,
                                    commit_timestamp: v.commit_timestamp,
                                },
                            );
                        }
                        None => {
                            g.offsets.remove(&(topic, p));
                        }
                    }
                }
                OffsetsRecord::Group { group, value: None } => {
                    groups.remove(&group);
                }
                OffsetsRecord::Group { group, value: Some(v) } => {
                    let g = groups.entry(group.clone()).or_insert_with(|| Group::new(&group, partition));
                    g.protocol_type = Some(v.protocol_type).filter(|t| !t.is_empty());
                    // The defect: the generation is not read back; the group restarts at 0.
                    if !active(Defect::LoadGroupWithoutGeneration) {
                        g.generation = v.generation;
                    }
                    g.protocol = v.protocol;
                    g.leader = v.leader;
                    g.state_timestamp = v.state_timestamp;
                    g.members.clear();
                    g.statics.clear();
                    let now = Instant::now();
                    for m in v.members {
                        if let Some(i) = &m.instance_id {
                            g.statics.insert(i.clone(), m.member_id.clone());
                        }
                        let protocols = match &g.protocol {
                            Some(p) => vec![(p.clone(), m.subscription.clone())],
                            None => Vec::new(),
                        };
                        g.members.insert(
                            m.member_id.clone(),
                            Member {
                                id: m.member_id,
                                instance_id: m.instance_id,
                                client_id: m.client_id,
                                client_host: m.client_host,
                                rebalance_timeout: Duration::from_millis(m.rebalance_timeout_ms.max(0) as u64),
                                session_timeout: Duration::from_millis(m.session_timeout_ms.max(0) as u64),
                                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                                protocols,
                                assignment: m.assignment,
                                join_waiter: None,
                                sync_waiter: None,
                                last_heartbeat: now,
                            },
                        );
                    }
                    g.state = if g.members.is_empty() { State::Empty } else { State::Stable };
                }
            }
        }
        let mut inner = self.lock();
        if !self.runtime.finish_load(partition, epoch) {
            return;
        }
        let count = groups.len();
        inner.groups.retain(|_, g| g.partition != partition);
        inner.groups.extend(groups);
        for (pid, offsets) in pending {
            inner.pending_txn.entry(pid).or_default().extend(offsets);
        }
        tracing::info!("{OFFSETS_TOPIC}-{partition}: loaded {count} groups at leader epoch {epoch}");
    }

    /// This broker no longer leads the partition: its groups are someone else's now. Waiting
    /// members are told NOT_COORDINATOR, and find the new coordinator.
    fn unload_groups(&self, partition: i32) {
        let mut inner = self.lock();
        let gone: Vec<String> =
            inner.groups.values().filter(|g| g.partition == partition).map(|g| g.id.clone()).collect();
        for id in gone {
            if let Some(mut g) = inner.groups.remove(&id) {
                for m in g.members.values_mut() {
                    if let Some(w) = m.join_waiter.take() {
                        let _ = w.send(JoinAnswer::error(ResponseError::NotCoordinator, &m.id));
                    }
                    if let Some(w) = m.sync_waiter.take() {
                        let _ = w.send(SyncAnswer::error(ResponseError::NotCoordinator));
                    }
                }
            }
        }
    }

    // ---- JoinGroup -------------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    pub fn join(
        &self,
        version: i16,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        client_id: &str,
        client_host: &str,
        session_timeout_ms: i32,
        rebalance_timeout_ms: i32,
        protocol_type: &str,
        protocols: Vec<(String, Bytes)>,
    ) -> Pending<JoinAnswer> {
        let now_err = |e: ResponseError| Pending::Now(JoinAnswer::error(e, member_id));
        if group_id.is_empty() {
            return now_err(ResponseError::InvalidGroupId);
        }
        let mut inner = self.lock();
        let partition = match self.check(&inner, group_id) {
            Ok(p) => p,
            Err(e) => return now_err(e),
        };
        if session_timeout_ms < self.config.min_session_timeout_ms
            || session_timeout_ms > self.config.max_session_timeout_ms
        {
            return now_err(ResponseError::InvalidSessionTimeout);
        }
        if !member_id.is_empty() && !inner.groups.contains_key(group_id) {
            return now_err(ResponseError::UnknownMemberId);
        }
        let group = inner.groups.entry(group_id.to_string()).or_insert_with(|| Group::new(group_id, partition));
        if group.state == State::Dead {
            return now_err(ResponseError::CoordinatorNotAvailable);
        }
        if !group.supports(protocol_type, &protocols) {
            return now_err(ResponseError::InconsistentGroupProtocol);
        }
        let session = Duration::from_millis(session_timeout_ms as u64);
        // As the member asked (Kafka takes it verbatim; v0's comes from the session timeout).
        let rebalance = Duration::from_millis(rebalance_timeout_ms.max(0) as u64);
        let new_member = |id: String| Member {
            id,
            instance_id: instance_id.map(str::to_string),
            client_id: client_id.to_string(),
            client_host: client_host.to_string(),
            rebalance_timeout: rebalance,
            session_timeout: session,
            protocol_type: protocol_type.to_string(),
            protocols: protocols.clone(),
            assignment: Bytes::new(),
            join_waiter: None,
            sync_waiter: None,
            last_heartbeat: Instant::now(),
        };
        let (tx, rx) = oneshot::channel();

        if member_id.is_empty() {
            if let Some(instance) = instance_id
                && let Some(old_id) = group.statics.get(instance).cloned()
            {
                if !active(Defect::RebalanceOnStaticRejoin) {
                    return self.replace_static_member(version, group, &old_id, new_member, tx, rx);
                }
                // The defect: the returning static member is treated as a stranger.
                self.remove_member(group, &old_id);
            }
            let full = group.members.len() + group.pending.len() >= self.config.max_size.max(0) as usize;
            if full {
                return now_err(ResponseError::GroupMaxSizeReached);
            }
            let id = format!("{}-{}", instance_id.unwrap_or(client_id), uuid());
            if instance_id.is_none() && version >= 4 {
                // KIP-394: the member must come back with the id it is given.
                group.pending.insert(id.clone(), Instant::now() + session);
                return Pending::Now(JoinAnswer::error(ResponseError::MemberIdRequired, &id));
            }
            let mut m = new_member(id.clone());
            m.join_waiter = Some(tx);
            if let Some(instance) = instance_id {
                group.statics.insert(instance.to_string(), id.clone());
            }
            group.members.insert(id, m);
            self.prepare_rebalance(group, "a new member joined");
            self.try_complete_join(group);
            return Pending::Later(rx);
        }

        // A known member id.
        if let Some(instance) = instance_id {
            match group.statics.get(instance) {
                Some(current) if current != member_id => return now_err(ResponseError::FencedInstanceId),
                None if !group.pending.contains_key(member_id) => return now_err(ResponseError::UnknownMemberId),
                _ => {}
            }
        }
        if group.pending.remove(member_id).is_some() {
            if group.members.len() >= self.config.max_size.max(0) as usize {
                return now_err(ResponseError::GroupMaxSizeReached);
            }
            let mut m = new_member(member_id.to_string());
            m.join_waiter = Some(tx);
            group.members.insert(member_id.to_string(), m);
            self.prepare_rebalance(group, "a new member joined");
            self.try_complete_join(group);
            return Pending::Later(rx);
        }
        let Some(member) = group.members.get_mut(member_id) else {
            return now_err(ResponseError::UnknownMemberId);
        };
        member.last_heartbeat = Instant::now();
        let same = member.protocols == protocols;
        match group.state {
            State::Empty | State::Dead => now_err(ResponseError::UnknownMemberId),
            State::PreparingRebalance => {
                member.protocols = protocols;
                member.session_timeout = session;
                member.rebalance_timeout = rebalance;
                if let Some(old) = member.join_waiter.replace(tx) {
                    let _ = old.send(JoinAnswer::error(ResponseError::UnknownMemberId, member_id));
                }
                self.try_complete_join(group);
                Pending::Later(rx)
            }
            State::CompletingRebalance if same => {
                let member = &group.members[member_id];
                Pending::Now(group.join_answer_for(member))
            }
            State::Stable if same && group.leader.as_deref() != Some(member_id) => {
                let member = &group.members[member_id];
                Pending::Now(group.join_answer_for(member))
            }
            State::CompletingRebalance | State::Stable => {
                member.protocols = protocols;
                member.session_timeout = session;
                member.rebalance_timeout = rebalance;
                member.join_waiter = Some(tx);
                let reason = if same {
                    format!("the leader {member_id} rejoined")
                } else {
                    format!("member {member_id} rejoined with new metadata")
                };
                self.prepare_rebalance(group, &reason);
                self.try_complete_join(group);
                Pending::Later(rx)
            }
        }
    }

    /// KIP-345: a static member that comes back (with no member id) gets a new member id and
    /// takes its old place; the old id is fenced. A Stable group with unchanged protocols does
    /// not rebalance: the member gets the current generation and its assignment at SyncGroup.
    fn replace_static_member(
        &self,
        version: i16,
        group: &mut Group,
        old_id: &str,
        new_member: impl Fn(String) -> Member,
        tx: oneshot::Sender<JoinAnswer>,
        rx: oneshot::Receiver<JoinAnswer>,
    ) -> Pending<JoinAnswer> {
        let Some(mut old) = group.members.remove(old_id) else {
            return Pending::Now(JoinAnswer::error(ResponseError::UnknownMemberId, ""));
        };
        let instance = old.instance_id.clone().unwrap_or_default();
        let new_id = format!("{instance}-{}", uuid());
        if let Some(w) = old.join_waiter.take() {
            let _ = w.send(JoinAnswer::error(ResponseError::FencedInstanceId, old_id));
        }
        if let Some(w) = old.sync_waiter.take() {
            let _ = w.send(SyncAnswer::error(ResponseError::FencedInstanceId));
        }
        let mut m = new_member(new_id.clone());
        let same = m.protocols == old.protocols;
        m.assignment = old.assignment;
        group.statics.insert(instance, new_id.clone());
        if group.pending_sync.remove(old_id) {
            group.pending_sync.insert(new_id.clone());
        }
        if group.leader.as_deref() == Some(old_id) {
            group.leader = Some(new_id.clone());
        }
        group.members.insert(new_id.clone(), m);
        match group.state {
            State::Stable if same => {
                let member = &group.members[&new_id];
                let mut answer = group.join_answer_for(member);
                let was_leader = group.leader.as_deref() == Some(new_id.as_str());
                if version >= 9 {
                    // KIP-814: a returning static leader gets the members but need not assign.
                    answer.skip_assignment = was_leader;
                } else {
                    // Before v9 the leader is named by its old id, so that a returning leader
                    // does not assign again.
                    answer.members.clear();
                    if was_leader {
                        answer.leader = old_id.to_string();
                    }
                }
                Pending::Now(answer)
            }
            _ => {
                group.members.get_mut(&new_id).expect("just inserted").join_waiter = Some(tx);
                if group.state != State::PreparingRebalance {
                    self.prepare_rebalance(group, "a static member rejoined with new metadata");
                }
                self.try_complete_join(group);
                Pending::Later(rx)
            }
        }
    }

    fn prepare_rebalance(&self, group: &mut Group, reason: &str) {
        if group.state == State::PreparingRebalance {
            // A newcomer during the initial delay extends it (InitialDelayedJoin).
            if let (Some(left), Some(deadline)) = (group.initial_delay_left, group.join_deadline) {
                let delay = Duration::from_millis(self.config.initial_rebalance_delay_ms.max(0) as u64);
                if !left.is_zero() {
                    let step = delay.min(left);
                    group.initial_delay_left = Some(left - step);
                    group.join_deadline = Some(deadline.max(Instant::now() + step));
                }
            }
            return;
        }
        if group.state == State::CompletingRebalance {
            for m in group.members.values_mut() {
                m.assignment = Bytes::new();
                if let Some(w) = m.sync_waiter.take() {
                    let _ = w.send(SyncAnswer::error(ResponseError::RebalanceInProgress));
                }
            }
        }
        group.sync_deadline = None;
        group.pending_sync.clear();
        group.storing = false;
        let rebalance = group.rebalance_timeout();
        let delay = Duration::from_millis(self.config.initial_rebalance_delay_ms.max(0) as u64);
        if group.state == State::Empty {
            // The initial rebalance (InitialDelayedJoin): it ends on its timer, even at a delay of
            // 0, and never early, so a member that only asked for its id does not hold it up
            // (`tryCompleteInitialRebalanceElseSchedule`).
            let first = delay.min(rebalance);
            group.initial_delay_left = Some(rebalance.saturating_sub(first));
            group.join_deadline = Some(Instant::now() + first);
        } else {
            group.initial_delay_left = None;
            group.join_deadline = Some(Instant::now() + rebalance);
        }
        tracing::info!("group {}: preparing to rebalance: {reason}", group.id);
        group.transition(State::PreparingRebalance);
    }

    /// Completes the join phase once every member has rejoined (and no initial delay runs).
    fn try_complete_join(&self, group: &mut Group) -> Option<Write> {
        if group.state == State::PreparingRebalance && group.initial_delay_left.is_none() && group.all_joined() {
            return self.complete_join(group);
        }
        None
    }

    /// The join phase ends: members that did not rejoin are removed, the generation moves on,
    /// the leader gets every member's metadata. An emptied group is written as such.
    fn complete_join(&self, group: &mut Group) -> Option<Write> {
        // Dynamic members that did not rejoin are removed; static ones keep their place.
        let missing: Vec<String> = group
            .members
            .values()
            .filter(|m| m.join_waiter.is_none() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in missing {
            tracing::info!("group {}: member {id} did not rejoin in time", group.id);
            self.drop_member(group, &id);
        }
        if !group.members.is_empty() && group.members.values().all(|m| m.join_waiter.is_none()) {
            // Only static members that did not rejoin: wait another rebalance timeout.
            group.join_deadline = Some(Instant::now() + group.rebalance_timeout());
            return None;
        }
        group.pending.clear();
        group.join_deadline = None;
        group.initial_delay_left = None;
        group.generation += 1;
        if group.members.is_empty() {
            group.protocol = None;
            group.leader = None;
            group.transition(State::Empty);
            return Some(Write {
                partition: group.partition,
                records: vec![(records::group_key(&group.id), Some(records::group_value(&group.stored())))],
            });
        }
        group.protocol_type = group.members.values().next().map(|m| m.protocol_type.clone());
        group.protocol = group.select_protocol();
        if group.leader.as_ref().is_none_or(|l| group.members.get(l).is_none_or(|m| m.join_waiter.is_none())) {
            group.leader = group.members.values().find(|m| m.join_waiter.is_some()).map(|m| m.id.clone());
        }
        group.transition(State::CompletingRebalance);
        let deadline = Instant::now() + group.rebalance_timeout();
        group.sync_deadline = Some(deadline);
        group.pending_sync = group.members.keys().cloned().collect();
        let answers: Vec<(String, JoinAnswer)> =
            group.members.values().map(|m| (m.id.clone(), group.join_answer_for(m))).collect();
        let now = Instant::now();
        for (id, answer) in answers {
            let m = group.members.get_mut(&id).expect("member");
            m.last_heartbeat = now;
            if let Some(w) = m.join_waiter.take() {
                let _ = w.send(answer);
            }
        }
        None
    }

    /// Removes a member and its static mapping, answering anything it waits for.
    fn drop_member(&self, group: &mut Group, id: &str) {
        if let Some(mut m) = group.members.remove(id) {
            if let Some(w) = m.join_waiter.take() {
                let _ = w.send(JoinAnswer::error(ResponseError::UnknownMemberId, id));
            }
            if let Some(w) = m.sync_waiter.take() {
                let _ = w.send(SyncAnswer::error(ResponseError::UnknownMemberId));
            }
            if let Some(i) = &m.instance_id
                && group.statics.get(i).map(String::as_str) == Some(id)
            {
                group.statics.remove(i);
            }
        }
        if group.leader.as_deref() == Some(id) {
            group.leader = None;
        }
    }

    /// A member leaves or expires: the group rebalances without it.
    fn remove_member(&self, group: &mut Group, id: &str) -> Option<Write> {
        self.drop_member(group, id);
        match group.state {
            State::Stable | State::CompletingRebalance => {
                self.prepare_rebalance(group, "a member left");
                self.try_complete_join(group)
            }
            State::PreparingRebalance => self.try_complete_join(group),
            State::Empty | State::Dead => None,
        }
    }

    // ---- SyncGroup -------------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    pub fn sync(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        protocol_type: Option<&str>,
        protocol_name: Option<&str>,
        assignments: Vec<(String, Bytes)>,
    ) -> (Pending<SyncAnswer>, Option<(Write, i32)>) {
        let now_err = |e: ResponseError| (Pending::Now(SyncAnswer::error(e)), None);
        let mut inner = self.lock();
        let group = match self.member_group(&mut inner, group_id, member_id, instance_id) {
            Ok(g) => g,
            Err(e) => return now_err(e),
        };
        if generation != group.generation {
            return now_err(ResponseError::IllegalGeneration);
        }
        if protocol_type.is_some_and(|t| Some(t) != group.protocol_type.as_deref())
            || protocol_name.is_some_and(|n| Some(n) != group.protocol.as_deref())
        {
            return now_err(ResponseError::InconsistentGroupProtocol);
        }
        let answer = |g: &Group, m: &Member| SyncAnswer {
            error: 0,
            protocol_type: g.protocol_type.clone(),
            protocol_name: g.protocol.clone(),
            assignment: m.assignment.clone(),
        };
        match group.state {
            State::Empty | State::Dead => now_err(ResponseError::UnknownMemberId),
            State::PreparingRebalance => now_err(ResponseError::RebalanceInProgress),
            State::Stable => {
                group.pending_sync.remove(member_id);
                let m = group.members.get_mut(member_id).expect("validated");
                m.last_heartbeat = Instant::now();
                let m = &group.members[member_id];
                (Pending::Now(answer(group, m)), None)
            }
            State::CompletingRebalance => {
                group.pending_sync.remove(member_id);
                let (tx, rx) = oneshot::channel();
                let m = group.members.get_mut(member_id).expect("validated");
                m.last_heartbeat = Instant::now();
                if let Some(old) = m.sync_waiter.replace(tx) {
                    let _ = old.send(SyncAnswer::error(ResponseError::UnknownMemberId));
                }
                if group.leader.as_deref() != Some(member_id) || group.storing {
                    return (Pending::Later(rx), None);
                }
                let given: HashMap<String, Bytes> = assignments.into_iter().collect();
                let leaders = given.get(member_id).cloned().unwrap_or_default();
                for m in group.members.values_mut() {
                    m.assignment = if active(Defect::DoubleAssignOnRebalance) {
                        // The defect: every member is handed the leader's own share.
                        leaders.clone()
                    } else {
                        given.get(&m.id).cloned().unwrap_or_default()
                    };
                }
                group.storing = true;
                let write = Write {
                    partition: group.partition,
                    records: vec![(records::group_key(&group.id), Some(records::group_value(&group.stored())))],
                };
                (Pending::Later(rx), Some((write, group.generation)))
            }
        }
    }

    /// The leader's assignment of `generation` was written (or not): answer every member.
    pub fn sync_stored(&self, group_id: &str, generation: i32, result: Result<(), ResponseError>) {
        let mut inner = self.lock();
        let Some(group) = inner.groups.get_mut(group_id) else { return };
        if group.generation != generation || group.state != State::CompletingRebalance || !group.storing {
            return;
        }
        group.storing = false;
        match result {
            Ok(()) => {
                // Members that have not sent SyncGroup yet still have until the deadline (Kafka
                // cancels the pending-sync timer only once no member is pending); the tick
                // removes them then. The defect forgets them once the leader's assignment is in.
                if group.pending_sync.is_empty() || active(Defect::LeaderSyncForgetsPendingMembers) {
                    group.sync_deadline = None;
                }
                group.transition(State::Stable);
                let (pt, pn) = (group.protocol_type.clone(), group.protocol.clone());
                let now = Instant::now();
                for m in group.members.values_mut() {
                    m.last_heartbeat = now;
                    if let Some(w) = m.sync_waiter.take() {
                        let _ = w.send(SyncAnswer {
                            error: 0,
                            protocol_type: pt.clone(),
                            protocol_name: pn.clone(),
                            assignment: m.assignment.clone(),
                        });
                    }
                }
            }
            Err(e) => {
                for m in group.members.values_mut() {
                    m.assignment = Bytes::new();
                    if let Some(w) = m.sync_waiter.take() {
                        let _ = w.send(SyncAnswer::error(e));
                    }
                }
                self.prepare_rebalance(group, "the assignment could not be written");
            }
        }
    }

    // ---- Heartbeat and LeaveGroup ----------------------------------------------------------

    pub fn heartbeat(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), ResponseError> {
        let mut inner = self.lock();
        let group = self.member_group(&mut inner, group_id, member_id, instance_id)?;
        if group.state == State::Empty {
            return Err(ResponseError::UnknownMemberId);
        }
        if group.state == State::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        if generation != group.generation {
            return Err(ResponseError::IllegalGeneration);
        }
        if let Some(m) = group.members.get_mut(member_id) {
            m.last_heartbeat = Instant::now();
        }
        if group.state == State::PreparingRebalance && !active(Defect::HeartbeatIgnoresRebalance) {
            return Err(ResponseError::RebalanceInProgress);
        }
        Ok(())
    }

    /// LeaveGroup for each `(member id, group.instance.id)`; the per-member errors, or a
    /// group-level error.
    pub fn leave(&self, group_id: &str, members: &[(String, Option<String>)]) -> (LeaveResult, Option<Write>) {
        let mut inner = self.lock();
        if let Err(e) = self.check(&inner, group_id) {
            return (Err(e), None);
        }
        let Some(group) = inner.groups.get_mut(group_id) else {
            return (Ok(members.iter().map(|_| Err(ResponseError::UnknownMemberId)).collect()), None);
        };
        if group.state == State::Dead {
            return (Err(ResponseError::CoordinatorNotAvailable), None);
        }
        let mut out = Vec::new();
        let mut write = None;
        for (member_id, instance_id) in members {
            let id = match instance_id {
                Some(instance) => match group.statics.get(instance) {
                    None => {
                        out.push(Err(ResponseError::UnknownMemberId));
                        continue;
                    }
                    Some(current) if !member_id.is_empty() && current != member_id => {
                        out.push(Err(ResponseError::FencedInstanceId));
                        continue;
                    }
                    Some(current) => current.clone(),
                },
                None if member_id.is_empty() => {
                    out.push(Err(ResponseError::UnknownMemberId));
                    continue;
                }
                None => member_id.clone(),
            };
            if group.pending.remove(&id).is_some() {
                write = self.try_complete_join(group).or(write);
                out.push(Ok(()));
                continue;
            }
            if !group.members.contains_key(&id) {
                out.push(Err(ResponseError::UnknownMemberId));
                continue;
            }
            if !active(Defect::IgnoreLeaveGroup) {
                tracing::info!("group {}: member {id} leaves", group.id);
                write = self.remove_member(group, &id).or(write);
            }
            out.push(Ok(()));
        }
        (Ok(out), write)
    }

    /// Expires members and ends rebalances whose time is up. Returns the writes to make.
    pub fn tick(&self) -> Vec<Write> {
        let now = Instant::now();
        let mut writes = Vec::new();
        let mut inner = self.lock();
        for group in inner.groups.values_mut() {
            group.pending.retain(|_, deadline| *deadline > now);
            if !active(Defect::IgnoreSessionTimeout) {
                let expired: Vec<String> = group
                    .members
                    .values()
                    .filter(|m| {
                        m.join_waiter.is_none()
                            && m.sync_waiter.is_none()
                            && now.duration_since(m.last_heartbeat) > m.session_timeout
                    })
                    .map(|m| m.id.clone())
                    .collect();
                for id in expired {
                    tracing::info!("group {}: member {id} expired (session timeout)", group.id);
                    writes.extend(self.remove_member(group, &id));
                }
            }
            match group.state {
                State::PreparingRebalance if group.join_deadline.is_some_and(|d| d <= now) => {
                    writes.extend(self.complete_join(group));
                }
                State::CompletingRebalance | State::Stable
                    if !group.storing && group.sync_deadline.is_some_and(|d| d <= now) =>
                {
                    group.sync_deadline = None;
                    // Members that never sent SyncGroup are removed; the rest rebalance.
                    let missing: Vec<String> = group.pending_sync.drain().collect();
                    if !missing.is_empty() {
                        for id in &missing {
                            tracing::info!("group {}: member {id} did not sync in time", group.id);
                            self.drop_member(group, id);
                        }
                        self.prepare_rebalance(group, "members did not sync in time");
                        writes.extend(self.try_complete_join(group));
                    }
                }
                _ => {}
            }
        }
        writes
    }

    // ---- offsets ---------------------------------------------------------------------------

    /// Validates an OffsetCommit (`ClassicGroup.validateOffsetCommit`) and returns the write.
    #[allow(clippy::too_many_arguments)]
    pub fn prepare_commit(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        offsets: &[((String, i32), Committed)],
    ) -> Result<Write, ResponseError> {
        let mut inner = self.lock();
        let partition = self.check(&inner, group_id)?;
        let exists = inner.groups.contains_key(group_id);
        if !exists {
            if generation >= 0 || !member_id.is_empty() || instance_id.is_some() {
                // Kafka: a commit with a generation for a group that does not exist.
                if !active(Defect::AcceptStaleGenerationCommit) {
                    return Err(ResponseError::IllegalGeneration);
                }
            }
            inner.groups.insert(group_id.to_string(), Group::new(group_id, partition));
        }
        let group = inner.groups.get_mut(group_id).expect("present");
        if group.state == State::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        let simple = generation < 0 && member_id.is_empty() && instance_id.is_none();
        if !(simple && group.state == State::Empty) {
            if simple {
                return Err(ResponseError::UnknownMemberId);
            }
            validate_member(group, member_id, instance_id)?;
            if generation != group.generation && !active(Defect::AcceptStaleGenerationCommit) {
                return Err(ResponseError::IllegalGeneration);
            }
            if group.state == State::CompletingRebalance {
                return Err(ResponseError::RebalanceInProgress);
            }
            if let Some(m) = group.members.get_mut(member_id) {
                m.last_heartbeat = Instant::now();
            }
        }
        Ok(Write { partition, records: offset_records(group_id, offsets) })
    }

    /// The write of a commit succeeded: the offsets are the group's now.
    pub fn committed(&self, group_id: &str, offsets: Vec<((String, i32), Committed)>) {
        let mut inner = self.lock();
        if let Some(group) = inner.groups.get_mut(group_id) {
            for (k, mut c) in offsets {
                if active(Defect::DropCommitMetadata) {
                    c.metadata = String::new();
                }
                // The defect: a commit behind the one held is dropped, as if offsets only grew.
                if active(Defect::CommitKeepsHighestOffset)
                    && group.offsets.get(&k).is_some_and(|o| o.offset > c.offset)
                {
                    continue;
                }
                group.offsets.insert(k, c);
            }
        }
    }

    /// TxnOffsetCommit (KIP-98, KIP-447): the checks of Kafka's
    /// `validateTransactionalOffsetCommit`, then the records to write as the producer's
    /// transactional batch. The group's state is not checked (a rebalance does not refuse it),
    /// but a member, static instance and generation given must be current.
    pub fn prepare_txn_commit(
        &self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        offsets: &[((String, i32), Committed)],
    ) -> Result<Write, ResponseError> {
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        let mut inner = self.lock();
        let partition = self.check(&inner, group_id)?;
        if !inner.groups.contains_key(group_id) {
            if generation >= 0 {
                return Err(ResponseError::IllegalGeneration);
            }
            inner.groups.insert(group_id.to_string(), Group::new(group_id, partition));
        }
        let group = inner.groups.get_mut(group_id).expect("present");
        if group.state == State::Dead {
            return Err(ResponseError::CoordinatorNotAvailable);
        }
        let checked = generation >= 0 || !member_id.is_empty() || instance_id.is_some();
        if !(generation < 0 && group.state == State::Empty) && checked {
            validate_member(group, member_id, instance_id)?;
            if generation != group.generation {
                return Err(ResponseError::IllegalGeneration);
            }
        }
        Ok(Write { partition, records: offset_records(group_id, offsets) })
    }

    /// Writes a transactional offset commit as the producer's batch; once written, the offsets
    /// are pending until the transaction's marker.
    pub async fn write_txn_commit(
        &self,
        w: Write,
        producer_id: i64,
        producer_epoch: i16,
        group_id: &str,
        offsets: Vec<((String, i32), Committed)>,
    ) -> Result<(), ResponseError> {
        self.runtime.write_as(w.partition, w.records, Some((producer_id, producer_epoch))).await.map_err(
            |e| match e {
                ResponseError::MessageTooLarge | ResponseError::RecordListTooLarge => ResponseError::UnknownServerError,
                other => other,
            },
        )?;
        let mut inner = self.lock();
        let pending = inner.pending_txn.entry(producer_id).or_default();
        for ((topic, partition), committed) in offsets {
            pending.push(PendingOffset { group: group_id.to_string(), topic, partition, committed });
        }
        Ok(())
    }

    /// A transaction marker was appended to `__consumer_offsets-<partition>`: the offsets the
    /// producer's transaction committed there become the groups' (commit), or are dropped.
    pub fn transaction_ended(&self, partition: i32, producer_id: i64, commit: bool) {
        let mut inner = self.lock();
        let partitions = self.runtime.partition_count();
        let Some(all) = inner.pending_txn.remove(&producer_id) else { return };
        let (here, elsewhere): (Vec<PendingOffset>, Vec<PendingOffset>) =
            all.into_iter().partition(|p| crate::coordinator::partition_for(&p.group, partitions) == partition);
        if !elsewhere.is_empty() {
            inner.pending_txn.insert(producer_id, elsewhere);
        }
        if !commit || active(Defect::TxnOffsetsNeverCommitted) {
            return;
        }
        for p in here {
            let group = inner.groups.entry(p.group.clone()).or_insert_with(|| Group::new(&p.group, partition));
            group.offsets.insert((p.topic, p.partition), p.committed);
        }
    }

    /// Whether a transaction has offsets pending for the group's partition (OffsetFetch with
    /// `require_stable` answers UNSTABLE_OFFSET_COMMIT for it, KIP-447).
    pub fn has_pending(&self, group_id: &str, topic: &str, partition: i32) -> bool {
        let inner = self.lock();
        inner
            .pending_txn
            .values()
            .flatten()
            .any(|p| p.group == group_id && p.topic == topic && p.partition == partition)
    }

    /// Committed offsets of a group; `None` topics means all of them.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        topics: Option<&[(String, Vec<i32>)]>,
    ) -> Result<FetchedOffsets, ResponseError> {
        let inner = self.lock();
        self.check(&inner, group_id)?;
        let group = inner.groups.get(group_id);
        let get = |t: &str, p: i32| group.and_then(|g| g.offsets.get(&(t.to_string(), p)).cloned());
        Ok(match topics {
            Some(topics) => {
                topics.iter().map(|(t, ps)| (t.clone(), ps.iter().map(|p| (*p, get(t, *p))).collect())).collect()
            }
            None => {
                let mut by_topic: BTreeMap<String, Vec<(i32, Option<Committed>)>> = BTreeMap::new();
                if let Some(g) = group {
                    for ((t, p), c) in &g.offsets {
                        by_topic.entry(t.clone()).or_default().push((*p, Some(c.clone())));
                    }
                }
                by_topic.into_iter().collect()
            }
        })
    }

    // ---- admin -----------------------------------------------------------------------------

    pub fn describe(&self, group_id: &str) -> Result<Described, ResponseError> {
        let inner = self.lock();
        self.check(&inner, group_id)?;
        let Some(g) = inner.groups.get(group_id) else {
            return Ok(Described {
                state: State::Dead,
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            });
        };
        let stable = g.state == State::Stable;
        let protocol = g.protocol.clone().unwrap_or_default();
        Ok(Described {
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: protocol.clone(),
            members: g
                .members
                .values()
                .map(|m| DescribedMember {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable { m.metadata(&protocol) } else { Bytes::new() },
                    assignment: m.assignment.clone(),
                })
                .collect(),
        })
    }

    /// The groups this broker coordinates: id, protocol type, state.
    pub fn list(&self) -> Vec<(String, String, State)> {
        let inner = self.lock();
        inner
            .groups
            .values()
            .filter(|g| g.state != State::Dead)
            .map(|g| (g.id.clone(), g.protocol_type.clone().unwrap_or_default(), g.state))
            .collect()
    }

    /// DeleteGroups for one group: the tombstones to write, then [`Coordinator::deleted`].
    pub fn prepare_delete(&self, group_id: &str) -> Result<Write, ResponseError> {
        let inner = self.lock();
        let partition = self.check(&inner, group_id)?;
        let Some(g) = inner.groups.get(group_id) else { return Err(ResponseError::GroupIdNotFound) };
        if g.state == State::Dead {
            return Err(ResponseError::GroupIdNotFound);
        }
        if g.state != State::Empty {
            return Err(ResponseError::NonEmptyGroup);
        }
        let mut records: Vec<(Bytes, Option<Bytes>)> =
            g.offsets.keys().map(|(t, p)| (records::offset_key(group_id, t, *p), None)).collect();
        records.push((records::group_key(group_id), None));
        Ok(Write { partition, records })
    }

    pub fn deleted(&self, group_id: &str) {
        let mut inner = self.lock();
        if inner.groups.get(group_id).is_some_and(|g| g.state == State::Empty) {
            inner.groups.remove(group_id);
        }
    }

    /// OffsetDelete: per partition, GROUP_SUBSCRIBED_TO_TOPIC when a member of a consumer group
    /// subscribes to the topic; the tombstones for the rest.
    pub fn prepare_offset_delete(
        &self,
        group_id: &str,
        topics: &[(String, Vec<i32>)],
    ) -> Result<(DeleteResults, Write), ResponseError> {
        let inner = self.lock();
        let partition = self.check(&inner, group_id)?;
        let Some(g) = inner.groups.get(group_id) else { return Err(ResponseError::GroupIdNotFound) };
        if g.state == State::Dead {
            return Err(ResponseError::GroupIdNotFound);
        }
        let subscribed: Vec<String> = if g.state == State::Empty {
            Vec::new()
        } else if g.protocol_type.as_deref() == Some("consumer") {
            let protocol = g.protocol.clone().unwrap_or_default();
            g.members.values().flat_map(|m| subscribed_topics(&m.metadata(&protocol))).collect()
        } else {
            return Err(ResponseError::NonEmptyGroup);
        };
        let mut results = Vec::new();
        let mut records = Vec::new();
        for (t, ps) in topics {
            let mut rs = Vec::new();
            for p in ps {
                if subscribed.contains(t) {
                    rs.push((*p, ResponseError::GroupSubscribedToTopic.code()));
                } else {
                    rs.push((*p, 0));
                    records.push((records::offset_key(group_id, t, *p), None));
                }
            }
            results.push((t.clone(), rs));
        }
        Ok((results, Write { partition, records }))
    }

    pub fn offsets_deleted(&self, group_id: &str, deleted: &[(String, i32)]) {
        let mut inner = self.lock();
        if let Some(g) = inner.groups.get_mut(group_id) {
            for k in deleted {
                g.offsets.remove(k);
            }
        }
    }
}

/// The member exists, and a static member's instance id maps to it (`ClassicGroup.validateMember`).
/// The `__consumer_offsets` records of a group's commit (OffsetCommitKey, OffsetCommitValue).
fn offset_records(group_id: &str, offsets: &[((String, i32), Committed)]) -> Vec<(Bytes, Option<Bytes>)> {
    offsets
        .iter()
        .map(|((t, p), c)| {
            let value = StoredOffset {
                offset: c.offset,
                leader_epoch: c.leader_epoch,
                metadata: c.metadata.clone(),
                commit_timestamp: c.commit_timestamp,
            };
            (records::offset_key(group_id, t, *p), Some(records::offset_value(&value)))
        })
        .collect()
}

fn validate_member(group: &Group, member_id: &str, instance_id: Option<&str>) -> Result<(), ResponseError> {
    if let Some(instance) = instance_id {
        match group.statics.get(instance) {
            Some(current) if current != member_id => return Err(ResponseError::FencedInstanceId),
            None => return Err(ResponseError::UnknownMemberId),
            _ => {}
        }
    }
    if !group.members.contains_key(member_id) {
        return Err(ResponseError::UnknownMemberId);
    }
    Ok(())
}

/// The topics of a consumer protocol subscription (`ConsumerProtocolSubscription`).
fn subscribed_topics(metadata: &Bytes) -> Vec<String> {
    use kafka_protocol::messages::ConsumerProtocolSubscription;
    use kafka_protocol::protocol::Decodable;
    let mut buf = metadata.clone();
    if buf.len() < 2 {
        return Vec::new();
    }
    let version = i16::from_be_bytes([buf[0], buf[1]]);
    bytes::Buf::advance(&mut buf, 2);
    match ConsumerProtocolSubscription::decode(&mut buf, version.clamp(0, 3)) {
        Ok(s) => s.topics.iter().map(|t| t.to_string()).collect(),
        Err(_) => Vec::new(),
    }
}

pub struct Described {
    pub state: State,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<DescribedMember>,
}

pub struct DescribedMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

impl Coordinator {
    /// `__consumer_offsets`, for the broker to tell about the topic and its leadership.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Makes a coordinator write: the records go to the partition as one batch, answered once
    /// the ISR has it (acks=all). A batch too large for the topic is INVALID_COMMIT_OFFSET_SIZE
    /// (`GroupMetadataManager`); the other errors as the runtime maps them.
    pub async fn write(&self, w: Write) -> Result<(), ResponseError> {
        self.runtime.write(w.partition, w.records).await.map_err(|e| match e {
            ResponseError::MessageTooLarge | ResponseError::RecordListTooLarge => {
                ResponseError::InvalidCommitOffsetSize
            }
            other => other,
        })
    }

    /// The coordinator's clock: expiries and rebalance deadlines, every 50 ms.
    pub async fn tick_loop(self: Arc<Self>) {
        let mut interval = tokio::time::interval(Duration::from_millis(50));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            for w in self.tick() {
                let groups = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = groups.write(w).await {
                        tracing::warn!("group coordinator: a group write failed: {e:?}");
                    }
                });
            }
        }
    }
}

impl StateMachine for Coordinator {
    fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    fn forget(&self, index: i32) {
        let mut inner = self.lock();
        inner.groups.retain(|_, g| g.partition != index);
        let partitions = self.runtime.partition_count();
        for offsets in inner.pending_txn.values_mut() {
            offsets.retain(|p| crate::coordinator::partition_for(&p.group, partitions) != index);
        }
    }

    fn load(&self, index: i32, epoch: i32, records: Vec<StoredRecord>) {
        self.finish_load(index, epoch, records);
    }

    fn unload(&self, index: i32) {
        self.unload_groups(index);
    }
}
