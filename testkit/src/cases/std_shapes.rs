//! The std-shaped API, as the kernel shows it: what a thread's closure returns comes back
//! through its stack (a descriptor it opened included, closed with a dropped handle), a
//! child's second `wait` is its first, `kill` is `SIGKILL`, and `exec::Command` gives the
//! program the environment, working directory, standard streams and `PATH` search asked for
//! (read back from the program through a pipe: it reports its own `/proc/self`).

use core::sync::atomic::{AtomicU32, Ordering::SeqCst};

use clonekit::exec::{Command, ExecStep, SpawnError, Stdio};
use clonekit::fd::OwnedFd;
use clonekit::process::{self, ExitStatus};
use clonekit::sys::fs::{self, CWD, OFlags, PipeFlags, PollFd, PollFlags, pipe2};
use clonekit::sys::process::gettid;
use clonekit::sys::signal::Signal;
use clonekit::sys::time::Timespec;
use clonekit::thread::{self, JoinError};
use clonekit::{Errno, procfs};

use crate::case::{Case, Ctx, Fail, Outcome, case, check, diag, eq, eq_bytes};
use crate::show::Text;
use crate::util::{contains, sleep_ms};

pub const CASES: &[Case] = &[
    case!(thread_join_returns_the_closures_value_and_a_dropped_handle_drops_it),
    case!(child_second_wait_is_the_first_kill_is_sigkill_signal_sends_others),
    case!(exec_command_gives_the_program_its_env_cwd_and_streams),
    case!(exec_command_searches_path_for_a_bare_name),
];

/// Whether `fd` has hung up (its writer closed) within `ms` milliseconds.
fn hung_up(fd: &OwnedFd, ms: u64) -> Result<bool, Errno> {
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::IN)];
    let n = fs::poll(&mut fds, Some(&Timespec::from_millis(ms)))?;
    Ok(n == 1 && fds[0].revents().contains(PollFlags::HUP))
}

/// A thread returns its TID and a pipe's write end it was given: the joiner gets both back
/// from the thread's stack block, and the descriptor works there. A finished thread's
/// handle dropped unjoined drops the value (the pipe's reader sees the writer gone); a
/// thread that ends with `exit` has no value (`JoinError::Exited`).
fn thread_join_returns_the_closures_value_and_a_dropped_handle_drops_it() -> Outcome {
    let (r, w) = pipe2(PipeFlags::CLOEXEC).ctx("pipe2")?;
    let handle = thread::spawn(move || (gettid(), w)).ctx("thread::spawn")?;
    let tid = handle.tid();
    let (seen, w) = handle.join().ctx("join")?;
    eq("the TID the thread returned", tid, seen)?;
    eq("write through the returned end", Ok(1), fs::write(&w, b"x"))?;
    eq("read it back", Ok(1), fs::read(&r, &mut [0u8; 1]))?;
    eq(
        "hung up while the writer is ours",
        Ok(false),
        hung_up(&r, 0),
    )?;
    drop(w);
    eq(
        "hung up once the joiner dropped it",
        Ok(true),
        hung_up(&r, 1000),
    )?;

    let (r, w) = pipe2(PipeFlags::CLOEXEC).ctx("pipe2")?;
    let handle = thread::spawn(move || w).ctx("thread::spawn")?;
    while !handle.is_finished() {
        sleep_ms(1);
    }
    eq(
        "hung up while the value waits in the stack block",
        Ok(false),
        hung_up(&r, 0),
    )?;
    drop(handle);
    eq(
        "hung up once the handle was dropped",
        Ok(true),
        hung_up(&r, 1000),
    )?;

    static EXITED: AtomicU32 = AtomicU32::new(0);
    let handle = thread::spawn(|| -> u64 {
        EXITED.store(1, SeqCst);
        // SAFETY: the thread abandons only its own frames, which nothing else borrows.
        unsafe { clonekit::sys::process::exit(0) }
    })
    .ctx("thread::spawn")?;
    eq(
        "join of a thread that called exit",
        Err(JoinError::Exited),
        handle.join().map(drop),
    )?;
    eq("the thread ran", 1, EXITED.load(SeqCst))
}

