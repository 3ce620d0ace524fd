//! The `CLONE_*` flags as a typed set, and the exit signal as a separate typed value.
//!
//! Every value comes from `linux-raw-sys` (the kernel's UAPI headers), except the four
//! flags of Linux 7.1 that its newest release (0.12.1) does not have yet, which are defined
//! here ([`linux7_1`]). Each is pinned by a compile-time assertion below, so a wrong
//! constant cannot build, and `cargo qemu test` compares the 7.1 ones with the
//! `include/linux/sched.h` of Debian's newest `linux-libc-dev` (`tests/linux7.rs`).
//!
//! ```
//! use clonekit::{CloneFlags, ExitSignal};
//!
//! let thread_like = CloneFlags::VM | CloneFlags::FS | CloneFlags::FILES | CloneFlags::SIGHAND;
//! assert!(CloneFlags::NPTL_THREAD.contains(thread_like));
//! assert_eq!(
//!     format!("{:?}", CloneFlags::NEWUTS | CloneFlags::NEWPID),
//!     "CloneFlags(NEWUTS | NEWPID)"
//! );
//! assert_eq!(CloneFlags::NEWPID.bits(), 0x2000_0000); // the kernel's CLONE_NEWPID
//! assert!(CloneFlags::try_from_bits(1 << 50).is_err()); // a bit the kernel does not define
//!
//! // The exit signal is not a flag: its own type, 0 (none) to 64.
//! assert_eq!(ExitSignal::SIGCHLD.raw(), 17);
//! assert!(ExitSignal::new(65).is_err());
//! ```

use linux_raw_sys::general as k;
use static_assertions::const_assert_eq;

use crate::validate::FlagError;

/// The `clone3()` flags of Linux 7.1, as `include/uapi/linux/sched.h` defines them
/// (`(1ULL << 34)` to `(1ULL << 37)`): `linux-raw-sys` 0.12.1 predates them.
pub mod linux7_1 {
    /// `CLONE_AUTOREAP`: auto-reap the child on exit.
    pub const CLONE_AUTOREAP: u64 = 1 << 34;
    /// `CLONE_NNP`: set `no_new_privs` on the child.
    pub const CLONE_NNP: u64 = 1 << 35;
    /// `CLONE_PIDFD_AUTOKILL`: kill the child when its clone pidfd is closed.
    pub const CLONE_PIDFD_AUTOKILL: u64 = 1 << 36;
    /// `CLONE_EMPTY_MNTNS`: create an empty mount namespace.
    pub const CLONE_EMPTY_MNTNS: u64 = 1 << 37;
}

