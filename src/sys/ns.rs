//! Namespaces and what they isolate: `unshare`, `setns`, host names (`uname`,
//! `sethostname`), mounts (`mount`, `umount2`, `pivot_root`) and `reboot`.
//!
//! `unshare` and `setns` take raw `CLONE_NEW*` bits here; the typed flag set lives in
//! the crate's flags module.
//!
//! ```
//! use clonekit::sys::ns::uname;
//!
//! let name = uname();
//! assert_eq!(name.sysname(), b"Linux");
//! let release = String::from_utf8_lossy(name.release());
//! println!("Linux {release} on {}", String::from_utf8_lossy(name.machine()));
//! ```

use crate::errno::from_syscall;
use crate::fd::{AsFd, OwnedFd, RawFd};
use crate::{Errno, Result};
use core::ffi::CStr;
use linux_raw_sys::general as g;
use sc::{syscall1, syscall2, syscall4, syscall5};

/// `struct new_utsname`: the fields `uname` reports, each NUL-terminated.
#[derive(Clone, Copy)]
pub struct Utsname(linux_raw_sys::system::new_utsname);

fn field(f: &[core::ffi::c_char; 65]) -> &CStr {
    // SAFETY: `c_char` and `u8` have the same size and alignment; the slice covers
    // exactly the 65-byte field.
    let bytes = unsafe { core::slice::from_raw_parts(f.as_ptr().cast::<u8>(), f.len()) };
    CStr::from_bytes_until_nul(bytes).unwrap_or(c"")
}

macro_rules! uts_fields {
    ($($name:ident, $cname:ident, $doc:literal;)*) => {
        impl Utsname {
            $(
                #[doc = concat!("`", stringify!($name), "`: ", $doc, ", without its NUL.")]
                pub fn $name(&self) -> &[u8] {
                    field(&self.0.$name).to_bytes()
                }

                #[doc = concat!("`", stringify!($name), "` as a C string.")]
                pub fn $cname(&self) -> &CStr {
                    field(&self.0.$name)
                }
            )*
        }
    };
}

uts_fields! {
    sysname, sysname_c_str, "`\"Linux\"`";
    nodename, nodename_c_str, "the host name (per UTS namespace)";
    release, release_c_str, "the kernel release, e.g. `\"6.1.0-18-amd64\"`";
    version, version_c_str, "the kernel build string";
    machine, machine_c_str, "`\"x86_64\"`, `\"aarch64\"` or `\"riscv64\"`";
    domainname, domainname_c_str, "the NIS domain name (per UTS namespace), `\"(none)\"` if unset";
}

impl core::fmt::Debug for Utsname {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Utsname")
            .field("sysname", &self.sysname_c_str())
            .field("nodename", &self.nodename_c_str())
            .field("release", &self.release_c_str())
            .field("machine", &self.machine_c_str())
            .field("domainname", &self.domainname_c_str())
            .finish_non_exhaustive()
    }
}

/// `uname(&buf)`: the kernel's and this UTS namespace's names.
///
/// Infallible: the only error `uname` has is `EFAULT`, and the buffer is local.
///
/// # References
/// uname(2)
pub fn uname() -> Utsname {
    // SAFETY: new_utsname is six byte arrays; all-zero is valid.
    let mut u: linux_raw_sys::system::new_utsname = unsafe { core::mem::zeroed() };
    // SAFETY: the kernel writes one new_utsname into `u`.
    let ret = unsafe {
        syscall1(
            g::__NR_uname as usize,
            &mut u as *mut linux_raw_sys::system::new_utsname as usize,
        )
    };
    debug_assert!(from_syscall(ret).is_ok());
    Utsname(u)
}

/// `sethostname(name, len)`: sets the host name of the caller's UTS namespace (at most
/// 64 bytes; needs `CAP_SYS_ADMIN` there).
///
/// # References
/// sethostname(2)
pub fn sethostname(name: &[u8]) -> Result<(), Errno> {
    // SAFETY: the kernel reads `name.len()` bytes from `name`.
    from_syscall(unsafe {
        syscall2(
            g::__NR_sethostname as usize,
            name.as_ptr() as usize,
            name.len(),
        )
    })
    .map(drop)
}

/// `setdomainname(name, len)`: sets the NIS domain name of the caller's UTS namespace.
///
/// # References
/// setdomainname(2)
pub fn setdomainname(name: &[u8]) -> Result<(), Errno> {
    // SAFETY: the kernel reads `name.len()` bytes from `name`.
    from_syscall(unsafe {
        syscall2(
            g::__NR_setdomainname as usize,
            name.as_ptr() as usize,
            name.len(),
        )
    })
    .map(drop)
}

