//! Starting a program, vfork-style: `clone(CLONE_VM | CLONE_VFORK | SIGCHLD)` on a small
//! stack of its own, then `execve` in the child, with the child's `execve` error reported
//! to the parent through the memory they share, or through a close-on-exec pipe where the
//! parent cannot count on sharing it.
//!
//! Two ways in: [`Command`], std's shape (a `PATH` search, the caller's environment unless
//! changed, standard streams and working directory, `spawn` or `status`), and [`spawn`],
//! `execve`'s (a path, `argv` and `envp` exactly as given: nothing inherited, nothing searched).
//!
//! This is how posix_spawn is done (glibc, musl): `CLONE_VM` saves copying the page tables,
//! `CLONE_VFORK` suspends the parent until the child has called `execve` (or exited), so
//! the pointer arrays and strings the child reads stay put, and an errno the child stores
//! before it exits is there for the parent when it resumes: no pipe, four system calls
//! fewer. Where `CLONE_VFORK` degrades to a plain fork (qemu-user does exactly that, see
//! [`program::emulated`](crate::program::emulated)) the child writes into its own copy, so
//! there the parent learns the outcome from a pipe instead: it closes its write end, then
//! reads; end of file (the write end closed by a successful `execve`) means the program
//! runs, four bytes are the child's errno.
//!
//! # What the child does
//! Only raw system calls on its own stack: it blocks no signal of its own, resets every
//! handled signal to its default (a handler must not run in a child that shares the
//! parent's memory; the parent blocks all signals around the `clone` for that window),
//! restores the parent's signal mask and calls `execve`. In a program with a libc (std test
//! binaries included) nothing else may run there: no libc, no std (no `std::println!`,
//! allocation, locks, thread-locals); code of your own in such a child must use
//! [`clonekit::sys`](crate::sys) and [`clonekit::println!`](crate::println).
//!
//! ```
//! use clonekit::{Errno, exec};
//! use clonekit::exec::{Command, SpawnError, Stdio};
//!
//! // std's shape: `sh` searched in PATH, an environment of exactly one variable, no output.
//! let status = Command::new(c"sh")
//!     .args([c"-c", c"test -z \"$HOME\" && exit $CODE"])
//!     .env_clear()
//!     .env(c"CODE", c"4")
//!     .stdout(Stdio::Null)
//!     .status()?;
//! assert_eq!(status.code(), Some(4));
//!
//! // execve's shape: the path, argv and envp as given.
//! let mut child = exec::spawn(c"/bin/sh", &[c"sh", c"-c", c"exit 5"], &[])?;
//! assert_eq!(child.wait()?.code(), Some(5));
//!
//! // A failed execve comes back as the child's own errno, the child already reaped.
//! let missing = exec::spawn(c"/no/such/program", &[c"program"], &[]);
//! assert!(matches!(missing, Err(SpawnError::Exec(Errno::ENOENT))));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # References
//! vfork(2), clone(2) `CLONE_VFORK`, execve(2), posix_spawn(3)

use core::ffi::{CStr, c_char, c_void};
use core::fmt;
use core::mem::{align_of, size_of};
use core::ptr;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::errno::Errno;
use crate::error::Error;
use crate::fd::{BorrowedFd, RawFd};
use crate::flags::{CloneFlags, ExitSignal};
use crate::process::{Child, ExitStatus, Syscall, wait_pid};
use crate::stack::Stack;
use crate::sys::fs::{
    CWD, FdFlags, OFlags, PipeFlags, chdir, fcntl, openat, pipe2, read_full, write,
};
use crate::sys::signal::{SigSet, SigmaskHow, rt_sigprocmask};
use crate::task::start::SignalsBlocked;
use linux_raw_sys::general as g;

/// The most entries [`spawn`] takes in `argv`, and separately in `envp`: the pointer
/// arrays are built on the child's stack, without an allocator.
pub const MAX_ARGS: usize = 1024;

/// The most arguments (after `argv[0]`) a [`Command`] holds: it keeps them in place,
/// without an allocator. More give [`SpawnError::Capacity`]; [`spawn`] takes slices.
pub const MAX_COMMAND_ARGS: usize = 128;

/// The most environment changes ([`Command::env`], [`Command::env_remove`]) a [`Command`]
/// holds. More give [`SpawnError::Capacity`].
pub const MAX_ENV_CHANGES: usize = 32;

/// Stack the exec child keeps for its own frames, above the pointer arrays (its `PATH`
/// search buffer included).
const CHILD_FRAMES: usize = 32 * 1024;

/// The longest path `execve` takes (`PATH_MAX`, with its NUL).
const PATH_MAX: usize = 4096;

/// `PATH` when the environment has none: glibc's `execvp` default (`_CS_PATH`).
pub(crate) const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";

/// The exit status of a child whose `execve` failed (as a shell reports "not found").
pub const EXEC_FAILED_STATUS: i32 = 127;

/// Why [`spawn`] or [`Command::spawn`] did not start the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpawnError {
    /// The child could not be created (the pipe, the stack, or the `clone` itself).
    Spawn(Error),
    /// More than [`MAX_ARGS`] entries in `argv` or `envp`.
    TooManyArgs {
        /// Entries in `argv`.
        argv: usize,
        /// Entries in `envp`.
        envp: usize,
        /// The most either may have.
        max: usize,
    },
    /// More entries were given to a [`Command`] than it holds.
    Capacity {
        /// What overflowed.
        what: Capacity,
        /// How many were given.
        given: usize,
        /// How many it holds.
        max: usize,
    },
    /// The environment change at this position (counted from 0, after the last
    /// [`Command::env_clear`]) names a variable with an empty name or one holding `=`.
    BadEnvName {
        /// Its position among the changes.
        index: usize,
    },
    /// A step before `execve` failed in the child with this errno; the child has been
    /// reaped (it exited with [`EXEC_FAILED_STATUS`]).
    Setup {
        /// The step.
        step: ExecStep,
        /// Its errno.
        errno: Errno,
    },
    /// The child's `execve` failed with this errno (for a name searched in `PATH`: the
    /// first error other than "not there", else `EACCES` if a candidate could not be run,
    /// else `ENOENT`); the child has been reaped (it exited with [`EXEC_FAILED_STATUS`]).
    Exec(Errno),
    /// [`Command::status`] started the program, but waiting for it failed.
    Wait(Errno),
}

