//! Group commit under `FlushPolicy::Always`: concurrent appends across
//! partitions share fdatasyncs, wait_durable resolves, and the high
//! watermark only covers synced data.

mod common;

use common::*;
use log::{FlushPolicy, TopicConfig};
use std::sync::Arc;

#[test]
fn concurrent_appends_share_fdatasyncs() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), FlushPolicy::Always, TopicConfig::default());
    let topic = store.create_topic("g", 4, no_overrides()).unwrap();
    let syncs_before = store.fdatasync_count();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    const WRITERS: usize = 16;
    const APPENDS_EACH: usize = 25;
    let mut handles = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        let partition = topic.partition((w % 4) as i32).unwrap();
        handles.push(runtime.spawn(async move {
            for i in 0..APPENDS_EACH {
                let info = partition
                    .append(&batch((w * 1000 + i) as u64, 2, 0), 0)
                    .unwrap();
                assert!(info.ticket != Default::default(), "Always gives a ticket");
                store.wait_durable(info.ticket).await.unwrap();
                let hw = partition.offsets().high_watermark;
                assert!(
                    hw > info.last_offset,
                    "acknowledged data is below the high watermark"
                );
            }
        }));
    }
    runtime.block_on(async {
        for h in handles {
            h.await.unwrap();
        }
    });
    let appends = (WRITERS * APPENDS_EACH) as u64;
    let syncs = store.fdatasync_count() - syncs_before;
    assert!(syncs > 0);
    assert!(
        syncs < appends,
        "{syncs} fdatasyncs for {appends} appends: no group commit"
    );
    for p in topic.partitions() {
        let offsets = p.offsets();
        assert_eq!(offsets.high_watermark, offsets.log_end);
        assert_eq!(offsets.log_end, (WRITERS / 4 * APPENDS_EACH * 2) as i64);
    }
}

/// A flush cycle with many dirty partitions syncs each one's own file and
/// nothing else: no syncfs, which would also wait for every other
/// program's dirty data on the filesystem (a syncfs counts as one sync, so
/// 32 dirty partitions synced by it would count 1).
#[test]
fn a_cycle_syncs_each_dirty_file_and_not_the_filesystem() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), FlushPolicy::Always, TopicConfig::default());
    const PARTITIONS: u32 = 32;
    let topic = store
        .create_topic("wide", PARTITIONS, no_overrides())
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for round in 0..3u64 {
        let syncs_before = store.fdatasync_count();
        let tickets: Vec<_> = topic
            .partitions()
            .iter()
            .map(|p| p.append(&batch(round, 2, 0), 0).unwrap().ticket)
            .collect();
        runtime.block_on(async {
            for ticket in tickets {
                store.wait_durable(ticket).await.unwrap();
            }
        });
        // Each partition's active segment, once: one append each, and every
        // append waited for before the next round.
        let syncs = store.fdatasync_count() - syncs_before;
        assert_eq!(
            syncs,
            u64::from(PARTITIONS),
            "round {round}: {syncs} syncs for {PARTITIONS} dirty partitions"
        );
        for p in topic.partitions() {
            let offsets = p.offsets();
            assert_eq!(offsets.high_watermark, offsets.log_end);
            assert_eq!(offsets.log_end, 2 * (round as i64 + 1));
        }
    }
}

