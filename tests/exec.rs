//! vfork-style `exec::spawn` of the host's programs (`/bin/true`, `/bin/sh`, which the guest
//! has not): exit statuses, arguments and environment up to the argument limit, the parent's
//! signal mask left as it was, and `SIGPIPE` back at its default for the program. The
//! child's `execve` errno coming back to the caller (`ENOENT`, `EACCES`) is proven once, by
//! the test kit's `fault_failing_execve_reports_errno`, run by `testkit/tests/cases.rs` and in the
//! QEMU guest; the typed error past the argument limit by `tests/bad_input.rs`.

use std::ffi::CString;

use clonekit::Errno;
use clonekit::exec::{Command, ExecStep, MAX_ARGS, SpawnError, Stdio, spawn};
use clonekit::fd::{BorrowedFd, OwnedFd};
use clonekit::process::{Child, ExitStatus, Syscall, fork_unchecked};
use clonekit::sys::fs::{CWD, FdFlags, PipeFlags, pipe2, write};
use clonekit::sys::signal::{SigmaskHow, rt_sigprocmask};

#[test]
fn spawn_bin_true_exits_0() {
    let mut child = spawn(c"/bin/true", &[c"true"], &[]).unwrap();
    assert_eq!(child.via(), Syscall::Clone);
    assert!(child.pid() > 0);
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(0)));
}

#[test]
fn spawn_sh_exit_7() {
    let mut child = spawn(c"/bin/sh", &[c"sh", c"-c", c"exit 7"], &[]).unwrap();
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(7)));
}

