//! The records of `__consumer_offsets`, in Kafka's own byte layout (apache/kafka
//! `group-coordinator/src/main/resources/common/message/`): every key and value starts with an
//! int16 version, then the fields in schema order, non-flexible encoding (int16-length strings,
//! int32-length bytes and arrays).
//!
//! - `OffsetCommitKey` v1: group, topic, partition. Value `OffsetCommitValue` v3: offset, leader
//!   epoch, metadata, commit timestamp.
//! - `GroupMetadataKey` v2: group. Value `GroupMetadataValue` v3: protocol type, generation,
//!   protocol, leader, current state timestamp, members.
//!
//! A null value is a tombstone: the offset, or the whole group, is gone.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// One member as `GroupMetadataValue` v3 stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// `GroupMetadataValue` v3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredGroup {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub state_timestamp: i64,
    pub members: Vec<StoredMember>,
}

/// `OffsetCommitValue` v3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

/// A decoded record of `__consumer_offsets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetsRecord {
    Offset { group: String, topic: String, partition: i32, value: Option<StoredOffset> },
    Group { group: String, value: Option<StoredGroup> },
}

#[derive(thiserror::Error, Debug, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record ends early")]
    Short,
    #[error("unknown key version {0}")]
    KeyVersion(i16),
    #[error("unknown value version {0}")]
    ValueVersion(i16),
    #[error("string is not UTF-8")]
    Utf8,
    #[error("record has no key")]
    NoKey,
}

fn put_str(buf: &mut BytesMut, s: &str) {
    buf.put_i16(s.len() as i16);
    buf.put_slice(s.as_bytes());
}

fn put_nullable_str(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        None => buf.put_i16(-1),
        Some(s) => put_str(buf, s),
    }
}

fn put_bytes(buf: &mut BytesMut, b: &[u8]) {
    buf.put_i32(b.len() as i32);
    buf.put_slice(b);
}

pub fn offset_key(group: &str, topic: &str, partition: i32) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(1);
    put_str(&mut buf, group);
    put_str(&mut buf, topic);
    buf.put_i32(partition);
    buf.freeze()
}

pub fn offset_value(v: &StoredOffset) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(3);
    buf.put_i64(v.offset);
    buf.put_i32(v.leader_epoch);
    put_str(&mut buf, &v.metadata);
    buf.put_i64(v.commit_timestamp);
    buf.freeze()
}

pub fn group_key(group: &str) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(2);
    put_str(&mut buf, group);
    buf.freeze()
}

pub fn group_value(g: &StoredGroup) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(3);
    put_str(&mut buf, &g.protocol_type);
    buf.put_i32(g.generation);
    put_nullable_str(&mut buf, g.protocol.as_deref());
    put_nullable_str(&mut buf, g.leader.as_deref());
    buf.put_i64(g.state_timestamp);
    buf.put_i32(g.members.len() as i32);
    for m in &g.members {
        put_str(&mut buf, &m.member_id);
        put_nullable_str(&mut buf, m.instance_id.as_deref());
        put_str(&mut buf, &m.client_id);
        put_str(&mut buf, &m.client_host);
        buf.put_i32(m.rebalance_timeout_ms);
        buf.put_i32(m.session_timeout_ms);
        put_bytes(&mut buf, &m.subscription);
        put_bytes(&mut buf, &m.assignment);
    }
    buf.freeze()
}

struct Reader(Bytes);

impl Reader {
    fn need(&self, n: usize) -> Result<(), DecodeError> {
        if self.0.remaining() < n { Err(DecodeError::Short) } else { Ok(()) }
    }
    fn i16(&mut self) -> Result<i16, DecodeError> {
        self.need(2)?;
        Ok(self.0.get_i16())
    }
    fn i32(&mut self) -> Result<i32, DecodeError> {
        self.need(4)?;
        Ok(self.0.get_i32())
    }
    fn i64(&mut self) -> Result<i64, DecodeError> {
        self.need(8)?;
        Ok(self.0.get_i64())
    }
    fn nullable_str(&mut self) -> Result<Option<String>, DecodeError> {
        let len = self.i16()?;
        if len < 0 {
            return Ok(None);
        }
        self.need(len as usize)?;
        let b = self.0.split_to(len as usize);
        String::from_utf8(b.to_vec()).map(Some).map_err(|_| DecodeError::Utf8)
    }
    fn str(&mut self) -> Result<String, DecodeError> {
        Ok(self.nullable_str()?.unwrap_or_default())
    }
    fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let len = self.i32()?;
        if len < 0 {
            return Ok(Bytes::new());
        }
        self.need(len as usize)?;
        Ok(self.0.split_to(len as usize))
    }
}

