//! The kernel's rules for combining `CLONE_*` flags, checked before the syscall.
//!
//! [`validate`] mirrors `kernel/fork.c` (`clone3` argument copying, `clone3_args_valid`,
//! `kernel_clone`, `copy_process`) and `kernel/nsproxy.c` (`copy_namespaces`), in the kernel's
//! own order, so the one [`FlagError`] it returns is the rule the kernel would trip first and
//! carries the kernel's errno. Where the kernel would accept, it accepts. The differential
//! test in `tests/differential.rs` holds it to that against the running kernel.
//!
//! A few refusals are not the kernel's but the encoding's: a flag legacy `clone()` cannot
//! carry ([`FlagError::Clone3OnlyFlags`]) would otherwise be dropped silently, and a flag
//! older than the running kernel ([`FlagError::NeedsKernel`]) would be ignored by it.
//!
//! ```
//! use clonekit::{CloneFlags, ExitSignal, FlagError, KernelVersion};
//! use clonekit::validate::{Caller, Request, validate, validate_unshare};
//!
//! // A flag legacy clone() cannot carry is refused rather than dropped; clone3 takes it.
//! let flags = CloneFlags::CLEAR_SIGHAND;
//! let legacy = Request::legacy(flags, ExitSignal::SIGCHLD, KernelVersion::V6_9);
//! assert_eq!(validate(&legacy), Err(FlagError::Clone3OnlyFlags(flags)));
//! let clone3 = Request::clone3(flags, ExitSignal::SIGCHLD, KernelVersion::V6_9);
//! assert_eq!(validate(&clone3), Ok(()));
//!
//! // A flag newer than the kernel, which would ignore it, is refused by name.
//! let old = Request::clone3(flags, ExitSignal::SIGCHLD, KernelVersion::new(5, 4, 0));
//! let refused = validate(&old).unwrap_err();
//! assert!(matches!(refused, FlagError::NeedsKernel { .. }));
//! println!("{refused} ({})", refused.errno()); // in plain words, with the kernel's errno
//!
//! // unshare(2) has rules of its own.
//! let (caller, threads) = (Caller::PRIVILEGED, Some(1));
//! let ok = validate_unshare(CloneFlags::NEWUTS, &caller, threads, KernelVersion::V6_9);
//! assert_eq!(ok, Ok(()));
//! ```

use core::fmt;

use crate::errno::Errno;
use crate::flags::{CloneFlags, ExitSignal};
use crate::kernel_version::KernelVersion;

/// Which system call the request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syscall {
    /// Legacy `clone()`: flags and exit signal in one word, the pidfd returned through `ptid`.
    Clone,
    /// `clone3()` with a `struct clone_args`.
    Clone3,
}

/// The parts of a `struct clone_args` the kernel checks, beyond flags and exit signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clone3Shape {
    /// The `size` argument of `clone3()`.
    pub size: usize,
    /// Whether any byte past the 88 the kernel knows is non-zero (only when `size > 88`).
    pub trailing_nonzero: bool,
    /// `clone_args.stack_size`.
    pub stack_size: u64,
    /// `clone_args.set_tid_size`.
    pub set_tid_len: u64,
    /// Whether `clone_args.set_tid` is non-null.
    pub set_tid_given: bool,
    /// `clone_args.cgroup` (an fd, with `CLONE_INTO_CGROUP`).
    pub cgroup: u64,
    /// Whether `clone_args.pidfd` and `clone_args.parent_tid` are the same address.
    pub pidfd_aliases_parent_tid: bool,
    /// The kernel's page size, the largest `size` it takes.
    pub page_size: usize,
}

impl Clone3Shape {
    /// The shape clonekit's own `clone3` builder produces: the full version-2 struct
    /// (88 bytes), no `set_tid`, distinct pidfd and ptid slots, 4 KiB pages.
    pub const DEFAULT: Clone3Shape = Clone3Shape {
        size: 88,
        trailing_nonzero: false,
        stack_size: 0,
        set_tid_len: 0,
        set_tid_given: false,
        cgroup: 0,
        pidfd_aliases_parent_tid: false,
        page_size: 4096,
    };
}

/// What the kernel knows about the caller that its rules depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The caller is the init (PID 1) of its PID namespace.
    pub is_ns_init: bool,
    /// The caller has `CAP_SYS_ADMIN` in its user namespace.
    pub cap_sys_admin: bool,
    /// The caller's PID namespace depth (0 for the initial one), when known.
    pub pid_ns_level: Option<u32>,
    /// The caller's user namespace depth (0 for the initial one), when known.
    pub user_ns_level: Option<u32>,
    /// The caller has `CAP_CHECKPOINT_RESTORE` (Linux 5.9), which `set_tid` also accepts.
    pub cap_checkpoint_restore: bool,
    /// The caller's children will get another PID namespace than its own (after
    /// `unshare(CLONE_NEWPID)` or `setns` of a PID namespace): it can start no more threads.
    pub pid_ns_for_children_differs: bool,
    /// The caller's children will get another time namespace than its own (after
    /// `unshare(CLONE_NEWTIME)` or `setns` of a time namespace): before Linux 6.2 it can
    /// start no `CLONE_VM` child and no thread.
    pub time_ns_for_children_differs: bool,
    /// The caller was itself created with `CLONE_AUTOREAP` (Linux 7.1): it cannot pass
    /// `CLONE_PARENT`. Nothing in `/proc` shows it, so only a process clonekit started
    /// knows it of itself; `false` leaves the rule to the kernel.
    pub autoreaped: bool,
}

