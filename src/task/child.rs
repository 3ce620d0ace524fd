//! A child process as its parent holds it ([`Child`]: its stack, pidfd and how it was
//! created, until it is reaped), and waiting: for one child ([`wait_pid`]) or, as an init
//! does, for any ([`wait_any`], [`reap_all_nonblocking`]).

use crate::pidfd::PidFd;
use crate::stack::Stack;
use crate::sys::Pid;
use crate::sys::signal::{Signal, kill};
use crate::sys::wait::{WaitId, WaitOptions, wait4, waitid};
use crate::task::exit_status::ExitStatus;
use crate::validate::Syscall;
use crate::{Errno, Result};

/// A child process started by clonekit: wait for it to reap it and free its stack.
///
/// Dropping a `Child` without waiting leaves it to be reaped by someone else (or to stay a
/// zombie). If it may still be running on its stack in the parent's memory (`CLONE_VM`),
/// the stack is leaked rather than unmapped under it.
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    stack: Option<Stack>,
    pidfd: Option<PidFd>,
    via: Syscall,
    /// The child runs in the parent's memory (CLONE_VM without a completed CLONE_VFORK).
    shares_vm: bool,
    /// Set once reaped by this handle.
    status: Option<ExitStatus>,
}

impl Child {
    pub(crate) fn from_parts(
        pid: Pid,
        stack: Option<Stack>,
        pidfd: Option<PidFd>,
        via: Syscall,
        shares_vm: bool,
    ) -> Child {
        Child {
            pid,
            stack,
            pidfd,
            via,
            shares_vm,
            status: None,
        }
    }

    /// The child's PID (in the caller's PID namespace).
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The child's pidfd, when started with [`ChildBuilder::pidfd`](crate::process::ChildBuilder::pidfd).
    ///
    /// Reaping through it ([`PidFd::wait`]) leaves [`Child::wait`] with `ECHILD`.
    pub fn pidfd(&self) -> Option<&PidFd> {
        self.pidfd.as_ref()
    }

    /// The system call that created the child: [`Syscall::Clone3`], or [`Syscall::Clone`]
    /// (also when `clone3()` was asked for but gave `ENOSYS` and the request fitted
    /// legacy `clone()`).
    pub fn via(&self) -> Syscall {
        self.via
    }

    /// Waits for the child to terminate (`wait4(pid, .., __WALL)`, so any exit signal
    /// works), retrying on `EINTR`, and frees its stack once it is reaped; as std's
    /// `Child::wait`, a second call returns the status the first one reaped.
    ///
    /// `ECHILD` if the child is not the caller's to reap (`CLONE_PARENT`) or was reaped
    /// elsewhere.
    pub fn wait(&mut self) -> Result<ExitStatus, Errno> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let status = wait_pid(self.pid)?;
        Ok(self.reaped(status))
    }

    /// As [`Child::wait`] without blocking (`WNOHANG`): `None` while the child runs.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, Errno> {
        if self.status.is_some() {
            return Ok(self.status);
        }
        loop {
            match wait4(self.pid, WaitOptions::NOHANG | WaitOptions::ALL) {
                Ok(Some((_, status))) => match ExitStatus::from_wait(status) {
                    Some(status) => return Ok(Some(self.reaped(status))),
                    None => continue,
                },
                Ok(None) => return Ok(None),
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(errno),
            }
        }
    }

    /// Records the status this handle reaped and frees the stack: the child is gone.
    fn reaped(&mut self, status: ExitStatus) -> ExitStatus {
        self.status = Some(status);
        drop(self.stack.take());
        status
    }

    /// Kills the child with `SIGKILL`, as std's `Child::kill`: through its pidfd when it has
    /// one (race-free), else with `kill(pid, SIGKILL)`. `Ok` once this handle has reaped it
    /// (there is nothing left to kill, and its PID may name another process by now).
    /// [`Child::signal`] sends any other signal.
    pub fn kill(&mut self) -> Result<(), Errno> {
        if self.status.is_some() {
            return Ok(());
        }
        self.signal(Signal::SIGKILL)
    }

    /// Sends `sig` to the child: through its pidfd when it has one (race-free), else with
    /// `kill(pid, sig)`. `ESRCH` once this handle has reaped it (its PID may be reused).
    pub fn signal(&self, sig: Signal) -> Result<(), Errno> {
        if self.status.is_some() {
            return Err(Errno::ESRCH);
        }
        match &self.pidfd {
            Some(pidfd) => pidfd.send_signal(sig),
            None => kill(self.pid, sig),
        }
    }

    /// Whether the child runs in the parent's memory (`CLONE_VM` without a completed
    /// `CLONE_VFORK`).
    pub(crate) fn shares_vm(&self) -> bool {
        self.shares_vm
    }

    /// Whether the child certainly no longer runs on its stack in our memory.
    fn stack_is_free(&self) -> bool {
        if self.status.is_some() || !self.shares_vm {
            return true;
        }
        if let Some(pidfd) = &self.pidfd {
            return pidfd.is_exited() == Ok(true);
        }
        // A zombie child of ours (WNOWAIT: left for whoever reaps it).
        let options = WaitOptions::EXITED | WaitOptions::NOHANG | WaitOptions::NOWAIT;
        matches!(
            waitid(WaitId::Pid(self.pid), options | WaitOptions::ALL),
            Ok(Some(_))
        )
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(stack) = self.stack.take() {
            if self.stack_is_free() {
                drop(stack);
            } else {
                // Still running in our memory: leak the mapping rather than pull it away.
                core::mem::forget(stack);
            }
        }
    }
}

/// Waits for the child `pid` to terminate (`wait4(pid, .., __WALL)`, any exit signal),
/// retrying on `EINTR`, and returns how it ended.
pub fn wait_pid(pid: Pid) -> Result<ExitStatus, Errno> {
    loop {
        match wait4(pid, WaitOptions::ALL) {
            Ok(Some((_, status))) => match ExitStatus::from_wait(status) {
                Some(status) => return Ok(status),
                None => continue,
            },
            Ok(None) | Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno),
        }
    }
}

/// Reaps any one terminated child, as an init must: `wait4(-1, .., options | __WALL)`.
///
/// Of `options` only `NOHANG`, `NOTHREAD` and `CLONE` are used (`CLONE` replaces the
/// implied `__WALL`: only children with a non-`SIGCHLD` exit signal). Returns `None` when
/// `NOHANG` is given and no child has terminated; `ECHILD` when there are no children.
/// Retries on `EINTR`.
pub fn wait_any(options: WaitOptions) -> Result<Option<(Pid, ExitStatus)>, Errno> {
    let mut options = options & (WaitOptions::NOHANG | WaitOptions::NOTHREAD | WaitOptions::CLONE);
    if !options.contains(WaitOptions::CLONE) {
        options |= WaitOptions::ALL;
    }
    loop {
        match wait4(-1, options) {
            Ok(Some((pid, status))) => match ExitStatus::from_wait(status) {
                Some(status) => return Ok(Some((pid, status))),
                None => continue,
            },
            Ok(None) => return Ok(None),
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno),
        }
    }
}

/// Reaps every child that has already terminated (`wait4(-1, .., WNOHANG | __WALL)` until
/// none is left or there are no children) and returns how many it reaped: what an init
/// does on `SIGCHLD`. Never blocks.
pub fn reap_all_nonblocking() -> usize {
    let mut count = 0;
    while let Ok(Some(_)) = wait_any(WaitOptions::NOHANG) {
        count += 1;
    }
    count
}
