//! Descriptors, the working directory and the file mode creation mask as the kernel shows
//! them: what proves `CLONE_FS` (the working directory and umask shared or copied) and
//! `CLONE_FILES` (a descriptor table shared or private), a second reference to an open file
//! (`dup`), and clean-up of the files cases make.

use clonekit::Errno;
use clonekit::errno::from_syscall;
use clonekit::fd::{BorrowedFd, OwnedFd, RawFd};
use clonekit::sys::fs::{FdFlags, Mode, for_each_dir_entry};
use core::ffi::CStr;
use linux_raw_sys::general as g;
use sc::{syscall1, syscall2, syscall3};

/// `dup(fd)`: a new descriptor (the lowest free number, without `FD_CLOEXEC`) for the same
/// open file: a second reference, which keeps the open file (a pidfd's, say) alive when the
/// first is closed.
///
/// # References
/// dup(2)
pub fn dup(fd: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    // SAFETY: dup takes an integer, no pointer.
    let new = from_syscall(unsafe { syscall1(g::__NR_dup as usize, fd.as_raw() as usize) })?;
    // SAFETY: a successful dup returns a new descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw(new as RawFd) })
}

/// `getcwd(buf, size)`: the working directory, written into `buf` (shared between tasks
/// cloned with `CLONE_FS`).
///
/// `ERANGE` if `buf` is too small. A directory outside the caller's root reads as
/// `"(unreachable)/…"`.
///
/// # References
/// getcwd(2)
pub fn getcwd(buf: &mut [u8]) -> Result<&CStr, Errno> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, exclusively borrowed.
    let n = from_syscall(unsafe {
        syscall2(
            g::__NR_getcwd as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
        )
    })?;
    // The returned length includes the NUL.
    CStr::from_bytes_until_nul(&buf[..n.min(buf.len())]).map_err(|_| Errno::ERANGE)
}

/// `umask(mask)`: sets the file mode creation mask (shared between tasks cloned with
/// `CLONE_FS`), returning the previous one. Never fails.
///
/// # References
/// umask(2)
pub fn umask(mask: Mode) -> Mode {
    // SAFETY: umask takes an integer, no pointer.
    unsafe { syscall1(g::__NR_umask as usize, mask as usize) as Mode }
}

/// `unlinkat(dirfd, path, flags)`: removes a file, or with `remove_dir` an empty directory
/// (`AT_REMOVEDIR`); a relative `path` resolves against `dirfd`
/// ([`CWD`](clonekit::sys::fs::CWD): the working directory).
///
/// # References
/// unlinkat(2)
pub fn unlinkat(dirfd: BorrowedFd<'_>, path: &CStr, remove_dir: bool) -> Result<(), Errno> {
    let flags = if remove_dir { g::AT_REMOVEDIR } else { 0 };
    // SAFETY: `path` is a NUL-terminated string the kernel only reads.
    from_syscall(unsafe {
        syscall3(
            g::__NR_unlinkat as usize,
            dirfd.as_raw() as usize,
            path.as_ptr() as usize,
            flags as usize,
        )
    })
    .map(drop)
}

/// `fcntl(fd, F_GETFD)`: the descriptor flags, or `EBADF` if the number is no longer open in
/// the caller's descriptor table (what a close in a task sharing it, `CLONE_FILES`, does).
///
/// # References
/// fcntl(2)
pub fn fcntl_getfd(fd: BorrowedFd<'_>) -> Result<FdFlags, Errno> {
    // SAFETY: F_GETFD takes no argument and only reads the descriptor's flags.
    from_syscall(unsafe {
        syscall3(
            g::__NR_fcntl as usize,
            fd.as_raw() as usize,
            g::F_GETFD as usize,
            0,
        )
    })
    .map(|v| FdFlags::from_bits_retain(v as u32))
}

/// Whether the number `fd` is an open descriptor in the caller's table, asked with
/// `fcntl(fd, F_GETFD)`, which only reads its flags: `Ok(false)` for `EBADF`, any other errno
/// as it is. A question about a number (what a task sharing the table closed), so no
/// `BorrowedFd`, which must name an open descriptor.
pub fn fd_is_open(fd: RawFd) -> Result<bool, Errno> {
    // SAFETY: F_GETFD takes no argument and only reads the descriptor's flags.
    let flags = from_syscall(unsafe {
        syscall3(g::__NR_fcntl as usize, fd as usize, g::F_GETFD as usize, 0)
    });
    match flags {
        Ok(_) => Ok(true),
        Err(Errno::EBADF) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The number of entries of the open directory `fd` other than `.` and `..` (e.g. the open
/// descriptors, for `/proc/self/fd`), read through `buf` with
/// [`for_each_dir_entry`].
///
/// Reading advances `fd`'s position: open the directory afresh for each count.
pub fn count_dir_entries(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, Errno> {
    let mut dots = 0;
    let all = for_each_dir_entry(fd, buf, |e| dots += usize::from(e.is_dot_or_dotdot()))?;
    Ok(all - dots)
}
