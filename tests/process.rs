//! Process children through clonekit's API, in a std program: a fork-like child's return
//! value as its exit status, `try_wait`, `thread::current()` beside glibc's thread pointer,
//! which system call a request goes through (`clone3` when asked or needed, the `ENOSYS`
//! fallback), the waits (`wait_any`, `reap_all_nonblocking`, children with any exit signal)
//! and the API's refusals. What the kernel makes of the flags (Example 1's shared memory,
//! shared descriptor tables, `CLONE_PARENT`, `set_tid`, `CLONE_INTO_CGROUP`, a signalled
//! child's status) is proven once, by the test kit's cases, run by `testkit/tests/cases.rs` and in
//! the QEMU guest.
//!
//! Child closures only use clonekit (atomics, `clonekit::sys`, `clonekit::println!`): the
//! test harness is a multithreaded libc program.

mod common;

use clonekit::process::{
    ChildBuilder, ExitStatus, MANAGED_FLAGS, Syscall, fork_unchecked, fork_with_unchecked,
    reap_all_nonblocking, wait_any,
};
use clonekit::sys::fs::{PipeFlags, pipe2};
use clonekit::sys::process::{getpid, getppid, gettid, sched_yield};
use clonekit::sys::signal::Signal;
use clonekit::sys::wait::{WaitId, WaitOptions, waitid};
use clonekit::{CloneFlags, Errno, Error, ExitSignal, FlagError, Stack};

/// Spins until child `pid` is a zombie, without reaping it (usable in a child).
fn wait_zombie(pid: i32) {
    let options =
        WaitOptions::EXITED | WaitOptions::NOHANG | WaitOptions::NOWAIT | WaitOptions::ALL;
    while let Ok(None) = waitid(WaitId::Pid(pid), options) {
        sched_yield();
    }
}

#[test]
fn fork_child_return_value_is_its_exit_status() {
    let parent = getpid();
    let base = 40; // borrowed from the parent's (copied) stack
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let mut child = unsafe {
        fork_unchecked(|| {
            if getppid() != parent || getpid() == parent {
                return 1;
            }
            base + 2
        })
    }
    .unwrap();
    assert_ne!(child.pid(), parent);
    assert_eq!(child.via(), Syscall::Clone);
    let status = child.wait().unwrap();
    assert_eq!(status, ExitStatus::Exited(42));
    assert_eq!(status.code(), Some(42));
    assert!(!status.success());
    assert!(
        // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
        unsafe { fork_unchecked(|| 0) }
            .unwrap()
            .wait()
            .unwrap()
            .success()
    );
    // Only the low 8 bits of the return value survive.
    assert_eq!(
        // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
        unsafe { fork_unchecked(|| 0x1_07) }.unwrap().wait(),
        Ok(ExitStatus::Exited(7))
    );
}

#[test]
fn try_wait_is_none_until_the_child_exits() {
    let (r, w) = pipe2(PipeFlags::CLOEXEC).unwrap();
    let (rfd, wfd) = (r.as_raw(), w.as_raw());
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does;
    // it has its own copy of the descriptor table (no CLONE_FILES), as `child_wait_eof` needs.
    let mut child = unsafe {
        ChildBuilder::new(CloneFlags::empty())
            .stack(Stack::new(64 * 1024).unwrap())
            .spawn_unchecked(move || {
                common::child_wait_eof(rfd, wfd);
                9
            })
    }
    .unwrap();
    assert_eq!(child.try_wait(), Ok(None));
    drop(w);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        sched_yield();
    };
    assert_eq!(status, ExitStatus::Exited(9));
    // Reaped: the handle remembers, and no longer signals a PID that may be reused.
    assert_eq!(child.try_wait(), Ok(Some(ExitStatus::Exited(9))));
    assert_eq!(child.signal(Signal::SIGTERM), Err(Errno::ESRCH));
    assert_eq!(
        child.kill(),
        Ok(()),
        "as std's: nothing left to kill is not an error"
    );
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(9)));
    assert_eq!(
        child.wait(),
        Ok(ExitStatus::Exited(9)),
        "the cached status again"
    );
}

