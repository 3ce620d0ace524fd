//! Process children: a thread-like process (CLONE_VM, TLPI 28.2.1's Example 1), fork-like children, exit statuses, shared file
//! tables, CLONE_PARENT, clone3 requests, the ENOSYS fallback and the API's refusals.
//!
//! Child closures only use clonekit (atomics, `clonekit::sys`, `clonekit::println!`): the
//! test harness is a multithreaded libc program.

mod common;

use std::sync::atomic::{AtomicI32, Ordering};

use clonekit::fd::{BorrowedFd, OwnedFd, RawFd};
use clonekit::process::{
    ChildBuilder, ExitStatus, MANAGED_FLAGS, Syscall, fork_unchecked, fork_with_unchecked,
    reap_all_nonblocking, wait_any, wait_pid,
};
use clonekit::sys::fs::{
    self, CWD, OFlags, PipeFlags, close, fcntl_getfd, openat, pipe2, read, write,
};
use clonekit::sys::process::{getpid, getppid, gettid, sched_yield};
use clonekit::sys::signal::{Signal, kill};
use clonekit::sys::wait::{WaitId, WaitOptions, waitid};
use clonekit::{CloneFlags, Errno, Error, ExitSignal, FlagError, Stack};

/// Reads one native-endian i32 from `fd` (in the test process).
fn read_i32(fd: BorrowedFd<'_>) -> i32 {
    let mut buf = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match read(fd, &mut buf[got..]) {
            Ok(0) => panic!("pipe closed after {got} bytes"),
            Ok(n) => got += n,
            Err(Errno::EINTR) => continue,
            Err(e) => panic!("read: {e}"),
        }
    }
    i32::from_ne_bytes(buf)
}

/// Writes one i32 to `fd` (usable in a child: raw syscalls only).
fn write_i32(fd: BorrowedFd<'_>, value: i32) -> bool {
    write(fd, &value.to_ne_bytes()) == Ok(4)
}

/// Spins until child `pid` is a zombie, without reaping it (usable in a child).
fn wait_zombie(pid: i32) {
    let options =
        WaitOptions::EXITED | WaitOptions::NOHANG | WaitOptions::NOWAIT | WaitOptions::ALL;
    while let Ok(None) = waitid(WaitId::Pid(pid), options) {
        sched_yield();
    }
}

#[test]
fn seed_example_1_vm_child_adds_100_to_the_shared_counter() {
    static SHARED_COUNTER: AtomicI32 = AtomicI32::new(0);
    SHARED_COUNTER.store(5, Ordering::SeqCst);
    let flags = CloneFlags::VM | CloneFlags::FILES | CloneFlags::SIGHAND;
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let spawned = unsafe {
        ChildBuilder::new(flags).spawn_unchecked(|| {
            let before = SHARED_COUNTER.fetch_add(100, Ordering::SeqCst);
            clonekit::println!(
                "[Child]  shared_counter before = {before}, after = {}",
                before + 100
            );
            0
        })
    };
    let child = emulator_may_refuse!(
        spawned,
        Errno::EINVAL,
        "qemu-user refuses CLONE_VM without the full thread flag set"
    );
    assert_eq!(child.via(), Syscall::Clone);
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(0)));
    assert_eq!(SHARED_COUNTER.load(Ordering::SeqCst), 105);
}

#[test]
fn seed_example_1_without_clone_vm_the_parent_still_sees_5() {
    static COUNTER: AtomicI32 = AtomicI32::new(0);
    COUNTER.store(5, Ordering::SeqCst);
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let child = unsafe {
        ChildBuilder::new(CloneFlags::empty()).spawn_unchecked(|| {
            COUNTER.fetch_add(100, Ordering::SeqCst);
            // The child's own copy now holds 105: make that its exit status.
            COUNTER.load(Ordering::SeqCst)
        })
    }
    .unwrap();
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(105)));
    assert_eq!(COUNTER.load(Ordering::SeqCst), 5);
}

#[test]
fn fork_child_return_value_is_its_exit_status() {
    let parent = getpid();
    let base = 40; // borrowed from the parent's (copied) stack
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let child = unsafe {
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
fn a_child_killed_by_a_signal_is_signaled() {
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let child = unsafe {
        ChildBuilder::new(CloneFlags::empty()).spawn_unchecked(|| {
            loop {
                sched_yield();
            }
        })
    }
    .unwrap();
    child.kill(Signal::SIGKILL).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status, ExitStatus::Signaled(Signal::SIGKILL));
    assert_eq!(status.signal(), Some(Signal::SIGKILL));
    assert_eq!(status.code(), None);

    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let child = unsafe {
        fork_unchecked(|| {
            let _ = kill(getpid(), Signal::SIGTERM);
            0
        })
    }
    .unwrap();
    assert_eq!(child.wait(), Ok(ExitStatus::Signaled(Signal::SIGTERM)));
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
    assert_eq!(child.kill(Signal::SIGKILL), Err(Errno::ESRCH));
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(9)));
}

