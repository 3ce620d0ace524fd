//! Starting a program, vfork-style: `clone(CLONE_VM | CLONE_VFORK | SIGCHLD)` on a small
//! stack of its own, then `execve` in the child, with the child's `execve` error reported
//! to the parent through the memory they share, or through a close-on-exec pipe where the
//! parent cannot count on sharing it.
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
//! # References
//! vfork(2), clone(2) `CLONE_VFORK`, execve(2), posix_spawn(3)

use core::ffi::{CStr, c_char, c_void};
use core::fmt;
use core::mem::{align_of, size_of};
use core::ptr;

use crate::errno::Errno;
use crate::error::Error;
use crate::fd::{BorrowedFd, RawFd};
use crate::flags::{CloneFlags, ExitSignal};
use crate::process::{Child, Syscall, wait_pid};
use crate::stack::Stack;
use crate::sys::fs::{PipeFlags, pipe2, read_full, write};
use crate::sys::signal::{
    SigHandler, SigSet, SigmaskHow, Signal, rt_sigaction, rt_sigprocmask, signal_default,
};
use crate::task::start::SignalsBlocked;
use core::sync::atomic::{AtomicI32, Ordering};

/// The most entries [`spawn`] takes in `argv`, and separately in `envp`: the pointer
/// arrays are built on the child's stack, without an allocator.
pub const MAX_ARGS: usize = 1024;

/// Stack the exec child keeps for its own frames, above the pointer arrays.
const CHILD_FRAMES: usize = 32 * 1024;

/// The exit status of a child whose `execve` failed (as a shell reports "not found").
pub const EXEC_FAILED_STATUS: i32 = 127;

/// Why [`spawn`] did not start the program.
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
    /// The child's `execve` failed with this errno; the child has been reaped (it exited
    /// with [`EXEC_FAILED_STATUS`]).
    Exec(Errno),
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::Spawn(e) => write!(f, "cannot start the child: {e}"),
            SpawnError::TooManyArgs { argv, envp, max } => write!(
                f,
                "{argv} arguments and {envp} environment entries: at most {max} of each"
            ),
            SpawnError::Exec(errno) => write!(f, "execve failed in the child: {errno}"),
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