bitflags::bitflags! {
    /// A set of `CLONE_*` flags: what the new task shares with its creator, and what it gets
    /// fresh (namespaces).
    ///
    /// The low byte of the legacy `clone()` flags word (`CSIGNAL`) is not part of this set: it
    /// holds the exit signal, which is [`ExitSignal`]. The one flag that lives inside that byte,
    /// [`CloneFlags::NEWTIME`], can therefore only be passed to `clone3()` or `unshare()`.
    ///
    /// Each flag's documentation says what it shares or isolates, which flags it needs or
    /// excludes (the rules [`validate`](crate::validate::validate) enforces), and the kernel
    /// version that introduced it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct CloneFlags: u64 {
        /// `CLONE_VM`: share the virtual memory (the same page tables). A write by either task
        /// is seen by the other at once: the defining property of a thread. Without it the
        /// child gets a copy-on-write copy, as with `fork()`. Required by `CLONE_SIGHAND`
        /// (and so by `CLONE_THREAD`). Linux 2.0.
        const VM = k::CLONE_VM as u64;
        /// `CLONE_FS`: share the filesystem attributes: root directory, current directory and
        /// umask. A `chdir()`, `chroot()` or `umask()` by either affects both. Excludes
        /// `CLONE_NEWNS` and `CLONE_NEWUSER`. Linux 2.0.
        const FS = k::CLONE_FS as u64;
        /// `CLONE_FILES`: share the file descriptor table. An `open()`, `close()` or `dup()` in
        /// either is seen by both. Without it the child gets a copy of the table (referring to
        /// the same open file descriptions, as after `fork()`). Linux 2.0.
        const FILES = k::CLONE_FILES as u64;
        /// `CLONE_SIGHAND`: share the table of signal dispositions. A `sigaction()` in either
        /// changes both; signal masks and pending signals stay separate. Requires `CLONE_VM`
        /// (handlers are addresses in one address space); excludes `CLONE_CLEAR_SIGHAND`.
        /// Linux 2.0 (the `CLONE_VM` requirement since 2.6.0).
        const SIGHAND = k::CLONE_SIGHAND as u64;
        /// `CLONE_PIDFD`: return a pidfd for the child (in `ptid` for legacy `clone()`, which
        /// therefore excludes `CLONE_PARENT_SETTID`; in `clone_args.pidfd` for `clone3()`).
        /// Excludes `CLONE_DETACHED`; excludes `CLONE_THREAD` before Linux 6.9. Linux 5.2.
        const PIDFD = k::CLONE_PIDFD as u64;
        /// `CLONE_PTRACE`: if the caller is being traced, trace the child too. No effect on an
        /// untraced caller. Linux 2.2.
        const PTRACE = k::CLONE_PTRACE as u64;
        /// `CLONE_VFORK`: suspend the caller until the child calls `execve()` or exits, as
        /// `vfork()` does. Linux 2.2.
        const VFORK = k::CLONE_VFORK as u64;
        /// `CLONE_PARENT`: the child's parent is the caller's parent (the same PPID) instead
        /// of the caller. Refused when the caller is the init of a PID namespace (it would
        /// create a sibling of init). Linux 2.4.
        const PARENT = k::CLONE_PARENT as u64;
        /// `CLONE_THREAD`: put the child in the caller's thread group: `getpid()` returns the
        /// same TGID in both, `gettid()` differs. Requires `CLONE_SIGHAND` (and so `CLONE_VM`);
        /// excludes `CLONE_NEWUSER` and `CLONE_NEWPID`. Linux 2.4.
        const THREAD = k::CLONE_THREAD as u64;
        /// `CLONE_NEWNS`: the child gets a copy of the caller's mount namespace; its `mount()`
        /// and `umount()` calls do not affect the caller. Needs `CAP_SYS_ADMIN`; excludes
        /// `CLONE_FS`. Linux 2.4.19.
        const NEWNS = k::CLONE_NEWNS as u64;
        /// `CLONE_SYSVSEM`: share the System V semaphore undo list; the undo adjustments are
        /// applied when the last sharer exits. Excludes `CLONE_NEWIPC`. Linux 2.5.10.
        const SYSVSEM = k::CLONE_SYSVSEM as u64;
        /// `CLONE_SETTLS`: set the child's thread pointer (x86_64 FS base, aarch64 `TPIDR_EL0`,
        /// riscv64 `tp`) to the `tls` argument. Linux 2.5.32.
        const SETTLS = k::CLONE_SETTLS as u64;
        /// `CLONE_PARENT_SETTID`: store the child's TID at `ptid` in the caller's memory before
        /// `clone()` returns: race-free TID capture. Excludes `CLONE_PIDFD` in legacy `clone()`.
        /// Linux 2.5.49.
        const PARENT_SETTID = k::CLONE_PARENT_SETTID as u64;
        /// `CLONE_CHILD_CLEARTID`: when the child exits, zero the word at `ctid` and do a
        /// futex wake on it: how `pthread_join()` waits without polling. Linux 2.5.49.
        const CHILD_CLEARTID = k::CLONE_CHILD_CLEARTID as u64;
        /// `CLONE_DETACHED`: ignored by legacy `clone()` since Linux 2.6.2; refused with
        /// `CLONE_PIDFD` and by `clone3()` (the bit is reserved for reuse).
        const DETACHED = k::CLONE_DETACHED as u64;
        /// `CLONE_UNTRACED`: a tracing process cannot force `CLONE_PTRACE` on the child.
        /// Linux 2.5.46.
        const UNTRACED = k::CLONE_UNTRACED as u64;
        /// `CLONE_CHILD_SETTID`: store the child's TID at `ctid` in the child's memory when it
        /// starts to run. Linux 2.5.49.
        const CHILD_SETTID = k::CLONE_CHILD_SETTID as u64;
        /// `CLONE_NEWCGROUP`: a new cgroup namespace, rooted at the child's cgroup. Needs
        /// `CAP_SYS_ADMIN`. Linux 4.6.
        const NEWCGROUP = k::CLONE_NEWCGROUP as u64;
        /// `CLONE_NEWUTS`: a new UTS namespace: its own hostname and NIS domain name. Needs
        /// `CAP_SYS_ADMIN`. Linux 2.6.19.
        const NEWUTS = k::CLONE_NEWUTS as u64;
        /// `CLONE_NEWIPC`: a new System V IPC namespace (message queues, semaphores, shared
        /// memory) and POSIX message queues. Needs `CAP_SYS_ADMIN`; excludes `CLONE_SYSVSEM`.
        /// Linux 2.6.19.
        const NEWIPC = k::CLONE_NEWIPC as u64;
        /// `CLONE_NEWUSER`: a new user namespace: user and group IDs, capabilities. Needs no
        /// privilege, and gives the child full capabilities inside, so combined with the other
        /// `CLONE_NEW*` flags it needs no `CAP_SYS_ADMIN` outside. Excludes `CLONE_FS` and
        /// `CLONE_THREAD`. Linux 2.6.23 (usable unprivileged since 3.8).
        const NEWUSER = k::CLONE_NEWUSER as u64;
        /// `CLONE_NEWPID`: a new PID namespace; the child is its PID 1. Needs `CAP_SYS_ADMIN`;
        /// excludes `CLONE_THREAD`. Linux 2.6.24.
        const NEWPID = k::CLONE_NEWPID as u64;
        /// `CLONE_NEWNET`: a new network namespace, holding only a loopback device (down).
        /// Needs `CAP_SYS_ADMIN`. Linux 2.6.24.
        const NEWNET = k::CLONE_NEWNET as u64;
        /// `CLONE_IO`: share the I/O context (I/O scheduling class and priority). Linux 2.6.25.
        const IO = k::CLONE_IO as u64;
        /// `CLONE_NEWTIME`: a new time namespace (offsets for `CLOCK_MONOTONIC` and
        /// `CLOCK_BOOTTIME`). Its bit lies in the legacy exit-signal byte, so only `clone3()`
        /// (since Linux 6.3) and `unshare()` (since 5.6) take it. Needs `CAP_SYS_ADMIN`.
        const NEWTIME = k::CLONE_NEWTIME as u64;
        /// `CLONE_CLEAR_SIGHAND`: reset every handled signal to its default disposition in the
        /// child. `clone3()` only; excludes `CLONE_SIGHAND`. Linux 5.5.
        const CLEAR_SIGHAND = k::CLONE_CLEAR_SIGHAND;
        /// `CLONE_INTO_CGROUP`: start the child in the cgroup v2 directory given by
        /// `clone_args.cgroup` (an fd). `clone3()` only, with the version-2 (88-byte)
        /// `clone_args`. Linux 5.7.
        const INTO_CGROUP = k::CLONE_INTO_CGROUP;
        /// `CLONE_AUTOREAP`: the kernel reaps the child the moment it exits. It never
        /// becomes a zombie, its parent gets no exit signal, and a `wait` for it reports
        /// `ECHILD` once it has exited (and its PID may be reused at once). Needs exit
        /// signal 0; excludes `CLONE_THREAD` and `CLONE_PARENT`; a process created with
        /// it cannot itself pass `CLONE_PARENT`. `clone3()` only. The safe way in is
        /// [`ChildBuilder::autoreap`](crate::process::ChildBuilder::autoreap), whose
        /// handle has no `wait`. Linux 7.1.
        const AUTOREAP = linux7_1::CLONE_AUTOREAP;
        /// `CLONE_NNP`: the child starts with `no_new_privs` set, as after
        /// `prctl(PR_SET_NO_NEW_PRIVS, 1)`: no `execve` can grant it privileges (setuid
        /// bits, file capabilities). The caller's own flag is unchanged. Excludes
        /// `CLONE_THREAD` (a thread group shares its credentials). `clone3()` only.
        /// Linux 7.1.
        const NNP = linux7_1::CLONE_NNP;
        /// `CLONE_PIDFD_AUTOKILL`: the kernel sends the child `SIGKILL` when the pidfd
        /// `CLONE_PIDFD` returned is closed for the last time (its open file: a `dup` of it,
        /// or a copy inherited by a fork-like child, keeps it open): kill on drop. Needs
        /// `CLONE_PIDFD` and `CLONE_AUTOREAP`, excludes `CLONE_THREAD`, and needs
        /// `CLONE_NNP` or `CAP_SYS_ADMIN` (`EPERM`). `clone3()` only. The safe way in is
        /// [`AutoreapBuilder::kill_on_drop`](crate::process::AutoreapBuilder::kill_on_drop).
        /// Linux 7.1.
        const PIDFD_AUTOKILL = linux7_1::CLONE_PIDFD_AUTOKILL;
        /// `CLONE_EMPTY_MNTNS`: a new mount namespace that holds one mount, a copy of the
        /// namespace's root (an empty, immutable `nullfs` directory on Linux 7.2 and 7.3),
        /// with the child's root and working directory there, instead of a copy of every
        /// mount of the caller. Implies `CLONE_NEWNS`, so it excludes `CLONE_FS` and needs
        /// `CAP_SYS_ADMIN` (or `CLONE_NEWUSER`). `clone3()` only; see
        /// [`Container::empty_mounts`](crate::container::Container::empty_mounts).
        /// Linux 7.1.
        const EMPTY_MNTNS = linux7_1::CLONE_EMPTY_MNTNS;
    }
}

