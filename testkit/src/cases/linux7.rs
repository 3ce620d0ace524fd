//! Linux 7.1's four `clone3()` flags, proven where the kernel shows them: an autoreaped child
//! leaves no zombie and `wait` finds nothing (`CLONE_AUTOREAP`), closing the last pidfd kills
//! the child (`CLONE_PIDFD_AUTOKILL`), `no_new_privs` is set in the child alone
//! (`CLONE_NNP`), an empty mount namespace holds only what the child mounts
//! (`CLONE_EMPTY_MNTNS`); and every refusal their rules give, asked of the validator and the
//! kernel alike. Before Linux 7.1 these cases SKIP, naming the version they need.
//!
//! Two cases run on every kernel, for the version rules this work added: each 7.1 flag is
//! refused by name (and by the kernel, `EINVAL`) before 7.1 and accepted from it, and a
//! `CLONE_VM` or `CLONE_THREAD` child after `unshare(CLONE_NEWTIME)` is refused before Linux
//! 6.2 and accepted from it.

use core::time::Duration;

use clonekit::container::Container;
use clonekit::pidfd::PidFd;
use clonekit::process::{self, ChildBuilder, ExitStatus};
use clonekit::procfs::PathBuf;
use clonekit::sys::Pid;
use clonekit::sys::fs::{self, CWD, OFlags};
use clonekit::sys::process::{get_no_new_privs, setresgid, setresuid};
use clonekit::validate::Syscall;
use clonekit::{CloneFlags as F, Errno, ExitSignal, FlagError, KernelVersion, mount, namespace};

use super::validator_vs_kernel::{expect, refusal};
use crate::case::{Case, Ctx, Fail, Outcome, case, check, child_ok, code, diag, eq, is_true};
use crate::shared::{reset_slots, slot};
use crate::util::{read_file, sleep_ms};

pub const CASES: &[Case] = &[
    case!(autoreap_child_leaves_no_zombie_and_wait_reports_echild),
    case!(autoreap_with_thread_refused_einval),
    case!(autoreap_with_parent_refused_einval),
    case!(autoreap_with_exit_signal_refused_einval),
    case!(autoreap_child_cannot_use_clone_parent_einval),
    case!(pidfd_autokill_child_killed_when_last_pidfd_closed),
    case!(pidfd_autokill_without_pidfd_refused_einval),
    case!(pidfd_autokill_without_autoreap_refused_einval),
    case!(pidfd_autokill_without_nnp_unprivileged_refused_eperm),
    case!(nnp_child_has_no_new_privs_parent_does_not),
    case!(nnp_with_thread_refused_einval),
    case!(empty_mntns_child_sees_only_the_mounts_it_adds),
    case!(empty_mntns_with_fs_refused_einval),
    case!(empty_mntns_unprivileged_refused_eperm),
    case!(linux_7_1_flags_rule_follows_running_kernel),
    case!(vm_and_thread_after_unshare_newtime_rule_follows_running_kernel),
];

/// The SKIP reason of every case that needs the 7.1 flags.
const NEEDS_7_1: &str =
    "needs Linux 7.1 (CLONE_AUTOREAP, CLONE_NNP, CLONE_PIDFD_AUTOKILL, CLONE_EMPTY_MNTNS)";

fn need_7_1() -> Outcome {
    if KernelVersion::cached() >= KernelVersion::V7_1 {
        Ok(())
    } else {
        Err(Fail::Skip(NEEDS_7_1))
    }
}

/// A thread's flags: `CLONE_THREAD` with what it needs.
const THREAD: F = F::THREAD.union(F::SIGHAND).union(F::VM);

/// `nobody`: an unprivileged uid and gid for the `EPERM` cases.
const NOBODY: u32 = 65534;

/// The state letter of `/proc/<pid>/stat` (`R`, `S`, `Z`, …); `None` once the task is gone.
fn proc_state(pid: Pid) -> Option<u8> {
    let path = PathBuf::proc(Some(pid), "stat").ok()?;
    let mut buf = [0u8; 512];
    let stat = read_file(path.as_c_str(), &mut buf).ok()?;
    // "pid (comm) S ...": the state follows the last ')'.
    let close = stat.iter().rposition(|&b| b == b')')?;
    stat.get(close + 2).copied()
}

