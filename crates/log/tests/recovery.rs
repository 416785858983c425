//! Crash recovery: damage the active segment's tail at many byte positions
//! (truncation, bit flips, trailing garbage), reopen, and check that every
//! batch before the damage survives and nothing partial is ever returned.

mod common;

use common::*;
use log::{FlushPolicy, Store, TopicConfig};
use std::fs;
use std::path::{Path, PathBuf};

/// The files of topic `r`'s partition ending in `.{extension}`, sorted (so
/// by base offset).
fn partition_files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir.join("topics/r/0"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    files
}

fn active_segment(dir: &Path) -> PathBuf {
    partition_files(dir, "log").pop().unwrap()
}

/// Appends `n` batches and returns the stored bytes of each, in order.
fn fill(store: &Store, n: u64) -> Vec<Vec<u8>> {
    let p = store.topic("r").unwrap().partition(0).unwrap();
    (0..n)
        .map(|i| {
            let mut b = batch(i, 1 + (i % 3) as usize, 1000 + i as i64);
            let info = p.append(&b, 0).unwrap();
            records::stamp_base_offset(&mut b, info.base_offset);
            b
        })
        .collect()
}

/// Appends one two-record batch per tag in `tags` to `r` and adds the
/// stored bytes of each to `batches`.
fn append_tagged(store: &Store, tags: std::ops::Range<u64>, batches: &mut Vec<Vec<u8>>) {
    let p = store.topic("r").unwrap().partition(0).unwrap();
    for tag in tags {
        let mut b = batch(tag, 2, 5000 + tag as i64);
        let info = p.append(&b, 0).unwrap();
        records::stamp_base_offset(&mut b, info.base_offset);
        batches.push(b);
    }
}

/// Reads `r` back one batch at a time from offset 0, across segments, and
/// checks it holds exactly `batches`.
fn assert_reads_back(store: &Store, batches: &[Vec<u8>]) {
    let p = store.topic("r").unwrap().partition(0).unwrap();
    let mut offset = 0;
    for b in batches {
        let read = p.read(offset, 0).unwrap().to_vec().unwrap();
        assert!(&read == b, "offset {offset} reads back as written");
        offset += records::BatchHeader::parse(b).unwrap().offset_count();
    }
    assert_eq!(p.offsets().log_end, offset);
}

/// A store with topic `r` holding `n` batches, stopped uncleanly (no
/// shutdown, as after SIGKILL). Returns its directory and the batches.
fn crashed_with(n: u64, defaults: TopicConfig) -> (tempfile::TempDir, Vec<Vec<u8>>) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), FlushPolicy::Never, defaults);
    store.create_topic("r", 1, no_overrides()).unwrap();
    let batches = fill(&store, n);
    drop(store);
    (dir, batches)
}

/// Opens the store and checks it holds exactly the first `kept` batches.
fn check_survivors(dir: &Path, batches: &[Vec<u8>], kept: usize, what: &str) {
    let store = open(dir, FlushPolicy::Never, TopicConfig::default());
    let p = store.topic("r").unwrap().partition(0).unwrap();
    let expected: Vec<u8> = batches[..kept].concat();
    let end: i64 = batches[..kept]
        .iter()
        .map(|b| records::BatchHeader::parse(b).unwrap().offset_count())
        .sum();
    assert_eq!(p.offsets().log_end, end, "{what}");
    let read = if end > 0 {
        p.read(0, 1 << 20).unwrap().to_vec().unwrap()
    } else {
        Vec::new()
    };
    assert_eq!(read, expected, "{what}");
    // Appending continues right after the survivors.
    assert_eq!(
        p.append(&batch(99, 1, 0), 0).unwrap().base_offset,
        end,
        "{what}"
    );
}

