//! The group coordinator, exactly: FindCoordinator, wire-level members (JoinGroup, SyncGroup,
//! Heartbeat) whose answers the steps name, committed offsets (OffsetCommit, OffsetFetch) and
//! DescribeGroups. Every request follows FindCoordinator and is retried while the coordinator
//! answers that it moved or is loading, as Kafka's clients do.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use kafka_protocol::messages::consumer_protocol_assignment::ConsumerProtocolAssignment;
use kafka_protocol::messages::consumer_protocol_subscription::ConsumerProtocolSubscription;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, DescribeGroupsRequest, GroupId, HeartbeatRequest, JoinGroupRequest, JoinGroupResponse, OffsetCommitRequest,
    OffsetFetchRequest, RequestKind, ResponseKind, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::common::{coordinator_moving, fetch_offset, find_coordinator};
use super::{name, names};
use crate::checker::groups::show;
use crate::cluster::Stop;
use crate::group::Tp;
use crate::wire::{WireClient, WireError};
use crate::world::{KafkaWorld, StepError, StepResult};

/// How often waiting steps ask again.
const POLL: Duration = Duration::from_millis(50);
/// How long a wire member waits for a JoinGroup or SyncGroup answer: the coordinator holds
/// them until the rebalance completes.
const GROUP_REQUEST_MS: u64 = 20_000;
/// The session and rebalance timeouts wire members join with unless a step names one.
const WIRE_SESSION_MS: i32 = 10_000;

/// The wire-level members of a scenario, by name.
#[derive(Default)]
pub struct WireMembers {
    pub(super) members: BTreeMap<String, WireMember>,
    /// The member id the last JoinGroup answer carried.
    pub(super) last_join_member_id: Option<String>,
    /// The last OffsetCommit of several partitions: each (topic, partition)'s error name.
    pub(super) last_commit: BTreeMap<(String, i32), String>,
}

impl std::fmt::Debug for WireMembers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireMembers").field("members", &self.members.keys().collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

/// A wire-level member.
pub struct WireMember {
    group: String,
    member_id: String,
    shape: JoinShape,
    generation: i32,
    previous_generation: Option<i32>,
    client: Option<WireClient>,
    pending: Option<tokio::task::JoinHandle<(WireClient, Result<JoinGroupResponse, WireError>)>>,
    /// The protocol (assignor) the group chose, as the member's last JoinGroup answer named it.
    protocol: Option<String>,
}

/// What a member's JoinGroup carries besides the group and its member id.
#[derive(Debug, Clone)]
struct JoinShape {
    instance: Option<String>,
    session_ms: i32,
    rebalance_ms: i32,
    /// The assignors it offers, in its order of preference (each a protocol of type consumer).
    assignors: Vec<String>,
}

