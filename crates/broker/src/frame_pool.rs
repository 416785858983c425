//! Buffers for large request frames, kept and reused across requests and
//! connections, so a busy producer's next request lands in memory that is
//! already mapped.
//!
//! Every produce request from librdkafka is a frame of up to about 1 MB, and
//! several are in flight per connection. Read into freshly allocated memory,
//! each frame cost the kernel a page fault and a zeroed page per 4 KiB as the
//! bytes arrived, and the allocator an `munmap` (or heap trim) when it was
//! dropped: on the 2-core VM, 17% of the broker's CPU in a durable 1 KiB
//! produce run. A frame read into a pooled buffer gives the buffer back when
//! the frame and every slice of it are dropped (`Bytes::from_owner`).
//!
//! The pool is bounded ([`POOLED_BUFFERS_MAX`] buffers of at most
//! [`POOLED_BUFFER_MAX_BYTES`]) and emptied once it has gone unused for an
//! interval ([`FramePool::release_if_idle`]), so an idle broker holds none.

use bytes::Bytes;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Frames at least this large are read into pooled buffers; smaller ones
/// share the connection's own read buffer, where allocation is cheap.
pub(crate) const POOLED_FRAME_MIN_BYTES: usize = 64 << 10;
/// Buffers larger than this are freed rather than kept: a rare huge frame
/// should not pin its memory.
const POOLED_BUFFER_MAX_BYTES: usize = 4 << 20;
/// Most buffers kept: the frames in flight on a few busy producer
/// connections. librdkafka pipelines up to a million requests per
/// connection unless idempotence caps it at five, and the broker reads at
/// most `in_flight_per_connection_max` (32) ahead; at 311,000 1 KiB
/// records/s, though, it sent about 350 requests of ~0.9 MB a second and
/// had 32 unanswered once in 7,000 requests.
const POOLED_BUFFERS_MAX: usize = 16;

#[derive(Default)]
pub(crate) struct FramePool {
    free: Mutex<Vec<Vec<u8>>>,
    /// Set by every `take`, cleared by `release_if_idle`.
    used: AtomicBool,
}

impl FramePool {
    fn lock(&self) -> MutexGuard<'_, Vec<Vec<u8>>> {
        self.free.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An empty buffer with room for `len` bytes: the smallest kept one
    /// that is large enough (so a 64 KiB frame does not take the buffer a
    /// 1 MB frame needs next), else a new one (whose room is address space
    /// until bytes arrive in it).
    pub(crate) fn take(&self, len: usize) -> Vec<u8> {
        self.used.store(true, Ordering::Relaxed);
        let kept = {
            let mut free = self.lock();
            let best = (0..free.len())
                .filter(|&i| free[i].capacity() >= len)
                .min_by_key(|&i| free[i].capacity());
            best.map(|i| free.swap_remove(i))
        };
        match kept {
            Some(mut buf) => {
                buf.clear();
                buf
            }
            None => Vec::with_capacity(len),
        }
    }

    /// `buf` as a frame; the buffer comes back to the pool when the frame
    /// and all its slices are dropped.
    pub(crate) fn frame(self: &Arc<Self>, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Pooled {
            buf,
            pool: self.clone(),
        })
    }

    fn give(&self, buf: Vec<u8>) {
        if buf.capacity() > POOLED_BUFFER_MAX_BYTES {
            return;
        }
        let mut free = self.lock();
        if free.len() < POOLED_BUFFERS_MAX {
            free.push(buf);
            return;
        }
        // Full: keep the larger buffers, which fit more of the next frames.
        let smallest = free.iter_mut().min_by_key(|b| b.capacity());
        if let Some(smallest) = smallest.filter(|b| b.capacity() < buf.capacity()) {
            *smallest = buf;
        }
    }

    /// Frees every kept buffer if no frame was taken since the last call;
    /// called periodically, so a pool unused for one interval is emptied.
    pub(crate) fn release_if_idle(&self) {
        if !self.used.swap(false, Ordering::Relaxed) {
            let released = std::mem::take(&mut *self.lock());
            drop(released);
        }
    }

    /// Buffers kept now (for tests).
    #[cfg(test)]
    fn kept(&self) -> usize {
        self.lock().len()
    }
}

/// A pooled buffer owned by a frame.
struct Pooled {
    buf: Vec<u8>,
    pool: Arc<FramePool>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(pool: &FramePool, len: usize, byte: u8) -> Vec<u8> {
        let mut buf = pool.take(len);
        buf.resize(len, byte);
        buf
    }

    #[test]
    fn a_dropped_frame_gives_its_buffer_to_the_next() {
        let pool = Arc::new(FramePool::default());
        let frame = pool.frame(filled(&pool, 100_000, 7));
        let address = frame.as_ptr();
        let slice = frame.slice(10..20);
        drop(frame);
        assert_eq!(pool.kept(), 0, "a slice still holds the buffer");
        assert_eq!(&slice[..], &[7u8; 10]);
        drop(slice);
        assert_eq!(pool.kept(), 1);
        let again = pool.take(90_000);
        assert_eq!(again.as_ptr(), address, "the same memory, reused");
        assert!(again.is_empty() && again.capacity() >= 90_000);
    }

    #[test]
    fn a_frame_takes_the_smallest_buffer_that_fits() {
        let pool = Arc::new(FramePool::default());
        let big = pool.frame(filled(&pool, 1 << 20, 1));
        let small = pool.frame(filled(&pool, 100_000, 2));
        drop(big);
        drop(small);
        assert_eq!(pool.kept(), 2);
        assert!(pool.take(70_000).capacity() < 1 << 20, "the small one");
        assert!(
            pool.take(900_000).capacity() >= 900_000,
            "the big one is left"
        );
        assert_eq!(pool.kept(), 0);
    }

    #[test]
    fn the_pool_is_bounded_and_empties_when_idle() {
        let pool = Arc::new(FramePool::default());
        let frames: Vec<Bytes> = (0..POOLED_BUFFERS_MAX + 4)
            .map(|i| pool.frame(filled(&pool, 70_000 + i, 1)))
            .collect();
        let huge = pool.frame(filled(&pool, POOLED_BUFFER_MAX_BYTES + 1, 2));
        drop(frames);
        drop(huge);
        assert_eq!(
            pool.kept(),
            POOLED_BUFFERS_MAX,
            "at most this many, never the huge one"
        );
        // None is large enough: a new buffer, and the kept ones stay; given
        // back to the full pool, it takes the place of the smallest.
        let bigger = pool.take(POOLED_BUFFER_MAX_BYTES);
        assert!(bigger.capacity() >= POOLED_BUFFER_MAX_BYTES);
        assert_eq!(pool.kept(), POOLED_BUFFERS_MAX);
        drop(pool.frame(bigger));
        assert_eq!(pool.kept(), POOLED_BUFFERS_MAX);
        let again = pool.take(POOLED_BUFFER_MAX_BYTES);
        assert!(
            again.capacity() >= POOLED_BUFFER_MAX_BYTES,
            "kept, and found"
        );
        drop(again); // a plain Vec now, not a frame: it does not come back
        pool.release_if_idle(); // used since the last call: kept
        assert_eq!(pool.kept(), POOLED_BUFFERS_MAX - 1);
        pool.release_if_idle(); // idle for a whole interval: emptied
        assert_eq!(pool.kept(), 0);
    }
}