impl CloneFlags {
    /// The flag set the NPTL `pthread_create()` uses: shared memory, fds,
    /// filesystem attributes and signal handlers, one thread group, System V undo list shared,
    /// a TLS block, the TID stored in the parent and cleared (with a futex wake) on exit.
    pub const NPTL_THREAD: CloneFlags = CloneFlags::VM
        .union(CloneFlags::FS)
        .union(CloneFlags::FILES)
        .union(CloneFlags::SIGHAND)
        .union(CloneFlags::THREAD)
        .union(CloneFlags::SYSVSEM)
        .union(CloneFlags::SETTLS)
        .union(CloneFlags::PARENT_SETTID)
        .union(CloneFlags::CHILD_CLEARTID);

    /// Every `CLONE_NEW*` namespace flag.
    pub const ALL_NAMESPACES: CloneFlags = CloneFlags::NEWNS
        .union(CloneFlags::NEWCGROUP)
        .union(CloneFlags::NEWUTS)
        .union(CloneFlags::NEWIPC)
        .union(CloneFlags::NEWUSER)
        .union(CloneFlags::NEWPID)
        .union(CloneFlags::NEWNET)
        .union(CloneFlags::NEWTIME);

    /// The flags only `clone3()` can carry (bits above the legacy 32-bit word, and
    /// `CLONE_NEWTIME`, which sits in the legacy exit-signal byte).
    pub const CLONE3_ONLY: CloneFlags = CloneFlags::CLEAR_SIGHAND
        .union(CloneFlags::INTO_CGROUP)
        .union(CloneFlags::NEWTIME)
        .union(CloneFlags::LINUX_7_1);