impl Caller {
    /// A privileged caller that is not an init, nesting unknown, namespaces for children
    /// its own.
    pub const PRIVILEGED: Caller = Caller {
        is_ns_init: false,
        cap_sys_admin: true,
        pid_ns_level: None,
        user_ns_level: None,
        cap_checkpoint_restore: false,
        pid_ns_for_children_differs: false,
        time_ns_for_children_differs: false,
        autoreaped: false,
    };
}

/// One `clone()` or `clone3()` call, as the validator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// Legacy `clone()` or `clone3()`.
    pub syscall: Syscall,
    /// The flags.
    pub flags: CloneFlags,
    /// The exit signal.
    pub exit_signal: ExitSignal,
    /// Whether a child stack is given (the `stack` argument or `clone_args.stack` non-zero).
    pub stack_given: bool,
    /// The rest of `struct clone_args`; ignored for legacy `clone()`.
    pub clone3: Clone3Shape,
    /// The caller's state.
    pub caller: Caller,
    /// The running kernel's version.
    pub kernel: KernelVersion,
}

impl Request {
    /// A legacy `clone()` request with a stack, from a privileged non-init caller on
    /// `kernel`. Adjust the public fields for anything else.
    pub const fn legacy(flags: CloneFlags, exit_signal: ExitSignal, kernel: KernelVersion) -> Self {
        Request {
            syscall: Syscall::Clone,
            flags,
            exit_signal,
            stack_given: true,
            clone3: Clone3Shape::DEFAULT,
            caller: Caller::PRIVILEGED,
            kernel,
        }
    }

    /// A `clone3()` request with the default [`Clone3Shape`] (no stack), from a privileged
    /// non-init caller on `kernel`.
    pub const fn clone3(flags: CloneFlags, exit_signal: ExitSignal, kernel: KernelVersion) -> Self {
        Request {
            syscall: Syscall::Clone3,
            flags,
            exit_signal,
            stack_given: false,
            clone3: Clone3Shape::DEFAULT,
            caller: Caller::PRIVILEGED,
            kernel,
        }
    }
}

