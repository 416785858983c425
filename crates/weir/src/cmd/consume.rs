//! `weir consume <topic>`: read records from assigned partitions (no consumer
//! group, nothing committed) starting at earliest, latest, an offset or a
//! timestamp, and print them. Stops after `--count` records, at the end of
//! the log as it was at start (`--exit-at-end`), or on Ctrl-C; otherwise it
//! follows the log like `tail -f`. Works against any Kafka broker.
//!
//! Output formats live in this file too; nothing here keeps state between
//! runs.

use crate::client::{self, ClientArgs};
use anyhow::bail;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long one poll waits before output is flushed and Ctrl-C checked.
const POLL_WAIT: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    Earliest,
    Latest,
    Offset(i64),
    TimestampMs(i64),
}

impl std::str::FromStr for StartAt {
    type Err = String;
    fn from_str(text: &str) -> Result<StartAt, String> {
        let parsed = match text {
            "earliest" | "beginning" => Some(StartAt::Earliest),
            "latest" | "end" => Some(StartAt::Latest),
            _ => match text.strip_prefix('@') {
                Some(ms) => ms
                    .parse()
                    .ok()
                    .filter(|ms| *ms >= 0)
                    .map(StartAt::TimestampMs),
                None => text.parse().ok().filter(|o| *o >= 0).map(StartAt::Offset),
            },
        };
        parsed.ok_or_else(|| {
            format!("expected earliest, latest, an offset or @<timestamp-ms>, got {text:?}")
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `partition:offset key value`; a missing key or value prints as `null`
    Line,
    /// The value only
    Value,
    /// One JSON object per record, with timestamp and headers
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ConsumeArgs {
    pub topic: String,
    #[command(flatten)]
    pub client: ClientArgs,
    /// Where to start: earliest | latest | <offset> | @<timestamp-ms>
    #[arg(long, short = 'f', default_value = "earliest")]
    pub from: StartAt,
    /// Read only this partition [default: all partitions]
    #[arg(long, short = 'p')]
    pub partition: Option<i32>,
    /// Stop after this many records
    #[arg(long, short = 'n')]
    pub count: Option<u64>,
    /// Stop once every partition reaches the latest offset seen at start
    #[arg(long, short = 'e')]
    pub exit_at_end: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Line)]
    pub format: Format,
}

pub fn run(args: &ConsumeArgs) -> anyhow::Result<()> {
    let interrupted = client::interrupt_flag()?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    consume_into(args, &mut out, &interrupted)
}

/// Prints records to `out` until a stop condition or `interrupted`.
pub fn consume_into(
    args: &ConsumeArgs,
    out: &mut impl Write,
    interrupted: &AtomicBool,
) -> anyhow::Result<()> {
    // librdkafka's assign() needs a group.id, but nothing is committed and
    // no group is joined: offsets are always given explicitly.
    let consumer: BaseConsumer = args
        .client
        .config(&[
            ("group.id", "weir-cli"),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("enable.partition.eof", "true"),
            ("auto.offset.reset", "error"),
        ])
        .create()
        .map_err(|err| client::kafka_error("cannot create consumer", &err))?;
    let partitions = partitions(args, &consumer)?;
    let starts = start_offsets(args, &consumer, &partitions)?;
    let mut progress = Progress::new(args, &consumer, &starts)?;
    let mut assignment = TopicPartitionList::new();
    for (partition, offset) in &starts {
        assignment
            .add_partition_offset(&args.topic, *partition, *offset)
            .map_err(|err| client::kafka_error("assign", &err))?;
    }
    consumer
        .assign(&assignment)
        .map_err(|err| client::kafka_error("assign", &err))?;
    while !progress.finished() && !interrupted.load(Ordering::SeqCst) {
        match consumer.poll(POLL_WAIT) {
            None => flush_output(out)?,
            Some(Ok(message)) => {
                if progress.take(message.partition(), message.offset()) {
                    if let Err(err) = write_record(out, args.format, &message) {
                        return quiet_if_pipe_closed(err);
                    }
                }
            }
            Some(Err(KafkaError::PartitionEOF(partition))) => progress.reached_end(partition),
            Some(Err(err)) => consume_error(&err)?,
        }
    }
    flush_output(out)
}

/// The partitions to read: `--partition`, or every partition in metadata.
fn partitions(args: &ConsumeArgs, consumer: &BaseConsumer) -> anyhow::Result<Vec<i32>> {
    let ids = client::partition_ids(consumer, &args.topic, args.client.timeout())?;
    client::pick_partition(&args.topic, ids, args.partition)
}

/// Where each partition starts; a timestamp is resolved with ListOffsets.
fn start_offsets(
    args: &ConsumeArgs,
    consumer: &BaseConsumer,
    partitions: &[i32],
) -> anyhow::Result<Vec<(i32, Offset)>> {
    let fixed = match args.from {
        StartAt::Earliest => Offset::Beginning,
        StartAt::Latest => Offset::End,
        StartAt::Offset(offset) => Offset::Offset(offset),
        StartAt::TimestampMs(ms) => return offsets_for_time(args, consumer, partitions, ms),
    };
    Ok(partitions.iter().map(|p| (*p, fixed)).collect())
}

fn offsets_for_time(
    args: &ConsumeArgs,
    consumer: &BaseConsumer,
    partitions: &[i32],
    timestamp_ms: i64,
) -> anyhow::Result<Vec<(i32, Offset)>> {
    let mut query = TopicPartitionList::new();
    for partition in partitions {
        query
            .add_partition_offset(&args.topic, *partition, Offset::Offset(timestamp_ms))
            .map_err(|err| client::kafka_error("offsets for time", &err))?;
    }
    let found = consumer
        .offsets_for_times(query, args.client.timeout())
        .map_err(|err| client::kafka_error("offsets for time", &err))?;
    let mut starts = Vec::with_capacity(partitions.len());
    for element in found.elements() {
        if let Err(err) = element.error() {
            bail!(
                "offsets for time, partition {}: {}",
                element.partition(),
                client::describe_error(&err)
            );
        }
        // No record at or after the timestamp: start at the end.
        let offset = match element.offset() {
            Offset::Offset(offset) if offset >= 0 => Offset::Offset(offset),
            _ => Offset::End,
        };
        starts.push((element.partition(), offset));
    }
    Ok(starts)
}

/// When to stop: the record count, and for `--exit-at-end` the end offset
/// of each partition as seen at start.
struct Progress {
    remaining: Option<u64>,
    /// Partition → end offset still to reach; absent once reached or when
    /// not exiting at end.
    ends: BTreeMap<i32, i64>,
    exit_at_end: bool,
}

impl Progress {
    fn new(
        args: &ConsumeArgs,
        consumer: &BaseConsumer,
        starts: &[(i32, Offset)],
    ) -> anyhow::Result<Progress> {
        let mut ends = BTreeMap::new();
        if args.exit_at_end {
            for (partition, start) in starts {
                let (low, high) = consumer
                    .fetch_watermarks(&args.topic, *partition, args.client.timeout())
                    .map_err(|err| {
                        client::kafka_error(&format!("offsets of partition {partition}"), &err)
                    })?;
                let first = match start {
                    Offset::Beginning => low,
                    Offset::Offset(offset) => *offset,
                    _ => high,
                };
                if first < high {
                    ends.insert(*partition, high);
                }
            }
        }
        Ok(Progress {
            remaining: args.count,
            ends,
            exit_at_end: args.exit_at_end,
        })
    }

    fn finished(&self) -> bool {
        self.remaining == Some(0) || (self.exit_at_end && self.ends.is_empty())
    }

    /// Whether to print the record at `offset`; counts it if so.
    fn take(&mut self, partition: i32, offset: i64) -> bool {
        if self.exit_at_end {
            let Some(end) = self.ends.get(&partition).copied() else {
                return false;
            };
            if offset >= end {
                self.ends.remove(&partition);
                return false;
            }
            if offset + 1 >= end {
                self.ends.remove(&partition);
            }
        }
        if let Some(remaining) = self.remaining.as_mut() {
            *remaining = remaining.saturating_sub(1);
        }
        true
    }

    /// librdkafka reached the partition's current end (which is never before
    /// the end seen at start); transaction markers may hide the last offsets.
    fn reached_end(&mut self, partition: i32) {
        self.ends.remove(&partition);
    }
}

/// Errors that mean this consume cannot succeed end the command; others
/// (a broker restarting, a coordinator lookup failing) are shown and the
/// client keeps trying.
fn consume_error(err: &KafkaError) -> anyhow::Result<()> {
    use RDKafkaErrorCode as Code;
    let fatal = matches!(
        err.rdkafka_error_code(),
        Some(
            Code::OffsetOutOfRange
                | Code::AutoOffsetReset
                | Code::UnknownTopicOrPartition
                | Code::UnknownTopic
                | Code::UnknownPartition
                | Code::TopicAuthorizationFailed
                | Code::Fatal
        )
    ) || matches!(err, KafkaError::MessageConsumptionFatal(_));
    if fatal {
        bail!("consume: {}", client::describe_error(err));
    }
    eprintln!("warning: {}", client::describe_error(err));
    Ok(())
}

fn flush_output(out: &mut impl Write) -> anyhow::Result<()> {
    match out.flush() {
        Ok(()) => Ok(()),
        Err(err) => quiet_if_pipe_closed(err),
    }
}

/// A closed stdout (`weir consume ... | head`) is a normal way to stop.
fn quiet_if_pipe_closed(err: std::io::Error) -> anyhow::Result<()> {
    if err.kind() == ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    Err(anyhow::Error::new(err).context("writing output"))
}

fn write_record(
    out: &mut impl Write,
    format: Format,
    message: &BorrowedMessage<'_>,
) -> std::io::Result<()> {
    match format {
        Format::Line => {
            let key = text_or_null(message.key());
            let value = text_or_null(message.payload());
            writeln!(
                out,
                "{}:{} {key} {value}",
                message.partition(),
                message.offset()
            )
        }
        Format::Value => {
            out.write_all(message.payload().unwrap_or_default())?;
            out.write_all(b"\n")
        }
        Format::Json => {
            serde_json::to_writer(&mut *out, &json_record(message))?;
            out.write_all(b"\n")
        }
    }
}

fn text_or_null(bytes: Option<&[u8]>) -> std::borrow::Cow<'_, str> {
    bytes.map_or(std::borrow::Cow::Borrowed("null"), String::from_utf8_lossy)
}

fn json_record(message: &BorrowedMessage<'_>) -> serde_json::Value {
    let text = |bytes: Option<&[u8]>| bytes.map(|b| String::from_utf8_lossy(b).into_owned());
    let headers: Vec<serde_json::Value> = message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|h| serde_json::json!({ "key": h.key, "value": text(h.value) }))
                .collect()
        })
        .unwrap_or_default();
    serde_json::json!({
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
        "timestamp_ms": message.timestamp().to_millis(),
        "key": text(message.key()),
        "value": text(message.payload()),
        "headers": headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_parses_every_form() {
        let cases: &[(&str, Option<StartAt>)] = &[
            ("earliest", Some(StartAt::Earliest)),
            ("latest", Some(StartAt::Latest)),
            ("0", Some(StartAt::Offset(0))),
            ("42", Some(StartAt::Offset(42))),
            (
                "@1700000000000",
                Some(StartAt::TimestampMs(1_700_000_000_000)),
            ),
            ("-1", None),
            ("@-5", None),
            ("@", None),
            ("soon", None),
            ("", None),
        ];
        for (text, expect) in cases {
            assert_eq!(text.parse::<StartAt>().ok(), *expect, "{text:?}");
        }
    }

    fn progress(count: Option<u64>, ends: &[(i32, i64)]) -> Progress {
        Progress {
            remaining: count,
            ends: ends.iter().copied().collect(),
            exit_at_end: !ends.is_empty(),
        }
    }

    #[test]
    fn exit_at_end_stops_at_the_end_seen_at_start() {
        let mut p = progress(None, &[(0, 2), (1, 1)]);
        assert!(p.take(0, 0));
        assert!(!p.finished());
        assert!(p.take(1, 0));
        assert!(p.take(0, 1));
        assert!(p.finished());
        assert!(!p.take(0, 2), "records past the end are not printed");
    }

    #[test]
    fn end_of_partition_event_finishes_a_partition() {
        let mut p = progress(None, &[(0, 5)]);
        assert!(p.take(0, 3));
        p.reached_end(0);
        assert!(p.finished());
    }

    #[test]
    fn count_stops_first() {
        let mut p = progress(Some(2), &[]);
        assert!(p.take(0, 0) && p.take(0, 1));
        assert!(p.finished());
    }
}
