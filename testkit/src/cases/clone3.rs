//! `clone3()`: what only `struct clone_args` can ask for: a pidfd in its own slot, any exit
//! signal, `set_tid` in a new PID namespace, `CLONE_CLEAR_SIGHAND`, `CLONE_INTO_CGROUP`,
//! and the rules that depend on the running kernel.

use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::Ordering::SeqCst;
use core::time::Duration;

use clonekit::fd::OwnedFd;
use clonekit::pidfd::PidFd;
use clonekit::process::{self, ChildBuilder, ExitStatus};
use clonekit::procfs::PathBuf;
use clonekit::sys::fs::{self, CWD, OFlags};
use clonekit::sys::process::getpid;
use clonekit::sys::signal::{self, SigHandler, Signal, rt_sigaction};
use clonekit::sys::wait::{WaitOptions, wait4};
use clonekit::validate::Syscall;
use clonekit::{CloneArgs, CloneFlags as F, ExitSignal, FlagError, KernelVersion, mount, raw};

use super::namespaces_in_depth::cgroup2_mount;
use super::sharing::{install_usr1_handler, take_usr1_hits};
use super::validator_vs_kernel::{expect, refusal};
use crate::case::{Case, Ctx, Fail, Outcome, case, check, child_ok, code, diag, eq, is_true};
use crate::observe::fs::unlinkat;
use crate::observe::signal::{kill_probe, signal_ignore};
use crate::shared::{reset_slots, slot};
use crate::util::{read_file, sleep_ms};

pub const CASES: &[Case] = &[
    case!(clone3_pidfd_signals_polls_and_reaps_child),
    case!(clone3_exit_signal_sigusr1_delivered_to_parent),
    case!(clone3_set_tid_chooses_pids_in_new_pid_ns),
    case!(clear_sighand_handled_signal_is_default_in_child),
    case!(clear_sighand_absent_child_keeps_handler),
    case!(into_cgroup_child_starts_in_that_cgroup),
    case!(pidfd_with_thread_rule_follows_running_kernel),
    case!(clone3_detached_refused_einval),
    case!(clear_sighand_with_sighand_refused_einval),
];

/// # Safety
/// A fork-like child: runs on its own copy of memory.
unsafe extern "C" fn sleep_forever(_: *mut c_void) -> i32 {
    loop {
        sleep_ms(1000);
    }
}

/// `clone3()` with `CLONE_PIDFD`: the pidfd signals the child, polls readable only once it
/// is dead (and still after it is reaped), and reaps it (`waitid(P_PIDFD)`, which finds
/// nothing with `WNOHANG` while the child runs).
fn clone3_pidfd_signals_polls_and_reaps_child() -> Outcome {
    let mut pidfd: i32 = -1;
    let mut args = CloneArgs::new(F::PIDFD, ExitSignal::SIGCHLD);
    args.pidfd = &mut pidfd as *mut i32 as u64;
    // SAFETY: fork-like (no stack, no VM): the child sleeps on its copy of our stack; the
    // kernel writes the pidfd into our local before returning.
    let pid =
        unsafe { raw::clone3(&mut args, sleep_forever, ptr::null_mut()) }.ctx("clone3(PIDFD)")?;
    // SAFETY: a new descriptor the kernel just gave us, owned by nobody else.
    let pidfd = PidFd::from_owned(unsafe { OwnedFd::from_raw(pidfd) });
    let alive = pidfd.is_exited();
    let running = pidfd.try_wait();
    pidfd
        .send_signal(Signal::SIGKILL)
        .ctx("pidfd_send_signal")?;
    let polled = pidfd.poll_exited(Some(Duration::from_secs(10)));
    let status = pidfd.wait();
    eq("poll before the signal: exited?", Ok(false), alive)?;
    eq(
        "waitid(P_PIDFD, WNOHANG) before the signal",
        Ok(None),
        running,
    )?;
    eq("poll after SIGKILL: exited?", Ok(true), polled)?;
    eq(
        "waitid(P_PIDFD)",
        Ok(ExitStatus::Signaled(Signal::SIGKILL)),
        status,
    )?;
    eq("poll after reaping: exited?", Ok(true), pidfd.is_exited())?;
    diag!("child {pid} via pidfd {}", pidfd.as_raw());
    Ok(())
}

/// # Safety
/// A fork-like child: runs on its own copy of memory, with the shared page.
unsafe extern "C" fn exit_when_told(_: *mut c_void) -> i32 {
    // Slot 0 is set by the parent; 10 s at most (then 1: the step that failed).
    i32::from(crate::shared::wait_nonzero(0) == 0)
}