/// The one kernel rule a request breaks. [`FlagError::errno`] is the errno the kernel gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlagError {
    /// Bits that are no `CLONE_*` flag (the exit-signal byte included).
    UnknownBits(u64),
    /// An exit signal above 64 (`_NSIG`).
    ExitSignalOutOfRange(u32),
    /// A flag the running kernel predates; it would ignore or refuse it.
    NeedsKernel {
        /// The flags concerned.
        flags: CloneFlags,
        /// The first kernel that has them.
        since: KernelVersion,
    },
    /// `clone3()` on a kernel before 5.3.
    Clone3Unsupported,
    /// Flags legacy `clone()` cannot carry: `CLONE_CLEAR_SIGHAND`, `CLONE_INTO_CGROUP`
    /// (above its 32 bits) and `CLONE_NEWTIME` (inside its exit-signal byte).
    Clone3OnlyFlags(CloneFlags),
    /// `clone3()` with `size` below 64 (`CLONE_ARGS_SIZE_VER0`).
    Clone3ArgsTooSmall(usize),
    /// `clone3()` with `size` above a page.
    Clone3ArgsTooLarge(usize),
    /// `clone3()` with non-zero bytes past the struct the kernel knows.
    Clone3TrailingBytes,
    /// `clone_args.set_tid_size` above 32 (`MAX_PID_NS_LEVEL`).
    SetTidTooLong(u64),
    /// `set_tid` given without a length, or a length without `set_tid`.
    SetTidMismatch,
    /// `CLONE_INTO_CGROUP` with a `clone_args` smaller than version 2 (88 bytes).
    IntoCgroupNeedsVer2,
    /// `CLONE_INTO_CGROUP` with a cgroup fd above `INT_MAX`.
    IntoCgroupBadFd(u64),
    /// `CLONE_DETACHED` passed to `clone3()`.
    Clone3Detached,
    /// `CLONE_NEWTIME` passed to `clone3()` on a kernel whose `clone3()` does not take it
    /// (before 6.3 and the stable backports: [`KernelVersion::clone3_takes_newtime`]).
    NewtimeInClone3Unsupported,
    /// `CLONE_SIGHAND` together with `CLONE_CLEAR_SIGHAND`.
    ClearSighandWithSighand,
    /// `clone3()` with `CLONE_THREAD` or `CLONE_PARENT` and a non-zero exit signal.
    ExitSignalWithThreadOrParent,
    /// `clone3()` with a stack size but no stack.
    StackSizeWithoutStack,
    /// `clone3()` with a stack but a zero stack size.
    StackWithoutSize,
    /// `CLONE_PIDFD` with `CLONE_PARENT_SETTID` writing to the same slot.
    PidfdWithParentSettid,
    /// `CLONE_NEWNS` (or `CLONE_EMPTY_MNTNS`, which implies it) together with `CLONE_FS`.
    NewnsWithFs,
    /// `CLONE_NEWUSER` together with `CLONE_FS`.
    NewuserWithFs,
    /// `CLONE_THREAD` without `CLONE_SIGHAND`.
    ThreadRequiresSighand,
    /// `CLONE_SIGHAND` without `CLONE_VM`.
    SighandRequiresVm,
    /// `CLONE_PARENT` from the init of a PID namespace.
    ParentFromNsInit,
    /// `CLONE_THREAD` together with `CLONE_NEWUSER`.
    ThreadWithNewuser,
    /// `CLONE_THREAD` together with `CLONE_NEWPID`.
    ThreadWithNewpid,
    /// `CLONE_PIDFD` together with `CLONE_DETACHED`.
    PidfdWithDetached,
    /// `CLONE_PIDFD` together with `CLONE_THREAD` before Linux 6.9.
    PidfdWithThreadBefore6_9,
    /// `CLONE_VM` or `CLONE_THREAD` after the caller's time namespace for children changed
    /// (`unshare(CLONE_NEWTIME)`, `setns` of a time namespace), before Linux 6.2: the child
    /// would share the caller's memory, with its time-namespace page, from another time
    /// namespace.
    VmOrThreadAfterTimeNamespaceChangeBefore6_2,
    /// `CLONE_AUTOREAP` together with `CLONE_THREAD` (a thread is never reaped on its own).
    AutoreapWithThread,
    /// `CLONE_AUTOREAP` together with `CLONE_PARENT` (the child would be the caller's
    /// parent's, reaped behind that parent's back).
    AutoreapWithParent,
    /// `CLONE_AUTOREAP` with a non-zero exit signal (nobody waits, so nobody is signalled).
    AutoreapWithExitSignal,
    /// `CLONE_PARENT` from a process that was itself created with `CLONE_AUTOREAP` (its
    /// sibling would have exit signal 0 and no parent that reaps it).
    ParentFromAutoreaped,
    /// `CLONE_NNP` together with `CLONE_THREAD` (a thread group shares its credentials).
    NnpWithThread,
    /// `CLONE_PIDFD_AUTOKILL` without `CLONE_PIDFD` (no pidfd to own the child's life).
    AutokillWithoutPidfd,
    /// `CLONE_PIDFD_AUTOKILL` without `CLONE_AUTOREAP`.
    AutokillWithoutAutoreap,
    /// `CLONE_PIDFD_AUTOKILL` without `CLONE_NNP`, by a caller without `CAP_SYS_ADMIN`
    /// (the child could gain privileges its killer does not have).
    AutokillNeedsNnpOrCapSysAdmin,
    /// `CLONE_NEWUSER` from a user namespace already 33 levels deep.
    UserNestingTooDeep,
    /// A `CLONE_NEW*` flag other than `CLONE_NEWUSER`, without `CAP_SYS_ADMIN` and without
    /// a new user namespace to grant it.
    NamespaceNeedsCapSysAdmin(CloneFlags),
    /// `CLONE_NEWIPC` together with `CLONE_SYSVSEM`.
    NewipcWithSysvsem,
    /// `CLONE_NEWPID` from a PID namespace already 32 levels deep.
    PidNestingTooDeep,
    /// `set_tid` with more entries than the child has PID namespace levels.
    SetTidDeeperThanNamespaces,
    /// `set_tid` without `CAP_SYS_ADMIN` (or `CAP_CHECKPOINT_RESTORE`).
    SetTidNeedsPrivilege,
    /// `CLONE_THREAD` after the caller's PID namespace for children changed.
    ThreadAfterPidNamespaceChange,
    /// `unshare()` of flags it does not take (the tid, TLS, pidfd, vfork, ptrace and
    /// parent flags).
    UnshareUnsupported(CloneFlags),
    /// Flags other than `CLONE_NEW*` where only namespace flags are taken (`setns()` with a
    /// pidfd, a container's namespaces); empty when `setns()` with a pidfd got none at all.
    NamespaceFlagsOnly(CloneFlags),
    /// `unshare()` of `CLONE_NEWUSER`, `CLONE_VM`, `CLONE_SIGHAND` or `CLONE_THREAD` (the
    /// first implies `CLONE_THREAD`) by a multithreaded process.
    UnshareNeedsSingleThread(CloneFlags),
    /// `setns()` with a namespace fd of another kind than asked for.
    SetnsKindMismatch {
        /// The kind asked for.
        expected: CloneFlags,
        /// The kind the fd refers to.
        actual: CloneFlags,
    },
    /// `setns()` into a user namespace by a multithreaded process.
    SetnsUserNeedsSingleThread,
}

