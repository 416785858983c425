//! Producer-id allocation for idempotent producers (InitProducerId). Ids are
//! handed out from blocks whose end is persisted in the data directory
//! before any id of the block is used, so an id is never handed out twice,
//! even across a crash: reuse would let a new producer's first batches be
//! taken for duplicates of an old producer's and silently dropped. What the
//! ids mean to a partition is in `producer_state.rs`.

use crate::checkpoint::write_atomic;
use crate::LogError;
use std::path::{Path, PathBuf};

/// File in the data directory holding the first id not yet reserved.
pub(crate) const PRODUCER_ID_BLOCK_FILE: &str = "producer-id-block";
/// Ids reserved per write of the block file.
pub(crate) const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

#[derive(Debug)]
pub(crate) struct ProducerIds {
    path: PathBuf,
    /// The next id to hand out.
    next: i64,
    /// First id past the persisted reservation.
    reserved_end: i64,
}

impl ProducerIds {
    /// Reads the reservation. A missing file starts at 0; an unreadable one
    /// is an error, since guessing could reuse ids.
    pub fn open(data_dir: &Path) -> Result<ProducerIds, LogError> {
        let path = data_dir.join(PRODUCER_ID_BLOCK_FILE);
        let reserved_end = match std::fs::read_to_string(&path) {
            Ok(text) => text
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    LogError::Io(std::io::Error::other(format!(
                        "{}: not a producer id ({text:?}); refusing to guess, which could reuse ids",
                        path.display()
                    )))
                })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e.into()),
        };
        Ok(ProducerIds {
            path,
            next: reserved_end,
            reserved_end,
        })
    }

    /// The next id, reserving (durably) a new block first when needed.
    pub fn allocate(&mut self) -> Result<i64, LogError> {
        if self.next >= self.reserved_end {
            let end = self
                .reserved_end
                .checked_add(PRODUCER_ID_BLOCK_SIZE)
                .ok_or_else(|| LogError::LimitExceeded("producer ids exhausted".into()))?;
            write_atomic(&self.path, format!("{end}\n").as_bytes(), true)?;
            self.reserved_end = end;
        }
        let id = self.next;
        self.next += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_never_reused_across_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ids = ProducerIds::open(dir.path()).expect("open");
        assert_eq!(ids.allocate().expect("id"), 0);
        assert_eq!(ids.allocate().expect("id"), 1);
        // A crash now: the reopened allocator starts past the whole block.
        let mut again = ProducerIds::open(dir.path()).expect("reopen");
        assert_eq!(again.allocate().expect("id"), PRODUCER_ID_BLOCK_SIZE);
        for expected in PRODUCER_ID_BLOCK_SIZE + 1..2 * PRODUCER_ID_BLOCK_SIZE + 5 {
            assert_eq!(again.allocate().expect("id"), expected);
        }
        let mut third = ProducerIds::open(dir.path()).expect("reopen");
        assert_eq!(third.allocate().expect("id"), 3 * PRODUCER_ID_BLOCK_SIZE);
    }

    #[test]
    fn corrupt_block_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(PRODUCER_ID_BLOCK_FILE), "garbage").expect("write");
        assert!(ProducerIds::open(dir.path()).is_err());
    }
}
