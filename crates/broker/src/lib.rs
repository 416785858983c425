//! The Kafka-speaking broker: TCP listener, framing and limits, one handler
//! file per Kafka API, and the mapping from storage errors to Kafka error
//! codes.
//!
//! This is the only crate that knows the wire types (from `kafka-protocol`).
//! It holds no storage logic: every handler translates a request into calls on
//! [`log::Store`] and the results back into a response.

mod config;
mod connection;
mod context;
mod dispatch;
mod errors;
mod frame;
mod frame_pool;
mod groups;
mod handlers;
mod server;

pub use config::{BrokerConfig, GroupConfig, Limits, ReplicationFactorPolicy, FETCH_MAX_BYTES_MIN};
pub use context::Broker;
pub use server::Server;
