//! Memory mappings: `mmap`, `munmap`, `mprotect`.
//!
//! Creating a fresh anonymous mapping is safe ([`mmap_anonymous`]): it touches no
//! memory anyone else refers to. Anything that can replace, remove or re-protect
//! existing memory ([`mmap`] with a fixed address, [`munmap`], [`mprotect`]) is
//! `unsafe`.
//!
//! ```
//! use clonekit::sys::mm::{self, MapFlags, ProtFlags};
//!
//! let len = 4096;
//! let page = mm::mmap_anonymous(len, ProtFlags::READ | ProtFlags::WRITE, MapFlags::empty())?;
//! // SAFETY: a fresh mapping of `len` bytes that nothing else refers to.
//! unsafe { page.as_ptr().write_bytes(0xab, len) };
//! // SAFETY: as above; byte 100 is inside it.
//! assert_eq!(unsafe { *page.as_ptr().add(100) }, 0xab);
//! // SAFETY: nothing refers to the mapping any more.
//! unsafe { mm::munmap(page.as_ptr().cast(), len) }?;
//! # Ok::<(), clonekit::Errno>(())
//! ```

use crate::errno::from_syscall;
use crate::fd::BorrowedFd;
use crate::{Errno, Result};
use core::ffi::c_void;
use core::ptr::NonNull;
use linux_raw_sys::general as g;
use sc::{syscall2, syscall3, syscall6};

bitflags::bitflags! {
    /// `PROT_*`: what a mapping allows.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct ProtFlags: u32 {
        /// `PROT_READ`.
        const READ = g::PROT_READ;
        /// `PROT_WRITE`.
        const WRITE = g::PROT_WRITE;
        /// `PROT_EXEC`.
        const EXEC = g::PROT_EXEC;
        /// `PROT_GROWSDOWN` (for `mprotect` on a grows-down stack).
        const GROWSDOWN = g::PROT_GROWSDOWN;
    }
}

bitflags::bitflags! {
    /// `MAP_*`: how a mapping is made. Exactly one of `SHARED` / `PRIVATE` is required.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct MapFlags: u32 {
        /// `MAP_SHARED`: writes are shared with other mappings of the object (and, for
        /// anonymous memory, with fork / clone children).
        const SHARED = g::MAP_SHARED;
        /// `MAP_PRIVATE`: copy-on-write.
        const PRIVATE = g::MAP_PRIVATE;
        /// `MAP_FIXED`: place exactly at `addr`, replacing what was there.
        const FIXED = g::MAP_FIXED;
        /// `MAP_FIXED_NOREPLACE`: place exactly at `addr` or fail with `EEXIST`.
        const FIXED_NOREPLACE = g::MAP_FIXED_NOREPLACE;
        /// `MAP_ANONYMOUS`: zero-filled memory, no file.
        const ANONYMOUS = g::MAP_ANONYMOUS;
        /// `MAP_NORESERVE`: no swap reservation.
        const NORESERVE = g::MAP_NORESERVE;
        /// `MAP_GROWSDOWN`.
        const GROWSDOWN = g::MAP_GROWSDOWN;
        /// `MAP_STACK`: a hint that this is a thread stack (no THP).
        const STACK = g::MAP_STACK;
        /// `MAP_POPULATE`: prefault the pages.
        const POPULATE = g::MAP_POPULATE;
    }
}

/// `mmap(addr, len, prot, flags, fd, offset)`: maps memory, returning its address. `fd` is
/// the file to map (`None`: -1, for `ANONYMOUS`); the mapping keeps its own reference to
/// the file, so the descriptor may be closed afterwards.
///
/// # Safety
///
/// With `MapFlags::FIXED` the range `addr..addr+len` is replaced whatever it held:
/// the caller must own that range (nothing else may refer to memory there). Without
/// `FIXED`, `addr` is only a hint and this cannot disturb existing memory; use
/// [`mmap_anonymous`] for the safe common case.
///
/// # References
/// mmap(2)
pub unsafe fn mmap(
    addr: *mut c_void,
    len: usize,
    prot: ProtFlags,
    flags: MapFlags,
    fd: Option<BorrowedFd<'_>>,
    offset: u64,
) -> Result<NonNull<c_void>, Errno> {
    // SAFETY: the caller promises a FIXED range is theirs to replace; otherwise the
    // kernel picks fresh address space.
    let ret = from_syscall(unsafe {
        syscall6(
            g::__NR_mmap as usize,
            addr as usize,
            len,
            prot.bits() as usize,
            flags.bits() as usize,
            fd.map_or(-1, |fd| fd.as_raw()) as usize,
            offset as usize,
        )
    })?;
    NonNull::new(ret as *mut c_void).ok_or(Errno::ENOMEM)
}

