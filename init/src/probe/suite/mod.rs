//! The scenario suite: `clonekit-init-probe suite INIT [--reference]` runs every scenario
//! against the init at INIT (clonekit-init, or tini with `--reference`, which leaves out
//! the cases where clonekit-init differs on purpose) and prints, KTAP-like,
//!
//! ```text
//! ok 3 signals_forwarded_as_subreaper
//! = signals_forwarded_as_subreaper forwarded 1 2 3 10 12 13 14 15 ...
//! not ok 4 group_reaches_grandchild # expected got 10 grandchild, read nothing
//! ok 9 machine_pid1 # SKIP not the program of a machine-mode PID 1
//! suite: 12 passed, 1 failed, 1 skipped
//! ```
//!
//! `= <case> <what was observed>` lines are what the differential test compares between
//! clonekit-init and tini; `ok`/`not ok` is each case's own verdict. The exit code is the
//! number of failed cases.

mod launch;
mod scenarios;

use core::ffi::{CStr, c_char};

use clonekit::rt::Args;
use clonekit::sys::process::set_child_subreaper;

use crate::out::{Text, say};

/// Why a case did not pass.
pub enum Fail {
    /// It ran and failed.
    Failed(Text),
    /// It cannot run here (the reason); it runs for real elsewhere.
    Skip(Text),
}

/// A case's result.
pub type Outcome = Result<(), Fail>;

/// `fail!("...")`: a failed case's reason.
macro_rules! fail {
    ($($arg:tt)*) => {
        $crate::suite::Fail::Failed($crate::out::Text::of(format_args!($($arg)*)))
    };
}
pub(crate) use fail;

/// The run: what is under test, and the counts.
pub struct Suite {
    /// The init under test.
    pub init: &'static CStr,
    /// This program (the main program the init runs).
    pub probe: &'static CStr,
    /// The environment the init is started with.
    pub env: *const *const c_char,
    /// The init is the reference (tini): leave out the cases where clonekit-init differs.
    pub reference: bool,
    number: u32,
    failed: u32,
    skipped: u32,
}

impl Suite {
    /// Runs `case` (unless it is `clonekit_only` and this is the reference run).
    fn case(&mut self, name: &str, clonekit_only: bool, case: impl FnOnce(&mut Suite) -> Outcome) {
        if clonekit_only && self.reference {
            return;
        }
        self.number += 1;
        let n = self.number;
        match case(self) {
            Ok(()) => say!("ok {n} {name}"),
            Err(Fail::Failed(why)) => {
                self.failed += 1;
                say!("not ok {n} {name} # {why}");
            }
            Err(Fail::Skip(why)) => {
                self.skipped += 1;
                say!("ok {n} {name} # SKIP {why}");
            }
        }
    }

    /// An observation of case `name`, for the differential comparison.
    pub fn observe(&self, name: &str, what: core::fmt::Arguments<'_>) {
        say!("= {name} {what}");
    }
}

/// `suite INIT [--reference]`: exit code = failed cases (at most 100).
pub fn run(args: &Args) -> i32 {
    let (Some(probe), Some(init)) = (args.get(0), args.get(2)) else {
        say!("usage: clonekit-init-probe suite INIT [--reference]");
        return 100;
    };
    let reference = args.get(3) == Some(c"--reference");
    // Orphans that do not go to the init under test would come here: the cases count
    // them (as strays they must not be).
    let _ = set_child_subreaper(true);
    let mut suite = Suite {
        init,
        probe,
        env: args.envp_ptr(),
        reference,
        number: 0,
        failed: 0,
        skipped: 0,
    };
    say!(
        "# suite: {} as the init, {} as its program{}",
        init.to_str().unwrap_or("?"),
        probe.to_str().unwrap_or("?"),
        if reference { " (reference run)" } else { "" }
    );
    scenarios::all(&mut suite);
    let passed = suite.number - suite.failed - suite.skipped;
    say!(
        "suite: {passed} passed, {} failed, {} skipped",
        suite.failed,
        suite.skipped
    );
    suite.failed.min(100) as i32
}