impl Default for JoinShape {
    fn default() -> Self {
        JoinShape {
            instance: None,
            session_ms: WIRE_SESSION_MS,
            rebalance_ms: WIRE_SESSION_MS,
            assignors: vec!["range".into()],
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The coordinator

/// A connection to the group's coordinator, once it serves the group: an OffsetFetch (which
/// changes nothing) no longer answers that the coordinator moved or is loading. Every group
/// request a step makes then goes to a coordinator that owns the group, as a client's would
/// after its retries.
async fn coordinator(w: &mut KafkaWorld, group: &str, timeout: Duration) -> Result<WireClient, StepError> {
    let deadline = tokio::time::Instant::now() + w.timeout();
    loop {
        let last = match find_coordinator(w, group).await? {
            Ok((node, addr)) => match WireClient::connect(&addr, timeout).await {
                Ok(mut client) => {
                    let v = client.version_for(ApiKey::OffsetFetch).map_err(|e| w.wire_error(e))?.min(7);
                    let req = OffsetFetchRequest::default()
                        .with_group_id(GroupId(StrBytes::from_string(group.into())))
                        .with_topics(Some(Vec::new()));
                    match client.request_at(RequestKind::OffsetFetch(req), v).await {
                        Ok(ResponseKind::OffsetFetch(r)) if coordinator_moving(&name(r.error_code)) => {
                            name(r.error_code)
                        }
                        Ok(_) => return Ok(client),
                        Err(e) => e.to_string(),
                    }
                }
                // FindCoordinator may still name a broker that just died, until the controller
                // fences it and the partition moves: asked again, as clients do.
                Err(e) if coordinator_lost(&e) || matches!(e, WireError::Connect { .. }) => {
                    format!("broker {node}, named coordinator, cannot be reached: {e}")
                }
                Err(e) => return Err(w.wire_error(e)),
            },
            Err(last) => last,
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(w.verdict(format!("no coordinator serves group {group} within {:?}: {last}", w.timeout())));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Stops the broker that coordinates the group now: SIGKILL, or SIGTERM (a controlled
/// shutdown, after which Kafka moves the broker's leaderships, the group's coordinator with them).
async fn stop_coordinator(w: &mut KafkaWorld, group: &str, how: Stop) -> StepResult {
    let real = w.topic(group);
    let node = match find_coordinator(w, &real).await? {
        Ok((node, _)) => node,
        Err(last) => return Err(w.verdict(format!("no coordinator for group {real}: {last}"))),
    };
    if !w.ctx()?.target.can_control_processes() {
        return Err(w.unsupported("stopping a broker needs `process` commands in the target file"));
    }
    let result = w.cluster().await?.stop(node, how).await;
    result.map_err(|e| w.harness(format!("cannot stop broker {node}, the coordinator: {e}")))
}

#[when(expr = "the coordinator of group {string} is killed")]
async fn coordinator_killed(w: &mut KafkaWorld, group: String) -> StepResult {
    stop_coordinator(w, &group, Stop::Kill).await
}

#[when(expr = "the coordinator of group {string} is stopped")]
async fn coordinator_stopped(w: &mut KafkaWorld, group: String) -> StepResult {
    stop_coordinator(w, &group, Stop::Graceful).await
}

// ---------------------------------------------------------------------------------------------
// Committed offsets

/// Waits for OffsetFetch to answer `offset` (and `metadata`, when given) with NONE, retrying
/// while the coordinator moves or loads; anything else at the end is a verdict.
async fn committed_is(
    w: &mut KafkaWorld,
    ms: u64,
    group: &str,
    topic: &str,
    partition: i32,
    offset: i64,
    metadata: Option<&str>,
) -> StepResult {
    let (real_group, real_topic) = (w.topic(group), w.topic(topic));
    let start = tokio::time::Instant::now();
    let deadline = start + Duration::from_millis(ms);
    // A coordinator that moved or is loading is asked again, as clients do, for at least the
    // request timeout; a definite answer is judged once `ms` has passed.
    let retry_deadline = deadline.max(start + w.timeout());
    loop {
        let answer = fetch_offset(w, &real_group, &real_topic, partition).await?;
        if let Ok((o, m, e)) = &answer
            && e == "NONE"
            && *o == offset
            && metadata.is_none_or(|want| m.as_deref() == Some(want))
        {
            return Ok(());
        }
        let retriable = match &answer {
            Ok((_, _, e)) => coordinator_moving(e),
            Err(_) => true,
        };
        let now = tokio::time::Instant::now();
        if now >= deadline && (!retriable || now >= retry_deadline) {
            let want = metadata.map_or(format!("{offset}"), |m| format!("{offset} with metadata {m:?}"));
            let got = match answer {
                Ok((o, m, e)) => format!("offset {o}, metadata {m:?}, error {e}"),
                Err(e) => format!("no answer: {e}"),
            };
            return Err(w.verdict(format!(
                "OffsetFetch for group {real_group}, {real_topic}-{partition} answers {got}; the committed offset is {want}"
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

#[then(expr = "the committed offset of partition {int} of {string} for group {string} is {int}")]
async fn committed_offset(w: &mut KafkaWorld, partition: i32, topic: String, group: String, offset: i64) -> StepResult {
    committed_is(w, 0, &group, &topic, partition, offset, None).await
}

#[then(expr = "the committed offset of partition {int} of {string} for group {string} is {int} with metadata {string}")]
async fn committed_with_metadata(
    w: &mut KafkaWorld,
    partition: i32,
    topic: String,
    group: String,
    offset: i64,
    metadata: String,
) -> StepResult {
    committed_is(w, 0, &group, &topic, partition, offset, Some(&metadata)).await
}

#[then(
    expr = "within {int} ms the committed offset of partition {int} of {string} for group {string} is {int} with metadata {string}"
)]
async fn committed_within(
    w: &mut KafkaWorld,
    ms: u64,
    partition: i32,
    topic: String,
    group: String,
    offset: i64,
    metadata: String,
) -> StepResult {
    committed_is(w, ms, &group, &topic, partition, offset, Some(&metadata)).await
}

/// Who commits: the group, and the member's generation, id and `group.instance.id`.
struct Committer<'a> {
    group: &'a str,
    generation: i32,
    member: &'a str,
    instance: Option<&'a str>,
}

fn commit_request(
    who: &Committer<'_>,
    topic: &str,
    partition: i32,
    offset: i64,
    metadata: &str,
) -> OffsetCommitRequest {
    let Committer { group, generation, member, instance } = *who;
    OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.into())))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(StrBytes::from_string(member.into()))
        .with_group_instance_id(instance.map(|i| StrBytes::from_string(i.into())))
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.into())))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(partition)
                        .with_committed_offset(offset)
                        .with_committed_metadata(Some(StrBytes::from_string(metadata.into()))),
                ]),
        ])
}

/// The OffsetCommit version to send (at most v8, which names topics), and the request as that
/// version carries it (group.instance.id exists from v7 on).
fn commit_at(client: &WireClient, req: OffsetCommitRequest) -> Result<(i16, RequestKind), WireError> {
    let v = client.version_for(ApiKey::OffsetCommit)?.min(8);
    let req = if v < 7 { req.with_group_instance_id(None) } else { req };
    Ok((v, RequestKind::OffsetCommit(req)))
}

/// One OffsetCommit: the first partition's error code.
async fn commit_once(client: &mut WireClient, req: OffsetCommitRequest) -> Result<i16, WireError> {
    let (v, req) = commit_at(client, req)?;
    match client.request_at(req, v).await? {
        ResponseKind::OffsetCommit(r) => {
            Ok(r.topics.first().and_then(|t| t.partitions.first()).map_or(0, |p| p.error_code))
        }
        _ => Err(WireError::Decode { key: ApiKey::OffsetCommit, version: v, message: "another response type".into() }),
    }
}

/// One OffsetCommit; the partition's error is kept for `Then the request fails with`.
async fn commit(w: &mut KafkaWorld, client: &mut WireClient, req: OffsetCommitRequest) -> StepResult {
    let code = commit_once(client, req).await.map_err(|e| w.wire_error(e))?;
    w.last_error = Some(name(code));
    Ok(())
}

