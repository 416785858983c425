//! `weir bench consume`: N independent groups each read every partition of a
//! topic from the beginning up to the end offsets seen at start (or
//! `--count` records). A group is `--members` consumers, each on its own
//! thread with its own connection, splitting the partitions between them.
//! Reports records/s and MB/s (record key + value bytes) per group and in
//! total. Nothing is committed.
//!
//! Without `--use-groups` member m of M assigns itself every partition whose
//! position in the topic's list is m modulo M, so no group coordinator is
//! needed; with it, a group's members subscribe under one `group.id` and the
//! broker assigns partitions. Nothing here writes records.
//!
//! One librdkafka consumer parses every fetched record on its one broker
//! thread, so on a small machine a single member can be the limit rather
//! than the broker; `--members 2` shows what a group reading in parallel
//! gets. The report gives those threads' CPU time, and from it the rate a
//! reader could not pass even against a broker that answered at once.

use super::limits::Limits;
use super::report::{emit, network_fraction, Fraction, Table};
use super::{mb_per_s, per_s, watch, Counters, Goal, OutputArgs, Progress, MB, WORKERS_MAX};
use crate::client::{self, ClientArgs};
use anyhow::{anyhow, bail};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
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
    /// Independent groups, each reading every record of the topic
    #[arg(long, default_value_t = 1)]
    pub groups: u32,
    /// Consumers in each group, splitting its partitions between them
    #[arg(long, default_value_t = 1)]
    pub members: u32,
    /// Records each group reads [default: all records up to the end offsets seen at start]
    #[arg(long, short = 'n')]
    pub count: Option<u64>,
    /// Stop reading after this long even if not done
    #[arg(long, default_value_t = 60)]
    pub duration_secs: u64,
    /// Subscribe each group's members under one group id instead of assigning
    /// partitions (nothing is committed: records re-read after a rebalance count again)
    #[arg(long)]
    pub use_groups: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// One group's figures, all its members together.
#[derive(Debug, Clone, serde::Serialize)]
struct GroupResult {
    group: u32,
    records: u64,
    bytes: u64,
    seconds: f64,
    records_per_s: f64,
    mb_per_s: f64,
    /// False when the group stopped (time limit, Ctrl-C) before its target.
    complete: bool,
}

#[derive(Debug, serde::Serialize)]
struct ConsumeResult {
    command: &'static str,
    bootstrap: String,
    topic: String,
    partitions: usize,
    groups: u32,
    members: u32,
    use_groups: bool,
    records_per_group: u64,
    /// Every group's records together.
    records: u64,
    bytes: u64,
    /// From the first member's start to the last member's last record.
    seconds: f64,
    records_per_s: f64,
    mb_per_s: f64,
    per_group: Vec<GroupResult>,
    /// `None` where `/proc/self/task` does not tell.
    fetch_threads: Option<FetchThreads>,
    vs_limits: Vec<Fraction>,
}

/// The CPU time of librdkafka's broker threads (`rdk:broker*`) over the
/// whole run. Each reader's thread sends a fetch, receives the response,
/// parses every record in it and only then sends the next, so the data it
/// read divided by the CPU it used is a rate that reader could not pass
/// whatever the broker did. Measured from `/proc/self/task/*/schedstat`
/// (time on CPU) while the readers still exist. Includes the idle
/// bootstrap connection's thread.
#[derive(Debug, Clone, Copy, serde::Serialize)]
struct FetchThreads {
    threads: usize,
    cpu_seconds: f64,
    /// MB of record key + value read per CPU second of those threads.
    ceiling_mb_per_s: f64,
}

impl FetchThreads {
    /// Sums the threads' time on CPU so far; `bytes` is what they read.
    fn measure(bytes: u64) -> Option<FetchThreads> {
        let mut threads = 0;
        let mut on_cpu_ns = 0u64;
        for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let dir = task.path();
            let is_fetcher = std::fs::read_to_string(dir.join("comm"))
                .is_ok_and(|comm| comm.starts_with("rdk:broker"));
            // The first field of schedstat is the thread's time on CPU, in ns.
            let ns = std::fs::read_to_string(dir.join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
            if let (true, Some(ns)) = (is_fetcher, ns) {
                threads += 1;
                on_cpu_ns += ns;
            }
        }
        let cpu_seconds = on_cpu_ns as f64 / 1e9;
        (threads > 0 && on_cpu_ns > 0).then(|| FetchThreads {
            threads,
            cpu_seconds,
            ceiling_mb_per_s: bytes as f64 / MB / cpu_seconds,
        })
    }
}

pub fn run(args: &ConsumeBenchArgs) -> anyhow::Result<()> {
    let readers = u64::from(args.groups) * u64::from(args.members);
    if args.groups == 0 || args.members == 0 || readers > u64::from(WORKERS_MAX) {
        bail!("--groups and --members must be at least 1, and --groups × --members at most {WORKERS_MAX}");
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
    let group_records: Vec<GroupCount> = (0..args.groups).map(|_| GroupCount::default()).collect();
    let reader = Reader {
        args,
        partitions: &partitions,
        target,
        deadline,
        interrupted: &interrupted,
        total: &total,
    };
    let results: Vec<anyhow::Result<(Span, BaseConsumer)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..args.groups)
            .flat_map(|group| (0..args.members).map(move |member| (group, member)))
            .map(|(group, member)| {
                let (reader, done) = (&reader, &done);
                let read = &group_records[group as usize].0;
                scope.spawn(move || {
                    let result = reader.read(group, member, read);
                    done.fetch_add(1, Ordering::SeqCst);
                    result
                })
            })
            .collect();
        watch(&progress, &total, || {
            u64::from(done.load(Ordering::SeqCst)) == readers
        });
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a reader thread panicked")))
            })
            .collect()
    });
    let (spans, consumers): (Vec<Span>, Vec<BaseConsumer>) = results
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .unzip();
    // Before the consumers, and their threads, go.
    let bytes = spans.iter().map(|s| s.bytes).sum();
    let fetch_threads = FetchThreads::measure(bytes);
    drop(consumers);
    let groups: Vec<Span> = spans
        .chunks(args.members as usize)
        .map(Span::combine)
        .collect();
    report(args, partitions.len(), target, &groups, fetch_threads)
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