#[test]
fn spawn_passes_argv_and_envp() {
    let mut child = spawn(
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
    let mut child = spawn(c"/bin/sh", &argv, &[]).unwrap();
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
    let mut child = spawn(c"/bin/sh", &[c"sh", c"-c", c"kill -PIPE $$; exit 3"], &[]).unwrap();
    assert_eq!(
        child.wait(),
        Ok(ExitStatus::Signaled(clonekit::sys::signal::Signal::SIGPIPE))
    );
}

// ---- exec::Command: std's Command semantics ----

/// Runs what `spawn` starts with its standard output on a pipe (the `Stdio` given), and
/// returns what it wrote and how it ended.
fn output(spawn: impl FnOnce(Stdio<'_>) -> Result<Child, SpawnError>) -> (String, ExitStatus) {
    let (r, w) = pipe2(PipeFlags::CLOEXEC).unwrap();
    let mut child = spawn(Stdio::Fd(w.as_fd())).unwrap();
    drop(w);
    let mut out = vec![0u8; 1 << 20];
    let n = read_to_end(&r, &mut out);
    out.truncate(n);
    (String::from_utf8(out).unwrap(), child.wait().unwrap())
}

/// Reads `fd` until end of file into `buf` (as much as fits), returning the length.
fn read_to_end(fd: &OwnedFd, buf: &mut [u8]) -> usize {
    clonekit::sys::fs::read_full(fd, buf).unwrap()
}

/// The environment coreutils' `env` (which adds nothing) prints, one entry a line.
fn env_of(spawn: impl FnOnce(Stdio<'_>) -> Result<Child, SpawnError>) -> Vec<String> {
    let (out, status) = output(spawn);
    assert_eq!(status, ExitStatus::Exited(0));
    out.lines().map(str::to_owned).collect()
}

#[test]
fn command_inherits_the_callers_environment() {
    let mut ours: Vec<String> = std::env::vars_os()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    let mut theirs = env_of(|out| Command::new(c"env").stdout(out).spawn());
    ours.sort();
    theirs.sort();
    assert_eq!(theirs, ours);
}

#[test]
fn command_env_env_remove_and_env_clear_follow_std() {
    let env = env_of(|out| {
        Command::new(c"env")
            .env(c"CLONEKIT_A", c"1")
            .env(c"CLONEKIT_B", c"x=y")
            .env(c"CLONEKIT_B", c"2") // the last one wins
            .env(c"CLONEKIT_C", c"3")
            .env_remove(c"CLONEKIT_C") // removed after being set
            .env_remove(c"CLONEKIT_D")
            .env(c"CLONEKIT_D", c"4") // set after being removed
            .env_remove(c"HOME") // an inherited one
            .stdout(out)
            .spawn()
    });
    for want in ["CLONEKIT_A=1", "CLONEKIT_B=2", "CLONEKIT_D=4"] {
        let times = env.iter().filter(|e| *e == want).count();
        assert_eq!(times, 1, "{want} in {env:?}");
    }
    for gone in ["CLONEKIT_B=x", "CLONEKIT_C=", "HOME="] {
        assert!(
            !env.iter().any(|e| e.starts_with(gone)),
            "{gone} in {env:?}"
        );
    }
    // The rest is inherited.
    for (key, value) in std::env::vars() {
        if key != "HOME" {
            assert!(env.contains(&format!("{key}={value}")), "{key} in {env:?}");
        }
    }
    // env_clear: nothing inherited, and the variables set before it are forgotten.
    let env = env_of(|out| {
        Command::new(c"/usr/bin/env")
            .env(c"CLONEKIT_BEFORE", c"1")
            .env_clear()
            .env(c"CLONEKIT_ONLY", c"1")
            .stdout(out)
            .spawn()
    });
    assert_eq!(env, ["CLONEKIT_ONLY=1"]);
    // exec::spawn keeps execve's shape: `&[]` is an empty environment.
    let (r, w) = pipe2(PipeFlags::CLOEXEC).unwrap();
    let mut child = Command::new(c"/usr/bin/env")
        .env_clear()
        .stdout(Stdio::Fd(w.as_fd()))
        .spawn()
        .unwrap();
    drop(w);
    assert_eq!(read_to_end(&r, &mut [0u8; 64]), 0, "no entry at all");
    assert!(child.wait().unwrap().success());
}

#[test]
fn command_searches_path_for_a_name_without_a_slash() {
    // Found in the inherited PATH.
    assert_eq!(Command::new(c"true").status(), Ok(ExitStatus::Exited(0)));
    assert_eq!(Command::new(c"false").status(), Ok(ExitStatus::Exited(1)));
    // The PATH the program gets is the one searched.
    let nowhere = Command::new(c"true")
        .env(c"PATH", c"/nonexistent-clonekit")
        .spawn();
    assert_eq!(nowhere.unwrap_err(), SpawnError::Exec(Errno::ENOENT));
    let found = Command::new(c"true")
        .env(c"PATH", c"/nonexistent-clonekit:/usr/bin:/bin")
        .status();
    assert_eq!(found, Ok(ExitStatus::Exited(0)));
    // A candidate that is there but may not be run: EACCES once the search is over.
    let dir = std::env::temp_dir().join(format!("clonekit-path-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("clonekit-not-executable"), b"#!/bin/sh\n").unwrap();
    let path = CString::new(format!("/nonexistent-clonekit:{}", dir.display())).unwrap();
    let refused = Command::new(c"clonekit-not-executable")
        .env(c"PATH", &path)
        .spawn();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(refused.unwrap_err(), SpawnError::Exec(Errno::EACCES));
    // A name with a slash is used as given, relative to the program's working directory.
    let relative = Command::new(c"bin/true").current_dir(c"/usr").status();
    assert_eq!(relative, Ok(ExitStatus::Exited(0)));
}

#[test]
fn command_at_its_capacity_runs() {
    use clonekit::exec::{MAX_COMMAND_ARGS, MAX_ENV_CHANGES};
    let names: Vec<CString> = (0..MAX_ENV_CHANGES)
        .map(|i| CString::new(format!("CLONEKIT_{i}")).unwrap())
        .collect();
    let mut command = Command::new(c"sh");
    let script = CString::new(format!(
        "[ $# -eq {} ] && [ \"$CLONEKIT_0$CLONEKIT_{}\" = vv ]",
        MAX_COMMAND_ARGS - 3, // -c, the script, and $0 are not counted
        MAX_ENV_CHANGES - 1
    ))
    .unwrap();
    command.args([c"-c", &script]);
    command.args(vec![c"x"; MAX_COMMAND_ARGS - 2]);
    for name in &names {
        command.env(name, c"v");
    }
    assert_eq!(command.status(), Ok(ExitStatus::Exited(0)));
    // env_clear forgets the changes made so far: room for as many again.
    command
        .env_clear()
        .env(c"CLONEKIT_0", c"v")
        .env(c"PATH", c"/bin");
    assert_eq!(
        command.status(),
        Ok(ExitStatus::Exited(1)),
        "one variable short"
    );
}

#[test]
fn command_arguments_and_arg0_reach_the_program() {
    // The shell's own argv (as /proc shows it), then the arguments its script sees.
    let script = c"tr '\\0' '|' < /proc/$$/cmdline; echo; echo \"$0|$1|$#\"";
    let (out, status) = output(|out| {
        Command::new(c"sh")
            .arg0(c"renamed")
            .args([c"-c", script, c"zero", c"one", c"two words"])
            .stdout(out)
            .spawn()
    });
    assert_eq!(status, ExitStatus::Exited(0));
    let script = script.to_str().unwrap();
    assert_eq!(
        out,
        format!("renamed|-c|{script}|zero|one|two words|\nzero|one|2\n")
    );
}

#[test]
fn command_current_dir_is_the_programs() {
    let (out, status) = output(|out| {
        Command::new(c"sh")
            .args([c"-c", c"pwd -P"])
            .current_dir(c"/proc")
            .stdout(out)
            .spawn()
    });
    assert_eq!((out.as_str(), status), ("/proc\n", ExitStatus::Exited(0)));
    // A directory that is not there: the child's chdir errno, named.
    let missing = Command::new(c"true")
        .current_dir(c"/nonexistent-clonekit")
        .spawn();
    assert_eq!(
        missing.unwrap_err(),
        SpawnError::Setup {
            step: ExecStep::CurrentDir,
            errno: Errno::ENOENT
        }
    );
    // The caller's own is untouched.
    assert_ne!(
        std::env::current_dir().unwrap(),
        std::path::Path::new("/proc")
    );
}

#[test]
fn command_standard_streams_are_redirected_inherited_or_null() {
    // stdin from a pipe, copied by `cat` to stdout on another pipe.
    let (in_r, in_w) = pipe2(PipeFlags::CLOEXEC).unwrap();
    let (out_r, out_w) = pipe2(PipeFlags::CLOEXEC).unwrap();
    let mut cat = Command::new(c"cat")
        .stdin(Stdio::Fd(in_r.as_fd()))
        .stdout(Stdio::Fd(out_w.as_fd()))
        .spawn()
        .unwrap();
    drop((in_r, out_w));
    write(&in_w, b"through cat").unwrap();
    drop(in_w);
    let mut buf = [0u8; 256];
    let n = read_to_end(&out_r, &mut buf);
    assert_eq!(&buf[..n], b"through cat");
    assert!(cat.wait().unwrap().success());
    // What descriptors 0-2 of the program are, as its /proc shows them, on its stderr.
    // (Expanded before `>&2` applies: the shell's own descriptors.)
    let links = c"for f in 0 1 2; do echo \"$(readlink /proc/$$/fd/$f)\" >&2; done";
    let (err_r, err_w) = pipe2(PipeFlags::CLOEXEC).unwrap();
    let mut child = Command::new(c"sh")
        .args([c"-c", links])
        .stdin(Stdio::Null)
        .stdout(Stdio::Null)
        .stderr(Stdio::Fd(err_w.as_fd()))
        .spawn()
        .unwrap();
    drop(err_w);
    let n = read_to_end(&err_r, &mut buf);
    let shown = String::from_utf8_lossy(&buf[..n]).into_owned();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines[..2], ["/dev/null", "/dev/null"], "{shown}");
    assert!(lines[2].starts_with("pipe:"), "{shown}");
    assert!(child.wait().unwrap().success());
    // Inherited: the caller's own descriptor 0.
    let ours = std::fs::read_link("/proc/self/fd/0").map(|p| p.display().to_string());
    let (err_r, err_w) = pipe2(PipeFlags::CLOEXEC).unwrap();
    let mut child = Command::new(c"sh")
        .args([c"-c", c"echo \"$(readlink /proc/$$/fd/0)\" >&2"])
        .stderr(Stdio::Fd(err_w.as_fd()))
        .spawn()
        .unwrap();
    drop(err_w);
    let n = read_to_end(&err_r, &mut buf);
    if let Ok(ours) = ours {
        assert_eq!(String::from_utf8_lossy(&buf[..n]).trim_end(), ours);
    }
    assert!(child.wait().unwrap().success());
    // A descriptor that is not open in the program's table: the child's dup3 errno, named.
    let bad = Command::new(c"true").stdout(Stdio::Fd(CWD)).spawn();
    assert_eq!(
        bad.unwrap_err(),
        SpawnError::Setup {
            step: ExecStep::Stdout,
            errno: Errno::EBADF
        }
    );
}

#[test]
fn command_swaps_standard_streams_without_clobbering_a_source() {
    // In a child of its own (its own descriptor table): standard output and error on two
    // pipes, then a program whose stdout is the child's stderr and whose stderr is its
    // stdout. Raw descriptors only: the child keeps to clonekit (no libc, no std).
    let (out_r, out_w) = pipe2(PipeFlags::CLOEXEC).unwrap();
    let (err_r, err_w) = pipe2(PipeFlags::CLOEXEC).unwrap();
    let (ow, ew) = (out_w.as_raw(), err_w.as_raw());
    let swapped = move || {
        // SAFETY: the child's own copies of the two write ends, and its own 1 and 2, which
        // nothing in it uses as the files they were.
        let moved = unsafe {
            let (ow, ew) = (BorrowedFd::borrow_raw(ow), BorrowedFd::borrow_raw(ew));
            clonekit::sys::fs::dup3(ow, 1, FdFlags::empty()).and(clonekit::sys::fs::dup3(
                ew,
                2,
                FdFlags::empty(),
            ))
        };
        if moved.is_err() {
            return 10;
        }
        // SAFETY: descriptors 1 and 2, open in this child for the whole call.
        let (one, two) = unsafe { (BorrowedFd::borrow_raw(1), BorrowedFd::borrow_raw(2)) };
        match Command::new(c"/bin/sh")
            .args([c"-c", c"echo to-stdout; echo to-stderr >&2"])
            .stdout(Stdio::Fd(two))
            .stderr(Stdio::Fd(one))
            .status()
        {
            Ok(status) if status.success() => 0,
            Ok(_) => 11,
            Err(_) => 12,
        }
    };
    // SAFETY: the child makes only clonekit calls (system calls, no allocation, no locks)
    // and replaces descriptors 1 and 2 of its own copy of the table.
    let mut child = unsafe { fork_unchecked(swapped) }.unwrap();
    drop((out_w, err_w));
    let mut buf = [0u8; 64];
    let n = read_to_end(&out_r, &mut buf);
    assert_eq!(
        &buf[..n],
        b"to-stderr\n",
        "the program's stderr: our stdout pipe"
    );
    let n = read_to_end(&err_r, &mut buf);
    assert_eq!(
        &buf[..n],
        b"to-stdout\n",
        "the program's stdout: our stderr pipe"
    );
    assert_eq!(child.wait(), Ok(ExitStatus::Exited(0)));
}
