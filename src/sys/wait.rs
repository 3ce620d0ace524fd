//! Waiting for children: `wait4` with a decoded [`WaitStatus`], and `waitid`
//! (including by pidfd).
//!
//! ```
//! use clonekit::sys::process::{exit_group, fork};
//! use clonekit::sys::wait::{WaitOptions, WaitStatus, wait4};
//!
//! // SAFETY: the child only makes a system call.
//! let pid = unsafe { fork() }?;
//! if pid == 0 {
//!     exit_group(9);
//! }
//! assert_eq!(wait4(pid, WaitOptions::empty())?, Some((pid, WaitStatus::Exited(9))));
//! # Ok::<(), clonekit::Errno>(())
//! ```

use crate::errno::from_syscall;
use crate::fd::BorrowedFd;
use crate::sys::signal::Signal;
use crate::sys::{Pid, Uid};
use crate::{Errno, Result};
use linux_raw_sys::general as g;
use sc::{syscall4, syscall5};

bitflags::bitflags! {
    /// Options for [`wait4`] and [`waitid`] (`W*`, `__W*`), named without the prefix.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct WaitOptions: u32 {
        /// `WNOHANG`: return at once if no child has changed state.
        const NOHANG = g::WNOHANG;
        /// `WUNTRACED` (= `WSTOPPED`): also report stopped children.
        const UNTRACED = g::WUNTRACED;
        /// `WEXITED`: report terminated children (`waitid` requires one of
        /// `EXITED`/`UNTRACED`/`CONTINUED`; `wait4` implies it).
        const EXITED = g::WEXITED;
        /// `WCONTINUED`: also report children resumed by `SIGCONT`.
        const CONTINUED = g::WCONTINUED;
        /// `WNOWAIT` (`waitid` only): leave the child waitable.
        const NOWAIT = g::WNOWAIT;
        /// `__WNOTHREAD`: only children of the calling thread.
        const NOTHREAD = g::__WNOTHREAD;
        /// `__WALL`: children of any kind, whatever their exit signal (what an init
        /// must use).
        const ALL = g::__WALL;
        /// `__WCLONE`: only "clone" children (exit signal other than `SIGCHLD`, or
        /// none).
        const CLONE = g::__WCLONE;
    }
}

/// How a child changed state, decoded from a `wait4` status word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitStatus {
    /// Exited normally with this code (`WIFEXITED`, `WEXITSTATUS`).
    Exited(i32),
    /// Killed by a signal; `true` if it dumped core (`WIFSIGNALED`, `WTERMSIG`,
    /// `WCOREDUMP`).
    Signaled(Signal, bool),
    /// Stopped by a signal (`WIFSTOPPED`, `WSTOPSIG`); a ptrace event stop carries the
    /// event in bits 16.. of the raw status, see [`WaitStatus::from_raw`].
    Stopped(Signal),
    /// Resumed by `SIGCONT` (`WIFCONTINUED`).
    Continued,
}

impl WaitStatus {
    /// Decodes a raw status word, or `None` if it is none of the four forms.
    pub const fn from_raw(status: i32) -> Option<WaitStatus> {
        let low = status & 0x7f;
        if status == 0xffff {
            Some(WaitStatus::Continued)
        } else if low == 0 {
            Some(WaitStatus::Exited((status >> 8) & 0xff))
        } else if low == 0x7f {
            match Signal::from_raw((status >> 8) & 0xff) {
                Some(s) => Some(WaitStatus::Stopped(s)),
                None => None,
            }
        } else {
            match Signal::from_raw(low) {
                Some(s) => Some(WaitStatus::Signaled(s, status & 0x80 != 0)),
                None => None,
            }
        }
    }
}

/// `wait4(pid, &status, options, NULL)`: waits for a child (`pid > 0`), any child
/// (`-1`), any in the caller's process group (`0`) or in group `-pid`.
///
/// Returns `None` when `NOHANG` is given and no child has changed state. A status
/// that does not decode gives `EINVAL` (never seen from a real kernel).
///
/// # References
/// wait4(2), waitpid(2)
pub fn wait4(pid: Pid, options: WaitOptions) -> Result<Option<(Pid, WaitStatus)>, Errno> {
    let Some((pid, status)) = wait4_raw(pid, options)? else {
        return Ok(None);
    };
    match WaitStatus::from_raw(status) {
        Some(s) => Ok(Some((pid, s))),
        None => Err(crate::Errno::EINVAL),
    }
}

