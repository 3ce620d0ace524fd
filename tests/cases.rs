//! Every case list of the test kit (`clonekit-testkit`), natively: the same lists the QEMU
//! guest runs from `init-demo` as PID 1, here in an ordinary std program, as KTAP on stdout.
//!
//! `harness = false`: the kit's safe spawners want a single-threaded caller, and libtest runs
//! every test on a thread of its own. `main` runs the lists in a fork-like child of its own
//! (which keeps to clonekit and core, as every kit case does) and exits non-zero if a case
//! failed. A case that needs what only the guest gives (being PID 1, clonekit threads, which
//! need an `entry!` program) reports SKIP with the reason and runs in the guest; under
//! qemu-user the sections the emulator cannot run are skipped whole, with the reason
//! ([`clonekit_testkit::report::Section::emulator`]).

use std::process::ExitCode;

use clonekit::process::{ExitStatus, fork_unchecked};
use clonekit::sys::process::set_child_subreaper;
use clonekit_testkit::ktap::Ktap;
use clonekit_testkit::{EXEC_CHILD_ARG, cases, report, run_exec_child, shared};

fn main() -> ExitCode {
    // The CLONE_VFORK exec case re-executes this program with EXEC_CHILD_ARG.
    if std::env::args_os().nth(1).as_deref()
        == EXEC_CHILD_ARG.to_str().ok().map(std::ffi::OsStr::new)
    {
        return ExitCode::from(run_exec_child() as u8);
    }
    if clonekit::sys::process::geteuid() != 0 {
        // The namespace cases need CAP_SYS_ADMIN; CI runs as root, and the guest always does.
        println!(
            "SKIP cases: not root (the kit's cases need CAP_SYS_ADMIN); they run in the QEMU guest"
        );
        return ExitCode::SUCCESS;
    }
    shared::map().expect("map the kit's shared page");
    // SAFETY: the child runs the kit (clonekit and core only: a no_std crate) and prints
    // with its KTAP writer (clonekit's console): no libc, no std.
    let runner = unsafe {
        fork_unchecked(|| {
            // Orphaned grandchildren of the cases come here (as they would to PID 1), so the
            // cases that count zombies see every one of their own.
            let _ = set_child_subreaper(true);
            let mut k = Ktap::stdout();
            k.start(cases::SECTIONS.len(), true);
            report::run(&mut k, cases::SECTIONS);
            k.summary();
            i32::from(k.totals().fail > 0)
        })
    }
    .expect("fork the kit's runner");
    match runner.wait() {
        Ok(ExitStatus::Exited(0)) => ExitCode::SUCCESS,
        other => {
            eprintln!("the kit's runner: {other:?} (the failing cases are marked `not ok` above)");
            ExitCode::FAILURE
        }
    }
}
