//! The handler model: an init that installs a handler for every signal it must act on
//! ([`Init::install`]), records them in atomics, and does the work in its wait loops
//! ([`Init::wait_for`], [`Init::wait_event`]) or hands a main program to the
//! [`Supervisor`] ([`Init::supervise`], [`Init::run_main`]). See the
//! [module docs](super) for the table and the rules.

use core::ffi::c_int;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::fd::BorrowedFd;
use crate::process::{ExitStatus, wait_any};
use crate::sys::Pid;
use crate::sys::fs::{PollFd, PollFlags};
use crate::sys::process::{get_child_subreaper, getpid, gettid, set_child_subreaper};
use crate::sys::signal::{
    PidfdFlags, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, pidfd_open,
    rt_sigaction, rt_sigprocmask, signal_default, tgkill,
};
use crate::sys::time::{ClockId, Timespec, clock_gettime};
use crate::sys::wait::WaitOptions;
use crate::{Errno, Result};

use super::supervisor::{Seen, Supervisor};
use super::table::{Action, HANDLED, WAKE, action};
use super::takeover::SignalsTaken;

/// The longest sleep of a wait loop without a pidfd for the awaited child.
const POLL_FALLBACK: Timespec = Timespec::from_millis(50);

/// Signals the handler has seen since the last [`Init::take_received`] (bit `n - 1`).
static RECEIVED: AtomicU64 = AtomicU64::new(0);
/// The latest shutdown request's signal number (0: none).
static SHUTDOWN: AtomicU32 = AtomicU32::new(0);
/// Shutdown requests so far: a wait loop wakes for a new one, not for an old flag.
static SHUTDOWN_COUNT: AtomicU32 = AtomicU32::new(0);
/// `SIGCHLD`s so far.
static SIGCHLD_COUNT: AtomicU32 = AtomicU32::new(0);
/// Children reaped by [`Init::reap`] so far.
static REAPED: AtomicU64 = AtomicU64::new(0);

/// The one handler behind the table.
extern "C" fn on_signal(raw: c_int) {
    let Some(sig) = Signal::from_raw(raw) else {
        return;
    };
    if get_child_subreaper() != Ok(true) {
        // A child that inherited the init's handlers: take the default action, as if the
        // handler had never been there. The signal is blocked while this handler runs, so
        // it stays pending and is delivered (by default) as the handler returns.
        let _ = signal_default(sig);
        let _ = tgkill(getpid(), gettid(), sig);
        return;
    }
    RECEIVED.fetch_or(1 << (raw - 1), Ordering::SeqCst);
    match action(sig) {
        Action::Reap => {
            SIGCHLD_COUNT.fetch_add(1, Ordering::SeqCst);
        }
        Action::Shutdown => {
            SHUTDOWN.store(raw as u32, Ordering::SeqCst);
            SHUTDOWN_COUNT.fetch_add(1, Ordering::SeqCst);
        }
        _ => {}
    }
}

/// An init's signal handling and reaping, installed for the whole process.
///
/// The state lives in process-wide atomics: `Init` is a token that says [`Init::install`]
/// ran. Copy it freely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Init {
    _installed: (),
}

/// How a wait of the init ended ([`Init::wait_event`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// The awaited child terminated, and was reaped.
    Exited(ExitStatus),
    /// A new shutdown request arrived (by this signal); the child still runs.
    Shutdown(Signal),
    /// The timeout passed; the child still runs.
    TimedOut,
}