/// A commit outside any generation (generation -1, no member id), as a standalone consumer or
/// an admin tool makes for a group without members.
#[when(expr = "offset {int} with metadata {string} is committed to partition {int} of {string} for group {string}")]
async fn standalone_commit(
    w: &mut KafkaWorld,
    offset: i64,
    metadata: String,
    partition: i32,
    topic: String,
    group: String,
) -> StepResult {
    let (real_group, real_topic) = (w.topic(&group), w.topic(&topic));
    let timeout = w.timeout();
    let deadline = tokio::time::Instant::now() + timeout;
    // As Kafka's clients do, a commit the coordinator could not take (it moved, or is loading
    // its partition of __consumer_offsets) goes again to the coordinator FindCoordinator names.
    loop {
        let mut client = coordinator(w, &real_group, timeout).await?;
        let req = commit_request(
            &Committer { group: &real_group, generation: -1, member: "", instance: None },
            &real_topic,
            partition,
            offset,
            &metadata,
        );
        commit(w, &mut client, req).await?;
        match w.last_error.as_deref() {
            Some("NONE") => return Ok(()),
            Some(e) if coordinator_moving(e) && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(POLL).await;
            }
            other => return Err(w.verdict(format!("the commit was refused with {other:?}"))),
        }
    }
}

/// The rows of a `| topic | partition | ... |` table (a header row whose first cell is `topic`
/// is skipped), each with exactly `cells` cells.
fn table_rows(w: &KafkaWorld, step: &Step, cells: usize, header: &str) -> Result<Vec<Vec<String>>, StepError> {
    let table = step.table.as_ref().ok_or_else(|| w.harness(format!("the step needs a {header} table")))?;
    let mut out = Vec::new();
    for row in &table.rows {
        if row.len() != cells {
            return Err(w.harness(format!("every row of {header} needs {cells} cells, got {row:?}")));
        }
        if row[0].trim() == "topic" {
            continue;
        }
        out.push(row.iter().map(|c| c.trim().to_string()).collect());
    }
    Ok(out)
}

fn number<T: std::str::FromStr>(w: &KafkaWorld, cell: &str) -> Result<T, StepError> {
    cell.parse().map_err(|_| w.harness(format!("{cell:?} is not a number")))
}

/// One OffsetCommit outside any generation that names every row's partition, topics in the
/// order they first appear and partitions in row order, as a consumer commits its whole
/// assignment at once. Each partition's answer is kept for `Then the OffsetCommit answers:`.
#[when(expr = "one OffsetCommit request for group {string} commits:")]
async fn commit_several(w: &mut KafkaWorld, step: &Step, group: String) -> StepResult {
    let rows = table_rows(w, step, 4, "| topic | partition | offset | metadata |")?;
    let real_group = w.topic(&group);
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for row in &rows {
        let (topic, partition, offset): (String, i32, i64) =
            (w.topic(&row[0]), number(w, &row[1])?, number(w, &row[2])?);
        let entry = OffsetCommitRequestPartition::default()
            .with_partition_index(partition)
            .with_committed_offset(offset)
            .with_committed_metadata(Some(StrBytes::from_string(row[3].clone())));
        match topics.iter_mut().find(|t| t.name.as_str() == topic) {
            Some(t) => t.partitions.push(entry),
            None => topics.push(
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic)))
                    .with_partitions(vec![entry]),
            ),
        }
    }
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(real_group.clone())))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(StrBytes::from_static_str(""))
        .with_topics(topics);
    let timeout = w.timeout();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let mut client = coordinator(w, &real_group, timeout).await?;
        let (v, request) = commit_at(&client, req.clone()).map_err(|e| w.wire_error(e))?;
        let answer = match client.request_at(request, v).await {
            Ok(ResponseKind::OffsetCommit(r)) => r,
            Ok(_) => return Err(w.harness("OffsetCommit answered with another response type")),
            Err(e) => return Err(w.wire_error(e)),
        };
        let codes: BTreeMap<(String, i32), String> = answer
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| ((t.name.to_string(), p.partition_index), name(p.error_code))))
            .collect();
        // A coordinator that moved or is loading took nothing: commit again where it went.
        if codes.values().any(|e| coordinator_moving(e)) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
            continue;
        }
        w.wire_members.last_commit = codes;
        return Ok(());
    }
}

/// OffsetCommits outside any generation, one per offset listed, all written on one connection
/// before any answer is read, as a consumer's asynchronous commits go: Kafka handles a
/// connection's requests one at a time, in order. The first answer that is not NONE is kept for
/// `Then the request fails with` / `Then the request succeeds`.
#[when(
    expr = "OffsetCommits of offsets {string} to partition {int} of {string} for group {string} are pipelined on one connection"
)]
async fn commits_pipelined(
    w: &mut KafkaWorld,
    offsets: String,
    partition: i32,
    topic: String,
    group: String,
) -> StepResult {
    let offsets: Vec<i64> = super::common::number_list(&offsets)
        .ok_or_else(|| w.harness(format!("offsets {offsets:?} is not a list of numbers")))?;
    let (real_group, real_topic) = (w.topic(&group), w.topic(&topic));
    let mut client = coordinator(w, &real_group, w.timeout()).await?;
    let mut sent = Vec::new();
    for o in &offsets {
        let req = commit_request(
            &Committer { group: &real_group, generation: -1, member: "", instance: None },
            &real_topic,
            partition,
            *o,
            &format!("commit of {o}"),
        );
        let (v, req) = commit_at(&client, req).map_err(|e| w.wire_error(e))?;
        sent.push(client.send_at(&req, v).await.map_err(|e| w.wire_error(e))?);
    }
    let mut first_error = None;
    for (o, in_flight) in offsets.iter().zip(sent) {
        let code = match client.receive(in_flight).await.map_err(|e| w.wire_error(e))? {
            ResponseKind::OffsetCommit(r) => {
                r.topics.first().and_then(|t| t.partitions.first()).map_or(0, |p| p.error_code)
            }
            _ => return Err(w.harness("OffsetCommit answered with another response type")),
        };
        if code != 0 && first_error.is_none() {
            first_error = Some(format!("{} (the commit of offset {o})", name(code)));
        }
    }
    w.last_error = Some(first_error.map_or("NONE".to_string(), |e| e.split(' ').next().unwrap_or("").to_string()));
    Ok(())
}

