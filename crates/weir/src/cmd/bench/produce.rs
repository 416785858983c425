//! `weir bench produce`: N producer clients, each on its own thread, send
//! fixed-size records as fast as the broker acknowledges them — or, with
//! `--rate`, at a fixed rate, to measure latency below saturation — for a
//! count or a duration. Reports records/s, MB/s (record key + value bytes)
//! and produce latency — from `send()` to the delivery report — at
//! p50/p99/p99.9/max.
//!
//! `Sender`, the producer wrapper that measures delivery latency, is shared
//! with `e2e.rs`. Nothing here reads records back.

use super::limits::Limits;
use super::report::{emit, latency_fraction, throughput_fractions, Fraction, Table};
use super::{
    check_rate, ensure_topic, latency_histogram, mb_per_s, per_s, random_bytes, record_latency,
    watch, Counters, Goal, LatencySummary, OutputArgs, Pace, ProducerOpts, Progress, TopicOpts,
    WORKERS_MAX,
};
use crate::client::{self, ClientArgs};
use anyhow::{anyhow, bail};
use hdrhistogram::Histogram;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long to wait before retrying while librdkafka's queue is full.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(1);
/// How long a run without --count or --duration-secs sends.
const DURATION_SECS_DEFAULT: u64 = 10;
/// Sends between two looks at the clock and the Ctrl-C flag.
const SENDS_PER_CHECK: u64 = 64;

#[derive(Debug, clap::Args)]
pub struct ProduceBenchArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(flatten)]
    pub topic: TopicOpts,
    #[command(flatten)]
    pub producer: ProducerOpts,
    /// Records to send in total, split across producers [default: send for --duration-secs]
    #[arg(long, short = 'n')]
    pub count: Option<u64>,
    /// How long to send [default: 10 without --count; with --count, no time limit]
    #[arg(long)]
    pub duration_secs: Option<u64>,
    /// Producer clients, each with its own connection and thread
    #[arg(long, default_value_t = 1)]
    pub producers: u32,
    /// Send this many records per second in total, split across producers, instead of as many as the broker takes
    #[arg(long)]
    pub rate: Option<u64>,
    /// Send for this long before --duration-secs starts; records sent meanwhile count in no figure
    #[arg(long, default_value_t = 0)]
    pub warmup_secs: u64,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// The delivery opaque of a warm-up record: its report is neither counted
/// nor timed (a failure still is). No real send time comes near it: it is
/// 584,000 years of microseconds.
const WARM_UP: usize = usize::MAX;

/// Delivery reports of one producer: counts and send-to-report latency.
pub struct Delivery {
    started: Instant,
    counters: Arc<Counters>,
    histogram: Mutex<Histogram<u64>>,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Delivery {}

impl ProducerContext for Delivery {
    /// Microseconds from `started` to the `send()` call, or `WARM_UP`.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_us: usize) {
        match result {
            Ok(_) if sent_us == WARM_UP => {}
            Ok(message) => {
                let bytes = (message.payload_len() + message.key_len()) as u64;
                self.counters.add(1, bytes);
                let now_us = self.started.elapsed().as_micros();
                let latency_us = now_us.saturating_sub(sent_us as u128);
                let latency = Duration::from_micros(u64::try_from(latency_us).unwrap_or(u64::MAX));
                if let Ok(mut histogram) = self.histogram.lock() {
                    record_latency(&mut histogram, latency);
                }
            }
            Err((err, _)) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| client::describe_error(err));
                }
            }
        }
    }
}

/// What one producer leaves behind once flushed.
pub struct Sent {
    pub histogram: Histogram<u64>,
    pub finished: Instant,
    pub first_error: Option<String>,
}

/// One producer client sending to one topic.
pub struct Sender {
    producer: ThreadedProducer<Delivery>,
    topic: String,
    keyed: bool,
    sequence: u64,
    started: Instant,
    /// Records due before this are warm-up; `None` counts every record.
    measure_from: Option<Instant>,
}

