//! `futex(2)` wait on an [`AtomicU32`]: how a thread's join sleeps until the kernel's
//! `CLONE_CHILD_CLEARTID` wake. The library never wakes a futex itself.
//!
//! Taking `&AtomicU32` makes the call safe: the word is valid, aligned and may be changed
//! concurrently for as long as the borrow lasts, and the kernel only reads it
//! (compare-and-sleep) or uses its address as a key.
//!
//! `private` selects `FUTEX_PRIVATE_FLAG`: a private futex is keyed by (mm, address)
//! and only matches waiters and wakers in the same address space. The kernel's own
//! `CLONE_CHILD_CLEARTID` wake is a *shared* wake, so a join on a tid word must wait
//! with `private = false`.
//!
//! ```
//! use core::sync::atomic::AtomicU32;
//! use clonekit::Errno;
//! use clonekit::sys::{futex::futex_wait, time::Timespec};
//!
//! let word = AtomicU32::new(1);
//! // The word is not the expected 0: the kernel returns at once instead of sleeping.
//! assert_eq!(futex_wait(&word, 0, None, true), Err(Errno::EAGAIN));
//! // It is: the kernel sleeps until a wake or, here, the timeout.
//! let timeout = Timespec::from_millis(1);
//! assert_eq!(futex_wait(&word, 1, Some(&timeout), true), Err(Errno::ETIMEDOUT));
//! ```

use crate::errno::from_syscall;
use crate::sys::time::Timespec;
use crate::{Errno, Result};
use core::sync::atomic::AtomicU32;
use linux_raw_sys::general as g;
use sc::syscall6;

fn op(base: u32, private: bool) -> usize {
    (if private {
        base | g::FUTEX_PRIVATE_FLAG
    } else {
        base
    }) as usize
}

/// `futex(word, FUTEX_WAIT[_PRIVATE], expected, timeout)`: sleeps while `*word ==
/// expected`, until woken, interrupted or the relative `timeout` passes.
///
/// Errors: `EAGAIN` if `*word != expected` on entry, `ETIMEDOUT`, `EINTR`. A return of
/// `Ok` may be spurious: re-check the word.
///
/// # References
/// futex(2)
pub fn futex_wait(
    word: &AtomicU32,
    expected: u32,
    timeout: Option<&Timespec>,
    private: bool,
) -> Result<(), Errno> {
    let tp = timeout.map_or(0, |t| t as *const Timespec as usize);
    // SAFETY: `word` is a live, aligned `u32` the kernel only reads; `tp` is NULL or
    // one timespec it only reads.
    from_syscall(unsafe {
        syscall6(
            g::__NR_futex as usize,
            word.as_ptr() as usize,
            op(g::FUTEX_WAIT, private),
            expected as usize,
            tp,
            0,
            0,
        )
    })
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Errno;

    #[test]
    fn futex_wait_on_a_changed_word_is_eagain() {
        let w = AtomicU32::new(5);
        assert_eq!(futex_wait(&w, 6, None, true), Err(Errno::EAGAIN));
        assert_eq!(futex_wait(&w, 6, None, false), Err(Errno::EAGAIN));
    }

    #[test]
    fn futex_wait_times_out() {
        let w = AtomicU32::new(0);
        let t = Timespec::from_millis(5);
        assert_eq!(futex_wait(&w, 0, Some(&t), true), Err(Errno::ETIMEDOUT));
        assert_eq!(futex_wait(&w, 0, Some(&t), false), Err(Errno::ETIMEDOUT));
        // A timeout the kernel cannot read as one.
        let bad = Timespec::new(0, 1_000_000_000);
        assert_eq!(futex_wait(&w, 0, Some(&bad), true), Err(Errno::EINVAL));
    }
}