impl FlagError {
    /// The errno the kernel returns for this rule (`EINVAL`, `E2BIG`, `EPERM`, `ENOSPC` or
    /// `ENOSYS`).
    pub const fn errno(&self) -> Errno {
        match self {
            FlagError::Clone3Unsupported => Errno::ENOSYS,
            FlagError::Clone3ArgsTooLarge(_) | FlagError::Clone3TrailingBytes => Errno::E2BIG,
            FlagError::NamespaceNeedsCapSysAdmin(_)
            | FlagError::SetTidNeedsPrivilege
            | FlagError::AutokillNeedsNnpOrCapSysAdmin => Errno::EPERM,
            FlagError::UserNestingTooDeep | FlagError::PidNestingTooDeep => Errno::ENOSPC,
            _ => Errno::EINVAL,
        }
    }
}

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagError::UnknownBits(bits) => write!(f, "unknown clone flag bits {bits:#x}"),
            FlagError::ExitSignalOutOfRange(sig) => {
                write!(f, "exit signal {sig} is not a valid signal (0 to 64)")
            }
            FlagError::NeedsKernel { flags, since } => {
                write!(f, "{flags:?} needs Linux {since} or later")
            }
            FlagError::Clone3Unsupported => f.write_str("clone3() needs Linux 5.3 or later"),
            FlagError::Clone3OnlyFlags(flags) => {
                write!(
                    f,
                    "{flags:?} can only be passed to clone3(), not legacy clone()"
                )
            }
            FlagError::Clone3ArgsTooSmall(size) => {
                write!(
                    f,
                    "clone_args size {size} is below the first version's 64 bytes"
                )
            }
            FlagError::Clone3ArgsTooLarge(size) => {
                write!(f, "clone_args size {size} is larger than a page")
            }
            FlagError::Clone3TrailingBytes => {
                f.write_str("clone_args has non-zero bytes past the fields this kernel knows")
            }
            FlagError::SetTidTooLong(n) => {
                write!(
                    f,
                    "set_tid has {n} entries; at most 32 PID namespace levels exist"
                )
            }
            FlagError::SetTidMismatch => {
                f.write_str("set_tid and set_tid_size must be given together")
            }
            FlagError::IntoCgroupNeedsVer2 => {
                f.write_str("CLONE_INTO_CGROUP needs the 88-byte clone_args (version 2)")
            }
            FlagError::IntoCgroupBadFd(fd) => {
                write!(f, "CLONE_INTO_CGROUP cgroup fd {fd} is out of range")
            }
            FlagError::Clone3Detached => {
                f.write_str("CLONE_DETACHED is reserved in clone3() and refused")
            }
            FlagError::NewtimeInClone3Unsupported => f.write_str(
                "this kernel's clone3() refuses CLONE_NEWTIME (Linux 6.3, 6.2.7, 6.1.20, \
                 5.15.103 and 5.10.175 take it): unshare(CLONE_NEWTIME) before the clone instead",
            ),
            FlagError::ClearSighandWithSighand => f.write_str(
                "CLONE_CLEAR_SIGHAND resets the child's handlers, so it cannot share them \
                 with CLONE_SIGHAND",
            ),
            FlagError::ExitSignalWithThreadOrParent => f.write_str(
                "clone3() with CLONE_THREAD or CLONE_PARENT takes no exit signal \
                 (exit_signal must be 0)",
            ),
            FlagError::StackSizeWithoutStack => {
                f.write_str("clone3() stack_size is set but stack is not")
            }
            FlagError::StackWithoutSize => f.write_str("clone3() stack is set but stack_size is 0"),
            FlagError::PidfdWithParentSettid => f.write_str(
                "CLONE_PIDFD returns the pidfd through the ptid slot, which \
                 CLONE_PARENT_SETTID also writes",
            ),
            FlagError::NewnsWithFs => f.write_str(
                "CLONE_NEWNS (or CLONE_EMPTY_MNTNS, which implies it) and CLONE_FS cannot be \
                 used together: NEWNS gives a private namespace copy, CLONE_FS would share \
                 root and cwd back with the parent",
            ),
            FlagError::NewuserWithFs => f.write_str(
                "CLONE_NEWUSER and CLONE_FS cannot be used together: a new user namespace \
                 must not share root and cwd with the parent",
            ),
            FlagError::ThreadRequiresSighand => f.write_str(
                "CLONE_THREAD requires CLONE_SIGHAND: threads of one group share signal \
                 dispositions",
            ),
            FlagError::SighandRequiresVm => f.write_str(
                "CLONE_SIGHAND requires CLONE_VM: signal handlers are pointers into the \
                 address space, valid only if it is shared",
            ),
            FlagError::ParentFromNsInit => f.write_str(
                "CLONE_PARENT from a PID namespace's init would create a sibling of init, \
                 which nobody reaps",
            ),
            FlagError::ThreadWithNewuser => f.write_str(
                "CLONE_THREAD with CLONE_NEWUSER: a thread group cannot span user namespaces",
            ),
            FlagError::ThreadWithNewpid => f.write_str(
                "CLONE_THREAD with CLONE_NEWPID: a thread group cannot span PID namespaces",
            ),
            FlagError::PidfdWithDetached => {
                f.write_str("CLONE_PIDFD with CLONE_DETACHED is refused (the bit is reserved)")
            }
            FlagError::PidfdWithThreadBefore6_9 => {
                f.write_str("CLONE_PIDFD with CLONE_THREAD needs Linux 6.9 or later")
            }
            FlagError::VmOrThreadAfterTimeNamespaceChangeBefore6_2 => f.write_str(
                "CLONE_VM or CLONE_THREAD after unshare(CLONE_NEWTIME) or setns(time) needs \
                 Linux 6.2 or later (before it, a task sharing the memory could not be in \
                 another time namespace)",
            ),
            FlagError::AutoreapWithThread => {
                f.write_str("CLONE_AUTOREAP with CLONE_THREAD: a thread is not reaped on its own")
            }
            FlagError::AutoreapWithParent => f.write_str(
                "CLONE_AUTOREAP with CLONE_PARENT: the child would belong to the caller's \
                 parent, reaped behind its back",
            ),
            FlagError::AutoreapWithExitSignal => f.write_str(
                "CLONE_AUTOREAP takes no exit signal (exit_signal must be 0): nobody waits \
                 for the child",
            ),
            FlagError::ParentFromAutoreaped => f.write_str(
                "CLONE_PARENT from a process created with CLONE_AUTOREAP: its sibling would \
                 have no parent that reaps it",
            ),
            FlagError::NnpWithThread => f.write_str(
                "CLONE_NNP with CLONE_THREAD: the threads of a group share their credentials",
            ),
            FlagError::AutokillWithoutPidfd => f.write_str(
                "CLONE_PIDFD_AUTOKILL needs CLONE_PIDFD: the pidfd is what owns the child",
            ),
            FlagError::AutokillWithoutAutoreap => {
                f.write_str("CLONE_PIDFD_AUTOKILL needs CLONE_AUTOREAP")
            }
            FlagError::AutokillNeedsNnpOrCapSysAdmin => f.write_str(
                "CLONE_PIDFD_AUTOKILL needs CLONE_NNP or CAP_SYS_ADMIN: a child that could \
                 gain privileges must not be killable by an unprivileged owner",
            ),
            FlagError::UserNestingTooDeep => {
                f.write_str("user namespaces nest at most 32 levels deep")
            }
            FlagError::NamespaceNeedsCapSysAdmin(flags) => {
                write!(
                    f,
                    "{flags:?} needs CAP_SYS_ADMIN (or CLONE_NEWUSER alongside)"
                )
            }
            FlagError::NewipcWithSysvsem => f.write_str(
                "CLONE_NEWIPC and CLONE_SYSVSEM cannot be used together: the semaphore undo \
                 list cannot be shared across IPC namespaces",
            ),
            FlagError::PidNestingTooDeep => {
                f.write_str("PID namespaces nest at most 32 levels deep")
            }
            FlagError::SetTidDeeperThanNamespaces => {
                f.write_str("set_tid has more entries than the child has PID namespace levels")
            }
            FlagError::SetTidNeedsPrivilege => {
                f.write_str("set_tid needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE")
            }
            FlagError::ThreadAfterPidNamespaceChange => f.write_str(
                "CLONE_THREAD after unshare(CLONE_NEWPID) or setns(pid): a thread group \
                 cannot span PID namespaces",
            ),
            FlagError::UnshareUnsupported(flags) => {
                write!(f, "unshare() does not take {flags:?}")
            }
            FlagError::NamespaceFlagsOnly(flags) if flags.is_empty() => {
                f.write_str("setns() with a pidfd needs at least one CLONE_NEW* flag")
            }
            FlagError::NamespaceFlagsOnly(flags) => {
                write!(f, "only CLONE_NEW* flags are taken here, not {flags:?}")
            }
            FlagError::UnshareNeedsSingleThread(flags) => write!(
                f,
                "unshare() of {flags:?} needs a single-threaded caller (a new user namespace \
                 or address space cannot be entered by one thread of many)"
            ),
            FlagError::SetnsKindMismatch { expected, actual } => {
                write!(
                    f,
                    "setns() asked for {expected:?} but the fd is a {actual:?} namespace"
                )
            }
            FlagError::SetnsUserNeedsSingleThread => {
                f.write_str("setns() into a user namespace needs a single-threaded caller")
            }
        }
    }
}

