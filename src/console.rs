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
//!
//! ```
//! use core::fmt::Write;
//! use clonekit::console::Console;
//!
//! clonekit::println!("{} and {}: no lock, no buffer", "stdout", "write(2)");
//! clonekit::eprintln!("to standard error");
//!
//! let mut out = Console::stdout();
//! write!(out, "a piece ")?;
//! writeln!(out, "at a time")?;
//! assert_eq!(out.last_error(), None);
//! # Ok::<(), core::fmt::Error>(())
//! ```

use crate::fd::BorrowedFd;
use crate::{Errno, sys};
use core::fmt;

/// A standard output stream: descriptor 1 or 2.
///
/// By the convention std follows too (its `Stdout` and `Stderr` borrow them for the whole
/// program), the standard streams are always open: a program may redirect them
/// ([`dup3`](crate::sys::fs::dup3)) but does not close them. So they can be borrowed for
/// `'static`, and the print macros write to them from anywhere; any other descriptor needs
/// a [`Console`] over a borrow of it:
///
/// ```compile_fail,E0308
/// clonekit::console::_print_to(3, format_args!("to whoever owns 3"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StdStream {
    /// Standard output, descriptor 1.
    Stdout,
    /// Standard error, descriptor 2.
    Stderr,
}

impl StdStream {
    /// The stream's descriptor, borrowed for the whole program.
    pub const fn fd(self) -> BorrowedFd<'static> {
        let raw = match self {
            StdStream::Stdout => 1,
            StdStream::Stderr => 2,
        };
        // SAFETY: the standard streams are always open, by the convention above.
        unsafe { BorrowedFd::borrow_raw(raw) }
    }
}

impl crate::fd::AsFd for StdStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd()
    }
}

crate::sys::fd::std_fd_traits!(StdStream);

/// A writer to a file descriptor (borrowed for `'fd`) through `write(2)`, for
/// `core::fmt::Write`.
///
/// Short writes are continued and `EINTR` is retried; any other error ends the write
/// with `fmt::Error` (the [`Errno`] is kept in [`Console::last_error`]).
#[derive(Debug, Clone, Copy)]
pub struct Console<'fd> {
    fd: BorrowedFd<'fd>,
    last_error: Option<Errno>,
}

impl Console<'static> {
    /// A console on standard output, descriptor 1.
    pub const fn stdout() -> Console<'static> {
        Console::new(StdStream::Stdout.fd())
    }

    /// A console on standard error, descriptor 2.
    pub const fn stderr() -> Console<'static> {
        Console::new(StdStream::Stderr.fd())
    }
}

impl<'fd> Console<'fd> {
    /// A console writing to `fd`.
    pub const fn new(fd: BorrowedFd<'fd>) -> Console<'fd> {
        Console {
            fd,
            last_error: None,
        }
    }

    /// The descriptor written to.
    pub const fn fd(&self) -> BorrowedFd<'fd> {
        self.fd
    }

    /// The error that ended the last failed write, if any.
    pub const fn last_error(&self) -> Option<Errno> {
        self.last_error
    }

    /// Writes all of `bytes`, continuing after short writes and retrying `EINTR`.
    pub fn write_all(&mut self, bytes: &[u8]) -> crate::Result<(), Errno> {
        sys::fs::write_all(self.fd, bytes).inspect_err(|e| self.last_error = Some(*e))
    }
}

impl crate::fd::AsFd for Console<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd
    }
}

crate::sys::fd::std_fd_traits!(Console<'_>);

impl fmt::Write for Console<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_all(s.as_bytes()).map_err(|_| fmt::Error)
    }
}

/// What the print macros call: formats `args` onto a standard stream.
#[doc(hidden)]
pub fn _print_to(stream: StdStream, args: fmt::Arguments<'_>) {
    let _ = fmt::Write::write_fmt(&mut Console::new(stream.fd()), args);
}

/// Prints to standard output through `write(2)`, with no lock and no allocation.
///
/// Errors are ignored. See the [`console`](crate::console) module for when to use this
/// instead of `std::print!`.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::console::_print_to($crate::console::StdStream::Stdout, ::core::format_args!($($arg)*))
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
        $crate::console::_print_to($crate::console::StdStream::Stdout, ::core::format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::console::_print_to($crate::console::StdStream::Stdout, ::core::format_args!("{}\n", ::core::format_args!($($arg)*)))
    };
}

/// Prints to standard error through `write(2)`, with no lock and no allocation.
///
/// Errors are ignored.
#[macro_export]
macro_rules! eprint {
    ($($arg:tt)*) => {
        $crate::console::_print_to($crate::console::StdStream::Stderr, ::core::format_args!($($arg)*))
    };
}

/// Prints a line to standard error through `write(2)`, with no lock and no
/// allocation.
///
/// Errors are ignored.
#[macro_export]
macro_rules! eprintln {
    () => {
        $crate::console::_print_to($crate::console::StdStream::Stderr, ::core::format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::console::_print_to($crate::console::StdStream::Stderr, ::core::format_args!("{}\n", ::core::format_args!($($arg)*)))
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
        let mut c = Console::new(w.as_fd());
        write!(c, "pid {} says {:>4}|", 42, "hi").unwrap();
        write!(c, "{}", format_args!("{}", "tail\n")).unwrap();
        assert_eq!(c.fd(), w.as_fd());
        let mut buf = [0u8; 64];
        let n = read(r.as_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"pid 42 says   hi|tail\n");
    }

    #[test]
    fn console_reports_ebadf() {
        // A pipe's read end is open, but not for writing: write(2) says EBADF.
        let (r, _w) = pipe2(PipeFlags::CLOEXEC).unwrap();
        let mut c = Console::new(r.as_fd());
        assert!(write!(c, "x").is_err());
        assert_eq!(c.last_error(), Some(Errno::EBADF));
    }

    #[test]
    fn the_standard_streams_are_1_and_2() {
        assert_eq!(StdStream::Stdout.fd().as_raw(), 1);
        assert_eq!(StdStream::Stderr.fd().as_raw(), 2);
        assert_eq!(Console::stdout().fd().as_raw(), 1);
        assert_eq!(Console::stderr().fd().as_raw(), 2);
    }

    #[test]
    fn macros_expand() {
        crate::eprint!("");
        crate::eprintln!("clonekit console test line {}", 1);
    }
}
