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
//! ```
//! use clonekit::{CloneFlags, ExitSignal};
//! use clonekit::process::{ChildBuilder, ExitStatus, fork};
//! # // qemu-user may run doc tests beside other threads, and 7.2 gives no thread count: the
//! # // fork-like child is refused there (see program::emulated).
//! # if clonekit::program::emulated() && clonekit::program::require_single_threaded().is_err() {
//! #     return Ok(());
//! # }
//!
//! // A fork-like child: std works in it (a single-threaded caller: this doc test).
//! let mut child = fork(|| {
//!     let greeting = format!("hello from {}", std::process::id());
//!     if greeting.starts_with("hello") { 3 } else { 1 }
//! })?;
//! assert_eq!(child.wait()?, ExitStatus::Exited(3));
//!
//! # if clonekit::program::emulated() {
//! #     return Ok(()); // qemu-user refuses exit signals other than SIGCHLD
//! # }
//! // A child on a stack of its own that sends no signal at its exit (SIGCHLD is the default):
//! // the wait takes it all the same (clonekit waits with __WALL). `via()` says which system
//! // call made it.
//! let mut child = ChildBuilder::new(CloneFlags::empty())
//!     .exit_signal(ExitSignal::NONE)
//!     .stack_size(64 * 1024)
//!     .spawn(|| 0)?;
//! println!("started by {:?}", child.via());
//! assert!(child.wait()?.success());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
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
