//! The project's only `unsafe` code: the global allocator guard, handing
//! freed heap memory back to the kernel (the broker) or keeping it for
//! reuse (the load generator), and the SIGPIPE disposition of the
//! command-line client.
//!
//! Why the allocator guard exists: the wire decoder (`kafka-protocol`) sizes each array with
//! `Vec::with_capacity(count)` straight from the count a client sent, before
//! reading any element. A hostile count of two billion asks for hundreds of
//! gigabytes; the system allocator refuses, and Rust aborts the process on a
//! refused allocation. One bad request would take the whole broker down.
//!
//! The fix: requests of [`HUGE_BYTES`] or more are served by an anonymous
//! `mmap` with `MAP_NORESERVE`, which reserves address space only. Nothing is
//! committed until touched; the decoder fails on the first missing element,
//! drops the vector, and the mapping is returned untouched. Legitimate
//! allocations in Weir are bounded by the request size limit (100 MiB by
//! default), far below the threshold, and go to the system allocator as
//! before.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;

/// Allocations at least this large are reserved, not committed.
pub const HUGE_BYTES: usize = 1 << 32;

/// Page alignment `mmap` guarantees; larger alignments go to the system.
const PAGE_BYTES: usize = 4096;

pub struct Guard;

fn is_huge(layout: &Layout) -> bool {
    layout.size() >= HUGE_BYTES && layout.align() <= PAGE_BYTES
}

// SAFETY: every pointer handed out is either from `System` (and returned to
// it) or from our own `mmap` of exactly `layout.size()` bytes (and returned
// with `munmap` of the same size); `is_huge` on the caller-provided layout,
// which GlobalAlloc guarantees is the one used at allocation, tells which.
unsafe impl GlobalAlloc for Guard {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_huge(&layout) {
            return reserve(layout.size());
        }
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_huge(&layout) {
            // Anonymous mappings read as zeroes.
            return reserve(layout.size());
        }
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_huge(&layout) {
            libc::munmap(ptr.cast(), layout.size());
            return;
        }
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        if !is_huge(&layout) && !is_huge(&new_layout) {
            return System.realloc(ptr, layout, new_size);
        }
        // Crossing the threshold: move by hand.
        let new_ptr = self.alloc(new_layout);
        if !new_ptr.is_null() {
            ptr::copy_nonoverlapping(ptr, new_ptr, layout.size().min(new_size));
            self.dealloc(ptr, layout);
        }
        new_ptr
    }
}

/// Lets SIGPIPE end the process, so a client command writing into a closed
/// pipe exits quietly instead of panicking in `println!`.
pub fn restore_default_sigpipe() {
    // SAFETY: setting a signal disposition to SIG_DFL installs no handler
    // code; it is done once, before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

unsafe fn reserve(size: usize) -> *mut u8 {
    let mapped = libc::mmap(
        ptr::null_mut(),
        size,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
        -1,
        0,
    );
    if mapped == libc::MAP_FAILED {
        ptr::null_mut()
    } else {
        mapped.cast()
    }
}

/// Hands memory the allocator holds free back to the kernel; returns whether
/// any was released.
///
/// glibc keeps freed memory in its per-thread arenas for reuse: after a
/// burst of 1 MB request frames on two runtime threads, an idle broker with
/// 1,000 partitions measured 36 MiB resident, and 9.5 MiB after one
/// `malloc_trim(0)`, which unmaps free pages anywhere in every arena.
/// Elsewhere than glibc this does nothing.
pub fn release_free_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only walks the allocator's own free lists
        // under its arena locks; it takes no pointers from us.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Makes the allocator keep freed memory for reuse, for `weir bench`.
///
/// librdkafka receives each fetch response into one buffer of the
/// response's size (about 8 MB for a consumer of 8 partitions with default
/// settings) and frees it once parsed. glibc may serve the next one from
/// fresh pages: buffers that large are `mmap`ed, or the arena's top is
/// trimmed back to the kernel after a free, and the next response is then
/// received into pages the kernel must first zero. How often depends on
/// where glibc's adaptive thresholds land in each run: reading 2 GB from
/// Weir, one consumer took 9,000 to 119,000 page faults, and in a run at
/// the high end spent 12% of its CPU in `clear_page_erms` under `recvmsg`.
/// Serving buffers up to 32 MiB from the arenas and trimming only past
/// 1 GiB free reuses them instead: 7,000 to 9,000 faults every run, and
/// 36,000 instead of 75,000 to 110,000 for a producer sending 1 GB. The
/// load generator shares the CPU with the broker it measures, so what it
/// wastes shows up as the broker's figure. The price is a load generator
/// that keeps its peak heap; the broker never calls this. Elsewhere than
/// glibc this does nothing.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // glibc's largest accepted mmap threshold on 64-bit (HEAP_MAX_SIZE / 2).
        const MMAP_THRESHOLD_BYTES: libc::c_int = 32 << 20;
        const TRIM_THRESHOLD_BYTES: libc::c_int = 1 << 30;
        // SAFETY: mallopt only sets the allocator's own tunables under its
        // lock; it takes no pointers. Called before any client thread runs.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_capacity_is_reserved_not_refused() {
        // 2^31 elements of 64 bytes: 128 GiB, more than this machine has.
        let v: Vec<[u8; 64]> = Vec::with_capacity(i32::MAX as usize);
        assert!(v.capacity() >= i32::MAX as usize);
    }

    #[test]
    fn growing_across_the_threshold_keeps_the_contents() {
        let mut v: Vec<u8> = vec![7; 1024];
        v.reserve(HUGE_BYTES);
        assert!(v.iter().all(|&b| b == 7));
        v.shrink_to_fit();
        assert_eq!(v.len(), 1024);
    }
}
