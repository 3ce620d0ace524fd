//! tini's main loop (`wait_and_forward_signal` and `reap_zombies` in src/tini.c).

use crate::Errno;
use crate::process::{ExitStatus, wait_any};
use crate::sys::Pid;
use crate::sys::signal::Signal;
use crate::sys::time::Timespec;
use crate::sys::wait::WaitOptions;

use super::exit_code::SuccessCodes;
use super::forward::Target;
use super::takeover::SignalsTaken;
use crate::sys::signal::sigtimedwait;

/// The longest wait for a signal before the loop reaps anyway (tini's one second).
const WAKE_AT_LEAST_EVERY: Timespec = Timespec::new(1, 0);

/// What the supervisor saw, handed to the caller's `seen` as it happens (for messages and
/// counts; the supervisor itself needs nothing back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Seen {
    /// A signal other than `SIGCHLD` was taken and forwarded: the result of the `kill`
    /// (`ESRCH` when the main program, or every process of its group, is gone).
    Forwarded(Signal, Result<(), Errno>),
    /// `SIGCHLD` was taken (not forwarded: it only wakes the reaping).
    Sigchld,
    /// A process other than the main program was reaped (an orphan, or a child of the
    /// init's own).
    Reaped(Pid, ExitStatus),
    /// The main program terminated and was reaped.
    MainExited(ExitStatus),
}

/// Supervises one main program until it terminates: forwards the signals, reaps every
/// child, and gives the init's exit code.
///
/// tini's loop: take one signal from the queue (waiting up to a second), forward it unless
/// it is `SIGCHLD`, then reap every child that has terminated; stop once the main program
/// was among them. A storm of `SIGCHLD`s costs one wake-up: a standard signal is pending
/// at most once, and each wake reaps until nothing is left. The one-second timeout reaps
/// even a child whose exit sent no signal at all. Reaping is `wait4(-1, WNOHANG | __WALL)`,
/// so children with any exit signal are reaped (tini's `waitpid(-1, WNOHANG)` leaves
/// direct children whose exit signal is not `SIGCHLD`; orphans make no difference, the
/// kernel resets their exit signal to `SIGCHLD` when it re-parents them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Supervisor {
    main: Pid,
    target: Target,
    success: SuccessCodes,
}

impl Supervisor {
    /// A supervisor of the main program `main` (a child of the caller), forwarding to it
    /// alone, with no success codes.
    pub const fn new(main: Pid) -> Supervisor {
        Supervisor {
            main,
            target: Target::Child,
            success: SuccessCodes::new(),
        }
    }

    /// Where forwarded signals go (tini's `-g`: [`Target::Group`]).
    pub const fn target(mut self, target: Target) -> Supervisor {
        self.target = target;
        self
    }

    /// Exit codes that count as success (tini's `-e`).
    pub const fn success_codes(mut self, codes: SuccessCodes) -> Supervisor {
        self.success = codes;
        self
    }

    /// Forwards `sig` to the main program (or its group), as the loop does with each signal
    /// it takes. `ESRCH` when it is gone.
    pub fn forward(&self, sig: Signal) -> Result<(), Errno> {
        self.target.send(self.main, sig)
    }

    /// The loop (see [`Supervisor`]), with the signals `signals` blocked in the
    /// calling thread, until the main program has terminated; every other child that has
    /// terminated by then is reaped too. Returns the init's exit code:
    /// [`SuccessCodes::apply`] of the main program's status.
    ///
    /// Errors: an unexpected errno of `rt_sigtimedwait` or `wait4`; `ECHILD` when the main
    /// program is not (or no longer) the caller's child to reap.
    pub fn run(&self, signals: &SignalsTaken, mut seen: impl FnMut(Seen)) -> Result<u8, Errno> {
        let waited_for = signals.waited_for();
        loop {
            match sigtimedwait(&waited_for, Some(&WAKE_AT_LEAST_EVERY)) {
                Ok(Signal::SIGCHLD) => seen(Seen::Sigchld),
                Ok(sig) => seen(Seen::Forwarded(sig, self.forward(sig))),
                // The time ran out, or a handler outside the set ran: reap anyway.
                Err(Errno::EAGAIN | Errno::EINTR) => {}
                Err(errno) => return Err(errno),
            }
            if let Some(status) = self.reap(&mut seen)? {
                return Ok(self.success.apply(status));
            }
        }
    }

    /// Reaps until nothing is left; the main program's status if it was reaped.
    fn reap(&self, seen: &mut impl FnMut(Seen)) -> Result<Option<ExitStatus>, Errno> {
        let mut main = None;
        loop {
            match wait_any(WaitOptions::NOHANG) {
                Ok(Some((pid, status))) if pid == self.main => {
                    seen(Seen::MainExited(status));
                    main = Some(status);
                }
                Ok(Some((pid, status))) => seen(Seen::Reaped(pid, status)),
                Ok(None) => return Ok(main),
                // No child at all: the main program too is gone, reaped by us or not.
                Err(Errno::ECHILD) if main.is_some() => return Ok(main),
                Err(errno) => return Err(errno),
            }
        }
    }
}
