"""kafka-python (pure Python: its own protocol, group and producer code) through its normal API.

- An idempotent producer (enable_idempotence, acks=all) has every record acknowledged, at
  contiguous offsets: the broker numbers a producer it did not write as Kafka does.
- Two KafkaConsumers of one group split a topic's partitions (each some, together all, none
  twice), read every record between them and commit.
- A new consumer of that group resumes where they committed: it reads the records produced
  since and none of those before.
- offsets_for_times, for a timestamp between two records' CreateTimes, finds the first record at
  or after it.
One `ok:` line per check; a failing check does not stop the independent ones, and the script
then exits non-zero, each failure naming the step, what was seen and what Kafka does.

usage: interop_kafka_python.py BOOTSTRAP PREFIX
"""
import sys
import threading
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

CLIENT = "kafka-python"
RECORDS = 50
PARTITIONS = 4
PER_PARTITION = 10
SESSION = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 300}


class Failed(Exception):
    pass


def fail(step, seen, expected):
    raise Failed(f"{CLIENT}: {step}: saw {seen}, expected {expected}")


def idempotent_produce(producer, topic):
    futures = [producer.send(topic, value=f"idem-{i}".encode(), partition=0) for i in range(RECORDS)]
    offsets = [f.get(timeout=15).offset for f in futures]
    if offsets != list(range(RECORDS)):
        fail(f"idempotent produce to {topic}", offsets, f"offsets 0..{RECORDS - 1} in send order")
    print(f"ok: idempotent producer: {RECORDS} records acknowledged at offsets 0..{RECORDS - 1}")


def produce_round(producer, topic, tag):
    futures = [producer.send(topic, value=f"{tag}-{p}-{i}".encode(), partition=p)
               for p in range(PARTITIONS) for i in range(PER_PARTITION)]
    for f in futures:
        f.get(timeout=15)
    return {f"{tag}-{p}-{i}" for p in range(PARTITIONS) for i in range(PER_PARTITION)}


class Member(threading.Thread):
    """One group member, polled from its own thread: kafka-python 3.0.12 drops a join round that
    completes after a poll timed out, so two members polled in turn from one thread can
    rebalance each other forever."""

    def __init__(self, bootstrap, topic, group, name):
        super().__init__(daemon=True)
        self.consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, client_id=name,
                                      auto_offset_reset="earliest", enable_auto_commit=False, **SESSION)
        self.name = name
        self.lock = threading.Lock()
        self.values = set()
        self.last = {}
        self.assigned = set()
        self.commit = threading.Event()
        self.committed = threading.Event()
        self.stop = threading.Event()
        self.error = None

    def run(self):
        try:
            while not self.stop.is_set():
                batch = self.consumer.poll(timeout_ms=1000)
                with self.lock:
                    for tp, records in batch.items():
                        for r in records:
                            self.values.add(r.value.decode())
                            self.last[tp.partition] = r.offset
                    self.assigned = {tp.partition for tp in self.consumer.assignment()}
                if self.commit.is_set() and not self.committed.is_set():
                    self.consumer.commit()
                    self.committed.set()
        except Exception as e:
            self.error = f"{type(e).__name__}: {e}"
            self.committed.set()
        finally:
            self.consumer.close()

    def state(self):
        with self.lock:
            done = all(self.last.get(p) == PER_PARTITION - 1 for p in self.assigned)
            return set(self.assigned), set(self.values), done


