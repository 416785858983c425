//! ListGroups (key 16): every group this broker coordinates, filtered by
//! state (v4+) and type (v5+, "classic" / "consumer"). Fields a version does
//! not have are left out of the answer.

use crate::groups::service;
use crate::{errors, Broker};
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{ApiKey, GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

pub(crate) async fn handle(
    broker: &Broker,
    version: i16,
    request: ListGroupsRequest,
) -> ListGroupsResponse {
    let groups = match service(broker) {
        Ok(groups) => groups,
        Err(error) => {
            return ListGroupsResponse::default().with_error_code(errors::group_code(
                &error,
                ApiKey::ListGroups,
                version,
            ))
        }
    };
    let strings = |v: Vec<StrBytes>| v.into_iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let states = if version >= 4 {
        strings(request.states_filter)
    } else {
        Vec::new()
    };
    let types = if version >= 5 {
        strings(request.types_filter)
    } else {
        Vec::new()
    };
    let listed = groups
        .read(|c| c.list_groups(&states, &types))
        .into_iter()
        .map(|g| {
            let mut listed = ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(g.group_id)))
                .with_protocol_type(StrBytes::from_string(g.protocol_type));
            if version >= 4 {
                listed = listed.with_group_state(StrBytes::from_string(g.state));
            }
            if version >= 5 {
                listed = listed.with_group_type(StrBytes::from_string(g.group_type));
            }
            listed
        })
        .collect();
    ListGroupsResponse::default().with_groups(listed)
}
