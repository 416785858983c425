//! Reading a partition by offset: whole stored batches as a range of a
//! segment file, found from batch headers and the sparse index without
//! reading the records themselves.

use super::window::LogPosition;
use super::{out_of_range, Partition, PartitionOffsets};
use crate::segment::{find_batch, read_header};
use crate::LogError;
use records::BATCH_HEADER_BYTES;
use std::fs::File;
use std::io::IoSliceMut;
use std::num::NonZeroU64;
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

/// How far past a read a reader that is behind gets its segment read ahead.
const PREFETCH_BYTES: u64 = 8 << 20;
/// Read-ahead is renewed each time a read crosses a multiple of this, so a
/// reader advancing 1 MiB per fetch advises the kernel every fourth fetch
/// and always has at least `PREFETCH_BYTES - PREFETCH_STEP_BYTES` ahead.
const PREFETCH_STEP_BYTES: u64 = 4 << 20;
/// A reader is "behind" when at least this much readable data lies past
/// what it just read; a reader at the tail gets no read-ahead.
const PREFETCH_MIN_BYTES: u64 = 1 << 20;

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
            let start = segment.lookup(offset);
            let base_offset = segment.base_offset;
            let file = segment.log.clone();
            state.readers.note(LogPosition {
                segment_base: base_offset,
                position: start,
            });
            (file, base_offset, start, state.readable_bytes(i), offsets)
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
        if let Some(len) = prefetch_len(position, end, limit) {
            // Advice only: if the kernel declines, the next read waits on
            // the disk as it would have anyway. Skipped when the far end of
            // the range is already cached, as for a reader replaying what
            // the page cache still holds: the advice walks every page of
            // the range either way, about 0.25 ms for 8 MiB on the
            // development VM, on this fetch's way to its response.
            //
            // Only the far end is probed. A probe that misses starts the
            // kernel's own read-ahead at that byte; at the near end, where
            // the next fetch reads, that upset the reader's sequential
            // read-ahead: replaying 2 GB from disk after a 15 s write ran
            // at 304 MB/s against 395 without probes. The price: a reader
            // just behind a page-cache window, whose next 8 MiB end in the
            // window's cached bytes, gets only the kernel's read-ahead
            // until it reaches the window.
            if !page_cached(&file, end + len.get() - 1) {
                let advice = rustix::fs::Advice::WillNeed;
                let _ = rustix::fs::fadvise(&*file, end, Some(len), advice);
            }
        }
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

/// How much of the segment past a read of `position..end` to read ahead,
/// given the readable end `limit`: up to [`PREFETCH_BYTES`] when the reader
/// is at least [`PREFETCH_MIN_BYTES`] behind and the read crossed a multiple
/// of [`PREFETCH_STEP_BYTES`]; else nothing.
///
/// A reader catching up (a consumer back from a restart, a replay from the
/// start) would otherwise wait on the disk at every fetch: the kernel's own
/// read-ahead is driven by the synchronous header reads and `sendfile`, so
/// the disk sits idle while the client parses each response. Advising
/// WILLNEED starts the next chunk's reads in the background instead. On the
/// development VM this took a cold replay from 255-478 MB/s to 500-600 MB/s.
fn prefetch_len(position: u64, end: u64, limit: u64) -> Option<NonZeroU64> {
    if position / PREFETCH_STEP_BYTES == end / PREFETCH_STEP_BYTES {
        return None;
    }
    let ahead = limit.saturating_sub(end).min(PREFETCH_BYTES);
    if ahead < PREFETCH_MIN_BYTES {
        return None;
    }
    NonZeroU64::new(ahead)
}

/// Whether the byte at `position` of `file` is in the page cache: a read
/// that may not wait for the disk (`RWF_NOWAIT`) returns it only then. A
/// kernel or filesystem without `RWF_NOWAIT`, or a position past the end of
/// the file, counts as not cached.
fn page_cached(file: &File, position: u64) -> bool {
    let mut byte = [0u8; 1];
    let flags = rustix::io::ReadWriteFlags::NOWAIT;
    let read = rustix::io::preadv2(file, &mut [IoSliceMut::new(&mut byte)], position, flags);
    matches!(read, Ok(1))
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

#[cfg(test)]
mod tests {
    use super::{
        page_cached, prefetch_len, PREFETCH_BYTES, PREFETCH_MIN_BYTES, PREFETCH_STEP_BYTES,
    };
    use std::io::{Read, Write};

    #[test]
    fn a_byte_just_read_is_cached_and_one_past_the_end_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("segment");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&[7u8; 8192])
            .unwrap();
        let mut file = std::fs::File::open(&path).unwrap();
        file.read_to_end(&mut Vec::new()).unwrap();
        assert!(page_cached(&file, 0));
        assert!(page_cached(&file, 8191));
        assert!(!page_cached(&file, 8192));
        assert!(!page_cached(&file, 1 << 40));
    }

    #[test]
    fn only_a_reader_that_is_behind_gets_read_ahead_at_each_step() {
        let mib = 1u64 << 20;
        let step = PREFETCH_STEP_BYTES;
        let cases = [
            // (read start, read end, readable end, expected read-ahead)
            (0, 0, 0, None),
            (step - mib, step, step, None), // at the tail
            (step - mib, step, step + PREFETCH_MIN_BYTES - 1, None), // nearly
            (
                step - mib,
                step,
                step + PREFETCH_MIN_BYTES,
                Some(PREFETCH_MIN_BYTES),
            ),
            (step - mib, step + mib, step + 4 * mib, Some(3 * mib)),
            (step - mib, step, 100 * step, Some(PREFETCH_BYTES)), // far behind: capped
            (step, step + mib, 100 * step, None), // no step crossed since the last advice
            (0, 3 * step, 100 * step, Some(PREFETCH_BYTES)), // one large read
            (step - mib, step, mib, None),        // a stale limit is not an underflow
        ];
        for (position, end, limit, want) in cases {
            assert_eq!(
                prefetch_len(position, end, limit).map(|n| n.get()),
                want,
                "read {position}..{end}, limit {limit}"
            );
        }
    }
}
