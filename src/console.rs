//! A `no_std`, lock-free, allocation-free console: `core::fmt::Write` over `write(2)`.
//!
//! The [`print!`](crate::print), [`println!`](crate::println),
//! [`eprint!`](crate::eprint) and [`eprintln!`](crate::eprintln) macros format
//! straight into a `write(2)` loop on descriptor 1 or 2, with no buffer, no lock and
//! no thread-local state.
//!
//! That is what a raw `clone` child running inside a `std` program may use instead of
//! `std::println!`: std's stdout is behind a reentrant mutex (and its buffer), which a
//! child created without `CLONE_THREAD`-style bookkeeping may find held forever by a
//! thread that does not exist in its copy of the address space, or may corrupt when it
//! shares the memory. Each `write!` piece is one or more `write(2)` calls, so output
//! from concurrent writers can interleave between pieces.

use crate::fd::RawFd;
use crate::{Errno, sys};
use core::fmt;

/// A writer to a file descriptor through `write(2)`, for `core::fmt::Write`.
///
/// Short writes are continued and `EINTR` is retried; any other error ends the write
/// with `fmt::Error` (the [`Errno`] is kept in [`Console::last_error`]).
#[derive(Debug, Clone, Copy)]
pub struct Console {
    fd: RawFd,
    last_error: Option<Errno>,
}

impl Console {
    /// A console writing to `fd` (which the caller keeps open while writing).
    pub const fn new(fd: RawFd) -> Console {
        Console {
            fd,
            last_error: None,
        }
    }

    /// A console on standard output, descriptor 1.
    pub const fn stdout() -> Console {
        Console::new(1)
    }

    /// A console on standard error, descriptor 2.
    pub const fn stderr() -> Console {
        Console::new(2)
    }

    /// The descriptor written to.
    pub const fn fd(&self) -> RawFd {
        self.fd
    }

    /// The error that ended the last failed write, if any.
    pub const fn last_error(&self) -> Option<Errno> {
        self.last_error
    }

    /// Writes all of `bytes`, continuing after short writes and retrying `EINTR`.
    pub fn write_all(&mut self, mut bytes: &[u8]) -> crate::Result<()> {
        while !bytes.is_empty() {
            match sys::fs::write(self.fd, bytes) {
                Ok(0) => {
                    self.last_error = Some(Errno::EIO);
                    return Err(Errno::EIO);
                }
                Ok(n) => bytes = &bytes[n.min(bytes.len())..],
                Err(Errno::EINTR) => {}
                Err(e) => {
                    self.last_error = Some(e);
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_all(s.as_bytes()).map_err(|_| fmt::Error)
    }
}

#[doc(hidden)]
pub fn _print_to(fd: RawFd, args: fmt::Arguments<'_>) {
    let _ = fmt::Write::write_fmt(&mut Console::new(fd), args);
}

/// Prints to standard output through `write(2)`, with no lock and no allocation.
///
/// Errors are ignored. See the [`console`](crate::console) module for when to use this
/// instead of `std::print!`.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::console::_print_to(1, ::core::format_args!($($arg)*))
    };
}

/// Prints a line to standard output through `write(2)`, with no lock and no
/// allocation.
///
/// Errors are ignored. See the [`console`](crate::console) module for when to use this
/// instead of `std::println!`.
#[macro_export]
macro_rules! println {
    () => {
        $crate::console::_print_to(1, ::core::format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::console::_print_to(1, ::core::format_args!("{}\n", ::core::format_args!($($arg)*)))
    };
}

/// Prints to standard error through `write(2)`, with no lock and no allocation.
///
/// Errors are ignored.
#[macro_export]
macro_rules! eprint {
    ($($arg:tt)*) => {
        $crate::console::_print_to(2, ::core::format_args!($($arg)*))
    };
}

/// Prints a line to standard error through `write(2)`, with no lock and no
/// allocation.
///
/// Errors are ignored.
#[macro_export]
macro_rules! eprintln {
    () => {
        $crate::console::_print_to(2, ::core::format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::console::_print_to(2, ::core::format_args!("{}\n", ::core::format_args!($($arg)*)))
    };
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::sys::fs::{PipeFlags, pipe2, read};
    use core::fmt::Write;

    #[test]
    fn console_writes_formatted_text_into_a_pipe() {
        let (r, w) = pipe2(PipeFlags::CLOEXEC).unwrap();
        let mut c = Console::new(w.as_raw());
        write!(c, "pid {} says {:>4}|", 42, "hi").unwrap();
        crate::console::_print_to(w.as_raw(), format_args!("{}", "tail\n"));
        let mut buf = [0u8; 64];
        let n = read(r.as_raw(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"pid 42 says   hi|tail\n");
    }

    #[test]
    fn console_reports_ebadf() {
        let mut c = Console::new(-1);
        assert!(write!(c, "x").is_err());
        assert_eq!(c.last_error(), Some(Errno::EBADF));
    }

    #[test]
    fn macros_expand() {
        crate::eprint!("");
        crate::eprintln!("clonekit console test line {}", 1);
    }
}
