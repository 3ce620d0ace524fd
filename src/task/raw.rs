//! Expert entry points: `clone` and `clone3` with a function to run on a stack you manage.
//!
//! Each checks its flags with [the validator](crate::validate::validate()) first and returns the
//! rule broken as [`Error::Flags`], then makes the syscall through the arch trampoline: the
//! child starts on the given stack (16-byte aligned, frame pointer and return address zero),
//! runs `func(arg)` and exits with its return value through `exit` (never `exit_group`).
//!
//! # What the child may touch
//! With `CLONE_VM` the child runs in the parent's memory, at the same time as the parent:
//! - it may use its own stack, `arg`, and memory it synchronises with the parent through
//!   atomics or futexes;
//! - it must not use the parent's stack frames (they change under it), nor anything the
//!   parent frees before the child is gone;
//! - in a program with a libc (a std program included), it must not call into libc or std
//!   (no `println!`, no allocation, no locks, no thread-locals): their per-thread state
//!   belongs to the parent. [`sys`](crate::sys) wrappers, [`console`](crate::console) and
//!   core are fine.
//!
//! Without `CLONE_VM` the child has a copy of the parent's memory: the same rules about libc
//! apply (a multithreaded parent's locks may be copied held), but it cannot disturb the
//! parent's memory.
//!
//! ```
//! use core::ffi::c_void;
//! use core::ptr::null_mut;
//! use clonekit::{CloneFlags, Error, ExitSignal, FlagError, Stack, raw};
//! use clonekit::process::wait_pid;
//!
//! unsafe extern "C" fn child(_arg: *mut c_void) -> i32 {
//!     5
//! }
//!
//! let stack = Stack::new(64 * 1024)?;
//! // SAFETY: without CLONE_VM the child runs on its copy of the memory, the stack included,
//! // and only returns; no pointer argument is used.
//! let pid = unsafe {
//!     let (flags, top) = (CloneFlags::empty(), stack.top());
//!     raw::clone(flags, ExitSignal::SIGCHLD, top, null_mut(), null_mut(), 0, child, null_mut())
//! }?;
//! assert_eq!(wait_pid(pid)?.code(), Some(5));
//! drop(stack); // the child is gone
//!
//! // The validator runs first: a refused combination makes no system call.
//! // SAFETY: refused before the kernel is asked; nothing runs.
//! let refused = unsafe {
//!     let (flags, stack, tid) = (CloneFlags::SIGHAND, null_mut(), null_mut());
//!     raw::clone(flags, ExitSignal::SIGCHLD, stack, tid, tid, 0, child, null_mut())
//! };
//! assert_eq!(refused, Err(Error::Flags(FlagError::SighandRequiresVm)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

//!
use core::ffi::c_void;

use crate::arch;
pub use crate::arch::ChildFn;
use crate::caller::caller_for;
use crate::clone_args::{CloneArgs, SIZE_VER2};
use crate::errno::from_syscall;
use crate::error::Error;
use crate::flags::{CloneFlags, ExitSignal};
use crate::kernel_version::KernelVersion;
use crate::sys::Pid;
use crate::validate::{Request, Syscall, validate};

/// Validates a legacy `clone()` request for this process on this kernel.
pub(crate) fn check_legacy(
    flags: CloneFlags,
    exit_signal: ExitSignal,
    stack_given: bool,
) -> Result<(), Error> {
    let mut request = Request::legacy(flags, exit_signal, KernelVersion::cached());
    request.stack_given = stack_given;
    request.caller = caller_for(flags, false);
    validate(&request).map_err(Error::Flags)
}

/// Validates a `clone3()` request for this process on this kernel.
pub(crate) fn check_clone3(args: &CloneArgs, size: usize) -> Result<(), Error> {
    let flags = args.clone_flags()?;
    let mut request = Request::clone3(flags, args.signal()?, KernelVersion::cached());
    request.syscall = Syscall::Clone3;
    request.stack_given = args.stack != 0;
    request.clone3 = args.shape(size);
    request.caller = caller_for(flags, args.set_tid != 0);
    validate(&request).map_err(Error::Flags)
}

