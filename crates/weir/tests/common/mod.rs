//! Shared harness for Weir's system tests: starting the real `weir` binary on
//! an ephemeral port with its own temporary data directory, stopping it
//! gracefully (SIGTERM) or brutally (SIGKILL), restarting it on the same data,
//! and small helpers around the `rdkafka` clients the tests drive it with.
//! Raw-socket helpers for malformed input live in `wire.rs`. Nothing here
//! asserts on wall-clock time: every wait has a generous deadline and only
//! exists so that a broken broker fails a test instead of hanging it.
//!
//! Each integration-test binary uses a different subset of these helpers, so
//! unused-code warnings are silenced for this module as a whole.
#![allow(dead_code)]

pub mod wire;

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::FutureProducer;
use rdkafka::{Offset, TopicPartitionList};
use tempfile::TempDir;

/// Upper bound for any single wait in a test (broker start, stop, a consume
/// loop). Generous on purpose: it only turns a hang into a failure.
pub const WAIT_MAX: Duration = Duration::from_secs(60);

/// Prefix of the single line `weir serve` prints to stdout once it accepts
/// connections.
const READY_PREFIX: &str = "weir listening on ";

/// How many trailing lines of broker stderr to show when a test fails.
const LOG_TAIL_LINES: usize = 80;

/// A running (or stopped) `weir serve` process with its own data directory.
pub struct Broker {
    child: Option<Child>,
    data_dir: TempDir,
    log_dir: TempDir,
    extra_args: Vec<String>,
    addr: SocketAddr,
    starts: u32,
}

impl Broker {
    /// Starts `weir serve` on `127.0.0.1:0` with a fresh temporary data
    /// directory plus `args`, and waits until it reports its port.
    pub fn start(args: &[&str]) -> Broker {
        let data_dir = tempfile::Builder::new()
            .prefix("weir-test-data-")
            .tempdir()
            .expect("create data dir");
        let log_dir = tempfile::Builder::new()
            .prefix("weir-test-log-")
            .tempdir()
            .expect("create log dir");
        let mut broker = Broker {
            child: None,
            data_dir,
            log_dir,
            extra_args: args.iter().map(|a| a.to_string()).collect(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            starts: 0,
        };
        broker.spawn();
        broker
    }

    /// `host:port` for a client's `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.addr.to_string()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// Sends SIGTERM and waits for a clean exit (status 0).
    pub fn stop(&mut self) {
        let status = self.terminate();
        assert!(
            status.success(),
            "weir did not exit cleanly after SIGTERM: {status}\n{}",
            self.log_tail()
        );
    }

    /// Sends SIGTERM and returns the exit status, whatever it is.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("broker is not running");
        let kill = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(kill.success(), "kill -TERM failed");
        match wait_deadline(&mut child, WAIT_MAX) {
            Some(status) => status,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "weir did not exit within {WAIT_MAX:?} of SIGTERM\n{}",
                    self.log_tail()
                );
            }
        }
    }

    /// Kills the process with SIGKILL, as a crash or power cut would.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("broker is not running");
        child.kill().expect("SIGKILL weir");
        child.wait().expect("reap weir");
    }

    /// Starts the broker again on the same data directory (after `stop` or
    /// `kill9`). The port may change; use `bootstrap()` again afterwards.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart: broker is still running");
        self.spawn();
    }

    /// Panics (with the broker's log) if the process has exited.
    pub fn assert_running(&mut self) {
        let child = self.child.as_mut().expect("broker is not running");
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!("weir exited unexpectedly: {status}\n{}", self.log_tail());
        }
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let log_path = self.log_path(self.starts);
        let stderr = File::create(&log_path).expect("create stderr log");
        let mut child = Command::new(weir_bin())
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(self.data_dir.path())
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .expect("spawn weir binary");
        let stdout = child.stdout.take().expect("piped stdout");
        self.child = Some(child);
        let line = match first_line(stdout) {
            Some(line) => line,
            None => {
                self.kill_quietly();
                panic!(
                    "weir printed no ready line within {WAIT_MAX:?}\n{}",
                    self.log_tail()
                );
            }
        };
        self.addr = parse_ready_line(&line)
            .unwrap_or_else(|| panic!("unexpected first stdout line from weir: {line:?}"));
    }

    fn kill_quietly(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log_path(&self, start: u32) -> PathBuf {
        self.log_dir.path().join(format!("stderr-{start}.log"))
    }

    /// The last lines of stderr of every start, for failure messages.
    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        for start in 1..=self.starts {
            let tail = tail_lines(&self.log_path(start), LOG_TAIL_LINES);
            out.push_str(&format!("--- weir stderr (start {start}) ---\n{tail}\n"));
        }
        out
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill_quietly();
        if thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
    }
}