/// What overflowed a [`Command`] ([`SpawnError::Capacity`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capacity {
    /// The arguments ([`MAX_COMMAND_ARGS`]).
    Args,
    /// The environment changes ([`MAX_ENV_CHANGES`]).
    EnvChanges,
}

/// A step the exec child takes before `execve` ([`SpawnError::Setup`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecStep {
    /// Setting up standard input (opening `/dev/null`, or `dup3` onto descriptor 0).
    Stdin,
    /// Setting up standard output (descriptor 1).
    Stdout,
    /// Setting up standard error (descriptor 2).
    Stderr,
    /// `chdir` to [`Command::current_dir`].
    CurrentDir,
}

impl ExecStep {
    /// The step's code in the child's report (0 is "no failure", [`EXEC_STEP`] `execve`).
    const fn code(self) -> u32 {
        match self {
            ExecStep::Stdin => 1,
            ExecStep::Stdout => 2,
            ExecStep::Stderr => 3,
            ExecStep::CurrentDir => 4,
        }
    }

    const fn from_code(code: u32) -> Option<ExecStep> {
        match code {
            1 => Some(ExecStep::Stdin),
            2 => Some(ExecStep::Stdout),
            3 => Some(ExecStep::Stderr),
            4 => Some(ExecStep::CurrentDir),
            _ => None,
        }
    }

    /// The standard stream of descriptor `fd` (0, 1 or 2).
    const fn of_stream(fd: usize) -> ExecStep {
        match fd {
            0 => ExecStep::Stdin,
            1 => ExecStep::Stdout,
            _ => ExecStep::Stderr,
        }
    }
}

/// The report code of the `execve` step.
const EXEC_STEP: u32 = 5;

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::Spawn(e) => write!(f, "cannot start the child: {e}"),
            SpawnError::TooManyArgs { argv, envp, max } => write!(
                f,
                "{argv} arguments and {envp} environment entries: at most {max} of each"
            ),
            SpawnError::Capacity { what, given, max } => {
                let what = match what {
                    Capacity::Args => "arguments",
                    Capacity::EnvChanges => "environment changes",
                };
                write!(
                    f,
                    "{given} {what} given to a Command, which holds {max} (exec::spawn takes \
                     slices of any length)"
                )
            }
            SpawnError::BadEnvName { index } => write!(
                f,
                "environment change {index} names a variable with an empty name or one \
                 holding '='"
            ),
            SpawnError::Setup { step, errno } => {
                let step = match step {
                    ExecStep::Stdin => "setting up standard input",
                    ExecStep::Stdout => "setting up standard output",
                    ExecStep::Stderr => "setting up standard error",
                    ExecStep::CurrentDir => "changing to the working directory",
                };
                write!(f, "{step} failed in the child: {errno}")
            }
            SpawnError::Exec(errno) => write!(f, "execve failed in the child: {errno}"),
            SpawnError::Wait(errno) => write!(f, "waiting for the program failed: {errno}"),
        }
    }
}

impl core::error::Error for SpawnError {}

impl From<Error> for SpawnError {
    fn from(e: Error) -> SpawnError {
        SpawnError::Spawn(e)
    }
}

impl From<Errno> for SpawnError {
    fn from(errno: Errno) -> SpawnError {
        SpawnError::Spawn(Error::Os(errno))
    }
}

/// What a standard stream of the program is ([`Command::stdin`], [`Command::stdout`],
/// [`Command::stderr`]), as std's `Stdio`.
///
/// Unlike std's there is no `piped()`: the pipe's ends would have to live in the [`Child`]
/// (std's `ChildStdout`, ...), and a clonekit `Child` is the same for every spawner; make a
/// pipe ([`pipe2`](crate::sys::fs::pipe2)) and give its end as [`Stdio::Fd`] instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stdio<'a> {
    /// The caller's own (std's `Stdio::inherit()`; the default).
    #[default]
    Inherit,
    /// `/dev/null`, opened for reading and writing (std's `Stdio::null()`).
    Null,
    /// This descriptor, borrowed until the program runs: the program gets its own
    /// reference to the open file as descriptor 0, 1 or 2 (close-on-exec cleared).
    Fd(BorrowedFd<'a>),
}

impl<'a> From<BorrowedFd<'a>> for Stdio<'a> {
    fn from(fd: BorrowedFd<'a>) -> Stdio<'a> {
        Stdio::Fd(fd)
    }
}

/// One change to the inherited environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EnvChange<'a> {
    Set(&'a CStr, &'a CStr),
    Remove(&'a CStr),
}

impl<'a> EnvChange<'a> {
    const fn key(&self) -> &'a CStr {
        match self {
            EnvChange::Set(key, _) | EnvChange::Remove(key) => key,
        }
    }
}

