//! `weir produce <topic>`: each line of stdin becomes one record, optionally
//! split into key and value at the first `--key-separator`, with `--header`
//! pairs attached. Every record's outcome is reported; the exit code is
//! non-zero if any record failed. Works against any Kafka broker.
//!
//! Lines are read as bytes (not necessarily UTF-8); the trailing `\n` and a
//! `\r` before it are removed. An empty line is an empty record.

use crate::client::{self, ClientArgs};
use anyhow::bail;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;
use std::io::{BufRead, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Longest line read; longer input is refused rather than buffered.
const LINE_BYTES_MAX: usize = 64 * 1024 * 1024;
/// How long to serve delivery reports while librdkafka's queue is full.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(100);

#[derive(Debug, clap::Args)]
pub struct ProduceArgs {
    pub topic: String,
    #[command(flatten)]
    pub client: ClientArgs,
    /// Split each line into key and value at the first SEP; a line without SEP fails
    #[arg(long, short = 'k', value_name = "SEP")]
    pub key_separator: Option<String>,
    /// Header added to every record, e.g. --header source=cli (repeatable)
    #[arg(long, short = 'H', value_name = "KEY=VALUE", value_parser = client::parse_key_value)]
    pub header: Vec<(String, String)>,
    /// Partition for every record [default: chosen by the key hash, or sticky without key]
    #[arg(long, short = 'p')]
    pub partition: Option<i32>,
    /// Acknowledgements to wait for
    #[arg(long, default_value = "all", value_parser = ["0", "1", "all", "-1"], allow_hyphen_values = true)]
    pub acks: String,
    /// Batch compression
    #[arg(long, default_value = "none", value_parser = ["none", "gzip", "snappy", "lz4", "zstd"])]
    pub compression: String,
}

/// Counts outcomes and prints each failure with the line it came from.
#[derive(Default)]
struct Reports {
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl Reports {
    fn fail(&self, line: usize, why: &str) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        eprintln!("line {line}: {why}");
    }
}

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    /// The 1-based input line number.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, line: usize) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((err, _)) => self.fail(line, &client::describe_error(err)),
        }
    }
}

pub fn run(args: &ProduceArgs) -> anyhow::Result<()> {
    produce_from(args, std::io::stdin().lock())
}

/// Produces every line of `input`; `run` passes stdin, tests a byte slice.
pub fn produce_from(args: &ProduceArgs, input: impl BufRead) -> anyhow::Result<()> {
    let timeout_ms = args.client.timeout_ms.to_string();
    let config = args.client.config(&[
        ("acks", args.acks.as_str()),
        ("compression.type", args.compression.as_str()),
        ("message.timeout.ms", timeout_ms.as_str()),
    ]);
    let producer: BaseProducer<Reports> = config
        .create_with_context(Reports::default())
        .map_err(|err| client::kafka_error("cannot create producer", &err))?;
    let lines = send_lines(args, &producer, input)?;
    // Every queued record ends in a delivery report within message.timeout.ms,
    // so this flush is bounded; the extra second covers the final reports.
    let flush_timeout = args.client.timeout() + Duration::from_secs(1);
    if let Err(err) = producer.flush(flush_timeout) {
        bail!("flush: {}", client::describe_error(&err));
    }
    let reports = producer.context();
    let failed = reports.failed.load(Ordering::Relaxed);
    let delivered = reports.delivered.load(Ordering::Relaxed);
    if failed > 0 || delivered != lines as u64 {
        bail!("{failed} of {lines} records failed ({delivered} delivered)");
    }
    Ok(())
}

/// Queues one record per input line; returns the number of lines read.
fn send_lines(
    args: &ProduceArgs,
    producer: &BaseProducer<Reports>,
    mut input: impl BufRead,
) -> anyhow::Result<usize> {
    let mut headers = OwnedHeaders::new_with_capacity(args.header.len());
    for (key, value) in &args.header {
        headers = headers.insert(Header {
            key,
            value: Some(value),
        });
    }
    let mut buffer = Vec::new();
    let mut line = 0;
    loop {
        buffer.clear();
        let read = input
            .by_ref()
            .take(LINE_BYTES_MAX as u64 + 1)
            .read_until(b'\n', &mut buffer)?;
        if read == 0 {
            return Ok(line);
        }
        line += 1;
        if buffer.len() > LINE_BYTES_MAX {
            bail!("line {line} is longer than {LINE_BYTES_MAX} bytes");
        }
        let text = trim_newline(&buffer);
        match split_key(text, args.key_separator.as_deref()) {
            Some((key, value)) => send_one(
                args,
                producer,
                Record {
                    key,
                    value,
                    line,
                    headers: &headers,
                },
            ),
            None => producer.context().fail(line, "no key separator in line"),
        }
        producer.poll(Duration::ZERO);
    }
}

struct Record<'a> {
    key: Option<&'a [u8]>,
    value: &'a [u8],
    line: usize,
    headers: &'a OwnedHeaders,
}

/// Queues one record, waiting while librdkafka's queue is full.
fn send_one(args: &ProduceArgs, producer: &BaseProducer<Reports>, record: Record<'_>) {
    let mut base = BaseRecord::with_opaque_to(&args.topic, record.line)
        .payload(record.value)
        .headers(record.headers.clone());
    if let Some(key) = record.key {
        base = base.key(key);
    }
    if let Some(partition) = args.partition {
        base = base.partition(partition);
    }
    loop {
        match producer.send(base) {
            Ok(()) => return,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                base = returned;
                producer.poll(QUEUE_FULL_WAIT);
            }
            Err((err, _)) => {
                return producer
                    .context()
                    .fail(record.line, &client::describe_error(&err))
            }
        }
    }
}

fn trim_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// (key, value): no separator configured → no key; configured but absent → None.
fn split_key<'a>(line: &'a [u8], separator: Option<&str>) -> Option<(Option<&'a [u8]>, &'a [u8])> {
    let Some(separator) = separator.map(str::as_bytes).filter(|s| !s.is_empty()) else {
        return Some((None, line));
    };
    let at = line.windows(separator.len()).position(|w| w == separator)?;
    Some((Some(&line[..at]), &line[at + separator.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_at_the_first_separator() {
        type Split<'a> = Option<(Option<&'a [u8]>, &'a [u8])>;
        let cases: &[(&[u8], Option<&str>, Split)] = &[
            (b"v", None, Some((None, b"v"))),
            (b"k:v", Some(":"), Some((Some(b"k"), b"v"))),
            (b"k:v:w", Some(":"), Some((Some(b"k"), b"v:w"))),
            (b"k::v", Some("::"), Some((Some(b"k"), b"v"))),
            (b":v", Some(":"), Some((Some(b""), b"v"))),
            (b"k:", Some(":"), Some((Some(b"k"), b""))),
            (b"v", Some(":"), None),
            (b"v", Some(""), Some((None, b"v"))),
            (b"", Some("::"), None),
        ];
        for (line, sep, expect) in cases {
            assert_eq!(split_key(line, *sep), *expect, "{line:?} {sep:?}");
        }
    }

    #[test]
    fn newline_and_carriage_return_are_trimmed() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"a\n", b"a"),
            (b"a\r\n", b"a"),
            (b"a", b"a"),
            (b"\n", b""),
            (b"a\r", b"a"),
        ];
        for (line, expect) in cases {
            assert_eq!(trim_newline(line), *expect);
        }
    }
}
