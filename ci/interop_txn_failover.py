"""A client's transactions across a kill -9 of its transaction coordinator's broker.

The script commits three transactions of 10 records each to a topic of one partition. Before
the second commit it prints `ready` and waits for a line on stdin, then prints `committing` and
calls the client's commit at once; the test that runs it (reference/tests/clients.rs) finds the
broker leading the transactional id's partition of `__transaction_state` meanwhile, and kills it
with SIGKILL as soon as it reads `committing`, so the coordinator dies before, during or just
after the decision. Kafka's guarantee: the commit completes on the next
coordinator (which finishes a PrepareCommit it loads), and a read_committed consumer then reads
all 30 records, in order, each once. The client must not need restarting.

usage: interop_txn_failover.py CLIENT BOOTSTRAP TOPIC TRANSACTIONAL_ID
CLIENT: confluent-kafka | aiokafka

KafkaJS 2.2 is not here: a kill during its EndTxn surfaces as KafkaJSConnectionClosedError from
`commit()`, and the transaction object refuses a second `commit()` ("Cannot continue to use
transaction once ended"), so the application cannot finish it. kafka-python 3.0 is not here: when its coordinator dies, FindCoordinator names the dead broker
again until the controller fences it (`broker.session.timeout.ms`, as in Kafka), and kafka-python
then never resends its pending AddPartitionsToTxn (its sender loops on "Created 0 produce
requests" until `flush` times out) — the client's bug, not the broker's.
"""
import signal
import sys
import time

ROUNDS, PER_ROUND = 3, 10


def confluent(bootstrap, topic, txn_id):
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, 1, 3)], operation_timeout=15).values():
        f.result(15)
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id,
                  "transaction.timeout.ms": 60000})
    p.init_transactions(30)
    for r in range(ROUNDS):
        p.begin_transaction()
        for i in range(PER_ROUND):
            p.produce(topic, value=f"r{r}-{i}".encode(), partition=0)
        p.flush(30)
        if r == 1:
            print("ready", flush=True)
            sys.stdin.readline()
            print("committing", flush=True)
        p.commit_transaction(60)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-reader",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "isolation.level": "read_committed"})
    c.assign([TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.time() + 30
    while len(got) < ROUNDS * PER_ROUND and time.time() < deadline:
        m = c.poll(0.2)
        if m is not None and not m.error():
            got.append(m.value().decode())
    end = time.time() + 1.0
    while time.time() < end:
        m = c.poll(0.1)
        if m is not None and not m.error():
            got.append(m.value().decode())
    c.close()
    return got


def aiokafka(bootstrap, topic, txn_id):
    import asyncio

    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    async def run():
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        await admin.create_topics([NewTopic(topic, 1, 3)])
        await admin.close()
        p = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=txn_id,
                             transaction_timeout_ms=60000)
        await p.start()
        loop = asyncio.get_running_loop()
        for r in range(ROUNDS):
            await p.begin_transaction()
            for i in range(PER_ROUND):
                await p.send(topic, value=f"r{r}-{i}".encode(), partition=0)
            await p.flush()
            if r == 1:
                print("ready", flush=True)
                await loop.run_in_executor(None, sys.stdin.readline)
                print("committing", flush=True)
            await p.commit_transaction()
        await p.stop()
        c = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed",
                             auto_offset_reset="earliest", enable_auto_commit=False)
        await c.start()
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek(tp, 0)
        got = []
        deadline = time.time() + 30
        while time.time() < deadline:
            batch = await c.getmany(timeout_ms=200)
            for records in batch.values():
                got.extend(rec.value.decode() for rec in records)
            if len(got) >= ROUNDS * PER_ROUND:
                more = await c.getmany(timeout_ms=1000)
                for records in more.values():
                    got.extend(rec.value.decode() for rec in records)
                break
        await c.stop()
        return got

    return asyncio.run(run())


def main():
    # A client that never finishes fails the test instead of hanging it.
    signal.alarm(150)
    client, bootstrap, topic, txn_id = sys.argv[1:5]
    run = {"confluent-kafka": confluent, "aiokafka": aiokafka}[client]
    got = run(bootstrap, topic, txn_id)
    want = [f"r{r}-{i}" for r in range(ROUNDS) for i in range(PER_ROUND)]
    if got != want:
        print(f"{client}: read_committed read {len(got)} records {got[:12]}..., expected the {len(want)} "
              f"records of three committed transactions, in order, each once", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {client} committed across a kill -9 of its transaction coordinator; "
          f"read_committed reads all {len(want)} records in order", flush=True)


if __name__ == "__main__":
    main()
