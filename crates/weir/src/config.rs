//! `weir serve` settings: the command-line flags (each with a `WEIR_*`
//! environment variable, read by clap), the TOML file, and their resolution
//! into the broker's and the store's own config types.
//!
//! Precedence is flag > environment variable > TOML file > built-in default.
//! Clap already applies "flag over environment", so every field here is an
//! `Option` and resolution only layers the file and the defaults underneath.
//! The defaults themselves come from `broker::BrokerConfig::default()` and
//! `log::TopicConfig::default()` (Kafka's values), plus the store constants
//! below; nothing else in this file invents a number. One default depends on
//! the machine: the page-cache window's `auto`, from [`Host::detect`].
//! What this file does not do: open the store, bind sockets, or start logging.

use anyhow::{bail, Context};
use broker::{BrokerConfig, GroupConfig, Limits, ReplicationFactorPolicy};
use log::{FlushPolicy, StoreOptions, TopicConfig};
use serde::Deserialize;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

/// Default data directory, relative to the working directory.
pub const DATA_DIR_DEFAULT: &str = "./weir-data";
/// Kafka's `index.interval.bytes` default.
pub const INDEX_INTERVAL_BYTES_DEFAULT: u32 = 4096;
/// Most partitions one broker holds across all topics, by default.
pub const PARTITIONS_MAX_DEFAULT: u32 = 10_000;
/// Largest page-cache window: 1 TiB, far beyond any machine's memory.
const PAGE_CACHE_WINDOW_MIB_MAX: u64 = 1 << 20;
/// The window `auto` picks on a machine where fresh page cache is expensive.
const PAGE_CACHE_WINDOW_AUTO_MIB: u64 = 64;
/// Largest TOML file read; a config file is a few hundred bytes.
const CONFIG_FILE_BYTES_MAX: u64 = 1024 * 1024;

/// `accept` or `refuse`, as written on the command line and in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RfPolicy {
    /// Accept any replication factor and keep one replica.
    Accept,
    /// Refuse replication factors above 1 with INVALID_REPLICATION_FACTOR.
    Refuse,
}

impl From<RfPolicy> for ReplicationFactorPolicy {
    fn from(policy: RfPolicy) -> Self {
        match policy {
            RfPolicy::Accept => ReplicationFactorPolicy::AcceptAny,
            RfPolicy::Refuse => ReplicationFactorPolicy::Refuse,
        }
    }
}

/// A TOML value that may be written either way, e.g. `page_cache_window_mib =
/// 64` or `= "auto"`; the setting's own parser reads its text.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum TextOrNumber {
    Number(i64),
    Text(String),
}

impl TextOrNumber {
    fn text(&self) -> String {
        match self {
            TextOrNumber::Number(n) => n.to_string(),
            TextOrNumber::Text(t) => t.clone(),
        }
    }
}

/// What about this machine changes a default. Detected once at start-up by
/// [`Host::detect`]; tests pass their own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Host {
    /// The VM's balloon device reports free memory to the hypervisor, so
    /// memory the guest has not touched in the last few seconds costs a host
    /// fault per page when touched again.
    pub reports_free_memory: bool,
}

impl Host {
    pub fn detect() -> Host {
        Host {
            reports_free_memory: balloon_reports_free_memory(Path::new(BALLOON_DEVICES)),
        }
    }
}

/// Where Linux lists virtio balloon devices, each with its negotiated
/// feature bits.
const BALLOON_DEVICES: &str = "/sys/bus/virtio/drivers/virtio_balloon";
/// VIRTIO_BALLOON_F_REPORTING, the virtio spec's free page reporting bit.
const BALLOON_F_REPORTING: usize = 5;

/// True when a virtio balloon device under `dir` negotiated free page
/// reporting. Each device's `features` file is one `0`/`1` character per
/// feature bit, bit 0 first.
fn balloon_reports_free_memory(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        std::fs::read_to_string(entry.path().join("features"))
            .is_ok_and(|bits| bits.as_bytes().get(BALLOON_F_REPORTING) == Some(&b'1'))
    })
}

/// How the page-cache window was chosen, for the start-up log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowChoice {
    /// Set explicitly (a number, `off` or -1).
    Explicit,
    /// `auto` on a host that reports free memory: the window is on.
    AutoOn,
    /// `auto` elsewhere: caching is left to the kernel.
    AutoOff,
}