#[test]
fn torn_and_corrupt_tails_are_truncated() {
    let (dir, batches) = crashed_with(12, TopicConfig::default());
    let segment = active_segment(dir.path());
    let original = fs::read(&segment).unwrap();
    let total = original.len();
    let mut starts = vec![0];
    for b in &batches {
        starts.push(starts.last().unwrap() + b.len());
    }
    let kept_before = |pos: usize| starts.iter().filter(|&&s| s <= pos).count() - 1;
    let kept_whole = |pos: usize| {
        starts
            .iter()
            .filter(|&&s| s <= pos)
            .count()
            .min(batches.len() + 1)
            - 1
    };
    // Without a recovery point the whole active segment is unsynced tail.
    let recovery_point = dir.path().join("topics/r/0/recovery-point");
    for pos in (0..total).step_by(7).chain([total - 1]) {
        let _ = fs::remove_file(&recovery_point);
        fs::write(&segment, &original[..pos]).unwrap();
        check_survivors(
            dir.path(),
            &batches,
            kept_whole(pos),
            &format!("truncated at {pos}"),
        );

        let _ = fs::remove_file(&recovery_point);
        let in_batch = pos - starts[kept_before(pos)];
        if (12..16).contains(&in_batch) {
            continue; // partitionLeaderEpoch is outside the CRC in Kafka's format
        }
        let mut flipped = original.clone();
        flipped[pos] ^= 0x5a;
        fs::write(&segment, &flipped).unwrap();
        check_survivors(
            dir.path(),
            &batches,
            kept_before(pos),
            &format!("flipped byte {pos}"),
        );
    }
    let mut garbage = original.clone();
    garbage.extend_from_slice(&[0u8; 100]);
    fs::write(&segment, &garbage).unwrap();
    check_survivors(dir.path(), &batches, batches.len(), "zero-filled tail");
}

#[test]
fn clean_restart_keeps_everything_and_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let defaults = TopicConfig {
        segment_bytes: 1000,
        ..TopicConfig::default()
    };
    let store = open(dir.path(), FlushPolicy::Always, defaults.clone());
    store.create_topic("r", 1, no_overrides()).unwrap();
    let batches = fill(&store, 60);
    store.shutdown().unwrap();
    drop(store);
    assert!(dir.path().join(".clean-shutdown").exists());
    let store = open(dir.path(), FlushPolicy::Always, defaults.clone());
    assert!(
        !dir.path().join(".clean-shutdown").exists(),
        "marker is consumed at open"
    );
    let p = store.topic("r").unwrap().partition(0).unwrap();
    let mut offset = 0;
    for b in &batches {
        let read = p.read(offset, 0).unwrap();
        assert_eq!(&read.to_vec().unwrap(), b);
        offset += records::BatchHeader::parse(b).unwrap().offset_count();
    }
    assert_eq!(p.offsets().high_watermark, offset);
    // Damaged index files are rebuilt, not trusted.
    drop(p);
    store.shutdown().unwrap();
    drop(store);
    for entry in fs::read_dir(dir.path().join("topics/r/0")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "index") {
            fs::write(&path, [0xffu8; 16]).unwrap();
        }
    }
    let store = open(dir.path(), FlushPolicy::Always, defaults);
    let p = store.topic("r").unwrap().partition(0).unwrap();
    assert_eq!(p.offsets().log_end, offset);
    let all = (0..offset)
        .map(|o| p.read(o, 0).unwrap().len() as usize)
        .all(|n| n > 0);
    assert!(all);
}

