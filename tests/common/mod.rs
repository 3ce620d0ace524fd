//! Helpers shared by the integration tests.
//!
//! Everything here runs in the test process (std allowed), except [`wait_eof`] and
//! [`child_wait_eof`], which a child may call (they use clonekit only).
#![allow(dead_code)]

/// Whether the test runs under qemu-user (the aarch64/riscv64 cross runners): clonekit's own
/// answer, [`clonekit::program::emulated`].
pub fn qemu_user() -> bool {
    clonekit::program::emulated()
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

/// An error as the emulator question sees it: only an errno the kernel (or qemu-user in
/// its place) returned counts, never one of clonekit's own refusals (flag rules, stacks),
/// which must hold under emulation too.
pub trait OsErrno {
    /// The errno the kernel side returned, if that is what this error is.
    fn os_errno(&self) -> Option<clonekit::Errno>;
}

impl OsErrno for clonekit::Errno {
    fn os_errno(&self) -> Option<clonekit::Errno> {
        Some(*self)
    }
}

impl OsErrno for clonekit::Error {
    fn os_errno(&self) -> Option<clonekit::Errno> {
        match self {
            clonekit::Error::Os(errno) => Some(*errno),
            _ => None,
        }
    }
}

/// Skips the test (`SKIP <test>: <reason> (<ERRNO>)`) if `err` is qemu-user refusing what
/// the test needs: we run under qemu-user *and* the kernel-side errno matches `errno` (a
/// pattern, e.g. `Errno::EINVAL`). Otherwise does nothing: natively, or with another
/// error, the caller goes on and asserts as usual.
#[macro_export]
macro_rules! skip_if_emulator_refused {
    ($err:expr, $errno:pat, $($reason:tt)+) => {
        if $crate::common::qemu_user() {
            if let Some(errno @ $errno) = $crate::common::OsErrno::os_errno($err) {
                $crate::skip!("{} ({})", format_args!($($reason)+), errno.name());
            }
        }
    };
}

/// The `Ok` value of `result`; an `Err` that is qemu-user's refusal (see
/// [`skip_if_emulator_refused!`]) skips the test, any other `Err` fails it, natively
/// always. Usage: `emulator_may_refuse!(spawn(..), Errno::EINVAL, "qemu-user refuses X")`.
#[macro_export]
macro_rules! emulator_may_refuse {
    ($result:expr, $errno:pat, $($reason:tt)+) => {
        match $result {
            Ok(value) => value,
            Err(err) => {
                $crate::skip_if_emulator_refused!(&err, $errno, $($reason)+);
                panic!("refused: {err:?} ({err})")
            }
        }
    };
}

/// Blocks until `fd` reports end of file (usable in a child: clonekit only).
pub fn wait_eof(fd: clonekit::fd::BorrowedFd<'_>) {
    let mut b = [0u8; 1];
    loop {
        match clonekit::sys::fs::read(fd, &mut b) {
            Ok(0) => return,
            Ok(_) | Err(clonekit::Errno::EINTR) => continue,
            Err(_) => return,
        }
    }
}

/// In a child: closes every descriptor it has but the standard ones and `read` (its copy of
/// a pipe's write end `write` among them), then blocks until `read` reports end of file,
/// i.e. until the parent has closed its write end too (clonekit only).
///
/// Closing the others first is what keeps concurrent tests apart: a child forked while
/// another test's pipe was open holds a copy of that test's write end, and if both children
/// waited for end of file holding each other's ends, neither would ever see it (a hang seen
/// in 3 rounds of `cargo qemu stress` at 8 test threads before this closed them).
///
/// # Safety
/// Only in a child with its own copy of the descriptor table (no `CLONE_FILES`), created
/// while both numbers were open in the parent, in which the parent's owners of any
/// descriptor (copied with its memory) are never dropped or used: true in every clonekit
/// child that runs only this and then returns, since it never returns into the parent's
/// frames. The child then alone owns its copies of every descriptor, which this closes.
pub unsafe fn child_wait_eof(read: clonekit::fd::RawFd, write: clonekit::fd::RawFd) {
    // SAFETY: the caller's contract: the child owns its copies of every descriptor.
    unsafe { close_all_but_stdio_and(read) };
    let _ = write; // closed above, with every other copy
    // SAFETY: `read` is the one descriptor left open besides 0-2, and the child owns it.
    let read = unsafe { clonekit::fd::OwnedFd::from_raw(read) };
    wait_eof(read.as_fd());
}

/// Closes every descriptor from 3 up except `keep`: `close_range` (Linux 5.9), or one
/// `close` per number up to the soft limit where it is missing.
///
/// # Safety
/// The caller owns every descriptor of its table (a child with its own copy, see
/// [`child_wait_eof`]) and uses none of them afterwards but `keep`.
unsafe fn close_all_but_stdio_and(keep: clonekit::fd::RawFd) {
    use linux_raw_sys::general::{__NR_close, __NR_close_range};
    let keep = keep as usize;
    let ranges = [(3, keep.saturating_sub(1)), (keep + 1, u32::MAX as usize)];
    for (first, last) in ranges {
        if first > last {
            continue;
        }
        // SAFETY: the caller owns these descriptors and gives them up (see above).
        let ret = unsafe { sc::syscall3(__NR_close_range as usize, first, last, 0) };
        if ret as isize == -(linux_raw_sys::errno::ENOSYS as isize) {
            for fd in first..=last.min(4095) {
                // SAFETY: as above; EBADF for numbers that are not open is ignored.
                let _ = unsafe { sc::syscall1(__NR_close as usize, fd) };
            }
        }
    }
}

/// Why a test that needs root cannot run here, if it cannot.
pub fn needs_root() -> Option<&'static str> {
    if clonekit::sys::process::geteuid() != 0 {
        return Some("not root: namespaces need CAP_SYS_ADMIN");
    }
    None
}

/// Why a test that needs root and the kernel itself answering (not an emulator in its
/// place, whatever that emulator accepts) cannot run here, if it cannot.
pub fn needs_root_and_real_kernel() -> Option<&'static str> {
    if let Some(reason) = needs_root() {
        return Some(reason);
    }
    if qemu_user() {
        return Some(
            "qemu-user refuses CLONE_NEW* and most flags itself (docs/abi.md); \
             this runs natively and in the QEMU guest",
        );
    }
    None
}