impl Init {
    /// Makes the caller an init: a child subreaper (`PR_SET_CHILD_SUBREAPER`, so orphans of
    /// its descendants come to it even when it is not PID 1; that flag is also how the
    /// handler tells the init from a child that inherited it) and the handler of every
    /// signal in [`HANDLED`]. Idempotent: call it again to restore handlers something else
    /// replaced.
    ///
    /// Errors: `EINVAL` from `prctl` where subreapers are unknown (qemu-user), or the
    /// first `rt_sigaction` error.
    pub fn install() -> Result<Init, Errno> {
        set_child_subreaper(true)?;
        for sig in HANDLED.iter() {
            let mut flags = SaFlags::RESTART;
            if sig == Signal::SIGCHLD {
                flags |= SaFlags::NOCLDSTOP;
            }
            let act = SigAction::new(SigHandler::Handler(on_signal), flags, SigSet::empty());
            // SAFETY: `on_signal` is async-signal-safe (atomics and raw syscalls only) and
            // cannot unwind; the signals it takes (HANDLED) exclude the faults std and libcs
            // handle themselves (SIGSEGV, SIGBUS) and the libc-internal 32 to 34.
            unsafe { rt_sigaction(sig, Some(&act)) }?;
        }
        Ok(Init { _installed: () })
    }

    /// Reaps every child that has terminated (`wait4(-1, WNOHANG | __WALL)` until it reports
    /// none or `ECHILD`), as an iterator of `(pid, status)`, so the caller can match its own
    /// children. Never blocks. Dropping the iterator early leaves the rest for the next call.
    pub fn reap(&self) -> Reap {
        Reap { _private: () }
    }

    /// Reaps everything and returns how many children that was.
    pub fn reap_all(&self) -> usize {
        self.reap().count()
    }

    /// Children reaped by [`Init::reap`] (and the waits built on it) since the start.
    pub fn reaped_total(&self) -> u64 {
        REAPED.load(Ordering::SeqCst)
    }

    /// Waits for the child `pid` to terminate, reaping every other child that terminates
    /// meanwhile (each handed to `others`), and returns its status. Shutdown requests do not
    /// end the wait (see [`Init::wait_event`] for that); `ECHILD` if `pid` is not a child.
    pub fn wait_for(
        &self,
        pid: Pid,
        mut others: impl FnMut(Pid, ExitStatus),
    ) -> Result<ExitStatus, Errno> {
        loop {
            if let Event::Exited(status) = self.wait_event(pid, None, &mut others)? {
                return Ok(status);
            }
        }
    }

    /// As [`Init::wait_for`] with a deadline: `None` when `timeout` passed first (the child
    /// is still running and still the caller's to kill and wait for).
    pub fn wait_for_timeout(
        &self,
        pid: Pid,
        timeout: Timespec,
        mut others: impl FnMut(Pid, ExitStatus),
    ) -> Result<Option<ExitStatus>, Errno> {
        let deadline = add(now()?, timeout);
        loop {
            let left = sub(deadline, now()?);
            match self.wait_event(pid, Some(left), &mut others)? {
                Event::Exited(status) => return Ok(Some(status)),
                Event::TimedOut => return Ok(None),
                Event::Shutdown(_) => continue,
            }
        }
    }

    /// The init's wait loop, race-free: blocks [`WAKE`], reaps (handing other children to
    /// `others`), checks for a new shutdown request, then sleeps in `ppoll` with the wake
    /// signals unblocked (atomically, so a signal between the check and the sleep is not
    /// lost) until a handler ran, `pid` exited or `timeout` (`None`: forever) passed. The
    /// signal mask is restored before returning.
    ///
    /// `pid`'s exit is seen through a pidfd (Linux 5.3), so a child whose exit signal is not
    /// `SIGCHLD` (or none) wakes the loop too; without pidfds the sleep is capped at 50 ms.
    ///
    /// Returns on the first of: `pid` terminated, a shutdown request that arrived during this
    /// call, the timeout. `ECHILD` if `pid` is not (or no longer) a child.
    pub fn wait_event(
        &self,
        pid: Pid,
        timeout: Option<Timespec>,
        others: &mut impl FnMut(Pid, ExitStatus),
    ) -> Result<Event, Errno> {
        let mut seen = SHUTDOWN_COUNT.load(Ordering::SeqCst);
        self.wait_since(pid, timeout, others, &mut seen)
    }

