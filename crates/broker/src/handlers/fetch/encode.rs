//! Encodes a Fetch response as a [`Frame`] whose records are ranges of
//! segment files, so they reach the socket by `sendfile` instead of being
//! copied into the response.
//!
//! `kafka-protocol` encodes everything but the records themselves: each
//! partition is encoded with empty records and its tail — the empty records
//! field and the partition's empty tagged-field section — is replaced by the
//! real length and the file range. Records are the last regular field of a
//! partition in every version, so that tail is all that follows them. The
//! levels above partitions (response and topic fields, array counts) are
//! written here. The tests compare the result byte for byte with
//! `kafka-protocol`'s own encoding of the same response for every version.

use crate::frame::{Frame, FrameBuilder};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{FetchResponse, ResponseHeader};
use kafka_protocol::protocol::{Encodable, HeaderVersion};
use log::FileRange;

/// The first flexible (compact, tagged-field) version of Fetch.
const FLEXIBLE_SINCE: i16 = 12;
/// Fetch v13 names topics by id.
const TOPIC_IDS_SINCE: i16 = 13;

/// `response`'s partitions must carry `Some(empty)` records; `records[t][p]`
/// is what goes in the records field of `response.responses[t].partitions[p]`.
pub(crate) fn encode(
    version: i16,
    correlation_id: i32,
    response: &FetchResponse,
    records: Vec<Vec<Option<FileRange>>>,
) -> anyhow::Result<Frame> {
    let flexible = version >= FLEXIBLE_SINCE;
    anyhow::ensure!(
        response.unknown_tagged_fields.is_empty() && response.node_endpoints.is_empty(),
        "top-level tagged fields are not encoded here"
    );
    anyhow::ensure!(
        records.len() == response.responses.len(),
        "records do not match the response's topics"
    );
    let mut frame = FrameBuilder::new();
    let out = frame.bytes();
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(out, FetchResponse::header_version(version))?;
    out.put_i32(response.throttle_time_ms);
    if version >= 7 {
        out.put_i16(response.error_code);
        out.put_i32(response.session_id);
    }
    put_count(out, flexible, response.responses.len())?;
    for (topic, ranges) in response.responses.iter().zip(records) {
        anyhow::ensure!(
            topic.unknown_tagged_fields.is_empty() && ranges.len() == topic.partitions.len(),
            "records do not match the partitions of a topic"
        );
        let out = frame.bytes();
        if version >= TOPIC_IDS_SINCE {
            out.put_slice(topic.topic_id.as_bytes());
        } else {
            put_string(out, flexible, &topic.topic.0)?;
        }
        put_count(out, flexible, topic.partitions.len())?;
        for (partition, range) in topic.partitions.iter().zip(ranges) {
            put_partition(&mut frame, version, partition, range)?;
        }
        if flexible {
            frame.bytes().put_u8(0); // no tagged fields
        }
    }
    if flexible {
        frame.bytes().put_u8(0); // no tagged fields
    }
    frame.finish().map_err(anyhow::Error::msg)
}

fn put_partition(
    frame: &mut FrameBuilder,
    version: i16,
    partition: &PartitionData,
    range: Option<FileRange>,
) -> anyhow::Result<()> {
    let flexible = version >= FLEXIBLE_SINCE;
    // With empty records and no tagged fields, the encoding ends with the
    // empty records field: an i32 0, or in flexible versions a compact
    // length 0 (varint 1) and an empty tagged-field section (varint 0).
    let tail: &[u8] = if flexible { &[1, 0] } else { &[0, 0, 0, 0] };
    anyhow::ensure!(
        partition.records.as_ref().is_some_and(Bytes::is_empty),
        "partition records must be empty placeholders"
    );
    let out = frame.bytes();
    let start = out.len();
    partition.encode(out, version)?;
    anyhow::ensure!(
        out[start..].ends_with(tail),
        "partition encoding does not end with empty records"
    );
    out.truncate(out.len() - tail.len());
    let len = range.as_ref().map_or(0, |r| r.len);
    let len_field = u32::try_from(len)
        .ok()
        .filter(|&n| n < i32::MAX as u32)
        .ok_or_else(|| anyhow::anyhow!("records of {len} bytes do not fit a response"))?;
    if flexible {
        put_uvarint(out, len_field + 1);
    } else {
        out.put_i32(len_field as i32);
    }
    if let Some(range) = range {
        frame.file(range)?;
    }
    if flexible {
        frame.bytes().put_u8(0); // the partition's empty tagged fields
    }
    Ok(())
}

/// An array count: i32, or an unsigned varint of count + 1 when flexible.
fn put_count(out: &mut BytesMut, flexible: bool, count: usize) -> anyhow::Result<()> {
    let count = i32::try_from(count)?;
    if flexible {
        put_uvarint(out, count as u32 + 1);
    } else {
        out.put_i32(count);
    }
    Ok(())
}

