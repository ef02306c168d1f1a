//! The C allocator, kept from holding on to the mirror's peaks. glibc
//! raises its mmap threshold each time a large block is freed, up to 32 MB,
//! so after the mirror's first decode (one 1080×1350 image is a 4 MB
//! buffer, its resizes more) later buffers come from the allocator's
//! arenas, and what they leave there once freed stays in the process: the
//! agent would keep the peak of its last resizing for good.
//!
//! So at start the mmap threshold is fixed at glibc's own initial 128 KB:
//! every image buffer is mapped and unmapped on its own. Fixing it also
//! fixes the trim threshold, which glibc would otherwise move with it; it
//! is set high, so that the small allocations of serving never make the
//! heap shrink and grow again, and a trim once the mirror has nothing left
//! to do returns what the arenas hold free.
//!
//! Measured with `bench/run.sh mirror` (24 posts at three widths, against
//! the same binary without these settings, in one run): RSS after
//! mirroring 15.9–17.1 MB against 32.6–34.0 MB, peak while resizing 25.5–
//! 26.8 MB against 36.6–37.2 MB. /token.json differed by 5.4 % in that run,
//! as much as two runs of one unchanged binary differed in the next.
//! Other allocators (musl's, or a platform without glibc) are left as they
//! are.

/// Allocations from this size up get their own mapping (glibc's default
/// before it adapts).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;
/// Free memory at the top of the heap kept for reuse rather than given back
/// at each `free`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 16 * 1024 * 1024;

/// Fixes the allocator's thresholds; called once, before the runtime's
/// threads start.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes settings of glibc's allocator, under its
    // own lock; no allocation depends on them.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
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