impl Sender {
    pub fn new(
        client_args: &ClientArgs,
        opts: &ProducerOpts,
        topic: &str,
        counters: Arc<Counters>,
    ) -> anyhow::Result<Sender> {
        let properties = opts.properties(client_args);
        let defaults: Vec<(&str, &str)> =
            properties.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let started = Instant::now();
        let context = Delivery {
            started,
            counters,
            histogram: Mutex::new(latency_histogram()),
            first_error: Mutex::new(None),
        };
        let producer: ThreadedProducer<Delivery> = client_args
            .config(&defaults)
            .create_with_context(context)
            .map_err(|err| client::kafka_error("cannot create producer", &err))?;
        // Learn the topic's leaders before the clock starts, so the first
        // records do not wait for a metadata round trip (a fresh topic's
        // first records otherwise show up as a 0.5 s tail).
        producer
            .client()
            .fetch_metadata(Some(topic), client_args.timeout())
            .map_err(|err| client::kafka_error("metadata", &err))?;
        Ok(Sender {
            producer,
            topic: topic.to_string(),
            keyed: opts.keyed,
            sequence: 0,
            started,
            measure_from: None,
        })
    }

    /// Records due before `at` are warm-up: delivered, but in no figure.
    pub fn measure_from(&mut self, at: Instant) {
        self.measure_from = Some(at);
    }

    /// Queues one record, waiting while librdkafka's queue is full. `due` is
    /// when a pacer scheduled it (`None`: now, for a sender going as fast as
    /// it can). Warm-up is judged by `due`, not by when the send happens: a
    /// paced sender that fell behind during warm-up sends some warm-up
    /// records after the measured part began, and counting those put more
    /// than `--rate` records into a measured second.
    pub fn send(&mut self, value: &[u8], due: Option<Instant>) -> anyhow::Result<()> {
        let key = self.sequence.to_be_bytes();
        self.sequence += 1;
        let now = Instant::now();
        let due = due.unwrap_or(now);
        let sent_us = if self.measure_from.is_some_and(|from| due < from) {
            WARM_UP
        } else {
            let us = now.saturating_duration_since(self.started).as_micros();
            usize::try_from(us).unwrap_or(WARM_UP - 1).min(WARM_UP - 1)
        };
        let mut record = BaseRecord::with_opaque_to(&self.topic, sent_us).payload(value);
        if self.keyed {
            record = record.key(&key[..]);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    std::thread::sleep(QUEUE_FULL_WAIT);
                }
                Err((err, _)) => return Err(client::kafka_error("produce", &err)),
            }
        }
    }

    /// Waits for every delivery report (bounded by message.timeout.ms).
    pub fn finish(self, timeout: Duration) -> anyhow::Result<Sent> {
        self.producer
            .flush(timeout)
            .map_err(|err| client::kafka_error("flush", &err))?;
        let finished = Instant::now();
        let context = self.producer.context();
        let histogram = context
            .histogram
            .lock()
            .map(|h| h.clone())
            .map_err(|_| anyhow!("a delivery callback panicked"))?;
        let first_error = context.first_error.lock().ok().and_then(|e| e.clone());
        Ok(Sent {
            histogram,
            finished,
            first_error,
        })
    }
}

/// The JSON result; the table shows the same figures.
#[derive(Debug, serde::Serialize)]
struct ProduceResult {
    command: &'static str,
    bootstrap: String,
    #[serde(flatten)]
    topic: TopicOpts,
    #[serde(flatten)]
    producer: ProducerOpts,
    producers: u32,
    /// Seconds sent before the measured part of the run.
    warmup_secs: u64,
    /// `--rate`, when the run was paced.
    target_records_per_s: Option<u64>,
    records: u64,
    failed: u64,
    bytes: u64,
    seconds: f64,
    records_per_s: f64,
    mb_per_s: f64,
    latency_us: LatencySummary,
    vs_limits: Vec<Fraction>,
    first_error: Option<String>,
}

