//! The state machine driven from `testdata/transitions.txt`.

use super::*;

fn base(state: TxnState) -> TxnMetadata {
    TxnMetadata {
        producer_id: 1,
        previous_producer_id: -1,
        producer_epoch: 5,
        last_producer_epoch: 4,
        timeout_ms: 60_000,
        state,
        partitions: [("t".to_string(), 0)].into_iter().collect(),
        start_ms: 100,
        last_update_ms: 100,
        next_producer_id: -1,
        client_version: 0,
    }
}

fn partition(s: &str) -> (String, i32) {
    let (t, p) = s.rsplit_once('-').expect("a topic-partition");
    (t.to_string(), p.parse().expect("a partition"))
}

fn num<T: std::str::FromStr>(s: Option<&&str>) -> T {
    s.and_then(|s| s.parse().ok()).expect("a number")
}

/// The outcome as the table writes it.
fn outcome(d: &Decision) -> String {
    match d {
        Decision::Answer(Ok(())) => "NONE".into(),
        Decision::Answer(Err(e)) => error_name(*e),
        Decision::Write(md) => format!("write {} {} {}", md.state.name(), md.producer_id, md.producer_epoch),
        Decision::FenceAndAbort(md) => {
            assert_eq!(md.state, TxnState::PrepareAbort);
            format!("fence-abort {}", md.producer_epoch)
        }
        Decision::NeedProducerId => "need-pid".into(),
    }
}

fn error_name(e: ResponseError) -> String {
    // ResponseError's Debug is CamelCase; the table uses Kafka's names.
    let camel = format!("{e:?}");
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[test]
fn decisions_follow_the_table() {
    let table = include_str!("../testdata/transitions.txt");
    let mut checked = 0;
    for (n, line) in table.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (given, rest) = line.split_once(':').expect("<state> : <request> => <outcome>");
        let (request, expected) = rest.split_once("=>").expect("=>");
        let given: Vec<&str> = given.split_whitespace().collect();
        let state = TxnState::from_name(given[0]).unwrap_or_else(|| panic!("line {}: state {}", n + 1, given[0]));
        let pending = given.get(1) == Some(&"pending");
        let md = base(state);
        let words: Vec<&str> = request.split_whitespace().collect();
        let now = 1000;
        let decision = match words[0] {
            "init" if words.len() == 1 => init_producer_id(&md, pending, 0, 30_000, None, None, now),
            "init" => {
                let expected = Some((num(words.get(1)), num(words.get(2))));
                init_producer_id(&md, pending, 0, 30_000, expected, None, now)
            }
            "add" => {
                let tps = words[3..].iter().map(|s| partition(s)).collect();
                add_partitions(&md, pending, num(words.get(1)), num(words.get(2)), &tps, 0, now)
            }
            "verify" => {
                Decision::Answer(verify_partition(&md, num(words.get(1)), num(words.get(2)), &partition(words[3])))
            }
            "commit" | "abort" => {
                end_txn(&md, pending, num(words.get(1)), num(words.get(2)), words[0] == "commit", now)
            }
            "commit2" | "abort2" => {
                let commit = words[0] == "commit2";
                end_txn_v2(&md, pending, num(words.get(1)), num(words.get(2)), commit, None, now)
            }
            other => panic!("line {}: unknown request {other}", n + 1),
        };
        assert_eq!(outcome(&decision), expected.trim(), "line {}: {line}", n + 1);
        checked += 1;
    }
    assert!(checked >= 60, "only {checked} rows");
}

#[test]
fn a_new_transaction_starts_its_clock_and_a_decided_one_forgets_its_partitions() {
    let done = complete(&base(TxnState::PrepareCommit), 700).expect("prepared");
    let Decision::Write(md) = add_partitions(&done, false, 1, 5, &[partition("u-3")].into_iter().collect(), 0, 777)
    else {
        panic!("a write")
    };
    assert_eq!(md.start_ms, 777);
    assert_eq!(md.partitions.len(), 1, "the last transaction's partitions are gone");
    let Decision::Write(prepared) = end_txn(&md, false, 1, 5, true, 800) else { panic!("a write") };
    let done = complete(&prepared, 900).expect("prepared");
    assert_eq!((done.state, done.partitions.len()), (TxnState::CompleteCommit, 0));
    assert!(complete(&done, 901).is_none());
}

