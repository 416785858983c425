//! DescribeLogDirs (key 35): the one data directory and the size of each
//! partition in it.
//!
//! Disk capacity (v4 `total_bytes` / `usable_bytes`) is reported as -1,
//! "unknown": reading it needs `statvfs`, which the broker does not link.

use super::wire_name;
use crate::Broker;
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse};
use kafka_protocol::protocol::StrBytes;
use log::{Partition, Topic};
use std::sync::Arc;

pub(crate) async fn handle(
    broker: &Broker,
    _version: i16,
    request: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    let topics = match &request.topics {
        None => broker
            .store
            .topics()
            .iter()
            .map(|topic| describe(topic, |_| true))
            .collect(),
        Some(wanted) => wanted
            .iter()
            .filter_map(|wanted| describe_wanted(broker, wanted))
            .collect(),
    };
    let data_dir = broker.store.data_dir();
    let log_dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let result = DescribeLogDirsResult::default()
        .with_log_dir(StrBytes::from_string(log_dir.display().to_string()))
        .with_topics(topics);
    DescribeLogDirsResponse::default().with_results(vec![result])
}

/// The requested partitions of one topic that exist here; Kafka leaves out
/// what the broker does not host.
fn describe_wanted(
    broker: &Broker,
    wanted: &DescribableLogDirTopic,
) -> Option<DescribeLogDirsTopic> {
    let topic = broker.store.topic(wanted.topic.as_str())?;
    let described = describe(&topic, |partition| {
        wanted.partitions.contains(&partition.id())
    });
    (!described.partitions.is_empty()).then_some(described)
}

fn describe(topic: &Arc<Topic>, include: impl Fn(&Partition) -> bool) -> DescribeLogDirsTopic {
    let partitions = topic
        .partitions()
        .iter()
        .filter(|partition| include(partition))
        .map(|partition| {
            DescribeLogDirsPartition::default()
                .with_partition_index(partition.id())
                .with_partition_size(i64::try_from(partition.size_bytes()).unwrap_or(i64::MAX))
                .with_offset_lag(0)
                .with_is_future_key(false)
        })
        .collect();
    DescribeLogDirsTopic::default()
        .with_name(wire_name(topic.name()))
        .with_partitions(partitions)
}

#[cfg(test)]
mod tests {
    use super::super::create_topics::test_support::{broker, create_topic};
    use super::*;

    fn summary(response: &DescribeLogDirsResponse) -> Vec<(String, Vec<i32>)> {
        response.results[0]
            .topics
            .iter()
            .map(|t| {
                (
                    t.name.to_string(),
                    t.partitions.iter().map(|p| p.partition_index).collect(),
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn lists_all_or_the_requested_partitions() {
        let broker = broker();
        create_topic(&broker, "a", 2);
        create_topic(&broker, "b", 1);
        for version in 1..=4 {
            let response = handle(
                &broker,
                version,
                DescribeLogDirsRequest::default().with_topics(None),
            )
            .await;
            assert_eq!(response.results.len(), 1);
            let result = &response.results[0];
            assert_eq!(result.error_code, 0);
            assert!(std::path::Path::new(result.log_dir.as_str()).is_absolute());
            assert_eq!((result.total_bytes, result.usable_bytes), (-1, -1));
            let expected = [("a".to_string(), vec![0, 1]), ("b".to_string(), vec![0])];
            assert_eq!(summary(&response), expected);
            assert!(result.topics[0]
                .partitions
                .iter()
                .all(|p| p.offset_lag == 0 && !p.is_future_key));
        }
        let wanted = vec![
            DescribableLogDirTopic::default()
                .with_topic(wire_name("a"))
                .with_partitions(vec![1, 7]),
            DescribableLogDirTopic::default()
                .with_topic(wire_name("missing"))
                .with_partitions(vec![0]),
        ];
        let response = handle(
            &broker,
            4,
            DescribeLogDirsRequest::default().with_topics(Some(wanted)),
        )
        .await;
        assert_eq!(summary(&response), [("a".to_string(), vec![1])]);
    }
}
