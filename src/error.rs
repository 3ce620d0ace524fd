//! The error every spawning entry point returns: a refused flag rule, a bad stack, or the
//! kernel's errno.

use core::fmt;

use crate::errno::Errno;
use crate::flags::CloneFlags;
use crate::stack::StackError;
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
    /// The kernel refused.
    Os(Errno),
}

impl Error {
    /// The errno this error corresponds to (`EINVAL` for refused flags or stacks).
    pub const fn errno(&self) -> Errno {
        match self {
            Error::Flags(rule) => rule.errno(),
            Error::Os(errno) => *errno,
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
