//! Flush policy and group commit. (skeleton: to be implemented)

/// When appended bytes are forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    /// fdatasync before a produce is acknowledged; one fdatasync per dirty
    /// segment per flush cycle covers every batch that became pending while
    /// the previous cycle ran (group commit). The default.
    Always,
    /// fdatasync every N milliseconds; acknowledged data can be lost on a
    /// machine crash (not on a process crash).
    IntervalMs(u64),
    /// Never fdatasync except on roll and shutdown (Kafka's default).
    Never,
}

impl std::str::FromStr for FlushPolicy {
    type Err = String;
    /// Parses `always`, `never` or `interval:<ms>`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "always" => Ok(FlushPolicy::Always),
            "never" => Ok(FlushPolicy::Never),
            _ => match s.strip_prefix("interval:").map(str::parse::<u64>) {
                Some(Ok(ms)) if ms > 0 => Ok(FlushPolicy::IntervalMs(ms)),
                _ => Err(format!(
                    "invalid flush policy {s:?}: expected always, never or interval:<ms>"
                )),
            },
        }
    }
}

/// What a produce must wait for before answering: the flush cycle that will
/// cover its batches. `None` inside means nothing to wait for (policy is not
/// `Always`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlushTicket(pub(crate) Option<u64>);
