//! Small metadata files written atomically (temp file, fsync, rename, fsync
//! directory): per-partition log start offset, the topic descriptor, the
//! cluster id; and files that need no fsync because every version of them
//! is true and their loss is detected (`replace_unsynced`: the recovery
//! point, the producer-state snapshot). Knows file formats, not what the values mean
//! to the log.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

pub(crate) const RECOVERY_POINT_FILE: &str = "recovery-point";
pub(crate) const LOG_START_FILE: &str = "log-start-offset";
/// Version tag written as the first word of the recovery point file.
const RECOVERY_POINT_VERSION: &str = "v1";

/// Writes `contents` to `path` so that a crash leaves either the old or the
/// new file, never a mix. `sync_dir` also makes the rename itself durable.
pub(crate) fn write_atomic(path: &Path, contents: &[u8], sync_dir: bool) -> io::Result<()> {
    let tmp = write_temp(path, contents)?;
    tmp.1.sync_all()?;
    drop(tmp.1);
    fs::rename(&tmp.0, path)?;
    if sync_dir {
        if let Some(parent) = path.parent() {
            sync_dir_at(parent)?;
        }
    }
    Ok(())
}

/// Writes `contents` beside `path` and renames it over `path`, syncing
/// nothing: after a crash the file may hold the old contents, the new ones,
/// or (on filesystems that persist the rename before the data) nothing
/// readable. Only for files every one of whose versions is correct and
/// whose absence is safe.
pub(crate) fn replace_unsynced(path: &Path, contents: &[u8]) -> io::Result<()> {
    let (tmp, file) = write_temp(path, contents)?;
    drop(file);
    fs::rename(&tmp, path)
}

fn write_temp(path: &Path, contents: &[u8]) -> io::Result<(std::path::PathBuf, File)> {
    let tmp = path.with_extension("tmp");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    file.write_all(contents)?;
    Ok((tmp, file))
}

pub(crate) fn sync_dir_at(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The end of the prefix of a partition known to be on disk: every byte of
/// every segment before `segment_base`, and `position` bytes of that one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecoveryPoint {
    pub segment_base: i64,
    pub position: u64,
    pub next_offset: i64,
}

pub(crate) fn write_recovery_point(dir: &Path, point: RecoveryPoint) -> io::Result<()> {
    let text = format!(
        "{RECOVERY_POINT_VERSION} {} {} {}\n",
        point.segment_base, point.position, point.next_offset
    );
    // Written only after the data it describes was synced, so every version
    // that reaches the disk is true: an old one makes recovery check more,
    // and a missing or unreadable one makes it check the last segment
    // whole (sealed segments were synced at roll). So it needs no fsync of
    // its own, which kept a flush cycle a few milliseconds longer per
    // partition once a second.
    replace_unsynced(&dir.join(RECOVERY_POINT_FILE), text.as_bytes())
}

/// `None` when missing or unreadable: the caller then trusts less.
pub(crate) fn read_recovery_point(dir: &Path) -> Option<RecoveryPoint> {
    let text = fs::read_to_string(dir.join(RECOVERY_POINT_FILE)).ok()?;
    let mut words = text.split_whitespace();
    if words.next()? != RECOVERY_POINT_VERSION {
        return None;
    }
    let segment_base = words.next()?.parse().ok()?;
    let position = words.next()?.parse().ok()?;
    let next_offset = words.next()?.parse().ok()?;
    Some(RecoveryPoint {
        segment_base,
        position,
        next_offset,
    })
}

pub(crate) fn write_log_start(dir: &Path, offset: i64) -> io::Result<()> {
    write_atomic(
        &dir.join(LOG_START_FILE),
        format!("{offset}\n").as_bytes(),
        true,
    )
}

pub(crate) fn read_log_start(dir: &Path) -> Option<i64> {
    fs::read_to_string(dir.join(LOG_START_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}
