//! Linux error numbers as a typed value, and the kernel's error-return convention.
//!
//! A raw syscall returns `-errno` in the range `-4095..=-1` on failure and anything
//! else on success; [`from_syscall`] turns that into a [`Result`]. [`Errno`] carries
//! the number, its name (`"EINVAL"`) and glibc's `strerror` text in lower case.
//!
//! The values come from `linux_raw_sys::errno` (the asm-generic numbering, shared by
//! x86_64, aarch64 and riscv64).
//!
//! ```
//! use clonekit::Errno;
//! use clonekit::errno::from_syscall;
//!
//! assert_eq!(Errno::ENOENT.raw(), 2);
//! assert_eq!(Errno::ENOENT.to_string(), "ENOENT: no such file or directory");
//! assert_eq!(from_syscall(-22isize as usize), Err(Errno::EINVAL)); // a raw -EINVAL
//! assert_eq!(from_syscall(3), Ok(3));
//! ```

use core::fmt;
use linux_raw_sys::errno as e;

/// A Linux error number (`errno`), as returned negated by a failing syscall.
///
/// Every Linux errno has an associated constant (`Errno::EPERM` ..
/// `Errno::EHWPOISON`). `Display` gives `"EINVAL: invalid argument"`, `Debug` gives
/// `"Errno(EINVAL)"`; numbers Linux does not define display as
/// `"E???(n): unknown error n"`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errno(u16);

macro_rules! errnos {
    ($($name:ident => $msg:literal,)*) => {
        impl Errno {
            $(
                #[doc = concat!("`", stringify!($name), "`: ", $msg, ".")]
                pub const $name: Errno = Errno(e::$name as u16);
            )*

            /// The symbolic name, e.g. `"EINVAL"`, or `"E???"` for a number Linux does
            /// not define.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Errno::$name => stringify!($name),)*
                    _ => "E???",
                }
            }

            /// glibc's `strerror` text in lower case, e.g. `"invalid argument"`, or
            /// `"unknown error"` for a number Linux does not define.
            pub const fn message(self) -> &'static str {
                match self {
                    $(Errno::$name => $msg,)*
                    _ => "unknown error",
                }
            }

            /// Whether Linux defines this number.
            pub const fn is_known(self) -> bool {
                !matches!(self.name().as_bytes(), b"E???")
            }
        }
    };
}

