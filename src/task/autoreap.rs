//! Children the kernel reaps (Linux 7.1): [`AutoreapChild`] (`CLONE_AUTOREAP`: no zombie,
//! nothing to wait for) and [`AutokillChild`] (`CLONE_PIDFD_AUTOKILL`: the child dies when
//! its pidfd is closed, so the handle owns its life), with the builders that make them from
//! a [`ChildBuilder`], and [`ChildBuilder::autoreap`] itself, which is defined here: the
//! spawning code never names these types, so this module depends on it and not the other
//! way round.
//!
//! An autoreaped child is released by the kernel the moment it exits: its PID is free for
//! the next process at once, and a `wait` for it reports `ECHILD`. So its handle has no
//! `wait`, and it always holds a pidfd (the builders ask for `CLONE_PIDFD` themselves): the
//! pidfd is the one name of the child that cannot come to mean another process, so
//! signals and the "has it exited?" question go through it.
//!
//! ```compile_fail,E0599
//! # use clonekit::process::ChildBuilder;
//! # use clonekit::CloneFlags;
//! let child = ChildBuilder::new(CloneFlags::empty()).autoreap().spawn(|| 0)?;
//! child.wait(); // an autoreaped child has no wait: the kernel reaps it
//! # Ok::<(), clonekit::Error>(())
//! ```
//!
//! # References
//! clone(2) `CLONE_AUTOREAP`, `CLONE_PIDFD_AUTOKILL`, `CLONE_NNP` (Linux 7.1); kernel/fork.c
//! `copy_process()`, kernel/signal.c `do_notify_parent()`, fs/pidfs.c
//! `pidfs_file_release()`

use core::time::Duration;

use crate::Errno;
use crate::caller::mark_self_autoreaped;
use crate::flags::CloneFlags;
use crate::pidfd::PidFd;
use crate::sys::Pid;
use crate::sys::signal::Signal;
use crate::task::child::Child;
use crate::task::spawn::ChildBuilder;
use crate::validate::Syscall;

impl<'fd> ChildBuilder<'fd> {
    /// Makes the child one the kernel reaps when it exits (`CLONE_AUTOREAP`, Linux 7.1):
    /// it never becomes a zombie and needs no `wait`, which its handle,
    /// [`AutoreapChild`], does not have. The exit signal becomes none and a pidfd is
    /// returned; [`AutoreapBuilder::kill_on_drop`] also ties the child's life to that pidfd.
    pub fn autoreap(self) -> AutoreapBuilder<'fd> {
        AutoreapBuilder::new(self)
    }
}

/// A [`ChildBuilder`] for a child the kernel reaps when it exits (`CLONE_AUTOREAP`,
/// Linux 7.1). Made by [`ChildBuilder::autoreap`].
///
/// The exit signal is none (the kernel requires it: nobody waits) and a pidfd is always
/// returned; everything else is the [`ChildBuilder`]'s, set before `autoreap()`. The kernel
/// also refuses it with `CLONE_PARENT` ([`FlagError::AutoreapWithParent`](crate::FlagError::AutoreapWithParent)).
///
/// ```no_run
/// use clonekit::process::ChildBuilder;
/// use clonekit::CloneFlags;
/// # fn main() -> Result<(), clonekit::Error> {
/// // A helper that runs on its own; no zombie is ever left behind, whether or not
/// // anybody looks at it again.
/// let helper = ChildBuilder::new(CloneFlags::empty()).autoreap().spawn(|| {
///     // ... the work ...
///     0
/// })?;
/// // Its pidfd still tells when it is gone.
/// assert!(helper.poll_exited(None)?);
/// # Ok(())
/// # }
/// ```
///
/// The exit signal cannot be set here:
///
/// ```compile_fail,E0599
/// # use clonekit::process::ChildBuilder;
/// # use clonekit::{CloneFlags, ExitSignal};
/// let builder = ChildBuilder::new(CloneFlags::empty()).autoreap().exit_signal(ExitSignal::SIGCHLD);
/// ```
#[derive(Debug)]
pub struct AutoreapBuilder<'fd> {
    inner: ChildBuilder<'fd>,
}

impl<'fd> AutoreapBuilder<'fd> {
    /// `builder`, set to be reaped by the kernel: exit signal none, a pidfd, and
    /// `CLONE_AUTOREAP` at the clone.
    fn new(builder: ChildBuilder<'fd>) -> Self {
        AutoreapBuilder {
            inner: builder.reaped_by_the_kernel(CloneFlags::AUTOREAP),
        }
    }

