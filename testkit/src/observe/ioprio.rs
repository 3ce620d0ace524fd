//! I/O priorities (`ioprio_get`/`ioprio_set`): what shows that `CLONE_IO` tasks share one
//! I/O context.

use clonekit::Errno;
use clonekit::errno::from_syscall;
use clonekit::sys::{Pid, Uid};
use linux_raw_sys::general as g;
use sc::{syscall2, syscall3};

/// Whom [`ioprio_get`] / [`ioprio_set`] address (`IOPRIO_WHO_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IoprioWho {
    /// `IOPRIO_WHO_PROCESS`: a thread id (0 = the calling thread).
    Process(Pid),
    /// `IOPRIO_WHO_PGRP`: a process group (0 = the caller's).
    Pgrp(Pid),
    /// `IOPRIO_WHO_USER`: every process of a user id.
    User(Uid),
}

impl IoprioWho {
    fn raw(self) -> (usize, usize) {
        match self {
            IoprioWho::Process(p) => (1, p as usize),
            IoprioWho::Pgrp(p) => (2, p as usize),
            IoprioWho::User(u) => (3, u as usize),
        }
    }
}

/// An I/O scheduling class (`IOPRIO_CLASS_*`).
#[repr(u16)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IoprioClass {
    /// `IOPRIO_CLASS_NONE`: derived from the CPU nice value.
    None = 0,
    /// `IOPRIO_CLASS_RT`: real time (needs `CAP_SYS_ADMIN`/`CAP_SYS_NICE`).
    RealTime = 1,
    /// `IOPRIO_CLASS_BE`: best effort.
    BestEffort = 2,
    /// `IOPRIO_CLASS_IDLE`: only when nobody else wants the disk.
    Idle = 3,
}

/// An I/O priority: a class and a level `0..=7` (0 highest), `IOPRIO_PRIO_VALUE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IoPriority(u16);

impl IoPriority {
    const CLASS_SHIFT: u16 = 13;

    /// `IOPRIO_PRIO_VALUE(class, level)`; `level` is masked to `0..=7`.
    pub const fn new(class: IoprioClass, level: u8) -> IoPriority {
        IoPriority(((class as u16) << Self::CLASS_SHIFT) | (level as u16 & 7))
    }

    /// The class (`IOPRIO_PRIO_CLASS`).
    pub const fn class(self) -> IoprioClass {
        match self.0 >> Self::CLASS_SHIFT {
            1 => IoprioClass::RealTime,
            2 => IoprioClass::BestEffort,
            3 => IoprioClass::Idle,
            _ => IoprioClass::None,
        }
    }

    /// The level (`IOPRIO_PRIO_LEVEL`, low 3 bits of the data).
    pub const fn level(self) -> u8 {
        (self.0 & 7) as u8
    }

    /// The raw value.
    pub const fn raw(self) -> u16 {
        self.0
    }
}

/// `ioprio_get(which, who)`: the I/O priority (threads sharing `CLONE_IO` share one
/// I/O context and so one priority).
///
/// # References
/// ioprio_get(2)
pub fn ioprio_get(who: IoprioWho) -> Result<IoPriority, Errno> {
    let (which, id) = who.raw();
    // SAFETY: integer arguments only.
    from_syscall(unsafe { syscall2(g::__NR_ioprio_get as usize, which, id) })
        .map(|v| IoPriority(v as u16))
}

/// `ioprio_set(which, who, ioprio)`: sets the I/O priority.
///
/// # References
/// ioprio_set(2)
pub fn ioprio_set(who: IoprioWho, prio: IoPriority) -> Result<(), Errno> {
    let (which, id) = who.raw();
    // SAFETY: integer arguments only.
    from_syscall(unsafe { syscall3(g::__NR_ioprio_set as usize, which, id, prio.0 as usize) })
        .map(drop)
}