/// One group's count of records read, alone on its cache line: each member
/// updates its group's count per record, and counts of different groups
/// sharing a line would make every update a cache miss for the others.
#[derive(Default)]
#[repr(align(128))]
struct GroupCount(AtomicU64);

/// What every reader thread shares.
struct Reader<'a> {
    args: &'a ConsumeBenchArgs,
    partitions: &'a [i32],
    target: u64,
    deadline: Instant,
    interrupted: &'a AtomicBool,
    total: &'a Counters,
}

/// One member's (or a whole group's) counts and the time it spent.
#[derive(Clone, Copy)]
struct Span {
    records: u64,
    bytes: u64,
    started: Instant,
    last_record: Instant,
}

impl Span {
    /// A group's span: its members' records, from the first start to the
    /// last record. `members` is never empty.
    fn combine(members: &[Span]) -> Span {
        members
            .iter()
            .copied()
            .reduce(|a, b| Span {
                records: a.records + b.records,
                bytes: a.bytes + b.bytes,
                started: a.started.min(b.started),
                last_record: a.last_record.max(b.last_record),
            })
            .expect("a group has at least one member")
    }
}

impl Reader<'_> {
    /// Reads as member `member` of `group` until the group as a whole
    /// (counted in `group_records`) has read the target. Returns the
    /// consumer too, so its threads can be measured once every member is
    /// done.
    fn read(
        &self,
        group: u32,
        member: u32,
        group_records: &AtomicU64,
    ) -> anyhow::Result<(Span, BaseConsumer)> {
        let consumer = self.connect(group, member)?;
        let started = Instant::now();
        let mut span = Span {
            records: 0,
            bytes: 0,
            started,
            last_record: started,
        };
        // On a small machine the reader shares the CPU with the broker it
        // measures, so per record it does no more than it must: the clock
        // is read, and the progress counters every reader shares are moved,
        // every CLOCK_EVERY records (and when idle). With five groups, a
        // shared counter moved per record was 2% of the load generator.
        const CLOCK_EVERY: u64 = 256;
        let mut now = started;
        let mut reported = (0, 0);
        let mut report_progress = |span: &Span| {
            self.total
                .add(span.records - reported.0, span.bytes - reported.1);
            reported = (span.records, span.bytes);
        };
        while group_records.load(Ordering::Relaxed) < self.target
            && now < self.deadline
            && !self.interrupted.load(Ordering::Relaxed)
        {
            match consumer.poll(POLL_WAIT) {
                None => {
                    now = Instant::now();
                    report_progress(&span);
                }
                Some(Ok(message)) => {
                    // Counted only while the group is short of its target,
                    // so members racing for the last records never overshoot.
                    let Ok(before) =
                        group_records.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |read| {
                            (read < self.target).then_some(read + 1)
                        })
                    else {
                        break;
                    };
                    let bytes = (message.payload_len() + message.key_len()) as u64;
                    span.records += 1;
                    span.bytes += bytes;
                    if span.records.is_multiple_of(CLOCK_EVERY) || before + 1 == self.target {
                        now = Instant::now();
                        span.last_record = now;
                        report_progress(&span);
                    }
                }
                Some(Err(err)) => return Err(client::kafka_error("consume", &err)),
            }
        }
        report_progress(&span);
        Ok((span, consumer))
    }

    /// A consumer reading its share of the partitions from the beginning:
    /// assigned by us, or by the group coordinator with `--use-groups`.
    fn connect(&self, group: u32, member: u32) -> anyhow::Result<BaseConsumer> {
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
        let members = self.args.members as usize;
        let share = self
            .partitions
            .iter()
            .skip(member as usize)
            .step_by(members);
        for partition in share {
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
    fetch_threads: Option<FetchThreads>,
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
        members: args.members,
        use_groups: args.use_groups,
        records_per_group: target,
        records,
        bytes,
        seconds,
        records_per_s: per_s(records, seconds),
        mb_per_s: mb_s,
        per_group,
        fetch_threads,
        vs_limits: network_fraction("consume (all groups)", mb_s, limits.as_ref()),
    };
    emit(&args.output, &result, &table(&result, limits.is_some()))?;
    if result.per_group.iter().any(|g| !g.complete) {
        bail!("not every group reached {target} records before the time limit");
    }
    Ok(())
}

fn table(result: &ConsumeResult, limits_found: bool) -> Table {
    let mut table = Table::new(format!(
        "weir bench consume — {} ({} partitions), {} group(s) of {} member(s){}, {} records each",
        result.topic,
        result.partitions,
        result.groups,
        result.members,
        if result.use_groups {
            " subscribed"
        } else {
            " assigning partitions"
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
    if let Some(fetch) = &result.fetch_threads {
        table.row(
            "fetch threads",
            format!(
                "{} librdkafka broker thread(s), {:.2} s on CPU: each reader could not pass {:.0} MB/s even against a broker answering at once",
                fetch.threads, fetch.cpu_seconds, fetch.ceiling_mb_per_s
            ),
        );
    }
    table.fractions(&result.vs_limits, limits_found);
    table
}