    /// The child is also killed (`SIGKILL`) when the last descriptor of its pidfd is closed
    /// (`CLONE_PIDFD_AUTOKILL`): dropping the [`AutokillChild`] kills it. Needs
    /// `CLONE_NNP` ([`ChildBuilder::no_new_privs`]) or `CAP_SYS_ADMIN`
    /// ([`FlagError::AutokillNeedsNnpOrCapSysAdmin`](crate::FlagError::AutokillNeedsNnpOrCapSysAdmin),
    /// `EPERM`).
    pub fn kill_on_drop(self) -> AutokillBuilder<'fd> {
        AutokillBuilder {
            inner: self
                .inner
                .reaped_by_the_kernel(CloneFlags::AUTOREAP | CloneFlags::PIDFD_AUTOKILL),
        }
    }

    /// Starts `f` in the child, as [`ChildBuilder::spawn`] does (same checks, same rules
    /// for what `f` may do), and returns its handle. On a kernel before 7.1 the validator
    /// refuses it by name ([`FlagError::NeedsKernel`](crate::FlagError::NeedsKernel)).
    pub fn spawn<F>(self, f: F) -> crate::Result<AutoreapChild>
    where
        F: FnOnce() -> i32 + Send + 'static,
    {
        let fork_like = !self.inner.shares_vm();
        self.inner
            .spawn(marked(fork_like, f))
            .map(|child| AutoreapChild { child })
    }

    /// As [`AutoreapBuilder::spawn`], without the checks of [`crate::program`].
    ///
    /// # Safety
    /// As for [`ChildBuilder::spawn_unchecked`].
    pub unsafe fn spawn_unchecked<F>(self, f: F) -> crate::Result<AutoreapChild>
    where
        F: FnOnce() -> i32 + Send + 'static,
    {
        let fork_like = !self.inner.shares_vm();
        // SAFETY: the caller's contract is the one of ChildBuilder::spawn_unchecked; the
        // wrapper around `f` only stores into an atomic.
        unsafe { self.inner.spawn_unchecked(marked(fork_like, f)) }
            .map(|child| AutoreapChild { child })
    }
}

/// `f`, preceded in a fork-like child by the record that this process is autoreaped (in
/// a `CLONE_VM` child the record would land in the parent's memory too, so none is made).
fn marked<F>(fork_like: bool, f: F) -> impl FnOnce() -> i32 + Send + 'static
where
    F: FnOnce() -> i32 + Send + 'static,
{
    move || {
        if fork_like {
            mark_self_autoreaped();
        }
        f()
    }
}

/// A [`ChildBuilder`] for a child that is reaped by the kernel and killed when its pidfd
/// is closed (`CLONE_AUTOREAP | CLONE_PIDFD_AUTOKILL`, Linux 7.1). Made by
/// [`AutoreapBuilder::kill_on_drop`].
///
/// ```no_run
/// use std::time::Duration;
/// use clonekit::process::ChildBuilder;
/// use clonekit::CloneFlags;
/// # fn main() -> Result<(), clonekit::Error> {
/// let worker = ChildBuilder::new(CloneFlags::empty())
///     .no_new_privs(true) // lets an unprivileged caller ask for kill-on-drop
///     .autoreap()
///     .kill_on_drop()
///     .spawn(|| loop {
///         clonekit::sys::process::sched_yield();
///     })?;
/// assert!(!worker.poll_exited(Some(Duration::from_millis(10)))?);
/// drop(worker); // the kernel sends it SIGKILL
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct AutokillBuilder<'fd> {
    inner: ChildBuilder<'fd>,
}

impl AutokillBuilder<'_> {
    /// Starts `f` in the child, as [`ChildBuilder::spawn`] does, and returns the handle
    /// that owns its life.
    pub fn spawn<F>(self, f: F) -> crate::Result<AutokillChild>
    where
        F: FnOnce() -> i32 + Send + 'static,
    {
        let fork_like = !self.inner.shares_vm();
        self.inner
            .spawn(marked(fork_like, f))
            .map(|child| AutokillChild {
                reaped: AutoreapChild { child },
            })
    }

    /// As [`AutokillBuilder::spawn`], without the checks of [`crate::program`].
    ///
    /// # Safety
    /// As for [`ChildBuilder::spawn_unchecked`].
    pub unsafe fn spawn_unchecked<F>(self, f: F) -> crate::Result<AutokillChild>
    where
        F: FnOnce() -> i32 + Send + 'static,
    {
        let fork_like = !self.inner.shares_vm();
        // SAFETY: the caller's contract is the one of ChildBuilder::spawn_unchecked; the
        // wrapper around `f` only stores into an atomic.
        unsafe { self.inner.spawn_unchecked(marked(fork_like, f)) }.map(|child| AutokillChild {
            reaped: AutoreapChild { child },
        })
    }
}

/// A child the kernel reaps when it exits (`CLONE_AUTOREAP`): no zombie, no exit signal,
/// nothing to wait for. Dropping the handle closes its pidfd and leaves the child running.
///
/// Its PID is a name that may be given to another process the moment the child exits;
/// [`AutoreapChild::kill`] and [`AutoreapChild::poll_exited`] use the pidfd instead.
#[derive(Debug)]
pub struct AutoreapChild {
    child: Child,
}

