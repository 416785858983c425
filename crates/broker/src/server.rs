//! The listener: accept loop under a connection cap, the background
//! retention, group-timer and frame-pool tasks, and graceful shutdown.
//!
//! Shutdown is one signal (a `watch`): the accept loop stops, every
//! connection stops reading new requests and answers the ones it already
//! read, and `run` returns when all connections are gone (or after
//! [`DRAIN_TIMEOUT_MS`]). Flushing the store is the caller's last step.

use crate::groups::GroupService;
use crate::{connection, Broker, BrokerConfig};
use log::Store;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// Longest we wait for in-flight requests after shutdown is asked for. A
/// fetch long-poll is bounded by the client's max_wait_ms, usually 500 ms.
const DRAIN_TIMEOUT_MS: u64 = 30_000;

pub struct Server {
    broker: Arc<Broker>,
    listener: TcpListener,
    local_addr: SocketAddr,
}

impl Server {
    /// Binds the Kafka listener. Does not accept until [`Server::run`].
    pub async fn bind(config: BrokerConfig, store: Arc<Store>) -> anyhow::Result<Server> {
        let listener = TcpListener::bind(config.listen).await?;
        let local_addr = listener.local_addr()?;
        let advertised_host = config
            .advertised_host
            .clone()
            .unwrap_or_else(|| local_addr.ip().to_string());
        let advertised_port = config.advertised_port.unwrap_or(local_addr.port());
        let groups = Arc::new(GroupService::open(store.clone(), &config.groups)?);
        let broker = Arc::new(Broker {
            store,
            config,
            advertised_host,
            advertised_port,
            groups: Some(groups),
            append_failures: Default::default(),
            flush_failures: Default::default(),
            frame_pool: Default::default(),
            fetches: Default::default(),
        });
        Ok(Server {
            broker,
            listener,
            local_addr,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight
    /// requests finish, and returns. The caller then calls `Store::shutdown`.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let retention = tokio::spawn(retention_loop(self.broker.clone(), stop_rx.clone()));
        let frame_pool = tokio::spawn(frame_pool_loop(self.broker.clone(), stop_rx.clone()));
        let group_timers = self
            .broker
            .groups
            .clone()
            .map(|groups| tokio::spawn(groups.run_timers(stop_rx.clone())));
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        let result = tokio::select! {
            result = self.accept_loop(&mut connections, &stop_rx) => result,
            _ = &mut shutdown => Ok(()),
        };
        tracing::info!(
            "shutting down: draining {} connection(s)",
            connections.len()
        );
        let _ = stop_tx.send(true);
        if let Some(groups) = &self.broker.groups {
            // Parked JoinGroup/SyncGroup would otherwise hold the drain.
            groups.fail_waiters();
        }
        let drained = tokio::time::timeout(Duration::from_millis(DRAIN_TIMEOUT_MS), async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("connections still busy after {DRAIN_TIMEOUT_MS} ms; closing them");
            connections.shutdown().await;
        }
        let _ = retention.await;
        let _ = frame_pool.await;
        if let Some(timers) = group_timers {
            let _ = timers.await;
        }
        if let Some(groups) = &self.broker.groups {
            groups.finish_deliveries().await;
        }
        result
    }

    /// Takes a connection permit before accepting, so at the cap new clients
    /// wait in the kernel's backlog instead of costing us memory.
    async fn accept_loop(
        &self,
        connections: &mut JoinSet<()>,
        stop: &watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let permits = Arc::new(Semaphore::new(
            self.broker.config.limits.connections_max.max(1),
        ));
        loop {
            let permit = permits.clone().acquire_owned().await?;
            let (socket, _) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off, go on.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let broker = self.broker.clone();
            let stop = stop.clone();
            connections.spawn(async move {
                connection::serve(broker, socket, stop).await;
                drop(permit);
            });
            // Reap finished connections so the set does not grow with churn.
            while connections.try_join_next().is_some() {}
        }
    }
}

/// Enforces retention and `segment.ms` rolls every
/// `retention_check_interval_ms`, off the async workers (it deletes files).
async fn retention_loop(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    let period = Duration::from_millis(broker.config.retention_check_interval_ms.max(1));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => return,
        }
        let store = broker.store.clone();
        let now_ms = now_ms();
        if let Err(error) =
            tokio::task::spawn_blocking(move || store.enforce_retention(now_ms)).await
        {
            tracing::error!(%error, "retention task failed");
        }
    }
}

/// How often the frame pool is emptied if it went unused meanwhile: an idle
/// broker holds no frame buffers after at most twice this.
const FRAME_POOL_IDLE_CHECK: Duration = Duration::from_secs(2);

async fn frame_pool_loop(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(FRAME_POOL_IDLE_CHECK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => broker.frame_pool.release_if_idle(),
            _ = stop.changed() => return,
        }
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
