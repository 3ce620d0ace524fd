//! Helpers shared by the integration tests.
//!
//! Everything here runs in the test process (std allowed), except [`wait_eof`], which a
//! child may call (it uses clonekit only).
#![allow(dead_code)]

use std::sync::OnceLock;

/// Whether the test runs under qemu-user (the aarch64/riscv64 cross runners): `clone3`
/// gives `ENOSYS` there, while natively (Linux 5.3 and later) a zero-size `clone3` is
/// refused with `EINVAL` before anything is created.
pub fn qemu_user() -> bool {
    static QEMU: OnceLock<bool> = OnceLock::new();
    *QEMU.get_or_init(|| {
        // SAFETY: clone3(NULL, 0) is refused by the size check (EINVAL) before the
        // kernel reads anything, or is unknown (ENOSYS); it never creates a child.
        let ret = unsafe { sc::syscall2(linux_raw_sys::general::__NR_clone3 as usize, 0, 0) };
        ret as isize == -(linux_raw_sys::errno::ENOSYS as isize)
    })
}

/// The name of the enclosing function (the test's name).
#[macro_export]
macro_rules! function_name {
    () => {{
        fn f() {}
        let name = std::any::type_name_of_val(&f);
        let name = name.strip_suffix("::f").unwrap_or(name);
        name.rsplit("::").next().unwrap_or(name)
    }};
}

/// Prints `SKIP <test>: <reason>` to stderr (uncaptured) and returns from the test.
#[macro_export]
macro_rules! skip {
    ($($reason:tt)*) => {{
        // Straight to fd 2 with clonekit's printer: libtest captures std's eprintln!.
        clonekit::eprintln!("SKIP {}: {}", $crate::function_name!(), format_args!($($reason)*));
        return;
    }};
}

/// Skips the test under qemu-user, which refuses or degrades what it needs.
#[macro_export]
macro_rules! skip_under_qemu {
    ($($reason:tt)*) => {
        if $crate::common::qemu_user() {
            $crate::skip!($($reason)*);
        }
    };
}

/// Blocks until `fd` reports end of file (usable in a child: clonekit only).
pub fn wait_eof(fd: clonekit::fd::RawFd) {
    let mut b = [0u8; 1];
    loop {
        match clonekit::sys::fs::read(fd, &mut b) {
            Ok(0) => return,
            Ok(_) | Err(clonekit::Errno::EINTR) => continue,
            Err(_) => return,
        }
    }
}

/// Why a test that needs root and real namespaces cannot run here, if it cannot.
pub fn needs_root_and_real_kernel() -> Option<&'static str> {
    if clonekit::sys::process::geteuid() != 0 {
        return Some("not root: namespaces need CAP_SYS_ADMIN");
    }
    if qemu_user() {
        return Some(
            "qemu-user refuses CLONE_NEW* and most flags itself (abi.md); \
             this runs natively and in the QEMU guest",
        );
    }
    None
}