impl core::error::Error for FlagError {}

/// Namespaces whose creation needs `CAP_SYS_ADMIN` (all but the user namespace).
const PRIVILEGED_NAMESPACES: CloneFlags =
    CloneFlags::ALL_NAMESPACES.difference(CloneFlags::NEWUSER);

/// Flags and the first kernel that has them. A kernel before it answers `EINVAL` for the
/// bits (`clone3()` refuses unknown bits; legacy `clone()` has none of these above bit 31,
/// and refuses the others in `copy_process()` or ignores them); the validator names them.
const FLAG_INTRODUCED: [(CloneFlags, KernelVersion); 6] = [
    (CloneFlags::NEWCGROUP, KernelVersion::V4_6),
    (CloneFlags::PIDFD, KernelVersion::V5_2),
    (CloneFlags::CLEAR_SIGHAND, KernelVersion::V5_5),
    (CloneFlags::NEWTIME, KernelVersion::V5_6),
    (CloneFlags::INTO_CGROUP, KernelVersion::V5_7),
    (CloneFlags::LINUX_7_1, KernelVersion::V7_1),
];

/// Checks `request` against the kernel's rules, in the kernel's order.
///
/// Returns the first rule broken, or `Ok(())` where the kernel would accept the flags (it may
/// still fail for resources: `EAGAIN`, `ENOMEM`, a bad fd or address).
pub fn validate(request: &Request) -> Result<(), FlagError> {
    let flags = request.flags;
    let kernel = request.kernel;
    for (introduced, since) in FLAG_INTRODUCED {
        let newer = flags & introduced;
        if !newer.is_empty() && kernel < since {
            return Err(FlagError::NeedsKernel {
                flags: newer,
                since,
            });
        }
    }
    match request.syscall {
        Syscall::Clone => check_legacy_encoding(flags)?,
        Syscall::Clone3 => check_clone3_args(request)?,
    }
    // kernel_clone(): an empty mount namespace is a new mount namespace, for every rule
    // after this point (CLONE_NEWNS|CLONE_FS, the capability).
    let mut effective = *request;
    if flags.contains(CloneFlags::EMPTY_MNTNS) {
        effective.flags |= CloneFlags::NEWNS;
    }
    // kernel_clone(): legacy clone() returns the pidfd through ptid.
    let pidfd_slot_shared =
        request.syscall == Syscall::Clone || request.clone3.pidfd_aliases_parent_tid;
    if flags.contains(CloneFlags::PIDFD | CloneFlags::PARENT_SETTID) && pidfd_slot_shared {
        return Err(FlagError::PidfdWithParentSettid);
    }
    check_copy_process(&effective)?;
    check_namespaces(&effective)
}

