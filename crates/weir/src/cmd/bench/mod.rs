//! `weir bench produce|consume|e2e|limits`: a load generator built on
//! librdkafka, so it measures any Kafka-compatible broker the same way, and a
//! measurement of this machine's own ceilings (disk, fdatasync, loopback TCP)
//! that every other bench prints its figures against.
//!
//! This file holds what the four benches share: the subcommand enum, the
//! topic/producer/output flags, topic creation, counters, the latency
//! histogram and the progress bar. Each bench lives in its own file; the
//! summary table, `--json` output and "fraction of the limits" lines live in
//! `report.rs`. Nothing here knows broker internals.

mod consume;
mod e2e;
mod limits;
mod produce;
mod report;

use crate::client::{self, ClientArgs};
use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Most producer threads or consumer groups one bench runs.
pub const WORKERS_MAX: u32 = 64;
/// Longest latency the histograms hold, in microseconds; longer ones are
/// recorded as this value.
const LATENCY_US_MAX: u64 = 600_000_000;
/// Largest record a bench sends.
pub const RECORD_BYTES_MAX: usize = 16 * 1024 * 1024;
/// How often the progress bar and stop conditions are checked.
const TICK: Duration = Duration::from_millis(100);
/// One megabyte in every MB/s figure: 10^6 bytes, as disk and network
/// vendors count.
pub const MB: f64 = 1_000_000.0;
/// Highest `--rate` a paced bench accepts, in records per second.
pub const RATE_MAX: u64 = 10_000_000;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Produce at the maximum rate (or a fixed --rate); records/s, MB/s and produce latency percentiles
    Produce(produce::ProduceBenchArgs),
    /// Read a topic from the beginning with N independent groups of M members; records/s and MB/s
    Consume(consume::ConsumeBenchArgs),
    /// End-to-end latency (produce → consumer receipt) at a fixed rate
    E2e(e2e::E2eArgs),
    /// Measure this machine's disk, fdatasync and loopback TCP limits; cache them as JSON
    Limits(limits::LimitsArgs),
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    // Less of the shared CPU for the load generator, more for the broker.
    crate::os::keep_freed_memory();
    match &args.command {
        BenchCommand::Produce(args) => produce::run(args),
        BenchCommand::Consume(args) => consume::run(args),
        BenchCommand::E2e(args) => e2e::run(args),
        BenchCommand::Limits(args) => limits::run(args),
    }
}

/// Output flags every broker bench shares.
#[derive(Debug, Clone, clap::Args)]
pub struct OutputArgs {
    /// Print one JSON object on stdout instead of the summary table
    #[arg(long)]
    pub json: bool,
    /// Limits measured by `weir bench limits`, to print figures as fractions of them
    #[arg(
        long,
        env = "WEIR_BENCH_LIMITS",
        value_name = "PATH",
        default_value = "weir-data/bench-limits.json"
    )]
    pub limits: PathBuf,
}

/// The topic a bench writes to or reads from.
#[derive(Debug, Clone, clap::Args, serde::Serialize)]
pub struct TopicOpts {
    /// Topic to use; created if missing
    #[arg(long, default_value = "weir-bench")]
    pub topic: String,
    /// Partitions when the topic is created
    #[arg(long, default_value_t = 8)]
    pub partitions: i32,
}

/// How records are shaped and batched by the producer.
#[derive(Debug, Clone, clap::Args, serde::Serialize)]
pub struct ProducerOpts {
    /// Value size of every record, in bytes (random, incompressible bytes)
    #[arg(long, default_value_t = 1024)]
    pub record_bytes: usize,
    /// Give each record a key (spreads records over partitions by hash)
    #[arg(long)]
    pub keyed: bool,
    /// Acknowledgements to wait for
    #[arg(long, default_value = "all", value_parser = ["0", "1", "all", "-1"], allow_hyphen_values = true)]
    pub acks: String,
    /// Batch compression
    #[arg(long, default_value = "none", value_parser = ["none", "gzip", "snappy", "lz4", "zstd"])]
    pub compression: String,
    /// linger.ms: how long a batch waits for more records
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u64,
    /// batch.size: most bytes in one partition's batch
    #[arg(long, default_value_t = 1_000_000)]
    pub batch_bytes: u64,
}

impl ProducerOpts {
    /// librdkafka producer properties for these options.
    pub fn properties(&self, client: &ClientArgs) -> Vec<(&'static str, String)> {
        vec![
            ("acks", self.acks.clone()),
            ("compression.type", self.compression.clone()),
            ("linger.ms", self.linger_ms.to_string()),
            ("batch.size", self.batch_bytes.to_string()),
            ("message.timeout.ms", client.timeout_ms.to_string()),
        ]
    }

