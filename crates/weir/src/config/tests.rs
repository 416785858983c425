//! Table-driven tests of `weir serve` settings: the precedence of flag, env,
//! file and default for every setting, and the error for each bad input.
//! Tests that parse flags hold `ENV_LOCK`, because clap reads the process
//! environment and tests run on several threads.

use super::*;
use clap::Parser;
use std::sync::Mutex;

static ENV_LOCK: Mutex<()> = Mutex::new(());

#[derive(Debug, Parser)]
struct Wrap {
    #[command(flatten)]
    args: ServeArgs,
}

/// One setting: its TOML key (flag and env var derive from it), a distinct
/// value for each layer, and what the resolved setting reads as for
/// flag, env, file and default.
struct Row {
    key: &'static str,
    flag: &'static str,
    env: &'static str,
    file: &'static str,
    expect: [&'static str; 4],
    get: fn(&ServeSettings) -> String,
}

fn rows() -> Vec<Row> {
    vec![
        Row {
            key: "listen",
            flag: "127.0.0.1:1001",
            env: "127.0.0.1:1002",
            file: "\"127.0.0.1:1003\"",
            expect: [
                "127.0.0.1:1001",
                "127.0.0.1:1002",
                "127.0.0.1:1003",
                "127.0.0.1:9092",
            ],
            get: |s| s.broker.listen.to_string(),
        },
        Row {
            key: "advertised_host",
            flag: "a",
            env: "b",
            file: "\"c\"",
            expect: ["Some(\"a\")", "Some(\"b\")", "Some(\"c\")", "None"],
            get: |s| format!("{:?}", s.broker.advertised_host),
        },
        Row {
            key: "advertised_port",
            flag: "1",
            env: "2",
            file: "3",
            expect: ["Some(1)", "Some(2)", "Some(3)", "None"],
            get: |s| format!("{:?}", s.broker.advertised_port),
        },
        Row {
            key: "data_dir",
            flag: "/f",
            env: "/e",
            file: "\"/t\"",
            expect: ["/f", "/e", "/t", "./weir-data"],
            get: |s| s.store.data_dir.display().to_string(),
        },
        Row {
            key: "node_id",
            flag: "1",
            env: "2",
            file: "3",
            expect: ["1", "2", "3", "0"],
            get: |s| s.broker.node_id.to_string(),
        },
        Row {
            key: "auto_create_topics",
            flag: "false",
            env: "no",
            file: "false",
            expect: ["false", "false", "false", "true"],
            get: |s| s.broker.auto_create_topics.to_string(),
        },
        Row {
            key: "num_partitions",
            flag: "4",
            env: "5",
            file: "6",
            expect: ["4", "5", "6", "1"],
            get: |s| s.broker.default_partitions.to_string(),
        },
        Row {
            key: "replication_factor_policy",
            flag: "refuse",
            env: "refuse",
            file: "\"refuse\"",
            expect: ["Refuse", "Refuse", "Refuse", "AcceptAny"],
            get: |s| format!("{:?}", s.broker.replication_factor_policy),
        },
        Row {
            key: "flush",
            flag: "never",
            env: "interval:5",
            file: "\"interval:7\"",
            expect: ["Never", "IntervalMs(5)", "IntervalMs(7)", "Always"],
            get: |s| format!("{:?}", s.store.flush),
        },
        Row {
            key: "retention_ms",
            flag: "-1",
            env: "2",
            file: "3",
            expect: ["-1", "2", "3", "604800000"],
            get: |s| s.store.defaults.retention_ms.to_string(),
        },
        Row {
            key: "retention_bytes",
            flag: "100",
            env: "200",
            file: "300",
            expect: ["100", "200", "300", "-1"],
            get: |s| s.store.defaults.retention_bytes.to_string(),
        },
        Row {
            key: "segment_bytes",
            flag: "1000",
            env: "2000",
            file: "3000",
            expect: ["1000", "2000", "3000", "1073741824"],
            get: |s| s.store.defaults.segment_bytes.to_string(),
        },
        Row {
            key: "segment_ms",
            flag: "10",
            env: "20",
            file: "30",
            expect: ["10", "20", "30", "604800000"],
            get: |s| s.store.defaults.segment_ms.to_string(),
        },
        Row {
            key: "max_message_bytes",
            flag: "10",
            env: "20",
            file: "30",
            expect: ["10", "20", "30", "1048588"],
            get: |s| s.store.defaults.max_message_bytes.to_string(),
        },
        Row {
            key: "index_interval_bytes",
            flag: "10",
            env: "20",
            file: "30",
            expect: ["10", "20", "30", "4096"],
            get: |s| s.store.index_interval_bytes.to_string(),
        },
        Row {
            key: "partitions_max",
            flag: "10",
            env: "20",
            file: "30",
            expect: ["10", "20", "30", "10000"],
            get: |s| s.store.partitions_max.to_string(),
        },
        Row {
            key: "page_cache_window_mib",
            flag: "1",
            env: "2",
            file: "3",
            expect: ["1048576", "2097152", "3145728", "None"],
            get: |s| {
                s.store
                    .page_cache_window_bytes
                    .map_or("None".to_string(), |b| b.to_string())
            },
        },
        Row {
            key: "request_bytes_max",
            flag: "1000",
            env: "2000",
            file: "3000",
            expect: ["1000", "2000", "3000", "104857600"],
            get: |s| s.broker.limits.request_bytes_max.to_string(),
        },
        Row {
            key: "connections_max",
            flag: "10",
            env: "20",
            file: "30",
            expect: ["10", "20", "30", "10000"],
            get: |s| s.broker.limits.connections_max.to_string(),
        },
        Row {
            key: "in_flight_per_connection_max",
            flag: "10",
            env: "20",
            file: "30",
            expect: ["10", "20", "30", "32"],
            get: |s| s.broker.limits.in_flight_per_connection_max.to_string(),
        },
        Row {
            key: "fetch_max_bytes",
            flag: "1048576",
            env: "2097152",
            file: "4096",
            expect: ["1048576", "2097152", "4096", "57671680"],
            get: |s| s.broker.limits.fetch_max_bytes.to_string(),
        },
        Row {
            key: "retention_check_interval_ms",
            flag: "10",
            env: "20",
            file: "30",
            expect: ["10", "20", "30", "30000"],
            get: |s| s.broker.retention_check_interval_ms.to_string(),
        },
    ]
}

/// (flags, environment, TOML text) of one precedence layer.
type Layer<'a> = (&'a [String], &'a [(String, &'a str)], &'a str);

