"""kafka-python against Weir with default client settings: produce (plain
and gzip), consume with manually assigned partitions and no group, and
create/list/delete topics through KafkaAdminClient.
"""

import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

TIMEOUT_S = 30
RECORD_COUNT = 200


def produce(bootstrap, topic, count, **config):
    # kafka-python 3 enables the idempotent producer by default (KIP-679),
    # which needs InitProducerId; that path has its own test below, so the
    # other tests keep working while it is missing.
    config.setdefault("enable_idempotence", False)
    producer = KafkaProducer(bootstrap_servers=bootstrap, **config)
    futures = [producer.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode(),
                             headers=[("seq", str(i).encode())], partition=i % 2)
               for i in range(count)]
    producer.flush(timeout=TIMEOUT_S)
    metadata = [f.get(timeout=TIMEOUT_S) for f in futures]
    producer.close(timeout=TIMEOUT_S)
    return metadata


def consume(bootstrap, topic, partitions, count):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    consumer.assign([TopicPartition(topic, p) for p in partitions])
    consumer.seek_to_beginning()
    records = []
    deadline = time.monotonic() + TIMEOUT_S
    while len(records) < count:
        assert time.monotonic() < deadline, f"consumed {len(records)} of {count}"
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    consumer.close()
    return records


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_produce_and_consume(broker, compression):
    topic = f"kafka-python-{compression or 'none'}"
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    admin.close()
    metadata = produce(broker.bootstrap, topic, RECORD_COUNT, compression_type=compression)
    for p in (0, 1):
        offsets = sorted(m.offset for m in metadata if m.partition == p)
        assert offsets == list(range(RECORD_COUNT // 2))
    records = consume(broker.bootstrap, topic, [0, 1], RECORD_COUNT)
    by_key = {r.key: r for r in records}
    assert len(records) == len(by_key) == RECORD_COUNT
    for i in range(RECORD_COUNT):
        record = by_key[f"k{i}".encode()]
        assert record.value == f"v{i}".encode()
        assert record.partition == i % 2
        assert list(record.headers) == [("seq", str(i).encode())]


def test_admin_create_list_delete(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([NewTopic("kp-admin", num_partitions=4, replication_factor=1)])
    assert "kp-admin" in admin.list_topics()
    described = admin.describe_topics(["kp-admin"])
    assert len(described[0]["partitions"]) == 4
    admin.delete_topics(["kp-admin"])
    deadline = time.monotonic() + TIMEOUT_S
    while "kp-admin" in admin.list_topics():
        assert time.monotonic() < deadline, "topic still listed after delete"
        time.sleep(0.1)
    admin.close()


def test_consumer_end_offsets(broker):
    produce(broker.bootstrap, "kp-offsets", 10)  # auto-created, 3 partitions
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None)
    tps = [TopicPartition("kp-offsets", p) for p in (0, 1)]
    assert consumer.beginning_offsets(tps) == {tps[0]: 0, tps[1]: 0}
    assert consumer.end_offsets(tps) == {tps[0]: 5, tps[1]: 5}
    consumer.close()


def test_producer_with_default_settings(broker):
    """Default KafkaProducer: idempotent (InitProducerId, then sequenced
    batches), acks=all."""
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    futures = [producer.send("kp-defaults", value=f"d{i}".encode(), partition=0)
               for i in range(20)]
    producer.flush(timeout=TIMEOUT_S)
    offsets = [f.get(timeout=TIMEOUT_S).offset for f in futures]
    producer.close(timeout=TIMEOUT_S)
    assert offsets == list(range(20))
    records = consume(broker.bootstrap, "kp-defaults", [0], 20)
    assert [r.value for r in records] == [f"d{i}".encode() for i in range(20)]
