//! Seeded workloads and fault schedules, Jepsen's generators in small: everything random in a
//! soak is drawn from one seed and written out as a plan before the run, so that the same seed
//! replays the same workload (producers, codecs, batching, keys, partitions) and the same faults
//! in the same order against the same brokers. Timing is the machine's: a seed fixes the plan,
//! not the interleaving of the operations it leads to.

use std::fmt::Write as _;
use std::time::Duration;

/// The codecs a producer may compress with (every codec Kafka has).
pub const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];

/// A fault the schedule can put in place, each healed before the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// SIGKILL a broker, start it again when the fault ends.
    Kill,
    /// SIGSTOP a broker, SIGCONT it when the fault ends.
    Pause,
    /// Cut a broker's links to the other brokers and the controller (clients still reach it).
    Isolate,
    /// Delay every answer from a broker to the clients.
    Latency,
    /// SIGKILL the leader of a partition, start it again when the fault ends.
    Leader,
}

impl FaultKind {
    pub const ALL: [FaultKind; 5] =
        [FaultKind::Kill, FaultKind::Pause, FaultKind::Isolate, FaultKind::Latency, FaultKind::Leader];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
            FaultKind::Isolate => "isolate",
            FaultKind::Latency => "latency",
            FaultKind::Leader => "leader",
        }
    }

    /// A comma-separated list of names (`kill, pause`), or `none`.
    pub fn parse_list(list: &str) -> Result<Vec<FaultKind>, String> {
        let mut out = Vec::new();
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if name == "none" {
                continue;
            }
            match FaultKind::ALL.iter().find(|k| k.name() == name) {
                Some(k) if !out.contains(k) => out.push(*k),
                Some(_) => {}
                None => {
                    return Err(format!(
                        "{name:?} is not a fault the soak knows; it knows {}",
                        FaultKind::ALL.map(FaultKind::name).join(", ")
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// One producer: an idempotent librdkafka producer with acks=all and these settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerPlan {
    pub codec: &'static str,
    pub linger_ms: u32,
    pub batch_records: u32,
    pub in_flight: u32,
    /// How many distinct keys its keyed records use.
    pub keys: u32,
}

impl ProducerPlan {
    /// The librdkafka configs, Kafka's names.
    pub fn configs(&self) -> Vec<(String, String)> {
        vec![
            ("enable.idempotence".into(), "true".into()),
            ("acks".into(), "all".into()),
            ("compression.type".into(), self.codec.into()),
            ("linger.ms".into(), self.linger_ms.to_string()),
            ("batch.num.messages".into(), self.batch_records.to_string()),
            ("max.in.flight.requests.per.connection".into(), self.in_flight.to_string()),
        ]
    }
}

/// Records one producer sends together, at a time after the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Burst {
    pub at_ms: u64,
    pub producer: usize,
    pub records: usize,
    /// An explicit partition, or none: every record then has a key and the partitioner places it.
    pub partition: Option<i32>,
}

/// A fault, when it starts and how long it lasts, and on which broker (by its position in the
/// broker list) or, for `Leader`, which partition's leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultStep {
    pub at_ms: u64,
    pub lasts_ms: u64,
    pub kind: FaultKind,
    pub broker: usize,
    pub partition: i32,
    /// For `Latency`: the delay of each answer.
    pub latency_ms: u32,
}

/// Everything a soak will do, drawn from its seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub seed: u64,
    pub duration: Duration,
    pub producers: Vec<ProducerPlan>,
    pub bursts: Vec<Burst>,
    pub faults: Vec<FaultStep>,
}

/// Draws the plan for `seed`: `partitions` of the topic, `brokers` brokers, faults of the kinds
/// given (one at a time, each healed before the next, the last healed before the end).
pub fn plan(seed: u64, duration: Duration, partitions: i32, brokers: usize, kinds: &[FaultKind]) -> Plan {
    let mut rng = fastrand::Rng::with_seed(seed);
    let total = duration.as_millis() as u64;
    let producers: Vec<ProducerPlan> = (0..rng.usize(2..=3))
        .map(|_| ProducerPlan {
            codec: CODECS[rng.usize(..CODECS.len())],
            linger_ms: [0, 1, 5, 20][rng.usize(..4)],
            batch_records: [1, 10, 100, 10_000][rng.usize(..4)],
            in_flight: rng.u32(1..=5),
            keys: [1, 7, 100][rng.usize(..3)],
        })
        .collect();
    let mut bursts = Vec::new();
    for (i, _) in producers.iter().enumerate() {
        // Sends until two seconds before the end, so the last ones are answered in time.
        let mut at = rng.u64(0..200);
        while at + 2000 < total {
            let partition = if rng.bool() { Some(rng.i32(0..partitions.max(1))) } else { None };
            bursts.push(Burst { at_ms: at, producer: i, records: [1, 5, 20, 100][rng.usize(..4)], partition });
            at += rng.u64(20..400);
        }
    }
    bursts.sort_by_key(|b| (b.at_ms, b.producer));
    let mut faults = Vec::new();
    if !kinds.is_empty() && brokers > 0 {
        let mut at = rng.u64(500..2000);
        loop {
            let lasts = rng.u64(500..3000);
            // Healed at least three seconds before the end: time for leaders and ISRs to settle.
            if at + lasts + 3000 > total {
                break;
            }
            faults.push(FaultStep {
                at_ms: at,
                lasts_ms: lasts,
                kind: kinds[rng.usize(..kinds.len())],
                broker: rng.usize(..brokers),
                partition: rng.i32(0..partitions.max(1)),
                latency_ms: rng.u32(50..500),
            });
            at += lasts + rng.u64(500..2500);
        }
    }
    Plan { seed, duration, producers, bursts, faults }
}

impl Plan {
    /// The plan as a person reads it: printed before the run, and kept with its history.
    pub fn render(&self, brokers: &[i32]) -> String {
        let mut out = String::new();
        let records: usize = self.bursts.iter().map(|b| b.records).sum();
        let _ = writeln!(
            out,
            "soak plan for seed {} over {} s: {} producers, {} bursts of {} records in all, {} faults",
            self.seed,
            self.duration.as_secs(),
            self.producers.len(),
            self.bursts.len(),
            records,
            self.faults.len()
        );
        for (i, p) in self.producers.iter().enumerate() {
            let _ = writeln!(
                out,
                "  producer {i}: idempotent, acks=all, compression.type={}, linger.ms={}, batch.num.messages={}, \
                 max.in.flight.requests.per.connection={}, {} keys",
                p.codec, p.linger_ms, p.batch_records, p.in_flight, p.keys
            );
        }
        for f in &self.faults {
            let broker = brokers.get(f.broker).copied().unwrap_or(-1);
            let what = match f.kind {
                FaultKind::Kill => format!("kill broker {broker}"),
                FaultKind::Pause => format!("pause broker {broker}"),
                FaultKind::Isolate => format!("isolate broker {broker} from the other brokers"),
                FaultKind::Latency => format!("delay broker {broker}'s answers by {} ms", f.latency_ms),
                FaultKind::Leader => format!("kill the leader of partition {}", f.partition),
            };
            let _ = writeln!(out, "  at {:>6} ms for {:>4} ms: {what}", f.at_ms, f.lasts_ms);
        }
        out
    }
}

/// A duration as `certify --soak` takes it: `90`, `90s`, `5m` or `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration such as 90s, 5m or 1h"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{text:?} is not a duration such as 90s, 5m or 1h")),
    };
    if secs < 10 {
        return Err(format!("a soak of {secs} s is too short to hold a fault and its healing: give 10s or more"));
    }
    Ok(Duration::from_secs(secs))
}

