//! `weir group list|describe|reset-offsets|delete`: consumer-group
//! administration over the Kafka protocol with rdkafka, so it works against
//! any Kafka broker. Groups and members come from ListGroups/DescribeGroups
//! (`fetch_group_list`), committed offsets from OffsetFetch
//! (`committed_offsets` of a consumer carrying the group's id, which never
//! joins the group), log-end offsets from ListOffsets, and resets are
//! OffsetCommits by that same non-member consumer, which a broker accepts
//! only while the group has no members.
//!
//! The pure parts live here too and are unit tested: decoding the consumer
//! protocol's member assignment, planning where a reset moves each
//! partition, and parsing `--to-datetime`. No broker internals are used.

use crate::client::{self, describe_code, ClientArgs};
use anyhow::{anyhow, bail};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::metadata::Metadata;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};

/// Group states in which nobody consumes, so offsets may be rewritten.
/// An empty string is what some brokers answer for a group they never saw.
const INACTIVE_STATES: [&str; 3] = ["Empty", "Dead", ""];

/// Most topic-partitions one member assignment may name, so a hostile
/// assignment cannot make the decoder allocate without bound.
const ASSIGNED_PARTITIONS_MAX: usize = 1_000_000;

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

#[derive(Debug, clap::Args)]
pub struct ResetArgs {
    pub group: String,
    /// Topic whose committed offsets move
    #[arg(long, short = 't')]
    pub topic: String,
    /// Only this partition [default: every partition of the topic]
    #[arg(long, short = 'p')]
    pub partition: Option<i32>,
    #[command(flatten)]
    pub to: TargetArgs,
    /// Commit the planned offsets (without it, nothing changes)
    #[arg(long)]
    pub execute: bool,
}

/// Exactly one of these says where the offsets go.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct TargetArgs {
    /// To the earliest offset still in the log
    #[arg(long)]
    pub to_earliest: bool,
    /// To the log-end offset (skip everything not yet read)
    #[arg(long)]
    pub to_latest: bool,
    /// To this offset, clamped to [earliest, log end]
    #[arg(long, value_name = "OFFSET")]
    pub to_offset: Option<i64>,
    /// To the first record at or after this time: milliseconds since the
    /// epoch, or RFC 3339 such as 2024-05-01T12:00:00Z
    #[arg(long, value_name = "MS|RFC3339", value_parser = parse_datetime_ms)]
    pub to_datetime: Option<i64>,
    /// Forward (or backward, if negative) from the committed offset
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub shift_by: Option<i64>,
}

/// Where a reset moves each partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Earliest,
    Latest,
    Offset(i64),
    TimestampMs(i64),
    ShiftBy(i64),
}

impl TargetArgs {
    fn target(&self) -> anyhow::Result<Target> {
        let t = self;
        let target = match (
            t.to_earliest,
            t.to_latest,
            t.to_offset,
            t.to_datetime,
            t.shift_by,
        ) {
            (true, _, _, _, _) => Target::Earliest,
            (_, true, _, _, _) => Target::Latest,
            (_, _, Some(offset), _, _) => Target::Offset(offset),
            (_, _, _, Some(ms), _) => Target::TimestampMs(ms),
            (_, _, _, _, Some(n)) => Target::ShiftBy(n),
            _ => bail!(
                "give one of --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by"
            ),
        };
        Ok(target)
    }
}

