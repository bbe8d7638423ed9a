//! The records of `__transaction_state`, in Kafka's byte layout (apache/kafka
//! `transaction-coordinator/src/main/resources/common/message/TransactionLog{Key,Value}.json`).
//!
//! - Key: int16 version 0, then the transactional id (int16-length string).
//! - Value v0: producer id (int64), producer epoch (int16), transaction timeout ms (int32), status
//!   (int8, [`TxnState::id`]), partitions (nullable int32-length array of topic, int32 array of
//!   partition ids), last update ms (int64), start ms (int64). Kafka writes it while the
//!   `transaction.version` feature is 0.
//! - Value v1 (flexible: compact strings and arrays, tagged fields), written from
//!   `transaction.version` 1: the same fields, then tagged fields: previous producer id (0) and
//!   next producer id (1), which Kafka never writes and which are skipped here, and the client's
//!   transaction version (2, int16, left out when 0).
//!
//! A null value is a tombstone: the transactional id expired.

use std::collections::BTreeSet;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::state::TxnState;

/// What `__transaction_state` keeps of one transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTxn {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    pub last_update_ms: i64,
    pub start_ms: i64,
    /// The client's transaction version (v1's tagged field 2; 0 in v0).
    pub client_version: i16,
}

#[derive(thiserror::Error, Debug, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record ends early")]
    Short,
    #[error("unknown key version {0}")]
    KeyVersion(i16),
    #[error("unknown value version {0}")]
    ValueVersion(i16),
    #[error("unknown transaction status {0}")]
    Status(i8),
    #[error("string is not UTF-8")]
    Utf8,
    #[error("record has no key")]
    NoKey,
}

pub fn key(transactional_id: &str) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    buf.put_i16(transactional_id.len() as i16);
    buf.put_slice(transactional_id.as_bytes());
    buf.freeze()
}

/// The value, v0 or (`flexible`, from `transaction.version` 1) v1.
pub fn value(t: &StoredTxn, flexible: bool) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(i16::from(flexible));
    buf.put_i64(t.producer_id);
    buf.put_i16(t.producer_epoch);
    buf.put_i32(t.timeout_ms);
    buf.put_i8(t.state.id());
    if t.state == TxnState::Empty {
        // Kafka writes no partitions for an Empty transaction.
        put_len(&mut buf, None, flexible);
    } else {
        let mut topics: Vec<(&str, Vec<i32>)> = Vec::new();
        for (topic, p) in &t.partitions {
            match topics.last_mut() {
                Some((t, ps)) if *t == topic.as_str() => ps.push(*p),
                _ => topics.push((topic.as_str(), vec![*p])),
            }
        }
        put_len(&mut buf, Some(topics.len()), flexible);
        for (topic, ps) in topics {
            if flexible {
                put_len(&mut buf, Some(topic.len()), true);
            } else {
                buf.put_i16(topic.len() as i16);
            }
            buf.put_slice(topic.as_bytes());
            put_len(&mut buf, Some(ps.len()), flexible);
            for p in ps {
                buf.put_i32(p);
            }
            if flexible {
                buf.put_u8(0); // no tagged fields
            }
        }
    }
    buf.put_i64(t.last_update_ms);
    buf.put_i64(t.start_ms);
    if flexible {
        if t.client_version == 0 {
            buf.put_u8(0);
        } else {
            buf.put_u8(1); // one tagged field: 2, two bytes
            buf.put_u8(2);
            buf.put_u8(2);
            buf.put_i16(t.client_version);
        }
    }
    buf.freeze()
}

fn put_len(buf: &mut BytesMut, n: Option<usize>, flexible: bool) {
    match (n, flexible) {
        (None, false) => buf.put_i32(-1),
        (Some(n), false) => buf.put_i32(n as i32),
        (n, true) => {
            let mut v = n.map_or(0, |n| n as u64 + 1);
            while v >= 0x80 {
                buf.put_u8((v as u8 & 0x7f) | 0x80);
                v >>= 7;
            }
            buf.put_u8(v as u8);
        }
    }
}

