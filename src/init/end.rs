//! How an init's run ends: PID 1 must never exit (the kernel panics, "Attempted to kill
//! init!"), so it syncs and powers off or reboots; any other process exits.

use crate::Errno;
use crate::sys::ns::{RebootCmd, reboot, sync};
use crate::sys::process::{exit_group, getpid};
use crate::sys::time::Timespec;

/// How a run of the init ends ([`finish`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum End {
    /// Power the machine off.
    PowerOff,
    /// Reboot it.
    Reboot,
}

/// `sync()` then `reboot(LINUX_REBOOT_CMD_POWER_OFF)`. Returns only on failure (`EPERM`
/// without `CAP_SYS_BOOT`), with the errno. In a child PID namespace the kernel ends that
/// namespace's init instead, as if killed by `SIGINT`.
pub fn power_off() -> Errno {
    sync();
    match reboot(RebootCmd::PowerOff) {
        Ok(()) => Errno::EINVAL, // not reached: a successful power-off does not return
        Err(errno) => errno,
    }
}

/// `sync()` then `reboot(LINUX_REBOOT_CMD_RESTART)`. Returns only on failure, with the errno.
/// In a child PID namespace the kernel ends that namespace's init, as if killed by `SIGHUP`.
pub fn reboot_now() -> Errno {
    sync();
    match reboot(RebootCmd::Restart) {
        Ok(()) => Errno::EINVAL,
        Err(errno) => errno,
    }
}

/// Ends an init's run. PID 1 (which must never exit: the kernel would panic) powers off or
/// reboots, and if that fails, sleeps forever; any other process exits with `code`.
pub fn finish(code: i32, end: End) -> ! {
    if getpid() == 1 {
        let _ = match end {
            End::PowerOff => power_off(),
            End::Reboot => reboot_now(),
        };
        loop {
            let _ = crate::sys::time::nanosleep(&Timespec::new(3600, 0));
        }
    }
    exit_group(code)
}
