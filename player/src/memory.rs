//! Keeping the player's memory to what it holds.
//!
//! The index is thousands of blocks of a few hundred KiB, built while short-lived buffers of
//! similar sizes come and go. glibc raises its mmap threshold as such blocks are freed, after
//! which they come from the heap and fragment it: 1 GB of output then peaked at 279 MB for a
//! 233 MB index, and at 240 MB with the threshold fixed at 64 KiB.

/// Fixes glibc's mmap threshold at 64 KiB for this process (elsewhere: does nothing). Call once,
/// early, in a process that builds a large timeline.
pub fn keep_heap_compact() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before the loading
    // threads start, and a refused setting only leaves the default in place.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 * 1024);
    }
}
