//! Where a producer puts a record that names no partition. Java's producer hashes the key's
//! bytes with murmur2, makes the hash positive and takes it modulo the topic's partition count
//! (`BuiltInPartitioner.partitionForKey`, `Utils.murmur2`, `Utils.toPositive`); librdkafka's
//! default partitioner, `consistent_random`, takes the CRC-32 of the key instead
//! (`rd_kafka_msg_partitioner_consistent`), and `partitioner=murmur2_random` places keys as Java
//! does. The broker's part: Metadata reports every partition of the topic, and each batch is
//! stored in the partition its request names. The checks read each partition back from its
//! leader; the placement the client reported is not trusted.

use std::collections::BTreeSet;

use cucumber::{then, when};

use super::common::produce_rdkafka;
use super::logs::read_recorded;
use crate::history::{Op, Outcome, Record};
use crate::world::{KafkaWorld, StepResult};

/// Kafka's `Utils.murmur2` (seed 0x9747b28c), on the key's bytes.
pub fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Java's producer: `toPositive(murmur2(key)) % partitions`.
pub fn java_partition(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions
}

/// CRC-32 (IEEE 802.3, zlib's), as librdkafka's `rd_crc32`.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// librdkafka's `consistent_random` for a key: `crc32(key) % partitions`.
pub fn consistent_partition(key: &[u8], partitions: i32) -> i32 {
    (crc32(key) % partitions as u32) as i32
}

/// `n` records, each with a key of its own (`key-<value>`), sent by one librdkafka producer
/// (the scenario's producer configs) without a partition: the partitioner places each.
#[when(expr = "{int} records with distinct keys are produced to {string} without a partition")]
async fn keyed_without_partition(w: &mut KafkaWorld, n: usize, topic: String) -> StepResult {
    let process = format!("producer-{}", w.history.len());
    let records = (0..n)
        .map(|_| {
            let value = w.next_value(&process);
            Record { key: Some(format!("key-{value}").into_bytes()), value: Some(value), headers: Vec::new() }
        })
        .collect();
    produce_rdkafka(w, &topic, None, records).await
}

/// Reads partitions 0 to `partitions - 1` of the topic from their leaders and judges each keyed
/// record read against `place`; every acknowledged keyed record must have been read somewhere.
async fn placed(
    w: &mut KafkaWorld,
    topic: &str,
    partitions: i32,
    place: fn(&[u8], i32) -> i32,
    rule: &str,
) -> StepResult {
    let real = w.topic(topic);
    let acked: BTreeSet<String> = w
        .history
        .events()
        .into_iter()
        .filter_map(|e| match (e.op, e.outcome) {
            (Op::Send { topic, record, .. }, Outcome::Ok) if topic == real && record.key.is_some() => record.value,
            _ => None,
        })
        .collect();
    if acked.is_empty() {
        return Err(
            w.verdict(format!("no keyed record sent to {real} was acknowledged: nothing shows where it is kept"))
        );
    }
    let (mut misplaced, mut read) = (Vec::new(), BTreeSet::new());
    for p in 0..partitions {
        let log = read_recorded(w, &real, p).await?;
        for r in log.reads {
            let Some(key) = r.record.key.as_deref() else { continue };
            let want = place(key, partitions);
            if want != p {
                misplaced.push(format!(
                    "key {:?} at {real}-{p} offset {}, where {rule} puts it in partition {want}",
                    String::from_utf8_lossy(key),
                    r.offset
                ));
            }
            read.extend(r.record.value);
        }
    }
    if !misplaced.is_empty() {
        // What the producer hashed over: the partitions Metadata reports.
        let listed = match w.try_view(std::slice::from_ref(&real)).await? {
            Ok(view) => {
                let n = view.partitions.keys().filter(|(t, _)| *t == real).count();
                format!("Metadata lists {n} partitions of {real}, the scenario made {partitions}")
            }
            Err(e) => format!("no broker answered Metadata: {e}"),
        };
        let shown = misplaced.iter().take(10).cloned().collect::<Vec<_>>().join("\n  ");
        return Err(w.verdict(format!(
            "{} of {} keyed records read are not where {rule} places them ({listed}):\n  {shown}",
            misplaced.len(),
            read.len()
        )));
    }
    let missing: Vec<&String> = acked.iter().filter(|v| !read.contains(*v)).collect();
    if !missing.is_empty() {
        return Err(w.verdict(format!(
            "{} acknowledged keyed records are in none of partitions 0 to {} of {real}: {:?}",
            missing.len(),
            partitions - 1,
            missing.iter().take(10).collect::<Vec<_>>()
        )));
    }
    Ok(())
}

#[then(expr = "every record of {string} is in partition murmur2\\(key) mod {int}, as Java's producer places it")]
async fn placed_as_java(w: &mut KafkaWorld, topic: String, partitions: i32) -> StepResult {
    placed(w, &topic, partitions, java_partition, "Java's murmur2 partitioner").await
}

#[then(
    expr = "every record of {string} is in partition crc32\\(key) mod {int}, as librdkafka's consistent partitioner places it"
)]
async fn placed_as_librdkafka(w: &mut KafkaWorld, topic: String, partitions: i32) -> StepResult {
    placed(w, &topic, partitions, consistent_partition, "librdkafka's consistent (CRC-32) partitioner").await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors of Kafka's `UtilsTest.testMurmur2`.
    #[test]
    fn murmur2_matches_kafkas_utils() {
        let cases: [(&[u8], i32); 6] = [
            (b"abc", 479470107),
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        ];
        for (key, hash) in cases {
            assert_eq!(murmur2(key), hash, "{:?}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn crc32_is_zlibs() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
    }
}