/// The feature file `certify --soak` runs: one scenario, on the reference a cluster of three
/// brokers, elsewhere the target's own brokers.
pub fn feature(seed: u64, duration: Duration, reference: bool, faults: &[FaultKind]) -> String {
    let cluster = if reference { "    Given a cluster of 3 brokers\n    And" } else { "    Given" };
    let faults = if faults.is_empty() {
        "none".to_string()
    } else {
        faults.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
    };
    format!(
        "@soak @process @fault\n\
         Feature: A seeded soak: a workload and faults drawn from seed {seed}\n\
         \x20 Idempotent producers with acks=all send for {secs} s while brokers are killed, paused,\n\
         \x20 cut off and slowed on a schedule drawn from the seed; then every partition is read\n\
         \x20 back and the history judged: every acknowledged record is there exactly once, in the\n\
         \x20 order its producer's acknowledgements give (KIP-98's guarantees).\n\
         \n\
         \x20 Scenario: seed {seed}, {secs} seconds\n\
         {cluster} a topic \"soak\" with 3 partitions and replication factor 3, or as many as there are brokers\n\
         \x20   When a workload drawn from seed {seed} runs on \"soak\" for {secs} seconds with the faults \"{faults}\"\n\
         \x20   Then every acknowledged record of \"soak\" is read exactly once, in the order it was acknowledged\n",
        secs = duration.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_the_same_plan_and_another_seed_draws_another() {
        let d = Duration::from_secs(60);
        let a = plan(42, d, 3, 3, &FaultKind::ALL);
        assert_eq!(a, plan(42, d, 3, 3, &FaultKind::ALL));
        assert_ne!(a, plan(43, d, 3, 3, &FaultKind::ALL));
        assert!(!a.faults.is_empty() && !a.bursts.is_empty());
    }

    #[test]
    fn faults_never_overlap_and_are_healed_three_seconds_before_the_end() {
        for seed in 0..50 {
            let p = plan(seed, Duration::from_secs(30), 3, 3, &FaultKind::ALL);
            for pair in p.faults.windows(2) {
                assert!(pair[0].at_ms + pair[0].lasts_ms < pair[1].at_ms, "seed {seed}: {pair:?}");
            }
            for f in &p.faults {
                assert!(f.at_ms + f.lasts_ms + 3000 <= 30_000, "seed {seed}: {f:?}");
                assert!(f.broker < 3 && (0..3).contains(&f.partition));
            }
            assert!(p.bursts.iter().all(|b| b.at_ms + 2000 < 30_000));
            assert!(p.producers.iter().all(|pp| (1..=5).contains(&pp.in_flight)));
        }
    }

    #[test]
    fn only_the_faults_asked_for_are_drawn() {
        let p = plan(7, Duration::from_secs(60), 3, 3, &[FaultKind::Pause]);
        assert!(p.faults.iter().all(|f| f.kind == FaultKind::Pause));
        assert!(plan(7, Duration::from_secs(60), 3, 3, &[]).faults.is_empty());
    }

    #[test]
    fn durations_and_fault_lists_are_read_or_refused_with_a_reason() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert!(parse_duration("5").is_err_and(|e| e.contains("too short")));
        assert!(parse_duration("soon").is_err_and(|e| e.contains("not a duration")));
        assert_eq!(FaultKind::parse_list("kill, pause,kill"), Ok(vec![FaultKind::Kill, FaultKind::Pause]));
        assert_eq!(FaultKind::parse_list("none"), Ok(vec![]));
        assert!(FaultKind::parse_list("meteor").is_err_and(|e| e.contains("kill, pause, isolate, latency, leader")));
    }
}
