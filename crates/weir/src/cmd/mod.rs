//! One file per `weir` subcommand. Each exposes its clap `Args` type and a
//! `run` function returning `anyhow::Result<()>`; `main.rs` only dispatches.

pub mod bench;
pub mod consume;
pub mod group;
pub mod produce;
pub mod serve;
pub mod topic;

/// Produce and consume against librdkafka's built-in mock cluster: the
/// client commands end to end, without a Weir broker.
#[cfg(test)]
mod mock_tests {
    use super::{consume, produce};
    use clap::Parser;
    use rdkafka::mocking::MockCluster;
    use std::sync::atomic::AtomicBool;

    #[derive(Parser)]
    enum Cmd {
        Produce(produce::ProduceArgs),
        Consume(consume::ConsumeArgs),
    }

    #[test]
    fn produced_lines_come_back_with_keys_and_headers() {
        let cluster = MockCluster::new(1).unwrap();
        cluster.create_topic("t", 3, 1).unwrap();
        let bootstrap = cluster.bootstrap_servers();
        let Cmd::Produce(p) = Cmd::parse_from([
            "x", "produce", "t", "-b", &bootstrap, "-k", ":", "-H", "h=v", "-p", "1",
        ]) else {
            unreachable!()
        };
        produce::produce_from(&p, &b"k1:a\nk2:b\r\nno-separator\n"[..]).unwrap_err();
        let Cmd::Consume(c) = Cmd::parse_from(["x", "consume", "t", "-b", &bootstrap, "-e"]) else {
            unreachable!()
        };
        let mut out = Vec::new();
        consume::consume_into(&c, &mut out, &AtomicBool::new(false)).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "1:0 k1 a\n1:1 k2 b\n");
        let Cmd::Consume(c) = Cmd::parse_from([
            "x", "consume", "t", "-b", &bootstrap, "-p", "1", "--from", "1", "-n", "1", "--format",
            "json",
        ]) else {
            unreachable!()
        };
        let mut out = Vec::new();
        consume::consume_into(&c, &mut out, &AtomicBool::new(false)).unwrap();
        let record: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(record["value"], "b");
        assert_eq!(record["headers"][0]["key"], "h");
    }
}
