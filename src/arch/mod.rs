//! Per-architecture code: one file per arch, all with the same exports.
//!
//! Every arch file exports `clone`, `clone3`, `thread_pointer`, `thread_pointer_register`,
//! `has_thread_pointer`, `set_thread_pointer`, `tls_value`, `STACK_ALIGNMENT`,
//! `STACK_GUARD_SIZE`, `TCB_TAG_OFFSET`, `SIGNAL_RESTORER` and the `__clonekit_start!` macro (a static binary's `_start`). Adding an architecture means
//! adding one file with the same names; nothing above this module changes.

use core::ffi::c_void;

#[cfg_attr(target_arch = "x86_64", path = "x86_64.rs")]
#[cfg_attr(target_arch = "aarch64", path = "aarch64.rs")]
#[cfg_attr(target_arch = "riscv64", path = "riscv64.rs")]
mod imp;

pub(crate) use imp::*;

/// The function a trampoline's child runs: its return value becomes the exit status.
pub type ChildFn = unsafe extern "C" fn(arg: *mut c_void) -> i32;

/// The child's first Rust frame, entered from a trampoline on the child's stack with a zero
/// return address: runs `func(arg)` and ends the task with `exit` (never `exit_group`, which
/// would take a `CLONE_THREAD` child's whole thread group with it: glibc BZ 21512).
///
/// # Safety
/// Only the trampolines call this, with the `func` and `arg` their caller vouched for.
pub(crate) unsafe extern "C" fn child_entry(func: ChildFn, arg: *mut c_void) -> ! {
    // SAFETY: the trampoline's caller guaranteed `func` may be called with `arg` in the child.
    let status = unsafe { func(arg) };
    // SAFETY: this task is done; nothing borrows its stack past this point (the stack's
    // owner waits for CHILD_CLEARTID or for the process to be reaped before freeing it).
    unsafe { crate::sys::process::exit(status) }
}
