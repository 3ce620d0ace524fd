//! The few system calls a tini-style init makes that [`sys`](crate::sys) does not wrap:
//! `rt_sigtimedwait`, `setpgid`, `ioctl(TIOCSPGRP)` (`tcsetpgrp`) and a plain fork. Each is
//! one syscall with the number from `linux-raw-sys`, written as the `sys` wrappers are; they
//! belong in `sys::signal` and `sys::process` and live here until they move there.

use linux_raw_sys::general as g;
use sc::{syscall2, syscall3, syscall4, syscall5};

use crate::errno::from_syscall;
use crate::fd::BorrowedFd;
use crate::sys::Pid;
use crate::sys::signal::{SigSet, Signal};
use crate::sys::time::Timespec;
use crate::{Errno, Result};

/// `TIOCSPGRP` from asm-generic/ioctls.h: the same number on x86_64, aarch64 and riscv64
/// (clonekit does not enable `linux-raw-sys`'s `ioctl` module for one constant).
const TIOCSPGRP: usize = 0x5410;

/// `rt_sigtimedwait(set, NULL, timeout, 8)`: takes one pending signal of `set` (which the
/// caller keeps blocked) without running a handler, waiting up to `timeout` (`None`: for
/// ever). `EAGAIN` when the time ran out, `EINTR` when a signal outside `set` was handled.
///
/// # References
/// sigtimedwait(2)
pub(crate) fn sigtimedwait(set: &SigSet, timeout: Option<&Timespec>) -> Result<Signal, Errno> {
    let tp = timeout.map_or(0, |t| t as *const Timespec as usize);
    // SAFETY: the kernel reads one 8-byte sigset from `set` and one timespec from `tp` when
    // given; the siginfo pointer is NULL, so it writes nothing.
    let raw = from_syscall(unsafe {
        syscall4(
            g::__NR_rt_sigtimedwait as usize,
            set as *const SigSet as usize,
            0,
            tp,
            core::mem::size_of::<SigSet>(),
        )
    })?;
    Signal::from_raw(raw as i32).ok_or(Errno::EINVAL)
}

/// `setpgid(pid, pgid)`: moves process `pid` (0: the caller) into process group `pgid`
/// (0: a new group numbered as the process).
///
/// # References
/// setpgid(2)
pub(crate) fn setpgid(pid: Pid, pgid: Pid) -> Result<(), Errno> {
    // SAFETY: setpgid takes no pointers.
    from_syscall(unsafe { syscall2(g::__NR_setpgid as usize, pid as usize, pgid as usize) })
        .map(drop)
}

/// `tcsetpgrp(fd, pgrp)` (`ioctl(fd, TIOCSPGRP, &pgrp)`): makes `pgrp` the foreground
/// process group of the terminal `fd`. `ENOTTY` when `fd` is not the caller's controlling
/// terminal.
///
/// # References
/// tcsetpgrp(3), ioctl_tty(2)
pub(crate) fn tcsetpgrp(fd: BorrowedFd<'_>, pgrp: Pid) -> Result<(), Errno> {
    // SAFETY: the kernel reads one pid_t from the local `pgrp`.
    from_syscall(unsafe {
        syscall3(
            g::__NR_ioctl as usize,
            fd.as_raw() as usize,
            TIOCSPGRP,
            &pgrp as *const Pid as usize,
        )
    })
    .map(drop)
}

/// `clone(SIGCHLD, 0, 0, 0, 0)`: `fork(2)`. Returns the child's pid in the parent and 0 in
/// the child, which runs on a copy of the caller's memory (and stack) and thread pointer.
///
/// # Safety
/// As after `fork(2)`: in a process with other threads (or `CLONE_VM` sharers), the child
/// may only make system calls and end with `execve` or `exit_group` (a lock another thread
/// held is held for ever in the copy). The child must not return into frames that would
/// hand it the parent's resources to free twice in a way visible outside the process
/// (its copies of descriptors are its own).
pub(crate) unsafe fn fork() -> Result<Pid, Errno> {
    // SAFETY: a fork-like clone (no CLONE_VM, no stack, no pointer flags): the kernel
    // duplicates the calling thread into a new process with a copy of this memory, and
    // both return here; the caller's contract covers what the child does next.
    let ret = unsafe { syscall5(g::__NR_clone as usize, g::SIGCHLD as usize, 0, 0, 0, 0) };
    from_syscall(ret).map(|pid| pid as Pid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::process::{exit_group, getpid};
    use crate::sys::signal::{SigmaskHow, rt_sigprocmask, tgkill};
    use crate::sys::testutil::{raw_fork, wait_exit_code};

    #[test]
    fn sigtimedwait_takes_a_blocked_pending_signal_and_times_out_without_one() {
        let pid = raw_fork();
        if pid == 0 {
            // A child of its own: the mask and the pending signal stay there.
            let set = SigSet::empty().with(Signal::SIGUSR2);
            let code = if rt_sigprocmask(SigmaskHow::Block, Some(&set)).is_err() {
                1
            } else if tgkill(getpid(), crate::sys::process::gettid(), Signal::SIGUSR2).is_err() {
                2
            } else if sigtimedwait(&set, Some(&Timespec::new(1, 0))) != Ok(Signal::SIGUSR2) {
                3
            } else if sigtimedwait(&set, Some(&Timespec::from_millis(10))) != Err(Errno::EAGAIN) {
                4
            } else {
                0
            };
            exit_group(code);
        }
        assert_eq!(wait_exit_code(pid), 0);
    }

    #[test]
    fn setpgid_makes_a_group_and_tcsetpgrp_needs_a_terminal() {
        let pid = raw_fork();
        if pid == 0 {
            let code = if setpgid(0, 0).is_err() {
                1
            } else {
                // A pipe is no terminal.
                match crate::sys::fs::pipe2(crate::sys::fs::PipeFlags::CLOEXEC) {
                    Ok((r, _w)) if tcsetpgrp(r.as_fd(), getpid()) == Err(Errno::ENOTTY) => {
                        if own_pgrp() == Some(getpid() as u64) {
                            0
                        } else {
                            3
                        }
                    }
                    _ => 2,
                }
            };
            exit_group(code);
        }
        assert_eq!(wait_exit_code(pid), 0);
    }

    /// `getpgid(0)`: the caller's process group (asked of the kernel: qemu-user's stand-in
    /// `/proc/self/stat` has no process group in it).
    fn own_pgrp() -> Option<u64> {
        // SAFETY: getpgid takes no pointers.
        let ret = unsafe { sc::syscall1(g::__NR_getpgid as usize, 0) };
        from_syscall(ret).ok().map(|pgrp| pgrp as u64)
    }

    #[test]
    fn fork_returns_the_child_pid_and_zero_in_the_child() {
        // SAFETY: the child makes only system calls and ends with exit_group.
        let pid = unsafe { fork() }.unwrap();
        if pid == 0 {
            exit_group(if crate::sys::process::getppid() > 0 {
                9
            } else {
                8
            });
        }
        assert!(pid > 0);
        assert_eq!(wait_exit_code(pid), 9);
    }
}