/// As [`wait4`], with the kernel's status word as it is: a ptrace event stop keeps its event
/// (`PTRACE_EVENT_*`) in bits 16 and up, which [`WaitStatus`] does not carry.
pub fn wait4_raw(pid: Pid, options: WaitOptions) -> Result<Option<(Pid, i32)>, Errno> {
    let mut status: i32 = 0;
    // SAFETY: the kernel writes one int into `status`; the rusage pointer is NULL.
    let ret = from_syscall(unsafe {
        syscall4(
            g::__NR_wait4 as usize,
            pid as usize,
            &mut status as *mut i32 as usize,
            options.bits() as usize,
            0,
        )
    })?;
    Ok((ret != 0).then_some((ret as Pid, status)))
}

/// Which children [`waitid`] waits for (`idtype` and `id`); a pidfd is borrowed for `'fd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitId<'fd> {
    /// `P_ALL`: any child.
    All,
    /// `P_PID`: the child with this pid.
    Pid(Pid),
    /// `P_PGID`: any child in this process group (0 = the caller's).
    Pgid(Pid),
    /// `P_PIDFD`: the child this pidfd refers to (Linux 5.4).
    Pidfd(BorrowedFd<'fd>),
}

/// `si_code` values of a child's `SIGCHLD` siginfo, as [`WaitIdInfo::code`] holds them.
pub mod cld {
    /// `CLD_EXITED`: exited; `status` is the exit code.
    pub const EXITED: i32 = linux_raw_sys::general::CLD_EXITED as i32;
    /// `CLD_KILLED`: killed; `status` is the signal.
    pub const KILLED: i32 = linux_raw_sys::general::CLD_KILLED as i32;
    /// `CLD_DUMPED`: killed and dumped core; `status` is the signal.
    pub const DUMPED: i32 = linux_raw_sys::general::CLD_DUMPED as i32;
    /// `CLD_TRAPPED`: a traced child trapped.
    pub const TRAPPED: i32 = linux_raw_sys::general::CLD_TRAPPED as i32;
    /// `CLD_STOPPED`: stopped; `status` is the signal.
    pub const STOPPED: i32 = linux_raw_sys::general::CLD_STOPPED as i32;
    /// `CLD_CONTINUED`: continued; `status` is `SIGCONT`.
    pub const CONTINUED: i32 = linux_raw_sys::general::CLD_CONTINUED as i32;
}

/// The fields of the `siginfo_t` that [`waitid`] fills in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WaitIdInfo {
    /// `si_pid`: the child.
    pub pid: Pid,
    /// `si_uid`: the child's real user id.
    pub uid: Uid,
    /// `si_signo`: always `SIGCHLD`'s number.
    pub signo: i32,
    /// `si_code`: one of the [`cld`] constants.
    pub code: i32,
    /// `si_status`: the exit code or the signal, per `code`.
    pub status: i32,
}

impl WaitIdInfo {
    /// The same event as a [`WaitStatus`] (`TRAPPED` reads as stopped).
    pub fn status(&self) -> Option<WaitStatus> {
        let sig = Signal::from_raw(self.status);
        match self.code {
            cld::EXITED => Some(WaitStatus::Exited(self.status)),
            cld::KILLED => sig.map(|s| WaitStatus::Signaled(s, false)),
            cld::DUMPED => sig.map(|s| WaitStatus::Signaled(s, true)),
            cld::STOPPED | cld::TRAPPED => sig.map(WaitStatus::Stopped),
            cld::CONTINUED => Some(WaitStatus::Continued),
            _ => None,
        }
    }
}

/// The kernel's 128-byte `siginfo_t`, with the `SIGCHLD` fields named (same offsets on
/// every 64-bit arch).
#[repr(C, align(8))]
struct RawSiginfo {
    signo: i32,
    errno: i32,
    code: i32,
    _pad: i32,
    pid: i32,
    uid: u32,
    status: i32,
    _rest: [u32; 25],
}