pub fn run(args: &ProduceBenchArgs) -> anyhow::Result<()> {
    args.producer.check()?;
    if args.producers == 0 || args.producers > WORKERS_MAX {
        bail!("--producers must be 1..={WORKERS_MAX}");
    }
    if args.warmup_secs > 0 && args.count.is_some() {
        bail!("--warmup-secs goes with --duration-secs, not --count");
    }
    if let Some(rate) = args.rate {
        check_rate(rate)?;
        if rate < u64::from(args.producers) {
            bail!("--rate must be at least --producers, so every producer sends");
        }
    }
    let partitions = ensure_topic(&args.client, &args.topic)?;
    let counters = Arc::new(Counters::default());
    let mut senders = Vec::new();
    for _ in 0..args.producers {
        senders.push(Sender::new(
            &args.client,
            &args.producer,
            &args.topic.topic,
            counters.clone(),
        )?);
    }
    let interrupted = client::interrupt_flag()?;
    let (duration, goal) = duration_and_goal(args);
    let progress = Progress::new("produce", goal);
    let started = Instant::now();
    let measured_from = started + Duration::from_secs(args.warmup_secs);
    for sender in &mut senders {
        sender.measure_from(measured_from);
    }
    let stop = Stop {
        deadline: duration.map(|d| started + d),
        interrupted: &interrupted,
    };
    let finished_threads = AtomicU32::new(0);
    let results: Vec<anyhow::Result<Sent>> = std::thread::scope(|scope| {
        let handles: Vec<_> = senders
            .into_iter()
            .enumerate()
            .map(|(i, sender)| {
                let quota = args.count.map(|n| share(n, args.producers, i as u32));
                let rate = args.rate.map(|r| share(r, args.producers, i as u32));
                let (stop, finished_threads) = (&stop, &finished_threads);
                scope.spawn(move || {
                    let result = send_share(sender, args, quota, rate, stop);
                    finished_threads.fetch_add(1, Ordering::SeqCst);
                    result
                })
            })
            .collect();
        watch(&progress, &counters, || {
            finished_threads.load(Ordering::SeqCst) == args.producers
        });
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a producer thread panicked")))
            })
            .collect()
    });
    let topic = TopicOpts {
        partitions,
        ..args.topic.clone()
    };
    report(args, topic, &counters, measured_from, results)
}

/// The time limit, warm-up included, if any, and what the progress bar counts.
fn duration_and_goal(args: &ProduceBenchArgs) -> (Option<Duration>, Goal) {
    let warmup = Duration::from_secs(args.warmup_secs);
    let duration = match (args.count, args.duration_secs) {
        (None, None) => Some(Duration::from_secs(DURATION_SECS_DEFAULT) + warmup),
        (_, seconds) => seconds.map(|s| Duration::from_secs(s) + warmup),
    };
    let goal = match (args.count, duration) {
        (Some(n), _) => Goal::Records(n),
        (None, d) => Goal::Duration(d.unwrap_or_default()),
    };
    (duration, goal)
}

/// When a duration-bounded run ends, or Ctrl-C.
struct Stop<'a> {
    deadline: Option<Instant>,
    interrupted: &'a AtomicBool,
}

