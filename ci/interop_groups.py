"""Two consumer-group implementations nobody here wrote share one group on the broker.

kafka-python (pure Python: its own JoinGroup/SyncGroup code and its own range assignor) and
confluent-kafka (librdkafka's) subscribe to one topic in one group. The group must settle with
every partition assigned to exactly one of them, each with at least one; between them they
read every record; and the offsets they commit are what a third client then fetches.
Exits non-zero with a message naming what went wrong.

usage: interop_groups.py BOOTSTRAP TOPIC
"""
import sys
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
    deadline = time.time() + 60
    settled = None
    while time.time() < deadline:
        # Everything librdkafka has: one message per round would take a round (up to a second
        # of kafka-python's poll) per record.
        for m in rd.consume(num_messages=500, timeout=0.05):
            if not m.error():
                seen.add(m.value().decode())
        # kafka-python 3.0.12 discards a JoinGroup+SyncGroup round that completes after a poll's
        # timeout ran out and joins again on the next poll, so a poll shorter than the round
        # (a SyncGroup waits for the assignment to reach every replica) rebalances forever; on a
        # machine busy with other tests a round took over a second. poll returns as soon as it
        # has records, so the longer bound costs nothing once the group is settled.
        for records in kp.poll(timeout_ms=3000).values():
            seen.update(r.value.decode() for r in records)
        a_kp = {tp.partition for tp in kp.assignment()}
        a_rd = {tp.partition for tp in rd.assignment()}
        if not (a_kp and a_rd and len(seen) == PARTITIONS * PER_PARTITION):
            continue
        # Each has read its own partitions to the end, so each has offsets to commit.
        kp_done = all(kp.position(tp) == PER_PARTITION for tp in kp.assignment())
        rd_done = all(tp.offset == PER_PARTITION for tp in rd.position(list(rd.assignment())))
        if kp_done and rd_done:
            settled = (a_kp, a_rd)
            break
    if settled is None:
        raise SystemExit(f"the group did not settle with both members reading everything: kafka-python "
                         f"{sorted(tp.partition for tp in kp.assignment())}, librdkafka "
                         f"{sorted(tp.partition for tp in rd.assignment())}, {len(seen)} records read")
    a_kp, a_rd = settled
    if a_kp & a_rd or (a_kp | a_rd) != set(range(PARTITIONS)):
        raise SystemExit(f"bad assignment: kafka-python {sorted(a_kp)}, librdkafka {sorted(a_rd)}")
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
