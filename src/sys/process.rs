//! The calling process and thread: ids, exit, `execve`, `prctl`, capabilities,
//! `set_tid_address`.
//!
//! ```
//! use clonekit::sys::process::{capget, get_child_subreaper, getpid, getppid};
//!
//! assert_eq!(getpid(), std::process::id() as i32);
//! assert!(getppid() >= 0); // 0 when the parent is outside this PID namespace
//! println!("subreaper: {:?}", get_child_subreaper());
//! let caps = capget(0)?; // the caller's own
//! println!("CAP_SYS_ADMIN: {}", caps.has_effective(21));
//! # Ok::<(), clonekit::Errno>(())
//! ```

use crate::errno::from_syscall;
use crate::fd::AsFd;
use crate::sys::signal::Signal;
use crate::sys::{Gid, Pid, Uid};
use crate::{Errno, Result};
use core::ffi::{CStr, c_char};
use linux_raw_sys::general as g;
use linux_raw_sys::prctl as pr;
use sc::{syscall0, syscall1, syscall2, syscall3, syscall5};

macro_rules! id_call {
    ($(#[$doc:meta])* $name:ident, $nr:ident, $ty:ty) => {
        $(#[$doc])*
        pub fn $name() -> $ty {
            // SAFETY: takes no arguments, cannot fail.
            unsafe { syscall0(g::$nr as usize) as $ty }
        }
    };
}

id_call!(
    /// `getpid()`: the caller's process id (thread group id), as seen in its own PID
    /// namespace.
    ///
    /// # References
    /// getpid(2)
    getpid, __NR_getpid, Pid
);
id_call!(
    /// `gettid()`: the calling thread's id (equals [`getpid`] on the main thread).
    ///
    /// # References
    /// gettid(2)
    gettid, __NR_gettid, Pid
);
id_call!(
    /// `getppid()`: the parent's process id (0 if the parent is outside the caller's
    /// PID namespace).
    ///
    /// # References
    /// getppid(2)
    getppid, __NR_getppid, Pid
);
id_call!(
    /// `getuid()`: the real user id.
    ///
    /// # References
    /// getuid(2)
    getuid, __NR_getuid, Uid
);
id_call!(
    /// `geteuid()`: the effective user id.
    ///
    /// # References
    /// geteuid(2)
    geteuid, __NR_geteuid, Uid
);
id_call!(
    /// `getgid()`: the real group id.
    ///
    /// # References
    /// getgid(2)
    getgid, __NR_getgid, Gid
);
id_call!(
    /// `getegid()`: the effective group id.
    ///
    /// # References
    /// getegid(2)
    getegid, __NR_getegid, Gid
);

/// `setresuid(ruid, euid, suid)`: sets the real, effective and saved user ids (in the
/// caller's user namespace: inside a new one, id 0 becomes the outer id mapped to 0).
///
/// # References
/// setresuid(2)
pub fn setresuid(ruid: Uid, euid: Uid, suid: Uid) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    from_syscall(unsafe {
        syscall3(
            g::__NR_setresuid as usize,
            ruid as usize,
            euid as usize,
            suid as usize,
        )
    })
    .map(drop)
}

/// `setresgid(rgid, egid, sgid)`: sets the real, effective and saved group ids.
///
/// # References
/// setresgid(2)
pub fn setresgid(rgid: Gid, egid: Gid, sgid: Gid) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    from_syscall(unsafe {
        syscall3(
            g::__NR_setresgid as usize,
            rgid as usize,
            egid as usize,
            sgid as usize,
        )
    })
    .map(drop)
}

/// `exit(code)`: ends the calling **thread** only (the process lives on while other
/// threads do); a process's last thread ending ends the process with `code & 0xff`.
/// This is what a clone child's trampoline ends with (`exit_group` there would kill
/// every thread of a `CLONE_THREAD` parent).
///
/// # Safety
///
/// The thread's stack frames are abandoned without running their destructors. Other
/// threads may borrow data on this stack, protected only by a destructor that would
/// have waited for them (a scope guard, `std::thread::scope`, a join handle
/// dropped-and-joined): once the stack's owner frees or reuses the memory (a joining
/// parent unmapping it), those borrows dangle. The caller must ensure no other thread
/// holds a borrow into this thread's stack, or that the stack memory outlives every
/// such borrow, and that it holds no lock others will wait for.
///
/// # References
/// exit(2)
pub unsafe fn exit(code: i32) -> ! {
    // SAFETY: exit never returns; the caller vouches for the abandoned stack.
    unsafe { syscall1(g::__NR_exit as usize, code as usize) };
    unreachable_exit()
}