    pub fn check(&self) -> anyhow::Result<()> {
        if self.record_bytes > RECORD_BYTES_MAX {
            bail!("--record-bytes is at most {RECORD_BYTES_MAX}");
        }
        Ok(())
    }

    /// A short description for the report title.
    pub fn describe(&self) -> String {
        format!(
            "{}-byte records{}, acks={}, compression={}, linger.ms={}, batch.size={}",
            self.record_bytes,
            if self.keyed { " keyed" } else { "" },
            self.acks,
            self.compression,
            self.linger_ms,
            self.batch_bytes
        )
    }
}

/// Creates `opts.topic` with `opts.partitions` partitions unless it exists;
/// returns the partition count it has, which differs from `opts.partitions`
/// when the topic already existed.
pub fn ensure_topic(client_args: &ClientArgs, opts: &TopicOpts) -> anyhow::Result<i32> {
    let admin: AdminClient<DefaultClientContext> = client_args
        .config(&[])
        .create()
        .map_err(|err| client::kafka_error("cannot create admin client", &err))?;
    let options = AdminOptions::new()
        .request_timeout(Some(client_args.timeout()))
        .operation_timeout(Some(client_args.timeout()));
    let topic = NewTopic::new(&opts.topic, opts.partitions, TopicReplication::Fixed(1));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let results = runtime
        .block_on(admin.create_topics([&topic], &options))
        .map_err(|err| client::kafka_error("create topic", &err))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => bail!("create topic {name}: {}", client::describe_code(code)),
        }
    }
    let metadata = admin
        .inner()
        .fetch_metadata(Some(&opts.topic), client_args.timeout())
        .map_err(|err| client::kafka_error("metadata", &err))?;
    let partitions = metadata
        .topics()
        .iter()
        .find(|t| t.name() == opts.topic)
        .map_or(0, |t| t.partitions().len());
    Ok(i32::try_from(partitions).unwrap_or(i32::MAX))
}

/// Paces sends to a fixed rate against the clock, so latency can be measured
/// below saturation. A sender that falls behind sends the records it owes in
/// a burst rather than dropping them, so the average rate holds.
pub struct Pace {
    started: Instant,
    rate: u64,
}

impl Pace {
    /// `rate` records per second from now; `rate` must be at least 1.
    pub fn new(rate: u64) -> Pace {
        Pace {
            started: Instant::now(),
            rate: rate.max(1),
        }
    }