/// A child signalled with SIGTERM is reaped once; a second `wait` (and `try_wait`) gives
/// the same status without asking the kernel; `kill` of the reaped child is `Ok` (std's
/// answer) and `signal` is `ESRCH`. `kill` of a running child is `SIGKILL`.
fn child_second_wait_is_the_first_kill_is_sigkill_signal_sends_others() -> Outcome {
    let sleeper = || loop {
        sleep_ms(1000);
    };
    let mut child = process::fork(sleeper).ctx("fork")?;
    eq("signal(SIGTERM)", Ok(()), child.signal(Signal::SIGTERM))?;
    let first = child.wait();
    eq("wait", Ok(ExitStatus::Signaled(Signal::SIGTERM)), first)?;
    eq("the second wait", first, child.wait())?;
    eq("try_wait after", first.map(Some), child.try_wait())?;
    eq("kill() of the reaped child", Ok(()), child.kill())?;
    eq(
        "signal() of the reaped child",
        Err(Errno::ESRCH),
        child.signal(Signal::SIGTERM),
    )?;
    let mut child = process::fork(sleeper).ctx("fork")?;
    eq("kill()", Ok(()), child.kill())?;
    eq(
        "wait",
        Ok(ExitStatus::Signaled(Signal::SIGKILL)),
        child.wait(),
    )
}

/// The link `/proc/self/<name>` points to, into `buf`.
fn link<'a>(name: &str, buf: &'a mut [u8]) -> Result<&'a [u8], Fail> {
    let path = procfs::PathBuf::proc(None, name).ctx("path")?;
    fs::readlinkat(CWD, path.as_c_str(), buf).ctx("readlink")
}

/// The first entry of this process's environment (as the kernel passed it), if any.
fn first_variable(buf: &mut [u8]) -> Option<&[u8]> {
    let environ = crate::util::read_file(c"/proc/self/environ", buf).ok()?;
    environ.split(|&b| b == 0).find(|e| !e.is_empty())
}

/// Reads the report of a program started with [`crate::EXEC_REPORT_ARG`] from `r` into
/// `buf` (until end of file).
fn read_report<'a>(r: &OwnedFd, buf: &'a mut [u8]) -> Result<&'a [u8], Fail> {
    let n = fs::read_full(r, buf).ctx("read the report")?;
    Ok(&buf[..n])
}