/// An exit signal other than `SIGCHLD` makes a "clone" child: the parent gets that signal
/// when it exits, and only `__WCLONE` (or `__WALL`) waits see it, a plain `wait4` does not.
fn clone3_exit_signal_sigusr1_delivered_to_parent() -> Outcome {
    check(
        install_usr1_handler(),
        format_args!("installing a SIGUSR1 handler"),
    )?;
    take_usr1_hits();
    reset_slots(1);
    let sig = ExitSignal::new(Signal::SIGUSR1.raw() as u32).ctx("exit signal")?;
    let mut args = CloneArgs::new(F::empty(), sig);
    // SAFETY: fork-like; the child waits for slot 0 of the shared page, then exits.
    let spawned = unsafe { raw::clone3(&mut args, exit_when_told, ptr::null_mut()) };
    let waits = spawned.map(|pid| {
        let plain = wait4(pid, WaitOptions::NOHANG).map(|found| found.is_some());
        let wclone =
            wait4(pid, WaitOptions::NOHANG | WaitOptions::CLONE).map(|found| found.is_some());
        slot(0).store(1, SeqCst);
        (plain, wclone, process::wait_pid(pid))
    });
    let hits = take_usr1_hits();
    let _ = signal::signal_default(Signal::SIGUSR1);
    let (plain, wclone, status) = waits.ctx("clone3(exit_signal = SIGUSR1)")?;
    eq(
        "child (reaped with __WALL)",
        Ok(ExitStatus::Exited(0)),
        status,
    )?;
    eq(
        "wait4(pid, WNOHANG) without __WCLONE, child running",
        Err(clonekit::Errno::ECHILD),
        plain,
    )?;
    eq(
        "wait4(pid, WNOHANG | __WCLONE), child running: changed?",
        Ok(false),
        wclone,
    )?;
    eq("SIGUSR1 received by the parent", 1, hits)
}

/// A PID free in this namespace, from `from` up (4000 at the least).
fn free_pid(from: i32) -> i32 {
    (from.max(4000)..32000)
        .find(|&p| kill_probe(p) == Err(clonekit::Errno::ESRCH))
        .unwrap_or(4000)
}

/// `set_tid = [1, N]` with `CLONE_NEWPID`: the child is PID (and TID) 1 in its new namespace
/// and N in ours.
fn clone3_set_tid_chooses_pids_in_new_pid_ns() -> Outcome {
    /// # Safety
    /// A fork-like child.
    unsafe extern "C" fn record_pid(_: *mut c_void) -> i32 {
        slot(0).store(i64::from(getpid()), SeqCst);
        slot(1).store(i64::from(clonekit::sys::process::gettid()), SeqCst);
        0
    }
    reset_slots(2);
    let mut want = free_pid(4000);
    let mut attempts = 0;
    let pid = loop {
        let set_tid: [i32; 2] = [1, want];
        let mut args = CloneArgs::new(F::NEWPID, ExitSignal::SIGCHLD);
        args.set_tid = set_tid.as_ptr() as u64;
        args.set_tid_size = 2;
        // SAFETY: fork-like; the kernel reads set_tid (a local) before returning.
        match unsafe { raw::clone3(&mut args, record_pid, ptr::null_mut()) } {
            // Taken between the probe and the clone (natively other processes start too).
            Err(clonekit::Error::Os(clonekit::Errno::EEXIST)) if attempts < 5 => {
                attempts += 1;
                want = free_pid(want + 1);
            }
            spawned => break spawned.ctx("clone3(NEWPID, set_tid = [1, N])")?,
        }
    };
    eq("child", Ok(ExitStatus::Exited(0)), process::wait_pid(pid))?;
    eq("PID in the parent's namespace (set_tid[1])", want, pid)?;
    eq(
        "PID in the new namespace (set_tid[0])",
        1,
        slot(0).load(SeqCst),
    )?;
    eq("TID in the new namespace", 1, slot(1).load(SeqCst))
}

fn clear_sighand_case(flags: F, want: &'static str) -> Outcome {
    check(
        install_usr1_handler(),
        format_args!("installing a SIGUSR1 handler"),
    )?;
    let _ = signal_ignore(Signal::SIGUSR2);
    let child = process::fork_with(flags, ExitSignal::SIGCHLD, move || {
        // SAFETY: reading dispositions installs nothing.
        let (usr1, usr2) = unsafe {
            (
                rt_sigaction(Signal::SIGUSR1, None),
                rt_sigaction(Signal::SIGUSR2, None),
            )
        };
        let usr1 = match usr1.map(|a| a.handler) {
            Ok(SigHandler::Default) => "default",
            Ok(SigHandler::Handler(_)) => "handler",
            _ => "other",
        };
        let ignored = usr2.is_ok_and(|a| a.handler == SigHandler::Ignore);
        code((|| {
            eq("[Child] SIGUSR1 disposition", want, usr1)?;
            check(
                ignored,
                format_args!("[Child] SIGUSR2 is no longer ignored"),
            )
        })())
    });
    let _ = signal::signal_default(Signal::SIGUSR1);
    let _ = signal::signal_default(Signal::SIGUSR2);
    child_ok("child", child.ctx("clone3")?.wait())
}

/// `CLONE_CLEAR_SIGHAND`: a handled signal is reset to the default in the child; an
/// ignored one stays ignored.
fn clear_sighand_handled_signal_is_default_in_child() -> Outcome {
    clear_sighand_case(F::CLEAR_SIGHAND, "default")
}