#[test]
fn thread_current_follows_whose_thread_pointer_the_child_has() {
    // A fork-like child keeps its copy of the caller's thread pointer: in this std program
    // that is the libc's, so clonekit finds no TCB of its own there.
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let child = unsafe {
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
    let child = unsafe {
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

/// A descriptor at a high number, so that no other test's new descriptors take the number
/// while this test watches it.
fn high_fd(min: RawFd) -> OwnedFd {
    let (r, _w) = pipe2(PipeFlags::CLOEXEC).unwrap();
    fs::fcntl_dupfd_cloexec(r.as_fd(), min).unwrap()
}

#[test]
fn clone_files_a_descriptor_closed_by_the_child_is_closed_for_the_parent() {
    let fd = high_fd(700);
    assert!(fcntl_getfd(fd.as_fd()).is_ok());
    // Handed to the child, which closes it in the shared table: nobody owns it here now.
    let fd = fd.into_raw();
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here
    // does; with CLONE_FILES it closes only `fd`, whose ownership this test gave it (see
    // above): no descriptor the parent owns is closed or replaced.
    let spawned = unsafe {
        ChildBuilder::new(CloneFlags::FILES).spawn_unchecked(move || {
            if close(OwnedFd::from_raw(fd)).is_ok() {
                0
            } else {
                1
            }
        })
    };
    if spawned.is_err() {
        // SAFETY: no child was created: the number is still this test's alone.
        close(unsafe { OwnedFd::from_raw(fd) }).unwrap();
    }
    let child = emulator_may_refuse!(
        spawned,
        Errno::EINVAL,
        "qemu-user refuses CLONE_FILES without the full thread flag set"
    );
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(0)));
    assert_eq!(
        clonekit::sys::fs::fd_is_open(fd),
        Ok(false),
        "the parent's {fd} is closed: EBADF"
    );
}

#[test]
fn without_clone_files_the_parents_descriptor_stays_open() {
    let fd = high_fd(800);
    let number = fd.as_raw();
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here
    // does; it has its own copy of the descriptor table (no CLONE_FILES), made while `fd`
    // was open, and never drops its copy of `fd`: it alone owns the copy it closes.
    let child = unsafe {
        ChildBuilder::new(CloneFlags::empty()).spawn_unchecked(move || {
            if close(OwnedFd::from_raw(number)).is_ok() {
                0
            } else {
                1
            }
        })
    }
    .unwrap();
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(0)));
    assert!(fcntl_getfd(fd.as_fd()).is_ok());
    close(fd).unwrap();
    assert_eq!(clonekit::sys::fs::fd_is_open(number), Ok(false));
}

#[test]
fn clone_parent_makes_the_grandchild_a_child_of_the_test_process() {
    let me = getpid();
    let (pid_r, pid_w) = pipe2(PipeFlags::CLOEXEC).unwrap();
    let (ppid_r, ppid_w) = pipe2(PipeFlags::CLOEXEC).unwrap();
    let (pid_wfd, ppid_wfd) = (pid_w.as_raw(), ppid_w.as_raw());
    // The intermediate child creates the grandchild with CLONE_PARENT: the grandchild's
    // parent is the intermediate's parent, this test process.
    // SAFETY: the children keep to clonekit and core (no libc, no std), as every child here
    // does; each has its own copy of the descriptor table (no CLONE_FILES), made while both
    // write ends were open, and nothing there closes them: they may borrow the numbers.
    let intermediate = unsafe {
        fork_unchecked(move || {
            let pid_w = BorrowedFd::borrow_raw(pid_wfd);
            let grandchild = ChildBuilder::new(CloneFlags::PARENT).spawn_unchecked(move || {
                if write_i32(BorrowedFd::borrow_raw(ppid_wfd), getppid()) {
                    42
                } else {
                    1
                }
            });
            let grandchild = match grandchild {
                Ok(grandchild) => grandchild,
                // The kernel's (or the emulator's) refusal, sent as -errno.
                Err(Error::Os(errno)) => {
                    return if write_i32(pid_w, -errno.raw()) { 5 } else { 6 };
                }
                Err(_) => return 2,
            };
            let gpid = grandchild.pid();
            if !write_i32(pid_w, gpid) {
                return 3;
            }
            // Not the intermediate's child: it cannot wait for it.
            match grandchild.wait() {
                Err(Errno::ECHILD) => 0,
                _ => 4,
            }
        })
    }
    .unwrap();
    // Only the children hold the write ends now: a child that fails closes the pipe.
    drop((pid_w, ppid_w));
    let gpid = read_i32(pid_r.as_fd());
    if gpid < 0 {
        assert_eq!(intermediate.wait(), Ok(ExitStatus::Exited(5)));
        let refused = Errno::from_raw(-gpid);
        skip_if_emulator_refused!(&refused, Errno::EINVAL, "qemu-user refuses CLONE_PARENT");
        panic!("spawn with CLONE_PARENT: {refused}");
    }
    assert_eq!(read_i32(ppid_r.as_fd()), me, "the grandchild's getppid()");
    assert_eq!(intermediate.wait(), Ok(ExitStatus::Exited(0)));
    assert_eq!(wait_pid(gpid), Ok(ExitStatus::Exited(42)));
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
fn a_stack_too_small_for_the_closure_is_refused() {
    let big = [7u8; 24 * 1024];
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let result = unsafe {
        ChildBuilder::new(CloneFlags::empty())
            .stack(Stack::new(Stack::MIN_SIZE).unwrap())
            .spawn_unchecked(move || i32::from(big[0]))
    };
    assert!(matches!(result, Err(Error::Stack(_))), "{result:?}");
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
    let child = emulator_may_refuse!(spawned, Errno::ENOSYS, "qemu-user has no clone3");
    assert_eq!(child.via(), Syscall::Clone3);
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(4)));
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let child = unsafe { ChildBuilder::new(CloneFlags::NEWTIME).spawn_unchecked(|| 5) }.unwrap();
    assert_eq!(child.via(), Syscall::Clone3);
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(5)));
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let child = unsafe {
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

/// A PID that is free in our namespace now.
fn free_pid() -> i32 {
    let last: i32 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let max: i32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut pid = last + 5000;
    loop {
        if pid >= max {
            pid = 301;
        }
        if kill(pid, Signal::SIGCHLD) == Err(Errno::ESRCH)
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            return pid;
        }
        pid += 7;
    }
}