#[test]
fn thread_current_follows_whose_thread_pointer_the_child_has() {
    // A fork-like child keeps its copy of the caller's thread pointer: in this std program
    // that is the libc's, so clonekit finds no TCB of its own there.
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let mut child = unsafe {
        ChildBuilder::new(CloneFlags::empty()).spawn_unchecked(|| {
            if clonekit::thread::current().is_none() {
                0
            } else {
                1
            }
        })
    }
    .unwrap();
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(0)));
    // A CLONE_VM child gets its own TCB, which knows the child's TID (VFORK: qemu-user
    // takes CLONE_VM only with it, as a plain fork, where the TCB is set all the same).
    // SAFETY: as above.
    let mut child = unsafe {
        ChildBuilder::new(CloneFlags::VM | CloneFlags::VFORK).spawn_unchecked(|| {
            match clonekit::thread::current() {
                Some(tid) if tid == gettid() && tid == getpid() => 0,
                Some(_) => 1,
                None => 2,
            }
        })
    }
    .unwrap();
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(0)));
}

#[test]
fn managed_flags_are_refused() {
    for flag in MANAGED_FLAGS.iter() {
        // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
        let result = unsafe { ChildBuilder::new(flag | CloneFlags::FILES).spawn_unchecked(|| 0) };
        assert_eq!(result.unwrap_err(), Error::ManagedFlags(flag), "{flag:?}");
        // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
        let result = unsafe { fork_with_unchecked(flag, ExitSignal::SIGCHLD, || 0) };
        assert_eq!(result.unwrap_err(), Error::ManagedFlags(flag), "{flag:?}");
    }
    assert_eq!(
        // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
        unsafe { ChildBuilder::new(CloneFlags::NPTL_THREAD).spawn_unchecked(|| 0) }.unwrap_err(),
        Error::ManagedFlags(
            CloneFlags::THREAD
                | CloneFlags::SETTLS
                | CloneFlags::PARENT_SETTID
                | CloneFlags::CHILD_CLEARTID
        )
    );
    // A fork-like child runs on a copy of our stack: with CLONE_VM it would be ours.
    assert_eq!(
        // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
        unsafe { fork_with_unchecked(CloneFlags::VM, ExitSignal::SIGCHLD, || 0) }.unwrap_err(),
        Error::StackRequired
    );
}

#[test]
fn flag_rules_are_refused_before_the_syscall() {
    assert_eq!(
        // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
        unsafe { ChildBuilder::new(CloneFlags::SIGHAND).spawn_unchecked(|| 0) }.unwrap_err(),
        Error::Flags(FlagError::SighandRequiresVm)
    );
    assert_eq!(
        // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
        unsafe { fork_with_unchecked(CloneFlags::SIGHAND, ExitSignal::SIGCHLD, || 0) }.unwrap_err(),
        Error::Flags(FlagError::SighandRequiresVm)
    );
    assert_eq!(
        // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
        unsafe { ChildBuilder::new(CloneFlags::NEWNS | CloneFlags::FS).spawn_unchecked(|| 0) }
            .unwrap_err(),
        Error::Flags(FlagError::NewnsWithFs)
    );
    // clone3 takes no exit signal with CLONE_PARENT.
    assert_eq!(
        // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
        unsafe {
            ChildBuilder::new(CloneFlags::PARENT)
                .clone3(true)
                .spawn_unchecked(|| 0)
        }
        .unwrap_err(),
        Error::Flags(FlagError::ExitSignalWithThreadOrParent)
    );
    assert_eq!(
        // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
        unsafe {
            ChildBuilder::new(CloneFlags::empty())
                .set_tid(&[1; 33])
                .spawn_unchecked(|| 0)
        }
        .unwrap_err(),
        Error::Flags(FlagError::SetTidTooLong(33))
    );
}

