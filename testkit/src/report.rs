//! The runner: sections of cases printed as KTAP with [`crate::ktap`].
//!
//! The report's position (nesting, results printed, the case running) is mirrored in
//! atomics so that a forked child prints diagnostics at the right indent and a panic
//! handler can print `not ok` for the case that panicked.

use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

use clonekit::console::Console;

use crate::case::{Case, Fail};
use crate::ktap::{Ktap, Verdict};
use crate::util::now_ms;

/// One KTAP subtest: the cases of one kernel concept.
pub struct Section {
    /// The subtest's name.
    pub name: &'static str,
    /// Its cases, in order.
    pub cases: &'static [Case],
}

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

/// Runs every section as one KTAP subtest, each case a result line.
pub fn run(k: &mut Ktap, sections: &[Section]) {
    for section in sections {
        let started = now_ms();
        k.begin_subtest(section.name, section.cases.len());
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
        k.diag(format_args!("{}: {} ms", section.name, now_ms() - started));
        k.end_subtest(section.name);
        DEPTH.store(k.depth(), Ordering::Relaxed);
    }
    CASE_PTR.store(core::ptr::null_mut(), Ordering::Relaxed);
}
