//! Process file descriptors: a handle on one process that cannot be confused with a
//! later process reusing its PID.
//!
//! A [`PidFd`] comes from [`PidFd::open`] (`pidfd_open`, Linux 5.3) or from a child started
//! with [`ChildBuilder::pidfd`](crate::process::ChildBuilder::pidfd) (`CLONE_PIDFD`,
//! Linux 5.2: legacy `clone()` stores the descriptor in its `ptid` slot, which is why
//! `CLONE_PIDFD` excludes `CLONE_PARENT_SETTID` there; `clone3()` stores it in
//! `clone_args.pidfd`). With it a parent can signal the process (`pidfd_send_signal`),
//! learn that it exited without reaping it (`poll` reports `POLLIN` once it has), and reap
//! it (`waitid(P_PIDFD, ..)`, Linux 5.4).
//!
//! ```
//! use clonekit::CloneFlags;
//! use clonekit::process::ChildBuilder;
//! use clonekit::sys::{signal::Signal, time::{Timespec, nanosleep}};
//! # if clonekit::program::emulated() {
//! #     return Ok(()); // qemu-user 7.2 refuses CLONE_PIDFD (see program::emulated)
//! # }
//!
//! let mut child = ChildBuilder::new(CloneFlags::empty()).pidfd(true).spawn(|| {
//!     let _ = nanosleep(&Timespec::new(60, 0));
//!     0
//! })?;
//! let pidfd = child.pidfd().expect("asked for with pidfd(true)");
//! assert!(!pidfd.is_exited()?);
//! pidfd.send_signal(Signal::SIGKILL)?; // this process, whatever its PID names by now
//! assert!(pidfd.poll_exited(None)?); // POLLIN: it has exited, not yet reaped
//! assert_eq!(child.wait()?.signal(), Some(Signal::SIGKILL));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # References
//! pidfd_open(2), pidfd_send_signal(2), waitid(2), clone(2) `CLONE_PIDFD`

use core::fmt;
use core::time::Duration;

use crate::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use crate::sys::Pid;
use crate::sys::fs::{PollFd, PollFlags, poll};
use crate::sys::signal::{PidfdFlags, Signal, pidfd_open, pidfd_send_signal};
use crate::sys::time::Timespec;
use crate::sys::wait::{WaitId, WaitOptions, waitid};
use crate::task::exit_status::ExitStatus;
use crate::{Errno, Result};

/// An owned pidfd: a descriptor that refers to one process; closed on drop.
pub struct PidFd {
    fd: OwnedFd,
}

impl PidFd {
    /// `pidfd_open(pid, 0)`: a pidfd for the running process `pid` (`ESRCH` if there is
    /// none; a zombie still counts).
    pub fn open(pid: Pid) -> Result<PidFd, Errno> {
        pidfd_open(pid, PidfdFlags::empty()).map(PidFd::from_owned)
    }

    /// Wraps a descriptor that should be a pidfd (from `CLONE_PIDFD` or another
    /// process). If it is not, the methods fail with the kernel's `EBADF` or `EINVAL`.
    pub fn from_owned(fd: OwnedFd) -> PidFd {
        PidFd { fd }
    }

    /// `pidfd_send_signal(fd, sig, NULL, 0)`: sends `sig` to the process, race-free
    /// against PID reuse (`ESRCH` once it has exited).
    pub fn send_signal(&self, sig: Signal) -> Result<(), Errno> {
        pidfd_send_signal(self.fd.as_fd(), sig)
    }

    /// `waitid(P_PIDFD, fd, .., WEXITED | __WALL)`: waits for the process to terminate and
    /// reaps it, whatever its exit signal. Retries on `EINTR`. The process must be a child
    /// of the caller (`ECHILD` otherwise, and once it has been reaped).
    pub fn wait(&self) -> Result<ExitStatus, Errno> {
        loop {
            match self.waitid(WaitOptions::empty()) {
                Ok(Some(status)) => return Ok(status),
                Ok(None) | Err(Errno::EINTR) => continue,
                Err(errno) => return Err(errno),
            }
        }
    }