#[test]
fn an_exhausted_epoch_rotates_the_producer_id() {
    let mut md = base(TxnState::CompleteCommit);
    md.producer_epoch = EXHAUSTED_EPOCH;
    assert_eq!(init_producer_id(&md, false, 0, 1000, None, None, 5), Decision::NeedProducerId);
    let Decision::Write(next) = init_producer_id(&md, false, 0, 1000, None, Some(9), 5) else { panic!("a write") };
    assert_eq!((next.producer_id, next.producer_epoch, next.previous_producer_id), (9, 0, 1));
    // Without a producer named, a retry is fenced: nothing recorded the old epoch.
    let retry = init_producer_id(&next, false, 0, 1000, Some((1, EXHAUSTED_EPOCH)), None, 6);
    assert_eq!(retry, Decision::Answer(Err(ResponseError::ProducerFenced)));
    // KIP-360: a producer that named itself may retry the rotation and gets the same answer.
    let expected = Some((1, EXHAUSTED_EPOCH));
    let Decision::Write(next) = init_producer_id(&md, false, 0, 1000, expected, Some(9), 5) else { panic!("a write") };
    let Decision::Write(again) = init_producer_id(&next, false, 0, 1000, expected, None, 6) else { panic!("a write") };
    assert_eq!((again.producer_id, again.producer_epoch), (9, 0));
}

#[test]
fn timeouts_and_expiry() {
    let md = base(TxnState::Ongoing);
    assert!(!timed_out(&md, 100 + 60_000));
    assert!(timed_out(&md, 100 + 60_001));
    assert!(!expired(&md, i64::MAX, 1));
    let done = base(TxnState::CompleteAbort);
    assert!(expired(&done, 200, 100));
    assert!(!expired(&done, 199, 100));
    let fenced = fence(&md, 0, 5).expect("an ongoing transaction can be fenced");
    assert_eq!((fenced.state, fenced.producer_epoch), (TxnState::PrepareAbort, 6));
}

#[test]
fn version_2_bumps_the_epoch_per_transaction_and_moves_an_exhausted_producer_to_a_new_id() {
    let tps: BTreeSet<(String, i32)> = [partition("t-0")].into_iter().collect();
    let Decision::Write(open) = add_partitions(&base(TxnState::CompleteCommit), false, 1, 5, &tps, 2, 10) else {
        panic!("a write")
    };
    assert_eq!(open.client_version, 2);
    let Decision::Write(prepared) = end_txn_v2(&open, false, 1, 5, true, None, 20) else { panic!("a write") };
    assert_eq!((prepared.producer_epoch, prepared.next_producer_id), (6, -1));
    let done = complete(&prepared, 30).expect("prepared");
    assert_eq!((done.state, done.producer_id, done.producer_epoch), (TxnState::CompleteCommit, 1, 6));
    // The late request of the transaction before: a retry, answered without a write.
    assert_eq!(end_txn_v2(&done, false, 1, 5, true, None, 40), Decision::Answer(Ok(())));
    // ... and its partitions cannot join the next transaction.
    assert_eq!(add_partitions(&done, false, 1, 5, &tps, 2, 40), Decision::Answer(Err(ResponseError::ProducerFenced)));

    // An epoch about to run out: the decision needs a new producer id, which the producer moves
    // to (epoch 0) when the transaction completes; a retry with the old id is still a retry.
    let exhausted = TxnMetadata { producer_epoch: EXHAUSTED_EPOCH, ..open.clone() };
    assert_eq!(end_txn_v2(&exhausted, false, 1, EXHAUSTED_EPOCH, true, None, 50), Decision::NeedProducerId);
    let Decision::Write(prepared) = end_txn_v2(&exhausted, false, 1, EXHAUSTED_EPOCH, true, Some(9), 50) else {
        panic!("a write")
    };
    assert_eq!((prepared.producer_id, prepared.producer_epoch, prepared.next_producer_id), (1, i16::MAX, 9));
    let done = complete(&prepared, 60).expect("prepared");
    assert_eq!((done.producer_id, done.producer_epoch, done.previous_producer_id), (9, 0, 1));
    assert_eq!(end_txn_v2(&done, false, 1, EXHAUSTED_EPOCH, true, None, 70), Decision::Answer(Ok(())));
}

#[test]
fn a_fence_bumps_once_on_either_version_and_follows_the_cluster_version() {
    // KAFKA-19367: Kafka 4.0.0 bumped twice on version 2; 4.0.1 and 4.1 once.
    let md = TxnMetadata { client_version: 0, ..base(TxnState::Ongoing) };
    let fenced = fence(&md, 2, 5).expect("an ongoing transaction can be fenced");
    assert_eq!((fenced.state, fenced.producer_epoch, fenced.client_version), (TxnState::PrepareAbort, 6, 2));
    let last = TxnMetadata { producer_epoch: i16::MAX - 1, ..md.clone() };
    assert_eq!(fence(&last, 2, 5).map(|f| f.producer_epoch), Some(i16::MAX));
    assert!(fence(&TxnMetadata { producer_epoch: i16::MAX, ..md }, 2, 5).is_none());
}
