//! vfork-style `exec::spawn` of the host's programs (`/bin/true`, `/bin/sh`, which the guest
//! has not): exit statuses, arguments and environment up to the argument limit, the parent's
//! signal mask left as it was, and `SIGPIPE` back at its default for the program. The
//! child's `execve` errno coming back to the caller (`ENOENT`, `EACCES`) is proven once, by
//! the test kit's `fault_failing_execve_reports_errno`, run by `tests/cases.rs` and in the
//! QEMU guest; the typed error past the argument limit by `tests/bad_input.rs`.

use std::ffi::CString;

use clonekit::exec::{MAX_ARGS, spawn};
use clonekit::process::{ExitStatus, Syscall};
use clonekit::sys::signal::{SigmaskHow, rt_sigprocmask};

#[test]
fn spawn_bin_true_exits_0() {
    let child = spawn(c"/bin/true", &[c"true"], &[]).unwrap();
    assert_eq!(child.via(), Syscall::Clone);
    assert!(child.pid() > 0);
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(0)));
}

#[test]
fn spawn_sh_exit_7() {
    let child = spawn(c"/bin/sh", &[c"sh", c"-c", c"exit 7"], &[]).unwrap();
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(7)));
}

#[test]
fn spawn_passes_argv_and_envp() {
    let child = spawn(
        c"/bin/sh",
        &[
            c"sh",
            c"-c",
            c"[ \"$0\" = sh ] && [ \"$1\" = one ] && exit $CODE; exit 1",
            c"sh",
            c"one",
        ],
        &[c"CODE=9", c"PATH=/usr/bin:/bin"],
    )
    .unwrap();
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(9)));
}

#[test]
fn spawn_with_many_arguments() {
    let args: Vec<CString> = (0..MAX_ARGS - 3)
        .map(|i| CString::new(i.to_string()).unwrap())
        .collect();
    let mut argv = vec![c"sh", c"-c", c"[ $# -eq 1020 ] && exit 4; exit 1"];
    argv.extend(args.iter().map(|a| a.as_c_str()));
    assert_eq!(argv.len(), MAX_ARGS);
    let child = spawn(c"/bin/sh", &argv, &[]).unwrap();
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(4)));
}

#[test]
fn the_parents_signal_mask_is_unchanged() {
    let before = rt_sigprocmask(SigmaskHow::Block, None).unwrap();
    spawn(c"/bin/true", &[c"true"], &[])
        .unwrap()
        .wait()
        .unwrap();
    let _ = spawn(c"/nonexistent", &[c"x"], &[]);
    assert_eq!(rt_sigprocmask(SigmaskHow::Block, None).unwrap(), before);
}

#[test]
fn the_program_starts_with_sigpipe_at_its_default() {
    // std ignores SIGPIPE in its programs; an ignored disposition survives execve, so the
    // child gives SIGPIPE its default back, as std::process::Command does. A shell that
    // sends itself SIGPIPE then dies of it.
    let child = spawn(c"/bin/sh", &[c"sh", c"-c", c"kill -PIPE $$; exit 3"], &[]).unwrap();
    assert_eq!(
        child.wait(),
        Ok(ExitStatus::Signaled(clonekit::sys::signal::Signal::SIGPIPE))
    );
}
