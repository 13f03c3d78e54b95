//! A counting global allocator for the memory tests: live and peak heap bytes of the current
//! thread (so tests running in parallel do not blur each other's figures). Each test file
//! installs it with `#[global_allocator] static GLOBAL: alloc_util::Counting =
//! alloc_util::Counting;` and reads [`LIVE`] and [`PEAK`].
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts every allocation of its thread, then delegates to the system allocator.
pub struct Counting;

thread_local! {
    /// Heap bytes this thread holds now (allocated minus freed, since the thread started).
    pub static LIVE: Cell<isize> = const { Cell::new(0) };
    /// The highest [`LIVE`] since it was last reset.
    pub static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn add(n: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + n;
        live.set(now);
        let _ = PEAK.try_with(|p| {
            if now > p.get() {
                p.set(now)
            }
        });
    });
}

// SAFETY: every method delegates to `System` with the caller's arguments unchanged; the
// bookkeeping touches only thread-local cells with const initializers (no allocation).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
}
