//! `weir group list|describe|reset-offsets|delete`: consumer-group
//! administration over the Kafka protocol with rdkafka, so it works against
//! any Kafka broker. Groups and members come from ListGroups/DescribeGroups
//! (`fetch_group_list`), committed offsets from OffsetFetch
//! (`committed_offsets` of a consumer carrying the group's id, which never
//! joins the group), log-end offsets from ListOffsets, and resets are
//! OffsetCommits by that same non-member consumer, which a broker accepts
//! only while the group has no members.
//!
//! This file holds what the subcommands share: the clap `GroupArgs` and
//! subcommand enum, the dispatch, the non-member group consumer, fetching
//! groups with their members, fetching committed offsets, and the plain-text
//! table. Each subcommand lives in its own file; decoding the consumer
//! protocol's member assignment lives in `assignment.rs`. No broker
//! internals are used.

mod assignment;
mod delete;
mod describe;
mod list;
mod reset_offsets;

use crate::client::{self, ClientArgs};
use assignment::decode_assignment;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use reset_offsets::ResetArgs;
use std::collections::BTreeMap;

/// Group states in which nobody consumes, so offsets may be rewritten.
/// An empty string is what some brokers answer for a group they never saw.
const INACTIVE_STATES: [&str; 3] = ["Empty", "Dead", ""];

#[derive(Debug, clap::Args)]
pub struct GroupArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: GroupCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum GroupCommand {
    /// List consumer groups with their state and member count
    List,
    /// Show committed offset, log-end offset, lag and owner of each partition
    Describe { group: String },
    /// Move a group's committed offsets (prints the plan; --execute commits it)
    ResetOffsets(ResetArgs),
    /// Delete a group and its committed offsets (the group must have no members)
    Delete { group: String },
}

pub fn run(args: &GroupArgs) -> anyhow::Result<()> {
    match &args.command {
        GroupCommand::List => list::run(&args.client),
        GroupCommand::Describe { group } => describe::run(&args.client, group),
        GroupCommand::ResetOffsets(reset) => reset_offsets::run(&args.client, reset),
        GroupCommand::Delete { group } => delete::run(&args.client, group),
    }
}

/// One member of a group, owned, with its assignment decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    id: String,
    client_id: String,
    host: String,
    assignment: Vec<(String, Vec<i32>)>,
}

/// A group as DescribeGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Group {
    name: String,
    state: String,
    protocol_type: String,
    members: Vec<Member>,
}

impl Group {
    fn is_active(&self) -> bool {
        !self.members.is_empty() || !INACTIVE_STATES.contains(&self.state.as_str())
    }
}

/// A consumer carrying `group` as its id; it never subscribes, so it never
/// joins the group, and only reads or commits offsets on its behalf.
fn group_consumer(args: &ClientArgs, group: &str) -> anyhow::Result<BaseConsumer> {
    args.config(&[
        ("group.id", group),
        ("enable.auto.commit", "false"),
        ("enable.auto.offset.store", "false"),
        ("allow.auto.create.topics", "false"),
    ])
    .create()
    .map_err(|err| client::kafka_error("cannot create consumer", &err))
}

/// Every group (`None`) or the one named, with members decoded.
fn fetch_groups(
    consumer: &BaseConsumer,
    args: &ClientArgs,
    group: Option<&str>,
) -> anyhow::Result<Vec<Group>> {
    let list = consumer
        .fetch_group_list(group, args.timeout())
        .map_err(|err| client::kafka_error("list groups", &err))?;
    let mut groups = Vec::with_capacity(list.groups().len());
    for info in list.groups() {
        let mut members = Vec::with_capacity(info.members().len());
        for member in info.members() {
            let bytes = member.assignment().unwrap_or_default();
            let assignment = decode_assignment(bytes).unwrap_or_else(|err| {
                eprintln!(
                    "note: member {}: undecodable assignment: {err}",
                    member.id()
                );
                Vec::new()
            });
            members.push(Member {
                id: member.id().to_string(),
                client_id: member.client_id().to_string(),
                host: member.client_host().to_string(),
                assignment,
            });
        }
        groups.push(Group {
            name: info.name().to_string(),
            state: info.state().to_string(),
            protocol_type: info.protocol_type().to_string(),
            members,
        });
    }
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(groups)
}

/// The group named, or an empty "Dead" group when the broker knows none.
fn fetch_group(consumer: &BaseConsumer, args: &ClientArgs, name: &str) -> anyhow::Result<Group> {
    let groups = fetch_groups(consumer, args, Some(name))?;
    let found = groups.into_iter().find(|g| g.name == name);
    Ok(found.unwrap_or_else(|| Group {
        name: name.to_string(),
        state: "Dead".to_string(),
        protocol_type: String::new(),
        members: Vec::new(),
    }))
}

fn committed_of(
    consumer: &BaseConsumer,
    args: &ClientArgs,
    query: TopicPartitionList,
) -> anyhow::Result<BTreeMap<(String, i32), i64>> {
    if query.count() == 0 {
        return Ok(BTreeMap::new());
    }
    let answer = consumer
        .committed_offsets(query, args.timeout())
        .map_err(|err| client::kafka_error("fetch committed offsets", &err))?;
    let mut committed = BTreeMap::new();
    for element in answer.elements() {
        if let Offset::Offset(offset) = element.offset() {
            committed.insert((element.topic().to_string(), element.partition()), offset);
        }
    }
    Ok(committed)
}

/// Columns padded to their widest cell, two spaces apart, one line per row.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