/// Each row's partition was answered with the error named (`NONE` for a commit), and the
/// answer names no other partition.
#[then("the OffsetCommit answers:")]
async fn commit_answers(w: &mut KafkaWorld, step: &Step) -> StepResult {
    let rows = table_rows(w, step, 3, "| topic | partition | error |")?;
    let mut want = BTreeMap::new();
    for row in &rows {
        want.insert((w.topic(&row[0]), number::<i32>(w, &row[1])?), row[2].clone());
    }
    let got = &w.wire_members.last_commit;
    if got.is_empty() {
        return Err(w.harness("no OffsetCommit of several partitions was sent before this step"));
    }
    if *got == want {
        return Ok(());
    }
    let show = |m: &BTreeMap<(String, i32), String>| {
        m.iter().map(|((t, p), e)| format!("{t}-{p}: {e}")).collect::<Vec<_>>().join(", ")
    };
    Err(w.verdict(format!("the OffsetCommit answered {}; Kafka answers {}", show(got), show(&want))))
}

/// OffsetFetch answers each row's offset and metadata (offset -1 and an empty metadata for a
/// partition without a commit); retried while the coordinator moves or loads.
#[then(expr = "the committed offsets of group {string} are:")]
async fn committed_table(w: &mut KafkaWorld, step: &Step, group: String) -> StepResult {
    let rows = table_rows(w, step, 4, "| topic | partition | offset | metadata |")?;
    for row in &rows {
        let (partition, offset): (i32, i64) = (number(w, &row[1])?, number(w, &row[2])?);
        let metadata = (offset >= 0).then_some(row[3].as_str());
        committed_is(w, 0, &group, &row[0], partition, offset, metadata).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Wire-level members

/// A broker that closes the connection on a well-formed group request at a version it
/// advertises breaks the protocol: a verdict. Other wire errors keep their usual meaning.
fn group_wire_error(w: &KafkaWorld, what: &str, e: WireError) -> StepError {
    match e {
        WireError::Closed => w.verdict(format!("the broker closed the connection instead of answering {what}")),
        other => w.wire_error(other),
    }
}

fn subscription() -> bytes::Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    // Encoding a default subscription at v0 cannot fail.
    let _ = ConsumerProtocolSubscription::default().encode(&mut buf, 0);
    buf.freeze()
}

fn empty_assignment() -> bytes::Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    let _ = ConsumerProtocolAssignment::default().encode(&mut buf, 0);
    buf.freeze()
}

fn join_request(group: &str, member_id: &str, shape: &JoinShape) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.into())))
        .with_session_timeout_ms(shape.session_ms)
        .with_rebalance_timeout_ms(shape.rebalance_ms)
        .with_member_id(StrBytes::from_string(member_id.into()))
        .with_group_instance_id(shape.instance.as_ref().map(|i| StrBytes::from_string(i.clone())))
        .with_protocol_type(StrBytes::from_static_str("consumer"))
        .with_protocols(
            shape
                .assignors
                .iter()
                .map(|a| {
                    JoinGroupRequestProtocol::default()
                        .with_name(StrBytes::from_string(a.clone()))
                        .with_metadata(subscription())
                })
                .collect(),
        )
}

/// One JoinGroup at the highest version both sides know (at most v9).
async fn join_once(client: &mut WireClient, req: JoinGroupRequest) -> Result<JoinGroupResponse, WireError> {
    let v = client.version_for(ApiKey::JoinGroup)?.min(9);
    let req = if v < 5 { req.with_group_instance_id(None) } else { req };
    match client.request_at(RequestKind::JoinGroup(req), v).await? {
        ResponseKind::JoinGroup(r) => Ok(r),
        _ => Err(WireError::Closed),
    }
}

/// JoinGroup as a client does it: a member without an id that is told MEMBER_ID_REQUIRED
/// (KIP-394) joins again with the id the answer gives it.
async fn join_fully(
    mut client: WireClient,
    group: String,
    member_id: String,
    shape: JoinShape,
) -> (WireClient, Result<JoinGroupResponse, WireError>) {
    let first = join_once(&mut client, join_request(&group, &member_id, &shape)).await;
    let result = match first {
        Ok(r) if r.error_code == 79 => {
            let id = r.member_id.to_string();
            join_once(&mut client, join_request(&group, &id, &shape)).await
        }
        other => other,
    };
    (client, result)
}

