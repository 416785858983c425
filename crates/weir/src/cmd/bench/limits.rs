//! `weir bench limits`: this machine's ceilings, measured the same way every
//! time so broker figures can be stated as fractions of them — sequential
//! write to a file on the data directory's filesystem (buffered, and with
//! fdatasync per 1 MiB), fdatasync latency of small appends, loopback TCP
//! bandwidth and, on request, the latency of group commit at a fixed rate
//! (`--commit-mb-s`). Every test is bounded in bytes and seconds; its scratch
//! files are removed afterwards. The result is cached as JSON (`Limits`), by default
//! `<data-dir>/bench-limits.json`, which the other benches read.

use super::report::{emit, Table};
use super::{
    latency_histogram, mb_per_s, record_latencies, record_latency, LatencySummary, OutputArgs,
};
use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::num::NonZeroU64;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Size of every write in the sequential-write and TCP tests.
const CHUNK_BYTES: usize = 1024 * 1024;
/// Size of each append in the fdatasync-latency test.
const SMALL_APPEND_BYTES: usize = 1024;
/// Upper bounds on the flags, so a typo cannot fill the disk.
const WRITE_MIB_MAX: u64 = 4096;
const TCP_MIB_MAX: u64 = 65_536;
const SYNC_APPENDS_MAX: u64 = 1_000_000;
const SECONDS_MAX: u64 = 60;
const COMMIT_MB_S_MAX: f64 = 10_000.0;
/// Files the group-commit test appends to: the suite's partitions.
const COMMIT_FILES: usize = 8;
/// How often the group-commit test's writer appends what its rate has
/// accrued: every append in one step counts as arriving at the step's start.
const COMMIT_STEP: Duration = Duration::from_millis(1);
/// Most bytes the group-commit test writes, whatever its rate and time.
const COMMIT_BYTES_MAX: u64 = 8 << 30;
/// Name of the cache file inside the data directory.
pub const LIMITS_FILE: &str = "bench-limits.json";

#[derive(Debug, clap::Args)]
pub struct LimitsArgs {
    /// Directory whose filesystem is measured (the broker's data directory)
    #[arg(long, env = "WEIR_DATA_DIR", default_value = "weir-data")]
    pub data_dir: PathBuf,
    /// Where to cache the result [default: <data-dir>/bench-limits.json]
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Bytes written by each sequential-write test, in MiB
    #[arg(long, default_value_t = 256)]
    pub write_mib: u64,
    /// Bytes sent by the loopback TCP test, in MiB
    #[arg(long, default_value_t = 4096)]
    pub tcp_mib: u64,
    /// 1 KiB appends, each followed by fdatasync, in the latency test
    #[arg(long, default_value_t = 2000)]
    pub sync_appends: u64,
    /// Time limit of each test, in seconds (a test stops at its bytes or its time)
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Also measure group commit at this rate, in MB/s: 1 KiB appends to 8
    /// files, one sync covering all that arrived while the previous ran
    #[arg(long, value_name = "MB_S")]
    pub commit_mb_s: Option<f64>,
    /// Print one JSON object on stdout instead of the summary table
    #[arg(long)]
    pub json: bool,
}

/// The cached measurements.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    pub measured_at_unix_s: u64,
    pub data_dir: String,
    /// write() of 1 MiB chunks into the page cache, no sync.
    pub buffered_write_mb_s: f64,
    /// write() of 1 MiB then fdatasync, repeated.
    pub synced_write_mb_s: f64,
    /// fdatasync after each 1 KiB append, in µs.
    pub fdatasync_latency: LatencySummary,
    /// One TCP stream over 127.0.0.1, 1 MiB writes.
    pub loopback_tcp_mb_s: f64,
    /// Group commit at a fixed rate, when asked for (`--commit-mb-s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_commit: Option<GroupCommit>,
}

