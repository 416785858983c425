//! `weir bench e2e`: end-to-end latency below saturation. A producer sends
//! at a fixed `--rate` (paced against the clock, catching up in bursts when
//! it falls behind) while a consumer on another thread reads every partition
//! from the end offsets seen at start. Each record's first 8 bytes carry its
//! send time (µs since the Unix epoch, big-endian); the consumer's receipt
//! time minus that is the end-to-end latency. Produce (acknowledgement)
//! latency at the same rate is reported too.
//!
//! Producer and consumer run in this one process, so they share a clock.

use super::limits::Limits;
use super::produce::Sender;
use super::report::{emit, latency_fraction, Fraction, Table};
use super::{
    check_rate, ensure_topic, latency_histogram, per_s, random_bytes, record_latency, watch,
    Counters, Goal, LatencySummary, OutputArgs, Pace, ProducerOpts, Progress, TopicOpts,
};
use crate::client::{self, ClientArgs};
use anyhow::{anyhow, bail};
use hdrhistogram::Histogram;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Bytes of the send timestamp at the start of each record.
const STAMP_BYTES: usize = 8;
/// How long the consumer polls before the producer starts, so connection
/// set-up is not counted as latency.
const WARM_UP: Duration = Duration::from_millis(1000);
/// How long the consumer waits for the last records after the producer ends.
const DRAIN_WAIT: Duration = Duration::from_secs(10);
const POLL_WAIT: Duration = Duration::from_millis(50);

#[derive(Debug, clap::Args)]
pub struct E2eArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub topic: TopicOpts,
    #[command(flatten)]
    pub producer: ProducerOpts,
    /// Records per second the producer sends
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// How long to send
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, serde::Serialize)]
struct E2eResult {
    command: &'static str,
    bootstrap: String,
    #[serde(flatten)]
    topic: TopicOpts,
    #[serde(flatten)]
    producer: ProducerOpts,
    target_records_per_s: u64,
    sent: u64,
    delivered: u64,
    received: u64,
    seconds: f64,
    records_per_s: f64,
    produce_latency_us: LatencySummary,
    e2e_latency_us: LatencySummary,
    vs_limits: Vec<Fraction>,
}

/// What the producer tells the consumer thread.
struct Shared {
    producer_done: AtomicBool,
    delivered: AtomicU64,
    interrupted: std::sync::Arc<AtomicBool>,
    ready: AtomicBool,
}

pub fn run(args: &E2eArgs) -> anyhow::Result<()> {
    args.producer.check()?;
    if args.producer.record_bytes < STAMP_BYTES {
        bail!("--record-bytes must be at least {STAMP_BYTES} to carry the send time");
    }
    check_rate(args.rate)?;
    let partitions = ensure_topic(&args.client, &args.topic)?;
    let consumer = tail_consumer(args)?;
    let counters = std::sync::Arc::new(Counters::default());
    let sender = Sender::new(
        &args.client,
        &args.producer,
        &args.topic.topic,
        counters.clone(),
    )?;
    let shared = Shared {
        producer_done: AtomicBool::new(false),
        delivered: AtomicU64::new(0),
        interrupted: client::interrupt_flag()?,
        ready: AtomicBool::new(false),
    };
    let duration = Duration::from_secs(args.duration_secs);
    let (delivered, produced, received) = std::thread::scope(|scope| {
        let reader = scope.spawn(|| receive(&consumer, &shared));
        while !shared.ready.load(Ordering::SeqCst) && !reader.is_finished() {
            std::thread::sleep(POLL_WAIT);
        }
        let progress = Progress::new("e2e", Goal::Duration(duration));
        let produced = scope.spawn(|| send_paced(sender, args, &shared));
        watch(&progress, &counters, || produced.is_finished());
        let produced = produced
            .join()
            .unwrap_or_else(|_| Err(anyhow!("the producer thread panicked")));
        shared.delivered.store(counters.records(), Ordering::SeqCst);
        shared.producer_done.store(true, Ordering::SeqCst);
        let received = reader
            .join()
            .unwrap_or_else(|_| Err(anyhow!("the consumer thread panicked")));
        (counters.records(), produced, received)
    });
    let Paced {
        sent: sent_count,
        seconds,
        histogram: produce_histogram,
    } = produced?;
    let received = received?;
    let result = E2eResult {
        command: "e2e",
        bootstrap: args.client.bootstrap.clone(),
        topic: TopicOpts {
            partitions,
            ..args.topic.clone()
        },
        producer: args.producer.clone(),
        target_records_per_s: args.rate,
        sent: sent_count,
        delivered,
        received: received.len(),
        seconds,
        records_per_s: per_s(sent_count, seconds),
        produce_latency_us: LatencySummary::of(&produce_histogram),
        e2e_latency_us: LatencySummary::of(&received),
        vs_limits: Vec::new(),
    };
    finish(args, result, counters.failed())
}

fn finish(args: &E2eArgs, mut result: E2eResult, failed: u64) -> anyhow::Result<()> {
    let limits = Limits::load(&args.output.limits);
    result.vs_limits = latency_fraction(
        "produce p99",
        result.produce_latency_us.p99_us,
        limits.as_ref(),
    );
    result.vs_limits.extend(latency_fraction(
        "end-to-end p99",
        result.e2e_latency_us.p99_us,
        limits.as_ref(),
    ));
    emit(&args.output, &result, &table(&result, limits.is_some()))?;
    if failed > 0 {
        bail!("{failed} records failed to produce");
    }
    if result.received < result.delivered {
        bail!(
            "only {} of {} delivered records were received within {} s",
            result.received,
            result.delivered,
            DRAIN_WAIT.as_secs()
        );
    }
    Ok(())
}