/// `exit_group(code)`: ends every thread of the calling process; the status is
/// `code & 0xff`. No destructors or atexit handlers run.
///
/// # References
/// exit_group(2)
pub fn exit_group(code: i32) -> ! {
    // SAFETY: exit_group never returns, so no thread of this process observes
    // anything afterwards.
    unsafe { syscall1(g::__NR_exit_group as usize, code as usize) };
    unreachable_exit()
}

#[cold]
fn unreachable_exit() -> ! {
    // The exit syscalls cannot fail; if one did return, do not run on.
    loop {
        // SAFETY: exit_group takes no pointers.
        unsafe { syscall1(g::__NR_exit_group as usize, 127) };
    }
}

/// `clone3(NULL, 0)`: asks whether the kernel has `clone3` (Linux 5.3) without creating
/// anything. A kernel that has it refuses the zero size (`EINVAL`) before reading memory;
/// one without it (or an emulator, or a seccomp filter) answers `ENOSYS`.
///
/// # References
/// clone3(2)
pub fn clone3_probe() -> Errno {
    // SAFETY: clone3 with a NULL args pointer and size 0 is refused by the kernel's size
    // check (EINVAL) before it reads memory or creates a task, or is unknown (ENOSYS).
    let ret = unsafe { syscall2(g::__NR_clone3 as usize, 0, 0) };
    from_syscall(ret).err().unwrap_or(Errno::EINVAL)
}

/// `execve(path, argv, envp)`: replaces the process image; returns only on failure.
///
/// # Safety
///
/// `argv` and `envp` must each point to a NULL-terminated array of pointers to
/// NUL-terminated strings, all valid for reads until the call returns (on success
/// the kernel has copied them). In a `CLONE_VM` child the parent's memory must stay
/// intact until the exec is done (a `CLONE_VFORK` parent waits for that).
///
/// # References
/// execve(2)
pub unsafe fn execve(path: &CStr, argv: *const *const c_char, envp: *const *const c_char) -> Errno {
    // SAFETY: `path` is NUL-terminated; the caller vouches for `argv` and `envp`.
    let ret = unsafe {
        syscall3(
            g::__NR_execve as usize,
            path.as_ptr() as usize,
            argv as usize,
            envp as usize,
        )
    };
    match from_syscall(ret) {
        Err(e) => e,
        Ok(_) => Errno::EINVAL,
    }
}

/// `sched_yield()`: lets other runnable threads go first.
///
/// # References
/// sched_yield(2)
pub fn sched_yield() {
    // SAFETY: takes no arguments, cannot fail.
    unsafe { syscall0(g::__NR_sched_yield as usize) };
}

/// `set_tid_address(tidptr)`: sets the calling thread's `clear_child_tid`: at thread
/// exit the kernel writes 0 there and does a (shared) futex wake. Returns the
/// caller's thread id.
///
/// # Safety
///
/// `tidptr` must be NULL or point to an aligned `u32` that stays valid (not freed,
/// not reused for anything else) until the thread exits or the address is replaced.
///
/// # References
/// set_tid_address(2)
pub unsafe fn set_tid_address(tidptr: *mut u32) -> Pid {
    // SAFETY: the caller vouches for the pointer's lifetime.
    unsafe { syscall1(g::__NR_set_tid_address as usize, tidptr as usize) as Pid }
}

/// `prctl(option, arg2, arg3, arg4, arg5)`: the raw form.
///
/// # Safety
///
/// Many options take pointers the kernel reads or writes (`PR_GET_NAME` writes 16
/// bytes, `PR_SET_MM` rewires the address space, `PR_SET_SECCOMP` installs a
/// filter): the arguments must be what the option expects. Prefer the safe helpers.
///
/// # References
/// prctl(2)
pub unsafe fn prctl(
    option: u32,
    arg2: usize,
    arg3: usize,
    arg4: usize,
    arg5: usize,
) -> Result<usize, Errno> {
    // SAFETY: the caller vouches that the arguments suit `option`.
    from_syscall(unsafe {
        syscall5(
            g::__NR_prctl as usize,
            option as usize,
            arg2,
            arg3,
            arg4,
            arg5,
        )
    })
}