#[test]
fn clone3_is_used_when_asked_or_needed() {
    // CLONE_NEWTIME only fits clone3: the fork-like form uses it with no stack. Asked for
    // first because it cannot fall back to clone: where clone3 is refused, that is the
    // refusal, and the `.clone3(true)` fallback below (which clonekit remembers for the
    // rest of the process, changing what later `.clone3(true)` requests are checked
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    // against) never happens in the test process.
    let spawned = unsafe { fork_with_unchecked(CloneFlags::NEWTIME, ExitSignal::SIGCHLD, || 4) };
    let mut child = emulator_may_refuse!(spawned, Errno::ENOSYS, "qemu-user has no clone3");
    assert_eq!(child.via(), Syscall::Clone3);
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(4)));
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let mut child =
        unsafe { ChildBuilder::new(CloneFlags::NEWTIME).spawn_unchecked(|| 5) }.unwrap();
    assert_eq!(child.via(), Syscall::Clone3);
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(5)));
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let mut child = unsafe {
        ChildBuilder::new(CloneFlags::VM | CloneFlags::VFORK)
            .clone3(true)
            .spawn_unchecked(|| {
                if clonekit::thread::current() == Some(gettid()) {
                    3
                } else {
                    1
                }
            })
    }
    .unwrap();
    assert_eq!(child.via(), Syscall::Clone3);
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(3)));
}

/// A seccomp filter that makes `clone3` fail with `ENOSYS`, as old container profiles do.
/// Only for a single-threaded child process.
fn forbid_clone3() -> bool {
    #[repr(C)]
    struct SockFilter {
        code: u16,
        jt: u8,
        jf: u8,
        k: u32,
    }
    #[repr(C)]
    struct SockFprog {
        len: u16,
        filter: *const SockFilter,
    }
    const LD_W_ABS: u16 = 0x20; // BPF_LD (0) | BPF_W (0) | BPF_ABS
    const JEQ_K: u16 = 0x05 | 0x10; // BPF_JMP | BPF_JEQ | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
    const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
    const PR_SET_SECCOMP: u32 = 22;
    const SECCOMP_MODE_FILTER: usize = 2;
    let filter = [
        // seccomp_data.nr is at offset 0.
        SockFilter {
            code: LD_W_ABS,
            jt: 0,
            jf: 0,
            k: 0,
        },
        SockFilter {
            code: JEQ_K,
            jt: 0,
            jf: 1,
            k: linux_raw_sys::general::__NR_clone3,
        },
        SockFilter {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: SECCOMP_RET_ERRNO | Errno::ENOSYS.raw() as u32,
        },
        SockFilter {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: SECCOMP_RET_ALLOW,
        },
    ];
    let prog = SockFprog {
        len: filter.len() as u16,
        filter: filter.as_ptr(),
    };
    if clonekit::sys::process::set_no_new_privs().is_err() {
        return false;
    }
    // SAFETY: PR_SET_SECCOMP with SECCOMP_MODE_FILTER reads the sock_fprog at arg3 and
    // the filter it points to, both alive for the call.
    unsafe {
        clonekit::sys::process::prctl(
            PR_SET_SECCOMP,
            SECCOMP_MODE_FILTER,
            &prog as *const SockFprog as usize,
            0,
            0,
        )
    }
    .is_ok()
}

#[test]
fn clone3_enosys_falls_back_to_clone_and_says_so() {
    // Natively, a seccomp filter in a child process makes clone3 ENOSYS; under qemu-user
    // clone3 is ENOSYS anyway.
    let native = !common::qemu_user();
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let mut tester = unsafe {
        fork_unchecked(move || {
            if native && !forbid_clone3() {
                return 10;
            }
            // Fits legacy clone: falls back, and says so.
            let child = ChildBuilder::new(CloneFlags::empty())
                .clone3(true)
                .spawn_unchecked(|| 6);
            let Ok(mut child) = child else { return 11 };
            if child.via() != Syscall::Clone {
                return 12;
            }
            if child.wait() != Ok(ExitStatus::Exited(6)) {
                return 13;
            }
            // Needs clone3: the error is reported, nothing is created.
            let child = ChildBuilder::new(CloneFlags::empty())
                .set_tid(&[getpid() + 100])
                .spawn_unchecked(|| 0);
            if !matches!(child, Err(Error::Os(Errno::ENOSYS))) {
                return 14;
            }
            let child = fork_with_unchecked(CloneFlags::CLEAR_SIGHAND, ExitSignal::SIGCHLD, || 0);
            if !matches!(child, Err(Error::Os(Errno::ENOSYS))) {
                return 15;
            }
            0
        })
    }
    .unwrap();
    assert_eq!(tester.wait(), Ok(ExitStatus::Exited(0)));
}