/// What the disk alone gives a writer that acknowledges only synced data:
/// 1 KiB appends at a fixed rate, spread over [`COMMIT_FILES`] files into
/// blocks reserved ahead, as a broker's partitions are, and one thread
/// syncing in a loop, each sync covering everything written while the one
/// before it ran. It syncs with one syncfs; Weir's flusher fdatasyncs the
/// files concurrently instead, which on an otherwise quiet filesystem cost
/// the same (produce p99 at half the durable rate: 8.2-8.9 ms with syncfs,
/// 8.6-9.5 ms concurrently), and unlike syncfs waits for no other
/// program's writes. No client, protocol or network: a floor under any
/// such broker's produce latency at that rate.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GroupCommit {
    pub target_mb_s: f64,
    /// Less than the target when the writer could not keep up.
    pub achieved_mb_s: f64,
    /// How long each sync took, in µs: the disk's sync latency under this
    /// load, where each sync carries what arrived during the last.
    pub sync_latency: LatencySummary,
    /// Per append, from the start of its write to the end of the sync that
    /// covered it, in µs.
    pub latency: LatencySummary,
}

impl Limits {
    /// Reads a cached limits file; `None` when it is absent or unreadable,
    /// since benches run fine without it.
    pub fn load(path: &Path) -> Option<Limits> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// Bounds of one test.
#[derive(Debug, Clone, Copy)]
struct Budget {
    bytes: u64,
    time: Duration,
}

pub fn run(args: &LimitsArgs) -> anyhow::Result<()> {
    check(args)?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    let time = Duration::from_secs(args.seconds);
    let write = Budget {
        bytes: args.write_mib * CHUNK_BYTES as u64,
        time,
    };
    let scratch = Scratch::new(&args.data_dir);
    let buffered_write_mb_s = sequential_write(&scratch.path, write, false)?;
    let synced_write_mb_s = sequential_write(&scratch.path, write, true)?;
    let fdatasync_latency = sync_latency(&scratch.path, args.sync_appends, time)?;
    drop(scratch);
    let group_commit = match args.commit_mb_s {
        Some(rate) => Some(group_commit(&args.data_dir, rate, time)?),
        None => None,
    };
    let tcp = Budget {
        bytes: args.tcp_mib * CHUNK_BYTES as u64,
        time,
    };
    let loopback_tcp_mb_s = loopback_tcp(tcp)?;
    let limits = Limits {
        measured_at_unix_s: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        data_dir: args.data_dir.display().to_string(),
        buffered_write_mb_s,
        synced_write_mb_s,
        fdatasync_latency,
        loopback_tcp_mb_s,
        group_commit,
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.data_dir.join(LIMITS_FILE));
    let json = serde_json::to_string_pretty(&limits)?;
    std::fs::write(&out, json + "\n").with_context(|| format!("cannot write {}", out.display()))?;
    let output = OutputArgs {
        json: args.json,
        limits: out.clone(),
    };
    emit(&output, &limits, &table(&limits, &out))
}

fn check(args: &LimitsArgs) -> anyhow::Result<()> {
    if args.write_mib == 0 || args.write_mib > WRITE_MIB_MAX {
        bail!("--write-mib must be 1..={WRITE_MIB_MAX}");
    }
    if args.tcp_mib == 0 || args.tcp_mib > TCP_MIB_MAX {
        bail!("--tcp-mib must be 1..={TCP_MIB_MAX}");
    }
    if args.sync_appends == 0 || args.sync_appends > SYNC_APPENDS_MAX {
        bail!("--sync-appends must be 1..={SYNC_APPENDS_MAX}");
    }
    if args.seconds == 0 || args.seconds > SECONDS_MAX {
        bail!("--seconds must be 1..={SECONDS_MAX}");
    }
    if let Some(rate) = args.commit_mb_s {
        if !(rate > 0.0 && rate <= COMMIT_MB_S_MAX) {
            bail!("--commit-mb-s must be above 0 and at most {COMMIT_MB_S_MAX}");
        }
    }
    Ok(())
}

fn table(limits: &Limits, out: &Path) -> Table {
    let mut table = Table::new(format!(
        "weir bench limits — filesystem of {}",
        limits.data_dir
    ));
    table.row(
        "buffered write",
        format!(
            "{:.1} MB/s (1 MiB writes, no sync)",
            limits.buffered_write_mb_s
        ),
    );
    table.row(
        "synced write",
        format!(
            "{:.1} MB/s (1 MiB writes, fdatasync after each)",
            limits.synced_write_mb_s
        ),
    );
    table.latency("fdatasync 1 KiB", &limits.fdatasync_latency);
    table.row(
        "loopback TCP",
        format!("{:.1} MB/s (one stream)", limits.loopback_tcp_mb_s),
    );
    if let Some(commit) = &limits.group_commit {
        table.row(
            "group commit",
            format!(
                "{:.1} MB/s of 1 KiB appends to {COMMIT_FILES} files (asked {:.1}), {} syncs",
                commit.achieved_mb_s, commit.target_mb_s, commit.sync_latency.count
            ),
        );
        table.latency("… each sync", &commit.sync_latency);
        table.latency("… write to synced", &commit.latency);
    }
    table.row("saved to", out.display().to_string());
    table
}

/// A scratch file in the data directory, removed when dropped.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new(dir: &Path) -> Scratch {
        Scratch::named(dir, "")
    }

    /// A scratch file whose name ends in `suffix`, for tests that need several.
    fn named(dir: &Path, suffix: &str) -> Scratch {
        let name = format!(".weir-bench-limits-{}{suffix}.tmp", std::process::id());
        Scratch {
            path: dir.join(name),
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Absent when a test failed before creating it; nothing to report.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// MB/s of 1 MiB writes to an empty file, each followed by fdatasync when
/// `sync`. Buffered writes are synced once after timing so the next test
/// starts with no dirty pages of ours.
///
/// The file is first written once untimed, synced and emptied, so the timed
/// pass writes into page-cache memory the kernel has just freed. On VMs that
/// hand free memory back to the host, memory touched for the first time in a
/// while costs a host fault per page; without the warm-up the figure would
/// swing with how recently the guest used its free memory (342 MB/s to
/// 2.5 GB/s for the same `dd` here). What this measures is the disk and the
/// page cache at their best; a writer whose page cache keeps growing into
/// such memory gets less (see `--page-cache-window-mib`).
fn sequential_write(path: &Path, budget: Budget, sync: bool) -> anyhow::Result<f64> {
    let mut file = fresh_file(path)?;
    let chunk = super::random_bytes(CHUNK_BYTES, 0x5eed);
    write_for(&mut file, &chunk, budget, false)?;
    file.sync_data()?;
    file.set_len(0)?;
    file.rewind()?;
    let (written, seconds) = write_for(&mut file, &chunk, budget, sync)?;
    file.sync_data()?;
    Ok(mb_per_s(written, seconds))
}

/// Writes `chunk` repeatedly within `budget`; returns bytes and seconds.
fn write_for(file: &mut File, chunk: &[u8], budget: Budget, sync: bool) -> io::Result<(u64, f64)> {
    let started = Instant::now();
    let mut written = 0u64;
    while written < budget.bytes && started.elapsed() < budget.time {
        file.write_all(chunk)?;
        if sync {
            file.sync_data()?;
        }
        written += chunk.len() as u64;
    }
    Ok((written, started.elapsed().as_secs_f64()))
}

/// fdatasync latency after each small append to a fresh file.
fn sync_latency(path: &Path, appends: u64, time: Duration) -> anyhow::Result<LatencySummary> {
    let mut file = fresh_file(path)?;
    let record = super::random_bytes(SMALL_APPEND_BYTES, 0xface);
    let mut histogram = latency_histogram();
    let started = Instant::now();
    let mut done = 0;
    while done < appends && started.elapsed() < time {
        file.write_all(&record)?;
        let before = Instant::now();
        file.sync_data()?;
        record_latency(&mut histogram, before.elapsed());
        done += 1;
    }
    Ok(LatencySummary::of(&histogram))
}

/// Appends written but not yet covered by a sync, shared by the group-commit
/// test's writer and syncer.
#[derive(Default)]
struct Unsynced {
    /// Each step's start and its number of appends.
    steps: Vec<(Instant, u64)>,
    /// Bytes written to each file so far.
    ends: [u64; COMMIT_FILES],
    writer_done: bool,
}

/// Group commit at `rate_mb_s` for `time`: see [`GroupCommit`]. The writer
/// appends every [`COMMIT_STEP`] what the rate has accrued since the last,
/// one write per file; the syncer takes what is written, syncs the data
/// directory's filesystem, and records each append's wait. Synced pages are
/// then dropped from the page cache, so the writer reuses memory instead of
/// growing into fresh memory, which on a VM that hands free memory back
/// would slow the writer, not the disk (the broker's page-cache window does
/// the same).
fn group_commit(dir: &Path, rate_mb_s: f64, time: Duration) -> anyhow::Result<GroupCommit> {
    let scratch: Vec<Scratch> = (0..COMMIT_FILES)
        .map(|i| Scratch::named(dir, &format!("-commit-{i}")))
        .collect();
    let files = scratch
        .iter()
        .map(|s| fresh_file(&s.path))
        .collect::<anyhow::Result<Vec<File>>>()?;
    let directory = File::open(dir).with_context(|| format!("cannot open {}", dir.display()))?;
    let bytes_per_s = rate_mb_s * super::MB;
    let total = ((bytes_per_s * time.as_secs_f64()) as u64).min(COMMIT_BYTES_MAX);
    let per_file = total / COMMIT_FILES as u64 + CHUNK_BYTES as u64;
    for file in &files {
        // As the broker's active segments do; a filesystem that declines
        // just allocates at writeback.
        let keep_size = rustix::fs::FallocateFlags::KEEP_SIZE;
        let _ = rustix::fs::fallocate(file, keep_size, 0, per_file);
    }
    let record = super::random_bytes(SMALL_APPEND_BYTES, 0xc0de);
    let unsynced = Mutex::new(Unsynced::default());
    let written = Condvar::new();
    let lock = || unsynced.lock().unwrap_or_else(|e| e.into_inner());
    std::thread::scope(|scope| {
        let syncer = scope.spawn(|| -> anyhow::Result<(Histogram<u64>, Histogram<u64>)> {
            let mut histogram = latency_histogram();
            let mut syncs = latency_histogram();
            let mut dropped_to = [0u64; COMMIT_FILES];
            loop {
                let (steps, ends, done) = {
                    let mut state = lock();
                    while state.steps.is_empty() && !state.writer_done {
                        state = written.wait(state).unwrap_or_else(|e| e.into_inner());
                    }
                    (
                        std::mem::take(&mut state.steps),
                        state.ends,
                        state.writer_done,
                    )
                };
                if steps.is_empty() && done {
                    return Ok((histogram, syncs));
                }
                let syncing = Instant::now();
                rustix::fs::syncfs(&directory).context("group commit: syncfs")?;
                let synced = Instant::now();
                record_latency(&mut syncs, synced.duration_since(syncing));
                for (started, appends) in steps {
                    record_latencies(&mut histogram, synced.duration_since(started), appends);
                }
                for ((file, from), to) in files.iter().zip(&mut dropped_to).zip(ends) {
                    let dont_need = rustix::fs::Advice::DontNeed;
                    let _ =
                        rustix::fs::fadvise(file, *from, NonZeroU64::new(to - *from), dont_need);
                    *from = to;
                }
            }
        });
        let wrote = write_at_rate(
            &files,
            &record,
            bytes_per_s,
            total,
            time,
            &unsynced,
            &written,
        );
        lock().writer_done = true;
        written.notify_one();
        let (histogram, syncs) = match syncer.join() {
            Ok(result) => result?,
            Err(_) => bail!("group commit: the syncer thread panicked"),
        };
        let (bytes, seconds) = wrote?;
        Ok(GroupCommit {
            target_mb_s: rate_mb_s,
            achieved_mb_s: mb_per_s(bytes, seconds),
            sync_latency: LatencySummary::of(&syncs),
            latency: LatencySummary::of(&histogram),
        })
    })
}

/// The group-commit test's writer: appends `record`s round-robin over
/// `files` at `bytes_per_s` until `total` bytes or `time`, one write per
/// file per step, and hands each step to the syncer. Returns bytes and
/// seconds.
fn write_at_rate(
    files: &[File],
    record: &[u8],
    bytes_per_s: f64,
    total: u64,
    time: Duration,
    unsynced: &Mutex<Unsynced>,
    written: &Condvar,
) -> anyhow::Result<(u64, f64)> {
    let started = Instant::now();
    let mut appends = 0u64;
    let mut ends = [0u64; COMMIT_FILES];
    let mut buffer = Vec::new();
    let record_bytes = record.len() as u64;
    loop {
        let step = Instant::now();
        let elapsed = step.duration_since(started);
        if elapsed >= time || appends * record_bytes >= total {
            break;
        }
        let due = ((bytes_per_s * elapsed.as_secs_f64()) as u64).min(total) / record_bytes;
        let count = due - appends;
        for (i, (file, end)) in files.iter().zip(&mut ends).enumerate() {
            // File i takes appends i, i + n, i + 2n, … of this step.
            let mine = (count + (COMMIT_FILES - 1 - i) as u64) / COMMIT_FILES as u64;
            if mine == 0 {
                continue;
            }
            buffer.clear();
            for _ in 0..mine {
                buffer.extend_from_slice(record);
            }
            file.write_all_at(&buffer, *end)
                .context("group commit: write")?;
            *end += buffer.len() as u64;
        }
        appends = due;
        if count > 0 {
            let mut state = unsynced.lock().unwrap_or_else(|e| e.into_inner());
            state.steps.push((step, count));
            state.ends = ends;
            written.notify_one();
        }
        let next = step + COMMIT_STEP;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    Ok((appends * record_bytes, started.elapsed().as_secs_f64()))
}

fn fresh_file(path: &Path) -> anyhow::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// MB/s received by one reader from one writer over 127.0.0.1.
fn loopback_tcp(budget: Budget) -> anyhow::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0").context("loopback TCP: bind")?;
    let address = listener.local_addr()?;
    std::thread::scope(|scope| {
        let sender = scope.spawn(move || -> anyhow::Result<()> {
            let mut stream = TcpStream::connect(address).context("loopback TCP: connect")?;
            let chunk = super::random_bytes(CHUNK_BYTES, 0x7c9);
            let started = Instant::now();
            let mut sent = 0u64;
            while sent < budget.bytes && started.elapsed() < budget.time {
                stream.write_all(&chunk)?;
                sent += CHUNK_BYTES as u64;
            }
            stream.shutdown(Shutdown::Write)?;
            Ok(())
        });
        let (mut stream, _) = listener.accept().context("loopback TCP: accept")?;
        let mut buffer = vec![0u8; CHUNK_BYTES];
        let started = Instant::now();
        let mut received = 0u64;
        loop {
            let n = stream.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            received += n as u64;
        }
        let seconds = started.elapsed().as_secs_f64();
        match sender.join() {
            Ok(result) => result?,
            Err(_) => bail!("loopback TCP: the sender thread panicked"),
        }
        Ok(mb_per_s(received, seconds))
    })
}
