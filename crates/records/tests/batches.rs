//! Round trips through the builder and validator, every rejection path, and
//! truncation at every byte of a batch.

use records::*;

fn sample_records(n: usize) -> Vec<NewRecord> {
    (0..n)
        .map(|i| NewRecord {
            key: if i % 3 == 0 {
                None
            } else {
                Some(format!("key-{i}").into_bytes())
            },
            value: if i % 5 == 4 {
                None
            } else {
                Some(format!("value-{i}-{}", "x".repeat(i)).into_bytes())
            },
            headers: vec![(b"h".to_vec(), Some(vec![i as u8])), (b"n".to_vec(), None)],
            timestamp_ms: 1_700_000_000_000 + (i as i64 * 7) % 13,
        })
        .collect()
}

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

#[test]
fn every_codec_round_trips() {
    let input = sample_records(20);
    for codec in CODECS {
        let mut builder = BatchBuilder::new(input.clone()).compression(codec);
        builder.base_offset = 100;
        let batch = builder.build().unwrap();
        let header = validate_batch(&batch).unwrap();
        assert_eq!(header.compression().unwrap(), codec);
        assert_eq!(header.records_count, 20);
        assert_eq!(header.last_offset(), 119);
        assert_eq!(header.total_size(), batch.len());
        assert_eq!(
            header.max_timestamp,
            input.iter().map(|r| r.timestamp_ms).max().unwrap()
        );
        let records = Records::new(&batch).unwrap();
        let decoded: Vec<Record> = records.iter().collect::<Result<_, _>>().unwrap();
        assert_eq!(decoded.len(), input.len(), "{codec:?}");
        for (i, (got, want)) in decoded.iter().zip(&input).enumerate() {
            assert_eq!(got.offset, 100 + i as i64);
            assert_eq!(got.timestamp_ms, want.timestamp_ms);
            assert_eq!(got.key, want.key.as_deref());
            assert_eq!(got.value, want.value.as_deref());
            assert_eq!(got.headers.len(), 2);
            assert_eq!(got.headers[0].value, Some(&[i as u8][..]));
            assert_eq!(got.headers[1].value, None);
        }
    }
}

fn one_batch() -> Vec<u8> {
    BatchBuilder::new(sample_records(3)).build().unwrap()
}

/// (case name, how to damage the batch, which error is expected)
type DamageCase = (
    &'static str,
    Box<dyn Fn(&mut Vec<u8>)>,
    fn(&RecordsError) -> bool,
);

#[test]
fn rejections_are_named() {
    let good = one_batch();
    let cases: Vec<DamageCase> = vec![
        ("bad crc", Box::new(|b| *b.last_mut().unwrap() ^= 1), |e| {
            matches!(e, RecordsError::BadCrc { .. })
        }),
        ("bad magic", Box::new(|b| b[16] = 1), |e| {
            matches!(e, RecordsError::BadMagic(1))
        }),
        (
            "short length",
            Box::new(|b| b[8..12].copy_from_slice(&10i32.to_be_bytes())),
            |e| matches!(e, RecordsError::BadLength(10)),
        ),
        (
            "long length",
            Box::new(|b| b[8..12].copy_from_slice(&i32::MAX.to_be_bytes())),
            |e| e.is_truncated(),
        ),
        (
            "negative length",
            Box::new(|b| b[8..12].copy_from_slice(&(-5i32).to_be_bytes())),
            |e| matches!(e, RecordsError::BadLength(-5)),
        ),
    ];
    for (name, mutate, expect) in cases {
        let mut batch = good.clone();
        mutate(&mut batch);
        let err = validate_batch(&batch).unwrap_err();
        assert!(expect(&err), "{name}: got {err}");
    }
}

/// Rewrites a header field and fixes the CRC so only the semantic check fails.
fn patch_and_recrc(batch: &mut [u8], at: usize, bytes: &[u8]) {
    batch[at..at + bytes.len()].copy_from_slice(bytes);
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

#[test]
fn count_mismatch_and_unknown_codec() {
    let mut batch = one_batch();
    patch_and_recrc(&mut batch, 57, &7i32.to_be_bytes());
    assert!(matches!(
        validate_batch(&batch),
        Err(RecordsError::CountMismatch {
            records_count: 7,
            ..
        })
    ));
    let mut batch = one_batch();
    patch_and_recrc(&mut batch, 21, &5i16.to_be_bytes());
    assert_eq!(validate_batch(&batch), Err(RecordsError::UnknownCodec(5)));
}

#[test]
fn truncation_at_every_byte_errors() {
    for codec in CODECS {
        let batch = BatchBuilder::new(sample_records(4))
            .compression(codec)
            .build()
            .unwrap();
        for cut in 0..batch.len() {
            let err = validate_batch(&batch[..cut]).unwrap_err();
            assert!(err.is_truncated(), "cut {cut}: {err}");
            let mut it = BatchIter::new(&batch[..cut]);
            if cut > 0 {
                assert!(it.next().unwrap().is_err());
            }
            assert!(it.next().is_none());
        }
    }
}

#[test]
fn garbage_never_panics() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let good = BatchBuilder::new(sample_records(5))
        .compression(Compression::Gzip)
        .build()
        .unwrap();
    for _ in 0..3000 {
        let mut batch = good.clone();
        for _ in 0..rng.gen_range(1..4) {
            let i = rng.gen_range(0..batch.len());
            batch[i] = rng.gen();
        }
        // Fix the CRC half the time so record parsing gets exercised too.
        if rng.gen_bool(0.5) {
            let crc = crc32c::crc32c(&batch[21..]);
            batch[17..21].copy_from_slice(&crc.to_be_bytes());
        }
        if let Ok(records) = Records::new(&batch) {
            for r in records.iter() {
                let _ = r;
            }
        }
    }
}

#[test]
fn iterates_concatenated_batches_and_stops_on_error() {
    let mut bytes = Vec::new();
    for i in 0..3 {
        let mut b = BatchBuilder::new(sample_records(i + 1));
        b.base_offset = i as i64 * 10;
        bytes.extend(b.build().unwrap());
    }
    let headers: Vec<_> = BatchIter::new(&bytes)
        .map(|r| r.unwrap().0.base_offset)
        .collect();
    assert_eq!(headers, vec![0, 10, 20]);
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    let results: Vec<_> = BatchIter::new(&bytes).collect();
    assert_eq!(results.len(), 3);
    assert!(matches!(results[2], Err(RecordsError::BadCrc { .. })));
}

#[test]
fn stamping_keeps_batch_valid() {
    let mut batch = one_batch();
    stamp_base_offset(&mut batch, 12345);
    let header = validate_batch(&batch).unwrap();
    assert_eq!(header.base_offset, 12345);
    set_log_append_time(&mut batch, 99).unwrap();
    let header = validate_batch(&batch).unwrap();
    assert!(header.is_log_append_time());
    assert_eq!(header.max_timestamp, 99);
    let records = Records::new(&batch).unwrap();
    assert!(records.iter().all(|r| r.unwrap().timestamp_ms == 99));
}
