//! ListOffsets lookups by time on a partition: the earliest record at or
//! after a timestamp, and the record with the largest timestamp. Uses each
//! segment's max timestamp and time index to pick where to start, then batch
//! headers, then records inside one batch. Offset lookups live in `partition/read.rs`.

use crate::index;
use crate::segment::{find_batch, read_header};
use crate::{LogError, Partition, TimestampOffset};
use records::{BatchHeader, Records};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// Where to search one segment: its file, start position, readable limit.
struct Search {
    file: Arc<File>,
    position: u64,
    limit_bytes: u64,
}

fn read_batch(file: &File, position: u64, header: &BatchHeader) -> Result<Vec<u8>, LogError> {
    let mut batch = vec![0u8; header.total_size()];
    file.read_exact_at(&mut batch, position)?;
    Ok(batch)
}

impl Partition {
    /// The earliest record whose timestamp is >= `timestamp_ms`.
    pub fn offset_for_timestamp(
        &self,
        timestamp_ms: i64,
    ) -> Result<Option<TimestampOffset>, LogError> {
        let mut from_segment = 0;
        loop {
            let (search, min_offset, next_segment) = {
                let mut state = self.state();
                let found = state
                    .segments
                    .get(from_segment..)
                    .unwrap_or(&[])
                    .iter()
                    .position(|s| s.size_bytes > 0 && s.max_timestamp_ms >= timestamp_ms);
                let Some(i) = found.map(|i| i + from_segment) else {
                    return Ok(None);
                };
                self.load_indexes(&mut state, i);
                let segment = &state.segments[i];
                let start = segment.base_offset
                    + i64::from(index::lookup_time(&segment.time_index, timestamp_ms));
                let start = start.max(state.log_start);
                let search = Search {
                    file: segment.log.clone(),
                    position: segment.lookup(start),
                    limit_bytes: state.readable_bytes(i),
                };
                (search, state.log_start, i + 1)
            };
            if let Some(found) = search_segment(&search, timestamp_ms, min_offset)? {
                return Ok(Some(found));
            }
            from_segment = next_segment;
        }
    }

    /// The record with the largest timestamp (ListOffsets -3, KIP-734).
    pub fn max_timestamp(&self) -> Result<Option<TimestampOffset>, LogError> {
        let (search, batch_offset, max_ms) = {
            let mut state = self.state();
            let mut best: Option<usize> = None;
            for (i, s) in state.segments.iter().enumerate() {
                if s.size_bytes > 0
                    && best.is_none_or(|b| s.max_timestamp_ms > state.segments[b].max_timestamp_ms)
                {
                    best = Some(i);
                }
            }
            let Some(i) = best else { return Ok(None) };
            self.load_indexes(&mut state, i);
            let segment = &state.segments[i];
            let batch_offset = segment.max_timestamp_batch_offset;
            let search = Search {
                file: segment.log.clone(),
                position: segment.lookup(batch_offset),
                limit_bytes: state.readable_bytes(i),
            };
            (search, batch_offset, segment.max_timestamp_ms)
        };
        let Some((position, header)) = find_batch(
            &search.file,
            search.position,
            search.limit_bytes,
            batch_offset,
        )?
        else {
            return Ok(None);
        };
        let batch = read_batch(&search.file, position, &header)?;
        for record in Records::new(&batch)?.iter() {
            let record = record?;
            if record.timestamp_ms == max_ms {
                return Ok(Some(TimestampOffset {
                    timestamp_ms: max_ms,
                    offset: record.offset,
                }));
            }
        }
        Ok(Some(TimestampOffset {
            timestamp_ms: max_ms,
            offset: header.last_offset(),
        }))
    }
}

/// Walks batches from `search.position`, opening only those whose max
/// timestamp reaches the target.
fn search_segment(
    search: &Search,
    timestamp_ms: i64,
    min_offset: i64,
) -> Result<Option<TimestampOffset>, LogError> {
    let mut position = search.position;
    while position + records::BATCH_HEADER_BYTES as u64 <= search.limit_bytes {
        let header = read_header(&search.file, position)?;
        if header.max_timestamp >= timestamp_ms && header.last_offset() >= min_offset {
            let batch = read_batch(&search.file, position, &header)?;
            for record in Records::new(&batch)?.iter() {
                let record = record?;
                if record.timestamp_ms >= timestamp_ms && record.offset >= min_offset {
                    return Ok(Some(TimestampOffset {
                        timestamp_ms: record.timestamp_ms,
                        offset: record.offset,
                    }));
                }
            }
        }
        position += header.total_size() as u64;
    }
    Ok(None)
}