    /// [`Init::wait_event`], with a shutdown request counted as new when the count differs
    /// from `seen` (updated when one is returned), so a caller looping over waits misses
    /// none that arrive between them.
    fn wait_since(
        &self,
        pid: Pid,
        timeout: Option<Timespec>,
        others: &mut impl FnMut(Pid, ExitStatus),
        seen: &mut u32,
    ) -> Result<Event, Errno> {
        // A pidfd wakes the sleep when `pid` exits even if its exit signal is not SIGCHLD
        // (a clone child with none: no signal at all). Without pidfds (before Linux 5.3,
        // qemu-user) the sleep is capped at POLL_FALLBACK instead.
        let pidfd = pidfd_open(pid, PidfdFlags::empty()).ok();
        let old = rt_sigprocmask(SigmaskHow::Block, Some(&WAKE))?;
        let fd = pidfd.as_ref().map(|fd| fd.as_fd());
        let result = self.wait_blocked(pid, timeout, old, others, seen, fd);
        let _ = rt_sigprocmask(SigmaskHow::SetMask, Some(&old));
        result
    }

    fn wait_blocked(
        &self,
        pid: Pid,
        timeout: Option<Timespec>,
        old: SigSet,
        others: &mut impl FnMut(Pid, ExitStatus),
        seen: &mut u32,
        pidfd: Option<BorrowedFd<'_>>,
    ) -> Result<Event, Errno> {
        let deadline = match timeout {
            Some(t) => Some(add(now()?, t)),
            None => None,
        };
        let sleep_mask = SigSet::from_bits(old.bits() & !WAKE.bits());
        loop {
            let mut any = false;
            for (p, status) in self.reap() {
                any = true;
                if p == pid {
                    return Ok(Event::Exited(status));
                }
                others(p, status);
            }
            if !any && !is_child(pid) {
                // Nothing terminated, and `pid` is not ours to wait for.
                return Err(Errno::ECHILD);
            }
            let count = SHUTDOWN_COUNT.load(Ordering::SeqCst);
            if count != *seen {
                *seen = count;
                let sig = Signal::from_raw(SHUTDOWN.load(Ordering::SeqCst) as i32);
                return Ok(Event::Shutdown(sig.unwrap_or(Signal::SIGTERM)));
            }
            let mut left = match deadline {
                Some(d) => {
                    let left = sub(d, now()?);
                    if left == Timespec::new(0, 0) {
                        return Ok(Event::TimedOut);
                    }
                    Some(left)
                }
                None => None,
            };
            if pidfd.is_none() {
                left = Some(left.map_or(POLL_FALLBACK, |l| l.min(POLL_FALLBACK)));
            }
            match ppoll_sleep(pidfd, left.as_ref(), &sleep_mask) {
                Ok(()) | Err(Errno::EINTR) => {}
                Err(errno) => return Err(errno),
            }
        }
    }

    /// The latest shutdown request (`SIGTERM`, `SIGINT` or `SIGPWR`), until
    /// [`Init::clear_shutdown`].
    pub fn shutdown_requested(&self) -> Option<Signal> {
        Signal::from_raw(SHUTDOWN.load(Ordering::SeqCst) as i32)
    }

    /// Clears the shutdown request (a test of the flag, or a request the init declined).
    pub fn clear_shutdown(&self) {
        SHUTDOWN.store(0, Ordering::SeqCst);
    }

    /// `SIGCHLD`s the handler has seen since the start.
    pub fn sigchld_count(&self) -> u32 {
        SIGCHLD_COUNT.load(Ordering::SeqCst)
    }

    /// The signals the handler has seen since the last [`Init::take_received`].
    pub fn received(&self) -> SigSet {
        SigSet::from_bits(RECEIVED.load(Ordering::SeqCst))
    }

    /// As [`Init::received`], and clears the set.
    pub fn take_received(&self) -> SigSet {
        SigSet::from_bits(RECEIVED.swap(0, Ordering::SeqCst))
    }

