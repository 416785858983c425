"""Reads record-batch headers straight from a Weir data directory.

Weir stores Kafka RecordBatch v2 bytes exactly as producers sent them, so the
tests can check what a client really sent (for example whether kcat
compressed its batches) by reading the segment files. Only batch headers are
parsed here; record contents are checked through the clients.
"""

import pathlib
import struct

CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
# baseOffset(8) batchLength(4) partitionLeaderEpoch(4) magic(1) crc(4) attributes(2)
_HEADER = struct.Struct(">qiibIh")


def segment_files(data_dir: pathlib.Path, topic: str, partition: int):
    """Every `.log` segment of one partition: Weir keeps them in
    `topics/<topic>/<partition>/`; Kafka's `<topic>-<partition>/` is accepted too."""
    def is_partition_dir(d: pathlib.Path) -> bool:
        return (d.name == f"{topic}-{partition}"
                or (d.name == str(partition) and d.parent.name == topic))
    return sorted(p for p in pathlib.Path(data_dir).rglob("*.log") if is_partition_dir(p.parent))


def batch_codecs(data_dir: pathlib.Path, topic: str, partition: int = 0):
    """(baseOffset, codec name) of every batch stored for the partition."""
    out = []
    for path in segment_files(data_dir, topic, partition):
        data = path.read_bytes()
        pos = 0
        while pos + _HEADER.size <= len(data):
            base, length, _epoch, magic, _crc, attrs = _HEADER.unpack_from(data, pos)
            if length <= 0:  # preallocated, unwritten tail
                break
            assert magic == 2, f"{path}: magic {magic} at byte {pos}"
            out.append((base, CODECS.get(attrs & 0x7, f"unknown({attrs & 0x7})")))
            pos += 12 + length
    return out
