//! What every Kafka-client subcommand (`topic`, `produce`, `consume`) shares:
//! the `--bootstrap`/`-X`/`--timeout-ms` flags, building an rdkafka
//! `ClientConfig` from them, rendering Kafka errors as `NAME: message`, and
//! a Ctrl-C flag for commands that loop. Nothing here talks to a broker.

use anyhow::{anyhow, bail};
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::ClientConfig;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Connection flags shared by the client subcommands.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Kafka bootstrap servers, HOST:PORT[,HOST:PORT...]; any Kafka broker works
    #[arg(
        long,
        short = 'b',
        env = "WEIR_BOOTSTRAP",
        default_value = "127.0.0.1:9092",
        global = true
    )]
    pub bootstrap: String,
    /// Extra librdkafka property, e.g. -X security.protocol=ssl (repeatable; applied last)
    #[arg(short = 'X', long = "client-config", value_name = "KEY=VALUE",
          value_parser = parse_key_value, global = true)]
    pub client_config: Vec<(String, String)>,
    /// How long to wait for the broker: per admin request, metadata call, or produced record
    #[arg(
        long,
        env = "WEIR_TIMEOUT_MS",
        default_value_t = 30_000,
        value_name = "MS",
        global = true
    )]
    pub timeout_ms: u64,
}

impl ClientArgs {
    /// A client config: bootstrap, then `defaults`, then the user's `-X` pairs.
    pub fn config(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        for (key, value) in defaults {
            config.set(*key, *value);
        }
        for (key, value) in &self.client_config {
            config.set(key, value);
        }
        config
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// Parses `KEY=VALUE`, splitting at the first `=`; the key must not be empty.
pub fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

/// Kafka's name for an error code, e.g. `TOPIC_ALREADY_EXISTS`: rdkafka's
/// variant name (`TopicAlreadyExists`) in upper snake case.
pub fn error_name(code: RDKafkaErrorCode) -> String {
    let camel = format!("{code:?}");
    let mut name = String::with_capacity(camel.len() + 8);
    let mut previous_lower = false;
    for c in camel.chars() {
        if c.is_ascii_uppercase() && previous_lower {
            name.push('_');
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        name.push(c.to_ascii_uppercase());
    }
    name
}

/// `NAME: message` for a Kafka error code.
pub fn describe_code(code: RDKafkaErrorCode) -> String {
    format!("{}: {code}", error_name(code))
}

/// `NAME: message` when the error carries a Kafka code, else rdkafka's text.
pub fn describe_error(err: &KafkaError) -> String {
    match err.rdkafka_error_code() {
        Some(code) => describe_code(code),
        None => err.to_string(),
    }
}

/// An `anyhow` error for a failed rdkafka call, prefixed with what was tried.
pub fn kafka_error(doing: &str, err: &KafkaError) -> anyhow::Error {
    anyhow!("{doing}: {}", describe_error(err))
}

/// The partition ids of `topic`, sorted, from a metadata request; a missing
/// topic or a topic-level error is an error naming the Kafka code.
pub fn partition_ids(
    consumer: &impl Consumer,
    topic: &str,
    timeout: Duration,
) -> anyhow::Result<Vec<i32>> {
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|err| kafka_error("metadata", &err))?;
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
        bail!(
            "topic {topic}: {}",
            describe_code(RDKafkaErrorCode::UnknownTopicOrPartition)
        );
    };
    if let Some(err) = found.error() {
        bail!("topic {topic}: {}", describe_code(err.into()));
    }
    let mut ids: Vec<i32> = found.partitions().iter().map(|p| p.id()).collect();
    ids.sort_unstable();
    Ok(ids)
}

/// `ids`, or just `only` when a `--partition` was given and exists.
pub fn pick_partition(topic: &str, ids: Vec<i32>, only: Option<i32>) -> anyhow::Result<Vec<i32>> {
    match only {
        None => Ok(ids),
        Some(id) if ids.contains(&id) => Ok(vec![id]),
        Some(id) => bail!(
            "topic {topic} has no partition {id} ({} partitions): {}",
            ids.len(),
            describe_code(RDKafkaErrorCode::UnknownTopicOrPartition)
        ),
    }
}

/// A flag that turns true on SIGINT or SIGTERM, so a polling loop can stop,
/// flush its output and exit cleanly. The listener lives on its own thread
/// with a one-thread runtime and ends with the process.
pub fn interrupt_flag() -> anyhow::Result<Arc<AtomicBool>> {
    use tokio::signal::unix::{signal, SignalKind};
    let flag = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    // Register in this thread so a signal right after we return is caught.
    let (mut interrupt, mut terminate) = runtime.block_on(async {
        Ok::<_, std::io::Error>((
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        ))
    })?;
    let set = flag.clone();
    std::thread::Builder::new()
        .name("weir-signals".into())
        .spawn(move || {
            runtime.block_on(async {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            });
            set.store(true, Ordering::SeqCst);
        })?;
    Ok(flag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_match_kafka() {
        let cases = [
            (RDKafkaErrorCode::TopicAlreadyExists, "TOPIC_ALREADY_EXISTS"),
            (
                RDKafkaErrorCode::UnknownTopicOrPartition,
                "UNKNOWN_TOPIC_OR_PARTITION",
            ),
            (RDKafkaErrorCode::InvalidConfig, "INVALID_CONFIG"),
            (RDKafkaErrorCode::OffsetOutOfRange, "OFFSET_OUT_OF_RANGE"),
            (
                RDKafkaErrorCode::InvalidReplicationFactor,
                "INVALID_REPLICATION_FACTOR",
            ),
        ];
        for (code, name) in cases {
            assert_eq!(error_name(code), name);
            assert!(describe_code(code).starts_with(&format!("{name}: ")));
        }
    }

    #[test]
    fn key_value_pairs_split_at_the_first_equals() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("a=b", Some(("a", "b"))),
            ("a=b=c", Some(("a", "b=c"))),
            ("a=", Some(("a", ""))),
            ("=b", None),
            ("ab", None),
        ];
        for (text, expect) in cases {
            let got = parse_key_value(text).ok();
            let expect = expect.map(|(k, v)| (k.to_string(), v.to_string()));
            assert_eq!(got, expect, "{text}");
        }
    }
}