/// A decoded record: the transactional id and its state, or `None` for a tombstone.
pub fn decode(key: Option<&Bytes>, value: Option<&Bytes>) -> Result<(String, Option<StoredTxn>), DecodeError> {
    let mut k = key.ok_or(DecodeError::NoKey)?.clone();
    let version = get_i16(&mut k)?;
    if version != 0 {
        return Err(DecodeError::KeyVersion(version));
    }
    let id = get_str(&mut k, false)?;
    let Some(v) = value else { return Ok((id, None)) };
    let mut v = v.clone();
    let version = get_i16(&mut v)?;
    let flexible = match version {
        0 => false,
        1 => true,
        other => return Err(DecodeError::ValueVersion(other)),
    };
    let producer_id = get_i64(&mut v)?;
    let producer_epoch = get_i16(&mut v)?;
    let timeout_ms = get_i32(&mut v)?;
    let status = get_i8(&mut v)?;
    let state = TxnState::from_id(status).ok_or(DecodeError::Status(status))?;
    let mut partitions = BTreeSet::new();
    let topics = get_len(&mut v, flexible)?;
    for _ in 0..topics.unwrap_or(0) {
        let topic = get_str(&mut v, flexible)?;
        let n = get_len(&mut v, flexible)?.unwrap_or(0);
        for _ in 0..n {
            partitions.insert((topic.clone(), get_i32(&mut v)?));
        }
        if flexible {
            skip_tags(&mut v)?;
        }
    }
    let last_update_ms = get_i64(&mut v)?;
    let start_ms = get_i64(&mut v)?;
    let mut client_version = 0;
    if flexible {
        let n = get_uvarint(&mut v)?;
        for _ in 0..n {
            let tag = get_uvarint(&mut v)?;
            let size = get_uvarint(&mut v)? as usize;
            need(&v, size)?;
            let mut field = v.split_to(size);
            if tag == 2 {
                client_version = get_i16(&mut field)?;
            }
        }
    }
    if state == TxnState::Empty {
        partitions.clear();
    }
    let t = StoredTxn {
        producer_id,
        producer_epoch,
        timeout_ms,
        state,
        partitions,
        last_update_ms,
        start_ms,
        client_version,
    };
    Ok((id, Some(t)))
}

fn need(buf: &Bytes, n: usize) -> Result<(), DecodeError> {
    if buf.remaining() < n { Err(DecodeError::Short) } else { Ok(()) }
}

fn get_i8(buf: &mut Bytes) -> Result<i8, DecodeError> {
    need(buf, 1)?;
    Ok(buf.get_i8())
}

fn get_i16(buf: &mut Bytes) -> Result<i16, DecodeError> {
    need(buf, 2)?;
    Ok(buf.get_i16())
}

fn get_i32(buf: &mut Bytes) -> Result<i32, DecodeError> {
    need(buf, 4)?;
    Ok(buf.get_i32())
}

fn get_i64(buf: &mut Bytes) -> Result<i64, DecodeError> {
    need(buf, 8)?;
    Ok(buf.get_i64())
}

fn get_uvarint(buf: &mut Bytes) -> Result<u64, DecodeError> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = get_i8(buf)? as u8;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(out);
        }
    }
    Err(DecodeError::Short)
}

/// An array or string length: int32 (non-flexible) or uvarint length + 1 (flexible); `None` is null.
fn get_len(buf: &mut Bytes, flexible: bool) -> Result<Option<usize>, DecodeError> {
    if flexible {
        let n = get_uvarint(buf)?;
        return Ok(n.checked_sub(1).map(|n| n as usize));
    }
    let n = get_i32(buf)?;
    Ok(usize::try_from(n).ok())
}

fn get_str(buf: &mut Bytes, flexible: bool) -> Result<String, DecodeError> {
    let n = if flexible { get_len(buf, true)?.unwrap_or(0) } else { usize::try_from(get_i16(buf)?).unwrap_or(0) };
    need(buf, n)?;
    let s = buf.split_to(n);
    String::from_utf8(s.to_vec()).map_err(|_| DecodeError::Utf8)
}