/// A non-null string: i16 length, or an unsigned varint of length + 1 when
/// flexible; then its UTF-8 bytes.
fn put_string(out: &mut BytesMut, flexible: bool, s: &str) -> anyhow::Result<()> {
    let len = i16::try_from(s.len())?;
    if flexible {
        put_uvarint(out, len as u32 + 1);
    } else {
        out.put_i16(len);
    }
    out.put_slice(s.as_bytes());
    Ok(())
}

/// Kafka's unsigned varint: 7 bits a byte, low bits first.
fn put_uvarint(out: &mut BytesMut, mut n: u32) {
    while n >= 0x80 {
        out.put_u8((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.put_u8(n as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::encode_frame;
    use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse};
    use kafka_protocol::messages::{ApiKey, BrokerId, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use std::io::Write;
    use std::sync::Arc;

    /// A file holding `bytes`, and ranges of it.
    struct Stored {
        file: Arc<std::fs::File>,
        bytes: Vec<u8>,
    }

    impl Stored {
        fn new(len: usize) -> Stored {
            let mut file = tempfile::tempfile().unwrap();
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
            file.write_all(&bytes).unwrap();
            Stored {
                file: Arc::new(file),
                bytes,
            }
        }

        fn range(&self, position: usize, len: usize) -> (FileRange, Bytes) {
            let range = FileRange {
                file: self.file.clone(),
                position: position as u64,
                len: len as u64,
            };
            let bytes = Bytes::copy_from_slice(&self.bytes[position..position + len]);
            (range, bytes)
        }
    }

    fn partition(index: i32, aborted: Option<Vec<AbortedTransaction>>) -> PartitionData {
        PartitionData::default()
            .with_partition_index(index)
            .with_error_code(if index == 2 { 1 } else { 0 })
            .with_high_watermark(1000 + i64::from(index))
            .with_last_stable_offset(900)
            .with_log_start_offset(7)
            .with_aborted_transactions(aborted)
            .with_preferred_read_replica(BrokerId(-1))
            .with_records(Some(Bytes::new()))
    }

    /// Two topics: one with a large range (sent from the file), a small one
    /// (copied) and an empty one; one with a single partition.
    fn sample(
        stored: &Stored,
        version: i16,
    ) -> (FetchResponse, FetchResponse, Vec<Vec<Option<FileRange>>>) {
        let aborted = Some(vec![AbortedTransaction::default()
            .with_producer_id(kafka_protocol::messages::ProducerId(42))
            .with_first_offset(3)]);
        let (big, big_bytes) = stored.range(100, 70_000);
        let (small, small_bytes) = stored.range(5, 90);
        let topics = [
            (
                "orders",
                vec![
                    (partition(0, aborted.clone()), Some((big, big_bytes))),
                    (partition(1, Some(Vec::new())), Some((small, small_bytes))),
                    (partition(2, None), None),
                ],
            ),
            ("payments", vec![(partition(5, None), None)]),
        ];
        let mut placeholders = FetchResponse::default().with_throttle_time_ms(3);
        let mut full = placeholders.clone();
        let mut ranges = Vec::new();
        for (i, (name, partitions)) in topics.into_iter().enumerate() {
            let topic = FetchableTopicResponse::default();
            let topic = if version >= TOPIC_IDS_SINCE {
                topic.with_topic_id(uuid::Uuid::from_u128(0xfeed + i as u128))
            } else {
                topic.with_topic(TopicName(StrBytes::from_static_str(name)))
            };
            let mut with_placeholders = topic.clone();
            let mut with_records = topic;
            let mut topic_ranges = Vec::new();
            for (data, range) in partitions {
                let records = range.as_ref().map_or_else(Bytes::new, |(_, b)| b.clone());
                with_records
                    .partitions
                    .push(data.clone().with_records(Some(records)));
                with_placeholders.partitions.push(data);
                topic_ranges.push(range.map(|(r, _)| r));
            }
            placeholders.responses.push(with_placeholders);
            full.responses.push(with_records);
            ranges.push(topic_ranges);
        }
        (placeholders, full, ranges)
    }

    #[test]
    fn matches_kafka_protocol_byte_for_byte_in_every_version() {
        let stored = Stored::new(80_000);
        for version in 4..=17 {
            let (placeholders, full, ranges) = sample(&stored, version);
            let frame = encode(version, 77, &placeholders, ranges).unwrap();
            let expected = encode_frame(ApiKey::Fetch, version, 77, &full).unwrap();
            assert_eq!(
                frame.to_vec().unwrap(),
                expected.to_vec(),
                "Fetch v{version}"
            );
        }
    }

    #[test]
    fn refuses_real_records_in_place_of_placeholders() {
        let (_, full, ranges) = sample(&Stored::new(80_000), 12);
        assert!(encode(12, 1, &full, ranges).is_err());
    }
}