#[test]
fn wait_any_and_reap_all_nonblocking_reap_every_child() {
    // In a child process of our own, so as not to reap other tests' children.
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let mut init = unsafe {
        fork_unchecked(|| {
            let first = match fork_unchecked(|| 7) {
                Ok(child) => child.pid(),
                Err(_) => return 10,
            };
            if wait_any(WaitOptions::empty()) != Ok(Some((first, ExitStatus::Exited(7)))) {
                return 11;
            }
            let (r, w) = match pipe2(PipeFlags::CLOEXEC) {
                Ok(p) => p,
                Err(_) => return 12,
            };
            let (rfd, wfd) = (r.as_raw(), w.as_raw());
            // (Inside the outer unchecked child: the same contract covers its children, and
            // this one has its own copy of the descriptor table, as `child_wait_eof` needs.)
            let Ok(blocked) = fork_unchecked(move || {
                common::child_wait_eof(rfd, wfd);
                0
            }) else {
                return 13;
            };
            if wait_any(WaitOptions::NOHANG) != Ok(None) {
                return 14;
            }
            let mut pids = [0; 3];
            for (i, pid) in pids.iter_mut().enumerate() {
                match fork_unchecked(move || i as i32) {
                    Ok(child) => *pid = child.pid(),
                    Err(_) => return 15,
                }
            }
            drop(w);
            wait_zombie(blocked.pid());
            for pid in pids {
                wait_zombie(pid);
            }
            if reap_all_nonblocking() != 4 {
                return 16;
            }
            if wait_any(WaitOptions::NOHANG) != Err(Errno::ECHILD) {
                return 17;
            }
            if reap_all_nonblocking() != 0 {
                return 18;
            }
            0
        })
    }
    .unwrap();
    assert_eq!(init.wait(), Ok(ExitStatus::Exited(0)));
}

#[test]
fn other_exit_signals_are_waited_for_too() {
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let spawned = unsafe {
        ChildBuilder::new(CloneFlags::empty())
            .exit_signal(ExitSignal::NONE)
            .spawn_unchecked(|| 12)
    };
    let mut child = emulator_may_refuse!(
        spawned,
        Errno::EINVAL,
        "qemu-user refuses a child without exit signal"
    );
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(12)));
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let spawned = unsafe {
        fork_with_unchecked(
            CloneFlags::empty(),
            ExitSignal::new(Signal::SIGURG.raw() as u32).unwrap(),
            || 13,
        )
    };
    let mut child = emulator_may_refuse!(
        spawned,
        Errno::EINVAL,
        "qemu-user refuses exit signals other than SIGCHLD"
    );
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(13)));
}

/// A child that runs until it is killed (clonekit only).
fn sleeper() -> i32 {
    loop {
        let _ = clonekit::sys::time::nanosleep(&clonekit::sys::time::Timespec::new(1, 0));
    }
}

#[test]
fn kill_is_sigkill_signal_sends_others_and_a_second_wait_is_the_first() {
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let mut child = unsafe { fork_unchecked(sleeper) }.unwrap();
    assert_eq!(child.signal(Signal::SIGTERM), Ok(()));
    let status = child.wait();
    assert_eq!(status, Ok(ExitStatus::Signaled(Signal::SIGTERM)));
    // As std's: the status the first wait reaped, again; kill() of a reaped child is Ok.
    assert_eq!(child.wait(), status);
    assert_eq!(child.try_wait(), status.map(Some));
    assert_eq!(child.kill(), Ok(()));
    assert_eq!(child.signal(Signal::SIGTERM), Err(Errno::ESRCH));
    // kill() through the pidfd, where the child has one.
    // SAFETY: as above.
    let spawned = unsafe {
        ChildBuilder::new(CloneFlags::empty())
            .pidfd(true)
            .stack(Stack::new(64 * 1024).unwrap())
            .spawn_unchecked(sleeper)
    };
    let mut child = emulator_may_refuse!(spawned, Errno::EINVAL, "qemu-user refuses CLONE_PIDFD");
    assert!(child.pidfd().is_some());
    assert_eq!(child.kill(), Ok(()));
    assert_eq!(child.wait(), Ok(ExitStatus::Signaled(Signal::SIGKILL)));
    assert_eq!(child.wait(), Ok(ExitStatus::Signaled(Signal::SIGKILL)));
}
