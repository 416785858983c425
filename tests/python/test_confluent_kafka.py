"""confluent-kafka (librdkafka via Python) against Weir: produce and consume
with every codec, the Admin API (create/describe/alter/delete topics,
partitions, records), offsets by timestamp, and auto-creation. Consumers use
manually assigned partitions; consumer groups are tested elsewhere.
"""

import time

import pytest
from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, KafkaException,
                             Producer, TopicPartition)
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                   NewPartitions, NewTopic, OffsetSpec, ResourceType)

from conftest import wait_until

TIMEOUT_S = 30
RECORD_COUNT = 200
# Record timestamps: recent enough that time-based retention (7 days by
# default) never deletes them during a test.
BASE_TS_MS = int(time.time() * 1000) - 3_600_000


def produce(bootstrap, topic, count, **config):
    producer = Producer({"bootstrap.servers": bootstrap, **config})
    delivered, failed = [], []

    def on_delivery(err, msg):
        (failed if err else delivered).append(err or (msg.partition(), msg.offset()))

    for i in range(count):
        producer.produce(topic, key=f"k{i}", value=f"v{i}-" + "x" * (i % 50),
                         headers=[("seq", str(i).encode())], partition=0,
                         timestamp=BASE_TS_MS + i, on_delivery=on_delivery)
        producer.poll(0)
    remaining = producer.flush(TIMEOUT_S)
    assert remaining == 0, f"{remaining} records undelivered"
    assert not failed, f"delivery errors: {failed[:3]}"
    return delivered


def consume(bootstrap, topic, partitions, count, **config):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "weir-tests-unused",
                         "enable.auto.commit": False, **config})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    records = []
    deadline = time.monotonic() + TIMEOUT_S
    while len(records) < count:
        assert time.monotonic() < deadline, f"consumed {len(records)} of {count}"
        for msg in consumer.consume(num_messages=count - len(records), timeout=0.5):
            if msg.error():
                raise KafkaException(msg.error())
            records.append(msg)
    consumer.close()
    return records


def admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap})


def create(bootstrap, topic, partitions=1, replication=1, config=None):
    # The client must outlive its futures: a collected AdminClient fails
    # them with _DESTROY.
    client = admin(bootstrap)
    futures = client.create_topics([NewTopic(topic, partitions, replication, config=config or {})])
    futures[topic].result(TIMEOUT_S)


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_produce_consume_every_codec(broker, codec):
    topic = f"codec-{codec}"
    create(broker.bootstrap, topic)
    delivered = produce(broker.bootstrap, topic, RECORD_COUNT,
                        **{"compression.type": codec, "linger.ms": 20})
    assert sorted(o for _, o in delivered) == list(range(RECORD_COUNT))
    records = consume(broker.bootstrap, topic, [0], RECORD_COUNT)
    for i, msg in enumerate(records):
        assert msg.offset() == i
        assert msg.key() == f"k{i}".encode()
        assert msg.value() == (f"v{i}-" + "x" * (i % 50)).encode()
        assert msg.headers() == [("seq", str(i).encode())]
        assert msg.timestamp() == (1, BASE_TS_MS + i)  # CreateTime


def test_admin_topic_lifecycle(broker):
    client = admin(broker.bootstrap)
    create(broker.bootstrap, "lifecycle", partitions=3, config={"retention.ms": "3600000"})
    topics = client.list_topics(timeout=TIMEOUT_S).topics
    assert len(topics["lifecycle"].partitions) == 3

    resource = ConfigResource(ResourceType.TOPIC, "lifecycle")
    configs = client.describe_configs([resource])[resource].result(TIMEOUT_S)
    assert configs["retention.ms"].value == "3600000"

    incremental = ConfigResource(ResourceType.TOPIC, "lifecycle", incremental_configs=[
        ConfigEntry("retention.bytes", "1048576",
                    incremental_operation=AlterConfigOpType.SET)])
    client.incremental_alter_configs([incremental])[incremental].result(TIMEOUT_S)
    configs = client.describe_configs([resource])[resource].result(TIMEOUT_S)
    assert configs["retention.bytes"].value == "1048576"
    assert configs["retention.ms"].value == "3600000"

    client.create_partitions([NewPartitions("lifecycle", 5)])["lifecycle"].result(TIMEOUT_S)
    wait_until(lambda: len(client.list_topics("lifecycle", timeout=TIMEOUT_S)
                           .topics["lifecycle"].partitions) == 5, "5 partitions")

    client.delete_topics(["lifecycle"])["lifecycle"].result(TIMEOUT_S)
    wait_until(lambda: "lifecycle" not in client.list_topics(timeout=TIMEOUT_S).topics,
               "topic deletion")


