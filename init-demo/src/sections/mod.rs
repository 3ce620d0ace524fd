//! One KTAP subtest per section of the seed chapter (TLPI 28.2.1).

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
        name: "threads_sections_a_b",
        cases: threads::CASES,
        proofs: &[],
    },
    Section {
        name: "namespaces_sections_c_e",
        cases: namespaces::CASES,
        proofs: &[],
    },
    Section {
        name: "namespaces_in_depth",
        cases: &[],
        proofs: clonekit_proofs::namespaces::PROOFS,
    },
    Section {
        name: "settid_section_d",
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