def group_split_and_resume(bootstrap, producer, topic, group):
    old = produce_round(producer, topic, "old")
    members = [Member(bootstrap, topic, group, f"{CLIENT}-{i}") for i in range(2)]
    for m in members:
        m.start()
    deadline = time.time() + 40
    while True:
        (a0, v0, d0), (a1, v1, d1) = (m.state() for m in members)
        if a0 and a1 and not a0 & a1 and a0 | a1 == set(range(PARTITIONS)) and d0 and d1 and v0 | v1 == old:
            break
        errors = [m.error for m in members if m.error]
        if errors or time.time() > deadline:
            for m in members:
                m.stop.set()
            fail(f"group {group} of two consumers",
                 f"assignments {sorted(a0)} and {sorted(a1)}, {len((v0 | v1) & old)} of {len(old)} records read"
                 + (f", {errors}" if errors else ""),
                 f"the {PARTITIONS} partitions split between both, every record read")
        time.sleep(0.1)
    # Both commit before either leaves: a leave starts a rebalance that would refuse the other's commit.
    for m in members:
        m.commit.set()
    for m in members:
        m.committed.wait(15)
    errors = [f"{m.name}: {m.error}" for m in members if m.error or not m.committed.is_set()]
    for m in members:
        m.stop.set()
    for m in members:
        m.join(15)
    if errors:
        fail(f"group {group} commit", errors, "both commits accepted")
    print(f"ok: two consumers in group {group} took partitions {sorted(a0)} and {sorted(a1)}, "
          f"read all {len(old)} records and committed")

    new = produce_round(producer, topic, "new")
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, client_id=f"{CLIENT}-resumer",
                      auto_offset_reset="earliest", enable_auto_commit=False, **SESSION)
    got = set()
    deadline = time.time() + 30
    try:
        while got != new and time.time() < deadline:
            for records in c.poll(timeout_ms=1000).values():
                got.update(r.value.decode() for r in records)
            if got - new:
                break
    finally:
        c.close()
    if got != new:
        fail(f"a new consumer in group {group}",
             f"{len(got & new)} of {len(new)} new records, {len(got - new)} already committed ones",
             "every record produced since the commit and none before it")
    print(f"ok: a new consumer in group {group} resumed at the committed offsets: read the {len(new)} new records only")


def offsets_for_times(bootstrap, producer, topic):
    base = (int(time.time()) - 3600) * 1000
    stamps = [base + i * 1000 for i in range(5)]
    for i, ts in enumerate(stamps):
        producer.send(topic, value=f"t{i}".encode(), partition=0, timestamp_ms=ts).get(timeout=15)
    c = KafkaConsumer(bootstrap_servers=bootstrap)
    tp = TopicPartition(topic, 0)
    try:
        found = c.offsets_for_times({tp: stamps[2] + 500}, timeout_ms=15000)
    finally:
        c.close()
    got = found.get(tp)
    if got is None or (got.offset, got.timestamp) != (3, stamps[3]):
        fail(f"offsets_for_times({topic}, {stamps[2] + 500})", got, f"offset 3, timestamp {stamps[3]}")
    print(f"ok: offsets_for_times between the CreateTimes of offsets 2 and 3 found offset 3")


def main():
    bootstrap, prefix = sys.argv[1], sys.argv[2]
    idem, grouped, timed = f"{prefix}-idempotent", f"{prefix}-group", f"{prefix}-times"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        # No replication_factor: the broker's default.replication.factor (3 on the test cluster).
        admin.create_topics({idem: {"num_partitions": 1}, grouped: {"num_partitions": PARTITIONS},
                             timed: {"num_partitions": 1}}, timeout_ms=15000, wait_for_metadata=True)
    except Exception as e:
        raise SystemExit(f"{CLIENT}: create topics: {type(e).__name__}: {e}")
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    failed = 0
    for step, check in [("idempotent produce", lambda: idempotent_produce(producer, idem)),
                        ("consumer group", lambda: group_split_and_resume(bootstrap, producer, grouped,
                                                                          f"{prefix}-group")),
                        ("offsets_for_times", lambda: offsets_for_times(bootstrap, producer, timed))]:
        try:
            check()
        except Failed as e:
            print(e, file=sys.stderr)
            failed += 1
        except Exception as e:
            print(f"{CLIENT}: {step}: {type(e).__name__}: {e}", file=sys.stderr)
            failed += 1
    producer.close()
    if failed:
        raise SystemExit(f"{CLIENT}: {failed} check(s) failed")


if __name__ == "__main__":
    main()