pub fn run(args: &GroupArgs) -> anyhow::Result<()> {
    match &args.command {
        GroupCommand::List => list(&args.client),
        GroupCommand::Describe { group } => describe(&args.client, group),
        GroupCommand::ResetOffsets(reset) => reset_offsets(&args.client, reset),
        GroupCommand::Delete { group } => delete(&args.client, group),
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

fn list(args: &ClientArgs) -> anyhow::Result<()> {
    let consumer = group_consumer(args, "weir-cli")?;
    let groups = fetch_groups(&consumer, args, None)?;
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            let kind = if g.protocol_type.is_empty() {
                "-"
            } else {
                &g.protocol_type
            };
            vec![
                g.name.clone(),
                g.state.clone(),
                kind.to_string(),
                g.members.len().to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(&["GROUP", "STATE", "PROTOCOL-TYPE", "MEMBERS"], &rows)
    );
    Ok(())
}

fn describe(args: &ClientArgs, group_name: &str) -> anyhow::Result<()> {
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

fn reset_offsets(args: &ClientArgs, reset: &ResetArgs) -> anyhow::Result<()> {
    let target = reset.to.target()?;
    let consumer = group_consumer(args, &reset.group)?;
    let group = fetch_group(&consumer, args, &reset.group)?;
    if group.is_active() {
        bail!(
            "cannot reset offsets of group {}: it has {} active member(s) (state {}); \
             stop its consumers first",
            group.name,
            group.members.len(),
            group.state
        );
    }
    let states = partition_states(&consumer, args, reset, target)?;
    let mut plan = Vec::with_capacity(states.len());
    for state in &states {
        let new = planned_offset(target, state)
            .map_err(|why| anyhow!("{}/{}: {why}", reset.topic, state.partition))?;
        plan.push((state.partition, state.committed, new));
    }
    let rows: Vec<Vec<String>> = plan
        .iter()
        .map(|(partition, old, new)| {
            vec![
                reset.group.clone(),
                reset.topic.clone(),
                partition.to_string(),
                old.map_or_else(|| "-".to_string(), |o| o.to_string()),
                new.to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(&["GROUP", "TOPIC", "PARTITION", "OLD", "NEW"], &rows)
    );
    if !reset.execute {
        eprintln!("dry run: nothing committed; add --execute to commit these offsets");
        return Ok(());
    }
    commit_plan(&consumer, &reset.topic, &plan)?;
    eprintln!(
        "committed {} offset(s) for group {}",
        plan.len(),
        reset.group
    );
    Ok(())
}

fn commit_plan(
    consumer: &BaseConsumer,
    topic: &str,
    plan: &[(i32, Option<i64>, i64)],
) -> anyhow::Result<()> {
    let mut offsets = TopicPartitionList::new();
    for (partition, _, new) in plan {
        offsets
            .add_partition_offset(topic, *partition, Offset::Offset(*new))
            .map_err(|err| client::kafka_error("commit offsets", &err))?;
    }
    consumer
        .commit(&offsets, CommitMode::Sync)
        .map_err(|err| client::kafka_error("commit offsets", &err))
}

/// What is known about one partition before a reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionState {
    pub partition: i32,
    pub committed: Option<i64>,
    pub earliest: i64,
    pub log_end: i64,
    /// First offset whose timestamp is at or after `--to-datetime`; `None`
    /// when no record is that recent (or no time was given).
    pub at_time: Option<i64>,
}

fn partition_states(
    consumer: &BaseConsumer,
    args: &ClientArgs,
    reset: &ResetArgs,
    target: Target,
) -> anyhow::Result<Vec<PartitionState>> {
    let topic = &reset.topic;
    let ids = topic_partitions(consumer, args, topic, reset.partition)?;
    let mut query = TopicPartitionList::new();
    for id in &ids {
        query.add_partition(topic, *id);
    }
    let committed = committed_of(consumer, args, query)?;
    let times = match target {
        Target::TimestampMs(ms) => offsets_at_time(consumer, args, topic, &ids, ms)?,
        _ => BTreeMap::new(),
    };
    let mut states = Vec::with_capacity(ids.len());
    for id in ids {
        let (earliest, log_end) = consumer
            .fetch_watermarks(topic, id, args.timeout())
            .map_err(|err| client::kafka_error(&format!("offsets of {topic}/{id}"), &err))?;
        states.push(PartitionState {
            partition: id,
            committed: committed.get(&(topic.clone(), id)).copied(),
            earliest,
            log_end,
            at_time: times.get(&id).copied(),
        });
    }
    Ok(states)
}

/// The partition ids of `topic`, or just `only` after checking it exists.
fn topic_partitions(
    consumer: &BaseConsumer,
    args: &ClientArgs,
    topic: &str,
    only: Option<i32>,
) -> anyhow::Result<Vec<i32>> {
    let metadata = consumer
        .fetch_metadata(Some(topic), args.timeout())
        .map_err(|err| client::kafka_error("describe topic", &err))?;
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
        bail!(
            "topic {topic}: {}",
            describe_code(rdkafka::error::RDKafkaErrorCode::UnknownTopicOrPartition)
        );
    };
    if let Some(err) = found.error() {
        bail!("topic {topic}: {}", describe_code(err.into()));
    }
    let mut ids: Vec<i32> = found.partitions().iter().map(|p| p.id()).collect();
    ids.sort_unstable();
    match only {
        None => Ok(ids),
        Some(id) if ids.contains(&id) => Ok(vec![id]),
        Some(id) => bail!("topic {topic} has no partition {id} (it has {})", ids.len()),
    }
}

fn offsets_at_time(
    consumer: &BaseConsumer,
    args: &ClientArgs,
    topic: &str,
    ids: &[i32],
    ms: i64,
) -> anyhow::Result<BTreeMap<i32, i64>> {
    let mut query = TopicPartitionList::new();
    for id in ids {
        query
            .add_partition_offset(topic, *id, Offset::Offset(ms))
            .map_err(|err| client::kafka_error("offsets by time", &err))?;
    }
    let answer = consumer
        .offsets_for_times(query, args.timeout())
        .map_err(|err| client::kafka_error("offsets by time", &err))?;
    let mut found = BTreeMap::new();
    for element in answer.elements() {
        if let Offset::Offset(offset) = element.offset() {
            found.insert(element.partition(), offset);
        }
    }
    Ok(found)
}

/// The offset a reset moves one partition to, as `kafka-consumer-groups`
/// computes it: always within [earliest, log end]; shifting needs a
/// committed offset; a time after the last record means the log end.
pub fn planned_offset(target: Target, state: &PartitionState) -> Result<i64, String> {
    let wanted = match target {
        Target::Earliest => state.earliest,
        Target::Latest => state.log_end,
        Target::Offset(offset) => offset,
        Target::TimestampMs(_) => state.at_time.unwrap_or(state.log_end),
        Target::ShiftBy(n) => match state.committed {
            Some(committed) => committed.saturating_add(n),
            None => return Err("no committed offset to shift from".to_string()),
        },
    };
    Ok(wanted.clamp(state.earliest, state.log_end.max(state.earliest)))
}

fn delete(args: &ClientArgs, group: &str) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = args
        .config(&[])
        .create()
        .map_err(|err| client::kafka_error("cannot create admin client", &err))?;
    let options = AdminOptions::new()
        .request_timeout(Some(args.timeout()))
        .operation_timeout(Some(args.timeout()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let results = runtime
        .block_on(admin.delete_groups(&[group], &options))
        .map_err(|err| client::kafka_error("delete group", &err))?;
    for result in results {
        if let Err((name, code)) = result {
            bail!("delete group {name}: {}", describe_code(code));
        }
    }
    println!("deleted group {group}");
    Ok(())
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

/// Why a member assignment could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    Truncated { at_byte: usize },
    NegativeLength { at_byte: usize },
    TooManyPartitions,
    NotUtf8 { at_byte: usize },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Truncated { at_byte } => write!(f, "truncated at byte {at_byte}"),
            DecodeError::NegativeLength { at_byte } => {
                write!(f, "negative length at byte {at_byte}")
            }
            DecodeError::TooManyPartitions => {
                write!(f, "more than {ASSIGNED_PARTITIONS_MAX} partitions")
            }
            DecodeError::NotUtf8 { at_byte } => write!(f, "topic name not UTF-8 at byte {at_byte}"),
        }
    }
}

/// A bounds-checked big-endian reader over one assignment.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len());
        let end = end.ok_or(DecodeError::Truncated { at_byte: self.at })?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn i16(&mut self) -> Result<i16, DecodeError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Result<i32, DecodeError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An array count that cannot exceed what the remaining bytes could hold
    /// at `item_bytes_min` each; a null array (-1) counts as empty.
    fn count(&mut self, item_bytes_min: usize) -> Result<usize, DecodeError> {
        let at_byte = self.at;
        let count = self.i32()?;
        if count == -1 {
            return Ok(0);
        }
        let count = usize::try_from(count).map_err(|_| DecodeError::NegativeLength { at_byte })?;
        if count.saturating_mul(item_bytes_min) > self.bytes.len() - self.at {
            return Err(DecodeError::Truncated { at_byte });
        }
        Ok(count)
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let at_byte = self.at;
        let len = self.i16()?;
        let len = usize::try_from(len).map_err(|_| DecodeError::NegativeLength { at_byte })?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::NotUtf8 { at_byte })
    }
}