#[test]
fn clone3_set_tid_in_a_new_pid_namespace() {
    // The child is PID 1 in its new namespace and `outer` in ours.
    let mut attempts = 0;
    loop {
        let outer = free_pid();
        // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
        let result = unsafe {
            ChildBuilder::new(CloneFlags::NEWPID)
                .set_tid(&[1, outer])
                .spawn_unchecked(|| {
                    // Fork-like: the std program's thread pointer, no clonekit TCB.
                    if getpid() == 1 && gettid() == 1 && clonekit::thread::current().is_none() {
                        0
                    } else {
                        1
                    }
                })
        };
        if matches!(result, Err(Error::Os(Errno::EEXIST))) && attempts < 5 {
            attempts += 1;
            continue;
        }
        // set_tid needs clone3: no fallback.
        let child = emulator_may_refuse!(result, Errno::ENOSYS, "qemu-user has no clone3");
        assert_eq!(child.via(), Syscall::Clone3);
        assert_eq!(child.pid(), outer);
        assert_eq!(child.wait(), Ok(ExitStatus::Exited(0)));
        return;
    }
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
    let tester = unsafe {
        fork_unchecked(move || {
            if native && !forbid_clone3() {
                return 10;
            }
            // Fits legacy clone: falls back, and says so.
            let child = ChildBuilder::new(CloneFlags::empty())
                .clone3(true)
                .spawn_unchecked(|| 6);
            let Ok(child) = child else { return 11 };
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
    let init = unsafe {
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
    let child = emulator_may_refuse!(
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
    let child = emulator_may_refuse!(
        spawned,
        Errno::EINVAL,
        "qemu-user refuses exit signals other than SIGCHLD"
    );
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(13)));
}

#[test]
fn clone3_into_cgroup_starts_the_child_in_that_cgroup() {
    use std::os::unix::ffi::OsStrExt;
    let root = std::path::Path::new("/sys/fs/cgroup/unified");
    let root = if root.join("cgroup.procs").exists() {
        root
    } else {
        std::path::Path::new("/sys/fs/cgroup")
    };
    let name = format!("clonekit-test-{}", std::process::id());
    let dir = root.join(&name);
    std::fs::create_dir(&dir).unwrap();
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let cgroup = openat(CWD, &path, flags, 0).unwrap();
    let (r, w) = pipe2(PipeFlags::CLOEXEC).unwrap();
    let (rfd, wfd) = (r.as_raw(), w.as_raw());
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does;
    // it has its own copy of the descriptor table (no CLONE_FILES), as `child_wait_eof` needs.
    let spawned = unsafe {
        ChildBuilder::new(CloneFlags::empty())
            .cgroup(cgroup.as_fd())
            .spawn_unchecked(move || {
                common::child_wait_eof(rfd, wfd);
                0
            })
    };
    if spawned.is_err() {
        std::fs::remove_dir(&dir).unwrap();
    }
    // CLONE_INTO_CGROUP needs clone3: no fallback.
    let child = emulator_may_refuse!(spawned, Errno::ENOSYS, "qemu-user has no clone3");
    assert_eq!(child.via(), Syscall::Clone3);
    let membership = std::fs::read_to_string(format!("/proc/{}/cgroup", child.pid())).unwrap();
    drop(w);
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(0)));
    std::fs::remove_dir(&dir).unwrap();
    assert!(
        membership.lines().any(|l| l == format!("0::/{name}")),
        "{membership}"
    );

    // Not a cgroup directory: the kernel's EBADF, nothing created.
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let result = unsafe {
        ChildBuilder::new(CloneFlags::empty())
            .cgroup(r.as_fd())
            .spawn_unchecked(|| 0)
    };
    assert_eq!(result.unwrap_err(), Error::Os(Errno::EBADF));
}