/// What legacy `clone()` can carry in its one word.
fn check_legacy_encoding(flags: CloneFlags) -> Result<(), FlagError> {
    let unencodable = flags & CloneFlags::CLONE3_ONLY;
    if !unencodable.is_empty() {
        return Err(FlagError::Clone3OnlyFlags(unencodable));
    }
    Ok(())
}

/// `clone3()`: `copy_clone_args_from_user()` then `clone3_args_valid()`.
fn check_clone3_args(request: &Request) -> Result<(), FlagError> {
    let shape = &request.clone3;
    let flags = request.flags;
    if request.kernel < KernelVersion::V5_3 {
        return Err(FlagError::Clone3Unsupported);
    }
    if shape.size > shape.page_size {
        return Err(FlagError::Clone3ArgsTooLarge(shape.size));
    }
    if shape.size < 64 {
        return Err(FlagError::Clone3ArgsTooSmall(shape.size));
    }
    if shape.trailing_nonzero {
        return Err(FlagError::Clone3TrailingBytes);
    }
    if shape.set_tid_len > 32 {
        return Err(FlagError::SetTidTooLong(shape.set_tid_len));
    }
    if shape.set_tid_given != (shape.set_tid_len > 0) {
        return Err(FlagError::SetTidMismatch);
    }
    if flags.contains(CloneFlags::INTO_CGROUP) {
        if shape.cgroup > i32::MAX as u64 {
            return Err(FlagError::IntoCgroupBadFd(shape.cgroup));
        }
        if shape.size < 88 {
            return Err(FlagError::IntoCgroupNeedsVer2);
        }
    }
    if flags.contains(CloneFlags::DETACHED) {
        return Err(FlagError::Clone3Detached);
    }
    if flags.contains(CloneFlags::NEWTIME) && !request.kernel.clone3_takes_newtime() {
        return Err(FlagError::NewtimeInClone3Unsupported);
    }
    if flags.contains(CloneFlags::SIGHAND | CloneFlags::CLEAR_SIGHAND) {
        return Err(FlagError::ClearSighandWithSighand);
    }
    if flags.intersects(CloneFlags::THREAD | CloneFlags::PARENT) && request.exit_signal.raw() != 0 {
        return Err(FlagError::ExitSignalWithThreadOrParent);
    }
    match (request.stack_given, shape.stack_size) {
        (false, size) if size > 0 => Err(FlagError::StackSizeWithoutStack),
        (true, 0) => Err(FlagError::StackWithoutSize),
        _ => Ok(()),
    }
}