/// A program to run, as std's `std::process::Command`: arguments, an environment inherited
/// unless changed ([`Command::env`], [`Command::env_remove`], [`Command::env_clear`]), a
/// working directory, standard streams; `PATH` is searched for a program named without a
/// `/`. [`Command::spawn`] starts it vfork-style (see the [module docs](self)).
///
/// ```
/// use clonekit::exec::{Command, Stdio};
/// use clonekit::sys::fs::{PipeFlags, pipe2, read};
///
/// let (r, w) = pipe2(PipeFlags::CLOEXEC)?;
/// let mut child = Command::new(c"sh") // found in PATH
///     .args([c"-c", c"echo \"$GREETING from $(pwd)\""])
///     .env(c"GREETING", c"hello")
///     .current_dir(c"/")
///     .stdout(Stdio::Fd(w.as_fd()))
///     .stderr(Stdio::Null)
///     .spawn()?;
/// drop(w);
/// let mut out = [0u8; 64];
/// let n = read(&r, &mut out)?;
/// assert_eq!(&out[..n], b"hello from /\n");
/// assert!(child.wait()?.success());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Where it differs from std's, on purpose: it holds borrowed C strings (`&CStr`, no
/// `OsString`) in place, up to [`MAX_COMMAND_ARGS`] arguments and [`MAX_ENV_CHANGES`]
/// environment changes, and names what overflowed at `spawn` ([`SpawnError::Capacity`]),
/// because clonekit has no allocator; it has no `output()` (which collects into a `Vec`)
/// and no piped [`Stdio`]; and its error names the child's step and errno
/// ([`SpawnError`]) rather than an `io::Error`.
///
/// **The inherited environment is read without std's environment lock.** In a program with a
/// libc, `spawn` reads the libc's `environ` array as it is; std's `Command` reads it under
/// std's own lock. A thread that calls `std::env::set_var` or `remove_var` at the same time
/// can free the array being read: that is why those functions are `unsafe` (in every
/// edition; the 2021 edition only lets them be called without an `unsafe` block), and their
/// contract (no other thread reads the environment meanwhile, through std or not) covers
/// this read too: keeping it is their caller's duty, as for a C `getenv` in another thread.
/// A program that cannot vouch for every thread can give the child its whole environment
/// with [`Command::env_clear`] and [`Command::env`] (then nothing is inherited and nothing
/// is read).
///
/// What it borrows stays borrowed while the builder lives:
///
/// ```compile_fail,E0505
/// use clonekit::exec::{Command, Stdio};
/// use clonekit::sys::fs::{PipeFlags, pipe2};
/// let (_r, w) = pipe2(PipeFlags::CLOEXEC)?;
/// let mut command = Command::new(c"true");
/// command.stdout(Stdio::Fd(w.as_fd()));
/// drop(w);
/// command.spawn()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Command<'a> {
    program: &'a CStr,
    arg0: Option<&'a CStr>,
    args: [&'a CStr; MAX_COMMAND_ARGS],
    /// How many arguments were given (more than [`MAX_COMMAND_ARGS`]: refused at spawn).
    nargs: usize,
    changes: [Option<EnvChange<'a>>; MAX_ENV_CHANGES],
    /// How many changes were given since the last `env_clear`.
    nchanges: usize,
    clear: bool,
    stdio: [Stdio<'a>; 3],
    cwd: Option<&'a CStr>,
}

impl fmt::Debug for Command<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("program", &self.program)
            .field("arg0", &self.arg0)
            .field("args", &&self.args[..self.nargs.min(MAX_COMMAND_ARGS)])
            .field("env_clear", &self.clear)
            .field("env", &&self.changes[..self.nchanges.min(MAX_ENV_CHANGES)])
            .field("stdio", &self.stdio)
            .field("current_dir", &self.cwd)
            .finish()
    }
}

