//! Append and read: offsets, batch boundaries, limits, rejections, lookups.

mod common;

use common::*;
use log::config::{CleanupPolicy, TimestampType};
use log::{FlushPolicy, LogError, TopicConfig};

fn small_segments() -> TopicConfig {
    TopicConfig {
        segment_bytes: 2000,
        ..TopicConfig::default()
    }
}

#[test]
fn offsets_are_contiguous_across_batches_and_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), FlushPolicy::Never, small_segments());
    let topic = store.create_topic("t", 1, no_overrides()).unwrap();
    let p = topic.partition(0).unwrap();
    let mut expected = 0;
    for i in 0..50 {
        let count = 1 + i % 4;
        let mut payload = batch(i as u64, count, 1000);
        payload.extend(batch(i as u64 + 1000, 2, 1000));
        let info = p.append(&payload, 5).unwrap();
        assert_eq!(info.base_offset, expected);
        assert_eq!(info.last_offset, expected + count as i64 + 1);
        assert_eq!(info.log_append_time_ms, -1);
        expected = info.last_offset + 1;
    }
    assert!(p.segment_count() > 3, "tiny segments must roll");
    let offsets = p.offsets();
    assert_eq!(
        (offsets.log_start, offsets.high_watermark, offsets.log_end),
        (0, expected, expected)
    );
    // Every offset is readable and the first batch returned contains it.
    for offset in 0..expected {
        let read = p.read(offset, 1).unwrap();
        let got = batches_in(&read.to_vec().unwrap());
        assert_eq!(got.len(), 1, "at least one whole batch even over max_bytes");
        let (base, count) = got[0];
        assert!(
            base <= offset && offset < base + count as i64,
            "offset {offset} in {got:?}"
        );
    }
}

/// An append of more batches than one vectored write takes (two slices a
/// batch, at most 1024 a call) is stored whole, byte for byte, with each
/// batch's base offset stamped.
#[test]
fn an_append_of_many_batches_is_stored_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), FlushPolicy::Never, TopicConfig::default());
    let p = single_partition(&store, "t");
    p.append(&batch(1, 3, 1000), 0).unwrap();
    let batches: Vec<Vec<u8>> = (0..700)
        .map(|i| batch(i, 1 + i as usize % 3, 1000))
        .collect();
    let info = p.append(&batches.concat(), 0).unwrap();
    assert_eq!(info.base_offset, 3);
    let mut expected = Vec::new();
    let mut next = info.base_offset;
    for mut b in batches {
        records::stamp_base_offset(&mut b, next);
        next += records::BatchHeader::parse(&b).unwrap().offset_count();
        expected.extend(b);
    }
    assert_eq!(info.last_offset + 1, next);
    let read = p.read(3, 1 << 20).unwrap();
    assert_eq!(read.to_vec().unwrap(), expected);
}

