"""Produce and consume against a broker with two Python clients nobody here wrote.

confluent-kafka (librdkafka inside the wheel) produces with gzip, kafka-python (pure Python, its
own protocol code) reads every record back, and the other way round. Exits non-zero with a
message naming what went wrong.

usage: interop_python.py BOOTSTRAP TOPIC
"""
import sys

from confluent_kafka import Producer, Consumer, TopicPartition
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KTopicPartition

N = 50


def confluent_produce(bootstrap, topic, prefix):
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "compression.type": "gzip"})
    acked = []

    def on_delivery(err, msg):
        if err is not None:
            raise SystemExit(f"confluent-kafka: delivery failed: {err}")
        acked.append(msg.offset())

    for i in range(N):
        p.produce(topic, key=f"k{i}".encode(), value=f"{prefix}-{i}".encode(), partition=0,
                  headers=[("h", b"v")], on_delivery=on_delivery)
    left = p.flush(15)
    if left or len(acked) != N:
        raise SystemExit(f"confluent-kafka: {len(acked)} of {N} records acknowledged")
    return acked


def kafka_python_read(bootstrap, topic, expected):
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                      consumer_timeout_ms=10000)
    tp = KTopicPartition(topic, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    got = []
    for m in c:
        got.append(m.value.decode())
        if len(got) >= len(expected):
            break
    c.close()
    if got != expected:
        raise SystemExit(f"kafka-python read {got[:5]}... ({len(got)} records), expected {expected[:5]}... ({len(expected)})")


def kafka_python_produce(bootstrap, topic, prefix):
    # kafka-python 3 enables idempotence by default (as KIP-679 does for the Java client): it
    # asks InitProducerId for a producer id and numbers its batches, so this also checks that
    # the broker accepts an idempotent producer it did not write.
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    futures = [p.send(topic, key=f"k{i}".encode(), value=f"{prefix}-{i}".encode(), partition=0) for i in range(N)]
    for f in futures:
        f.get(timeout=15)
    p.close()


def confluent_read(bootstrap, topic, expected):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "interop", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    got = []
    while len(got) < len(expected):
        m = c.poll(10)
        if m is None:
            break
        if m.error():
            raise SystemExit(f"confluent-kafka consumer: {m.error()}")
        got.append(m.value().decode())
    c.close()
    if got != expected:
        raise SystemExit(f"confluent-kafka read {len(got)} records, expected {len(expected)}: {got[:5]}...")


def main():
    bootstrap, topic = sys.argv[1], sys.argv[2]
    confluent_produce(bootstrap, topic, "ck")
    first = [f"ck-{i}" for i in range(N)]
    kafka_python_read(bootstrap, topic, first)
    kafka_python_produce(bootstrap, topic, "kp")
    confluent_read(bootstrap, topic, first + [f"kp-{i}" for i in range(N)])
    print(f"ok: confluent-kafka and kafka-python each produced {N} records the other read back")


if __name__ == "__main__":
    main()