/// The runner re-executed (`/proc/self/exe`) in report mode, with one variable set, one
/// set and removed, an inherited one removed, `/proc` as working directory, standard input
/// on `/dev/null`, standard output on a pipe and standard error inherited: its report
/// (from its own `/proc/self`) shows each.
fn exec_command_gives_the_program_its_env_cwd_and_streams() -> Outcome {
    let mut first = [0u8; 4096];
    let removed_entry = first_variable(&mut first).unwrap_or(b"");
    let removed_name = removed_entry.split(|&b| b == b'=').next().unwrap_or(b"");
    let mut name_buf = [0u8; 256];
    let removed = (!removed_name.is_empty() && removed_name.len() < name_buf.len())
        .then(|| {
            name_buf[..removed_name.len()].copy_from_slice(removed_name);
            core::ffi::CStr::from_bytes_until_nul(&name_buf).ok()
        })
        .flatten();
    let null_there = fs::openat(CWD, c"/dev/null", OFlags::RDONLY | OFlags::CLOEXEC, 0).is_ok();
    let (r, w) = pipe2(PipeFlags::CLOEXEC).ctx("pipe2")?;
    let (input_r, input_w) = pipe2(PipeFlags::CLOEXEC).ctx("pipe2")?;
    // Standard input on /dev/null; where there is none (the guest's initramfs has an empty
    // /dev, no devtmpfs) on a pipe's read end, and Stdio::Null's refusal checked apart.
    let stdin = if null_there {
        Stdio::Null
    } else {
        Stdio::Fd(input_r.as_fd())
    };
    let mut command = Command::new(c"/proc/self/exe");
    command
        .arg(crate::EXEC_REPORT_ARG)
        .env(c"CLONEKIT_SET", c"by Command::env")
        .env(c"CLONEKIT_GONE", c"x")
        .env_remove(c"CLONEKIT_GONE")
        .current_dir(c"/proc")
        .stdin(stdin)
        .stdout(Stdio::Fd(w.as_fd()));
    if let Some(name) = removed {
        command.env_remove(name);
    }
    let spawned = command.spawn();
    drop(w);
    drop(input_w);
    if !null_there {
        diag!("no /dev/null here: the program's standard input is a pipe");
        // The child's open of /dev/null fails, and the error names the step.
        let refused = Command::new(c"/proc/self/exe")
            .arg(crate::EXEC_REPORT_ARG)
            .stdin(Stdio::Null)
            .spawn()
            .map(drop);
        eq(
            "spawn with Stdio::Null and no /dev/null",
            Err(SpawnError::Setup {
                step: ExecStep::Stdin,
                errno: Errno::ENOENT,
            }),
            refused,
        )?;
    }
    let mut child = spawned.ctx("spawn")?;
    let mut buf = [0u8; 16384];
    let report = read_report(&r, &mut buf)?;
    let status = child.wait();
    let mut ours = [0u8; 256];
    let our_stderr = link("fd/2", &mut ours)?;
    let mut input = [0u8; 256];
    let want_stdin: &[u8] = if null_there {
        b"/dev/null"
    } else {
        let path = procfs::PathBuf::format(format_args!("/proc/self/fd/{}", input_r.as_raw()))
            .ctx("path")?;
        fs::readlinkat(CWD, path.as_c_str(), &mut input).ctx("readlink")?
    };
    let checked = check_report(
        report,
        status,
        our_stderr,
        want_stdin,
        removed,
        removed_entry,
    );
    if checked.is_err() {
        for line in report.split(|&b| b == b'\n').take(4) {
            diag!("the program's report: {}", Text(line));
        }
    }
    checked
}

/// The checks of [`exec_command_gives_the_program_its_env_cwd_and_streams`] on the
/// program's report.
fn check_report(
    report: &[u8],
    status: Result<ExitStatus, Errno>,
    our_stderr: &[u8],
    our_stdin: &[u8],
    removed: Option<&core::ffi::CStr>,
    removed_entry: &[u8],
) -> Outcome {
    let line = |prefix: &[u8]| {
        report
            .split(|&b| b == b'\n')
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or(b"(none)")
    };
    eq("the program", Ok(ExitStatus::Exited(0)), status)?;
    eq_bytes("its working directory", b"/proc", line(b"cwd "))?;
    eq_bytes("its standard input", our_stdin, line(b"fd0 "))?;
    check(
        line(b"fd1 ").starts_with(b"pipe:"),
        format_args!("its standard output is not the pipe"),
    )?;
    eq_bytes("its standard error (ours)", our_stderr, line(b"fd2 "))?;
    check(
        contains(report, b"\nenv CLONEKIT_SET=by Command::env\n"),
        format_args!("CLONEKIT_SET is not in its environment"),
    )?;
    check(
        !contains(report, b"\nenv CLONEKIT_GONE="),
        format_args!("CLONEKIT_GONE, removed after being set, is in its environment"),
    )?;
    if let Some(name) = removed {
        let mut needle = [0u8; 262];
        let prefix = b"\nenv ";
        let len = prefix.len() + name.to_bytes().len() + 1;
        needle[..prefix.len()].copy_from_slice(prefix);
        needle[prefix.len()..len - 1].copy_from_slice(name.to_bytes());
        needle[len - 1] = b'=';
        check(
            !contains(report, &needle[..len]),
            format_args!(
                "the removed {} is in its environment",
                Text(name.to_bytes())
            ),
        )?;
    }
    // Every other variable of ours is inherited as it is.
    let mut ours = [0u8; 8192];
    let environ = crate::util::read_file(c"/proc/self/environ", &mut ours).ctx("environ")?;
    for entry in environ.split(|&b| b == 0).filter(|e| !e.is_empty()) {
        if entry == removed_entry {
            continue;
        }
        let found = report
            .split(|&b| b == b'\n')
            .any(|l| l.strip_prefix(b"env ") == Some(entry));
        check(found, format_args!("{} was not inherited", Text(entry)))?;
    }
    Ok(())
}

