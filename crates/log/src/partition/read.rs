//! Reading a partition by offset: whole stored batches as a range of a
//! segment file, found from batch headers and the sparse index without
//! reading the records themselves.

use super::{out_of_range, Partition, PartitionOffsets};
use crate::segment::{find_batch, read_header};
use crate::LogError;
use records::BATCH_HEADER_BYTES;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// What a read found: the partition's offsets, and the whole stored batches
/// starting with the one that holds the requested offset, as a byte range of
/// one segment file (`None` when nothing is readable there yet). The broker
/// sends the range to the socket without copying it through memory; other
/// readers load it with [`ReadResult::to_vec`].
#[derive(Debug, Clone)]
pub struct ReadResult {
    pub records: Option<FileRange>,
    pub offsets: PartitionOffsets,
}

impl ReadResult {
    /// Bytes of the batches read (0 when none).
    pub fn len(&self) -> u64 {
        self.records.as_ref().map_or(0, |r| r.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The batches read, loaded into memory.
    pub fn to_vec(&self) -> Result<Vec<u8>, LogError> {
        match &self.records {
            Some(range) => Ok(range.to_vec()?),
            None => Ok(Vec::new()),
        }
    }
}

/// `len` bytes of an open segment file from `position`: whole batches below
/// the high watermark at the time of the read. Holding the file keeps the
/// bytes readable even if retention deletes the segment meanwhile; stored
/// batches below the high watermark are never rewritten.
#[derive(Debug, Clone)]
pub struct FileRange {
    pub file: Arc<File>,
    pub position: u64,
    pub len: u64,
}

impl FileRange {
    pub fn to_vec(&self) -> std::io::Result<Vec<u8>> {
        let mut bytes = vec![0u8; self.len as usize];
        self.file.read_exact_at(&mut bytes, self.position)?;
        Ok(bytes)
    }
}

impl Partition {
    /// Whole batches below the high watermark, from the one holding
    /// `offset`, as many as fit in `max_bytes` but always at least one, all
    /// from one segment. `offset` outside log start..=log end is
    /// `OffsetOutOfRange`.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadResult, LogError> {
        let nothing = |offsets| ReadResult {
            records: None,
            offsets,
        };
        let (file, base_offset, start, limit, offsets) = {
            let mut state = self.lock();
            let offsets = state.offsets();
            if offset < offsets.log_start || offset > offsets.log_end {
                return Err(out_of_range(offset, &offsets));
            }
            if offset >= offsets.high_watermark {
                return Ok(nothing(offsets));
            }
            let i = state.segment_for(offset);
            self.load_indexes(&mut state, i);
            let segment = &state.segments[i];
            (
                segment.log.clone(),
                segment.base_offset,
                segment.lookup(offset),
                state.readable_bytes(i),
                offsets,
            )
        };
        let Some((position, first)) = find_batch(&file, start, limit, offset)? else {
            return Ok(nothing(offsets));
        };
        // KIP-74: the first batch comes whole even when it exceeds max_bytes.
        let want_end = position + (max_bytes.max(first.total_size()) as u64);
        let end = if want_end >= limit {
            limit // the readable end is a batch boundary
        } else {
            let hint = self.batch_start_at_or_below(base_offset, want_end);
            whole_batches_end(&file, hint.max(position), want_end)?
        };
        Ok(ReadResult {
            records: Some(FileRange {
                file,
                position,
                len: end - position,
            }),
            offsets,
        })
    }

    /// The indexed batch start nearest below `position` in the segment
    /// based at `base_offset` (0 if it is gone or has no such entry).
    fn batch_start_at_or_below(&self, base_offset: i64, position: u64) -> u64 {
        let state = self.lock();
        let i = state.segment_for(base_offset);
        match state.segments.get(i) {
            Some(segment) if segment.base_offset == base_offset => {
                segment.batch_start_at_or_below(position)
            }
            _ => 0,
        }
    }
}

/// The end of the last whole batch that ends at or before `end`, walking
/// batch headers from `position` (a batch start).
fn whole_batches_end(file: &File, mut position: u64, end: u64) -> Result<u64, LogError> {
    while position + BATCH_HEADER_BYTES as u64 <= end {
        let header = read_header(file, position)?;
        let next = position + header.total_size() as u64;
        if next > end {
            break;
        }
        position = next;
    }
    Ok(position)
}
