//! Every namespace proof of `clonekit-proofs`, natively on the host (as root). The same
//! proofs run in the QEMU guest from the init demo.
//!
//! They run one after another in a single test: proofs fork children that hold pipe ends,
//! and a child forked by a concurrent test would hold copies of them too.

mod common;

use clonekit::process::{ExitStatus, fork_with};
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
        fork_with(flags, ExitSignal::SIGCHLD, || 0),
        Errno::EINVAL,
        "qemu-user refuses CLONE_NEW* in clone; the proofs run natively and in the QEMU guest"
    );
    assert_eq!(probe.wait(), Ok(ExitStatus::Exited(0)));
    let mut failures = Vec::new();
    for proof in clonekit_proofs::namespaces::PROOFS {
        match (proof.run)() {
            Ok(()) => eprintln!("ok {}", proof.name),
            Err(failure) => {
                eprintln!("not ok {}: {failure}", proof.name);
                failures.push(format!("{}: {failure}", proof.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} proofs failed:\n{}",
        failures.len(),
        clonekit_proofs::namespaces::PROOFS.len(),
        failures.join("\n")
    );
}