impl AutoreapChild {
    /// The child's PID in the caller's PID namespace, as it was at the clone (see above).
    pub fn pid(&self) -> Pid {
        self.child.pid()
    }

    /// The child's pidfd: for `poll`/`epoll`, `setns`, `pidfd_getfd`. (A `waitid` on it
    /// reports `ECHILD`: the kernel reaps the child itself.)
    pub fn pidfd(&self) -> &PidFd {
        self.child
            .pidfd()
            .expect("the autoreap builders always ask for CLONE_PIDFD")
    }

    /// The system call that created the child (always `clone3()`: the flag lives there).
    pub fn via(&self) -> Syscall {
        self.child.via()
    }

    /// Kills the child with `SIGKILL` through the pidfd, as std's `Child::kill`: `Ok` once
    /// it has exited too (there is nothing left to kill), never another process.
    pub fn kill(&self) -> Result<(), Errno> {
        kill_through(self.pidfd())
    }

    /// Sends `sig` through the pidfd: `ESRCH` once the child has exited, never another
    /// process.
    pub fn signal(&self, sig: Signal) -> Result<(), Errno> {
        self.pidfd().send_signal(sig)
    }

    /// Whether the child has exited, without blocking.
    pub fn is_exited(&self) -> Result<bool, Errno> {
        self.pidfd().is_exited()
    }

    /// Waits up to `timeout` (`None`: forever) for the child to exit; `true` once it has.
    /// This is not a `wait`: there is no status to collect (the kernel discarded it).
    pub fn poll_exited(&self, timeout: Option<Duration>) -> Result<bool, Errno> {
        self.pidfd().poll_exited(timeout)
    }
}

/// A child whose pidfd owns its life (`CLONE_PIDFD_AUTOKILL`): when the last descriptor of
/// that pidfd is closed, the kernel sends the child `SIGKILL`; it is autoreaped, so nothing
/// is left behind. Dropping the handle closes it.
///
/// "Last" is counted on the open file: a `dup` of [`AutoreapChild::pidfd`], or the copy a
/// fork-like child started after this one inherits in its descriptor table, keeps the
/// child alive until it is closed too. An `execve` by the caller closes the pidfd
/// (pidfds are close-on-exec) and so kills the child.
///
/// ```compile_fail,E0599
/// # use clonekit::process::ChildBuilder;
/// # use clonekit::CloneFlags;
/// let child = ChildBuilder::new(CloneFlags::empty()).autoreap().kill_on_drop().spawn(|| 0)?;
/// child.into_pidfd(); // the pidfd cannot be taken out: the handle owns the child's life
/// # Ok::<(), clonekit::Error>(())
/// ```
#[derive(Debug)]
pub struct AutokillChild {
    reaped: AutoreapChild,
}

/// Everything an [`AutoreapChild`] offers (`pid`, `pidfd` (borrowed: closing it is dropping
/// this handle), `via`, `kill`, `signal`, `is_exited`, `poll_exited`), through the one
/// handle; what it adds is its `Drop`, which kills the child.
impl core::ops::Deref for AutokillChild {
    type Target = AutoreapChild;

    fn deref(&self) -> &AutoreapChild {
        &self.reaped
    }
}

/// `SIGKILL` through `pidfd`; `Ok` if the process has exited already (`ESRCH`).
fn kill_through(pidfd: &PidFd) -> Result<(), Errno> {
    match pidfd.send_signal(Signal::SIGKILL) {
        Err(Errno::ESRCH) => Ok(()),
        other => other,
    }
}

/// Borrows the child's pidfd (as [`AutoreapChild::pidfd`]).
impl crate::fd::AsFd for AutoreapChild {
    fn as_fd(&self) -> crate::fd::BorrowedFd<'_> {
        self.pidfd().as_fd()
    }
}

/// Borrows the child's pidfd (as [`AutoreapChild::pidfd`]): a duplicate made from the
/// borrow keeps the child alive until it is closed too.
impl crate::fd::AsFd for AutokillChild {
    fn as_fd(&self) -> crate::fd::BorrowedFd<'_> {
        self.pidfd().as_fd()
    }
}

crate::sys::fd::std_fd_traits!(AutoreapChild, AutokillChild);

impl Drop for AutokillChild {
    fn drop(&mut self) {
        if self.reaped.child.shares_vm() {
            // A CLONE_VM child runs on a stack in our memory, which the Child frees only
            // once the child is gone: kill it and see it exit while the pidfd is still ours
            // to poll (closing the pidfd would kill it too, but then the stack would have
            // to be leaked). A killed task releases the memory in do_exit(), before its
            // pidfd reports the exit. One stuck in the kernel past the bound keeps its
            // stack: the Child leaks it rather than unmap it under the task.
            let _ = self.kill();
            let _ = self.poll_exited(Some(Duration::from_secs(10)));
        }
        // Dropping `child` then closes the pidfd: the kernel kills a child still running.
    }
}
