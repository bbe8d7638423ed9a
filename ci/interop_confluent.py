"""confluent-kafka's admin client and regex subscription against the broker.

What librdkafka users lean on beyond producing and fetching by partition:
- AdminClient.list_topics() asks for every topic (a Metadata request with a null topic list) and
  must find each topic created here, with every broker of the cluster;
- a regex subscription ("^...") is matched by the client itself against that all-topics listing,
  so it reads every record of the two topics that match and none of the one that does not;
- incremental_alter_configs sets retention.ms and compression.type (zstd) on a topic, and
  describe_configs then reports the new values as the topic's own (dynamic) configs, where it
  reported Kafka's defaults before.
One `ok:` line per check; a failing check does not stop the others, and the script then exits
non-zero, each failure naming the step, what was seen and what Kafka does.

usage: interop_confluent.py BOOTSTRAP PREFIX
"""
import sys
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                   ConfigSource, NewTopic, ResourceType)

RECORDS = 20


class Failed(Exception):
    pass


def fail(step, seen, expected):
    raise Failed(f"confluent-kafka: {step}: saw {seen}, expected {expected}")


def source(entry):
    return ConfigSource(entry.source).name if entry is not None else None


def create_topics(admin, partitions):
    # -1: the broker's default.replication.factor (3 on the test cluster).
    futures = admin.create_topics([NewTopic(t, n, -1) for t, n in partitions.items()], operation_timeout=15)
    for topic, f in futures.items():
        try:
            f.result(15)
        except Exception as e:
            fail(f"create topic {topic}", e, "the topic created")


def list_topics(admin, bootstrap, partitions):
    md = admin.list_topics(timeout=15)
    brokers = len(bootstrap.split(","))
    if len(md.brokers) != brokers:
        fail("list_topics() brokers", sorted(str(b) for b in md.brokers.values()), f"{brokers} brokers")
    for topic, n in partitions.items():
        t = md.topics.get(topic)
        if t is None:
            fail("list_topics()", sorted(md.topics), f"{topic} among all topics")
        if t.error is not None or len(t.partitions) != n:
            fail(f"list_topics() {topic}", f"error {t.error}, {len(t.partitions)} partitions", f"{n} partitions")
    print(f"ok: list_topics() lists all {len(md.topics)} topics, the {len(partitions)} created here among them, "
          f"and {brokers} broker(s)")


def regex_subscription(bootstrap, prefix, matching, other):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for topic in matching + [other]:
        for i in range(RECORDS):
            p.produce(topic, value=f"{topic}/{i}".encode())
    if p.flush(15):
        fail("produce for the regex subscription", "records not acknowledged", "every record acknowledged")

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{prefix}-regex",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "session.timeout.ms": 6000, "heartbeat.interval.ms": 300})
    pattern = f"^{prefix}-re-.*"
    c.subscribe([pattern])
    expected = {f"{t}/{i}" for t in matching for i in range(RECORDS)}
    got = set()
    deadline = time.time() + 30
    while got != expected and time.time() < deadline:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            fail(f"regex subscription {pattern}", m.error(), "records")
        if m.topic() == other:
            fail(f"regex subscription {pattern}", f"a record of {other}", f"only {matching}")
        got.add(m.value().decode())
    # A second's more polling: a consumer assigned the other topic too would read it by now.
    end = time.time() + 1
    while time.time() < end:
        m = c.poll(0.2)
        if m is not None and not m.error() and m.topic() == other:
            fail(f"regex subscription {pattern}", f"a record of {other}", f"only {matching}")
    topics = {tp.topic for tp in c.assignment()}
    c.close()
    if got != expected:
        fail(f"regex subscription {pattern}", f"{len(got)} records ({len(got - expected)} unexpected)",
             f"the {len(expected)} records of {matching}")
    if topics != set(matching):
        fail(f"regex subscription {pattern} assignment", sorted(topics), sorted(matching))
    print(f"ok: subscribe([{pattern!r}]) read all {len(got)} records of {len(matching)} matching topics, none of {other}")


def describe(admin, topic):
    r = ConfigResource(ResourceType.TOPIC, topic)
    return admin.describe_configs([r])[r].result(15)


def configs(admin, topic):
    wanted = {"retention.ms": "3600000", "compression.type": "zstd"}
    before = describe(admin, topic)
    defaults = {"retention.ms": "604800000", "compression.type": "producer"}
    for name, value in defaults.items():
        e = before.get(name)
        if e is None or (e.value, source(e)) != (value, "DEFAULT_CONFIG"):
            fail(f"describe_configs {topic} {name} before altering", e and (e.value, source(e)),
                 (value, "DEFAULT_CONFIG"))

    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry(n, v, incremental_operation=AlterConfigOpType.SET) for n, v in wanted.items()])
    try:
        admin.incremental_alter_configs([res])[res].result(15)
    except Exception as e:
        fail(f"incremental_alter_configs {topic} {wanted}", e, "success")

    # Another broker of a cluster learns the change from the controller, a moment later: Kafka
    # promises no read-your-writes across brokers here either.
    deadline = time.time() + 10
    while True:
        after = describe(admin, topic)
        seen = {n: (after[n].value, source(after[n])) for n in wanted if n in after}
        ok = {n: (v, "DYNAMIC_TOPIC_CONFIG") for n, v in wanted.items()}
        if seen == ok:
            break
        if time.time() > deadline:
            fail(f"describe_configs {topic} after incremental_alter_configs", seen, ok)
        time.sleep(0.2)
    print(f"ok: incremental_alter_configs set {wanted} on {topic}; describe_configs shows them (were Kafka's defaults)")


def main():
    bootstrap, prefix = sys.argv[1], sys.argv[2]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    matching = [f"{prefix}-re-one", f"{prefix}-re-two"]
    other = f"{prefix}-other"
    config_topic = f"{prefix}-configs"
    partitions = {matching[0]: 2, matching[1]: 1, other: 1, config_topic: 1}
    try:
        create_topics(admin, partitions)
    except Failed as e:
        raise SystemExit(str(e))
    failed = 0
    for step, check in [("list_topics()", lambda: list_topics(admin, bootstrap, partitions)),
                        ("regex subscription", lambda: regex_subscription(bootstrap, prefix, matching, other)),
                        ("topic configs", lambda: configs(admin, config_topic))]:
        try:
            check()
        except Failed as e:
            print(e, file=sys.stderr)
            failed += 1
        except Exception as e:
            print(f"confluent-kafka: {step}: {type(e).__name__}: {e}", file=sys.stderr)
            failed += 1
    if failed:
        raise SystemExit(f"confluent-kafka: {failed} check(s) failed")


if __name__ == "__main__":
    main()
