//! System V IPC: semaphores (`semget`, `semop`, `semctl`) and message queues
//! (`msgget`, `msgctl`), enough to observe `CLONE_SYSVSEM` (shared semaphore undo
//! lists) and `CLONE_NEWIPC` (a private set of IPC objects).
//!
//! The `IPC_*`/`SEM_*` constants are not in `linux_raw_sys`'s modules; their values
//! are from `include/uapi/linux/ipc.h` and `sem.h`, identical on every arch.

use crate::errno::from_syscall;
use crate::{Errno, Result};
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

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::Errno;
    use crate::sys::process::exit_group;
    use crate::sys::testutil::{raw_fork, skip, wait_exit_code};

    /// Removes the set even if an assertion fails.
    struct Sem(i32);
    impl Drop for Sem {
        fn drop(&mut self) {
            let _ = semctl_rmid(self.0);
        }
    }

    fn new_sem(test: &str) -> Option<Sem> {
        match semget(IPC_PRIVATE, 1, IPC_CREAT | 0o600) {
            Ok(id) => Some(Sem(id)),
            Err(Errno::ENOSYS) => {
                skip(test, "System V IPC not available");
                None
            }
            Err(e) => panic!("semget: {e}"),
        }
    }

    #[test]
    fn semget_semop_semctl_round_trip() {
        let Some(sem) = new_sem("semget_semop_semctl_round_trip") else {
            return;
        };
        assert_eq!(semctl_getval(sem.0, 0), Ok(0));
        semctl_setval(sem.0, 0, 5).unwrap();
        assert_eq!(semctl_getval(sem.0, 0), Ok(5));
        semop(
            sem.0,
            &[Sembuf {
                sem_num: 0,
                sem_op: -2,
                sem_flg: 0,
            }],
        )
        .unwrap();
        assert_eq!(semctl_getval(sem.0, 0), Ok(3));
        let too_much = [Sembuf {
            sem_num: 0,
            sem_op: -4,
            sem_flg: IPC_NOWAIT,
        }];
        assert_eq!(semop(sem.0, &too_much), Err(Errno::EAGAIN));
        let bad_index = [Sembuf {
            sem_num: 1,
            sem_op: 1,
            sem_flg: 0,
        }];
        assert_eq!(semop(sem.0, &bad_index), Err(Errno::EFBIG));
        let id = sem.0;
        drop(sem);
        assert_eq!(semctl_getval(id, 0), Err(Errno::EINVAL), "removed");
    }

    #[test]
    fn sem_undo_is_applied_when_a_child_exits() {
        let Some(sem) = new_sem("sem_undo_is_applied_when_a_child_exits") else {
            return;
        };
        semctl_setval(sem.0, 0, 1).unwrap();
        let id = sem.0;
        let pid = raw_fork();
        if pid == 0 {
            let op = [Sembuf {
                sem_num: 0,
                sem_op: 1,
                sem_flg: SEM_UNDO,
            }];
            exit_group(if semop(id, &op).is_ok() { 0 } else { 1 });
        }
        assert_eq!(wait_exit_code(pid), 0);
        // The child's +1 was undone at its exit.
        assert_eq!(semctl_getval(id, 0), Ok(1));
    }

    #[test]
    fn msgget_and_remove() {
        let id = match msgget(IPC_PRIVATE, IPC_CREAT | 0o600) {
            Ok(id) => id,
            Err(Errno::ENOSYS) => return skip("msgget_and_remove", "msgget is ENOSYS"),
            Err(e) => panic!("msgget: {e}"),
        };
        msgctl_rmid(id).unwrap();
        assert_eq!(msgctl_rmid(id), Err(Errno::EINVAL));
    }
}