/// SyncGroup; the leader assigns every member an empty assignment.
async fn sync(
    client: &mut WireClient,
    group: &str,
    joined: &JoinGroupResponse,
    instance: Option<&str>,
) -> Result<i16, WireError> {
    let v = client.version_for(ApiKey::SyncGroup)?.min(5);
    let leader = joined.leader == joined.member_id && !joined.skip_assignment;
    let assignments = if leader {
        joined
            .members
            .iter()
            .map(|m| {
                SyncGroupRequestAssignment::default()
                    .with_member_id(m.member_id.clone())
                    .with_assignment(empty_assignment())
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut req = SyncGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.into())))
        .with_generation_id(joined.generation_id)
        .with_member_id(joined.member_id.clone())
        .with_assignments(assignments);
    if v >= 3 {
        req = req.with_group_instance_id(instance.map(|i| StrBytes::from_string(i.into())));
    }
    if v >= 5 {
        req = req
            .with_protocol_type(Some(StrBytes::from_static_str("consumer")))
            .with_protocol_name(joined.protocol_name.clone());
    }
    match client.request_at(RequestKind::SyncGroup(req), v).await? {
        ResponseKind::SyncGroup(r) => Ok(r.error_code),
        _ => Err(WireError::Closed),
    }
}

fn wire_member<'a>(w: &'a mut KafkaWorld, m: &str, group: &str) -> &'a mut WireMember {
    let real = w.topic(group);
    w.wire_members.members.entry(m.to_string()).or_insert_with(|| WireMember {
        group: real,
        member_id: String::new(),
        shape: JoinShape::default(),
        generation: -1,
        previous_generation: None,
        client: None,
        pending: None,
        protocol: None,
    })
}

/// Declares the `rebalance_timeout_ms` a wire member joins with: how long the coordinator waits
/// for it to rejoin, and, once a rebalance's joins are done, to send its SyncGroup.
#[given(expr = "member {string} of group {string} has rebalance.timeout.ms {int}")]
async fn member_rebalance_timeout(w: &mut KafkaWorld, m: String, group: String, ms: i32) -> StepResult {
    wire_member(w, &m, &group).shape.rebalance_ms = ms;
    Ok(())
}

/// The members join (as `members ... join group ... on the wire`), but `quiet` never sends its
/// SyncGroup: Kafka removes it once the rebalance timeout passes and rebalances the rest.
#[when(expr = "members {string} join group {string} on the wire, {string} without sending SyncGroup")]
async fn members_join_one_silent(w: &mut KafkaWorld, list: String, group: String, quiet: String) -> StepResult {
    complete_joins_skipping(w, &names(&list), &group, &[quiet]).await
}

/// Declares the assignors (protocols of type consumer) a wire member offers, in its order of
/// preference; `range` alone unless a step says otherwise.
#[given(expr = "member {string} of group {string} offers the assignors {string}")]
async fn member_assignors(w: &mut KafkaWorld, m: String, group: String, list: String) -> StepResult {
    wire_member(w, &m, &group).shape.assignors = names(&list);
    Ok(())
}

/// The protocol the member's last JoinGroup answer named: the one the coordinator chose for
/// the generation.
#[then(expr = "the group's assignor, as member {string}'s JoinGroup answer names it, is {string}")]
async fn chosen_assignor(w: &mut KafkaWorld, m: String, want: String) -> StepResult {
    let wm = w.wire_members.members.get(&m).ok_or_else(|| w.harness(format!("no wire member {m:?}")))?;
    match wm.protocol.as_deref() {
        Some(p) if p == want => Ok(()),
        got => Err(w.verdict(format!("member {m}'s JoinGroup answer names the assignor {got:?}, not {want:?}"))),
    }
}

/// Declares a wire member's `group.instance.id` (KIP-345) before it joins.
#[given(expr = "member {string} of group {string} has group.instance.id {string}")]
async fn member_instance(w: &mut KafkaWorld, m: String, group: String, instance: String) -> StepResult {
    wire_member(w, &m, &group).shape.instance = Some(instance);
    Ok(())
}

async fn member_client(w: &mut KafkaWorld, m: &str) -> Result<WireClient, StepError> {
    let group = w.wire_members.members.get(m).map(|wm| wm.group.clone()).unwrap_or_default();
    if let Some(mut c) = w.wire_members.members.get_mut(m).and_then(|wm| wm.client.take()) {
        // An idle connection the broker closed (it died, or was restarted) is dropped here and
        // the coordinator found again (see `coordinator_lost`); nothing else is waiting on it,
        // so one look at the socket reads no answer.
        let closed = matches!(tokio::time::timeout(Duration::ZERO, c.closed_by_peer()).await, Ok(Ok(true) | Err(_)));
        if !closed {
            return Ok(c);
        }
    }
    coordinator(w, &group, Duration::from_millis(GROUP_REQUEST_MS)).await
}

/// Starts a member's JoinGroup without waiting for its answer (the coordinator holds it until
/// the rebalance completes).
async fn start_join(w: &mut KafkaWorld, m: &str, group: &str) -> StepResult {
    wire_member(w, m, group);
    let client = member_client(w, m).await?;
    let wm = w.wire_members.members.get_mut(m).ok_or_else(|| StepError("unreachable".into()))?;
    let (g, id, shape) = (wm.group.clone(), wm.member_id.clone(), wm.shape.clone());
    wm.pending = Some(tokio::spawn(join_fully(client, g, id, shape)));
    Ok(())
}

/// Completes the joins of the listed members (each started now if it was not already), then
/// their SyncGroups, all concurrently: a rebalance waits for every member to rejoin.
async fn complete_joins(w: &mut KafkaWorld, list: &[String], group: &str) -> StepResult {
    complete_joins_skipping(w, list, group, &[]).await
}

