//! The error every spawning entry point returns: a refused flag rule, a bad stack, or the
//! kernel's errno; and the container set-up step it names when a container's child fails
//! ([`SetupStep`], here so that the error names it without depending on the container).
//!
//! ```
//! use clonekit::{CloneFlags, Errno, Error, FlagError};
//! use clonekit::process::ChildBuilder;
//! # if clonekit::program::emulated() {
//! #     return; // qemu-user 7.2 gives no thread count: the single-thread check refuses first
//! # }
//!
//! // A refused rule is named before any system call; nothing starts.
//! let refused = ChildBuilder::new(CloneFlags::SIGHAND).spawn(|| 0).unwrap_err();
//! assert_eq!(refused, Error::Flags(FlagError::SighandRequiresVm));
//! assert_eq!(FlagError::SighandRequiresVm.errno(), Errno::EINVAL); // what the kernel would say
//! println!("{refused}");
//! ```

use core::fmt;

use crate::errno::Errno;
use crate::flags::CloneFlags;
use crate::stack::StackError;
use crate::task::exit_status::ExitStatus;
use crate::validate::FlagError;

/// Why a `clone`, `clone3`, thread or child could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The flags break a kernel rule; checked before any syscall.
    Flags(FlagError),
    /// Flags the safe API sets itself (`CLONE_SETTLS`, `CLONE_PARENT_SETTID`,
    /// `CLONE_CHILD_SETTID`, `CLONE_CHILD_CLEARTID`, `CLONE_PIDFD`, `CLONE_VFORK` where it
    /// manages them): passing them would let the kernel write where the API cannot vouch for.
    ManagedFlags(CloneFlags),
    /// The flags need a child stack and none was given (`CLONE_VM` without a stack would
    /// run parent and child on one stack).
    StackRequired,
    /// The stack was refused.
    Stack(StackError),
    /// A setting that needs this namespace, asked for without it (a container hostname
    /// without `CLONE_NEWUTS` would rename the host).
    NeedsNamespace(CloneFlags),
    /// A task with clonekit's own thread pointer (a thread, a `CLONE_VM` child) asked for
    /// in a program whose thread pointer a libc owns (any std program): code in it would
    /// run on the wrong per-thread state. See [`program`](crate::program); the `unsafe`
    /// `spawn_unchecked` variants take the rule as a written contract instead.
    LibcOwnsThreadPointer,
    /// A fork-like child asked for by a process with this many threads: locks they hold
    /// would be copied held into the child. See [`program`](crate::program).
    MultiThreaded {
        /// The kernel's thread count of the calling process.
        threads: u64,
    },
    /// Whether the process is single-threaded could not be read (`/proc/self/stat`, with
    /// this errno; `EINVAL` for no usable count, as under qemu-user 7.2), so a fork-like
    /// child was not risked.
    ThreadCountUnknown(Errno),
    /// `CLONE_FILES` without `CLONE_VM`: the child's copy of memory would own the very
    /// descriptors the parent owns, through one shared table.
    FilesWithoutVm,
    /// Memory shared without the descriptor table: `CLONE_VM` without `CLONE_FILES`, or
    /// `unshare(CLONE_FILES)` by a task that shares its memory. A descriptor owner in the
    /// shared memory would name different files in the two tables.
    VmWithoutFiles,
    /// A fork-like child asked for by a task that is single-threaded but shares its address
    /// space with another process (a `CLONE_VM` child or parent), whose locks would be
    /// copied held.
    AddressSpaceShared,
    /// A [`Container`](crate::container::Container)'s set-up failed inside the child at
    /// this step, with this errno (the child was reaped).
    ContainerSetup {
        /// The step that failed.
        step: SetupStep,
        /// Its errno.
        errno: Errno,
    },
    /// A container's init ended before it reported its set-up (the child was reaped).
    ContainerDied(ExitStatus),
    /// These clone flags, which the kernel's rules allow, were refused (`EINVAL`) by an
    /// emulator that implements `clone` itself: qemu-user refuses every `CLONE_NEW*` flag.
    /// Detected by `clone3` being missing on a kernel that has it.
    EmulatorRefused(CloneFlags),
    /// The kernel refused.
    Os(Errno),
}

/// One step of the container's set-up inside the child, as [`Error::ContainerSetup`]
/// names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetupStep {
    /// Waiting for the parent to write the id maps (the parent gave up, or the pipe failed).
    WaitForMaps,
    /// `setresgid`/`setresuid` to 0 over the maps.
    BecomeRoot,
    /// `sethostname`.
    Hostname,
    /// `setdomainname`.
    Domainname,
    /// Making every mount private (`MS_REC | MS_PRIVATE` on `/`).
    PrivateMounts,
    /// Mounting the new `/proc`.
    MountProc,
    /// `unshare(CLONE_NEWTIME)`, its offsets, and entering it.
    TimeNamespace,
    /// Mounting a tmpfs on the empty root of an empty mount namespace and entering it
    /// (`EXDEV` if `/` was not that tmpfs afterwards).
    EmptyRoot,
}