    /// As [`PidFd::wait`] with `WNOHANG`: `None` while the process is still running.
    pub fn try_wait(&self) -> Result<Option<ExitStatus>, Errno> {
        loop {
            match self.waitid(WaitOptions::NOHANG) {
                Err(Errno::EINTR) => continue,
                other => return other,
            }
        }
    }

    fn waitid(&self, extra: WaitOptions) -> Result<Option<ExitStatus>, Errno> {
        let options = WaitOptions::EXITED | WaitOptions::ALL | extra;
        let info = waitid(WaitId::Pidfd(self.fd.as_fd()), options)?;
        // EXITED alone reports only terminations, which always decode.
        Ok(info
            .and_then(|info| info.status())
            .and_then(ExitStatus::from_wait))
    }

    /// Whether the process has terminated (a zombie or already reaped), without blocking
    /// and without reaping it: `poll` with a zero timeout.
    pub fn is_exited(&self) -> Result<bool, Errno> {
        self.poll_exited(Some(Duration::ZERO))
    }

    /// Waits up to `timeout` (`None`: forever) for the process to terminate, without reaping
    /// it; `true` once it has. The kernel reports a pidfd readable (`POLLIN`) when the
    /// process has exited. Retries on `EINTR` (restarting the full timeout).
    pub fn poll_exited(&self, timeout: Option<Duration>) -> Result<bool, Errno> {
        let timeout = timeout.map(Timespec::from);
        loop {
            let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::IN)];
            match poll(&mut fds, timeout.as_ref()) {
                Ok(0) => return Ok(false),
                Ok(_) => {
                    let revents = fds[0].revents();
                    if revents.contains(PollFlags::NVAL) {
                        return Err(Errno::EBADF);
                    }
                    return Ok(revents.intersects(PollFlags::IN | PollFlags::HUP));
                }
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(errno),
            }
        }
    }

    /// The descriptor number, still owned by `self`.
    pub fn as_raw(&self) -> RawFd {
        self.fd.as_raw()
    }

    /// A borrow of the descriptor.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Gives up the pidfd as a plain owned descriptor.
    pub fn into_owned(self) -> OwnedFd {
        self.fd
    }
}

impl AsFd for PidFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for PidFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw()
    }
}

impl IntoRawFd for PidFd {
    fn into_raw_fd(self) -> RawFd {
        self.fd.into_raw()
    }
}

impl FromRawFd for PidFd {
    /// Takes ownership of `fd`, which should be a pidfd (see [`PidFd::from_owned`]).
    ///
    /// # Safety
    /// As for [`OwnedFd::from_raw`].
    unsafe fn from_raw_fd(fd: RawFd) -> PidFd {
        // SAFETY: the caller's contract is from_raw's.
        PidFd::from_owned(unsafe { OwnedFd::from_raw(fd) })
    }
}

impl From<OwnedFd> for PidFd {
    /// As [`PidFd::from_owned`].
    fn from(fd: OwnedFd) -> PidFd {
        PidFd::from_owned(fd)
    }
}

impl From<PidFd> for OwnedFd {
    /// As [`PidFd::into_owned`].
    fn from(pidfd: PidFd) -> OwnedFd {
        pidfd.into_owned()
    }
}

crate::sys::fd::std_fd_traits!(PidFd);
crate::sys::fd::std_owner_fd_traits!(PidFd);

#[cfg(feature = "std")]
impl From<PidFd> for std::os::fd::OwnedFd {
    fn from(pidfd: PidFd) -> std::os::fd::OwnedFd {
        pidfd.into_owned().into()
    }
}

impl fmt::Debug for PidFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PidFd").field(&self.fd.as_raw()).finish()
    }
}
