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
use clonekit::sys::fs::{self, CWD, OFlags};
use clonekit::sys::process::getpid;
use clonekit::sys::signal::{self, SigHandler, Signal, rt_sigaction};
use clonekit::validate::Syscall;
use clonekit::{CloneArgs, CloneFlags as F, ExitSignal, FlagError, KernelVersion, mount, raw};

use super::sharing::{install_usr1_handler, take_usr1_hits};
use super::validator_vs_kernel::{expect, refusal};
use crate::case::{Case, Ctx, Fail, Outcome, case, check, child_ok, code, diag, eq};
use crate::shared::{reset_slots, slot};
use crate::util::{read_file, sleep_ms};

pub const CASES: &[Case] = &[
    case!(clone3_pidfd_signals_polls_and_reaps_child),
    case!(clone3_exit_signal_sigusr1_delivered_to_parent),
    case!(clone3_set_tid_chooses_pids_in_new_pid_ns),
    case!(clear_sighand_handled_signal_is_default_in_child),
    case!(clear_sighand_absent_child_keeps_handler),
    case!(into_cgroup_child_starts_in_demo_cgroup),
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

/// # Safety
/// Any child.
unsafe extern "C" fn exit_at_once(_: *mut c_void) -> i32 {
    0
}

/// `clone3()` with `CLONE_PIDFD`: the pidfd signals the child, polls readable once it is
/// dead, and reaps it (`waitid(P_PIDFD)`).
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
    pidfd
        .send_signal(Signal::SIGKILL)
        .ctx("pidfd_send_signal")?;
    let polled = pidfd.poll_exited(Some(Duration::from_secs(10)));
    let status = pidfd.wait();
    eq("poll before the signal: exited?", Ok(false), alive)?;
    eq("poll after SIGKILL: exited?", Ok(true), polled)?;
    eq(
        "waitid(P_PIDFD)",
        Ok(ExitStatus::Signaled(Signal::SIGKILL)),
        status,
    )?;
    diag!("child {pid} via pidfd {}", pidfd.as_raw());
    Ok(())
}

fn clone3_exit_signal_sigusr1_delivered_to_parent() -> Outcome {
    check(
        install_usr1_handler(),
        format_args!("installing a SIGUSR1 handler"),
    )?;
    take_usr1_hits();
    let sig = ExitSignal::new(Signal::SIGUSR1.raw() as u32).ctx("exit signal")?;
    let mut args = CloneArgs::new(F::empty(), sig);
    // SAFETY: fork-like; the child exits at once.
    let spawned = unsafe { raw::clone3(&mut args, exit_at_once, ptr::null_mut()) };
    let status = spawned.map(process::wait_pid);
    let hits = take_usr1_hits();
    let _ = signal::signal_default(Signal::SIGUSR1);
    let status = status.ctx("clone3(exit_signal = SIGUSR1)")?;
    eq(
        "child (reaped with __WALL)",
        Ok(ExitStatus::Exited(0)),
        status,
    )?;
    eq("SIGUSR1 received by the parent", 1, hits)
}

/// A PID free in this namespace, from 4000 up.
fn free_pid() -> i32 {
    (4000..32000)
        .find(|&p| signal::kill_probe(p) == Err(clonekit::Errno::ESRCH))
        .unwrap_or(4000)
}

fn clone3_set_tid_chooses_pids_in_new_pid_ns() -> Outcome {
    reset_slots(1);
    let want = free_pid();
    let set_tid: [i32; 2] = [1, want];
    let mut args = CloneArgs::new(F::NEWPID, ExitSignal::SIGCHLD);
    args.set_tid = set_tid.as_ptr() as u64;
    args.set_tid_size = 2;
    /// # Safety
    /// A fork-like child.
    unsafe extern "C" fn record_pid(_: *mut c_void) -> i32 {
        slot(0).store(i64::from(getpid()), SeqCst);
        0
    }
    // SAFETY: fork-like; the kernel reads set_tid (a local) before returning.
    let pid = unsafe { raw::clone3(&mut args, record_pid, ptr::null_mut()) }
        .ctx("clone3(NEWPID, set_tid = [1, N])")?;
    eq("child", Ok(ExitStatus::Exited(0)), process::wait_pid(pid))?;
    eq("PID in the parent's namespace (set_tid[1])", want, pid)?;
    eq(
        "PID in the new namespace (set_tid[0])",
        1,
        slot(0).load(SeqCst),
    )
}

fn clear_sighand_case(flags: F, want: &'static str) -> Outcome {
    check(
        install_usr1_handler(),
        format_args!("installing a SIGUSR1 handler"),
    )?;
    let _ = signal::signal_ignore(Signal::SIGUSR2);
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

const DEMO_CGROUP: &core::ffi::CStr = c"/sys/fs/cgroup/demo";

fn into_cgroup_child_starts_in_demo_cgroup() -> Outcome {
    let mut buf = [0u8; 4096];
    let mounts = read_file(c"/proc/self/mounts", &mut buf).ctx("read /proc/self/mounts")?;
    if !crate::util::contains(mounts, b" /sys/fs/cgroup cgroup2 ") {
        return if getpid() == 1 {
            crate::report::diag_args(format_args!("no cgroup2 at /sys/fs/cgroup"));
            Err(Fail::Failed)
        } else {
            Err(Fail::Skip("no cgroup2 at /sys/fs/cgroup"))
        };
    }
    mount::ensure_dir(DEMO_CGROUP).ctx("mkdir /sys/fs/cgroup/demo")?;
    let outcome = (|| {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let dir = fs::openat(CWD, DEMO_CGROUP, flags, 0).ctx("open the cgroup")?;
        let child = ChildBuilder::new(F::empty())
            .cgroup(dir.as_fd())
            .spawn(|| {
                code((|| {
                    let mut buf = [0u8; 256];
                    let own = read_file(c"/proc/self/cgroup", &mut buf).ctx("[Child] read")?;
                    crate::case::eq_bytes("[Child] /proc/self/cgroup", b"0::/demo", v2_line(own))
                })())
            })
            .ctx("clone3(INTO_CGROUP)")?;
        child_ok("child", child.wait())?;
        let mut buf = [0u8; 256];
        let own = read_file(c"/proc/self/cgroup", &mut buf).ctx("read /proc/self/cgroup")?;
        // Only the child moved: PID 1 stays in the root cgroup.
        crate::case::eq_bytes("parent's /proc/self/cgroup", b"0::/", v2_line(own))
    })();
    let _ = fs::unlinkat(CWD, DEMO_CGROUP, true);
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