/// The binary under test: Cargo's build of `weir`, or `$WEIR_BIN`.
pub fn weir_bin() -> PathBuf {
    match std::env::var_os("WEIR_BIN") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_BIN_EXE_weir")),
    }
}

/// Reads the first stdout line on a helper thread (which then drains the
/// rest so the broker never blocks on a full pipe).
fn first_line(stdout: std::process::ChildStdout) -> Option<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) > 0 {
            let _ = tx.send(line);
        }
        let mut sink = Vec::new();
        let _ = reader.read_to_end(&mut sink);
    });
    rx.recv_timeout(WAIT_MAX).ok()
}

fn parse_ready_line(line: &str) -> Option<SocketAddr> {
    line.trim_end().strip_prefix(READY_PREFIX)?.parse().ok()
}

fn wait_deadline(child: &mut Child, max: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + max;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        thread::sleep(Duration::from_millis(20));
    }
    None
}

fn tail_lines(path: &Path, lines_max: usize) -> String {
    let Ok(mut file) = OpenOptions::new().read(true).open(path) else {
        return String::from("(no log)");
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(lines_max)..].join("\n")
}

/// A runtime for awaiting `FutureProducer` deliveries from synchronous tests.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn client_config(bootstrap: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    for (key, value) in extra {
        config.set(*key, *value);
    }
    config
}

/// A producer with librdkafka's defaults plus `extra`.
pub fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> FutureProducer {
    client_config(bootstrap, extra)
        .create()
        .expect("create producer")
}

/// A consumer that uses no consumer-group feature (groups are not
/// implemented yet): partitions are assigned manually and nothing is
/// committed. librdkafka refuses `assign` without a `group.id`, so a dummy
/// one is set.
pub fn consumer(bootstrap: &str, extra: &[(&str, &str)]) -> BaseConsumer {
    let mut config = client_config(bootstrap, &[]);
    config
        .set("group.id", "weir-tests-unused")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest");
    for (key, value) in extra {
        config.set(*key, *value);
    }
    config.create().expect("create consumer")
}

pub fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    client_config(bootstrap, &[])
        .create()
        .expect("create admin client")
}

/// Creates `topic` with `partitions` partitions (replication factor 1) and
/// panics unless the broker reports success.
pub fn create_topic(bootstrap: &str, topic: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin = admin(bootstrap);
    let mut new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for (key, value) in configs {
        new_topic = new_topic.set(key, value);
    }
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = runtime()
        .block_on(admin.create_topics([&new_topic], &options))
        .expect("CreateTopics request");
    for result in results {
        if let Err((name, code)) = result {
            panic!("CreateTopics {name} failed: {code:?}");
        }
    }
}

/// One consumed record, owned, for comparison with what was produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Got {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp_ms: Option<i64>,
}

fn to_got<M: Message>(message: &M) -> Got {
    let headers = message
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|h| (h.key.to_string(), h.value.map(|v| v.to_vec())))
                .collect()
        })
        .unwrap_or_default();
    Got {
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(|k| k.to_vec()),
        value: message.payload().map(|v| v.to_vec()),
        headers,
        timestamp_ms: message.timestamp().to_millis(),
    }
}

/// Assigns `partitions` of `topic` from the beginning and polls until
/// `count` records arrived; panics on a consumer error or after `WAIT_MAX`.
pub fn consume_exact(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: &[i32],
    count: usize,
) -> Vec<Got> {
    let starts: Vec<(i32, Offset)> = partitions.iter().map(|p| (*p, Offset::Beginning)).collect();
    consume_from(consumer, topic, &starts, count)
}

/// Like `consume_exact`, with an explicit start offset per partition.
pub fn consume_from(
    consumer: &BaseConsumer,
    topic: &str,
    starts: &[(i32, Offset)],
    count: usize,
) -> Vec<Got> {
    let mut assignment = TopicPartitionList::new();
    for (partition, offset) in starts {
        assignment
            .add_partition_offset(topic, *partition, *offset)
            .expect("add partition");
    }
    consumer.assign(&assignment).expect("assign");
    let mut got = Vec::with_capacity(count);
    let deadline = Instant::now() + WAIT_MAX;
    while got.len() < count {
        assert!(
            Instant::now() < deadline,
            "consumed only {} of {count} records from {topic} within {WAIT_MAX:?}",
            got.len()
        );
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Ok(message)) => got.push(to_got(&message)),
            Some(Err(error)) => panic!("consumer error on {topic}: {error}"),
        }
    }
    got
}

/// (low, high) watermarks of one partition, via ListOffsets.
pub fn watermarks(consumer: &BaseConsumer, topic: &str, partition: i32) -> (i64, i64) {
    consumer
        .fetch_watermarks(topic, partition, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("fetch_watermarks {topic}/{partition}: {e}"))
}

/// A topic name unique within this process, for tests sharing a broker.
pub fn unique_topic(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