/// A consumer assigned every partition at its current end offset.
fn tail_consumer(args: &E2eArgs) -> anyhow::Result<BaseConsumer> {
    let group_id = format!("weir-bench-e2e-{}", std::process::id());
    let consumer: BaseConsumer = args
        .client
        .config(&[
            ("group.id", group_id.as_str()),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
        ])
        .create()
        .map_err(|err| client::kafka_error("cannot create consumer", &err))?;
    let topic = &args.topic.topic;
    let partitions = client::partition_ids(&consumer, topic, args.client.timeout())?;
    let mut assignment = TopicPartitionList::new();
    for &partition in &partitions {
        let (_, high) = consumer
            .fetch_watermarks(topic, partition, args.client.timeout())
            .map_err(|err| client::kafka_error("list offsets", &err))?;
        assignment
            .add_partition_offset(topic, partition, Offset::Offset(high))
            .map_err(|err| client::kafka_error("assign", &err))?;
    }
    consumer
        .assign(&assignment)
        .map_err(|err| client::kafka_error("assign", &err))?;
    Ok(consumer)
}

/// What the paced producer did.
struct Paced {
    sent: u64,
    /// From the first send to the last, without the final flush.
    seconds: f64,
    histogram: Histogram<u64>,
}

/// Sends `rate` records per second for the duration.
fn send_paced(mut sender: Sender, args: &E2eArgs, shared: &Shared) -> anyhow::Result<Paced> {
    let mut value = random_bytes(args.producer.record_bytes, 0xe2e);
    let pace = Pace::new(args.rate);
    let started = Instant::now();
    let end = started + Duration::from_secs(args.duration_secs);
    let mut sent = 0u64;
    loop {
        let due = pace.due(sent);
        if due >= end || shared.interrupted.load(Ordering::Relaxed) {
            break;
        }
        Pace::sleep_until(due);
        value[..STAMP_BYTES].copy_from_slice(&unix_micros().to_be_bytes());
        sender.send(&value, Some(due))?;
        sent += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    let done = sender.finish(args.client.timeout() + Duration::from_secs(1))?;
    Ok(Paced {
        sent,
        seconds,
        histogram: done.histogram,
    })
}

/// Reads until every delivered record arrived (or `DRAIN_WAIT` after the
/// producer ends); returns the end-to-end latency histogram.
fn receive(consumer: &BaseConsumer, shared: &Shared) -> anyhow::Result<Histogram<u64>> {
    let warm_until = Instant::now() + WARM_UP;
    let started_us = unix_micros();
    let mut histogram = latency_histogram();
    let mut drain_deadline = None;
    loop {
        if !shared.ready.load(Ordering::Relaxed) && Instant::now() >= warm_until {
            shared.ready.store(true, Ordering::SeqCst);
        }
        if shared.producer_done.load(Ordering::SeqCst) {
            let deadline = *drain_deadline.get_or_insert_with(|| Instant::now() + DRAIN_WAIT);
            if histogram.len() >= shared.delivered.load(Ordering::SeqCst)
                || Instant::now() >= deadline
            {
                return Ok(histogram);
            }
        }
        match consumer.poll(POLL_WAIT) {
            None => {}
            Some(Ok(message)) => {
                let now_us = unix_micros();
                if let Some(sent_us) = message.payload().and_then(stamp) {
                    // A record from another writer carries no stamp of ours.
                    if (started_us..=now_us).contains(&sent_us) {
                        record_latency(&mut histogram, Duration::from_micros(now_us - sent_us));
                    }
                }
            }
            Some(Err(err)) => return Err(client::kafka_error("consume", &err)),
        }
    }
}

/// The send time at the start of a payload.
fn stamp(payload: &[u8]) -> Option<u64> {
    let bytes: [u8; STAMP_BYTES] = payload.get(..STAMP_BYTES)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn table(result: &E2eResult, limits_found: bool) -> Table {
    let mut table = Table::new(format!(
        "weir bench e2e — {} ({} partitions), {}, target {} records/s",
        result.topic.topic,
        result.topic.partitions,
        result.producer.describe(),
        result.target_records_per_s
    ));
    table.row(
        "records",
        format!(
            "{} sent, {} delivered, {} received",
            result.sent, result.delivered, result.received
        ),
    );
    table.row(
        "rate",
        format!(
            "{:.0} records/s over {:.2} s",
            result.records_per_s, result.seconds
        ),
    );
    table.latency("produce latency", &result.produce_latency_us);
    table.latency("end-to-end", &result.e2e_latency_us);
    table.fractions(&result.vs_limits, limits_found);
    table
}

#[cfg(test)]
mod tests {
    use super::stamp;

    #[test]
    fn the_stamp_is_the_first_eight_bytes_big_endian() {
        let mut payload = 1_700_000_000_000_000u64.to_be_bytes().to_vec();
        payload.extend_from_slice(b"rest");
        assert_eq!(stamp(&payload), Some(1_700_000_000_000_000));
        assert_eq!(stamp(&payload[..7]), None);
    }
}