/// Flags of `weir serve`. Every one is optional: an absent flag falls back to
/// its `WEIR_*` environment variable, then to the TOML file, then to the
/// built-in default shown in brackets.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML file with settings; its keys are the flag names with `_` for `-`
    #[arg(long, env = "WEIR_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Kafka listener address; port 0 picks a free port [default: 127.0.0.1:9092]
    #[arg(long, env = "WEIR_LISTEN", value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Host advertised to clients in Metadata [default: the listen IP]
    #[arg(long, env = "WEIR_ADVERTISED_HOST", value_name = "HOST")]
    pub advertised_host: Option<String>,
    /// Port advertised to clients in Metadata [default: the bound port]
    #[arg(long, env = "WEIR_ADVERTISED_PORT", value_name = "PORT")]
    pub advertised_port: Option<u16>,
    /// Directory holding all topics [default: ./weir-data]
    #[arg(long, env = "WEIR_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// This broker's node id [default: 0]
    #[arg(
        long,
        env = "WEIR_NODE_ID",
        value_name = "ID",
        allow_negative_numbers = true
    )]
    pub node_id: Option<i32>,
    /// Create unknown topics on Metadata/Produce (auto.create.topics.enable) [default: true]
    #[arg(long, env = "WEIR_AUTO_CREATE_TOPICS", value_name = "BOOL",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub auto_create_topics: Option<bool>,
    /// Partitions of auto-created topics and of CreateTopics with -1 (num.partitions) [default: 1]
    #[arg(long, env = "WEIR_NUM_PARTITIONS", value_name = "N")]
    pub num_partitions: Option<u32>,
    /// What to do with a replication factor above 1 [default: accept]
    #[arg(long, env = "WEIR_REPLICATION_FACTOR_POLICY", value_name = "POLICY")]
    pub replication_factor_policy: Option<RfPolicy>,
    /// When appended data is fdatasync'ed: always | interval:<ms> | never [default: always]
    #[arg(long, env = "WEIR_FLUSH", value_name = "POLICY")]
    pub flush: Option<FlushPolicy>,
    /// Default retention.ms; -1 keeps forever [default: 604800000 (7 days)]
    #[arg(
        long,
        env = "WEIR_RETENTION_MS",
        value_name = "MS",
        allow_negative_numbers = true
    )]
    pub retention_ms: Option<i64>,
    /// Default retention.bytes per partition; -1 is unlimited [default: -1]
    #[arg(
        long,
        env = "WEIR_RETENTION_BYTES",
        value_name = "BYTES",
        allow_negative_numbers = true
    )]
    pub retention_bytes: Option<i64>,
    /// Default segment.bytes [default: 1073741824 (1 GiB)]
    #[arg(long, env = "WEIR_SEGMENT_BYTES", value_name = "BYTES")]
    pub segment_bytes: Option<u64>,
    /// Default segment.ms [default: 604800000 (7 days)]
    #[arg(long, env = "WEIR_SEGMENT_MS", value_name = "MS")]
    pub segment_ms: Option<i64>,
    /// Default max.message.bytes: the largest record batch accepted [default: 1048588]
    #[arg(long, env = "WEIR_MAX_MESSAGE_BYTES", value_name = "BYTES")]
    pub max_message_bytes: Option<usize>,
    /// Bytes between sparse offset-index entries (index.interval.bytes) [default: 4096]
    #[arg(long, env = "WEIR_INDEX_INTERVAL_BYTES", value_name = "BYTES")]
    pub index_interval_bytes: Option<u32>,
    /// Most partitions across all topics [default: 10000]
    #[arg(long, env = "WEIR_PARTITIONS_MAX", value_name = "N")]
    pub partitions_max: Option<u32>,
    /// Keep only each partition's newest MIB of written data in the page
    /// cache, dropping older data once it is on disk; `off` (or -1) leaves
    /// caching to the kernel; `auto` is 64 on a VM that reports free memory
    /// to its host and off elsewhere [default: auto]
    #[arg(
        long,
        env = "WEIR_PAGE_CACHE_WINDOW_MIB",
        value_name = "MIB|auto|off",
        allow_negative_numbers = true
    )]
    pub page_cache_window_mib: Option<String>,
    /// Largest request frame accepted [default: 104857600 (100 MiB)]
    #[arg(long, env = "WEIR_REQUEST_BYTES_MAX", value_name = "BYTES")]
    pub request_bytes_max: Option<usize>,
    /// Most concurrent client connections [default: 10000]
    #[arg(long, env = "WEIR_CONNECTIONS_MAX", value_name = "N")]
    pub connections_max: Option<usize>,
    /// Most unanswered requests per connection [default: 32]
    #[arg(long, env = "WEIR_IN_FLIGHT_PER_CONNECTION_MAX", value_name = "N")]
    pub in_flight_per_connection_max: Option<usize>,
    /// fetch.max.bytes: most record bytes in one fetch response, whatever
    /// the client asks [default: 57671680 (55 MiB)]
    #[arg(long, env = "WEIR_FETCH_MAX_BYTES", value_name = "BYTES")]
    pub fetch_max_bytes: Option<usize>,
    /// How often retention and segment.ms rolls are enforced [default: 30000]
    #[arg(long, env = "WEIR_RETENTION_CHECK_INTERVAL_MS", value_name = "MS")]
    pub retention_check_interval_ms: Option<u64>,
    /// group.initial.rebalance.delay.ms: wait for more members before the
    /// first rebalance of an empty group [default: 3000]
    #[arg(long, env = "WEIR_GROUP_INITIAL_REBALANCE_DELAY_MS", value_name = "MS")]
    pub group_initial_rebalance_delay_ms: Option<i64>,
    /// group.min.session.timeout.ms [default: 6000]
    #[arg(long, env = "WEIR_GROUP_MIN_SESSION_TIMEOUT_MS", value_name = "MS")]
    pub group_min_session_timeout_ms: Option<i32>,
    /// group.max.session.timeout.ms [default: 1800000]
    #[arg(long, env = "WEIR_GROUP_MAX_SESSION_TIMEOUT_MS", value_name = "MS")]
    pub group_max_session_timeout_ms: Option<i32>,
    /// group.max.size: most members in one consumer group [default: 1000]
    #[arg(long, env = "WEIR_GROUP_MAX_SIZE", value_name = "N")]
    pub group_max_size: Option<usize>,
    /// offsets.retention.minutes: committed offsets of an empty group expire
    /// after this long [default: 10080 (7 days)]
    #[arg(long, env = "WEIR_OFFSETS_RETENTION_MINUTES", value_name = "MINUTES")]
    pub offsets_retention_minutes: Option<u64>,
    /// offsets.topic.num.partitions: partitions of __consumer_offsets, used
    /// only when it is first created [default: 50]
    #[arg(long, env = "WEIR_OFFSETS_TOPIC_NUM_PARTITIONS", value_name = "N")]
    pub offsets_topic_num_partitions: Option<u32>,
}