/// Decodes one record. Offset values v0-v3 and group values v0-v3 are read (the fields a version
/// lacks take Kafka's defaults), so a log written by an older Kafka loads too.
pub fn decode(key: Option<&Bytes>, value: Option<&Bytes>) -> Result<OffsetsRecord, DecodeError> {
    let mut k = Reader(key.ok_or(DecodeError::NoKey)?.clone());
    match k.i16()? {
        0 | 1 => {
            let (group, topic, partition) = (k.str()?, k.str()?, k.i32()?);
            let value = value.map(|v| decode_offset(v.clone())).transpose()?;
            Ok(OffsetsRecord::Offset { group, topic, partition, value })
        }
        2 => {
            let group = k.str()?;
            let value = value.map(|v| decode_group(v.clone())).transpose()?;
            Ok(OffsetsRecord::Group { group, value })
        }
        other => Err(DecodeError::KeyVersion(other)),
    }
}

fn decode_offset(v: Bytes) -> Result<StoredOffset, DecodeError> {
    let mut r = Reader(v);
    let version = r.i16()?;
    if !(0..=3).contains(&version) {
        return Err(DecodeError::ValueVersion(version));
    }
    let offset = r.i64()?;
    let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
    let metadata = r.str()?;
    let commit_timestamp = r.i64()?;
    if version == 1 {
        r.i64()?; // expireTimestamp
    }
    Ok(StoredOffset { offset, leader_epoch, metadata, commit_timestamp })
}

fn decode_group(v: Bytes) -> Result<StoredGroup, DecodeError> {
    let mut r = Reader(v);
    let version = r.i16()?;
    if !(0..=3).contains(&version) {
        return Err(DecodeError::ValueVersion(version));
    }
    let protocol_type = r.str()?;
    let generation = r.i32()?;
    let protocol = r.nullable_str()?;
    let leader = r.nullable_str()?;
    let state_timestamp = if version >= 2 { r.i64()? } else { -1 };
    let count = r.i32()?.max(0);
    let mut members = Vec::new();
    for _ in 0..count {
        let member_id = r.str()?;
        let instance_id = if version >= 3 { r.nullable_str()? } else { None };
        let client_id = r.str()?;
        let client_host = r.str()?;
        let session_timeout_ms;
        let rebalance_timeout_ms;
        if version >= 1 {
            rebalance_timeout_ms = r.i32()?;
            session_timeout_ms = r.i32()?;
        } else {
            session_timeout_ms = r.i32()?;
            rebalance_timeout_ms = session_timeout_ms;
        }
        let subscription = r.bytes()?;
        let assignment = r.bytes()?;
        members.push(StoredMember {
            member_id,
            instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms,
            session_timeout_ms,
            subscription,
            assignment,
        });
    }
    Ok(StoredGroup { protocol_type, generation, protocol, leader, state_timestamp, members })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip() {
        let v = StoredOffset { offset: 42, leader_epoch: 3, metadata: "m".into(), commit_timestamp: 7 };
        let r = decode(Some(&offset_key("g", "t", 4)), Some(&offset_value(&v))).expect("decodes");
        assert_eq!(r, OffsetsRecord::Offset { group: "g".into(), topic: "t".into(), partition: 4, value: Some(v) });
        let tomb = decode(Some(&offset_key("g", "t", 4)), None).expect("decodes");
        assert!(matches!(tomb, OffsetsRecord::Offset { value: None, .. }));
    }

    #[test]
    fn groups_round_trip() {
        let g = StoredGroup {
            protocol_type: "consumer".into(),
            generation: 5,
            protocol: Some("range".into()),
            leader: Some("c1-x".into()),
            state_timestamp: 9,
            members: vec![StoredMember {
                member_id: "c1-x".into(),
                instance_id: Some("i1".into()),
                client_id: "c1".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300000,
                session_timeout_ms: 45000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"asg"),
            }],
        };
        let r = decode(Some(&group_key("g")), Some(&group_value(&g))).expect("decodes");
        assert_eq!(r, OffsetsRecord::Group { group: "g".into(), value: Some(g) });
    }

    #[test]
    fn truncated_and_unknown_records_are_errors_not_panics() {
        assert_eq!(decode(None, None), Err(DecodeError::NoKey));
        assert_eq!(decode(Some(&Bytes::from_static(&[0, 9])), None), Err(DecodeError::KeyVersion(9)));
        let key = offset_key("g", "t", 0);
        assert_eq!(decode(Some(&key.slice(..5)), None), Err(DecodeError::Short));
        let v =
            offset_value(&StoredOffset { offset: 1, leader_epoch: 0, metadata: String::new(), commit_timestamp: 0 });
        assert_eq!(decode(Some(&key), Some(&v.slice(..6))), Err(DecodeError::Short));
    }
}
