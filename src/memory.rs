//! The C allocator, asked to give memory back. glibc raises its mmap
//! threshold each time a large block is freed, up to 32 MB, so after the
//! mirror's first decode (one 1080×1350 image is a 4 MB buffer, its resizes
//! more) later buffers come from the allocator's arenas, and what they
//! leave there once freed stays in the process: the agent would keep the
//! peak of its last resizing for good. A trim once the mirror has nothing
//! left to do returns what the arenas hold free. (Fixing the threshold as
//! well, with mallopt, which also turns off glibc's adaptive trimming,
//! left 15 MB after mirroring instead of 35 MB in one `bench/run.sh
//! mirror`, but /token.json measured 15 % lower in that run; it waits for
//! a longer A/B.)
//! Other allocators (musl's, or a platform without glibc) are left as they
//! are.

/// Returns free memory the allocator holds to the system, as after a burst
/// of work that is done.
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes the allocator's own locks and frees only
    // memory no allocation uses.
    unsafe {
        libc::malloc_trim(0);
    }
}