/// The TOML file: the same settings as [`ServeArgs`], keys in snake_case.
/// Unknown keys are an error naming the key.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub advertised_host: Option<String>,
    pub advertised_port: Option<u16>,
    pub data_dir: Option<PathBuf>,
    pub node_id: Option<i32>,
    pub auto_create_topics: Option<bool>,
    pub num_partitions: Option<u32>,
    pub replication_factor_policy: Option<RfPolicy>,
    pub flush: Option<String>,
    pub retention_ms: Option<i64>,
    pub retention_bytes: Option<i64>,
    pub segment_bytes: Option<u64>,
    pub segment_ms: Option<i64>,
    pub max_message_bytes: Option<usize>,
    pub index_interval_bytes: Option<u32>,
    pub partitions_max: Option<u32>,
    pub page_cache_window_mib: Option<TextOrNumber>,
    pub request_bytes_max: Option<usize>,
    pub connections_max: Option<usize>,
    pub in_flight_per_connection_max: Option<usize>,
    pub fetch_max_bytes: Option<usize>,
    pub retention_check_interval_ms: Option<u64>,
    pub group_initial_rebalance_delay_ms: Option<i64>,
    pub group_min_session_timeout_ms: Option<i32>,
    pub group_max_session_timeout_ms: Option<i32>,
    pub group_max_size: Option<usize>,
    pub offsets_retention_minutes: Option<u64>,
    pub offsets_topic_num_partitions: Option<u32>,
}