/// `unshare(flags)`: moves the caller into new namespaces / unshares its `CLONE_FILES`,
/// `CLONE_FS`, `CLONE_SYSVSEM` state. `flags` are raw `CLONE_*` bits.
///
/// `CLONE_NEWPID` and `CLONE_NEWTIME` affect only children created afterwards.
/// [`namespace::unshare`](crate::namespace::unshare) is the checked, safe way in.
///
/// # Safety
/// `CLONE_FILES` gives the caller a descriptor table of its own: if other tasks share its
/// memory (threads, `CLONE_VM` children), every descriptor owner in that memory (`OwnedFd`,
/// `File`, a pidfd) then names one file in one table and another, or none, in the other.
/// The caller must be alone in its address space, or make sure no such owner crosses
/// between them. The other flags touch no memory.
///
/// # References
/// unshare(2)
pub unsafe fn unshare(flags: u32) -> Result<(), Errno> {
    // SAFETY: integer argument only; the caller's contract covers what CLONE_FILES splits.
    from_syscall(unsafe { syscall1(g::__NR_unshare as usize, flags as usize) })?;
    note_for_children(flags);
    Ok(())
}

/// Set once this process may have changed its PID or time namespace for children (by
/// `unshare` or `setns`), so that the validator knows to look (see
/// [`for_children_may_differ`]). Copied into children, which check afresh.
static FOR_CHILDREN_MAY_DIFFER: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

fn note_for_children(nstype: u32) {
    if nstype == 0 || nstype & (g::CLONE_NEWPID | g::CLONE_NEWTIME) != 0 {
        FOR_CHILDREN_MAY_DIFFER.store(true, core::sync::atomic::Ordering::Relaxed);
    }
}

/// Whether this process has called `unshare` or `setns` in a way that may have given its
/// children another PID or time namespace than its own: only then is it worth comparing
/// `/proc/self/ns/pid` with `pid_for_children` (and `time` with `time_for_children`).
pub fn for_children_may_differ() -> bool {
    FOR_CHILDREN_MAY_DIFFER.load(core::sync::atomic::Ordering::Relaxed)
}

/// `setns(fd, nstype)`: joins the namespace `fd` refers to (a `/proc/PID/ns/*` file),
/// or with a pidfd the namespaces of `nstype` (Linux 5.8). `nstype` 0 accepts any
/// type.
///
/// # References
/// setns(2)
pub fn setns(fd: impl AsFd, nstype: u32) -> Result<(), Errno> {
    let fd = fd.as_fd();
    let fd = fd.as_raw() as usize;
    // SAFETY: integer arguments only.
    from_syscall(unsafe { syscall2(g::__NR_setns as usize, fd, nstype as usize) })?;
    note_for_children(nstype);
    Ok(())
}

bitflags::bitflags! {
    /// `MS_*` flags for [`mount`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct MountFlags: u32 {
        /// `MS_RDONLY`.
        const RDONLY = g::MS_RDONLY;
        /// `MS_NOSUID`.
        const NOSUID = g::MS_NOSUID;
        /// `MS_NODEV`.
        const NODEV = g::MS_NODEV;
        /// `MS_NOEXEC`.
        const NOEXEC = g::MS_NOEXEC;
        /// `MS_REMOUNT`.
        const REMOUNT = g::MS_REMOUNT;
        /// `MS_NOATIME`.
        const NOATIME = g::MS_NOATIME;
        /// `MS_BIND`: bind mount `source` at `target`.
        const BIND = g::MS_BIND;
        /// `MS_MOVE`.
        const MOVE = g::MS_MOVE;
        /// `MS_REC`: with `BIND` or a propagation flag, the whole subtree.
        const REC = g::MS_REC;
        /// `MS_SILENT`.
        const SILENT = g::MS_SILENT;
        /// `MS_UNBINDABLE`.
        const UNBINDABLE = g::MS_UNBINDABLE;
        /// `MS_PRIVATE`: no propagation (what a new mount namespace usually wants).
        const PRIVATE = g::MS_PRIVATE;
        /// `MS_SLAVE`.
        const SLAVE = g::MS_SLAVE;
        /// `MS_SHARED`.
        const SHARED = g::MS_SHARED;
        /// `MS_STRICTATIME`.
        const STRICTATIME = g::MS_STRICTATIME;
    }
}

fn opt_ptr(s: Option<&CStr>) -> usize {
    s.map_or(0, |s| s.as_ptr() as usize)
}

