//! Signals as cases use them: ignoring one (what `CLONE_CLEAR_SIGHAND` keeps) and asking
//! whether a process or thread still exists (`kill(pid, 0)`).

use clonekit::Errno;
use clonekit::errno::from_syscall;
use clonekit::sys::Pid;
use clonekit::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, rt_sigaction};
use linux_raw_sys::general as g;
use sc::syscall2;

/// Sets `sig` to `SIG_IGN`, returning the previous disposition (`EINVAL` for `SIGKILL` and
/// `SIGSTOP`).
///
/// # References
/// rt_sigaction(2)
pub fn signal_ignore(sig: Signal) -> Result<SigAction, Errno> {
    let act = SigAction::new(SigHandler::Ignore, SaFlags::empty(), SigSet::empty());
    // SAFETY: SIG_IGN runs no code, so no handler's requirements apply.
    unsafe { rt_sigaction(sig, Some(&act)) }
}

/// `kill(pid, 0)`: checks that `pid` exists and may be signalled (`ESRCH`, `EPERM`). Also
/// finds a thread by its TID until the kernel releases it.
///
/// # References
/// kill(2)
pub fn kill_probe(pid: Pid) -> Result<(), Errno> {
    // SAFETY: kill takes integers, no pointer; signal 0 is only a check.
    from_syscall(unsafe { syscall2(g::__NR_kill as usize, pid as usize, 0) }).map(drop)
}
