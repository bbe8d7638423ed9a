"""aiokafka's transactions against the broker (KIP-98, through its own transaction manager).

- a transactional AIOKafkaProducer (`transactional_id`) commits one transaction over two
  partitions, aborts a second and commits a third;
- a read_committed AIOKafkaConsumer reads the committed records, in order per partition, and
  none of the aborted ones; a read_uncommitted consumer reads the aborted ones too;
- consume-transform-produce: a consumer in a group reads the input, a transactional producer
  writes one output per input and commits the group's offsets with
  `send_offsets_to_transaction(offsets, group_id)` (aiokafka sends the group id only, no
  generation or member: TxnOffsetCommit as before KIP-447); the group's committed offsets are
  then the input's end, and the output read with read_committed holds exactly one record per
  input.
aiokafka waits for a transaction's end without a deadline: each step is bounded by
asyncio.wait_for, so a broker that never completes a transaction fails the script instead of
hanging it.
One `ok:` line per check; a failing check does not stop the others, and the script then exits
non-zero, each failure naming the step, what was seen and what Kafka does.

usage: interop_txn_aiokafka.py BOOTSTRAP PREFIX
"""
import asyncio
import logging
import sys
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

CLIENT = "aiokafka"
STEP_TIMEOUT = 30


class Failed(Exception):
    pass


def fail(step, seen, expected):
    raise Failed(f"{CLIENT}: {step}: saw {seen}, expected {expected}")


async def step(name, expected, awaitable):
    """One blocking step, bounded: its failure or silence named with what Kafka does."""
    try:
        return await asyncio.wait_for(awaitable, STEP_TIMEOUT)
    except Failed:
        raise
    except asyncio.TimeoutError:
        fail(name, f"no answer in {STEP_TIMEOUT} s", expected)
    except Exception as e:
        fail(name, f"{type(e).__name__}: {e}", expected)


async def check(failures, name, f):
    try:
        await f()
    except Failed as e:
        failures.append(str(e))
    except Exception as e:
        failures.append(f"{CLIENT}: {name}: {type(e).__name__}: {e}")


async def stop(client):
    try:
        await asyncio.wait_for(client.stop(), 10)
    except Exception:
        pass


async def read_all(bootstrap, topic, isolation, expected_count, timeout=30):
    """Every record of both partitions, as (partition, value), until expected_count arrive.
    No group: assign() and read from the earliest offset."""
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False,
                         isolation_level=isolation)
    await step(f"start a {isolation} consumer", "a connected consumer", c.start())
    got = []
    try:
        tps = [TopicPartition(topic, p) for p in (0, 1)]
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        deadline = time.time() + timeout
        while len(got) < expected_count and time.time() < deadline:
            for tp, records in (await c.getmany(timeout_ms=200)).items():
                got.extend((tp.partition, r.value.decode()) for r in records)
        # A little longer, to see records that should not be there.
        end = time.time() + 1.0
        while time.time() < end:
            for tp, records in (await c.getmany(timeout_ms=100)).items():
                got.extend((tp.partition, r.value.decode()) for r in records)
    finally:
        await stop(c)
    return got


async def transactions(bootstrap, prefix, failures):
    topic = f"{prefix}-txn"
    batches = [("committed-1", True), ("aborted", False), ("committed-2", True)]
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{prefix}-tx", enable_idempotence=True,
                         transaction_timeout_ms=30000)
    # start() initialises the transactional id (InitProducerId through its coordinator).
    await step("start the transactional producer", "a producer id and epoch for the transactional id", p.start())
    try:
        for name, commit in batches:
            await step(f"begin_transaction {name}", "a transaction begun", p.begin_transaction())

            async def produce():
                futures = [await p.send(topic, value=f"{name}-{i}".encode(), partition=i % 2) for i in range(6)]
                await asyncio.gather(*futures)

            await step(f"transaction {name}: produce 6 records", "every record acknowledged within the transaction",
                       produce())
            if commit:
                await step(f"commit_transaction of {name}", "the transaction committed", p.commit_transaction())
            else:
                await step(f"abort_transaction of {name}", "the transaction aborted", p.abort_transaction())
    finally:
        await stop(p)
    committed = [f"{n}-{i}" for n, c in batches if c for i in range(6)]

    async def read_committed():
        got = await read_all(bootstrap, topic, "read_committed", len(committed))
        values = [v for _, v in got]
        if sorted(values) != sorted(committed):
            fail("read_committed after commit, abort, commit", values, f"exactly {committed}")
        for part in (0, 1):
            mine = [v for pp, v in got if pp == part]
            want = [v for v in committed if int(v.rsplit("-", 1)[1]) % 2 == part]
            if mine != want:
                fail(f"read_committed order in partition {part}", mine, want)
        print(f"ok: read_committed reads the {len(committed)} committed records in order and none of the aborted")

    async def read_uncommitted():
        everything = await read_all(bootstrap, topic, "read_uncommitted", 18)
        aborted = [v for _, v in everything if v.startswith("aborted")]
        if len(everything) != 18 or len(aborted) != 6:
            fail("read_uncommitted", sorted(v for _, v in everything), "the 6 aborted records among the 18")
        print("ok: read_uncommitted reads the aborted records too")

    await check(failures, "read_committed", read_committed)
    await check(failures, "read_uncommitted", read_uncommitted)


