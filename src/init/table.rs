//! The handler model's signal table: what an init that installed [`Init`](super::Init)'s
//! handlers does with each signal, as a function ([`action`]) and as sets ([`HANDLED`],
//! [`WAKE`]). The table itself, with the reasons, is in the [module docs](super#the-signal-table).

use crate::sys::signal::{SigSet, Signal};

/// What the init does with a signal (see the [module docs](super#the-signal-table)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `SIGCHLD`: wake the wait loop, which reaps every terminated child.
    Reap,
    /// Set the shutdown request.
    Shutdown,
    /// Handled, recorded, otherwise ignored.
    Discard,
    /// Left at its disposition (faults, libc-internal real-time signals).
    Default,
    /// `SIGKILL`, `SIGSTOP`: no handler is possible.
    Uncatchable,
}

/// What the init does with `sig`: the [table](super#the-signal-table) as a function.
pub const fn action(sig: Signal) -> Action {
    match sig {
        Signal::SIGCHLD => Action::Reap,
        Signal::SIGTERM | Signal::SIGINT | Signal::SIGPWR => Action::Shutdown,
        Signal::SIGKILL | Signal::SIGSTOP => Action::Uncatchable,
        Signal::SIGSEGV
        | Signal::SIGBUS
        | Signal::SIGILL
        | Signal::SIGFPE
        | Signal::SIGABRT
        | Signal::SIGSYS
        | Signal::SIGTRAP => Action::Default,
        // glibc uses 32 and 33, musl 32 to 34 (SIGSYNCCALL): leave them to the libc.
        _ if sig.raw() >= Signal::RTMIN && sig.raw() <= Signal::RTMIN + 2 => Action::Default,
        _ => Action::Discard,
    }
}

/// The signals that get the init's handler: every one whose [`action`] is `Reap`,
/// `Shutdown` or `Discard`.
pub const HANDLED: SigSet = handled_set();

/// The signals that wake the init's wait loop: `SIGCHLD` and the shutdown requests.
pub const WAKE: SigSet = SigSet::empty()
    .with(Signal::SIGCHLD)
    .with(Signal::SIGTERM)
    .with(Signal::SIGINT)
    .with(Signal::SIGPWR);

const fn handled_set() -> SigSet {
    let mut set = SigSet::empty();
    let mut n = 1;
    while n <= Signal::MAX {
        if let Some(sig) = Signal::from_raw(n)
            && matches!(
                action(sig),
                Action::Reap | Action::Shutdown | Action::Discard
            )
        {
            set = set.with(sig);
        }
        n += 1;
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_table_decides_every_signal() {
        assert_eq!(action(Signal::SIGCHLD), Action::Reap);
        for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGPWR] {
            assert_eq!(action(sig), Action::Shutdown);
        }
        for sig in [Signal::SIGKILL, Signal::SIGSTOP] {
            assert_eq!(action(sig), Action::Uncatchable);
            assert!(!HANDLED.contains(sig));
        }
        for sig in [
            Signal::SIGSEGV,
            Signal::SIGBUS,
            Signal::SIGABRT,
            Signal::SIGSYS,
        ] {
            assert_eq!(action(sig), Action::Default);
            assert!(!HANDLED.contains(sig));
        }
        for sig in [
            Signal::SIGHUP,
            Signal::SIGUSR1,
            Signal::SIGPIPE,
            Signal::SIGWINCH,
        ] {
            assert_eq!(action(sig), Action::Discard);
            assert!(HANDLED.contains(sig));
        }
        assert_eq!(action(Signal::rt(0).unwrap()), Action::Default);
        assert_eq!(action(Signal::rt(1).unwrap()), Action::Default);
        assert_eq!(action(Signal::rt(2).unwrap()), Action::Default);
        assert_eq!(action(Signal::rt(3).unwrap()), Action::Discard);
        // 64 signals: 2 uncatchable, 7 faults and 3 libc-internal left alone.
        assert_eq!(HANDLED.iter().count(), 64 - 2 - 7 - 3);
        assert!(WAKE.iter().all(|s| HANDLED.contains(s)));
    }
}