impl Stop<'_> {
    fn now(&self) -> bool {
        self.interrupted.load(Ordering::Relaxed)
            || self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// Producer `index`'s part of `total` records, the remainder going to the first ones.
fn share(total: u64, producers: u32, index: u32) -> u64 {
    let producers = u64::from(producers.max(1));
    total / producers + u64::from(u64::from(index) < total % producers)
}

/// Sends this producer's `quota` (or until `stop`), `rate` records per
/// second when paced.
fn send_share(
    mut sender: Sender,
    args: &ProduceBenchArgs,
    quota: Option<u64>,
    rate: Option<u64>,
    stop: &Stop<'_>,
) -> anyhow::Result<Sent> {
    let value = random_bytes(args.producer.record_bytes, 0x9e37_79b9_7f4a_7c15);
    let pace = rate.map(Pace::new);
    let mut sent = 0u64;
    loop {
        if quota.is_some_and(|q| sent >= q) {
            break;
        }
        // A paced sender sleeps between sends, so it checks every time.
        if (pace.is_some() || sent.is_multiple_of(SENDS_PER_CHECK)) && stop.now() {
            break;
        }
        let due = pace.as_ref().map(|pace| pace.due(sent));
        if let Some(due) = due {
            if stop.deadline.is_some_and(|end| due >= end) {
                break;
            }
            Pace::sleep_until(due);
        }
        sender.send(&value, due)?;
        sent += 1;
    }
    // Every queued record gets a report within message.timeout.ms.
    sender.finish(args.client.timeout() + Duration::from_secs(1))
}

fn report(
    args: &ProduceBenchArgs,
    topic: TopicOpts,
    counters: &Counters,
    started: Instant,
    results: Vec<anyhow::Result<Sent>>,
) -> anyhow::Result<()> {
    let mut histogram = latency_histogram();
    let mut finished = started;
    let mut first_error = None;
    for result in results {
        let sent = result?;
        histogram.add(&sent.histogram).ok();
        finished = finished.max(sent.finished);
        first_error = first_error.or(sent.first_error);
    }
    let seconds = finished.duration_since(started).as_secs_f64();
    let limits = Limits::load(&args.output.limits);
    let latency = LatencySummary::of(&histogram);
    let mb_s = mb_per_s(counters.bytes(), seconds);
    let mut vs_limits = throughput_fractions("produce", mb_s, limits.as_ref());
    vs_limits.extend(latency_fraction(
        "produce p99",
        latency.p99_us,
        limits.as_ref(),
    ));
    let result = ProduceResult {
        command: "produce",
        bootstrap: args.client.bootstrap.clone(),
        topic,
        producer: args.producer.clone(),
        producers: args.producers,
        warmup_secs: args.warmup_secs,
        target_records_per_s: args.rate,
        records: counters.records(),
        failed: counters.failed(),
        bytes: counters.bytes(),
        seconds,
        records_per_s: per_s(counters.records(), seconds),
        mb_per_s: mb_s,
        latency_us: latency,
        vs_limits,
        first_error,
    };
    emit(&args.output, &result, &table(&result, limits.is_some()))?;
    if result.failed > 0 {
        bail!(
            "{} records failed, first: {}",
            result.failed,
            result.first_error.as_deref().unwrap_or("?")
        );
    }
    Ok(())
}

fn table(result: &ProduceResult, limits_found: bool) -> Table {
    let mut pacing = result
        .target_records_per_s
        .map_or(String::new(), |rate| format!(", target {rate} records/s"));
    if result.warmup_secs > 0 {
        pacing.push_str(&format!(", after a {} s warm-up", result.warmup_secs));
    }
    let mut table = Table::new(format!(
        "weir bench produce — {} ({} partitions), {}, {} producer(s){pacing}",
        result.topic.topic,
        result.topic.partitions,
        result.producer.describe(),
        result.producers
    ));
    table.row(
        "records",
        format!("{} delivered, {} failed", result.records, result.failed),
    );
    table.row("elapsed", format!("{:.2} s", result.seconds));
    table.row(
        "throughput",
        format!(
            "{:.0} records/s  {:.1} MB/s",
            result.records_per_s, result.mb_per_s
        ),
    );
    table.latency("produce latency", &result.latency_us);
    table.fractions(&result.vs_limits, limits_found);
    table
}

#[cfg(test)]
mod tests {
    use super::share;

    #[test]
    fn shares_add_up_to_the_total() {
        for (total, producers) in [(10, 3), (0, 4), (7, 7), (5, 8), (1_000_001, 64)] {
            let shares: Vec<u64> = (0..producers).map(|i| share(total, producers, i)).collect();
            assert_eq!(shares.iter().sum::<u64>(), total, "{total} {producers}");
            let (min, max) = (shares.iter().min(), shares.iter().max());
            assert!(max.zip(min).is_some_and(|(a, b)| a - b <= 1));
        }
    }
}
