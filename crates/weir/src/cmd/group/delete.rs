//! `weir group delete`: deletes a group and its committed offsets with the
//! DeleteGroups admin request, which a broker accepts only while the group
//! has no members. Nothing here reads group state or offsets.

use crate::client::{self, describe_code, ClientArgs};
use anyhow::bail;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;

pub(super) fn run(args: &ClientArgs, group: &str) -> anyhow::Result<()> {
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