/// Partitions opened or closed together sync what they wrote together: a
/// new topic, added partitions, a restart after a crash (every partition's
/// tail recovered, its index files rewritten) and a clean shutdown each
/// cost a few syncs, not several per partition; and what was recovered is
/// all readable and durable.
#[test]
fn partitions_opened_together_are_synced_together() {
    let dir = tempfile::tempdir().unwrap();
    const PARTITIONS: u32 = 32;
    let few = |syncs: u64, what: &str| {
        assert!(
            syncs < u64::from(PARTITIONS),
            "{what}: {syncs} syncs for {PARTITIONS} partitions"
        );
    };
    let store = open(dir.path(), FlushPolicy::Always, TopicConfig::default());
    let syncs_before = store.fdatasync_count();
    let topic = store
        .create_topic("wide", PARTITIONS, no_overrides())
        .unwrap();
    few(store.fdatasync_count() - syncs_before, "create");
    let syncs_before = store.fdatasync_count();
    store.add_partitions("wide", 2 * PARTITIONS).unwrap();
    few(store.fdatasync_count() - syncs_before, "add partitions");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let tickets: Vec<_> = topic
        .partitions()
        .iter()
        .map(|p| p.append(&batch(7, 3, 0), 0).unwrap().ticket)
        .collect();
    runtime.block_on(async {
        for ticket in tickets {
            store.wait_durable(ticket).await.unwrap();
        }
    });
    drop(topic);
    drop(store); // no shutdown: an unclean stop

    let store = open(dir.path(), FlushPolicy::Always, TopicConfig::default());
    few(store.fdatasync_count(), "recovery");
    let topic = store.topic("wide").unwrap();
    assert_eq!(topic.partitions().len(), 2 * PARTITIONS as usize);
    for p in topic.partitions() {
        assert!(!p.has_unsynced(), "partition {} left unsynced", p.id());
        let offsets = p.offsets();
        assert_eq!(offsets.log_end, 3);
        assert_eq!(offsets.high_watermark, 3);
    }

    // A clean shutdown writes every partition's index files and syncs them
    // together too; the next start trusts them and syncs nothing.
    let syncs_before = store.fdatasync_count();
    store.shutdown().unwrap();
    few(store.fdatasync_count() - syncs_before, "shutdown");
    drop(topic);
    drop(store);
    let store = open(dir.path(), FlushPolicy::Always, TopicConfig::default());
    assert_eq!(store.fdatasync_count(), 0, "a clean start syncs nothing");
    for p in store.topic("wide").unwrap().partitions() {
        assert_eq!(p.offsets().log_end, 3);
        assert_eq!(
            p.read(1, 1 << 20).unwrap().len() as usize,
            batch(7, 3, 0).len()
        );
    }
}

#[test]
fn high_watermark_watch_wakes_on_durable_append() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), FlushPolicy::Always, TopicConfig::default());
    let p = single_partition(&store, "g");
    let mut watch = p.watch_high_watermark();
    assert_eq!(*watch.borrow_and_update(), 0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let appender = Arc::clone(&p);
    let info = appender.append(&batch(1, 3, 0), 0).unwrap();
    runtime.block_on(async {
        store.wait_durable(info.ticket).await.unwrap();
        watch.wait_for(|&hw| hw == 3).await.unwrap();
    });
}

#[test]
fn never_and_interval_hand_out_no_ticket() {
    for policy in [FlushPolicy::Never, FlushPolicy::IntervalMs(5)] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), policy, TopicConfig::default());
        let p = single_partition(&store, "g");
        let info = p.append(&batch(1, 1, 0), 0).unwrap();
        assert_eq!(info.ticket, Default::default());
        assert_eq!(
            p.offsets().high_watermark,
            1,
            "high watermark is the log end"
        );
    }
}

#[test]
fn tickets_after_shutdown_fail_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), FlushPolicy::Always, TopicConfig::default());
    let p = single_partition(&store, "g");
    store.shutdown().unwrap();
    let info = p.append(&batch(1, 1, 0), 0).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert!(runtime.block_on(store.wait_durable(info.ticket)).is_err());
}