/// `copy_process()`: the flag-dependency rules.
fn check_copy_process(request: &Request) -> Result<(), FlagError> {
    let flags = request.flags;
    let has = |f: CloneFlags| flags.contains(f);
    if has(CloneFlags::NEWNS | CloneFlags::FS) {
        return Err(FlagError::NewnsWithFs);
    }
    if has(CloneFlags::NEWUSER | CloneFlags::FS) {
        return Err(FlagError::NewuserWithFs);
    }
    if has(CloneFlags::THREAD) && !has(CloneFlags::SIGHAND) {
        return Err(FlagError::ThreadRequiresSighand);
    }
    if has(CloneFlags::SIGHAND) && !has(CloneFlags::VM) {
        return Err(FlagError::SighandRequiresVm);
    }
    if has(CloneFlags::PARENT) && request.caller.is_ns_init {
        return Err(FlagError::ParentFromNsInit);
    }
    if has(CloneFlags::THREAD | CloneFlags::NEWUSER) {
        return Err(FlagError::ThreadWithNewuser);
    }
    if has(CloneFlags::THREAD | CloneFlags::NEWPID) {
        return Err(FlagError::ThreadWithNewpid);
    }
    if has(CloneFlags::THREAD) && request.caller.pid_ns_for_children_differs {
        return Err(FlagError::ThreadAfterPidNamespaceChange);
    }
    // 5.6 to 6.1: a task sharing the memory (and with it the time namespace's vvar page)
    // had to stay in the caller's time namespace. 6.2 (2b5f9dad32ed) lets a CLONE_VM child
    // stay in the caller's and moves a task into the one for children at execve. (A
    // CLONE_VFORK exception, 133e2d3e81de, came in 6.0-rc1 and was reverted in 6.0-rc7.)
    if flags.intersects(CloneFlags::THREAD | CloneFlags::VM)
        && request.caller.time_ns_for_children_differs
        && request.kernel < KernelVersion::V6_2
    {
        return Err(FlagError::VmOrThreadAfterTimeNamespaceChangeBefore6_2);
    }
    if has(CloneFlags::PIDFD) {
        if has(CloneFlags::DETACHED) {
            return Err(FlagError::PidfdWithDetached);
        }
        if has(CloneFlags::THREAD) && request.kernel < KernelVersion::V6_9 {
            return Err(FlagError::PidfdWithThreadBefore6_9);
        }
    }
    check_linux_7_1(request)
}

/// `copy_process()`, Linux 7.1 on (as in 7.2.12 and 7.3.4): the rules of `CLONE_AUTOREAP`,
/// `CLONE_NNP` and `CLONE_PIDFD_AUTOKILL`, right after the `CLONE_PIDFD` ones.
fn check_linux_7_1(request: &Request) -> Result<(), FlagError> {
    let flags = request.flags;
    let has = |f: CloneFlags| flags.contains(f);
    if has(CloneFlags::AUTOREAP) {
        if has(CloneFlags::THREAD) {
            return Err(FlagError::AutoreapWithThread);
        }
        if has(CloneFlags::PARENT) {
            return Err(FlagError::AutoreapWithParent);
        }
        if request.exit_signal.raw() != 0 {
            return Err(FlagError::AutoreapWithExitSignal);
        }
    }
    if has(CloneFlags::PARENT) && request.caller.autoreaped {
        return Err(FlagError::ParentFromAutoreaped);
    }
    if has(CloneFlags::NNP | CloneFlags::THREAD) {
        return Err(FlagError::NnpWithThread);
    }
    if has(CloneFlags::PIDFD_AUTOKILL) {
        if !has(CloneFlags::PIDFD) {
            return Err(FlagError::AutokillWithoutPidfd);
        }
        if !has(CloneFlags::AUTOREAP) {
            return Err(FlagError::AutokillWithoutAutoreap);
        }
        // The kernel refuses CLONE_THREAD here too, but CLONE_AUTOREAP, required just
        // above, already refused it.
        if !has(CloneFlags::NNP) && !request.caller.cap_sys_admin {
            return Err(FlagError::AutokillNeedsNnpOrCapSysAdmin);
        }
    }
    Ok(())
}