    /// The four flags of Linux 7.1: `CLONE_AUTOREAP`, `CLONE_NNP`, `CLONE_PIDFD_AUTOKILL`,
    /// `CLONE_EMPTY_MNTNS`.
    pub const LINUX_7_1: CloneFlags = CloneFlags::AUTOREAP
        .union(CloneFlags::NNP)
        .union(CloneFlags::PIDFD_AUTOKILL)
        .union(CloneFlags::EMPTY_MNTNS);

    /// Builds a set from raw bits, refusing any bit that is not a known `CLONE_*` flag
    /// (including the exit-signal byte, which is [`ExitSignal`]'s).
    pub const fn try_from_bits(bits: u64) -> Result<CloneFlags, FlagError> {
        match CloneFlags::from_bits(bits) {
            Some(flags) => Ok(flags),
            None => Err(FlagError::UnknownBits(bits & !CloneFlags::all().bits())),
        }
    }
}

/// The signal the kernel sends the parent when the child terminates (`SIGCHLD` for a
/// fork-like child; none for a thread), kept apart from [`CloneFlags`].
///
/// Only values the kernel accepts can be built: 0 (no signal) through 64 (`_NSIG`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExitSignal(u8);

impl ExitSignal {
    /// No signal on exit: what threads use, and what `clone3()` requires with
    /// `CLONE_THREAD` or `CLONE_PARENT`. A parent reaps such a child with `__WALL`.
    pub const NONE: ExitSignal = ExitSignal(0);
    /// `SIGCHLD`: the usual choice for a process child, the one `waitpid()` expects.
    pub const SIGCHLD: ExitSignal = ExitSignal(k::SIGCHLD as u8);
    /// The largest valid signal number (`_NSIG`).
    pub const MAX: u32 = k::_NSIG;

