//! The listener: accept loop, connection cap, graceful shutdown. (skeleton)

use crate::BrokerConfig;
use log::Store;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

pub struct Server {
    _private: (),
}

impl Server {
    /// Binds the Kafka listener. Does not accept until [`Server::run`].
    pub async fn bind(_config: BrokerConfig, _store: Arc<Store>) -> anyhow::Result<Server> {
        todo!()
    }
    pub fn local_addr(&self) -> SocketAddr {
        todo!()
    }
    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight
    /// requests finish, and returns. The caller then calls `Store::shutdown`.
    pub async fn run(self, _shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        todo!()
    }
}