/// [`complete_joins`], where the members in `no_sync` stop after JoinGroup and never send
/// SyncGroup.
async fn complete_joins_skipping(w: &mut KafkaWorld, list: &[String], group: &str, no_sync: &[String]) -> StepResult {
    for m in list {
        if w.wire_members.members.get(m).is_none_or(|wm| wm.pending.is_none()) {
            start_join(w, m, group).await?;
        }
    }
    let mut tasks = Vec::new();
    for m in list {
        let wm = w.wire_members.members.get_mut(m).ok_or_else(|| StepError("unreachable".into()))?;
        let pending = wm.pending.take().ok_or_else(|| StepError("unreachable".into()))?;
        let (group, instance) = (wm.group.clone(), wm.shape.instance.clone());
        let skip = no_sync.contains(m);
        tasks.push(tokio::spawn(async move {
            let (mut client, joined) = pending.await.map_err(|e| WireError::Io(std::io::Error::other(e)))?;
            let joined = joined?;
            let synced = if joined.error_code == 0 && !skip {
                Some(sync(&mut client, &group, &joined, instance.as_deref()).await?)
            } else {
                None
            };
            Ok::<_, WireError>((client, joined, synced))
        }));
    }
    let mut errors = Vec::new();
    for (m, t) in list.iter().zip(tasks) {
        let (client, joined, synced) = match t.await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(group_wire_error(w, "JoinGroup or SyncGroup", e)),
            Err(e) => return Err(w.harness(format!("member {m}'s join task failed: {e}"))),
        };
        let wm = w.wire_members.members.get_mut(m).ok_or_else(|| StepError("unreachable".into()))?;
        wm.client = Some(client);
        if !joined.member_id.is_empty() {
            wm.member_id = joined.member_id.to_string();
        }
        w.wire_members.last_join_member_id = Some(joined.member_id.to_string());
        if joined.error_code != 0 {
            errors.push(format!("{m}: JoinGroup answered {}", name(joined.error_code)));
            continue;
        }
        wm.protocol = joined.protocol_name.as_ref().map(|p| p.to_string());
        if wm.generation != joined.generation_id {
            wm.previous_generation = Some(wm.generation);
        }
        wm.generation = joined.generation_id;
        if let Some(code) = synced.filter(|c| *c != 0) {
            errors.push(format!("{m}: SyncGroup answered {}", name(code)));
        }
    }
    w.last_error = Some(errors.first().map_or("NONE".into(), |e| e.rsplit(' ').next().unwrap_or("").to_string()));
    if errors.is_empty() { Ok(()) } else { Err(w.verdict(format!("the members did not join: {}", errors.join("; ")))) }
}

/// The first round of a new member's join only: JoinGroup without a member id, answered
/// MEMBER_ID_REQUIRED (KIP-394); the member keeps the id and does not join again yet, so the
/// coordinator holds it as a pending member.
#[when(expr = "member {string} asks group {string} for a member id")]
async fn asks_member_id(w: &mut KafkaWorld, m: String, group: String) -> StepResult {
    wire_member(w, &m, &group);
    let mut client = member_client(w, &m).await?;
    let wm = w.wire_members.members.get(&m).ok_or_else(|| StepError("unreachable".into()))?;
    let req = join_request(&wm.group, "", &wm.shape);
    let r = join_once(&mut client, req).await.map_err(|e| group_wire_error(w, "JoinGroup", e))?;
    w.last_error = Some(name(r.error_code));
    if let Some(wm) = w.wire_members.members.get_mut(&m) {
        wm.member_id = r.member_id.to_string();
        wm.client = Some(client);
    }
    if r.error_code != 79 {
        return Err(w.verdict(format!("the first JoinGroup without a member id was answered {}", name(r.error_code))));
    }
    Ok(())
}

/// A bounded join: JoinGroup (and SyncGroup) must complete within `ms`.
#[when(expr = "within {int} ms member {string} joins group {string} on the wire")]
async fn member_joins_within(w: &mut KafkaWorld, ms: u64, m: String, group: String) -> StepResult {
    let list = [m.clone()];
    match tokio::time::timeout(Duration::from_millis(ms), complete_joins(w, &list, &group)).await {
        Ok(r) => r,
        Err(_) => Err(w.verdict(format!("member {m}'s JoinGroup and SyncGroup were not answered within {ms} ms"))),
    }
}

#[when(expr = "member {string} joins group {string} on the wire")]
async fn member_joins(w: &mut KafkaWorld, m: String, group: String) -> StepResult {
    complete_joins(w, &[m], &group).await
}

#[when(expr = "members {string} join group {string} on the wire")]
async fn members_join(w: &mut KafkaWorld, list: String, group: String) -> StepResult {
    complete_joins(w, &names(&list), &group).await
}

#[when(expr = "member {string} starts joining group {string} on the wire")]
async fn member_starts_joining(w: &mut KafkaWorld, m: String, group: String) -> StepResult {
    start_join(w, &m, &group).await
}

/// One JoinGroup with the session timeout given; its error is kept for `the request fails with`.
#[when(expr = "member {string} sends a JoinGroup to group {string} with session.timeout.ms {int}")]
async fn join_with_session(w: &mut KafkaWorld, m: String, group: String, session_ms: i32) -> StepResult {
    wire_member(w, &m, &group).shape.session_ms = session_ms;
    let mut client = member_client(w, &m).await?;
    let wm = w.wire_members.members.get(&m).ok_or_else(|| StepError("unreachable".into()))?;
    let req = join_request(&wm.group, &wm.member_id, &wm.shape);
    let r = join_once(&mut client, req).await.map_err(|e| group_wire_error(w, "JoinGroup", e))?;
    let (_, r) = if r.error_code == 79 {
        let wm = w.wire_members.members.get(&m).ok_or_else(|| StepError("unreachable".into()))?;
        let req = join_request(&wm.group, r.member_id.as_str(), &wm.shape);
        ((), join_once(&mut client, req).await.map_err(|e| group_wire_error(w, "JoinGroup", e))?)
    } else {
        ((), r)
    };
    w.last_error = Some(name(r.error_code));
    if let Some(wm) = w.wire_members.members.get_mut(&m) {
        wm.client = Some(client);
    }
    Ok(())
}

