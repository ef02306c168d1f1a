//! The C allocator, asked to give memory back. glibc raises its mmap
//! threshold each time a large block is freed, up to 32 MB, so after the
//! mirror's first decode (one 1080×1350 image is a 4 MB buffer, its resizes
//! more) later buffers come from the allocator's arenas, and what they
//! leave there once freed stays in the process: the agent would keep the
//! peak of its last resizing for good. A fixed threshold keeps large
//! buffers in mappings of their own, unmapped when freed, and a trim once
//! the mirror has nothing left to do returns what the arenas hold free.
//! Other allocators (musl's, or a platform without glibc) are left as they
//! are.

/// Blocks at least this large get mappings of their own: glibc's default,
/// held fixed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// Sets the allocator's habits; call once, before the runtime starts.
pub fn settle() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a setting of glibc's allocator, which
    // it applies under its own lock.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

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
