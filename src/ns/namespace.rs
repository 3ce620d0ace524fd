//! Namespaces: `unshare`, `setns`, opening `/proc/<pid>/ns/*`, and the caller state their
//! rules depend on. The kernel's rules are checked first and refused with a named
//! [`FlagError`].

use crate::errno::Errno;
use crate::error::Error;
use crate::fd::{BorrowedFd, OwnedFd};
use crate::flags::CloneFlags;
use crate::kernel_version::KernelVersion;
use crate::procfs::{self, PathBuf};
use crate::sys::Pid;
use crate::sys::fs::{self, CWD, OFlags};
use crate::sys::ns as sysns;
use crate::sys::process::{CAP_SYS_ADMIN, capget, getpid};
use crate::validate::{Caller, FlagError, validate_unshare};

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
    Ok(link_inode(&path)?)
}

/// The inode a namespace link names (`uts:[4026531838]` -> 4026531838); `EINVAL` if the
/// link is not of that form.
fn link_inode(path: &PathBuf) -> Result<u64, crate::Errno> {
    let mut buf = [0u8; 64];
    let link = fs::readlinkat(CWD, path.as_c_str(), &mut buf)?;
    let open = link
        .iter()
        .position(|&b| b == b'[')
        .ok_or(crate::Errno::EINVAL)?;
    let digits = link
        .get(open + 1..link.len().saturating_sub(1))
        .ok_or(crate::Errno::EINVAL)?;
    procfs::parse_u64(digits).ok_or(crate::Errno::EINVAL)
}

/// The calling process as the namespace rules see it: PID 1 of its namespace or not,
/// `CAP_SYS_ADMIN` or not, and its PID and user namespace depths (read from `/proc`; unknown
/// without it).
pub fn caller() -> Caller {
    let caps = capget(0).ok();
    Caller {
        is_ns_init: getpid() == 1,
        cap_sys_admin: caps.is_some_and(|c| c.has_effective(CAP_SYS_ADMIN)),
        pid_ns_level: procfs::pid_ns_level(),
        user_ns_level: user_ns_level(),
        cap_checkpoint_restore: caps.is_some_and(|c| c.has_effective(CAP_CHECKPOINT_RESTORE)),
        pid_ns_for_children_differs: for_children_differs("pid"),
        time_ns_for_children_differs: for_children_differs("time"),
        autoreaped: crate::task::autoreap::self_autoreaped(),
    }
}

/// `CAP_CHECKPOINT_RESTORE` (40).
const CAP_CHECKPOINT_RESTORE: u32 = 40;

/// Whether `/proc/self/ns/<kind>_for_children` names another namespace than
/// `/proc/self/ns/<kind>`; only looked at after this process called `unshare`/`setns`.
pub(crate) fn for_children_differs(kind: &str) -> bool {
    if !sysns::for_children_may_differ() {
        return false;
    }
    let inode = |name: core::fmt::Arguments<'_>| {
        PathBuf::format(name)
            .ok()
            .and_then(|path| link_inode(&path).ok())
    };
    let own = inode(format_args!("/proc/self/ns/{kind}"));
    let children = PathBuf::format(format_args!("/proc/self/ns/{kind}_for_children"))
        .map_err(|_| Errno::ENAMETOOLONG)
        .and_then(|path| link_inode(&path));
    match (own, children) {
        (Some(a), Ok(b)) => a != b,
        // Right after unshare(CLONE_NEWPID) the namespace for children exists but has no
        // process yet, and its link reads ENOENT until its PID 1 is born: it differs.
        (Some(_), Err(Errno::ENOENT)) => true,
        _ => false,
    }
}

/// The inode number of the initial user namespace (`PROC_USER_INIT_INO`).
const INIT_USER_NS_INO: u64 = 0xEFFF_FFFD;

/// The depth of the caller's user namespace below the initial one, by walking
/// `NS_GET_PARENT` up from `/proc/self/ns/user`. The kernel stops the walk at the top the
/// caller may see (`EPERM`), which is the initial namespace only if the caller can see it:
/// from inside a nested namespace the depth cannot be known, and this returns `None`.
pub fn user_ns_level() -> Option<u32> {
    let mut fd = open(None, Namespace::User).ok()?;
    let mut level = 0;
    while let Ok(parent) = sysns::ns_get_parent(fd.as_fd()) {
        fd = parent;
        level += 1;
        if level > 64 {
            return None;
        }
    }
    (ns_inode(fd.as_fd()) == Some(INIT_USER_NS_INO)).then_some(level)
}

/// The inode number of a namespace fd, from its `/proc/self/fd` link (`user:[4026531837]`).
fn ns_inode(fd: BorrowedFd<'_>) -> Option<u64> {
    let path = PathBuf::format(format_args!("/proc/self/fd/{}", fd.as_raw())).ok()?;
    link_inode(&path).ok()
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
/// otherwise: see [`program`](crate::program)).
pub fn unshare(flags: CloneFlags) -> Result<(), Error> {
    let threads = procfs::thread_count().ok();
    validate_unshare(flags, &caller(), threads, KernelVersion::cached())?;
    if flags.contains(CloneFlags::FILES) && crate::program::address_space_private() == Ok(false) {
        return Err(Error::VmWithoutFiles);
    }
    // Every flag unshare takes lies in the low 32 bits.
    // SAFETY: CLONE_FILES only when no other task shares our memory (checked just above;
    // only we could add one meanwhile); the other flags touch no memory.
    unsafe { sysns::unshare(flags.bits() as u32) }?;
    Ok(())
}

/// `setns(fd, kind)`: joins the namespace `fd` refers to (from [`open`], or any
/// `/proc/PID/ns/*` fd), after checking with `NS_GET_NSTYPE` that it is a `kind` namespace
/// (else [`FlagError::SetnsKindMismatch`]; another kind of file gives `EINVAL`, an `O_PATH`
/// descriptor or [`CWD`], which is no descriptor, `EBADF`) and, for a
/// user namespace, that the caller is single-threaded.
pub fn setns(fd: BorrowedFd<'_>, kind: Namespace) -> Result<(), Error> {
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
pub fn setns_pidfd(pidfd: BorrowedFd<'_>, kinds: CloneFlags) -> Result<(), Error> {
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
