//! Every namespace proof of `clonekit-proofs`, natively on the host (as root). The same
//! proofs run in the QEMU guest from the init demo.
//!
//! They run one after another in a single test: proofs fork children that hold pipe ends,
//! and a child forked by a concurrent test would hold copies of them too.

mod common;

use clonekit::process::{ExitStatus, fork_with_unchecked};
use clonekit::{CloneFlags, Errno, ExitSignal};

#[test]
fn namespace_isolation_proofs() {
    if let Some(reason) = common::needs_root() {
        skip!("{reason}");
    }
    // What the proofs are built on: a child in new namespaces.
    let flags = CloneFlags::NEWUTS
        | CloneFlags::NEWIPC
        | CloneFlags::NEWNS
        | CloneFlags::NEWPID
        | CloneFlags::NEWNET
        | CloneFlags::NEWCGROUP;
    let probe = emulator_may_refuse!(
        // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
        unsafe { fork_with_unchecked(flags, ExitSignal::SIGCHLD, || 0) },
        Errno::EINVAL,
        "qemu-user refuses CLONE_NEW* in clone; the proofs run natively and in the QEMU guest"
    );
    assert_eq!(probe.wait(), Ok(ExitStatus::Exited(0)));
    // The proofs use the safe spawners, which want a single-threaded caller (a fork-like
    // child of a multithreaded one could inherit a lock held): they run in a child of their
    // own, the one thread there, and report with clonekit's printer.
    // SAFETY: the child runs the proofs, which keep to clonekit and core (a no_std crate),
    // and writes with clonekit::eprintln!: no libc, no std.
    let runner = unsafe {
        clonekit::process::fork_unchecked(|| {
            let mut failed = 0;
            for proof in clonekit_proofs::namespaces::PROOFS {
                match (proof.run)() {
                    Ok(()) => clonekit::eprintln!("ok {}", proof.name),
                    Err(failure) => {
                        clonekit::eprintln!("not ok {}: {failure}", proof.name);
                        failed += 1;
                    }
                }
            }
            failed
        })
    }
    .unwrap();
    assert_eq!(
        runner.wait(),
        Ok(ExitStatus::Exited(0)),
        "the exit status is the number of the {} proofs that failed (named above)",
        clonekit_proofs::namespaces::PROOFS.len()
    );
}
