//! The sparse offset index and the time index of one segment: in-memory
//! vectors plus their fixed-width file encodings. Entries are appended in
//! memory as batches arrive and written out whole when a segment is sealed or
//! the store shuts down; a file that fails validation is rebuilt from the log.

/// One offset index entry: 4-byte relative offset, 4-byte file position.
pub(crate) const OFFSET_ENTRY_BYTES: usize = 8;
/// One time index entry: 8-byte timestamp, 4-byte relative offset.
pub(crate) const TIME_ENTRY_BYTES: usize = 12;

/// The batch whose base offset is `base + relative_offset` starts at `position`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    pub relative_offset: u32,
    pub position: u32,
}

/// Every record before offset `base + relative_offset` has a timestamp
/// <= `timestamp_ms`, and the batch at that offset holds `timestamp_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    pub timestamp_ms: i64,
    pub relative_offset: u32,
}

pub(crate) fn encode_offsets(entries: &[OffsetEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * OFFSET_ENTRY_BYTES);
    for e in entries {
        out.extend_from_slice(&e.relative_offset.to_be_bytes());
        out.extend_from_slice(&e.position.to_be_bytes());
    }
    out
}

pub(crate) fn encode_times(entries: &[TimeEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * TIME_ENTRY_BYTES);
    for e in entries {
        out.extend_from_slice(&e.timestamp_ms.to_be_bytes());
        out.extend_from_slice(&e.relative_offset.to_be_bytes());
    }
    out
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Decodes an offset index, or `None` if it is not strictly increasing in
/// both fields or points at or past `size_bytes`.
pub(crate) fn decode_offsets(bytes: &[u8], size_bytes: u64) -> Option<Vec<OffsetEntry>> {
    if !bytes.len().is_multiple_of(OFFSET_ENTRY_BYTES) {
        return None;
    }
    let mut out: Vec<OffsetEntry> = Vec::with_capacity(bytes.len() / OFFSET_ENTRY_BYTES);
    for chunk in bytes.chunks_exact(OFFSET_ENTRY_BYTES) {
        let e = OffsetEntry {
            relative_offset: u32_at(chunk, 0),
            position: u32_at(chunk, 4),
        };
        let increasing = out
            .last()
            .is_none_or(|p| e.relative_offset > p.relative_offset && e.position > p.position);
        if !increasing || u64::from(e.position) >= size_bytes {
            return None;
        }
        out.push(e);
    }
    Some(out)
}

/// Decodes a time index, or `None` unless timestamps strictly increase and
/// offsets never decrease.
pub(crate) fn decode_times(bytes: &[u8]) -> Option<Vec<TimeEntry>> {
    if !bytes.len().is_multiple_of(TIME_ENTRY_BYTES) {
        return None;
    }
    let mut out: Vec<TimeEntry> = Vec::with_capacity(bytes.len() / TIME_ENTRY_BYTES);
    for chunk in bytes.chunks_exact(TIME_ENTRY_BYTES) {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&chunk[..8]);
        let e = TimeEntry {
            timestamp_ms: i64::from_be_bytes(ts),
            relative_offset: u32_at(chunk, 8),
        };
        let increasing = out.last().is_none_or(|p| {
            e.timestamp_ms > p.timestamp_ms && e.relative_offset >= p.relative_offset
        });
        if !increasing {
            return None;
        }
        out.push(e);
    }
    Some(out)
}

/// Position to start scanning for `relative_offset`: the last entry at or
/// below it, or the segment start.
pub(crate) fn lookup_position(entries: &[OffsetEntry], relative_offset: u32) -> u64 {
    let i = entries.partition_point(|e| e.relative_offset <= relative_offset);
    if i == 0 {
        0
    } else {
        u64::from(entries[i - 1].position)
    }
}

/// Relative offset to start scanning for the first record with a timestamp
/// >= `timestamp_ms`: the last entry strictly below it, or the segment start.
pub(crate) fn lookup_time(entries: &[TimeEntry], timestamp_ms: i64) -> u32 {
    let i = entries.partition_point(|e| e.timestamp_ms < timestamp_ms);
    if i == 0 {
        0
    } else {
        entries[i - 1].relative_offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oe(relative_offset: u32, position: u32) -> OffsetEntry {
        OffsetEntry {
            relative_offset,
            position,
        }
    }

    #[test]
    fn offset_lookup_table() {
        let entries = [oe(10, 100), oe(20, 250), oe(35, 400)];
        let cases = [
            (0, 0),
            (9, 0),
            (10, 100),
            (19, 100),
            (20, 250),
            (34, 250),
            (35, 400),
            (1000, 400),
        ];
        for (target, want) in cases {
            assert_eq!(lookup_position(&entries, target), want, "target {target}");
        }
        assert_eq!(lookup_position(&[], 5), 0);
    }

    #[test]
    fn time_lookup_table() {
        let entries = [
            TimeEntry {
                timestamp_ms: 100,
                relative_offset: 0,
            },
            TimeEntry {
                timestamp_ms: 200,
                relative_offset: 5,
            },
            TimeEntry {
                timestamp_ms: 300,
                relative_offset: 9,
            },
        ];
        for (target, want) in [
            (50, 0),
            (100, 0),
            (101, 0),
            (200, 0),
            (201, 5),
            (300, 5),
            (301, 9),
        ] {
            assert_eq!(lookup_time(&entries, target), want, "target {target}");
        }
    }

    #[test]
    fn files_round_trip_and_reject_garbage() {
        let offsets = vec![oe(1, 10), oe(5, 90)];
        assert_eq!(
            decode_offsets(&encode_offsets(&offsets), 100),
            Some(offsets.clone())
        );
        assert_eq!(decode_offsets(&encode_offsets(&offsets), 90), None);
        assert_eq!(decode_offsets(&[0u8; 16], 100), None);
        assert_eq!(decode_offsets(&[0u8; 7], 100), None);
        let times = vec![
            TimeEntry {
                timestamp_ms: -1,
                relative_offset: 0,
            },
            TimeEntry {
                timestamp_ms: 7,
                relative_offset: 3,
            },
        ];
        assert_eq!(decode_times(&encode_times(&times)), Some(times));
        assert_eq!(decode_times(&[0u8; 24]), None);
    }
}
