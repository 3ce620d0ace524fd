//! clonekit's test kit: every kernel-observable case of the project, written once, with the
//! harness that runs them. `no_std` and allocation-free, so the same case lists run in three
//! places:
//!
//! - in the QEMU guest, by `init-demo` as PID 1, on every arch and kernel of the matrix;
//! - natively, by `testkit/tests/cases.rs` (a single-threaded std program, as root);
//! - under qemu-user, by the same test, on aarch64 and riscv64.
//!
//! The rooms: [`case`] (one case type and the assertions cases use), [`show`] (how values
//! appear in diagnostics), [`report`] (the runner that prints sections as KTAP), [`ktap`]
//! (the KTAP writer), [`shared`] (one page shared with every child), [`gate`] (a parent ->
//! child gate), [`util`] (small helpers), [`differential`] (the validator against the
//! running kernel) and [`cases`] (the case lists, one file per kernel concept).
//!
//! Every child a case starts runs only clonekit code (no libc, no std), so a case may run
//! inside a std test binary.
#![no_std]

pub mod case;
pub mod cases;
pub mod differential;
pub mod gate;
pub mod ktap;
pub mod observe;
pub mod pid1;
pub mod report;
pub mod shared;
pub mod show;
pub mod util;

use core::ffi::CStr;

/// `argv[1]` of a runner re-executed by the `CLONE_VFORK` exec case (see
/// [`run_exec_child`]).
pub const EXEC_CHILD_ARG: &CStr = c"vfork-exec-child";

/// What a runner does when started with [`EXEC_CHILD_ARG`]: outlive the parent's check that
/// the exec'd child still runs, then exit 0.
pub fn run_exec_child() -> i32 {
    util::sleep_ms(300);
    0
}

/// `argv[1]` of a runner re-executed by the `exec::Command` cases
/// (`cases::std_shapes`): it reports what it was given (see [`run_exec_report`]).
pub const EXEC_REPORT_ARG: &CStr = c"exec-report";

/// What a runner does when started with [`EXEC_REPORT_ARG`]: writes to its standard output
/// what its own `/proc/self` shows, one line each: `cwd <link>`, `fd0 <link>`, `fd1 <link>`,
/// `fd2 <link>`, then `env <entry>` for each entry of its environment; exits 0, or 1 if a
/// read failed.
pub fn run_exec_report() -> i32 {
    use clonekit::console::StdStream;
    use clonekit::sys::fs::{self, CWD, OFlags, write_all};
    let out = StdStream::Stdout.fd();
    let mut buf = [0u8; 4096];
    for (name, path) in [
        (&b"cwd "[..], c"/proc/self/cwd"),
        (b"fd0 ", c"/proc/self/fd/0"),
        (b"fd1 ", c"/proc/self/fd/1"),
        (b"fd2 ", c"/proc/self/fd/2"),
    ] {
        let Ok(target) = fs::readlinkat(CWD, path, &mut buf) else {
            return 1;
        };
        if write_all(out, name)
            .and(write_all(out, target))
            .and(write_all(out, b"\n"))
            .is_err()
        {
            return 1;
        }
    }
    let Ok(environ) = fs::openat(CWD, c"/proc/self/environ", OFlags::RDONLY, 0) else {
        return 1;
    };
    // Entries end with a NUL each: written as `env <entry>` lines, a buffer at a time.
    let mut lines = [0u8; 4096 * 5];
    let mut at_start = true;
    loop {
        let n = match fs::read(&environ, &mut buf) {
            Ok(0) => return 0,
            Ok(n) => n,
            Err(clonekit::Errno::EINTR) => continue,
            Err(_) => return 1,
        };
        let mut len = 0;
        for &b in &buf[..n] {
            if at_start && b != 0 {
                lines[len..len + 4].copy_from_slice(b"env ");
                len += 4;
            }
            lines[len] = if b == 0 { b'\n' } else { b };
            len += 1;
            at_start = b == 0;
        }
        if write_all(out, &lines[..len]).is_err() {
            return 1;
        }
    }
}
