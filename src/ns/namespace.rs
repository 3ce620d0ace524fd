//! Namespaces: `unshare`, `setns`, opening `/proc/<pid>/ns/*`, and the caller state their
//! rules depend on ([`caller`], [`user_ns_level`]: defined below both the task and the
//! namespace modules, since every clone asks about the caller too). The kernel's rules are
//! checked first and refused with a named [`FlagError`].
//!
//! `unshare` changes the calling process, so the example does it in a fork-like child, and
//! goes back to the parent's UTS namespace through a descriptor opened before:
//!
//! ```
//! use clonekit::CloneFlags;
//! use clonekit::namespace::{self, Namespace};
//! use clonekit::process::fork;
//! use clonekit::sys::ns::{sethostname, uname};
//! # if clonekit::program::emulated() {
//! #     return Ok(()); // qemu-user passes setns through but not every namespace ioctl
//! # }
//!
//! let parents_uts = namespace::open(None, Namespace::Uts)?;
//! let mut child = fork(move || {
//!     let before = namespace::id(None, Namespace::Uts).unwrap();
//!     namespace::unshare(CloneFlags::NEWUTS).unwrap();
//!     sethostname(b"elsewhere").unwrap();
//!     let moved = namespace::id(None, Namespace::Uts).unwrap() != before;
//!     namespace::setns(&parents_uts, Namespace::Uts).unwrap(); // back again
//!     let back = namespace::id(None, Namespace::Uts).unwrap() == before;
//!     if moved && back && uname().nodename() != b"elsewhere" { 0 } else { 1 }
//! })?;
//! assert!(child.wait()?.success());
//!
//! // The rules come first: a flag unshare(2) does not take is refused by name.
//! assert!(matches!(
//!     namespace::unshare(CloneFlags::PARENT),
//!     Err(clonekit::Error::Flags(clonekit::FlagError::UnshareUnsupported(_)))
//! ));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub use crate::caller::{caller, user_ns_level};
use crate::error::Error;
use crate::fd::{AsFd, OwnedFd};
use crate::flags::CloneFlags;
use crate::kernel_version::KernelVersion;
use crate::procfs::{self, PathBuf};
use crate::sys::Pid;
use crate::sys::fs::{self, CWD, OFlags};
use crate::sys::ns as sysns;
use crate::validate::{FlagError, validate_unshare};

/// A kind of namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Namespace {
    /// Mount points (`CLONE_NEWNS`, `/proc/PID/ns/mnt`).
    Mount,
    /// Hostname and NIS domain name (`CLONE_NEWUTS`, `uts`).
    Uts,
    /// System V IPC and POSIX message queues (`CLONE_NEWIPC`, `ipc`).
    Ipc,
    /// Network stack (`CLONE_NEWNET`, `net`).
    Net,
    /// Process IDs (`CLONE_NEWPID`, `pid`; `setns` affects later children).
    Pid,
    /// User and group IDs, capabilities (`CLONE_NEWUSER`, `user`).
    User,
    /// Cgroup root (`CLONE_NEWCGROUP`, `cgroup`).
    Cgroup,
    /// Clock offsets (`CLONE_NEWTIME`, `time`; `setns` affects later children).
    Time,
}

impl Namespace {
    /// Every kind.
    pub const ALL: [Namespace; 8] = [
        Namespace::Mount,
        Namespace::Uts,
        Namespace::Ipc,
        Namespace::Net,
        Namespace::Pid,
        Namespace::User,
        Namespace::Cgroup,
        Namespace::Time,
    ];

    /// Its `CLONE_NEW*` flag.
    pub const fn flag(self) -> CloneFlags {
        match self {
            Namespace::Mount => CloneFlags::NEWNS,
            Namespace::Uts => CloneFlags::NEWUTS,
            Namespace::Ipc => CloneFlags::NEWIPC,
            Namespace::Net => CloneFlags::NEWNET,
            Namespace::Pid => CloneFlags::NEWPID,
            Namespace::User => CloneFlags::NEWUSER,
            Namespace::Cgroup => CloneFlags::NEWCGROUP,
            Namespace::Time => CloneFlags::NEWTIME,
        }
    }

    /// The kind whose flag is `flag`.
    pub fn from_flag(flag: CloneFlags) -> Option<Namespace> {
        Namespace::ALL.into_iter().find(|ns| ns.flag() == flag)
    }

    /// Its file name under `/proc/PID/ns/`. The PID and time namespaces have a second file
    /// (`pid_for_children`, `time_for_children`) for the namespace children will get.
    pub const fn proc_name(self) -> &'static str {
        match self {
            Namespace::Mount => "mnt",
            Namespace::Uts => "uts",
            Namespace::Ipc => "ipc",
            Namespace::Net => "net",
            Namespace::Pid => "pid",
            Namespace::User => "user",
            Namespace::Cgroup => "cgroup",
            Namespace::Time => "time",
        }
    }
}