/// `copy_creds()` (a new user namespace), `copy_namespaces()` and `alloc_pid()`.
fn check_namespaces(request: &Request) -> Result<(), FlagError> {
    let flags = request.flags;
    let caller = &request.caller;
    if flags.contains(CloneFlags::NEWUSER) && caller.user_ns_level.is_some_and(|l| l > 32) {
        return Err(FlagError::UserNestingTooDeep);
    }
    // Other namespaces are owned by the child's user namespace: a new one grants the
    // child every capability inside it. An empty mount namespace is named as asked for.
    let privileged = flags & (PRIVILEGED_NAMESPACES | CloneFlags::EMPTY_MNTNS);
    let has_cap = caller.cap_sys_admin || flags.contains(CloneFlags::NEWUSER);
    if !privileged.is_empty() && !has_cap {
        return Err(FlagError::NamespaceNeedsCapSysAdmin(privileged));
    }
    if flags.contains(CloneFlags::NEWIPC | CloneFlags::SYSVSEM) {
        return Err(FlagError::NewipcWithSysvsem);
    }
    let new_pid_ns = flags.contains(CloneFlags::NEWPID);
    if new_pid_ns && caller.pid_ns_level.is_some_and(|l| l >= 32) {
        return Err(FlagError::PidNestingTooDeep);
    }
    if request.syscall == Syscall::Clone3 && request.clone3.set_tid_given {
        if let Some(level) = caller.pid_ns_level {
            let child_levels = u64::from(level) + 1 + u64::from(new_pid_ns);
            if request.clone3.set_tid_len > child_levels {
                return Err(FlagError::SetTidDeeperThanNamespaces);
            }
        }
        // Each entry needs the capability over the user namespace owning its PID
        // namespace level: a new user namespace grants it for a new PID namespace only,
        // so without privilege only the innermost entry of a NEWUSER|NEWPID child is allowed.
        let privileged = caller.cap_sys_admin || caller.cap_checkpoint_restore;
        let innermost_only = flags.contains(CloneFlags::NEWUSER | CloneFlags::NEWPID)
            && request.clone3.set_tid_len == 1;
        if !privileged && !innermost_only {
            return Err(FlagError::SetTidNeedsPrivilege);
        }
    }
    Ok(())
}

/// The flags `unshare()` takes (`check_unshare_flags` in kernel/fork.c).
pub const UNSHARE_FLAGS: CloneFlags = CloneFlags::THREAD
    .union(CloneFlags::FS)
    .union(CloneFlags::NEWNS)
    .union(CloneFlags::SIGHAND)
    .union(CloneFlags::VM)
    .union(CloneFlags::FILES)
    .union(CloneFlags::SYSVSEM)
    .union(CloneFlags::NEWUTS)
    .union(CloneFlags::NEWIPC)
    .union(CloneFlags::NEWNET)
    .union(CloneFlags::NEWUSER)
    .union(CloneFlags::NEWPID)
    .union(CloneFlags::NEWCGROUP)
    .union(CloneFlags::NEWTIME);

/// Checks an `unshare(flags)` by `caller`, a process of `threads` threads (if known), on
/// `kernel`, in the kernel's order (`ksys_unshare`): unknown flags, then the implied flags
/// (`NEWUSER` brings `THREAD` and `FS`, `VM` brings `SIGHAND`, `SIGHAND` brings `THREAD`,
/// `NEWNS` brings `FS`) against a multithreaded caller, then privileges and nesting.
pub fn validate_unshare(
    flags: CloneFlags,
    caller: &Caller,
    threads: Option<u64>,
    kernel: KernelVersion,
) -> Result<(), FlagError> {
    let unsupported = flags - UNSHARE_FLAGS;
    if !unsupported.is_empty() {
        return Err(FlagError::UnshareUnsupported(unsupported));
    }
    if flags.contains(CloneFlags::NEWTIME) && kernel < KernelVersion::V5_6 {
        return Err(FlagError::NeedsKernel {
            flags: CloneFlags::NEWTIME,
            since: KernelVersion::V5_6,
        });
    }
    if flags.contains(CloneFlags::NEWCGROUP) && kernel < KernelVersion::V4_6 {
        return Err(FlagError::NeedsKernel {
            flags: CloneFlags::NEWCGROUP,
            since: KernelVersion::V4_6,
        });
    }
    let single_thread_only =
        CloneFlags::NEWUSER | CloneFlags::VM | CloneFlags::SIGHAND | CloneFlags::THREAD;
    let needs_single = flags & single_thread_only;
    if !needs_single.is_empty() && threads.is_some_and(|n| n > 1) {
        return Err(FlagError::UnshareNeedsSingleThread(needs_single));
    }
    if flags.contains(CloneFlags::NEWUSER) && caller.user_ns_level.is_some_and(|l| l > 32) {
        return Err(FlagError::UserNestingTooDeep);
    }
    let privileged = flags & PRIVILEGED_NAMESPACES;
    if !privileged.is_empty() && !caller.cap_sys_admin && !flags.contains(CloneFlags::NEWUSER) {
        return Err(FlagError::NamespaceNeedsCapSysAdmin(privileged));
    }
    if flags.contains(CloneFlags::NEWPID) && caller.pid_ns_level.is_some_and(|l| l >= 32) {
        return Err(FlagError::PidNestingTooDeep);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
