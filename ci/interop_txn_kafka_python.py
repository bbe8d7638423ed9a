"""kafka-python's transactions against the broker (KIP-98, through its own transaction manager).

- a transactional KafkaProducer (`transactional_id`) commits one transaction over two
  partitions, aborts a second and commits a third;
- a read_committed KafkaConsumer reads the committed records, in order per partition, and none
  of the aborted ones; a read_uncommitted consumer reads the aborted ones too;
- consume-transform-produce: a consumer in a group reads the input, a transactional producer
  writes one output per input and commits the group's offsets with
  `send_offsets_to_transaction` (with the consumer's `group_metadata()`, KIP-447); the group's
  committed offsets are then the input's end, and the output read with read_committed holds
  exactly one record per input.
kafka-python's commit_transaction, abort_transaction and send_offsets_to_transaction wait
without a deadline: a step that gets no answer is cut off by an alarm and reported, so a broker
that never completes a transaction fails the script instead of hanging it.
One `ok:` line per check; a failing check does not stop the others, and the script then exits
non-zero, each failure naming the step, what was seen and what Kafka does.

usage: interop_txn_kafka_python.py BOOTSTRAP PREFIX
"""
import signal
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

CLIENT = "kafka-python"
STEP_TIMEOUT = 30


class Failed(Exception):
    pass


def fail(step, seen, expected):
    raise Failed(f"{CLIENT}: {step}: saw {seen}, expected {expected}")


class step:
    """A blocking step, cut off after STEP_TIMEOUT seconds (SIGALRM interrupts kafka-python's
    waits on its transaction results, which have no timeout of their own)."""

    def __init__(self, name, expected):
        self.name, self.expected = name, expected

    def _expire(self, signum, frame):
        fail(self.name, f"no answer in {STEP_TIMEOUT} s", self.expected)

    def __enter__(self):
        signal.signal(signal.SIGALRM, self._expire)
        signal.alarm(STEP_TIMEOUT)

    def __exit__(self, kind, e, tb):
        signal.alarm(0)
        if kind is not None and issubclass(kind, Exception) and not issubclass(kind, Failed):
            fail(self.name, f"{kind.__name__}: {e}", self.expected)


def check(failures, name, f):
    try:
        f()
    except Failed as e:
        failures.append(str(e))
    except Exception as e:
        failures.append(f"{CLIENT}: {name}: {type(e).__name__}: {e}")


def read_all(bootstrap, topic, isolation, expected_count, timeout=30):
    """Every record of both partitions, as (partition, value), until expected_count arrive.
    No group: assign() and read from the earliest offset."""
    c = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False,
                      isolation_level=isolation)
    tps = [TopicPartition(topic, p) for p in (0, 1)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    got = []
    try:
        deadline = time.time() + timeout
        while len(got) < expected_count and time.time() < deadline:
            for tp, records in c.poll(timeout_ms=200).items():
                got.extend((tp.partition, r.value.decode()) for r in records)
        # A little longer, to see records that should not be there.
        end = time.time() + 1.0
        while time.time() < end:
            for tp, records in c.poll(timeout_ms=100).items():
                got.extend((tp.partition, r.value.decode()) for r in records)
    finally:
        c.close()
    return got


def transactions(bootstrap, prefix, failures):
    topic = f"{prefix}-txn"
    batches = [("committed-1", True), ("aborted", False), ("committed-2", True)]
    p = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{prefix}-tx",
                      transaction_timeout_ms=30000, max_block_ms=30000)
    try:
        with step("init_transactions", "a producer id and epoch for the transactional id"):
            p.init_transactions()
        for name, commit in batches:
            with step(f"transaction {name}: produce 6 records",
                      "every record acknowledged within the transaction"):
                p.begin_transaction()
                futures = [p.send(topic, value=f"{name}-{i}".encode(), partition=i % 2) for i in range(6)]
                for f in futures:
                    f.get(timeout=15)
            if commit:
                with step(f"commit_transaction of {name}", "the transaction committed"):
                    p.commit_transaction()
            else:
                with step(f"abort_transaction of {name}", "the transaction aborted"):
                    p.abort_transaction()
    finally:
        p.close(timeout=5)
    committed = [f"{n}-{i}" for n, c in batches if c for i in range(6)]

    def read_committed():
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

    def read_uncommitted():
        everything = read_all(bootstrap, topic, "read_uncommitted", 18)
        aborted = [v for _, v in everything if v.startswith("aborted")]
        if len(everything) != 18 or len(aborted) != 6:
            fail("read_uncommitted", sorted(v for _, v in everything), "the 6 aborted records among the 18")
        print("ok: read_uncommitted reads the aborted records too")

    check(failures, "read_committed", read_committed)
    check(failures, "read_uncommitted", read_uncommitted)


