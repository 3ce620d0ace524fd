//! One KTAP subtest per kernel concept: sharing, namespaces (the chapter's and in depth), TIDs
//! and TLS, clone3, the validator against the kernel, robustness, PID 1.

pub mod clone3;
pub mod namespaces;
pub mod pid1;
pub mod robustness;
pub mod settid;
pub mod threads;
pub mod validator;

use crate::report::Section;

/// The report's top-level plan, in order.
pub const SECTIONS: &[Section] = &[
    Section {
        name: "sharing",
        cases: threads::CASES,
        proofs: &[],
    },
    Section {
        name: "namespaces",
        cases: namespaces::CASES,
        proofs: &[],
    },
    Section {
        name: "namespaces_in_depth",
        cases: &[],
        proofs: clonekit_proofs::namespaces::PROOFS,
    },
    Section {
        name: "tids_and_tls",
        cases: settid::CASES,
        proofs: &[],
    },
    Section {
        name: "clone3",
        cases: clone3::CASES,
        proofs: &[],
    },
    Section {
        name: "validator_vs_kernel",
        cases: validator::CASES,
        proofs: &[],
    },
    Section {
        name: "robustness",
        cases: robustness::CASES,
        proofs: &[],
    },
    Section {
        name: "pid1_duties",
        cases: pid1::CASES,
        proofs: &[],
    },
];
