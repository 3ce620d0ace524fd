//! One page of memory the runner shares with every child of every case (`MAP_SHARED`), forked
//! or not: children report what they saw in its slots, the parent reads them back.
//!
//! The runner maps it once ([`map`]) before the first case; a child inherits the mapping
//! and the pointer to it, so [`slot`] works the same in every process of the run. Each case
//! zeroes the slots it uses first ([`reset_slots`]).

use core::sync::atomic::{AtomicI64, AtomicPtr, Ordering};

use clonekit::Errno;
use clonekit::sys::mm::{MapFlags, ProtFlags, mmap_anonymous};
use clonekit::sys::time::{Timespec, nanosleep};

/// Slots in the page.
pub const SLOTS: usize = 4096 / core::mem::size_of::<AtomicI64>();

static PAGE: AtomicPtr<AtomicI64> = AtomicPtr::new(core::ptr::null_mut());

/// Maps the shared page (zero-filled); the runner calls it once, before any child. A second
/// call keeps the first page.
pub fn map() -> Result<(), Errno> {
    if !PAGE.load(Ordering::Acquire).is_null() {
        return Ok(());
    }
    let page = mmap_anonymous(4096, ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED)?;
    PAGE.store(page.as_ptr().cast(), Ordering::Release);
    Ok(())
}

/// Slot `i` of the shared page.
///
/// # Panics
/// Before [`map`], or past [`SLOTS`].
pub fn slot(i: usize) -> &'static AtomicI64 {
    assert!(i < SLOTS, "slot {i} past the page");
    let page = PAGE.load(Ordering::Acquire);
    assert!(!page.is_null(), "testkit::shared::map not called");
    // SAFETY: a zero-filled page of SLOTS atomics (all-zero is a valid AtomicI64) that is
    // never unmapped; `i` is in bounds.
    unsafe { &*page.add(i) }
}

/// Zeroes slots `0..n`.
pub fn reset_slots(n: usize) {
    for i in 0..n {
        slot(i).store(0, Ordering::SeqCst);
    }
}

/// Waits (polling each millisecond, 10 s at most) until a child sets slot `i` to a non-zero
/// value, and returns the value (0 if it never did).
pub fn wait_nonzero(i: usize) -> i64 {
    for _ in 0..10_000 {
        let value = slot(i).load(Ordering::SeqCst);
        if value != 0 {
            return value;
        }
        let _ = nanosleep(&Timespec::from_millis(1));
    }
    0
}