impl<'a> Command<'a> {
    /// The program `program`, with no arguments but its name (`argv[0]`), the caller's
    /// environment, working directory and standard streams. A `program` without a `/` is
    /// searched in the directories of `PATH` (the one the program will get, else
    /// `/bin:/usr/bin`) as `execvp` does; one with a `/` is used as given (relative to
    /// [`Command::current_dir`] when that is set: the child changes directory first).
    pub fn new(program: &'a CStr) -> Command<'a> {
        Command {
            program,
            arg0: None,
            args: [c""; MAX_COMMAND_ARGS],
            nargs: 0,
            changes: [None; MAX_ENV_CHANGES],
            nchanges: 0,
            clear: false,
            stdio: [Stdio::Inherit; 3],
            cwd: None,
        }
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: &'a CStr) -> &mut Command<'a> {
        if let Some(slot) = self.args.get_mut(self.nargs) {
            *slot = arg;
        }
        self.nargs += 1;
        self
    }

    /// Adds arguments.
    pub fn args<I>(&mut self, args: I) -> &mut Command<'a>
    where
        I: IntoIterator<Item = &'a CStr>,
    {
        for arg in args {
            self.arg(arg);
        }
        self
    }

    /// The program's `argv[0]`, if not the program as given (std's `CommandExt::arg0`).
    pub fn arg0(&mut self, arg0: &'a CStr) -> &mut Command<'a> {
        self.arg0 = Some(arg0);
        self
    }

    /// Sets the variable `key` to `val` in the program's environment.
    pub fn env(&mut self, key: &'a CStr, val: &'a CStr) -> &mut Command<'a> {
        self.change(EnvChange::Set(key, val))
    }

    /// Removes the variable `key` from the program's environment (an inherited one, or one
    /// set before).
    pub fn env_remove(&mut self, key: &'a CStr) -> &mut Command<'a> {
        self.change(EnvChange::Remove(key))
    }

    /// Inherits nothing, and forgets the variables set so far: the program's environment
    /// is what [`Command::env`] sets from now on.
    pub fn env_clear(&mut self) -> &mut Command<'a> {
        self.clear = true;
        self.nchanges = 0;
        self.changes = [None; MAX_ENV_CHANGES];
        self
    }

    fn change(&mut self, change: EnvChange<'a>) -> &mut Command<'a> {
        if let Some(slot) = self.changes.get_mut(self.nchanges) {
            *slot = Some(change);
        }
        self.nchanges += 1;
        self
    }

    /// The program's working directory (std's `current_dir`), which the child changes to
    /// before `execve`.
    pub fn current_dir(&mut self, dir: &'a CStr) -> &mut Command<'a> {
        self.cwd = Some(dir);
        self
    }

    /// The program's standard input, descriptor 0.
    pub fn stdin(&mut self, stdio: Stdio<'a>) -> &mut Command<'a> {
        self.stdio[0] = stdio;
        self
    }

    /// The program's standard output, descriptor 1.
    pub fn stdout(&mut self, stdio: Stdio<'a>) -> &mut Command<'a> {
        self.stdio[1] = stdio;
        self
    }

    /// The program's standard error, descriptor 2.
    pub fn stderr(&mut self, stdio: Stdio<'a>) -> &mut Command<'a> {
        self.stdio[2] = stdio;
        self
    }

    /// The program as given to [`Command::new`].
    pub fn get_program(&self) -> &'a CStr {
        self.program
    }

    /// Starts the program; returns once it runs (its `execve` succeeded), with a [`Child`]
    /// to wait for, or with what failed in the child ([`SpawnError::Setup`],
    /// [`SpawnError::Exec`]) after reaping it.
    ///
    /// The inherited environment is the caller's now: in a program with a libc, what its
    /// `environ` holds (std's `set_var` included; that function's `unsafe` contract, no
    /// other thread reading the environment meanwhile, covers this read too); in an
    /// `entry!` program, the one the kernel gave it.
    pub fn spawn(&mut self) -> Result<Child, SpawnError> {
        if self.nargs > MAX_COMMAND_ARGS {
            return Err(SpawnError::Capacity {
                what: Capacity::Args,
                given: self.nargs,
                max: MAX_COMMAND_ARGS,
            });
        }
        if self.nchanges > MAX_ENV_CHANGES {
            return Err(SpawnError::Capacity {
                what: Capacity::EnvChanges,
                given: self.nchanges,
                max: MAX_ENV_CHANGES,
            });
        }
        let changes = &self.changes[..self.nchanges];
        for (index, change) in changes.iter().enumerate() {
            let key = change.map_or(&[][..], |c| c.key().to_bytes());
            if key.is_empty() || key.contains(&b'=') {
                return Err(SpawnError::BadEnvName { index });
            }
        }
        let plan = Plan {
            program: self.program,
            search: !self.program.to_bytes().contains(&b'/'),
            argv: Argv::Command {
                arg0: self.arg0.unwrap_or(self.program),
                args: &self.args[..self.nargs],
            },
            env: Env::Merged {
                inherit: !self.clear,
                changes,
            },
            stdio: self.stdio,
            cwd: self.cwd,
        };
        spawn_plan(&plan, report_kind())
    }

    /// Starts the program and waits for it (std's `status`).
    pub fn status(&mut self) -> Result<ExitStatus, SpawnError> {
        self.spawn()?.wait().map_err(SpawnError::Wait)
    }
}

/// Starts the program at `path` with arguments `argv` (by convention `argv[0]` is its name)
/// and environment `envp` (`"NAME=value"` entries), vfork-style: `execve`'s shape.
///
/// Returns once the program runs (its `execve` succeeded), with a [`Child`] to wait for; or
/// [`SpawnError::Exec`] with the child's errno (`ENOENT`, `EACCES`, ...) after reaping it.
///
/// Unlike std's `Command`, and on purpose (it is `execve`'s shape, for callers that hold the
/// arrays already), `envp` is the whole environment (`&[]` is an empty one), `path` is used
/// as given (no `PATH` search) and the standard streams and working directory are the
/// caller's; [`Command`] inherits the environment, searches `PATH` and sets up the rest.
///
/// The child only makes raw system calls (see the [module docs](self)); in a program with a
/// libc (std test binaries included) that is what makes it safe, also in a multithreaded
/// one.
pub fn spawn(path: &CStr, argv: &[&CStr], envp: &[&CStr]) -> Result<Child, SpawnError> {
    spawn_reporting(path, argv, envp, report_kind())
}

/// How the child's failure reaches the parent here.
fn report_kind() -> Report {
    if crate::program::emulated() {
        Report::Pipe
    } else {
        Report::SharedMemory
    }
}

fn spawn_reporting(
    path: &CStr,
    argv: &[&CStr],
    envp: &[&CStr],
    report: Report,
) -> Result<Child, SpawnError> {
    if argv.len() > MAX_ARGS || envp.len() > MAX_ARGS {
        return Err(SpawnError::TooManyArgs {
            argv: argv.len(),
            envp: envp.len(),
            max: MAX_ARGS,
        });
    }
    let plan = Plan {
        program: path,
        search: false,
        argv: Argv::Slice(argv),
        env: Env::Exactly(envp),
        stdio: [Stdio::Inherit; 3],
        cwd: None,
    };
    spawn_plan(&plan, report)
}

/// What a spawn starts, from either entry point.
struct Plan<'p> {
    program: &'p CStr,
    /// Search `PATH` for `program` (it has no `/`).
    search: bool,
    argv: Argv<'p>,
    env: Env<'p>,
    stdio: [Stdio<'p>; 3],
    cwd: Option<&'p CStr>,
}

enum Argv<'p> {
    /// `argv` as given.
    Slice(&'p [&'p CStr]),
    /// `arg0`, then `args`.
    Command {
        arg0: &'p CStr,
        args: &'p [&'p CStr],
    },
}

impl Argv<'_> {
    fn len(&self) -> usize {
        match self {
            Argv::Slice(argv) => argv.len(),
            Argv::Command { args, .. } => 1 + args.len(),
        }
    }

    fn for_each(&self, mut f: impl FnMut(&CStr)) {
        match self {
            Argv::Slice(argv) => argv.iter().for_each(|a| f(a)),
            Argv::Command { arg0, args } => {
                f(arg0);
                args.iter().for_each(|a| f(a));
            }
        }
    }
}

enum Env<'p> {
    /// This environment and no other.
    Exactly(&'p [&'p CStr]),
    /// The caller's (when `inherit`), changed by `changes` (the last change of a name wins).
    Merged {
        inherit: bool,
        changes: &'p [Option<EnvChange<'p>>],
    },
}

/// The bytes of a `NAME=value` entry up to its first `=` (all of it without one).
fn entry_name(entry: &[u8]) -> &[u8] {
    entry.split(|&b| b == b'=').next().unwrap_or(entry)
}

