//! File descriptors: a raw number and an owning wrapper that closes on drop.

use core::fmt;
use core::marker::PhantomData;

/// A raw file descriptor number, as the kernel sees it.
pub type RawFd = i32;

/// An open file descriptor this value owns; it is closed when dropped.
///
/// The `close(2)` error on drop is ignored (the descriptor is released by the
/// kernel either way); call [`crate::sys::fs::close`] on [`OwnedFd::into_raw`] to
/// observe it.
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

    /// Gives up ownership: the caller must close the returned descriptor.
    pub fn into_raw(self) -> RawFd {
        let fd = self.fd;
        core::mem::forget(self);
        fd
    }
}

impl Drop for OwnedFd {
    fn drop(&mut self) {
        let _ = crate::sys::fs::close(self.fd);
    }
}

impl fmt::Debug for OwnedFd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OwnedFd").field(&self.fd).finish()
    }
}

/// A descriptor borrowed from an [`OwnedFd`] (or from something else that keeps it
/// open) for the lifetime `'a`.
#[derive(Clone, Copy)]
pub struct BorrowedFd<'a> {
    fd: RawFd,
    _owner: PhantomData<&'a OwnedFd>,
}

impl<'a> BorrowedFd<'a> {
    /// Borrows a descriptor that the caller keeps open for the chosen lifetime
    /// (e.g. `0`, `1`, `2` for a whole program).
    ///
    /// # Safety
    ///
    /// `fd` must stay open, and not be closed by anyone, for the lifetime `'a`.
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