static_assertions::assert_eq_size!(RawSiginfo, g::siginfo);

/// `waitid(idtype, id, &info, options, NULL)`: waits for a child state change.
///
/// `options` must include at least one of `EXITED`, `UNTRACED`, `CONTINUED`
/// (`EINVAL` otherwise). Returns `None` when `NOHANG` is given and nothing changed.
///
/// # References
/// waitid(2)
pub fn waitid(id: WaitId<'_>, options: WaitOptions) -> Result<Option<WaitIdInfo>, Errno> {
    let (idtype, idval) = match id {
        WaitId::All => (g::P_ALL, 0usize),
        WaitId::Pid(p) => (g::P_PID, p as usize),
        WaitId::Pgid(p) => (g::P_PGID, p as usize),
        WaitId::Pidfd(fd) => (g::P_PIDFD, fd.as_raw() as usize),
    };
    let mut info = RawSiginfo {
        signo: 0,
        errno: 0,
        code: 0,
        _pad: 0,
        pid: 0,
        uid: 0,
        status: 0,
        _rest: [0; 25],
    };
    // SAFETY: the kernel writes one 128-byte siginfo into `info`; rusage is NULL.
    from_syscall(unsafe {
        syscall5(
            g::__NR_waitid as usize,
            idtype as usize,
            idval,
            &mut info as *mut RawSiginfo as usize,
            options.bits() as usize,
            0,
        )
    })?;
    // With WNOHANG and nothing to report the kernel leaves si_pid zero.
    if info.pid == 0 {
        return Ok(None);
    }
    let _ = info.errno;
    Ok(Some(WaitIdInfo {
        pid: info.pid,
        uid: info.uid,
        signo: info.signo,
        code: info.code,
        status: info.status,
    }))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::Errno;
    use crate::fd::OwnedFd;
    use crate::sys::fs::{PollFd, PollFlags, poll};
    use crate::sys::process::{exit_group, getpid, getuid};
    use crate::sys::signal::{PidfdFlags, kill, pidfd_open, pidfd_send_signal};
    use crate::sys::testutil::{raw_fork, skip};
    use crate::sys::time::Timespec;

    #[test]
    fn wait_status_decoding() {
        assert_eq!(WaitStatus::from_raw(3 << 8), Some(WaitStatus::Exited(3)));
        assert_eq!(
            WaitStatus::from_raw(9),
            Some(WaitStatus::Signaled(Signal::SIGKILL, false))
        );
        assert_eq!(
            WaitStatus::from_raw(0x80 | 11),
            Some(WaitStatus::Signaled(Signal::SIGSEGV, true))
        );
        assert_eq!(
            WaitStatus::from_raw((19 << 8) | 0x7f),
            Some(WaitStatus::Stopped(Signal::SIGSTOP))
        );
        assert_eq!(WaitStatus::from_raw(0xffff), Some(WaitStatus::Continued));
    }

    #[test]
    fn wait4_sees_exit_signal_stop_and_continue() {
        use crate::sys::fs::{PipeFlags, pipe2, read, write};
        let (r, w) = pipe2(PipeFlags::CLOEXEC).unwrap();
        let pid = raw_fork();
        if pid == 0 {
            let _ = kill(getpid(), Signal::SIGSTOP);
            // Stay alive until the parent has seen "continued" (an exit would
            // supersede it).
            let mut b = [0u8; 1];
            let _ = read(r.as_fd(), &mut b);
            exit_group(3);
        }
        let opts = WaitOptions::UNTRACED | WaitOptions::CONTINUED;
        assert_eq!(
            wait4(pid, opts).unwrap(),
            Some((pid, WaitStatus::Stopped(Signal::SIGSTOP)))
        );
        kill(pid, Signal::SIGCONT).unwrap();
        assert_eq!(
            wait4(pid, opts).unwrap(),
            Some((pid, WaitStatus::Continued))
        );
        write(w.as_fd(), b"x").unwrap();
        assert_eq!(
            wait4(pid, opts).unwrap(),
            Some((pid, WaitStatus::Exited(3)))
        );
        assert_eq!(wait4(pid, WaitOptions::NOHANG), Err(Errno::ECHILD));

        let pid = raw_fork();
        if pid == 0 {
            loop {
                crate::sys::process::sched_yield();
            }
        }
        kill(pid, Signal::SIGKILL).unwrap();
        assert_eq!(
            wait4(pid, WaitOptions::empty()).unwrap(),
            Some((pid, WaitStatus::Signaled(Signal::SIGKILL, false)))
        );
    }

    #[test]
    fn wait4_nohang_on_a_running_child_is_none() {
        let (r, w) = crate::sys::fs::pipe2(crate::sys::fs::PipeFlags::CLOEXEC).unwrap();
        let pid = raw_fork();
        if pid == 0 {
            drop(w);
            let mut b = [0u8; 1];
            let _ = crate::sys::fs::read(r.as_fd(), &mut b); // until the parent closes
            exit_group(0);
        }
        assert_eq!(wait4(pid, WaitOptions::NOHANG), Ok(None));
        assert_eq!(
            waitid(WaitId::Pid(pid), WaitOptions::EXITED | WaitOptions::NOHANG),
            Ok(None)
        );
        drop(w);
        assert_eq!(
            wait4(pid, WaitOptions::ALL).unwrap(),
            Some((pid, WaitStatus::Exited(0)))
        );
    }

    #[test]
    fn waitid_by_pid_reports_siginfo_fields() {
        let pid = raw_fork();
        if pid == 0 {
            exit_group(9);
        }
        let info = waitid(WaitId::Pid(pid), WaitOptions::EXITED)
            .unwrap()
            .unwrap();
        assert_eq!(info.pid, pid);
        assert_eq!(info.uid, getuid());
        assert_eq!(info.signo, Signal::SIGCHLD.raw());
        assert_eq!(info.code, cld::EXITED);
        assert_eq!(info.status, 9);
        assert_eq!(info.status(), Some(WaitStatus::Exited(9)));
        assert_eq!(
            waitid(WaitId::Pid(pid), WaitOptions::EXITED),
            Err(Errno::ECHILD)
        );
    }

    fn open_pidfd(pid: Pid) -> Option<OwnedFd> {
        match pidfd_open(pid, PidfdFlags::empty()) {
            Ok(fd) => Some(fd),
            Err(Errno::ENOSYS) => None,
            Err(e) => panic!("pidfd_open: {e}"),
        }
    }

    #[test]
    fn pidfd_poll_signal_and_waitid() {
        let pid = raw_fork();
        if pid == 0 {
            loop {
                crate::sys::process::sched_yield();
            }
        }
        let Some(pidfd) = open_pidfd(pid) else {
            kill(pid, Signal::SIGKILL).unwrap();
            wait4(pid, WaitOptions::empty()).unwrap();
            skip("pidfd_poll_signal_and_waitid", "pidfd_open is ENOSYS");
            return;
        };
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::IN)];
        assert_eq!(
            poll(&mut fds, Some(&Timespec::new(0, 0))),
            Ok(0),
            "alive: not readable"
        );
        pidfd_send_signal(pidfd.as_fd(), Signal::SIGTERM).unwrap();
        assert_eq!(poll(&mut fds, Some(&Timespec::new(10, 0))), Ok(1));
        assert!(fds[0].revents().contains(PollFlags::IN));
        let info = match waitid(WaitId::Pidfd(pidfd.as_fd()), WaitOptions::EXITED) {
            Err(Errno::EINVAL) => {
                // Kernel < 5.4 or an emulator without P_PIDFD.
                wait4(pid, WaitOptions::empty()).unwrap();
                skip("pidfd_poll_signal_and_waitid", "waitid(P_PIDFD) is EINVAL");
                return;
            }
            r => r.unwrap().unwrap(),
        };
        assert_eq!(info.pid, pid);
        assert_eq!(info.code, cld::KILLED);
        assert_eq!(
            info.status(),
            Some(WaitStatus::Signaled(Signal::SIGTERM, false))
        );
    }
}