/// `mount(source, target, fstype, flags, data)`: mounts a filesystem, or with
/// `BIND`/`MOVE`/`REMOUNT`/propagation flags changes a mount. `data` is the
/// filesystem's option string (e.g. `"mode=755"`).
///
/// # References
/// mount(2)
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: MountFlags,
    data: Option<&CStr>,
) -> Result<(), Errno> {
    // SAFETY: every pointer is NULL or a NUL-terminated string the kernel only reads.
    from_syscall(unsafe {
        syscall5(
            g::__NR_mount as usize,
            opt_ptr(source),
            target.as_ptr() as usize,
            opt_ptr(fstype),
            flags.bits() as usize,
            opt_ptr(data),
        )
    })
    .map(drop)
}

bitflags::bitflags! {
    /// Flags for [`umount2`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct UnmountFlags: u32 {
        /// `MNT_FORCE`.
        const FORCE = g::MNT_FORCE;
        /// `MNT_DETACH`: lazy unmount.
        const DETACH = g::MNT_DETACH;
        /// `MNT_EXPIRE`.
        const EXPIRE = g::MNT_EXPIRE;
        /// `UMOUNT_NOFOLLOW`.
        const NOFOLLOW = g::UMOUNT_NOFOLLOW;
    }
}

/// `umount2(target, flags)`: unmounts the filesystem at `target`.
///
/// # References
/// umount2(2)
pub fn umount2(target: &CStr, flags: UnmountFlags) -> Result<(), Errno> {
    // SAFETY: `target` is a NUL-terminated string the kernel only reads.
    from_syscall(unsafe {
        syscall2(
            g::__NR_umount2 as usize,
            target.as_ptr() as usize,
            flags.bits() as usize,
        )
    })
    .map(drop)
}

/// `pivot_root(new_root, put_old)`: makes the mount `new_root` the caller's mount
/// namespace's root and moves the old root to `put_old` (under `new_root`).
/// `pivot_root(".", ".")` followed by `umount2(".", DETACH)` drops the old root.
///
/// # References
/// pivot_root(2)
pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> Result<(), Errno> {
    // SAFETY: both are NUL-terminated strings the kernel only reads.
    from_syscall(unsafe {
        syscall2(
            g::__NR_pivot_root as usize,
            new_root.as_ptr() as usize,
            put_old.as_ptr() as usize,
        )
    })
    .map(drop)
}

/// `LINUX_REBOOT_MAGIC1` (`0xfee1dead`), the first magic argument of `reboot`.
pub const LINUX_REBOOT_MAGIC1: u32 = g::LINUX_REBOOT_MAGIC1;
/// `LINUX_REBOOT_MAGIC2` (`672274793`, Torvalds' birthday), the second magic argument.
pub const LINUX_REBOOT_MAGIC2: u32 = g::LINUX_REBOOT_MAGIC2;

/// What [`reboot`] does (`LINUX_REBOOT_CMD_*`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RebootCmd {
    /// `LINUX_REBOOT_CMD_POWER_OFF`. Inside a non-initial PID namespace: ends its init
    /// as if killed by `SIGINT`.
    PowerOff = g::LINUX_REBOOT_CMD_POWER_OFF,
    /// `LINUX_REBOOT_CMD_RESTART`. Inside a non-initial PID namespace: ends its init
    /// as if killed by `SIGHUP`.
    Restart = g::LINUX_REBOOT_CMD_RESTART,
    /// `LINUX_REBOOT_CMD_HALT`. Inside a PID namespace: like `PowerOff`.
    Halt = g::LINUX_REBOOT_CMD_HALT,
    /// `LINUX_REBOOT_CMD_CAD_ON`: Ctrl-Alt-Del reboots at once.
    CadOn = g::LINUX_REBOOT_CMD_CAD_ON,
    /// `LINUX_REBOOT_CMD_CAD_OFF`: Ctrl-Alt-Del sends `SIGINT` to init.
    CadOff = g::LINUX_REBOOT_CMD_CAD_OFF,
}

/// `reboot(LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, cmd, NULL)`.
///
/// `PowerOff`/`Restart`/`Halt` do not return on success. The kernel does not sync
/// filesystems first: call `sync` before. In a child PID namespace the command ends
/// that namespace's init instead (see [`RebootCmd`]); needs `CAP_SYS_BOOT`.
///
/// # References
/// reboot(2)
pub fn reboot(cmd: RebootCmd) -> Result<(), Errno> {
    // SAFETY: the fourth argument (only read by RESTART2) is NULL.
    from_syscall(unsafe {
        syscall4(
            g::__NR_reboot as usize,
            LINUX_REBOOT_MAGIC1 as usize,
            LINUX_REBOOT_MAGIC2 as usize,
            cmd as usize,
            0,
        )
    })
    .map(drop)
}