/// The first JoinGroup of a new member, with an empty member id, as it is: no second round.
#[when(expr = "a JoinGroup for group {string} is sent with an empty member id")]
async fn join_empty(w: &mut KafkaWorld, group: String) -> StepResult {
    let real = w.topic(&group);
    let mut client = coordinator(w, &real, Duration::from_millis(GROUP_REQUEST_MS)).await?;
    let v = client.version_for(ApiKey::JoinGroup).map_err(|e| w.wire_error(e))?;
    if v < 4 {
        return Err(w.unsupported(format!("MEMBER_ID_REQUIRED needs JoinGroup v4 (KIP-394); the broker offers v{v}")));
    }
    let r = join_once(&mut client, join_request(&real, "", &JoinShape::default()))
        .await
        .map_err(|e| group_wire_error(w, "JoinGroup", e))?;
    w.last_error = Some(name(r.error_code));
    w.wire_members.last_join_member_id = Some(r.member_id.to_string());
    Ok(())
}

#[then("the JoinGroup answer carries a member id to join with")]
async fn answer_has_member_id(w: &mut KafkaWorld) -> StepResult {
    match w.wire_members.last_join_member_id.as_deref() {
        Some(id) if !id.is_empty() => Ok(()),
        other => Err(w.verdict(format!("the JoinGroup answer's member id is {other:?}"))),
    }
}

/// A member whose connection broke, or whose coordinator answered that it moved or is loading,
/// forgets the connection and finds the coordinator again before it asks again, as Kafka's
/// clients do (`AbstractCoordinator.markCoordinatorUnknown`): after the coordinator's broker dies
/// or the group's partition of `__consumer_offsets` moves, the member carries on with the same
/// member id and generation, and the new coordinator judges them.
fn coordinator_lost(e: &WireError) -> bool {
    matches!(e, WireError::Closed | WireError::ClosedOn { .. } | WireError::Io(_) | WireError::Timeout(_))
}

/// One heartbeat with the member's id, generation and group.instance.id; sent again to the
/// coordinator found anew while the old one is gone or moving (for the request timeout).
async fn heartbeat(w: &mut KafkaWorld, m: &str, member_id: Option<&str>) -> Result<String, StepError> {
    let deadline = tokio::time::Instant::now() + w.timeout();
    loop {
        let mut client = member_client(w, m).await?;
        let wm = w.wire_members.members.get(m).ok_or_else(|| w.harness(format!("no wire member {m:?}")))?;
        let v = client.version_for(ApiKey::Heartbeat).map_err(|e| w.wire_error(e))?;
        let mut req = HeartbeatRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(wm.group.clone())))
            .with_generation_id(wm.generation)
            .with_member_id(StrBytes::from_string(member_id.unwrap_or(&wm.member_id).to_string()));
        if v >= 3 && member_id.is_none() {
            req = req.with_group_instance_id(wm.shape.instance.as_ref().map(|i| StrBytes::from_string(i.clone())));
        }
        let result = client.request_at(RequestKind::Heartbeat(req), v).await;
        let again = match &result {
            Ok(ResponseKind::Heartbeat(r)) => coordinator_moving(&name(r.error_code)),
            Err(e) => coordinator_lost(e),
            Ok(_) => false,
        };
        if again && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
            continue;
        }
        if let Some(wm) = w.wire_members.members.get_mut(m) {
            wm.client = Some(client);
        }
        return match result {
            Ok(ResponseKind::Heartbeat(r)) => Ok(name(r.error_code)),
            Ok(_) => Err(w.harness("Heartbeat answered with another response type")),
            Err(e) => Err(w.wire_error(e)),
        };
    }
}

#[then(expr = "a heartbeat from member {string} is answered with {word}")]
async fn heartbeat_is(w: &mut KafkaWorld, m: String, want: String) -> StepResult {
    let got = heartbeat(w, &m, None).await?;
    if got == want {
        Ok(())
    } else {
        Err(w.verdict(format!("the heartbeat of member {m} is answered {got}, not {want}")))
    }
}