def test_create_topic_errors(broker):
    client = admin(broker.bootstrap)
    bad_config = client.create_topics(
        [NewTopic("bad-config", 1, 1, config={"no.such.config": "1"})])["bad-config"]
    with pytest.raises(KafkaException) as err:
        bad_config.result(TIMEOUT_S)
    assert err.value.args[0].code() == KafkaError.INVALID_CONFIG

    bad_name = client.create_topics([NewTopic("bad name!", 1, 1)])["bad name!"]
    with pytest.raises(KafkaException) as err:
        bad_name.result(TIMEOUT_S)
    assert err.value.args[0].code() == KafkaError.TOPIC_EXCEPTION

    create(broker.bootstrap, "existing")
    again = client.create_topics([NewTopic("existing", 1, 1)])["existing"]
    with pytest.raises(KafkaException) as err:
        again.result(TIMEOUT_S)
    assert err.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS


def test_replication_factor_three_is_accepted(broker):
    # Tools create topics with RF 3; a single broker serves one replica.
    create(broker.bootstrap, "rf3", partitions=2, replication=3)
    meta = admin(broker.bootstrap).list_topics("rf3", timeout=TIMEOUT_S)
    assert len(meta.topics["rf3"].partitions) == 2


def test_validate_only_creates_nothing(broker):
    client = admin(broker.bootstrap)
    client.create_topics([NewTopic("dry-run", 2, 1)],
                         validate_only=True)["dry-run"].result(TIMEOUT_S)
    assert "dry-run" not in client.list_topics(timeout=TIMEOUT_S).topics


def test_auto_create_on_produce_uses_default_partitions(broker):
    delivered = produce(broker.bootstrap, "auto-created", 10)
    assert len(delivered) == 10
    meta = admin(broker.bootstrap).list_topics("auto-created", timeout=TIMEOUT_S)
    assert len(meta.topics["auto-created"].partitions) == 3  # --num-partitions 3


def test_list_offsets_and_offsets_for_times(broker):
    create(broker.bootstrap, "times")
    produce(broker.bootstrap, "times", 20)  # timestamps BASE_TS_MS + i
    tp = TopicPartition("times", 0)
    client = admin(broker.bootstrap)

    def list_one(spec):
        result = client.list_offsets({tp: spec})
        return result[tp].result(TIMEOUT_S).offset

    assert list_one(OffsetSpec.earliest()) == 0
    assert list_one(OffsetSpec.latest()) == 20
    assert list_one(OffsetSpec.for_timestamp(BASE_TS_MS + 7)) == 7
    assert list_one(OffsetSpec.max_timestamp()) == 19

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "weir-tests-unused"})
    found = consumer.offsets_for_times([TopicPartition("times", 0, BASE_TS_MS + 12)],
                                       timeout=TIMEOUT_S)
    assert found[0].offset == 12
    assert consumer.get_watermark_offsets(tp, timeout=TIMEOUT_S) == (0, 20)
    consumer.close()


def test_delete_records_advances_earliest_offset(broker):
    create(broker.bootstrap, "trim")
    produce(broker.bootstrap, "trim", 30)
    client = admin(broker.bootstrap)
    result = client.delete_records([TopicPartition("trim", 0, 10)])
    deleted = list(result.values())[0].result(TIMEOUT_S)
    assert deleted.low_watermark == 10
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "weir-tests-unused"})
    low, high = consumer.get_watermark_offsets(TopicPartition("trim", 0), timeout=TIMEOUT_S)
    assert (low, high) == (10, 30)
    consumer.close()
    records = consume(broker.bootstrap, "trim", [0], 20)
    assert records[0].offset() == 10


def test_describe_cluster(broker):
    client = admin(broker.bootstrap)
    result = client.describe_cluster().result(TIMEOUT_S)
    assert len(result.nodes) == 1
    assert result.nodes[0].port == broker.port


def test_records_survive_restart(broker):
    create(broker.bootstrap, "durable", partitions=2)
    produce(broker.bootstrap, "durable", 50)
    broker.restart()
    records = consume(broker.bootstrap, "durable", [0, 1], 50)
    assert [m.offset() for m in records] == list(range(50))
