//! The state every handler sees: the store, the group coordinator and the
//! broker's settings.

use crate::errors::LogThrottle;
use crate::frame_pool::FramePool;
use crate::groups::GroupService;
use crate::BrokerConfig;
use log::Store;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

pub struct Broker {
    pub store: Arc<Store>,
    pub config: BrokerConfig,
    /// Host and port clients are told to connect to.
    pub advertised_host: String,
    pub advertised_port: u16,
    /// The group coordinator; `None` only in handler unit tests.
    pub(crate) groups: Option<Arc<GroupService>>,
    /// Produce appends that failed in the store (a full or failing disk).
    pub(crate) append_failures: LogThrottle,
    /// Produce requests failed because their flush cycle failed.
    pub(crate) flush_failures: LogThrottle,
    /// Buffers that large request frames are read into, reused.
    pub(crate) frame_pool: Arc<FramePool>,
    /// Counts fetches, to rotate which partition a response's byte budget
    /// goes to first (see `handlers::fetch`).
    pub(crate) fetches: AtomicUsize,
}
