//! The calling process as the kernel's rules see it: the [`Caller`] the validator is told,
//! whole ([`caller`], what `unshare` checks against) or with only the system calls a clone's
//! flags make relevant ([`caller_for`], what every clone checks against), and the facts that
//! take more than a system call to learn: its user namespace depth ([`user_ns_level`]),
//! whether its children get other PID or time namespaces than its own, and whether it was
//! itself created with `CLONE_AUTOREAP` (a mark kept in memory: nothing in `/proc` shows it).
//!
//! Both rooms above ask: `task` (the raw clone checks, the autoreap builders that set the
//! mark, the fork-like children that clear an inherited one) and `ns` (`unshare`, and
//! `procfs::ns_link_inode` for `namespace::id`). So this module sits below both and uses only
//! `sys`, `procfs`, `flags`, `kernel_version` and `validate`. The public paths are
//! `clonekit::namespace::{caller, user_ns_level}`.

use core::sync::atomic::{AtomicI32, Ordering};

use crate::errno::Errno;
use crate::fd::BorrowedFd;
use crate::flags::CloneFlags;
use crate::kernel_version::KernelVersion;
use crate::procfs::{self, PathBuf};
use crate::sys::fs::{self, CWD, OFlags};
use crate::sys::ns as sysns;
use crate::sys::process::{CAP_SYS_ADMIN, capget, getpid};
use crate::validate::Caller;

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
        autoreaped: self_autoreaped(),
    }
}

/// The caller state the rules in `flags` depend on, with only the syscalls those rules need
/// (none for a plain thread).
pub(crate) fn caller_for(flags: CloneFlags, set_tid: bool) -> Caller {
    let namespaces = CloneFlags::ALL_NAMESPACES
        .difference(CloneFlags::NEWUSER)
        .union(CloneFlags::EMPTY_MNTNS);
    // CLONE_PIDFD_AUTOKILL without CLONE_NNP needs CAP_SYS_ADMIN too.
    let autokill = flags.contains(CloneFlags::PIDFD_AUTOKILL) && !flags.contains(CloneFlags::NNP);
    let caps = (flags.intersects(namespaces) || set_tid || autokill)
        .then(|| capget(0).ok())
        .flatten();
    let has = |cap: u32| caps.is_some_and(|c| c.has_effective(cap));
    Caller {
        is_ns_init: flags.contains(CloneFlags::PARENT) && getpid() == 1,
        // Only the rules these flags trigger need the real answer.
        cap_sys_admin: caps.is_none() || has(CAP_SYS_ADMIN),
        pid_ns_level: None,
        user_ns_level: None,
        cap_checkpoint_restore: has(CAP_CHECKPOINT_RESTORE),
        pid_ns_for_children_differs: flags.contains(CloneFlags::THREAD)
            && for_children_differs("pid"),
        time_ns_for_children_differs: flags.intersects(CloneFlags::THREAD | CloneFlags::VM)
            && KernelVersion::cached() < KernelVersion::V6_2
            && for_children_differs("time"),
        autoreaped: flags.contains(CloneFlags::PARENT) && self_autoreaped(),
    }
}

/// `CAP_CHECKPOINT_RESTORE` (40).
const CAP_CHECKPOINT_RESTORE: u32 = 40;

/// The PID this process had when a clonekit builder started it with `CLONE_AUTOREAP`
/// (0: not known to be autoreaped). Only a fork-like child records it, in its own copy of
/// memory; comparing with `getpid()` keeps a descendant that inherits the copy from taking
/// it for its own (and clonekit's fork-like children clear it when they start).
static AUTOREAPED_AS: AtomicI32 = AtomicI32::new(0);

/// Records that the calling process was created with `CLONE_AUTOREAP`: called first thing
/// in a fork-like child by the autoreap builders.
pub(crate) fn mark_self_autoreaped() {
    AUTOREAPED_AS.store(getpid(), Ordering::Relaxed);
}

/// Whether the calling process is known to have been created with `CLONE_AUTOREAP` (by a
/// clonekit builder, without `CLONE_VM`): the kernel then refuses it `CLONE_PARENT`.
/// `false` when unknown (no `/proc` file tells), which leaves that rule to the kernel.
pub(crate) fn self_autoreaped() -> bool {
    let marked = AUTOREAPED_AS.load(Ordering::Relaxed);
    marked != 0 && marked == getpid()
}

/// Forgets an inherited mark: called by every fork-like child clonekit starts (a child is
/// autoreaped only if it was itself created so).
pub(crate) fn forget_inherited_mark() {
    AUTOREAPED_AS.store(0, Ordering::Relaxed);
}

/// Whether `/proc/self/ns/<kind>_for_children` names another namespace than
/// `/proc/self/ns/<kind>`; only looked at after this process called `unshare`/`setns`.
fn for_children_differs(kind: &str) -> bool {
    if !sysns::for_children_may_differ() {
        return false;
    }
    let inode = |name: core::fmt::Arguments<'_>| {
        PathBuf::format(name)
            .ok()
            .and_then(|path| procfs::ns_link_inode(&path).ok())
    };
    let own = inode(format_args!("/proc/self/ns/{kind}"));
    let children = PathBuf::format(format_args!("/proc/self/ns/{kind}_for_children"))
        .map_err(|_| Errno::ENAMETOOLONG)
        .and_then(|path| procfs::ns_link_inode(&path));
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
    let mut fd = fs::openat(
        CWD,
        c"/proc/self/ns/user",
        OFlags::RDONLY | OFlags::CLOEXEC,
        0,
    )
    .ok()?;
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
    procfs::ns_link_inode(&path).ok()
}
