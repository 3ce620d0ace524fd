//! Per-architecture code: one file per arch, all with the same exports.
//!
//! Every arch file exports `clone`, `clone3`, `thread_pointer`, `thread_pointer_register`,
//! `has_thread_pointer`, `set_thread_pointer`, `tls_value`, `STACK_ALIGNMENT`,
//! `STACK_GUARD_SIZE`, `TCB_TAG_OFFSET`, `SIGNAL_RESTORER`, `libc_environ` and the `__clonekit_start!` macro (a static binary's `_start`). Adding an architecture means
//! adding one file with the same names; nothing above this module changes.
//!
//! The arch stands at the bottom: it makes its few system calls itself (clone, clone3, the
//! child's exit, the thread pointer's, and x86_64's read of the aux vector) and uses nothing
//! else of the crate, so every other room may use it without a loop.

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
    // The arch makes its few system calls itself (clone, clone3, this exit, the thread
    // pointer's): it stands below `sys` and depends on nothing else in the crate.
    // SAFETY: this task is done; nothing borrows its stack past this point (the stack's
    // owner waits for CHILD_CLEARTID or for the process to be reaped before freeing it).
    unsafe { sc::syscall1(linux_raw_sys::general::__NR_exit as usize, status as usize) };
    // exit(2) cannot fail; if it ever returned, the task must not run on.
    loop {
        // SAFETY: as above; an integer argument only.
        unsafe { sc::syscall1(linux_raw_sys::general::__NR_exit as usize, 127) };
    }
}