    /// Runs `f` as the one main program of this init: in a fork-like child (with the
    /// init's handlers reset to the defaults first) supervised by [`Init::supervise`].
    /// Returns the child's [`exit_code`](super::exit_code).
    ///
    /// The signals are taken over ([`SignalsTaken`]) before the child is created and given
    /// back to it, so that none sent in between is lost. As with
    /// [`process::fork`](crate::process::fork), the child keeps the caller's thread pointer,
    /// so `f` may use std in a std program, and the caller must be single-threaded
    /// ([`Error::MultiThreaded`](crate::Error::MultiThreaded)).
    pub fn run_main<F>(&self, f: F) -> crate::Result<i32>
    where
        F: FnOnce() -> i32,
    {
        let signals = SignalsTaken::take()?;
        let child = crate::process::fork(move || {
            // The mask first (a signal pending for the child meets the inherited handler,
            // which takes the default action in a process that is not the init), then the
            // handlers.
            let _ = signals.restore_in_child();
            reset_signals();
            f()
        });
        let result = match child {
            // Reaped by the supervisor through wait4(-1); the handle (no stack) has nothing
            // to free.
            Ok(child) => Ok(self.supervise_taken(Supervisor::new(child.pid()), &signals)?),
            Err(e) => Err(e),
        };
        let _ = signals.give_back();
        result
    }

    /// Supervises the main program `pid` (a child started any way, e.g. by
    /// [`exec::spawn`](crate::exec::spawn)) until it terminates: forwards every signal of
    /// [`forwarded`](super::forwarded) sent to the init meanwhile to it, reaps every
    /// other child, and returns its [`exit_code`](super::exit_code) (its code, or 128 + the
    /// signal that killed it). See [`Init::supervise_with`].
    pub fn supervise(&self, pid: Pid) -> Result<i32, Errno> {
        self.supervise_with(Supervisor::new(pid))
    }

    /// [`Init::supervise`] with a [`Supervisor`]'s choices: forwarding to the main
    /// program's process group, exit codes that count as success.
    ///
    /// The signals are taken over ([`SignalsTaken`]) for the time of the call, so the
    /// [`Supervisor`] takes them from the queue instead of the handlers; what it takes is
    /// recorded as the handlers would have ([`Init::received`],
    /// [`Init::shutdown_requested`], [`Init::sigchld_count`], [`Init::reaped_total`]). A
    /// shutdown request made before the call (and not [cleared](Init::clear_shutdown)) is
    /// forwarded at the start. Remaining terminated children are reaped before returning.
    pub fn supervise_with(&self, supervisor: Supervisor) -> Result<i32, Errno> {
        let signals = SignalsTaken::take()?;
        let result = self.supervise_taken(supervisor, &signals);
        let _ = signals.give_back();
        result
    }

    fn supervise_taken(
        &self,
        supervisor: Supervisor,
        signals: &SignalsTaken,
    ) -> Result<i32, Errno> {
        if let Some(sig) = self.shutdown_requested() {
            // Requested before the main program started, and not cleared.
            let _ = supervisor.forward(sig);
        }
        supervisor.run(signals, record).map(i32::from)
    }
}

/// Records what the [`Supervisor`] took from the queue as [`on_signal`] records what it
/// handles, and counts its reaping.
fn record(seen: Seen) {
    let sig = match seen {
        Seen::Forwarded(sig, _) => sig,
        Seen::Sigchld => Signal::SIGCHLD,
        Seen::Reaped(..) | Seen::MainExited(_) => {
            REAPED.fetch_add(1, Ordering::SeqCst);
            return;
        }
    };
    RECEIVED.fetch_or(1 << (sig.raw() - 1), Ordering::SeqCst);
    match action(sig) {
        Action::Reap => {
            SIGCHLD_COUNT.fetch_add(1, Ordering::SeqCst);
        }
        Action::Shutdown => {
            SHUTDOWN.store(sig.raw() as u32, Ordering::SeqCst);
            SHUTDOWN_COUNT.fetch_add(1, Ordering::SeqCst);
        }
        _ => {}
    }
}

/// The iterator of [`Init::reap`].
#[derive(Debug)]
pub struct Reap {
    _private: (),
}

impl Iterator for Reap {
    type Item = (Pid, ExitStatus);

