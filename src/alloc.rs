//! The process's allocator: the system allocator, with transparent huge pages asked for on
//! large blocks (Linux). A full-market panel is ~74 MB; built fresh, it page-faults once per
//! 4 KiB page (~18,000 faults), which `perf` showed at several percent of an evaluation (the
//! position decoded from the sandbox, the backtest's buffers). With `MADV_HUGEPAGE` the kernel
//! backs it with 2 MiB pages where it can: 512 times fewer faults. Where THP is off (or not
//! Linux) the advice is ignored or not given; allocation itself is unchanged.

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks at least this large get the advice (glibc serves them with their own mapping).
const LARGE: usize = 32 << 20;
const HUGE_PAGE: usize = 2 << 20;

/// The system allocator plus huge-page advice on large blocks (see the module docs).
pub struct HugePageAlloc;

/// Huge-page advice on a freshly allocated block, when it is large.
fn advise(ptr: *mut u8, size: usize) {
    if size >= LARGE {
        advise_reserved(ptr, size);
    }
}

/// Asks for huge pages on the whole 2 MiB pages inside `len` bytes from `base`: an allocated
/// block, or a sandbox's linear memory (its pooled slot, touched for the first time as the
/// guest grows — once per 4 KiB page otherwise; `perf` showed those faults at ~8 % of the
/// evolve bench's time).
#[cfg(target_os = "linux")]
pub fn advise_reserved(base: *mut u8, len: usize) {
    let start = (base as usize).next_multiple_of(HUGE_PAGE);
    let end = (base as usize).saturating_add(len) / HUGE_PAGE * HUGE_PAGE;
    if !base.is_null() && end > start {
        // SAFETY: [start, end) lies inside a block or reservation the caller owns (mapped
        // whole); the advice changes how the kernel backs those pages, not their contents or
        // validity. Failure (a part not mapped) is harmless.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
    }
}

#[cfg(not(target_os = "linux"))]
pub fn advise_reserved(_: *mut u8, _: usize) {}

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