/// One entry of the program's environment, as [`Env::for_each`] gives it.
#[derive(Clone, Copy)]
enum EnvEntry<'p> {
    /// A `NAME=value` string, kept as it is (the caller's or the inherited environment's).
    Kept(*const c_char),
    /// A variable set with [`Command::env`]: its string is still to be made.
    Set(&'p CStr, &'p CStr),
}

impl<'p> Env<'p> {
    /// Calls `f` with each entry of the program's environment, in order; stops early when
    /// `f` returns `false`.
    fn for_each(&self, mut f: impl FnMut(EnvEntry<'p>) -> bool) {
        match *self {
            Env::Exactly(envp) => {
                for var in envp {
                    if !f(EnvEntry::Kept(var.as_ptr())) {
                        return;
                    }
                }
            }
            Env::Merged { inherit, changes } => {
                let changed =
                    |name: &[u8]| changes.iter().flatten().any(|c| c.key().to_bytes() == name);
                if inherit {
                    let mut p = crate::rt::environ();
                    while !p.is_null() {
                        // SAFETY: the environment is a NULL-terminated array of strings,
                        // unchanged while we read (see `rt::environ`); we stop at the NULL.
                        let entry = unsafe { *p };
                        if entry.is_null() {
                            break;
                        }
                        // SAFETY: as above, a NUL-terminated string.
                        let bytes = unsafe { CStr::from_ptr(entry) }.to_bytes();
                        if !changed(entry_name(bytes)) && !f(EnvEntry::Kept(entry)) {
                            return;
                        }
                        // SAFETY: not at the NULL yet: the next slot is in the array.
                        p = unsafe { p.add(1) };
                    }
                }
                for (i, change) in changes.iter().enumerate() {
                    let Some(EnvChange::Set(key, val)) = change else {
                        continue;
                    };
                    let later = changes[i + 1..].iter().flatten().any(|c| c.key() == *key);
                    if !later && !f(EnvEntry::Set(key, val)) {
                        return;
                    }
                }
            }
        }
    }
}

/// How a standard stream reaches the child: -1 inherit, -2 `/dev/null`, else a number (a
/// `BorrowedFd` is never -1 or -2: it is open, or `AT_FDCWD`, -100).
const STDIO_INHERIT: RawFd = -1;
const STDIO_NULL: RawFd = -2;

/// What the exec child needs, at the top of its stack.
#[repr(C)]
struct ExecRequest {
    path: *const c_char,
    /// The `PATH` value to search for `path` (`search_len` bytes), or null: `path` as given.
    search: *const u8,
    search_len: usize,
    argv: *const *const c_char,
    envp: *const *const c_char,
    /// Descriptors 0, 1 and 2: [`STDIO_INHERIT`], [`STDIO_NULL`] or a number open in the
    /// child's copy of the descriptor table.
    stdio: [RawFd; 3],
    /// The directory to change to first, or null.
    cwd: *const c_char,
    /// The number of the error pipe's write end (close-on-exec, above 2), open in the
    /// child's own copy of the descriptor table; -1 when the report goes through `failure`
    /// alone.
    err_fd: RawFd,
    /// Where the child stores what failed (0 while nothing has): the step's code in the
    /// high half, the errno in the low. The parent reads it once `clone` returns, which
    /// `CLONE_VFORK` delays until the child has exec'd or exited.
    failure: AtomicU64,
    /// The parent's signal mask before it blocked everything, for the program.
    mask: SigSet,
}

/// How the exec child's error reaches the parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Report {
    /// The memory they share (`CLONE_VM`), read once `CLONE_VFORK` lets the parent resume.
    SharedMemory,
    /// A close-on-exec pipe, for where `CLONE_VFORK` degrades to a fork.
    Pipe,
}

/// Hands out space from the top of a stack down.
struct Carve {
    at: usize,
}

impl Carve {
    /// `size` bytes aligned to `align`, below what was handed out before.
    fn take(&mut self, size: usize, align: usize) -> usize {
        self.at = (self.at - size) & !(align - 1);
        self.at
    }
}

/// The child's failure report, decoded.
fn decode_failure(record: u64) -> Option<SpawnError> {
    let (step, errno) = ((record >> 32) as u32, Errno::from_raw(record as u32 as i32));
    match step {
        0 => None,
        EXEC_STEP => Some(SpawnError::Exec(errno)),
        other => ExecStep::from_code(other).map(|step| SpawnError::Setup { step, errno }),
    }
}