#[test]
fn read_table() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), FlushPolicy::Never, TopicConfig::default());
    let p = single_partition(&store, "t");
    let one = batch(0, 3, 10);
    for i in 0..10 {
        p.append(&batch(i, 3, 10), 0).unwrap();
    }
    let size = one.len();
    // (offset, max_bytes, expected batch bases)
    let cases: &[(i64, usize, &[i64])] = &[
        (0, 0, &[0]),
        (0, size, &[0]),
        (0, size * 2 - 1, &[0]),
        (0, size * 2, &[0, 3]),
        (4, size * 3, &[3, 6, 9]),
        (29, 1 << 20, &[27]),
        (28, 1 << 20, &[27]),
    ];
    for &(offset, max_bytes, want) in cases {
        let read = p.read(offset, max_bytes).unwrap();
        let bases: Vec<i64> = batches_in(&read.to_vec().unwrap())
            .iter()
            .map(|b| b.0)
            .collect();
        assert_eq!(bases, want, "read({offset}, {max_bytes})");
    }
    assert!(
        p.read(30, 100).unwrap().is_empty(),
        "reading at the high watermark is empty"
    );
    assert!(matches!(
        p.read(31, 100),
        Err(LogError::OffsetOutOfRange { requested: 31, .. })
    ));
    assert!(matches!(
        p.read(-1, 100),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn bad_appends_are_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let defaults = TopicConfig {
        max_message_bytes: 500,
        ..TopicConfig::default()
    };
    let store = open(dir.path(), FlushPolicy::Never, defaults);
    let p = single_partition(&store, "t");
    let good = batch(1, 2, 0);
    let mut corrupt = good.clone();
    *corrupt.last_mut().unwrap() ^= 1;
    let mut good_then_bad = good.clone();
    good_then_bad.extend(&corrupt);
    assert!(matches!(
        p.append(&good_then_bad, 0),
        Err(LogError::CorruptBatch(_))
    ));
    assert!(matches!(
        p.append(&good[..good.len() - 1], 0),
        Err(LogError::CorruptBatch(_))
    ));
    assert!(matches!(p.append(&[], 0), Err(LogError::CorruptBatch(_))));
    let big = batch(2, 40, 0);
    assert!(matches!(
        p.append(&big, 0),
        Err(LogError::MessageTooLarge { .. })
    ));
    assert_eq!(
        p.offsets().log_end,
        0,
        "nothing from a refused append is stored"
    );
    assert_eq!(p.append(&good, 0).unwrap().base_offset, 0);
}

#[test]
fn log_append_time_is_stamped() {
    let dir = tempfile::tempdir().unwrap();
    let defaults = TopicConfig {
        message_timestamp_type: TimestampType::LogAppendTime,
        ..TopicConfig::default()
    };
    let store = open(dir.path(), FlushPolicy::Never, defaults);
    let p = single_partition(&store, "t");
    let info = p.append(&batch(1, 3, 5), 777).unwrap();
    assert_eq!(info.log_append_time_ms, 777);
    let read = p.read(0, 1000).unwrap();
    let header = records::validate_batch(&read.to_vec().unwrap()).unwrap();
    assert!(header.is_log_append_time());
    assert_eq!(header.max_timestamp, 777);
}

#[test]
fn compacted_topics_need_keys() {
    let dir = tempfile::tempdir().unwrap();
    let defaults = TopicConfig {
        cleanup_policy: CleanupPolicy::Compact,
        ..TopicConfig::default()
    };
    let store = open(dir.path(), FlushPolicy::Never, defaults);
    let p = single_partition(&store, "t");
    p.append(&batch(1, 2, 0), 0).unwrap();
    let keyless = records::BatchBuilder::new(vec![
        records::NewRecord::new(Some(b"a"), b"v", 0),
        records::NewRecord::new(None, b"v", 0),
    ])
    .build()
    .unwrap();
    let mut payload = batch(2, 1, 0);
    payload.extend(keyless);
    match p.append(&payload, 0) {
        Err(LogError::InvalidRecord { record_errors, .. }) => assert_eq!(record_errors[0].0, 2),
        other => panic!("expected InvalidRecord, got {other:?}"),
    }
}

#[test]
fn timestamp_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), FlushPolicy::Never, small_segments());
    let p = single_partition(&store, "t");
    assert_eq!(p.offset_for_timestamp(0).unwrap(), None);
    assert_eq!(p.max_timestamp().unwrap(), None);
    // Batch i holds records with timestamps 100*i, 100*i+1, 100*i+2 at offsets 3i..3i+2.
    for i in 0..40 {
        p.append(&batch(i, 3, 100 * i as i64), 0).unwrap();
    }
    let cases = [
        (-5, 0, 0),
        (0, 0, 0),
        (1, 1, 1),
        (3, 3, 100),
        (150, 6, 200),
        (3902, 119, 3902),
    ];
    for (target, offset, timestamp_ms) in cases {
        let got = p.offset_for_timestamp(target).unwrap().unwrap();
        assert_eq!(
            (got.offset, got.timestamp_ms),
            (offset, timestamp_ms),
            "target {target}"
        );
    }
    assert_eq!(p.offset_for_timestamp(3903).unwrap(), None);
    let max = p.max_timestamp().unwrap().unwrap();
    assert_eq!((max.offset, max.timestamp_ms), (119, 3902));
}

#[test]
fn every_codec_is_stored_as_is() {
    use records::Compression::*;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), FlushPolicy::Never, TopicConfig::default());
    let p = single_partition(&store, "t");
    let mut sent = Vec::new();
    for (i, codec) in [None, Gzip, Snappy, Lz4, Zstd].into_iter().enumerate() {
        let b = batch_with(i as u64, 5, 0, codec);
        p.append(&b, 0).unwrap();
        sent.push(b);
    }
    let read = p.read(0, 1 << 20).unwrap();
    let mut expected = Vec::new();
    for (i, mut b) in sent.into_iter().enumerate() {
        records::stamp_base_offset(&mut b, 5 * i as i64);
        expected.extend(b);
    }
    assert_eq!(read.to_vec().unwrap(), expected);
}
