//! clonekit: Linux's `clone()` family with its full power, `no_std`, no libc, no allocator.
//!
//! Every `CLONE_*` flag is a typed [`CloneFlags`] value; the exit signal is a separate
//! [`ExitSignal`]. Before any syscall, [`validate()`] checks a request against the kernel's own
//! combination rules, in the kernel's order, and names the one rule broken ([`FlagError`],
//! with the kernel's errno). Hand-written `asm!` trampolines per arch (x86_64, aarch64,
//! riscv64) start a child on a stack you give it; above them sit threads with a TCB and a
//! futex join ([`thread`]), process children and `wait` ([`process`]), pidfds ([`pidfd`]),
//! vfork-style program spawning ([`exec`]) and the expert entry points ([`raw`]).
//!
//! # The flags (TLPI 28.2.1)
//!
//! | Flag | Effect when set | Used by | [`CloneFlags`] |
//! |---|---|---|---|
//! | `CLONE_FILES` | Share the open file descriptor table | POSIX threads | [`FILES`](CloneFlags::FILES) |
//! | `CLONE_FS` | Share filesystem info (umask, cwd, root) | POSIX threads | [`FS`](CloneFlags::FS) |
//! | `CLONE_SIGHAND` | Share the signal disposition table | POSIX threads | [`SIGHAND`](CloneFlags::SIGHAND) |
//! | `CLONE_VM` | Share virtual memory (same page tables) | POSIX threads, `vfork()` | [`VM`](CloneFlags::VM) |
//! | `CLONE_THREAD` | Place the child in the parent's thread group (share PID) | NPTL | [`THREAD`](CloneFlags::THREAD) |
//! | `CLONE_SYSVSEM` | Share System V semaphore undo values | NPTL | [`SYSVSEM`](CloneFlags::SYSVSEM) |
//! | `CLONE_SETTLS` | Set up thread-local storage from the `tls` argument | NPTL | [`SETTLS`](CloneFlags::SETTLS) |
//! | `CLONE_PARENT_SETTID` | Write the child's TID to `ptid` before returning | NPTL | [`PARENT_SETTID`](CloneFlags::PARENT_SETTID) |
//! | `CLONE_CHILD_SETTID` | Write the child's TID to `ctid` in the child's memory | 2.6+ | [`CHILD_SETTID`](CloneFlags::CHILD_SETTID) |
//! | `CLONE_CHILD_CLEARTID` | Zero `ctid` on exit and wake its futex (`pthread_join`) | NPTL | [`CHILD_CLEARTID`](CloneFlags::CHILD_CLEARTID) |
//! | `CLONE_NEWNS` | New mount namespace (a copy of the parent's) | Containers | [`NEWNS`](CloneFlags::NEWNS) |
//! | `CLONE_NEWIPC` | New System V IPC namespace | Containers | [`NEWIPC`](CloneFlags::NEWIPC) |
//! | `CLONE_NEWNET` | New network namespace | Containers | [`NEWNET`](CloneFlags::NEWNET) |
//! | `CLONE_NEWPID` | New PID namespace (the child is its PID 1) | Containers | [`NEWPID`](CloneFlags::NEWPID) |
//! | `CLONE_NEWUSER` | New user and group ID namespace | Containers | [`NEWUSER`](CloneFlags::NEWUSER) |
//! | `CLONE_NEWUTS` | New UTS namespace (hostname, domain name) | Containers | [`NEWUTS`](CloneFlags::NEWUTS) |
//! | `CLONE_PARENT` | The child's parent is the caller's parent (same PPID) | 2.4+ | [`PARENT`](CloneFlags::PARENT) |
//! | `CLONE_VFORK` | Suspend the parent until the child execs or exits | `vfork()` | [`VFORK`](CloneFlags::VFORK) |
//! | `CLONE_PTRACE` | Trace the child if the parent is traced | Debuggers | [`PTRACE`](CloneFlags::PTRACE) |
//! | `CLONE_UNTRACED` | A tracer cannot force `CLONE_PTRACE` on the child | Kernel threads | [`UNTRACED`](CloneFlags::UNTRACED) |
//! | `CLONE_IO` | Share the I/O context | 2.6.25+ | [`IO`](CloneFlags::IO) |
//! | `CLONE_PIDFD` | Return a pidfd for the child | 5.2+ | [`PIDFD`](CloneFlags::PIDFD) |
//! | `CLONE_NEWCGROUP` | New cgroup namespace | 4.6+ | [`NEWCGROUP`](CloneFlags::NEWCGROUP) |
//! | `CLONE_NEWTIME` | New time namespace (`clone3`/`unshare` only) | 5.6+ | [`NEWTIME`](CloneFlags::NEWTIME) |
//! | `CLONE_CLEAR_SIGHAND` | Reset handled signals to default in the child (`clone3`) | 5.5+ | [`CLEAR_SIGHAND`](CloneFlags::CLEAR_SIGHAND) |
//! | `CLONE_INTO_CGROUP` | Start the child in a given cgroup2 directory (`clone3`) | 5.7+ | [`INTO_CGROUP`](CloneFlags::INTO_CGROUP) |
//! | `CLONE_DETACHED` | Ignored by `clone`; refused by `clone3` and with `CLONE_PIDFD` | — | [`DETACHED`](CloneFlags::DETACHED) |
//!
//! # The rules, checked first
//!
//! ```
//! use clonekit::{CloneFlags, ExitSignal, FlagError, KernelVersion, validate};
//! use clonekit::validate::Request;
//!
//! // CLONE_SIGHAND requires CLONE_VM (shared handlers need shared memory).
//! let request = Request::legacy(CloneFlags::SIGHAND, ExitSignal::SIGCHLD, KernelVersion::V6_9);
//! assert_eq!(validate(&request), Err(FlagError::SighandRequiresVm));
//! assert_eq!(FlagError::SighandRequiresVm.errno(), clonekit::Errno::EINVAL);
//!
//! // The flag set of NPTL's pthread_create() passes.
//! let request = Request::legacy(CloneFlags::NPTL_THREAD, ExitSignal::NONE, KernelVersion::V6_9);
//! assert_eq!(validate(&request), Ok(()));
//! ```
//!
//! # Sound in std programs and in `entry!` programs
//! No safe function here can cause undefined behaviour, in an ordinary std program (with a
//! libc) or in a static program started by [`entry!`]. Where the types cannot tell, the
//! call checks at run time and refuses with a typed [`Error`]; an `unsafe` variant with a
//! written contract is there for callers who know more. The model, in one place, is
//! [`program`]'s: threads and `CLONE_VM` children need a program clonekit started
//! ([`Error::LibcOwnsThreadPointer`] elsewhere); fork-like children keep the caller's libc
//! state, as after `fork(2)`, and need a single-threaded caller ([`Error::MultiThreaded`]);
//! descriptors follow std's I/O-safety rules ([`fd`]).
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

