//! Proofs of what clonekit's namespace support isolates, each observable from the kernel
//! (hostnames, pids, mounts, queues, interfaces, uids, clocks, errnos), written once and run
//! in two places: natively by `tests/namespaces.rs` (as root) and in the QEMU guest by the
//! init demo, on every arch.
//!
//! `no_std` and allocation-free; every child a proof starts runs only clonekit code, so a
//! proof may run inside a std test binary.
#![no_std]

use core::fmt;
use core::sync::atomic::AtomicI64;

use clonekit::fd::{OwnedFd, RawFd};
use clonekit::process::ExitStatus;
use clonekit::sys::fs::{self, PipeFlags};
use clonekit::sys::mm::{self, MapFlags, ProtFlags};

pub mod namespaces;

/// Why a proof failed: what was checked, and the values seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// What was checked.
    pub what: &'static str,
    /// The value the kernel should have shown.
    pub expected: i64,
    /// The value it showed.
    pub got: i64,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {}, got {}",
            self.what, self.expected, self.got
        )
    }
}

/// A proof's result.
pub type Outcome = Result<(), Failure>;

/// A named proof.
#[derive(Clone, Copy)]
pub struct Proof {
    /// The KTAP case name: says what it proves.
    pub name: &'static str,
    /// Runs it.
    pub run: fn() -> Outcome,
}

/// Fails with `what` unless `got == expected`.
pub fn expect(what: &'static str, expected: i64, got: i64) -> Outcome {
    if got == expected {
        Ok(())
    } else {
        Err(Failure {
            what,
            expected,
            got,
        })
    }
}

/// Fails with `what` unless `cond` (shown as expected 1, got 0).
pub fn expect_true(what: &'static str, cond: bool) -> Outcome {
    expect(what, 1, i64::from(cond))
}

/// Turns a clonekit error (an `Errno` or an `Error`) into a failure of `what`, showing the
/// errno.
pub fn ok_or_fail<T, E: Into<clonekit::Error>>(
    what: &'static str,
    r: Result<T, E>,
) -> Result<T, Failure> {
    r.map_err(|e| Failure {
        what,
        expected: 0,
        got: -i64::from(e.into().errno().raw()),
    })
}

/// A child's exit as one number: its code, or 128 + the signal that killed it.
pub fn status_code(status: ExitStatus) -> i64 {
    i64::from(clonekit::init::exit_code(status))
}

/// Checks that a child passed: children return 0, or the number of the step that failed.
pub fn child_passed(
    what: &'static str,
    status: clonekit::Result<ExitStatus, clonekit::Errno>,
) -> Outcome {
    let status = ok_or_fail(what, status)?;
    expect(what, 0, status_code(status))
}

/// A one-shot gate between a parent and a child that does not share its memory: the child
/// blocks in [`Gate::wait`] until the parent calls [`Gate::open`] (or drops the gate).
pub struct Gate {
    read: OwnedFd,
    write: Option<OwnedFd>,
}

impl Gate {
    /// A new, closed gate.
    pub fn new() -> Result<Gate, Failure> {
        let (read, write) = ok_or_fail("pipe2 for a gate", fs::pipe2(PipeFlags::CLOEXEC))?;
        Ok(Gate {
            read,
            write: Some(write),
        })
    }

    /// The numbers of the descriptors the child needs (read end, write end to close), to
    /// capture in a child closure that must be `'static`; used there by [`Gate::wait`].
    pub fn child_side(&self) -> ChildSide {
        ChildSide {
            read: self.read.as_raw(),
            write: self.write.as_ref().map(OwnedFd::as_raw),
        }
    }

    /// In the child: closes its copy of the write end, then waits for the parent. `true` if
    /// the parent opened the gate, `false` if it went away.
    ///
    /// # Safety
    /// Only in a child of the gate's process that was created while the gate existed and
    /// has its own copy of the descriptor table (no `CLONE_FILES`), in which nothing else
    /// uses the gate's descriptors: its copy of the `Gate` is never dropped there (true of
    /// every clonekit child, which ends without returning into the parent's frames). The
    /// child then owns its copies of both ends, which this closes.
    pub unsafe fn wait(side: ChildSide) -> bool {
        // SAFETY: the caller's contract: the child owns its copies of both numbers.
        let (read, write) = unsafe {
            (
                OwnedFd::from_raw(side.read),
                side.write.map(|fd| OwnedFd::from_raw(fd)),
            )
        };
        drop(write);
        let mut byte = [0u8; 1];
        loop {
            match fs::read(read.as_fd(), &mut byte) {
                Ok(n) => return n == 1,
                Err(clonekit::Errno::EINTR) => continue,
                Err(_) => return false,
            }
        }
    }

    /// In the parent: lets the child go on.
    pub fn open(&mut self) {
        if let Some(w) = self.write.take() {
            let _ = fs::write(w.as_fd(), b"1");
        }
    }
}

/// The numbers of a [`Gate`]'s descriptors, for its child ([`Gate::child_side`]).
#[derive(Debug, Clone, Copy)]
pub struct ChildSide {
    read: RawFd,
    write: Option<RawFd>,
}

/// A page of `i64` slots shared with children that do not share our memory (MAP_SHARED).
pub struct SharedSlots {
    slots: core::ptr::NonNull<AtomicI64>,
}

/// Slots in a [`SharedSlots`] page.
pub const SLOTS: usize = 512;

impl SharedSlots {
    /// A fresh zeroed page.
    pub fn new() -> Result<SharedSlots, Failure> {
        let page = ok_or_fail(
            "mmap a shared page",
            mm::mmap_anonymous(4096, ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED),
        )?;
        Ok(SharedSlots { slots: page.cast() })
    }

    /// Slot `i` (panics past [`SLOTS`]).
    pub fn slot(&self, i: usize) -> &AtomicI64 {
        assert!(i < SLOTS);
        // SAFETY: the page holds SLOTS zero-initialised AtomicI64s and lives as long as self.
        unsafe { &*self.slots.as_ptr().add(i) }
    }

    /// Waits (polling each millisecond, 10 s at most) until a child sets slot `i` to a
    /// non-zero value, and returns the value (0 if it never did).
    pub fn wait_nonzero(&self, i: usize) -> i64 {
        for _ in 0..10_000 {
            let value = self.slot(i).load(core::sync::atomic::Ordering::SeqCst);
            if value != 0 {
                return value;
            }
            let _ = clonekit::sys::time::nanosleep(&clonekit::sys::time::Timespec::from_millis(1));
        }
        0
    }

    /// The page's address, to capture in a child closure (which sees the same mapping).
    pub fn addr(&self) -> usize {
        self.slots.as_ptr() as usize
    }

    /// Slot `i` of the page at `addr`, for use inside a child.
    ///
    /// # Safety
    /// `addr` must come from [`SharedSlots::addr`] of a page that is still mapped.
    pub unsafe fn at(addr: usize, i: usize) -> &'static AtomicI64 {
        assert!(i < SLOTS);
        // SAFETY: the caller guarantees the page is mapped; the slot is in bounds.
        unsafe { &*(addr as *const AtomicI64).add(i) }
    }
}

impl Drop for SharedSlots {
    fn drop(&mut self) {
        // SAFETY: our own mapping; children that shared it have their own reference to it.
        let _ = unsafe { mm::munmap(self.slots.as_ptr().cast(), 4096) };
    }
}