/// A clean shutdown rewrites the active segment's index files only when
/// they changed: a store that took no appends since it opened syncs nothing
/// as it stops; one that did writes index files that cover the new batches.
#[test]
fn shutdown_rewrites_index_files_only_when_they_changed() {
    let dir = tempfile::tempdir().unwrap();
    let index_file = || fs::read(partition_files(dir.path(), "index").pop().unwrap()).unwrap();
    let store = open(dir.path(), FlushPolicy::Always, TopicConfig::default());
    store.create_topic("r", 1, no_overrides()).unwrap();
    let mut batches = fill(&store, 200);
    store.shutdown().unwrap();
    drop(store);
    let written = index_file();
    assert!(!written.is_empty(), "200 batches cross the index interval");

    let store = open(dir.path(), FlushPolicy::Always, TopicConfig::default());
    let before = store.fdatasync_count();
    store.shutdown().unwrap();
    assert_eq!(
        store.fdatasync_count(),
        before,
        "nothing changed, nothing synced"
    );
    drop(store);
    assert_eq!(index_file(), written);

    let store = open(dir.path(), FlushPolicy::Always, TopicConfig::default());
    append_tagged(&store, 200..400, &mut batches);
    store.shutdown().unwrap();
    drop(store);
    let rewritten = index_file();
    assert!(rewritten.len() > written.len() && rewritten.starts_with(&written));

    let store = open(dir.path(), FlushPolicy::Always, TopicConfig::default());
    assert_reads_back(&store, &batches);
}

/// Bytes the filesystem holds for `path`, reserved blocks included.
fn allocated_bytes(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).unwrap().blocks() * 512
}

/// Appends reserve disk blocks past the active segment's end without
/// moving the file's size (what readers and recovery go by); sealing a
/// segment, recovery after a crash and a clean shutdown give the reserve
/// back, and every batch reads back as written.
#[test]
fn appends_reserve_space_ahead_and_sealing_and_shutdown_give_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let probe = fs::File::create(dir.path().join("probe")).unwrap();
    let keep_size = rustix::fs::FallocateFlags::KEEP_SIZE;
    if rustix::fs::fallocate(&probe, keep_size, 0, 1 << 20).is_err() {
        eprintln!("skipped: this filesystem cannot reserve space past a file's end");
        return;
    }
    let defaults = TopicConfig {
        segment_bytes: 40_000,
        ..TopicConfig::default()
    };
    let store = open(dir.path(), FlushPolicy::Always, defaults.clone());
    store.create_topic("r", 1, no_overrides()).unwrap();
    let mut batches = fill(&store, 600);
    let logs = || partition_files(dir.path(), "log");
    let block = 4096;
    let rolled = logs();
    assert!(rolled.len() >= 2, "600 batches fill more than one segment");
    for sealed in &rolled[..rolled.len() - 1] {
        let len = fs::metadata(sealed).unwrap().len();
        assert!(
            allocated_bytes(sealed) <= len.next_multiple_of(block) + block,
            "a sealed segment keeps no reserve: {} bytes for {len}",
            allocated_bytes(sealed)
        );
    }
    let active = active_segment(dir.path());
    let len = fs::metadata(&active).unwrap().len();
    let logical: u64 = store.topic("r").unwrap().partition(0).unwrap().size_bytes();
    let sealed_bytes: u64 = rolled[..rolled.len() - 1]
        .iter()
        .map(|p| fs::metadata(p).unwrap().len())
        .sum();
    assert_eq!(len, logical - sealed_bytes, "the size is what was written");
    assert!(
        allocated_bytes(&active) > len.next_multiple_of(block) + block,
        "the active segment reserves ahead: {} bytes for {len}",
        allocated_bytes(&active)
    );

    drop(store); // a crash, with blocks reserved past the end
    let store = open(dir.path(), FlushPolicy::Always, defaults);
    assert!(
        allocated_bytes(&active) <= len.next_multiple_of(block) + block,
        "recovery returns the reserve: {} bytes for {len}",
        allocated_bytes(&active)
    );
    append_tagged(&store, 600..650, &mut batches);
    store.shutdown().unwrap();
    drop(store);
    for log in logs() {
        let len = fs::metadata(&log).unwrap().len();
        assert!(
            allocated_bytes(&log) <= len.next_multiple_of(block) + block,
            "nothing stays reserved after a clean shutdown: {} bytes for {len}",
            allocated_bytes(&log)
        );
    }
    let store = open(dir.path(), FlushPolicy::Always, TopicConfig::default());
    assert_reads_back(&store, &batches);
}

