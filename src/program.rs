//! What the running program is, as far as the safe spawners must know: whether clonekit
//! started it (so no libc owns the thread pointer), and whether it is single-threaded (so a
//! fork-like child inherits no lock held by another thread).
//!
//! # Why the safe spawners ask
//! Two kinds of program use clonekit, and the same safe call must be sound in both:
//!
//! - **`entry!` programs** (static, `no_std`, no libc): clonekit's `_start` gives the main
//!   thread a clonekit control block, and nothing else keeps per-thread state. A task with
//!   its own clonekit control block (a thread, or a `CLONE_VM` child) is sound there.
//! - **Programs with a libc** (every std program): the libc owns the thread pointer. Its
//!   `malloc`, stdio, `errno` and every `thread_local!` of std find their per-thread state
//!   through it. A task whose thread pointer is clonekit's control block runs ordinary safe
//!   code (`String::from`, `println!`) on the wrong state: undefined behaviour. So the safe
//!   [`thread::spawn`](crate::thread::spawn) and `CLONE_VM` children of
//!   [`ChildBuilder::spawn`](crate::process::ChildBuilder::spawn) refuse with
//!   [`Error::LibcOwnsThreadPointer`] there, and the `unsafe` `spawn_unchecked` variants
//!   state what their closures may call instead.
//!
//! Fork-like children (no `CLONE_VM`: [`fork`](crate::process::fork),
//! [`ChildBuilder`](crate::process::ChildBuilder) without `CLONE_VM`,
//! [`Container`](crate::container::Container), [`Init::run_main`](crate::init::Init::run_main))
//! keep the caller's thread pointer: the child has a copy of the caller's memory, its libc
//! state included, as after `fork(2)`. That is sound for any code exactly when the caller is
//! the only task in its address space: a lock another thread (or a `CLONE_VM` child) holds
//! is copied held, and the child waits for it forever (glibc's `fork` takes its own locks
//! around the call for that reason; a raw clone cannot take the locks of every library). So
//! they ask [`require_single_threaded`] first and refuse with [`Error::MultiThreaded`] (or
//! [`Error::AddressSpaceShared`]); the `unsafe` `*_unchecked` variants are for callers whose
//! child keeps to clonekit and core.
//!
//! Memory and descriptor table go together: a child with a copy of the memory must not
//! share the table (`CLONE_FILES` without `CLONE_VM`: [`Error::FilesWithoutVm`]), and tasks
//! that share the memory must share the table (`CLONE_VM` without `CLONE_FILES`, or
//! `unshare(CLONE_FILES)` by a task that shares its memory: [`Error::VmWithoutFiles`]).
//! Otherwise an `OwnedFd`, `File` or pidfd in memory names one file in one table and
//! another, or nothing, in the other: reads go to the wrong file, a drop closes someone
//! else's descriptor, and clonekit's own check that a `CLONE_VM` child is gone before its
//! stack is freed (its pidfd) could be answered by an unrelated descriptor.
//!
//! # What a fork-like child of a std program does not get
//! `fork(2)` in a libc runs the `pthread_atfork` handlers; a raw clone cannot. Libraries that
//! rely on them see the child as the parent: a user-space random generator seeded once per
//! process (such as `rand`'s `ThreadRng`) gives the child the same stream as the parent
//! (reseed in the child), and a glibc older than 2.25 would keep returning the parent's
//! pid from its cached `getpid()` (glibc dropped that cache in 2.25; clonekit's own
//! [`sys::process::getpid`](crate::sys::process::getpid) asks the kernel).
//!
//! [`Error::LibcOwnsThreadPointer`]: crate::Error::LibcOwnsThreadPointer
//! [`Error::MultiThreaded`]: crate::Error::MultiThreaded
//! [`Error::AddressSpaceShared`]: crate::Error::AddressSpaceShared
//! [`Error::FilesWithoutVm`]: crate::Error::FilesWithoutVm
//! [`Error::VmWithoutFiles`]: crate::Error::VmWithoutFiles
//!
//! ```
//! use clonekit::program;
//!
//! // This doc test is a std program: a libc owns the thread pointer.
//! assert!(!program::started_by_entry());
//! if !program::emulated() {
//!     // Natively, each doc test is a process of one thread, so fork-like children are sound.
//!     assert_eq!(program::address_space_private(), Ok(true));
//!     program::require_single_threaded()?;
//! }
//! # Ok::<(), clonekit::Error>(())
//! ```

