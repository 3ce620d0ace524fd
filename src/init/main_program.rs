//! Starting the main program as tini does (`spawn` and `isolate_child` in src/tini.c).

use core::ffi::{CStr, c_char};
use core::marker::PhantomData;

use crate::Errno;
use crate::fd::{BorrowedFd, OwnedFd};
use crate::rt::Args;
use crate::sys::Pid;
use crate::sys::fs::{PipeFlags, pipe2, read_full, write_all};
use crate::sys::process::{exit_group, getpid};
use crate::task::exec::{DEFAULT_PATH, execvp};

use super::takeover::SignalsTaken;
use crate::sys::process::{fork, setpgid, tcsetpgrp};

/// The main program: its arguments (`argv[0]` names it) and environment, as the
/// NULL-terminated arrays `execve` takes.
///
/// [`MainProgram::spawn`] starts it as tini does: in a forked child that leads a process
/// group of its own, makes it the terminal's foreground group, gets the signal mask back
/// and `execve`s the program, searching `PATH` as `execvp` does. The child's exit codes
/// when that fails are tini's (and the shell's): 127 when the program is not found, 126
/// when it may not be run, 1 otherwise. It reports a failure (which step, which errno)
/// through a close-on-exec pipe, so the init can say what went wrong while the exit code
/// tells the same as tini's.
#[derive(Debug, Clone, Copy)]
pub struct MainProgram<'a> {
    argv: *const *const c_char,
    envp: *const *const c_char,
    _strings: PhantomData<&'a CStr>,
}

/// A step of the main program's start in its child, as a [`SpawnFailure`] names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpawnStep {
    /// `setpgid(0, 0)`: leading a process group of its own.
    ProcessGroup,
    /// `tcsetpgrp(0, ...)`: taking the terminal's foreground (a standard input that is
    /// no terminal, or not this session's, is no failure).
    Terminal,
    /// Restoring the signal mask and dispositions.
    Signals,
    /// `execve`, after the `PATH` search.
    Exec,
}

/// Why the main program did not start: its child ran until `step` failed with `errno` and
/// exited with [`SpawnFailure::exit_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpawnFailure {
    /// The step that failed.
    pub step: SpawnStep,
    /// Its errno.
    pub errno: Errno,
}

impl SpawnFailure {
    /// The child's exit code: 127 for a program not found (`ENOENT`), 126 for one that may
    /// not be run (`EACCES`), 1 for anything else (tini's codes, from the shell's).
    pub const fn exit_code(&self) -> i32 {
        match (self.step, self.errno) {
            (SpawnStep::Exec, Errno::ENOENT) => 127,
            (SpawnStep::Exec, Errno::EACCES) => 126,
            _ => 1,
        }
    }

    fn encode(&self) -> [u8; 8] {
        let step: u32 = match self.step {
            SpawnStep::ProcessGroup => 1,
            SpawnStep::Terminal => 2,
            SpawnStep::Signals => 3,
            SpawnStep::Exec => 4,
        };
        let [a, b, c, d] = step.to_ne_bytes();
        let [e, f, g, h] = (self.errno.raw() as u32).to_ne_bytes();
        [a, b, c, d, e, f, g, h]
    }

    fn decode(record: [u8; 8]) -> Option<SpawnFailure> {
        let [a, b, c, d, e, f, g, h] = record;
        let step = match u32::from_ne_bytes([a, b, c, d]) {
            1 => SpawnStep::ProcessGroup,
            2 => SpawnStep::Terminal,
            3 => SpawnStep::Signals,
            4 => SpawnStep::Exec,
            _ => return None,
        };
        let errno = Errno::from_raw(u32::from_ne_bytes([e, f, g, h]) as i32);
        Some(SpawnFailure { step, errno })
    }
}

impl core::fmt::Display for SpawnFailure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let step = match self.step {
            SpawnStep::ProcessGroup => "leading a process group of its own (setpgid)",
            SpawnStep::Terminal => "taking the terminal's foreground (tcsetpgrp)",
            SpawnStep::Signals => "restoring the signal mask and dispositions",
            SpawnStep::Exec => "execve",
        };
        write!(
            f,
            "the main program did not start: {step} failed: {}",
            self.errno
        )
    }
}

impl core::error::Error for SpawnFailure {}

/// The main program's child, started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Spawned {
    /// Its pid: supervise it ([`Supervisor`](super::Supervisor)); it leads the process
    /// group of the same number.
    pub pid: Pid,
    /// `Some` when the program did not start: the child has exited (or is exiting) with
    /// the failure's [`exit_code`](SpawnFailure::exit_code), and is still to be reaped.
    pub failure: Option<SpawnFailure>,
}