/// `clone(flags | exit_signal, stack_top, ptid, ctid, tls)` with the child running
/// `func(arg)` on `stack_top`; returns the child's TID (or, with `CLONE_PIDFD`, also writes
/// its pidfd to `ptid`).
///
/// A null `stack_top` gives a fork-like child on a copy of the caller's stack: only sound
/// without `CLONE_VM`.
///
/// # Safety
/// - `stack_top` is null (and `CLONE_VM` is not set), or the top of memory the child may use
///   as its stack until it is gone (with `CLONE_VM`: memory nobody else uses meanwhile);
/// - `ptid`, `ctid` and `tls` are valid for what `flags` makes the kernel do with them
///   (`PARENT_SETTID`/`PIDFD` write an `i32` at `ptid`; `CHILD_SETTID` writes and
///   `CHILD_CLEARTID` clears an `i32` at `ctid`, possibly after this returns; `SETTLS` sets
///   the child's thread pointer to `tls`);
/// - `func(arg)` may run in the child under the rules of the [module docs](self).
#[allow(clippy::too_many_arguments)]
pub unsafe fn clone(
    flags: CloneFlags,
    exit_signal: ExitSignal,
    stack_top: *mut u8,
    ptid: *mut Pid,
    ctid: *mut Pid,
    tls: usize,
    func: ChildFn,
    arg: *mut c_void,
) -> Result<Pid, Error> {
    check_legacy(flags, exit_signal, !stack_top.is_null())?;
    // SAFETY: the caller upholds this function's contract, which is the same.
    let tid =
        unsafe { clone_unchecked(flags, exit_signal, stack_top, ptid, ctid, tls, func, arg) }?;
    Ok(tid)
}

/// `clone3(args, sizeof(args))` with the child running `func(arg)` on the stack described
/// by `args.stack` and `args.stack_size`; returns the child's TID.
///
/// # Safety
/// As [`clone`], for the stack, pointers and thread pointer `args` describes.
pub unsafe fn clone3(args: &mut CloneArgs, func: ChildFn, arg: *mut c_void) -> Result<Pid, Error> {
    check_clone3(args, SIZE_VER2)?;
    // SAFETY: the caller upholds this function's contract; `args` is SIZE_VER2 bytes.
    let tid = unsafe { clone3_unchecked(args, SIZE_VER2, func, arg) }?;
    Ok(tid)
}

/// `clone3` without the validator, for tests that compare the validator with the kernel.
///
/// # Safety
/// As [`clone3`].
#[doc(hidden)]
pub unsafe fn clone3_unchecked(
    args: &mut CloneArgs,
    size: usize,
    func: ChildFn,
    arg: *mut c_void,
) -> Result<Pid, crate::Errno> {
    // SAFETY: the caller upholds `clone3`'s contract.
    let ret = unsafe { arch::clone3((args as *mut CloneArgs).cast(), size, func, arg) };
    from_syscall(ret).map(|tid| tid as Pid)
}

/// Legacy `clone` without the validator, for tests that compare the validator with the
/// kernel.
///
/// # Safety
/// As [`clone`].
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn clone_unchecked(
    flags: CloneFlags,
    exit_signal: ExitSignal,
    stack_top: *mut u8,
    ptid: *mut Pid,
    ctid: *mut Pid,
    tls: usize,
    func: ChildFn,
    arg: *mut c_void,
) -> Result<Pid, crate::Errno> {
    let word = flags.bits() as usize | exit_signal.raw() as usize;
    // SAFETY: the caller upholds `clone`'s contract.
    let ret = unsafe { arch::clone(word, stack_top, ptid, ctid, tls, func, arg) };
    from_syscall(ret).map(|tid| tid as Pid)
}
