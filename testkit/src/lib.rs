//! clonekit's test kit: every kernel-observable case of the project, written once, with the
//! harness that runs them. `no_std` and allocation-free, so the same case lists run in three
//! places:
//!
//! - in the QEMU guest, by `init-demo` as PID 1, on every arch and kernel of the matrix;
//! - natively, by `tests/cases.rs` (a single-threaded std program, as root);
//! - under qemu-user, by the same test, on aarch64 and riscv64.
//!
//! The rooms: [`case`] (one case type and the assertions cases use), [`show`] (how values
//! appear in diagnostics), [`report`] (the runner that prints sections as KTAP), [`ktap`]
//! (the KTAP writer), [`shared`] (one page shared with every child), [`gate`] (a parent ->
//! child gate), [`util`] (small helpers), [`differential`] (the validator against the
//! running kernel) and [`cases`] (the case lists, one file per kernel concept).
//!
//! Every child a case starts runs only clonekit code (no libc, no std), so a case may run
//! inside a std test binary.
#![no_std]

pub mod case;
pub mod cases;
pub mod differential;
pub mod gate;
pub mod ktap;
pub mod observe;
pub mod pid1;
pub mod report;
pub mod shared;
pub mod show;
pub mod util;

use core::ffi::CStr;

/// `argv[1]` of a runner re-executed by the `CLONE_VFORK` exec case (see
/// [`run_exec_child`]).
pub const EXEC_CHILD_ARG: &CStr = c"vfork-exec-child";

/// What a runner does when started with [`EXEC_CHILD_ARG`]: outlive the parent's check that
/// the exec'd child still runs, then exit 0.
pub fn run_exec_child() -> i32 {
    util::sleep_ms(300);
    0
}
