//! Small metadata files written atomically (temp file, fsync, rename, fsync
//! directory): per-partition log start offset, the topic descriptor, the
//! cluster id; and files that need no fsync because every version of them
//! is true and their loss is detected: the producer-state snapshot
//! (`replace_unsynced`) and the recovery point (rewritten in place, with a
//! checksum). Knows file formats, not what the values mean to the log.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

pub(crate) const RECOVERY_POINT_FILE: &str = "recovery-point";
pub(crate) const LOG_START_FILE: &str = "log-start-offset";
/// Size of every recovery point record written now: `v2`, the three
/// numbers, their CRC-32C, space-padded, so each in-place rewrite covers
/// the whole previous record (at most 74 bytes before padding).
const RECOVERY_POINT_BYTES: usize = 96;

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

/// A partition's recovery point file, kept open so that moving the point
/// costs one `pwrite`: with a thousand partitions, creating and renaming a
/// file per partition every second took most of each flush cycle.
///
/// Written only after the data it describes was synced, so every version
/// that reaches the disk is true: an old one makes recovery check more, and
/// a missing, torn or unreadable one (the checksum catches a torn rewrite)
/// makes it check the last segment whole (sealed segments were synced at
/// roll). So it needs no fsync of its own.
pub(crate) struct RecoveryPointFile(File);

impl RecoveryPointFile {
    /// Opens `dir`'s recovery point file and writes `point` to it: in place
    /// when the file holds one record of today's size, which a rewrite
    /// covers whole; else as a fresh file renamed into place, so no older
    /// format's bytes remain. (A rename costs about a millisecond here, and
    /// every partition writes its point when it opens after a crash.)
    pub fn open(dir: &Path, point: RecoveryPoint) -> io::Result<RecoveryPointFile> {
        let path = dir.join(RECOVERY_POINT_FILE);
        if let Ok(file) = OpenOptions::new().write(true).open(&path) {
            if file.metadata()?.len() == RECOVERY_POINT_BYTES as u64 {
                let file = RecoveryPointFile(file);
                file.write(point)?;
                return Ok(file);
            }
        }
        let (tmp, file) = write_temp(&path, &encode_recovery_point(point))?;
        fs::rename(&tmp, &path)?;
        Ok(RecoveryPointFile(file))
    }

    /// Overwrites the record in place.
    pub fn write(&self, point: RecoveryPoint) -> io::Result<()> {
        self.0.write_all_at(&encode_recovery_point(point), 0)
    }
}

fn recovery_point_crc(point: RecoveryPoint) -> u32 {
    let mut bytes = [0u8; 24];
    bytes[..8].copy_from_slice(&point.segment_base.to_le_bytes());
    bytes[8..16].copy_from_slice(&point.position.to_le_bytes());
    bytes[16..].copy_from_slice(&point.next_offset.to_le_bytes());
    crc32c::crc32c(&bytes)
}

fn encode_recovery_point(point: RecoveryPoint) -> [u8; RECOVERY_POINT_BYTES] {
    let text = format!(
        "v2 {} {} {} {:08x}",
        point.segment_base,
        point.position,
        point.next_offset,
        recovery_point_crc(point)
    );
    let mut record = [b' '; RECOVERY_POINT_BYTES];
    record[..text.len()].copy_from_slice(text.as_bytes());
    record[RECOVERY_POINT_BYTES - 1] = b'\n';
    record
}

/// `None` when missing, unreadable or failing its checksum: the caller
/// then trusts less. Reads `v1` files (no checksum, written by earlier
/// versions with a rename) as well as `v2`.
pub(crate) fn read_recovery_point(dir: &Path) -> Option<RecoveryPoint> {
    let text = fs::read_to_string(dir.join(RECOVERY_POINT_FILE)).ok()?;
    let mut words = text.split_whitespace();
    let version = words.next()?;
    let point = RecoveryPoint {
        segment_base: words.next()?.parse().ok()?,
        position: words.next()?.parse().ok()?,
        next_offset: words.next()?.parse().ok()?,
    };
    let valid = match version {
        "v1" => true,
        "v2" => u32::from_str_radix(words.next()?, 16).ok()? == recovery_point_crc(point),
        _ => false,
    };
    (valid && words.next().is_none()).then_some(point)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn point(segment_base: i64, position: u64, next_offset: i64) -> RecoveryPoint {
        RecoveryPoint {
            segment_base,
            position,
            next_offset,
        }
    }

    #[test]
    fn recovery_point_is_rewritten_in_place_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RECOVERY_POINT_FILE);
        fs::write(&path, "v1 0 0 0\n").unwrap();
        let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&fs::metadata(p).unwrap());
        let older_format = inode(&path);
        let file = RecoveryPointFile::open(dir.path(), point(0, 10, 1)).unwrap();
        assert_eq!(read_recovery_point(dir.path()), Some(point(0, 10, 1)));
        let created = inode(&path);
        assert_ne!(
            created, older_format,
            "a file of another format is replaced"
        );
        drop(file);
        // Opened again (as after a restart): rewritten in place from now on.
        let file = RecoveryPointFile::open(dir.path(), point(0, 20, 2)).unwrap();
        assert_eq!(read_recovery_point(dir.path()), Some(point(0, 20, 2)));
        for p in [
            point(0, 4096, 7),
            point(i64::MAX, u64::MAX, i64::MAX),
            point(1_000, 3, 1_002),
        ] {
            file.write(p).unwrap();
            assert_eq!(read_recovery_point(dir.path()), Some(p));
            assert_eq!(
                fs::metadata(&path).unwrap().len(),
                RECOVERY_POINT_BYTES as u64
            );
        }
        assert_eq!(inode(&path), created, "no new file per write");
    }

    #[test]
    fn recovery_point_that_is_torn_or_foreign_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RECOVERY_POINT_FILE);
        let read = |contents: &[u8]| {
            fs::write(&path, contents).unwrap();
            read_recovery_point(dir.path())
        };
        let old = encode_recovery_point(point(0, 499_499_376, 7_620));
        let new = encode_recovery_point(point(0, 512_345_678, 7_800));
        assert_eq!(read(&old), Some(point(0, 499_499_376, 7_620)));
        assert_eq!(read(b"v1 5 6 7\n"), Some(point(5, 6, 7)));
        // A rewrite cut short: the new record's first bytes over the old one.
        for cut in 1..new.len() {
            let mut torn = old;
            torn[..cut].copy_from_slice(&new[..cut]);
            let got = read(&torn);
            assert!(
                got.is_none() || got == Some(point(0, 512_345_678, 7_800)) || torn == old,
                "cut at {cut} read as {got:?}"
            );
        }
        for bad in [
            &b""[..],
            b"\0\0\0\0",
            b"v2 0 10 1",
            b"v2 0 10 1 00000000",
            b"v1 0 10",
            b"v1 0 10 1 extra",
            b"v3 0 10 1 0",
        ] {
            assert_eq!(read(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
