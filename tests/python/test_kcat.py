"""kcat (Debian's build, librdkafka 2.0.2) against Weir: metadata listing,
produce with gzip and snappy, consume from the beginning. kcat's old
librdkafka silently stops compressing when the broker's advertised versions
look too new, so the tests also read the stored batch headers to prove the
batches really arrived compressed.
"""

import json
import shutil
import subprocess

import pytest

from weir_files import batch_codecs

TIMEOUT_S = 60
RECORD_COUNT = 100

pytestmark = pytest.mark.skipif(shutil.which("kcat") is None,
                                reason="kcat not installed (run scripts/setup-test-deps.sh)")


def kcat(broker, *args, stdin=None):
    return subprocess.run(["kcat", "-b", broker.bootstrap, *args], input=stdin,
                          capture_output=True, timeout=TIMEOUT_S, check=False)


def test_metadata_listing(broker):
    kcat(broker, "-P", "-t", "listed", "-p", "0", stdin=b"one\n")
    result = kcat(broker, "-L", "-J")
    assert result.returncode == 0, result.stderr.decode()
    meta = json.loads(result.stdout)
    assert [b["name"] for b in meta["brokers"]] == [broker.bootstrap]
    topics = {t["topic"]: t for t in meta["topics"]}
    assert len(topics["listed"]["partitions"]) == 3  # --num-partitions 3


@pytest.mark.parametrize("codec", ["gzip", "snappy"])
def test_produce_compressed_and_consume(broker, codec):
    topic = f"kcat-{codec}"
    lines = [f"key{i}:value {i} " + "z" * 40 for i in range(RECORD_COUNT)]
    produced = kcat(broker, "-P", "-t", topic, "-p", "0", "-z", codec, "-K", ":",
                    stdin="\n".join(lines).encode() + b"\n")
    stderr = produced.stderr.decode()
    assert produced.returncode == 0, stderr
    assert "does not support compression" not in stderr, stderr

    consumed = kcat(broker, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e",
                    "-f", "%k:%s\n")
    assert consumed.returncode == 0, consumed.stderr.decode()
    assert consumed.stdout.decode().splitlines() == lines

    codecs = {name for _, name in batch_codecs(broker.data_dir, topic, 0)}
    assert codecs == {codec}, f"stored batches use {codecs}, kcat asked for {codec}"
