//! Fetch (key 1): stored batches, byte for byte, up to the high watermark,
//! with a long poll that wakes when any requested partition's high watermark
//! moves (no sleep loop).
//!
//! Fetch sessions (KIP-227) are answered sessionlessly: every response says
//! session id 0, which tells clients to keep sending full requests; a request
//! naming a session we never created gets FETCH_SESSION_ID_NOT_FOUND.
//! Byte limits follow KIP-74: the first partition with data returns at least
//! one whole batch even past `max_bytes`; later ones stop at the limit. The
//! limit is the request's `max_bytes` or the broker's `fetch_max_bytes`,
//! whichever is lower. When it leaves some partitions without data, which
//! ones get it first rotates from one fetch to the next: without sessions
//! there is no record of who was served last, and a client that lists its
//! partitions in the same order every time would otherwise see the first
//! busy one take the whole budget, every time.
//!
//! Records are not read here: each partition answers with a range of a
//! segment file, which `encode` sends to the socket by `sendfile`.

pub(crate) mod encode;

use crate::{errors, Broker};
use bytes::Bytes;
use futures_util::future::select_all;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse};
use kafka_protocol::ResponseError;
use log::{FileRange, LogError, Partition, PartitionOffsets};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Longest a fetch may wait for data, whatever the client asks.
const MAX_WAIT_MS_LIMIT: i32 = 300_000;
/// Fetch v13 started naming topics by id instead of name.
const TOPIC_IDS_SINCE_VERSION: i16 = 13;
const READ_COMMITTED: i8 = 1;

/// One requested partition, resolved once per request.
struct Wanted {
    topic: usize,
    index: i32,
    partition: Result<Arc<Partition>, ResponseError>,
    fetch_offset: i64,
    max_bytes: usize,
}

/// The response, with empty placeholder records, and what goes in each
/// partition's records field (`records[t][p]` for `responses[t].partitions[p]`).
pub(crate) struct FetchAnswer {
    pub response: FetchResponse,
    pub records: Vec<Vec<Option<FileRange>>>,
}

pub(crate) async fn handle(broker: &Broker, version: i16, request: FetchRequest) -> FetchAnswer {
    if request.session_id != 0 {
        return FetchAnswer {
            response: FetchResponse::default()
                .with_error_code(ResponseError::FetchSessionIdNotFound.code()),
            records: Vec::new(),
        };
    }
    let wanted = resolve(broker, version, &request.topics);
    let mut watches: Vec<watch::Receiver<i64>> = wanted
        .iter()
        .filter_map(|w| w.partition.as_ref().ok())
        .map(|p| p.watch_high_watermark())
        .collect();
    for watch in &mut watches {
        watch.mark_unchanged();
    }
    let wait_ms = request.max_wait_ms.clamp(0, MAX_WAIT_MS_LIMIT);
    let deadline = Instant::now() + Duration::from_millis(wait_ms as u64);
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
    let max_bytes = usize::try_from(request.max_bytes)
        .unwrap_or(0)
        .min(broker.config.limits.fetch_max_bytes);
    let committed = request.isolation_level == READ_COMMITTED;
    let rotation = broker.fetches.fetch_add(1, Ordering::Relaxed);
    loop {
        let (partitions, bytes_total, failed) = read_all(&wanted, max_bytes, rotation, committed);
        let done =
            bytes_total >= min_bytes || failed || watches.is_empty() || Instant::now() >= deadline;
        if done || !wait_for_append(&mut watches, deadline).await {
            return group_by_topic(version, &request.topics, partitions);
        }
    }
}

fn resolve(broker: &Broker, version: i16, topics: &[FetchTopic]) -> Vec<Wanted> {
    let mut wanted = Vec::new();
    for (topic_index, requested) in topics.iter().enumerate() {
        let (topic, missing) = if version >= TOPIC_IDS_SINCE_VERSION {
            (
                broker.store.topic_by_id(requested.topic_id),
                ResponseError::UnknownTopicId,
            )
        } else {
            (
                broker.store.topic(&requested.topic.0),
                ResponseError::UnknownTopicOrPartition,
            )
        };
        for p in &requested.partitions {
            let partition = match &topic {
                None => Err(missing),
                Some(topic) => topic
                    .partition(p.partition)
                    .ok_or(ResponseError::UnknownTopicOrPartition),
            };
            wanted.push(wanted_partition(topic_index, p, partition));
        }
    }
    wanted
}

fn wanted_partition(
    topic: usize,
    p: &FetchPartition,
    partition: Result<Arc<Partition>, ResponseError>,
) -> Wanted {
    Wanted {
        topic,
        index: p.partition,
        partition,
        fetch_offset: p.fetch_offset,
        max_bytes: usize::try_from(p.partition_max_bytes).unwrap_or(0),
    }
}