fn env_name(key: &str) -> String {
    format!("WEIR_{}", key.to_uppercase())
}

fn clear_weir_env() {
    for (name, _) in std::env::vars() {
        if name.starts_with("WEIR_") {
            std::env::remove_var(name);
        }
    }
}

/// Parses `flags` with `env` set, then resolves over the TOML `file`.
fn settings(flags: &[String], env: &[(String, &str)], file: &str) -> anyhow::Result<ServeSettings> {
    settings_on(Host::default(), flags, env, file)
}

/// [`settings`] as resolved on `host`.
fn settings_on(
    host: Host,
    flags: &[String],
    env: &[(String, &str)],
    file: &str,
) -> anyhow::Result<ServeSettings> {
    let _guard = ENV_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    clear_weir_env();
    for (name, value) in env {
        std::env::set_var(name, value);
    }
    let parsed =
        Wrap::try_parse_from(std::iter::once("serve".to_string()).chain(flags.iter().cloned()));
    clear_weir_env();
    let args = parsed?.args;
    resolve(&args, &FileConfig::parse(file, "test.toml")?, host)
}

#[test]
fn every_setting_follows_flag_env_file_default_precedence() {
    for row in rows() {
        let flag = vec![
            format!("--{}", row.key.replace('_', "-")),
            row.flag.to_string(),
        ];
        let env = vec![(env_name(row.key), row.env)];
        let file = format!("{} = {}", row.key, row.file);
        let layers: [Layer; 4] = [
            (&flag, &env, &file),
            (&[], &env, &file),
            (&[], &[], &file),
            (&[], &[], ""),
        ];
        for (layer, (flags, env, file)) in layers.iter().enumerate() {
            let resolved = settings(flags, env, file)
                .unwrap_or_else(|err| panic!("{} layer {layer}: {err:#}", row.key));
            assert_eq!(
                (row.get)(&resolved),
                row.expect[layer],
                "{} layer {layer}",
                row.key
            );
        }
    }
}

#[test]
fn config_file_path_comes_from_weir_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weir.toml");
    std::fs::write(&path, "num_partitions = 9\n").unwrap();
    let env = [(String::from("WEIR_CONFIG"), path.to_str().unwrap())];
    let _guard = ENV_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    clear_weir_env();
    for (name, value) in &env {
        std::env::set_var(name, value);
    }
    let parsed = Wrap::try_parse_from(["serve"]);
    clear_weir_env();
    let loaded = load(&parsed.unwrap().args).unwrap();
    assert_eq!(loaded.broker.default_partitions, 9);
}

