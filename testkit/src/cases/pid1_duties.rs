//! PID 1's duties: it is PID 1 with its filesystems mounted, orphans are reparented to it
//! and reaped, signals it has no handler for are dropped, and no zombie is left at the end.
//! Also the report's own promise: every flag of TLPI 28.2.1's table names a case.

use core::sync::atomic::Ordering::SeqCst;

use clonekit::process::{self, ExitStatus};
use clonekit::sys::process::{getpid, getppid};
use clonekit::sys::signal::{self, Signal};

use crate::case::{Case, Ctx, Outcome, case, check, child_ok, diag, eq, need_pid1};
use crate::shared::{reset_slots, slot};
use crate::show::Text;
use crate::util::{contains, read_file, sleep_ms};

pub const CASES: &[Case] = &[
    case!(pid1_is_pid_1_with_proc_tmp_sys_cgroup2_mounted),
    case!(pid1_orphaned_grandchild_reparented_and_reaped),
    case!(pid1_sigterm_without_handler_is_dropped),
    case!(every_clone_flag_names_a_case),
    case!(pid1_no_zombie_left_at_end),
];

fn pid1_is_pid_1_with_proc_tmp_sys_cgroup2_mounted() -> Outcome {
    need_pid1()?;
    eq("getpid()", 1, getpid())?;
    eq("getppid()", 0, getppid())?;
    let mut buf = [0u8; 4096];
    let mounts = read_file(c"/proc/self/mounts", &mut buf).ctx("read /proc/self/mounts")?;
    for want in [
        &b" /proc proc "[..],
        b" /tmp tmpfs ",
        b" /sys sysfs ",
        b" /sys/fs/cgroup cgroup2 ",
    ] {
        check(
            contains(mounts, want),
            format_args!("no {} in /proc/self/mounts", Text(want)),
        )?;
    }
    Ok(())
}

/// A child forks a grandchild and exits at once; the grandchild, orphaned, is reparented
/// to PID 1 (its `getppid()` becomes 1) and PID 1 reaps it.
fn pid1_orphaned_grandchild_reparented_and_reaped() -> Outcome {
    need_pid1()?;
    reset_slots(2);
    let mut child = process::fork(|| {
        match process::fork(|| {
            sleep_ms(100);
            slot(0).store(i64::from(getppid()), SeqCst);
            0
        }) {
            Ok(grandchild) => {
                slot(1).store(i64::from(grandchild.pid()), SeqCst);
                core::mem::forget(grandchild);
                0
            }
            Err(_) => 1,
        }
    })
    .ctx("fork")?;
    child_ok("child (exits at once)", child.wait())?;
    let orphan = slot(1).load(SeqCst) as i32;
    eq(
        "PID 1 reaping the orphan",
        Ok(ExitStatus::Exited(0)),
        process::wait_pid(orphan),
    )?;
    eq(
        "the orphan's getppid() after reparenting",
        1,
        slot(0).load(SeqCst),
    )?;
    diag!("orphan {orphan} reparented to PID 1 and reaped");
    Ok(())
}

/// `SIGTERM` from a child, with no handler installed: the kernel drops it for PID 1.
fn pid1_sigterm_without_handler_is_dropped() -> Outcome {
    need_pid1()?;
    let _ = signal::signal_default(Signal::SIGTERM);
    let mut child = process::fork(|| {
        if signal::kill(1, Signal::SIGTERM).is_ok() {
            0
        } else {
            1
        }
    })
    .ctx("fork")?;
    child_ok("child sending SIGTERM to PID 1", child.wait())?;
    sleep_ms(10);
    let alive = eq("getpid() after the SIGTERM (still alive)", 1, getpid());
    // Put the init's handlers back for the rest of the run.
    let _ = clonekit::init::Init::install();
    alive
}

/// Whether a case name starts with `word` (a flag's name, compared without case; maybe
/// several `_`-joined words): the case is about that flag, not merely mentioning it.
fn names(name: &str, word: &str) -> bool {
    name.len() > word.len()
        && name.as_bytes()[..word.len()].eq_ignore_ascii_case(word.as_bytes())
        && name.as_bytes()[word.len()] == b'_'
}

/// Every flag clonekit knows (TLPI 28.2.1's table, the namespaces and clone3's flags, Linux
/// 7.1's): its name without `CLONE_` (`NEWUTS`, `PIDFD_AUTOKILL`) begins some case's name.
fn every_clone_flag_names_a_case() -> Outcome {
    let mut missing = 0;
    for (flag, _) in clonekit::CloneFlags::all().iter_names() {
        let named = crate::cases::SECTIONS
            .iter()
            .flat_map(|s| s.cases)
            .filter(|c| names(c.name, flag))
            .count();
        if named == 0 {
            diag!("CLONE_{flag}: no case names it");
            missing += 1;
        }
    }
    eq("flags no case names", 0, missing)
}

fn pid1_no_zombie_left_at_end() -> Outcome {
    let (count, first) = crate::util::zombies()?;
    if count > 0 {
        diag!("{count} zombie(s), the first PID {first}");
    }
    eq("zombies in /proc", 0, count)
}