/// `mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | extra, -1, 0)`: fresh
/// zero-filled memory. `extra` may add `NORESERVE`, `STACK`, `POPULATE`,
/// `GROWSDOWN`, or `SHARED` (which replaces `PRIVATE`: memory shared with fork
/// children); `FIXED` and `FIXED_NOREPLACE` are refused with `EINVAL`.
///
/// The memory is not freed automatically: unmap it with [`munmap`].
///
/// # References
/// mmap(2)
pub fn mmap_anonymous(len: usize, prot: ProtFlags, extra: MapFlags) -> Result<NonNull<u8>, Errno> {
    if extra.intersects(MapFlags::FIXED | MapFlags::FIXED_NOREPLACE) {
        return Err(Errno::EINVAL);
    }
    let mut flags = extra | MapFlags::ANONYMOUS;
    if !flags.contains(MapFlags::SHARED) {
        flags |= MapFlags::PRIVATE;
    }
    // SAFETY: neither FIXED flag is set, so the kernel picks address space nothing
    // refers to.
    unsafe { mmap(core::ptr::null_mut(), len, prot, flags, None, 0) }.map(NonNull::cast)
}

/// `munmap(addr, len)`: removes mappings in the range.
///
/// # Safety
///
/// Nothing may use (or hold a reference into) `addr..addr+len` afterwards: the
/// caller must own the whole range, e.g. a mapping it got from [`mmap_anonymous`].
///
/// # References
/// munmap(2)
pub unsafe fn munmap(addr: *mut c_void, len: usize) -> Result<(), Errno> {
    // SAFETY: the caller promises the range is theirs and unused from now on.
    from_syscall(unsafe { syscall2(g::__NR_munmap as usize, addr as usize, len) }).map(drop)
}

/// `mprotect(addr, len, prot)`: changes the protection of the pages in the range.
///
/// # Safety
///
/// The caller must own the range: removing access from memory other code still
/// reads or writes (or adding `EXEC` to data) breaks that code's assumptions.
///
/// # References
/// mprotect(2)
pub unsafe fn mprotect(addr: *mut c_void, len: usize, prot: ProtFlags) -> Result<(), Errno> {
    // SAFETY: the caller promises the range is theirs to re-protect.
    from_syscall(unsafe {
        syscall3(
            g::__NR_mprotect as usize,
            addr as usize,
            len,
            prot.bits() as usize,
        )
    })
    .map(drop)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    const LEN: usize = 3 * 65536; // a multiple of every page size in use (4K..64K)

    #[test]
    fn mmap_mprotect_munmap_round_trip() {
        let p =
            mmap_anonymous(LEN, ProtFlags::READ | ProtFlags::WRITE, MapFlags::NORESERVE).unwrap();
        let base = p.as_ptr();
        // SAFETY: the fresh mapping is LEN bytes, readable and writable, and ours.
        unsafe {
            assert_eq!(*base.add(LEN - 1), 0, "anonymous memory is zero-filled");
            base.write(0xA5);
            base.add(LEN - 1).write(0x5A);
        }
        // SAFETY: the mapping is ours; only reads follow.
        unsafe { mprotect(base.cast(), LEN, ProtFlags::READ) }.unwrap();
        // SAFETY: still mapped and readable.
        unsafe {
            assert_eq!(*base, 0xA5);
            assert_eq!(*base.add(LEN - 1), 0x5A);
        }
        // SAFETY: the mapping is ours and unused after this.
        unsafe { munmap(base.cast(), LEN) }.unwrap();
        // The kernel no longer knows the range: mprotect on it fails with ENOMEM.
        // SAFETY: nothing lives in the range we just unmapped.
        let again = unsafe { mprotect(base.cast(), LEN, ProtFlags::READ) };
        assert_eq!(again, Err(Errno::ENOMEM));
    }

    #[test]
    fn mmap_anonymous_refuses_fixed_and_bad_lengths() {
        assert_eq!(
            mmap_anonymous(4096, ProtFlags::READ, MapFlags::FIXED),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            mmap_anonymous(0, ProtFlags::READ, MapFlags::empty()),
            Err(Errno::EINVAL)
        );
    }

    #[test]
    fn shared_anonymous_memory_is_shared_with_a_fork_child() {
        use crate::sys::process::exit_group;
        use crate::sys::testutil::{raw_fork, wait_exit_code};
        let p = mmap_anonymous(4096, ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED).unwrap();
        let pid = raw_fork();
        if pid == 0 {
            // SAFETY: the shared page is mapped read-write in the child too.
            unsafe { p.as_ptr().write_volatile(42) };
            exit_group(0);
        }
        assert_eq!(wait_exit_code(pid), 0);
        // SAFETY: the page is mapped and ours.
        assert_eq!(unsafe { p.as_ptr().read_volatile() }, 42);
        // SAFETY: unused after this.
        unsafe { munmap(p.as_ptr().cast(), 4096) }.unwrap();
    }
}