/// One partition's answer: its topic's position in the request, the
/// response fields, and its records.
type Answered = (usize, PartitionData, Option<FileRange>);

/// Reads every wanted partition within the byte budget, which goes to them
/// in request order starting at partition `rotation` (modulo their number) and
/// wrapping around. Returns the partition answers in request order, the
/// record bytes gathered, and whether any partition failed (which ends the
/// long poll, as in Kafka).
fn read_all(
    wanted: &[Wanted],
    max_bytes: usize,
    rotation: usize,
    committed: bool,
) -> (Vec<Answered>, usize, bool) {
    let mut remaining = max_bytes;
    let mut bytes_total = 0;
    let mut failed = false;
    let mut out: Vec<Option<Answered>> = wanted.iter().map(|_| None).collect();
    let start = rotation.checked_rem(wanted.len()).unwrap_or(0);
    let order = (start..wanted.len()).chain(0..start);
    for (i, w) in order.map(|i| (i, &wanted[i])) {
        let data = PartitionData::default()
            .with_partition_index(w.index)
            .with_preferred_read_replica(BrokerId(-1))
            .with_aborted_transactions(committed.then(Vec::new))
            .with_records(Some(Bytes::new()));
        let (data, records) = match &w.partition {
            Err(error) => {
                failed = true;
                (data.with_error_code(error.code()), None)
            }
            Ok(partition) => {
                let first = bytes_total == 0;
                let limit = w.max_bytes.min(remaining);
                match read_one(partition, w.fetch_offset, limit, first) {
                    Ok((offsets, records)) => {
                        let len = records.as_ref().map_or(0, |r| r.len as usize);
                        bytes_total += len;
                        remaining = remaining.saturating_sub(len);
                        (with_offsets(data, offsets), records)
                    }
                    Err(error) => {
                        failed = true;
                        let data = with_offsets(data, partition.offsets())
                            .with_error_code(errors::code(&error));
                        (data, None)
                    }
                }
            }
        };
        out[i] = Some((w.topic, data, records));
    }
    (out.into_iter().flatten().collect(), bytes_total, failed)
}

fn with_offsets(data: PartitionData, offsets: PartitionOffsets) -> PartitionData {
    // No transactions yet, so the last stable offset is the high watermark.
    data.with_high_watermark(offsets.high_watermark)
        .with_last_stable_offset(offsets.high_watermark)
        .with_log_start_offset(offsets.log_start)
}

fn read_one(
    partition: &Partition,
    offset: i64,
    limit: usize,
    first: bool,
) -> Result<(PartitionOffsets, Option<FileRange>), LogError> {
    if limit == 0 && !first {
        // Budget spent: report offsets without reading, but still flag an
        // out-of-range position so the client can reset.
        let offsets = partition.offsets();
        if offset < offsets.log_start || offset > offsets.log_end {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                log_start: offsets.log_start,
                log_end: offsets.log_end,
            });
        }
        return Ok((offsets, None));
    }
    let result = partition.read(offset, limit.max(1))?;
    // Past the first partition with data, a batch that does not fit waits
    // for the next fetch (KIP-74 only guarantees progress on one).
    let records = result.records.filter(|r| first || r.len <= limit as u64);
    Ok((result.offsets, records))
}

/// Waits until a watched high watermark moves or the deadline passes.
/// Returns false at the deadline.
async fn wait_for_append(watches: &mut [watch::Receiver<i64>], deadline: Instant) -> bool {
    let changes = select_all(watches.iter_mut().map(|w| Box::pin(w.changed())));
    match tokio::time::timeout_at(deadline, changes).await {
        Ok((Ok(()), _, _)) => true,
        // A partition went away (topic deleted): answer now.
        Ok((Err(_), _, _)) => false,
        Err(_) => false,
    }
}

fn group_by_topic(version: i16, topics: &[FetchTopic], partitions: Vec<Answered>) -> FetchAnswer {
    let mut responses: Vec<FetchableTopicResponse> = topics
        .iter()
        .map(|t| {
            let response = FetchableTopicResponse::default();
            if version >= TOPIC_IDS_SINCE_VERSION {
                response.with_topic_id(t.topic_id)
            } else {
                response.with_topic(t.topic.clone())
            }
        })
        .collect();
    let mut records: Vec<Vec<Option<FileRange>>> = vec![Vec::new(); topics.len()];
    for (topic, data, range) in partitions {
        responses[topic].partitions.push(data);
        records[topic].push(range);
    }
    FetchAnswer {
        response: FetchResponse::default().with_responses(responses),
        records,
    }
}
