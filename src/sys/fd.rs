//! File descriptors: a raw number, an owning wrapper that closes on drop, and a borrow.
//!
//! # I/O safety
//! As in std, a descriptor number is a resource with one owner: no safe clonekit function
//! takes a raw number to read, write, close or replace. They take an [`OwnedFd`] (closing
//! it consumes it: [`sys::fs::close`](crate::sys::fs::close)) or a [`BorrowedFd`] that
//! cannot outlive its owner. Raw numbers enter only through `unsafe` calls with a written
//! contract: [`OwnedFd::from_raw`], [`BorrowedFd::borrow_raw`],
//! [`sys::fs::dup3`](crate::sys::fs::dup3).
//!
//! A fork-like child (no `CLONE_FILES`) has its own copy of the descriptor table, in which
//! its copies of the parent's descriptors are open; a closure that captured a number may
//! borrow it there (or take it over: its copy of the parent's owner is never dropped in a
//! clonekit child, which ends without returning into the parent's frames), in `unsafe` code
//! that says so.

use core::fmt;
use core::marker::PhantomData;

/// A raw file descriptor number, as the kernel sees it.
pub type RawFd = i32;

/// An open file descriptor this value owns; it is closed when dropped.
///
/// The `close(2)` error on drop is ignored (the descriptor is released by the
/// kernel either way); [`crate::sys::fs::close`] consumes the `OwnedFd` and reports it.
pub struct OwnedFd {
    fd: RawFd,
}

impl OwnedFd {
    /// Takes ownership of `fd`.
    ///
    /// # Safety
    ///
    /// `fd` must be an open descriptor that nothing else owns or will close: this
    /// value closes it on drop, and a number closed twice may by then name another
    /// owner's file (for example a memory-mapped one).
    pub const unsafe fn from_raw(fd: RawFd) -> OwnedFd {
        OwnedFd { fd }
    }

    /// The descriptor number, still owned by `self`.
    pub const fn as_raw(&self) -> RawFd {
        self.fd
    }

    /// A borrow of the descriptor that cannot outlive `self`.
    pub const fn as_fd(&self) -> BorrowedFd<'_> {
        BorrowedFd {
            fd: self.fd,
            _owner: PhantomData,
        }
    }

    /// Gives up ownership: the caller owns the returned number (to close it, or to hand
    /// it on with [`OwnedFd::from_raw`]).
    pub fn into_raw(self) -> RawFd {
        let fd = self.fd;
        core::mem::forget(self);
        fd
    }
}

impl Drop for OwnedFd {
    fn drop(&mut self) {
        // SAFETY: `self` owns the descriptor (`from_raw`'s contract) and is dropped once.
        let _ = unsafe { close_raw(self.fd) };
    }
}

impl fmt::Debug for OwnedFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnedFd").field(&self.fd).finish()
    }
}

/// A descriptor borrowed from an [`OwnedFd`] (or from something else that keeps it
/// open) for the lifetime `'a`.
///
/// Its number is an open descriptor for all of `'a`, or the one special value `AT_FDCWD`
/// (-100, [`sys::fs::CWD`](crate::sys::fs::CWD)): not a descriptor, never closed, which the
/// `*at` calls read as "the working directory" and every other call refuses with `EBADF`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BorrowedFd<'a> {
    fd: RawFd,
    _owner: PhantomData<&'a OwnedFd>,
}

impl<'a> BorrowedFd<'a> {
    /// Borrows a descriptor that the caller keeps open for the chosen lifetime
    /// (e.g. `0`, `1`, `2` for a whole program, which by convention are always open).
    ///
    /// # Safety
    ///
    /// `fd` must stay open, and not be closed or replaced by anyone, for the lifetime `'a`
    /// (or be `AT_FDCWD`, see [`BorrowedFd`]).
    pub const unsafe fn borrow_raw(fd: RawFd) -> BorrowedFd<'a> {
        BorrowedFd {
            fd,
            _owner: PhantomData,
        }
    }

    /// The descriptor number.
    pub const fn as_raw(&self) -> RawFd {
        self.fd
    }
}

impl fmt::Debug for BorrowedFd<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BorrowedFd").field(&self.fd).finish()
    }
}

/// `close(fd)` on a number: what [`sys::fs::close`](crate::sys::fs::close) and `OwnedFd`'s
/// drop make. Here, beside the owner, so that the descriptor types depend on nothing else.
///
/// # Safety
/// The caller owns `fd` and nothing uses the number afterwards as the descriptor it was.
pub(crate) unsafe fn close_raw(fd: RawFd) -> Result<(), crate::Errno> {
    // SAFETY: close takes no pointers; the caller owns `fd`.
    crate::errno::from_syscall(unsafe {
        sc::syscall1(linux_raw_sys::general::__NR_close as usize, fd as usize)
    })
    .map(drop)
}