/// Opens `/proc/<pid>/ns/<kind>` (`/proc/self/...` for `None`): an fd for [`setns`], which
/// also keeps the namespace alive.
pub fn open(pid: Option<Pid>, kind: Namespace) -> Result<OwnedFd, Error> {
    let name = kind.proc_name();
    let path = match pid {
        Some(pid) => PathBuf::format(format_args!("/proc/{pid}/ns/{name}"))?,
        None => PathBuf::format(format_args!("/proc/self/ns/{name}"))?,
    };
    Ok(fs::openat(
        CWD,
        path.as_c_str(),
        OFlags::RDONLY | OFlags::CLOEXEC,
        0,
    )?)
}

/// The identity of a namespace: the inode number `/proc/<pid>/ns/<kind>` links to
/// (`uts:[4026531838]`); two processes share a namespace exactly when their ids are equal.
pub fn id(pid: Option<Pid>, kind: Namespace) -> Result<u64, Error> {
    let name = kind.proc_name();
    let path = match pid {
        Some(pid) => PathBuf::format(format_args!("/proc/{pid}/ns/{name}"))?,
        None => PathBuf::format(format_args!("/proc/self/ns/{name}"))?,
    };
    Ok(procfs::ns_link_inode(&path)?)
}

/// `unshare(flags)`: moves the caller into new namespaces, or stops sharing its fd table
/// (`CLONE_FILES`), filesystem attributes (`CLONE_FS`) or semaphore undo list
/// (`CLONE_SYSVSEM`), as TLPI 28.2.1 describes it. `CLONE_NEWPID` and `CLONE_NEWTIME` take
/// effect for the caller's later children only.
///
/// Refused before the syscall, with the rule: flags `unshare` does not take, a new user
/// namespace (or `VM`/`SIGHAND`/`THREAD`) in a multithreaded process, namespaces without
/// `CAP_SYS_ADMIN`, nesting too deep.
///
/// `CLONE_FILES` only for a caller alone in its address space ([`Error::VmWithoutFiles`]
/// otherwise: see [`program`](crate::program)). Asked of the kernel with
/// [`address_space_private`](crate::program::address_space_private); where that `unshare`
/// is filtered out (a seccomp policy: `EPERM`, `ENOSYS`), `/proc/self/stat`'s thread count
/// must say 1, and an unknown count is a refusal.
pub fn unshare(flags: CloneFlags) -> Result<(), Error> {
    let threads = procfs::thread_count().ok();
    validate_unshare(flags, &caller(), threads, KernelVersion::cached())?;
    if flags.contains(CloneFlags::FILES) {
        let alone = crate::program::address_space_private().unwrap_or(threads == Some(1));
        if !alone {
            return Err(Error::VmWithoutFiles);
        }
    }
    // Every flag unshare takes lies in the low 32 bits.
    // SAFETY: CLONE_FILES only when no other task shares our memory (checked just above,
    // by the kernel or, where it cannot be asked, by the thread count; only we could add one
    // meanwhile); the other flags touch no memory.
    unsafe { sysns::unshare(flags.bits() as u32) }?;
    Ok(())
}

/// `setns(fd, kind)`: joins the namespace `fd` refers to (from [`open`], or any
/// `/proc/PID/ns/*` fd), after checking with `NS_GET_NSTYPE` that it is a `kind` namespace
/// (else [`FlagError::SetnsKindMismatch`]; another kind of file gives `EINVAL`, an `O_PATH`
/// descriptor or [`CWD`], which is no descriptor, `EBADF`) and, for a
/// user namespace, that the caller is single-threaded.
pub fn setns(fd: impl AsFd, kind: Namespace) -> Result<(), Error> {
    let fd = fd.as_fd();
    let actual = match sysns::ns_get_nstype(fd) {
        Ok(bits) => CloneFlags::from_bits_truncate(u64::from(bits)),
        // Not a namespace file at all: what setns itself says of it.
        Err(crate::Errno::ENOTTY) => return Err(Error::Os(crate::Errno::EINVAL)),
        Err(errno) => return Err(Error::Os(errno)),
    };
    if actual != kind.flag() {
        return Err(FlagError::SetnsKindMismatch {
            expected: kind.flag(),
            actual,
        }
        .into());
    }
    if kind == Namespace::User && procfs::thread_count().is_ok_and(|n| n > 1) {
        return Err(FlagError::SetnsUserNeedsSingleThread.into());
    }
    sysns::setns(fd, kind.flag().bits() as u32)?;
    Ok(())
}

/// `setns(pidfd, kinds)` (Linux 5.8): joins several namespaces of the process a pidfd
/// refers to at once, atomically. `kinds` must be namespace flags only.
pub fn setns_pidfd(pidfd: impl AsFd, kinds: CloneFlags) -> Result<(), Error> {
    let pidfd = pidfd.as_fd();
    let unsupported = kinds - CloneFlags::ALL_NAMESPACES;
    if !unsupported.is_empty() || kinds.is_empty() {
        return Err(FlagError::NamespaceFlagsOnly(unsupported).into());
    }
    if kinds.contains(CloneFlags::NEWUSER) && procfs::thread_count().is_ok_and(|n| n > 1) {
        return Err(FlagError::SetnsUserNeedsSingleThread.into());
    }
    sysns::setns(pidfd, kinds.bits() as u32)?;
    Ok(())
}
