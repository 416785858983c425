//! `weir group describe`: one row per partition the group has a committed
//! offset for or owns, with committed offset, log-end offset, lag and the
//! owning member, then a row for each member that owns nothing, like
//! `kafka-consumer-groups --describe`. Fetching the group and its committed
//! offsets is shared and lives in `mod.rs`; nothing here changes offsets.

use super::{committed_of, fetch_group, group_consumer, table, Group, Member};
use crate::client::{self, ClientArgs};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::metadata::Metadata;
use rdkafka::TopicPartitionList;
use std::collections::{BTreeMap, BTreeSet};

pub(super) fn run(args: &ClientArgs, group_name: &str) -> anyhow::Result<()> {
    let consumer = group_consumer(args, group_name)?;
    let group = fetch_group(&consumer, args, group_name)?;
    let metadata = consumer
        .fetch_metadata(None, args.timeout())
        .map_err(|err| client::kafka_error("list topics", &err))?;
    let committed = committed_offsets(&consumer, args, &metadata)?;
    let owners = owners(&group);
    let partitions: BTreeSet<&(String, i32)> = committed.keys().chain(owners.keys()).collect();
    let mut rows = Vec::with_capacity(partitions.len() + group.members.len());
    for key in partitions {
        let (topic, partition) = (key.0.as_str(), key.1);
        let (_, end) = consumer
            .fetch_watermarks(topic, partition, args.timeout())
            .map_err(|err| client::kafka_error(&format!("offsets of {topic}/{partition}"), &err))?;
        let current = committed.get(key).copied();
        let owner = owners.get(key).copied();
        rows.push(describe_row(
            group_name,
            (topic, partition),
            current,
            end,
            owner,
        ));
    }
    // Like kafka-consumer-groups: a member owning nothing still gets a row.
    let idle = group
        .members
        .iter()
        .filter(|m| m.assignment.iter().all(|(_, ids)| ids.is_empty()));
    for member in idle {
        let mut row = vec![group_name.to_string()];
        row.extend(["-", "-", "-", "-", "-"].map(String::from));
        row.extend([
            member.id.clone(),
            member.host.clone(),
            member.client_id.clone(),
        ]);
        rows.push(row);
    }
    if !group.is_active() {
        eprintln!("Consumer group '{group_name}' has no active members.");
    }
    print!("{}", table(&DESCRIBE_HEADERS, &rows));
    Ok(())
}

/// The member each assigned partition belongs to.
fn owners(group: &Group) -> BTreeMap<(String, i32), &Member> {
    let mut owners = BTreeMap::new();
    for member in &group.members {
        for (topic, ids) in &member.assignment {
            for id in ids {
                owners.insert((topic.clone(), *id), member);
            }
        }
    }
    owners
}

const DESCRIBE_HEADERS: [&str; 9] = [
    "GROUP",
    "TOPIC",
    "PARTITION",
    "CURRENT-OFFSET",
    "LOG-END-OFFSET",
    "LAG",
    "CONSUMER-ID",
    "HOST",
    "CLIENT-ID",
];

fn describe_row(
    group: &str,
    (topic, partition): (&str, i32),
    current: Option<i64>,
    end: i64,
    owner: Option<&Member>,
) -> Vec<String> {
    let dash = || "-".to_string();
    let lag = current.map_or_else(dash, |c| (end - c).max(0).to_string());
    let mut row = vec![
        group.to_string(),
        topic.to_string(),
        partition.to_string(),
        current.map_or_else(dash, |c| c.to_string()),
        end.to_string(),
        lag,
    ];
    match owner {
        Some(m) => row.extend([m.id.clone(), m.host.clone(), m.client_id.clone()]),
        None => row.extend([dash(), dash(), dash()]),
    }
    row
}

/// The group's committed offset of every partition of every topic that has one.
fn committed_offsets(
    consumer: &BaseConsumer,
    args: &ClientArgs,
    metadata: &Metadata,
) -> anyhow::Result<BTreeMap<(String, i32), i64>> {
    let mut query = TopicPartitionList::new();
    for topic in metadata.topics().iter().filter(|t| t.error().is_none()) {
        for partition in topic.partitions() {
            query.add_partition(topic.name(), partition.id());
        }
    }
    committed_of(consumer, args, query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_owners_default_to_dashes() {
        let row = describe_row("g", ("t", 2), None, 7, None);
        assert_eq!(row, ["g", "t", "2", "-", "7", "-", "-", "-", "-"]);
        let member = Member {
            id: "m-1".into(),
            client_id: "c".into(),
            host: "/127.0.0.1".into(),
            assignment: Vec::new(),
        };
        let row = describe_row("g", ("t", 0), Some(3), 13, Some(&member));
        assert_eq!(
            row,
            ["g", "t", "0", "3", "13", "10", "m-1", "/127.0.0.1", "c"]
        );
        let text = table(&["A", "BB"], &[vec!["xyz".into(), "1".into()]]);
        assert_eq!(text, "A    BB\nxyz  1\n");
    }
}