fn spawn_plan(plan: &Plan<'_>, report: Report) -> Result<Child, SpawnError> {
    // Count what goes on the child's stack: argv, the environment and the strings of the
    // variables set here.
    let argc = plan.argv.len();
    let (mut envc, mut set_bytes) = (0usize, 0usize);
    plan.env.for_each(|entry| {
        envc += 1;
        if let EnvEntry::Set(key, val) = entry {
            set_bytes += key.to_bytes().len() + 1 + val.to_bytes_with_nul().len();
        }
        true
    });
    let word = size_of::<*const c_char>();
    let pointers = (argc + 1 + envc + 1) * word;
    let size = CHILD_FRAMES
        .checked_add(pointers)
        .and_then(|n| n.checked_add(set_bytes))
        .and_then(|n| n.checked_add(size_of::<ExecRequest>() + 64))
        .ok_or(SpawnError::Spawn(Error::Os(Errno::E2BIG)))?;
    let stack = Stack::new(size).map_err(Error::Stack)?;
    let pipe = match report {
        Report::Pipe => {
            let (r, w) = pipe2(PipeFlags::CLOEXEC)?;
            // Above the standard streams, which the child may replace before it reports.
            let w = if w.as_raw() < 3 { w.try_clone()? } else { w };
            Some((r, w))
        }
        Report::SharedMemory => None,
    };

    // From the top down: the request, the strings of the variables set, the envp array,
    // the argv array; the child's frames below.
    let mut carve = Carve {
        at: stack.top() as usize,
    };
    let request = carve.take(size_of::<ExecRequest>(), align_of::<ExecRequest>());
    let strings = carve.take(set_bytes, 1);
    let envp_array = carve.take((envc + 1) * word, word) as *mut *const c_char;
    let argv_array = carve.take((argc + 1) * word, word) as *mut *const c_char;
    let sp = carve.take(0, 16);
    // Writes stay inside the `pointers + set_bytes + size_of::<ExecRequest>() + 64` bytes
    // at the top of the stack, which has CHILD_FRAMES more than that: each array is
    // written only up to the count it was carved for, should the environment have grown.
    let mut i = 0;
    plan.argv.for_each(|arg| {
        if i < argc {
            // SAFETY: inside the argv array (see above), aligned for a pointer.
            unsafe { argv_array.add(i).write(arg.as_ptr()) };
            i += 1;
        }
    });
    // SAFETY: the array has `argc + 1` slots; `i <= argc`.
    unsafe { argv_array.add(i).write(ptr::null()) };
    let (mut n, mut string) = (0usize, strings);
    plan.env.for_each(|entry| {
        if n == envc {
            return false;
        }
        let pointer = match entry {
            EnvEntry::Kept(pointer) => pointer,
            EnvEntry::Set(key, val) => {
                let (key, val) = (key.to_bytes(), val.to_bytes_with_nul());
                let len = key.len() + 1 + val.len();
                if string + len > strings + set_bytes {
                    return false;
                }
                let at = string as *mut u8;
                // SAFETY: `len` bytes from `string` lie inside the strings area (checked
                // just above), which nothing else uses.
                unsafe {
                    ptr::copy_nonoverlapping(key.as_ptr(), at, key.len());
                    at.add(key.len()).write(b'=');
                    ptr::copy_nonoverlapping(val.as_ptr(), at.add(key.len() + 1), val.len());
                }
                string += len;
                at.cast_const().cast()
            }
        };
        // SAFETY: slot `n < envc` of the envp array (see above).
        unsafe { envp_array.add(n).write(pointer) };
        n += 1;
        true
    });
    // SAFETY: the array has `envc + 1` slots; `n <= envc`.
    unsafe { envp_array.add(n).write(ptr::null()) };

    // The PATH the program gets (or the default) when the program is to be searched for.
    let search: Option<&[u8]> = plan.search.then(|| {
        // SAFETY: the envp array just written: `n` valid strings.
        let envp = unsafe { core::slice::from_raw_parts(envp_array.cast_const(), n) };
        envp.iter()
            // SAFETY: each entry is a NUL-terminated string, valid until we return.
            .map(|&entry| unsafe { CStr::from_ptr(entry) }.to_bytes())
            .find_map(|entry| entry.strip_prefix(b"PATH="))
            .unwrap_or(DEFAULT_PATH)
    });
    let stdio = plan.stdio.map(|s| match s {
        Stdio::Inherit => STDIO_INHERIT,
        Stdio::Null => STDIO_NULL,
        Stdio::Fd(fd) => fd.as_raw(),
    });

    // No handler may run in the child while it shares our memory: block everything until
    // the child has reset its handlers (it restores this mask itself before execve).
    let blocked = SignalsBlocked::block_all()?;
    let mask = blocked.previous();
    let request = request as *mut ExecRequest;
    // SAFETY: inside the stack, aligned, unused (see above).
    unsafe {
        request.write(ExecRequest {
            path: plan.program.as_ptr(),
            search: search.map_or(ptr::null(), <[u8]>::as_ptr),
            search_len: search.map_or(0, <[u8]>::len),
            argv: argv_array,
            envp: envp_array,
            stdio,
            cwd: plan.cwd.map_or(ptr::null(), CStr::as_ptr),
            err_fd: pipe.as_ref().map_or(-1, |(_, w)| w.as_raw()),
            failure: AtomicU64::new(0),
            mask,
        });
    }
    // The child runs on the stack below `sp`, which is its alone; it reads the
    // request, strings and arrays above `sp` and the caller's strings (and the
    // environment's), all of which stay valid until this function returns, and with
    // CLONE_VFORK the kernel returns here only after the child has exec'd or exited
    // (without it, the child reads its own copies). No pointer flags are set.
    // `exec_child` makes only raw syscalls.
    // SAFETY: the points above are what the raw entry point's contract asks for.
    let created = unsafe {
        crate::raw::clone(
            CloneFlags::VM | CloneFlags::VFORK,
            ExitSignal::SIGCHLD,
            sp as *mut u8,
            ptr::null_mut(),
            ptr::null_mut(),
            0,
            exec_child,
            request.cast::<c_void>(),
        )
    };
    drop(blocked);
    let pid = created?;
    let failed = match pipe {
        // CLONE_VFORK: the child has exec'd or exited by now; what it stored is here.
        // SAFETY: the request lies in our stack mapping, which we still own.
        None => decode_failure(unsafe { (*request).failure.load(Ordering::Acquire) }),
        Some((read_end, write_end)) => {
            // Our write end must be gone before we read, or the read never sees end of file.
            drop(write_end);
            let mut record = [0u8; 8];
            // Eight bytes: the child's report; fewer (end of file at its execve) or a
            // failed read (its fate unknown): hand the child back rather than block on it.
            let got = read_full(read_end.as_fd(), &mut record);
            (got == Ok(record.len()))
                .then(|| decode_failure(u64::from_ne_bytes(record)))
                .flatten()
        }
    };
    if let Some(error) = failed {
        // The child is exiting with EXEC_FAILED_STATUS; reap it so no zombie is left.
        let _ = wait_pid(pid);
        return Err(error);
    }
    // The child has exec'd: it no longer uses the stack, which the Child may free at once.
    Ok(Child::from_parts(
        pid,
        Some(stack),
        None,
        Syscall::Clone,
        false,
    ))
}

