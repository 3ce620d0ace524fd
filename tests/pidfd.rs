//! Pidfds: from `pidfd_open` and from `CLONE_PIDFD` (legacy clone and clone3); signalling,
//! waiting, and poll readiness only once the process has exited.

mod common;

use std::time::Duration;

use clonekit::pidfd::PidFd;
use clonekit::process::{ChildBuilder, ExitStatus, Syscall, fork_unchecked};
use clonekit::sys::fs::{PipeFlags, pipe2};
use clonekit::sys::process::sched_yield;
use clonekit::sys::signal::Signal;
use clonekit::sys::wait::{WaitOptions, wait4};
use clonekit::{CloneFlags, Errno, ExitSignal};

#[test]
fn pidfd_open_signal_and_wait() {
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let child = unsafe {
        fork_unchecked(|| {
            loop {
                sched_yield();
            }
        })
    }
    .unwrap();
    let pidfd = match PidFd::open(child.pid()) {
        Ok(pidfd) => pidfd,
        Err(Errno::ENOSYS) => {
            child.kill(Signal::SIGKILL).unwrap();
            child.wait().unwrap();
            skip!("pidfd_open is ENOSYS here");
        }
        Err(e) => panic!("pidfd_open: {e}"),
    };
    assert!(pidfd.as_raw() >= 0);
    pidfd.send_signal(Signal::SIGKILL).unwrap();
    assert_eq!(pidfd.wait(), Ok(ExitStatus::Signaled(Signal::SIGKILL)));
    // Reaped through the pidfd: nothing left to wait for, nothing to signal.
    assert_eq!(pidfd.wait(), Err(Errno::ECHILD));
    assert_eq!(pidfd.send_signal(Signal::SIGKILL), Err(Errno::ESRCH));
    assert_eq!(child.wait(), Err(Errno::ECHILD));
    assert_eq!(PidFd::open(-5).unwrap_err(), Errno::EINVAL);
}

#[test]
fn clone_pidfd_signal_and_wait() {
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does.
    let spawned = unsafe {
        ChildBuilder::new(CloneFlags::empty())
            .pidfd(true)
            .spawn_unchecked(|| {
                loop {
                    sched_yield();
                }
            })
    };
    let child = emulator_may_refuse!(spawned, Errno::EINVAL, "qemu-user refuses CLONE_PIDFD");
    assert_eq!(child.via(), Syscall::Clone);
    let pidfd = child.pidfd().expect("a pidfd");
    // The kernel stored a real descriptor: its fdinfo names the child.
    let fdinfo = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw())).unwrap();
    assert!(
        fdinfo
            .lines()
            .any(|l| l == format!("Pid:\t{}", child.pid())),
        "{fdinfo}"
    );
    assert_eq!(pidfd.is_exited(), Ok(false));
    pidfd.send_signal(Signal::SIGKILL).unwrap();
    assert_eq!(pidfd.wait(), Ok(ExitStatus::Signaled(Signal::SIGKILL)));
    assert_eq!(child.wait(), Err(Errno::ECHILD));
}

#[test]
fn pidfd_polls_ready_only_after_exit() {
    let (r, w) = pipe2(PipeFlags::CLOEXEC).unwrap();
    let (rfd, wfd) = (r.as_raw(), w.as_raw());
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does;
    // it has its own copy of the descriptor table (no CLONE_FILES), as `child_wait_eof` needs.
    let child = unsafe {
        fork_unchecked(move || {
            common::child_wait_eof(rfd, wfd);
            5
        })
    }
    .unwrap();
    let pidfd = match PidFd::open(child.pid()) {
        Ok(pidfd) => pidfd,
        Err(Errno::ENOSYS) => {
            drop(w);
            child.wait().unwrap();
            skip!("pidfd_open is ENOSYS here");
        }
        Err(e) => panic!("pidfd_open: {e}"),
    };
    assert_eq!(pidfd.is_exited(), Ok(false));
    assert_eq!(
        pidfd.poll_exited(Some(Duration::from_millis(50))),
        Ok(false)
    );
    assert_eq!(pidfd.try_wait(), Ok(None));
    drop(w);
    assert_eq!(pidfd.poll_exited(None), Ok(true));
    // Exited but not reaped: still ready, and still waitable.
    assert_eq!(pidfd.is_exited(), Ok(true));
    assert_eq!(pidfd.wait(), Ok(ExitStatus::Exited(5)));
    assert_eq!(pidfd.is_exited(), Ok(true));
    drop(child);
}

#[test]
fn clone3_builder_with_pidfd_and_exit_signal() {
    let (r, w) = pipe2(PipeFlags::CLOEXEC).unwrap();
    let (rfd, wfd) = (r.as_raw(), w.as_raw());
    // SIGURG's default action is to ignore it, so the test process does not mind it.
    let signal = ExitSignal::new(Signal::SIGURG.raw() as u32).unwrap();
    // SAFETY: the child keeps to clonekit and core (no libc, no std), as every child here does;
    // it has its own copy of the descriptor table (no CLONE_FILES), as `child_wait_eof` needs.
    let spawned = unsafe {
        ChildBuilder::new(CloneFlags::empty())
            .clone3(true)
            .pidfd(true)
            .exit_signal(signal)
            .spawn_unchecked(move || {
                common::child_wait_eof(rfd, wfd);
                3
            })
    };
    // Where clone3 is ENOSYS, clonekit falls back to clone, which an emulator may refuse.
    let child = emulator_may_refuse!(
        spawned,
        Errno::EINVAL,
        "qemu-user has no clone3, and its clone refuses CLONE_PIDFD or exit signals but SIGCHLD"
    );
    if let Err(errno) = common::clone3_used(child.via()) {
        child.kill(Signal::SIGKILL).unwrap();
        child.wait().unwrap();
        skip_if_emulator_refused!(
            &errno,
            Errno::ENOSYS,
            "qemu-user has no clone3 (clonekit fell back to clone)"
        );
        panic!("clone3 refused ({errno}): clonekit fell back to clone");
    }
    let pid = child.pid();
    // A child whose exit signal is not SIGCHLD is a "clone" child: invisible to a plain
    // wait4, visible with __WCLONE.
    assert_eq!(wait4(pid, WaitOptions::NOHANG), Err(Errno::ECHILD));
    assert_eq!(
        wait4(pid, WaitOptions::NOHANG | WaitOptions::CLONE),
        Ok(None)
    );
    let pidfd = child.pidfd().expect("a pidfd");
    assert_eq!(pidfd.is_exited(), Ok(false));
    drop(w);
    assert_eq!(pidfd.poll_exited(None), Ok(true));
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(3)));
}
