//! How values appear in a case's diagnostics: [`Show`], a small stand-in for `Debug`.

use core::fmt;

use clonekit::process::ExitStatus;

/// How a value is shown in a diagnostic: a small stand-in for `Debug`, whose derived impls,
/// builders and string escaping (with its Unicode tables) cost kilobytes in a binary that
/// should stay small.
pub trait Show {
    /// Writes the value.
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

/// A [`Show`] value as `Display`.
pub struct Shown<'a, T: ?Sized>(pub &'a T);

impl<T: Show + ?Sized> fmt::Display for Shown<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.show(f)
    }
}

macro_rules! show_display {
    ($($t:ty),*) => {
        $(impl Show for $t {
            fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        })*
    };
}

show_display!(
    u8,
    u16,
    i32,
    i64,
    u32,
    u64,
    usize,
    bool,
    str,
    ExitStatus,
    clonekit::FlagError,
    clonekit::thread::JoinError,
    clonekit::exec::SpawnError
);

impl<T: Show + ?Sized> Show for &T {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).show(f)
    }
}

impl Show for () {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("()")
    }
}

impl Show for clonekit::Errno {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_known() {
            f.write_str(self.name())
        } else {
            write!(f, "errno {}", self.raw())
        }
    }
}

impl Show for clonekit::Error {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            clonekit::Error::Flags(rule) => write!(f, "refused: {rule}"),
            clonekit::Error::LibcOwnsThreadPointer => f.write_str("a libc owns the thread pointer"),
            other => other.errno().show(f),
        }
    }
}

impl Show for clonekit::stack::StackError {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no stack")
    }
}

impl<T: Show, E: Show> Show for Result<T, E> {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ok(v) => {
                f.write_str("Ok(")?;
                v.show(f)?;
            }
            Err(e) => {
                f.write_str("Err(")?;
                e.show(f)?;
            }
        }
        f.write_str(")")
    }
}

impl<T: Show> Show for Option<T> {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Some(v) => {
                f.write_str("Some(")?;
                v.show(f)?;
                f.write_str(")")
            }
            None => f.write_str("None"),
        }
    }
}

impl<A: Show, B: Show> Show for (A, B) {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(")?;
        self.0.show(f)?;
        f.write_str(", ")?;
        self.1.show(f)?;
        f.write_str(")")
    }
}

/// Bytes shown as text (non-UTF-8 bytes as `?`).
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct Text<'a>(pub &'a [u8]);

impl Show for Text<'_> {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("?")?;
            }
        }
        f.write_str("\"")
    }
}