impl FileConfig {
    /// Parses TOML text; `origin` names the file in error messages.
    pub fn parse(text: &str, origin: &str) -> anyhow::Result<FileConfig> {
        toml::from_str(text).map_err(|err| anyhow::anyhow!("config file {origin}: {err}"))
    }

    /// Reads and parses the file at `path`.
    pub fn read(path: &Path) -> anyhow::Result<FileConfig> {
        let origin = path.display().to_string();
        let size_bytes = std::fs::metadata(path)
            .with_context(|| format!("cannot read config file {origin}"))?
            .len();
        if size_bytes > CONFIG_FILE_BYTES_MAX {
            bail!(
                "config file {origin} is {size_bytes} bytes; the limit is {CONFIG_FILE_BYTES_MAX}"
            );
        }
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {origin}"))?;
        FileConfig::parse(&text, &origin)
    }
}

/// Everything `weir serve` needs, resolved and validated.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub broker: BrokerConfig,
    pub store: StoreOptions,
    pub page_cache_window: WindowChoice,
}

/// Reads the TOML file named by `--config`/`WEIR_CONFIG`, if any, and resolves.
pub fn load(args: &ServeArgs) -> anyhow::Result<ServeSettings> {
    let file = match &args.config {
        Some(path) => FileConfig::read(path)?,
        None => FileConfig::default(),
    };
    resolve(args, &file, Host::detect())
}

/// Flag (or env, already folded in by clap), else file, else default.
macro_rules! pick {
    ($args:expr, $file:expr, $field:ident, $default:expr) => {
        $args
            .$field
            .clone()
            .or_else(|| $file.$field.clone())
            .unwrap_or($default)
    };
}

/// Layers `args` over `file` over the defaults and validates the result.
pub fn resolve(args: &ServeArgs, file: &FileConfig, host: Host) -> anyhow::Result<ServeSettings> {
    let (window_bytes, page_cache_window) = page_cache_window(args, file, host)?;
    let store = resolve_store(args, file, window_bytes)?;
    let broker = resolve_broker(args, file)?;
    Ok(ServeSettings {
        broker,
        store,
        page_cache_window,
    })
}

fn resolve_broker(args: &ServeArgs, file: &FileConfig) -> anyhow::Result<BrokerConfig> {
    let d = BrokerConfig::default();
    let listen = match args.listen.as_ref().or(file.listen.as_ref()) {
        Some(text) => parse_listen(text)?,
        None => d.listen,
    };
    let advertised_host = args
        .advertised_host
        .clone()
        .or_else(|| file.advertised_host.clone());
    if advertised_host.as_deref() == Some("") {
        bail!("advertised_host (--advertised-host) must not be empty");
    }
    let rf_default = match d.replication_factor_policy {
        ReplicationFactorPolicy::AcceptAny => RfPolicy::Accept,
        ReplicationFactorPolicy::Refuse => RfPolicy::Refuse,
    };
    let config = BrokerConfig {
        listen,
        advertised_host,
        advertised_port: args
            .advertised_port
            .or(file.advertised_port)
            .or(d.advertised_port),
        node_id: pick!(args, file, node_id, d.node_id),
        auto_create_topics: pick!(args, file, auto_create_topics, d.auto_create_topics),
        default_partitions: pick!(args, file, num_partitions, d.default_partitions),
        replication_factor_policy: pick!(args, file, replication_factor_policy, rf_default).into(),
        retention_check_interval_ms: pick!(
            args,
            file,
            retention_check_interval_ms,
            d.retention_check_interval_ms
        ),
        limits: resolve_limits(args, file, d.limits),
        groups: resolve_groups(args, file, d.groups.clone()),
    };
    validate_broker(&config)?;
    Ok(config)
}

fn resolve_groups(args: &ServeArgs, file: &FileConfig, d: GroupConfig) -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: pick!(
            args,
            file,
            group_initial_rebalance_delay_ms,
            d.initial_rebalance_delay_ms
        ),
        session_timeout_min_ms: pick!(
            args,
            file,
            group_min_session_timeout_ms,
            d.session_timeout_min_ms
        ),
        session_timeout_max_ms: pick!(
            args,
            file,
            group_max_session_timeout_ms,
            d.session_timeout_max_ms
        ),
        members_max: pick!(args, file, group_max_size, d.members_max),
        offsets_retention_minutes: pick!(
            args,
            file,
            offsets_retention_minutes,
            d.offsets_retention_minutes
        ),
        offsets_topic_partitions: pick!(
            args,
            file,
            offsets_topic_num_partitions,
            d.offsets_topic_partitions
        ),
        ..d
    }
}