fn skip_tags(buf: &mut Bytes) -> Result<(), DecodeError> {
    let n = get_uvarint(buf)?;
    for _ in 0..n {
        get_uvarint(buf)?;
        let size = get_uvarint(buf)? as usize;
        need(buf, size)?;
        buf.advance(size);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(state: TxnState, partitions: &[(&str, i32)]) -> StoredTxn {
        StoredTxn {
            producer_id: 4001,
            producer_epoch: 3,
            timeout_ms: 60_000,
            state,
            partitions: partitions.iter().map(|(t, p)| (t.to_string(), *p)).collect(),
            last_update_ms: 1_700_000_000_123,
            start_ms: 1_700_000_000_000,
            client_version: 0,
        }
    }

    #[test]
    fn the_key_is_kafkas_bytes() {
        assert_eq!(&key("tx")[..], &[0, 0, 0, 2, b't', b'x']);
    }

    #[test]
    fn values_round_trip_and_empty_ones_carry_no_partitions() {
        let t = stored(TxnState::Ongoing, &[("a", 0), ("a", 2), ("b", 1)]);
        let (id, back) = decode(Some(&key("tx")), Some(&value(&t, false))).expect("decodes");
        assert_eq!((id.as_str(), back), ("tx", Some(t.clone())));
        let v2 = StoredTxn { client_version: 2, ..t };
        let (_, back) = decode(Some(&key("tx")), Some(&value(&v2, true))).expect("decodes");
        assert_eq!(back, Some(v2));
        let empty = stored(TxnState::Empty, &[("a", 0)]);
        let bytes = value(&empty, false);
        // version, pid, epoch, timeout, status, then a null array (-1).
        assert_eq!(&bytes[2 + 8 + 2 + 4 + 1..2 + 8 + 2 + 4 + 1 + 4], &[0xff, 0xff, 0xff, 0xff]);
        let (_, back) = decode(Some(&key("tx")), Some(&bytes)).expect("decodes");
        assert!(back.expect("a value").partitions.is_empty());
        assert_eq!(decode(Some(&key("tx")), None), Ok(("tx".to_string(), None)));
    }

    #[test]
    fn a_flexible_v1_value_is_read() {
        // Value v1 as Kafka writes it with transaction.version 1: compact arrays and strings,
        // tagged fields after each topic and at the end (here one tag: client version 2).
        let mut v = BytesMut::new();
        v.put_i16(1);
        v.put_i64(7);
        v.put_i16(1);
        v.put_i32(1000);
        v.put_i8(TxnState::PrepareCommit.id());
        v.put_u8(2); // one topic
        v.put_u8(2); // "t"
        v.put_slice(b"t");
        v.put_u8(3); // two partitions
        v.put_i32(0);
        v.put_i32(5);
        v.put_u8(0); // the topic's tagged fields
        v.put_i64(11);
        v.put_i64(10);
        v.put_u8(1); // one tagged field
        v.put_u8(2);
        v.put_u8(2);
        v.put_i16(1);
        let v = v.freeze();
        let (_, back) = decode(Some(&key("x")), Some(&v)).expect("decodes");
        let back = back.expect("a value");
        assert_eq!(back.state, TxnState::PrepareCommit);
        assert_eq!(back.partitions.len(), 2);
        assert_eq!((back.last_update_ms, back.start_ms, back.client_version), (11, 10, 1));
        // Written as Kafka writes it, byte for byte.
        let again = StoredTxn { producer_id: 7, producer_epoch: 1, timeout_ms: 1000, ..back };
        assert_eq!(&value(&again, true)[..], &v[..]);
    }

    #[test]
    fn damaged_records_are_errors_not_panics() {
        let v = value(&stored(TxnState::Ongoing, &[("a", 0)]), false);
        for cut in 0..v.len() {
            assert!(decode(Some(&key("tx")), Some(&v.slice(..cut))).is_err(), "cut at {cut}");
        }
        let flexible = value(&StoredTxn { client_version: 2, ..stored(TxnState::Ongoing, &[("a", 0)]) }, true);
        for cut in 0..flexible.len() {
            assert!(decode(Some(&key("tx")), Some(&flexible.slice(..cut))).is_err(), "v1 cut at {cut}");
        }
        let mut bad = BytesMut::from(&v[..]);
        bad[2 + 8 + 2 + 4] = 9;
        assert_eq!(decode(Some(&key("tx")), Some(&bad.freeze())), Err(DecodeError::Status(9)));
        assert_eq!(decode(None, None), Err(DecodeError::NoKey));
    }
}
