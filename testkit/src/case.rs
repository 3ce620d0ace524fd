//! One case type for every test of the kit: a function named for what it proves (its name is
//! the KTAP test name) that returns `Ok(())`, [`Fail::Failed`] after printing `# ` diagnostics,
//! or [`Fail::Skip`] with the reason; and the assertions cases are written with.

use core::fmt;

use clonekit::process::ExitStatus;

use crate::report::diag_args;
use crate::show::{Show, Shown, Text};

/// Why a case did not pass.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Fail {
    /// It failed; the diagnostics are printed already.
    Failed,
    /// It cannot run here, for this reason.
    Skip(&'static str),
}

/// What a case returns.
pub type Outcome = Result<(), Fail>;

/// One test.
pub struct Case {
    /// The KTAP name: what the case proves.
    pub name: &'static str,
    /// The test.
    pub run: fn() -> Outcome,
}

/// A [`Case`] named after its function.
macro_rules! case {
    ($f:ident) => {
        $crate::case::Case {
            name: stringify!($f),
            run: $f,
        }
    };
}

/// Prints a `# ` diagnostic at the current nesting (from any process of the demo).
macro_rules! diag {
    ($($arg:tt)*) => {
        $crate::report::diag_args(format_args!($($arg)*))
    };
}

pub(crate) use {case, diag};

/// Fails with `# what: expected .., got ..` unless `expected == got`.
pub fn eq<T: PartialEq + Show>(what: &str, expected: T, got: T) -> Outcome {
    if expected == got {
        Ok(())
    } else {
        diag!("{what}: expected {}, got {}", Shown(&expected), Shown(&got));
        Err(Fail::Failed)
    }
}

/// As [`eq`] for byte strings (shown as text).
pub fn eq_bytes(what: &str, expected: &[u8], got: &[u8]) -> Outcome {
    eq(what, Text(expected), Text(got))
}

/// Fails with the diagnostic unless `cond`.
pub fn check(cond: bool, args: fmt::Arguments<'_>) -> Outcome {
    if cond {
        Ok(())
    } else {
        diag_args(args);
        Err(Fail::Failed)
    }
}

/// Attaches a diagnostic to an error: `result.ctx("what")?`.
pub trait Ctx<T> {
    /// `Ok` as is; an error prints `# what: error` and becomes [`Fail::Failed`].
    fn ctx(self, what: &str) -> Result<T, Fail>;
}

impl<T, E: Show + IsEntryOnly> Ctx<T> for Result<T, E> {
    fn ctx(self, what: &str) -> Result<T, Fail> {
        self.map_err(|e| {
            if e.is_entry_only() {
                return Fail::Skip(NEEDS_ENTRY);
            }
            diag!("{what}: {}", Shown(&e));
            Fail::Failed
        })
    }
}

/// Why a case that starts clonekit threads (or `CLONE_VM` children) skips in a program a
/// libc started (`testkit/tests/cases.rs`): clonekit refuses them there
/// ([`clonekit::Error::LibcOwnsThreadPointer`]); `init-demo`, an `entry!` program, runs them.
pub const NEEDS_ENTRY: &str = "clonekit threads need an entry! program (a libc owns the thread pointer here); runs in the guest";

/// Whether an error is clonekit's refusal of threads in a program a libc started.
pub trait IsEntryOnly {
    /// `true` for [`clonekit::Error::LibcOwnsThreadPointer`].
    fn is_entry_only(&self) -> bool {
        false
    }
}

impl IsEntryOnly for clonekit::Error {
    fn is_entry_only(&self) -> bool {
        matches!(self, clonekit::Error::LibcOwnsThreadPointer)
    }
}

impl IsEntryOnly for clonekit::Errno {}
impl IsEntryOnly for clonekit::stack::StackError {}
impl IsEntryOnly for clonekit::FlagError {}
impl IsEntryOnly for clonekit::thread::JoinError {}
impl IsEntryOnly for clonekit::exec::SpawnError {
    fn is_entry_only(&self) -> bool {
        matches!(self, clonekit::exec::SpawnError::Spawn(e) if e.is_entry_only())
    }
}

/// A child's exit code for an outcome (what [`child_ok`] reads back).
pub fn code(outcome: Outcome) -> i32 {
    match outcome {
        Ok(()) => 0,
        Err(Fail::Failed) => 1,
        Err(Fail::Skip(_)) => 77,
    }
}

/// Passes if the child exited with 0; its own diagnostics are printed already.
pub fn child_ok(what: &str, status: Result<ExitStatus, clonekit::Errno>) -> Outcome {
    match status {
        Ok(ExitStatus::Exited(0)) => Ok(()),
        Ok(other) => {
            diag!("{what}: {other}");
            Err(Fail::Failed)
        }
        Err(e) => {
            diag!("{what}: wait: {}", Shown(&e));
            Err(Fail::Failed)
        }
    }
}

/// Skips unless this process is PID 1.
pub fn need_pid1() -> Outcome {
    if clonekit::sys::process::getpid() == 1 {
        Ok(())
    } else {
        Err(Fail::Skip("not PID 1"))
    }
}

/// Fails with `# what: expected true, got false` unless `cond`.
pub fn is_true(what: &str, cond: bool) -> Outcome {
    eq(what, true, cond)
}

/// Skips ([`NEEDS_ENTRY`]) unless clonekit's `entry!` started this program.
pub fn need_entry() -> Outcome {
    if clonekit::program::started_by_entry() {
        Ok(())
    } else {
        Err(Fail::Skip(NEEDS_ENTRY))
    }
}