    /// When send number `n` (counting from 0) is due: `n / rate` seconds
    /// after the start, in whole nanoseconds rounded down. Exact integer
    /// steps keep any half-open second to at most `rate` due times (a float
    /// interval of 1/300 s rounds down to 3,333,333 ns and fits 301).
    pub fn due(&self, n: u64) -> Instant {
        let nanos = u128::from(n) * 1_000_000_000 / u128::from(self.rate);
        self.started + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Sleeps until `due` unless it has passed.
    pub fn sleep_until(due: Instant) {
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
    }
}

/// Checks a `--rate` flag: 1..=RATE_MAX records per second.
pub fn check_rate(rate: u64) -> anyhow::Result<()> {
    if rate == 0 || rate > RATE_MAX {
        bail!("--rate must be 1..={RATE_MAX}");
    }
    Ok(())
}

/// Progress shared between worker threads and the progress bar.
#[derive(Debug, Default)]
pub struct Counters {
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    pub failed: AtomicU64,
}

impl Counters {
    pub fn add(&self, records: u64, bytes: u64) {
        self.records.fetch_add(records, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

/// A latency histogram in microseconds, 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts (low ≥ 1, high ≥
    // 2 × low, 3 significant figures), so this cannot fail.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).expect("constant histogram bounds are valid")
}

/// Records `duration` in microseconds, clamped to the histogram's range.
pub fn record_latency(histogram: &mut Histogram<u64>, duration: Duration) {
    record_latencies(histogram, duration, 1);
}

/// Records `duration` `count` times, as [`record_latency`] does once.
pub fn record_latencies(histogram: &mut Histogram<u64>, duration: Duration, count: u64) {
    let us = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record_n(us.clamp(1, LATENCY_US_MAX), count);
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl LatencySummary {
    pub fn of(histogram: &Histogram<u64>) -> LatencySummary {
        if histogram.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            count: histogram.len(),
            p50_us: histogram.value_at_quantile(0.50),
            p99_us: histogram.value_at_quantile(0.99),
            p999_us: histogram.value_at_quantile(0.999),
            max_us: histogram.max(),
        }
    }
}

/// A progress bar on stderr, hidden when stderr is not a terminal. Its
/// length is either a record count or a duration in milliseconds.
pub struct Progress {
    bar: ProgressBar,
    goal: Goal,
    started: Instant,
}

#[derive(Debug, Clone, Copy)]
pub enum Goal {
    Records(u64),
    Duration(Duration),
}

impl Progress {
    pub fn new(what: &str, goal: Goal) -> Progress {
        let length = match goal {
            Goal::Records(n) => n,
            Goal::Duration(d) => u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
        };
        let bar = if std::io::stderr().is_terminal() {
            ProgressBar::new(length)
        } else {
            ProgressBar::hidden()
        };
        if let Ok(style) = ProgressStyle::with_template("{prefix} [{bar:30}] {percent:>3}% {msg}") {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(what.to_string());
        Progress {
            bar,
            goal,
            started: Instant::now(),
        }
    }

    /// Shows `counters` and the rate since the bar started.
    pub fn update(&self, counters: &Counters) {
        let records = counters.records();
        let seconds = self.started.elapsed().as_secs_f64().max(1e-3);
        match self.goal {
            Goal::Records(_) => self.bar.set_position(records),
            Goal::Duration(_) => self
                .bar
                .set_position(u64::try_from(self.started.elapsed().as_millis()).unwrap_or(0)),
        }
        self.bar.set_message(format!(
            "{records} records, {:.0} records/s, {:.1} MB/s",
            records as f64 / seconds,
            counters.bytes() as f64 / MB / seconds
        ));
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Waits for scoped worker threads, updating `progress` every tick.
pub fn watch(progress: &Progress, counters: &Counters, done: impl Fn() -> bool) {
    while !done() {
        progress.update(counters);
        std::thread::sleep(TICK);
    }
    progress.finish();
}

/// A fixed pseudo-random (xorshift) byte string: incompressible, the same
/// in every run.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// Bytes per second in MB/s; zero when no time passed.
pub fn mb_per_s(bytes: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        bytes as f64 / MB / seconds
    } else {
        0.0
    }
}

/// Items per second; zero when no time passed.
pub fn per_s(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paced_second_holds_at_most_rate_sends() {
        // Due times never go back and are exactly one second apart every
        // `rate` sends, so no half-open second can hold `rate + 1` of them.
        for rate in [1, 3, 7, 300, 999_983, RATE_MAX] {
            let pace = Pace::new(rate);
            for n in [0, 1, rate - 1, rate, 12_345, u64::from(u32::MAX)] {
                let second = pace.due(n + rate) - pace.due(n);
                assert_eq!(second, Duration::from_secs(1), "rate {rate}, send {n}");
                assert!(pace.due(n + 1) >= pace.due(n), "rate {rate}, send {n}");
            }
        }
    }

    #[test]
    fn percentiles_come_from_the_recorded_latencies() {
        let mut histogram = latency_histogram();
        for us in 1..=1000u64 {
            record_latency(&mut histogram, Duration::from_micros(us));
        }
        record_latency(&mut histogram, Duration::from_secs(100_000));
        let summary = LatencySummary::of(&histogram);
        assert_eq!(summary.count, 1001);
        // Three significant digits: each figure within 0.1% of the exact one.
        let near = |got: u64, want: u64| got.abs_diff(want) * 1000 <= want;
        assert!(near(summary.p50_us, 501), "{summary:?}");
        assert!(near(summary.p99_us, 991), "{summary:?}");
        assert!(near(summary.p999_us, 1000), "{summary:?}");
        assert!(near(summary.max_us, LATENCY_US_MAX), "{summary:?}");
        assert_eq!(LatencySummary::of(&latency_histogram()).count, 0);
    }

    #[test]
    fn random_bytes_are_deterministic_and_sized() {
        assert_eq!(random_bytes(13, 7), random_bytes(13, 7));
        assert_eq!(random_bytes(13, 7).len(), 13);
        assert_ne!(random_bytes(16, 7), random_bytes(16, 8));
        assert!(random_bytes(0, 1).is_empty());
    }

    #[test]
    fn rates_are_zero_without_elapsed_time() {
        assert_eq!(mb_per_s(5_000_000, 0.0), 0.0);
        assert_eq!(mb_per_s(5_000_000, 2.0), 2.5);
        assert_eq!(per_s(10, 4.0), 2.5);
    }
}
