//! Opening a partition directory after a clean or unclean stop. Segments the
//! recovery point vouches for are trusted: their index files are loaded (or
//! rebuilt from batch headers if missing or inconsistent). Segments past the
//! recovery point are walked batch by batch, CRC-checked beyond the synced
//! position, and truncated at the first torn or corrupt batch; later segments
//! are then removed. Work is bounded by the unsynced segments, never by the
//! whole log. Deciding what is trusted lives here; file formats do not.

use crate::checkpoint::{self, RecoveryPoint};
use crate::segment::{self, Segment};
use std::fs::{self, File};
use std::io;
use std::path::Path;
use std::sync::Arc;

pub(crate) struct Recovered {
    pub segments: Vec<Segment>,
    pub log_start: i64,
    /// Files rewritten or truncated by recovery, to sync before serving.
    pub files_to_sync: Vec<Arc<File>>,
}

/// How far a segment's bytes are known good without checking CRCs.
#[derive(Clone, Copy)]
enum Trust {
    /// Synced at roll or clean shutdown: index files may be reused.
    Whole,
    /// Synced up to this position; CRC-check everything after it.
    UpTo(u64),
}

/// Lists the base offsets of the `.log` files in `dir`, sorted, and removes
/// leftover temporary files.
fn list_segments(dir: &Path) -> io::Result<Vec<i64>> {
    let mut bases = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(base) = segment::parse_log_name(&name) {
            bases.push(base);
        } else if name.ends_with(".tmp") {
            fs::remove_file(entry.path())?;
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

pub(crate) fn recover_partition(
    dir: &Path,
    index_interval_bytes: u32,
    clean: bool,
) -> io::Result<Recovered> {
    let bases = list_segments(dir)?;
    let saved_start = checkpoint::read_log_start(dir);
    if bases.is_empty() {
        let base = saved_start.unwrap_or(0).max(0);
        let segment = Segment::create(dir, base)?;
        let files_to_sync = vec![segment.log.clone()];
        return Ok(Recovered {
            segments: vec![segment],
            log_start: base,
            files_to_sync,
        });
    }
    let trust = trust_plan(dir, &bases, clean);
    let mut segments = Vec::with_capacity(bases.len());
    let mut files_to_sync = Vec::new();
    for (i, (&base, &trust)) in bases.iter().zip(&trust).enumerate() {
        let next_base = bases.get(i + 1).copied();
        if let (Trust::Whole, Some(next_base)) = (trust, next_base) {
            if let Some(segment) = Segment::open_lazy(dir, base, next_base)? {
                segments.push(segment);
                continue;
            }
        }
        let (segment, damaged) =
            load_segment(dir, base, trust, index_interval_bytes, &mut files_to_sync)?;
        segments.push(segment);
        if damaged {
            for &later in &bases[i + 1..] {
                tracing::warn!(dir = %dir.display(), base_offset = later, "removing segment after a truncated one");
                Segment::remove_files(dir, later);
            }
            break;
        }
    }
    let first_base = segments[0].base_offset;
    let log_end = segments.last().map_or(first_base, |s| s.next_offset);
    let log_start = saved_start.unwrap_or(first_base).clamp(first_base, log_end);
    Ok(Recovered {
        segments,
        log_start,
        files_to_sync,
    })
}

/// Which segments to trust: all after a clean shutdown; otherwise those
/// before the recovery point's segment, that one up to its position, and none
/// after. Without a usable recovery point only the last segment is checked.
fn trust_plan(dir: &Path, bases: &[i64], clean: bool) -> Vec<Trust> {
    let mut plan = vec![Trust::Whole; bases.len()];
    if clean {
        return plan;
    }
    let point: Option<RecoveryPoint> = checkpoint::read_recovery_point(dir);
    let found = point.and_then(|p| {
        bases
            .iter()
            .position(|&b| b == p.segment_base)
            .map(|i| (i, p.position))
    });
    let (first, position) = found.unwrap_or((bases.len() - 1, 0));
    plan[first] = Trust::UpTo(position);
    for t in &mut plan[first + 1..] {
        *t = Trust::UpTo(0);
    }
    plan
}

/// Loads one segment. Returns it and whether it had to be truncated.
fn load_segment(
    dir: &Path,
    base: i64,
    trust: Trust,
    index_interval_bytes: u32,
    files_to_sync: &mut Vec<Arc<File>>,
) -> io::Result<(Segment, bool)> {
    let (mut segment, file_bytes) = Segment::open_unindexed(dir, base)?;
    let validate_from = match trust {
        Trust::Whole => {
            segment.resume_from_index_files(dir, file_bytes);
            file_bytes
        }
        Trust::UpTo(position) if position <= file_bytes => {
            // Index files on disk were synced when written (at the last
            // clean shutdown or recovery) and describe bytes that have not
            // changed since; adopt them if they end inside the synced
            // prefix, so only the rest of the segment is walked.
            segment.resume_from_index_files(dir, position);
            position
        }
        Trust::UpTo(position) => {
            // The file is shorter than what was synced: trust none of it.
            tracing::warn!(dir = %dir.display(), base_offset = base, position, file_bytes, "segment shorter than its recovery point");
            0
        }
    };
    let stop = segment.scan(file_bytes, validate_from, index_interval_bytes)?;
    let rewrite_index = !matches!(trust, Trust::Whole) || stop.is_some();
    if let Some(reason) = &stop {
        tracing::warn!(
            dir = %dir.display(),
            base_offset = base,
            kept_bytes = segment.size_bytes,
            dropped_bytes = file_bytes - segment.size_bytes,
            next_offset = segment.next_offset,
            "truncating segment at a torn or corrupt batch: {reason}"
        );
    }
    if rewrite_index {
        // Cuts a torn tail, and returns any disk space reserved past the end
        // before the stop (see `Segment::preallocate_through`).
        segment.log.set_len(segment.size_bytes)?;
        files_to_sync.push(segment.log.clone());
        // The index lives in memory; its files only spare the next start a
        // header walk, are rewritten at roll and shutdown, and are rebuilt
        // when missing, short or inconsistent. So failing to write them (a
        // full disk) must not keep the partition, or the broker, from opening.
        match segment.write_index_files(dir) {
            Ok(files) => files_to_sync.extend(files),
            Err(error) => tracing::warn!(
                dir = %dir.display(),
                base_offset = base,
                %error,
                "could not write index files; the index stays in memory"
            ),
        }
    }
    Ok((segment, stop.is_some()))
}
