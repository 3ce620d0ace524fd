//! Every namespace proof of `clonekit-proofs`, natively on the host (as root). The same
//! proofs run in the QEMU guest from the init demo.
//!
//! They run one after another in a single test: proofs fork children that hold pipe ends,
//! and a child forked by a concurrent test would hold copies of them too.

use clonekit::sys::process::geteuid;

/// Why the proofs cannot run here, if they cannot.
fn skip_reason() -> Option<&'static str> {
    if geteuid() != 0 {
        return Some("not root: namespaces need CAP_SYS_ADMIN");
    }
    let mut args =
        clonekit::CloneArgs::new(clonekit::CloneFlags::empty(), clonekit::ExitSignal::SIGCHLD);
    args.exit_signal = 65;
    unsafe extern "C" fn never(_: *mut core::ffi::c_void) -> i32 {
        0
    }
    // SAFETY: an invalid exit signal: the kernel refuses before creating a child.
    let probe =
        unsafe { clonekit::raw::clone3_unchecked(&mut args, 88, never, core::ptr::null_mut()) };
    if probe == Err(clonekit::Errno::ENOSYS) {
        return Some(
            "qemu-user refuses CLONE_NEW* in clone (abi.md); they run natively and in the QEMU guest",
        );
    }
    None
}

#[test]
fn namespace_isolation_proofs() {
    if let Some(reason) = skip_reason() {
        eprintln!("SKIP namespace_isolation_proofs: {reason}");
        return;
    }
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
