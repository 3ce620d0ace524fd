//! `ptrace`, just enough to trace a child: what shows `CLONE_PTRACE` and `CLONE_UNTRACED`.

use clonekit::Errno;
use clonekit::errno::from_syscall;
use clonekit::sys::Pid;
use clonekit::sys::signal::Signal;
use linux_raw_sys::general as g;
use sc::syscall4;

/// `ptrace(request, pid, addr, data)`: the raw form.
///
/// # Safety
///
/// Requests such as `PTRACE_POKEDATA`, `PTRACE_SETREGS` or `PTRACE_GETREGSET` read or
/// write memory at `addr`/`data` in the caller or rewrite the tracee; the arguments
/// must be what the request expects. `PTRACE_TRACEME`/`CONT`/`DETACH` have safe
/// helpers.
///
/// # References
/// ptrace(2)
pub unsafe fn ptrace(request: u32, pid: Pid, addr: usize, data: usize) -> Result<usize, Errno> {
    // SAFETY: the caller vouches for the arguments.
    from_syscall(unsafe {
        syscall4(
            g::__NR_ptrace as usize,
            request as usize,
            pid as usize,
            addr,
            data,
        )
    })
}

/// `ptrace(PTRACE_TRACEME)`: the caller's parent becomes its tracer.
///
/// # References
/// ptrace(2) PTRACE_TRACEME
pub fn ptrace_traceme() -> Result<(), Errno> {
    // SAFETY: TRACEME takes no pointers.
    unsafe { ptrace(linux_raw_sys::ptrace::PTRACE_TRACEME, 0, 0, 0) }.map(drop)
}

/// `ptrace(PTRACE_CONT, pid, 0, sig)`: resumes a stopped tracee, delivering `sig`.
///
/// # References
/// ptrace(2) PTRACE_CONT
pub fn ptrace_cont(pid: Pid, sig: Option<Signal>) -> Result<(), Errno> {
    let data = sig.map_or(0, |s| s.raw() as usize);
    // SAFETY: CONT takes a signal number, no pointer.
    unsafe { ptrace(linux_raw_sys::ptrace::PTRACE_CONT, pid, 0, data) }.map(drop)
}

/// `ptrace(PTRACE_DETACH, pid, 0, sig)`: detaches from a stopped tracee, delivering
/// `sig`.
///
/// # References
/// ptrace(2) PTRACE_DETACH
pub fn ptrace_detach(pid: Pid, sig: Option<Signal>) -> Result<(), Errno> {
    let data = sig.map_or(0, |s| s.raw() as usize);
    // SAFETY: DETACH takes a signal number, no pointer.
    unsafe { ptrace(linux_raw_sys::ptrace::PTRACE_DETACH, pid, 0, data) }.map(drop)
}