/// `sync()`: flushes filesystem buffers (before [`reboot`]).
///
/// # References
/// sync(2)
pub fn sync() {
    // SAFETY: takes no arguments, cannot fail.
    unsafe { sc::syscall0(g::__NR_sync as usize) };
}

/// `NS_GET_PARENT`: `_IO(0xb7, 0x2)`.
const NS_GET_PARENT: usize = 0xb702;
/// `NS_GET_NSTYPE`: `_IO(0xb7, 0x3)`.
const NS_GET_NSTYPE: usize = 0xb703;

/// `ioctl(fd, NS_GET_NSTYPE)`: the `CLONE_NEW*` flag of the namespace a `/proc/PID/ns/*` fd
/// refers to (Linux 4.11). `ENOTTY` for any other kind of fd, `EBADF` for a closed one.
///
/// # References
/// ioctl_ns(2)
pub fn ns_get_nstype(fd: impl AsFd) -> Result<u32, Errno> {
    let fd = fd.as_fd();
    let fd = fd.as_raw() as usize;
    // SAFETY: NS_GET_NSTYPE takes no argument pointer.
    from_syscall(unsafe { syscall2(g::__NR_ioctl as usize, fd, NS_GET_NSTYPE) }).map(|t| t as u32)
}

/// `ioctl(fd, NS_GET_PARENT)`: the parent of a PID or user namespace. `EPERM` at the top
/// the caller may see.
///
/// # References
/// ioctl_ns(2)
pub fn ns_get_parent(fd: impl AsFd) -> Result<OwnedFd, Errno> {
    let fd = fd.as_fd();
    let fd = fd.as_raw() as usize;
    // SAFETY: NS_GET_PARENT takes no argument pointer and returns a new fd.
    let new = from_syscall(unsafe { syscall2(g::__NR_ioctl as usize, fd, NS_GET_PARENT) })?;
    // SAFETY: the kernel just gave us this fd.
    Ok(unsafe { OwnedFd::from_raw(new as RawFd) })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::sys::fs::{CWD, OFlags, openat};
    use crate::sys::process::{exit_group, getpid};
    use crate::sys::signal::Signal;
    use crate::sys::testutil::{raw_fork, skip, try_raw_fork, wait_exit_code};
    use crate::sys::wait::{WaitOptions, WaitStatus, wait4};

    #[test]
    fn uname_is_linux_and_names_this_host() {
        let u = uname();
        assert_eq!(u.sysname(), b"Linux");
        let expected_machine: &[u8] = match std::env::consts::ARCH {
            "x86_64" => b"x86_64",
            "aarch64" => b"aarch64",
            "riscv64" => b"riscv64",
            other => panic!("{other}"),
        };
        assert_eq!(u.machine(), expected_machine);
        assert_eq!(u.release_c_str().to_bytes(), u.release());
        let proc_host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(u.nodename(), proc_host.trim_end().as_bytes());
        assert_eq!(u.nodename_c_str().to_bytes(), u.nodename());
    }

    /// Exit codes of the namespace children: 0 pass, 77 cannot unshare (skip),
    /// anything else names the failing step.
    const SKIP: i32 = 77;

    fn run_child(name: &str, child: impl FnOnce() -> i32) -> bool {
        let pid = raw_fork();
        if pid == 0 {
            exit_group(child());
        }
        match wait_exit_code(pid) {
            0 => true,
            SKIP => {
                skip(name, "unshare refused (needs CAP_SYS_ADMIN / not emulated)");
                false
            }
            code => panic!("{name}: child failed at step {code}"),
        }
    }

    #[test]
    fn sethostname_in_a_new_uts_namespace() {
        let before = uname();
        run_child("sethostname_in_a_new_uts_namespace", || {
            // SAFETY: a namespace flag only: no descriptor table is split.
            if unsafe { unshare(g::CLONE_NEWUTS) }.is_err() {
                return SKIP;
            }
            if sethostname(b"clonekit-uts").is_err() || setdomainname(b"clonekit.dom").is_err() {
                return 1;
            }
            let u = uname();
            if u.nodename() != b"clonekit-uts" {
                return 3;
            }
            if u.domainname() != b"clonekit.dom" {
                return 4;
            }
            if sethostname(&[b'x'; 65]) != Err(Errno::EINVAL) {
                return 5;
            }
            0
        });
        let after = uname();
        assert_eq!(before.nodename(), after.nodename(), "host name leaked out");
    }

    #[test]
    fn mount_tmpfs_in_a_new_mount_namespace() {
        let dir = std::format!("/tmp/clonekit-mnt-{}", std::process::id());
        std::fs::create_dir_all(&dir).unwrap();
        let cdir = std::ffi::CString::new(dir.clone()).unwrap();
        let cfile = std::ffi::CString::new(std::format!("{dir}/inside")).unwrap();
        let (cdir, cfile) = (cdir.as_c_str(), cfile.as_c_str());
        run_child("mount_tmpfs_in_a_new_mount_namespace", || {
            // SAFETY: a namespace flag only: no descriptor table is split.
            if unsafe { unshare(g::CLONE_NEWNS) }.is_err() {
                return SKIP;
            }
            if mount(
                None,
                c"/",
                None,
                MountFlags::REC | MountFlags::PRIVATE,
                None,
            )
            .is_err()
            {
                return 1;
            }
            if mount(
                Some(c"none"),
                cdir,
                Some(c"tmpfs"),
                MountFlags::NOSUID,
                Some(c"size=64k"),
            )
            .is_err()
            {
                return 2;
            }
            let flags = OFlags::CREAT | OFlags::WRONLY | OFlags::CLOEXEC;
            match openat(CWD, cfile, flags, 0o600) {
                Ok(fd) => drop(fd),
                Err(_) => return 3,
            }
            if umount2(cdir, UnmountFlags::empty()).is_err() {
                return 4;
            }
            // The file lived on the tmpfs: gone with it.
            if openat(CWD, cfile, OFlags::RDONLY, 0).map(drop) != Err(Errno::ENOENT) {
                return 5;
            }
            if umount2(cdir, UnmountFlags::empty()) != Err(Errno::EINVAL) {
                return 6;
            }
            0
        });
        // Nothing was created in the parent's mount namespace.
        assert!(std::fs::metadata(std::format!("{dir}/inside")).is_err());
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn reboot_restart_ends_a_pid_namespace_init_with_sighup() {
        run_child(
            "reboot_restart_ends_a_pid_namespace_init_with_sighup",
            || {
                // SAFETY: a namespace flag only: no descriptor table is split.
                if unsafe { unshare(g::CLONE_NEWPID) }.is_err() {
                    return SKIP;
                }
                let Ok(init) = try_raw_fork() else { return 13 };
                if init == 0 {
                    // Guard: only ever reboot as PID 1 of the new namespace, never the host.
                    if getpid() != 1 {
                        exit_group(10);
                    }
                    let _ = reboot(RebootCmd::Restart);
                    exit_group(11); // reboot returned: failure
                }
                match wait4(init, WaitOptions::empty()) {
                    Ok(Some((_, WaitStatus::Signaled(Signal::SIGHUP, _)))) => 0,
                    Ok(Some((_, WaitStatus::Exited(code)))) => code,
                    _ => 12,
                }
            },
        );
    }

    #[test]
    fn setns_rejects_a_non_namespace_fd() {
        let fd = openat(CWD, c"/", OFlags::RDONLY | OFlags::CLOEXEC, 0).unwrap();
        assert_eq!(setns(fd.as_fd(), 0), Err(Errno::EINVAL));
        // AT_FDCWD is no descriptor.
        assert_eq!(setns(CWD, 0), Err(Errno::EBADF));
        // Joining our own UTS namespace is allowed for root and changes nothing.
        let pid = raw_fork();
        if pid == 0 {
            let code = match openat(CWD, c"/proc/self/ns/uts", OFlags::RDONLY, 0) {
                Ok(ns) => match setns(ns.as_fd(), g::CLONE_NEWUTS) {
                    Ok(()) => 0,
                    Err(Errno::EPERM) | Err(Errno::ENOSYS) => SKIP,
                    Err(_) => 1,
                },
                Err(_) => 2,
            };
            exit_group(code);
        }
        match wait_exit_code(pid) {
            0 => {}
            SKIP => skip("setns_rejects_a_non_namespace_fd", "setns refused"),
            code => panic!("setns child failed at step {code}"),
        }
    }

    #[test]
    fn pivot_root_rejects_a_non_mount_point() {
        // A real pivot is done by the init tests in the QEMU guest; here, without a
        // new mount namespace, only the argument check is safe to exercise.
        assert_eq!(
            pivot_root(c"/nonexistent-clonekit", c"/"),
            Err(Errno::ENOENT)
        );
    }
}