impl SetupStep {
    /// Every step, in declaration order (the container's report to its parent encodes a
    /// step by its position).
    pub(crate) const ALL: [SetupStep; 8] = [
        SetupStep::WaitForMaps,
        SetupStep::BecomeRoot,
        SetupStep::Hostname,
        SetupStep::Domainname,
        SetupStep::PrivateMounts,
        SetupStep::MountProc,
        SetupStep::TimeNamespace,
        SetupStep::EmptyRoot,
    ];

    /// What the step does, in words.
    pub const fn describe(self) -> &'static str {
        match self {
            SetupStep::WaitForMaps => "waiting for the id maps",
            SetupStep::BecomeRoot => "becoming root over the id maps",
            SetupStep::Hostname => "setting the hostname",
            SetupStep::Domainname => "setting the domain name",
            SetupStep::PrivateMounts => "making the mounts private",
            SetupStep::EmptyRoot => {
                "mounting and entering a tmpfs root in the empty mount namespace"
            }
            SetupStep::MountProc => "mounting /proc",
            SetupStep::TimeNamespace => "entering the time namespace with its offsets",
        }
    }
}

impl Error {
    /// The errno this error corresponds to (`EINVAL` for refused flags or stacks).
    pub const fn errno(&self) -> Errno {
        match self {
            Error::Flags(rule) => rule.errno(),
            Error::Os(errno)
            | Error::ThreadCountUnknown(errno)
            | Error::ContainerSetup { errno, .. } => *errno,
            Error::ContainerDied(_) => Errno::ECHILD,
            Error::Stack(StackError::Map(errno)) => *errno,
            _ => Errno::EINVAL,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Flags(rule) => write!(f, "refused before the syscall: {rule}"),
            Error::ManagedFlags(flags) => {
                write!(
                    f,
                    "{flags:?} are set by this API itself and cannot be passed"
                )
            }
            Error::StackRequired => {
                f.write_str("CLONE_VM without a child stack would share the parent's stack")
            }
            Error::Stack(e) => write!(f, "stack: {e}"),
            Error::NeedsNamespace(flag) => {
                write!(f, "this setting needs {flag:?}, which was not asked for")
            }
            Error::LibcOwnsThreadPointer => f.write_str(
                "a libc owns this program's thread pointer (it was not started by \
                 clonekit::entry!): a task with clonekit's own would run libc and std code on \
                 the wrong per-thread state; the unsafe spawn_unchecked states what its \
                 closure may call instead",
            ),
            Error::MultiThreaded { threads } => write!(
                f,
                "the process has {threads} threads: a fork-like child would inherit the locks \
                 they hold, held; fork before starting threads, or use the unsafe \
                 *_unchecked variant with a child that keeps to clonekit and core"
            ),
            Error::ThreadCountUnknown(errno) => write!(
                f,
                "whether the process is single-threaded is unknown (/proc/self/stat: {errno}{}), \
                 which a fork-like child needs",
                if *errno == Errno::EINVAL {
                    "; qemu-user 7.2 writes a thread count of 0 there"
                } else {
                    ""
                }
            ),
            Error::FilesWithoutVm => f.write_str(
                "CLONE_FILES without CLONE_VM: the child's copy of memory would own the \
                 parent's descriptors through one shared table",
            ),
            Error::VmWithoutFiles => f.write_str(
                "memory shared without the descriptor table (CLONE_VM without CLONE_FILES, or \
                 unshare(CLONE_FILES) while sharing memory): descriptors in the shared memory \
                 would name different files in the two tables",
            ),
            Error::AddressSpaceShared => f.write_str(
                "another process shares this address space (CLONE_VM): a fork-like child \
                 would inherit the locks it holds, held",
            ),
            Error::ContainerSetup { step, errno } => {
                write!(f, "container set-up failed {}: {errno}", step.describe())
            }
            Error::ContainerDied(status) => {
                write!(
                    f,
                    "the container's init {status} before its set-up was done"
                )
            }
            Error::EmulatorRefused(flags) => write!(
                f,
                "EINVAL for {flags:?}, which the kernel's rules allow: this runs under an \
                 emulator (qemu-user) that refuses namespace flags itself; run it natively \
                 or in a QEMU system guest"
            ),
            Error::Os(errno) => write!(f, "{errno}"),
        }
    }
}

impl core::error::Error for Error {}

impl From<FlagError> for Error {
    fn from(rule: FlagError) -> Error {
        Error::Flags(rule)
    }
}

impl From<Errno> for Error {
    fn from(errno: Errno) -> Error {
        Error::Os(errno)
    }
}

impl From<StackError> for Error {
    fn from(e: StackError) -> Error {
        Error::Stack(e)
    }
}
