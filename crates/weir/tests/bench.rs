//! `weir bench` against the real broker: each load generator runs to
//! completion with small counts and its `--json` result holds the figures
//! the benchmark suite reads. Only counts are asserted, never speeds.

mod common;

use common::{unique_topic, weir_bin, Broker};
use serde_json::Value;
use std::process::Command;

/// Runs `weir bench <args> --json` against `broker`; returns its JSON.
fn bench(broker: &Broker, args: &[&str]) -> Value {
    let output = Command::new(weir_bin())
        .arg("bench")
        .args(args)
        .args(["--bootstrap", &broker.bootstrap(), "--json"])
        .args(["--limits", "/nonexistent/bench-limits.json"])
        .output()
        .expect("run weir bench");
    assert!(
        output.status.success(),
        "weir bench {args:?} failed: {}\nbroker log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        broker.log_tail()
    );
    serde_json::from_slice(&output.stdout).expect("weir bench --json prints one JSON object")
}

fn count(result: &Value, field: &str) -> u64 {
    result[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} missing from {result}"))
}

#[test]
fn produce_then_consume_counts_every_record() {
    let broker = Broker::start(&[]);
    let topic = unique_topic("bench");
    let produced = bench(
        &broker,
        &[
            "produce",
            "--topic",
            &topic,
            "--partitions",
            "3",
            "--count",
            "3000",
            "--record-bytes",
            "100",
        ],
    );
    assert_eq!(count(&produced, "records"), 3000);
    assert_eq!(count(&produced, "failed"), 0);
    assert_eq!(count(&produced, "bytes"), 300_000);
    assert_eq!(count(&produced["latency_us"], "count"), 3000);

    let consumed = bench(&broker, &["consume", "--topic", &topic, "--groups", "2"]);
    assert_eq!(count(&consumed, "records_per_group"), 3000);
    assert_eq!(count(&consumed, "records"), 6000);
    for group in consumed["per_group"].as_array().expect("per_group") {
        assert_eq!(group["complete"], Value::Bool(true), "{group}");
    }
    // Each group's consumer has at least one librdkafka broker thread, and
    // the rate their CPU allows is reported with them.
    let fetch = &consumed["fetch_threads"];
    assert!(count(fetch, "threads") >= 2, "{consumed}");
    let ceiling = fetch["ceiling_mb_per_s"].as_f64().expect("ceiling");
    assert!(ceiling > 0.0 && ceiling.is_finite(), "{consumed}");

    // Members split a group's partitions: together they read each record
    // once, and a count below the total stops the group exactly there. Four
    // members of three partitions leave one with nothing to read.
    for (members, limit) in [("2", None), ("4", None), ("2", Some("1000"))] {
        let mut args = vec!["consume", "--topic", &topic, "--members", members];
        args.extend(limit.iter().flat_map(|n| ["--count", n]));
        let consumed = bench(&broker, &args);
        let expected = limit.map_or(3000, |n| n.parse().expect("count"));
        assert_eq!(
            count(&consumed, "members"),
            members.parse::<u64>().expect("members")
        );
        assert_eq!(count(&consumed, "records"), expected, "{consumed}");
        assert_eq!(consumed["per_group"][0]["complete"], Value::Bool(true));
    }
}

#[test]
fn a_paced_produce_sends_no_more_than_its_rate() {
    let broker = Broker::start(&[]);
    let topic = unique_topic("paced");
    let result = bench(
        &broker,
        &[
            "produce",
            "--topic",
            &topic,
            "--rate",
            "400",
            "--producers",
            "2",
            "--duration-secs",
            "1",
        ],
    );
    assert_eq!(count(&result, "target_records_per_s"), 400);
    assert_eq!(count(&result, "failed"), 0);
    // Each producer sends the records due in its second: 200 each at most.
    let records = count(&result, "records");
    assert!((1..=400).contains(&records), "{records} records");
}

#[test]
fn records_sent_during_the_warm_up_count_in_no_figure() {
    let broker = Broker::start(&[]);
    let topic = unique_topic("warm");
    let args = [
        "produce",
        "--topic",
        &topic,
        "--rate",
        "300",
        "--duration-secs",
        "1",
    ];
    let result = bench(&broker, &[&args[..], &["--warmup-secs", "1"]].concat());
    assert_eq!(count(&result, "warmup_secs"), 1);
    // Two seconds were sent at 300/s; only the second counts.
    let records = count(&result, "records");
    assert!((1..=300).contains(&records), "{records} records");
    assert_eq!(count(&result["latency_us"], "count"), records);
}

#[test]
fn end_to_end_receives_every_delivered_record() {
    let broker = Broker::start(&[]);
    let topic = unique_topic("e2e");
    let result = bench(
        &broker,
        &[
            "e2e",
            "--topic",
            &topic,
            "--rate",
            "200",
            "--duration-secs",
            "1",
            "--linger-ms",
            "0",
        ],
    );
    let delivered = count(&result, "delivered");
    assert!(delivered > 0);
    assert_eq!(count(&result, "sent"), delivered);
    assert_eq!(count(&result, "received"), delivered);
}

/// `weir bench limits` with small budgets: every figure is present, the
/// cache file holds the same result, and no scratch file is left behind.
#[test]
fn limits_measures_group_commit_when_asked_and_cleans_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("limits.json");
    let output = Command::new(weir_bin())
        .args(["bench", "limits", "--json", "--data-dir"])
        .arg(dir.path())
        .arg("--out")
        .arg(&out)
        .args(["--write-mib", "2", "--tcp-mib", "2", "--sync-appends", "20"])
        .args(["--seconds", "1", "--commit-mb-s", "1"])
        .output()
        .expect("run weir bench limits");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    let cached: Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("cache file")).expect("JSON");
    assert_eq!(printed, cached);
    assert_eq!(printed["fdatasync_latency"]["count"], 20, "{printed}");
    let commit = &printed["group_commit"];
    assert_eq!(commit["target_mb_s"], 1.0, "{printed}");
    assert!(count(&commit["sync_latency"], "count") >= 1, "{printed}");
    // 1 MB/s of 1 KiB appends for a second: every append is timed once.
    let appends = count(&commit["latency"], "count");
    assert!((1..=977).contains(&appends), "{printed}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("limits.json")]);
}

#[test]
fn limits_refuses_a_rate_it_cannot_mean() {
    let dir = tempfile::tempdir().expect("temp dir");
    for rate in ["0", "-5", "NaN", "1e9"] {
        let output = Command::new(weir_bin())
            .args(["bench", "limits", "--data-dir"])
            .arg(dir.path())
            .arg(format!("--commit-mb-s={rate}"))
            .output()
            .expect("run weir bench limits");
        assert!(!output.status.success(), "--commit-mb-s {rate} was taken");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--commit-mb-s"), "{rate}: {stderr}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).expect("read dir").count(), 0);
}
