//! vfork-style `exec::spawn`: programs that run, paths that do not, the child's errno
//! through the close-on-exec pipe, arguments and environment, and the parent's signal
//! mask left as it was.

mod common;

use std::ffi::CString;

use clonekit::Errno;
use clonekit::exec::{MAX_ARGS, SpawnError, spawn};
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
fn spawn_of_a_missing_path_reports_enoent() {
    let result = spawn(c"/nonexistent/clonekit-no-such-program", &[c"x"], &[]);
    assert_eq!(result.unwrap_err(), SpawnError::Exec(Errno::ENOENT));
}

#[test]
fn spawn_of_a_non_executable_file_reports_eacces() {
    let result = spawn(c"/etc/passwd", &[c"passwd"], &[]);
    assert_eq!(result.unwrap_err(), SpawnError::Exec(Errno::EACCES));
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
fn too_many_arguments_are_a_typed_error() {
    let argv = vec![c"x"; MAX_ARGS + 1];
    assert_eq!(
        spawn(c"/bin/true", &argv, &[]).unwrap_err(),
        SpawnError::TooManyArgs {
            argv: MAX_ARGS + 1,
            envp: 0,
            max: MAX_ARGS
        }
    );
    let envp = vec![c"A=b"; MAX_ARGS + 1];
    assert!(matches!(
        spawn(c"/bin/true", &[c"true"], &envp),
        Err(SpawnError::TooManyArgs { envp: n, .. }) if n == MAX_ARGS + 1
    ));
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
