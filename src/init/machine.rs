//! Machine mode: an init that is the kernel's own (PID 1 of the initial PID namespace, as
//! a QEMU image's `/init` is) mounts the file systems programs expect before it starts
//! one; at the end it syncs and powers the machine off ([`power_off`](super::power_off)).

use core::ffi::CStr;

use crate::Errno;
use crate::sys::fs::{CWD, mkdirat};
use crate::sys::ns::{MountFlags, RebootCmd, mount, reboot};
use crate::sys::process::getpid;

/// What a machine's init mounts, in this order: `proc` on `/proc`, `sysfs` on `/sys`,
/// `devtmpfs` on `/dev`, a `tmpfs` on `/tmp` (each directory made if missing).
pub const MACHINE_MOUNTS: [&CStr; 4] = [c"/proc", c"/sys", c"/dev", c"/tmp"];

/// The file system type of each of [`MACHINE_MOUNTS`] (also the mount's source name).
const TYPES: [&CStr; 4] = [c"proc", c"sysfs", c"devtmpfs", c"tmpfs"];

/// Whether the caller is the kernel's init, PID 1 of the initial PID namespace; if so,
/// Ctrl-Alt-Del now sends it `SIGINT` instead of rebooting at once.
///
/// A container's init is PID 1 too; the kernel tells them apart: `reboot(CAD_OFF)` succeeds
/// only in the initial PID namespace (in another one it is `EINVAL`, without
/// `CAP_SYS_BOOT` `EPERM`), and switching Ctrl-Alt-Del over to a signal is what an init
/// wants there anyway. Any other process is not asked (a root process in the initial
/// namespace would change the machine's setting).
///
/// # References
/// reboot(2) `LINUX_REBOOT_CMD_CAD_OFF`, pid_namespaces(7) "reboot(2) and PID namespaces"
pub fn claim_machine() -> bool {
    getpid() == 1 && reboot(RebootCmd::CadOff).is_ok()
}

/// Mounts [`MACHINE_MOUNTS`], going on past a failure: each one is handed to `failed`
/// with the mount point and the errno (`EBUSY` for one already mounted).
///
/// `/proc` and `/sys` are `nosuid,nodev,noexec` (as [`mount_proc`](crate::mount::mount_proc)
/// mounts a `/proc`), `/dev` and `/tmp` `nosuid`: a table here rather than the `mount`
/// module's helpers, whose [`Error`](crate::Error) would cost the 12 KiB init a kilobyte.
pub fn mount_machine_filesystems(mut failed: impl FnMut(&'static CStr, Errno)) {
    for (i, (point, fs_type)) in MACHINE_MOUNTS.into_iter().zip(TYPES).enumerate() {
        let mut flags = MountFlags::NOSUID;
        if i < 2 {
            flags |= MountFlags::NODEV | MountFlags::NOEXEC;
        }
        let made = match mkdirat(CWD, point, 0o755) {
            Ok(()) | Err(Errno::EEXIST) => Ok(()),
            Err(errno) => Err(errno),
        };
        if let Err(errno) =
            made.and_then(|()| mount(Some(fs_type), point, Some(fs_type), flags, None))
        {
            failed(point, errno);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_that_is_not_pid_1_claims_no_machine() {
        // The test harness is not PID 1: claim_machine must not even ask the kernel
        // (a root process would switch the host's Ctrl-Alt-Del).
        assert_ne!(getpid(), 1);
        assert!(!claim_machine());
    }

    #[test]
    fn a_containers_pid_1_claims_no_machine() {
        use crate::sys::testutil::{skip, under_qemu_user};
        use crate::{CloneFlags, ExitSignal};
        // SAFETY: the child makes only system calls (getpid, reboot) and returns a number.
        let child = unsafe {
            crate::process::fork_with_unchecked(CloneFlags::NEWPID, ExitSignal::SIGCHLD, || match (
                getpid(),
                claim_machine(),
            ) {
                (1, false) => 0,
                (1, true) => 1,
                _ => 2,
            })
        };
        match child {
            Ok(mut child) => assert_eq!(child.wait(), Ok(crate::process::ExitStatus::Exited(0))),
            Err(e) if under_qemu_user() && e.errno() == crate::Errno::EINVAL => skip(
                "a_containers_pid_1_claims_no_machine",
                format_args!(
                    "qemu-user refuses clone(CLONE_NEWPID) ({})",
                    e.errno().name()
                ),
            ),
            Err(e) => panic!("a child in a new PID namespace: {e}"),
        }
    }
}