impl MainProgram<'static> {
    /// Arguments `first..` of this program's command line (the first of them names the
    /// program) with the environment it was started with. `None` when there is no argument
    /// `first`.
    pub fn from_args(args: &Args, first: usize) -> Option<MainProgram<'static>> {
        if first >= args.len() {
            return None;
        }
        Some(MainProgram {
            // SAFETY: `first < argc`, so the pointer stays inside the kernel's argv array,
            // whose tail from there is NULL-terminated like the whole.
            argv: unsafe { args.argv_ptr().add(first) },
            envp: args.envp_ptr(),
            _strings: PhantomData,
        })
    }
}

impl<'a> MainProgram<'a> {
    /// A main program from raw `execve` arrays.
    ///
    /// # Safety
    /// `argv` and `envp` each point to a NULL-terminated array of pointers to NUL-terminated
    /// strings, valid and unchanged for `'a`; `argv[0]` is not NULL.
    pub unsafe fn from_raw(
        argv: *const *const c_char,
        envp: *const *const c_char,
    ) -> MainProgram<'a> {
        MainProgram {
            argv,
            envp,
            _strings: PhantomData,
        }
    }

    /// `argv[0]`: the program, a path or a name to search `PATH` for.
    pub fn name(&self) -> &'a CStr {
        // SAFETY: argv[0] is a valid, non-NULL string for 'a (the constructors' contract).
        unsafe { CStr::from_ptr(*self.argv) }
    }

    /// The value of `PATH` in the environment, if set.
    fn path_variable(&self) -> Option<&'a [u8]> {
        let mut p = self.envp;
        loop {
            // SAFETY: envp is NULL-terminated (the constructors' contract); we stop there.
            let entry = unsafe { *p };
            if entry.is_null() {
                return None;
            }
            // SAFETY: a valid string for 'a.
            let bytes = unsafe { CStr::from_ptr(entry) }.to_bytes();
            if let Some(value) = bytes.strip_prefix(b"PATH=") {
                return Some(value);
            }
            // SAFETY: not yet at the NULL, so the next slot is inside the array.
            p = unsafe { p.add(1) };
        }
    }

    /// Starts the program in a forked child, as tini does (see [`MainProgram`]): the child leads a new process group, makes it the foreground group of the terminal
    /// on descriptor 0 (if that is this session's terminal), restores what `signals` took,
    /// and runs the program, searching `PATH` for a name without `/`.
    ///
    /// Returns once the child has run the program or failed to. Errors: the pipe's or the
    /// fork's errno (no child then).
    pub fn spawn(&self, signals: &SignalsTaken) -> Result<Spawned, Errno> {
        let (report_r, report_w) = pipe2(PipeFlags::CLOEXEC)?;
        // SAFETY: the child (`run_in_child`) makes only system calls on its own stack and
        // ends with execve or exit_group.
        let pid = unsafe { fork() }?;
        if pid == 0 {
            drop(report_r);
            self.run_in_child(signals, report_w);
        }
        drop(report_w);
        let mut record = [0u8; 8];
        // End of file (the write end closed by a successful execve): the program runs.
        let failure = match read_full(report_r.as_fd(), &mut record) {
            Ok(8) => SpawnFailure::decode(record),
            _ => None,
        };
        Ok(Spawned { pid, failure })
    }

    fn run_in_child(&self, signals: &SignalsTaken, report: OwnedFd) -> ! {
        let failure = self.start_in_child(signals);
        let _ = write_all(report.as_fd(), &failure.encode());
        exit_group(failure.exit_code())
    }

    /// The child's steps; returns only when one failed.
    fn start_in_child(&self, signals: &SignalsTaken) -> SpawnFailure {
        let fail = |step| move |errno| SpawnFailure { step, errno };
        if let Err(errno) = setpgid(0, 0) {
            return fail(SpawnStep::ProcessGroup)(errno);
        }
        // SAFETY: descriptor 0 is the standard input by convention; nothing else runs in
        // this child that could close or replace it, and if it is not open the call fails
        // with EBADF.
        let stdin = unsafe { BorrowedFd::borrow_raw(0) };
        match tcsetpgrp(stdin, getpid()) {
            // No terminal (or an lx-branded zone's ENXIO, as tini allows; EBADF: no
            // standard input at all).
            Ok(()) | Err(Errno::ENOTTY | Errno::ENXIO | Errno::EBADF) => {}
            Err(errno) => return fail(SpawnStep::Terminal)(errno),
        }
        // Before the mask opens: a handler of the program that started us (a std program's,
        // say) must not run in this forked child of a maybe multithreaded process.
        crate::sys::signal::reset_handlers_to_default();
        if let Err(errno) = signals.restore_in_child() {
            return fail(SpawnStep::Signals)(errno);
        }
        fail(SpawnStep::Exec)(self.exec())
    }

    /// `execvp`: the name as a path if it holds a `/`, else each directory of `PATH` (or
    /// glibc's default) in turn, as [`exec::Command`](crate::exec::Command) searches it too.
    /// Returns only on failure, with glibc's errno.
    fn exec(&self) -> Errno {
        let search = self.path_variable().unwrap_or(DEFAULT_PATH);
        // SAFETY: argv and envp are valid NULL-terminated arrays (constructors).
        unsafe { execvp(self.name(), Some(search), self.argv, self.envp) }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::init::Supervisor;
    use crate::sys::testutil::{raw_fork, wait_exit_code};

    /// Runs `argv` (with `PATH=/nowhere:/usr/bin:/bin`) as the main program in a forked
    /// child of the test (the supervisor reaps every child of its process: not in the
    /// multithreaded harness itself), and returns the init's exit code; 201 to 204 when a
    /// step failed, 203 when the spawn's failure report is not `want`.
    fn run(argv: &[*const c_char], want: Option<SpawnFailure>) -> i32 {
        let envp = [c"PATH=/nowhere:/usr/bin:/bin".as_ptr(), core::ptr::null()];
        let pid = raw_fork();
        if pid == 0 {
            // SAFETY: both arrays are NULL-terminated arrays of static strings.
            let program = unsafe { MainProgram::from_raw(argv.as_ptr(), envp.as_ptr()) };
            let code = (|| {
                let signals = SignalsTaken::take().map_err(|_| 201)?;
                let spawned = program.spawn(&signals).map_err(|_| 202)?;
                if spawned.failure != want {
                    return Err(203);
                }
                Supervisor::new(spawned.pid)
                    .run(&signals, |_| {})
                    .map(i32::from)
                    .map_err(|_| 204)
            })();
            crate::sys::process::exit_group(code.unwrap_or_else(|e| e));
        }
        wait_exit_code(pid)
    }

    #[test]
    fn spawn_searches_path_and_reports_tinis_exit_codes() {
        let null = core::ptr::null();
        // Found in PATH (after a directory that does not exist): runs and exits 0.
        assert_eq!(run(&[c"true".as_ptr(), null], None), 0);
        assert_eq!(run(&[c"false".as_ptr(), null], None), 1);
        // A path is used as given.
        assert_eq!(
            run(
                &[
                    c"/bin/sh".as_ptr(),
                    c"-c".as_ptr(),
                    c"exit 7".as_ptr(),
                    null
                ],
                None
            ),
            7
        );
        let exec = |errno| {
            Some(SpawnFailure {
                step: SpawnStep::Exec,
                errno,
            })
        };
        // Found nowhere: 127, and the errno reported.
        assert_eq!(
            run(
                &[c"clonekit-no-such-program".as_ptr(), null],
                exec(Errno::ENOENT)
            ),
            127
        );
        assert_eq!(
            run(&[c"/nonexistent/x".as_ptr(), null], exec(Errno::ENOENT)),
            127
        );
        // A directory cannot be executed: 126.
        assert_eq!(run(&[c"/".as_ptr(), null], exec(Errno::EACCES)), 126);
    }

    #[test]
    fn the_program_starts_with_sigpipe_at_its_default_though_std_ignores_it() {
        // This test program is a std one: SIGPIPE is ignored here and in the forked child
        // that spawns; the child's reset (which also takes every handler of ours away before
        // the mask opens) gives the program SIGPIPE's default, as std's Command does.
        let null = core::ptr::null();
        let script =
            c"v=$(awk '/^SigIgn/ {print $2}' /proc/self/status); [ $((0x$v & 0x1000)) -eq 0 ]";
        assert_eq!(
            run(
                &[c"/bin/sh".as_ptr(), c"-c".as_ptr(), script.as_ptr(), null],
                None
            ),
            0
        );
    }

    #[test]
    fn failure_records_round_trip_and_give_tinis_exit_codes() {
        for step in [
            SpawnStep::ProcessGroup,
            SpawnStep::Terminal,
            SpawnStep::Signals,
            SpawnStep::Exec,
        ] {
            for errno in [Errno::ENOENT, Errno::EACCES, Errno::EPERM] {
                let f = SpawnFailure { step, errno };
                assert_eq!(SpawnFailure::decode(f.encode()), Some(f));
            }
        }
        let exec = |errno| SpawnFailure {
            step: SpawnStep::Exec,
            errno,
        };
        assert_eq!(exec(Errno::ENOENT).exit_code(), 127);
        assert_eq!(exec(Errno::EACCES).exit_code(), 126);
        assert_eq!(exec(Errno::ENOEXEC).exit_code(), 1);
        let group = SpawnFailure {
            step: SpawnStep::ProcessGroup,
            errno: Errno::ENOENT,
        };
        assert_eq!(group.exit_code(), 1);
        assert_eq!(SpawnFailure::decode([9, 0, 0, 0, 2, 0, 0, 0]), None);
    }
}