async def consume_transform_produce(bootstrap, prefix, failures):
    source, sink, group = f"{prefix}-in", f"{prefix}-out", f"{prefix}-ctp"
    inputs = 40
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await step("start a producer", "a connected producer", p.start())
    try:
        async def produce():
            futures = [await p.send(source, value=f"in-{i}".encode(), partition=i % 2) for i in range(inputs)]
            await asyncio.gather(*futures)

        await step("produce the input", "every record acknowledged", produce())
    finally:
        await stop(p)
    c = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                         enable_auto_commit=False, isolation_level="read_committed",
                         session_timeout_ms=6000, heartbeat_interval_ms=300)
    t = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{prefix}-ctp-tx", enable_idempotence=True)
    done = 0
    try:
        await step(f"start a consumer in group {group}", "a connected consumer", c.start())
        await step("start the transactional producer", "a producer id and epoch for the transactional id", t.start())
        deadline = time.time() + 45
        while done < inputs and time.time() < deadline:
            batch = await step(f"getmany from the input in group {group}", "records of the input",
                               c.getmany(timeout_ms=500, max_records=10))
            records = [(tp, r) for tp, rs in batch.items() for r in rs]
            if not records:
                continue
            offsets = {tp: await c.position(tp) for tp in batch}
            shown = sorted((tp.partition, o) for tp, o in offsets.items())

            async def transaction():
                await t.begin_transaction()
                futures = [await t.send(sink, value=r.value.replace(b"in-", b"out-"), partition=tp.partition)
                           for tp, r in records]
                await asyncio.gather(*futures)
                await t.send_offsets_to_transaction(offsets, group)

            await step(f"a transaction of {len(records)} outputs with the group's offsets {shown}",
                       "the outputs produced and the offsets added to the transaction", transaction())
            await step(f"commit_transaction with offsets {shown}", "the transaction committed", t.commit_transaction())
            done += len(records)
    finally:
        await stop(c)
        await stop(t)
    if done != inputs:
        fail("consume-transform-produce", f"{done} inputs processed", f"all {inputs}")

    async def offsets_committed():
        probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
        await step("start a consumer to read the group's offsets", "a connected consumer", probe.start())
        try:
            offsets = []
            for part in (0, 1):
                offsets.append(await step(f"the committed offset of group {group} on {source}-{part}",
                                          "the group's offset", probe.committed(TopicPartition(source, part))))
        finally:
            await stop(probe)
        if sorted(offsets) != [inputs // 2, inputs // 2]:
            fail("the group's committed offsets after send_offsets_to_transaction", offsets,
                 f"[{inputs // 2}, {inputs // 2}], the input's end")
        print("ok: send_offsets_to_transaction commits the group's offsets with the transaction")

    async def output():
        got = sorted(v for _, v in await read_all(bootstrap, sink, "read_committed", inputs))
        want = sorted(f"out-{i}" for i in range(inputs))
        if got != want:
            fail("the output of consume-transform-produce", got, "one output per input")
        print(f"ok: consume-transform-produce writes exactly one output per input ({inputs})")

    await check(failures, "committed offsets", offsets_committed)
    await check(failures, "output", output)


async def main():
    bootstrap, prefix = sys.argv[1], sys.argv[2]
    # aiokafka warns of every retried coordinator error (a new group's or transactional id's
    # coordinator starts by answering NOT_COORDINATOR or COORDINATOR_NOT_AVAILABLE, as Kafka's
    # does while it opens __consumer_offsets or __transaction_state): errors only.
    logging.basicConfig(level=logging.ERROR)
    topics = [f"{prefix}-txn", f"{prefix}-in", f"{prefix}-out"]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        # aiokafka's NewTopic refuses -1 (the broker's default) without an assignment: one replica a broker.
        rf = len(bootstrap.split(","))
        response = await admin.create_topics([NewTopic(t, 2, rf) for t in topics])
        errors = [t for t in response.topic_errors if t[1] != 0]
        if errors:
            fail(f"create topics {topics}", errors, "the topics created")
    except Exception as e:
        message = str(e) if isinstance(e, Failed) else \
            f"{CLIENT}: create topics {topics}: saw {type(e).__name__}: {e}, expected the topics created"
        print(f"FAILED: {message}", file=sys.stderr)
        sys.exit(1)
    finally:
        await admin.close()
    failures = []
    for name, f in (("transactions", transactions), ("consume-transform-produce", consume_transform_produce)):
        await check(failures, name, lambda: f(bootstrap, prefix, failures))
    for f in failures:
        print(f"FAILED: {f}", file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    asyncio.run(main())
