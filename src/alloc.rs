//! The process's allocator: the system allocator, with transparent huge pages asked for on
//! large blocks (Linux), and glibc set to keep freed memory for reuse ([`retain_freed`]). A
//! full-market panel is ~74 MB; touched for the first time it page-faults once per 4 KiB page
//! (~18,000 faults), which `perf` showed at several percent of an evaluation (the position
//! decoded from the sandbox, the backtest's buffers). With `MADV_HUGEPAGE` the kernel backs it
//! with 2 MiB pages where it can: 512 times fewer faults. Where THP is off (or not Linux) the
//! advice is ignored or not given; allocation itself is unchanged.

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks at least this large get the advice (glibc serves them with their own mapping).
const LARGE: usize = 32 << 20;
const HUGE_PAGE: usize = 2 << 20;

/// The system allocator plus huge-page advice on large blocks (see the module docs).
pub struct HugePageAlloc;

/// Asks for huge pages on the whole 2 MiB pages of a freshly allocated block, when it is large.
#[cfg(target_os = "linux")]
fn advise(ptr: *mut u8, size: usize) {
    let start = (ptr as usize).next_multiple_of(HUGE_PAGE);
    let end = (ptr as usize).saturating_add(size) / HUGE_PAGE * HUGE_PAGE;
    if size >= LARGE && !ptr.is_null() && end > start {
        // SAFETY: [start, end) lies inside the block just allocated; the advice changes how
        // the kernel backs those pages, not their contents or validity. Failure is harmless.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
    }
}

#[cfg(not(target_os = "linux"))]
fn advise(_: *mut u8, _: usize) {}

/// Tells glibc's allocator to keep freed memory for the process's next allocations instead of
/// returning it to the kernel: one arena for all threads (per-thread arenas grow and shrink as
/// worker threads come and go), large blocks from the heap rather than a fresh mapping each
/// (a freed mapping is unmapped at once), and no trimming of the heap's top. Memory handed back
/// and taken again is touched for the first time again: the kernel zeroes every page, and in a
/// VM that returns freed memory to its host (free page reporting) each such page also faults in
/// the hypervisor. On the offline `iterate -n 200` the host side touched 2.6 GB for 1.6 GB of
/// distinct pages; see docs/architecture.md §4.5. Call once, first thing in `main`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn retain_freed() {
    // SAFETY: `mallopt` only changes glibc's allocation policy; all three are documented
    // parameters and any value is valid for them. Called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn retain_freed() {}

// SAFETY: every call forwards to `System` with the same arguments; `advise` only gives the
// kernel advice about pages inside the returned block.
unsafe impl GlobalAlloc for HugePageAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(layout) };
        advise(p, layout.size());
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc_zeroed(layout) };
        advise(p, layout.size());
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        advise(p, new_size);
        p
    }
}
