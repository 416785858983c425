//! `weir bench consume`: N independent readers ("groups"), each on its own
//! thread with its own connection, read every partition of a topic from the
//! beginning up to the end offsets seen at start (or `--count` records).
//! Reports records/s and MB/s (record key + value bytes) per group and in
//! total. Nothing is committed.
//!
//! Without `--use-groups` a reader assigns itself every partition, so no
//! group coordinator is needed; with it, each reader subscribes under its own
//! `group.id` and the broker assigns partitions. Nothing here writes records.

use super::limits::Limits;
use super::report::{emit, network_fraction, Fraction, Table};
use super::{mb_per_s, per_s, watch, Counters, Goal, OutputArgs, Progress, WORKERS_MAX};
use crate::client::{self, ClientArgs};
use anyhow::{anyhow, bail};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long one poll waits before the stop conditions are checked.
const POLL_WAIT: Duration = Duration::from_millis(100);

#[derive(Debug, clap::Args)]
pub struct ConsumeBenchArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Topic to read; it must exist
    #[arg(long, default_value = "weir-bench")]
    pub topic: String,
    /// Independent readers, each reading every record of the topic
    #[arg(long, default_value_t = 1)]
    pub groups: u32,
    /// Records each reader reads [default: all records up to the end offsets seen at start]
    #[arg(long, short = 'n')]
    pub count: Option<u64>,
    /// Stop reading after this long even if not done
    #[arg(long, default_value_t = 60)]
    pub duration_secs: u64,
    /// Subscribe with one consumer group per reader instead of assigning every partition
    #[arg(long)]
    pub use_groups: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// One reader's figures.
#[derive(Debug, Clone, serde::Serialize)]
struct GroupResult {
    group: u32,
    records: u64,
    bytes: u64,
    seconds: f64,
    records_per_s: f64,
    mb_per_s: f64,
    /// False when the reader stopped (time limit, Ctrl-C) before its target.
    complete: bool,
}

#[derive(Debug, serde::Serialize)]
struct ConsumeResult {
    command: &'static str,
    bootstrap: String,
    topic: String,
    partitions: usize,
    groups: u32,
    use_groups: bool,
    records_per_group: u64,
    /// Every reader's records together.
    records: u64,
    bytes: u64,
    /// From the first reader's start to the last reader's last record.
    seconds: f64,
    records_per_s: f64,
    mb_per_s: f64,
    per_group: Vec<GroupResult>,
    vs_limits: Vec<Fraction>,
}

pub fn run(args: &ConsumeBenchArgs) -> anyhow::Result<()> {
    if args.groups == 0 || args.groups > WORKERS_MAX {
        bail!("--groups must be 1..={WORKERS_MAX}");
    }
    let (partitions, available) = topic_extent(args)?;
    let target = args.count.unwrap_or(available);
    if target == 0 {
        bail!("topic {} has no records to read", args.topic);
    }
    let interrupted = client::interrupt_flag()?;
    let total = Counters::default();
    let progress = Progress::new(
        "consume",
        Goal::Records(target.saturating_mul(u64::from(args.groups))),
    );
    let deadline = Instant::now() + Duration::from_secs(args.duration_secs);
    let done = AtomicU32::new(0);
    let reader = Reader {
        args,
        partitions: &partitions,
        target,
        deadline,
        interrupted: &interrupted,
        total: &total,
    };
    let results: Vec<anyhow::Result<Span>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..args.groups)
            .map(|group| {
                let (reader, done) = (&reader, &done);
                scope.spawn(move || {
                    let result = reader.read(group);
                    done.fetch_add(1, Ordering::SeqCst);
                    result
                })
            })
            .collect();
        watch(&progress, &total, || {
            done.load(Ordering::SeqCst) == args.groups
        });
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a reader thread panicked")))
            })
            .collect()
    });
    let spans = results.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    report(args, partitions.len(), target, &spans)
}

/// The topic's partitions and how many records they hold now.
fn topic_extent(args: &ConsumeBenchArgs) -> anyhow::Result<(Vec<i32>, u64)> {
    let consumer: BaseConsumer = args
        .client
        .config(&[("group.id", "weir-bench")])
        .create()
        .map_err(|err| client::kafka_error("cannot create consumer", &err))?;
    let partitions = client::partition_ids(&consumer, &args.topic, args.client.timeout())?;
    let mut records = 0u64;
    for partition in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(&args.topic, *partition, args.client.timeout())
            .map_err(|err| client::kafka_error("list offsets", &err))?;
        records += u64::try_from(high.saturating_sub(low)).unwrap_or(0);
    }
    Ok((partitions, records))
}

/// What every reader thread shares.
struct Reader<'a> {
    args: &'a ConsumeBenchArgs,
    partitions: &'a [i32],
    target: u64,
    deadline: Instant,
    interrupted: &'a AtomicBool,
    total: &'a Counters,
}

/// One reader's counts and the time it spent.
struct Span {
    records: u64,
    bytes: u64,
    started: Instant,
    last_record: Instant,
}