/// What the exec child needs, at the top of its stack.
#[repr(C)]
struct ExecRequest {
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    /// The number of the error pipe's write end (close-on-exec), open in the child's own
    /// copy of the descriptor table; -1 when the errno goes through `errno` alone.
    err_fd: RawFd,
    /// Where the child stores its `execve` errno (0 while none): the parent reads it once
    /// `clone` returns, which `CLONE_VFORK` delays until the child has exec'd or exited.
    errno: AtomicI32,
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

/// Starts the program at `path` with arguments `argv` (by convention `argv[0]` is its name)
/// and environment `envp` (`"NAME=value"` entries), vfork-style. No `PATH` search: `path`
/// is used as given.
///
/// Returns once the program runs (its `execve` succeeded), with a [`Child`] to wait for; or
/// [`SpawnError::Exec`] with the child's errno (`ENOENT`, `EACCES`, ...) after reaping it.
///
/// The child only makes raw system calls (see the [module docs](self)); in a program with a
/// libc (std test binaries included) that is what makes it safe, also in a multithreaded
/// one.
pub fn spawn(path: &CStr, argv: &[&CStr], envp: &[&CStr]) -> Result<Child, SpawnError> {
    let report = if crate::program::emulated() {
        Report::Pipe
    } else {
        Report::SharedMemory
    };
    spawn_reporting(path, argv, envp, report)
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
    let pointers = (argv.len() + 1 + envp.len() + 1) * size_of::<*const c_char>();
    let stack = Stack::new(CHILD_FRAMES + pointers + size_of::<ExecRequest>() + 64)
        .map_err(Error::Stack)?;
    let pipe = match report {
        Report::Pipe => Some(pipe2(PipeFlags::CLOEXEC)?),
        Report::SharedMemory => None,
    };

    // Lay out, from the top down: the request, the envp array, the argv array.
    let top = stack.top() as usize;
    let request = (top - size_of::<ExecRequest>()) & !(align_of::<ExecRequest>() - 1);
    let envp_array =
        (request - (envp.len() + 1) * size_of::<*const c_char>()) as *mut *const c_char;
    let argv_array =
        (envp_array as usize - (argv.len() + 1) * size_of::<*const c_char>()) as *mut *const c_char;
    let sp = argv_array as usize & !15;
    // SAFETY: all three lie in the stack's top `pointers + size_of::<ExecRequest>() + 16`
    // bytes, which the stack has (CHILD_FRAMES more than that), aligned for pointers and
    // the request; nothing else uses the stack yet.
    unsafe {
        for (i, arg) in argv.iter().enumerate() {
            argv_array.add(i).write(arg.as_ptr());
        }
        argv_array.add(argv.len()).write(ptr::null());
        for (i, var) in envp.iter().enumerate() {
            envp_array.add(i).write(var.as_ptr());
        }
        envp_array.add(envp.len()).write(ptr::null());
    }

    // No handler may run in the child while it shares our memory: block everything until
    // the child has reset its handlers (it restores this mask itself before execve).
    let blocked = SignalsBlocked::block_all()?;
    let mask = blocked.previous();
    let request = request as *mut ExecRequest;
    // SAFETY: inside the stack, aligned, unused (see above).
    unsafe {
        request.write(ExecRequest {
            path: path.as_ptr(),
            argv: argv_array,
            envp: envp_array,
            err_fd: pipe.as_ref().map_or(-1, |(_, w)| w.as_raw()),
            errno: AtomicI32::new(0),
            mask,
        });
    }
    // The child runs on the stack below `sp`, which is its alone; it reads the
    // request and arrays above `sp` and the caller's strings, all of which stay valid until
    // this function returns, and with CLONE_VFORK the kernel returns here only after the
    // child has exec'd or exited (without it, the child reads its own copies). No pointer
    // flags are set. `exec_child` makes only raw syscalls.
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
        None => Some(unsafe { (*request).errno.load(Ordering::Acquire) }).filter(|&e| e != 0),
        Some((read_end, write_end)) => {
            // Our write end must be gone before we read, or the read never sees end of file.
            drop(write_end);
            let mut errno = [0u8; 4];
            // Four bytes: the child's errno; fewer (end of file at its execve) or a failed
            // read (its fate unknown): hand the child back rather than block on it.
            let got = read_full(read_end.as_fd(), &mut errno);
            (got == Ok(errno.len())).then(|| i32::from_ne_bytes(errno))
        }
    };
    if let Some(errno) = failed {
        // The child is exiting with EXEC_FAILED_STATUS; reap it so no zombie is left.
        let _ = wait_pid(pid);
        return Err(SpawnError::Exec(Errno::from_raw(errno)));
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

/// The exec child: resets signal handlers, restores the mask, `execve`s, and on failure
/// stores its errno in the request (and writes it to the pipe, if there is one) and exits with [`EXEC_FAILED_STATUS`] (through
/// `exit_group`, see [`end_process`](crate::task::spawn::end_process)).
///
/// # Safety
/// `arg` points at the [`ExecRequest`] `spawn` built, whose pointers are valid.
unsafe extern "C" fn exec_child(arg: *mut c_void) -> i32 {
    // SAFETY: see above; we only read it.
    let request = unsafe { &*arg.cast::<ExecRequest>() };
    for n in 1..=Signal::MAX {
        let Some(sig) = Signal::from_raw(n) else {
            continue;
        };
        if sig == Signal::SIGKILL || sig == Signal::SIGSTOP {
            continue;
        }
        // SAFETY: with no new action this only reads the disposition.
        let old = unsafe { rt_sigaction(sig, None) };
        // Handled signals must not reach a handler in our memory after execve failed; and
        // SIGPIPE, which std ignores in its programs, is given back its default so the
        // program starts as `std::process::Command` would start it.
        let handled = old.is_ok_and(|old| {
            matches!(old.handler, SigHandler::Handler(_) | SigHandler::SigInfo(_))
        });
        if handled || sig == Signal::SIGPIPE {
            let _ = signal_default(sig);
        }
    }
    let _ = rt_sigprocmask(SigmaskHow::SetMask, Some(&request.mask));
    // SAFETY: `path` is the caller's NUL-terminated string; `argv`/`envp` are
    // NULL-terminated arrays of the caller's NUL-terminated strings, all valid until
    // `spawn` returns, which is after this call (CLONE_VFORK) or in another copy of memory.
    let errno = unsafe {
        crate::sys::process::execve(CStr::from_ptr(request.path), request.argv, request.envp)
    };
    // Shared with the parent (CLONE_VM), which reads it once we have exited.
    request.errno.store(errno.raw(), Ordering::Release);
    if request.err_fd >= 0 {
        let bytes = errno.raw().to_ne_bytes();
        // Without CLONE_FILES the child got its own copy of the descriptor table when it was
        // created, while `spawn` held the write end open; in that copy nothing closes it (only
        // a successful execve would, and it failed), whatever the parent does with its own.
        // SAFETY: so the number stays open in this child for the borrow.
        let err_fd = unsafe { BorrowedFd::borrow_raw(request.err_fd) };
        let _ = write(err_fd, &bytes);
    }
    crate::task::spawn::end_process(EXEC_FAILED_STATUS)
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
            let child = spawn_reporting(c"/bin/true", &[c"true"], &[], report).unwrap();
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
        }
    }
}