errnos! {
    EPERM => "operation not permitted",
    ENOENT => "no such file or directory",
    ESRCH => "no such process",
    EINTR => "interrupted system call",
    EIO => "input/output error",
    ENXIO => "no such device or address",
    E2BIG => "argument list too long",
    ENOEXEC => "exec format error",
    EBADF => "bad file descriptor",
    ECHILD => "no child processes",
    EAGAIN => "resource temporarily unavailable",
    ENOMEM => "cannot allocate memory",
    EACCES => "permission denied",
    EFAULT => "bad address",
    ENOTBLK => "block device required",
    EBUSY => "device or resource busy",
    EEXIST => "file exists",
    EXDEV => "invalid cross-device link",
    ENODEV => "no such device",
    ENOTDIR => "not a directory",
    EISDIR => "is a directory",
    EINVAL => "invalid argument",
    ENFILE => "too many open files in system",
    EMFILE => "too many open files",
    ENOTTY => "inappropriate ioctl for device",
    ETXTBSY => "text file busy",
    EFBIG => "file too large",
    ENOSPC => "no space left on device",
    ESPIPE => "illegal seek",
    EROFS => "read-only file system",
    EMLINK => "too many links",
    EPIPE => "broken pipe",
    EDOM => "numerical argument out of domain",
    ERANGE => "numerical result out of range",
    EDEADLK => "resource deadlock avoided",
    ENAMETOOLONG => "file name too long",
    ENOLCK => "no locks available",
    ENOSYS => "function not implemented",
    ENOTEMPTY => "directory not empty",
    ELOOP => "too many levels of symbolic links",
    ENOMSG => "no message of desired type",
    EIDRM => "identifier removed",
    ECHRNG => "channel number out of range",
    EL2NSYNC => "level 2 not synchronized",
    EL3HLT => "level 3 halted",
    EL3RST => "level 3 reset",
    ELNRNG => "link number out of range",
    EUNATCH => "protocol driver not attached",
    ENOCSI => "no CSI structure available",
    EL2HLT => "level 2 halted",
    EBADE => "invalid exchange",
    EBADR => "invalid request descriptor",
    EXFULL => "exchange full",
    ENOANO => "no anode",
    EBADRQC => "invalid request code",
    EBADSLT => "invalid slot",
    EBFONT => "bad font file format",
    ENOSTR => "device not a stream",
    ENODATA => "no data available",
    ETIME => "timer expired",
    ENOSR => "out of streams resources",
    ENONET => "machine is not on the network",
    ENOPKG => "package not installed",
    EREMOTE => "object is remote",
    ENOLINK => "link has been severed",
    EADV => "advertise error",
    ESRMNT => "srmount error",
    ECOMM => "communication error on send",
    EPROTO => "protocol error",
    EMULTIHOP => "multihop attempted",
    EDOTDOT => "RFS specific error",
    EBADMSG => "bad message",
    EOVERFLOW => "value too large for defined data type",
    ENOTUNIQ => "name not unique on network",
    EBADFD => "file descriptor in bad state",
    EREMCHG => "remote address changed",
    ELIBACC => "can not access a needed shared library",
    ELIBBAD => "accessing a corrupted shared library",
    ELIBSCN => ".lib section in a.out corrupted",
    ELIBMAX => "attempting to link in too many shared libraries",
    ELIBEXEC => "cannot exec a shared library directly",
    EILSEQ => "invalid or incomplete multibyte or wide character",
    ERESTART => "interrupted system call should be restarted",
    ESTRPIPE => "streams pipe error",
    EUSERS => "too many users",
    ENOTSOCK => "socket operation on non-socket",
    EDESTADDRREQ => "destination address required",
    EMSGSIZE => "message too long",
    EPROTOTYPE => "protocol wrong type for socket",
    ENOPROTOOPT => "protocol not available",
    EPROTONOSUPPORT => "protocol not supported",
    ESOCKTNOSUPPORT => "socket type not supported",
    EOPNOTSUPP => "operation not supported",
    EPFNOSUPPORT => "protocol family not supported",
    EAFNOSUPPORT => "address family not supported by protocol",
    EADDRINUSE => "address already in use",
    EADDRNOTAVAIL => "cannot assign requested address",
    ENETDOWN => "network is down",
    ENETUNREACH => "network is unreachable",
    ENETRESET => "network dropped connection on reset",
    ECONNABORTED => "software caused connection abort",
    ECONNRESET => "connection reset by peer",
    ENOBUFS => "no buffer space available",
    EISCONN => "transport endpoint is already connected",
    ENOTCONN => "transport endpoint is not connected",
    ESHUTDOWN => "cannot send after transport endpoint shutdown",
    ETOOMANYREFS => "too many references: cannot splice",
    ETIMEDOUT => "connection timed out",
    ECONNREFUSED => "connection refused",
    EHOSTDOWN => "host is down",
    EHOSTUNREACH => "no route to host",
    EALREADY => "operation already in progress",
    EINPROGRESS => "operation now in progress",
    ESTALE => "stale file handle",
    EUCLEAN => "structure needs cleaning",
    ENOTNAM => "not a XENIX named type file",
    ENAVAIL => "no XENIX semaphores available",
    EISNAM => "is a named type file",
    EREMOTEIO => "remote I/O error",
    EDQUOT => "disk quota exceeded",
    ENOMEDIUM => "no medium found",
    EMEDIUMTYPE => "wrong medium type",
    ECANCELED => "operation canceled",
    ENOKEY => "required key not available",
    EKEYEXPIRED => "key has expired",
    EKEYREVOKED => "key has been revoked",
    EKEYREJECTED => "key was rejected by service",
    EOWNERDEAD => "owner died",
    ENOTRECOVERABLE => "state not recoverable",
    ERFKILL => "operation not possible due to RF-kill",
    EHWPOISON => "memory page has hardware error",
}

