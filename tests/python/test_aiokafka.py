"""aiokafka against Weir with default client settings: produce (plain and
gzip) and consume with manually assigned partitions and no group. Tests run
their coroutines with asyncio.run, so no pytest plugin is needed.
"""

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

TIMEOUT_S = 30
RECORD_COUNT = 200


async def produce(bootstrap, topic, count, **config):
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **config)
    await producer.start()
    try:
        futures = [await producer.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode(),
                                       headers=[("seq", str(i).encode())], partition=0)
                   for i in range(count)]
        return [await asyncio.wait_for(f, TIMEOUT_S) for f in futures]
    finally:
        await producer.stop()


async def consume(bootstrap, topic, count):
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        records = []
        while len(records) < count:
            batches = await consumer.getmany(timeout_ms=500)
            records.extend(r for batch in batches.values() for r in batch)
        return records
    finally:
        await consumer.stop()


async def round_trip(bootstrap, topic, compression):
    metadata = await produce(bootstrap, topic, RECORD_COUNT, compression_type=compression)
    assert [m.offset for m in metadata] == list(range(RECORD_COUNT))
    records = await asyncio.wait_for(consume(bootstrap, topic, RECORD_COUNT), TIMEOUT_S)
    for i, record in enumerate(records):
        assert record.offset == i
        assert record.key == f"k{i}".encode()
        assert record.value == f"v{i}".encode()
        assert list(record.headers) == [("seq", str(i).encode())]


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_produce_and_consume(broker, compression):
    asyncio.run(round_trip(broker.bootstrap, f"aiokafka-{compression or 'none'}", compression))
