//! DescribeGroups (key 15, v0-v5): classic groups with their members; an
//! unknown group (or a KIP-848 one, described by ConsumerGroupDescribe) is
//! `Dead` with no members and no error, as Kafka answers before v6.
//! Authorized operations stay "not requested" (there are no ACLs).

use crate::groups::service;
use crate::Broker;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

pub(crate) async fn handle(
    broker: &Broker,
    version: i16,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let Ok(groups) = service(broker) else {
        let failed = request
            .groups
            .into_iter()
            .map(|id| {
                DescribedGroup::default()
                    .with_group_id(id)
                    .with_error_code(ResponseError::CoordinatorNotAvailable.code())
            })
            .collect();
        return DescribeGroupsResponse::default().with_groups(failed);
    };
    let described = request
        .groups
        .into_iter()
        .map(|id| {
            let d = groups.read(|c| c.describe_group(&id.0));
            let members = d
                .members
                .into_iter()
                .map(|m| {
                    DescribedGroupMember::default()
                        .with_member_id(StrBytes::from_string(m.member_id))
                        .with_group_instance_id(if version >= 4 {
                            m.group_instance_id.map(StrBytes::from_string)
                        } else {
                            None
                        })
                        .with_client_id(StrBytes::from_string(m.client_id))
                        .with_client_host(StrBytes::from_string(m.client_host))
                        .with_member_metadata(m.metadata.into())
                        .with_member_assignment(m.assignment.into())
                })
                .collect();
            DescribedGroup::default()
                .with_group_id(id)
                .with_group_state(StrBytes::from_string(d.state))
                .with_protocol_type(StrBytes::from_string(d.protocol_type))
                .with_protocol_data(StrBytes::from_string(d.protocol_data))
                .with_members(members)
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(described)
}
