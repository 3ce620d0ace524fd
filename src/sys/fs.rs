//! Descriptors, files and directories: `read`, `write`, `openat`, `getdents64`, `poll`…
//!
//! ```
//! use clonekit::sys::fs::{self, CWD, OFlags};
//!
//! let fd = fs::openat(CWD, c"/proc/self/comm", OFlags::RDONLY | OFlags::CLOEXEC, 0)?;
//! let mut name = [0u8; 32];
//! let n = fs::read(&fd, &mut name)?; // the program's name and a newline
//! assert!(n > 1 && name[n - 1] == b'\n');
//! fs::close(fd)?;
//! # Ok::<(), clonekit::Errno>(())
//! ```

use crate::errno::from_syscall;
use crate::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use crate::sys::time::Timespec;
use crate::{Errno, Result};
use core::ffi::CStr;
use core::marker::PhantomData;
use linux_raw_sys::general as g;
use sc::{syscall1, syscall2, syscall3, syscall4, syscall5};

/// `AT_FDCWD` as a number: the `dirfd` that makes an `*at` call resolve relative paths
/// against the current working directory. The `*at` functions here take [`CWD`].
pub const AT_FDCWD: RawFd = g::AT_FDCWD;

/// `AT_FDCWD` as a `dirfd` for the `*at` calls ([`openat`], [`mkdirat`], [`readlinkat`]):
/// relative paths resolve against the working directory (absolute ones ignore `dirfd`).
///
/// Not a descriptor: [`BorrowedFd`] allows this one special value (it is never open, so
/// nobody can close it); any call that is not an `*at` call refuses it with `EBADF`.
// SAFETY: AT_FDCWD is the special value `BorrowedFd` documents; it names no descriptor.
pub const CWD: BorrowedFd<'static> = unsafe { BorrowedFd::borrow_raw(AT_FDCWD) };

/// A file mode (permission bits and file type), `mode_t`.
pub type Mode = u32;

bitflags::bitflags! {
    /// `O_*` flags for [`openat`] (and what `fcntl(F_GETFL)` reports).
    ///
    /// Values are per-arch (`O_DIRECTORY` differs between x86_64 and aarch64), taken
    /// from `linux_raw_sys`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct OFlags: u32 {
        /// `O_RDONLY` (zero: always "set").
        const RDONLY = g::O_RDONLY;
        /// `O_WRONLY`.
        const WRONLY = g::O_WRONLY;
        /// `O_RDWR`.
        const RDWR = g::O_RDWR;
        /// `O_CREAT`: create the file if missing (uses the mode).
        const CREAT = g::O_CREAT;
        /// `O_EXCL`: with `CREAT`, fail with `EEXIST` if it exists.
        const EXCL = g::O_EXCL;
        /// `O_NOCTTY`.
        const NOCTTY = g::O_NOCTTY;
        /// `O_TRUNC`.
        const TRUNC = g::O_TRUNC;
        /// `O_APPEND`.
        const APPEND = g::O_APPEND;
        /// `O_NONBLOCK`.
        const NONBLOCK = g::O_NONBLOCK;
        /// `O_DIRECTORY`: fail with `ENOTDIR` unless a directory.
        const DIRECTORY = g::O_DIRECTORY;
        /// `O_NOFOLLOW`.
        const NOFOLLOW = g::O_NOFOLLOW;
        /// `O_CLOEXEC`: close on `execve`.
        const CLOEXEC = g::O_CLOEXEC;
        /// `O_PATH`: a location-only descriptor.
        const PATH = g::O_PATH;
        /// `O_LARGEFILE` (implied on 64-bit; the kernel reports it from `F_GETFL`).
        const LARGEFILE = g::O_LARGEFILE;
        /// `O_SYNC`.
        const SYNC = g::O_SYNC;
    }
}

bitflags::bitflags! {
    /// Flags for [`pipe2`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct PipeFlags: u32 {
        /// `O_CLOEXEC`.
        const CLOEXEC = g::O_CLOEXEC;
        /// `O_NONBLOCK`.
        const NONBLOCK = g::O_NONBLOCK;
        /// `O_DIRECT`: packet mode.
        const DIRECT = g::O_DIRECT;
    }
}

bitflags::bitflags! {
    /// Descriptor flags for [`dup3`] (as `fcntl(F_GETFD)` reports them).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct FdFlags: u32 {
        /// `FD_CLOEXEC` (for `fcntl`); [`dup3`] takes it as `O_CLOEXEC` internally.
        const CLOEXEC = g::FD_CLOEXEC;
    }
}