/// Runs `f` in a fork-like child (not the PID namespace's init, whose `CLONE_PARENT` the
/// kernel refuses before any 7.1 rule), and passes if it returns `Ok`.
fn in_a_child(what: &str, f: fn() -> Outcome) -> Outcome {
    let mut child = process::fork(move || code(f())).ctx("fork")?;
    child_ok(what, child.wait())
}

/// As [`in_a_child`], the child first giving up root (uid and gid `nobody`, which clears
/// its capabilities).
fn as_nobody(what: &str, f: fn() -> Outcome) -> Outcome {
    let mut child = process::fork(move || {
        if setresgid(NOBODY, NOBODY, NOBODY).is_err() || setresuid(NOBODY, NOBODY, NOBODY).is_err()
        {
            diag!("[Child] could not become nobody");
            return 1;
        }
        code(f())
    })
    .ctx("fork")?;
    child_ok(what, child.wait())
}

// ---- CLONE_AUTOREAP ----

/// `CLONE_AUTOREAP`: an ordinary child is a zombie (`Z` in `/proc/<pid>/stat`) between its
/// exit and the parent's `wait`; an autoreaped one never is: the kernel releases it at
/// exit, `/proc/<pid>` goes, and a `wait` for it (started while it runs) reports `ECHILD`.
fn autoreap_child_leaves_no_zombie_and_wait_reports_echild() -> Outcome {
    need_7_1()?;
    let mut control = ChildBuilder::new(F::empty())
        .pidfd(true)
        .spawn(|| 0)
        .ctx("spawn the ordinary child")?;
    let control_exited = control
        .pidfd()
        .map(|pidfd| pidfd.poll_exited(Some(Duration::from_secs(10))));
    let control_state = proc_state(control.pid());
    let control_status = control.wait();
    eq("ordinary child: exited", Some(Ok(true)), control_exited)?;
    eq(
        "ordinary child: state before the wait",
        Some(b'Z'),
        control_state,
    )?;
    eq(
        "ordinary child: wait",
        Ok(ExitStatus::Exited(0)),
        control_status,
    )?;

    let child = ChildBuilder::new(F::empty())
        .autoreap()
        .spawn(|| {
            sleep_ms(100);
            0
        })
        .ctx("spawn(CLONE_AUTOREAP)")?;
    let pid = child.pid();
    // Started while the child sleeps: returns once it is gone, with nothing to collect.
    let waited = process::wait_pid(pid);
    let exited = child.poll_exited(Some(Duration::from_secs(10)));
    let (mut zombie_seen, mut gone) = (false, false);
    for _ in 0..1000 {
        match proc_state(pid) {
            None => {
                gone = true;
                break;
            }
            Some(b'Z') => zombie_seen = true,
            Some(_) => {}
        }
        sleep_ms(1);
    }
    eq("autoreaped child: wait4(pid)", Err(Errno::ECHILD), waited)?;
    eq("autoreaped child: exited (its pidfd)", Ok(true), exited)?;
    eq("autoreaped child: a zombie seen", false, zombie_seen)?;
    is_true("autoreaped child: /proc/<pid> gone", gone)?;
    diag!("child {pid}: reaped by the kernel, wait4 ECHILD");
    Ok(())
}

fn autoreap_with_thread_refused_einval() -> Outcome {
    need_7_1()?;
    refusal(
        Syscall::Clone3,
        F::AUTOREAP | THREAD,
        ExitSignal::NONE,
        FlagError::AutoreapWithThread,
    )?;
    // A CLONE_VM process child (no thread group) may be autoreaped: run for real.
    expect(
        Syscall::Clone3,
        F::AUTOREAP | F::VM | F::SIGHAND,
        ExitSignal::NONE,
        Ok(()),
    )
}

/// Asked from a child: from the PID namespace's init (PID 1 in the guest) the kernel
/// refuses `CLONE_PARENT` first, for that reason (`ParentFromNsInit`).
fn autoreap_with_parent_refused_einval() -> Outcome {
    need_7_1()?;
    in_a_child("the asking child", || {
        refusal(
            Syscall::Clone3,
            F::AUTOREAP | F::PARENT,
            ExitSignal::NONE,
            FlagError::AutoreapWithParent,
        )
    })
}

fn autoreap_with_exit_signal_refused_einval() -> Outcome {
    need_7_1()?;
    refusal(
        Syscall::Clone3,
        F::AUTOREAP,
        ExitSignal::SIGCHLD,
        FlagError::AutoreapWithExitSignal,
    )?;
    expect(Syscall::Clone3, F::AUTOREAP, ExitSignal::NONE, Ok(()))
}

