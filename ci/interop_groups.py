"""Two consumer-group implementations nobody here wrote share one group on the broker.

kafka-python (pure Python: its own JoinGroup/SyncGroup code and its own range assignor) and
confluent-kafka (librdkafka's) subscribe to one topic in one group. The group must settle with
every partition assigned to exactly one of them, each with at least one; between them they
read every record; and the offsets they commit are what a third client then fetches.
Exits non-zero with a message naming what went wrong.

usage: interop_groups.py BOOTSTRAP TOPIC
"""
import sys
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaConsumer

PARTITIONS = 6
PER_PARTITION = 10
GROUP = "interop-group"


def main():
    bootstrap, topic = sys.argv[1], sys.argv[2]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, -1)])[topic].result(15)
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(PARTITIONS * PER_PARTITION):
        p.produce(topic, value=f"v{i}".encode(), partition=i % PARTITIONS)
    if p.flush(15):
        raise SystemExit("confluent-kafka: not every record was acknowledged")

    common = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 300}
    kp = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=GROUP, client_id="kafka-python",
                       auto_offset_reset="earliest", enable_auto_commit=False, **common)
    rd = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP, "client.id": "librdkafka",
                   "auto.offset.reset": "earliest", "enable.auto.commit": False,
                   "partition.assignment.strategy": "range",
                   "session.timeout.ms": 6000, "heartbeat.interval.ms": 300})
    rd.subscribe([topic])
    seen = set()
    lock = threading.Lock()
    stop = threading.Event()
    # What kafka-python's thread last saw: its assignment and whether it read each to the end.
    kp_state = {"assignment": set(), "done": False}

    # Each client is driven from a thread of its own, and only from it (neither client may be
    # called from two threads at once). confluent-kafka serves a rebalance from its
    # application's poll and the group's round waits for every member: polled in turn with
    # kafka-python's blocking poll, librdkafka could rejoin only after that poll gave up, and
    # kafka-python 3.0.12 discards a round that completes after its poll's timeout, so the two
    # could chase each other until the deadline.
    def drive_kafka_python():
        while not stop.is_set():
            # poll returns as soon as it has records, so the long bound costs nothing once the
            # group is settled; a round that takes longer than it is discarded by kafka-python.
            for records in kp.poll(timeout_ms=3000).values():
                with lock:
                    seen.update(r.value.decode() for r in records)
            assignment = set(kp.assignment())
            done = bool(assignment) and all(kp.position(tp) == PER_PARTITION for tp in assignment)
            with lock:
                kp_state["assignment"] = {tp.partition for tp in assignment}
                kp_state["done"] = done

    kp_thread = threading.Thread(target=drive_kafka_python, daemon=True)
    kp_thread.start()
    deadline = time.time() + 60
    settled = None
    try:
        while time.time() < deadline:
            # Everything librdkafka has: one message per round would take a round per record.
            for m in rd.consume(num_messages=500, timeout=0.1):
                if not m.error():
                    with lock:
                        seen.add(m.value().decode())
            a_rd = {tp.partition for tp in rd.assignment()}
            with lock:
                a_kp, kp_done = set(kp_state["assignment"]), kp_state["done"]
                read_all = len(seen) == PARTITIONS * PER_PARTITION
            # kafka-python's view is from its last poll, maybe from before the last rebalance:
            # the group has settled only once the two views split the partitions between them.
            split = a_kp and a_rd and not (a_kp & a_rd) and (a_kp | a_rd) == set(range(PARTITIONS))
            if not (split and read_all and kp_done):
                continue
            # Each has read its own partitions to the end, so each has offsets to commit.
            if all(tp.offset == PER_PARTITION for tp in rd.position(list(rd.assignment()))):
                settled = (a_kp, a_rd)
                break
    finally:
        stop.set()
        kp_thread.join(10)
    if settled is None:
        # Two members holding one partition, or a partition held by none, ends here too.
        raise SystemExit(f"the group did not settle with the partitions split between both members, "
                         f"each reading everything: kafka-python "
                         f"{sorted(kp_state['assignment'])}, librdkafka "
                         f"{sorted(tp.partition for tp in rd.assignment())}, {len(seen)} records read")
    a_kp, a_rd = settled
    kp.commit()
    rd.commit(asynchronous=False)
    kp.close()
    rd.close()

    check = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP})
    committed = check.committed([TopicPartition(topic, i) for i in range(PARTITIONS)], timeout=15)
    check.close()
    offsets = {tp.partition: tp.offset for tp in committed}
    if any(o != PER_PARTITION for o in offsets.values()):
        raise SystemExit(f"committed offsets {offsets}, expected {PER_PARTITION} for every partition")
    print(f"ok: kafka-python took {sorted(a_kp)} and librdkafka {sorted(a_rd)} in one group; "
          f"all {len(seen)} records read, offsets committed")


if __name__ == "__main__":
    main()