/// The exec child: resets signal handlers, sets up its standard streams and working
/// directory, restores the mask, `execve`s (searching `PATH` if asked), and on failure
/// stores what failed in the request (and writes it to the pipe, if there is one) and
/// exits with [`EXEC_FAILED_STATUS`] (through `exit_group`, see
/// [`end_process`](crate::task::spawn::end_process)).
///
/// # Safety
/// `arg` points at the [`ExecRequest`] `spawn` built, whose pointers are valid.
unsafe extern "C" fn exec_child(arg: *mut c_void) -> i32 {
    // SAFETY: see above; we only read it (and store into its atomic).
    let request = unsafe { &*arg.cast::<ExecRequest>() };
    // Handled signals must not reach a handler in our memory after execve failed; and
    // SIGPIPE, which std ignores in its programs, is given back its default so the program
    // starts as `std::process::Command` would start it.
    crate::sys::signal::reset_handlers_to_default();
    // SAFETY: the request's pointers are valid (this function's contract).
    let (step, errno) = unsafe { set_up_and_exec(request) };
    let record = (u64::from(step) << 32) | u64::from(errno.raw() as u32);
    // Shared with the parent (CLONE_VM), which reads it once we have exited.
    request.failure.store(record, Ordering::Release);
    if request.err_fd >= 0 {
        // Without CLONE_FILES the child got its own copy of the descriptor table when it was
        // created, while `spawn` held the write end open (above 2, so the stream set-up
        // left it alone); in that copy nothing closes it (only a successful execve would,
        // and it failed), whatever the parent does with its own.
        // SAFETY: so the number stays open in this child for the borrow.
        let err_fd = unsafe { BorrowedFd::borrow_raw(request.err_fd) };
        let _ = write(err_fd, &record.to_ne_bytes());
    }
    crate::task::spawn::end_process(EXEC_FAILED_STATUS)
}

/// The exec child's steps; returns only on failure, with the step's code and errno.
///
/// # Safety
/// As for [`exec_child`].
unsafe fn set_up_and_exec(request: &ExecRequest) -> (u32, Errno) {
    if let Err((step, errno)) = redirect_standard_streams(request.stdio) {
        return (step.code(), errno);
    }
    if !request.cwd.is_null() {
        // SAFETY: the caller's NUL-terminated string, valid while the parent waits.
        let dir = unsafe { CStr::from_ptr(request.cwd) };
        if let Err(errno) = chdir(dir) {
            return (ExecStep::CurrentDir.code(), errno);
        }
    }
    let _ = rt_sigprocmask(SigmaskHow::SetMask, Some(&request.mask));
    // SAFETY: `path` is the caller's NUL-terminated string; the search bytes are the PATH
    // value (or the default), valid while the parent waits.
    let (path, search) = unsafe {
        let search = (!request.search.is_null())
            .then(|| core::slice::from_raw_parts(request.search, request.search_len));
        (CStr::from_ptr(request.path), search)
    };
    // SAFETY: `argv`/`envp` are NULL-terminated arrays of NUL-terminated strings, all valid
    // until `spawn` returns, which is after this call (CLONE_VFORK) or in another copy of
    // memory.
    let errno = unsafe { execvp(path, search, request.argv, request.envp) };
    (EXEC_STEP, errno)
}

/// In the exec child, on its own copy of the descriptor table: makes descriptors 0, 1 and 2
/// what `stdio` says ([`STDIO_INHERIT`]: left alone; [`STDIO_NULL`]: `/dev/null`; else a
/// duplicate of that number, close-on-exec cleared). A source that is itself one of 0-2
/// and bound elsewhere is first copied above 2, so no replacement clobbers another's
/// source; the copies (and `/dev/null`'s descriptor) are close-on-exec, gone at `execve`.
fn redirect_standard_streams(stdio: [RawFd; 3]) -> Result<(), (ExecStep, Errno)> {
    if stdio == [STDIO_INHERIT; 3] {
        return Ok(());
    }
    let mut source = [STDIO_INHERIT; 3];
    let mut null: Option<RawFd> = None;
    for (target, &wanted) in stdio.iter().enumerate() {
        let step = ExecStep::of_stream(target);
        source[target] = match wanted {
            STDIO_INHERIT => continue,
            STDIO_NULL => match null {
                Some(fd) => fd,
                None => {
                    let fd = open_dev_null().map_err(|e| (step, e))?;
                    null = Some(fd);
                    fd
                }
            },
            fd if (0..3).contains(&fd) && fd != target as RawFd => {
                dup_above_2(fd).map_err(|e| (step, e))?
            }
            fd => fd,
        };
    }
    for (target, &fd) in source.iter().enumerate() {
        let step = ExecStep::of_stream(target);
        if fd == STDIO_INHERIT {
            continue;
        }
        if fd == target as RawFd {
            // Already there: only make it survive the execve.
            fcntl(fd, g::F_SETFD, 0).map_err(|e| (step, e))?;
        } else {
            // SAFETY: `fd` is open in this child's own table (the caller's borrow, or one
            // made above), and descriptors 0-2 of that table are this child's to replace:
            // nothing here uses them as the files they were.
            unsafe {
                crate::sys::fs::dup3(
                    BorrowedFd::borrow_raw(fd),
                    target as RawFd,
                    FdFlags::empty(),
                )
            }
            .map_err(|e| (step, e))?;
        }
    }
    Ok(())
}

/// `/dev/null` for reading and writing, close-on-exec, at a number above 2.
fn open_dev_null() -> Result<RawFd, Errno> {
    let fd = openat(CWD, c"/dev/null", OFlags::RDWR | OFlags::CLOEXEC, 0)?;
    if fd.as_raw() < 3 {
        // A standard stream was closed and took it: move it up (dropping the low one).
        return Ok(fd.try_clone()?.into_raw());
    }
    Ok(fd.into_raw())
}

/// A close-on-exec duplicate of `fd` at the lowest free number above 2.
fn dup_above_2(fd: RawFd) -> Result<RawFd, Errno> {
    fcntl(fd, g::F_DUPFD_CLOEXEC, 3).map(|n| n as RawFd)
}