/// `read(fd, buf, len)`: reads up to `buf.len()` bytes, returning how many were read
/// (0 at end of file).
///
/// # References
/// read(2)
pub fn read(fd: impl AsFd, buf: &mut [u8]) -> Result<usize, Errno> {
    let fd = fd.as_fd();
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, which is
    // exclusively borrowed for the call.
    from_syscall(unsafe {
        syscall3(
            g::__NR_read as usize,
            fd.as_raw() as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
        )
    })
}

/// `write(fd, buf, len)`: writes up to `buf.len()` bytes, returning how many were
/// written (possibly fewer: a short write).
///
/// # References
/// write(2)
pub fn write(fd: impl AsFd, buf: &[u8]) -> Result<usize, Errno> {
    let fd = fd.as_fd();
    // SAFETY: the kernel only reads `buf.len()` bytes from `buf`.
    from_syscall(unsafe {
        syscall3(
            g::__NR_write as usize,
            fd.as_raw() as usize,
            buf.as_ptr() as usize,
            buf.len(),
        )
    })
}

/// Reads until `buf` is full or end of file, retrying `EINTR`: the bytes read (fewer than
/// `buf.len()` only at end of file).
pub fn read_full(fd: impl AsFd, buf: &mut [u8]) -> Result<usize, Errno> {
    let fd = fd.as_fd();
    let mut filled = 0;
    while filled < buf.len() {
        match read(fd, &mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Writes all of `bytes`, continuing after short writes and retrying `EINTR`; `EIO` if a
/// write takes nothing (it would otherwise never end).
pub fn write_all(fd: impl AsFd, mut bytes: &[u8]) -> Result<(), Errno> {
    let fd = fd.as_fd();
    while !bytes.is_empty() {
        match write(fd, bytes) {
            Ok(0) => return Err(Errno::EIO),
            Ok(n) => bytes = &bytes[n.min(bytes.len())..],
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `close(fd)`: closes an owned descriptor and reports what dropping it would ignore
/// (`EIO` from a file system that writes back on close, for example).
///
/// The descriptor is released even when this reports `EINTR` or `EIO`, so there is
/// nothing to retry: `fd` is consumed either way. Only the owner can close: a raw number
/// does not compile, and neither does using the descriptor afterwards.
///
/// ```
/// use clonekit::sys::fs::{PipeFlags, close, pipe2, read, write};
/// let (r, w) = pipe2(PipeFlags::CLOEXEC)?;
/// write(w.as_fd(), b"x")?;
/// close(w)?;
/// assert_eq!(read(r.as_fd(), &mut [0u8; 1])?, 1);
/// close(r)?;
/// # Ok::<(), clonekit::Errno>(())
/// ```
///
/// A number someone else may own cannot be closed:
///
/// ```compile_fail,E0308
/// clonekit::sys::fs::close(3);
/// ```
///
/// and a descriptor cannot be closed twice, or used once closed:
///
/// ```compile_fail,E0382
/// use clonekit::sys::fs::{PipeFlags, close, pipe2};
/// let (r, _w) = pipe2(PipeFlags::CLOEXEC)?;
/// close(r)?;
/// close(r)?;
/// # Ok::<(), clonekit::Errno>(())
/// ```
///
/// ```compile_fail,E0382
/// use clonekit::sys::fs::{PipeFlags, close, pipe2, read};
/// let (r, _w) = pipe2(PipeFlags::CLOEXEC)?;
/// close(r)?;
/// read(r.as_fd(), &mut [0u8; 1])?;
/// # Ok::<(), clonekit::Errno>(())
/// ```
///
/// # References
/// close(2)
pub fn close(fd: OwnedFd) -> Result<(), Errno> {
    let raw = fd.into_raw();
    // SAFETY: `fd` owned the descriptor, and gave it up to us alone.
    unsafe { crate::sys::fd::close_raw(raw) }
}

/// `pipe2(fds, flags)`: a new pipe, returned as `(read_end, write_end)`.
///
/// # References
/// pipe2(2)
pub fn pipe2(flags: PipeFlags) -> Result<(OwnedFd, OwnedFd), Errno> {
    let mut fds = [-1i32; 2];
    // SAFETY: the kernel writes two `int`s into `fds`, which is large enough.
    from_syscall(unsafe {
        syscall2(
            g::__NR_pipe2 as usize,
            fds.as_mut_ptr() as usize,
            flags.bits() as usize,
        )
    })?;
    // SAFETY: pipe2 succeeded, so both numbers are new descriptors nobody else owns.
    Ok(unsafe { (OwnedFd::from_raw(fds[0]), OwnedFd::from_raw(fds[1])) })
}

/// `dup3(oldfd, newfd, flags)`: makes the number `newfd` refer to `oldfd`'s open file,
/// closing whatever `newfd` was first (atomically). Returns `newfd`.
///
/// It is about numbers (redirecting the standard streams is the common use), so it takes
/// and returns a raw `newfd`: the caller chose it, and owns it before and after (an
/// [`OwnedFd`] that held it still does; a number that was free is now the caller's to
/// close, e.g. with [`OwnedFd::from_raw`]). `oldfd == newfd` is `EINVAL`.
///
/// ```
/// use clonekit::sys::fs::{FdFlags, PipeFlags, dup3, pipe2, read, write};
/// let (r, w) = pipe2(PipeFlags::CLOEXEC)?;
/// let (_r2, w2) = pipe2(PipeFlags::CLOEXEC)?;
/// // SAFETY: `w2` is ours: from now on it names `w`'s pipe, and is still closed by `w2`.
/// unsafe { dup3(w.as_fd(), w2.as_raw(), FdFlags::CLOEXEC) }?;
/// write(w2.as_fd(), b"x")?;
/// assert_eq!(read(r.as_fd(), &mut [0u8; 1])?, 1);
/// # Ok::<(), clonekit::Errno>(())
/// ```
///
/// Replacing a number is `unsafe`:
///
/// ```compile_fail,E0133
/// use clonekit::sys::fs::{FdFlags, PipeFlags, dup3, pipe2};
/// let (r, _w) = pipe2(PipeFlags::CLOEXEC)?;
/// dup3(r.as_fd(), 1, FdFlags::empty())?;
/// # Ok::<(), clonekit::Errno>(())
/// ```
///
/// # Safety
/// `newfd` is closed and replaced: it must be the caller's. No other owner (an
/// [`OwnedFd`], a `File`, a borrow of either) may hold `newfd`, since it would go on
/// using, or close, another file as if it were its own; and nothing may use `newfd`
/// afterwards as the descriptor it was. The standard streams 0, 1 and 2 are the usual
/// exception to "no other owner": by convention they are always open, and whoever
/// writes to them writes to whatever file they name, so redirecting them is the
/// program's choice to make.
///
/// # References
/// dup3(2)
pub unsafe fn dup3(oldfd: impl AsFd, newfd: RawFd, flags: FdFlags) -> Result<RawFd, Errno> {
    let oldfd = oldfd.as_fd();
    let oflags = if flags.contains(FdFlags::CLOEXEC) {
        g::O_CLOEXEC
    } else {
        0
    };
    // SAFETY: dup3 takes no pointers; the caller owns `newfd` (this function's contract).
    from_syscall(unsafe {
        syscall3(
            g::__NR_dup3 as usize,
            oldfd.as_raw() as usize,
            newfd as usize,
            oflags as usize,
        )
    })
    .map(|fd| fd as RawFd)
}

/// `fcntl` on a number, for [`fd_is_open`] (and the tests: `F_GETFD` on a number that was
/// closed, `F_DUPFD_CLOEXEC` for a number no other test thread takes).
pub(crate) fn fcntl(fd: RawFd, cmd: u32, arg: usize) -> Result<usize, Errno> {
    // SAFETY: every command this module passes takes an integer argument, no pointer, and
    // none of them closes or replaces a descriptor.
    from_syscall(unsafe { syscall3(g::__NR_fcntl as usize, fd as usize, cmd as usize, arg) })
}

/// `openat(dirfd, path, flags, mode)`: opens (or with `CREAT` creates) a file; a relative
/// `path` resolves against `dirfd` ([`CWD`]: the working directory).
///
/// # References
/// openat(2)
pub fn openat(dirfd: impl AsFd, path: &CStr, flags: OFlags, mode: Mode) -> Result<OwnedFd, Errno> {
    let dirfd = dirfd.as_fd();
    // SAFETY: `path` is a NUL-terminated string the kernel only reads.
    let fd = from_syscall(unsafe {
        syscall4(
            g::__NR_openat as usize,
            dirfd.as_raw() as usize,
            path.as_ptr() as usize,
            flags.bits() as usize,
            mode as usize,
        )
    })?;
    // SAFETY: a successful openat returns a new descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw(fd as RawFd) })
}

/// `mkdirat(dirfd, path, mode)`: creates a directory (mode filtered by the umask).
///
/// # References
/// mkdirat(2)
pub fn mkdirat(dirfd: impl AsFd, path: &CStr, mode: Mode) -> Result<(), Errno> {
    let dirfd = dirfd.as_fd();
    // SAFETY: `path` is a NUL-terminated string the kernel only reads.
    from_syscall(unsafe {
        syscall3(
            g::__NR_mkdirat as usize,
            dirfd.as_raw() as usize,
            path.as_ptr() as usize,
            mode as usize,
        )
    })
    .map(drop)
}

/// `chroot(path)`: changes the caller's root directory (needs `CAP_SYS_CHROOT`).
///
/// # References
/// chroot(2)
pub fn chroot(path: &CStr) -> Result<(), Errno> {
    // SAFETY: `path` is a NUL-terminated string the kernel only reads.
    from_syscall(unsafe { syscall1(g::__NR_chroot as usize, path.as_ptr() as usize) }).map(drop)
}

/// `readlinkat(dirfd, path, buf)`: the target of a symbolic link (not NUL-terminated),
/// truncated to `buf`'s length.
///
/// # References
/// readlinkat(2)
pub fn readlinkat<'a>(dirfd: impl AsFd, path: &CStr, buf: &'a mut [u8]) -> Result<&'a [u8], Errno> {
    let dirfd = dirfd.as_fd();
    // SAFETY: `path` is a NUL-terminated string the kernel only reads; it writes at most
    // `buf.len()` bytes into `buf`.
    let n = from_syscall(unsafe {
        syscall4(
            g::__NR_readlinkat as usize,
            dirfd.as_raw() as usize,
            path.as_ptr() as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
        )
    })?;
    Ok(&buf[..n])
}

/// `chdir(path)`: changes the working directory (of every thread sharing it:
/// `CLONE_FS`).
///
/// # References
/// chdir(2)
pub fn chdir(path: &CStr) -> Result<(), Errno> {
    // SAFETY: `path` is a NUL-terminated string the kernel only reads.
    from_syscall(unsafe { syscall1(g::__NR_chdir as usize, path.as_ptr() as usize) }).map(drop)
}

/// Whether the number `fd` is an open descriptor, asked with `fcntl(fd, F_GETFD)`, which only
/// reads its flags: `Ok(false)` for `EBADF`, any other errno as it is. A question about a
/// number (what a closed descriptor is), so no `BorrowedFd`, which must name an open one;
/// the start-up's (`rt`) and the tests' alone (the test kit has its own).
pub(crate) fn fd_is_open(fd: RawFd) -> Result<bool, Errno> {
    match fcntl(fd, g::F_GETFD, 0) {
        Ok(_) => Ok(true),
        Err(Errno::EBADF) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `fstatfs(fd)`'s `f_type`: the magic number of the filesystem `fd` lies on
/// (`PROC_SUPER_MAGIC` for procfs).
///
/// # References
/// fstatfs(2)
pub fn fstatfs_type(fd: impl AsFd) -> Result<u64, Errno> {
    let fd = fd.as_fd();
    let mut buf = core::mem::MaybeUninit::<g::statfs>::zeroed();
    // SAFETY: the kernel writes one `struct statfs` to the buffer, which has that size.
    from_syscall(unsafe {
        syscall2(
            g::__NR_fstatfs as usize,
            fd.as_raw() as usize,
            buf.as_mut_ptr() as usize,
        )
    })?;
    // SAFETY: zero-initialised, then filled by the kernel: a valid plain-data struct.
    let stat = unsafe { buf.assume_init() };
    Ok(stat.f_type as u64)
}

/// `getdents64(fd, buf, len)`: reads directory entries into `buf`, returning how many
/// bytes were filled (0 at the end). Walk them with [`DirEntries`].
///
/// # References
/// getdents64(2)
pub fn getdents64(fd: impl AsFd, buf: &mut [u8]) -> Result<usize, Errno> {
    let fd = fd.as_fd();
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    from_syscall(unsafe {
        syscall3(
            g::__NR_getdents64 as usize,
            fd.as_raw() as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
        )
    })
}

/// One `struct linux_dirent64` record from a [`getdents64`] buffer.
#[derive(Debug, Clone, Copy)]
pub struct DirEntry<'a> {
    /// `d_ino`: the inode number.
    pub ino: u64,
    /// `d_off`: an opaque position of the next entry.
    pub off: i64,
    /// `d_type`: `DT_REG`, `DT_DIR`, … (`DT_UNKNOWN` = 0 if the filesystem does not
    /// say).
    pub file_type: u8,
    /// `d_name`.
    pub name: &'a CStr,
}

impl DirEntry<'_> {
    /// Whether the entry is `.` or `..`.
    pub fn is_dot_or_dotdot(&self) -> bool {
        matches!(self.name.to_bytes(), b"." | b"..")
    }

    /// Whether `d_type` says directory (`DT_DIR`).
    pub fn is_dir(&self) -> bool {
        u32::from(self.file_type) == g::DT_DIR
    }
}

/// An iterator over the records [`getdents64`] filled into a buffer.
///
/// `DirEntries::new(&buf[..n])`. Parsing is by byte offsets, so the buffer needs no
/// particular alignment; a malformed record ends the iteration.
#[derive(Debug, Clone)]
pub struct DirEntries<'a> {
    rest: &'a [u8],
}

impl<'a> DirEntries<'a> {
    /// Iterates over the filled part of a `getdents64` buffer.
    pub const fn new(filled: &'a [u8]) -> DirEntries<'a> {
        DirEntries { rest: filled }
    }
}

impl<'a> Iterator for DirEntries<'a> {
    type Item = DirEntry<'a>;

    fn next(&mut self) -> Option<DirEntry<'a>> {
        // d_ino u64 @0, d_off i64 @8, d_reclen u16 @16, d_type u8 @18, d_name @19.
        const NAME: usize = 19;
        let b = self.rest;
        if b.len() < NAME + 1 {
            return None;
        }
        let reclen = usize::from(u16::from_ne_bytes([b[16], b[17]]));
        if reclen <= NAME || reclen > b.len() {
            self.rest = &[];
            return None;
        }
        let name = CStr::from_bytes_until_nul(&b[NAME..reclen]).ok()?;
        let mut ino = [0u8; 8];
        ino.copy_from_slice(&b[0..8]);
        let mut off = [0u8; 8];
        off.copy_from_slice(&b[8..16]);
        self.rest = &b[reclen..];
        Some(DirEntry {
            ino: u64::from_ne_bytes(ino),
            off: i64::from_ne_bytes(off),
            file_type: b[18],
            name,
        })
    }
}

/// Calls `f` for every entry of the open directory `fd` (including `.` and `..`),
/// reading through `buf` (a few hundred bytes is enough; 4 KiB is fewer syscalls).
/// Returns the number of entries seen.
///
/// `EINVAL` if `buf` is too small for one entry.
pub fn for_each_dir_entry(
    fd: impl AsFd,
    buf: &mut [u8],
    mut f: impl FnMut(&DirEntry<'_>),
) -> Result<usize, Errno> {
    let fd = fd.as_fd();
    let mut count = 0;
    loop {
        let n = getdents64(fd, buf)?;
        if n == 0 {
            return Ok(count);
        }
        for entry in DirEntries::new(&buf[..n]) {
            count += 1;
            f(&entry);
        }
    }
}

bitflags::bitflags! {
    /// `POLL*` event bits for [`PollFd`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct PollFlags: i16 {
        /// `POLLIN`: readable (a pidfd: the process has exited).
        const IN = g::POLLIN as i16;
        /// `POLLPRI`.
        const PRI = g::POLLPRI as i16;
        /// `POLLOUT`: writable.
        const OUT = g::POLLOUT as i16;
        /// `POLLERR` (reported only).
        const ERR = g::POLLERR as i16;
        /// `POLLHUP`: hang-up (reported only; a pidfd whose process was reaped).
        const HUP = g::POLLHUP as i16;
        /// `POLLNVAL`: not an open descriptor (reported only).
        const NVAL = g::POLLNVAL as i16;
        /// `POLLRDHUP`.
        const RDHUP = g::POLLRDHUP as i16;
    }
}

/// `struct pollfd`: a descriptor (borrowed for `'fd`) and the events to wait for.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollFd<'fd> {
    fd: RawFd,
    events: i16,
    revents: i16,
    _fd: PhantomData<BorrowedFd<'fd>>,
}

static_assertions::assert_eq_size!(PollFd<'static>, g::pollfd);

impl<'fd> PollFd<'fd> {
    /// Waits for `events` on `fd`.
    pub const fn new(fd: BorrowedFd<'fd>, events: PollFlags) -> PollFd<'fd> {
        PollFd {
            fd: fd.as_raw(),
            events: events.bits(),
            revents: 0,
            _fd: PhantomData,
        }
    }

    /// An entry the kernel skips (descriptor -1): it never reports an event.
    pub const fn ignored() -> PollFd<'fd> {
        PollFd {
            fd: -1,
            events: 0,
            revents: 0,
            _fd: PhantomData,
        }
    }

    /// The descriptor number (-1 for [`PollFd::ignored`]).
    pub const fn fd(&self) -> RawFd {
        self.fd
    }

    /// The events that happened, as the last [`poll`] reported them.
    pub const fn revents(&self) -> PollFlags {
        PollFlags::from_bits_retain(self.revents)
    }
}

/// `ppoll(fds, nfds, timeout, NULL, 0)`: waits until a descriptor is ready or the
/// timeout (`None` = forever) passes; returns how many entries have non-zero
/// `revents` (0 on timeout).
///
/// aarch64 and riscv64 have no `poll` syscall, so this is `ppoll` everywhere. The raw
/// `ppoll` writes the time left back into its timeout; this works on a copy, so
/// `timeout` is not modified.
///
/// # References
/// poll(2), ppoll(2)
pub fn poll(fds: &mut [PollFd<'_>], timeout: Option<&Timespec>) -> Result<usize, Errno> {
    ppoll(fds, timeout, None)
}

/// `ppoll(fds, timeout, mask)`: as [`poll`], with the signal mask `mask` (when given) in
/// force while it waits and the caller's restored when it returns: atomically, so a signal
/// unblocked by `mask` either arrives before the wait, waking it with `EINTR`, or not at all
/// (what `sigsuspend` gives, with descriptors and a timeout).
///
/// # References
/// ppoll(2)
pub fn ppoll(
    fds: &mut [PollFd<'_>],
    timeout: Option<&Timespec>,
    mask: Option<&crate::sys::signal::SigSet>,
) -> Result<usize, Errno> {
    let mut copy = timeout.copied();
    let tp = match copy.as_mut() {
        Some(t) => t as *mut Timespec as usize,
        None => 0,
    };
    let mask = mask.map_or(0, |m| m as *const crate::sys::signal::SigSet as usize);
    // SAFETY: the kernel reads and writes `fds.len()` `pollfd`s (layout checked above)
    // in `fds`, which is exclusively borrowed, reads/writes one timespec in the local
    // `copy` when given, and reads one kernel sigset (the SigSet's 8 bytes) when given.
    from_syscall(unsafe {
        syscall5(
            g::__NR_ppoll as usize,
            fds.as_mut_ptr() as usize,
            fds.len(),
            tp,
            mask,
            core::mem::size_of::<g::kernel_sigset_t>(),
        )
    })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    /// The descriptor flags of `fd`, asked with `fcntl(F_GETFD)`.
    fn fd_flags(fd: BorrowedFd<'_>) -> Result<FdFlags, Errno> {
        fcntl(fd.as_raw(), g::F_GETFD, 0).map(|v| FdFlags::from_bits_retain(v as u32))
    }

    /// A close-on-exec duplicate of `fd` at the lowest free number `>= min`
    /// (`F_DUPFD_CLOEXEC`): high numbers no other test thread's new descriptor takes.
    fn dup_at_least(fd: BorrowedFd<'_>, min: RawFd) -> OwnedFd {
        let new = fcntl(fd.as_raw(), g::F_DUPFD_CLOEXEC, min as usize).unwrap();
        // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor nobody else owns.
        unsafe { OwnedFd::from_raw(new as RawFd) }
    }

    #[test]
    fn pipe2_round_trips_bytes() {
        let (r, w) = pipe2(PipeFlags::CLOEXEC).unwrap();
        assert_eq!(write(w.as_fd(), b"clonekit\0\xff").unwrap(), 10);
        let mut buf = [0u8; 32];
        let n = read(r.as_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"clonekit\0\xff");
        assert!(fd_flags(r.as_fd()).unwrap().contains(FdFlags::CLOEXEC));
        drop(w);
        assert_eq!(
            read(r.as_fd(), &mut buf),
            Ok(0),
            "EOF after the writer closed"
        );
        let (r, _w) = pipe2(PipeFlags::empty()).unwrap();
        assert!(!fd_flags(r.as_fd()).unwrap().contains(FdFlags::CLOEXEC));
    }

    #[test]
    fn cwd_is_ebadf_outside_the_at_calls() {
        let mut buf = [0u8; 64];
        assert_eq!(CWD.as_raw(), AT_FDCWD);
        assert_eq!(read(CWD, &mut buf), Err(Errno::EBADF));
        assert_eq!(write(CWD, b"x"), Err(Errno::EBADF));
        assert_eq!(getdents64(CWD, &mut buf), Err(Errno::EBADF));
        assert_eq!(fstatfs_type(CWD), Err(Errno::EBADF));
        assert_eq!(fd_is_open(AT_FDCWD), Ok(false));
        // A number far above any RLIMIT_NOFILE is never open: the kernel's answer for one,
        // asked without a `BorrowedFd` (which must name an open descriptor).
        assert_eq!(fcntl(1 << 30, g::F_GETFD, 0), Err(Errno::EBADF));
    }

    #[test]
    fn close_consumes_the_owned_fd_and_closes_it() {
        // High numbers, so that no other test thread's new descriptor takes them meanwhile.
        let (r, w) = pipe2(PipeFlags::CLOEXEC).unwrap();
        let high = dup_at_least(r.as_fd(), 900);
        let number = high.as_raw();
        assert!(number >= 900 && fd_is_open(number).unwrap());
        assert_eq!(close(high), Ok(()));
        assert!(
            !fd_is_open(number).unwrap(),
            "{number} is closed: F_GETFD gives EBADF"
        );
        // The pipe's other ends are untouched, and close reports success for them too.
        assert_eq!(write(w.as_fd(), b"x"), Ok(1));
        assert_eq!(close(w), Ok(()));
        let mut buf = [0u8; 2];
        assert_eq!(read(r.as_fd(), &mut buf), Ok(1));
        assert_eq!(
            read(r.as_fd(), &mut buf),
            Ok(0),
            "EOF: the writer was closed"
        );
        assert_eq!(close(r), Ok(()));
    }

    #[test]
    fn openat_missing_path_is_enoent() {
        let err = openat(
            CWD,
            c"/nonexistent/clonekit/path",
            OFlags::RDONLY | OFlags::CLOEXEC,
            0,
        )
        .unwrap_err();
        assert_eq!(err, Errno::ENOENT);
        assert_eq!(std::format!("{err}"), "ENOENT: no such file or directory");
    }

    #[test]
    fn openat_reads_a_real_file() {
        let fd = openat(CWD, c"/proc/self/stat", OFlags::RDONLY | OFlags::CLOEXEC, 0).unwrap();
        let mut buf = [0u8; 64];
        let n = read(fd.as_fd(), &mut buf).unwrap();
        let pid = std::format!("{} ", std::process::id());
        assert!(buf[..n].starts_with(pid.as_bytes()));
    }

    #[test]
    fn dup3_replaces_a_number_with_or_without_cloexec() {
        let (r, w) = pipe2(PipeFlags::empty()).unwrap();
        let (r2, w2) = pipe2(PipeFlags::empty()).unwrap();
        let hi = dup_at_least(w2.as_fd(), 500);
        assert!(fd_flags(hi.as_fd()).unwrap().contains(FdFlags::CLOEXEC));
        // SAFETY: `hi` is this test's: it now names `w`'s pipe end and still closes it.
        let replaced = unsafe { dup3(w.as_fd(), hi.as_raw(), FdFlags::empty()) };
        assert_eq!(replaced, Ok(hi.as_raw()));
        assert!(
            !fd_flags(hi.as_fd()).unwrap().contains(FdFlags::CLOEXEC),
            "dup3 without CLOEXEC clears it"
        );
        // The number now writes into the first pipe, no longer the second.
        write(hi.as_fd(), b"1").unwrap();
        let mut buf = [0u8; 2];
        assert_eq!(read(r.as_fd(), &mut buf), Ok(1));
        drop(w2);
        assert_eq!(
            read(r2.as_fd(), &mut buf),
            Ok(0),
            "EOF: no write end of the second pipe is left"
        );
        // SAFETY: as above.
        let again = unsafe { dup3(w.as_fd(), hi.as_raw(), FdFlags::CLOEXEC) };
        assert_eq!(again, Ok(hi.as_raw()));
        assert!(fd_flags(hi.as_fd()).unwrap().contains(FdFlags::CLOEXEC));
        // SAFETY: as above, for `w` (refused before anything is replaced).
        let same = unsafe { dup3(w.as_fd(), w.as_raw(), FdFlags::empty()) };
        assert_eq!(same, Err(Errno::EINVAL));
    }

    /// The names of the open directory `dir`'s entries, read through a small buffer.
    fn entry_names(dir: BorrowedFd<'_>) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let mut buf = [0u8; 256]; // small on purpose: several getdents64 calls
        let n = for_each_dir_entry(dir, &mut buf, |e| {
            names.push(String::from(e.name.to_str().unwrap()));
            if e.is_dot_or_dotdot() {
                assert!(e.is_dir() || e.file_type == 0);
            }
        })
        .unwrap();
        assert_eq!(n, names.len());
        names
    }

    #[test]
    fn getdents64_lists_proc_self_fd() {
        let dir = openat(
            CWD,
            c"/proc/self/fd",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            0,
        )
        .unwrap();
        let (r, w) = pipe2(PipeFlags::CLOEXEC).unwrap();
        let names = entry_names(dir.as_fd());
        for want in [
            String::from("."),
            String::from(".."),
            std::format!("{}", dir.as_raw()),
            std::format!("{}", r.as_raw()),
            std::format!("{}", w.as_raw()),
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        // Every other entry is a descriptor number.
        assert!(
            names
                .iter()
                .filter(|n| *n != "." && *n != "..")
                .all(|n| n.parse::<i32>().is_ok())
        );
        // A second pass on the same descriptor is at the end already.
        let mut buf = [0u8; 256];
        assert_eq!(getdents64(dir.as_fd(), &mut buf), Ok(0));
        assert_eq!(for_each_dir_entry(dir.as_fd(), &mut buf, |_| {}), Ok(0));
        // Opened afresh, the directory lists the new descriptor too.
        let again = openat(
            CWD,
            c"/proc/self/fd",
            OFlags::DIRECTORY | OFlags::CLOEXEC,
            0,
        )
        .unwrap();
        // Too small for one record: EINVAL, and nothing is consumed.
        assert_eq!(
            for_each_dir_entry(again.as_fd(), &mut [0u8; 8], |_| {}),
            Err(Errno::EINVAL)
        );
        let names = entry_names(again.as_fd());
        let own = std::format!("{}", again.as_raw());
        for want in [String::from("."), own] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
    }

    #[test]
    fn mkdirat_makes_a_directory_once() {
        let path = std::format!("/tmp/clonekit-mkdirat-{}\0", std::process::id());
        let c = CStr::from_bytes_with_nul(path.as_bytes()).unwrap();
        mkdirat(CWD, c, 0o700).unwrap();
        assert_eq!(mkdirat(CWD, c, 0o700), Err(Errno::EEXIST));
        let meta = std::fs::metadata(&path[..path.len() - 1]).unwrap();
        assert!(meta.is_dir());
        std::fs::remove_dir(&path[..path.len() - 1]).unwrap();
        assert_eq!(
            mkdirat(CWD, c"/nonexistent-clonekit/dir", 0o700),
            Err(Errno::ENOENT)
        );
    }

    #[test]
    fn chdir_in_a_forked_child() {
        use crate::sys::process::exit_group;
        use crate::sys::testutil::{raw_fork, wait_exit_code};
        let pid = raw_fork();
        if pid == 0 {
            // Child: raw syscalls only. The kernel shows the working directory as the
            // /proc/self/cwd link; a relative path resolves against it.
            let mut buf = [0u8; 64];
            let cwd = |buf: &mut [u8; 64]| -> bool {
                readlinkat(CWD, c"/proc/self/cwd", buf).map(|l| l == b"/proc") == Ok(true)
            };
            let code = if chdir(c"/proc").is_err() {
                1
            } else if !cwd(&mut buf) {
                2
            } else if openat(CWD, c"self/stat", OFlags::RDONLY | OFlags::CLOEXEC, 0).is_err() {
                3
            } else if chdir(c"/nonexistent-clonekit") != Err(Errno::ENOENT) {
                4
            } else if !cwd(&mut buf) {
                5
            } else {
                0
            };
            exit_group(code);
        }
        assert_eq!(wait_exit_code(pid), 0);
    }

    #[test]
    fn poll_sees_a_readable_pipe_and_times_out() {
        let (r, w) = pipe2(PipeFlags::CLOEXEC).unwrap();
        let mut fds = [PollFd::new(r.as_fd(), PollFlags::IN)];
        let zero = Timespec::new(0, 0);
        assert_eq!(poll(&mut fds, Some(&zero)), Ok(0));
        write(w.as_fd(), b"x").unwrap();
        let t = Timespec::new(5, 0);
        assert_eq!(poll(&mut fds, Some(&t)), Ok(1));
        assert!(fds[0].revents().contains(PollFlags::IN));
        assert_eq!(t, Timespec::new(5, 0), "timeout not written back");
    }

    #[test]
    fn poll_skips_an_ignored_entry() {
        let (r, w) = pipe2(PipeFlags::CLOEXEC).unwrap();
        write(w.as_fd(), b"x").unwrap();
        let mut fds = [PollFd::ignored(), PollFd::new(r.as_fd(), PollFlags::IN)];
        assert_eq!(fds[0].fd(), -1);
        assert_eq!(poll(&mut fds, Some(&Timespec::new(5, 0))), Ok(1));
        assert_eq!(fds[0].revents(), PollFlags::empty());
        assert!(fds[1].revents().contains(PollFlags::IN));
    }
}
