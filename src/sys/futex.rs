//! `futex(2)` wait and wake on an [`AtomicU32`].
//!
//! Taking `&AtomicU32` makes both calls safe: the word is valid, aligned and may be
//! changed concurrently for as long as the borrow lasts, and the kernel only reads it
//! (compare-and-sleep) or uses its address as a key.
//!
//! `private` selects `FUTEX_PRIVATE_FLAG`: a private futex is keyed by (mm, address)
//! and only matches waiters and wakers in the same address space. The kernel's own
//! `CLONE_CHILD_CLEARTID` wake is a *shared* wake, so a join on a tid word must wait
//! with `private = false`.

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

/// `futex(word, FUTEX_WAKE[_PRIVATE], n)`: wakes up to `n` waiters on `word`, returning
/// how many were woken.
///
/// # References
/// futex(2)
pub fn futex_wake(word: &AtomicU32, n: u32, private: bool) -> Result<u32, Errno> {
    // `n` is an `int` to the kernel; larger values mean "all".
    let n = n.min(i32::MAX as u32);
    // SAFETY: the kernel uses `word`'s address only as a key.
    from_syscall(unsafe {
        syscall6(
            g::__NR_futex as usize,
            word.as_ptr() as usize,
            op(g::FUTEX_WAKE, private),
            n as usize,
            0,
            0,
            0,
        )
    })
    .map(|v| v as u32)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::Errno;
    use core::sync::atomic::Ordering;
    use std::sync::Arc;

    #[test]
    fn futex_wait_mismatch_is_eagain_and_wake_wakes_none() {
        let w = AtomicU32::new(5);
        assert_eq!(futex_wait(&w, 6, None, true), Err(Errno::EAGAIN));
        assert_eq!(futex_wait(&w, 6, None, false), Err(Errno::EAGAIN));
        assert_eq!(futex_wake(&w, 1, true), Ok(0));
        assert_eq!(futex_wake(&w, u32::MAX, false), Ok(0));
    }

    #[test]
    fn futex_wait_times_out() {
        let w = AtomicU32::new(0);
        let t = Timespec::from_millis(5);
        assert_eq!(futex_wait(&w, 0, Some(&t), true), Err(Errno::ETIMEDOUT));
    }

    #[test]
    fn futex_wake_wakes_a_waiting_thread() {
        let w = Arc::new(AtomicU32::new(0));
        let w2 = Arc::clone(&w);
        let t = std::thread::spawn(move || {
            loop {
                match futex_wait(&w2, 0, None, true) {
                    Err(Errno::EINTR) => continue,
                    Ok(()) => return,
                    Err(e) => panic!("{e}"),
                }
            }
        });
        // Wake until a wake reports that it found the sleeping waiter.
        let mut woken = false;
        for _ in 0..10_000 {
            if futex_wake(&w, 1, true).unwrap() == 1 {
                woken = true;
                break;
            }
            assert!(!t.is_finished(), "waiter left without a wake");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        w.store(1, Ordering::Release);
        t.join().unwrap();
        assert!(woken, "futex_wake never found the waiter");
    }
}
