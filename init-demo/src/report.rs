//! Cases, sections and their outcomes, printed as KTAP with [`clonekit::ktap`].
//!
//! A case is a function named for what it proves (its name is the KTAP test name); it
//! returns `Ok(())`, [`Fail::Failed`] after printing `# ` diagnostics, or [`Fail::Skip`].
//! The report's position (nesting, results printed, the case running) is mirrored in
//! atomics so that a forked child prints diagnostics at the right indent and the panic
//! handler can print `not ok` for the case that panicked.

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

use clonekit::console::Console;
use clonekit::ktap::{Ktap, Verdict};
use clonekit::process::ExitStatus;
use clonekit::sys::time::{ClockId, clock_gettime};

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

/// One KTAP subtest: the cases of one kernel concept.
pub struct Section {
    /// The subtest's name.
    pub name: &'static str,
    /// Its cases, in order.
    pub cases: &'static [Case],
    /// Proofs shared with the host tests (`clonekit-proofs`), run after the cases.
    pub proofs: &'static [clonekit_proofs::Proof],
}

/// A [`Case`] named after its function.
macro_rules! case {
    ($f:ident) => {
        $crate::report::Case {
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

/// Set by `bail-out-test` on the kernel command line: the first case panics, to show
/// the panic path (`not ok`, `Bail out!`, power-off).
pub static BAIL_OUT_TEST: AtomicBool = AtomicBool::new(false);

static DEPTH: AtomicUsize = AtomicUsize::new(0);
static PRINTED: AtomicUsize = AtomicUsize::new(0);
static CASE_PTR: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());
static CASE_LEN: AtomicUsize = AtomicUsize::new(0);

/// A `# ` diagnostic line at the report's current nesting.
pub fn diag_args(args: fmt::Arguments<'_>) {
    Ktap::nested(Console::stdout(), DEPTH.load(Ordering::Relaxed), 0).diag(args);
}

/// Where the report is: nesting, results printed at it, and the running case's name.
pub fn position() -> (usize, usize, &'static str) {
    let ptr = CASE_PTR.load(Ordering::Relaxed);
    let len = CASE_LEN.load(Ordering::Relaxed);
    let name = if ptr.is_null() {
        "init"
    } else {
        // SAFETY: CASE_PTR/CASE_LEN are only ever set together from a `&'static str`.
        unsafe { core::str::from_utf8_unchecked(core::slice::from_raw_parts(ptr, len)) }
    };
    (
        DEPTH.load(Ordering::Relaxed),
        PRINTED.load(Ordering::Relaxed),
        name,
    )
}

fn set_case(name: &'static str) {
    CASE_PTR.store(name.as_ptr().cast_mut(), Ordering::Relaxed);
    CASE_LEN.store(name.len(), Ordering::Relaxed);
}

/// Milliseconds on the monotonic clock.
pub fn now_ms() -> i64 {
    clock_gettime(ClockId::Monotonic).map_or(0, |t| t.tv_sec * 1000 + t.tv_nsec / 1_000_000)
}

/// Runs every section as one KTAP subtest, each case a result line.
pub fn run(k: &mut Ktap, sections: &[Section]) {
    for section in sections {
        let started = now_ms();
        k.begin_subtest(section.name, section.cases.len() + section.proofs.len());
        DEPTH.store(k.depth(), Ordering::Relaxed);
        for case in section.cases {
            PRINTED.store(k.printed(), Ordering::Relaxed);
            set_case(case.name);
            if BAIL_OUT_TEST.load(Ordering::Relaxed) {
                panic!("bail-out-test on the kernel command line");
            }
            let verdict = match (case.run)() {
                Ok(()) => Verdict::Pass,
                Err(Fail::Failed) => Verdict::Fail,
                Err(Fail::Skip(reason)) => Verdict::Skip(reason),
            };
            k.result(case.name, verdict);
        }
        for proof in section.proofs {
            PRINTED.store(k.printed(), Ordering::Relaxed);
            set_case(proof.name);
            let verdict = match (proof.run)() {
                Ok(()) => Verdict::Pass,
                Err(failure) => {
                    diag!("{failure}");
                    Verdict::Fail
                }
            };
            k.result(proof.name, verdict);
        }
        k.diag(format_args!("{}: {} ms", section.name, now_ms() - started));
        k.end_subtest(section.name);
        DEPTH.store(k.depth(), Ordering::Relaxed);
    }
    CASE_PTR.store(core::ptr::null_mut(), Ordering::Relaxed);
}

/// How a value is shown in a diagnostic: a small stand-in for `Debug`, whose derived impls,
/// builders and string escaping (with its Unicode tables) cost kilobytes in a binary that
/// should stay small.
pub trait Show {
    /// Writes the value.
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

/// A [`Show`] value as `Display`.
pub struct Shown<'a, T: ?Sized>(pub &'a T);

impl<T: Show + ?Sized> fmt::Display for Shown<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.show(f)
    }
}

macro_rules! show_display {
    ($($t:ty),*) => {
        $(impl Show for $t {
            fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        })*
    };
}

show_display!(
    u8,
    u16,
    i32,
    i64,
    u32,
    u64,
    usize,
    bool,
    str,
    ExitStatus,
    clonekit::FlagError
);

impl<T: Show + ?Sized> Show for &T {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).show(f)
    }
}

impl Show for () {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("()")
    }
}

impl Show for clonekit::Errno {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_known() {
            f.write_str(self.name())
        } else {
            write!(f, "errno {}", self.raw())
        }
    }
}

impl Show for clonekit::Error {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            clonekit::Error::Flags(rule) => write!(f, "refused: {rule}"),
            other => other.errno().show(f),
        }
    }
}

impl Show for clonekit::stack::StackError {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no stack")
    }
}

impl<T: Show, E: Show> Show for Result<T, E> {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ok(v) => {
                f.write_str("Ok(")?;
                v.show(f)?;
            }
            Err(e) => {
                f.write_str("Err(")?;
                e.show(f)?;
            }
        }
        f.write_str(")")
    }
}

impl<T: Show> Show for Option<T> {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Some(v) => {
                f.write_str("Some(")?;
                v.show(f)?;
                f.write_str(")")
            }
            None => f.write_str("None"),
        }
    }
}

impl<A: Show, B: Show> Show for (A, B) {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(")?;
        self.0.show(f)?;
        f.write_str(", ")?;
        self.1.show(f)?;
        f.write_str(")")
    }
}

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

/// Bytes shown as text (non-UTF-8 bytes as `?`).
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct Text<'a>(pub &'a [u8]);

impl Show for Text<'_> {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("?")?;
            }
        }
        f.write_str("\"")
    }
}

/// Attaches a diagnostic to an error: `result.ctx("what")?`.
pub trait Ctx<T> {
    /// `Ok` as is; an error prints `# what: error` and becomes [`Fail::Failed`].
    fn ctx(self, what: &str) -> Result<T, Fail>;
}

impl<T, E: Show> Ctx<T> for Result<T, E> {
    fn ctx(self, what: &str) -> Result<T, Fail> {
        self.map_err(|e| {
            diag!("{what}: {}", Shown(&e));
            Fail::Failed
        })
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