/// A process created with `CLONE_AUTOREAP` cannot pass `CLONE_PARENT` (its sibling would
/// have no parent that reaps it): asked inside an autoreaped child, which reports through
/// the shared page (its exit status goes nowhere).
fn autoreap_child_cannot_use_clone_parent_einval() -> Outcome {
    need_7_1()?;
    reset_slots(1);
    let child = ChildBuilder::new(F::empty())
        .autoreap()
        .spawn(|| {
            let outcome = refusal(
                Syscall::Clone3,
                F::PARENT,
                ExitSignal::NONE,
                FlagError::ParentFromAutoreaped,
            );
            slot(0).store(
                100 + i64::from(code(outcome)),
                core::sync::atomic::Ordering::SeqCst,
            );
            0
        })
        .ctx("spawn(CLONE_AUTOREAP)")?;
    let exited = child.poll_exited(Some(Duration::from_secs(10)));
    eq("the child exited", Ok(true), exited)?;
    eq(
        "the child's verdict (100: passed)",
        100,
        slot(0).load(core::sync::atomic::Ordering::SeqCst),
    )
}

// ---- CLONE_PIDFD_AUTOKILL ----

/// `CLONE_PIDFD_AUTOKILL`: the child lives while a descriptor of its clone pidfd is open (a
/// `dup` of it counts; a `pidfd_open` pidfd, another open file, does not) and is killed when
/// the last one is closed. It never ends on its own here.
fn pidfd_autokill_child_killed_when_last_pidfd_closed() -> Outcome {
    need_7_1()?;
    let child = ChildBuilder::new(F::empty())
        .no_new_privs(true)
        .autoreap()
        .kill_on_drop()
        .spawn(|| {
            loop {
                sleep_ms(1000);
            }
        })
        .ctx("spawn(CLONE_PIDFD_AUTOKILL)")?;
    let pid = child.pid();
    let observer = PidFd::open(pid).ctx("pidfd_open (the observer)")?;
    let copy = crate::observe::fs::dup(child.pidfd().as_fd()).ctx("dup the clone pidfd")?;
    let running = observer.poll_exited(Some(Duration::from_millis(100)));
    drop(child);
    let after_first_close = observer.poll_exited(Some(Duration::from_millis(300)));
    drop(copy);
    let after_last_close = observer.poll_exited(Some(Duration::from_secs(10)));
    eq("exited while both descriptors are open", Ok(false), running)?;
    eq(
        "exited once the handle is dropped, the dup still open",
        Ok(false),
        after_first_close,
    )?;
    eq(
        "exited once the last descriptor is closed",
        Ok(true),
        after_last_close,
    )?;
    eq(
        "wait4(pid) (autoreaped)",
        Err(Errno::ECHILD),
        process::wait_pid(pid),
    )?;
    diag!("child {pid}: killed when the last of its pidfd's descriptors was closed");
    Ok(())
}

fn pidfd_autokill_without_pidfd_refused_einval() -> Outcome {
    need_7_1()?;
    refusal(
        Syscall::Clone3,
        F::PIDFD_AUTOKILL | F::AUTOREAP | F::NNP,
        ExitSignal::NONE,
        FlagError::AutokillWithoutPidfd,
    )?;
    expect(
        Syscall::Clone3,
        F::PIDFD_AUTOKILL | F::AUTOREAP | F::NNP | F::PIDFD,
        ExitSignal::NONE,
        Ok(()),
    )
}

fn pidfd_autokill_without_autoreap_refused_einval() -> Outcome {
    need_7_1()?;
    refusal(
        Syscall::Clone3,
        F::PIDFD_AUTOKILL | F::PIDFD | F::NNP,
        ExitSignal::SIGCHLD,
        FlagError::AutokillWithoutAutoreap,
    )
}

/// Without `CLONE_NNP`, kill-on-drop needs `CAP_SYS_ADMIN` (`EPERM`); with it, an
/// unprivileged caller may ask (the child can gain no privileges its owner lacks).
fn pidfd_autokill_without_nnp_unprivileged_refused_eperm() -> Outcome {
    need_7_1()?;
    as_nobody("the unprivileged child", || {
        let autokill = F::PIDFD_AUTOKILL | F::PIDFD | F::AUTOREAP;
        refusal(
            Syscall::Clone3,
            autokill,
            ExitSignal::NONE,
            FlagError::AutokillNeedsNnpOrCapSysAdmin,
        )?;
        expect(Syscall::Clone3, autokill | F::NNP, ExitSignal::NONE, Ok(()))
    })
}

