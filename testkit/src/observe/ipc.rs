//! System V IPC: semaphores (`semget`, `semop`, `semctl`) and message queues
//! (`msgget`, `msgctl`), enough to observe `CLONE_SYSVSEM` (shared semaphore undo
//! lists) and `CLONE_NEWIPC` (a private set of IPC objects).
//!
//! The `IPC_*`/`SEM_*` constants are not in `linux_raw_sys`'s modules; their values
//! are from `include/uapi/linux/ipc.h` and `sem.h`, identical on every arch.

use clonekit::Errno;
use clonekit::errno::from_syscall;
use linux_raw_sys::general as g;
use sc::{syscall2, syscall3, syscall4};

/// An IPC key (`key_t`).
pub type Key = i32;

/// `IPC_PRIVATE`: a key that always creates a new object.
pub const IPC_PRIVATE: Key = 0;
/// `IPC_CREAT`: create the object if the key has none (ORed with the mode bits).
pub const IPC_CREAT: i32 = 0o1000;
/// `IPC_EXCL`: with `IPC_CREAT`, fail with `EEXIST` if it exists.
pub const IPC_EXCL: i32 = 0o2000;
/// `IPC_NOWAIT`: fail with `EAGAIN` instead of blocking (a `semop` flag).
pub const IPC_NOWAIT: i16 = 0o4000;
/// `SEM_UNDO`: undo the operation when the process exits (undo lists are shared
/// between `CLONE_SYSVSEM` tasks).
pub const SEM_UNDO: i16 = 0x1000;

const IPC_RMID: usize = 0;
const GETVAL: usize = 12;
const SETVAL: usize = 16;

/// `struct sembuf`: one operation of a [`semop`].
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sembuf {
    /// `sem_num`: the semaphore's index in the set.
    pub sem_num: u16,
    /// `sem_op`: add this (> 0), wait until it can be subtracted (< 0), or wait for
    /// zero (0).
    pub sem_op: i16,
    /// `sem_flg`: [`IPC_NOWAIT`], [`SEM_UNDO`].
    pub sem_flg: i16,
}

/// `semget(key, nsems, flags)`: the id of a semaphore set (created with `IPC_CREAT`,
/// mode in the low 9 bits of `flags`).
///
/// # References
/// semget(2)
pub fn semget(key: Key, nsems: i32, flags: i32) -> Result<i32, Errno> {
    // SAFETY: integer arguments only.
    from_syscall(unsafe {
        syscall3(
            g::__NR_semget as usize,
            key as usize,
            nsems as usize,
            flags as usize,
        )
    })
    .map(|id| id as i32)
}

/// `semop(semid, sops, nsops)`: performs all of `ops` atomically.
///
/// # References
/// semop(2)
pub fn semop(semid: i32, ops: &[Sembuf]) -> Result<(), Errno> {
    // SAFETY: the kernel reads `ops.len()` sembufs from `ops`.
    from_syscall(unsafe {
        syscall3(
            g::__NR_semop as usize,
            semid as usize,
            ops.as_ptr() as usize,
            ops.len(),
        )
    })
    .map(drop)
}

/// `semctl(semid, semnum, GETVAL)`: the value of one semaphore.
///
/// # References
/// semctl(2)
pub fn semctl_getval(semid: i32, semnum: i32) -> Result<i32, Errno> {
    // SAFETY: GETVAL takes no pointer.
    from_syscall(unsafe {
        syscall4(
            g::__NR_semctl as usize,
            semid as usize,
            semnum as usize,
            GETVAL,
            0,
        )
    })
    .map(|v| v as i32)
}

/// `semctl(semid, semnum, SETVAL, val)`: sets one semaphore (clearing undo entries).
///
/// # References
/// semctl(2)
pub fn semctl_setval(semid: i32, semnum: i32, val: i32) -> Result<(), Errno> {
    // SAFETY: SETVAL takes the value in the `semun` register, no pointer.
    from_syscall(unsafe {
        syscall4(
            g::__NR_semctl as usize,
            semid as usize,
            semnum as usize,
            SETVAL,
            val as u32 as usize,
        )
    })
    .map(drop)
}

/// `semctl(semid, 0, IPC_RMID)`: removes the set, waking its waiters with `EIDRM`.
///
/// # References
/// semctl(2)
pub fn semctl_rmid(semid: i32) -> Result<(), Errno> {
    // SAFETY: IPC_RMID takes no pointer.
    from_syscall(unsafe { syscall4(g::__NR_semctl as usize, semid as usize, 0, IPC_RMID, 0) })
        .map(drop)
}

/// `msgget(key, flags)`: the id of a message queue.
///
/// # References
/// msgget(2)
pub fn msgget(key: Key, flags: i32) -> Result<i32, Errno> {
    // SAFETY: integer arguments only.
    from_syscall(unsafe { syscall2(g::__NR_msgget as usize, key as usize, flags as usize) })
        .map(|id| id as i32)
}

/// `msgctl(msqid, IPC_RMID, NULL)`: removes a message queue.
///
/// # References
/// msgctl(2)
pub fn msgctl_rmid(msqid: i32) -> Result<(), Errno> {
    // SAFETY: IPC_RMID takes no buffer; the pointer is NULL.
    from_syscall(unsafe { syscall3(g::__NR_msgctl as usize, msqid as usize, IPC_RMID, 0) })
        .map(drop)
}
