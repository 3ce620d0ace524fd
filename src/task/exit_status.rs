//! How a child ended ([`ExitStatus`]): what `wait4` and pidfd waits both report, kept apart
//! from either so that neither module needs the other for it.

use core::fmt;

use crate::sys::signal::Signal;
use crate::sys::wait::WaitStatus;

/// How a child ended: the `Exited`/`Signaled` forms of a wait status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitStatus {
    /// Exited with this code (`WIFEXITED`, `WEXITSTATUS`: the low 8 bits of what it
    /// returned or passed to `exit`).
    Exited(i32),
    /// Killed by this signal (`WIFSIGNALED`, `WTERMSIG`).
    Signaled(Signal),
}

impl ExitStatus {
    /// The exit code, if the child exited.
    pub const fn code(&self) -> Option<i32> {
        match self {
            ExitStatus::Exited(code) => Some(*code),
            ExitStatus::Signaled(_) => None,
        }
    }

    /// The signal that killed the child, if one did.
    pub const fn signal(&self) -> Option<Signal> {
        match self {
            ExitStatus::Signaled(sig) => Some(*sig),
            ExitStatus::Exited(_) => None,
        }
    }

    /// Whether the child exited with code 0.
    pub const fn success(&self) -> bool {
        matches!(self, ExitStatus::Exited(0))
    }

    /// The termination a wait status reports; `None` for a stop or a continue.
    pub const fn from_wait(status: WaitStatus) -> Option<ExitStatus> {
        match status {
            WaitStatus::Exited(code) => Some(ExitStatus::Exited(code)),
            WaitStatus::Signaled(sig, _) => Some(ExitStatus::Signaled(sig)),
            WaitStatus::Stopped(_) | WaitStatus::Continued => None,
        }
    }

    /// Decodes the kernel's raw `wait4` status word; `None` unless it is a termination.
    pub const fn from_raw(status: i32) -> Option<ExitStatus> {
        match WaitStatus::from_raw(status) {
            Some(s) => ExitStatus::from_wait(s),
            None => None,
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Exited(code) => write!(f, "exited with code {code}"),
            ExitStatus::Signaled(sig) => write!(f, "killed by {sig}"),
        }
    }
}