def consume_transform_produce(bootstrap, prefix, failures):
    source, sink, group = f"{prefix}-in", f"{prefix}-out", f"{prefix}-ctp"
    inputs = 40
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        with step("produce the input", "every record acknowledged"):
            futures = [p.send(source, value=f"in-{i}".encode(), partition=i % 2) for i in range(inputs)]
            for f in futures:
                f.get(timeout=15)
    finally:
        p.close(timeout=5)
    # One group member, polled from this thread only (kafka-python's quirk with a poll that times
    # out mid-join concerns two members polled in turn); a long poll lets the first join complete.
    c = KafkaConsumer(source, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                      enable_auto_commit=False, isolation_level="read_committed",
                      session_timeout_ms=6000, heartbeat_interval_ms=300)
    t = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{prefix}-ctp-tx", max_block_ms=30000)
    done = 0
    try:
        with step("init_transactions", "a producer id and epoch for the transactional id"):
            t.init_transactions()
        deadline = time.time() + 45
        while done < inputs and time.time() < deadline:
            with step("poll the input in group " + group, "records of the input"):
                batch = c.poll(timeout_ms=5000, max_records=10)
            records = [(tp, r) for tp, rs in batch.items() for r in rs]
            if not records:
                continue
            with step(f"a transaction of {len(records)} outputs with the group's offsets",
                      "the outputs produced and the offsets added to the transaction"):
                t.begin_transaction()
                futures = [t.send(sink, value=r.value.replace(b"in-", b"out-"), partition=tp.partition)
                           for tp, r in records]
                for f in futures:
                    f.get(timeout=15)
                offsets = {tp: OffsetAndMetadata(c.position(tp), "", -1) for tp in batch}
                t.send_offsets_to_transaction(offsets, c.group_metadata())
            with step(f"commit_transaction with offsets {sorted((tp.partition, o.offset) for tp, o in offsets.items())}",
                      "the transaction committed"):
                t.commit_transaction()
            done += len(records)
    finally:
        c.close()
        t.close(timeout=5)
    if done != inputs:
        fail("consume-transform-produce", f"{done} inputs processed", f"all {inputs}")

    def offsets_committed():
        probe = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
        try:
            with step(f"the committed offsets of group {group}", "the group's offsets"):
                offsets = sorted(probe.committed(TopicPartition(source, p), timeout_ms=15000) for p in (0, 1))
        finally:
            probe.close()
        if offsets != [inputs // 2, inputs // 2]:
            fail("the group's committed offsets after send_offsets_to_transaction", offsets,
                 f"[{inputs // 2}, {inputs // 2}], the input's end")
        print("ok: send_offsets_to_transaction commits the group's offsets with the transaction")

    def output():
        got = sorted(v for _, v in read_all(bootstrap, sink, "read_committed", inputs))
        want = sorted(f"out-{i}" for i in range(inputs))
        if got != want:
            fail("the output of consume-transform-produce", got, "one output per input")
        print(f"ok: consume-transform-produce writes exactly one output per input ({inputs})")

    check(failures, "committed offsets", offsets_committed)
    check(failures, "output", output)


def main():
    bootstrap, prefix = sys.argv[1], sys.argv[2]
    topics = [f"{prefix}-txn", f"{prefix}-in", f"{prefix}-out"]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        # No replication_factor: the broker's default.replication.factor (3 on the test cluster).
        admin.create_topics({t: {"num_partitions": 2} for t in topics}, timeout_ms=15000, wait_for_metadata=True)
    except Exception as e:
        print(f"FAILED: {CLIENT}: create topics {topics}: saw {type(e).__name__}: {e}, expected the topics created",
              file=sys.stderr)
        sys.exit(1)
    finally:
        admin.close()
    failures = []
    for name, f in (("transactions", transactions), ("consume-transform-produce", consume_transform_produce)):
        check(failures, name, lambda: f(bootstrap, prefix, failures))
    for f in failures:
        print(f"FAILED: {f}", file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