/// With a page-cache window, synced data behind it is dropped from the page
/// cache after a cycle, except what a recent reader has yet to read: a
/// consumer a little behind the window must not have its next records
/// dropped, or it reads them all from disk and never catches up.
#[test]
fn a_reader_behind_the_page_cache_window_keeps_its_records_cached() {
    let dir = tempfile::tempdir().unwrap();
    let store = windowed_store(dir.path(), FlushPolicy::Always);
    let topic = store.create_topic("w", 2, no_overrides()).unwrap();
    let (held, free) = (topic.partition(0).unwrap(), topic.partition(1).unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mib_batch = mib_batch();
    let append = |partition: &log::Partition, bytes: &[u8]| {
        let info = partition.append(bytes, 0).unwrap();
        runtime.block_on(store.wait_durable(info.ticket)).unwrap();
    };
    // 20 MiB: within the 32 MiB (16 windows) a reader may hold.
    for _ in 0..20 {
        append(&held, &mib_batch);
        append(&free, &mib_batch);
        // A consumer still at the start: every read notes where it began.
        held.read(0, 1).unwrap();
    }
    // A later cycle: the last one's aftercare (the drops) has run.
    append(&held, &batch(1, 1, 0));
    append(&free, &batch(2, 1, 0));

    let resident = |partition: i32| {
        resident_bytes(
            &dir.path()
                .join(format!("topics/w/{partition}/00000000000000000000.log")),
        )
    };
    let (Some(held), Some(free)) = (resident(0), resident(1)) else {
        eprintln!("fincore (util-linux) is not available: nothing to compare");
        return;
    };
    let mib = MIB as u64;
    if free > 12 * mib {
        eprintln!("the kernel kept {free} bytes the window advised it to drop (tmpfs?): nothing to compare");
        return;
    }
    assert!(
        held >= 19 * mib,
        "records a recent reader has yet to read were dropped from the page cache: {held} bytes of 20 MiB left (unheld: {free})"
    );
}

/// Under `flush=never` nothing is synced for the flush cycles to drop, so
/// the flusher's window passes drop what lies behind the window instead:
/// the page cache stays near the window rather than growing with the log.
#[test]
fn without_syncs_the_page_cache_window_still_drops_what_lies_behind_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = windowed_store(dir.path(), FlushPolicy::Never);
    let partition = single_partition(&store, "n");
    let mib_batch = mib_batch();
    for _ in 0..24 {
        partition.append(&mib_batch, 0).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Two passes after the last append: the first starts the writeback,
    // the second drops the pages it wrote.
    std::thread::sleep(std::time::Duration::from_millis(400));
    let path = dir.path().join("topics/n/0/00000000000000000000.log");
    let Some(resident) = resident_bytes(&path) else {
        eprintln!("fincore (util-linux) is not available: nothing to measure");
        return;
    };
    assert!(
        resident <= 12 * MIB as u64,
        "{resident} bytes of a 24 MiB log left cached behind a 2 MiB window"
    );
}

/// How much of `path` is in the page cache, from util-linux's fincore
/// (mincore(2), which neither loads pages nor starts read-ahead as a read
/// or a RWF_NOWAIT probe can); `None` without fincore.
fn resident_bytes(path: &std::path::Path) -> Option<u64> {
    let output = std::process::Command::new("fincore")
        .args(["--bytes", "--noheadings", "--output", "RES"])
        .arg(path)
        .output()
        .ok()?;
    String::from_utf8(output.stdout).ok()?.trim().parse().ok()
}

const MIB: usize = 1 << 20;

/// A store with a 2 MiB page-cache window.
fn windowed_store(dir: &std::path::Path, flush: FlushPolicy) -> Arc<log::Store> {
    let mut options = options(dir, flush, TopicConfig::default());
    options.page_cache_window_bytes = Some(2 * MIB as u64);
    log::Store::open(options).unwrap()
}

/// One batch of about 1 MiB: 1,024 records of 1,000 bytes.
fn mib_batch() -> Vec<u8> {
    let value = vec![7u8; 1000];
    records::BatchBuilder::new(
        (0..MIB / 1024)
            .map(|i| records::NewRecord::new(None, &value, i as i64))
            .collect(),
    )
    .build()
    .unwrap()
}