/// The runner found by its bare name in the `PATH` the program gets (after a directory
/// that does not exist), and a name found nowhere: `ENOENT` from the child's search.
fn exec_command_searches_path_for_a_bare_name() -> Outcome {
    let mut exe = [0u8; 512];
    let path = link("exe", &mut exe)?;
    check(
        path.len() < 512,
        format_args!("the runner's path is too long: {}", Text(path)),
    )?;
    let mut whole = [0u8; 600];
    whole[..path.len()].copy_from_slice(path);
    let whole = core::ffi::CStr::from_bytes_until_nul(&whole).map_err(|_| Fail::Failed)?;
    // Natively the runner's mount namespace has a tmpfs on /tmp, which hides a binary built
    // under /tmp (a checkout there): then the same program is searched for as `exe` in
    // /proc/self, the magic link to it.
    let hidden =
        fs::openat(CWD, whole, OFlags::PATH | OFlags::CLOEXEC, 0).err() == Some(Errno::ENOENT);
    let (dir, name): (&[u8], &[u8]) = if hidden {
        (b"/proc/self", b"exe")
    } else {
        let slash = path.iter().rposition(|&b| b == b'/').ok_or(Fail::Failed)?;
        (&path[..slash.max(1)], &path[slash + 1..])
    };
    let mut search = [0u8; 600];
    let mut program = [0u8; 300];
    let prefix = b"/nonexistent-clonekit:";
    let search_len = prefix.len() + dir.len();
    check(
        search_len < search.len() && name.len() < program.len(),
        format_args!("the runner's path is too long: {}", Text(path)),
    )?;
    search[..prefix.len()].copy_from_slice(prefix);
    search[prefix.len()..search_len].copy_from_slice(dir);
    program[..name.len()].copy_from_slice(name);
    let search = core::ffi::CStr::from_bytes_until_nul(&search).map_err(|_| Fail::Failed)?;
    let program = core::ffi::CStr::from_bytes_until_nul(&program).map_err(|_| Fail::Failed)?;
    let (r, w) = pipe2(PipeFlags::CLOEXEC).ctx("pipe2")?;
    let spawned = Command::new(program)
        .arg(crate::EXEC_REPORT_ARG)
        .env(c"PATH", search)
        .stdout(Stdio::Fd(w.as_fd()))
        .spawn();
    drop(w);
    let mut child = spawned.ctx("spawn by name")?;
    let mut buf = [0u8; 16384];
    let report = read_report(&r, &mut buf)?;
    eq(
        "the program found in PATH",
        Ok(ExitStatus::Exited(0)),
        child.wait(),
    )?;
    check(
        contains(report, b"cwd "),
        format_args!("no report from the program found in PATH"),
    )?;
    let nowhere = Command::new(c"clonekit-no-such-program")
        .env(c"PATH", c"/nonexistent-clonekit")
        .spawn();
    eq(
        "a name found nowhere",
        Err(SpawnError::Exec(Errno::ENOENT)),
        nowhere.map(drop),
    )
}