/// `prctl(PR_SET_CHILD_SUBREAPER, on)`: orphaned descendants are re-parented to the
/// caller instead of to the PID namespace's init.
///
/// # References
/// prctl(2) PR_SET_CHILD_SUBREAPER
pub fn set_child_subreaper(on: bool) -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    unsafe { prctl(pr::PR_SET_CHILD_SUBREAPER, usize::from(on), 0, 0, 0) }.map(drop)
}

/// `prctl(PR_GET_CHILD_SUBREAPER, &flag)`: whether the caller is a subreaper.
///
/// # References
/// prctl(2) PR_GET_CHILD_SUBREAPER
pub fn get_child_subreaper() -> Result<bool, Errno> {
    let mut v: i32 = 0;
    // SAFETY: the kernel writes one int into `v`.
    unsafe {
        prctl(
            pr::PR_GET_CHILD_SUBREAPER,
            &mut v as *mut i32 as usize,
            0,
            0,
            0,
        )
    }?;
    Ok(v != 0)
}

/// `prctl(PR_SET_PDEATHSIG, sig)`: the signal the caller gets when its parent
/// *thread* exits (`None` clears it). Cleared across `fork`/`clone` in the child and
/// by setuid exec.
///
/// # References
/// prctl(2) PR_SET_PDEATHSIG
pub fn set_pdeathsig(sig: Option<Signal>) -> Result<(), Errno> {
    let raw = sig.map_or(0, |s| s.raw() as usize);
    // SAFETY: integer arguments only.
    unsafe { prctl(pr::PR_SET_PDEATHSIG, raw, 0, 0, 0) }.map(drop)
}

