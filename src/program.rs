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
//! the only thread: a lock another thread holds is copied held, and the child waits for it
//! forever (glibc's `fork` takes its own locks around the call for that reason; a raw clone
//! cannot take the locks of every library). So they ask [`require_single_threaded`] first
//! and refuse with [`Error::MultiThreaded`]; the `unsafe` `*_unchecked` variants are for
//! multithreaded callers whose child keeps to clonekit and core.
//!
//! A fork-like child must also not share the descriptor table while it has a copy of the
//! memory (`CLONE_FILES` without `CLONE_VM`): the descriptors that the copies of every
//! `OwnedFd` and `File` name would then be closed for both by either. That is
//! [`Error::FilesWithoutVm`].
//!
//! [`Error::LibcOwnsThreadPointer`]: crate::Error::LibcOwnsThreadPointer
//! [`Error::MultiThreaded`]: crate::Error::MultiThreaded
//! [`Error::FilesWithoutVm`]: crate::Error::FilesWithoutVm

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::error::Error;
use crate::procfs;

/// Set once by clonekit's `_start`, before `main`.
static STARTED_BY_ENTRY: AtomicBool = AtomicBool::new(false);

/// Clonekit threads of an `entry!` program that may still run code of their own: counted up
/// before the thread is created and down when its closure has returned (after which it only
/// exits). Threads made with [`raw`](crate::raw) are not counted (see its contract), nor
/// is a thread whose closure ends it with a raw `exit` (it stays counted: refusals, never
/// too few). `CLONE_VM` children are processes of their own, counted neither here nor by
/// the kernel's thread count: in a libc program they run only under `spawn_unchecked`'s
/// contract (no libc, so they hold none of its locks); a lock of your own that one holds is
/// copied held like any other memory.
static LIVE_THREADS: AtomicUsize = AtomicUsize::new(0);

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

/// `Ok` when the calling process has one thread, so a fork-like child inherits no lock that
/// another thread holds; [`Error::MultiThreaded`] with the count otherwise. The safe
/// fork-like spawners ask it first; a caller may ask it too, to know beforehand.
///
/// In an `entry!` program every thread is clonekit's, and clonekit counts those whose
/// closure has not returned: no other thread can hold a lock once that count is 0, so it
/// answers without a syscall (threads made with [`raw`](crate::raw) are not counted: see
/// its contract). Elsewhere the kernel's count ([`procfs::thread_count`]) is authoritative
/// and race-free here: with one thread, only the caller could add another, and it is busy
/// in this call. A process without a readable count gets [`Error::ThreadCountUnknown`].
///
/// A thread that was just joined is still counted by the kernel for a moment (it wakes its
/// joiner before it is released, longer under emulation), so a count above one is read
/// again, yielding and then sleeping in between, for up to about 20 ms before the refusal.
pub fn require_single_threaded() -> Result<(), Error> {
    if started_by_entry() {
        return match LIVE_THREADS.load(Ordering::Acquire) {
            0 => Ok(()),
            live => Err(Error::MultiThreaded {
                threads: 1 + live as u64,
            }),
        };
    }
    let mut threads = 0;
    for attempt in 0..RECOUNTS {
        threads = procfs::thread_count().map_err(Error::ThreadCountUnknown)?;
        if threads == 1 {
            return Ok(());
        }
        if attempt < YIELDS {
            crate::sys::process::sched_yield();
        } else {
            let _ = crate::sys::time::nanosleep(&crate::sys::time::Timespec::new(0, 200_000));
        }
    }
    Err(Error::MultiThreaded { threads })
}

/// How often [`require_single_threaded`] counts before it refuses: [`YIELDS`] times after a
/// `sched_yield`, then after a 200 µs sleep each (about 20 ms in all).
const RECOUNTS: usize = YIELDS + 100;
const YIELDS: usize = 32;

/// Marks a clonekit thread as started (see [`LIVE_THREADS`]); undo with
/// [`thread_finished`] when its creation failed or its closure returned.
pub(crate) fn thread_started() {
    LIVE_THREADS.fetch_add(1, Ordering::AcqRel);
}

/// See [`thread_started`].
pub(crate) fn thread_finished() {
    LIVE_THREADS.fetch_sub(1, Ordering::AcqRel);
}

/// Whether this program runs under an emulator that implements `clone` itself (qemu-user):
/// `clone3` is missing (`ENOSYS`) although the kernel `uname` reports has it (5.3 and
/// later). Such an emulator refuses flags the kernel allows; errors say so instead of
/// leaving a bare `EINVAL`.
pub fn emulated() -> bool {
    if crate::KernelVersion::cached() < crate::KernelVersion::new(5, 3, 0) {
        return false;
    }
    // SAFETY: clone3 with a NULL args pointer and size 0 is refused by the kernel's size
    // check (EINVAL) before it reads memory or creates a task; an emulator without clone3
    // answers ENOSYS.
    let ret = unsafe { sc::syscall2(linux_raw_sys::general::__NR_clone3 as usize, 0, 0) };
    crate::errno::from_syscall(ret) == Err(crate::Errno::ENOSYS)
}
