//! `weir serve`: resolve settings, start logging, open the store, bind the
//! Kafka listener, announce the bound address on stdout, and run until
//! SIGINT/SIGTERM; then drain, flush and exit 0.
//!
//! Settings resolution lives in `config.rs`; the server itself in the
//! `broker` crate and the storage in `log`. This file is only the order of
//! those steps and what the operator sees of them.

use crate::config::{self, ServeArgs, ServeSettings, WindowChoice};
use crate::os;
use anyhow::Context;
use log::{LogError, Store};
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tracing_subscriber::EnvFilter;

pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let settings = config::load(args)?;
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("weir")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(settings))
}

/// Logs go to stderr, filtered by RUST_LOG (default `info`), coloured only
/// on a terminal so a log file or journal gets plain text; stdout carries
/// only the one "listening" line that scripts and tests read.
fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// How often freed heap memory is handed back to the kernel.
const RELEASE_MEMORY_INTERVAL: Duration = Duration::from_secs(10);

async fn serve(settings: ServeSettings) -> anyhow::Result<()> {
    let signals = Signals::register()?;
    let store = open_store(&settings)?;
    // Ends with the runtime; a trim is a few milliseconds at most.
    tokio::spawn(async {
        let mut every = tokio::time::interval(RELEASE_MEMORY_INTERVAL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            os::release_free_memory();
        }
    });
    let served = bind_and_run(settings, store.clone(), signals).await;
    // Flush and mark a clean shutdown even when serving failed, so the next
    // start does not have to recover what was written.
    let flushed = store.shutdown().context("flushing the store at shutdown");
    served?;
    flushed?;
    tracing::info!("shut down cleanly");
    Ok(())
}

async fn bind_and_run(
    settings: ServeSettings,
    store: Arc<Store>,
    signals: Signals,
) -> anyhow::Result<()> {
    let listen = settings.broker.listen;
    let server = broker::Server::bind(settings.broker, store)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    announce(server.local_addr())?;
    server.run(signals.first()).await
}

/// Says whether the page-cache window is on, and why when `auto` chose it.
fn log_page_cache_window(settings: &ServeSettings) {
    let window_mib = settings.store.page_cache_window_bytes.map(|b| b >> 20);
    match (settings.page_cache_window, window_mib) {
        (WindowChoice::AutoOn, Some(mib)) => tracing::info!(
            window_mib = mib,
            "page-cache window on (auto): this VM reports free memory to its host, so new \
             page cache is slow to fill; each partition keeps its newest {mib} MiB cached \
             and readers further behind read from disk. --page-cache-window-mib off \
             turns this off"
        ),
        (_, Some(mib)) => tracing::info!(window_mib = mib, "page-cache window on"),
        (_, None) => tracing::debug!("page-cache window off: caching is left to the kernel"),
    }
}

fn open_store(settings: &ServeSettings) -> anyhow::Result<Arc<Store>> {
    let data_dir = settings.store.data_dir.display().to_string();
    tracing::info!(data_dir = %data_dir, flush = ?settings.store.flush, "opening store");
    log_page_cache_window(settings);
    match Store::open(settings.store.clone()) {
        Ok(store) => Ok(store),
        Err(LogError::Locked(_)) => Err(anyhow::anyhow!(
            "data directory {data_dir} is in use by another weir process; \
             stop it or choose another --data-dir"
        )),
        Err(err) => {
            Err(anyhow::Error::new(err).context(format!("cannot open data directory {data_dir}")))
        }
    }
}

/// The one line on stdout, flushed at once: tests and scripts wait for it.
fn announce(addr: SocketAddr) -> anyhow::Result<()> {
    tracing::info!(%addr, "ready");
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "weir listening on {addr}")?;
    stdout.flush()?;
    Ok(())
}

/// SIGINT and SIGTERM handlers, registered before the store opens so a signal
/// sent as soon as the "listening" line appears is never the default action.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn register() -> anyhow::Result<Signals> {
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
        })
    }

    /// Resolves at the first signal. A second signal during the drain exits
    /// at once: acknowledged records are already durable under the chosen
    /// flush policy, and the next start recovers the rest.
    async fn first(mut self) {
        self.next().await;
        tracing::info!("signal received: draining in-flight requests (signal again to exit now)");
        tokio::spawn(async move {
            self.next().await;
            tracing::warn!("second signal: exiting without draining");
            std::process::exit(130);
        });
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}
