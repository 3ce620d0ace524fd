//! The clonekit init demo: a static `no_std` PID 1 that proves every example and every flag
//! of TLPI 28.2.1 against the running kernel and reports KTAP on the
//! serial console, then powers the machine off.
//!
//! The cases are the test kit's (`clonekit-testkit`: one KTAP subtest per kernel concept,
//! the same lists `testkit/tests/cases.rs` runs natively); this program is their PID 1
//! runner. A failing case prints `# ` diagnostics and the run goes on; a panic prints
//! `not ok` and `Bail out!` and powers off: PID 1 never exits.
//!
//! Run as an ordinary process (not PID 1) it mounts nothing, skips what needs PID 1, and
//! exits with 1 if a case failed.
#![no_std]
#![no_main]

use core::ffi::CStr;

use clonekit::console::Console;
use clonekit::init::{self, End};
use clonekit::sys::process::{self, get_pdeathsig, getpid, set_pdeathsig};
use clonekit::sys::signal::Signal;
use clonekit_testkit::ktap::Ktap;
use clonekit_testkit::{pid1, report};

clonekit::entry!(main);

/// A bare word on the kernel command line (it reaches argv) that makes the first case
/// panic: shows the panic path.
const BAIL_OUT_TEST_ARG: &CStr = c"bail-out-test";

/// A per-task mark of the main task of the demo: the parent-death signal, which the kernel
/// clears in every child and thread, so the panic handler can tell PID 1 from a child
/// (which may be PID 1 of a new namespace).
const MAIN_TASK_MARK: Signal = Signal::SIGWINCH;

fn main(args: &clonekit::rt::Args) -> i32 {
    if args.get(1) == Some(clonekit_testkit::EXEC_CHILD_ARG) {
        return clonekit_testkit::run_exec_child();
    }
    if args.get(1) == Some(clonekit_testkit::EXEC_REPORT_ARG) {
        return clonekit_testkit::run_exec_report();
    }
    if (1..args.len()).any(|i| args.get(i) == Some(BAIL_OUT_TEST_ARG)) {
        report::BAIL_OUT_TEST.store(true, core::sync::atomic::Ordering::Relaxed);
    }
    let _ = set_pdeathsig(Some(MAIN_TASK_MARK));
    finish(pid1::run("init-demo"))
}

/// Ends the run: PID 1 syncs and powers the machine off (it must never exit, or the kernel
/// panics); an ordinary process exits with `code` ([`clonekit::init::finish`]).
fn finish(code: i32) -> ! {
    init::finish(code, End::PowerOff)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    if get_pdeathsig() == Ok(Some(MAIN_TASK_MARK)) {
        let (depth, printed, name) = report::position();
        let mut k = Ktap::nested(Console::stdout(), depth, printed);
        k.diag(format_args!("{info}"));
        k.not_ok(name);
        Ktap::nested(Console::stdout(), 0, 0).bail_out(format_args!("{}", info.message()));
        finish(101)
    }
    report::diag_args(format_args!("panic in child {}: {info}", getpid()));
    process::exit_group(101)
}