    /// A validated exit signal: `0..=64`, else [`FlagError::ExitSignalOutOfRange`].
    pub const fn new(signal: u32) -> Result<ExitSignal, FlagError> {
        if signal <= ExitSignal::MAX {
            Ok(ExitSignal(signal as u8))
        } else {
            Err(FlagError::ExitSignalOutOfRange(signal))
        }
    }

    /// The signal number (0 for none).
    pub const fn raw(self) -> u32 {
        self.0 as u32
    }
}

// The ABI, pinned: each flag's value as the kernel defines it (include/uapi/linux/sched.h).
const_assert_eq!(CloneFlags::VM.bits(), 0x0000_0100);
const_assert_eq!(CloneFlags::FS.bits(), 0x0000_0200);
const_assert_eq!(CloneFlags::FILES.bits(), 0x0000_0400);
const_assert_eq!(CloneFlags::SIGHAND.bits(), 0x0000_0800);
const_assert_eq!(CloneFlags::PIDFD.bits(), 0x0000_1000);
const_assert_eq!(CloneFlags::PTRACE.bits(), 0x0000_2000);
const_assert_eq!(CloneFlags::VFORK.bits(), 0x0000_4000);
const_assert_eq!(CloneFlags::PARENT.bits(), 0x0000_8000);
const_assert_eq!(CloneFlags::THREAD.bits(), 0x0001_0000);
const_assert_eq!(CloneFlags::NEWNS.bits(), 0x0002_0000);
const_assert_eq!(CloneFlags::SYSVSEM.bits(), 0x0004_0000);
const_assert_eq!(CloneFlags::SETTLS.bits(), 0x0008_0000);
const_assert_eq!(CloneFlags::PARENT_SETTID.bits(), 0x0010_0000);
const_assert_eq!(CloneFlags::CHILD_CLEARTID.bits(), 0x0020_0000);
const_assert_eq!(CloneFlags::DETACHED.bits(), 0x0040_0000);
const_assert_eq!(CloneFlags::UNTRACED.bits(), 0x0080_0000);
const_assert_eq!(CloneFlags::CHILD_SETTID.bits(), 0x0100_0000);
const_assert_eq!(CloneFlags::NEWCGROUP.bits(), 0x0200_0000);
const_assert_eq!(CloneFlags::NEWUTS.bits(), 0x0400_0000);
const_assert_eq!(CloneFlags::NEWIPC.bits(), 0x0800_0000);
const_assert_eq!(CloneFlags::NEWUSER.bits(), 0x1000_0000);
const_assert_eq!(CloneFlags::NEWPID.bits(), 0x2000_0000);
const_assert_eq!(CloneFlags::NEWNET.bits(), 0x4000_0000);
const_assert_eq!(CloneFlags::IO.bits(), 0x8000_0000);
const_assert_eq!(CloneFlags::NEWTIME.bits(), 0x0000_0080);
const_assert_eq!(CloneFlags::CLEAR_SIGHAND.bits(), 1 << 32);
const_assert_eq!(CloneFlags::INTO_CGROUP.bits(), 1 << 33);
const_assert_eq!(CloneFlags::AUTOREAP.bits(), 1 << 34);
const_assert_eq!(CloneFlags::NNP.bits(), 1 << 35);
const_assert_eq!(CloneFlags::PIDFD_AUTOKILL.bits(), 1 << 36);
const_assert_eq!(CloneFlags::EMPTY_MNTNS.bits(), 1 << 37);
// The 7.1 flags continue the clone3-only bits after INTO_CGROUP, one bit each: bits 32 to
// 37 are taken, none above.
const_assert_eq!(CloneFlags::LINUX_7_1.bits(), 0b1111 << 34);
const_assert_eq!(CloneFlags::all().bits() >> 32, 0b11_1111);
const_assert_eq!(k::CSIGNAL, 0xff);
// No flag but NEWTIME overlaps the exit-signal byte.
const_assert_eq!(
    CloneFlags::all().bits() & k::CSIGNAL as u64,
    CloneFlags::NEWTIME.bits()
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_bits_are_refused_with_the_bits_named() {
        assert_eq!(
            CloneFlags::try_from_bits(1 << 40 | CloneFlags::VM.bits()),
            Err(FlagError::UnknownBits(1 << 40))
        );
        // The first bit past Linux 7.1's flags.
        assert_eq!(
            CloneFlags::try_from_bits(1 << 38 | CloneFlags::AUTOREAP.bits()),
            Err(FlagError::UnknownBits(1 << 38))
        );
        assert_eq!(
            CloneFlags::try_from_bits(0b1111 << 34),
            Ok(CloneFlags::LINUX_7_1)
        );
        assert_eq!(
            CloneFlags::try_from_bits(k::SIGCHLD as u64),
            Err(FlagError::UnknownBits(k::SIGCHLD as u64))
        );
        assert_eq!(
            CloneFlags::try_from_bits(CloneFlags::NPTL_THREAD.bits()),
            Ok(CloneFlags::NPTL_THREAD)
        );
    }

    #[test]
    fn exit_signal_range_is_the_kernels() {
        assert_eq!(ExitSignal::new(0), Ok(ExitSignal::NONE));
        assert_eq!(ExitSignal::new(17), Ok(ExitSignal::SIGCHLD));
        assert_eq!(ExitSignal::new(64).map(ExitSignal::raw), Ok(64));
        assert_eq!(
            ExitSignal::new(65),
            Err(FlagError::ExitSignalOutOfRange(65))
        );
        assert_eq!(
            ExitSignal::new(255),
            Err(FlagError::ExitSignalOutOfRange(255))
        );
    }

    #[test]
    fn every_seed_table_flag_is_present() {
        // TLPI 28.2.1's flag table lists these 21 flags.
        let tlpi_table = [
            CloneFlags::FILES,
            CloneFlags::FS,
            CloneFlags::SIGHAND,
            CloneFlags::VM,
            CloneFlags::THREAD,
            CloneFlags::SYSVSEM,
            CloneFlags::SETTLS,
            CloneFlags::PARENT_SETTID,
            CloneFlags::CHILD_SETTID,
            CloneFlags::CHILD_CLEARTID,
            CloneFlags::NEWNS,
            CloneFlags::NEWIPC,
            CloneFlags::NEWNET,
            CloneFlags::NEWPID,
            CloneFlags::NEWUSER,
            CloneFlags::NEWUTS,
            CloneFlags::PARENT,
            CloneFlags::VFORK,
            CloneFlags::PTRACE,
            CloneFlags::UNTRACED,
            CloneFlags::IO,
        ];
        let union = tlpi_table.iter().fold(CloneFlags::empty(), |a, f| a | *f);
        assert_eq!(union.bits().count_ones(), 21);
        // TLPI's 21, plus PIDFD, DETACHED, NEWCGROUP, NEWTIME, CLEAR_SIGHAND, INTO_CGROUP,
        // and Linux 7.1's AUTOREAP, NNP, PIDFD_AUTOKILL, EMPTY_MNTNS.
        assert_eq!(CloneFlags::all().iter().count(), 31);
        assert_eq!(CloneFlags::LINUX_7_1.iter().count(), 4);
        assert!(CloneFlags::CLONE3_ONLY.contains(CloneFlags::LINUX_7_1));
    }
}
