//! Every case list of the kit, one file per kernel concept, and the report's plan
//! ([`SECTIONS`]): sharing, namespaces (the chapter's and in depth), TIDs and TLS, clone3,
//! pidfds, Linux 7.1's clone3 flags, the validator against the kernel, robustness, PID 1.

pub mod clone3;
pub mod linux7;
pub mod namespaces;
pub mod namespaces_in_depth;
pub mod pid1_duties;
pub mod pidfds;
pub mod robustness;
pub mod sharing;
pub mod std_shapes;
pub mod tids_and_tls;
pub mod validator_vs_kernel;

use crate::report::Section;

/// The report's top-level plan, in order.
pub const SECTIONS: &[Section] = &[
    Section {
        name: "sharing",
        cases: sharing::CASES,
    },
    Section {
        name: "namespaces",
        cases: namespaces::CASES,
    },
    Section {
        name: "namespaces_in_depth",
        cases: namespaces_in_depth::CASES,
    },
    Section {
        name: "tids_and_tls",
        cases: tids_and_tls::CASES,
    },
    Section {
        name: "clone3",
        cases: clone3::CASES,
    },
    Section {
        name: "pidfds",
        cases: pidfds::CASES,
    },
    Section {
        name: "linux7",
        cases: linux7::CASES,
    },
    Section {
        name: "validator_vs_kernel",
        cases: validator_vs_kernel::CASES,
    },
    Section {
        name: "robustness",
        cases: robustness::CASES,
    },
    Section {
        name: "pid1_duties",
        cases: pid1_duties::CASES,
    },
    Section {
        name: "std_shapes",
        cases: std_shapes::CASES,
    },
];
