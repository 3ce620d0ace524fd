//! Every namespace proof of `clonekit-proofs`, natively on the host (as root). The same
//! proofs run in the QEMU guest from the init demo.
//!
//! They run one after another in a single test: proofs fork children that hold pipe ends,
//! and a child forked by a concurrent test would hold copies of them too.

mod common;

#[test]
fn namespace_isolation_proofs() {
    if let Some(reason) = common::needs_root_and_real_kernel() {
        skip!("{reason}");
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