// ---- CLONE_NNP ----

/// `CLONE_NNP`: `prctl(PR_GET_NO_NEW_PRIVS)` is 1 in the child, 0 in the parent before and
/// after (and in an ordinary child).
fn nnp_child_has_no_new_privs_parent_does_not() -> Outcome {
    need_7_1()?;
    let before = get_no_new_privs();
    let child = |on: bool| {
        ChildBuilder::new(F::empty())
            .no_new_privs(on)
            .spawn(move || {
                code(eq(
                    "[Child] PR_GET_NO_NEW_PRIVS",
                    Ok(on),
                    get_no_new_privs(),
                ))
            })
    };
    child_ok(
        "the CLONE_NNP child",
        child(true).ctx("spawn(CLONE_NNP)")?.wait(),
    )?;
    child_ok("an ordinary child", child(false).ctx("spawn")?.wait())?;
    eq("the parent's, before", Ok(false), before)?;
    eq("the parent's, after", Ok(false), get_no_new_privs())
}

fn nnp_with_thread_refused_einval() -> Outcome {
    need_7_1()?;
    refusal(
        Syscall::Clone3,
        F::NNP | THREAD,
        ExitSignal::NONE,
        FlagError::NnpWithThread,
    )?;
    expect(
        Syscall::Clone3,
        F::NNP | F::VM | F::SIGHAND,
        ExitSignal::NONE,
        Ok(()),
    )
}

// ---- CLONE_EMPTY_MNTNS ----

/// The mount points and filesystem types of `/proc/self/mountinfo`, in order: at most 8,
/// and how many lines there were.
fn mounts<'a>(text: &'a [u8], out: &mut [(&'a [u8], &'a [u8]); 8]) -> usize {
    let mut n = 0;
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        // "id parent maj:min root mountpoint options [optional...] - fstype source super"
        let mut words = line.split(|&b| b == b' ');
        let point = words.nth(4).unwrap_or(b"");
        let fstype = words.skip_while(|&w| w != b"-").nth(1).unwrap_or(b"");
        if let Some(entry) = out.get_mut(n) {
            *entry = (point, fstype);
        }
        n += 1;
    }
    n
}

/// Checks this process's mounts are exactly `want` (mount point, type), in order.
fn mounts_are(what: &str, want: &[(&[u8], &[u8])]) -> Outcome {
    let mut buf = [0u8; 2048];
    let text = read_file(c"/proc/self/mountinfo", &mut buf).ctx("read /proc/self/mountinfo")?;
    let mut seen = [(&b""[..], &b""[..]); 8];
    let n = mounts(text, &mut seen);
    for (point, fstype) in &seen[..n.min(8)] {
        diag!(
            "{what}: {} on {}",
            crate::show::Text(fstype),
            crate::show::Text(point)
        );
    }
    eq(what, want.len(), n)?;
    check(
        seen[..n.min(8)] == *want,
        format_args!("[Child] {what}: other mounts than expected"),
    )
}

/// The entries of directory `path` but `.` and `..`.
fn entries(path: &core::ffi::CStr) -> Result<usize, Errno> {
    let dir = fs::openat(
        CWD,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        0,
    )?;
    let mut buf = [0u8; 1024];
    crate::observe::fs::count_dir_entries(dir.as_fd(), &mut buf)
}

/// `CLONE_EMPTY_MNTNS`: the kernel's part, a child whose root is an empty directory (one
/// mount, no entries); then a [`Container`] on it: the child's mounts are exactly the
/// tmpfs root and the `/proc` its set-up added, and then what `f` adds.
fn empty_mntns_child_sees_only_the_mounts_it_adds() -> Outcome {
    need_7_1()?;
    let mut bare = ChildBuilder::new(F::EMPTY_MNTNS)
        .spawn(|| {
            code(eq(
                "[Child] entries of / (the empty root)",
                Ok(0),
                entries(c"/"),
            ))
        })
        .ctx("spawn(CLONE_EMPTY_MNTNS)")?;
    child_ok("the bare child", bare.wait())?;
    let mut container = Container::new()
        .empty_mounts()
        .spawn(|| {
            code((|| {
                mounts_are(
                    "[Child] mounts after set-up",
                    &[(b"/", b"tmpfs"), (b"/proc", b"proc")],
                )?;
                eq("[Child] entries of / (proc)", Ok(1), entries(c"/"))?;
                mount::ensure_dir(c"/scratch").ctx("[Child] mkdir /scratch")?;
                mount::mount_tmpfs(c"/scratch", Some(c"size=64k")).ctx("[Child] mount")?;
                mounts_are(
                    "[Child] mounts after its own",
                    &[
                        (b"/", b"tmpfs"),
                        (b"/proc", b"proc"),
                        (b"/scratch", b"tmpfs"),
                    ],
                )
            })())
        })
        .ctx("Container::empty_mounts")?;
    child_ok("the container", container.wait())
}