use core::sync::atomic::{AtomicBool, Ordering};

use crate::errno::Errno;
use crate::error::Error;
use crate::flags::CloneFlags;
use crate::procfs;

pub use crate::emulator::emulated;

/// Set once by clonekit's `_start`, before `main`.
static STARTED_BY_ENTRY: AtomicBool = AtomicBool::new(false);

/// Whether clonekit's `_start` ([`entry!`](crate::entry)) started this program: then no libc
/// owns the thread pointer, and clonekit threads are sound.
pub fn started_by_entry() -> bool {
    STARTED_BY_ENTRY.load(Ordering::Relaxed)
}

/// Called by `_start`, single-threaded, before `main`.
pub(crate) fn note_started_by_entry() {
    STARTED_BY_ENTRY.store(true, Ordering::Relaxed);
}

/// `Ok` when a task with clonekit's own control block as thread pointer is sound here (an
/// `entry!` program); [`Error::LibcOwnsThreadPointer`] otherwise.
pub(crate) fn require_own_thread_pointer() -> Result<(), Error> {
    if started_by_entry() {
        Ok(())
    } else {
        Err(Error::LibcOwnsThreadPointer)
    }
}

/// Whether the calling task is alone in its address space: no other thread in its group,
/// no other process sharing its memory (a `CLONE_VM` child or parent).
///
/// The kernel's own answer: `unshare(CLONE_VM)` changes nothing, and succeeds exactly when
/// the caller is alone (`current_is_single_threaded()` in kernel/fork.c), else `EINVAL`.
/// It needs no `/proc` and no trust in one, and it cannot race: only the caller could add a
/// task to its address space, and it is busy here. Other errnos (`ENOSYS`, or `EPERM` from
/// a seccomp filter) are returned as they are.
pub fn address_space_private() -> Result<bool, Errno> {
    // SAFETY: unshare(CLONE_VM) alone unshares nothing: the kernel only checks that the
    // caller is alone in its address space (EINVAL otherwise) and returns.
    match unsafe { crate::sys::ns::unshare(CloneFlags::VM.bits() as u32) } {
        Ok(()) => Ok(true),
        Err(Errno::EINVAL) => Ok(false),
        Err(errno) => Err(errno),
    }
}

/// `Ok` when the calling task is alone in its address space (one thread, no `CLONE_VM`
/// sharer), so a fork-like child inherits no lock another task holds;
/// [`Error::MultiThreaded`] (or [`Error::AddressSpaceShared`]) otherwise. The safe
/// fork-like spawners ask it first; a caller may ask it too, to know beforehand.
///
/// Asked of the kernel with [`address_space_private`]. Under an emulator that implements
/// `clone` itself ([`emulated`]: qemu-user, whose own threads share its address space) the
/// emulated `/proc/self/stat` thread count answers instead ([`procfs::thread_count`], which
/// QEMU 10 fills and QEMU 7.2 does not: [`Error::ThreadCountUnknown`] there); so it does
/// where `unshare` is filtered out (`ENOSYS`, `EPERM`).
///
/// A thread that was just joined is still in its group for a moment (the kernel wakes its
/// joiner before it releases the task; longer under emulation), so a refusal is asked again,
/// yielding and then sleeping in between, for up to about 100 ms before it stands.
pub fn require_single_threaded() -> Result<(), Error> {
    let from_proc = || {
        procfs::thread_count()
            .map(|n| n == 1)
            .map_err(Error::ThreadCountUnknown)
    };
    for attempt in 0..RECOUNTS {
        let alone = if emulated() {
            from_proc()?
        } else {
            match address_space_private() {
                Ok(alone) => alone,
                Err(_) => from_proc()?,
            }
        };
        if alone {
            return Ok(());
        }
        if attempt < YIELDS {
            crate::sys::process::sched_yield();
        } else {
            let _ = crate::sys::time::nanosleep(&crate::sys::time::Timespec::new(0, 1_000_000));
        }
    }
    // Refused: say why, as well as can be told.
    Err(match procfs::thread_count() {
        Ok(threads) if threads > 1 => Error::MultiThreaded { threads },
        _ => Error::AddressSpaceShared,
    })
}

/// How often [`require_single_threaded`] asks before it refuses: [`YIELDS`] times after a
/// `sched_yield`, then after a 1 ms sleep each (about 100 ms in all, spent only when the
/// answer is no).
const RECOUNTS: usize = YIELDS + 100;
const YIELDS: usize = 32;
