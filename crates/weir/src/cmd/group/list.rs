//! `weir group list`: every consumer group the broker knows, one row each
//! with its state, protocol type and member count. Fetching the groups is
//! shared and lives in `mod.rs`; nothing here reads offsets.

use super::{fetch_groups, group_consumer, table};
use crate::client::ClientArgs;

pub(super) fn run(args: &ClientArgs) -> anyhow::Result<()> {
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
