//! Machine mode: clonekit-init as the kernel's init (a QEMU image's `/init`, PROGRAM and
//! its arguments after `--` on the kernel command line). It mounts `/proc`, `/sys`,
//! `/dev` (devtmpfs) and `/tmp` (tmpfs), runs PROGRAM as in any other mode, prints
//!
//! ```text
//! clonekit-init: exit-code=N
//! ```
//!
//! on its standard output (the console), where N is the code it would exit with anywhere
//! else (the child's code, 128 + its signal, 0 for a code given with `-e`, 1 for a usage
//! error), then syncs and powers the machine off: PID 1 must never exit. Whatever else still
//! runs then ends with the machine.

use clonekit::init::{End, finish, mount_machine_filesystems};
use clonekit::rt::Args;

use crate::say::Line;

/// The fixed start of the status line; the host tool looks for it.
const STATUS: &[u8] = b"exit-code=";

/// Runs the machine: mounts, PROGRAM, the status line, power-off.
pub fn run(args: &Args) -> ! {
    mount_machine_filesystems(|point, errno| {
        Line::new()
            .text(b"warning: mounting ")
            .text(point.to_bytes())
            .text(b" failed: ")
            .errno(errno)
            .write_err();
    });
    let code = crate::run(args);
    Line::new().text(STATUS).num(code as u64).write_out();
    finish(code, End::PowerOff)
}