impl Errno {
    /// `EWOULDBLOCK`: the same number as [`Errno::EAGAIN`] on Linux.
    pub const EWOULDBLOCK: Errno = Errno::EAGAIN;
    /// `EDEADLOCK`: the same number as [`Errno::EDEADLK`] on Linux.
    pub const EDEADLOCK: Errno = Errno::EDEADLK;
    /// `ENOTSUP`: the same number as [`Errno::EOPNOTSUPP`] on Linux.
    pub const ENOTSUP: Errno = Errno::EOPNOTSUPP;

    /// The positive error number, as C's `errno` would hold it.
    pub const fn raw(self) -> i32 {
        self.0 as i32
    }

    /// The `Errno` for a positive error number.
    ///
    /// The kernel's numbers are `1..=4095`; a value outside `0..=65535` is clamped
    /// into it (it then displays as an unknown error).
    pub const fn from_raw(raw: i32) -> Errno {
        if raw < 0 {
            Errno(0)
        } else if raw > u16::MAX as i32 {
            Errno(u16::MAX)
        } else {
            Errno(raw as u16)
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_known() {
            write!(f, "{}: {}", self.name(), self.message())
        } else {
            write!(f, "E???({}): unknown error {}", self.0, self.0)
        }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_known() {
            write!(f, "Errno({})", self.name())
        } else {
            write!(f, "Errno({})", self.0)
        }
    }
}

impl core::error::Error for Errno {}

/// Maps a raw syscall return value to a `Result`: `-4095..=-1` (as `usize`) is an
/// error, anything else is the successful value. For callers that make a system call
/// clonekit has no wrapper for, with `sc` and `linux-raw-sys` as clonekit does (its test kit
/// does for the observers only tests need).
#[inline]
pub fn from_syscall(ret: usize) -> Result<usize, Errno> {
    if ret > (-4096isize) as usize {
        Err(Errno(ret.wrapping_neg() as u16))
    } else {
        Ok(ret)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;

    #[test]
    fn names_messages_and_formats() {
        assert_eq!(Errno::EINVAL.raw(), 22);
        assert_eq!(Errno::EINVAL.name(), "EINVAL");
        assert_eq!(Errno::EINVAL.message(), "invalid argument");
        assert_eq!(
            format!("{}", Errno::ENOENT),
            "ENOENT: no such file or directory"
        );
        assert_eq!(format!("{:?}", Errno::ENOENT), "Errno(ENOENT)");
        assert_eq!(
            format!("{}", Errno::from_raw(4000)),
            "E???(4000): unknown error 4000"
        );
        assert_eq!(format!("{:?}", Errno::from_raw(41)), "Errno(41)");
        assert_eq!(Errno::EWOULDBLOCK, Errno::EAGAIN);
        assert_eq!(Errno::EAGAIN.name(), "EAGAIN");
        assert_eq!(Errno::EHWPOISON.raw(), 133);
        assert_eq!(Errno::from_raw(1), Errno::EPERM);
    }

    #[test]
    fn every_errno_up_to_ehwpoison_is_named_except_the_two_holes() {
        for n in 1..=133 {
            let known = Errno::from_raw(n).is_known();
            // 41 and 58 are unassigned in asm-generic/errno.h.
            assert_eq!(known, n != 41 && n != 58, "errno {n}");
        }
        assert!(!Errno::from_raw(134).is_known());
    }

    #[test]
    fn from_syscall_splits_the_error_range() {
        assert_eq!(from_syscall(0), Ok(0));
        assert_eq!(from_syscall(12345), Ok(12345));
        assert_eq!(from_syscall(-1isize as usize), Err(Errno::EPERM));
        assert_eq!(
            from_syscall(-4095isize as usize),
            Err(Errno::from_raw(4095))
        );
        assert_eq!(from_syscall(-4096isize as usize), Ok(-4096isize as usize));
    }
}
