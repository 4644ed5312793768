//! Process settings that every binary applies at the start of `main`.

/// Largest allocation that glibc may serve from its heap instead of a fresh mapping: 32 MiB,
/// the highest value `mallopt` accepts on 64-bit Linux. It covers every buffer of a CNN
/// training step at batch 64; the largest, the unfolded input of the second convolution,
/// takes 14.5 MB.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 32 << 20;

/// Free memory at the top of the heap that glibc keeps instead of returning it: 1 GiB.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 1 << 30;

/// Makes the allocator keep and reuse the memory of freed tensors.
///
/// Burn's CPU backends allocate a new buffer for nearly every tensor operation, several
/// megabytes each in the CNN. glibc serves such sizes with fresh memory mappings and
/// unmaps them on free, so every step pays for page faults and for the kernel zeroing
/// the pages. Keeping the memory in the heap made a CNN training step on flex 10 to 45 %
/// faster in pairs of `mnist-bench` runs on a 2-core machine. The cost is that the
/// resident size stays at the largest step's working set.
///
/// Call it at the start of `main`, before other threads exist. It does nothing on other
/// platforms and C libraries.
pub fn reuse_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only changes allocator parameters, and the caller runs it before
    // other threads allocate.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}

/// Restores the default action of SIGPIPE, which Rust programs ignore, so that output cut
/// short by a closed pipe (`| head`) ends the process quietly, as with other command-line
/// tools, instead of making `println!` panic.
///
/// Call it at the start of `main`, before other threads exist. `mnist-train` does not
/// call it: it keeps training when its output is closed.
pub fn quit_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: `signal` only changes this process's SIGPIPE action, and the caller runs it
    // before other threads exist.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
