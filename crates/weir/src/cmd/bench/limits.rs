//! `weir bench limits`: this machine's ceilings, measured the same way every
//! time so broker figures can be stated as fractions of them — sequential
//! write to a file on the data directory's filesystem (buffered, and with
//! fdatasync per 1 MiB), fdatasync latency of small appends, and loopback TCP
//! bandwidth. Every test is bounded in bytes and seconds; its scratch file is
//! removed afterwards. The result is cached as JSON (`Limits`), by default
//! `<data-dir>/bench-limits.json`, which the other benches read.

use super::report::{emit, Table};
use super::{latency_histogram, mb_per_s, record_latency, LatencySummary, OutputArgs};
use anyhow::{bail, Context};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
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
    table.row("saved to", out.display().to_string());
    table
}

/// A scratch file in the data directory, removed when dropped.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new(dir: &Path) -> Scratch {
        Scratch {
            path: dir.join(format!(".weir-bench-limits-{}.tmp", std::process::id())),
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
