//! DeleteGroups (key 42): deletes empty groups with their committed offsets
//! (tombstones in `__consumer_offsets`); one result per group.

use crate::groups::service;
use crate::{errors, Broker};
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{ApiKey, DeleteGroupsRequest, DeleteGroupsResponse, GroupId};
use kafka_protocol::protocol::StrBytes;

pub(crate) async fn handle(
    broker: &Broker,
    version: i16,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let ids: Vec<String> = request
        .groups_names
        .iter()
        .map(|g| g.0.to_string())
        .collect();
    let results = match service(broker) {
        Ok(groups) => groups.delete_groups(&ids).await,
        Err(e) => ids.into_iter().map(|id| (id, Err(e.clone()))).collect(),
    };
    let results = results
        .into_iter()
        .map(|(id, result)| {
            let code = result
                .err()
                .as_ref()
                .map_or(0, |e| errors::group_code(e, ApiKey::DeleteGroups, version));
            DeletableGroupResult::default()
                .with_group_id(GroupId(StrBytes::from_string(id)))
                .with_error_code(code)
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}
