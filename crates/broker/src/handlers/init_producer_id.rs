//! InitProducerId (key 22, v0-5): gives an idempotent producer its producer
//! id and epoch. Duplicate and sequence checking of its batches happen in the
//! log (`log::Partition::append`); id allocation in `log::Store`.
//!
//! Without a transactional id Kafka's coordinator "blindly" hands out a
//! fresh id with epoch 0, also when a v3+ (KIP-360) request carries the
//! producer's current id and epoch: a non-transactional producer has no
//! coordinator state to bump, and a fresh id resets every partition's
//! sequence just as well. Weir does the same. Transactions are not
//! supported yet: a transactional id is refused with an error the clients
//! treat as fatal, so `init_transactions()` fails at once instead of retrying
//! forever (see `TRANSACTIONS_UNSUPPORTED`).

use crate::{errors, Broker};
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::ResponseError;

/// The answer to a transactional id. Kafka's InitProducerId response has no
/// error message, so the code must carry the meaning. librdkafka retries
/// every code every 500 ms except the ones it treats as fatal
/// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED,
/// INVALID_TRANSACTION_TIMEOUT, and the fencing codes); kafka-python treats
/// this one as fatal too. It is also the nearest in meaning: this broker does
/// not allow this producer to use a transactional id.
const TRANSACTIONS_UNSUPPORTED: ResponseError = ResponseError::TransactionalIdAuthorizationFailed;

const NO_PRODUCER_ID: i64 = -1;
const NO_PRODUCER_EPOCH: i16 = -1;

pub(crate) async fn handle(
    broker: &Broker,
    _version: i16,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    if let Some(transactional_id) = &request.transactional_id {
        tracing::warn!(
            transactional_id = %transactional_id.0,
            "refusing InitProducerId for a transactional producer: transactions are not supported yet"
        );
        return refusal(TRANSACTIONS_UNSUPPORTED);
    }
    // Fields of v3+; below that they decode as -1. Kafka refuses one without
    // the other.
    let has_id = request.producer_id.0 != NO_PRODUCER_ID;
    let has_epoch = request.producer_epoch != NO_PRODUCER_EPOCH;
    if has_id != has_epoch {
        return refusal(ResponseError::InvalidRequest);
    }
    match broker.store.allocate_producer_id() {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(error) => {
            tracing::error!(%error, "could not allocate a producer id");
            refusal(errors::kafka_error(&error))
        }
    }
}

fn refusal(error: ResponseError) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_error_code(error.code())
        .with_producer_id(ProducerId(NO_PRODUCER_ID))
        .with_producer_epoch(NO_PRODUCER_EPOCH)
}
