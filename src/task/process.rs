//! Process children: a closure run in a new process on its own stack ([`ChildBuilder`]), a
//! fork-like child on a copy of the caller's stack ([`fork`], [`fork_with`]), waiting for
//! them ([`Child::wait`], [`wait_pid`]) and reaping for inits ([`wait_any`],
//! [`reap_all_nonblocking`]).
//!
//! A [`Child`] keeps the child's stack until the kernel reports the child gone, so a
//! `CLONE_VM` child never runs on freed memory; it says which system call created it
//! ([`Child::via`]), so a fallback from `clone3()` to `clone()` is visible.
//!
//! When the closure returns, the child process ends with `exit_group(status)`, as returning
//! from `main` does: threads the closure started end with it.
//!
//! # What the child may do
//! A child without `CLONE_VM` ([`fork`], [`fork_with`], [`ChildBuilder`] without `CLONE_VM`)
//! runs on a copy of the caller's memory and keeps the caller's thread pointer, as after
//! `fork(2)`: in a std program it may use std (allocate, print, lock) exactly as a child of
//! `fork` in a single-threaded program may. So the safe calls require a single-threaded
//! caller ([`Error::MultiThreaded`](crate::Error::MultiThreaded) otherwise) and refuse
//! `CLONE_FILES` without `CLONE_VM` ([`Error::FilesWithoutVm`](crate::Error::FilesWithoutVm)).
//! A `CLONE_VM` child gets its own control block as thread pointer, which only an
//! [`entry!`](crate::entry) program allows
//! ([`Error::LibcOwnsThreadPointer`](crate::Error::LibcOwnsThreadPointer) otherwise). See
//! [`program`](crate::program) for why; the `unsafe` [`ChildBuilder::spawn_unchecked`],
//! [`fork_unchecked`] and [`fork_with_unchecked`] take these rules as written contracts
//! instead. The closure must not unwind out of the child (an `extern "C"` frame aborts the
//! process there). See [`raw`](crate::raw#what-the-child-may-touch) for the memory rules
//! with `CLONE_VM`.
//!
//! # References
//! clone(2), clone3(2), wait4(2), TLPI 28.2

// Only the public names are gathered here: spawning is in `task/spawn.rs`, the handle and
// the waits in `task/child.rs`, the children the kernel reaps in `task/autoreap.rs` (see
// `task/mod.rs` for why they are apart). Nothing else in the crate is defined here.
pub use crate::task::autoreap::{AutokillBuilder, AutokillChild, AutoreapBuilder, AutoreapChild};
pub use crate::task::child::{Child, reap_all_nonblocking, wait_any, wait_pid};
pub use crate::task::exit_status::ExitStatus;
pub use crate::task::spawn::{
    ChildBuilder, MANAGED_FLAGS, MAX_SET_TID, fork, fork_unchecked, fork_with, fork_with_unchecked,
};
pub use crate::validate::Syscall;
