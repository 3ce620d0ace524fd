//! Every case list of the test kit (`clonekit-testkit`), natively: the same lists the QEMU
//! guest runs from `init-demo` as PID 1, here in an ordinary std program, as KTAP on stdout.
//!
//! `harness = false`: the kit's safe spawners want a single-threaded caller, and libtest runs
//! every test on a thread of its own. `main` runs the lists in a child that is PID 1 of new
//! PID, mount, network, UTS and IPC namespaces, set up as the guest's PID 1 is
//! ([`clonekit_testkit::pid1::run`]), and exits non-zero if a case failed. The cases that
//! start clonekit threads (which need an `entry!` program, as `init-demo` is) report SKIP
//! with the reason here and run in the guest.
//!
//! Under qemu-user (the aarch64 and riscv64 cross runs) the lists are skipped whole when the
//! emulator refuses the clone flags they are about, which it does (QEMU 7.2 and 10.0 answer
//! `EINVAL` for `clone(CLONE_FILES)` and most other sharing flags: it can emulate only
//! thread-like and fork-like clones): the same lists run for real on those arches in the
//! QEMU guest, as PID 1 of a real kernel.

use std::process::ExitCode;

use clonekit::container::Container;
use clonekit::process::{ChildBuilder, ExitStatus};
use clonekit::sys::signal::{Signal, signal_default};
use clonekit::{CloneFlags, Errno, Error};
use clonekit_testkit::{EXEC_CHILD_ARG, EXEC_REPORT_ARG, pid1, run_exec_child, run_exec_report};

fn main() -> ExitCode {
    // The CLONE_VFORK exec case re-executes this program with EXEC_CHILD_ARG, the
    // exec::Command cases with EXEC_REPORT_ARG.
    let first = std::env::args_os().nth(1);
    let is = |arg: &std::ffi::CStr| first.as_deref() == arg.to_str().ok().map(std::ffi::OsStr::new);
    if is(EXEC_CHILD_ARG) {
        return ExitCode::from(run_exec_child() as u8);
    }
    if is(EXEC_REPORT_ARG) {
        return ExitCode::from(run_exec_report() as u8);
    }
    if clonekit::sys::process::geteuid() != 0 {
        // The namespace cases need CAP_SYS_ADMIN; CI runs as root, and the guest always does.
        println!(
            "SKIP cases: not root (the kit's cases need CAP_SYS_ADMIN); they run in the QEMU guest"
        );
        return ExitCode::SUCCESS;
    }
    if let Some(refused) = emulator_refuses_sharing_flags() {
        println!(
            "SKIP cases: qemu-user refuses clone(CLONE_FILES) ({}); the kit's lists run in the QEMU guest on this arch",
            refused.name()
        );
        return ExitCode::SUCCESS;
    }
    // PID 1 of new PID, mount, network, UTS and IPC namespaces, as in the guest: the PID 1
    // cases run here too, orphaned grandchildren come to the runner, and what the cases
    // mount, name or create stays inside.
    let mut runner = Container::new()
        .namespaces(
            CloneFlags::NEWPID
                | CloneFlags::NEWNS
                | CloneFlags::NEWNET
                | CloneFlags::NEWUTS
                | CloneFlags::NEWIPC,
        )
        // The kit's PID 1 set-up mounts /proc with the rest.
        .mount_proc(false)
        .spawn(|| {
            // A fresh PID 1 has every signal at its default; std installed SIGSEGV and
            // SIGBUS handlers (its stack-overflow report), which the child inherited.
            for sig in [Signal::SIGSEGV, Signal::SIGBUS] {
                let _ = signal_default(sig);
            }
            pid1::run("testkit/tests/cases.rs")
        })
        .expect("start the kit's runner as PID 1 of new namespaces");
    match runner.wait() {
        Ok(ExitStatus::Exited(0)) => ExitCode::SUCCESS,
        other => {
            eprintln!("the kit's runner: {other:?} (the failing cases are marked `not ok` above)");
            ExitCode::FAILURE
        }
    }
}

/// Under qemu-user, the errno with which the emulator refuses a fork-like clone that shares
/// the descriptor table (`CLONE_FILES`), the least a third of the kit's cases need; `None`
/// natively, or if the emulator ran it.
fn emulator_refuses_sharing_flags() -> Option<Errno> {
    if !clonekit::program::emulated() {
        return None;
    }
    // SAFETY: the child only returns 0 (clonekit's exit): no libc, no std.
    let child = unsafe { ChildBuilder::new(CloneFlags::FILES).spawn_unchecked(|| 0) };
    match child {
        Ok(mut child) => {
            let _ = child.wait();
            None
        }
        Err(Error::Os(errno)) => Some(errno),
        Err(other) => panic!("probing the emulator with clone(CLONE_FILES): {other}"),
    }
}