#[test]
fn unsynced_rolled_segments_are_checked_too() {
    let defaults = TopicConfig {
        segment_bytes: 400,
        ..TopicConfig::default()
    };
    let (dir, batches) = crashed_with(20, defaults);
    // Point the recovery point at the first segment, then corrupt the second.
    let pdir = dir.path().join("topics/r/0");
    fs::write(pdir.join("recovery-point"), "v1 0 0 0\n").unwrap();
    let logs = partition_files(dir.path(), "log");
    assert!(logs.len() >= 3);
    let second = fs::read(&logs[1]).unwrap();
    let mut damaged = second.clone();
    damaged[70] ^= 1; // inside the first batch's records
    fs::write(&logs[1], &damaged).unwrap();
    let first_len = fs::metadata(&logs[0]).unwrap().len() as usize;
    let kept = batches.iter().scan(0, |acc, b| {
        *acc += b.len();
        Some(*acc)
    });
    let kept = kept.take_while(|&end| end <= first_len).count();
    check_survivors(dir.path(), &batches, kept, "second segment corrupt");
    assert!(
        !logs[2].exists(),
        "segments after a truncated one are removed"
    );
}

/// A full disk after a crash: recovery cannot write index files or the
/// recovery point. Those are shortcuts for the next start, so the
/// partition must still open, serve every record and take appends.
#[test]
fn recovery_opens_even_when_its_small_files_cannot_be_written() {
    let (dir, batches) = crashed_with(12, TopicConfig::default());
    let pdir = dir.path().join("topics/r/0");
    // Directories where the files would go make every write of them fail.
    for name in [
        "00000000000000000000.index",
        "00000000000000000000.timeindex",
        "recovery-point",
    ] {
        let _ = fs::remove_file(pdir.join(name));
        fs::create_dir(pdir.join(name)).unwrap();
    }
    check_survivors(
        dir.path(),
        &batches,
        batches.len(),
        "small files unwritable",
    );
}

/// A crash some time after a clean restart: the index files that shutdown
/// wrote cover the start of the active segment and are adopted, the rest
/// is walked. Whatever state those files are in, every offset must read
/// back its own batch.
#[test]
fn crash_after_a_clean_restart_reads_every_offset_whatever_the_index_files_hold() {
    for damage in ["none", "garbage", "one entry", "empty"] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), FlushPolicy::Always, TopicConfig::default());
        store.create_topic("r", 1, no_overrides()).unwrap();
        let mut batches = fill(&store, 200);
        store.shutdown().unwrap();
        drop(store);
        let store = open(dir.path(), FlushPolicy::Always, TopicConfig::default());
        append_tagged(&store, 1000..1200, &mut batches);
        drop(store); // no shutdown: an unclean stop
        let index = dir.path().join("topics/r/0/00000000000000000000.index");
        let bytes = fs::read(&index).unwrap();
        assert!(bytes.len() >= 16, "the shutdown wrote several entries");
        match damage {
            "garbage" => fs::write(&index, vec![0xa5u8; bytes.len()]).unwrap(),
            "one entry" => fs::write(&index, &bytes[..8]).unwrap(),
            "empty" => fs::write(&index, b"").unwrap(),
            _ => {}
        }
        let store = open(dir.path(), FlushPolicy::Always, TopicConfig::default());
        let p = store.topic("r").unwrap().partition(0).unwrap();
        let mut offset = 0;
        for b in &batches {
            let count = records::BatchHeader::parse(b).unwrap().offset_count();
            for o in offset..offset + count {
                let read = p.read(o, 0).unwrap().to_vec().unwrap();
                assert_eq!(&read[..b.len()], &b[..], "{damage}: offset {o}");
            }
            offset += count;
        }
        assert_eq!(p.offsets().log_end, offset, "{damage}");
    }
}