fn resolve_limits(args: &ServeArgs, file: &FileConfig, d: Limits) -> Limits {
    Limits {
        request_bytes_max: pick!(args, file, request_bytes_max, d.request_bytes_max),
        connections_max: pick!(args, file, connections_max, d.connections_max),
        in_flight_per_connection_max: pick!(
            args,
            file,
            in_flight_per_connection_max,
            d.in_flight_per_connection_max
        ),
        fetch_max_bytes: pick!(args, file, fetch_max_bytes, d.fetch_max_bytes),
    }
}

fn resolve_store(
    args: &ServeArgs,
    file: &FileConfig,
    page_cache_window_bytes: Option<u64>,
) -> anyhow::Result<StoreOptions> {
    let flush = match (&args.flush, &file.flush) {
        (Some(policy), _) => *policy,
        (None, Some(text)) => text
            .parse::<FlushPolicy>()
            .map_err(|err| anyhow::anyhow!("flush: {err}"))?,
        (None, None) => FlushPolicy::Always,
    };
    let store = StoreOptions {
        data_dir: pick!(args, file, data_dir, PathBuf::from(DATA_DIR_DEFAULT)),
        flush,
        defaults: resolve_topic_defaults(args, file),
        index_interval_bytes: pick!(
            args,
            file,
            index_interval_bytes,
            INDEX_INTERVAL_BYTES_DEFAULT
        ),
        partitions_max: pick!(args, file, partitions_max, PARTITIONS_MAX_DEFAULT),
        page_cache_window_bytes,
    };
    validate_store(&store)?;
    Ok(store)
}

/// `page_cache_window_mib` in bytes (`None`: off) and how it was chosen.
/// `auto`, the default, turns the window on only where fresh page cache is
/// expensive: see docs/configuration.md, "Page-cache window".
fn page_cache_window(
    args: &ServeArgs,
    file: &FileConfig,
    host: Host,
) -> anyhow::Result<(Option<u64>, WindowChoice)> {
    let text = args
        .page_cache_window_mib
        .clone()
        .or_else(|| file.page_cache_window_mib.as_ref().map(TextOrNumber::text))
        .unwrap_or_else(|| "auto".to_string());
    let mib = match text.trim() {
        "auto" if host.reports_free_memory => {
            return Ok((Some(PAGE_CACHE_WINDOW_AUTO_MIB << 20), WindowChoice::AutoOn))
        }
        "auto" => return Ok((None, WindowChoice::AutoOff)),
        "off" | "-1" => return Ok((None, WindowChoice::Explicit)),
        number => number.parse::<u64>().ok(),
    };
    match mib {
        Some(mib) if mib <= PAGE_CACHE_WINDOW_MIB_MAX => {
            Ok((Some(mib << 20), WindowChoice::Explicit))
        }
        _ => Err(invalid(
            "page_cache_window_mib",
            &format!("must be auto, off (or -1), or 0..={PAGE_CACHE_WINDOW_MIB_MAX}"),
            &text,
        )),
    }
}

fn resolve_topic_defaults(args: &ServeArgs, file: &FileConfig) -> TopicConfig {
    let d = TopicConfig::default();
    TopicConfig {
        retention_ms: pick!(args, file, retention_ms, d.retention_ms),
        retention_bytes: pick!(args, file, retention_bytes, d.retention_bytes),
        segment_bytes: pick!(args, file, segment_bytes, d.segment_bytes),
        segment_ms: pick!(args, file, segment_ms, d.segment_ms),
        max_message_bytes: pick!(args, file, max_message_bytes, d.max_message_bytes),
        ..d
    }
}

/// `HOST:PORT` or `IP:PORT`; a host name resolves to its first address.
fn parse_listen(text: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let mut addrs = text.to_socket_addrs().with_context(|| {
        format!("listen (--listen): cannot resolve {text:?}; expected HOST:PORT")
    })?;
    addrs
        .next()
        .with_context(|| format!("listen (--listen): {text:?} resolves to no address"))
}

