//! `weir group reset-offsets`: moves a group's committed offsets of one
//! topic (or one of its partitions) to the earliest or latest offset, an
//! explicit offset, a point in time, or a shift from the committed offset.
//! It prints the plan and commits it only with `--execute`, and refuses
//! while the group has members. The pure parts are unit tested here:
//! planning where a reset moves each partition, and parsing
//! `--to-datetime`. Fetching the group and committed offsets is shared and
//! lives in `mod.rs`.

use super::{committed_of, fetch_group, group_consumer, table};
use crate::client::{self, ClientArgs};
use anyhow::{anyhow, bail};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;

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

pub(super) fn run(args: &ClientArgs, reset: &ResetArgs) -> anyhow::Result<()> {
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
    let ids = client::partition_ids(consumer, topic, args.timeout())?;
    let ids = client::pick_partition(topic, ids, reset.partition)?;
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
    use super::super::{GroupArgs, GroupCommand};
    use super::*;
    use clap::Parser;

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
}
