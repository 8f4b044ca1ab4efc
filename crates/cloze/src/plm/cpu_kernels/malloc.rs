//! Allocator tuning for the CPU kernels' large, short-lived activation buffers.

/// Keeps freed tensor buffers in the process heap for reuse.
///
/// glibc returns every allocation above its mmap threshold (at most 32 MiB by default) to the
/// kernel when it is freed, so each activation buffer of a bert-base batch (tens of MiB) is faulted
/// in afresh on every layer: about a fifth of a linear layer's time here. Raising the thresholds
/// makes those pages reusable. Call once at start-up, before loading a model; a no-op elsewhere.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
