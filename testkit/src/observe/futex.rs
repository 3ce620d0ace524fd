//! `futex(FUTEX_WAKE)`: what a case or test wakes a waiter with. The library itself never
//! wakes: a thread's join sleeps on its TID word until the kernel's own
//! `CLONE_CHILD_CLEARTID` wake.

use clonekit::Errno;
use clonekit::errno::from_syscall;
use core::sync::atomic::AtomicU32;
use linux_raw_sys::general as g;
use sc::syscall6;

/// `futex(word, FUTEX_WAKE[_PRIVATE], n)`: wakes up to `n` waiters on `word`, returning how
/// many were woken. `private` selects `FUTEX_PRIVATE_FLAG`: it wakes only waiters that
/// waited private in the same address space
/// ([`futex_wait`](clonekit::sys::futex::futex_wait) with `private = true`).
///
/// # References
/// futex(2)
pub fn futex_wake(word: &AtomicU32, n: u32, private: bool) -> Result<u32, Errno> {
    let op = if private {
        g::FUTEX_WAKE | g::FUTEX_PRIVATE_FLAG
    } else {
        g::FUTEX_WAKE
    };
    // `n` is an `int` to the kernel; larger values mean "all".
    let n = n.min(i32::MAX as u32);
    // SAFETY: the kernel uses `word`'s address only as a key; the other arguments are
    // integers (the timeout and second word are unused by FUTEX_WAKE).
    from_syscall(unsafe {
        syscall6(
            g::__NR_futex as usize,
            word.as_ptr() as usize,
            op as usize,
            n as usize,
            0,
            0,
            0,
        )
    })
    .map(|v| v as u32)
}