    fn next(&mut self) -> Option<(Pid, ExitStatus)> {
        match wait_any(WaitOptions::NOHANG) {
            Ok(Some(reaped)) => {
                REAPED.fetch_add(1, Ordering::SeqCst);
                Some(reaped)
            }
            Ok(None) | Err(_) => None,
        }
    }
}

/// Resets every signal of [`HANDLED`] to its default disposition: what a child of the init
/// does before it runs a program of its own (`execve` does it for handled signals too).
pub fn reset_signals() {
    for sig in HANDLED.iter() {
        let _ = signal_default(sig);
    }
}

/// Whether `pid` is a child of ours still to be reaped (`waitid(P_PID, WNOHANG | WNOWAIT |
/// WEXITED | __WALL)` succeeds for a running or a terminated child, `ECHILD` otherwise).
fn is_child(pid: Pid) -> bool {
    use crate::sys::wait::{WaitId, waitid};
    let options =
        WaitOptions::EXITED | WaitOptions::NOHANG | WaitOptions::NOWAIT | WaitOptions::ALL;
    waitid(WaitId::Pid(pid), options).is_ok()
}

fn now() -> Result<Timespec, Errno> {
    clock_gettime(ClockId::Monotonic)
}

fn add(a: Timespec, b: Timespec) -> Timespec {
    let ns = a.as_nanos() + b.as_nanos();
    Timespec::new((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as i64)
}

/// `a - b`, or zero if `b` is later.
fn sub(a: Timespec, b: Timespec) -> Timespec {
    let ns = (a.as_nanos() - b.as_nanos()).max(0);
    Timespec::new((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as i64)
}

/// `ppoll(fds, n, timeout, mask)` on at most one descriptor (`POLLIN`): sleeps with the
/// signal mask `mask` until a signal handler runs (`EINTR`), `fd` is readable (a pidfd: the
/// process exited) or `timeout` passes (`Ok`); `sigsuspend` with a descriptor and a timeout.
fn ppoll_sleep(
    fd: Option<BorrowedFd<'_>>,
    timeout: Option<&Timespec>,
    mask: &SigSet,
) -> Result<(), Errno> {
    let mut fds = [fd.map_or(PollFd::ignored(), |fd| PollFd::new(fd, PollFlags::IN))];
    let nfds = usize::from(fd.is_some());
    crate::sys::fs::ppoll(&mut fds[..nfds], timeout, Some(mask)).map(drop)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::sys::fs::{PipeFlags, pipe2, read, write};
    use crate::sys::process::exit_group;
    use crate::sys::process::getppid;
    use crate::sys::signal::kill;
    use crate::sys::testutil::{Refusal, raw_fork, wait_child};

    /// QEMU 7.2 refuses `PR_SET_CHILD_SUBREAPER` (QEMU 10 has it).
    const SUBREAPER: Refusal = Refusal {
        code: 100,
        errno: Errno::EINVAL,
        reason: "qemu-user refuses PR_SET_CHILD_SUBREAPER",
    };

    /// qemu-user refuses a fork-like child whose exit signal is not `SIGCHLD`.
    const NO_EXIT_SIGNAL: Refusal = Refusal {
        code: 101,
        errno: Errno::EINVAL,
        reason: "qemu-user refuses a child without exit signal",
    };

    /// Runs `body` in a forked child of the test harness that makes itself an init (a child
    /// subreaper with the handlers), and checks it exited 0. The child may only use
    /// clonekit (no std); its non-zero exit code names the step that failed (90 and 91:
    /// becoming an init), or one of the refusals of qemu-user above, checked in the child
    /// by the errno it got (`Refusal::exit_code`), which the parent reports as a `SKIP`.
    fn in_init_child(test: &str, body: fn(Init) -> i32) {
        let pid = raw_fork();
        if pid == 0 {
            // The subreaper first on its own, so that its refusal is told apart from the
            // rest of Init::install (which sets it again).
            let code = match set_child_subreaper(true) {
                Err(e) => SUBREAPER.exit_code(e, 90),
                Ok(()) => match Init::install() {
                    Ok(init) => body(init),
                    Err(_) => 91,
                },
            };
            exit_group(code);
        }
        wait_child(test, pid, &[SUBREAPER, NO_EXIT_SIGNAL]);
    }

    /// Busy work until killed, without any call a signal could interrupt for long.
    fn spin() -> i32 {
        loop {
            crate::sys::process::sched_yield();
        }
    }

    #[test]
    fn init_reaps_an_orphaned_grandchild_while_waiting() {
        in_init_child("init_reaps_an_orphaned_grandchild_while_waiting", |init| {
            let Ok((r, w)) = pipe2(PipeFlags::CLOEXEC) else {
                return 1;
            };
            let middle = crate::process::fork(|| {
                match crate::process::fork(|| {
                    // Orphaned once the middle child exits: re-parented to the subreaper.
                    let _ = crate::sys::time::nanosleep(&Timespec::from_millis(50));
                    if getppid() == 0 { 8 } else { 7 }
                }) {
                    Ok(grandchild) => {
                        let _ = write(w.as_fd(), &grandchild.pid().to_ne_bytes());
                        core::mem::forget(grandchild);
                        0
                    }
                    Err(_) => 1,
                }
            });
            let Ok(middle) = middle else { return 2 };
            if init.wait_for(middle.pid(), |_, _| {}) != Ok(ExitStatus::Exited(0)) {
                return 3;
            }
            let mut buf = [0u8; 4];
            if read(r.as_fd(), &mut buf) != Ok(4) {
                return 4;
            }
            let orphan = Pid::from_ne_bytes(buf);
            let before = init.reaped_total();
            if init.wait_for(orphan, |_, _| {}) != Ok(ExitStatus::Exited(7)) {
                return 5;
            }
            if init.reaped_total() != before + 1 || init.sigchld_count() == 0 {
                return 6;
            }
            if init.reap().next().is_some()
                || init.wait_for(orphan, |_, _| {}) != Err(Errno::ECHILD)
            {
                return 9;
            }
            0
        });
    }

    #[test]
    fn init_wait_for_a_child_without_exit_signal_does_not_hang() {
        in_init_child(
            "init_wait_for_a_child_without_exit_signal_does_not_hang",
            |init| {
                // No SIGCHLD will come: only the pidfd (or the polling fallback) wakes the wait.
                let quiet = crate::process::fork_with(
                    crate::CloneFlags::empty(),
                    crate::ExitSignal::NONE,
                    || {
                        let _ = crate::sys::time::nanosleep(&Timespec::from_millis(50));
                        4
                    },
                );
                let quiet = match quiet {
                    Ok(quiet) => quiet,
                    Err(e) => return NO_EXIT_SIGNAL.exit_code(e, 1),
                };
                let status = init.wait_for_timeout(quiet.pid(), Timespec::new(10, 0), |_, _| {});
                if status != Ok(Some(ExitStatus::Exited(4))) {
                    return 2;
                }
                0
            },
        );
    }

    #[test]
    fn init_sigterm_sets_the_shutdown_flag_and_sighup_is_recorded() {
        in_init_child(
            "init_sigterm_sets_the_shutdown_flag_and_sighup_is_recorded",
            |init| {
                init.take_received();
                init.clear_shutdown();
                // A signal to the calling thread is delivered before tgkill returns.
                if tgkill(getpid(), gettid(), Signal::SIGTERM).is_err() {
                    return 1;
                }
                if init.shutdown_requested() != Some(Signal::SIGTERM) {
                    return 2;
                }
                init.clear_shutdown();
                if init.shutdown_requested().is_some() {
                    return 3;
                }
                for sig in [Signal::SIGHUP, Signal::SIGUSR1, Signal::SIGPIPE] {
                    if tgkill(getpid(), gettid(), sig).is_err() {
                        return 4;
                    }
                }
                let got = init.take_received();
                let want = SigSet::empty()
                    .with(Signal::SIGTERM)
                    .with(Signal::SIGHUP)
                    .with(Signal::SIGUSR1)
                    .with(Signal::SIGPIPE);
                if got != want || init.shutdown_requested().is_some() {
                    return 5;
                }
                0
            },
        );
    }

    #[test]
    fn init_child_that_inherited_the_handlers_dies_of_sigterm() {
        in_init_child(
            "init_child_that_inherited_the_handlers_dies_of_sigterm",
            |init| {
                let Ok(child) = crate::process::fork(spin) else {
                    return 1;
                };
                let _ = crate::sys::time::nanosleep(&Timespec::from_millis(20));
                if kill(child.pid(), Signal::SIGTERM).is_err() {
                    return 2;
                }
                let status = init.wait_for(child.pid(), |_, _| {});
                if status != Ok(ExitStatus::Signaled(Signal::SIGTERM)) {
                    return 3;
                }
                // The child's handler ran in the child: the init saw no SIGTERM.
                if init.shutdown_requested().is_some() {
                    return 4;
                }
                0
            },
        );
    }

    #[test]
    fn init_wait_for_timeout_then_kill() {
        in_init_child("init_wait_for_timeout_then_kill", |init| {
            let Ok(child) = crate::process::fork(spin) else {
                return 1;
            };
            let pid = child.pid();
            let t0 = now().unwrap_or_default();
            if init.wait_for_timeout(pid, Timespec::from_millis(100), |_, _| {}) != Ok(None) {
                return 2;
            }
            let waited = sub(now().unwrap_or_default(), t0).as_nanos();
            if waited < 100_000_000 {
                return 3;
            }
            if kill(pid, Signal::SIGKILL).is_err() {
                return 4;
            }
            if init.wait_for(pid, |_, _| {}) != Ok(ExitStatus::Signaled(Signal::SIGKILL)) {
                return 5;
            }
            0
        });
    }

    #[test]
    fn init_run_main_passes_on_the_exit_code_and_128_plus_signal() {
        in_init_child(
            "init_run_main_passes_on_the_exit_code_and_128_plus_signal",
            |init| {
                if init.run_main(|| 5).ok() != Some(5) {
                    return 1;
                }
                let killed = init.run_main(|| {
                    let _ = kill(getpid(), Signal::SIGKILL);
                    spin()
                });
                if killed.ok() != Some(137) {
                    return 2;
                }
                // A shutdown request while the main program runs is forwarded to it: a
                // helper sends SIGTERM to the init, the main program dies of it.
                let Ok(helper) = crate::process::fork(|| {
                    let _ = crate::sys::time::nanosleep(&Timespec::from_millis(50));
                    if kill(getppid(), Signal::SIGTERM).is_ok() {
                        0
                    } else {
                        1
                    }
                }) else {
                    return 3;
                };
                drop(helper);
                let forwarded = init.run_main(spin);
                if forwarded.ok() != Some(143) {
                    return 4;
                }
                if init.shutdown_requested() != Some(Signal::SIGTERM) {
                    return 5;
                }
                init.clear_shutdown();
                0
            },
        );
    }

    #[test]
    fn init_run_main_forwards_every_signal_not_only_shutdown_requests() {
        in_init_child(
            "init_run_main_forwards_every_signal_not_only_shutdown_requests",
            |init| {
                // Each of these only used to be recorded; now the main program gets it, and
                // (default disposition: terminate) dies of it.
                for (i, sig) in [Signal::SIGHUP, Signal::SIGUSR1, Signal::rt(5).unwrap()]
                    .into_iter()
                    .enumerate()
                {
                    let Ok(helper) = crate::process::fork(move || {
                        let _ = crate::sys::time::nanosleep(&Timespec::from_millis(50));
                        i32::from(kill(getppid(), sig).is_err())
                    }) else {
                        return 1;
                    };
                    drop(helper);
                    init.take_received();
                    if init.run_main(spin).ok() != Some(128 + sig.raw()) {
                        return 2 + i as i32 * 10;
                    }
                    if !init.received().contains(sig) || init.shutdown_requested().is_some() {
                        return 3 + i as i32 * 10;
                    }
                }
                0
            },
        );
    }
}