/// `prctl(PR_GET_PDEATHSIG, &sig)`: the parent-death signal, if set.
///
/// # References
/// prctl(2) PR_GET_PDEATHSIG
pub fn get_pdeathsig() -> Result<Option<Signal>, Errno> {
    let mut v: i32 = 0;
    // SAFETY: the kernel writes one int into `v`.
    unsafe { prctl(pr::PR_GET_PDEATHSIG, &mut v as *mut i32 as usize, 0, 0, 0) }?;
    Ok(Signal::from_raw(v))
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`: `execve` can no longer grant privileges (setuid
/// bits, file capabilities). Irreversible; inherited by children.
///
/// # References
/// prctl(2) PR_SET_NO_NEW_PRIVS
pub fn set_no_new_privs() -> Result<(), Errno> {
    // SAFETY: integer arguments only.
    unsafe { prctl(pr::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }.map(drop)
}

/// `prctl(PR_GET_NO_NEW_PRIVS)`: whether the caller's `no_new_privs` is set (by
/// [`set_no_new_privs`], by `CLONE_NNP`, or inherited).
///
/// # References
/// prctl(2) PR_GET_NO_NEW_PRIVS
pub fn get_no_new_privs() -> Result<bool, Errno> {
    // SAFETY: integer arguments only; the answer is the return value.
    unsafe { prctl(pr::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) }.map(|v| v == 1)
}

/// The three capability sets of a thread, one bit per `CAP_*` number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities {
    /// What the kernel checks.
    pub effective: u64,
    /// What the thread may make effective.
    pub permitted: u64,
    /// What survives `execve`.
    pub inheritable: u64,
}

/// `CAP_SYS_ADMIN` (21): namespaces, mount, sethostname…
pub const CAP_SYS_ADMIN: u32 = 21;
/// `CAP_SYS_BOOT` (22): reboot.
pub const CAP_SYS_BOOT: u32 = 22;
/// `CAP_SYS_PTRACE` (19).
pub const CAP_SYS_PTRACE: u32 = 19;

impl Capabilities {
    /// Whether capability number `cap` (e.g. [`CAP_SYS_ADMIN`]) is effective.
    pub const fn has_effective(&self, cap: u32) -> bool {
        cap < 64 && self.effective & (1 << cap) != 0
    }
}

/// `capget(&{_LINUX_CAPABILITY_VERSION_3, pid}, data)`: the capability sets of thread
/// `pid` (0 = the caller).
///
/// # References
/// capget(2)
pub fn capget(pid: Pid) -> Result<Capabilities, Errno> {
    let mut header = g::__user_cap_header_struct {
        version: g::_LINUX_CAPABILITY_VERSION_3,
        pid,
    };
    let mut data = [g::__user_cap_data_struct {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: the kernel reads (and may update the version in) `header` and writes two
    // `__user_cap_data_struct`s (version 3) into `data`.
    from_syscall(unsafe {
        syscall2(
            g::__NR_capget as usize,
            &mut header as *mut g::__user_cap_header_struct as usize,
            data.as_mut_ptr() as usize,
        )
    })?;
    let join = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
    Ok(Capabilities {
        effective: join(data[0].effective, data[1].effective),
        permitted: join(data[0].permitted, data[1].permitted),
        inheritable: join(data[0].inheritable, data[1].inheritable),
    })
}

/// `setpgid(pid, pgid)`: moves process `pid` (0: the caller) into process group `pgid`
/// (0: a new group numbered as the process).
///
/// # References
/// setpgid(2)
pub fn setpgid(pid: Pid, pgid: Pid) -> Result<(), Errno> {
    // SAFETY: setpgid takes no pointers.
    from_syscall(unsafe { syscall2(g::__NR_setpgid as usize, pid as usize, pgid as usize) })
        .map(drop)
}

/// `TIOCSPGRP` from asm-generic/ioctls.h: the same number on x86_64, aarch64 and riscv64
/// (clonekit does not enable `linux-raw-sys`'s `ioctl` module for one constant).
const TIOCSPGRP: usize = 0x5410;

/// `tcsetpgrp(fd, pgrp)` (`ioctl(fd, TIOCSPGRP, &pgrp)`): makes `pgrp` the foreground
/// process group of the terminal `fd`. `ENOTTY` when `fd` is not the caller's controlling
/// terminal.
///
/// # References
/// tcsetpgrp(3), ioctl_tty(2)
pub fn tcsetpgrp(fd: impl AsFd, pgrp: Pid) -> Result<(), Errno> {
    let fd = fd.as_fd();
    // SAFETY: the kernel reads one pid_t from the local `pgrp`.
    from_syscall(unsafe {
        syscall3(
            g::__NR_ioctl as usize,
            fd.as_raw() as usize,
            TIOCSPGRP,
            &pgrp as *const Pid as usize,
        )
    })
    .map(drop)
}

/// `clone(SIGCHLD, 0, 0, 0, 0)`: `fork(2)`. Returns the child's pid in the parent and 0 in
/// the child, which runs on a copy of the caller's memory (and stack) and thread pointer.
///
/// # Safety
/// As after `fork(2)`: in a process with other threads (or `CLONE_VM` sharers), the child
/// may only make system calls and end with `execve` or `exit_group` (a lock another thread
/// held is held for ever in the copy). The child must not return into frames that would
/// hand it the parent's resources to free twice in a way visible outside the process
/// (its copies of descriptors are its own).
pub unsafe fn fork() -> Result<Pid, Errno> {
    // SAFETY: a fork-like clone (no CLONE_VM, no stack, no pointer flags): the kernel
    // duplicates the calling thread into a new process with a copy of this memory, and
    // both return here; the caller's contract covers what the child does next.
    let ret = unsafe { syscall5(g::__NR_clone as usize, g::SIGCHLD as usize, 0, 0, 0, 0) };
    from_syscall(ret).map(|pid| pid as Pid)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::sys::testutil::{Refusal, raw_fork, wait_child, wait_exit_code};

    #[test]
    fn ids_match_the_kernel_and_std() {
        assert_eq!(getpid() as u32, std::process::id());
        assert!(getppid() >= 0);
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let field = |name: &str| -> std::vec::Vec<u32> {
            let line = status.lines().find(|l| l.starts_with(name)).unwrap();
            line.split_whitespace()
                .skip(1)
                .map(|v| v.parse().unwrap())
                .collect()
        };
        let uids = field("Uid:");
        let gids = field("Gid:");
        assert_eq!((getuid(), geteuid()), (uids[0], uids[1]));
        assert_eq!((getgid(), getegid()), (gids[0], gids[1]));
        assert_eq!(field("PPid:")[0] as Pid, getppid());
    }

    #[test]
    fn gettid_is_getpid_on_the_main_thread_only() {
        // The test harness runs tests on worker threads (unless --test-threads=1), so
        // check the main-thread rule in a forked child, whose only thread is main.
        let pid = raw_fork();
        if pid == 0 {
            exit_group(if gettid() == getpid() { 0 } else { 1 });
        }
        assert_eq!(wait_exit_code(pid), 0);
        let t = std::thread::spawn(|| (gettid(), getpid())).join().unwrap();
        assert_ne!(t.0, t.1, "a spawned thread has its own tid");
        assert_eq!(t.1, getpid());
    }

    #[test]
    fn capget_matches_proc_status() {
        let caps = capget(0).unwrap();
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let hex = |name: &str| {
            let line = status.lines().find(|l| l.starts_with(name)).unwrap();
            u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
        };
        assert_eq!(caps.effective, hex("CapEff:"));
        assert_eq!(caps.permitted, hex("CapPrm:"));
        assert_eq!(caps.inheritable, hex("CapInh:"));
        if geteuid() == 0 {
            assert!(
                caps.has_effective(CAP_SYS_ADMIN),
                "root without CAP_SYS_ADMIN"
            );
        }
        assert_eq!(capget(1 << 23), Err(Errno::ESRCH));
    }

    #[test]
    fn subreaper_and_pdeathsig_in_a_forked_child() {
        // QEMU 7.2's prctl emulation refuses PR_{GET,SET}_CHILD_SUBREAPER; QEMU 10 has them.
        const SUBREAPER: Refusal = Refusal {
            code: 100,
            errno: Errno::EINVAL,
            reason: "qemu-user refuses PR_*_CHILD_SUBREAPER (the pdeathsig part passed)",
        };
        let pid = raw_fork();
        if pid == 0 {
            // The pdeathsig part first, so that it is checked where the subreaper part is
            // refused too.
            let code = if get_pdeathsig() != Ok(None) {
                3
            } else if set_pdeathsig(Some(Signal::SIGTERM)).is_err()
                || get_pdeathsig() != Ok(Some(Signal::SIGTERM))
            {
                4
            } else {
                match get_child_subreaper() {
                    Ok(false) => match set_child_subreaper(true) {
                        Ok(()) if get_child_subreaper() == Ok(true) => 0,
                        Ok(()) => 2,
                        Err(e) => SUBREAPER.exit_code(e, 2),
                    },
                    Ok(true) => 1,
                    Err(e) => SUBREAPER.exit_code(e, 1),
                }
            };
            exit_group(code);
        }
        wait_child(
            "subreaper_and_pdeathsig_in_a_forked_child",
            pid,
            &[SUBREAPER],
        );
    }

    #[test]
    fn exit_group_status_reaches_the_parent() {
        let pid = raw_fork();
        if pid == 0 {
            exit_group(0x1_2a); // only the low 8 bits survive
        }
        assert_eq!(wait_exit_code(pid), 0x2a);
    }

    #[test]
    fn setpgid_makes_a_group_and_tcsetpgrp_needs_a_terminal() {
        let pid = raw_fork();
        if pid == 0 {
            let code = if setpgid(0, 0).is_err() {
                1
            } else {
                // A pipe is no terminal.
                match crate::sys::fs::pipe2(crate::sys::fs::PipeFlags::CLOEXEC) {
                    Ok((r, _w)) if tcsetpgrp(r.as_fd(), getpid()) == Err(Errno::ENOTTY) => {
                        if own_pgrp() == Some(getpid() as u64) {
                            0
                        } else {
                            3
                        }
                    }
                    _ => 2,
                }
            };
            exit_group(code);
        }
        assert_eq!(wait_exit_code(pid), 0);
    }

    /// `getpgid(0)`: the caller's process group (asked of the kernel: qemu-user's stand-in
    /// `/proc/self/stat` has no process group in it).
    fn own_pgrp() -> Option<u64> {
        // SAFETY: getpgid takes no pointers.
        let ret = unsafe { sc::syscall1(g::__NR_getpgid as usize, 0) };
        from_syscall(ret).ok().map(|pgrp| pgrp as u64)
    }

    #[test]
    fn fork_returns_the_child_pid_and_zero_in_the_child() {
        // SAFETY: the child makes only system calls and ends with exit_group.
        let pid = unsafe { fork() }.unwrap();
        if pid == 0 {
            exit_group(if crate::sys::process::getppid() > 0 {
                9
            } else {
                8
            });
        }
        assert!(pid > 0);
        assert_eq!(wait_exit_code(pid), 9);
    }
}
