//! Which signals an init passes on to its main program, and where they go.

use crate::Errno;
use crate::program::started_by_entry;
use crate::sys::Pid;
use crate::sys::signal::{SigSet, Signal, kill};

/// Every signal an init forwards to its main program, 52 of the 64: all but those of
/// [`NOT_FORWARDED`].
///
/// tini's rule (src/tini.c, `configure_signals`): every signal is collected by the init and
/// forwarded, except those that cannot be (`SIGKILL`, `SIGSTOP`), `SIGCHLD` (the init's own
/// business: reaping), the synchronous faults (`SIGFPE`, `SIGILL`, `SIGSEGV`, `SIGBUS`,
/// `SIGABRT`, `SIGTRAP`, `SIGSYS`: a fault of the init is the init's, and a `kill` of one
/// to a PID 1 is dropped by the kernel) and the terminal stop signals `SIGTTIN` and
/// `SIGTTOU`, which the init keeps from stopping itself while the child has the terminal's
/// foreground.
///
/// The real-time signals 32 and 33 are glibc's own (thread cancellation, `setxid`): glibc's
/// `sigfillset` leaves them out, so tini (a glibc program) never sees them. A program that
/// [`entry!`](crate::entry) started has no libc and forwards them like any other real-time
/// signal; a program with a libc leaves them to it ([`forwarded`]).
pub const FORWARDED: SigSet = forwarded_set();

/// The signals the init keeps to itself: never forwarded, and never blocked by the
/// supervision (so a real fault still kills it, and the stop signals are ignored).
pub const NOT_FORWARDED: SigSet = SigSet::empty()
    .with(Signal::SIGKILL)
    .with(Signal::SIGSTOP)
    .with(Signal::SIGCHLD)
    .with(Signal::SIGFPE)
    .with(Signal::SIGILL)
    .with(Signal::SIGSEGV)
    .with(Signal::SIGBUS)
    .with(Signal::SIGABRT)
    .with(Signal::SIGTRAP)
    .with(Signal::SIGSYS)
    .with(Signal::SIGTTIN)
    .with(Signal::SIGTTOU);

/// glibc's internal real-time signals (`SIGCANCEL` 32, `SIGSETXID` 33).
const LIBC_INTERNAL: SigSet = SigSet::from_bits((1 << 31) | (1 << 32));

const fn forwarded_set() -> SigSet {
    SigSet::from_bits(!NOT_FORWARDED.bits())
}

/// The signals this program forwards: [`FORWARDED`], without 32 and 33 unless
/// [`entry!`](crate::entry) started the program (a program with a libc leaves them to it,
/// as tini does through glibc's `sigfillset`).
pub fn forwarded() -> SigSet {
    if started_by_entry() {
        FORWARDED
    } else {
        SigSet::from_bits(FORWARDED.bits() & !LIBC_INTERNAL.bits())
    }
}

/// Where a forwarded signal goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Target {
    /// The main program only: `kill(pid, sig)` (tini's default).
    #[default]
    Child,
    /// The main program's process group: `kill(-pid, sig)` (tini's `-g`). The main program
    /// leads a group of its own ([`MainProgram::spawn`](super::MainProgram::spawn) makes
    /// one), so every process it starts without leaving the group gets the signal too.
    Group,
}

impl Target {
    /// Sends `sig` to the main program `pid` or to its group. `ESRCH` when it is gone;
    /// `EINVAL` for a `pid` below 2, which names no main program (`kill` would take 0 for
    /// the caller's own group, and -1, from a group of 1, for every process it may signal).
    pub fn send(self, pid: Pid, sig: Signal) -> Result<(), Errno> {
        if pid < 2 {
            return Err(Errno::EINVAL);
        }
        match self {
            Target::Child => kill(pid, sig),
            Target::Group => kill(-pid, sig),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifty_two_signals_are_forwarded_and_none_the_init_keeps() {
        assert_eq!(FORWARDED.iter().count(), 52);
        assert_eq!(NOT_FORWARDED.iter().count(), 12);
        assert_eq!(FORWARDED.bits() & NOT_FORWARDED.bits(), 0);
        for sig in [
            Signal::SIGHUP,
            Signal::SIGINT,
            Signal::SIGTERM,
            Signal::SIGUSR1,
            Signal::SIGWINCH,
            Signal::SIGTSTP,
            Signal::SIGCONT,
            Signal::SIGPWR,
        ] {
            assert!(FORWARDED.contains(sig), "{sig:?}");
        }
        for n in 32..=64 {
            assert!(FORWARDED.contains(Signal::from_raw(n).unwrap()), "{n}");
        }
    }

    #[test]
    fn a_program_with_a_libc_keeps_32_and_33_to_it() {
        // The test harness is a std program: not started by clonekit's entry.
        let set = forwarded();
        assert!(!set.contains(Signal::rt(0).unwrap()));
        assert!(!set.contains(Signal::rt(1).unwrap()));
        assert!(set.contains(Signal::rt(2).unwrap()));
        assert_eq!(set.iter().count(), 50);
    }

    #[test]
    fn the_group_target_signals_every_member() {
        use crate::sys::process::{exit_group, getpid};
        use crate::sys::testutil::raw_fork;
        use crate::sys::wait::{WaitOptions, WaitStatus, wait4};
        // A child that leads a group with a grandchild in it: a group signal kills both.
        let pid = raw_fork();
        if pid == 0 {
            let code = (|| {
                crate::sys::process::setpgid(0, 0).map_err(|_| 1)?;
                let me = getpid();
                let grandchild = crate::sys::testutil::try_raw_fork().map_err(|_| 2)?;
                if grandchild == 0 {
                    loop {
                        crate::sys::process::sched_yield();
                    }
                }
                Target::Group.send(me, Signal::SIGUSR1).map_err(|_| 3)?;
                Ok::<i32, i32>(4)
            })();
            exit_group(code.unwrap_or_else(|e| e));
        }
        // The child dies of SIGUSR1 before it returns from kill(-pgrp).
        match wait4(pid, WaitOptions::empty()) {
            Ok(Some((_, WaitStatus::Signaled(sig, _)))) => assert_eq!(sig, Signal::SIGUSR1),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            Target::Child.send(1 << 23, Signal::SIGUSR1),
            Err(Errno::ESRCH)
        );
    }
}
