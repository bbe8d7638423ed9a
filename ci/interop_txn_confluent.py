"""confluent-kafka's transactions against the broker (KIP-98, through librdkafka).

- a transactional producer (`transactional.id`) commits one transaction over two partitions,
  aborts a second and commits a third;
- a read_committed consumer reads the committed records, in order per partition, and none of
  the aborted ones; a read_uncommitted consumer reads the aborted ones too;
- consume-transform-produce: a consumer in a group reads the input, a transactional producer
  writes one output per input and commits the group's offsets with
  `send_offsets_to_transaction`; the group's committed offsets are then the input's end, and
  the output read with read_committed holds exactly one record per input.
One `ok:` line per check; a failing check does not stop the others, and the script then exits
non-zero, each failure naming the step, what was seen and what Kafka does.

usage: interop_txn_confluent.py BOOTSTRAP PREFIX
"""
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


class Failed(Exception):
    pass


def fail(step, seen, expected):
    raise Failed(f"confluent-kafka: {step}: saw {seen}, expected {expected}")


def create_topics(admin, topics):
    futures = admin.create_topics([NewTopic(t, 2, -1) for t in topics], operation_timeout=15)
    for topic, f in futures.items():
        try:
            f.result(15)
        except Exception as e:
            fail(f"create topic {topic}", e, "the topic created")


def read_all(bootstrap, topic, isolation, expected_count, timeout=30):
    """Every record of both partitions, as (partition, value), until expected_count arrive."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-{isolation}-reader",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "isolation.level": isolation})
    c.assign([TopicPartition(topic, p, 0) for p in (0, 1)])
    got = []
    deadline = time.time() + timeout
    while len(got) < expected_count and time.time() < deadline:
        m = c.poll(0.2)
        if m is None or m.error():
            continue
        got.append((m.partition(), m.value().decode()))
    # A little longer, to see records that should not be there.
    end = time.time() + 1.0
    while time.time() < end:
        m = c.poll(0.1)
        if m is not None and not m.error():
            got.append((m.partition(), m.value().decode()))
    c.close()
    return got


def transactions(bootstrap, prefix):
    topic = f"{prefix}-txn"
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"{prefix}-tx",
                  "transaction.timeout.ms": 30000})
    p.init_transactions(30)
    batches = [("committed-1", True), ("aborted", False), ("committed-2", True)]
    for name, commit in batches:
        p.begin_transaction()
        for i in range(6):
            p.produce(topic, partition=i % 2, value=f"{name}-{i}".encode())
        p.flush(15)
        if commit:
            p.commit_transaction(30)
        else:
            p.abort_transaction(30)
    committed = [f"{n}-{i}" for n, c in batches if c for i in range(6)]
    got = read_all(bootstrap, topic, "read_committed", len(committed))
    values = [v for _, v in got]
    if sorted(values) != sorted(committed):
        fail("read_committed after commit, abort, commit", values, f"exactly {committed}")
    for part in (0, 1):
        mine = [v for pp, v in got if pp == part]
        want = [v for v in committed if int(v.rsplit("-", 1)[1]) % 2 == part]
        if mine != want:
            fail(f"read_committed order in partition {part}", mine, want)
    print(f"ok: read_committed reads the {len(committed)} committed records in order and none of the aborted")
    everything = read_all(bootstrap, topic, "read_uncommitted", 18)
    aborted = [v for _, v in everything if v.startswith("aborted")]
    if len(aborted) != 6:
        fail("read_uncommitted", sorted(v for _, v in everything), "the 6 aborted records among the 18")
    print("ok: read_uncommitted reads the aborted records too")


def consume_transform_produce(bootstrap, prefix):
    source, sink, group = f"{prefix}-in", f"{prefix}-out", f"{prefix}-ctp"
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    inputs = 40
    for i in range(inputs):
        p.produce(source, partition=i % 2, value=f"in-{i}".encode())
    if p.flush(15):
        fail("produce the input", "records not acknowledged", "every record acknowledged")
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "isolation.level": "read_committed",
                  "session.timeout.ms": 6000, "heartbeat.interval.ms": 300})
    c.subscribe([source])
    t = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"{prefix}-ctp-tx"})
    t.init_transactions(30)
    done = 0
    deadline = time.time() + 60
    while done < inputs and time.time() < deadline:
        msgs = c.consume(10, 0.5)
        msgs = [m for m in msgs if not m.error()]
        if not msgs:
            continue
        t.begin_transaction()
        for m in msgs:
            t.produce(sink, partition=m.partition(), value=m.value().replace(b"in-", b"out-"))
        t.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), 30)
        t.commit_transaction(30)
        done += len(msgs)
    c.close()
    if done != inputs:
        fail("consume-transform-produce", f"{done} inputs processed", f"all {inputs}")
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    committed = probe.committed([TopicPartition(source, 0), TopicPartition(source, 1)], timeout=15)
    probe.close()
    offsets = sorted(tp.offset for tp in committed)
    if offsets != [inputs // 2, inputs // 2]:
        fail("the group's committed offsets after send_offsets_to_transaction", offsets,
             f"[{inputs // 2}, {inputs // 2}], the input's end")
    print("ok: send_offsets_to_transaction commits the group's offsets with the transaction")
    got = sorted(v for _, v in read_all(bootstrap, sink, "read_committed", inputs))
    want = sorted(f"out-{i}" for i in range(inputs))
    if got != want:
        fail("the output of consume-transform-produce", got, "one output per input")
    print(f"ok: consume-transform-produce writes exactly one output per input ({inputs})")


def main():
    bootstrap, prefix = sys.argv[1], sys.argv[2]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    create_topics(admin, [f"{prefix}-txn", f"{prefix}-in", f"{prefix}-out"])
    failures = []
    for check in (transactions, consume_transform_produce):
        try:
            check(bootstrap, prefix)
        except Failed as e:
            failures.append(str(e))
        except Exception as e:
            failures.append(f"confluent-kafka: {check.__name__}: {type(e).__name__}: {e}")
    for f in failures:
        print(f"FAILED: {f}", file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
