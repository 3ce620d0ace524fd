//! Output of the probe: each line formatted into a buffer first and written with one
//! `write(2)`, so that a child and a grandchild writing into the same pipe never mix
//! their lines (a write of at most `PIPE_BUF` bytes to a pipe is atomic).

use core::fmt::{self, Write};

use clonekit::console::StdStream;
use clonekit::sys::fs::write_all;

/// A short text, formatted without an allocator (what does not fit is cut off).
#[derive(Clone, Copy)]
pub struct Text {
    bytes: [u8; 480],
    len: usize,
}

impl Text {
    pub const fn new() -> Text {
        Text {
            bytes: [0; 480],
            len: 0,
        }
    }

    /// `args`, formatted.
    pub fn of(args: fmt::Arguments<'_>) -> Text {
        let mut text = Text::new();
        let _ = text.write_fmt(args);
        text
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("(not UTF-8)")
    }
}

impl Write for Text {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len < self.bytes.len() {
                self.bytes[self.len] = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Writes one line (`args` and a newline) to standard output in one `write(2)`.
pub fn line(args: fmt::Arguments<'_>) {
    let mut text = Text::of(args);
    let _ = text.write_str("\n");
    let _ = write_all(StdStream::Stdout.fd(), text.as_bytes());
}

/// `say!("...", ...)`: one line on standard output, written at once.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::out::line(format_args!($($arg)*))
    };
}
pub(crate) use say;
