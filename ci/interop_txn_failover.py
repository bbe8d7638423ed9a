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
CLIENT: confluent-kafka

kafka-python 3.0 is not here: when its coordinator dies, FindCoordinator names the dead broker
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


def main():
    # A client that never finishes fails the test instead of hanging it.
    signal.alarm(150)
    client, bootstrap, topic, txn_id = sys.argv[1:5]
    run = {"confluent-kafka": confluent}[client]
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