/// `execvp`: `name` as a path when `search` is `None` or it holds a `/`, else each
/// directory of `search` (a `PATH` value) in turn. Returns only on failure, with glibc's
/// errno: the first error other than "not there" ends the search; `EACCES` if some
/// candidate was not executable; else `ENOENT`.
///
/// # Safety
/// `argv` and `envp` are NULL-terminated arrays of pointers to NUL-terminated strings,
/// valid for the call.
pub(crate) unsafe fn execvp(
    name: &CStr,
    search: Option<&[u8]>,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> Errno {
    let Some(search) = search.filter(|_| !name.to_bytes().contains(&b'/')) else {
        // SAFETY: the caller's arrays (this function's contract).
        return unsafe { crate::sys::process::execve(name, argv, envp) };
    };
    if name.is_empty() {
        return Errno::ENOENT;
    }
    let mut seen_eacces = false;
    let mut buf = [0u8; PATH_MAX];
    for dir in search.split(|&b| b == b':') {
        let Some(candidate) = join(&mut buf, dir, name.to_bytes()) else {
            continue; // too long for a path: cannot exist
        };
        // SAFETY: as above; `candidate` is NUL-terminated in `buf`.
        match unsafe { crate::sys::process::execve(candidate, argv, envp) } {
            Errno::EACCES => seen_eacces = true,
            // Not in this directory: go on (glibc's list).
            Errno::ENOENT | Errno::ESTALE | Errno::ENOTDIR | Errno::ENODEV | Errno::ETIMEDOUT => {}
            other => return other,
        }
    }
    if seen_eacces {
        Errno::EACCES
    } else {
        Errno::ENOENT
    }
}

/// `dir/name` with a NUL in `buf` (just `name` for an empty `dir`: the current directory,
/// as in glibc); `None` if it does not fit.
pub(crate) fn join<'b>(buf: &'b mut [u8], dir: &[u8], name: &[u8]) -> Option<&'b CStr> {
    let slash: &[u8] = if dir.is_empty() { b"" } else { b"/" };
    let mut len = 0;
    for &b in dir.iter().chain(slash).chain(name).chain(&[0]) {
        *buf.get_mut(len)? = b;
        len += 1;
    }
    CStr::from_bytes_with_nul(buf.get(..len)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::ExitStatus;
    use crate::sys::testutil::skip;

    /// Both ways of reporting, on success and on the two usual failures. The shared-memory
    /// way needs a real `CLONE_VFORK` (not under qemu-user, which degrades it to a fork).
    #[test]
    fn both_reports_carry_success_and_the_childs_errno() {
        for report in [Report::SharedMemory, Report::Pipe] {
            if report == Report::SharedMemory && crate::program::emulated() {
                skip(
                    "both_reports_carry_success_and_the_childs_errno (shared memory)",
                    "qemu-user degrades CLONE_VFORK to a fork: the pipe is used there",
                );
                continue;
            }
            let mut child = spawn_reporting(c"/bin/true", &[c"true"], &[], report).unwrap();
            assert_eq!(child.wait(), Ok(ExitStatus::Exited(0)), "{report:?}");
            let missing = spawn_reporting(c"/nonexistent/clonekit", &[c"x"], &[], report);
            assert_eq!(
                missing.unwrap_err(),
                SpawnError::Exec(Errno::ENOENT),
                "{report:?}"
            );
            let not_executable = spawn_reporting(c"/etc/passwd", &[c"passwd"], &[], report);
            assert_eq!(
                not_executable.unwrap_err(),
                SpawnError::Exec(Errno::EACCES),
                "{report:?}"
            );
            // A step before execve: its code comes back, whichever way.
            let plan = Plan {
                program: c"/bin/true",
                search: false,
                argv: Argv::Slice(&[c"true"]),
                env: Env::Exactly(&[]),
                stdio: [Stdio::Inherit; 3],
                cwd: Some(c"/nonexistent/clonekit"),
            };
            assert_eq!(
                spawn_plan(&plan, report).unwrap_err(),
                SpawnError::Setup {
                    step: ExecStep::CurrentDir,
                    errno: Errno::ENOENT
                },
                "{report:?}"
            );
        }
    }

    #[test]
    fn failure_records_decode_to_their_step() {
        let record = |step: u32, errno: Errno| (u64::from(step) << 32) | errno.raw() as u64;
        assert_eq!(decode_failure(0), None);
        assert_eq!(
            decode_failure(record(EXEC_STEP, Errno::ENOENT)),
            Some(SpawnError::Exec(Errno::ENOENT))
        );
        for step in [
            ExecStep::Stdin,
            ExecStep::Stdout,
            ExecStep::Stderr,
            ExecStep::CurrentDir,
        ] {
            assert_eq!(
                decode_failure(record(step.code(), Errno::EBADF)),
                Some(SpawnError::Setup {
                    step,
                    errno: Errno::EBADF
                })
            );
        }
        assert_eq!(decode_failure(record(99, Errno::EBADF)), None);
    }

    #[test]
    fn join_builds_dir_slash_name_and_refuses_what_does_not_fit() {
        let mut buf = [0u8; 16];
        assert_eq!(join(&mut buf, b"/bin", b"sh"), Some(c"/bin/sh"));
        assert_eq!(join(&mut buf, b"", b"sh"), Some(c"sh"));
        assert_eq!(join(&mut buf, b"/usr/local/bin", b"tini"), None);
        assert_eq!(
            join(&mut buf, b"/usr/bin", b"sh\0x"),
            None,
            "a NUL in the name"
        );
    }

    #[test]
    fn entry_names_end_at_the_first_equals_sign() {
        assert_eq!(entry_name(b"PATH=/bin:/usr/bin"), b"PATH");
        assert_eq!(entry_name(b"A==b"), b"A");
        assert_eq!(entry_name(b"=x"), b"");
        assert_eq!(entry_name(b"NOEQUALS"), b"NOEQUALS");
    }
}