fn clear_sighand_absent_child_keeps_handler() -> Outcome {
    clear_sighand_case(F::empty(), "handler")
}

/// The cgroup2 line (`0::/path`) of a `/proc/PID/cgroup` text (the only line on a pure
/// cgroup2 system).
fn v2_line(text: &[u8]) -> &[u8] {
    text.split(|&b| b == b'\n')
        .find(|line| line.starts_with(b"0::"))
        .unwrap_or(b"")
}

/// `CLONE_INTO_CGROUP` (`clone3` only): the child starts in the cgroup the descriptor names
/// (a new one under the cgroup2 root, wherever cgroup2 is mounted), the parent stays where it
/// was; a descriptor that names no cgroup is the kernel's `EBADF`, and no child is made.
fn into_cgroup_child_starts_in_that_cgroup() -> Outcome {
    let mut mnt = [0u8; 64];
    let Some(len) = cgroup2_mount(&mut mnt) else {
        return if getpid() == 1 {
            diag!("no cgroup2 in /proc/self/mounts");
            Err(Fail::Failed)
        } else {
            Err(Fail::Skip("no cgroup2 mounted"))
        };
    };
    let mnt =
        core::str::from_utf8(&mnt[..len]).map_err(|_| Fail::Skip("cgroup2 path not UTF-8"))?;
    let dir =
        PathBuf::format(format_args!("{mnt}/clonekit-into-{}", getpid())).ctx("name a cgroup")?;
    let line = PathBuf::format(format_args!("0::/clonekit-into-{}", getpid())).ctx("name")?;
    let mut buf = [0u8; 256];
    let own = read_file(c"/proc/self/cgroup", &mut buf).ctx("read /proc/self/cgroup")?;
    let mut before = [0u8; 256];
    let before_len = v2_line(own).len();
    before[..before_len].copy_from_slice(v2_line(own));
    mount::ensure_dir(dir.as_c_str()).ctx("mkdir the cgroup")?;
    let outcome = (|| {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let cgroup = fs::openat(CWD, dir.as_c_str(), flags, 0).ctx("open the cgroup")?;
        let mut child = ChildBuilder::new(F::empty())
            .cgroup(cgroup.as_fd())
            .spawn(move || {
                code((|| {
                    let mut buf = [0u8; 256];
                    let own = read_file(c"/proc/self/cgroup", &mut buf).ctx("[Child] read")?;
                    let want = line.as_c_str().to_bytes();
                    crate::case::eq_bytes("[Child] /proc/self/cgroup", want, v2_line(own))
                })())
            })
            .ctx("clone3(INTO_CGROUP)")?;
        let via = child.via();
        child_ok("child", child.wait())?;
        is_true(
            "CLONE_INTO_CGROUP went through clone3",
            via == Syscall::Clone3,
        )?;
        let mut buf = [0u8; 256];
        let own = read_file(c"/proc/self/cgroup", &mut buf).ctx("read /proc/self/cgroup")?;
        // Only the child moved.
        crate::case::eq_bytes(
            "parent's /proc/self/cgroup (as before)",
            &before[..before_len],
            v2_line(own),
        )?;
        let not_a_cgroup = fs::openat(CWD, c"/", flags, 0).ctx("open /")?;
        let refused = match ChildBuilder::new(F::empty())
            .cgroup(not_a_cgroup.as_fd())
            .spawn(|| 0)
        {
            Ok(mut child) => {
                let _ = child.wait();
                None
            }
            Err(e) => Some(e),
        };
        eq(
            "CLONE_INTO_CGROUP with a descriptor of / (no cgroup)",
            Some(clonekit::Error::Os(clonekit::Errno::EBADF)),
            refused,
        )
    })();
    let _ = unlinkat(CWD, dir.as_c_str(), true);
    outcome
}

/// `CLONE_PIDFD | CLONE_THREAD`: refused before Linux 6.9, accepted since: the rule is the
/// running kernel's, asked of both.
fn pidfd_with_thread_rule_follows_running_kernel() -> Outcome {
    let kernel = KernelVersion::cached();
    let expected = if kernel >= KernelVersion::V6_9 {
        Ok(())
    } else {
        Err(FlagError::PidfdWithThreadBefore6_9)
    };
    diag!("kernel {kernel}");
    expect(
        Syscall::Clone3,
        F::VM | F::SIGHAND | F::THREAD | F::PIDFD,
        ExitSignal::NONE,
        expected,
    )
}

fn clone3_detached_refused_einval() -> Outcome {
    refusal(
        Syscall::Clone3,
        F::DETACHED,
        ExitSignal::SIGCHLD,
        FlagError::Clone3Detached,
    )
}

fn clear_sighand_with_sighand_refused_einval() -> Outcome {
    refusal(
        Syscall::Clone3,
        F::VM | F::SIGHAND | F::CLEAR_SIGHAND,
        ExitSignal::SIGCHLD,
        FlagError::ClearSighandWithSighand,
    )
}
