//! A pseudo-terminal for the terminal-foreground scenario: the suite opens one, the init
//! under test gets its other end as standard input and controlling terminal (in a session
//! of its own), and the probe reports the terminal's foreground process group (`tpgid`).

use clonekit::errno::from_syscall;
use clonekit::fd::{BorrowedFd, OwnedFd, RawFd};
use clonekit::sys::fs::{self, CWD, OFlags};
use clonekit::sys::ns::{MountFlags, mount};
use clonekit::{Errno, mount as ckmount};
use linux_raw_sys::general as g;
use linux_raw_sys::ioctl as io;

/// `ioctl(fd, request, arg)` with an integer or pointer argument.
///
/// # Safety
/// `arg` is what `request` expects: an integer, or a pointer valid for what the kernel
/// reads or writes through it.
unsafe fn ioctl(fd: BorrowedFd<'_>, request: u32, arg: usize) -> Result<usize, Errno> {
    // SAFETY: the caller's contract covers `arg`; `fd` is open for the borrow.
    from_syscall(unsafe {
        sc::syscall3(
            g::__NR_ioctl as usize,
            fd.as_raw() as usize,
            request as usize,
            arg,
        )
    })
}

/// A new pseudo-terminal: (master, slave). Mounts `devpts` on `/dev/pts` first where
/// `/dev/ptmx` has none beside it (the guest's devtmpfs-only `/dev`).
pub fn open() -> Result<(OwnedFd, OwnedFd), Errno> {
    let flags = OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC;
    let master = match fs::openat(CWD, c"/dev/ptmx", flags, 0) {
        Ok(master) => master,
        Err(Errno::ENODEV | Errno::ENOENT) => {
            ckmount::ensure_dir(c"/dev/pts").map_err(|e| e.errno())?;
            mount(
                Some(c"devpts"),
                c"/dev/pts",
                Some(c"devpts"),
                MountFlags::NOSUID | MountFlags::NOEXEC,
                None,
            )?;
            fs::openat(CWD, c"/dev/ptmx", flags, 0)?
        }
        Err(errno) => return Err(errno),
    };
    let unlock: i32 = 0;
    // SAFETY: TIOCSPTLCK reads one int from the local `unlock`.
    unsafe {
        ioctl(
            master.as_fd(),
            io::TIOCSPTLCK,
            &unlock as *const i32 as usize,
        )
    }?;
    // SAFETY: TIOCGPTPEER takes open flags as an integer and returns a new descriptor.
    let slave = unsafe {
        ioctl(
            master.as_fd(),
            io::TIOCGPTPEER,
            (OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC).bits() as usize,
        )
    }?;
    // SAFETY: a new descriptor from the kernel, owned by no one else.
    Ok((master, unsafe { OwnedFd::from_raw(slave as RawFd) }))
}

/// In a forked child: a new session whose controlling terminal is `slave`.
pub fn take_as_controlling(slave: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: setsid takes no arguments.
    from_syscall(unsafe { sc::syscall0(g::__NR_setsid as usize) })?;
    // SAFETY: TIOCSCTTY takes an integer (0: do not steal it from another session).
    unsafe { ioctl(slave, io::TIOCSCTTY, 0) }.map(drop)
}