impl Reader<'_> {
    fn read(&self, group: u32) -> anyhow::Result<Span> {
        let consumer = self.connect(group)?;
        let started = Instant::now();
        let mut span = Span {
            records: 0,
            bytes: 0,
            started,
            last_record: started,
        };
        // The clock is read every CLOCK_EVERY records (and when idle), not
        // per record: on a small machine the reader shares the CPU with the
        // broker it measures.
        const CLOCK_EVERY: u64 = 256;
        let mut now = started;
        while span.records < self.target
            && now < self.deadline
            && !self.interrupted.load(Ordering::Relaxed)
        {
            match consumer.poll(POLL_WAIT) {
                None => now = Instant::now(),
                Some(Ok(message)) => {
                    let bytes = (message.payload_len() + message.key_len()) as u64;
                    span.records += 1;
                    span.bytes += bytes;
                    self.total.add(1, bytes);
                    if span.records.is_multiple_of(CLOCK_EVERY) || span.records == self.target {
                        now = Instant::now();
                        span.last_record = now;
                    }
                }
                Some(Err(err)) => return Err(client::kafka_error("consume", &err)),
            }
        }
        Ok(span)
    }

    /// A consumer reading every partition from the beginning: assigned by
    /// us, or by the group coordinator with `--use-groups`.
    fn connect(&self, group: u32) -> anyhow::Result<BaseConsumer> {
        let group_id = format!("weir-bench-{}-{group}", std::process::id());
        let consumer: BaseConsumer = self
            .args
            .client
            .config(&[
                ("group.id", group_id.as_str()),
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("auto.offset.reset", "earliest"),
            ])
            .create()
            .map_err(|err| client::kafka_error("cannot create consumer", &err))?;
        if self.args.use_groups {
            consumer
                .subscribe(&[self.args.topic.as_str()])
                .map_err(|err| client::kafka_error("subscribe", &err))?;
            return Ok(consumer);
        }
        let mut assignment = TopicPartitionList::new();
        for partition in self.partitions {
            assignment
                .add_partition_offset(&self.args.topic, *partition, Offset::Beginning)
                .map_err(|err| client::kafka_error("assign", &err))?;
        }
        consumer
            .assign(&assignment)
            .map_err(|err| client::kafka_error("assign", &err))?;
        Ok(consumer)
    }
}

fn report(
    args: &ConsumeBenchArgs,
    partitions: usize,
    target: u64,
    spans: &[Span],
) -> anyhow::Result<()> {
    let per_group: Vec<GroupResult> = spans
        .iter()
        .enumerate()
        .map(|(i, span)| {
            let seconds = span.last_record.duration_since(span.started).as_secs_f64();
            GroupResult {
                group: i as u32,
                records: span.records,
                bytes: span.bytes,
                seconds,
                records_per_s: per_s(span.records, seconds),
                mb_per_s: mb_per_s(span.bytes, seconds),
                complete: span.records >= target,
            }
        })
        .collect();
    let first = spans.iter().map(|s| s.started).min();
    let last = spans.iter().map(|s| s.last_record).max();
    let seconds = first
        .zip(last)
        .map_or(0.0, |(f, l)| l.duration_since(f).as_secs_f64());
    let records = spans.iter().map(|s| s.records).sum();
    let bytes = spans.iter().map(|s| s.bytes).sum();
    let limits = Limits::load(&args.output.limits);
    let mb_s = mb_per_s(bytes, seconds);
    let result = ConsumeResult {
        command: "consume",
        bootstrap: args.client.bootstrap.clone(),
        topic: args.topic.clone(),
        partitions,
        groups: args.groups,
        use_groups: args.use_groups,
        records_per_group: target,
        records,
        bytes,
        seconds,
        records_per_s: per_s(records, seconds),
        mb_per_s: mb_s,
        per_group,
        vs_limits: network_fraction("consume (all groups)", mb_s, limits.as_ref()),
    };
    emit(&args.output, &result, &table(&result, limits.is_some()))?;
    if result.per_group.iter().any(|g| !g.complete) {
        bail!("not every reader reached {target} records before the time limit");
    }
    Ok(())
}

fn table(result: &ConsumeResult, limits_found: bool) -> Table {
    let mut table = Table::new(format!(
        "weir bench consume — {} ({} partitions), {} reader(s){}, {} records each",
        result.topic,
        result.partitions,
        result.groups,
        if result.use_groups {
            " in consumer groups"
        } else {
            " assigning every partition"
        },
        result.records_per_group
    ));
    for group in &result.per_group {
        table.row(
            format!("group {}", group.group),
            format!(
                "{} records in {:.2} s: {:.0} records/s  {:.1} MB/s{}",
                group.records,
                group.seconds,
                group.records_per_s,
                group.mb_per_s,
                if group.complete { "" } else { " (incomplete)" }
            ),
        );
    }
    table.row(
        "total",
        format!(
            "{} records in {:.2} s: {:.0} records/s  {:.1} MB/s",
            result.records, result.seconds, result.records_per_s, result.mb_per_s
        ),
    );
    table.fractions(&result.vs_limits, limits_found);
    table
}