/// Fails naming the setting when `ok` is false.
fn check(ok: bool, key: &str, rule: &str, value: impl std::fmt::Display) -> anyhow::Result<()> {
    if ok {
        return Ok(());
    }
    Err(invalid(key, rule, value))
}

/// The error for a setting that breaks `rule`, naming its key and flag.
fn invalid(key: &str, rule: &str, value: impl std::fmt::Display) -> anyhow::Error {
    let flag = key.replace('_', "-");
    anyhow::anyhow!("{key} (--{flag}) {rule}, got {value}")
}

fn validate_broker(c: &BrokerConfig) -> anyhow::Result<()> {
    check(c.node_id >= 0, "node_id", "must be >= 0", c.node_id)?;
    check(
        c.default_partitions >= 1,
        "num_partitions",
        "must be >= 1",
        c.default_partitions,
    )?;
    if let Some(port) = c.advertised_port {
        check(port >= 1, "advertised_port", "must be 1..65535", port)?;
    }
    let interval_ms = c.retention_check_interval_ms;
    check(
        interval_ms >= 1,
        "retention_check_interval_ms",
        "must be >= 1",
        interval_ms,
    )?;
    let g = &c.groups;
    check(
        g.initial_rebalance_delay_ms >= 0,
        "group_initial_rebalance_delay_ms",
        "must be >= 0",
        g.initial_rebalance_delay_ms,
    )?;
    check(
        g.session_timeout_min_ms >= 1 && g.session_timeout_min_ms <= g.session_timeout_max_ms,
        "group_min_session_timeout_ms",
        "must be >= 1 and <= group_max_session_timeout_ms",
        g.session_timeout_min_ms,
    )?;
    check(
        g.members_max >= 1,
        "group_max_size",
        "must be >= 1",
        g.members_max,
    )?;
    check(
        g.offsets_retention_minutes >= 1,
        "offsets_retention_minutes",
        "must be >= 1",
        g.offsets_retention_minutes,
    )?;
    check(
        g.offsets_topic_partitions >= 1,
        "offsets_topic_num_partitions",
        "must be >= 1",
        g.offsets_topic_partitions,
    )?;
    let l = &c.limits;
    // A frame must at least hold a request header; 64 bytes is far below any
    // useful setting and only catches typos like 0.
    check(
        l.request_bytes_max >= 64,
        "request_bytes_max",
        "must be >= 64",
        l.request_bytes_max,
    )?;
    check(
        l.connections_max >= 1,
        "connections_max",
        "must be >= 1",
        l.connections_max,
    )?;
    let in_flight = l.in_flight_per_connection_max;
    check(
        in_flight >= 1,
        "in_flight_per_connection_max",
        "must be >= 1",
        in_flight,
    )?;
    check(
        l.fetch_max_bytes >= broker::FETCH_MAX_BYTES_MIN,
        "fetch_max_bytes",
        "must be >= 1024",
        l.fetch_max_bytes,
    )?;
    Ok(())
}

fn validate_store(s: &StoreOptions) -> anyhow::Result<()> {
    let t = &s.defaults;
    check(
        t.retention_ms >= -1,
        "retention_ms",
        "must be >= -1",
        t.retention_ms,
    )?;
    check(
        t.retention_bytes >= -1,
        "retention_bytes",
        "must be >= -1",
        t.retention_bytes,
    )?;
    // Kafka's own lower bound for segment.bytes: one batch header.
    check(
        t.segment_bytes >= 14,
        "segment_bytes",
        "must be >= 14",
        t.segment_bytes,
    )?;
    check(
        t.segment_ms >= 1,
        "segment_ms",
        "must be >= 1",
        t.segment_ms,
    )?;
    check(
        t.max_message_bytes >= 1,
        "max_message_bytes",
        "must be >= 1",
        t.max_message_bytes,
    )?;
    check(
        s.partitions_max >= 1,
        "partitions_max",
        "must be >= 1",
        s.partitions_max,
    )?;
    check(
        !s.data_dir.as_os_str().is_empty(),
        "data_dir",
        "must not be empty",
        "\"\"",
    )?;
    Ok(())
}

#[cfg(test)]
mod tests;