// The source is laid out in rooms by kernel concept (`arch/`, `sys/`, `task/`, `ns/`; see
// docs/architecture.md); the public paths stay one level deep (`clonekit::thread`,
// `clonekit::container`), re-exported from their rooms below.

// Without unsafe code, which the compiler holds them to (`deny(unsafe_code)` above).
/// The calling process as the kernel's rules see it (its public items are in `namespace`).
mod caller;
pub mod clone_args;
pub mod errno;
pub mod error;
pub mod flags;
pub mod kernel_version;
pub mod validate;

// Where unsafe code must live: system calls and the machine, memory the kernel writes,
// stacks, thread pointers and descriptors by number. Each `unsafe` block says why it holds
// (`// SAFETY:`, checked by clippy), each `unsafe fn` what its caller must hold (`# Safety`).
#[allow(unsafe_code)]
mod arch;
#[allow(unsafe_code)]
pub mod console;
mod emulator;
#[allow(unsafe_code)]
pub mod init;
#[allow(unsafe_code)]
pub mod procfs;
#[allow(unsafe_code)]
pub mod program;
#[allow(unsafe_code)]
pub mod rt;
#[allow(unsafe_code)]
pub mod sys;
/// Descriptors as owned and borrowed values (I/O safety); they live in `sys` beside `close`.
pub use sys::fd;

/// Tasks: stacks, the raw clone entry points, threads, process children, pidfds, exec.
mod task;
pub use task::{exec, pidfd, process, raw, stack, thread};

/// Namespaces: unshare/setns, id maps, mounts, containers.
mod ns;
pub use ns::{container, idmap, mount, namespace};

pub use clone_args::CloneArgs;
pub use errno::Errno;

/// clonekit's one `Result`: [`Error`] for what spawns and checks (a refused rule, a stack,
/// the kernel), [`Errno`] spelled out where a system call is all there is
/// (`Result<T, Errno>`).
pub type Result<T, E = Error> = core::result::Result<T, E>;
pub use error::Error;
pub use fd::OwnedFd;
pub use flags::{CloneFlags, ExitSignal};
pub use kernel_version::KernelVersion;
pub use stack::Stack;
pub use validate::{FlagError, validate};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