fn empty_mntns_with_fs_refused_einval() -> Outcome {
    need_7_1()?;
    refusal(
        Syscall::Clone3,
        F::EMPTY_MNTNS | F::FS,
        ExitSignal::SIGCHLD,
        FlagError::NewnsWithFs,
    )
}

/// An empty mount namespace is a new mount namespace: `CAP_SYS_ADMIN` (`EPERM` without),
/// unless a new user namespace comes with it.
fn empty_mntns_unprivileged_refused_eperm() -> Outcome {
    need_7_1()?;
    as_nobody("the unprivileged child", || {
        refusal(
            Syscall::Clone3,
            F::EMPTY_MNTNS,
            ExitSignal::SIGCHLD,
            FlagError::NamespaceNeedsCapSysAdmin(F::NEWNS | F::EMPTY_MNTNS),
        )?;
        expect(
            Syscall::Clone3,
            F::EMPTY_MNTNS | F::NEWUSER,
            ExitSignal::SIGCHLD,
            Ok(()),
        )
    })
}

// ---- The version rules, on every kernel ----

/// Each 7.1 flag (with what it needs) asked of the validator and the kernel: refused before
/// 7.1, the flags named (`EINVAL`: the kernel's unknown bits), accepted from 7.1.
fn linux_7_1_flags_rule_follows_running_kernel() -> Outcome {
    let kernel = KernelVersion::cached();
    diag!("kernel {kernel}");
    for (flags, signal) in [
        (F::AUTOREAP, ExitSignal::NONE),
        (F::NNP, ExitSignal::SIGCHLD),
        (
            F::PIDFD_AUTOKILL | F::PIDFD | F::AUTOREAP | F::NNP,
            ExitSignal::NONE,
        ),
        (F::EMPTY_MNTNS, ExitSignal::SIGCHLD),
    ] {
        let expected = if kernel >= KernelVersion::V7_1 {
            Ok(())
        } else {
            Err(FlagError::NeedsKernel {
                flags: flags & F::LINUX_7_1,
                since: KernelVersion::V7_1,
            })
        };
        expect(Syscall::Clone3, flags, signal, expected)?;
    }
    Ok(())
}

/// After `unshare(CLONE_NEWTIME)` (in a forked child: the time namespace for its children
/// changes, its own does not), a `CLONE_VM` child and a thread: refused before Linux 6.2,
/// accepted since (they stay in the caller's time namespace).
fn vm_and_thread_after_unshare_newtime_rule_follows_running_kernel() -> Outcome {
    let kernel = KernelVersion::cached();
    if kernel < KernelVersion::V5_6 {
        return Err(Fail::Skip("needs Linux 5.6 (time namespaces)"));
    }
    diag!("kernel {kernel}");
    let mut child = process::fork(move || {
        code((|| {
            namespace::unshare(F::NEWTIME).ctx("[Child] unshare(CLONE_NEWTIME)")?;
            is_true(
                "[Child] the caller state sees the time namespace for children differ",
                namespace::caller().time_ns_for_children_differs,
            )?;
            let expected = if kernel >= KernelVersion::V6_2 {
                Ok(())
            } else {
                Err(FlagError::VmOrThreadAfterTimeNamespaceChangeBefore6_2)
            };
            expect(
                Syscall::Clone,
                F::VM | F::FILES,
                ExitSignal::SIGCHLD,
                expected,
            )?;
            expect(Syscall::Clone, THREAD, ExitSignal::NONE, expected)?;
            // A fork-like child is moved into the new time namespace on every kernel.
            expect(Syscall::Clone, F::empty(), ExitSignal::SIGCHLD, Ok(()))
        })())
    })
    .ctx("fork")?;
    child_ok("the child that unshared", child.wait())
}
