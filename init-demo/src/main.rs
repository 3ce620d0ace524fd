//! The clonekit init demo: a static `no_std` PID 1 that proves every example and every flag
//! of TLPI 28.2.1 against the running kernel and reports KTAP on the
//! serial console, then powers the machine off.
//!
//! The cases are the test kit's (`clonekit-testkit`: one KTAP subtest per kernel concept,
//! the same lists `tests/cases.rs` runs natively); this program is their PID 1 runner. A
//! failing case prints `# ` diagnostics and the run goes on; a panic prints `not ok` and
//! `Bail out!` and powers off: PID 1 never exits.
//!
//! Run as an ordinary process (not PID 1) it mounts nothing, skips what needs PID 1, and
//! exits with 1 if a case failed.
#![no_std]
#![no_main]

use core::ffi::CStr;

use clonekit::console::Console;
use clonekit::init::{self, End, Init};
use clonekit::sys::ns::{self, MountFlags};
use clonekit::sys::process::{self, get_pdeathsig, getpid, set_pdeathsig};
use clonekit::sys::signal::Signal;
use clonekit::{KernelVersion, mount};
use clonekit_testkit::ktap::Ktap;
use clonekit_testkit::show::Text;
use clonekit_testkit::{cases, report, shared, util};

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
    let started = util::now_ms();
    if (1..args.len()).any(|i| args.get(i) == Some(BAIL_OUT_TEST_ARG)) {
        report::BAIL_OUT_TEST.store(true, core::sync::atomic::Ordering::Relaxed);
    }
    let _ = set_pdeathsig(Some(MAIN_TASK_MARK));
    let pid1 = getpid() == 1;
    let mounted = if pid1 { mount_all() } else { Ok(()) };
    // PID 1's duties from the library: handlers for every signal of its table (SIGCHLD
    // wakes the reaper, SIGTERM/SIGINT/SIGPWR request a shutdown, the rest are recorded),
    // reaping with wait4(-1, __WALL), power-off at the end.
    let init = if pid1 { Some(Init::install()) } else { None };
    let shared = shared::map();

    let mut k = Ktap::stdout();
    k.start(cases::SECTIONS.len(), true);
    let uts = clonekit::sys::uname();
    k.diag(format_args!(
        "clonekit init-demo: TLPI 28.2.1 on Linux {} ({}), {}",
        KernelVersion::cached(),
        Text(uts.machine()),
        if pid1 { "PID 1" } else { "not PID 1" },
    ));
    if let Err((what, e)) = mounted {
        k.diag(format_args!("mounting {what}: {e}"));
    }
    if let Some(Err(e)) = init {
        k.diag(format_args!("clonekit::init::Init::install: {e}"));
    }
    if let Err(e) = shared {
        k.bail_out(format_args!("no shared page: {e}"));
        finish(1);
    }
    report::run(&mut k, cases::SECTIONS);
    if let Some(Ok(init)) = init {
        let left = init.reap_all();
        k.diag(format_args!(
            "PID 1: {} children reaped by clonekit::init, {left} at the end; shutdown request: {}",
            init.reaped_total(),
            init.shutdown_requested().map_or("none", |s| s.name()),
        ));
    }
    k.summary();
    k.diag(format_args!("init-demo: {} ms", util::now_ms() - started));
    finish(i32::from(k.totals().fail > 0))
}

/// Mounts what the cases need: `/proc`, a tmpfs on `/tmp`, sysfs and cgroup2.
fn mount_all() -> Result<(), (&'static str, clonekit::Error)> {
    let at = |what| move |e| (what, e);
    for dir in [c"/proc", c"/tmp", c"/sys"] {
        mount::ensure_dir(dir).map_err(at("a mount point"))?;
    }
    mount::mount_proc(c"/proc").map_err(at("/proc"))?;
    mount::mount_tmpfs(c"/tmp", None).map_err(at("/tmp"))?;
    let flags = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    ns::mount(Some(c"sysfs"), c"/sys", Some(c"sysfs"), flags, None)
        .map_err(|e| ("/sys", e.into()))?;
    ns::mount(
        Some(c"cgroup2"),
        c"/sys/fs/cgroup",
        Some(c"cgroup2"),
        flags,
        None,
    )
    .map_err(|e| ("/sys/fs/cgroup", e.into()))?;
    Ok(())
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
