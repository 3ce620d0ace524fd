//! `struct clone_args`, the argument of `clone3()`, with its layout pinned at compile time.
//!
//! ```
//! use clonekit::{CloneArgs, CloneFlags, ExitSignal};
//! use clonekit::clone_args::{SIZE_VER0, SIZE_VER2};
//!
//! let flags = CloneFlags::PIDFD | CloneFlags::CLEAR_SIGHAND;
//! let args = CloneArgs::new(flags, ExitSignal::SIGCHLD);
//! assert_eq!(args.clone_flags(), Ok(flags));
//! assert_eq!(args.signal(), Ok(ExitSignal::SIGCHLD));
//! assert_eq!((SIZE_VER0, SIZE_VER2), (64, 88)); // Linux 5.3's struct, and 5.7's
//! assert_eq!(size_of::<CloneArgs>(), SIZE_VER2);
//! ```

use core::mem::{offset_of, size_of};

use linux_raw_sys::general as k;
use static_assertions::const_assert_eq;

use crate::flags::{CloneFlags, ExitSignal};
use crate::validate::Clone3Shape;

/// The kernel's `struct clone_args` (include/uapi/linux/sched.h), version 2: 88 bytes.
///
/// Pointers travel as `u64`, as the kernel defines them. Build it with the setters, which
/// keep each field's meaning typed; [`raw::clone3`](crate::raw::clone3) validates it.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CloneArgs {
    /// `CLONE_*` flags (no exit signal: that is `exit_signal`).
    pub flags: u64,
    /// Where the kernel stores the pidfd (an `int`) with `CLONE_PIDFD`.
    pub pidfd: u64,
    /// Where the child's TID goes in the child's memory (`CLONE_CHILD_SETTID`) and is
    /// cleared on exit (`CLONE_CHILD_CLEARTID`).
    pub child_tid: u64,
    /// Where the child's TID goes in the parent's memory (`CLONE_PARENT_SETTID`).
    pub parent_tid: u64,
    /// The signal sent to the parent when the child exits.
    pub exit_signal: u64,
    /// The lowest address of the child's stack (not its top: the kernel adds the size).
    pub stack: u64,
    /// The stack's size in bytes.
    pub stack_size: u64,
    /// The thread pointer for `CLONE_SETTLS`.
    pub tls: u64,
    /// An array of PIDs the child should get, innermost PID namespace first (Linux 5.5).
    pub set_tid: u64,
    /// The number of entries in `set_tid`.
    pub set_tid_size: u64,
    /// A cgroup2 directory fd for `CLONE_INTO_CGROUP` (Linux 5.7).
    pub cgroup: u64,
}

/// Size of the first version of `struct clone_args` (Linux 5.3).
pub const SIZE_VER0: usize = k::CLONE_ARGS_SIZE_VER0 as usize;
/// Size with `set_tid` and `set_tid_size` (Linux 5.5).
pub const SIZE_VER1: usize = k::CLONE_ARGS_SIZE_VER1 as usize;
/// Size with `cgroup` (Linux 5.7): what clonekit passes.
pub const SIZE_VER2: usize = k::CLONE_ARGS_SIZE_VER2 as usize;

// The layout, pinned against the kernel's header and the three published sizes.
const_assert_eq!(size_of::<CloneArgs>(), size_of::<k::clone_args>());
const_assert_eq!(size_of::<CloneArgs>(), SIZE_VER2);
const_assert_eq!(SIZE_VER0, 64);
const_assert_eq!(SIZE_VER1, 80);
const_assert_eq!(SIZE_VER2, 88);
const_assert_eq!(
    offset_of!(CloneArgs, flags),
    offset_of!(k::clone_args, flags)
);
const_assert_eq!(
    offset_of!(CloneArgs, pidfd),
    offset_of!(k::clone_args, pidfd)
);
const_assert_eq!(
    offset_of!(CloneArgs, child_tid),
    offset_of!(k::clone_args, child_tid)
);
const_assert_eq!(
    offset_of!(CloneArgs, parent_tid),
    offset_of!(k::clone_args, parent_tid)
);
const_assert_eq!(
    offset_of!(CloneArgs, exit_signal),
    offset_of!(k::clone_args, exit_signal)
);
const_assert_eq!(
    offset_of!(CloneArgs, stack),
    offset_of!(k::clone_args, stack)
);
const_assert_eq!(
    offset_of!(CloneArgs, stack_size),
    offset_of!(k::clone_args, stack_size)
);
const_assert_eq!(offset_of!(CloneArgs, tls), offset_of!(k::clone_args, tls));
const_assert_eq!(
    offset_of!(CloneArgs, set_tid),
    offset_of!(k::clone_args, set_tid)
);
const_assert_eq!(
    offset_of!(CloneArgs, set_tid_size),
    offset_of!(k::clone_args, set_tid_size)
);
const_assert_eq!(
    offset_of!(CloneArgs, cgroup),
    offset_of!(k::clone_args, cgroup)
);
// Version 0 ends after `tls`, version 1 after `set_tid_size`, version 2 after `cgroup`.
const_assert_eq!(offset_of!(CloneArgs, tls) + 8, SIZE_VER0);
const_assert_eq!(offset_of!(CloneArgs, set_tid_size) + 8, SIZE_VER1);
const_assert_eq!(offset_of!(CloneArgs, cgroup) + 8, SIZE_VER2);

impl CloneArgs {
    /// Arguments with `flags` and `exit_signal`, everything else zero (no stack: the child
    /// runs on a copy of the parent's, which is only sound without `CLONE_VM`).
    pub const fn new(flags: CloneFlags, exit_signal: ExitSignal) -> CloneArgs {
        CloneArgs {
            flags: flags.bits(),
            pidfd: 0,
            child_tid: 0,
            parent_tid: 0,
            exit_signal: exit_signal.raw() as u64,
            stack: 0,
            stack_size: 0,
            tls: 0,
            set_tid: 0,
            set_tid_size: 0,
            cgroup: 0,
        }
    }

    /// The flags, or the unknown bits as an error.
    pub const fn clone_flags(&self) -> Result<CloneFlags, crate::FlagError> {
        CloneFlags::try_from_bits(self.flags)
    }

    /// The exit signal, or an out-of-range value as an error.
    pub fn signal(&self) -> Result<ExitSignal, crate::FlagError> {
        match u32::try_from(self.exit_signal) {
            Ok(sig) => ExitSignal::new(sig),
            Err(_) => Err(crate::FlagError::ExitSignalOutOfRange(u32::MAX)),
        }
    }

    /// What the validator needs to know of these arguments, passed with `size`.
    pub fn shape(&self, size: usize) -> Clone3Shape {
        Clone3Shape {
            size,
            trailing_nonzero: false,
            stack_size: self.stack_size,
            set_tid_len: self.set_tid_size,
            set_tid_given: self.set_tid != 0,
            cgroup: self.cgroup,
            // The kernel compares the two addresses as given: two NULLs are one slot too.
            pidfd_aliases_parent_tid: self.pidfd == self.parent_tid,
            page_size: Clone3Shape::DEFAULT.page_size,
        }
    }
}