/// Decodes a classic consumer-protocol assignment (ConsumerProtocolAssignment
/// v0-v3): version i16, then an array of (topic string, partition i32 array),
/// then user data, which is ignored. Empty bytes mean "nothing assigned", as
/// members send during a rebalance.
pub fn decode_assignment(bytes: &[u8]) -> Result<Vec<(String, Vec<i32>)>, DecodeError> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let mut reader = Reader { bytes, at: 0 };
    let _version = reader.i16()?;
    let topic_count = reader.count(2 + 4)?;
    let mut topics = Vec::with_capacity(topic_count);
    let mut total = 0usize;
    for _ in 0..topic_count {
        let topic = reader.string()?;
        let partition_count = reader.count(4)?;
        total = total.saturating_add(partition_count);
        if total > ASSIGNED_PARTITIONS_MAX {
            return Err(DecodeError::TooManyPartitions);
        }
        let mut partitions = Vec::with_capacity(partition_count);
        for _ in 0..partition_count {
            partitions.push(reader.i32()?);
        }
        topics.push((topic, partitions));
    }
    Ok(topics)
}

/// `--to-datetime`: milliseconds since the epoch, or RFC 3339
/// (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, `T` or a space).
pub fn parse_datetime_ms(text: &str) -> Result<i64, String> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    parse_rfc3339_ms(text).ok_or_else(|| {
        format!(
            "expected milliseconds since the epoch or RFC 3339 like \
             2024-05-01T12:00:00Z or 2024-05-01T14:00:00.250+02:00, got {text:?}"
        )
    })
}

fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(range)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=days_in_month(year, month)).contains(&day) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let rest = &text[19..];
    let (fraction_ms, zone) = split_fraction(rest)?;
    let offset_s = parse_zone(zone)?;
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_s;
    Some(seconds * 1_000 + fraction_ms)
}

/// `.250Z` → (250, "Z"); only the first three fraction digits count.
fn split_fraction(rest: &str) -> Option<(i64, &str)> {
    let Some(after_dot) = rest.strip_prefix('.') else {
        return Some((0, rest));
    };
    let digits = after_dot.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let mut ms = 0;
    for (i, c) in after_dot
        .bytes()
        .take(3)
        .enumerate()
        .filter(|(i, _)| *i < digits)
    {
        ms += i64::from(c - b'0') * [100, 10, 1][i];
    }
    Some((ms, &after_dot[digits..]))
}

/// Seconds east of UTC for `Z` or `±HH:MM`.
fn parse_zone(zone: &str) -> Option<i64> {
    if zone.eq_ignore_ascii_case("z") {
        return Some(0);
    }
    let b = zone.as_bytes();
    if b.len() != 6 || b[3] != b':' {
        return None;
    }
    let sign = match b[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let hours: i64 = zone.get(1..3)?.parse().ok()?;
    let minutes: i64 = zone.get(4..6)?.parse().ok()?;
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 3_600 + minutes * 60))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// well-known civil-date arithmetic).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// Encodes an assignment the way clients do, for round trips.
    fn encode(version: i16, topics: &[(&str, &[i32])], user_data: Option<&[u8]>) -> Vec<u8> {
        let mut out = version.to_be_bytes().to_vec();
        out.extend((topics.len() as i32).to_be_bytes());
        for (topic, partitions) in topics {
            out.extend((topic.len() as i16).to_be_bytes());
            out.extend(topic.as_bytes());
            out.extend((partitions.len() as i32).to_be_bytes());
            for p in *partitions {
                out.extend(p.to_be_bytes());
            }
        }
        match user_data {
            Some(data) => {
                out.extend((data.len() as i32).to_be_bytes());
                out.extend(data);
            }
            None => out.extend((-1i32).to_be_bytes()),
        }
        out
    }

    fn owned(topics: &[(&str, &[i32])]) -> Vec<(String, Vec<i32>)> {
        topics
            .iter()
            .map(|(t, ps)| (t.to_string(), ps.to_vec()))
            .collect()
    }

    #[test]
    fn assignments_decode_across_versions_and_user_data() {
        type Case<'a> = (i16, &'a [(&'a str, &'a [i32])], Option<&'a [u8]>);
        let cases: &[Case] = &[
            (0, &[], None),
            (0, &[("orders", &[0, 1, 2])], None),
            (1, &[("a", &[2]), ("b", &[])], Some(b"sticky")),
            (3, &[("events", &[5, 3])], Some(b"")),
        ];
        for (version, topics, user_data) in cases {
            let bytes = encode(*version, topics, *user_data);
            assert_eq!(decode_assignment(&bytes), Ok(owned(topics)), "{topics:?}");
        }
        assert_eq!(decode_assignment(&[]), Ok(Vec::new()));
    }

    #[test]
    fn every_truncation_of_an_assignment_is_an_error_not_a_panic() {
        let bytes = encode(0, &[("orders", &[0, 1]), ("x", &[7])], None);
        // Without user data the partitions end 4 bytes early; any shorter
        // prefix must fail cleanly.
        for len in 1..bytes.len() - 4 {
            assert!(decode_assignment(&bytes[..len]).is_err(), "prefix {len}");
        }
    }

    #[test]
    fn hostile_counts_are_refused_before_allocating() {
        let cases: &[(&[u8], DecodeError)] = &[
            (
                &[0, 0, 0x7f, 0xff, 0xff, 0xff],
                DecodeError::Truncated { at_byte: 2 },
            ),
            (
                &[0, 0, 0xff, 0xff, 0xff, 0xfe],
                DecodeError::NegativeLength { at_byte: 2 },
            ),
            (
                &[0, 0, 0, 0, 0, 1, 0xff, 0xfe, 0, 0, 0, 0],
                DecodeError::NegativeLength { at_byte: 6 },
            ),
            (
                &[0, 0, 0, 0, 0, 1, 0, 1, 0xff, 0, 0, 0, 0],
                DecodeError::NotUtf8 { at_byte: 6 },
            ),
        ];
        for (bytes, expect) in cases {
            assert_eq!(decode_assignment(bytes).as_ref(), Err(expect), "{bytes:?}");
        }
    }

    #[test]
    fn resets_plan_like_kafka_consumer_groups() {
        let state = |committed, at_time| PartitionState {
            partition: 0,
            committed,
            earliest: 10,
            log_end: 50,
            at_time,
        };
        let cases: &[(Target, PartitionState, Result<i64, ()>)] = &[
            (Target::Earliest, state(Some(30), None), Ok(10)),
            (Target::Latest, state(None, None), Ok(50)),
            (Target::Offset(20), state(Some(30), None), Ok(20)),
            (Target::Offset(5), state(None, None), Ok(10)),
            (Target::Offset(99), state(None, None), Ok(50)),
            (Target::TimestampMs(1), state(Some(30), Some(12)), Ok(12)),
            (Target::TimestampMs(1), state(Some(30), None), Ok(50)),
            (Target::ShiftBy(-5), state(Some(30), None), Ok(25)),
            (Target::ShiftBy(-50), state(Some(30), None), Ok(10)),
            (Target::ShiftBy(40), state(Some(30), None), Ok(50)),
            (Target::ShiftBy(i64::MAX), state(Some(30), None), Ok(50)),
            (Target::ShiftBy(1), state(None, None), Err(())),
        ];
        for (target, state, expect) in cases {
            let got = planned_offset(*target, state).map_err(|_| ());
            assert_eq!(got, *expect, "{target:?} from {state:?}");
        }
    }

    #[test]
    fn an_empty_log_plans_offset_zero() {
        let empty = PartitionState {
            partition: 1,
            committed: None,
            earliest: 0,
            log_end: 0,
            at_time: None,
        };
        for target in [
            Target::Earliest,
            Target::Latest,
            Target::Offset(7),
            Target::TimestampMs(0),
        ] {
            assert_eq!(planned_offset(target, &empty), Ok(0), "{target:?}");
        }
    }

    #[test]
    fn datetimes_parse_as_epoch_milliseconds() {
        let cases: &[(&str, Option<i64>)] = &[
            ("1714564800000", Some(1_714_564_800_000)),
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2024-05-01T12:00:00Z", Some(1_714_564_800_000)),
            ("2024-05-01 12:00:00z", Some(1_714_564_800_000)),
            ("2024-05-01T14:00:00.25+02:00", Some(1_714_564_800_250)),
            ("2024-05-01T07:30:00.1239-04:30", Some(1_714_564_800_123)),
            ("2000-02-29T00:00:00Z", Some(951_782_400_000)),
            ("1969-12-31T23:59:59Z", Some(-1_000)),
            ("2023-02-29T00:00:00Z", None),
            ("2024-05-01T12:00:00", None),
            ("2024-05-01T24:00:00Z", None),
            ("2024-05-01T12:00:00.Z", None),
            ("2024-13-01T12:00:00Z", None),
            ("2024-05-01T12:00:00+2:00", None),
            ("yesterday", None),
        ];
        for (text, expect) in cases {
            assert_eq!(parse_datetime_ms(text).ok(), *expect, "{text}");
        }
    }

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        args: GroupArgs,
    }

    #[test]
    fn reset_needs_exactly_one_target() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["x", "reset-offsets", "g", "--topic", "t"];
            argv.extend(extra);
            Cmd::try_parse_from(argv).map(|cmd| match cmd.args.command {
                GroupCommand::ResetOffsets(reset) => reset.to.target().ok(),
                _ => None,
            })
        };
        assert_eq!(
            parse(&["--to-earliest"]).ok().flatten(),
            Some(Target::Earliest)
        );
        assert_eq!(
            parse(&["--shift-by", "-3"]).ok().flatten(),
            Some(Target::ShiftBy(-3))
        );
        assert_eq!(
            parse(&["--to-datetime", "1970-01-01T00:00:01Z"])
                .ok()
                .flatten(),
            Some(Target::TimestampMs(1_000))
        );
        assert!(parse(&[]).is_err());
        assert!(parse(&["--to-earliest", "--to-latest"]).is_err());
        assert!(parse(&["--to-offset", "1", "--shift-by", "2"]).is_err());
    }

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
