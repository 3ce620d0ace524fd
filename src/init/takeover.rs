//! Taking the signals over for supervision, as tini does before it starts its child.

use crate::Errno;
use crate::sys::signal::{SigSet, SigmaskHow, Signal, rt_sigprocmask};

use super::forward::forwarded;

/// The terminal's stop signals, blocked and never taken (why: [`SignalsTaken`]).
const TERMINAL_STOPS: SigSet = SigSet::empty().with(Signal::SIGTTIN).with(Signal::SIGTTOU);

/// The signals taken over, and the mask to give back.
///
/// Every forwarded signal and `SIGCHLD` blocked, so that they queue for the
/// [`Supervisor`](super::Supervisor)'s `sigtimedwait` instead of being delivered, and
/// `SIGTTIN` / `SIGTTOU` blocked too (never taken). Blocked signals are never dropped at
/// sending time, not even for a PID 1 whose disposition is the default (the kernel checks
/// the mask first: `sig_ignored` in kernel/signal.c), so a PID 1 in this state receives
/// every signal sent to it, with no handler at all. The main program gets the mask back
/// before it runs ([`SignalsTaken::restore_in_child`]).
///
/// The terminal's stop signals: the init makes the main program's group the terminal's
/// foreground group and may still write to the terminal; a background process that reads
/// from it (or, with `TOSTOP`, writes to it, or calls `tcsetpgrp` as the child does) gets
/// `SIGTTIN` / `SIGTTOU` and stops, unless the signal is ignored or blocked. tini ignores
/// them; blocking them has the same effect on the terminal (`is_ignored` in
/// drivers/tty/tty_jobctrl.c takes either) and leaves no disposition to give back. One
/// sent with `kill` stays pending, harmlessly.
#[derive(Debug, Clone, Copy)]
pub struct SignalsTaken {
    waited_for: SigSet,
    old_mask: SigSet,
}

impl SignalsTaken {
    /// Blocks [`forwarded`], `SIGCHLD`, `SIGTTIN` and `SIGTTOU` in the calling thread. Call
    /// it before the main program starts, so that no signal sent in between is lost; then
    /// [`MainProgram::spawn`](super::MainProgram::spawn) and
    /// [`Supervisor::run`](super::Supervisor::run).
    pub fn take() -> Result<SignalsTaken, Errno> {
        let waited_for = SigSet::from_bits(forwarded().bits() | (1 << (Signal::SIGCHLD.raw() - 1)));
        let blocked = SigSet::from_bits(waited_for.bits() | TERMINAL_STOPS.bits());
        let old_mask = rt_sigprocmask(SigmaskHow::Block, Some(&blocked))?;
        Ok(SignalsTaken {
            waited_for,
            old_mask,
        })
    }

    /// The signals the supervisor takes from the queue: [`forwarded`] and `SIGCHLD`.
    pub fn waited_for(&self) -> SigSet {
        self.waited_for
    }

    /// The signal mask the thread had before [`SignalsTaken::take`].
    pub fn old_mask(&self) -> SigSet {
        self.old_mask
    }

    /// In the main program's process, before it runs: the signal mask as it was before
    /// [`SignalsTaken::take`] (tini's `restore_signals`). One system call: usable in a
    /// child of a multithreaded program.
    pub fn restore_in_child(&self) -> Result<(), Errno> {
        rt_sigprocmask(SigmaskHow::SetMask, Some(&self.old_mask)).map(drop)
    }

    /// Ends the takeover in the init itself: the signals that arrived meanwhile and were not
    /// taken are delivered as the mask is restored.
    pub fn give_back(self) -> Result<(), Errno> {
        self.restore_in_child()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::process::{exit_group, getpid, gettid};
    use crate::sys::signal::tgkill;
    use crate::sys::testutil::{raw_fork, skip, under_qemu_user, wait_exit_code};

    #[test]
    fn take_blocks_the_forwarded_signals_and_give_back_restores_everything() {
        let pid = raw_fork();
        if pid == 0 {
            let code = (|| {
                let taken = SignalsTaken::take().map_err(|_| 1)?;
                let mask = rt_sigprocmask(SigmaskHow::Block, None).map_err(|_| 2)?;
                let mut want = taken.waited_for();
                // QEMU keeps the guest's last real-time signals (63 and 64 in 7.2) for
                // itself: they cannot be blocked there (natively they are checked too).
                let realtime = u64::MAX << (Signal::RTMIN - 1);
                let unblockable = want.bits() & realtime & !mask.bits();
                if under_qemu_user() && unblockable != 0 {
                    skip(
                        "take_blocks_the_forwarded_signals_and_give_back_restores_everything (the last real-time signals)",
                        format_args!(
                            "qemu-user keeps guest signals {:?} for itself, unblockable",
                            SigSet::from_bits(unblockable)
                        ),
                    );
                    want = SigSet::from_bits(want.bits() & !unblockable);
                }
                if mask.bits() & want.bits() != want.bits() || !want.contains(Signal::SIGCHLD) {
                    return Err(3);
                }
                // The terminal's stop signals are blocked but not waited for; faults neither.
                if mask.contains(Signal::SIGSEGV)
                    || !mask.contains(Signal::SIGTTIN)
                    || want.contains(Signal::SIGTTOU)
                {
                    return Err(4);
                }
                // A blocked signal waits; once given back it is delivered (SIGWINCH's
                // default: ignored), and the mask is the old one again.
                tgkill(getpid(), gettid(), Signal::SIGWINCH).map_err(|_| 7)?;
                let old = taken.old_mask();
                taken.give_back().map_err(|_| 8)?;
                if rt_sigprocmask(SigmaskHow::Block, None).map_err(|_| 9)? != old {
                    return Err(10);
                }
                Ok(())
            })();
            exit_group(code.err().unwrap_or(0));
        }
        assert_eq!(wait_exit_code(pid), 0);
    }
}
