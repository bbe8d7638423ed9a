"""aiokafka (asyncio, its own protocol and group code) through its normal API.

- An idempotent AIOKafkaProducer (enable_idempotence, acks=all) has every record acknowledged,
  at contiguous offsets.
- Two AIOKafkaConsumers of one group split a topic's partitions (each some, together all, none
  twice), read every record between them and commit.
- A new consumer of that group resumes where they committed: it reads the records produced
  since and none of those before.
- offsets_for_times, for a timestamp between two records' CreateTimes, finds the first record at
  or after it.
One `ok:` line per check; a failing check does not stop the independent ones, and the script
then exits non-zero, each failure naming the step, what was seen and what Kafka does.

usage: interop_aiokafka.py BOOTSTRAP PREFIX
"""
import asyncio
import logging
import sys
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

CLIENT = "aiokafka"
RECORDS = 50
PARTITIONS = 4
PER_PARTITION = 10
SESSION = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 300}


class Failed(Exception):
    pass


def fail(step, seen, expected):
    raise Failed(f"{CLIENT}: {step}: saw {seen}, expected {expected}")


async def idempotent_produce(producer, topic):
    futures = [await producer.send(topic, value=f"idem-{i}".encode(), partition=0) for i in range(RECORDS)]
    offsets = [(await f).offset for f in futures]
    if offsets != list(range(RECORDS)):
        fail(f"idempotent produce to {topic}", offsets, f"offsets 0..{RECORDS - 1} in send order")
    print(f"ok: idempotent producer: {RECORDS} records acknowledged at offsets 0..{RECORDS - 1}")


async def produce_round(producer, topic, tag):
    futures = [await producer.send(topic, value=f"{tag}-{p}-{i}".encode(), partition=p)
               for p in range(PARTITIONS) for i in range(PER_PARTITION)]
    await asyncio.gather(*futures)
    return {f"{tag}-{p}-{i}" for p in range(PARTITIONS) for i in range(PER_PARTITION)}


def consumer(bootstrap, topic, group, name):
    return AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, client_id=name,
                            auto_offset_reset="earliest", enable_auto_commit=False, **SESSION)


async def group_split_and_resume(bootstrap, producer, topic, group):
    old = await produce_round(producer, topic, "old")
    members = [consumer(bootstrap, topic, group, f"{CLIENT}-{i}") for i in range(2)]
    values = [set(), set()]
    last = [{}, {}]
    for m in members:
        await m.start()
    try:
        deadline = time.time() + 40
        while True:
            for i, m in enumerate(members):
                batch = await m.getmany(timeout_ms=100)
                for tp, records in batch.items():
                    values[i].update(r.value.decode() for r in records)
                    last[i][tp.partition] = records[-1].offset
            a0, a1 = ({tp.partition for tp in m.assignment()} for m in members)
            done = all(last[i].get(tp.partition) == PER_PARTITION - 1
                       for i, m in enumerate(members) for tp in m.assignment())
            if a0 and a1 and not a0 & a1 and a0 | a1 == set(range(PARTITIONS)) and done \
                    and values[0] | values[1] == old:
                break
            if time.time() > deadline:
                fail(f"group {group} of two consumers",
                     f"assignments {sorted(a0)} and {sorted(a1)}, "
                     f"{len((values[0] | values[1]) & old)} of {len(old)} records read",
                     f"the {PARTITIONS} partitions split between both, every record read")
        # Both commit before either leaves: a leave starts a rebalance that would refuse the other's commit.
        for m in members:
            try:
                await m.commit()
            except Exception as e:
                fail(f"group {group} commit", f"{type(e).__name__}: {e}", "the commit accepted")
    finally:
        for m in members:
            await m.stop()
    print(f"ok: two consumers in group {group} took partitions {sorted(a0)} and {sorted(a1)}, "
          f"read all {len(old)} records and committed")

    new = await produce_round(producer, topic, "new")
    c = consumer(bootstrap, topic, group, f"{CLIENT}-resumer")
    await c.start()
    got = set()
    try:
        deadline = time.time() + 30
        while got != new and not got - new and time.time() < deadline:
            for records in (await c.getmany(timeout_ms=1000)).values():
                got.update(r.value.decode() for r in records)
    finally:
        await c.stop()
    if got != new:
        fail(f"a new consumer in group {group}",
             f"{len(got & new)} of {len(new)} new records, {len(got - new)} already committed ones",
             "every record produced since the commit and none before it")
    print(f"ok: a new consumer in group {group} resumed at the committed offsets: read the {len(new)} new records only")


async def offsets_for_times(bootstrap, producer, topic):
    base = (int(time.time()) - 3600) * 1000
    stamps = [base + i * 1000 for i in range(5)]
    for i, ts in enumerate(stamps):
        await producer.send_and_wait(topic, value=f"t{i}".encode(), partition=0, timestamp_ms=ts)
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await c.start()
    tp = TopicPartition(topic, 0)
    try:
        found = await c.offsets_for_times({tp: stamps[2] + 500})
    finally:
        await c.stop()
    got = found.get(tp)
    if got is None or (got.offset, got.timestamp) != (3, stamps[3]):
        fail(f"offsets_for_times({topic}, {stamps[2] + 500})", got, f"offset 3, timestamp {stamps[3]}")
    print(f"ok: offsets_for_times between the CreateTimes of offsets 2 and 3 found offset 3")


async def main():
    bootstrap, prefix = sys.argv[1], sys.argv[2]
    # aiokafka warns of every retried coordinator error (a new group's coordinator starts by
    # answering NOT_COORDINATOR, as Kafka's does while it opens __consumer_offsets): errors only.
    logging.basicConfig(level=logging.ERROR)
    idem, grouped, timed = f"{prefix}-idempotent", f"{prefix}-group", f"{prefix}-times"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        # aiokafka's NewTopic refuses -1 (the broker's default) without an assignment: one replica a broker.
        rf = len(bootstrap.split(","))
        response = await admin.create_topics([NewTopic(idem, 1, rf), NewTopic(grouped, PARTITIONS, rf),
                                              NewTopic(timed, 1, rf)])
        errors = [t for t in response.topic_errors if t[1] != 0]
        if errors:
            raise SystemExit(f"{CLIENT}: create topics: {errors}")
    except SystemExit:
        raise
    except Exception as e:
        raise SystemExit(f"{CLIENT}: create topics: {type(e).__name__}: {e}")
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    failed = 0
    for step, check in [("idempotent produce", lambda: idempotent_produce(producer, idem)),
                        ("consumer group", lambda: group_split_and_resume(bootstrap, producer, grouped,
                                                                          f"{prefix}-group")),
                        ("offsets_for_times", lambda: offsets_for_times(bootstrap, producer, timed))]:
        try:
            await check()
        except Failed as e:
            print(e, file=sys.stderr)
            failed += 1
        except Exception as e:
            print(f"{CLIENT}: {step}: {type(e).__name__}: {e}", file=sys.stderr)
            failed += 1
    await producer.stop()
    if failed:
        raise SystemExit(f"{CLIENT}: {failed} check(s) failed")


if __name__ == "__main__":
    asyncio.run(main())