#[test]
fn bad_inputs_are_errors_naming_the_setting() {
    let cases: &[(&[&str], &str, &str)] = &[
        (&[], "colour = 1", "colour"),
        (&[], "flush = \"sometimes\"", "flush"),
        (&[], "replication_factor_policy = \"maybe\"", "maybe"),
        (&[], "num_partitions = 0", "num_partitions"),
        (&[], "num_partitions = -2", "-2"),
        (&[], "retention_ms = -5", "retention_ms"),
        (&[], "segment_bytes = 1", "segment_bytes"),
        (&[], "connections_max = 0", "connections_max"),
        (
            &[],
            "in_flight_per_connection_max = 0",
            "in_flight_per_connection_max",
        ),
        (&[], "request_bytes_max = 0", "request_bytes_max"),
        (&[], "fetch_max_bytes = 1023", "fetch_max_bytes"),
        (&["--fetch-max-bytes", "1MiB"], "", "fetch-max-bytes"),
        (&[], "advertised_port = 0", "advertised_port"),
        (&[], "listen = \"nonsense\"", "listen"),
        (&[], "listen = 9092", "listen"),
        (&[], "data_dir = \"\"", "data_dir"),
        (&[], "[limits]\nconnections_max = 3", "limits"),
        (&["--flush", "sometimes"], "", "flush policy"),
        (&["--replication-factor-policy", "maybe"], "", "maybe"),
        (&["--num-partitions", "x"], "", "num-partitions"),
        (&["--node-id", "-1"], "", "node_id"),
        (&[], "page_cache_window_mib = -2", "page_cache_window_mib"),
        (
            &[],
            "page_cache_window_mib = \"big\"",
            "page_cache_window_mib",
        ),
        (
            &["--page-cache-window-mib", "on"],
            "",
            "page_cache_window_mib",
        ),
        (
            &["--page-cache-window-mib", "1048577"],
            "",
            "page_cache_window_mib",
        ),
    ];
    for (flags, file, needle) in cases {
        let flags: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        let err = match settings(&flags, &[], file) {
            Ok(_) => panic!("{flags:?} {file:?} was accepted"),
            Err(err) => format!("{err:#}"),
        };
        assert!(
            err.contains(needle),
            "{flags:?} {file:?}: {err:?} should mention {needle:?}"
        );
    }
}

#[test]
fn good_inputs_parse() {
    let cases: &[(&[&str], &str)] = &[
        (&["--listen", "localhost:0"], ""),
        (&["--listen", "[::1]:0"], ""),
        (&["--auto-create-topics", "1"], ""),
        (&["--retention-bytes", "-1"], ""),
        (&["--page-cache-window-mib", "0"], ""),
        (&[], "# comment only\n"),
        (
            &[],
            "flush = \"always\"\nauto_create_topics = true\nreplication_factor_policy = \"accept\"",
        ),
    ];
    for (flags, file) in cases {
        let flags: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        if let Err(err) = settings(&flags, &[], file) {
            panic!("{flags:?} {file:?}: {err:#}");
        }
    }
}

#[test]
fn the_page_cache_window_is_on_by_default_only_where_free_memory_is_reported() {
    let reporting = Host {
        reports_free_memory: true,
    };
    let window = |host, flags: &[&str], env: &[(String, &str)], file| {
        let flags: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        let s = settings_on(host, &flags, env, file).expect("valid settings");
        (s.store.page_cache_window_bytes, s.page_cache_window)
    };
    let mib = |n: u64| Some(n << 20);
    let env = |value| vec![(env_name("page_cache_window_mib"), value)];
    let cases = [
        (
            Host::default(),
            window(Host::default(), &[], &[], ""),
            (None, WindowChoice::AutoOff),
        ),
        (
            reporting,
            window(reporting, &[], &[], ""),
            (mib(64), WindowChoice::AutoOn),
        ),
        (
            reporting,
            window(reporting, &[], &[], "page_cache_window_mib = \"auto\""),
            (mib(64), WindowChoice::AutoOn),
        ),
        (
            reporting,
            window(reporting, &["--page-cache-window-mib", "off"], &[], ""),
            (None, WindowChoice::Explicit),
        ),
        (
            reporting,
            window(reporting, &[], &env("-1"), ""),
            (None, WindowChoice::Explicit),
        ),
        (
            reporting,
            window(reporting, &[], &[], "page_cache_window_mib = \"off\""),
            (None, WindowChoice::Explicit),
        ),
        (
            Host::default(),
            window(Host::default(), &[], &env("16"), ""),
            (mib(16), WindowChoice::Explicit),
        ),
    ];
    for (i, (host, got, want)) in cases.into_iter().enumerate() {
        assert_eq!(got, want, "case {i} on {host:?}");
    }
}

#[test]
fn free_page_reporting_is_read_from_the_balloon_feature_bits() {
    let dir = tempfile::tempdir().expect("temp dir");
    assert!(!balloon_reports_free_memory(&dir.path().join("absent")));
    assert!(!balloon_reports_free_memory(dir.path()), "no devices");
    let device = |name: &str, bits: &str| {
        let path = dir.path().join(name);
        std::fs::create_dir_all(&path).expect("device dir");
        std::fs::write(path.join("features"), bits).expect("features");
    };
    // Bits 1, 2 and 7 but not 5 (VIRTIO_BALLOON_F_REPORTING).
    device("virtio0", "0110000100000000000000000000000010000000\n");
    assert!(!balloon_reports_free_memory(dir.path()));
    device("virtio1", "0110010100000000000000000000000010000000\n");
    assert!(balloon_reports_free_memory(dir.path()));
}