#[then(expr = "within {int} ms a heartbeat from member {string} is answered with {word}")]
async fn heartbeat_within(w: &mut KafkaWorld, ms: u64, m: String, want: String) -> StepResult {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    let mut answers = Vec::new();
    loop {
        let got = heartbeat(w, &m, None).await?;
        if got == want {
            return Ok(());
        }
        if answers.last() != Some(&got) {
            answers.push(got);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(
                w.verdict(format!("for {ms} ms the heartbeats of member {m} were answered {answers:?}, never {want}"))
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A heartbeat in the member's generation, but with a member id the group never gave out.
#[when(expr = "member {string} sends a heartbeat with the member id {string}")]
async fn heartbeat_as(w: &mut KafkaWorld, m: String, id: String) -> StepResult {
    let got = heartbeat(w, &m, Some(&id)).await?;
    w.last_error = Some(got);
    Ok(())
}

#[then(expr = "member {string} is in a later generation than before")]
async fn later_generation(w: &mut KafkaWorld, m: String) -> StepResult {
    let wm = w.wire_members.members.get(&m).ok_or_else(|| w.harness(format!("no wire member {m:?}")))?;
    match wm.previous_generation {
        Some(p) if wm.generation > p => Ok(()),
        p => Err(w.verdict(format!("member {m} is in generation {} after {p:?}", wm.generation))),
    }
}

#[then(expr = "member {string} is in the generation member {string} joined")]
async fn same_generation(w: &mut KafkaWorld, a: String, b: String) -> StepResult {
    let ga = w.wire_members.members.get(&a).map(|m| m.generation);
    let gb = w.wire_members.members.get(&b).map(|m| m.generation);
    if ga.is_some() && ga == gb {
        return Ok(());
    }
    Err(w.verdict(format!("member {a} joined in generation {ga:?}, member {b} in {gb:?}: the group rebalanced")))
}

async fn member_commit(
    w: &mut KafkaWorld,
    m: &str,
    offset: i64,
    partition: i32,
    topic: &str,
    previous: bool,
) -> StepResult {
    let real = w.topic(topic);
    let deadline = tokio::time::Instant::now() + w.timeout();
    loop {
        let mut client = member_client(w, m).await?;
        let wm = w.wire_members.members.get(m).ok_or_else(|| w.harness(format!("no wire member {m:?}")))?;
        let generation = if previous {
            wm.previous_generation.ok_or_else(|| w.harness(format!("member {m} has no previous generation")))?
        } else {
            wm.generation
        };
        let req = commit_request(
            &Committer { group: &wm.group, generation, member: &wm.member_id, instance: wm.shape.instance.as_deref() },
            &real,
            partition,
            offset,
            "",
        );
        let result = commit_once(&mut client, req).await;
        // The member's coordinator died or moved: find it again and commit there (see
        // `coordinator_lost`).
        let again = match &result {
            Ok(code) => coordinator_moving(&name(*code)),
            Err(e) => coordinator_lost(e),
        };
        if again && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
            continue;
        }
        if let Some(wm) = w.wire_members.members.get_mut(m) {
            wm.client = Some(client);
        }
        let code = result.map_err(|e| w.wire_error(e))?;
        w.last_error = Some(name(code));
        return Ok(());
    }
}

#[when(expr = "member {string} commits offset {int} to partition {int} of {string}")]
async fn member_commits(w: &mut KafkaWorld, m: String, offset: i64, partition: i32, topic: String) -> StepResult {
    member_commit(w, &m, offset, partition, &topic, false).await
}

/// A zombie's commit: the member's id with the generation it had before the last rebalance.
#[when(expr = "member {string} commits offset {int} to partition {int} of {string} with its previous generation")]
async fn member_commits_stale(w: &mut KafkaWorld, m: String, offset: i64, partition: i32, topic: String) -> StepResult {
    member_commit(w, &m, offset, partition, &topic, true).await
}

// ---------------------------------------------------------------------------------------------
// DescribeGroups

/// The coordinator's view: DescribeGroups lists every running consumer of the group (by its
/// client.id) with the assignment librdkafka holds, decoded as a ConsumerProtocolAssignment,
/// and the group Stable.
#[then(expr = "DescribeGroups shows group {string} Stable with the partitions each consumer owns")]
async fn describe_matches(w: &mut KafkaWorld, group: String) -> StepResult {
    let real = w.topic(&group);
    let mut client = coordinator(w, &real, w.timeout()).await?;
    let req = DescribeGroupsRequest::default().with_groups(vec![GroupId(StrBytes::from_string(real.clone()))]);
    let resp = match client.request(RequestKind::DescribeGroups(req)).await {
        Ok(ResponseKind::DescribeGroups(r)) => r,
        Ok(_) => return Err(w.harness("DescribeGroups answered with another response type")),
        Err(e) => return Err(w.wire_error(e)),
    };
    let Some(g) = resp.groups.first() else { return Err(w.verdict("DescribeGroups answered no group")) };
    if g.error_code != 0 {
        return Err(w.verdict(format!("DescribeGroups answered {}", name(g.error_code))));
    }
    let mut broker: BTreeMap<String, BTreeSet<Tp>> = BTreeMap::new();
    for m in &g.members {
        let mut bytes = m.member_assignment.clone();
        let owned = if bytes.len() < 2 {
            BTreeSet::new()
        } else {
            let version = i16::from_be_bytes([bytes[0], bytes[1]]);
            let _ = bytes::Buf::get_i16(&mut bytes);
            let a = ConsumerProtocolAssignment::decode(&mut bytes, version.clamp(0, 3)).map_err(|e| {
                w.verdict(format!("member {}'s assignment does not decode: {e:#}", m.member_id.as_str()))
            })?;
            a.assigned_partitions
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| (t.topic.0.to_string(), *p)))
                .collect()
        };
        broker.insert(m.client_id.to_string(), owned);
    }
    let running: BTreeMap<String, BTreeSet<Tp>> = w
        .groups
        .consumers
        .iter()
        .filter(|(_, gc)| gc.group == real && gc.member.is_running())
        .map(|(n, gc)| (n.clone(), gc.member.state().assignment))
        .collect();
    let show_all = |m: &BTreeMap<String, BTreeSet<Tp>>| {
        m.iter().map(|(c, t)| format!("{c}: {}", show(t))).collect::<Vec<_>>().join("; ")
    };
    if g.group_state.as_str() != "Stable" || broker != running {
        return Err(w.verdict(format!(
            "DescribeGroups shows the group {} with {}; the consumers own {}",
            g.group_state.as_str(),
            show_all(&broker),
            show_all(&running)
        )));
    }
    Ok(())
}
